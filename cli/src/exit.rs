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

/// A user, configuration or build error.
pub const FAILURE: u8 = 1;
/// A malformed command line.
pub const USAGE: u8 = 2;
/// Interrupted by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// Prints `error: ...` (with its causes) to stderr and returns `code`.
pub fn report(error: &anyhow::Error, code: u8) -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    // Each link of the chain: its `hint:` lines go after the whole chain, the rest joins the
    // message with `: `.
    let mut main: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    for link in error.chain() {
        let text = link.to_string();
        let (lines, link_hints): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| !l.starts_with("hint:"));
        if !lines.is_empty() {
            // Indented lines are a list (every mistake of a project extension): each keeps its
            // own line.
            let mut text = String::new();
            for line in lines {
                if line.starts_with("  ") {
                    text.push('\n');
                } else if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(line);
            }
            main.push(text);
        }
        hints.extend(link_hints.iter().map(|h| h.strip_prefix("hint:").unwrap_or(h).to_owned()));
    }
    // An I/O error that carries no hint gets the fix its kind calls for.
    if hints.is_empty()
        && let Some(hint) = error.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).and_then(io_hint)
    {
        hints.push(format!(" {hint}"));
    }
    let _ = writeln!(stderr, "{} {}", crate::ui::error_label(), main.join(": "));
    for text in hints {
        let _ = writeln!(stderr, "{}{text}", crate::ui::hint_label());
    }
    ExitCode::from(code)
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
