//! The template check and the line reader against a model of BuildKit's line reader.
//!
//! `model` restates BuildKit's `Parse` (`frontend/dockerfile/parser/parser.go`) step by step on
//! bytes, with BuildKit's own regular expressions: lines keep their ends until `trimNewline`,
//! comments and directives are found after leading white space, `([^\\])\\[ \t]*$|^\\[ \t]*$`
//! decides a continuation. The properties:
//!
//! - a snippet `check_snippet` accepts, written by `StageWriter` between quarry's lines, reads to
//!   BuildKit as instructions its slot allows, with no heredoc, and quarry's next line is still an
//!   instruction of its own; and it reads as the unwritten snippet does;
//! - `quarry_buildkit::dockerfile::lines::Reader` gives the model's instructions, lines and
//!   directive errors on any text.
//!
//! The lines are drawn from every shape the two readers could disagree on: comments and
//! directives ending in escapes, escaped escapes, white space after the escape (`\v`, `\r`, NBSP),
//! blank and comment lines inside continuations, `<<` anywhere, CRLF and bare `\r`, backtick
//! escapes.

use proptest::prelude::*;
use quarry_buildkit::dockerfile::lines::{Line, Reader};
use quarry_core::StageWriter;
use quarry_core::template::{Slot, check_snippet};

mod model {
    //! BuildKit's `Parse`, restated. Stops at the first instruction that could open a heredoc
    //! (RUN, COPY or ADD whose line holds `<<`): what follows depends on the heredoc's words.

    use regex::bytes::Regex;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Node {
        pub start: usize,
        pub end: usize,
        /// The instruction word, lowercased (BuildKit dispatches on it so).
        pub cmd: String,
        pub line: String,
        pub heredoc: bool,
    }

    struct Directives {
        escape: u8,
        continuation: Regex,
        done: bool,
        seen: Vec<String>,
    }

    impl Directives {
        fn set_escape(&mut self, s: &[u8]) -> Result<(), String> {
            if s != b"`" && s != b"\\" {
                return Err("invalid escape token".to_owned());
            }
            self.escape = s[0];
            let e = regex::escape(std::str::from_utf8(s).unwrap());
            self.continuation = Regex::new(&format!(r"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")).unwrap();
            Ok(())
        }

        /// `DirectiveParser.ParseLine`.
        fn parse_line(&mut self, line: &[u8], at: usize) -> Result<(), (usize, String)> {
            if self.done {
                return Ok(());
            }
            let Some(rest) = line.strip_prefix(b"#") else {
                self.done = true;
                return Ok(());
            };
            let rest = trim_leading_space(rest);
            let re =
                Regex::new(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$").unwrap();
            let Some(m) = re.captures(rest) else {
                self.done = true;
                return Ok(());
            };
            let key = String::from_utf8_lossy(&m[1]).to_lowercase();
            if !["syntax", "escape", "check"].contains(&key.as_str()) {
                self.done = true;
                return Ok(());
            }
            if self.seen.contains(&key) {
                return Err((at, "only one".to_owned()));
            }
            self.seen.push(key.clone());
            if key == "escape" {
                let value = m[2].to_vec();
                self.set_escape(&value).map_err(|e| (at, e))?;
            }
            Ok(())
        }
    }

    fn is_space(c: char) -> bool {
        // Go's unicode.IsSpace.
        matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}')
            || (c as u32 > 0xff && c.is_whitespace())
    }

    fn trim_leading_space(b: &[u8]) -> &[u8] {
        let s = std::str::from_utf8(b).unwrap();
        s.trim_start_matches(is_space).as_bytes()
    }

    fn trim_newline(b: &[u8]) -> &[u8] {
        let mut end = b.len();
        while end > 0 && (b[end - 1] == b'\r' || b[end - 1] == b'\n') {
            end -= 1;
        }
        &b[..end]
    }

    fn is_comment(b: &[u8]) -> bool {
        trim_leading_space(b).first() == Some(&b'#')
    }

    /// `scanLines`: lines with their `\n`.
    fn scan_lines(dt: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = dt;
        while !rest.is_empty() {
            let n = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |i| i + 1);
            out.push(&rest[..n]);
            rest = &rest[n..];
        }
        out
    }

    fn trim_continuation(line: &[u8], d: &Directives) -> (Vec<u8>, bool) {
        if d.continuation.is_match(line) {
            (d.continuation.replace_all(line, &b"$1"[..]).into_owned(), false)
        } else {
            (line.to_vec(), true)
        }
    }

    /// `processLine`.
    fn process_line<'a>(
        d: &mut Directives,
        token: &'a [u8],
        strip: bool,
        at: usize,
    ) -> Result<&'a [u8], (usize, String)> {
        let mut token = trim_newline(token);
        if strip {
            token = trim_leading_space(token);
        }
        d.parse_line(token, at)?;
        Ok(if is_comment(token) { &[] } else { token })
    }

    /// The instructions of `text`, or the line and message of a directive error.
    pub fn parse(text: &str) -> Result<Vec<Node>, (usize, String)> {
        let mut d = Directives {
            escape: b'\\',
            continuation: Regex::new("x").unwrap(),
            done: false,
            seen: Vec::new(),
        };
        d.set_escape(b"\\").unwrap();
        let lines = scan_lines(text.as_bytes());
        let mut nodes = Vec::new();
        let mut current = 0;
        let mut i = 0;
        while i < lines.len() {
            let mut bytes = lines[i];
            i += 1;
            if current == 0 {
                bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
            }
            let token = process_line(&mut d, bytes, true, current + 1)?;
            current += 1;
            let start = current;
            let (mut buf, mut end_of_line) = trim_continuation(token, &d);
            if end_of_line && buf.is_empty() {
                continue;
            }
            while !end_of_line && i < lines.len() {
                let raw = lines[i];
                i += 1;
                let token = process_line(&mut d, raw, false, current + 1)?;
                current += 1;
                if is_comment(raw) {
                    continue;
                }
                if trim_leading_space(trim_newline(token)).is_empty() {
                    continue;
                }
                let (part, eol) = trim_continuation(token, &d);
                buf.extend(part);
                end_of_line = eol;
            }
            let line = String::from_utf8(buf).unwrap();
            let words: Vec<&str> =
                line.trim_matches(is_space).splitn(2, ['\t', '\u{b}', '\u{c}', '\r', ' ']).collect();
            let cmd = words[0].to_lowercase();
            let heredoc = ["run", "copy", "add"].contains(&cmd.as_str()) && line.contains("<<");
            nodes.push(Node { start, end: current, cmd, line, heredoc });
            if heredoc {
                break;
            }
        }
        Ok(nodes)
    }
}

/// Pieces of lines: leading white space, a body, what ends the body, the line end.
const LEADS: &[&str] = &["", "", " ", "\t", "\u{a0}", "\u{b}"];
const BODIES: &[&str] = &[
    "RUN x",
    "RUN y",
    "run z",
    "COPY a b",
    "ENV A=1",
    "WORKDIR /w",
    "LABEL a=b",
    "FROM i",
    "USER u",
    "ARG A",
    "# c",
    "#",
    "# escape=`",
    "# syntax=x",
    "",
    "\\",
    "`",
    "echo <<EOF",
    "<<EOF",
    "<",
    "<<",
    "EOF",
    "RUN cat <",
    "RUN a && b",
    "ONBUILD RUN x",
];
const TAILS: &[&str] =
    &["", "", "", " \\", "\\", "\\\\", " \\ \t", "\\\u{b}", "\\\u{a0}", "\\\r", " `", "\r", " \\\\\\"];
const ENDS: &[&str] = &["\n", "\n", "\n", "\r\n", "\r\r\n"];

fn snippet() -> impl Strategy<Value = String> {
    let line = (
        prop::sample::select(LEADS),
        prop::sample::select(BODIES),
        prop::sample::select(TAILS),
        prop::sample::select(ENDS),
    )
        .prop_map(|(l, b, t, e)| format!("{l}{b}{t}{e}"));
    (prop::collection::vec(line, 0..8), any::<bool>()).prop_map(|(lines, cut)| {
        let mut s = lines.concat();
        if cut {
            // A last line without its line end.
            s = s.trim_end_matches(['\n', '\r']).to_owned();
        }
        s
    })
}

/// quarry's lines around a snippet, as `render` writes them: (file, line of the step after it).
fn written(snippet: &str) -> (String, usize) {
    let mut out = String::from("# Rendered by quarry\nARG CACHE_ID=default\n");
    let mut stage = StageWriter::new(&mut out, "debian", Some("s"));
    stage.snippet(snippet);
    stage.step("USER after");
    let line = out.lines().count();
    (out, line)
}

/// The snippet's instructions as the model reads them: (word, line), `ARG CACHE_ID` left out.
fn between(nodes: &[model::Node]) -> Vec<(String, String)> {
    nodes[2..nodes.len() - 1]
        .iter()
        .filter(|n| n.line != "ARG CACHE_ID")
        .map(|n| (n.cmd.clone(), n.line.trim().to_owned()))
        .collect()
}

fn checked(slot: Slot, snippet: &str) -> Result<(), TestCaseError> {
    if check_snippet(slot, snippet).is_err() {
        return Ok(());
    }
    let allowed: Vec<String> = slot.allowed_instructions().iter().map(|i| i.to_lowercase()).collect();
    let (file, after) = written(snippet);
    let nodes = model::parse(&file).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(nodes.len() >= 3, "{file:?}: {nodes:?}");
    let last = nodes.last().unwrap();
    prop_assert_eq!((last.line.as_str(), last.start), ("USER after", after), "{:?}: {:?}", file, nodes);
    for n in &nodes[2..nodes.len() - 1] {
        prop_assert!(!n.heredoc, "{:?}: {:?}", file, n);
        prop_assert!(allowed.contains(&n.cmd) || n.line == "ARG CACHE_ID", "{:?}: {:?}", file, n);
    }
    // Writing it changed nothing BuildKit reads.
    let raw =
        format!("# Rendered by quarry\nARG CACHE_ID=default\nFROM debian AS s\n{snippet}\nUSER after\n");
    let raw_nodes = model::parse(&raw).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert_eq!(between(&raw_nodes), between(&nodes), "{:?}", snippet);
    Ok(())
}

fn reader_instructions(text: &str) -> Result<Vec<(usize, usize, String)>, usize> {
    let mut out = Vec::new();
    let mut reader = Reader::new(text);
    while let Some(line) = reader.next_line() {
        match line {
            Err(e) => return Err(e.line),
            Ok(Line::Instruction(l)) => {
                let heredoc = ["run", "copy", "add"].contains(&l.keyword().to_lowercase().as_str())
                    && l.text.contains("<<");
                out.push((l.start, l.end, l.text));
                if heredoc {
                    break;
                }
            }
            Ok(_) => {}
        }
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn an_accepted_setup_snippet_is_run_steps_to_buildkit(s in snippet()) {
        checked(Slot::Setup, &s)?;
    }

    #[test]
    fn an_accepted_builder_snippet_is_builder_steps_to_buildkit(s in snippet()) {
        checked(Slot::Builder, &s)?;
    }

    #[test]
    fn the_reader_reads_as_buildkit_does(s in snippet()) {
        let got = reader_instructions(&s);
        let want = model::parse(&s)
            .map(|nodes| nodes.into_iter().map(|n| (n.start, n.end, n.line)).collect::<Vec<_>>())
            .map_err(|(line, _)| line);
        prop_assert_eq!(got, want, "{:?}", s);
    }
}

/// The shapes of issue 23: the check refuses each, and the model shows what BuildKit would
/// have read had it been written.
#[test]
fn the_reported_shapes_are_refused() {
    let label = |nodes: &[model::Node]| nodes.iter().any(|n| n.cmd == "label");
    let heredoc = |nodes: &[model::Node]| nodes.iter().any(|n| n.heredoc);
    let swallowed = |nodes: &[model::Node]| !nodes.iter().any(|n| n.line == "USER after");
    type Shows<'a> = &'a dyn Fn(&[model::Node]) -> bool;
    let cases: [(&str, Shows); 5] = [
        ("RUN true\n# c \\\nLABEL x=1\n", &label),
        ("RUN echo \\\\\nLABEL y=1\n", &label),
        ("RUN a \\\u{a0}\nLABEL y=1\n", &label),
        ("RUN cat \\\n<<EOF\nEOF\n", &heredoc),
        ("RUN a \\\n# c\n", &swallowed),
    ];
    for (snippet, shows) in cases {
        assert!(check_snippet(Slot::Setup, snippet).is_err(), "{snippet:?}");
        let mut out = String::from("FROM debian\n");
        out.push_str(snippet);
        out.push_str("USER after\n");
        assert!(shows(&model::parse(&out).unwrap()), "{snippet:?}");
    }
}
