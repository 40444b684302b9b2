//! `quarry explain` against a real engine: for each old/new pair, build OLD, build NEW, and check
//! that the steps BuildKit took from its cache are exactly the ones `explain` predicted.
//!
//! Each pair's Dockerfiles carry a fresh token in every stage, so nothing comes from earlier runs.

mod common;
mod explain_pairs;

use std::{collections::BTreeMap, path::Path};

use common::{TestEngine, scratch, stderr, stdout, token};
use explain_pairs::{BB, Pair, empty_arg_pairs, pairs};
use quarry_docker::progress::{StepVertex, merge_attempts, parse_rawjson, steps};
use serde_json::Value;

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
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn predictions_match_the_containerd_engine() {
    let engine = TestEngine::get("MODERN");
    let mut pairs = pairs();
    assert!(pairs.len() >= 12);
    pairs.extend(empty_arg_pairs());
    check_pairs(&engine, &["--engine", "containerd"], &pairs);
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn predictions_match_the_legacy_engine() {
    let engine = TestEngine::get("LEGACY");
    // On 20.10 a literal mount id and its sharing mode are in the key.
    let pairs = vec![
        Pair {
            name: "legacy-literal-mount-id",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=one-@T@,target=/c ls /c\nRUN echo after\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=two-@T@,target=/c ls /c\nRUN echo after\n",
            expect: (1, 3),
            ..Pair::NONE
        },
        Pair {
            name: "legacy-sharing",
            old: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=c-@T@,target=/c,sharing=locked ls /c\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nRUN --mount=type=cache,id=c-@T@,target=/c,sharing=private ls /c\n",
            expect: (1, 2),
            ..Pair::NONE
        },
        Pair {
            name: "legacy-env-before-copy",
            old: "FROM @BB@\nRUN echo @T@ > /t\nENV E=1\nCOPY f /f\nRUN echo $E\n",
            new: "FROM @BB@\nRUN echo @T@ > /t\nENV E=2\nCOPY f /f\nRUN echo $E\n",
            files: &[("f", "x\n")],
            expect: (2, 3),
            ..Pair::NONE
        },
    ];
    let mut pairs = pairs;
    pairs.extend(empty_arg_pairs());
    check_pairs(&engine, &["--engine", "legacy"], &pairs);
}

/// quarry configurations on both sides: `quarry build` each, then `quarry explain old.toml new.toml`.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn predictions_match_the_engine_for_quarry_configurations() {
    let engine = TestEngine::get("MODERN");
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
