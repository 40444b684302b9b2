//! One mistake in an extension's metadata or templates.

use std::fmt;

/// A located mistake: file, line, column, key and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file, relative to the workspace where possible.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The metadata key, dotted (`options.version.default`).
    pub key: String,
    /// The rule's short name (`priority-range`, `template-variable`, ...).
    pub rule: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about a whole file (it is missing or unreadable).
    pub fn whole_file(file: &str, rule: &'static str, message: String) -> Self {
        Diagnostic { file: file.to_owned(), line: 1, column: 1, key: String::new(), rule, message }
    }

    /// A diagnostic at byte `offset` of `text`.
    pub fn at(file: &str, text: &str, offset: usize, key: &str, rule: &'static str, message: String) -> Self {
        let (line, column) = line_column(text, offset);
        Diagnostic { file: file.to_owned(), line, column, key: key.to_owned(), rule, message }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        write!(f, "{} [rule: {}]", self.message, self.rule)
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn positions() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab\ncd", 99), (2, 3));
    }
}
