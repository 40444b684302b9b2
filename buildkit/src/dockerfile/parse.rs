//! Reads Dockerfile text into a [`Dockerfile`]: directives, continuations, flags, heredocs.

use super::lines::{Line, Reader};
use super::syntax::{
    ArgDecl, Body, Dockerfile, Flag, Heredoc, Instruction, Keyword, ParseError, Stage, error,
};
use super::words::{is_name, json_array, pairs, split_word, words};

/// Parses Dockerfile text. Lines are read as BuildKit reads them ([`Reader`]): a leading UTF-8
/// byte order mark is skipped, directives come first, comments never continue.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let mut reader = Reader::new(text);
    let mut directives = Vec::new();
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    // Stage names so far, to find a second stage of one name without a scan per stage.
    let mut names: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some(line) = reader.next_line() {
        let logical = match line.map_err(|e| ParseError { line: e.line, message: e.message, hint: e.hint })? {
            Line::Directive { key, value, .. } => {
                directives.push((key, value));
                continue;
            }
            Line::Blank { .. } => {
                comments.clear();
                continue;
            }
            Line::Comment { raw, .. } => {
                let comment = raw.trim_start().strip_prefix('#').unwrap_or_default();
                comments.push(comment.trim().to_owned());
                continue;
            }
            Line::Instruction(logical) => logical,
        };
        let start = logical.start;
        let first_line = logical.raw[0].trim().to_owned();
        let word = logical.keyword();
        let rest = logical.rest();
        let Some(keyword) = Keyword::parse(word) else {
            return error(
                start,
                format!("unknown instruction `{word}`"),
                "Dockerfile instructions are FROM, RUN, COPY, ADD, ARG, ENV, WORKDIR, USER, ...; a line that continues the one before needs a `\\` at the end of that line",
            );
        };
        let heredocs = if matches!(keyword, Keyword::Run | Keyword::Copy | Keyword::Add) {
            heredocs(&mut reader, rest, start)?
        } else {
            Vec::new()
        };
        let logical_text = logical.text.trim().to_owned();
        let taken = std::mem::take(&mut comments);
        match keyword {
            Keyword::From => {
                let (flags, rest) = flags(rest, start)?;
                let words: Vec<&str> = rest.split_whitespace().collect();
                let (base, name) = match words.as_slice() {
                    [base] => (*base, None),
                    [base, as_, name] if as_.eq_ignore_ascii_case("as") => (*base, Some(name.to_lowercase())),
                    _ => {
                        return error(
                            start,
                            "FROM takes an image and an optional `AS name`",
                            "write `FROM image[:tag] [AS name]`",
                        );
                    }
                };
                if let Some(name) = &name
                    && !names.insert(name.clone())
                {
                    return error(
                        start,
                        format!("two stages are named `{name}`"),
                        "rename one of them: `--from` and `--target` must name exactly one stage",
                    );
                }
                let platform = flags.iter().find(|f| f.name == "platform").and_then(|f| f.value.clone());
                if let Some(f) = flags.iter().find(|f| f.name != "platform") {
                    return error(
                        start,
                        format!("FROM has no flag `--{}`", f.name),
                        "FROM takes only `--platform=...`",
                    );
                }
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    base: base.to_owned(),
                    platform,
                    line: start,
                    comments: taken,
                    instructions: Vec::new(),
                });
            }
            _ => {
                let mut instruction = instruction(keyword, rest, heredocs, start, first_line, taken)?;
                instruction.text = logical_text.clone();
                match stages.last_mut() {
                    Some(stage) => stage.instructions.push(instruction),
                    None => match instruction.body {
                        Body::Args(args) => global_args.extend(args),
                        _ => {
                            return error(
                                start,
                                format!("`{keyword}` before the first FROM"),
                                "only ARG may come before FROM: move it into a stage",
                            );
                        }
                    },
                }
            }
        }
    }
    if stages.is_empty() {
        return error(
            reader.lines_read().max(1),
            "no FROM: a Dockerfile needs at least one stage",
            "start the build with a line such as `FROM debian:bookworm`",
        );
    }
    Ok(Dockerfile { directives, global_args, stages })
}

/// Leading `--flag[=value]` words.
fn flags(mut rest: &str, line: usize) -> Result<(Vec<Flag>, &str), ParseError> {
    let mut out = Vec::new();
    while let Some(flag) = rest.strip_prefix("--") {
        let (word, after) = split_word(flag);
        if word.is_empty() {
            return error(
                line,
                "`--` without a flag name",
                "write the flag as `--name=value`, or remove the `--`",
            );
        }
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(unquote(v))),
            None => (word, None),
        };
        out.push(Flag { name: name.to_lowercase(), value });
        rest = after;
    }
    Ok((out, rest))
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

/// Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`) outside quotes, in order.
fn heredoc_markers(text: &str) -> Vec<(String, bool)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '<' && chars.get(k + 1) == Some(&'<') && chars.get(k + 2) != Some(&'<') => {
                let mut j = k + 2;
                let strip = chars.get(j) == Some(&'-');
                if strip {
                    j += 1;
                }
                let q = chars.get(j).copied().filter(|c| *c == '"' || *c == '\'');
                if q.is_some() {
                    j += 1;
                }
                let start = j;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let closed = match q {
                    Some(q) => chars.get(j) == Some(&q),
                    None => true,
                };
                if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) && closed {
                    out.push((name, strip));
                    k = j + usize::from(q.is_some());
                    continue;
                }
            }
            None => {}
        }
        k += 1;
    }
    out
}

fn heredocs(reader: &mut Reader<'_>, text: &str, start: usize) -> Result<Vec<Heredoc>, ParseError> {
    let mut out = Vec::new();
    for (name, strip) in heredoc_markers(text) {
        let Some(raw) = reader.heredoc(&name, strip) else {
            return error(
                start,
                format!("heredoc `<<{name}` is never closed"),
                format!("end it with a line holding only `{name}`"),
            );
        };
        let body =
            if strip { raw.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect() } else { raw };
        out.push(Heredoc { name, body });
    }
    Ok(out)
}

fn instruction(
    keyword: Keyword,
    rest: &str,
    heredocs: Vec<Heredoc>,
    line: usize,
    first_line: String,
    comments: Vec<String>,
) -> Result<Instruction, ParseError> {
    let (flags, rest) = match keyword {
        Keyword::Run | Keyword::Copy | Keyword::Add | Keyword::Healthcheck => flags(rest, line)?,
        _ => (Vec::new(), rest),
    };
    let body = match keyword {
        Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Healthcheck | Keyword::Shell => {
            match json_array(rest) {
                Some(words) => Body::Exec(words),
                None if keyword == Keyword::Shell => {
                    return error(
                        line,
                        "SHELL needs the JSON form",
                        "write it as a JSON array, e.g. `SHELL [\"/bin/bash\", \"-c\"]`",
                    );
                }
                None => {
                    if keyword == Keyword::Run && rest.trim().is_empty() {
                        return error(
                            line,
                            "RUN without a command",
                            "add the command to run, or remove the line",
                        );
                    }
                    Body::Shell(rest.to_owned())
                }
            }
        }
        Keyword::Copy | Keyword::Add => {
            let words =
                json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(str::to_owned).collect());
            let Some((dest, sources)) = words.split_last() else {
                return error(
                    line,
                    format!("{keyword} needs a source and a destination"),
                    format!("write `{keyword} SOURCE... DEST`"),
                );
            };
            if sources.is_empty() {
                return error(
                    line,
                    format!("{keyword} needs a source and a destination"),
                    format!("write `{keyword} SOURCE... DEST`"),
                );
            }
            Body::Copy { sources: sources.to_vec(), dest: dest.clone() }
        }
        Keyword::Arg => {
            let mut args = Vec::new();
            for word in words(rest, line)? {
                let (name, default) = match word.split_once('=') {
                    Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
                    None => (word.clone(), None),
                };
                if !is_name(&name) {
                    return error(
                        line,
                        format!("`{name}` is not an ARG name"),
                        "ARG names are letters, digits and `_`, not starting with a digit",
                    );
                }
                args.push(ArgDecl { name, default, line });
            }
            if args.is_empty() {
                return error(line, "ARG without a name", "write `ARG NAME` or `ARG NAME=default`");
            }
            Body::Args(args)
        }
        Keyword::Env | Keyword::Label => Body::Pairs(pairs(keyword, rest, line)?),
        Keyword::Workdir | Keyword::User if rest.trim().is_empty() => {
            return error(
                line,
                format!("{keyword} needs a value"),
                format!("write `{keyword} VALUE`, or remove the line"),
            );
        }
        _ => Body::Text(rest.trim().to_owned()),
    };
    Ok(Instruction { line, keyword, flags, body, heredocs, first_line, text: String::new(), comments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_global_args_stages_and_comments() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n# escape=\\\nARG BASE=debian:bookworm\n\n# tool: builder\nFROM ${BASE} AS Tool\nARG V=1 W\n# step\nRUN echo $V \\\n  # inside\n  && true\nFROM scratch\nCOPY --link --from=tool /a /b\n",
        )
        .unwrap();
        assert_eq!(
            df.directives,
            [("syntax".into(), "docker/dockerfile:1".into()), ("escape".into(), "\\".into())]
        );
        assert_eq!(df.global_args[0].name, "BASE");
        assert_eq!(df.stages[0].name.as_deref(), Some("tool"));
        assert_eq!(df.stages[0].comments, ["tool: builder"]);
        let run = &df.stages[0].instructions[1];
        assert_eq!(run.line, 9);
        assert_eq!(run.comments, ["step"]);
        assert_eq!(run.body, Body::Shell("echo $V   && true".into()));
        let copy = &df.stages[1].instructions[0];
        assert_eq!(copy.flag("from"), Some("tool"));
        assert_eq!(copy.flag("link"), Some(""));
        assert_eq!(copy.body, Body::Copy { sources: vec!["/a".into()], dest: "/b".into() });
    }

    #[test]
    fn heredocs_and_exec_forms() {
        let df = parse(
            "FROM scratch\nRUN <<EOF bash\necho \"<<no\"\nEOF\nCOPY <<-\"A\" <<B /dest/\n\tone\n\tA\ntwo\nB\nCMD [\"a\", \"b c\"]\nRUN [\"/bin/true\"]\n",
        )
        .unwrap();
        let i = &df.stages[0].instructions;
        assert_eq!(i[0].heredocs, [Heredoc { name: "EOF".into(), body: "echo \"<<no\"\n".into() }]);
        assert_eq!(i[1].heredocs.len(), 2);
        assert_eq!(i[1].heredocs[0].body, "one\n");
        assert_eq!(i[1].heredocs[1].body, "two\n");
        assert_eq!(i[2].body, Body::Exec(vec!["a".into(), "b c".into()]));
        assert_eq!(i[3].line, 11);
    }

    #[test]
    fn backtick_escape() {
        let df = parse("# escape=`\nFROM scratch\nRUN a `\n b\n").unwrap();
        assert_eq!(df.stages[0].instructions[0].body, Body::Shell("a  b".into()));
    }

    #[test]
    fn env_forms() {
        let df = parse("FROM scratch\nENV A=1 B=\"two words\"\nENV C legacy value\n").unwrap();
        let i = &df.stages[0].instructions;
        assert_eq!(i[0].body, Body::Pairs(vec![("A".into(), "1".into()), ("B".into(), "two words".into())]));
        assert_eq!(i[1].body, Body::Pairs(vec![("C".into(), "legacy value".into())]));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("RUN true\n", "line 1: `RUN` before the first FROM"),
            ("FROM a\nFRM b\n", "line 2: unknown instruction `FRM`"),
            ("FROM a\nRUN <<EOF\nx\n", "line 2: heredoc `<<EOF` is never closed"),
            ("# only a comment\n", "line 1: no FROM"),
            ("FROM a AS x\nFROM b AS x\n", "line 2: two stages are named `x`"),
            ("FROM a\nCOPY /only\n", "line 2: COPY needs a source and a destination"),
            ("FROM a b c d\n", "line 1: FROM takes an image"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err().to_string();
            assert!(got.starts_with(want), "{text:?}: {got}");
        }
    }

    #[test]
    fn every_error_has_a_hint() {
        let cases = [
            "# escape=x\nFROM a\n",
            "FROM a\nFRM b\n",
            "FROM a b c d\n",
            "FROM a AS x\nFROM b AS x\n",
            "FROM --nope a\n",
            "RUN true\n",
            "# only a comment\n",
            "FROM a\nRUN -- x\n",
            "FROM a\nRUN <<EOF\nx\n",
            "FROM a\nSHELL bash\n",
            "FROM a\nRUN\n",
            "FROM a\nCOPY /only\n",
            "FROM a\nADD\n",
            "FROM a\nARG 1x\n",
            "FROM a\nARG \"\"\n",
            "FROM a\nWORKDIR\n",
            "FROM a\nENV A=\"open\n",
            "FROM a\nENV\n",
            "FROM a\nENV A=1 B\n",
            "FROM a\nLABEL =x\n",
        ];
        for text in cases {
            let err = parse(text).unwrap_err();
            assert!(!err.hint.is_empty(), "{text:?}: {err}");
            // The message is one line; the hint is apart from it.
            let shown = err.to_string();
            assert!(!shown.contains('\n') && !shown.contains("hint"), "{text:?}: {shown}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let df = parse("\u{feff}# escape=`\nFROM scratch\nRUN a `\n b\n").unwrap();
        assert_eq!(df.directives, [("escape".to_owned(), "`".to_owned())]);
        assert_eq!(df.stages[0].instructions[0].body, Body::Shell("a  b".into()));
        assert!(parse("\u{feff}FROM scratch\n").is_ok());
    }

    /// Two stages of one name are found with a set, not a scan of the stages before each: 40,000
    /// chained stages took 143 s to explain (debug build), 13 s now.
    #[test]
    fn a_long_chain_of_stages_parses_in_linear_time() {
        let mut text = String::from("FROM scratch AS s0\n");
        for i in 1..40_000 {
            text.push_str(&format!("FROM s{} AS s{i}\nRUN echo {i}\n", i - 1));
        }
        let started = std::time::Instant::now();
        assert_eq!(parse(&text).unwrap().stages.len(), 40_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
        text.push_str("FROM s1 AS S2\n");
        assert!(parse(&text).unwrap_err().message.contains("two stages are named `s2`"));
    }
}
