//! Hints as data: a message and, apart from it, the fix for it.
//!
//! quarry's errors and warnings are one line naming the thing in backticks and, where a fix
//! exists, a hint saying what to do. The two travel apart: an error's `Display` is its message
//! alone, and its [`Hint`] is asked for separately, so that whoever prints it (the CLI's
//! `error:` and `hint:` lines) never has to find a hint in a message's text.

/// A message with the fix for it, where one exists: an error or a warning built from text.
///
/// Its `Display` is the message alone; the hint is [`Hinted::hint`] (also through [`Hint`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    /// What is wrong, one line (a list below it is indented by two spaces).
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Hinted {
    /// A message and its fix.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { message: message.into(), hint: Some(hint.into()) }
    }

    /// A message without a fix.
    pub fn plain(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None }
    }
}

impl From<String> for Hinted {
    fn from(message: String) -> Self {
        Self::plain(message)
    }
}

impl From<&str> for Hinted {
    fn from(message: &str) -> Self {
        Self::plain(message)
    }
}

/// An error (or warning) that may know its fix. Its `Display` is the message without the fix.
pub trait Hint {
    /// The fix, one line without the `hint:` label, where one exists.
    fn hint(&self) -> Option<String>;
}

impl Hint for Hinted {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

impl Hint for quarry_buildkit::dockerfile::ParseError {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
}

impl Hint for quarry_buildkit::explain::ExplainError {
    fn hint(&self) -> Option<String> {
        quarry_buildkit::explain::ExplainError::hint(self)
    }
}
