//! ARG and ENV substitution as the Dockerfile frontend does it, and the names a text refers to.

/// Expands `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}` and
/// `${NAME+word}` the way the Dockerfile frontend does for FROM, COPY, ENV, WORKDIR, ... .
/// `lookup` returns `None` for an unset variable. `\$` is a literal dollar.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    expand_within(text, lookup, usize::MAX).unwrap_or_default()
}

/// [`expand`], or `None` as soon as the result would be longer than `limit` bytes: a value that
/// doubles on every line (`ENV A=$A$A`) is refused before it takes the memory.
pub fn expand_within(text: &str, lookup: &dyn Fn(&str) -> Option<String>, limit: usize) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut k = 0;
    while k < chars.len() {
        if out.len() > limit {
            return None;
        }
        let c = chars[k];
        if c == '\\' && chars.get(k + 1) == Some(&'$') {
            out.push('$');
            k += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            k += 1;
            continue;
        }
        if chars.get(k + 1) == Some(&'{') {
            let Some(close) = chars[k + 2..].iter().position(|c| *c == '}') else {
                out.extend(&chars[k..]);
                break;
            };
            let inner: String = chars[k + 2..k + 2 + close].iter().collect();
            k += close + 3;
            let name_len = inner.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').count();
            let (name, op) = inner.split_at(name_len);
            let value = lookup(name);
            let expanded = match op {
                "" => value.unwrap_or_default(),
                _ if op.starts_with(":-") => match value.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => expand_within(&op[2..], lookup, limit)?,
                },
                _ if op.starts_with('-') => match value {
                    Some(v) => v,
                    None => expand_within(&op[1..], lookup, limit)?,
                },
                _ if op.starts_with(":+") => {
                    if value.is_some_and(|v| !v.is_empty()) {
                        expand_within(&op[2..], lookup, limit)?
                    } else {
                        String::new()
                    }
                }
                _ if op.starts_with('+') => {
                    if value.is_some() {
                        expand_within(&op[1..], lookup, limit)?
                    } else {
                        String::new()
                    }
                }
                _ => format!("${{{inner}}}"),
            };
            out.push_str(&expanded);
            continue;
        }
        let len = chars[k + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
        if len == 0 {
            out.push('$');
            k += 1;
            continue;
        }
        let name: String = chars[k + 1..k + 1 + len].iter().collect();
        out.push_str(&lookup(&name).unwrap_or_default());
        k += 1 + len;
    }
    (out.len() <= limit).then_some(out)
}

/// Whether `text` refers to variable `name` (`$name` or `${name...}`).
pub fn mentions(text: &str, name: &str) -> bool {
    let mut names = std::collections::HashSet::new();
    referenced(text, &mut names);
    names.contains(name)
}

/// Adds every variable `text` refers to (`$NAME`, `${NAME...}`) to `names`, in one pass.
pub fn referenced(text: &str, names: &mut std::collections::HashSet<String>) {
    for (at, _) in text.match_indices('$') {
        let after = &text[at + 1..];
        let after = after.strip_prefix('{').unwrap_or(after);
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if len > 0 {
            names.insert(after[..len].to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let lookup = |n: &str| match n {
            "A" => Some("x".to_owned()),
            "E" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            expand("$A/${A}/${B:-d}/${E:-d}/${E-d}/${A:+y}/${B+y}/\\$A/$", &lookup),
            "x/x/d/d//y//$A/$"
        );
        assert!(mentions("id=apt-${CACHE_ID},x", "CACHE_ID"));
        assert!(mentions("echo $V", "V"));
        assert!(!mentions("echo $VV", "V"));
    }
}
