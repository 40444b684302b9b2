//! deps_rocker's files on the real engine: a folder with only a rockerc.yaml naming `deps` and
//! deps files, imported and built as a user would, gives an image holding every package, variable
//! and effect of every layer of every command; a change to the last layer re-runs no layer before
//! it.

mod common;

use std::path::Path;

use common::{TestEngine, scratch, stderr, stdout, token, wheel, write};
use quarry_docker::progress::progress_steps;

/// `quarry ARGS` in `project`, as a user runs it, with the engine's `--add-host` for builds.
fn quarry(engine: &TestEngine, project: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    let mut c = engine.quarry_in(project, home, args);
    if args.first() == Some(&"build")
        && let Some(h) = &engine.add_host
    {
        c.args(["--add-host", h]);
    }
    c.output().expect("quarry runs")
}

/// `quarry build`; the steps that ran (not taken from the cache).
fn build(engine: &TestEngine, project: &Path, home: &Path, tag: &str) -> Vec<String> {
    let out = quarry(engine, project, home, &["build", "--progress", "plain", "--tag", tag]);
    assert!(out.status.success(), "{}", stderr(&out));
    progress_steps(&stderr(&out)).into_iter().filter(|s| !s.cached).map(|s| s.name).collect()
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn a_rockerc_with_deps_files_builds_every_layer_into_the_image() {
    let engine = TestEngine::get("MODERN");
    let home = scratch("deps-home");
    let project = scratch("deps");
    let site = scratch("deps-site");
    // Names of this run: no earlier run's cache holds their steps.
    let t = token();
    let pkg = |role: &str| format!("{role}-{t}");
    let module = |role: &str| format!("{role}_{t}");
    for role in ["base", "main", "extra", "tool"] {
        wheel(&site, &pkg(role), "1.0");
    }
    let server = engine.serve(&site);

    write(&project, "rockerc.yaml", "image: debian:bookworm\nargs:\n  - deps\n");
    write(
        &project,
        "base.deps.yaml",
        &format!(
            "env_preamble:\n  - PREAMBLE_SEEN=yes\n\
             run_preamble-check:\n  - test \"$PREAMBLE_SEEN\" = yes && touch /opt/preamble-ok\n\
             env_pip:\n  - PIP_INDEX_URL={url}/simple\n  - PIP_TRUSTED_HOST={host}\n\
             env_base:\n  - DEPS_TOKEN={t}\n  - LANG C.UTF-8\n\
             apt_tools:\n  - jq\n\
             add-apt-repository_backports:\n  - deb http://deb.debian.org/debian bookworm-backports main\n\
             script_sources:\n  - scripts/setup.sh\n\
             pip_deps:\n  - {base}==1.0\n\
             run_setup:\n  - echo \"$DEPS_TOKEN\" > /opt/run.txt\n  - python3 -c 'import {base_mod}; print({base_mod}.VERSION)' > /opt/pip-seen-by-run.txt\n\
             tzdata:\n  - Etc/UTC\n\
             run_user-home:\n  - echo \"$(id -un) $HOME\" > /tmp/user-layer.txt && cp /tmp/user-layer.txt /opt/user-layer.txt\n\
             pip_user-tools:\n  - {tool}==1.0\n",
            url = server.url,
            host = server.host,
            base = pkg("base"),
            base_mod = module("base"),
            tool = pkg("tool"),
        ),
    );
    // A second file: keys of the first again (their entries join its layers), new layers.
    write(
        &project,
        "src/pkg/pkg.deps.yaml",
        &format!(
            "apt_tools:\n  - jq\n  - tree\n\
             pip_deps:\n  - {main}==1.0\n\
             env_pkg:\n  - PKG_HOME=/opt/pkg\n  - PATH=/opt/pkg/bin:$PATH\n\
             locales:\n  - en_US.UTF-8\n\
             pyproject:\n  - pyproject.toml\n\
             script_post:\n  - post.sh\n",
            main = pkg("main"),
        ),
    );
    write(
        &project,
        "src/pkg/pyproject.toml",
        &format!("[project]\nname = \"pkg\"\ndependencies = [\"{}==1.0\"]\n", pkg("extra")),
    );
    // `sudo` as deps_rocker's users write it; it runs without a sudo in the image.
    write(
        &project,
        "scripts/setup.sh",
        "sudo mkdir -p /opt/deps\necho \"$DEPS_TOKEN\" | sudo tee /opt/deps/script.txt >/dev/null\n",
    );
    write(
        &project,
        "src/pkg/post.sh",
        "mkdir -p \"$PKG_HOME/bin\"\nprintf '#!/bin/sh\\necho pkg-tool\\n' > \"$PKG_HOME/bin/pkg-tool\"\nchmod +x \"$PKG_HOME/bin/pkg-tool\"\n",
    );

    let imported = quarry(&engine, &project, &home, &["import", "rockerc.yaml"]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert!(!stderr(&imported).contains("warning"), "{}", stderr(&imported));
    let tag = format!("quarry-test/deps:{t}");
    let first = build(&engine, &project, &home, &tag);
    assert!(first.iter().any(|s| s.contains(&pkg("base"))), "{first:#?}");

    let check = format!(
        "set -e; jq --version; tree --version | head -c 4; echo; \
         cat /etc/apt/sources.list.d/project_deps_add_apt_repository_backports.list; \
         echo \"$DEPS_TOKEN|$LANG|$PKG_HOME|$PREAMBLE_SEEN|$PIP_INDEX_URL\"; \
         case \":$PATH:\" in *:/opt/pkg/bin:*) echo on-path ;; esac; pkg-tool; \
         cat /opt/deps/script.txt /opt/run.txt /opt/pip-seen-by-run.txt /opt/user-layer.txt /etc/timezone; \
         test -e /opt/preamble-ok && echo preamble-ok; \
         locale -a | grep -x en_US.utf8; \
         python3 -c 'import {b}, {m}, {e}, {o}; print({b}.VERSION, {m}.VERSION, {e}.VERSION, {o}.VERSION)'",
        b = module("base"),
        m = module("main"),
        e = module("extra"),
        o = module("tool"),
    );
    let run = engine.docker(&["run", "--rm", &tag, "sh", "-c", &check]);
    assert!(run.status.success(), "{}\n{}", stdout(&run), stderr(&run));
    let text = stdout(&run);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("jq-1."), "apt: {text}");
    assert_eq!(lines[1], "tree", "apt, the second file's entry: {text}");
    assert_eq!(
        lines[2], "deb http://deb.debian.org/debian bookworm-backports main",
        "add-apt-repository: {text}"
    );
    assert_eq!(
        lines[3],
        format!("{t}|C.UTF-8|/opt/pkg|yes|{}/simple", server.url),
        "env of every env layer: {text}"
    );
    assert_eq!(lines[4..6], ["on-path", "pkg-tool"], "env PATH and the script_post layer: {text}");
    assert_eq!(lines[6], t, "the script, with sudo and the env before it: {text}");
    assert_eq!(lines[7], t, "run, with the env before it: {text}");
    assert_eq!(lines[8], "1.0", "pip, importable by a later run step: {text}");
    assert_eq!(lines[9], "root /root", "a user layer on an image without a user: {text}");
    assert_eq!(lines[10], "Etc/UTC", "tzdata: {text}");
    assert_eq!(lines[11..13], ["preamble-ok", "en_US.utf8"], "preamble and locales: {text}");
    assert_eq!(lines[13], "1.0 1.0 1.0 1.0", "pip of both files, pyproject, the user layer's pip: {text}");

    // The same again: nothing runs.
    let again = build(&engine, &project, &home, &tag);
    assert!(again.iter().all(|s| !s.contains(" RUN ")), "{again:#?}");

    // The last layer's script changes: its step runs, and no RUN of an earlier layer does.
    write(&project, "src/pkg/post.sh", "mkdir -p \"$PKG_HOME/bin\"\necho changed > \"$PKG_HOME/changed\"\n");
    let changed = build(&engine, &project, &home, &tag);
    eprintln!("post.sh changed: ran {changed:#?}");
    let runs: Vec<&String> = changed.iter().filter(|s| s.contains(" RUN ")).collect();
    assert!(runs.iter().any(|s| s.contains("src/pkg/post.sh")), "{changed:#?}");
    for earlier in ["/opt/preamble-ok", "/opt/run.txt", &pkg("base"), "sources.list.d", "scripts/setup.sh"] {
        assert!(!runs.iter().any(|s| s.contains(earlier)), "`{earlier}` ran again: {changed:#?}");
    }
    let run = engine.docker(&["run", "--rm", &tag, "cat", "/opt/pkg/changed"]);
    assert_eq!(stdout(&run), "changed\n", "{}", stderr(&run));

    let _ = engine.docker(&["rmi", &tag]);
    drop(server);
    for dir in [home, project, site] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}
