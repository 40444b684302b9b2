//! `quarry run` as a user runs it, without an engine (`--dry-run`, a fake `docker`): the `docker
//! run` arguments of extensions and options, rocker's spellings, the X cookie's folder, and an
//! image never taken for an option's value.

use std::process::Command;

mod cli_support;

use cli_support::*;

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

/// The X cookie's folder is quarry's own: a `quarry` folder another user made in a runtime folder
/// anyone can write to (a shared `/tmp`), or a runtime folder that belongs to another user
/// (`sudo -E` keeps the invoking user's), is passed over for the user's own cache folder, and left
/// as it was.
#[test]
#[ignore = "needs root (to plant another user's folder): `cargo xtask test` runs it as root"]
fn the_x_cookie_folder_is_never_another_users() {
    assert!(
        quarry_cli::host::values().root,
        "planting another user's folder needs root: run it with `cargo xtask test` as root"
    );
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
