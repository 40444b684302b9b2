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
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        message.push_str(&format!(": {cause}"));
    }
    // Put a `hint:` of a cause after the whole chain.
    let (main, hints): (Vec<&str>, Vec<&str>) = message.lines().partition(|l| !l.starts_with("hint:"));
    let _ = writeln!(stderr, "{} {}", crate::ui::error_label(), main.join(" "));
    for hint in hints {
        let text = hint.strip_prefix("hint:").unwrap_or(hint);
        let _ = writeln!(stderr, "{}{text}", crate::ui::hint_label());
    }
    ExitCode::from(code)
}
