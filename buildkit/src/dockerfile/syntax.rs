//! What a parsed Dockerfile holds: stages, instructions, their flags, bodies and heredocs.

use std::fmt;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives from the top of the file (`syntax`, `escape`, `check`), lowercase keys.
    pub directives: Vec<(String, String)>,
    /// `ARG`s before the first `FROM`: they feed `FROM` lines, and in-stage `ARG NAME` defaults.
    pub global_args: Vec<ArgDecl>,
    /// Stages in file order.
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position in the file.
    pub index: usize,
    /// `AS name`, lowercased as BuildKit compares it.
    pub name: Option<String>,
    /// The image or stage reference as written (before ARG expansion).
    pub base: String,
    /// `--platform=` of the FROM line, if any.
    pub platform: Option<String>,
    /// Line of the `FROM`.
    pub line: usize,
    /// Comment lines right above the `FROM`.
    pub comments: Vec<String>,
    /// The instructions after `FROM`.
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// The name BuildKit prints for the stage: its `AS` name, or `stage-N`.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// An instruction keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
}

impl Keyword {
    const ALL: [(&'static str, Keyword); 18] = [
        ("ADD", Keyword::Add),
        ("ARG", Keyword::Arg),
        ("CMD", Keyword::Cmd),
        ("COPY", Keyword::Copy),
        ("ENTRYPOINT", Keyword::Entrypoint),
        ("ENV", Keyword::Env),
        ("EXPOSE", Keyword::Expose),
        ("FROM", Keyword::From),
        ("HEALTHCHECK", Keyword::Healthcheck),
        ("LABEL", Keyword::Label),
        ("MAINTAINER", Keyword::Maintainer),
        ("ONBUILD", Keyword::Onbuild),
        ("RUN", Keyword::Run),
        ("SHELL", Keyword::Shell),
        ("STOPSIGNAL", Keyword::Stopsignal),
        ("USER", Keyword::User),
        ("VOLUME", Keyword::Volume),
        ("WORKDIR", Keyword::Workdir),
    ];

    pub(super) fn parse(word: &str) -> Option<Keyword> {
        Self::ALL.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|(_, k)| *k)
    }

    /// The keyword in capitals.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| *k == self).map(|(name, _)| *name).unwrap_or("?")
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--name=value` (or bare `--name`) flag of RUN, COPY, ADD or FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Name without the dashes.
    pub name: String,
    /// Value, if written with `=`.
    pub value: Option<String>,
}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word.
    pub name: String,
    /// The body, each line ending in `\n`.
    pub body: String,
}

/// `NAME` or `NAME=value` of an ARG instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// Name.
    pub name: String,
    /// Default, unexpanded.
    pub default: Option<String>,
    /// Line of the ARG.
    pub line: usize,
}

/// What an instruction carries after its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// RUN/CMD/ENTRYPOINT/HEALTHCHECK shell form: the text, continuations joined.
    Shell(String),
    /// JSON (exec) form.
    Exec(Vec<String>),
    /// COPY/ADD sources and destination (unexpanded). A heredoc source is `<<NAME`.
    Copy { sources: Vec<String>, dest: String },
    /// ARG declarations.
    Args(Vec<ArgDecl>),
    /// ENV or LABEL pairs (unexpanded values, quotes removed).
    Pairs(Vec<(String, String)>),
    /// Anything else: the text after the keyword.
    Text(String),
}

/// One instruction after the first `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Line where it starts (1-based).
    pub line: usize,
    /// Keyword.
    pub keyword: Keyword,
    /// Flags in written order.
    pub flags: Vec<Flag>,
    /// Arguments.
    pub body: Body,
    /// Heredoc bodies in written order.
    pub heredocs: Vec<Heredoc>,
    /// The instruction as written on its first line, for display.
    pub first_line: String,
    /// The whole instruction, continuations joined (heredoc bodies not included).
    pub text: String,
    /// Comment lines right above it (without `#`), nearest last.
    pub comments: Vec<String>,
}

impl Instruction {
    /// The value of flag `name` (the last one wins, as in BuildKit), if set.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|f| f.name == name).map(|f| f.value.as_deref().unwrap_or(""))
    }

    /// Every value of a repeatable flag such as `--mount`.
    pub fn flags_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.flags.iter().filter(move |f| f.name == name).map(|f| f.value.as_deref().unwrap_or(""))
    }
}

/// Why a Dockerfile does not parse. `Display` is the line and message; the fix is `hint`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

pub(super) fn error<T>(
    line: usize,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> Result<T, ParseError> {
    Err(ParseError { line, message: message.into(), hint: hint.into() })
}
