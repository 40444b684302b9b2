//! Extensions of the catalog built on a real engine and checked in the running container: the ones
//! whose steps need only Debian packages, so they build on the test engines' local Debian mirror.
//! Like `engine.rs`, these run against `QUARRY_TEST_ENGINE_MODERN` (started by `cargo xtask test`)
//! and say loudly that they were skipped without it; under `CI=true` they fail instead.

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

/// The apt-and-setup extensions together on Debian bookworm, with a time zone and a locale chosen:
/// each tool runs in the container and each setting is in effect.
#[test]
fn apt_and_setup_extensions_work_in_the_container() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
    let home = scratch("apt-setup");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let tag = format!("quarry-test/catalog:t{nanos}");
    let out = engine.quarry(
        &home,
        &[
            "build",
            "debian:bookworm",
            "--ccache",
            "--tzdata",
            "--locales",
            "--jquery",
            "--ssh-client",
            "--git-clone",
            "--tzdata-timezone",
            "Europe/Paris",
            "--locales-locale",
            "de_DE.UTF-8",
            "--tag",
            &tag,
        ],
    );
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
fn commands_run_without_a_shell_and_in_interactive_bash() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
    let home = scratch("commands");
    let tag = format!("quarry-test/commands:{}", common::token());
    let out = engine.quarry(
        &home,
        &[
            "build",
            "debian:bookworm",
            "--ccache",
            "--tzdata",
            "--locales",
            "--jquery",
            "--ssh-client",
            "--git-clone",
            "--user",
            "--tag",
            &tag,
        ],
    );
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
fn the_images_own_entrypoint_and_cmd_are_kept() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
    let home = scratch("compose");
    let base = format!("quarry-test/with-entrypoint:{}", common::token());
    let dir = home.join("base");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM debian:bookworm\nENTRYPOINT [\"/usr/bin/env\", \"FROM_BASE_ENTRYPOINT=yes\"]\nCMD [\"sh\", \"-c\", \"echo cmd:$FROM_BASE_ENTRYPOINT\"]\n",
    )
    .unwrap();
    let built = engine.command("docker").args(["build", "-q", "-t", &base]).arg(&dir).output().unwrap();
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
fn a_bad_time_zone_fails_the_build_and_says_why() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
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
fn run_time_extensions_reach_the_container() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
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
fn cwd_and_rocker_volumes_reach_the_container() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
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
fn a_project_dockerfile_is_built_first() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
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
