//! deps_rocker's `*.deps.yaml` files read natively through quarry.toml's `deps` key, as a user
//! runs quarry on them: every layer of every command in deps_rocker's order, each an extension of
//! its own, the chain order in quarry.lock, the mistakes at file:line, and `quarry import`.

mod common;

use std::path::{Path, PathBuf};

use common::{offline as quarry, scratch, stderr, stdout, write};

fn render(dir: &Path) -> String {
    let o = quarry(dir, &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// The names of the `# Extensions:` line.
fn extensions(dockerfile: &str) -> Vec<String> {
    let line = dockerfile.lines().find_map(|l| l.strip_prefix("# Extensions: ")).expect("an extensions line");
    line.split(", ").map(str::to_owned).collect()
}

/// A ROS project as deps_rocker users write it: a rockerc.yaml naming `deps`, a deps file at the
/// root and one in a package, every command, layer names with `-`, keys repeated across the files
/// (the second adds to the first's layer, and gives an entry again), preamble and user layers, a
/// script named twice by two paths, a pyproject.toml.
const BASE: &str = "\
env_preamble:
  - PIP_DEFAULT_TIMEOUT=60
env_base:
  - ROS_DISTRO=jazzy
  - LANG C.UTF-8
apt_sources:
  - curl
  - gnupg
  - lsb-release
add-apt-repository_universe:
  - universe
  - deb [arch=amd64] http://packages.example.org/apt noble main
script_sources:
  - scripts/ros-sources.sh
apt_ros-base:
  - ros-jazzy-ros-base
  - python3-colcon-common-extensions
apt_language-toolchain:
  - python3-pip
  - build-essential
pip_deps:
  - numpy>=1.26
  - rich
run_workspace:
  - touch /opt/ws-built
  - mkdir -p /opt/ws
script_entrypoint-user:
  - scripts/user.sh
apt:
  - htop
";

const ROBOT: &str = "\
apt_ros-base:
  - ros-jazzy-xacro
  - python3-colcon-common-extensions
apt_language-toolchain:
  - cmake
pip_deps:
  - rich
  - torch --index-url https://download.pytorch.org/whl/cpu
script_sources:
  - ../../scripts/ros-sources.sh
  - setup-robot.sh
env_robot:
  - ROBOT_MODEL=turtle
  - PATH=/opt/robot/bin:$PATH
pip_user-tools:
  - pre-commit
run_user-config:
  - git config --global init.defaultBranch main
pyproject:
  - pyproject.toml
tzdata:
  - Etc/UTC
";

fn ros_project(name: &str) -> PathBuf {
    let dir = scratch(name);
    write(&dir, "rockerc.yaml", "image: ubuntu:24.04\nargs:\n  - deps\n");
    write(&dir, "base.deps.yaml", BASE);
    write(&dir, "src/robot/robot.deps.yaml", ROBOT);
    write(&dir, "scripts/ros-sources.sh", "sudo apt-get update\necho sources\n");
    write(&dir, "scripts/user.sh", "echo \"$HOME\" > \"$HOME/.deps-user\"\n");
    write(&dir, "src/robot/setup-robot.sh", "echo robot > /opt/robot.txt\n");
    write(
        &dir,
        "src/robot/pyproject.toml",
        "[project]\nname = \"robot\"\ndependencies = [\"pyyaml>=6\"]\n\
         [project.optional-dependencies]\ndev = [\"pytest\"]\ndocs = [\"sphinx\"]\n",
    );
    let o = quarry(&dir, &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

/// Every layer of both files is an extension, in deps_rocker's order: preamble, then the root
/// layers as their keys are first seen (the first file's, then the second's new ones), then the
/// user layers; each layer's entries once, sorted; the rendered file is the snapshot's.
#[test]
fn every_layer_of_every_file_is_an_extension_in_deps_rockers_order() {
    let dir = ros_project("order");
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    assert_eq!(
        toml,
        "# Converted from `rockerc.yaml` by `quarry import`.\nimage = \"ubuntu:24.04\"\ndeps = true\nextensions = []\n"
    );
    let out = render(&dir);
    assert_eq!(
        extensions(&out),
        [
            // The catalog's, for deps_rocker's `tzdata` snippet: early, as its priority asks.
            "tzdata",
            "project_deps_env_preamble",
            "project_deps_env_base",
            "project_deps_apt_sources",
            "project_deps_add_apt_repository_universe",
            "project_deps_script_sources",
            "project_deps_apt_ros_base",
            "project_deps_apt_language_toolchain",
            "project_deps_pip_deps",
            "project_deps_run_workspace",
            "project_deps_apt",
            "project_deps_env_robot",
            "project_deps_pyproject",
            "project_deps_tzdata",
            "project_deps_script_entrypoint_user",
            "project_deps_pip_user_tools",
            "project_deps_run_user_config",
        ]
    );
    // Set semantics across the files: one install of each package, sorted.
    assert!(
        out.contains("      python3-colcon-common-extensions ros-jazzy-ros-base ros-jazzy-xacro\n"),
        "{out}"
    );
    assert!(out.contains("      build-essential cmake python3-pip\n"), "{out}");
    // The script named by two paths runs once; scripts in path order.
    assert_eq!(out.matches("bash /tmp/quarry-deps/scripts/scripts/ros-sources.sh").count(), 1, "{out}");
    assert!(
        out.contains("bash /tmp/quarry-deps/scripts/scripts/ros-sources.sh && bash /tmp/quarry-deps/scripts/src/robot/setup-robot.sh\n"),
        "{out}"
    );
    // pip's words as its shell line has them, the entries sorted; `rich` once.
    assert!(out.contains(
        "python3 -m pip install -U 'numpy>=1.26' 'rich' 'torch' '--index-url' 'https://download.pytorch.org/whl/cpu'\n"
    ), "{out}");
    // pyproject: dependencies and the `dev` extra, not `docs`.
    assert!(out.contains("python3 -m pip install -U 'pytest' 'pyyaml>=6'\n"), "{out}");
    // A one-line source is written to the layer's own list; other repositories go through
    // add-apt-repository, without its `apt-get update` (the next apt layer's reads them).
    assert!(out.contains(
        "printf '%s\\n' 'deb [arch=amd64] http://packages.example.org/apt noble main' > /etc/apt/sources.list.d/project_deps_add_apt_repository_universe.list\n"
    ), "{out}");
    assert!(out.contains("add-apt-repository -y -n 'universe'\n"), "{out}");
    // One RUN per `run` entry, sorted; the env layers before a step are exported in it.
    assert!(out.contains(
        "RUN export PIP_DEFAULT_TIMEOUT=\"60\" && export LANG=\"C.UTF-8\" && export ROS_DISTRO=\"jazzy\" && mkdir -p /opt/ws\n\
         RUN export PIP_DEFAULT_TIMEOUT=\"60\" && export LANG=\"C.UTF-8\" && export ROS_DISTRO=\"jazzy\" && touch /opt/ws-built\n"
    ), "{out}");
    assert!(
        out.contains("export PATH=\"/opt/robot/bin:$PATH\" && export ROBOT_MODEL=\"turtle\" && export HOME="),
        "{out}"
    );
    assert!(out.contains("ENV LANG=C.UTF-8 \\\n    ROS_DISTRO=jazzy\n"), "{out}");
    insta::assert_snapshot!("ros_project", out);
    std::fs::remove_dir_all(dir).unwrap();
}

/// User layers run as the image's user, after the `user` extension made it; their apt packages
/// still install as root. The lock records the chain: a layer added in the middle of the files
/// goes to its place in deps_rocker's order, and the lock follows.
#[test]
fn user_layers_follow_the_user_and_the_lock_keeps_deps_rockers_order() {
    let dir = ros_project("user");
    write(&dir, "quarry.toml", "image = \"ubuntu:24.04\"\ndeps = true\nextensions = [\"user\"]\n");
    let o = quarry(&dir, &["render", "--user-name", "robot", "--user-uid", "1234"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let names = extensions(&out);
    let at = |n: &str| names.iter().position(|x| x == n).unwrap_or_else(|| panic!("{n}: {names:?}"));
    assert!(at("user") < at("project_deps_script_entrypoint_user"), "{names:?}");
    assert!(
        out.contains("# project_deps_pip_user_tools: setup, as the image's user\nUSER robot\nRUN export"),
        "{out}"
    );
    assert!(out.contains("python3 -m pip install --no-cache-dir -U 'pre-commit'\nUSER root\n"), "{out}");
    assert!(out.contains("# project_deps_pip_user_tools: apt packages\nRUN --mount=type=cache"), "{out}");
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    let locked: Vec<&str> =
        lock.lines().filter_map(|l| l.strip_prefix("name = \"")).map(|l| l.trim_end_matches('"')).collect();
    assert_eq!(locked[..2], ["tzdata", "project_deps_env_preamble"], "{lock}");
    assert!(locked.contains(&"project_deps_run_user_config"), "{lock}");

    // A new key in the middle of the first file: its layer goes between its neighbours (what the
    // lock held after them may move before it: those steps run again either way), and the lock
    // takes the new order.
    write(&dir, "base.deps.yaml", &BASE.replace("apt_ros-base:", "apt_middle:\n  - jq\napt_ros-base:"));
    let o = quarry(&dir, &["render", "--user-name", "robot", "--user-uid", "1234"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = extensions(&stdout(&o));
    let at = |n: &str| names.iter().position(|x| x == n).unwrap_or_else(|| panic!("{n}: {names:?}"));
    assert!(at("project_deps_script_sources") < at("project_deps_apt_middle"), "{names:?}");
    assert_eq!(at("project_deps_apt_middle") + 1, at("project_deps_apt_ros_base"), "{names:?}");
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    assert!(
        lock.find("project_deps_apt_middle").unwrap() < lock.find("project_deps_apt_ros_base").unwrap(),
        "{lock}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `deps` takes `true`, a pattern or a list of them, matched as deps_rocker's `--deps` matches
/// (below the project, any folder); `false` reads none.
#[test]
fn patterns_choose_the_files() {
    let dir = scratch("patterns");
    write(&dir, "a.deps.yaml", "apt_a: [jq]\n");
    write(&dir, "robot/b.deps.yaml", "apt_b: [git]\n");
    write(&dir, "robot/extra.yaml", "apt_c: [curl]\n");
    write(&dir, ".git/x.deps.yaml", "apt_git: [vim]\n");
    let with = |deps: &str| {
        write(
            &dir,
            "quarry.toml",
            &format!("image = \"debian:bookworm\"\nextensions = [\"git\"]\ndeps = {deps}\n"),
        );
        extensions(&render(&dir)).into_iter().filter(|n| n.starts_with("project_deps_")).collect::<Vec<_>>()
    };
    assert_eq!(with("true"), ["project_deps_apt_a", "project_deps_apt_b"]);
    assert_eq!(with("\"b.deps.yaml\""), ["project_deps_apt_b"]);
    assert_eq!(with("[\"robot/*.yaml\"]"), ["project_deps_apt_b", "project_deps_apt_c"]);
    assert_eq!(
        with("[\"*.deps.yaml\", \"extra.yaml\"]"),
        ["project_deps_apt_a", "project_deps_apt_b", "project_deps_apt_c"]
    );
    assert!(with("false").is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Each mistake is one error at its place in the deps file (or quarry.toml), with a hint; nothing
/// is rendered.
#[test]
fn mistakes_are_errors_at_their_place() {
    let dir = scratch("mistakes");
    write(&dir, "scripts/ok.sh", "echo ok\n");
    let cases: &[(&str, &str)] = &[
        ("deps = true", "apt_tools:\n  - \"git; rm -rf /\"\n"),
        ("deps = true", "scripts_main:\n  - ok.sh\n"),
        ("deps = true", "script_x:\n  - missing.sh\n"),
        ("deps = true", "script_x: [../../../etc/passwd]\n"),
        ("deps = true", "script_x: [/etc/passwd]\n"),
        ("deps = true", "run_x:\n  - \"make &&\"\n"),
        ("deps = true", "run_x:\n  - |\n    echo one\n    echo two\n"),
        ("deps = true", "run_x:\n  - cat <<EOF\n"),
        ("deps = true", "env_x: [\"A=x y\"]\n"),
        ("deps = true", "env_x: [\"1A=2\"]\n"),
        ("deps = true", "pip_x: [\"numpy'\"]\n"),
        ("deps = true", "add-apt-repository_x: [\"-r universe\"]\n"),
        ("deps = true", "apt_x: git\n"),
        ("deps = true", "apt_x:\n  - [git]\n"),
        ("deps = true", "apt_x: [git]\napt_x: [curl]\n"),
        ("deps = true", "apt_x: [git\n"),
        ("deps = true", "- apt_x\n"),
        ("deps = true", "apt_x: [git]\n---\napt_y: [jq]\n"),
        ("deps = true", "pyproject: [x]\n"),
        ("deps = true", "apt_a-b: [git]\napt_a_b: [jq]\n"),
        ("deps = \"nothing.yaml\"", "apt_x: [git]\n"),
        ("deps = \"../x.yaml\"", "apt_x: [git]\n"),
        ("deps = 3", "apt_x: [git]\n"),
    ];
    let mut report = String::new();
    for (deps, yaml) in cases {
        write(&dir, "quarry.toml", &format!("image = \"debian:bookworm\"\n{deps}\n"));
        write(&dir, "scripts/x.deps.yaml", yaml);
        let o = quarry(&dir, &["render"]);
        assert_eq!(o.status.code(), Some(1), "{deps} {yaml}: {}", stdout(&o));
        assert!(stdout(&o).is_empty(), "{yaml}");
        let err = stderr(&o).replace(&dir.display().to_string(), "<project>");
        assert_eq!(err.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{err}");
        assert!(err.contains("\nhint: "), "{err}");
        report.push_str(&format!("--- {deps}\n{yaml}{err}\n"));
    }
    insta::assert_snapshot!("mistakes", report);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A deps file or script that is a link leaving the project is refused; a deps file larger than
/// 1 MiB or an alias bomb is refused at its place.
#[test]
fn links_out_and_huge_files_are_refused() {
    let dir = scratch("links");
    let outside = scratch("links-outside");
    write(&outside, "evil.deps.yaml", "apt_x: [git]\n");
    write(&outside, "evil.sh", "echo evil\n");
    write(&dir, "quarry.toml", "image = \"debian:bookworm\"\ndeps = true\n");
    std::os::unix::fs::symlink(outside.join("evil.deps.yaml"), dir.join("evil.deps.yaml")).unwrap();
    let o = quarry(&dir, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error: deps file `evil.deps.yaml` is a link leading outside the project"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(dir.join("evil.deps.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.join("evil.sh"), dir.join("evil.sh")).unwrap();
    write(&dir, "x.deps.yaml", "script_x: [evil.sh]\n");
    let o = quarry(&dir, &["render"]);
    assert!(
        stderr(&o).contains(
            "error: x.deps.yaml:1:12: script `evil.sh` leads outside the project through a symbolic link"
        ),
        "{}",
        stderr(&o)
    );
    write(&dir, "x.deps.yaml", &format!("apt_x: [git]\n#{}\n", "x".repeat(1 << 20)));
    let o = quarry(&dir, &["render"]);
    assert!(
        stderr(&o).contains("error: x.deps.yaml:1:1: the file is larger than 1024 KiB"),
        "{}",
        stderr(&o)
    );
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
    for (n, p) in ["b", "c", "d", "e", "f", "g", "h"].iter().zip(["a", "b", "c", "d", "e", "f", "g"]) {
        bomb.push_str(&format!("{n}: &{n} [{}]\n", vec![format!("*{p}"); 9].join(",")));
    }
    write(&dir, "x.deps.yaml", &bomb);
    let o = quarry(&dir, &["render"]);
    assert!(stderr(&o).contains("more than 100000 YAML values"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(outside).unwrap();
}

/// `quarry import` writes `deps`, never the entries: `args: [deps]` is `deps = true`, rockerc's
/// `deps: PATTERN` that pattern, one deps file its path. What `quarry build` would refuse in the
/// files is said at once, and the file is written all the same.
#[test]
fn import_writes_the_deps_key_and_says_what_build_would_refuse() {
    let dir = scratch("import");
    write(&dir, "rockerc.yaml", "image: ubuntu:24.04\nargs: [deps, git]\ndeps: robot/*.deps.yaml\n");
    write(&dir, "robot/r.deps.yaml", "apt_tools: [git]\nenv_base: [A=1]\n");
    let o = quarry(&dir, &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not converted"), "{}", stderr(&o));
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    assert!(toml.contains("deps = \"robot/*.deps.yaml\"\n"), "{toml}");
    let out = render(&dir);
    assert!(out.contains("# project_deps_env_base: environment\nENV A=1\n"), "{out}");

    // rockerc's keyed `args` entry is the same; a pattern quarry cannot take writes no `deps` (its
    // default would read other files), and says so.
    write(&dir, "keyed/rockerc.yaml", "image: ubuntu:24.04\nargs:\n  - deps: '*.yaml'\n");
    write(&dir, "keyed/a.yaml", "apt_tools: [git]\n");
    let o = quarry(&dir.join("keyed"), &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let toml = std::fs::read_to_string(dir.join("keyed/quarry.toml")).unwrap();
    assert!(toml.contains("deps = \"*.yaml\"\n"), "{toml}");
    write(&dir, "keyed/rockerc.yaml", "image: ubuntu:24.04\nargs: [deps]\ndeps: a b.yaml\n");
    let o = quarry(&dir.join("keyed"), &["import", "rockerc.yaml", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not converted: `deps`: \"a b.yaml\" is not a pattern quarry takes"),
        "{}",
        stderr(&o)
    );
    let toml = std::fs::read_to_string(dir.join("keyed/quarry.toml")).unwrap();
    assert!(!toml.contains("\ndeps = "), "{toml}");

    // One deps file: its path.
    let o = quarry(&dir, &["import", "robot/r.deps.yaml", "-o", "one.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let toml = std::fs::read_to_string(dir.join("one.toml")).unwrap();
    assert_eq!(
        toml,
        "# Converted from `robot/r.deps.yaml` by `quarry import`.\n# image = \"ubuntu:24.04\"   # rockerc named no image: set one\ndeps = \"robot/r.deps.yaml\"\nextensions = []\n"
    );

    // A file build would refuse: the warning names its place.
    write(&dir, "robot/r.deps.yaml", "apt_tools: [\"git curl\"]\n");
    let o = quarry(&dir, &["import", "rockerc.yaml", "-o", "two.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: `deps`: robot/r.deps.yaml:1:13: `apt_tools`: \"git curl\" is not a Debian package name (`quarry build` stops there until it is fixed)\nhint: write one package per entry"),
        "{}",
        stderr(&o)
    );
    // No deps file at all.
    write(&dir, "empty/rockerc.yaml", "image: ubuntu:24.04\nargs: [deps]\n");
    let o = quarry(&dir.join("empty"), &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: `deps`: no file below `.` matches `*.deps.yaml`"),
        "{}",
        stderr(&o)
    );
    // A deps file outside the new quarry.toml's folder cannot be named by it.
    let o = quarry(&dir.join("empty"), &["import", "../robot/r.deps.yaml", "-o", "x.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not below the folder of the new quarry.toml"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A file saved on Windows (a byte order mark, CRLF lines) is read as deps_rocker reads it, and
/// text beyond ASCII reaches a RUN as written.
#[test]
fn a_windows_file_reads_as_deps_rocker_reads_it() {
    let dir = scratch("windows");
    write(&dir, "quarry.toml", "image = \"debian:bookworm\"\ndeps = true\n");
    write(&dir, "w.deps.yaml", "\u{feff}apt_tools: [jq]\r\nrun_x:\r\n  - echo h\u{e9}llo\r\n");
    let out = render(&dir);
    assert_eq!(extensions(&out), ["project_deps_apt_tools", "project_deps_run_x"]);
    assert!(out.contains("\nRUN echo h\u{e9}llo\n"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}
