//! Project extensions on the real engine: a folder extension and the two-line keys build, their
//! files reach the image, and changing one re-runs only that extension's steps, with the cache
//! kept between the builds.

mod common;

use std::path::Path;

use common::{TestEngine, scratch, stderr, token};
use quarry_docker::progress::progress_steps;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `quarry build` in `project`; the steps that ran (not taken from the cache).
fn build(engine: &TestEngine, project: &Path, home: &Path, tag: &str) -> Vec<String> {
    let mut c = engine.command(env!("CARGO_BIN_EXE_quarry"));
    c.current_dir(project)
        .env("XDG_CACHE_HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("ROCKER_CACHE_ID")
        .env_remove("QUARRY_CACHE_ID")
        .env_remove("GITHUB_ACTIONS")
        .args(["build", "--progress", "plain", "--tag", tag]);
    if let Some(h) = &engine.add_host {
        c.args(["--add-host", h]);
    }
    let out = c.output().expect("quarry runs");
    assert!(out.status.success(), "{}", stderr(&out));
    progress_steps(&stderr(&out)).into_iter().filter(|s| !s.cached).map(|s| s.name).collect()
}

#[test]
fn project_extensions_build_and_a_change_reruns_only_their_own_steps() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
    let home = scratch("project-home");
    let project = scratch("project");
    let tag = format!("quarry-test/project:{}", token());
    write(
        &project,
        "quarry.toml",
        "image = \"debian:bookworm\"\n\
         extension_dirs = [\".quarry/extensions/probe\"]\n\
         apt = [\"jq\"]\n\
         copy = [{ path = \"config\", dest = \"/etc/probe\" }]\n\
         scripts = [\"scripts/setup.sh\"]\n",
    );
    // Priority 5: last in the chain, so its own step is the only RUN a change to it re-runs.
    write(
        &project,
        ".quarry/extensions/probe/extension.toml",
        "name = \"probe\"\ndescription = \"a project extension\"\ncache_priority = 5\n\
         setup = \"templates/setup.Dockerfile.j2\"\nenv = [\"PROBE={{ options.word }}\"]\n\
         [options.word]\ndescription = \"a word\"\ndefault = \"one\"\nrule = \"identifier\"\n",
    );
    // A token of this run in the step: an earlier run on the same engine cannot have cached it.
    let run_token = token();
    write(
        &project,
        ".quarry/extensions/probe/templates/setup.Dockerfile.j2",
        &format!("RUN echo probe-1 {run_token} > /probe.txt\n"),
    );
    write(&project, "config/app.conf", "v=1\n");
    write(&project, "scripts/setup.sh", "echo from-script > /script.txt\n");

    let first = build(&engine, &project, &home, &tag);
    assert!(first.iter().any(|s| s.contains("/probe.txt")), "{first:#?}");
    let run = engine.docker(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cat /probe.txt /script.txt /etc/probe/app.conf && jq --version && echo $PROBE",
    ]);
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(
        text.lines().collect::<Vec<_>>()[..3],
        [format!("probe-1 {run_token}").as_str(), "from-script", "v=1"],
        "{text}"
    );
    assert!(text.contains("jq-1.") && text.ends_with("one\n"), "{text}");

    // The same project again: nothing runs.
    let again = build(&engine, &project, &home, &tag);
    assert!(again.iter().all(|s| !s.contains(" RUN ")), "{again:#?}");

    // The project extension's template changes: its step runs, no other RUN does.
    write(
        &project,
        ".quarry/extensions/probe/templates/setup.Dockerfile.j2",
        &format!("RUN echo probe-2 {run_token} > /probe.txt\n"),
    );
    let template = build(&engine, &project, &home, &tag);
    let runs: Vec<&String> = template.iter().filter(|s| s.contains(" RUN ")).collect();
    eprintln!("template changed: ran {template:#?}");
    assert_eq!(runs.len(), 1, "{template:#?}");
    assert!(runs[0].contains("probe-2"), "{runs:#?}");

    // A copied file changes: no RUN runs, its copy does.
    write(&project, "config/app.conf", "v=2\n");
    let file = build(&engine, &project, &home, &tag);
    eprintln!("file changed: ran {file:#?}");
    assert!(file.iter().all(|s| !s.contains(" RUN ")), "{file:#?}");
    let run = engine.docker(&["run", "--rm", &tag, "cat", "/etc/probe/app.conf", "/probe.txt"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout), format!("v=2\nprobe-2 {run_token}\n"));

    let _ = engine.docker(&["rmi", &tag]);
    std::fs::remove_dir_all(home).unwrap();
    std::fs::remove_dir_all(project).unwrap();
}
