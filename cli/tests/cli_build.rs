//! `quarry build` as a user runs it, without an engine (`--dry-run`, a fake `docker`): the build
//! command, cache ids, tags, context folders of concurrent builds, the one retry of the snapshot
//! flake, and the remote cache's references and warnings.

use std::process::Command;

mod cli_support;

use cli_support::*;

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
