//! The words of an instruction: names, JSON arrays, shell-like words and `NAME=value` pairs.

use super::syntax::{Keyword, ParseError, error};

pub(super) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn json_array(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    if !text.starts_with('[') {
        return None;
    }
    serde_json_lite(text)
}

/// A JSON array of strings, the only JSON a Dockerfile holds.
fn serde_json_lite(text: &str) -> Option<Vec<String>> {
    let mut chars = text.chars().peekable();
    let mut out = Vec::new();
    if chars.next() != Some('[') {
        return None;
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next()? {
            ']' if out.is_empty() => break,
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'u' => {
                                let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                                s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                            }
                            c => s.push(c),
                        },
                        c => s.push(c),
                    }
                }
                out.push(s);
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                match chars.next()? {
                    ',' => {}
                    ']' => break,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    chars.all(char::is_whitespace).then_some(out)
}

/// Shell-like words: whitespace splits, quotes group, backslash escapes (outside single quotes).
pub(super) fn words(text: &str, line: usize) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return error(line, "a quote is never closed", "close it, or escape it with `\\`");
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

pub(super) fn pairs(keyword: Keyword, rest: &str, line: usize) -> Result<Vec<(String, String)>, ParseError> {
    let first = rest.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        // Legacy `ENV NAME value with spaces`.
        let (name, value) = split_word(rest);
        if name.is_empty() {
            return error(
                line,
                format!("{keyword} needs NAME=value"),
                format!("write `{keyword} NAME=value`"),
            );
        }
        return Ok(vec![(name.to_owned(), value.trim().to_owned())]);
    }
    let mut out = Vec::new();
    for word in words(rest, line)? {
        let Some((name, value)) = word.split_once('=') else {
            return error(
                line,
                format!("{keyword}: `{word}` is not NAME=value"),
                "write every entry as NAME=value; quote values with spaces",
            );
        };
        if name.is_empty() {
            return error(
                line,
                format!("{keyword}: `{word}` has no name"),
                "write every entry as NAME=value",
            );
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// The first word and the rest, trimmed.
pub(super) fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim_start()),
        None => (text, ""),
    }
}
