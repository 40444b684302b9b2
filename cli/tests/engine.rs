//! Tests against a real Docker engine with BuildKit. `cargo xtask test` starts the engines (Docker
//! 26 with the containerd image store, and Docker 20.10) and passes them in
//! `QUARRY_TEST_ENGINE_{MODERN,LEGACY}`. They are `#[ignore]`d, so plain `cargo test` lists them
//! as ignored; `cargo xtask test` runs them, and one that runs without its engine fails.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{TestEngine, scratch, stderr, stdout, token};
use quarry_core::{Builder, EngineLevel, Extension, Registry, Request, Rule, Selection, Template};
use quarry_docker::progress::progress_steps;

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

/// A test extension whose setup step uses a locked cache mount: it records what the mount held,
/// adds `token`, and sleeps `sleep` seconds while holding the lock; `/started` and `/ended` hold
/// when the step ran (nanoseconds of the engine's clock).
fn probe_extension(builder: bool) -> Extension {
    Extension {
        name: "probe",
        crate_name: "engine-test",
        description: "cache-mount probe",
        builder: builder.then_some(Builder {
            from: quarry_core::BuilderFrom::BaseImage,
            apt_packages: &[],
            downloads: &[],
            template: Template {
                file: "builder",
                source: "RUN mkdir -p {{ out }} && echo built-{{ options.token }} > {{ out }}/built\n",
            },
            artifacts: leak([quarry_core::Artifact {
                source: "/opt/quarry/probe",
                dest: "/opt/quarry/probe",
            }]),
        }),
        setup: Some(Template {
            file: "setup",
            source: "RUN {{ cache_mount('probe', '/probe') }} set -e; date +%s%N > /started; \
                     ls /probe > /seen; touch /probe/{{ options.token }}; sleep {{ options.sleep }}; \
                     date +%s%N > /ended\n",
        }),
        options: leak([
            quarry_core::OptionSpec::new("token", "t", "none", Rule::Identifier),
            quarry_core::OptionSpec::new("sleep", "s", "0", Rule::Uint),
        ]),
        ..Extension::EMPTY
    }
}

fn probe_registry(builder: bool) -> Registry {
    Registry::from_extensions([leak(probe_extension(builder))]).unwrap()
}

fn probe_request(image: &str, token: &str, sleep: u32) -> Request {
    Request {
        image: image.into(),
        extensions: vec![
            Selection::new("probe").with_option("token", token).with_option("sleep", sleep.to_string()),
        ],
        builder_base_image: Some(image.into()),
        ..Request::default()
    }
}

fn read_seen(engine: &TestEngine, tag: &str) -> String {
    let out = engine.docker(&["run", "--rm", tag, "cat", "/seen"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// Several apt-based extensions on a debootstrapped Debian, built by `quarry build` and checked
/// in the running container.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn apt_extensions_build_and_run() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("apt");
    let tag = format!("quarry-test/apt:{}", token());
    // A user named on the command line: as root, `--user` alone keeps root, as rocker does.
    let user = ["--user", "--user-name", "quarry", "--user-uid", "1000"];
    let mut build = vec!["build", "debian:bookworm", "--curl", "--git"];
    build.extend(user);
    build.extend(["--tag", &tag]);
    let out = engine.quarry(&home, &build);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{tag}\n"));
    let run_sh = |script: &str| {
        let args = ["run", "debian:bookworm", "--curl", "--git", "--user", "--user-name", "quarry"];
        engine.quarry(
            &home,
            &[&args[..], &["--user-uid", "1000", "--tag", &tag, "--", "sh", "-c", script]].concat(),
        )
    };
    let run = run_sh("git --version && curl --version | head -n1 && id -un && pwd");
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("git version "), "{text}");
    assert!(lines[1].starts_with("curl "), "{text}");
    assert_eq!(&lines[2..], ["quarry", "/home/quarry"], "{text}");
    // The container's exit code is quarry's.
    let code = run_sh("exit 7");
    assert_eq!(code.status.code(), Some(7), "{}", stderr(&code));
    let _ = engine.docker(&["rmi", &tag]);
    std::fs::remove_dir_all(home).unwrap();
}

/// `quarry build --cache-id py313` right after `--cache-id py310`: every RUN and COPY step is
/// taken from the cache (the id goes to BuildKit's mount namespace, not into layer keys).
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn another_cache_id_reuses_every_layer() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("ids");
    let first = engine.quarry(
        &home,
        &["build", "debian:bookworm", "--git", "--user", "--progress", "plain", "--cache-id", "py310"],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    // The render's tag goes, so the second build runs (an image already built for this render
    // is not built again) and must find every step in the cache. The image itself stays under
    // another tag: removing it would let the engine collect the merged snapshot of the last
    // `COPY --link`, and the merge would be redone for a reason that is not the id.
    let image = stdout(&first).trim().to_string();
    let kept = format!("quarry-test/ids-kept:{}", std::process::id());
    let tagged = engine.docker(&["tag", &image, &kept]);
    assert!(tagged.status.success(), "{}", stderr(&tagged));
    let removed = engine.docker(&["rmi", &image]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let second = engine.quarry(
        &home,
        &["build", "debian:bookworm", "--git", "--user", "--progress", "plain", "--cache-id", "py313"],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    let steps = progress_steps(&stderr(&second));
    let cached = steps.iter().filter(|s| s.cached).count();
    eprintln!("cache id py310 -> py313: {cached} of {} steps CACHED", steps.len());
    assert!(steps.len() >= 4, "{steps:?}");
    assert_eq!(cached, steps.len(), "{steps:#?}");
    let _ = engine.docker(&["rmi", &kept]);
    std::fs::remove_dir_all(home).unwrap();
}

/// Builds with different ids see different cache-mount contents; the same id sees its own. Both
/// ways of handing the id over isolate: quarry's (`BUILDKIT_CACHE_MOUNT_NS` on Docker 26+) and a
/// plain `docker build --build-arg CACHE_ID=<id>` of the rendered file.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn cache_ids_isolate_mount_contents() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("mounts");
    let registry = probe_registry(false);
    for seed_form in [false, true] {
        let run = |t: &str, id: &str| {
            let tag = format!("quarry-test/probe:{t}");
            engine.build_as(
                &dir.join(t),
                &probe_request("debian:bookworm", t, 0),
                &registry,
                &tag,
                id,
                seed_form,
            );
            let seen = read_seen(&engine, &tag);
            let _ = engine.docker(&["rmi", &tag]);
            seen
        };
        let (a1, b1, a2) = (token(), token(), token());
        let ida = format!("a{}", &a1[1..]);
        let idb = format!("b{}", &a1[1..]);
        run(&a1, &ida);
        let seen_b = run(&b1, &idb);
        assert!(!seen_b.contains(&a1), "seed form {seed_form}: id b saw id a's mount: {seen_b}");
        let seen_a = run(&a2, &ida);
        assert!(seen_a.contains(&a1), "seed form {seed_form}: id a lost its own mount: {seen_a}");
        assert!(!seen_a.contains(&b1), "seed form {seed_form}: id a saw id b's mount: {seen_a}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The seed form (`--build-arg CACHE_ID=<id>`) re-runs the RUN steps after each stage's
/// `ARG CACHE_ID` for a new id; quarry's form re-runs none. Prints both counts.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn seed_form_shares_fewer_layers_than_quarrys() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("seed");
    let registry = quarry_cli::registry_with(&[]).unwrap();
    let request = Request {
        image: "debian:bookworm".into(),
        extensions: vec![Selection::new("git"), Selection::new("user")],
        ..Request::default()
    };
    let mut counts = Vec::new();
    for seed_form in [false, true] {
        // Ids new to the engine, so a warm cache from an earlier run cannot hide the difference.
        let run = token();
        let tag = format!("quarry-test/seed:{run}");
        engine.build_as(&dir.join("a"), &request, registry, &tag, &format!("py310-{run}"), seed_form);
        let progress =
            engine.build_as(&dir.join("b"), &request, registry, &tag, &format!("py313-{run}"), seed_form);
        let steps = progress_steps(&progress);
        counts.push((steps.iter().filter(|s| s.cached).count(), steps.len()));
        let _ = engine.docker(&["rmi", &tag]);
    }
    eprintln!(
        "py313 after py310: quarry's form {} of {} steps CACHED, seed form (--build-arg CACHE_ID) {} of {}",
        counts[0].0, counts[0].1, counts[1].0, counts[1].1
    );
    assert_eq!(counts[0].0, counts[0].1);
    assert!(counts[1].0 < counts[1].1, "the seed form's RUN steps after ARG CACHE_ID re-run");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Two builds at once, each holding a `sharing=locked` cache mount for a few seconds: with the
/// same id they wait for each other, with different ids they overlap.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn parallel_builds_block_only_with_the_same_id() {
    let engine = TestEngine::get("MODERN");
    const SLEEP: u32 = 6;
    let dir = scratch("parallel");
    let registry = probe_registry(false);
    // When each build's locked step ran, read from its image: (started, ended) in nanoseconds.
    let span = |tag: &str| -> (u128, u128) {
        let out = engine.docker(&["run", "--rm", tag, "cat", "/started", "/ended"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let times: Vec<u128> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
        (times[0], times[1])
    };
    let pair = |id_a: &str, id_b: &str| -> (Duration, [(u128, u128); 2]) {
        let (ta, tb) = (token(), format!("{}x", token()));
        let started = Instant::now();
        std::thread::scope(|s| {
            for (t, id) in [(&ta, id_a), (&tb, id_b)] {
                let (engine, registry, dir) = (&engine, &registry, &dir);
                s.spawn(move || {
                    let tag = format!("quarry-test/parallel:{t}");
                    engine.build(
                        &dir.join(t),
                        &probe_request("debian:bookworm", t, SLEEP),
                        registry,
                        &tag,
                        id,
                    );
                });
            }
        });
        let elapsed = started.elapsed();
        let spans = [ta, tb].map(|t| {
            let tag = format!("quarry-test/parallel:{t}");
            let span = span(&tag);
            let _ = engine.docker(&["rmi", &tag]);
            span
        });
        (elapsed, spans)
    };
    // Whether the two steps ran at the same time: on a loaded machine wall times stretch, but a
    // step that waits for the lock starts only after the other one ended.
    let overlap = |[a, b]: [(u128, u128); 2]| a.0.max(b.0) < a.1.min(b.1);
    let suffix = token();
    let (same, same_spans) = pair(&format!("same{suffix}"), &format!("same{suffix}"));
    let (different, different_spans) = pair(&format!("one{suffix}"), &format!("two{suffix}"));
    eprintln!("two builds holding a locked mount {SLEEP}s: same id {same:?}, different ids {different:?}");
    assert!(!overlap(same_spans), "same id should serialize: {same_spans:?}");
    assert!(overlap(different_spans), "different ids should overlap: {different_spans:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Docker 20.10 has no `COPY --link`: `quarry build` renders plain copies, says so, and the
/// image works; the cache id reaches it as `CACHE_ID`.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn legacy_engine_gets_the_fallback() {
    let engine = TestEngine::get("LEGACY");
    let home = scratch("legacy");
    let tag = format!("quarry-test/legacy:{}", token());
    let out = engine.quarry(
        &home,
        &[
            "build",
            "debian:bookworm",
            "--git",
            "--engine",
            "modern",
            "--cache-id",
            "py310",
            "--tag",
            &tag,
            "--progress",
            "plain",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: Docker 20.10"), "{}", stderr(&out));
    // The progress lines name every step: none is a linked copy.
    assert!(
        stderr(&out).lines().any(|l| l.starts_with('#') && l.contains("COPY quarry/_root/")),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).lines().any(|l| l.starts_with('#') && l.contains("--link")), "{}", stderr(&out));
    // A successful build removes its own context.
    let left = std::fs::read_dir(home.join("quarry/contexts")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the context of a successful build is removed");
    let run = engine.docker(&["run", "--rm", &tag, "git", "--version"]);
    assert!(run.status.success() && stdout(&run).starts_with("git version"), "{}", stderr(&run));
    let _ = engine.docker(&["rmi", &tag]);

    // A builder stage and its copy, on the old engine's BuildKit.
    let registry = probe_registry(true);
    let t = token();
    let mut request = probe_request("debian:bookworm", &t, 0);
    request.engine = EngineLevel::Legacy;
    let tag = format!("quarry-test/legacy-probe:{t}");
    engine.build(&home.join("probe"), &request, &registry, &tag, "py310");
    let built = engine.docker(&["run", "--rm", &tag, "cat", "/opt/quarry/probe/built"]);
    assert_eq!(stdout(&built), format!("built-{t}\n"), "{}", stderr(&built));
    let _ = engine.docker(&["rmi", &tag]);
    std::fs::remove_dir_all(home).unwrap();
}

/// A build that fails names its step, exits 1 and keeps the context; an image that does not
/// exist locally fails the same way.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn failed_builds_name_the_step_and_keep_the_context() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("fail");
    // busybox has no apt: the apt set-up step fails.
    let out = engine.quarry(&home, &["build", "quarry-test/busybox:latest", "--git", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let last: Vec<&str> = err.lines().rev().take(2).collect();
    assert!(last[1].starts_with("error: the build failed at step `[quarry_final "), "{err}");
    assert!(last[1].contains("apt-get update"), "{err}");
    let kept = last[0].strip_prefix("hint: the build context is kept at `").unwrap().trim_end_matches('`');
    assert!(Path::new(kept).join("Dockerfile").exists(), "{kept}");

    let out = engine.quarry(&home, &["build", "quarry-test/no-such-image:1", "--git"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "error: the image `quarry-test/no-such-image:1` is not available on this engine and cannot be pulled\nhint: "
        ),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(home).unwrap();
}

/// Ctrl-C (SIGINT to quarry) during a build: the build stops, quarry says so, exits 130 and
/// keeps the context.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn an_interrupted_build_is_reported() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("interrupt");
    let mut c = engine.command(env!("CARGO_BIN_EXE_quarry"));
    c.env("XDG_CACHE_HOME", &home).args([
        "build",
        "debian:bookworm",
        "--git",
        "--no-cache",
        "--progress",
        "plain",
    ]);
    if let Some(h) = &engine.add_host {
        c.args(["--add-host", h]);
    }
    let child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "the build did not stop");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    let last: Vec<&str> = err.lines().rev().take(2).collect();
    assert_eq!(last[1], "error: the build was interrupted", "{err}");
    let kept = last[0].strip_prefix("hint: the build context is kept at `").unwrap().trim_end_matches('`');
    assert!(Path::new(kept).join("Dockerfile").exists());
    std::fs::remove_dir_all(home).unwrap();
}

/// An extension whose tool is on PATH only through its shell start-up lines, with a function for
/// interactive bash only, and a config file shipped as a file.
fn shell_probe() -> Registry {
    let ext = Extension {
        name: "shellprobe",
        crate_name: "engine-test",
        description: "shell environment probe",
        builder: Some(Builder {
            from: quarry_core::BuilderFrom::BaseImage,
            apt_packages: &[],
            downloads: &[],
            template: Template {
                file: "builder",
                source: "RUN mkdir -p {{ out }}/bin \\\n && printf '#!/bin/sh\\necho \"tool:$PROBE_INIT\"\\n' > {{ out }}/bin/probe-tool \\\n && chmod 0755 {{ out }}/bin/probe-tool\n",
            },
            artifacts: leak([quarry_core::Artifact {
                source: "/opt/quarry/shellprobe",
                dest: "/opt/quarry/shellprobe",
            }]),
        }),
        shell: quarry_core::Shell {
            init: Some(Template {
                file: "shell.init",
                source: "export PROBE_INIT=from-init\nexport PATH=\"/opt/quarry/shellprobe/bin:$PATH\"",
            }),
            interactive: Some(Template {
                file: "shell.interactive",
                source: "probe_fn() { echo interactive-ok; }",
            }),
        },
        files: leak([quarry_core::ContextFile {
            path: "probe.conf",
            contents: b"probe=1\n",
            executable: false,
            dest: Some("/etc/probe.conf"),
        }]),
        env: &["PROBE_ENV=from-env"],
        ..Extension::EMPTY
    };
    Registry::from_extensions([leak(ext)]).unwrap()
}

/// The environment mechanism: shell start-up lines reach `docker run IMAGE cmd` (through the
/// entrypoint), interactive bash and login shells; interactive-only lines reach interactive bash
/// only; files and ENV arrive as declared.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn shell_environment_reaches_commands_with_and_without_a_shell() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("shell-env");
    let registry = shell_probe();
    let request = Request {
        image: "debian:bookworm".into(),
        extensions: vec![Selection::new("shellprobe")],
        builder_base_image: Some("debian:bookworm".into()),
        ..Request::default()
    };
    let tag = format!("quarry-test/shell-env:{}", token());
    engine.build(&dir, &request, &registry, &tag, "default");
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", tag.as_str()];
        all.extend_from_slice(args);
        engine.docker(&all)
    };
    for args in
        [&["probe-tool"][..], &["bash", "-i", "-c", "probe-tool"], &["bash", "-l", "-c", "probe-tool"]]
    {
        let out = run(args);
        assert_eq!(stdout(&out), "tool:from-init\n", "{args:?}: {}", stderr(&out));
    }
    assert_eq!(stdout(&run(&["bash", "-i", "-c", "probe_fn"])), "interactive-ok\n");
    // A plain shell started through the entrypoint has the exported environment, not the
    // interactive function.
    let out =
        run(&["bash", "-c", "echo $PROBE_INIT $PROBE_ENV; type probe_fn >/dev/null 2>&1 || echo no-fn"]);
    assert_eq!(stdout(&out), "from-init from-env\nno-fn\n", "{}", stderr(&out));
    assert_eq!(stdout(&run(&["cat", "/etc/probe.conf"])), "probe=1\n");
    let _ = engine.docker(&["rmi", &tag]);
    std::fs::remove_dir_all(dir).unwrap();
}
