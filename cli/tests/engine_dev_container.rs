//! The dev container on the real engine (`quarry up`, `enter`, `stop`, `down`, `ps`): `up` twice
//! gives the same container; a changed configuration is reported and the container replaced on
//! `--replace`, never while a session is open; two sessions run at once; a session has every
//! extension's environment; `down` leaves what the container wrote to the project folder; `ps`
//! is right after the engine restarts; a warm `run` skips the build; the devcontainer CLI opens
//! the project with the devcontainer.json `up` writes; and `quarry rockerc` keeps rockerc's
//! container.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{TestEngine, scratch, stderr, stdout, token};

/// A project whose image has an extension environment (`env`) and a value that tells builds
/// apart (`token`).
fn project(name: &str, value: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    write_config(&project, value);
    (project, dir.join("home"))
}

/// The image copies a file holding `value` (a change of it is a change of the image) and the
/// container gets `PROBE=value` (a change of the run-time settings).
fn write_config(project: &Path, value: &str) {
    std::fs::write(project.join("probe.txt"), format!("{value}\n")).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        format!(
            "image = \"debian:bookworm\"\nextensions = [\"env\"]\ncopy = [{{ path = \"probe.txt\", dest = \"/etc/probe.txt\" }}]\n\n[options.env]\nvalue = [\"PROBE={value}\"]\n"
        ),
    )
    .unwrap();
}

fn ok(engine: &TestEngine, project: &Path, home: &Path, args: &[&str]) -> Output {
    let out = engine.quarry_in(project, home, args).output().expect("quarry runs");
    assert!(out.status.success(), "quarry {}:\n{}", args.join(" "), stderr(&out));
    out
}

fn container_id(engine: &TestEngine, name: &str) -> String {
    let out = engine.docker(&["container", "inspect", "--format", "{{.Id}}", name]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// Removes the test's container whatever happens to the test.
struct Down<'a> {
    engine: &'a TestEngine,
    project: PathBuf,
    home: PathBuf,
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.engine.quarry_in(&self.project, &self.home, &["down"]).output();
    }
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn up_reuses_replaces_on_change_and_down_keeps_the_files() {
    let engine = TestEngine::get("MODERN");
    let first = token();
    let (project, home) = project("dev-up", &first);
    let _down = Down { engine: &engine, project: project.clone(), home: home.clone() };
    let name = stdout(&ok(&engine, &project, &home, &["up"])).trim().to_owned();
    let id = container_id(&engine, &name);
    // Again, nothing changed: the same container, and no build at all.
    let again = ok(&engine, &project, &home, &["up"]);
    assert_eq!(stdout(&again).trim(), name);
    assert_eq!(container_id(&engine, &name), id, "{}", stderr(&again));
    assert!(stderr(&again).contains("nothing to build"), "{}", stderr(&again));
    // A session has the extension's environment, in the project folder.
    let env = ok(&engine, &project, &home, &["enter", "sh", "-c", "echo $PROBE; pwd"]);
    let canonical = project.canonicalize().unwrap();
    assert_eq!(stdout(&env), format!("{first}\n{}\n", canonical.display()));
    // What the container writes to the project folder stays after `down`.
    ok(&engine, &project, &home, &["enter", "sh", "-c", "echo kept > written-inside.txt"]);
    // A change is reported; without a terminal and --replace the container is left.
    let second = token();
    write_config(&project, &second);
    let refused = engine.quarry_in(&project, &home, &["up"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("the image and the run-time settings"), "{}", stderr(&refused));
    assert_eq!(container_id(&engine, &name), id);
    // Not while a session is open, even with --replace.
    let mut session = engine.quarry_in(&project, &home, &["enter", "sleep", "5"]).spawn().unwrap();
    wait_for_sessions(&engine, &name, 1);
    let busy = engine.quarry_in(&project, &home, &["up", "--replace"]).output().unwrap();
    assert!(!busy.status.success());
    assert!(stderr(&busy).contains("session(s) are open"), "{}", stderr(&busy));
    assert_eq!(container_id(&engine, &name), id);
    assert!(session.wait().unwrap().success());
    wait_for_sessions(&engine, &name, 0);
    let replaced = ok(&engine, &project, &home, &["up", "--replace"]);
    assert_ne!(container_id(&engine, &name), id, "{}", stderr(&replaced));
    let env = ok(&engine, &project, &home, &["enter", "sh", "-c", "printenv PROBE; cat /etc/probe.txt"]);
    assert_eq!(stdout(&env), format!("{second}\n{second}\n"));
    ok(&engine, &project, &home, &["down"]);
    assert!(!engine.docker(&["container", "inspect", &name]).status.success());
    assert_eq!(std::fs::read_to_string(project.join("written-inside.txt")).unwrap(), "kept\n");
}

fn wait_for_sessions(engine: &TestEngine, name: &str, want: usize) {
    for _ in 0..100 {
        let out = engine.docker(&["top", name, "-o", "pid,ppid,args"]);
        let sleeping = stdout(&out).lines().filter(|l| l.contains("sleep 5")).count();
        if sleeping == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the container never had {want} session(s) of `sleep 5`");
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn two_sessions_run_at_once() {
    let engine = TestEngine::get("MODERN");
    let (project, home) = project("dev-two", &token());
    let _down = Down { engine: &engine, project: project.clone(), home: home.clone() };
    ok(&engine, &project, &home, &["up"]);
    // Each session waits for the other's mark: they can only both finish if they overlap.
    let session = |me: &str, other: &str| {
        let script = format!(
            "touch /tmp/{me}; for i in $(seq 1 100); do [ -e /tmp/{other} ] && exit 0; sleep 0.1; done; exit 1"
        );
        engine.quarry_in(&project, &home, &["enter", "sh", "-c", &script]).spawn().unwrap()
    };
    let mut a = session("a", "b");
    let mut b = session("b", "a");
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn ps_is_right_after_the_container_and_the_engine_restart() {
    let engine = TestEngine::get("MODERN");
    let (project, home) = project("dev-ps", &token());
    let _down = Down { engine: &engine, project: project.clone(), home: home.clone() };
    let name = stdout(&ok(&engine, &project, &home, &["up"])).trim().to_owned();
    let ps = stdout(&ok(&engine, &project, &home, &["ps"]));
    let row = ps.lines().find(|l| l.starts_with(&name)).unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("running") && row.contains(" yes "), "{row}");
    ok(&engine, &project, &home, &["stop"]);
    let ps = stdout(&ok(&engine, &project, &home, &["ps"]));
    assert!(ps.lines().any(|l| l.starts_with(&name) && l.contains("exited")), "{ps}");
    // The engine restarts: the labels still find the container, and `enter` starts it again.
    restart(&engine);
    let ps = stdout(&ok(&engine, &project, &home, &["ps"]));
    assert!(ps.lines().any(|l| l.starts_with(&name) && l.contains(" yes ")), "{ps}");
    let env = ok(&engine, &project, &home, &["enter", "true"]);
    assert!(env.status.success());
    // A changed configuration shows as not current.
    write_config(&project, &token());
    let ps = stdout(&ok(&engine, &project, &home, &["ps"]));
    assert!(ps.lines().any(|l| l.starts_with(&name) && l.contains(" no ")), "{ps}");
}

/// Stops and starts the test engine with its own scripts (its data stays).
fn restart(engine: &TestEngine) {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../xtask/engine");
    for script in ["stop.sh", "start.sh"] {
        let out = Command::new("bash").arg(scripts.join(script)).arg("26c").output().unwrap();
        assert!(out.status.success(), "{script}: {}", stderr(&out));
    }
    for _ in 0..100 {
        if engine.docker(&["version"]).status.success() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("the engine did not come back");
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn a_warm_run_skips_the_build_and_a_changed_base_does_not() {
    let engine = TestEngine::get("MODERN");
    let (project, home) = project("dev-warm", &token());
    ok(&engine, &project, &home, &["build"]);
    let warm = ok(&engine, &project, &home, &["run", "--", "true"]);
    assert!(stderr(&warm).contains("nothing to build"), "{}", stderr(&warm));
    // The base image moves (a new image under the same tag): the image is built again.
    let base = format!("quarry-test/base-{}", token());
    std::fs::write(
        project.join("Dockerfile.base"),
        format!("FROM debian:bookworm\nRUN echo {} > /moved\n", token()),
    )
    .unwrap();
    let out = engine.docker(&[
        "build",
        "--quiet",
        "--tag",
        &base,
        "--file",
        project.join("Dockerfile.base").to_str().unwrap(),
        project.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(
        project.join("quarry.toml"),
        format!("image = \"{base}\"\nextensions = [\"env\"]\n\n[options.env]\nvalue = [\"A=1\"]\n"),
    )
    .unwrap();
    ok(&engine, &project, &home, &["build"]);
    let warm = ok(&engine, &project, &home, &["run", "--", "true"]);
    assert!(stderr(&warm).contains("nothing to build"), "{}", stderr(&warm));
    let out = engine.docker(&[
        "build",
        "--quiet",
        "--tag",
        &base,
        "--file",
        project.join("Dockerfile.base").to_str().unwrap(),
        "--no-cache",
        project.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let moved = ok(&engine, &project, &home, &["run", "--", "true"]);
    assert!(!stderr(&moved).contains("nothing to build"), "{}", stderr(&moved));
    let _ = engine.docker(&["image", "rm", "--force", &base]);
}

#[test]
#[ignore = "needs the Docker engines and the devcontainer CLI `cargo xtask test` provides"]
fn the_devcontainer_cli_opens_the_project() {
    let engine = TestEngine::get("MODERN");
    let cli = devcontainer_cli();
    let (project, home) = project("dev-cli", &token());
    let _down = Down { engine: &engine, project: project.clone(), home: home.clone() };
    ok(&engine, &project, &home, &["up"]);
    let config = std::fs::read_to_string(project.join(".devcontainer/devcontainer.json")).unwrap();
    assert!(config.starts_with("// Written by quarry"), "{config}");
    let devcontainer = |args: &[&str]| {
        let mut c = engine.command(cli.to_str().unwrap());
        // The folder before the command: what follows `exec`'s command is the command's.
        c.arg(args[0]).arg("--workspace-folder").arg(&project).args(&args[1..]).stdin(Stdio::null());
        let out = c.output().unwrap();
        let log = format!("devcontainer {}:\n{}\n{}", args.join(" "), stdout(&out), stderr(&out));
        assert!(out.status.success(), "{log}");
        out
    };
    let up = devcontainer(&["up", "--remove-existing-container"]);
    let result = stdout(&up);
    assert!(result.contains("\"outcome\":\"success\""), "{result}");
    // Its container runs quarry's image, with the project at the same path.
    let canonical = project.canonicalize().unwrap();
    let seen = devcontainer(&["exec", "sh", "-c", "pwd; test -f quarry.toml && echo mounted"]);
    assert_eq!(stdout(&seen), format!("{}\nmounted\n", canonical.display()));
    let entry = devcontainer(&["exec", "test", "-x", "/usr/local/bin/quarry-entrypoint"]);
    assert!(entry.status.success());
    // The devcontainer CLI's own container, told by its label.
    let ids = engine.docker(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("label=devcontainer.local_folder={}", project.display()),
    ]);
    for id in stdout(&ids).lines() {
        engine.docker(&["rm", "--force", id]);
    }
}

/// The devcontainer CLI `cargo xtask test` installs; the test is `#[ignore]`d, so it runs only
/// when asked for, and then it fails without it.
fn devcontainer_cli() -> PathBuf {
    std::env::var_os("QUARRY_TEST_DEVCONTAINER")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .unwrap_or_else(|| common::missing("QUARRY_TEST_DEVCONTAINER", "the devcontainer CLI"))
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn rockerc_keeps_one_container_for_the_folder() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("dev-rockerc");
    let project = dir.join(format!("ws{}", token()));
    let home = dir.join("home");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("rockerc.yaml"), "image: debian:bookworm\nargs: []\nenv:\n  - PROBE=1\n")
        .unwrap();
    let _down = Down { engine: &engine, project: project.clone(), home: home.clone() };
    let rockerc = |args: &[&str]| {
        let mut all = vec!["rockerc"];
        all.extend(args);
        ok(&engine, &project, &home, &all)
    };
    rockerc(&["debian:bookworm", "sh", "-c", "pwd > seen.txt"]);
    let name = project.file_name().unwrap().to_str().unwrap().to_lowercase();
    let id = container_id(&engine, &name);
    let seen = std::fs::read_to_string(project.join("seen.txt")).unwrap();
    assert_eq!(seen.trim(), format!("/workspaces/{name}"));
    // Again: the same container.
    rockerc(&["debian:bookworm", "true"]);
    assert_eq!(container_id(&engine, &name), id);
    // `quarry enter` finds it too.
    ok(&engine, &project, &home, &["enter", "true"]);
    // --force makes it anew.
    rockerc(&["--force", "debian:bookworm", "true"]);
    assert_ne!(container_id(&engine, &name), id);
}
