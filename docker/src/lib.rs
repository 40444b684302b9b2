//! quarry's docker side: the engine (`engine`, asked through its API where it is a local socket:
//! `api`), the image tag and build contexts (`context`),
//! whether a render's image is built already (`current`),
//! `docker build` and `podman build` (`build`), BuildKit's progress (`progress`) and Buildah's
//! (`buildah`), cache ids (`cache_id`), the shared
//! remote cache (`remote_cache`), `docker run` arguments (`run`) and Podman's conventions for them (`podman_run`), Podman found (`podman`), the X authority
//! cookie (`xauth`)
//! and Ctrl-C during a build (`interrupt`). It depends on `quarry-core` and `quarry-buildkit`
//! alone: what it has to say while it works it hands to its caller as [`Message`]s, which the CLI
//! prints.

pub mod api;
pub mod build;
pub mod buildah;
pub mod cache_id;
pub mod container;
pub mod context;
pub mod current;
pub mod engine;
pub mod interrupt;
pub mod podman;
pub mod podman_run;
pub mod private_dir;
pub mod progress;
pub mod remote_cache;
pub mod run;
pub mod xauth;

use std::path::PathBuf;

/// Something the docker side has to say while it works, for the caller to show (the CLI prints
/// `note:`, `warning:` and, with `--verbose`, `info:` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Worth knowing: what is built, what the remote cache holds.
    Note(String),
    /// Something is missing or lost; the work goes on. Its hint, if any, is printed apart.
    Warning(quarry_core::Hinted),
    /// Detail: the commands run.
    Detail(String),
    /// The engine's own output that a quiet build held back, shown because the build failed:
    /// printed as it is, whatever the level.
    Output(String),
}

/// Where a function sends its [`Message`]s.
pub type Say<'a> = &'a dyn Fn(Message);

/// An XDG base folder: `$<var>` when set and not empty, else `$HOME/<home_dir>`.
pub fn xdg_dir(var: &str, home_dir: &str) -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set(var).or_else(|| set("HOME").map(|h| h.join(home_dir)))
}

#[cfg(test)]
mod tests {
    /// The docker side imports `quarry-core` and `quarry-buildkit` and no other crate of quarry's
    /// (not the CLI).
    #[test]
    fn depends_on_core_and_buildkit_alone() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest.split("\n[dependencies]\n").nth(1).expect("a [dependencies] table");
        let dependencies = dependencies.split("\n[").next().unwrap_or_default();
        let ours: Vec<&str> = dependencies
            .lines()
            .filter_map(|l| l.split([' ', '.', '=']).next())
            .filter(|name| name.starts_with("quarry-"))
            .collect();
        assert_eq!(ours, ["quarry-buildkit", "quarry-core"], "{dependencies}");
    }
}
