//! BuildKit's line reader: how the physical lines of a Dockerfile become instructions, comments
//! and parser directives, by the rules of BuildKit's `frontend/dockerfile/parser/parser.go`
//! (read for its rules; this is not a port). The parser reads files with it, and `quarry-core`
//! checks every rendered template with it, so quarry never reads a line otherwise than the engine
//! does.
//!
//! - A line ends at `\n`; every `\r` and `\n` at its end is dropped (CRLF files). A UTF-8 byte
//!   order mark opens a file only.
//! - Parser directives (`# syntax=`, `# escape=`, `# check=`) are `#` lines at the very top,
//!   each at most once; the first other line (a comment, a blank line, an instruction) ends them.
//!   `escape` is `\` or a backtick.
//! - A line whose first character after white space is `#` is a comment, whole: it never
//!   continues, whatever it ends with.
//! - An instruction's first line loses its leading white space. A line continues when it ends
//!   with one escape character that does not follow another, then only spaces and tabs; those are
//!   dropped and the next lines are joined until one does not continue. Inside a continuation,
//!   comment lines and blank lines are skipped.
//! - Heredocs are the caller's: which instruction opens one depends on its words. The body is read
//!   with [`Reader::heredoc`], raw lines up to the terminator.

/// One item of a Dockerfile, as BuildKit reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A parser directive at the top of the file (already applied: [`Reader::escape`]).
    Directive {
        /// 1-based line.
        line: usize,
        /// The key, lowercased: `syntax`, `escape` or `check`.
        key: String,
        /// The value, trimmed.
        value: String,
    },
    /// A comment line between instructions.
    Comment {
        /// 1-based line.
        line: usize,
        /// The physical line, without its line end.
        raw: &'a str,
    },
    /// A line of white space only, between instructions.
    Blank {
        /// 1-based line.
        line: usize,
    },
    /// An instruction: its physical lines and their joined text.
    Instruction(Logical<'a>),
}

/// An instruction's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logical<'a> {
    /// 1-based first line.
    pub start: usize,
    /// 1-based last line.
    pub end: usize,
    /// The joined text BuildKit parses: the first line without its leading white space, each
    /// continued line without the escape character and what follows it, comment and blank lines
    /// inside the continuation left out.
    pub text: String,
    /// The physical lines, without their line ends (comment and blank lines inside included).
    pub raw: Vec<&'a str>,
    /// The text ended while the instruction was still continued: in a larger file, the lines
    /// after it would join it.
    pub continued: bool,
}

impl Logical<'_> {
    /// The instruction word as BuildKit splits it off (on spaces, tabs, `\v`, `\f`, `\r`), as
    /// written: BuildKit compares it case-insensitively.
    pub fn keyword(&self) -> &str {
        split_keyword(&self.text).0
    }

    /// The text after the instruction word, trimmed.
    pub fn rest(&self) -> &str {
        split_keyword(&self.text).1
    }
}

/// The instruction word of a joined line and the rest, trimmed.
fn split_keyword(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.find(is_separator) {
        Some(i) => (&text[..i], text[i..].trim_matches(char::is_whitespace)),
        None => (text, ""),
    }
}

/// What separates the instruction word from its arguments (BuildKit's `[\t\v\f\r ]`).
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// A directive BuildKit refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

/// Reads a Dockerfile's lines in BuildKit's way (see the module documentation).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    escape: char,
    directives_open: bool,
    seen: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A reader of a whole file: a byte order mark is skipped, parser directives are read.
    pub fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Reader { text, pos: 0, line: 0, escape: '\\', directives_open: true, seen: Vec::new() }
    }

    /// A reader of text that stands after other instructions in a file (a template's output):
    /// no directive is read any more, and `escape` is the file's escape character.
    pub fn within(text: &'a str, escape: char) -> Self {
        Reader { text, pos: 0, line: 0, escape, directives_open: false, seen: Vec::new() }
    }

    /// The escape character in force.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Physical lines read so far.
    pub fn lines_read(&self) -> usize {
        self.line
    }

    /// The next physical line, without its line end.
    fn physical(&mut self) -> Option<&'a str> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (line, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        self.line += 1;
        Some(line)
    }

    /// The next item, or `None` at the end of the text.
    pub fn next_line(&mut self) -> Option<Result<Line<'a>, LineError>> {
        let raw = self.physical()?;
        let line = self.line;
        let body = trim_line_end(raw).trim_start_matches(char::is_whitespace);
        if self.directives_open {
            match self.directive(body, line) {
                Ok(Some(found)) => return Some(Ok(found)),
                Ok(None) => self.directives_open = false,
                Err(e) => return Some(Err(e)),
            }
        }
        if body.starts_with('#') {
            return Some(Ok(Line::Comment { line, raw: trim_line_end(raw) }));
        }
        if body.is_empty() {
            return Some(Ok(Line::Blank { line }));
        }
        let mut raws = vec![trim_line_end(raw)];
        let (first, mut continued) = trim_continuation(body, self.escape);
        let mut text = first.to_owned();
        while continued {
            let Some(next) = self.physical() else { break };
            let next = trim_line_end(next);
            raws.push(next);
            let lead = next.trim_start_matches(char::is_whitespace);
            if lead.starts_with('#') || lead.is_empty() {
                continue;
            }
            let (part, more) = trim_continuation(next, self.escape);
            text.push_str(part);
            continued = more;
        }
        Some(Ok(Line::Instruction(Logical { start: line, end: self.line, text, raw: raws, continued })))
    }

    /// A heredoc's body: the raw lines (with their line ends) up to the line that is `name`
    /// (after leading tabs when `chomp`, `<<-`), which is consumed. `None` when the text ends
    /// first.
    pub fn heredoc(&mut self, name: &str, chomp: bool) -> Option<String> {
        let mut body = String::new();
        loop {
            let start = self.pos;
            let line = trim_line_end(self.physical()?);
            let candidate = if chomp { line.trim_start_matches('\t') } else { line };
            if candidate == name {
                return Some(body);
            }
            body.push_str(&self.text[start..self.pos]);
        }
    }

    /// A parser directive on `body` (a line without leading white space), `Ok(None)` when it is
    /// none and directives are over.
    fn directive(&mut self, body: &str, line: usize) -> Result<Option<Line<'a>>, LineError> {
        let Some((key, value)) = directive(body) else { return Ok(None) };
        if self.seen.contains(&key) {
            return Err(LineError {
                line,
                message: format!("only one `{key}` parser directive can be used"),
                hint: "remove the second one".to_owned(),
            });
        }
        if key == "escape" {
            self.escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(LineError {
                        line,
                        message: format!("`escape` must be `\\` or a backtick, not `{value}`"),
                        hint: "write `# escape=\\` or `# escape=`` ` ``, or drop the directive".to_owned(),
                    });
                }
            };
        }
        self.seen.push(key.clone());
        Ok(Some(Line::Directive { line, key, value }))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Line<'a>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_line()
    }
}

/// A line without the `\r`s and `\n`s at its end.
fn trim_line_end(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// `# key = value` with a known key: (key lowercased, value trimmed).
fn directive(body: &str) -> Option<(String, String)> {
    let rest = body.strip_prefix('#')?.trim_start_matches(char::is_whitespace);
    let key_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    // RE2's `\s`: tab, newline, form feed, carriage return, space (not `\v`).
    let re2_space = |c: char| matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ');
    let after = rest[key_len..].trim_start_matches(re2_space).strip_prefix('=')?;
    let mut value = after.trim_matches(re2_space);
    if value.is_empty() {
        // `\s*=\s*(.+?)\s*$` still matches white space alone: the value is its last character.
        value = &after[after.char_indices().last()?.0..];
    }
    let key = key.to_ascii_lowercase();
    ["syntax", "escape", "check"].contains(&key.as_str()).then(|| (key, value.to_owned()))
}

/// `line` without its line continuation, and whether it had one: one `escape` not preceded by
/// another, then only spaces and tabs.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix(escape) {
        Some(head) if !head.ends_with(escape) => (head, true),
        _ => (line, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instructions(text: &str) -> Vec<(usize, usize, String, bool)> {
        Reader::new(text)
            .filter_map(|l| match l.unwrap() {
                Line::Instruction(l) => Some((l.start, l.end, l.text, l.continued)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_comment_never_continues() {
        let got = instructions("FROM a\n# note \\\nLABEL x=1\n  # indented \\\nRUN b\n");
        let texts: Vec<&str> = got.iter().map(|i| i.2.as_str()).collect();
        assert_eq!(texts, ["FROM a", "LABEL x=1", "RUN b"]);
    }

    #[test]
    fn continuations_join_and_skip_comments_and_blank_lines() {
        let got = instructions("RUN a \\\n  # inside \\\n\n   \n  b \\ \t\n  c\nRUN d\n");
        assert_eq!(got[0], (1, 6, "RUN a   b   c".to_owned(), false));
        assert_eq!(got[1].2, "RUN d");
    }

    #[test]
    fn an_escaped_escape_does_not_continue() {
        let got = instructions("RUN echo \\\\\nLABEL y=1\n\\\nRUN z\n");
        let texts: Vec<&str> = got.iter().map(|i| i.2.as_str()).collect();
        // A line that is only the escape continues into the next.
        assert_eq!(texts, ["RUN echo \\\\", "LABEL y=1", "RUN z"]);
    }

    #[test]
    fn only_spaces_and_tabs_may_follow_the_escape() {
        for tail in ["\u{b}", "\u{c}", "\u{a0}", "x"] {
            let text = format!("RUN a \\{tail}\nLABEL x=1\n");
            assert_eq!(instructions(&text).len(), 2, "{tail:?}");
        }
        // `\r` at the end of a line is its line end.
        assert_eq!(instructions("RUN a \\\r\r\nb\r\n").len(), 1);
        assert_eq!(instructions("RUN a \\\r \nb\n").len(), 2);
    }

    #[test]
    fn directives_only_at_the_top() {
        let got: Vec<Line> = Reader::new("\u{feff}# escape=`\n# syntax = x \nRUN a `\n b\n# escape=\\\n")
            .map(Result::unwrap)
            .collect();
        assert!(matches!(&got[0], Line::Directive { key, value, .. } if key == "escape" && value == "`"));
        assert!(matches!(&got[1], Line::Directive { key, value, .. } if key == "syntax" && value == "x"));
        assert!(matches!(&got[2], Line::Instruction(l) if l.text == "RUN a  b"));
        assert!(matches!(&got[3], Line::Comment { line: 5, .. }));
        // After anything else, `# escape=` is a comment.
        let mut within = Reader::within("# escape=`\nRUN a `\nLABEL x=1\n", '\\');
        assert!(matches!(within.next(), Some(Ok(Line::Comment { .. }))));
        assert_eq!(instructions("\n# escape=`\nRUN a `\nLABEL x=1\n").len(), 2);
        let twice = Reader::new("# escape=`\n# escape=`\n").nth(1).unwrap().unwrap_err();
        assert_eq!(
            (twice.line, twice.message.as_str()),
            (2, "only one `escape` parser directive can be used")
        );
        assert!(Reader::new("# escape=x\n").next().unwrap().is_err());
    }

    #[test]
    fn a_continuation_that_meets_the_end_is_marked() {
        assert!(instructions("RUN a \\\n# c\n\n")[0].3);
        assert!(!instructions("RUN a\n")[0].3);
    }

    #[test]
    fn keywords_split_as_buildkit_splits_them() {
        let l =
            |text: &str| Logical { start: 1, end: 1, text: text.to_owned(), raw: vec![], continued: false };
        assert_eq!((l("RUN\u{b}x y").keyword(), l("RUN\u{b}x y").rest()), ("RUN", "x y"));
        assert_eq!(l("RUN\u{a0}x").keyword(), "RUN\u{a0}x");
    }

    #[test]
    fn heredoc_bodies_are_raw_lines() {
        let mut r = Reader::new("RUN <<-EOF\n\techo \\\n# kept\n\tEOF\nRUN b\n");
        let Some(Ok(Line::Instruction(l))) = r.next() else { panic!() };
        assert_eq!(l.text, "RUN <<-EOF");
        assert_eq!(r.heredoc("EOF", true).as_deref(), Some("\techo \\\n# kept\n"));
        assert!(matches!(r.next(), Some(Ok(Line::Instruction(l))) if l.text == "RUN b"));
        assert_eq!(Reader::new("x\n").heredoc("EOF", false), None);
    }
}
