//! A Dockerfile parser for cache analysis: any Dockerfile, not only quarry's.
//!
//! It keeps what decides BuildKit's cache keys (instructions, flags, heredoc bodies, ARG and ENV
//! declarations, stage structure) and the comments right above each instruction, which name the
//! owning extension in quarry's output. It handles parser directives (`# escape=`), ARGs before
//! the first FROM, line continuations with comments inside, JSON (exec) forms and heredocs.
//!
//! `syntax` holds what a parsed file is, `parse` reads a file into it (with `words` for the
//! shell-like and JSON words of an instruction), and `expand` does ARG and ENV substitution.

mod expand;
pub mod lines;
mod parse;
mod syntax;
mod words;

pub use expand::{expand, expand_within, mentions, referenced};
pub use parse::parse;
pub use syntax::{ArgDecl, Body, Dockerfile, Flag, Heredoc, Instruction, Keyword, ParseError, Stage};
