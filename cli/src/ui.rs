//! Messages on stderr: `note:` and `warning:` lines that `--quiet` silences and `--verbose`
//! extends, coloured only when stderr is a terminal and `NO_COLOR` is not set; the docker side's
//! [`quarry_docker::Message`]s are printed here too.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};

pub use quarry_core::text::{quoted, shown};

/// How much to say: 0 quiet, 1 normal, 2 verbose.
static LEVEL: AtomicU8 = AtomicU8::new(1);

/// Sets the level from `--quiet` / `--verbose`.
pub fn set_level(quiet: bool, verbose: bool) {
    LEVEL.store(
        if quiet {
            0
        } else if verbose {
            2
        } else {
            1
        },
        Ordering::Relaxed,
    );
}

/// Whether `--quiet` was given: the engine's progress is held back unless a build fails.
pub fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) == 0
}

/// Whether `--verbose` was given.
pub fn verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) >= 2
}

/// Whether stderr gets colour: a terminal, and `NO_COLOR` unset or empty.
pub fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn styled(label: &str, code: &str) -> String {
    if colour() { format!("\x1b[{code}m{label}\x1b[0m") } else { label.to_owned() }
}

fn say(min: u8, label: &str, code: &str, message: &str) {
    if LEVEL.load(Ordering::Relaxed) >= min {
        let _ = writeln!(std::io::stderr().lock(), "{} {message}", styled(label, code));
    }
}

/// A `note:` (silenced by `--quiet`).
pub fn note(message: &str) {
    say(1, "note:", "1;36", message);
}

/// A `warning:` (silenced by `--quiet`).
pub fn warning(message: &str) {
    say(1, "warning:", "1;33", message);
}

/// A `warning:` and, on a line of its own, its `hint:` (silenced by `--quiet`). The hint's label
/// is plain, as it has always been after a warning.
pub fn warning_with_hint(warning: &quarry_core::Hinted) {
    say(1, "warning:", "1;33", &warning.message);
    if let Some(hint) = &warning.hint
        && LEVEL.load(Ordering::Relaxed) >= 1
    {
        let _ = writeln!(std::io::stderr().lock(), "hint: {hint}"); // tidy: the label
    }
}

/// A line only `--verbose` shows.
pub fn detail(message: &str) {
    say(2, "info:", "1;34", message);
}

/// Prints what the docker side says: a note, a warning, or a line only `--verbose` shows.
pub fn show(message: quarry_docker::Message) {
    match message {
        quarry_docker::Message::Note(m) => note(&m),
        quarry_docker::Message::Warning(m) => warning_with_hint(&m),
        quarry_docker::Message::Detail(m) => detail(&m),
        quarry_docker::Message::Output(m) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", m.trim_end());
        }
    }
}

/// The `error:` label.
pub fn error_label() -> String {
    styled("error:", "1;31")
}

/// The `hint:` label.
pub fn hint_label() -> String {
    styled("hint:", "1;32") // tidy: the label
}
