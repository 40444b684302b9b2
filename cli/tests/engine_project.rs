//! Project extensions on the real engine: a folder extension and the two-line keys build, their
//! files reach the image, and changing one re-runs only that extension's steps, with the cache
//! kept between the builds.

mod common;

use std::path::Path;

use common::{TestEngine, scratch, stderr, token, wheel, write};
use quarry_docker::progress::progress_steps;

/// `quarry build` in `project`; the steps that ran (not taken from the cache).
fn build(engine: &TestEngine, project: &Path, home: &Path, tag: &str) -> Vec<String> {
    build_with(engine, project, home, tag, None)
}

/// [`build`], with `docker` as quarry's docker program (`QUARRY_DOCKER`).
fn build_with(
    engine: &TestEngine,
    project: &Path,
    home: &Path,
    tag: &str,
    docker: Option<&Path>,
) -> Vec<String> {
    let mut c = engine.quarry_in(project, home, &["build", "--progress", "plain", "--tag", tag]);
    if let Some(docker) = docker {
        c.env("QUARRY_DOCKER", docker);
    }
    if let Some(h) = &engine.add_host {
        c.args(["--add-host", h]);
    }
    let out = c.output().expect("quarry runs");
    assert!(out.status.success(), "{}", stderr(&out));
    progress_steps(&stderr(&out)).into_iter().filter(|s| !s.cached).map(|s| s.name).collect()
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn project_extensions_build_and_a_change_reruns_only_their_own_steps() {
    let engine = TestEngine::get("MODERN");
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

/// `pip`: the venv is made on the image's own python3 (a builder `from = "final"`), reaches the
/// image on PATH, and a change to the `main` layer re-runs only its own pip step. The packages
/// come from a local index that the base image's `/etc/pip.conf` names, as a company's image
/// names its own index.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn pip_builds_a_venv_on_the_images_python_and_a_change_reruns_only_its_layer() {
    let engine = TestEngine::get("MODERN");
    python_packages(&engine, "pip", None);
}

/// `uv`: the same with uv, from the catalog's `uv` builder, reading the base image's
/// `/etc/uv/uv.toml`. The builder downloads uv from GitHub, which this machine cannot reach: a
/// `docker` wrapper (quarry's `QUARRY_DOCKER`) puts the same uv release, from its PyPI wheel, in
/// place of that one download step, and changes nothing else.
#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn uv_builds_a_venv_on_the_images_python_and_a_change_reruns_only_its_layer() {
    let engine = TestEngine::get("MODERN");
    let dir = scratch("uv-wrapper");
    let version = quarry_cli::registry_with(&[]).unwrap().get("uv").unwrap().options[0].default;
    let bin = uv_release(version);
    let subst = dir.join("subst.py");
    std::fs::write(
        &subst,
        r##"import pathlib, shutil, sys
context, bin = pathlib.Path(sys.argv[1]), sys.argv[2]
lines = (context / "Dockerfile").read_text().split("\n")
out, i, replaced = [], 0, 0
while i < len(lines):
    if lines[i].startswith("# uv: download `uv`"):
        i += 1
        while lines[i].endswith("\\"):
            i += 1
        out.append("COPY quarry-test-uv/ /opt/quarry/uv/bin/")
        replaced += 1
    else:
        out.append(lines[i])
    i += 1
assert replaced == 1, replaced
(context / "Dockerfile").write_text("\n".join(out))
shutil.copytree(bin, context / "quarry-test-uv", dirs_exist_ok=True)
"##,
    )
    .unwrap();
    let wrapper = dir.join("docker");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1 $2\" = 'buildx build' ] || [ \"$1\" = build ]; then\n  \
             for last; do :; done\n  python3 {} \"$last\" {} || exit 1\nfi\nexec docker \"$@\"\n",
            subst.display(),
            bin.display()
        ),
    )
    .unwrap();
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(&wrapper, executable).unwrap();
    python_packages(&engine, "uv", Some(&wrapper));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `uv` and `uvx` of uv `version`, from its PyPI wheel (this machine reaches PyPI, not GitHub),
/// kept between runs.
fn uv_release(version: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quarry-test-uv-{version}"));
    let bin = dir.join("bin");
    if bin.join("uv").is_file() && bin.join("uvx").is_file() {
        return bin;
    }
    let out = std::process::Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest"])
        .arg(&dir)
        .arg(format!("uv=={version}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "pip download uv=={version}: {}", stderr(&out));
    let script = format!(
        "import glob, os, zipfile\nz = zipfile.ZipFile(glob.glob('uv-{version}-*.whl')[0])\nos.makedirs('bin', exist_ok=True)\n\
         for name in ('uv', 'uvx'):\n    open('bin/' + name, 'wb').write(z.read('uv-{version}.data/scripts/' + name))\n    \
         os.chmod('bin/' + name, 0o755)\n"
    );
    let out =
        std::process::Command::new("python3").arg("-c").arg(&script).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    bin
}

/// The Python packages of `key` (`pip` or `uv`) on the engine: two wheels of this run served as
/// a local index, which the base image names in the installer's own configuration file. The
/// venv is built on the image's python3 and imports both packages with no shell; a new version
/// in `main` runs that layer's step alone.
fn python_packages(engine: &TestEngine, key: &str, docker: Option<&Path>) {
    let home = scratch(&format!("{key}-home"));
    let project = scratch(key);
    let site = project.join("site");
    // Names of this run: an earlier run's cache cannot hold their steps.
    let run_token = token();
    let (base_pkg, main_pkg) = (format!("base-{run_token}"), format!("main-{run_token}"));
    wheel(&site, &base_pkg, "1.0");
    wheel(&site, &main_pkg, "1.0");
    wheel(&site, &main_pkg, "2.0");
    let server = engine.serve(&site);

    let base = format!("quarry-test/{key}-base:{run_token}");
    let (file, text) = match key {
        "pip" => (
            "/etc/pip.conf",
            format!("[global]\nindex-url = {}/simple\ntrusted-host = {}\n", server.url, server.host),
        ),
        _ => ("/etc/uv/uv.toml", format!("[[index]]\nurl = \"{}/simple\"\ndefault = true\n", server.url)),
    };
    write(&project, "base/index.conf", &text);
    write(&project, "base/Dockerfile", &format!("FROM debian:bookworm\nCOPY index.conf {file}\n"));
    let built =
        engine.docker_build(&["build", "-q", "-t", &base, &project.join("base").display().to_string()]);
    assert!(built.output.status.success(), "{}", built.text());

    let config = |main_version: &str| {
        format!(
            "image = \"{base}\"\nbuilder_base_image = \"debian:bookworm\"\n\
             {key} = {{ base = [\"{base_pkg}==1.0\"], main = [\"{main_pkg}=={main_version}\"] }}\n"
        )
    };
    write(&project, "quarry.toml", &config("1.0"));
    let tag = format!("quarry-test/{key}:{run_token}");
    let first = build_with(engine, &project, &home, &tag, docker);
    assert!(first.iter().any(|s| s.contains(&format!("{main_pkg}==1.0"))), "{first:#?}");
    let (base_mod, main_mod) = (base_pkg.replace('-', "_"), main_pkg.replace('-', "_"));
    let check = format!(
        "import sys, {base_mod}, {main_mod}; print({base_mod}.VERSION, {main_mod}.VERSION, sys.prefix)"
    );
    let shown = |tag: &str| {
        // No shell: the image's environment alone puts the venv first on PATH.
        let run = engine.docker(&["run", "--rm", tag, "python3", "-c", &check]);
        assert!(run.status.success(), "{}", stderr(&run));
        String::from_utf8_lossy(&run.stdout).into_owned()
    };
    let prefix = format!("/opt/quarry/project_{key}/venv");
    assert_eq!(shown(&tag), format!("1.0 1.0 {prefix}\n"));

    // A new version in `main`: its step runs; the venv, the `base` layer and the apt steps come
    // from the cache, and no RUN of the final stage runs.
    write(&project, "quarry.toml", &config("2.0"));
    let changed = build_with(engine, &project, &home, &tag, docker);
    eprintln!("{key} main changed: ran {changed:#?}");
    let runs: Vec<&String> = changed.iter().filter(|s| s.contains(" RUN ")).collect();
    assert_eq!(runs.len(), 1, "{changed:#?}");
    assert!(runs[0].contains(&format!("{main_pkg}==2.0")), "{runs:#?}");
    assert_eq!(shown(&tag), format!("1.0 2.0 {prefix}\n"));

    let _ = engine.docker(&["rmi", &tag, &base]);
    drop(server);
    std::fs::remove_dir_all(home).unwrap();
    std::fs::remove_dir_all(project).unwrap();
}
