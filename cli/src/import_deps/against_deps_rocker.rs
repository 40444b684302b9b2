//! quarry's reading against deps_rocker's own (`Dependencies.read_dependencies`, which needs no
//! Docker daemon), on realistic files: the same layers in the same order and groups, each with the
//! same entries. Needs a Python with deps_rocker: `QUARRY_TEST_ROCKER_PYTHON` (`cargo xtask test`
//! sets it), else `python3` if it imports deps_rocker; skipped loudly otherwise, never under CI.

use std::path::Path;

/// Three files in three folders: every command, layer names with `-`, repeated keys (with
/// repeated entries), a plain key, preamble and user layers, scripts named relative to their
/// file and twice by two paths, aliases.
const FILES: &[(&str, &str)] = &[
    (
        "base.deps.yaml",
        "env_preamble:\n  - PIP_DEFAULT_TIMEOUT=60\nenv_base:\n  - ROS_DISTRO=jazzy\n  - DEBIAN_FRONTEND=noninteractive\n\
         apt_sources: &tools\n  - curl\n  - gnupg\n  - lsb-release\nadd-apt-repository_ppa:\n  - ppa:deadsnakes/ppa\n\
         script_sources:\n  - scripts/ros-sources.sh\napt_ros-base:\n  - ros-jazzy-ros-base\n  - python3-colcon-common-extensions\n\
         apt_language-toolchain: [python3-pip, build-essential]\npip_deps:\n  - numpy>=1.26\n  - rich\n\
         run_workspace:\n  - mkdir -p /opt/ws\nscript_entrypoint-user:\n  - scripts/user.sh\napt:\n  - htop\n",
    ),
    (
        "src/robot/robot.deps.yaml",
        "apt_ros-base:\n  - ros-jazzy-xacro\n  - python3-colcon-common-extensions\napt_language-toolchain:\n  - cmake\n\
         pip_deps:\n  - rich\n  - torch --index-url https://download.pytorch.org/whl/cpu\n\
         script_sources:\n  - ../../scripts/ros-sources.sh\n  - setup-robot.sh\nenv_robot: [ROBOT_MODEL=turtle]\n\
         pip_user-tools: [pre-commit]\nrun_user-config:\n  - git config --global init.defaultBranch main\n\
         pyproject: [pyproject.toml]\ntzdata: [Etc/UTC]\nlocales: [en_US.UTF-8]\napt_empty: []\n",
    ),
    (
        "src/zz/b.deps.yaml",
        "apt_sources: [wget, curl]\nrun_preamble-proxy: [echo proxy]\napt_tools: &t [git, git-lfs]\napt_more: *t\n\
         script_post: [post.sh]\nenv_base: [ROS_DISTRO=jazzy]\n",
    ),
    ("scripts/ros-sources.sh", "sudo apt-get update\n"),
    ("scripts/user.sh", "echo user\n"),
    ("src/robot/setup-robot.sh", "echo robot\n"),
    ("src/zz/post.sh", "echo post\n"),
    (
        "src/robot/pyproject.toml",
        "[project]\nname = \"robot\"\ndependencies = [\"pyyaml>=6\", \"rich\"]\n[project.optional-dependencies]\ntest = [\"pytest\"]\ndev = [\"ruff\"]\ndocs = [\"sphinx\"]\n",
    ),
    ("tools/pyproject.toml", "[project]\nname = \"tools\"\ndependencies = [\"click\"]\n"),
];

/// deps_rocker's layers as JSON `[key, group, command, entries]`, files in sorted order (its
/// `rglob` order is the file system's), scripts relative to the folder (each file once), pip
/// entries as words, pyproject's as the requirements it installs.
const SCRIPT: &str = r#"
import contextlib, io, json, os, sys
from pathlib import Path
from deps_rocker.dependencies import Dependencies
_rglob = Path.rglob
Path.rglob = lambda self, p: iter(sorted(_rglob(self, p), key=lambda x: x.relative_to(self).as_posix()))
d = Dependencies()
with contextlib.redirect_stdout(io.StringIO()):
    d.read_dependencies(Path('.'), sys.argv[1])
    pyproject = sorted(set(d.get_pyproject_toml_deps().split()))
out = []
for group, layers in (("preamble", d.layers_preamble), ("root", d.layers), ("user", d.layers_user)):
    for key, layer in layers.items():
        entries = sorted(layer.data)
        if layer.command == "script":
            # deps_rocker's set holds paths as joined (`src/robot/../../scripts/x.sh` apart from
            # `scripts/x.sh`) and would run such a script twice; quarry's holds the file once.
            entries = sorted(set(os.path.relpath(e, os.getcwd()) for e in entries))
        elif layer.command == "pip":
            entries = [w for e in entries for w in e.split()]
        elif layer.command == "pyproject":
            entries = pyproject
        elif layer.command in ("tzdata", "locales"):
            entries = []
        out.append([key, group, layer.command, entries])
print(json.dumps(out))
"#;

fn python() -> Option<String> {
    if let Ok(p) = std::env::var("QUARRY_TEST_ROCKER_PYTHON") {
        return Some(p);
    }
    let probe = std::process::Command::new("python3").args(["-c", "import deps_rocker"]).output();
    let found = probe.is_ok_and(|o| o.status.success()).then(|| "python3".to_owned());
    if found.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "the comparison with deps_rocker cannot be skipped under CI=true: set QUARRY_TEST_ROCKER_PYTHON (`cargo xtask test` does)"
        );
    }
    found
}

fn quarry_side(root: &Path, pattern: &str) -> serde_json::Value {
    let files = super::find::find(root, &[pattern.to_owned()]).unwrap();
    let layers = super::read(root, &files).unwrap();
    let command = |c| super::COMMANDS.iter().find(|(_, x)| *x == c).map(|(k, _)| *k).unwrap();
    let group = |g| match g {
        super::Group::Preamble => "preamble",
        super::Group::Root => "root",
        super::Group::User => "user",
    };
    layers.iter().map(|l| serde_json::json!([l.key, group(l.group), command(l.command), l.entries])).collect()
}

#[test]
fn quarry_reads_the_layers_deps_rocker_reads() {
    let Some(python) = python() else {
        eprintln!(
            "\n!!!!! SKIPPED: the comparison with deps_rocker: no Python with deps_rocker (run the tests with `cargo xtask test`, which installs it, or set QUARRY_TEST_ROCKER_PYTHON) !!!!!\n"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("quarry-deps-rocker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (rel, text) in FILES {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    for pattern in ["*.deps.yaml", "robot.deps.yaml", "src/*/*.deps.yaml", "[bz]*.deps.yaml"] {
        let out = std::process::Command::new(&python)
            .args(["-c", SCRIPT, pattern])
            .current_dir(&dir)
            .output()
            .expect("python runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ours = quarry_side(&dir, pattern);
        assert_eq!(ours, theirs, "pattern {pattern}");
        assert!(theirs.as_array().is_some_and(|a| !a.is_empty()), "{pattern}: {theirs}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
