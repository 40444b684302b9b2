//! The first hour of a new user, on the real engine: the README's `render -o Dockerfile` then
//! `docker build` lines (plain, with `--build-arg CACHE_ID=job-42`, and `-f FILE DIR`) on Docker
//! 26 and, rendered with `--engine legacy`, on Docker 20.10; a project whose scripts use the
//! packages its `apt` asks for, a script with a shebang run by its interpreter; a project's venv
//! in a login shell, an interactive shell, no shell and a `quarry enter` session; a cached
//! `quarry run -q` that prints nothing but the command's own output.
//!
//! The README's lines name `ubuntu:24.04` and extensions that download from the internet; here
//! the image is the `debian:bookworm` the tests make and the extension `git` (from the Debian
//! mirror the engine reaches through `--add-host`), and every build gets that `--add-host`.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::{TestEngine, scratch, stderr, stdout, token, wheel, write};

fn ok(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what}:\n{}{}", stdout(&out), stderr(&out));
    out
}

/// `docker ARGS` in `dir` with the mirror's `--add-host` before the last argument (the context).
fn docker_build(engine: &TestEngine, dir: &Path, args: &[&str]) -> Output {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let context = all.pop().unwrap();
    if let Some(h) = &engine.add_host {
        all.extend(["--add-host".to_owned(), h.clone()]);
    }
    all.push(context);
    let mut c = engine.command("docker");
    c.current_dir(dir).args(&all).stdin(Stdio::null());
    ok(c.output().unwrap(), &format!("docker {}", all.join(" ")))
}

/// The README's lines: `render -o Dockerfile`, `docker build -t dev .`, the CACHE_ID line, and
/// a Dockerfile elsewhere built with `-f FILE DIR`; the image runs what the extension installed.
fn readme_lines(engine: &TestEngine, kind: &str, render_flags: &[&str]) {
    let dir = scratch(&format!("readme-{kind}"));
    let home = dir.join("home");
    let mut render = vec!["render", "debian:bookworm", "--git", "-o", "Dockerfile"];
    render.extend_from_slice(render_flags);
    ok(engine.quarry_in(&dir, &home, &render).output().unwrap(), "quarry render -o Dockerfile");
    assert!(dir.join("quarry").is_dir(), "render -o writes the build context beside the Dockerfile");
    let tag = format!("quarry-test/readme-{kind}:{}", token());
    docker_build(engine, &dir, &["build", "-t", &tag, "."]);
    docker_build(engine, &dir, &["build", "--build-arg", "CACHE_ID=job-42", "-t", &tag, "."]);
    let run = ok(engine.docker(&["run", "--rm", &tag, "git", "--version"]), "git in the image");
    assert!(stdout(&run).starts_with("git version "), "{}", stdout(&run));
    // A Dockerfile in a folder of its own, built from elsewhere.
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let mut render = vec!["render", "debian:bookworm", "--git", "-o", "sub/Dockerfile"];
    render.extend_from_slice(render_flags);
    ok(engine.quarry_in(&dir, &home, &render).output().unwrap(), "quarry render -o sub/Dockerfile");
    docker_build(engine, &dir, &["build", "-f", "sub/Dockerfile", "-t", &tag, "sub"]);
    let _ = engine.docker(&["rmi", &tag]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn the_readmes_render_then_docker_build_lines_build_on_docker_26() {
    let engine = TestEngine::get("MODERN");
    readme_lines(&engine, "modern", &[]);
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn the_readmes_render_then_docker_build_lines_build_on_docker_20_10() {
    let engine = TestEngine::get("LEGACY");
    readme_lines(&engine, "legacy", &["--engine", "legacy"]);
}

/// A project's scripts run after its packages are in, and each by its own interpreter.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn scripts_use_the_projects_packages_and_their_shebang() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("apt-scripts");
    let home = dir.join("home");
    let run_token = token();
    write(
        &dir,
        "quarry.toml",
        "image = \"debian:bookworm\"\napt = [\"jq\"]\nscripts = [\"scripts/uses-jq.sh\", \"scripts/perl-script\"]\n",
    );
    // Uses the package of `apt`, in bash's own syntax (`[[ ]]`): it fails under sh.
    write(
        &dir,
        "scripts/uses-jq.sh",
        &format!(
            "#!/bin/bash\nset -euo pipefail\n[[ -n \"$BASH_VERSION\" ]]\necho '{{\"a\":\"{run_token}\"}}' | jq -r .a > /jq.txt\n"
        ),
    );
    // Perl, by its shebang: bash would fail on the first line.
    write(
        &dir,
        "scripts/perl-script",
        "#!/usr/bin/perl\nopen(my $f, '>', '/perl.txt') or die; print $f \"perl-ok\\n\";\n",
    );
    let tag = format!("quarry-test/apt-scripts:{run_token}");
    let mut build = engine.quarry_in(&dir, &home, &["build", "--tag", &tag]);
    if let Some(h) = &engine.add_host {
        build.args(["--add-host", h]);
    }
    ok(build.output().unwrap(), "quarry build");
    let run = ok(engine.docker(&["run", "--rm", &tag, "cat", "/jq.txt", "/perl.txt"]), "the scripts' files");
    assert_eq!(stdout(&run), format!("{run_token}\nperl-ok\n"));
    let _ = engine.docker(&["rmi", &tag]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The project's venv in every way a user meets the image: no shell, `bash -l`, `bash -i`, and a
/// `quarry enter` session; and a cached `quarry run -q` prints only the command's output.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn the_venv_reaches_every_shell_and_a_cached_quiet_run_is_silent() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("venv-shells");
    let (project, home, site) = (dir.join("project"), dir.join("home"), dir.join("site"));
    let run_token = token();
    let pkg = format!("shells-{run_token}");
    wheel(&site, &pkg, "1.0");
    let server = engine.serve(&site);
    // A base image that names the local index, as a company's image names its own.
    let base = format!("quarry-test/venv-base:{run_token}");
    write(
        &dir,
        "base/pip.conf",
        &format!("[global]\nindex-url = {}/simple\ntrusted-host = {}\n", server.url, server.host),
    );
    write(&dir, "base/Dockerfile", "FROM debian:bookworm\nCOPY pip.conf /etc/pip.conf\n");
    let built = engine.docker_build(&["build", "-q", "-t", &base, &dir.join("base").display().to_string()]);
    assert!(built.output.status.success(), "{}", built.text());
    write(
        &project,
        "quarry.toml",
        &format!("image = \"{base}\"\nbuilder_base_image = \"debian:bookworm\"\npip = [\"{pkg}==1.0\"]\n"),
    );
    let module = pkg.replace('-', "_");
    let import = format!("python3 -c 'import {module}; print({module}.VERSION)'");
    let mut build = engine.quarry_in(&project, &home, &["build", "-q"]);
    if let Some(h) = &engine.add_host {
        build.args(["--add-host", h]);
    }
    let tag = stdout(&ok(build.output().unwrap(), "quarry build")).trim().to_owned();
    for shell in [&["bash", "-l", "-c"][..], &["bash", "-i", "-c"], &["sh", "-c"]] {
        let mut args = vec!["run", "--rm", tag.as_str()];
        args.extend_from_slice(shell);
        args.push(&import);
        let out = ok(engine.docker(&args), &format!("{shell:?}"));
        assert_eq!(stdout(&out).lines().last(), Some("1.0"), "{shell:?}: {}", stderr(&out));
    }
    let no_shell = ok(
        engine.docker(&[
            "run",
            "--rm",
            &tag,
            "python3",
            "-c",
            &format!("import {module}; print({module}.VERSION)"),
        ]),
        "no shell",
    );
    assert_eq!(stdout(&no_shell), "1.0\n");
    // A session of the dev container, through quarry's entrypoint.
    ok(engine.quarry_in(&project, &home, &["up"]).output().unwrap(), "quarry up");
    let session = engine.quarry_in(&project, &home, &["enter", "sh", "-c", &import]).output().unwrap();
    let _ = engine.quarry_in(&project, &home, &["down"]).output();
    let session = ok(session, "quarry enter");
    assert_eq!(stdout(&session), "1.0\n");
    // A cached quiet run: the command's output and nothing else.
    let quiet = ok(
        engine.quarry_in(&project, &home, &["run", "-q", "--", "echo", "only-this"]).output().unwrap(),
        "run -q",
    );
    assert_eq!(stdout(&quiet), "only-this\n");
    assert_eq!(stderr(&quiet), "", "a cached quiet run prints nothing of its own");
    let _ = engine.docker(&["rmi", &tag, &base]);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
