//! What an explanation is asked for (the two sides, the engine model, what the caller knows)
//! and why it can be refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::dockerfile;

/// What the engine's cache model is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// Docker 23+ (BuildKit 0.13 here) with the containerd image store: `COPY --link` is
    /// independent of the layers before it.
    #[default]
    Containerd,
    /// Docker 23+ with the classic (graph driver) store: `COPY --link` is a plain COPY.
    Classic,
    /// Docker 20.10 (BuildKit 0.8): no `COPY --link`; cache-mount ids and sharing are in the key.
    Legacy,
}

impl Store {
    /// How the engine is called on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Containerd => "containerd",
            Store::Classic => "classic",
            Store::Legacy => "legacy",
        }
    }
}

/// One side (old or new) of an explanation.
#[derive(Debug, Clone, Default)]
pub struct Side<'a> {
    /// Dockerfile text.
    pub text: &'a str,
    /// Where it came from, for messages.
    pub origin: String,
    /// `--build-arg` values of that build.
    pub build_args: BTreeMap<String, String>,
}

/// How to explain.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Engine model.
    pub store: Store,
    /// Target stage of both builds (default: the last stage).
    pub target: Option<String>,
    /// Stages whose output is byte-identical when they run again (reproducible builders).
    pub same_output: BTreeSet<String>,
    /// Build-context paths whose content changed between the builds.
    pub changed_context: Vec<String>,
    /// The image id of each image the files name (by [`crate::image::normalize`]d name), from the
    /// engine: BuildKit keys FROM and `COPY --from=<image>` on the image's content, so two
    /// tags of one image are the same. `None`: no engine answered, images are compared by name.
    pub image_ids: Option<BTreeMap<String, String>>,
    /// The image ids the old build used, where they differ from [`Options::image_ids`] (a tag
    /// that moved between the builds); `None`: the old build used `image_ids` too.
    pub old_image_ids: Option<BTreeMap<String, String>>,
    /// Keys of earlier builds whose layers the cache may still hold besides the old build's
    /// ([`super::Explanation::keys`] of each): a step whose key is among them is reused.
    pub cached_keys: BTreeSet<String>,
}

/// Why there is no explanation. `Display` is the message; [`ExplainError::hint`] the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// A Dockerfile does not parse.
    #[error("{origin}: {error}")]
    Parse {
        /// File.
        origin: String,
        /// Parser error.
        error: dockerfile::ParseError,
    },
    /// The target stage does not exist.
    #[error("{origin}: no stage named `{target}`")]
    NoTarget {
        /// File.
        origin: String,
        /// Requested target.
        target: String,
        /// Known stages, listed.
        stages: String,
    },
    /// The Dockerfile cannot build on the chosen engine, or refers to itself.
    #[error("{origin}: line {line}: {message}")]
    Invalid {
        /// File.
        origin: String,
        /// Line.
        line: usize,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
}

impl ExplainError {
    /// The fix: the parser's hint, the stages there are, or how to make the file build.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Parse { error, .. } => error.hint.clone(),
            Self::NoTarget { stages, .. } => format!("stages are {stages}"),
            Self::Invalid { hint, .. } => hint.clone(),
        })
    }
}

/// Largest value one expansion (an ARG default, an ENV value, a path, a mount) may produce.
pub const MAX_EXPANDED_VALUE: usize = 1 << 20;
/// Largest total of all expansions in one Dockerfile.
pub const MAX_EXPANDED_TOTAL: usize = 64 << 20;
