//! Exit codes, in one place.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | user, configuration or build error (unknown extension, invalid option value, ...) |
//! | 2 | usage error (a malformed command line) |
//! | 130 | interrupted (Ctrl-C) during a build |
//!
//! `quarry run` exits with the container's exit code once the container has run.
//!
//! A broken pipe on stdout is not an error.

use std::io::Write;
use std::process::ExitCode;

use quarry_core::{Hint, Hinted};

/// A user, configuration or build error.
pub const FAILURE: u8 = 1;
/// A malformed command line.
pub const USAGE: u8 = 2;
/// Interrupted by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// Prints `error: ...` (with its causes) to stderr and returns `code`: the message of each link
/// of the chain, joined by `: `, then one `hint:` line per hint the links carry.
pub fn report(error: &anyhow::Error, code: u8) -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{} {}", crate::ui::error_label(), message(error));
    for hint in hints(error) {
        let _ = writeln!(stderr, "{} {hint}", crate::ui::hint_label());
    }
    ExitCode::from(code)
}

/// The message of every link of `error`'s chain, joined by `: `. A link's own lines join with a
/// space, except indented ones: those are a list (every mistake of a project extension), and each
/// keeps its own line.
pub fn message(error: &anyhow::Error) -> String {
    let mut links: Vec<String> = Vec::new();
    for link in error.chain() {
        let mut text = String::new();
        for line in link.to_string().lines() {
            if line.starts_with("  ") {
                text.push('\n');
            } else if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line);
        }
        if !text.is_empty() {
            links.push(text);
        }
    }
    links.join(": ")
}

/// The hints of `error`, outermost first: each link's own, read from its data (never from its
/// text), else the fix an I/O error's kind calls for.
pub fn hints(error: &anyhow::Error) -> Vec<String> {
    // A hint given as anyhow's `context` would be lost: its links are anyhow's own type, which no
    // downcast of a link sees through (see the tests). Such hints go in front with
    // [`HintContext::hint_context`].
    let mut hints: Vec<String> = error.chain().filter_map(hint_of).collect();
    if hints.is_empty()
        && let Some(hint) = error.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).and_then(io_hint)
    {
        hints.push(hint.to_owned());
    }
    hints
}

/// The hint one link of a chain carries, for every type of quarry's that has one.
fn hint_of(link: &(dyn std::error::Error + 'static)) -> Option<String> {
    fn of<T: Hint + std::error::Error + 'static>(
        link: &(dyn std::error::Error + 'static),
    ) -> Option<Option<String>> {
        link.downcast_ref::<T>().map(Hint::hint)
    }
    of::<Hinted>(link)
        .or_else(|| of::<Because>(link))
        .or_else(|| of::<quarry_core::Error>(link))
        .or_else(|| of::<quarry_core::DuplicateExtension>(link))
        .or_else(|| of::<quarry_buildkit::dockerfile::ParseError>(link))
        .or_else(|| of::<quarry_buildkit::explain::ExplainError>(link))
        .or_else(|| of::<quarry_docker::engine::EngineError>(link))
        .or_else(|| of::<quarry_docker::cache_id::InvalidCacheId>(link))
        .or_else(|| of::<quarry_docker::remote_cache::ProbeError>(link))
        .or_else(|| of::<quarry_docker::run::RunError>(link))
        .or_else(|| of::<quarry_docker::private_dir::PrivateDirError>(link))
        .or_else(|| of::<quarry_docker::interrupt::Interrupted>(link))
        .or_else(|| of::<crate::config::ConfigError>(link))
        .or_else(|| of::<quarry_codegen::files::ReadError>(link))
        .flatten()
}

/// A hinted message put in front of an error, as `anyhow`'s `context` does, but as a link of our
/// own, whose hint [`hints`] can read wherever it sits in the chain.
#[derive(Debug)]
pub struct Because {
    hinted: Hinted,
    source: anyhow::Error,
}

impl std::fmt::Display for Because {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.hinted.fmt(f)
    }
}

impl std::error::Error for Because {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

impl Hint for Because {
    fn hint(&self) -> Option<String> {
        self.hinted.hint()
    }
}

/// `context` with a hint: `.hint_context(|| Hinted::new(message, hint))`.
pub trait HintContext<T> {
    /// Puts the hinted message in front of the error.
    fn hint_context(self, hinted: impl FnOnce() -> Hinted) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintContext<T> for Result<T, E> {
    fn hint_context(self, hinted: impl FnOnce() -> Hinted) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(Because { hinted: hinted(), source: e.into() }))
    }
}

/// The fix for an I/O error of this kind, where there is one.
fn io_hint(e: &std::io::Error) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match e.kind() {
        K::NotFound => "check the path: the file or a folder on the way to it does not exist",
        K::PermissionDenied => "check the permissions of the file and of the folders on the way to it",
        K::AlreadyExists => "remove or rename what is in the way, or choose another path",
        K::IsADirectory => "name a file inside the folder, not the folder itself",
        K::NotADirectory => "a part of the path that should be a folder is a file: check the path",
        K::ReadOnlyFilesystem => "the file system is read-only: choose a path on a writable one",
        K::StorageFull | K::QuotaExceeded => "free some disk space (or raise the quota), then try again",
        K::InvalidData => "the file is not UTF-8 text: convert it, or name the right file",
        K::Interrupted | K::TimedOut | K::WouldBlock => "try again",
        K::BrokenPipe | K::ConnectionRefused | K::ConnectionReset => {
            "check that the other side is running, then try again"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn messages_and_hints_come_from_data() {
        // A hinted error under a plain context: the message joins both, the hint is the data's.
        let inner = anyhow::Error::new(Hinted::new("`x` is a folder", "name a file to write"));
        let e = inner.context("cannot write `x`");
        assert_eq!(message(&e), "cannot write `x`: `x` is a folder");
        assert_eq!(hints(&e), ["name a file to write"]);
        // Library errors carry theirs: quarry_core's, the docker side's, the configuration's.
        let e = anyhow::Error::new(quarry_core::Error::NothingSelected);
        assert_eq!(message(&e), "no extension selected");
        assert_eq!(hints(&e), ["select at least one, e.g. `--curl`; `quarry list` shows them all"]);
        let e = anyhow::Error::new(quarry_docker::engine::EngineError::TooOld("19.03".into()));
        assert_eq!(hints(&e), ["quarry needs Docker 20.10 or newer (BuildKit cache mounts)"]);
        let config = crate::config::ConfigError {
            path: "quarry.toml".into(),
            line: 2,
            column: 3,
            message: "unknown extension `crul`".into(),
            hint: "did you mean `curl`?".into(),
        };
        let e = anyhow::Error::new(config);
        assert_eq!(message(&e), "quarry.toml:2:3: unknown extension `crul`");
        assert_eq!(hints(&e), ["did you mean `curl`?"]);
        // A message's text is never searched for a hint.
        let e = anyhow::anyhow!("a line\nhint: not one");
        assert_eq!(message(&e), "a line hint: not one");
        assert!(hints(&e).is_empty());
        // Indented lines are a list and keep their lines.
        let e = anyhow::Error::new(Hinted::new("`x` is not valid:\n  a: wrong\n  b: wrong", "fix them"));
        assert_eq!(message(&e), "`x` is not valid:\n  a: wrong\n  b: wrong");
    }

    #[test]
    fn hinted_contexts_are_links_of_their_own() {
        let io = || Err::<(), _>(std::io::Error::from(std::io::ErrorKind::NotFound));
        // anyhow's `context` with a `Hinted`: its link is anyhow's own type, so a downcast of the
        // link does not find the hint (only `anyhow::Error::downcast_ref` does, and that one
        // also looks through to inner errors, so it cannot tell which link holds what).
        let e = io().context(Hinted::new("cannot read `a`", "name an existing file")).unwrap_err();
        assert!(e.chain().next().unwrap().downcast_ref::<Hinted>().is_none());
        assert!(e.downcast_ref::<Hinted>().is_some());
        // `hint_context` makes a link that is found wherever it sits, with its source after it.
        let e = io()
            .hint_context(|| Hinted::new("cannot read `a`", "name an existing file"))
            .context("cannot import")
            .unwrap_err();
        assert_eq!(
            message(&e),
            format!("cannot import: cannot read `a`: {}", std::io::Error::from(std::io::ErrorKind::NotFound))
        );
        assert_eq!(hints(&e), ["name an existing file"]);
        // Without a hint of its own, an I/O error gets its kind's.
        let e = io().context("cannot read `a`").unwrap_err();
        assert_eq!(hints(&e), ["check the path: the file or a folder on the way to it does not exist"]);
    }

    #[test]
    fn io_errors_get_a_hint_unless_they_have_one() {
        let e =
            anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound)).context("cannot read `x`");
        let mut chain = String::new();
        for c in e.chain() {
            chain.push_str(&c.to_string());
        }
        assert!(!chain.contains("hint"));
        assert_eq!(
            io_hint(e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).unwrap()),
            Some("check the path: the file or a folder on the way to it does not exist")
        );
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(io_hint(&full).unwrap().starts_with("free some disk space"));
    }
}
