//! What analysing one Dockerfile builds up: the modelled vertices, per-stage state, and the
//! walker's inputs. The walk itself is in `walk`, the keys of its steps in `keys`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::options::{ExplainError, MAX_EXPANDED_TOTAL, MAX_EXPANDED_VALUE, Options, Side};
use super::vars::{LogPos, VarLog, Vars};
use crate::dockerfile::{self, Dockerfile, Instruction, Keyword};

/// One modelled vertex: a step, a WORKDIR, a FROM or a link merge.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) key: String,
    /// Chain key of the vertex before it (a linked copy's key leaves it out).
    pub(super) before: String,
    /// Chain key after this node (differs from `key` for linked copies: the merge).
    pub(super) chain: String,
    pub(super) keyword: Keyword,
    pub(super) counted: bool,
    pub(super) linked: bool,
    pub(super) stage: usize,
    pub(super) position: u32,
    pub(super) line: usize,
    pub(super) text: String,
    /// The whole instruction, for saying what changed.
    pub(super) full: String,
    /// The definition without parent, env and content: equal `shape` means "same text".
    pub(super) shape: String,
    /// The shape without a COPY's `--from` name (the shape itself for other steps).
    pub(super) bare: String,
    /// Hash of the ARGs and ENVs in a RUN's environment (0 for other steps).
    pub(super) env: u64,
    /// Where the variables of a RUN can be replayed from, to name what changed.
    pub(super) vars_at: Option<LogPos>,
    pub(super) context: String,
    /// Where copied or mounted content comes from, and its token.
    pub(super) sources: Vec<(String, String)>,
    pub(super) owner: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct StageState {
    pub(super) chain: String,
    pub(super) vars: Vars,
    /// This stage's log of ARG and ENV changes.
    pub(super) log: usize,
    pub(super) workdir: String,
    pub(super) user: String,
    pub(super) shell: Vec<String>,
    /// Token of the stage's content as `COPY --from` sees it.
    pub(super) token: String,
    /// The image at the root of the stage's FROM chain.
    pub(super) root_image: String,
    pub(super) positions: u32,
}

pub(super) struct Analysis {
    pub(super) target: String,
    pub(super) needed: BTreeSet<usize>,
    pub(super) nodes: Vec<Node>,
    pub(super) keys: HashSet<String>,
    /// Keys in `keys` that only earlier builds left ([`Options::cached_keys`]).
    pub(super) earlier: HashSet<String>,
    pub(super) states: BTreeMap<usize, StageState>,
    pub(super) totals: BTreeMap<usize, u32>,
    pub(super) stage_names: Vec<String>,
    /// Stage index by display name.
    pub(super) stage_index: HashMap<String, usize>,
    pub(super) bases: Vec<Base>,
    pub(super) logs: Vec<VarLog>,
    pub(super) copies_from_context: bool,
    pub(super) copies_from_rerun_stage: bool,
    /// Images the needed stages start from or copy from.
    pub(super) images: BTreeSet<String>,
    /// Node index by key (the first node with that key).
    pub(super) by_key: HashMap<String, usize>,
    /// Node indices by the chain key before them (non-linked nodes).
    pub(super) by_before: HashMap<String, Vec<usize>>,
    /// Linked-copy node indices by their shape without the `--from` name.
    pub(super) linked_by_bare: HashMap<String, Vec<usize>>,
}

impl Analysis {
    /// The variables of a RUN, replayed from the logs.
    pub(super) fn run_env(&self, at: Option<LogPos>) -> Vec<(String, String)> {
        let Some(mut at) = at else { return Vec::new() };
        let mut chain = vec![at];
        while let Some(parent) = self.logs[at.0].parent {
            chain.push(parent);
            at = parent;
        }
        let mut vars = Vars::default();
        for (log, len) in chain.into_iter().rev() {
            for op in &self.logs[log].ops[..len] {
                vars.apply(op);
            }
        }
        vars.run_env()
    }

    pub(super) fn index(&mut self) {
        for (i, n) in self.nodes.iter().enumerate() {
            self.by_key.entry(n.key.clone()).or_insert(i);
            if n.linked {
                self.linked_by_bare.entry(n.bare.clone()).or_default().push(i);
            } else {
                self.by_before.entry(n.before.clone()).or_default().push(i);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Base {
    Image(String),
    Stage(usize),
}

/// Stage by reference: an `AS` name (any case), or a number below `before`.
pub(super) fn find_stage(names: &HashMap<String, usize>, reference: &str, before: usize) -> Option<usize> {
    names
        .get(&reference.to_lowercase())
        .copied()
        .filter(|i| *i < before)
        .or_else(|| reference.parse::<usize>().ok().filter(|i| *i < before))
}

/// Why an expansion was refused.
#[derive(Debug, Clone, Copy)]
pub(super) enum TooBig {
    Value,
    Total,
}

impl TooBig {
    pub(super) fn message(self, what: &str) -> String {
        match self {
            TooBig::Value => {
                format!("`{what}` expands to more than {} MiB", MAX_EXPANDED_VALUE >> 20)
            }
            TooBig::Total => format!(
                "`{what}`: the file's ARG and ENV expansions add up to more than {} MiB",
                MAX_EXPANDED_TOTAL >> 20
            ),
        }
    }

    pub(super) fn hint(self) -> &'static str {
        "a value that refers to itself more than once (`ENV A=$A$A`) doubles on every line: \
         build long values in a RUN step or a file instead"
    }
}

/// `dockerfile::expand` within [`MAX_EXPANDED_VALUE`], charged to a file-wide budget.
pub(super) fn expand_capped(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    budget: &mut usize,
) -> Result<String, TooBig> {
    let value = dockerfile::expand_within(text, lookup, MAX_EXPANDED_VALUE).ok_or(TooBig::Value)?;
    *budget = budget.checked_sub(value.len()).ok_or(TooBig::Total)?;
    Ok(value)
}

/// What analysing one stage came to.
pub(super) enum Progress {
    Done,
    /// It needs this stage first (found only while walking it: a mount `from=` built from a
    /// stage's ARG).
    Needs(usize, String, usize),
}

pub(super) struct Walker<'a> {
    pub(super) df: &'a Dockerfile,
    pub(super) side: &'a Side<'a>,
    pub(super) options: &'a Options,
    pub(super) old: Option<&'a Analysis>,
    pub(super) globals: &'a HashMap<String, String>,
    pub(super) by_name: &'a HashMap<String, usize>,
    pub(super) budget: usize,
}

impl Walker<'_> {
    pub(super) fn invalid(&self, line: usize, message: String, hint: &str) -> ExplainError {
        ExplainError::Invalid { origin: self.side.origin.clone(), line, message, hint: hint.to_owned() }
    }

    pub(super) fn expand(
        &mut self,
        text: &str,
        vars: &Vars,
        line: usize,
        what: &str,
    ) -> Result<String, ExplainError> {
        let lookup = |n: &str| vars.get(n);
        expand_capped(text, &lookup, &mut self.budget)
            .map_err(|e| self.invalid(line, e.message(what), e.hint()))
    }

    /// What an image is keyed on: its id when the engine gave one (the old build's own, for the
    /// old side), else its name.
    pub(super) fn content(&self, image: &str) -> String {
        let ids = match (&self.old, &self.options.old_image_ids) {
            (None, Some(old_ids)) => Some(old_ids),
            _ => self.options.image_ids.as_ref(),
        };
        match ids.and_then(|ids| ids.get(image)) {
            Some(id) => format!("id:{id}"),
            None => format!("name:{image}"),
        }
    }

    /// Stage by `--from` reference: a name, or a number.
    pub(super) fn stage_ref(&self, reference: &str) -> Option<usize> {
        find_stage(self.by_name, reference, self.df.stages.len())
    }
}

/// What keying one step came to: `None` when done, else the stage to walk first.
pub(super) type Stepped = Result<Option<Progress>, ExplainError>;

/// The instruction a step comes from, its stage, and its owner in quarry's output.
pub(super) struct Place<'i> {
    pub(super) ins: &'i Instruction,
    pub(super) stage: usize,
    pub(super) owner: Option<String>,
}

/// A step's keys, before it becomes a [`Node`].
pub(super) struct Step {
    pub(super) key: String,
    pub(super) chain: String,
    pub(super) shape: String,
    /// The shape without the `--from` name, for a COPY.
    pub(super) bare: Option<String>,
    /// A RUN's environment hash.
    pub(super) env: Option<u64>,
    pub(super) sources: Vec<(String, String)>,
}
