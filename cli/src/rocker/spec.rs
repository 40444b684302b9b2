//! Every option of rocker 0.4's command line, with the ones deps_rocker 0.23 and off-your-rocker
//! 0.1 (which deps_rocker installs) add: the one description of rocker's grammar (names, `nargs`,
//! `action`, choices, as argparse declares them) and of what each means in quarry. `parse.rs`
//! reads command lines with it, `translate.rs` carries the meanings out, `quarry rocker --help`
//! lists it, and the differential test checks it against rocker's own parser.

/// How many values an option takes, as argparse's `nargs` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nargs {
    /// A flag (`store_true`).
    Zero,
    /// One value (`nargs` unset).
    One,
    /// A list of exactly one value (`nargs=1`).
    ListOfOne,
    /// One value or none (`?`); without one, the option's constant.
    Optional,
    /// Any number of values (`*`).
    Any,
    /// At least one value (`+`).
    AtLeastOne,
}

impl Nargs {
    /// Whether it takes values until the next option (`?`, `*`, `+`): such an option swallows the
    /// image unless `--` follows it.
    pub fn greedy(self) -> bool {
        matches!(self, Nargs::Optional | Nargs::Any | Nargs::AtLeastOne)
    }
}

/// What repeating the option does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The last one counts (`store`, `store_true`).
    Last,
    /// Each one adds (`append`).
    Append,
}

/// What an option means in quarry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Selects a quarry extension of this name.
    Extension(&'static str),
    /// Sets an option of an extension (and selects it).
    Option(&'static str, &'static str),
    /// Adds its values to a list option of an extension (and selects it).
    List(&'static str, &'static str),
    /// One `docker run` argument per value: `<arg>=<value>`.
    RunArg(&'static str),
    /// Handled by its `dest` in `translate.rs` (the mode, the user's overrides, ...).
    Special,
}

/// Which tool defines the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// rocker 0.4.
    Rocker,
    /// deps_rocker 0.23.
    DepsRocker,
    /// off-your-rocker 0.1, which deps_rocker installs.
    OffYourRocker,
}

/// One option of rocker's command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RockerOption {
    /// Its spellings, the long one first (`--env`, `-e`).
    pub names: &'static [&'static str],
    /// argparse's `dest`: the key `translate.rs` uses (`user_override_name`).
    pub dest: &'static str,
    /// How many values it takes.
    pub nargs: Nargs,
    /// What repeating it does.
    pub repeat: Repeat,
    /// The values argparse allows; empty for any.
    pub choices: &'static [&'static str],
    /// What `?` gives without a value.
    pub constant: &'static str,
    /// What it means in quarry.
    pub meaning: Meaning,
    /// Who defines it.
    pub origin: Origin,
    /// The rocker extensions it needs, which rocker adds unless `--strict-extension-selection`
    /// (deps_rocker's `depends_on_extension` and `required()`): rocker's names, as `dest`s.
    pub requires: &'static [&'static str],
    /// rocker's help text, shortened.
    pub help: &'static str,
}

const FLAG: RockerOption = RockerOption {
    names: &[],
    dest: "",
    nargs: Nargs::Zero,
    repeat: Repeat::Last,
    choices: &[],
    constant: "",
    meaning: Meaning::Special,
    origin: Origin::Rocker,
    requires: &[],
    help: "",
};
const VALUE: RockerOption = RockerOption { nargs: Nargs::One, ..FLAG };
const APPEND: RockerOption = RockerOption { nargs: Nargs::One, repeat: Repeat::Append, ..FLAG };

/// A flag that selects the extension of the same name.
const fn ext(
    names: &'static [&'static str],
    dest: &'static str,
    to: &'static str,
    origin: Origin,
    help: &'static str,
) -> RockerOption {
    RockerOption { names, dest, meaning: Meaning::Extension(to), origin, help, ..FLAG }
}

use Meaning::{Extension, List, Option as Opt, RunArg};
use Origin::{DepsRocker, OffYourRocker, Rocker};

/// Every option, in the order of `rocker --help` with deps_rocker and off-your-rocker installed.
pub const OPTIONS: &[RockerOption] = &[
    RockerOption { names: &["--help", "-h"], dest: "help", help: "show this help message and exit", ..FLAG },
    RockerOption { names: &["--version"], dest: "version", help: "show the version and exit", ..FLAG },
    RockerOption { names: &["--noexecute"], dest: "noexecute", help: "deprecated: `--mode dry-run`", ..FLAG },
    RockerOption { names: &["--nocache"], dest: "nocache", help: "build without the layer cache", ..FLAG },
    RockerOption {
        names: &["--nocleanup"],
        dest: "nocleanup",
        meaning: Extension("nocleanup"),
        help: "do not remove the docker container when stopped",
        ..FLAG
    },
    RockerOption {
        names: &["--persist-image"],
        dest: "persist_image",
        help: "do not remove the docker image when stopped (quarry always keeps it: it is the cache)",
        ..FLAG
    },
    RockerOption { names: &["--pull"], dest: "pull", help: "look for newer base images", ..FLAG },
    RockerOption {
        names: &["--auto"],
        dest: "auto",
        nargs: Nargs::Optional,
        constant: ".",
        origin: DepsRocker,
        help: "select extensions from the workspace's files (a folder, default the current one)",
        ..FLAG
    },
    RockerOption {
        names: &["--cache-perms"],
        dest: "cache_perms",
        origin: DepsRocker,
        requires: &["user"],
        help: "a ~/.cache the container user can write (quarry's user has one)",
        ..FLAG
    },
    RockerOption { requires: &["curl"], ..ext(&["--cargo"], "cargo", "cargo", DepsRocker, "Rust and cargo") },
    ext(&["--ccache"], "ccache", "ccache", DepsRocker, "ccache"),
    RockerOption {
        requires: &["curl", "user"],
        ..ext(&["--claude"], "claude", "claude", DepsRocker, "Claude Code, with the host's ~/.claude")
    },
    RockerOption {
        requires: &["npm", "user"],
        ..ext(&["--codex"], "codex", "codex", DepsRocker, "OpenAI Codex CLI")
    },
    RockerOption {
        requires: &["curl", "user"],
        ..ext(&["--conda"], "conda", "conda", DepsRocker, "conda (Miniforge)")
    },
    RockerOption {
        names: &["--cpus"],
        dest: "cpus",
        meaning: Opt("cpu_limits", "cpus"),
        help: "CPUs for the container (1.5)",
        ..VALUE
    },
    ext(&["--cuda"], "cuda", "cuda", Rocker, "the CUDA toolkit"),
    ext(&["--curl"], "curl", "curl", DepsRocker, "curl"),
    RockerOption {
        names: &["--cwd"],
        dest: "cwd",
        origin: DepsRocker,
        requires: &["user"],
        help: "mount the current folder at ~/<its name> and start there",
        ..FLAG
    },
    RockerOption {
        names: &["--cwd-name"],
        dest: "cwd_name",
        origin: DepsRocker,
        help: "name the container after the current folder",
        ..FLAG
    },
    RockerOption {
        requires: &["fzf"],
        ..ext(&["--deps-devtools"], "deps_devtools", "deps_devtools", DepsRocker, "ripgrep and fd")
    },
    RockerOption {
        names: &["--detach", "-d"],
        dest: "detach",
        meaning: Extension("detach"),
        help: "run the container in the background",
        ..FLAG
    },
    ext(&["--dev-helpers"], "dev_helpers", "dev_helpers", Rocker, "emacs and byobu"),
    RockerOption {
        names: &["--devices"],
        dest: "devices",
        nargs: Nargs::Any,
        meaning: List("devices", "path"),
        help: "host devices for the container (a missing one is skipped)",
        ..FLAG
    },
    RockerOption {
        names: &["--env", "-e"],
        dest: "env",
        nargs: Nargs::AtLeastOne,
        repeat: Repeat::Append,
        meaning: List("env", "value"),
        help: "environment variables, NAME[=VALUE]",
        ..FLAG
    },
    RockerOption {
        names: &["--env-file"],
        dest: "env_file",
        nargs: Nargs::ListOfOne,
        help: "environment variables from a file",
        ..APPEND
    },
    RockerOption {
        names: &["--expose"],
        dest: "expose",
        meaning: List("expose", "port"),
        help: "expose a container port",
        ..APPEND
    },
    RockerOption {
        requires: &["git_clone", "curl", "user"],
        ..ext(&["--fzf"], "fzf", "fzf", DepsRocker, "fzf")
    },
    RockerOption {
        requires: &["npm", "user"],
        ..ext(&["--gemini"], "gemini", "gemini", DepsRocker, "Gemini CLI, with the host's ~/.gemini")
    },
    RockerOption {
        names: &["--git"],
        dest: "git",
        meaning: Extension("gitconfig"),
        help: "the host's git settings (/etc/gitconfig and ~/.gitconfig), read-only",
        ..FLAG
    },
    RockerOption {
        names: &["--git-config-path"],
        dest: "git_config_path",
        help: "the git settings file to mount (default ~/.gitconfig)",
        ..VALUE
    },
    RockerOption {
        requires: &["git"],
        ..ext(&["--git-clone"], "git_clone", "git_clone", DepsRocker, "git with Git LFS")
    },
    RockerOption { requires: &["pixi"], ..ext(&["--gitui"], "gitui", "gitui", DepsRocker, "gitui") },
    RockerOption {
        names: &["--group-add"],
        dest: "group_add",
        meaning: List("group_add", "group"),
        help: "more groups for the container's user",
        ..APPEND
    },
    ext(&["--home"], "home", "home", Rocker, "mount the user's home folder"),
    RockerOption {
        names: &["--hostname"],
        dest: "hostname",
        meaning: Opt("hostname", "value"),
        help: "the container's host name",
        ..VALUE
    },
    RockerOption {
        names: &["--ipc"],
        dest: "ipc",
        meaning: Opt("ipc", "mode"),
        help: "the IPC namespace (host)",
        ..VALUE
    },
    RockerOption {
        requires: &["nvidia", "privileged", "x11"],
        ..ext(&["--isaacsim"], "isaacsim", "isaac_sim", DepsRocker, "Isaac Sim")
    },
    ext(&["--jquery"], "jquery", "jquery", DepsRocker, "jq"),
    RockerOption {
        requires: &["curl", "git", "git_clone"],
        ..ext(&["--lazygit"], "lazygit", "lazygit", DepsRocker, "lazygit")
    },
    ext(&["--locales"], "locales", "locales", DepsRocker, "the en_US.UTF-8 locale"),
    RockerOption {
        names: &["--memory", "-m"],
        dest: "memory",
        meaning: Opt("memory_limits", "memory"),
        help: "memory limit (512m, 2g)",
        ..VALUE
    },
    RockerOption {
        names: &["--name"],
        dest: "name",
        meaning: Opt("name", "value"),
        help: "the container's name",
        ..VALUE
    },
    RockerOption {
        names: &["--network"],
        dest: "network",
        meaning: Opt("network", "mode"),
        help: "the container's network (bridge, host, none or a network's name)",
        ..VALUE
    },
    RockerOption { requires: &["curl"], ..ext(&["--npm"], "npm", "npm", DepsRocker, "Node.js and npm") },
    RockerOption {
        names: &["--nvidia"],
        dest: "nvidia",
        nargs: Nargs::Optional,
        choices: &["auto", "runtime", "gpus"],
        constant: "auto",
        help: "NVIDIA GPUs (auto, runtime or gpus)",
        ..FLAG
    },
    RockerOption {
        names: &["--nvidia-glvnd-version"],
        dest: "nvidia_glvnd_version",
        choices: &["16.04", "18.04", "20.04", "22.04", "24.04"],
        help: "the libglvnd of an Ubuntu release (quarry installs the image's own)",
        ..VALUE
    },
    RockerOption {
        names: &["--nvidia-glvnd-policy"],
        dest: "nvidia_glvnd_policy",
        choices: &["latest_lts"],
        help: "how to choose libglvnd (quarry installs the image's own)",
        ..VALUE
    },
    RockerOption { requires: &["curl"], ..ext(&["--nvim"], "nvim", "nvim", DepsRocker, "Neovim") },
    RockerOption {
        names: &["--deps"],
        dest: "deps",
        nargs: Nargs::Optional,
        constant: "*.deps.yaml",
        origin: DepsRocker,
        help: "install what the deps files below the folder list (a pattern, default *.deps.yaml)",
        ..FLAG
    },
    RockerOption {
        names: &["--oyr-cap-add"],
        dest: "oyr_cap_add",
        nargs: Nargs::ListOfOne,
        meaning: RunArg("--cap-add"),
        origin: OffYourRocker,
        help: "add a Linux capability",
        ..FLAG
    },
    RockerOption {
        names: &["--oyr-cap-drop"],
        dest: "oyr_cap_drop",
        nargs: Nargs::ListOfOne,
        meaning: RunArg("--cap-drop"),
        origin: OffYourRocker,
        help: "drop a Linux capability",
        ..FLAG
    },
    ext(&["--oyr-colcon"], "oyr_colcon", "colcon", OffYourRocker, "colcon"),
    RockerOption {
        names: &["--oyr-mount"],
        dest: "oyr_mount",
        nargs: Nargs::AtLeastOne,
        origin: OffYourRocker,
        help: "mount host paths at the same paths",
        ..FLAG
    },
    RockerOption {
        names: &["--oyr-run-arg"],
        dest: "oyr_run_arg",
        nargs: Nargs::ListOfOne,
        origin: OffYourRocker,
        help: "more `docker run` arguments",
        ..FLAG
    },
    RockerOption {
        names: &["--oyr-spacenav"],
        dest: "oyr_spacenav",
        origin: OffYourRocker,
        help: "a 3Dconnexion SpaceNavigator (libspnav and the spacenavd socket)",
        ..FLAG
    },
    RockerOption {
        requires: &["curl", "git_clone", "x11"],
        ..ext(&["--palanteer"], "palanteer", "palanteer", DepsRocker, "the Palanteer profiler")
    },
    RockerOption { requires: &["curl", "user"], ..ext(&["--pixi"], "pixi", "pixi", DepsRocker, "pixi") },
    RockerOption {
        names: &["--port"],
        dest: "port",
        meaning: List("port", "mapping"),
        help: "publish a port (HOST:CONTAINER)",
        ..APPEND
    },
    ext(&["--privileged"], "privileged", "privileged", Rocker, "extended privileges"),
    ext(&["--pulse"], "pulse", "pulse", Rocker, "PulseAudio sound"),
    RockerOption {
        names: &["--rmw"],
        dest: "rmw",
        nargs: Nargs::ListOfOne,
        choices: &["cyclonedds", "fastrtps", "zenoh"],
        meaning: Opt("rmw", "implementation"),
        help: "the default ROS 2 middleware",
        ..FLAG
    },
    RockerOption {
        requires: &["curl", "git_clone", "user"],
        ..ext(&["--ros-jazzy"], "ros_jazzy", "ros_jazzy", DepsRocker, "ROS 2 Jazzy")
    },
    RockerOption {
        names: &["--shm-size"],
        dest: "shm_size",
        meaning: Opt("shm_size", "size"),
        help: "size of /dev/shm (2g)",
        ..VALUE
    },
    RockerOption {
        names: &["--shm-size-build"],
        dest: "shm_size_build",
        help: "size of /dev/shm in the build",
        ..VALUE
    },
    RockerOption {
        requires: &["uv", "git_clone"],
        ..ext(&["--spec-kit"], "spec_kit", "spec_kit", DepsRocker, "Spec Kit")
    },
    ext(&["--ssh"], "ssh", "ssh", Rocker, "the host's SSH agent (skipped without SSH_AUTH_SOCK)"),
    ext(&["--ssh-client"], "ssh_client", "ssh_client", DepsRocker, "openssh-client"),
    ext(&["--tzdata"], "tzdata", "tzdata", DepsRocker, "tzdata (UTC)"),
    RockerOption {
        names: &["--ulimit"],
        dest: "ulimit",
        nargs: Nargs::AtLeastOne,
        repeat: Repeat::Append,
        meaning: List("ulimit", "value"),
        help: "resource limits, NAME=SOFT[:HARD]",
        ..FLAG
    },
    RockerOption {
        requires: &["curl", "ros_humble"],
        ..ext(&["--urdf-viz"], "urdf_viz", "urdf_viz", DepsRocker, "urdf-viz")
    },
    ext(&["--user"], "user", "user", Rocker, "the host user, and run as it"),
    RockerOption {
        names: &["--user-override-name"],
        dest: "user_override_name",
        meaning: Opt("user", "name"),
        help: "the user's name",
        ..VALUE
    },
    RockerOption {
        names: &["--user-override-home"],
        dest: "user_override_home",
        meaning: Opt("user", "home"),
        help: "the user's home folder",
        ..VALUE
    },
    RockerOption {
        names: &["--user-preserve-home"],
        dest: "user_preserve_home",
        help: "keep an existing home folder (quarry never removes one)",
        ..FLAG
    },
    RockerOption {
        names: &["--user-preserve-groups"],
        dest: "user_preserve_groups",
        nargs: Nargs::Any,
        help: "the host user's groups (or those named) for the user",
        ..FLAG
    },
    RockerOption {
        names: &["--user-preserve-groups-permissive"],
        dest: "user_preserve_groups_permissive",
        help: "groups the container lacks are skipped",
        ..FLAG
    },
    RockerOption {
        names: &["--user-override-shell"],
        dest: "user_override_shell",
        meaning: Opt("user", "shell"),
        help: "the user's shell",
        ..VALUE
    },
    ext(&["--uv"], "uv", "uv", DepsRocker, "uv"),
    RockerOption {
        names: &["--volume"],
        dest: "volume",
        nargs: Nargs::AtLeastOne,
        repeat: Repeat::Append,
        meaning: List("volume", "spec"),
        help: "mount host paths, HOST[:CONTAINER[:OPTIONS]]; end the list with --",
        ..FLAG
    },
    ext(&["--x11"], "x11", "x11", Rocker, "the host's X11 display"),
    RockerOption {
        names: &["--mode"],
        dest: "mode",
        choices: &["interactive", "non-interactive", "dry-run"],
        help: "interactive, non-interactive, or dry-run: build, then print the docker run command",
        ..VALUE
    },
    RockerOption { names: &["--image-name"], dest: "image_name", help: "tag the final image", ..VALUE },
    RockerOption {
        names: &["--extension-blacklist"],
        dest: "extension_blacklist",
        nargs: Nargs::Any,
        help: "extensions never to load",
        ..FLAG
    },
    RockerOption {
        names: &["--strict-extension-selection"],
        dest: "strict_extension_selection",
        help: "fail when an extension needs one that is not given",
        ..FLAG
    },
];

/// The option `dest` names.
pub fn by_dest(dest: &str) -> Option<&'static RockerOption> {
    OPTIONS.iter().find(|o| o.dest == dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dests_are_unique_and_well_formed() {
        let mut names = std::collections::BTreeSet::new();
        let mut dests = std::collections::BTreeSet::new();
        for o in OPTIONS {
            assert!(dests.insert(o.dest), "{}", o.dest);
            assert!(o.names[0].starts_with("--"), "{:?}", o.names);
            assert_eq!(o.names[0][2..].replace('-', "_"), o.dest, "argparse's dest");
            for n in o.names {
                assert!(names.insert(*n), "{n}");
            }
            assert_eq!(o.nargs == Nargs::Optional, !o.constant.is_empty(), "{}", o.dest);
        }
    }
}
