//! The `quarry` binary as a user runs it: exit codes, messages, and nothing half-written.

use std::path::PathBuf;
use std::process::{Command, Output};

/// `quarry` in a folder with no quarry.toml above it and no user configuration.
fn quarry(args: &[&str]) -> Output {
    quarry_in(&std::env::temp_dir(), "/nonexistent/config", args)
}

fn quarry_in(dir: &std::path::Path, config_home: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", config_home)
        .env("XDG_STATE_HOME", dir.join(".test-state"))
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .output()
        .expect("quarry runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quarry-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn renders_to_stdout_and_reports_added_dependencies() {
    let o = quarry(&["render", "ubuntu:24.04", "--cargo", "--cargo-version", "1.80.1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(out.contains("--default-toolchain 1.80.1;"));
    assert_eq!(
        stderr(&o),
        "note: added `curl` (needed by `cargo`)\nnote: the Dockerfile copies files from `quarry/` of its build context, which only `-o FILE` writes (beside FILE)\n"
    );
}

#[test]
fn an_option_flag_selects_its_extension_and_e_selects_by_name() {
    let a = quarry(&["render", "ubuntu:24.04", "--npm-version", "22.12.0", "-e", "pixi"]);
    let b = quarry(&["render", "ubuntu:24.04", "--pixi", "--npm", "--npm-version", "22.12.0"]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn writes_the_output_file() {
    let dir = scratch("out");
    let file = dir.join("Dockerfile");
    let o = quarry(&["render", "debian:bookworm", "--git", "-o", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&file).unwrap().contains("FROM debian:bookworm AS quarry_final"));
    assert!(o.stdout.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Each bad input: one error line and one hint line, exit code 1, and no file written.
#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--carg"], "error: unknown extension or option `--carg`", "hint: did you mean `--cargo`?"),
        (
            &["--cache-id", "job-42"],
            "error: `--cache-id` is not an option of `quarry render`",
            "hint: `--cache-id` is an option of `quarry build`, `quarry run`, `quarry up`",
        ),
        (&["-e", "ros-jazy"], "error: unknown extension `ros_jazy`", "hint: did you mean `ros_jazzy`?"),
        (
            &["--cargo-version", "1.80 && rm -rf /"],
            "error: invalid value \"1.80 && rm -rf /\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            &["--cargo-version", "1.80\nRUN id"],
            "error: invalid value \"1.80\\nRUN id\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            &["--cargo-version", "1.80 \\"],
            "error: invalid value \"1.80 \\\\\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            &["--cargo-version", "latest"],
            "error: invalid value \"latest\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain: `stable`, `beta`, `nightly` or a version such as `1.95` or `1.95.0`",
        ),
        (
            &["--tzdata-timezone", "../../etc/passwd"],
            "error: invalid value \"../../etc/passwd\" for option `timezone` of extension `tzdata`",
            "hint: expected a time zone name such as `Europe/Paris`",
        ),
        (
            &["--locales-locale", "de_DE"],
            "error: invalid value \"de_DE\" for option `locale` of extension `locales`",
            "hint: expected a locale such as `en_US.UTF-8`",
        ),
        (
            &["--ros-jazzy-variant", "desk"],
            "error: invalid value \"desk\" for option `variant` of extension `ros`",
            "hint: expected one of `ros-core`, `ros-base`, `desktop`, `desktop-full`",
        ),
        (
            &["--cargo", "--builder-base-image", "ubuntu 22.04"],
            "error: global builder base image \"ubuntu 22.04\" is not an image reference",
            "hint: write it like `ubuntu:24.04`",
        ),
    ];
    let dir = scratch("bad");
    let file = dir.join("Dockerfile");
    for (args, error, hint) in cases {
        let mut argv = vec!["render", "ubuntu:24.04", "-o", file.to_str().unwrap()];
        argv.extend_from_slice(args);
        let o = quarry(&argv);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {err}");
        assert!(lines[0].starts_with(error), "{args:?}: {err}");
        assert!(lines[1].starts_with(hint), "{args:?}: {err}");
        assert!(!file.exists(), "{args:?} wrote a file");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{args:?} left a file");
    }
    let o = quarry(&["render", "ubuntu 24.04", "--git"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: final image \"ubuntu 24.04\" is not an image reference\nhint:"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    let o = quarry(&["render", "--no-such-flag-at-all"]);
    assert_eq!(o.status.code(), Some(2));
    let o = quarry(&["render", "--git"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: no image given\nhint: name one"), "{}", stderr(&o));
    let o = quarry(&["render", "ubuntu:24.04", "--engine", "ancient"]);
    assert_eq!(o.status.code(), Some(2));
    let o = quarry(&["render", "ubuntu:24.04"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: no extension selected\nhint:"));
}

#[test]
fn unwritable_output_is_an_error() {
    let o = quarry(&["render", "ubuntu:24.04", "--git", "-o", "/nonexistent-dir/Dockerfile"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("\nerror: cannot write `/nonexistent-dir/Dockerfile`: "), "{}", stderr(&o));
}

#[test]
fn list_and_help() {
    let o = quarry(&["list"]);
    assert!(o.status.success());
    let list = String::from_utf8(o.stdout).unwrap();
    // Readable in 100 columns: options wrap between options, descriptions are one line.
    for line in list.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }
    insta::assert_snapshot!("list", list);
    let o = quarry(&["render", "--help"]);
    assert!(o.status.success());
    insta::assert_snapshot!("render_help", String::from_utf8(o.stdout).unwrap());
    let o = quarry(&["--help"]);
    insta::assert_snapshot!("help", String::from_utf8(o.stdout).unwrap());
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["render", "ubuntu:24.04", "--cargo", "--npm", "--pixi", "--palanteer", "--ros-jazzy"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn build_without_an_engine_is_a_clear_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["build", "debian:bookworm", "--git"])
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: no Docker engine answers at `unix:///nonexistent/quarry-test.sock`\nhint: start the engine (`sudo systemctl start docker`), or set DOCKER_HOST to a running one\n"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["build", "debian:bookworm", "--git"])
        .env("QUARRY_DOCKER", "/nonexistent/docker")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: cannot run `docker`: "), "{}", stderr(&o));
}

/// Mounts on an engine of another machine are that machine's paths: a run says so (once); on a
/// local engine, nothing is said.
#[test]
fn a_remote_engine_gets_a_warning_about_mounts() {
    let cache = scratch("remote-mounts");
    let run = |host: &str, extra: &[&str]| {
        let mut args = vec!["run", "ubuntu:24.04", "--dry-run"];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(&args)
            .current_dir(&cache)
            .env("DOCKER_HOST", host)
            .env("QUARRY_DOCKER", "/bin/false")
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap()
    };
    let o = run("tcp://build-host.invalid:2375", &["--volume", "/tmp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("is on another machine").count(), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: the engine at `tcp://build-host.invalid:2375` is on another machine")
    );
    for (host, extra) in [
        ("tcp://127.0.0.1:2375", &["--volume", "/tmp"][..]),
        ("tcp://build-host.invalid:2375", &["--git"][..]),
    ] {
        let o = run(host, extra);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!stderr(&o).contains("another machine"), "{host}: {}", stderr(&o));
    }
    std::fs::remove_dir_all(cache).unwrap();
}

#[test]
fn run_dry_run_prints_both_commands_with_the_extensions_run_arguments() {
    let cache = scratch("dry-run-cache");
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args([
            "run",
            "ubuntu:24.04",
            "--palanteer",
            "--cache-id",
            "py310",
            "--dry-run",
            "--",
            "palanteer",
            "--help",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("docker buildx build --load --tag quarry/palanteer:"), "{out}");
    let prefix = format!(" --build-arg BUILDKIT_CACHE_MOUNT_NS=py310 {}/quarry/contexts/", cache.display());
    assert!(lines[0].contains(&prefix), "{out}");
    assert!(lines[1].starts_with(
        "docker run --rm --env DISPLAY --volume /tmp/.X11-unix:/tmp/.X11-unix:ro quarry/palanteer:"
    ));
    assert!(lines[1].ends_with(" palanteer --help"));
    // The printed build works when pasted: its context folder is written, with the Dockerfile.
    let context = lines[0].rsplit(' ').next().unwrap();
    assert!(std::path::Path::new(context).join("Dockerfile").is_file(), "{out}");
    assert!(stderr(&o).contains("dry run: the build context is written to"), "{}", stderr(&o));
    std::fs::remove_dir_all(cache).unwrap();
}

/// `quarry build --dry-run` prints the build command, on a context it wrote.
#[test]
fn build_dry_run_prints_a_build_that_works_when_pasted() {
    let cache = scratch("build-dry-run-cache");
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["build", "debian:bookworm", "--git", "--dry-run", "--nocache", "--image-name", "team/dev:1"])
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("docker buildx build --load --tag team/dev:1 "), "{out}");
    assert!(out.contains(" --no-cache "), "{out}");
    let context = out.trim_end().rsplit(' ').next().unwrap();
    let dockerfile = std::fs::read_to_string(std::path::Path::new(context).join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("FROM debian:bookworm AS quarry_final"));
    std::fs::remove_dir_all(cache).unwrap();
}

#[test]
fn invalid_cache_ids_are_rejected_before_anything_runs() {
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["run", "ubuntu:24.04", "--git", "--dry-run"])
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .env("ROCKER_CACHE_ID", "py3,10")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error: invalid cache id \"py3,10\" (from $ROCKER_CACHE_ID)\nhint: use 1 to 64"),
        "{}",
        stderr(&o)
    );
}

/// Run-time extensions turn their options into `docker run` arguments; `~` and `$VAR` are
/// expanded on the host; a required option that is missing is an error naming its flag.
#[test]
fn run_time_extensions_give_docker_run_arguments() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["run", "debian:bookworm", "--dry-run"])
            .args(args)
            .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
            .env("HOME", "/home/tester")
            .env("DISPLAY", ":3")
            .output()
            .unwrap()
    };
    let o = run(&[
        "--volume-spec",
        "~/data:/data:ro",
        "--env-value",
        "FOO=bar",
        "--port-mapping",
        "8080:80",
        "--shm-size",
        "--x11",
        "--nvidia-gpus",
        "device=0",
        "--hostname-value",
        "devbox",
        "--network",
        "--build-network",
        "none",
        "--",
        "bash",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    // x11 asks for an X authority cookie: the dry run prints the line that makes it.
    let make_cookie = out.lines().nth(1).unwrap();
    assert!(make_cookie.starts_with("xauth nlist :3 | sed -e 's/^..../ffff/' | xauth -f /"), "{out}");
    assert!(
        make_cookie.ends_with("/quarry/xauth-_3 nmerge -")
            || make_cookie.ends_with("/quarry/run/xauth-_3 nmerge -"),
        "{out}"
    );
    let docker_run = out.lines().nth(2).unwrap();
    for expected in [
        "--volume /home/tester/data:/data:ro",
        "--env FOO=bar",
        "--publish=8080:80",
        "--shm-size=2g",
        "--env DISPLAY --env TERM --env QT_X11_NO_MITSHM=1 --volume /tmp/.X11-unix:/tmp/.X11-unix:rw",
        ":/tmp/.quarry.xauth:ro --env XAUTHORITY=/tmp/.quarry.xauth",
        "--gpus=device=0",
        "--hostname=devbox",
        "--network=host",
    ] {
        assert!(docker_run.contains(expected), "missing {expected:?} in {docker_run}");
    }
    assert!(docker_run.ends_with(" bash"));
    // `--build-network` is docker build's `--network`; `--network` selects the extension.
    assert!(out.lines().next().unwrap().contains(" --network none "), "{out}");

    let o = run(&["-e", "port"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(
        "error: extension `port` needs its option `mapping`\nhint: give it with `--port-mapping VALUE`"
    ));
    let o = run(&["--port-mapping", "80 80"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hint: expected a port mapping such as `8080:80`"), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["run", "debian:bookworm", "--dry-run", "--pulse"])
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    // As rocker leaves `--ssh` out without SSH_AUTH_SOCK: the run goes on without the extension's
    // run-time part, with a warning.
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "warning: `$XDG_RUNTIME_DIR` is not set on this host, so `pulse` is left out of this run"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("/dev/snd"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args([
            "run",
            "debian:bookworm",
            "--dry-run",
            "--ssh",
            "--devices",
            "/dev/quarry-no-such-device",
            "--devices",
            "/dev/null",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("`$SSH_AUTH_SOCK` is not set on this host, so `ssh` is left out of this run"),
        "{err}"
    );
    assert!(
        err.contains("the device `/dev/quarry-no-such-device` does not exist on this host: it is left out"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("--device /dev/null ") && !out.contains("no-such") && !out.contains("ssh-agent"),
        "{out}"
    );
}

/// The user extension takes the host user's name, uid and gid unless told otherwise. As root
/// there is no user to mirror: it makes none, says so, and the image stays root (as rocker's
/// `--user` does) unless a user is named. The host's values are taken together or not at all: as
/// `nobody` (uid 65534, refused) the image gets the defaults, not a `nobody` with uid 1000.
#[test]
fn user_defaults_to_the_host_user() {
    let host = quarry_cli::host::values();
    let as_uid = |uid: u32, user: &str, args: &[&str]| {
        let mut c = if host.root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", &uid.to_string(), "--regid", &uid.to_string(), "--clear-groups", "--"]);
            c.arg(env!("CARGO_BIN_EXE_quarry"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_quarry"))
        };
        let o = c
            .args(args)
            .current_dir("/")
            .env("USER", user)
            .env("HOME", format!("/home/{user}"))
            .env("XDG_CONFIG_HOME", "/nonexistent/config")
            .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        (String::from_utf8(o.stdout.clone()).unwrap(), stderr(&o))
    };
    if host.root {
        let (out, err) = as_uid(0, "root", &["render", "debian:bookworm", "--user"]);
        assert!(!out.contains("useradd") && !out.contains("\nUSER "), "{out}");
        assert!(
            err.contains("warning: you run quarry as root, so `user` makes no user: the image runs as root")
                && err.contains("hint: to have a user anyway, name it: `--user-name NAME --user-uid UID`"),
            "{err}"
        );
        let (out, _) =
            as_uid(0, "root", &["render", "debian:bookworm", "--user-uid", "4242", "--user-name", "dev"]);
        assert!(out.contains("useradd --no-log-init --uid 4242 ") && out.contains("\nUSER dev\n"), "{out}");
        // An ordinary user, as the host user is for most.
        let (out, err) = as_uid(4242, "ada", &["render", "debian:bookworm", "--user"]);
        assert!(
            out.contains("useradd --no-log-init --uid 4242 --gid 4242 --home-dir /home/ada"),
            "{out}{err}"
        );
        assert!(out.contains("\nUSER ada\n"), "{out}");
        // nobody's uid is refused: none of the host's values are used.
        let (out, err) = as_uid(65534, "nobody", &["render", "debian:bookworm", "--user"]);
        assert!(out.contains("useradd --no-log-init --uid 1000 --gid 1000 --home-dir /home/quarry"), "{out}");
        assert!(out.contains("\nUSER quarry\n") && !out.contains("nobody"), "{out}");
        assert!(
            err.contains(
                "the host's uid `65534` cannot be used for `user`, so it takes none of the host's values"
            ),
            "{err}"
        );
    } else {
        let uid = host.uid.clone().unwrap();
        let (out, _) =
            as_uid(0, host.user.as_deref().unwrap_or("me"), &["render", "debian:bookworm", "--user"]);
        assert!(out.contains(&format!("useradd --no-log-init --uid {uid} ")), "{out}");
    }
}

/// The smallest project file is two lines, and `render`, `build` and `run` use it without an
/// image or extension flags; it is found from a subfolder too.
#[test]
fn the_smallest_project_file() {
    let dir = scratch("project");
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\", \"npm\"]\n")
        .unwrap();
    std::fs::create_dir_all(dir.join("src/deep")).unwrap();
    let o = quarry_in(&dir.join("src/deep"), "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("FROM ubuntu:24.04 AS quarry_final")
            && out.contains("AS cargo_builder")
            && out.contains("AS npm_builder")
    );
    let flags = quarry(&["render", "ubuntu:24.04", "--cargo", "--npm"]);
    assert_eq!(out.as_bytes(), flags.stdout.as_slice(), "the file means the same as the flags");
    let o = quarry_in(&dir, "/nonexistent/config", &["run", "--dry-run", "--", "cargo", "--version"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains(" cargo --version"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The command line wins over the project file, which wins over the user file; extension lists
/// are unions.
#[test]
fn configuration_layers_merge() {
    let dir = scratch("layers");
    let user = dir.join("xdg/quarry");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("config.toml"),
        "image = \"debian:trixie\"\nextensions = [\"git\"]\ncache_id = \"user\"\n[options.cargo]\nversion = \"1.80.0\"\nprofile = \"default\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"cargo\"]\n[options.cargo]\nversion = \"1.85.0\"\n[overrides.cargo]\ncache_priority = 99\n",
    )
    .unwrap();
    let xdg = dir.join("xdg");
    let xdg = xdg.to_str().unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("FROM debian:bookworm AS quarry_final"), "project image wins over the user's");
    assert!(out.contains("--profile default --default-toolchain 1.85.0;"), "project version, user profile");
    assert!(out.contains("# git: apt packages"), "the user's extensions are added");
    // cargo (99 by the override) now comes before git (90); curl stays first as their dependency.
    assert!(
        out.find("# cargo: apt packages").unwrap() < out.find("# git: apt packages").unwrap(),
        "override"
    );
    let o = quarry_in(&dir, xdg, &["render", "ubuntu:24.04", "--cargo-version", "1.90.0"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("FROM ubuntu:24.04 AS quarry_final") && out.contains("--default-toolchain 1.90.0;"));
    let o = quarry_in(&dir, xdg, &["run", "--dry-run"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("BUILDKIT_CACHE_MOUNT_NS=user"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Mistakes in quarry.toml point at the file, line and column, with a hint.
#[test]
fn configuration_errors_point_into_the_file() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "image = \"ubuntu:24.04\"\nextensions = [\"carg\"]\n",
            "quarry.toml:2:15: unknown extension `carg` in `extensions`",
            "hint: did you mean `cargo`?",
        ),
        (
            "image = \"ubuntu:24.04\"\n[options.cargo]\nversoin = \"1.0\"\n",
            "quarry.toml:3:1: extension `cargo` has no option `versoin`",
            "hint: did you mean `version`?",
        ),
        (
            "image = \"ubuntu:24.04\"\n[options.cargo]\nversion = \"1.0 && rm\"\n",
            "quarry.toml:3:11: invalid value \"1.0 && rm\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            "image = \"ubuntu 24.04\"\n",
            "quarry.toml:1:9: `image` = \"ubuntu 24.04\" is not an image reference",
            "hint: write it like",
        ),
        ("imgae = \"ubuntu:24.04\"\n", "quarry.toml:1:1: unknown field `imgae`", "hint: the keys are image"),
        (
            "image = \"ubuntu:24.04\"\n[run]\nargs = [\"--rm\", \"--env FOO=1\"]\n",
            "quarry.toml:3:17: `run.args` entry \"--env FOO=1\" is not one argument",
            "hint: give each argument as its own entry",
        ),
        (
            "image = \"ubuntu:24.04\"\n[cache]\nregistry = \"team/quarry-cache\"\n",
            "quarry.toml:3:12: `[cache] registry`: invalid cache registry `team/quarry-cache`: `team` is not a registry host",
            "hint: write it as `REGISTRY/REPO`",
        ),
        (
            "image = \"ubuntu:24.04\"\n[overrides.npm]\ncache_priority = 101\n",
            "quarry.toml:3:18: cache priority 101 is out of range",
            "hint: use a number from 0 to 100",
        ),
    ];
    let dir = scratch("badconfig");
    for (text, error, hint) in cases {
        std::fs::write(dir.join("quarry.toml"), text).unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
        assert_eq!(o.status.code(), Some(1), "{text}");
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(error), "{text}: {err}");
        assert!(lines[1].starts_with(hint), "{text}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// quarry.lock is written next to quarry.toml, pins values the configuration leaves to
/// defaults, and `--locked` fails when the configuration moved away from it.
#[test]
fn the_lock_file_pins_and_guards() {
    let dir = scratch("lock");
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\"]\n").unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(
        "quarry.lock` does not match the configuration: there is none\nhint: run without --locked"
    ));
    let first = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    assert!(
        lock.contains("name = \"cargo\"")
            && lock.contains("version = \"1.95.0\"")
            && lock.contains("name = \"curl\""),
        "{lock}"
    );
    let again = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(first.stdout, again.stdout);

    // A lock from months ago pinned an older toolchain: it stays, whatever today's default.
    std::fs::write(dir.join("quarry.lock"), lock.replace("version = \"1.95.0\"", "version = \"1.80.0\""))
        .unwrap();
    let pinned = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(
        String::from_utf8_lossy(&pinned.stdout).contains("--default-toolchain 1.80.0;"),
        "{}",
        stderr(&pinned)
    );

    // The configuration changes: --locked refuses, a plain render updates the lock.
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\", \"git\"]\n")
        .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.lock` does not match the configuration: extension `git` would be added"),
        "{}",
        stderr(&o)
    );
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(dir.join("quarry.lock")).unwrap().contains("name = \"git\""));

    // A changed value names its extension.
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"cargo\", \"git\"]\n[options.cargo]\nversion = \"1.91.0\"\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert!(stderr(&o).contains("extension `cargo`: `options = {"), "{}", stderr(&o));
    assert!(stderr(&o).contains("would become `options = { profile = \"minimal\", version = \"1.91.0\" }`"));
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success());

    // A host value pinned by hand is ignored, with a warning, and never makes --locked fail.
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"user\"]\n").unwrap();
    assert!(quarry_in(&dir, "/nonexistent/config", &["render"]).status.success());
    let lock_user = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    std::fs::write(dir.join("quarry.lock"), lock_user.replace("shell = ", "uid = \"4242\", shell = "))
        .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pins `user.uid`, a value quarry takes from the host: it is ignored"),
        "{}",
        stderr(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("4242"));
    drop(lock);

    // A render that fails writes no lock.
    std::fs::remove_file(dir.join("quarry.lock")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "-o", "/nonexistent/dir/Dockerfile"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.join("quarry.lock").exists(), "a failed render must not write the lock");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A lock alone decides what a fresh runner writes: every line of it is checked, and each
/// mistake is an error naming quarry.lock with a hint, before anything is rendered.
#[test]
fn a_lock_is_checked_line_by_line() {
    let dir = scratch("lock-checked");
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\"]\n").unwrap();
    assert!(quarry_in(&dir, "/nonexistent/config", &["render"]).status.success());
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    let entries = &lock[lock.find("[[extension]]").unwrap()..];
    let user = "image_config = { entrypoint = [], cmd = [], user = \"app\\nLABEL x=1\" }\n";
    for (text, want) in [
        (
            lock.replace("version = 1\n", "version = 99\n"),
            "has format version 99, and this quarry reads version 1",
        ),
        (format!("{lock}\n{entries}"), "lists the extension `curl` twice"),
        (
            lock.replacen("\n[[extension]]", &format!("{user}\n[[extension]]"), 1),
            "`image_config.user` \"app\\nLABEL x=1\"",
        ),
        (
            lock.replace("version = \"1.95.0\"", "version = \"1 0\""),
            "pins `cargo.version` to a value this quarry refuses",
        ),
    ] {
        std::fs::write(dir.join("quarry.lock"), &text).unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
        assert_eq!(o.status.code(), Some(1), "{want}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with("error: `") && err.contains("quarry.lock`"), "{err}");
        assert!(err.contains(want) && err.contains("\nhint: "), "{err}");
        assert!(o.stdout.is_empty());
    }
    // Not UTF-8: named, with a hint.
    let mut bytes = lock.clone().into_bytes();
    bytes.extend_from_slice(b"\xff\xfe");
    std::fs::write(dir.join("quarry.lock"), bytes).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.lock` is not UTF-8 text\nhint: delete it; quarry writes a new one"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The user file's `[options.X]` are preferences: they never select X, and apply when X is
/// selected, even as a dependency. Its `[overrides.X]` apply only where X is selected; the project
/// file's point at their line when X is not. An override of a builder base where there is none is
/// an error at its line.
#[test]
fn user_file_preferences_and_override_mistakes() {
    let dir = scratch("prefs");
    let user = dir.join("xdg/quarry");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("config.toml"),
        "[options.npm]\nversion = \"22.20.0\"\n[options.cargo]\nversion = \"1.80.0\"\n[overrides.palanteer]\ncache_priority = 5\n",
    )
    .unwrap();
    let xdg = dir.join("xdg");
    let xdg = xdg.to_str().unwrap();
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"claude\"]\n").unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("node-v22.20.0-linux"), "the preference reaches npm, a dependency: {out}");
    assert!(!out.contains("cargo"), "a preference never selects its extension");

    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\n[overrides.cargo]\ncache_priority = 99\n",
    )
    .unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.toml:3:12: `[overrides.cargo]`: extension `cargo` is not selected\nhint: add `cargo` to `extensions`, or remove the override"),
        "{}",
        stderr(&o)
    );

    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\n[overrides.git]\nbuilder_base_image = \"debian:bookworm\"\n",
    )
    .unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.toml:4:22: extension `git` has no builder, so a `builder_base_image` override does nothing"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn show_and_list_as_text_and_json() {
    let o = quarry(&["show", "ros_jazzy"]);
    assert!(o.status.success());
    insta::assert_snapshot!("show_ros_jazzy", String::from_utf8(o.stdout).unwrap());
    // Each option states its default once, truly, and its rule's text without another option's
    // examples.
    let o = quarry(&["show", "user"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("    --user-gid VALUE  Numeric id of the user's primary group [default: the host user's gid, else 1000; a whole number from 0 to 4294967295]\n"),
        "{text}"
    );
    assert!(
        text.contains("    --user-shell VALUE  Login shell [default: /bin/bash; an absolute path without spaces, quotes or `..`]\n"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.matches("default").count() <= 1), "{text}");
    let o = quarry(&["show", "env"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("[required; repeatable; one `docker run` argument: no spaces, quotes or `\\`]\n"),
        "{text}"
    );
    assert_eq!(text.matches("repeatable").count(), 1, "{text}");
    let o = quarry(&["show", "cargo", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "cargo");
    assert_eq!(v["flag"], "--cargo");
    assert_eq!(v["options"][1]["name"], "version");
    assert_eq!(v["options"][1]["rule"], "rust_toolchain");
    assert_eq!(v["builder"]["from"], "base_image");
    assert_eq!(v["builder"]["base_image"], "ubuntu:22.04");
    assert_eq!(v["builder"]["downloads"][0]["name"], "rustup_init");
    assert_eq!(v["builder"]["downloads"][0]["verify"], "checksum_file");
    // An unverified download says why, in text and JSON.
    let o = quarry(&["show", "deps_devtools"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("    download `ripgrep` (amd64, arm64): checked against upstream's .sha256 file\n"),
        "{text}"
    );
    assert!(
        text.contains("    download `fd` (amd64, arm64): not verified: fd publishes no checksum file"),
        "{text}"
    );
    let o = quarry(&["show", "nvim", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["builder"]["downloads"][0]["verify"], "none");
    assert!(v["builder"]["downloads"][0]["reason"].as_str().unwrap().contains("neovim/neovim#34956"));
    let o = quarry(&["list", "--format", "json"]);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = all.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.contains(&"ros") && names.len() >= 30);
    assert!(
        all.iter()
            .any(|e| e["aliases"].as_array().is_some_and(|a| a.iter().any(|a| a["name"] == "ros_jazzy")))
    );
    let o = quarry(&["show", "ros-jazy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hint: did you mean `ros_jazzy`?"));
}

#[test]
fn init_writes_a_starter_that_renders_and_never_overwrites() {
    let dir = scratch("init");
    let o = quarry_in(&dir, "/nonexistent/config", &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FROM ubuntu:24.04 AS quarry_final"));
    let before = std::fs::read(dir.join("quarry.toml")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`quarry.toml` already exists\nhint: pass --force"));
    assert_eq!(std::fs::read(dir.join("quarry.toml")).unwrap(), before);
    // `new-extension` adds its folder among the top-level keys, where the commented example is,
    // not after the commented tables.
    let o = quarry_in(&dir, "/nonexistent/config", &["new-extension", "eigen_tools"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    assert!(
        text.contains("# extension_dirs = [\".quarry/extensions/eigen\"]\nextension_dirs = [\".quarry/extensions/eigen_tools\"]\n"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The starter's commented examples, uncommented as they are, make a project that renders with
/// every two-line key, once with `pip` and once with `uv` (one of the two).
#[test]
fn init_examples_render_when_uncommented() {
    for installer in ["pip", "uv"] {
        let dir = scratch(&format!("init-examples-{installer}"));
        let o = quarry_in(&dir, "/nonexistent/config", &["init"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let other = if installer == "pip" { "uv" } else { "pip" };
        // `dockerfile` would build; `image` is the example's final image.
        let skipped = [format!("{other} = "), "dockerfile = ".to_owned()];
        let starter = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
        let text: String = starter
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(example)
                    if (example.starts_with('[')
                        || example
                            .split_once(" = ")
                            .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_')))
                        && !skipped.iter().any(|k| example.starts_with(k.as_str())) =>
                {
                    format!("{example}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        std::fs::write(dir.join("quarry.toml"), &text).unwrap();
        // What the examples name.
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::write(dir.join("config/app.conf"), "level = 1\n").unwrap();
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(dir.join("scripts/setup.sh"), "echo setup\n").unwrap();
        std::fs::write(dir.join("scripts/after-copies.sh"), "echo after\n").unwrap();
        std::fs::write(dir.join("robot.deps.yaml"), "apt_tools: [git]\n").unwrap();
        std::fs::create_dir_all(dir.join(".quarry/extensions/eigen")).unwrap();
        std::fs::write(
            dir.join(".quarry/extensions/eigen/extension.toml"),
            "name = \"eigen\"\ndescription = \"Eigen\"\napt_packages = [\"libeigen3-dev\"]\n",
        )
        .unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
        assert!(o.status.success(), "{installer}: {}\n{text}", stderr(&o));
        let dockerfile = String::from_utf8(o.stdout).unwrap();
        for comment in [
            "# project_apt: apt packages",
            &format!("# project_{installer}: builder"),
            "# project_copy: files",
            "# project_scripts: setup",
            "# project_scripts_post: setup",
            "# eigen: apt packages",
            "# project_deps_apt_tools: apt packages",
            "COPY --link quarry/project_copy/",
            "/etc/apt/keyrings/project_apt-vendor.asc",
        ] {
            assert!(dockerfile.contains(comment), "{installer}: no `{comment}`:\n{dockerfile}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn import_converts_a_rockerc_and_names_what_it_could_not() {
    let dir = scratch("import");
    std::fs::write(
        dir.join("rockerc.yaml"),
        "image: ubuntu:22.04\nargs:\n  - nvidia\n  - x11\n  - user\n  - deps-devtools\n  - pixy\nextension-blacklist:\n  - nvidia\nvolume: /a:/b\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning: not converted: `args` entry `pixy`: no such extension (did you mean `pixi`?)"),
        "{err}"
    );
    assert!(!err.contains("`volume`"), "{err}");
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    // The blacklist is an exclusion: it also removes what the user file adds.
    assert!(
        toml.contains("image = \"ubuntu:22.04\"\nextensions = [\"deps_devtools\", \"user\", \"volume\", \"x11\", \"!nvidia\"]\n"),
        "{toml}"
    );
    assert!(toml.contains("[options.volume]\nspec = [\"/a:/b\"]\n"), "{toml}");
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "the imported file renders: {}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn quiet_silences_notes_and_completions_and_man_are_generated() {
    let o = quarry(&["-q", "render", "ubuntu:24.04", "--cargo"]);
    assert!(o.status.success() && o.stderr.is_empty(), "{}", stderr(&o));
    let o = quarry(&["render", "ubuntu:24.04", "--cargo"]);
    assert_eq!(
        stderr(&o),
        "note: added `curl` (needed by `cargo`)\nnote: the Dockerfile copies files from `quarry/` of its build context, which only `-o FILE` writes (beside FILE)\n",
        "no colour when stderr is not a terminal"
    );
    for shell in ["bash", "zsh", "fish"] {
        let o = quarry(&["completions", shell]);
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("ros-jazzy"), "{shell}");
    }
    let o = quarry(&["man"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(".ie \\n(.g .ds Aq"));
}

#[test]
fn explain_reads_dockerfiles_and_configurations() {
    let dir = scratch("explain");
    std::fs::write(
        dir.join("old.Dockerfile"),
        "# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\nFROM ${BASE} AS tool\nRUN make\nFROM debian:bookworm\nRUN apt-get update\nCOPY --link --from=tool /out /out\nRUN <<EOF\necho one\nEOF\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("new.Dockerfile"),
        "# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\nFROM ${BASE} AS tool\nRUN make\nFROM debian:trixie\nRUN apt-get update\nCOPY --link --from=tool /out /out\nRUN <<EOF\necho one\nEOF\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "old.Dockerfile", "new.Dockerfile"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("explain_dockerfiles", String::from_utf8_lossy(&o.stdout));
    let err = stderr(&o);
    assert!(err.contains("line 6: `apt-get update` without a cache mount"), "{err}");
    assert!(err.contains("builder base `debian:bookworm` is a tag"), "{err}");
    assert!(err.contains("`# syntax=` directive is ignored"), "{err}");

    let o = quarry_in(
        &dir,
        "/nonexistent/config",
        &["explain", "old.Dockerfile", "new.Dockerfile", "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The linked copy's merge runs: the engine counts it as run, quarry's second count does not.
    assert_eq!((json["reused"].as_u64(), json["total"].as_u64()), (Some(1), Some(4)));
    assert_eq!(json["reused_counting_linked_copies"].as_u64(), Some(2));
    assert_eq!(json["steps"][2]["linked_copy_cached"], true);
    assert_eq!(json["steps"][1]["reason"], "from_changed");
    assert_eq!(json["steps"][2]["reason"], "linked_copy");

    // Configurations are rendered first; steps name their extension.
    std::fs::write(dir.join("old.toml"), "image = \"debian:bookworm\"\nextensions = [\"git\"]\n").unwrap();
    std::fs::write(dir.join("new.toml"), "image = \"debian:bookworm\"\nextensions = [\"git\", \"tzdata\"]\n")
        .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "old.toml", "new.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("explain_configurations", String::from_utf8(o.stdout).unwrap());
    // Without NEW, the project's configuration is the new side.
    std::fs::copy(dir.join("new.toml"), dir.join("quarry.toml")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "old.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .ends_with("3 of 6 steps reused (4 of 6 counting linked copies, whose merges are cheap)\n")
    );
}

#[test]
fn explain_bad_input_exits_1_with_the_reason() {
    let dir = scratch("explain-bad");
    std::fs::write(dir.join("good.Dockerfile"), "FROM debian:bookworm AS final\nRUN true\n").unwrap();
    std::fs::write(dir.join("bad.Dockerfile"), "FROM debian:bookworm\nRUN <<EOF\nnever closed\n").unwrap();
    std::fs::write(dir.join("worse.Dockerfile"), "FORM debian:bookworm\n").unwrap();
    std::fs::write(dir.join("bad.toml"), "image = \"debian:bookworm\"\nextensions = [\"carg\"]\n").unwrap();
    std::fs::write(dir.join("link.Dockerfile"), "FROM a AS s\nRUN x\nFROM b\nCOPY --link --from=s /a /a\n")
        .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["bad.Dockerfile", "good.Dockerfile"], "bad.Dockerfile: line 2: heredoc `<<EOF` is never closed"),
        (&["good.Dockerfile", "worse.Dockerfile"], "worse.Dockerfile: line 1: unknown instruction `FORM`"),
        (&["bad.toml", "good.Dockerfile"], "carg"),
        (&["good.Dockerfile", "good.Dockerfile", "--target", "nope"], "no stage named `nope`"),
        (
            &["link.Dockerfile", "link.Dockerfile", "--engine", "legacy"],
            "line 4: `COPY --link` does not parse on Docker 20.10",
        ),
        (&["missing.Dockerfile", "good.Dockerfile"], "cannot read `missing.Dockerfile`"),
        (&["good.Dockerfile"], "no NEW file given"),
    ];
    for (args, want) in cases {
        let mut argv = vec!["explain"];
        argv.extend_from_slice(args);
        let o = quarry_in(&dir, "/nonexistent/config", &argv);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "a", "b", "--build-arg", "novalue"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `-o` onto a device or a FIFO writes into it; it never replaces it with a regular file
/// (`quarry render -o /dev/null` as root replaced `/dev/null`).
#[test]
fn output_to_a_device_or_fifo_writes_into_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("special-out");
    let null = dir.join("null");
    let made = Command::new("mknod").arg(&null).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    if made {
        let o = quarry(&["render", "ubuntu:24.04", "--git", "-o", null.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device(), "replaced by a file");
    }
    let fifo = dir.join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = quarry(&["render", "ubuntu:24.04", "--git", "-o", fifo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(reader.join().unwrap().contains("FROM ubuntu:24.04 AS quarry_final"));
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no temporary file is left");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Names `import` could not convert are echoed escaped: a key, an `args` entry, an
/// `extension-blacklist` entry or the file's own name with a newline never starts a TOML line
/// (here, one that would mount the host's `/` into a privileged container).
#[test]
fn import_never_writes_live_toml_from_its_input() {
    let dir = scratch("import-inject");
    let payload = "x\n[run]\nargs = [\"--privileged\", \"--volume=/:/host\"]\n#";
    let y = serde_json::to_string(payload).unwrap();
    let cases = [
        ("rockerc.yaml".to_owned(), format!("image: ubuntu:22.04\nargs: [x11]\n{y}: 1\n")),
        ("rockerc.yaml".to_owned(), format!("image: ubuntu:22.04\nargs: [x11, {y}]\n")),
        (
            "rockerc.yaml".to_owned(),
            format!("image: ubuntu:22.04\nargs: [x11]\nextension-blacklist: [{y}]\n"),
        ),
        // A file name holds no `/`.
        (
            "r\n[run]\nargs = [\"--privileged\"]\n#.yaml".to_owned(),
            "image: ubuntu:22.04\nargs: [x11]\n".to_owned(),
        ),
    ];
    for (name, yaml) in &cases {
        std::fs::write(dir.join(name), yaml).unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["import", name, "--force"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
        assert!(!toml.lines().any(|l| l.starts_with("[run]") || l.starts_with("args")), "{toml}");
        let o = quarry_in(&dir, "/nonexistent/config", &["run", "--dry-run"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(!out.contains("--privileged") && !out.contains("/:/host"), "{out}");
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Input sizes and alias expansion are bounded: `/dev/zero` and a 380-byte alias bomb end with
/// an error, not with gigabytes of memory.
#[test]
fn import_bounds_its_input() {
    let dir = scratch("import-bounds");
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: `/dev/zero` is a device, not a regular file\nhint: name a regular file\n");
    let mut bomb = String::from("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    for (name, prev) in
        ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 9].join(",")));
    }
    std::fs::write(dir.join("bomb.yaml"), &bomb).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "bomb.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: `bomb.yaml` stands for more than 100000 YAML values"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("\nhint: "));
    assert!(!dir.join("quarry.toml").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A stand-in for `docker`: answers as Docker 26 with buildx and the containerd store, and
/// "builds" by checking its context holds a Dockerfile before and after a pause. With
/// `FAKE_DOCKER_FAIL=flake` its first build fails with BuildKit's snapshot flake, with
/// `FAKE_DOCKER_FAIL=other` every build fails with another error. Each build appends its
/// context to `$FAKE_DOCKER_LOG`.
fn fake_docker(dir: &std::path::Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("docker");
    std::fs::write(
        &path,
        r#"#!/bin/sh
case "$1" in
  version) echo 26.1.5; exit 0 ;;
  info) [ "$FAKE_DOCKER_STORE" = classic ] && { echo '[["Backing Filesystem","extfs"]]'; exit 0; }
        echo '[["driver-type","io.containerd.snapshotter.v1"]]'; exit 0 ;;
  buildx) [ "$2" = version ] && { echo "buildx v0.14.0"; exit 0; }
          [ "$2" = inspect ] && { printf 'Name: default\nDriver: docker\n'; exit 0; } ;;
esac
for ctx; do :; done
[ -f "$ctx/Dockerfile" ] || { echo "ERROR: no Dockerfile in $ctx" >&2; exit 1; }
sleep 0.3
[ -f "$ctx/Dockerfile" ] || { echo "ERROR: the context $ctx was lost" >&2; exit 1; }
echo "$ctx" >> "$FAKE_DOCKER_LOG"
case "$FAKE_DOCKER_FAIL" in
  flake)
    if [ ! -e "$FAKE_DOCKER_LOG.flaked" ]; then
      touch "$FAKE_DOCKER_LOG.flaked"
      echo "ERROR: failed to solve: failed to commit xg5pq during finalize: failed to stat active key during commit: snapshot 2ljdx does not exist: not found" >&2
      exit 1
    fi ;;
  other) echo "ERROR: failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1" >&2; exit 1 ;;
esac
exit 0
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn fake_build(dir: &std::path::Path, fail: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quarry"));
    command
        .arg("build")
        .args(args)
        .current_dir(dir)
        .env("QUARRY_DOCKER", dir.join("docker"))
        .env("XDG_CONFIG_HOME", "/nonexistent/config")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("FAKE_DOCKER_LOG", dir.join("log"))
        .env("FAKE_DOCKER_FAIL", fail)
        .env_remove("ROCKER_CACHE_ID")
        .env_remove("QUARRY_CACHE_ID")
        .env_remove("GITHUB_ACTIONS");
    command
}

/// The README's matrix recipe: eight `quarry build`s of one configuration with different cache
/// ids at once. Each has its own context folder; none fails or loses its context, and each
/// removes its own when it succeeds.
#[test]
fn concurrent_builds_of_one_configuration_do_not_share_a_context() {
    let dir = scratch("parallel");
    fake_docker(&dir);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let id = format!("py3{i}");
            fake_build(&dir, "", &["debian:bookworm", "--git", "--cache-id", &id])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    let contexts: std::collections::BTreeSet<&str> = log.lines().collect();
    assert_eq!(contexts.len(), 8, "{log}");
    let root = dir.join("cache/quarry/contexts");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "successful builds remove their contexts");
    std::fs::remove_dir_all(dir).unwrap();
}

/// BuildKit's snapshot flake is retried once, with a warning; any other failure is not, and
/// keeps its context.
#[test]
fn the_snapshot_flake_is_retried_once_and_nothing_else() {
    let dir = scratch("flake");
    fake_docker(&dir);
    let o = fake_build(&dir, "flake", &["debian:bookworm", "--git"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: the build hit BuildKit's known snapshot race"), "{err}");
    assert!(err.contains(": building once more\n"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("log")).unwrap().lines().count(), 2);

    std::fs::remove_file(dir.join("log")).unwrap();
    let o = fake_build(&dir, "other", &["debian:bookworm", "--git"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(!err.contains("once more"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("log")).unwrap().lines().count(), 1, "not retried");
    let kept = err.lines().find_map(|l| l.strip_prefix("hint: the build context is kept at `")).unwrap();
    assert!(std::path::Path::new(kept.trim_end_matches('`')).join("Dockerfile").is_file(), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--tag` is checked as Docker checks it before anything is written: `..`, `.` or an empty tag
/// once named the contexts root or its parent, which the build then deleted.
#[test]
fn tags_are_checked_and_never_reach_the_file_system() {
    let dir = scratch("tags");
    fake_docker(&dir);
    let kept = dir.join("cache/quarry/contexts/kept-failed-build");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::write(kept.join("Dockerfile"), "FROM x\n").unwrap();
    for tag in ["..", ".", "", "../../etc", "Dev", "a b", "x\ny"] {
        let o = fake_build(&dir, "", &["debian:bookworm", "--git", "--tag", tag]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{tag:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error: invalid tag "), "{tag:?}: {err}");
        assert!(err.contains("\nhint: write it like `dev`"), "{tag:?}: {err}");
        assert_eq!(err.lines().count(), 2, "{err}");
        assert!(!dir.join("log").exists(), "{tag:?} reached docker");
    }
    assert!(kept.join("Dockerfile").is_file(), "a kept context survives");
    let o = fake_build(&dir, "", &["debian:bookworm", "--git", "--tag", "localhost:5000/team/dev:py3.10"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "localhost:5000/team/dev:py3.10\n");
    assert!(kept.join("Dockerfile").is_file());
    std::fs::remove_dir_all(dir).unwrap();
}

fn quarry_env(
    dir: &std::path::Path,
    config_home: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", config_home)
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .env_remove("QUARRY_SAFE_DIRECTORIES")
        .envs(env.iter().copied())
        .output()
        .expect("quarry runs")
}

/// A quarry.toml (or quarry.lock) that another user owns, found in a parent folder, is refused
/// as git refuses another user's repository, unless its folder is a safe directory (by the
/// user file or the environment). The tests run as root and give the files to uid 4242.
#[test]
fn another_users_project_file_or_lock_is_refused_unless_marked_safe() {
    use std::os::unix::fs::chown;
    let dir = scratch("owner");
    let project = dir.join("shared");
    std::fs::create_dir_all(project.join("mine")).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\n[run]\nargs = [\"--privileged\"]\n",
    )
    .unwrap();
    let me = std::fs::metadata(&dir).unwrap();
    let (uid, gid) = {
        use std::os::unix::fs::MetadataExt;
        (me.uid(), me.gid())
    };
    chown(project.join("quarry.toml"), Some(4242), Some(4242)).unwrap();
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(xdg.join("quarry")).unwrap();
    let cwd = project.join("mine");

    let o = quarry_env(&cwd, &xdg, &[], &["render"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!(
            "error: `{}` is owned by another user (uid 4242), so quarry does not apply it",
            project.join("quarry.toml").display()
        )
    );
    assert!(lines[1].starts_with("hint: if you trust it, add its folder to `safe_directories`"), "{err}");
    assert!(lines[1].contains(&format!("safe_directories = [\"{}\"]", project.display())), "{err}");
    assert!(o.stdout.is_empty() && !project.join("quarry.lock").exists());
    let o = quarry_env(&cwd, &xdg, &[], &["show-config"]);
    assert_eq!(o.status.code(), Some(1), "show-config refuses it too");

    // Marked safe by the environment, by the user file, or all folders with `*`.
    let safe_env = project.to_str().unwrap();
    for (env, user_file) in [
        (vec![("QUARRY_SAFE_DIRECTORIES", format!("/elsewhere:{safe_env}"))], String::new()),
        (vec![], format!("safe_directories = [\"{safe_env}\"]\n")),
        (vec![], "safe_directories = [\"*\"]\n".to_owned()),
    ] {
        std::fs::write(xdg.join("quarry/config.toml"), &user_file).unwrap();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let o = quarry_env(&cwd, &xdg, &env, &["run", "--dry-run"]);
        assert!(o.status.success(), "{env:?} {user_file}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("--privileged"));
    }
    std::fs::write(xdg.join("quarry/config.toml"), "").unwrap();

    // Our own project file with another user's lock: the lock is refused.
    chown(project.join("quarry.toml"), Some(uid), Some(gid)).unwrap();
    std::fs::write(project.join("quarry.lock"), "version = 1\n").unwrap();
    chown(project.join("quarry.lock"), Some(4242), Some(4242)).unwrap();
    let o = quarry_env(&cwd, &xdg, &[], &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("quarry.lock` is owned by another user (uid 4242)"), "{}", stderr(&o));
    std::fs::remove_file(project.join("quarry.lock")).unwrap();

    // A project cannot vouch for itself.
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\nsafe_directories = [\"*\"]\n",
    )
    .unwrap();
    let o = quarry_env(&cwd, &xdg, &[], &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.toml:3:21: `safe_directories` in a project file has no effect"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `-v` names the files that apply; `quarry show-config` lists them in merge order and prints
/// the merged configuration.
#[test]
fn verbose_and_show_config_say_which_files_apply() {
    let dir = scratch("show-config");
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(xdg.join("quarry")).unwrap();
    std::fs::write(xdg.join("quarry/config.toml"), "extensions = [\"git\"]\n[run]\nargs = [\"--rm\"]\n")
        .unwrap();
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"cargo\"]\n[options.cargo]\nversion = \"1.80.0\"\n",
    )
    .unwrap();
    let o = quarry_env(&dir, &xdg, &[], &["-v", "render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let user = xdg.join("quarry/config.toml");
    let project = dir.join("quarry.toml");
    assert!(
        err.starts_with(&format!(
            "info: applying the user file `{}`\ninfo: applying the project file `{}`\n",
            user.display(),
            project.display()
        )),
        "{err}"
    );
    let o = quarry_env(&dir, &xdg, &[], &["show-config"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        out,
        format!(
            "# Files that apply, lowest precedence first (the command line wins over all):\n\
             #   user     \"{}\"\n#   project  \"{}\"\n#   lock     \"{}\"\n\n# The merged configuration:\n\
             extensions = [\"cargo\", \"git\"]\nimage = \"ubuntu:24.04\"\n\n[options.cargo]\nversion = \"1.80.0\"\n\n\
             [run]\nargs = [\"--rm\"]\n",
            user.display(),
            project.display(),
            dir.join("quarry.lock").display()
        )
    );
    let o =
        quarry_env(&std::env::temp_dir(), std::path::Path::new("/nonexistent/config"), &[], &["show-config"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("#   none\n"));
    std::fs::remove_dir_all(dir).unwrap();
}

fn rq(dir: &std::path::Path, config_home: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", config_home)
        .env("XDG_CACHE_HOME", dir.join(".cache"))
        .env("HOME", "/home/tester")
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .output()
        .expect("quarry runs")
}

/// The `docker run` line of a dry run.
fn docker_run_line(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.lines()
        .find(|l| l.starts_with("docker run "))
        .unwrap_or_else(|| panic!("no docker run in {out}"))
        .to_owned()
}

/// Run-time values repeat, rocker's spellings are accepted, and the command needs no `--` after
/// the image (issue 14).
#[test]
fn run_values_repeat_and_rockers_spellings_work() {
    let dir = scratch("rocker-flags");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("vars.env"), "X=1\n").unwrap();
    let d = dir.display().to_string();
    let o = rq(
        &dir,
        "/nonexistent/config",
        &[
            "run",
            "debian:bookworm",
            "--dry-run",
            "--env-value",
            "A=1",
            "--env",
            "B=2",
            "--volume",
            "/tmp",
            "--volume",
            "src:/ws",
            "--volume-spec",
            "~/data:/data:ro",
            "--devices",
            "/dev/null",
            "--devices-path",
            "/dev/zero",
            "--port",
            "8080:80",
            "--port-mapping",
            "9090:90",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit-value",
            "core=0",
            "--net",
            "bridge",
            "--name",
            "box",
            "--env-file",
            "vars.env",
            "--run-arg=--ipc=host",
            "--run-arg",
            "--cpus=2",
            "ls",
            "-la",
            "--color",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let line = docker_run_line(&o);
    for expected in [
        "--env A=1 --env B=2",
        "--network=bridge",
        "--name=box",
        "--publish=8080:80 --publish=9090:90",
        "--ulimit=nofile=1024:1024 --ulimit=core=0",
        "--device /dev/null --device /dev/zero",
        &format!("--volume /tmp:/tmp --volume {d}/src:/ws --volume /home/tester/data:/data:ro"),
        &format!("--env-file={d}/vars.env --ipc=host --cpus=2 "),
    ] {
        assert!(line.contains(expected), "missing {expected:?} in {line}");
    }
    assert!(line.ends_with(" ls -la --color"), "{line}");
    // A host path that does not exist is mounted, with a warning.
    assert!(stderr(&o).contains("warning: the host path `/home/tester/data` of volume"), "{}", stderr(&o));
    assert!(!stderr(&o).contains(&format!("`{d}/src`")), "{}", stderr(&o));

    // Each value is checked by the option's rule.
    let o = rq(
        &dir,
        "/nonexistent/config",
        &["run", "debian:bookworm", "--dry-run", "--env", "A=1", "--env", "B 2"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error: invalid value \"B 2\" for option `value` of extension `env`"),
        "{}",
        stderr(&o)
    );

    // rocker's `--nocache`, `--image-name`; a rocker flag quarry spells otherwise names the spelling.
    let o = rq(&dir, "/nonexistent/config", &["run", "debian:bookworm", "--nocach", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hint: did you mean `--nocache`?"), "{}", stderr(&o));
    let o = rq(&dir, "/nonexistent/config", &["run", "debian:bookworm", "--user-override-name", "dev"]);
    assert!(stderr(&o).contains("hint: in quarry: `--user-name NAME`"), "{}", stderr(&o));
    let o = rq(&dir, "/nonexistent/config", &["run", "debian:bookworm", "--persist-image"]);
    assert!(stderr(&o).contains("quarry always keeps the image"), "{}", stderr(&o));
    let o = rq(
        &dir,
        "/nonexistent/config",
        &["run", "debian:bookworm", "--git", "--env-file", "nope.env", "--dry-run"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error: the env file `nope.env` does not exist"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// List options in quarry.toml: the user file's, the project's and the command line's values, in
/// that order; a list for a single-valued option points at the file.
#[test]
fn list_options_in_configuration_files() {
    let dir = scratch("list-config");
    let home = dir.join("config");
    std::fs::create_dir_all(home.join("quarry")).unwrap();
    std::fs::write(home.join("quarry/config.toml"), "[options.env]\nvalue = [\"U=1\"]\n").unwrap();
    let project = dir.join("p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\"]\n[options.env]\nvalue = [\"A=1\", \"B=2\"]\n[options.port]\nmapping = \"80:80\"\n",
    )
    .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["run", "--dry-run", "--env", "C=3", "--", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = docker_run_line(&o);
    assert!(line.contains("--env U=1 --env A=1 --env B=2 --env C=3 --publish=80:80"), "{line}");
    assert!(line.ends_with(" bash"), "{line}");
    // List options are not locked: they never change the Dockerfile.
    let lock = std::fs::read_to_string(project.join("quarry.lock")).unwrap_or_default();
    assert!(!lock.contains("A=1"), "{lock}");
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\n[options.network]\nmode = [\"host\", \"bridge\"]\n",
    )
    .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("quarry.toml:3:8: option `mode` of extension `network` takes one value, not a list"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--cwd` mounts the current folder at the same path and starts there.
#[test]
fn cwd_mounts_the_current_folder_and_starts_there() {
    let dir = scratch("cwd");
    let d = std::fs::canonicalize(&dir).unwrap().display().to_string();
    let o = rq(&dir, "/nonexistent/config", &["run", "debian:bookworm", "--cwd", "--dry-run", "pwd"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = docker_run_line(&o);
    assert!(line.contains(&format!("--volume {d}:{d} --workdir={d} ")), "{line}");
    assert!(line.ends_with(" pwd"), "{line}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A project removes an extension the user file adds with `!name`.
#[test]
fn a_project_excludes_what_the_user_file_adds() {
    let dir = scratch("exclude");
    let home = dir.join("config");
    std::fs::create_dir_all(home.join("quarry")).unwrap();
    std::fs::write(home.join("quarry/config.toml"), "extensions = [\"git\", \"jquery\"]\n").unwrap();
    let project = dir.join("p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"!jquery\", \"curl\"]\n",
    )
    .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("# Extensions: curl, git\n"), "{out}");
    // The command line still wins.
    let o = rq(&project, home.to_str().unwrap(), &["render", "--jquery"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("# Extensions: curl, git, jquery\n"));
    std::fs::write(project.join("quarry.toml"), "image = \"debian:bookworm\"\nextensions = [\"!jqury\"]\n")
        .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("did you mean `jquery`?"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Import maps every rockerc key and `args` entry that has an equivalent, names the rest with
/// the closest feature, and refuses a file that is not a rockerc.
#[test]
fn import_loses_nothing() {
    let dir = scratch("import-all");
    std::fs::write(
        dir.join("rockerc.yaml"),
        "image: ubuntu:24.04\nargs: [x11, git, cwd, isaacsim, pull, persist-image, nvidia, user, oyr-run-arg]\n\
         extension-blacklist: [nvidia]\nname: dev\nvolume: [/data, \"src:/ws\"]\ndevices: /dev/dri\n\
         port: [\"8080:80\"]\nenv: [A=1, B=2]\nimage-name: mine\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    let config: toml::Table = toml::from_str(&toml).unwrap();
    let extensions: Vec<&str> =
        config["extensions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for e in ["x11", "git", "cwd", "isaac_sim", "user", "name", "volume", "devices", "port", "env", "!nvidia"]
    {
        assert!(extensions.contains(&e), "{e} missing: {toml}");
    }
    assert!(!extensions.contains(&"nvidia"), "{toml}");
    assert_eq!(config["build"]["pull"].as_bool(), Some(true), "{toml}");
    assert_eq!(config["options"]["env"]["value"].as_array().unwrap().len(), 2, "{toml}");
    assert_eq!(config["options"]["volume"]["spec"].as_array().unwrap().len(), 2, "{toml}");
    assert_eq!(config["options"]["name"]["value"].as_str(), Some("dev"), "{toml}");
    let err = stderr(&o);
    assert!(err.contains("`image-name`: closest in quarry: `quarry build --tag NAME`"), "{err}");
    assert!(err.contains("`args` entry `oyr-run-arg`: closest in quarry: `[run] args`"), "{err}");
    // rocker's `git` is the package and the ~/.gitconfig mount (`gitconfig`, when linked).
    let linked =
        String::from_utf8(quarry(&["list"]).stdout).unwrap().lines().any(|l| l.starts_with("gitconfig "));
    assert!(extensions.contains(&"gitconfig") == linked, "{toml}");
    assert!(linked || err.contains("needs the `gitconfig` extension"), "{err}");
    let o = quarry_in(&dir, "/nonexistent/config", &["run", "--dry-run", "--", "true"]);
    assert!(o.status.success(), "the imported file runs: {}", stderr(&o));
    let line = docker_run_line(&o);
    assert!(line.contains("--env A=1 --env B=2") && line.contains("--volume /data:/data"), "{line}");

    // A deps_rocker file is converted as one (tests/project_extensions.rs covers it)...
    std::fs::write(dir.join("deps.yaml"), "apt_tools: [htop]\nenv: [A=1]\n").unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "deps.yaml", "-o", "deps.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // ...and a file that is neither is an error, with nothing written.
    std::fs::write(dir.join("notes.yaml"), "apt_tools: [htop]\nenv: [A=1]\n").unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "notes.yaml", "-o", "other.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error: `notes.yaml` is not a rockerc file"), "{}", stderr(&o));
    assert!(!dir.join("other.toml").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

/// `dockerfile` of quarry.toml: the project's Dockerfile is built first, tagged by its content,
/// and its image is the final image.
#[test]
fn a_project_dockerfile_is_the_final_image() {
    let dir = scratch("dockerfile-base");
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    std::fs::write(dir.join("docker/Dockerfile"), "FROM debian:bookworm\nRUN echo one\n").unwrap();
    std::fs::write(dir.join("quarry.toml"), "dockerfile = \"docker/Dockerfile\"\nextensions = [\"git\"]\n")
        .unwrap();
    let o = rq(&dir, "/nonexistent/config", &["build", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let d = dir.display();
    assert!(lines[0].starts_with("docker buildx build --load --tag quarry/dockerfile:"), "{out}");
    assert!(lines[0].ends_with(&format!(" --file {d}/docker/Dockerfile {d}/docker")), "{out}");
    let tag = lines[0].split(' ').nth(5).unwrap().to_owned();
    let o = rq(&dir, "/nonexistent/config", &["render"]);
    let rendered = String::from_utf8(o.stdout).unwrap();
    assert!(rendered.contains(&format!("FROM {tag} AS quarry_final")), "{rendered}");
    // Another Dockerfile, another tag; the same one, the same tag.
    std::fs::write(dir.join("docker/Dockerfile"), "FROM debian:bookworm\nRUN echo two\n").unwrap();
    let o = rq(&dir, "/nonexistent/config", &["render"]);
    assert!(!String::from_utf8(o.stdout).unwrap().contains(&tag));
    // The command line's image wins.
    let o = rq(&dir, "/nonexistent/config", &["render", "ubuntu:24.04"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("FROM ubuntu:24.04 AS quarry_final"));
    std::fs::write(dir.join("quarry.toml"), "dockerfile = \"../Dockerfile\"\n").unwrap();
    let o = rq(&dir, "/nonexistent/config", &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`dockerfile` = \"../Dockerfile\" is not a path inside the project"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `-h` is one screen, `--help` groups the extension flags under their extension and shows no
/// empty default; man pages exist for the commands quarry(1) names; completions offer extension
/// names and option values; `explain` tells a configuration from a Dockerfile by content.
#[test]
fn help_man_completions_and_explain_by_content() {
    let o = quarry(&["render", "-h"]);
    let short = String::from_utf8(o.stdout).unwrap();
    assert!(short.lines().count() < 40, "{short}");
    assert!(!short.contains("--cargo-version <VALUE>"), "{short}");
    let o = quarry(&["render", "--help"]);
    let long = String::from_utf8(o.stdout).unwrap();
    assert!(long.contains("Extension `cargo`:\n      --cargo\n"), "{long}");
    assert!(!long.contains("[default: ]"), "{long}");
    assert!(long.contains("[required]"), "{long}");
    // A default is said once: clap prints `default_value`, the doc comment does not repeat it.
    let o = quarry(&["import", "--help"]);
    let import = String::from_utf8(o.stdout).unwrap();
    assert_eq!(import.matches("[default: quarry.toml]").count(), 1, "{import}");
    // The command after the image needs no `--`, and the usage says so.
    let o = quarry(&["run", "-h"]);
    let run = String::from_utf8(o.stdout).unwrap();
    assert!(
        run.contains(
            "Usage: quarry run [OPTIONS] [IMAGE] [COMMAND]...\n       quarry run [OPTIONS] -- [COMMAND]...\n"
        ),
        "{run}"
    );
    // Every command's `--version` is quarry's.
    for line in [&["--version"][..], &["run", "--version"], &["render", "-V"], &["list", "--version"]] {
        let o = quarry(line);
        assert!(o.status.success(), "{line:?}");
        assert_eq!(String::from_utf8(o.stdout).unwrap(), format!("quarry {}\n", env!("CARGO_PKG_VERSION")));
    }

    let o = quarry(&["man"]);
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(page.contains("quarry\\-render(1)"), "{page}");
    let o = quarry(&["man", "render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains(".TH quarry-render 1"));

    let o = quarry(&["completions", "bash"]);
    let script = String::from_utf8(o.stdout).unwrap();
    assert!(script.contains("ros_jazzy"), "extension names are completed");
    assert!(script.contains("ros-base"), "one_of values are completed");

    let o = quarry(&["show", "ros_jazzy"]);
    let shown = String::from_utf8(o.stdout).unwrap();
    assert!(!shown.contains("{{"), "{shown}");

    let dir = scratch("explain-by-content");
    std::fs::write(dir.join("quarry.toml.orig"), "image = \"debian:bookworm\"\nextensions = [\"git\"]\n")
        .unwrap();
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\", \"jquery\"]\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "quarry.toml.orig"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("steps reused"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--cache-registry` in a dry run: one `--cache-from` per builder stage and one for the final
/// stage; a malformed reference is an error with a hint before anything runs.
#[test]
fn cache_registry_dry_run_and_malformed_references() {
    let dry = |registry: &str| {
        Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["run", "ubuntu:24.04", "--npm", "--cache-registry", registry, "--dry-run"])
            .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
            .env("XDG_CACHE_HOME", "/nonexistent/cache")
            .env("XDG_CONFIG_HOME", "/nonexistent/config")
            .output()
            .unwrap()
    };
    let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args([
            "run",
            "ubuntu:24.04",
            "--palanteer",
            "--npm",
            "--cache-registry",
            "127.0.0.1:5000/qc",
            "--dry-run",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .env("XDG_CACHE_HOME", "/nonexistent/cache")
        .env("XDG_CONFIG_HOME", "/nonexistent/config")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let build = out.lines().next().unwrap();
    let imports: Vec<&str> =
        build.split(" --cache-from ").skip(1).map(|s| s.split(' ').next().unwrap()).collect();
    assert_eq!(imports.len(), 4, "{build}");
    assert!(imports[3].starts_with("type=registry,ref=127.0.0.1:5000/qc:latest-"), "{build}");
    assert!(imports[0].starts_with("type=registry,ref=127.0.0.1:5000/qc:npm_builder-"), "{build}");
    assert!(imports[1].starts_with("type=registry,ref=127.0.0.1:5000/qc:palanteer_builder-"), "{build}");
    assert!(imports[2].starts_with("type=registry,ref=127.0.0.1:5000/qc:final-"), "{build}");
    assert!(!build.contains("--cache-to"), "exports run after the build: {build}");
    for (bad, why) in [
        ("quarry-cache", "it names no repository after the registry host"),
        ("ghcr.io/team/cache:v1", "it carries a tag"),
        ("GHCR.io/Team", "it is not a valid image repository"),
    ] {
        let o = dry(bad);
        assert_eq!(o.status.code(), Some(1), "{bad}");
        let err = stderr(&o);
        assert!(err.contains(&format!("error: invalid cache registry `{bad}`: {why}")), "{err}");
        assert!(err.contains("\nhint: write it as `REGISTRY/REPO`"), "{err}");
    }
}

/// A registry nothing answers at, and an engine that cannot export caches: each is a warning
/// that says the build goes on without the remote cache, and the build succeeds without it.
#[test]
fn an_unusable_remote_cache_is_a_warning_and_the_build_goes_on() {
    let dir = scratch("remote-bad");
    fake_docker(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let registry = format!("127.0.0.1:{port}/qc");
    let o = fake_build(&dir, "", &["ubuntu:24.04", "--git", "--cache-registry", &registry]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("warning: cannot reach the cache registry `127.0.0.1:{port}`: "))
            && err.contains(": building without the remote cache\n"),
        "{err}"
    );
    let o = fake_build(&dir, "", &["ubuntu:24.04", "--git", "--cache-registry", &registry])
        .env("FAKE_DOCKER_STORE", "classic")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cannot export caches: building without the remote cache\nhint: turn on the containerd image store"), "{err}");
    assert!(err.contains("`--builder quarry`"), "{err}");
    assert!(!err.contains("cannot reach"), "the engine is checked first: {err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The chain only grows: an extension added later goes last in the lock and the Dockerfile, and
/// `quarry lock --reorder` returns to the canonical order, saying what that re-runs. A lock that
/// names an extension this quarry does not have gets a warning and is rewritten without it.
#[test]
fn the_lock_keeps_the_chain_order_until_reordered() {
    let dir = scratch("chain");
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\", \"ccache\"]\n",
    )
    .unwrap();
    assert!(quarry_in(&dir, "/nonexistent/config", &["lock"]).status.success());
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\", \"ccache\", \"tzdata\"]\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    // tzdata (priority 85) goes after ccache (70): it was added later.
    assert!(
        out.find("# ccache: apt packages").unwrap() < out.find("# tzdata: apt packages").unwrap(),
        "{out}"
    );

    let o = quarry_in(&dir, "/nonexistent/config", &["lock", "--reorder"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("canonical order: curl, git, tzdata, ccache\nthe next build runs "), "{text}");
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.find("# tzdata: apt packages").unwrap() < out.find("# ccache: apt packages").unwrap(),
        "{out}"
    );
    let o = quarry_in(&dir, "/nonexistent/config", &["lock", "--reorder"]);
    assert!(stderr(&o).contains("the chain is already in the canonical order"), "{}", stderr(&o));

    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    std::fs::write(dir.join("quarry.lock"), lock.replace("name = \"tzdata\"", "name = \"tzdatax\"")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("names the extension `tzdatax`, which this quarry does not have: the chain goes on without it and the lock drops it"),
        "{}",
        stderr(&o)
    );
    assert!(!std::fs::read_to_string(dir.join("quarry.lock")).unwrap().contains("tzdatax"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A user's preferences never change what the project commits: extensions and options of the
/// user file (and extensions given on the command line) leave quarry.lock byte for byte as it
/// was, while their own chain order is kept in the user's state folder, so that adding a second
/// one later does not move the first (nothing before it runs again).
#[test]
fn the_user_file_never_changes_the_projects_lock() {
    let dir = scratch("user-lock");
    let config = dir.join("config");
    std::fs::create_dir_all(config.join("quarry")).unwrap();
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"tzdata\"]\napt = [\"jq\"]\n",
    )
    .unwrap();
    let render = |args: &[&str]| {
        let mut all = vec!["render"];
        all.extend(args);
        let o = quarry_in(&project, config.to_str().unwrap(), &all);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let chain = |dockerfile: &str| -> Vec<String> {
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix("# ")?.strip_suffix(": apt packages"))
            .map(str::to_owned)
            .collect()
    };
    render(&[]);
    let lock = std::fs::read(project.join("quarry.lock")).unwrap();
    let user_file = config.join("quarry/config.toml");
    std::fs::write(
        &user_file,
        "extensions = [\"git\", \"x11\"]\n[options.tzdata]\ntimezone = \"Europe/Berlin\"\n",
    )
    .unwrap();
    let with_git = render(&[]);
    assert!(with_git.contains("Europe/Berlin"), "the user's preference applies: {with_git}");
    assert_eq!(chain(&with_git), ["tzdata", "project_apt", "curl", "git"]);
    assert_eq!(
        std::fs::read(project.join("quarry.lock")).unwrap(),
        lock,
        "the user file changed quarry.lock"
    );
    // A second extension of the user's goes after the first, whatever its priority.
    std::fs::write(&user_file, "extensions = [\"git\", \"x11\", \"locales\"]\n").unwrap();
    assert_eq!(chain(&render(&[])), ["tzdata", "project_apt", "curl", "git", "locales"]);
    // The command line's extensions are the user's too.
    assert_eq!(chain(&render(&["--jquery"])), ["tzdata", "project_apt", "curl", "git", "locales", "jquery"]);
    assert_eq!(std::fs::read(project.join("quarry.lock")).unwrap(), lock);
    // The order is the user's own, kept outside the project.
    let kept: Vec<PathBuf> = std::fs::read_dir(project.join(".test-state/quarry/chains"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let text = std::fs::read_to_string(&kept[0]).unwrap();
    assert!(text.contains("order = [\"tzdata\", \"project_apt\", \"curl\", \"git\""), "{text}");
    // Gone again: the lock is as it was, and `--locked` (CI) passes with or without the user file.
    std::fs::remove_file(&user_file).unwrap();
    assert_eq!(chain(&render(&["--locked"])), ["tzdata", "project_apt"]);
    assert_eq!(std::fs::read(project.join("quarry.lock")).unwrap(), lock);
    std::fs::write(&user_file, "extensions = [\"git\"]\n").unwrap();
    render(&["--locked"]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The X cookie's folder is quarry's own: a `quarry` folder another user made in a runtime folder
/// anyone can write to (a shared `/tmp`), or a runtime folder that belongs to another user
/// (`sudo -E` keeps the invoking user's), is passed over for the user's own cache folder, and left
/// as it was.
#[test]
fn the_x_cookie_folder_is_never_another_users() {
    if !quarry_cli::host::values().root {
        eprintln!("\n!!!!! SKIPPED: planting another user's folder needs root !!!!!\n");
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = scratch("xauth-folder");
    let shared = dir.join("shared");
    std::fs::create_dir_all(shared.join("quarry")).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(shared.join("quarry"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(shared.join("quarry"), Some(4242), Some(4242)).unwrap();
    let theirs = dir.join("run-user-4242");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(4242), Some(4242)).unwrap();
    let cache = dir.join("cache");
    for runtime in [&shared, &theirs] {
        let o = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["run", "--dry-run", "debian:bookworm", "--x11", "--", "true"])
            .current_dir(&dir)
            .env("DISPLAY", ":3")
            .env("XDG_RUNTIME_DIR", runtime)
            .env("XDG_CACHE_HOME", &cache)
            .env("XDG_CONFIG_HOME", "/nonexistent/config")
            .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        let cookie = cache.join("quarry/run/xauth-_3");
        assert!(out.contains(&format!("xauth -f {} nmerge -", cookie.display())), "{out}");
        assert_eq!(std::fs::metadata(cache.join("quarry/run")).unwrap().mode() & 0o777, 0o700);
    }
    // The planted folders are as they were, nothing written into them.
    let planted = std::fs::metadata(shared.join("quarry")).unwrap();
    assert_eq!((planted.uid(), planted.mode() & 0o777), (4242, 0o777));
    assert_eq!(std::fs::read_dir(shared.join("quarry")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `quarry run` never lets an option take the image: `--network`, `--shm-size` and `--nvidia` take
/// a value only when the option accepts the next word (`--network host`), else they select their
/// extension alone and the word is the image; `--` may stand before the image; rocker's `-e
/// NAME=value` is answered with `--env`.
#[test]
fn run_options_never_swallow_the_image() {
    let dir = scratch("swallow");
    let run = |line: &str| {
        let mut args = vec!["run", "--dry-run"];
        args.extend(line.split(' '));
        let o = quarry_in(&dir, "/nonexistent/config", &args);
        assert!(o.status.success(), "{line}: {}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        out.lines().last().unwrap().to_owned()
    };
    let image_and_command = |line: &str| {
        let run_line = run(line);
        let words: Vec<&str> = run_line.split(' ').collect();
        let tag = words.iter().position(|w| w.starts_with("quarry/")).unwrap_or_else(|| panic!("{run_line}"));
        (run_line.clone(), words[tag + 1..].join(" "))
    };
    for (line, expected, command) in [
        ("--network host debian:bookworm bash", "--network=host", "bash"),
        ("--network bridge debian:bookworm", "--network=bridge", ""),
        ("--network debian:bookworm bash -l", "--network=host", "bash -l"),
        ("--net none debian:bookworm", "--network=none", ""),
        ("--shm-size 4g debian:bookworm true", "--shm-size=4g", "true"),
        ("--shm-size debian:bookworm true", "--shm-size=2g", "true"),
        ("--nvidia runtime debian:bookworm", "--runtime=nvidia", ""),
        ("--nvidia debian:bookworm nvidia-smi", "--gpus=all", "nvidia-smi"),
        ("--volume /tmp -- debian:bookworm ls -la", "--volume /tmp:/tmp", "ls -la"),
    ] {
        let (run_line, got) = image_and_command(line);
        assert!(run_line.contains(expected), "{line}: {run_line}");
        assert_eq!(got, command, "{line}: {run_line}");
    }
    let o = quarry_in(&dir, "/nonexistent/config", &["run", "--dry-run", "-e", "A=1", "debian:bookworm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("hint: `-e` selects an extension by name in quarry: set a variable with `--env A=1`")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// deps_rocker's names keep working everywhere a name is written: flags (with the options the
/// alias leaves open), `-e`, quarry.toml's `extensions` and `[options.<alias>]`; a distribution on
/// the wrong Ubuntu release stops before anything is built, naming what works there.
#[test]
fn ros_aliases_work_as_names_and_the_wrong_release_is_an_error() {
    let o = quarry(&["render", "ubuntu:22.04", "--ros-humble", "--ros-humble-variant", "desktop"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("ros-dev-tools ros-humble-desktop\n"), "{out}");
    let o = quarry(&["render", "ubuntu:22.04", "-e", "ros-humble"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=humble"));
    // Unset, the image chooses the distribution.
    let o = quarry(&["render", "ubuntu:22.04", "--ros"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=humble"));

    let o = quarry(&["render", "ubuntu:22.04", "--ros-jazzy"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: `ros` with distro `jazzy` needs the final image `ubuntu:24.04` or `ubuntu:noble`, but it is \
         `ubuntu:22.04`\nhint: on `ubuntu:22.04`, choose distro `humble` (`--ros-distro humble`); or render with \
         `ubuntu:24.04`\n"
    );
    let o = quarry(&["render", "ubuntu:24.04", "--ros-jazzy", "--ros-distro", "humble"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(
        "error: `ros_jazzy` is `ros` with distro `jazzy`, but distro `humble` is given too\nhint:"
    ));

    let dir = scratch("ros-alias-project");
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:22.04\"\nextensions = [\"ros_humble\"]\n[options.ros_humble]\nvariant = \"ros-core\"\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("ros-dev-tools ros-humble-ros-core\n"));
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    assert!(lock.contains("name = \"ros\"") && lock.contains("distro = \"humble\""), "{lock}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// rocker's remaining built-ins are extensions with rocker's flags: each gives the `docker run`
/// argument rocker gives (rocker's constraint_extensions.py, extensions.py), and `--nocleanup`
/// leaves out `--rm` (rocker's core.py). rocker_differential.rs compares them with rocker itself.
#[test]
fn rockers_built_ins_give_rockers_run_arguments() {
    let dir = scratch("rocker-built-ins");
    let args = [
        "run",
        "ubuntu:24.04",
        "--dry-run",
        "--cpus",
        "1.5",
        "--memory",
        "2gb",
        "--detach",
        "--expose",
        "8080",
        "--expose",
        "9090/udp",
        "--group-add",
        "dialout",
        "--group-add",
        "20",
        "--ipc",
        "host",
    ];
    let o = rq(&dir, "/nonexistent/config", &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = docker_run_line(&o);
    for arg in [
        " --rm ",
        " --cpus=1.5 ",
        " --memory=2gb ",
        " --detach ",
        " --expose=8080 ",
        " --expose=9090/udp ",
        " --group-add dialout ",
        " --group-add 20 ",
        " --ipc=host ",
    ] {
        assert!(line.contains(arg), "{arg:?} in {line}");
    }
    let mut kept = args.to_vec();
    kept.push("--nocleanup");
    let o = rq(&dir, "/nonexistent/config", &kept);
    assert!(!docker_run_line(&o).contains("--rm"), "{}", docker_run_line(&o));
    // rocker's checks: a number of CPUs, a size.
    let o = rq(&dir, "/nonexistent/config", &["run", "ubuntu:24.04", "--dry-run", "--cpus", "two"]);
    assert!(
        stderr(&o).contains("invalid value \"two\" for option `cpus` of extension `cpu_limits`"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `ros_workspace` ships the workspace's package.xml files and nothing else of it: not its
/// sources, not colcon's build/install/log (marked COLCON_IGNORE), not hidden folders.
#[test]
fn ros_workspace_ships_only_the_package_xml_files() {
    let dir = scratch("ros-workspace");
    let ws = dir.join("ws");
    for (rel, text) in [
        ("src/driver/package.xml", "<package><name>driver</name></package>"),
        ("src/driver/src/main.cpp", "int main() {}"),
        ("src/tools/nested/package.xml", "<package><name>tools</name></package>"),
        ("install/COLCON_IGNORE", ""),
        ("install/share/driver/package.xml", "installed copy"),
        (".git/package.xml", "not this"),
    ] {
        std::fs::create_dir_all(ws.join(rel).parent().unwrap()).unwrap();
        std::fs::write(ws.join(rel), text).unwrap();
    }
    let out = dir.join("out/Dockerfile");
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let o = quarry_in(
        &ws,
        "/nonexistent/config",
        &["render", "ubuntu:24.04", "--ros", "--ros-workspace", "-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let project = dir.join("out/quarry/ros_workspace/project");
    let mut shipped = Vec::new();
    let mut stack = vec![project.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                shipped.push(p.strip_prefix(&project).unwrap().display().to_string());
            }
        }
    }
    shipped.sort();
    assert_eq!(shipped, [".quarry-project-files", "src/driver/package.xml", "src/tools/nested/package.xml"]);
    let dockerfile = std::fs::read_to_string(&out).unwrap();
    assert!(
        dockerfile.contains(
            "--mount=type=bind,source=quarry/ros_workspace/project,target=/tmp/quarry-ros-workspace"
        )
    );
    // Another folder by its option; one that is not a folder is an error naming the option.
    let o = quarry_in(
        &dir,
        "/nonexistent/config",
        &["render", "ubuntu:24.04", "--ros-workspace-path", "/nonexistent/ws"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: `ros_workspace` cannot collect its files below `/nonexistent/ws`: it is not a folder\n\
         hint: point `--ros-workspace-path` at the project's folder\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// quarry.lock pins what the configuration leaves to defaults, but not against an alias (which
/// sets its own values), nor an option that follows the final image once the image changed: a
/// project moved from ubuntu:24.04 to 22.04 gets Humble, not the locked Jazzy.
#[test]
fn the_lock_pins_neither_an_aliass_values_nor_an_image_chosen_one_for_another_image() {
    let dir = scratch("ros-lock");
    let toml = |image: &str, ext: &str| format!("image = \"{image}\"\nextensions = [\"{ext}\"]\n");
    std::fs::write(dir.join("quarry.toml"), toml("ubuntu:24.04", "ros")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("ENV ROS_DISTRO=jazzy"), "{}", stderr(&o));
    std::fs::write(dir.join("quarry.toml"), toml("ubuntu:22.04", "ros")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=humble"));
    std::fs::write(dir.join("quarry.toml"), toml("ubuntu:24.04", "ros_kilted")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=kilted"));
    std::fs::remove_dir_all(dir).unwrap();
}
