//! What the tests of the `quarry` binary share: running it in a folder of their own, with no
//! configuration above it and no engine, and a fake `docker` for builds.
// Each test crate uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// `quarry` in a folder with no quarry.toml above it and no user configuration.
pub fn quarry(args: &[&str]) -> Output {
    quarry_in(&std::env::temp_dir(), "/nonexistent/config", args)
}

pub fn quarry_in(dir: &std::path::Path, config_home: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", config_home)
        .env("XDG_STATE_HOME", dir.join(".test-state"))
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .output()
        .expect("quarry runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quarry-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in for `docker`: answers as Docker 26 with buildx and the containerd store, and
/// "builds" by checking its context holds a Dockerfile before and after a pause. With
/// `FAKE_DOCKER_FAIL=flake` its first build fails with BuildKit's snapshot flake, with
/// `FAKE_DOCKER_FAIL=other` every build fails with another error. Each build appends its
/// context to `$FAKE_DOCKER_LOG`.
pub fn fake_docker(dir: &std::path::Path) -> PathBuf {
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

pub fn fake_build(dir: &std::path::Path, fail: &str, args: &[&str]) -> Command {
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

pub fn quarry_env(
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

pub fn rq(dir: &std::path::Path, config_home: &str, args: &[&str]) -> Output {
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
pub fn docker_run_line(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.lines()
        .find(|l| l.starts_with("docker run "))
        .unwrap_or_else(|| panic!("no docker run in {out}"))
        .to_owned()
}
