//! `quarry explain` against a real engine: for each old/new pair, build OLD, build NEW, and check
//! that the steps BuildKit took from its cache are exactly the ones `explain` predicted.
//!
//! Each pair's Dockerfiles carry a fresh token in every stage, so nothing comes from earlier runs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{TestEngine, scratch, stderr, stdout, token};
use quarry_docker::progress::{StepVertex, merge_attempts, parse_rawjson, steps};
use serde_json::Value;

struct Pair {
    name: &'static str,
    old: &'static str,
    new: &'static str,
    old_args: &'static [&'static str],
    new_args: &'static [&'static str],
    /// Extra `quarry explain` arguments.
    explain: &'static [&'static str],
    /// Files of the build context.
    files: &'static [(&'static str, &'static str)],
    /// (reused, total) the prediction must give, as a check on the pair itself.
    expect: (usize, usize),
    /// Reused counting linked copies whose merges run, where that differs from `expect.0`.
    linked: Option<usize>,
    /// Images made on the engine first: (tag, `tag:SOURCE` for `docker tag`, or a Dockerfile).
    images: &'static [(&'static str, &'static str)],
}

const BB: &str = "quarry-test/busybox:latest";

/// A build argument given with an empty value (`--build-arg X=`) against one not given, in every
/// shape of its declaration: the value is what the RUN environment holds, so an empty one is a
/// value, not nothing.
fn empty_arg_pairs() -> Vec<Pair> {
    let pair = |name, df: &'static str, old_args, new_args, explain, expect| Pair {
        name,
        old: df,
        new: df,
        old_args,
        new_args,
        explain,
        files: &[],
        expect,
        linked: None,
        images: &[],
    };
    vec![
        // Declared without a default: not given leaves it out of the environment; `X=` puts
        // `X=` in it.
        pair(
            "empty-arg-no-default",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\nRUN echo two\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 3),
        ),
        // Declared with a default: `X=` replaces it with the empty value.
        pair(
            "empty-arg-over-default",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X=1\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 2),
        ),
        // Declared with an empty default: given empty or not, the environment holds `X=`.
        pair(
            "empty-arg-empty-default",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X=\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (2, 2),
        ),
        // Given empty, then not given.
        pair(
            "empty-arg-then-none",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &["X="],
            &[],
            &["--old-build-arg", "X="],
            (1, 2),
        ),
        // Empty both times: the same.
        pair(
            "empty-arg-both",
            "FROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &["X="],
            &["X="],
            &["--build-arg", "X="],
            (2, 2),
        ),
        // Global, declared again in the stage without a default: the stage takes the global's
        // value, empty or not given.
        pair(
            "empty-arg-global-redeclared",
            "ARG X\nFROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 2),
        ),
        // Global with a default, declared again: `X=` replaces the default there too.
        pair(
            "empty-arg-global-default-redeclared",
            "ARG X=1\nFROM @BB@\nRUN echo @T@ > /t\nARG X\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (1, 2),
        ),
        // Global only: never in a RUN's environment, empty or not.
        pair(
            "empty-arg-global-only",
            "ARG X\nFROM @BB@\nRUN echo @T@ > /t\nRUN echo one\n",
            &[],
            &["X="],
            &["--new-build-arg", "X="],
            (2, 2),
        ),
    ]
}

fn pairs() -> Vec<Pair> {
    vec![
        Pair {
            name: "a-declared-arg",
            old: "FROM @BB@\nRUN echo @T@ > /t\nARG UNUSED=1\nCOPY f /f\nRUN cat /f\nRUN echo more\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nARG UNUSED=1\nCOPY f /f\nRUN cat /f\nRUN echo more\n",
            old_args: &[],
            new_args: &["UNUSED=2"],
            explain: &["--build-arg", "UNUSED=2", "--old-build-arg", "UNUSED=1"],
            files: &[("f", "file\n")],
            expect: (2, 4),
            linked: None,
            images: &[],
        },
        Pair {
            name: "a-global-arg",
            old: "ARG G=1\nFROM @BB@\nRUN echo @T@ > /t\nRUN echo two\n",
            new: "ARG G=1\nFROM @BB@\nRUN echo @T@ > /t\nRUN echo two\n",
            old_args: &[],
            new_args: &["G=2"],
            explain: &["--build-arg", "G=2", "--old-build-arg", "G=1"],
            files: &[],
            expect: (2, 2),
            linked: None,
            images: &[],
        },
        Pair {
            name: "a-arg-inherited",
            old: "FROM @BB@ AS base\nRUN echo @T@ base > /t\nARG LATE=1\nFROM base\nRUN echo child\n",
            new: "FROM @BB@ AS base\nRUN echo @T@ base > /t\nARG LATE=1\nFROM base\nRUN echo child\n",
            old_args: &[],
            new_args: &["LATE=2"],
            explain: &["--build-arg", "LATE=2", "--old-build-arg", "LATE=1"],
            files: &[],
            expect: (1, 2),
            linked: None,
            images: &[],
        },
        Pair {
            name: "b-literal-mount-id",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=one-@T@,target=/c,sharing=locked ls /c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=two-@T@,target=/c,sharing=private ls /c\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (2, 2),
            linked: None,
            images: &[],
        },
        Pair {
            name: "b-mount-without-id-gets-sharing",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,target=/c ls /c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,target=/c,sharing=locked ls /c\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 2),
            linked: None,
            images: &[],
        },
        Pair {
            name: "c-env-value-and-order",
            old: "FROM @BB@\nRUN echo @T@ > /t\nENV A=1\nENV B=2\nCOPY f /f\nRUN echo $A $B\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nENV B=2\nENV A=1\nCOPY f /f\nRUN echo $A $B\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[("f", "file\n")],
            expect: (2, 3),
            linked: None,
            images: &[],
        },
        Pair {
            name: "c-metadata-only",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo work\n",
            new: "FROM @BB@\nLABEL x=y\nEXPOSE 80\nRUN echo @T@ > /t\nRUN echo work\nENV LATE=1\nCMD [\"sh\"]\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (2, 2),
            linked: None,
            images: &[],
        },
        Pair {
            name: "d-copied-stage-writes-other-bytes",
            old: "FROM @BB@ AS s\nARG V=1\nRUN echo @T@ $V > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            new: "FROM @BB@ AS s\nARG V=1\nRUN echo @T@ $V > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            old_args: &[],
            new_args: &["V=2"],
            explain: &["--build-arg", "V=2", "--old-build-arg", "V=1"],
            files: &[],
            expect: (1, 4),
            linked: None,
            images: &[],
        },
        Pair {
            name: "d-reproducible-stage",
            old: "FROM @BB@ AS s\nARG UNUSED=1\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            new: "FROM @BB@ AS s\nARG UNUSED=1\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --from=s /out /out\nRUN cat /out\n",
            old_args: &[],
            new_args: &["UNUSED=2"],
            explain: &["--build-arg", "UNUSED=2", "--old-build-arg", "UNUSED=1", "--same-output", "s"],
            files: &[],
            expect: (3, 4),
            linked: None,
            images: &[],
        },
        Pair {
            name: "e-linked-copy-after-a-change",
            old: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ one > /t\nCOPY --link --from=s /out /out\nRUN cat /out\n",
            new: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ two > /t\nCOPY --link --from=s /out /out\nRUN cat /out\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 4),
            linked: Some(2),
            images: &[],
        },
        Pair {
            name: "e-builder-on-another-base",
            old: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --link --from=s /out /out\n",
            new: "FROM debian:bookworm AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ final > /t\nCOPY --link --from=s /out /out\n",
            old_args: &[],
            new_args: &[],
            explain: &["--same-output", "s"],
            files: &[],
            expect: (2, 3),
            linked: None,
            images: &[],
        },
        Pair {
            name: "f-unused-stage",
            old: "FROM @BB@ AS unused\nRUN echo @T@ old\nFROM @BB@ AS t\nRUN echo @T@ t > /t\nFROM @BB@ AS later\nRUN echo @T@ x\n",
            new: "FROM @BB@ AS unused\nRUN echo @T@ new\nFROM @BB@ AS t\nRUN echo @T@ t > /t\nFROM @BB@ AS later\nRUN echo @T@ y\n",
            old_args: &[],
            new_args: &[],
            explain: &["--target", "t"],
            files: &[],
            expect: (1, 1),
            linked: None,
            images: &[],
        },
        Pair {
            name: "h-swapped-runs",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo a\nRUN echo b\nRUN echo c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo b\nRUN echo a\nRUN echo c\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 4),
            linked: None,
            images: &[],
        },
        Pair {
            name: "heredoc-body",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN <<EOF\necho one\nEOF\nCOPY <<EOF /etc/greeting\nhello\nEOF\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN <<EOF\necho two\nEOF\nCOPY <<EOF /etc/greeting\nhello\nEOF\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 3),
            linked: None,
            images: &[],
        },
        Pair {
            name: "context-file-changed",
            old: "FROM @BB@\nRUN echo @T@ > /t\nCOPY a /a\nCOPY b /b\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nCOPY a /a\nCOPY b /b\n",
            old_args: &[],
            new_args: &[],
            explain: &["--changed", "b"],
            files: &[("a", "same\n"), ("b", "@T@\n")],
            expect: (2, 3),
            linked: None,
            images: &[],
        },
        Pair {
            name: "workdir-and-external-image",
            old: "FROM @BB@\nRUN echo @T@ > /t\nWORKDIR /w\nCOPY --from=@BB@ /bin/busybox /bb\nRUN ls\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nWORKDIR /v\nCOPY --from=@BB@ /bin/busybox /bb\nRUN ls\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 3),
            linked: None,
            images: &[],
        },
        Pair {
            name: "shell-and-exec-form",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo x > /x\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN [\"/bin/sh\", \"-c\", \"echo x > /x\"]\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (2, 2),
            linked: None,
            images: &[],
        },
        Pair {
            name: "g-identical-stages-one-vertex",
            old: "FROM @BB@ AS x\nRUN echo @T@ > /a\nFROM @BB@ AS y\nCOPY --from=x /a /a\n",
            new: "FROM @BB@ AS x\nRUN echo @T@ > /a\nFROM @BB@ AS z\nRUN echo @T@ > /a\nFROM @BB@ AS y\nCOPY --from=z /a /a\nCOPY --from=x /a /b\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (2, 3),
            linked: None,
            images: &[],
        },
        Pair {
            name: "from-two-tags-of-one-image",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN echo two\n",
            new: "FROM quarry-test/bb-alias:@T@\nRUN echo @T@ > /t\nRUN echo two\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (2, 2),
            linked: None,
            images: &[("quarry-test/bb-alias:@T@", "tag:@BB@")],
        },
        Pair {
            name: "copy-from-an-image-same-bytes",
            old: "FROM @BB@\nRUN echo @T@ > /t\nCOPY --from=@BB@ /bin/busybox /bb\nRUN ls /bb\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nCOPY --from=quarry-test/bb-extra:@T@ /bin/busybox /bb\nRUN ls /bb\n",
            old_args: &[],
            new_args: &[],
            explain: &["--same-output", "quarry-test/bb-extra:@T@"],
            files: &[],
            expect: (3, 3),
            linked: None,
            images: &[("quarry-test/bb-extra:@T@", "FROM @BB@\nRUN echo @T@ > /extra\n")],
        },
        Pair {
            name: "linked-copies-merged-after-a-change",
            old: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ one > /t\nCOPY --link --from=s /out /out\nCOPY --link --from=s /out /out2\n",
            new: "FROM @BB@ AS s\nRUN echo @T@ > /out\nFROM @BB@\nRUN echo @T@ two > /t\nCOPY --link --from=s /out /out\nCOPY --link --from=s /out /out2\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 4),
            linked: Some(3),
            images: &[],
        },
    ]
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Builds `dockerfile` in `dir`; returns the Dockerfile steps of the rawjson progress.
fn build(
    engine: &TestEngine,
    dir: &Path,
    dockerfile: &str,
    args: &[String],
    target: Option<&str>,
) -> Vec<StepVertex> {
    let file = dir.join(dockerfile);
    let mut cmd = vec!["buildx".to_owned(), "build".into(), "--progress=rawjson".into(), "-f".into()];
    cmd.push(file.display().to_string());
    for a in args {
        cmd.push("--build-arg".into());
        cmd.push(a.clone());
    }
    if let Some(t) = target {
        cmd.push("--target".into());
        cmd.push(t.into());
    }
    cmd.push(dir.display().to_string());
    let built = engine.docker_build(&cmd);
    assert!(built.output.status.success(), "build of {} failed:\n{}", file.display(), built.text());
    steps(&built.vertices())
}

/// (stage, position, keyword) -> cached, for the counted steps BuildKit printed. A linked copy
/// on the containerd store is two vertices, the copy and its `LINK` merge: the step is cached
/// only when both are, which is how the engine counts it.
fn observed(steps: &[StepVertex]) -> BTreeMap<(String, u32, String), bool> {
    let merges: BTreeMap<(String, u32), bool> =
        steps.iter().filter(|s| s.link_merge).map(|s| ((s.stage.clone(), s.index), s.cached)).collect();
    steps
        .iter()
        .filter(|s| s.is_counted())
        .map(|s| {
            let merged = merges.get(&(s.stage.clone(), s.index)).copied().unwrap_or(true);
            ((s.stage.clone(), s.index, s.keyword().to_owned()), s.cached && merged)
        })
        .collect()
}

fn step_id(s: &Value) -> (String, u32, String) {
    (
        s["stage"].as_str().unwrap().to_owned(),
        u32::try_from(s["position"].as_u64().unwrap()).unwrap(),
        s["instruction"].as_str().unwrap().to_owned(),
    )
}

/// The counted steps of the prediction; a step identical to an earlier one (`same_as`) is the
/// same vertex, which BuildKit prints once, under either stage's name.
fn predicted(json: &Value) -> BTreeMap<(String, u32, String), bool> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["same_as"].is_null())
        .map(|s| {
            (
                (
                    s["stage"].as_str().unwrap().to_owned(),
                    u32::try_from(s["position"].as_u64().unwrap()).unwrap(),
                    s["instruction"].as_str().unwrap().to_owned(),
                ),
                s["reused"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// BuildKit prints the stage of a one-stage file without a name, or as `stage-0` when it has
/// a mount; explain always calls it `stage-0`.
fn unname(map: BTreeMap<(String, u32, String), bool>) -> BTreeMap<(String, u32, String), bool> {
    map.into_iter()
        .map(|((s, i, k), v)| ((if s == "stage-0" { String::new() } else { s }, i, k), v))
        .collect()
}

fn check_pairs(engine: &TestEngine, kind_args: &[&str], pairs: &[Pair]) {
    let mut table = Vec::new();
    for pair in pairs {
        let t = token();
        let dir = scratch(&format!("explain-{}", pair.name));
        let fill = |s: &str| s.replace("@T@", &t).replace("@BB@", BB);
        for (name, contents) in pair.files {
            write(&dir, name, &fill(contents));
        }
        for (tag, source) in pair.images {
            let tag = fill(tag);
            match source.strip_prefix("tag:") {
                Some(from) => {
                    let out = engine.docker(&["tag", &fill(from), &tag]);
                    assert!(out.status.success(), "{}: docker tag: {}", pair.name, stderr(&out));
                }
                None => {
                    write(&dir, "image.Dockerfile", &fill(source));
                    let file = dir.join("image.Dockerfile").display().to_string();
                    let context = dir.display().to_string();
                    let out = engine
                        .docker_build(&["buildx", "build", "-q", "-t", &tag, "-f", &file, &context])
                        .output;
                    assert!(out.status.success(), "{}: image build: {}", pair.name, stderr(&out));
                }
            }
        }
        write(&dir, "old.Dockerfile", &fill(pair.old));
        // The old build's context: files named in `--changed` differ in the new one.
        let target = pair.explain.iter().position(|a| *a == "--target").map(|i| pair.explain[i + 1]);
        let old_args: Vec<String> = pair.old_args.iter().map(|s| (*s).to_owned()).collect();
        let changed: Vec<&str> =
            pair.explain.windows(2).filter(|w| w[0] == "--changed").map(|w| w[1]).collect();
        for name in &changed {
            write(&dir, name, &format!("old {t}\n"));
        }
        build(engine, &dir, "old.Dockerfile", &old_args, target);
        for name in &changed {
            let contents = pair.files.iter().find(|(n, _)| n == name).map(|(_, c)| fill(c)).unwrap();
            write(&dir, name, &contents);
        }
        write(&dir, "new.Dockerfile", &fill(pair.new));
        let new_args: Vec<String> = pair.new_args.iter().map(|s| (*s).to_owned()).collect();
        let new_steps = build(engine, &dir, "new.Dockerfile", &new_args, target);

        let old_path = dir.join("old.Dockerfile").display().to_string();
        let new_path = dir.join("new.Dockerfile").display().to_string();
        let explain_args: Vec<String> = pair.explain.iter().map(|a| fill(a)).collect();
        let mut args = vec!["explain", old_path.as_str(), new_path.as_str(), "--format", "json"];
        args.extend_from_slice(kind_args);
        args.extend(explain_args.iter().map(String::as_str));
        let out = engine.command(env!("CARGO_BIN_EXE_quarry")).args(&args).output().unwrap();
        assert!(out.status.success(), "{}: explain failed: {}", pair.name, stderr(&out));
        let json: Value = serde_json::from_str(&stdout(&out)).unwrap();

        let mut want = predicted(&json);
        let mut got = observed(&new_steps);
        // A shared vertex printed under a duplicate's name is the first step's.
        let all = json["steps"].as_array().unwrap();
        for dup in all.iter().filter(|s| !s["same_as"].is_null()) {
            let first = all.iter().find(|s| s["line"] == dup["same_as"]).unwrap();
            if let Some(cached) = got.remove(&step_id(dup)) {
                got.insert(step_id(first), cached);
            }
        }
        let stages = fill(pair.new).lines().filter(|l| l.starts_with("FROM ")).count();
        if stages == 1 && !fill(pair.new).contains(" AS ") {
            want = unname(want);
            got = unname(got);
        }
        assert_eq!(
            got,
            want,
            "{}: the engine's CACHED steps differ from the prediction\n{}",
            pair.name,
            stdout(&out)
        );
        let reused = json["reused"].as_u64().unwrap() as usize;
        let total = json["total"].as_u64().unwrap() as usize;
        assert_eq!((reused, total), pair.expect, "{}: {}", pair.name, stdout(&out));
        let linked = json["reused_counting_linked_copies"].as_u64().unwrap() as usize;
        assert_eq!(linked, pair.linked.unwrap_or(reused), "{}: {}", pair.name, stdout(&out));
        let beside = if linked == reused {
            String::new()
        } else {
            format!(" ({linked}/{total} counting linked copies)")
        };
        table.push(format!("{:<36} {reused}/{total} reused{beside}, engine agrees", pair.name));
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("explain vs engine:\n  {}", table.join("\n  "));
}

#[test]
fn predictions_match_the_containerd_engine() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
    let mut pairs = pairs();
    assert!(pairs.len() >= 12);
    pairs.extend(empty_arg_pairs());
    check_pairs(&engine, &["--engine", "containerd"], &pairs);
}

#[test]
fn predictions_match_the_legacy_engine() {
    let Some(engine) = TestEngine::get("LEGACY") else { return };
    // On 20.10 a literal mount id and its sharing mode are in the key.
    let pairs = vec![
        Pair {
            name: "legacy-literal-mount-id",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=one-@T@,target=/c ls /c\nRUN echo after\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=two-@T@,target=/c ls /c\nRUN echo after\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 3),
            linked: None,
            images: &[],
        },
        Pair {
            name: "legacy-sharing",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=c-@T@,target=/c,sharing=locked ls /c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=c-@T@,target=/c,sharing=private ls /c\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[],
            expect: (1, 2),
            linked: None,
            images: &[],
        },
        Pair {
            name: "legacy-env-before-copy",
            old: "FROM @BB@\nRUN echo @T@ > /t\nENV E=1\nCOPY f /f\nRUN echo $E\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nENV E=2\nCOPY f /f\nRUN echo $E\n",
            old_args: &[],
            new_args: &[],
            explain: &[],
            files: &[("f", "x\n")],
            expect: (2, 3),
            linked: None,
            images: &[],
        },
    ];
    let mut pairs = pairs;
    pairs.extend(empty_arg_pairs());
    check_pairs(&engine, &["--engine", "legacy"], &pairs);
}

/// quarry configurations on both sides: `quarry build` each, then `quarry explain old.toml new.toml`.
#[test]
fn predictions_match_the_engine_for_quarry_configurations() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
    let t = token();
    let dir = scratch("explain-configs");
    // `explain` predicts against OLD alone, so no other build may have left a step of NEW in the
    // cache: `user`'s apt layer (sudo) does not carry the token and other tests build it. The
    // build cache of the test engine is emptied first (this engine only; tests run one at a time).
    let pruned = engine.docker(&["builder", "prune", "-af"]);
    assert!(pruned.status.success(), "{}", stderr(&pruned));
    // The user name carries the token, so the setup step that differs is fresh on every run.
    let config = |user: &str, extensions: &str| {
        format!(
            "image = \"debian:bookworm\"\nextensions = [{extensions}]\n\n[options.user]\nname = \"{user}\"\n"
        )
    };
    let cases = [
        (
            "add-an-extension",
            "image = \"debian:bookworm\"\nextensions = [\"git\"]\n".to_owned(),
            config(&format!("a{t}"), "\"git\", \"user\""),
        ),
        (
            "change-an-option",
            config(&format!("b{t}"), "\"git\", \"user\""),
            config(&format!("c{t}"), "\"git\", \"user\""),
        ),
    ];
    for (name, old, new) in cases {
        let mut steps_of_new = Vec::new();
        for (file, text) in [("old.toml", &old), ("new.toml", &new)] {
            write(&dir, file, text);
            write(&dir, "quarry.toml", text);
            // A tag of this run: an image of the same render from an earlier run would be taken
            // as built, and the pruned cache left empty.
            let tag = format!("quarry-test/explain-{name}-{}:{t}", &file[..3]);
            let mut cmd = engine.command(env!("CARGO_BIN_EXE_quarry"));
            cmd.current_dir(&dir).env("XDG_CACHE_HOME", dir.join("cache")).args([
                "build",
                "--progress",
                "rawjson",
                "--tag",
                &tag,
            ]);
            if let Some(h) = &engine.add_host {
                cmd.args(["--add-host", h]);
            }
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "{name}: quarry build of {file} failed:\n{}", stderr(&out));
            // A build run once more after the snapshot flake prints both attempts.
            let text = stderr(&out);
            let each: Vec<_> = quarry_docker::build::attempts(&text).into_iter().map(parse_rawjson).collect();
            steps_of_new = steps(&merge_attempts(&each));
        }
        let out = engine
            .command(env!("CARGO_BIN_EXE_quarry"))
            .current_dir(&dir)
            .args(["explain", "old.toml", "new.toml", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(observed(&steps_of_new), predicted(&json), "{name}\n{}", stdout(&out));
        // Every step the old configuration had is reused (a linked copy at most merged again);
        // the new ones belong to `user`.
        for step in json["steps"].as_array().unwrap() {
            if !step["reused"].as_bool().unwrap() && !step["linked_copy_cached"].as_bool().unwrap() {
                assert_eq!(step["extension"], "user", "{name}: {step}");
            }
        }
        let human = engine
            .command(env!("CARGO_BIN_EXE_quarry"))
            .current_dir(&dir)
            .args(["explain", "old.toml", "new.toml"])
            .output()
            .unwrap();
        let text = stdout(&human);
        let last = text.lines().last().unwrap_or_default().to_owned();
        assert!(last.starts_with(&format!("{} of {} steps reused", json["reused"], json["total"])), "{text}");
        eprintln!("explain vs engine: {name}: {last}, engine agrees");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
