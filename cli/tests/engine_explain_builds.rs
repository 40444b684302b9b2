//! Every build checks explain, on the real engine: a rebuild after a change says its steps were
//! reused as predicted; a model made wrong on purpose (`QUARRY_TEST_MISPREDICT`, which predicts
//! one step too many) is reported step by step with a report file; `quarry why` tells the last
//! build's steps.

mod common;

use std::path::Path;
use std::process::Output;

use common::{TestEngine, scratch, stderr, stdout, token};

/// A project that copies one file per value into the image: a new value is a new copy step.
fn write_config(project: &Path, values: &[&str]) {
    let mut copies = Vec::new();
    for (i, v) in values.iter().enumerate() {
        std::fs::write(project.join(format!("f{i}.txt")), format!("{v}\n")).unwrap();
        copies.push(format!("{{ path = \"f{i}.txt\", dest = \"/etc/probe/f{i}.txt\" }}"));
    }
    std::fs::write(
        project.join("quarry.toml"),
        format!("image = \"debian:bookworm\"\ncopy = [{}]\n", copies.join(", ")),
    )
    .unwrap();
}

fn quarry(engine: &TestEngine, project: &Path, home: &Path, args: &[&str], mispredict: bool) -> Output {
    let mut c = engine.quarry_in(project, home, args);
    if mispredict {
        c.env("QUARRY_TEST_MISPREDICT", "1");
    }
    let out = c.output().expect("quarry runs");
    assert!(out.status.success(), "quarry {}:\n{}", args.join(" "), stderr(&out));
    out
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn builds_say_they_went_as_predicted_and_report_when_not() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("explain-builds");
    let (project, home) = (dir.join("project"), dir.join("home"));
    std::fs::create_dir_all(&project).unwrap();
    let first = format!("A={}", token());
    write_config(&project, &[&first]);
    quarry(&engine, &project, &home, &["build", "--progress", "plain"], false);
    // A change: a second file to copy.
    let second = format!("B={}", token());
    write_config(&project, &[&first, &second]);
    let out = quarry(&engine, &project, &home, &["build", "--progress", "plain"], false);
    let err = stderr(&out);
    let line = err.lines().find(|l| l.contains("explain:")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.ends_with("steps reused, as predicted"), "{err}");
    // `quarry why` tells what that build did.
    let why = stdout(&quarry(&engine, &project, &home, &["why"], false));
    assert!(why.contains("as predicted"), "{why}");
    assert!(why.lines().any(|l| l.trim_start().starts_with("re-run")), "{why}");
    assert!(why.lines().any(|l| l.trim_start().starts_with("reused")), "{why}");
    // The model made wrong on purpose: the difference is reported, with a report to attach.
    let third = format!("C={}", token());
    write_config(&project, &[&first, &second, &third]);
    let out = quarry(&engine, &project, &home, &["build", "--progress", "plain"], true);
    let err = stderr(&out);
    assert!(err.contains("step(s) differ"), "{err}");
    assert!(
        err.contains("predicted to run (")
            && err.contains("QUARRY_TEST_MISPREDICT: predicted to run on purpose"),
        "{err}"
    );
    let report = err
        .lines()
        .find_map(|l| l.split("the report `").nth(1).and_then(|r| r.split('`').next()))
        .unwrap_or_else(|| panic!("{err}"));
    let text = std::fs::read_to_string(report).unwrap();
    assert!(
        text.contains("## The last build's Dockerfile") && text.contains("## This build's Dockerfile"),
        "{text}"
    );
    assert!(text.contains("f1.txt") && text.contains("f2.txt"), "both Dockerfiles are there: {text}");
    assert!(text.contains("## Progress") && text.contains("CACHED"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
