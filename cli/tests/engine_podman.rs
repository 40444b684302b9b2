//! quarry on Podman (Debian bookworm's 4.3.1 with Buildah 1.28.2, rootful as root), the engine
//! `cargo xtask test` starts with `xtask/engine/podman.sh`: found and named through `podman`,
//! through its Docker-compatible socket and through a `docker` wrapper; the plain-copy render
//! built with `podman build`, the apt steps on cache mounts Buildah does not hang on, a rebuild
//! reused from Buildah's layer cache, a cache id's mounts apart from another's; `quarry run`; the
//! dev container (`up`, `ps`, `enter`, `down`). Ignored by plain `cargo test`; run
//! without `QUARRY_TEST_PODMAN`, a test fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{scratch, stderr, stdout, token};

/// The Podman the tests use: its `podman` (the wrapper with the engine's configuration), its
/// socket, the mirror's `host:ip`. Holds the lock that runs the tests one at a time.
struct Podman {
    program: String,
    socket: Option<String>,
    add_host: Option<String>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Podman {
    fn get() -> Podman {
        let Some(program) = std::env::var("QUARRY_TEST_PODMAN").ok().filter(|p| !p.is_empty()) else {
            common::missing("QUARRY_TEST_PODMAN", "the Podman engine");
        };
        Podman {
            _serial: SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            program,
            socket: std::env::var("QUARRY_TEST_PODMAN_HOST").ok().filter(|h| !h.is_empty()),
            add_host: std::env::var("QUARRY_TEST_ADD_HOST").ok(),
        }
    }

    fn podman(&self, args: &[&str]) -> Output {
        Command::new(&self.program).args(args).output().expect("podman runs")
    }

    /// quarry with `podman` as its program, in `dir`, its cache under `home`.
    fn quarry(&self, dir: &Path, home: &Path, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"));
        c.current_dir(dir)
            .env("QUARRY_DOCKER", &self.program)
            .env("XDG_CACHE_HOME", home)
            .env_remove("DOCKER_HOST")
            .env_remove("ROCKER_CACHE_ID")
            .env_remove("QUARRY_CACHE_ID")
            .env_remove("GITHUB_ACTIONS")
            .args(args);
        c.output().expect("quarry runs")
    }

    fn add_host(&self) -> Vec<&str> {
        self.add_host.iter().flat_map(|h| ["--add-host", h.as_str()]).collect()
    }
}

fn folders(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    (work, dir.join("home"))
}

/// `Buildah reused N of M steps` as quarry says it.
fn reuse(out: &Output) -> (usize, usize) {
    let text = stderr(out);
    let line =
        text.lines().find(|l| l.starts_with("note: Buildah reused ")).unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = line.split(' ').collect();
    (words[3].parse().unwrap(), words[5].parse().unwrap())
}

/// `quarry build` on Podman: says which engine, renders plain copies (Buildah rejects `COPY
/// --link`), keeps stdout for the tag, builds apt layers with the cache id as `CACHE_ID`
/// (locked apt mounts in two steps of one build hung Buildah 1.28 before quarry reordered them),
/// and a second build is reused whole from Buildah's layer cache; the image works.
#[test]
#[ignore = "needs the Podman engine `cargo xtask test` starts"]
fn build_and_run_on_podman() {
    let podman = Podman::get();
    let (work, home) = folders("podman-build");
    let id = format!("pm{}", token());
    let tag = format!("quarry-test/podman:{id}");
    let mut args = vec!["build", "debian:bookworm", "--git", "--cache-id", &id, "--tag", &tag, "--verbose"];
    args.extend(podman.add_host());
    let out = podman.quarry(&work, &home, &args);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("note: engine: Podman 4."), "{err}");
    assert!(err.contains("Buildah rejects `COPY --link`"), "{err}");
    assert!(!err.lines().any(|l| l.contains("STEP") && l.contains("--link")), "{err}");
    let command = format!("build --layers --tag {tag} --build-arg CACHE_ID={id} ");
    assert!(err.lines().any(|l| l.starts_with("info: ") && l.contains(&command)), "{err}");
    assert_eq!(stdout(&out), format!("{tag}\n"), "stdout is the tag alone");
    // Two apt layers (curl's and git's), each with the apt mounts: the second did not hang.
    assert_eq!(
        err.lines().filter(|l| l.contains("STEP") && l.contains("apt-get update")).count(),
        2,
        "{err}"
    );
    let run = podman.podman(&["run", "--rm", &tag, "git", "--version"]);
    assert!(stdout(&run).starts_with("git version"), "{}", stderr(&run));

    // The same build again under another tag (else quarry finds it built; removing the image
    // would remove its intermediate layers with it): every step from Buildah's layer cache.
    let tag2 = format!("{tag}-again");
    let again_args: Vec<&str> = args.iter().map(|a| if *a == tag { tag2.as_str() } else { a }).collect();
    let again = podman.quarry(&work, &home, &again_args);
    assert!(again.status.success(), "{}", stderr(&again));
    let (reused, all) = reuse(&again);
    assert_eq!(reused, all, "{}", stderr(&again));

    // quarry run, through the same engine.
    let mut run_args = vec!["run", "debian:bookworm", "--git", "--cache-id", &id, "--tag", &tag];
    run_args.extend(podman.add_host());
    run_args.extend(["--", "git", "--version"]);
    let ran = podman.quarry(&work, &home, &run_args);
    assert!(ran.status.success() && stdout(&ran).starts_with("git version"), "{}", stderr(&ran));
    let _ = podman.podman(&["rmi", &tag, &tag2]);
}

/// A cache id's mounts are its own on Buildah too (the id reaches the mount ids through `ARG
/// CACHE_ID`): a step that lists the mount and writes its id into it sees nothing of another
/// id's and its own again.
#[test]
#[ignore = "needs the Podman engine `cargo xtask test` starts"]
fn cache_ids_keep_mounts_apart_on_podman() {
    let podman = Podman::get();
    let (work, home) = folders("podman-cache-id");
    let t = token();
    std::fs::write(
        work.join("Dockerfile"),
        format!(
            "FROM docker.io/library/debian:bookworm\nARG CACHE_ID=default\nARG RUN_ID\n\
             RUN --mount=type=cache,id=probe-{t}-${{CACHE_ID}},target=/c,sharing=locked \
             echo \"seen: $(ls /c | grep -v buildah | tr '\\n' ' ')\" && touch /c/$CACHE_ID\n"
        ),
    )
    .unwrap();
    let _ = home;
    let seen = |id: &str, run: &str| {
        let out = podman.podman(&[
            "build",
            "--layers",
            "--build-arg",
            &format!("CACHE_ID={id}"),
            "--build-arg",
            &format!("RUN_ID={run}"),
            work.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        text.lines().find_map(|l| l.strip_prefix("seen: ")).unwrap_or_default().trim().to_owned()
    };
    assert_eq!(seen("a", "1"), "");
    assert_eq!(seen("b", "2"), "", "id b sees nothing of id a's mount");
    assert_eq!(seen("a", "3"), "a", "id a sees its own mount again");
}

/// Through Podman's Docker-compatible socket (the Docker CLI behind `DOCKER_HOST`): quarry
/// names Podman, builds through the classic build endpoint with the steps kept off stdout, and
/// refuses `--add-host`, which Podman 4.3's endpoint answers with 400, before building.
#[test]
#[ignore = "needs the Podman engine `cargo xtask test` starts"]
fn podman_behind_docker_host() {
    let podman = Podman::get();
    let Some(socket) = podman.socket.clone() else {
        panic!("QUARRY_TEST_PODMAN_HOST is not set while QUARRY_TEST_PODMAN is: start.sh podman prints both");
    };
    let (work, home) = folders("podman-socket");
    let quarry = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_quarry"))
            .current_dir(&work)
            .env("DOCKER_HOST", &socket)
            .env("XDG_CACHE_HOME", &home)
            .env_remove("QUARRY_DOCKER")
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .output()
            .expect("quarry runs")
    };
    let out = quarry(&["build", "debian:bookworm", "--x11"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("note: engine: Podman 4.") && err.contains("Docker-compatible socket"), "{err}");
    let tag = stdout(&out).trim().to_owned();
    assert!(tag.starts_with("quarry/x11:") && !tag.contains('\n'), "{tag:?}");
    let refused = quarry(&["build", "debian:bookworm", "--x11", "--add-host", "example.org:192.0.2.1"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("error: --add-host cannot be passed to Podman"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("hint: "), "{}", stderr(&refused));
    let _ = podman.podman(&["rmi", &tag]);
}

/// The dev container on Podman: `up` makes it, `ps` shows it current, `enter` runs in it,
/// `down` removes it.
#[test]
#[ignore = "needs the Podman engine `cargo xtask test` starts"]
fn dev_container_on_podman() {
    let podman = Podman::get();
    let (work, home) = folders(&format!("podman-dev-{}", token()));
    std::fs::write(work.join("quarry.toml"), "image = \"debian:bookworm\"\nextensions = [\"git\"]\n")
        .unwrap();
    let mut up = vec!["up"];
    up.extend(podman.add_host());
    let out = podman.quarry(&work, &home, &up);
    assert!(out.status.success(), "{}", stderr(&out));
    let ps = podman.quarry(&work, &home, &["ps"]);
    let listed = stdout(&ps);
    let row = listed.lines().nth(1).unwrap_or_else(|| panic!("{listed}{}", stderr(&ps)));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..3], ["running", "yes"], "{listed}");
    let entered = podman.quarry(&work, &home, &["enter", "git", "--version"]);
    assert!(stdout(&entered).starts_with("git version"), "{}", stderr(&entered));
    let down = podman.quarry(&work, &home, &["down"]);
    assert!(down.status.success(), "{}", stderr(&down));
    let ps = podman.quarry(&work, &home, &["ps"]);
    assert_eq!(stdout(&ps).lines().count(), 1, "{}", stdout(&ps));
}

/// A `docker` that is Podman's compatibility wrapper (a script running `podman`, as
/// `podman-docker` installs): quarry names Podman through it and builds with `docker build
/// --layers` (a dry run prints the command). DOCKER_HOST names a socket no one serves, so no
/// Docker engine of the machine answers first.
#[test]
#[ignore = "needs the Podman engine `cargo xtask test` starts"]
fn podman_behind_a_docker_wrapper() {
    let podman = Podman::get();
    let (work, home) = folders("podman-wrapper");
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("docker");
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec '{}' \"$@\"\n", podman.program)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .current_dir(&work)
        .env("PATH", path)
        .env("DOCKER_HOST", format!("unix://{}", work.join("nobody.sock").display()))
        .env("XDG_CACHE_HOME", &home)
        .env_remove("QUARRY_DOCKER")
        .args(["build", "debian:bookworm", "--x11", "--dry-run"])
        .output()
        .expect("quarry runs");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("note: engine: Podman 4.") && err.contains("Podman's `docker` wrapper"), "{err}");
    assert!(stdout(&out).starts_with("docker build --layers --tag quarry/x11:"), "{}", stdout(&out));
}
