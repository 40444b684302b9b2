//! User text in messages: shown plainly in backticks when that is safe, else as an escaped string
//! literal, so a value can never break a message's lines or forge one.

/// `text` for a message or a TOML comment: in backticks when it is plain, else as a TOML (and
/// JSON) string literal in which no control character, newline or quote survives.
pub fn shown(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '`' | '"' | '\\' | '#'));
    if plain { format!("`{text}`") } else { quoted(text) }
}

/// Characters that change how a terminal lays text out without showing themselves: line and
/// paragraph separators, bidirectional marks, embeddings, overrides and isolates (U+202E turns
/// the rest of a line around), the byte order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{feff}')
}

/// `text` as one line of a terminal or a Dockerfile comment: every control character, line or
/// paragraph separator, bidirectional override or isolate and byte order mark written as an
/// escape (`\n`, `\u{1b}`), the rest as it is. Text that [`crate::rules::is_one_line_text`]
/// accepts comes back unchanged.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() || is_invisible_format(c);
    if !text.contains(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if bad(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A TOML basic string (also a JSON string) holding `text`, with every control character and
/// line or paragraph separator escaped.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_that_moves_or_hides_text_is_shown_raw() {
        // U+202E turns the rest of a line around; it is written out, as control characters are.
        assert_eq!(shown("evil\u{202e}txt.exe"), "\"evil\\u202Etxt.exe\"");
        assert_eq!(shown("a\u{1b}[2Jb"), "\"a\\u001B[2Jb\"");
        assert_eq!(shown("plain-name"), "`plain-name`");
        assert_eq!(one_line("a\u{2067}b\nc"), "a\\u{2067}b\\nc");
        assert_eq!(one_line("naïve – fine"), "naïve – fine");
    }
}
