//! Extensions of the catalog built on a real engine and checked in the running container: the ones
//! whose steps need only Debian packages, so they build on the test engines' local Debian mirror.
//! Like `engine.rs`, these run against `QUARRY_TEST_ENGINE_MODERN` (started by `cargo xtask test`)
//! and are `#[ignore]`d for it: `cargo xtask test` runs them, and one that runs without it fails.

mod common;

use common::{TestEngine, scratch, stderr, stdout};

/// One line per check, `name: output`, so a failure shows which tool broke.
const CHECKS: &str = r#"
echo "ccache: $(ccache --version | head -n 1)"
echo "ccache-path: ${PATH%%:*}"
echo "zone: $(date +%Z) $(cat /etc/timezone) $(readlink /etc/localtime)"
echo "locale: $LANG $LC_ALL"
echo "locale-a: $(locale -a | grep -x de_DE.utf8)"
echo "weekday: $(date -d 2024-01-01 +%A)"
echo "locale-errors: $(locale 2>&1 >/dev/null | wc -l)"
echo "jq: $(jq --version) $(echo '{"a": [1, 2]}' | jq '.a[1]')"
echo "ssh: $(ssh -V 2>&1)"
echo "lfs: $(git lfs version)"
echo "lfs-filter: $(git config --system filter.lfs.process)"
"#;

/// The apt-and-setup extensions that build on Debian bookworm here, as flags.
const DEBIAN_BUILDABLE: [&str; 6] =
    ["--ccache", "--tzdata", "--locales", "--jquery", "--ssh-client", "--git-clone"];

/// The apt-and-setup extensions together on Debian bookworm, with a time zone and a locale chosen:
/// each tool runs in the container and each setting is in effect.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn apt_and_setup_extensions_work_in_the_container() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("apt-setup");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let tag = format!("quarry-test/catalog:t{nanos}");
    let mut args = vec!["build", "debian:bookworm"];
    args.extend(DEBIAN_BUILDABLE);
    args.extend(["--tzdata-timezone", "Europe/Paris", "--locales-locale", "de_DE.UTF-8", "--tag", &tag]);
    let out = engine.quarry(&home, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{tag}\n"));

    let run = engine.docker(&["run", "--rm", &tag, "sh", "-c", CHECKS]);
    let _ = engine.docker(&["rmi", &tag]);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    let line = |name: &str| -> String {
        let prefix = format!("{name}: ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
            .to_owned()
    };
    assert!(line("ccache").starts_with("ccache version 4."), "{text}");
    assert_eq!(line("ccache-path"), "/usr/lib/ccache", "{text}");
    let zone = line("zone");
    assert!(
        zone == "CET Europe/Paris /usr/share/zoneinfo/Europe/Paris"
            || zone == "CEST Europe/Paris /usr/share/zoneinfo/Europe/Paris",
        "{text}"
    );
    assert_eq!(line("locale"), "de_DE.UTF-8 de_DE.UTF-8", "{text}");
    assert_eq!(line("locale-a"), "de_DE.utf8", "{text}");
    // 2024-01-01 was a Monday: the German name proves the locale's data is there and in use.
    assert_eq!(line("weekday"), "Montag", "{text}");
    assert_eq!(line("locale-errors"), "0", "{text}");
    assert!(line("jq").starts_with("jq-1."), "{text}");
    assert!(line("jq").ends_with(" 2"), "{text}");
    assert!(line("ssh").starts_with("OpenSSH_"), "{text}");
    assert!(line("lfs").starts_with("git-lfs/3."), "{text}");
    assert_eq!(line("lfs-filter"), "git-lfs filter-process", "{text}");
    std::fs::remove_dir_all(home).unwrap();
}

/// The Debian-buildable extensions with the image's user: every tool runs from `docker run IMAGE
/// <command>` with no shell (quarry's entrypoint loads the environment, then execs it) and from an
/// interactive `bash -i -c`, as the image's user, in its home folder.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn commands_run_without_a_shell_and_in_interactive_bash() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("commands");
    let tag = format!("quarry-test/commands:{}", common::token());
    let mut args = vec!["build", "debian:bookworm"];
    args.extend(DEBIAN_BUILDABLE);
    // A user named on the command line: as root, `--user` alone keeps root, as rocker does.
    args.extend(["--user", "--user-name", "quarry", "--user-uid", "1000", "--tag", &tag]);
    let out = engine.quarry(&home, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let commands: [(&[&str], &str); 8] = [
        (&["ccache", "--version"], "ccache version 4."),
        (&["jq", "--version"], "jq-1."),
        (&["git", "lfs", "version"], "git-lfs/3."),
        (&["curl", "--version"], "curl 7."),
        (&["whoami"], "quarry"),
        (&["pwd"], "/home/quarry"),
        (&["printenv", "LANG"], "en_US.UTF-8"),
        (&["date", "+%Z"], "UTC"),
    ];
    for (argv, expected) in commands {
        let mut direct = vec!["run", "--rm", tag.as_str()];
        direct.extend_from_slice(argv);
        let run = engine.docker(&direct);
        assert!(run.status.success(), "{argv:?}: {}", stderr(&run));
        assert!(stdout(&run).starts_with(expected), "{argv:?} without a shell: {}", stdout(&run));
        let joined = argv.join(" ");
        let run = engine.docker(&["run", "--rm", &tag, "bash", "-i", "-c", &joined]);
        assert!(run.status.success(), "bash -i -c {joined}: {}", stderr(&run));
        assert!(stdout(&run).starts_with(expected), "bash -i -c {joined}: {}", stdout(&run));
    }
    // ssh prints its version on stderr.
    let run = engine.docker(&["run", "--rm", &tag, "ssh", "-V"]);
    assert!(stderr(&run).starts_with("OpenSSH_"), "{}", stderr(&run));
    // Without a command, the image's own CMD (bash, read from the engine) runs through the
    // entrypoint.
    let inspect = engine.docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
        &tag,
    ]);
    assert_eq!(stdout(&inspect).trim(), r#"["/usr/local/bin/quarry-entrypoint"] ["/bin/bash"]"#);
    let _ = engine.docker(&["rmi", &tag]);
    std::fs::remove_dir_all(home).unwrap();
}

/// A final image with an ENTRYPOINT and CMD of its own keeps them: quarry's entrypoint runs first
/// and hands over to the image's, with the image's CMD as the default command.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn the_images_own_entrypoint_and_cmd_are_kept() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("compose");
    let base = format!("quarry-test/with-entrypoint:{}", common::token());
    let dir = home.join("base");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM debian:bookworm\nENTRYPOINT [\"/usr/bin/env\", \"FROM_BASE_ENTRYPOINT=yes\"]\nCMD [\"sh\", \"-c\", \"echo cmd:$FROM_BASE_ENTRYPOINT\"]\n",
    )
    .unwrap();
    let built = engine.docker_build(&["build", "-q", "-t", &base, &dir.display().to_string()]).output;
    assert!(built.status.success(), "{}", stderr(&built));
    let tag = format!("quarry-test/composed:{}", common::token());
    let out = engine.quarry(&home, &["build", &base, "--jquery", "--tag", &tag]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = engine.docker(&["run", "--rm", &tag]);
    assert_eq!(stdout(&run), "cmd:yes\n", "{}", stderr(&run));
    let run = engine.docker(&["run", "--rm", &tag, "jq", "-n", "env.FROM_BASE_ENTRYPOINT"]);
    assert_eq!(stdout(&run), "\"yes\"\n", "{}", stderr(&run));
    let _ = engine.docker(&["rmi", &tag, &base]);
    std::fs::remove_dir_all(home).unwrap();
}

/// A time zone of the right shape that this image's tz database lacks fails the build with a
/// message naming it; one of the wrong shape never reaches the Dockerfile.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn a_bad_time_zone_fails_the_build_and_says_why() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("bad-zone");
    for (zone, why) in [
        ("Europe/Pariss", "time zone Europe/Pariss is not in the tz database"),
        (
            "Europe/Paris;id",
            "error: invalid value \"Europe/Paris;id\" for option `timezone` of extension `tzdata`\nhint: expected a time zone name",
        ),
    ] {
        let out = engine.quarry(
            &home,
            &["build", "debian:bookworm", "--tzdata", "--tzdata-timezone", zone, "--progress", "plain"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(why), "{zone}: {}", stderr(&out));
    }
    std::fs::remove_dir_all(home).unwrap();
}

/// Run-time extensions, checked in a real container: a mounted folder, an environment variable,
/// the host name, /dev/shm's size and a resource limit.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn run_time_extensions_reach_the_container() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("runtime");
    let data = home.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("hello.txt"), "from the host\n").unwrap();
    let mount = format!("{}:/data:ro", data.display());
    let out = engine.quarry(
        &home,
        &[
            "run",
            "debian:bookworm",
            "--volume-spec",
            &mount,
            "--env-value",
            "QUARRY_PROBE=42",
            "--hostname-value",
            "devbox",
            "--shm-size-size",
            "256m",
            "--ulimit-value",
            "nofile=4096:4096",
            "--network-mode",
            "none",
            "--",
            "sh",
            "-c",
            "cat /data/hello.txt; echo \"env=$QUARRY_PROBE\"; hostname; df -m /dev/shm | tail -n 1 | awk '{print \"shm=\" $2}'; echo \"nofile=$(ulimit -n)\"; ls /sys/class/net",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..5], ["from the host", "env=42", "devbox", "shm=256", "nofile=4096"], "{text}");
    assert_eq!(&lines[5..], ["lo"], "network none leaves only the loopback: {text}");
    std::fs::remove_dir_all(home).unwrap();
}

/// `--cwd` and rocker's volumes on a real container: the current folder is mounted at its own
/// path and the command starts there; `--volume /some/dir` mounts it at the same path; a
/// relative host path is the current folder's, not a named volume; values repeat.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn cwd_and_rocker_volumes_reach_the_container() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("cwd-volumes");
    let work = home.join("work");
    let extra = home.join("extra");
    std::fs::create_dir_all(work.join("rel")).unwrap();
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(work.join("marker.txt"), "in the current folder\n").unwrap();
    std::fs::write(work.join("rel/y.txt"), "relative\n").unwrap();
    std::fs::write(extra.join("x.txt"), "same path\n").unwrap();
    let work = std::fs::canonicalize(&work).unwrap();
    let extra = std::fs::canonicalize(&extra).unwrap().display().to_string();
    let script = format!("pwd; cat marker.txt; cat {extra}/x.txt; cat /rel/y.txt; echo \"env=$A,$B\"");
    let mut args = vec![
        "run",
        "debian:bookworm",
        "--cwd",
        "--volume",
        &extra,
        "--volume",
        "rel:/rel",
        "--env",
        "A=1",
        "--env",
        "B=2",
    ];
    if let Some(h) = &engine.add_host {
        args.extend(["--add-host", h]);
    }
    args.extend(["sh", "-c", &script]);
    let out = engine
        .command(env!("CARGO_BIN_EXE_quarry"))
        .current_dir(&work)
        .env("XDG_CACHE_HOME", &home)
        .env_remove("ROCKER_CACHE_ID")
        .env_remove("QUARRY_CACHE_ID")
        .env_remove("GITHUB_ACTIONS")
        .args(&args)
        .output()
        .expect("quarry runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let w = work.display().to_string();
    assert_eq!(lines, [w.as_str(), "in the current folder", "same path", "relative", "env=1,2"], "{text}");
    std::fs::remove_dir_all(home).unwrap();
}

/// `dockerfile` of quarry.toml on a real engine: the project's Dockerfile is built first and its
/// image is the final image the extensions go on.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn a_project_dockerfile_is_built_first() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("dockerfile-base");
    let project = home.join("p");
    std::fs::create_dir_all(project.join("docker")).unwrap();
    let token = common::token();
    std::fs::write(
        project.join("docker/Dockerfile"),
        format!("FROM debian:bookworm\nRUN echo {token} > /hi\n"),
    )
    .unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "dockerfile = \"docker/Dockerfile\"\nextensions = [\"jquery\"]\n",
    )
    .unwrap();
    let mut args = vec!["run"];
    if let Some(h) = &engine.add_host {
        args.extend(["--add-host", h]);
    }
    args.extend(["--", "sh", "-c", "cat /hi; jq -n 1"]);
    let out = engine
        .command(env!("CARGO_BIN_EXE_quarry"))
        .current_dir(&project)
        .env("XDG_CACHE_HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("ROCKER_CACHE_ID")
        .env_remove("QUARRY_CACHE_ID")
        .env_remove("GITHUB_ACTIONS")
        .args(&args)
        .output()
        .expect("quarry runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{token}\n1\n"), "{}", stderr(&out));
    std::fs::remove_dir_all(home).unwrap();
}

/// The development user on Debian bookworm: its name, ids and home (a path like the host's, its
/// parent made), passwordless sudo, the `staff` group; without the option, no sudo. `quarry run`
/// with `host_groups` gives it the host user's supplementary groups.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn the_development_user_has_sudo_its_groups_and_its_home() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("dev-user");
    let user =
        ["--user-name", "dev", "--user-uid", "4242", "--user-gid", "4343", "--user-home", "/work/people/dev"];
    let tag = format!("quarry-test/dev-user:{}", common::token());
    let mut args = vec!["build", "debian:bookworm", "--tag", &tag];
    args.extend(user);
    let out = engine.quarry(&home, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = r#"
echo "who: $(whoami) $(id -u) $(id -g)"
echo "home: $HOME $(pwd) $(stat -c '%U' "$HOME")"
echo "sudo: $(sudo -n whoami)"
echo "groups: $(id -nG)"
echo "sudoers: $(sudo -n stat -c '%a %U' /etc/sudoers.d/quarry-user)"
echo "log: $(sudo -n sh -c 'wc -c < /var/log/lastlog 2>/dev/null || echo none')"
"#;
    let run = engine.docker(&["run", "--rm", &tag, "sh", "-c", script]);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    let line = |name: &str| -> String {
        let prefix = format!("{name}: ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
            .to_owned()
    };
    assert_eq!(line("who"), "dev 4242 4343", "{text}");
    assert_eq!(line("home"), "/work/people/dev /work/people/dev dev", "{text}");
    assert_eq!(line("sudo"), "root", "{text}");
    assert_eq!(line("groups"), "dev staff", "{text}");
    assert_eq!(line("sudoers"), "440 root", "{text}");
    // --no-log-init: no (sparse, uid * 292 bytes) lastlog entry for the new uid.
    assert!(["0", "none"].contains(&line("log").trim()), "{text}");

    // `host_groups`: the supplementary groups of whoever runs quarry (here set with setpriv).
    let mut run = engine.command("setpriv");
    run.env("XDG_CACHE_HOME", &home).env_remove("ROCKER_CACHE_ID").env_remove("QUARRY_CACHE_ID");
    run.args(["--groups", "27,44", "--", env!("CARGO_BIN_EXE_quarry"), "run", "debian:bookworm"]);
    run.args(user).args(["--user-host-groups", "true"]);
    if let Some(h) = &engine.add_host {
        run.args(["--add-host", h]);
    }
    run.args(["--", "id", "-G"]);
    let out = run.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "4343 27 44 50\n", "{}", stderr(&out));

    // Without passwordless sudo: sudo is there, but asks for a password.
    let no_sudo = format!("quarry-test/dev-user-no-sudo:{}", common::token());
    let mut args = vec!["build", "debian:bookworm", "--tag", &no_sudo, "--user-sudo", "false"];
    args.extend(user);
    let out = engine.quarry(&home, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = engine.docker(&["run", "--rm", &no_sudo, "sudo", "-n", "true"]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("a password is required"), "{}", stderr(&run));
    let _ = engine.docker(&["rmi", &tag, &no_sudo]);
    std::fs::remove_dir_all(home).unwrap();
}

/// `quarry run --dry-run` with x11 and gitconfig prints the line that makes the X authority
/// cookie and a `docker run` that mounts it; pasted, they give the container the host's cookie
/// (its family the wildcard `ffff`) under XAUTHORITY, and the host's ~/.gitconfig in root's home.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts, and `xauth`"]
fn x11_gets_a_cookie_and_gitconfig_its_file() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("x11-cookie");
    let authority = home.join("Xauthority");
    let made = std::process::Command::new("xauth")
        .arg("-f")
        .arg(&authority)
        .args(["add", ":7", "MIT-MAGIC-COOKIE-1", "00112233445566778899aabbccddeeff"])
        .output();
    let made = made.unwrap_or_else(|e| {
        panic!("`xauth` does not run ({e}): install it (`apt-get install xauth`; `.ci/run` does)")
    });
    assert!(made.status.success(), "{}", stderr(&made));
    std::fs::write(home.join(".gitconfig"), "[user]\n\tname = Probe Person\n").unwrap();
    let runtime = home.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let with_env = |c: &mut std::process::Command| {
        c.env("DISPLAY", ":7")
            .env("XAUTHORITY", &authority)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join("cache"));
    };
    let mut quarry = engine.command(env!("CARGO_BIN_EXE_quarry"));
    with_env(&mut quarry);
    quarry.args(["run", "--dry-run", "debian:bookworm", "--x11", "--gitconfig"]);
    if let Some(h) = &engine.add_host {
        quarry.args(["--add-host", h]);
    }
    let script = "echo \"xa=$XAUTHORITY\"; od -An -tx1 \"$XAUTHORITY\" | tr -d ' \\n'; echo; git config --file /root/.gitconfig user.name 2>/dev/null || sed -n 2p /root/.gitconfig";
    quarry.args(["--", "sh", "-c", script]);
    let out = quarry.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let cookie = runtime.join("quarry").join("xauth-_7");
    assert_eq!(
        lines[1],
        format!("xauth nlist :7 | sed -e 's/^..../ffff/' | xauth -f {} nmerge -", cookie.display())
    );
    let mount =
        format!("--volume {}:/tmp/.quarry.xauth:ro --env XAUTHORITY=/tmp/.quarry.xauth", cookie.display());
    assert!(lines[2].contains(&mount), "{text}");
    assert!(
        lines[2].contains(&format!("--volume {}/.gitconfig:/root/.gitconfig:ro", home.display())),
        "{text}"
    );
    // The image, built as `quarry build` does (the same configuration, the same tag); then the
    // cookie line and the run line, pasted (without the X socket, which this host lacks).
    let out = engine.quarry(&home, &["build", "debian:bookworm", "--x11", "--gitconfig"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(lines[2].contains(stdout(&out).trim()), "{text}");
    std::fs::create_dir_all(cookie.parent().unwrap()).unwrap();
    let mut sh = engine.command("sh");
    with_env(&mut sh);
    let out = sh.args(["-c", lines[1]]).output().unwrap();
    assert!(out.status.success(), "{}: {}", lines[1], stderr(&out));
    let docker_run = lines[2].replace(" --volume /tmp/.X11-unix:/tmp/.X11-unix:rw", "");
    let mut sh = engine.command("sh");
    with_env(&mut sh);
    let out = sh.args(["-c", &docker_run]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    let shown: Vec<&str> = shown.lines().collect();
    assert_eq!(shown[0], "xa=/tmp/.quarry.xauth");
    assert!(shown[1].starts_with("ffff"), "the family is the wildcard: {}", shown[1]);
    assert!(shown[1].contains("00112233445566778899aabbccddeeff"), "{}", shown[1]);
    assert!(shown[2].contains("Probe Person"), "{shown:?}");
    std::fs::remove_dir_all(home).unwrap();
}

/// palanteer's builder, run as it is after the clone on a stand-in of v0.8's source tree
/// (`tests/data/palanteer-standin`: the same CMake options and library checks, and a `palanteer`
/// that uses a symbol of each library the viewer links), on debian:bookworm with the builder's own
/// packages, and run-time checked with `ldd` in final images with the extension's packages: every
/// library is there, on bookworm and on trixie (where `libdw1` is `libdw1t64`). Where the workplace
/// keeps v0.8's own source next to the project (`../shared/test-data`), the real viewer is built
/// instead.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn palanteer_builds_and_finds_its_libraries() {
    let engine = TestEngine::get("MODERN");
    let registry = quarry_core::Registry::from_extensions(quarry_catalog::LINKED.iter().copied()).unwrap();
    let home = scratch("palanteer");
    for image in ["debian:bookworm", "debian:trixie"] {
        let request = quarry_core::Request {
            image: image.to_owned(),
            extensions: vec![quarry_core::Selection::new("palanteer")],
            builder_base_image: Some("debian:bookworm".to_owned()),
            ..quarry_core::Request::default()
        };
        let mut rendered = quarry_core::render(&registry, &request).unwrap();
        let clone = "RUN git -c advice.detachedHead=false clone --depth 1 --branch v0.8 \\\n      \
                     https://github.com/dfeneyrou/palanteer.git /tmp/palanteer\n";
        assert_eq!(rendered.dockerfile.matches(clone).count(), 1, "{}", rendered.dockerfile);
        rendered.dockerfile = rendered.dockerfile.replace(
            clone,
            "COPY palanteer-v0.8.tar.gz /tmp/palanteer-v0.8.tar.gz\n\
             RUN mkdir /tmp/palanteer && tar -xzf /tmp/palanteer-v0.8.tar.gz --strip-components=1 -C /tmp/palanteer\n",
        );
        let dir = home.join("context");
        quarry_docker::context::write_context(&dir, &rendered).unwrap();
        // v0.8's own source where the workplace keeps it next to the project, else the stand-in.
        let upstream = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/test-data/palanteer-v0.8.tar.gz");
        if upstream.is_file() {
            eprintln!("palanteer: building v0.8's source, {}", upstream.display());
            std::fs::copy(&upstream, dir.join("palanteer-v0.8.tar.gz")).unwrap();
        } else {
            eprintln!("palanteer: building the stand-in of tests/data (no {})", upstream.display());
            let tar = std::process::Command::new("tar")
                .arg("-czf")
                .arg(dir.join("palanteer-v0.8.tar.gz"))
                .arg("-C")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
                .arg("palanteer-standin")
                .output()
                .unwrap();
            assert!(tar.status.success(), "{}", stderr(&tar));
        }
        std::fs::write(dir.join("Dockerfile"), &rendered.dockerfile).unwrap();
        let tag = format!("quarry-test/palanteer:{}", common::token());
        let out = engine.build_context(&dir, &tag, "palanteer", false).output;
        assert!(out.status.success(), "{image}: {}", stderr(&out));
        let run = engine.docker(&["run", "--rm", &tag, "ldd", "/opt/quarry/palanteer/bin/palanteer"]);
        let _ = engine.docker(&["rmi", &tag]);
        assert!(run.status.success(), "{}", stderr(&run));
        let ldd = stdout(&run);
        eprintln!("ldd palanteer on {image}:\n{ldd}");
        assert!(!ldd.contains("not found"), "{image}:\n{ldd}");
        for lib in ["libGL.so.1", "libX11.so.6", "libXrender.so.1", "libunwind.so.8", "libdw.so.1"] {
            assert!(ldd.contains(&format!("{lib} => /")), "{image}: {lib}:\n{ldd}");
        }
    }
    std::fs::remove_dir_all(home).unwrap();
}

/// cargo's toolchain is writable by the image's user (through the group `staff`), so `rustup
/// component add` and a project's rust-toolchain.toml work; cargo's own files stay read-only.
/// rustup cannot be downloaded here: the builder's download and install RUNs are replaced by a
/// stand-in tree of the same shape, and the permissions RUN after them runs as rendered.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn the_users_toolchain_is_writable() {
    let engine = TestEngine::get("MODERN");
    let registry = quarry_core::Registry::from_extensions(quarry_catalog::LINKED.iter().copied()).unwrap();
    let request = quarry_core::Request {
        image: "debian:bookworm".to_owned(),
        extensions: vec![quarry_core::Selection::new("cargo"), quarry_core::Selection::new("user")],
        builder_base_image: Some("debian:bookworm".to_owned()),
        ..quarry_core::Request::default()
    };
    let mut rendered = quarry_core::render(&registry, &request).unwrap();
    // From the declared download of rustup-init through the install that runs it.
    let start = rendered.dockerfile.find("# cargo: download `rustup_init`").expect("cargo's download");
    let end = start
        + rendered.dockerfile[start..].find("/opt/quarry/cargo/rustup/tmp\n").unwrap()
        + "/opt/quarry/cargo/rustup/tmp\n".len();
    let toolchain = "/opt/quarry/cargo/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu";
    let stand_in = format!(
        "RUN mkdir -p {toolchain}/bin /opt/quarry/cargo/cargo/bin \
         && echo 'default_toolchain = \"1.95.0-x86_64-unknown-linux-gnu\"' > /opt/quarry/cargo/rustup/settings.toml \
         && printf '#!/bin/sh\\necho cargo 1.95.0 stand-in\\n' > /opt/quarry/cargo/cargo/bin/cargo \
         && chmod 0755 /opt/quarry/cargo/cargo/bin/cargo\n"
    );
    rendered.dockerfile.replace_range(start..end, &stand_in);
    let home = scratch("toolchain");
    let dir = home.join("context");
    quarry_docker::context::write_context(&dir, &rendered).unwrap();
    let tag = format!("quarry-test/toolchain:{}", common::token());
    let out = engine.build_context(&dir, &tag, "toolchain", false).output;
    assert!(out.status.success(), "{}", stderr(&out));
    let script = format!(
        r#"
echo "who: $(whoami) $RUSTUP_HOME"
touch {toolchain}/bin/clippy-driver && echo "component: ok"
mkdir "$RUSTUP_HOME/toolchains/nightly-2026-01-01-x86_64-unknown-linux-gnu" && echo "toolchain: $(stat -c %G "$RUSTUP_HOME/toolchains/nightly-2026-01-01-x86_64-unknown-linux-gnu")"
echo 'profile = "minimal"' >> "$RUSTUP_HOME/settings.toml" && echo "settings: ok"
touch /opt/quarry/cargo/cargo/bin/x 2>/dev/null && echo "cargo-bin: writable" || echo "cargo-bin: read-only"
"#
    );
    let run = engine.docker(&["run", "--rm", &tag, "sh", "-c", &script]);
    let _ = engine.docker(&["rmi", &tag]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        stdout(&run),
        "who: quarry /opt/quarry/cargo/rustup\ncomponent: ok\ntoolchain: staff\nsettings: ok\ncargo-bin: read-only\n",
        "{}",
        stderr(&run)
    );
    std::fs::remove_dir_all(home).unwrap();
}
