//! Predicts which steps of a new Dockerfile BuildKit takes from the cache an old one left, and why.
//!
//! The model follows the measured rules in `shared/buildkit-cache-facts.md`. Each step gets a key
//! built the way BuildKit builds its cache keys: the step's definition (text, the ARGs and ENVs in
//! its environment, WORKDIR, USER, SHELL, cache-mount options that count on the engine) on top of
//! the key of the step before it. `COPY --from` is keyed on the copied stage's content instead of
//! its definition, and `COPY --link` on the containerd image store leaves out the layers before it.
//! A step of the new file is reused exactly when the old build produced a step with the same key.
//! A stage that runs again is assumed to produce different bytes unless the caller says otherwise.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::dockerfile::{self, Body, Dockerfile, Instruction, Keyword, Stage};

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
    /// The image id of each image the files name (by [`normalize_image`]d name), from the
    /// engine: BuildKit keys FROM and `COPY --from=<image>` on the image's content, so two
    /// tags of one image are the same. `None`: no engine answered, images are compared by name.
    pub image_ids: Option<BTreeMap<String, String>>,
}

/// Why a step is reused or runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Same key as a step of the old build.
    Unchanged,
    /// A linked copy after changed layers (containerd store): the copy is cached, its merge onto
    /// the new layers runs. The engine counts it as run; it is cheap.
    LinkedCopy,
    /// The stage's FROM changed (another image, or a stage it builds on ran again).
    FromChanged,
    /// The instruction's text (or WORKDIR, USER, SHELL around it) changed.
    InstructionChanged,
    /// An ARG or ENV in scope changed.
    ArgEnvChanged,
    /// An earlier step in this stage ran again.
    EarlierStepRan,
    /// The copied (or mounted) stage ran again and its content is assumed to change.
    CopiedStageChanged,
    /// It copies from another image than the old build did (another image id, or name).
    CopiedImageChanged,
    /// Files it copies from the build context changed.
    ContextChanged,
    /// The step did not exist in the old build.
    NewStep,
}

impl Reason {
    /// The reason in words.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Unchanged => "unchanged",
            Reason::LinkedCopy => "linked copy: only its merge runs",
            Reason::FromChanged => "FROM changed",
            Reason::InstructionChanged => "instruction text changed",
            Reason::ArgEnvChanged => "an ARG or ENV in scope changed",
            Reason::EarlierStepRan => "an earlier step in this stage ran again",
            Reason::CopiedStageChanged => "the copied stage's content changed",
            Reason::CopiedImageChanged => "the copied image changed",
            Reason::ContextChanged => "files from the build context changed",
            Reason::NewStep => "new step",
        }
    }
}

/// The prediction for one RUN, COPY or ADD step of the new Dockerfile.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Stage name as BuildKit prints it.
    pub stage: String,
    /// Position in the stage as BuildKit numbers it (`[stage 3/7]`: FROM is 1).
    pub position: u32,
    /// Number of numbered instructions of the stage.
    pub stage_steps: u32,
    /// Line in the new Dockerfile.
    pub line: usize,
    /// `RUN`, `COPY` or `ADD`.
    pub instruction: String,
    /// The first line of the instruction.
    pub text: String,
    /// The extension that owns the step, in quarry's Dockerfiles.
    pub extension: Option<String>,
    /// Whether BuildKit takes it from the cache, as the engine counts it: a linked copy after
    /// changed layers is not (its merge runs), see `linked_copy_cached`.
    pub reused: bool,
    /// A linked copy whose copy is cached while its merge onto changed layers runs (containerd
    /// store): not reused as the engine counts, but cheap.
    pub linked_copy_cached: bool,
    /// Why.
    pub reason: Reason,
    /// Details of the reason.
    pub detail: String,
    /// The modelled cache key (equal keys: the same layer).
    pub key: String,
    /// Line of an identical step earlier in the new build: BuildKit runs the two as one vertex,
    /// so this one is not counted.
    pub same_as: Option<usize>,
}

/// A cache buster found in the new Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Line in the new Dockerfile.
    pub line: usize,
    /// Short identifier: `arg-ahead-of-run`, `link-chmod`, `mutable-builder-base`, `apt-lists-uncached`, ...
    pub code: &'static str,
    /// What and why, with a `hint:` line.
    pub message: String,
}

/// The whole prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Engine model used.
    pub engine: Store,
    /// Target stage of the new build.
    pub target: String,
    /// The counted steps of the stages the target needs, in file order.
    pub steps: Vec<StepReport>,
    /// Stages of the new file the target does not need: BuildKit does not build them.
    pub skipped_stages: Vec<String>,
    /// Steps reused, as the engine counts them (a linked copy's merge that runs is not reused).
    pub reused: usize,
    /// Steps reused counting linked copies whose merges run (cheap) as reused.
    pub reused_counting_linked_copies: usize,
    /// Steps counted.
    pub total: usize,
    /// Cache busters in the new Dockerfile.
    pub warnings: Vec<Warning>,
    /// What the prediction assumes.
    pub assumptions: Vec<String>,
}

/// Why there is no explanation.
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
    #[error("{origin}: no stage named `{target}`\nhint: stages are {stages}")]
    NoTarget {
        /// File.
        origin: String,
        /// Requested target.
        target: String,
        /// Known stages, listed.
        stages: String,
    },
    /// The Dockerfile cannot build on the chosen engine, or refers to itself.
    #[error("{origin}: line {line}: {message}\nhint: {hint}")]
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

/// Explains `new` against `old`.
pub fn explain(old: &Side, new: &Side, options: &Options) -> Result<Explanation, ExplainError> {
    let old_df = parse(old)?;
    let new_df = parse(new)?;
    let before = analyze(&old_df, old, options, None)?;
    let after = analyze(&new_df, new, options, Some(&before))?;

    let mut steps = Vec::new();
    // Per stage, the first vertex that runs again: every later step of the stage follows it.
    let mut first_changed: Option<&Node> = None;
    // Identical vertices are one vertex: BuildKit runs (and prints) it once.
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, node) in after.nodes.iter().enumerate() {
        if i == 0 || after.nodes[i - 1].stage != node.stage {
            first_changed = None;
        }
        if node.counted {
            let mut step = report(node, first_changed, &after, &before);
            match seen.entry((node.key.as_str(), node.chain.as_str())) {
                std::collections::hash_map::Entry::Occupied(first) => step.same_as = Some(*first.get()),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(node.line);
                }
            }
            steps.push(step);
        }
        if first_changed.is_none() && !before.keys.contains(&node.chain) {
            first_changed = Some(node);
        }
    }
    let counted = || steps.iter().filter(|s| s.same_as.is_none());
    let reused = counted().filter(|s| s.reused).count();
    let reused_counting_linked_copies = counted().filter(|s| s.reused || s.linked_copy_cached).count();
    let total = counted().count();
    let skipped_stages =
        new_df.stages.iter().filter(|s| !after.needed.contains(&s.index)).map(Stage::display_name).collect();
    let mut assumptions = vec!["the cache holds the old build's layers, and nothing else counts".to_owned()];
    match &options.image_ids {
        _ if before.images.iter().chain(&after.images).all(|i| i == "scratch") => {}
        None => assumptions.push(
            "no Docker engine answers, so FROM and COPY --from=<image> are compared by name: a tag \
             names the same image in both builds"
                .to_owned(),
        ),
        Some(ids) => {
            assumptions.push(
                "images are compared by content (the engine's image ids now; the old build used the same)"
                    .to_owned(),
            );
            let mut missing: Vec<String> = [&before, &after]
                .iter()
                .flat_map(|a| a.images.iter())
                .filter(|i| !ids.contains_key(*i) && *i != "scratch")
                .map(|i| format!("`{}`", short_image(i)))
                .collect();
            missing.sort();
            missing.dedup();
            if !missing.is_empty() {
                assumptions.push(format!("not in the engine, so compared by name: {}", missing.join(", ")));
            }
        }
    }
    if after.copies_from_context {
        assumptions.push(if options.changed_context.is_empty() {
            "files from the build context are unchanged (name changed ones with --changed PATH)".to_owned()
        } else {
            format!("build-context paths that changed: {}", options.changed_context.join(", "))
        });
    }
    if after.copies_from_rerun_stage {
        assumptions.push(
            "a stage that runs again writes different bytes, so copies from it run again \
             (name reproducible stages with --same-output STAGE)"
                .to_owned(),
        );
    }
    if new_df.directives.iter().any(|(k, _)| k == "syntax") {
        assumptions.push(
            "the `# syntax=` directive is ignored: the model is of the engine's built-in frontend".to_owned(),
        );
    }
    Ok(Explanation {
        engine: options.store,
        target: after.target.clone(),
        steps,
        skipped_stages,
        reused,
        reused_counting_linked_copies,
        total,
        warnings: warnings(&new_df, &after, options.store),
        assumptions,
    })
}

/// The images (normalized names) that the stages `side` builds start from or copy from: what
/// to ask the engine for ids of ([`Options::image_ids`]).
pub fn images(side: &Side, options: &Options) -> Result<BTreeSet<String>, ExplainError> {
    let df = parse(side)?;
    let mut images = analyze(&df, side, options, None)?.images;
    images.remove("scratch");
    Ok(images)
}

fn parse(side: &Side) -> Result<Dockerfile, ExplainError> {
    dockerfile::parse(side.text).map_err(|error| ExplainError::Parse { origin: side.origin.clone(), error })
}

/// Largest value one expansion (an ARG default, an ENV value, a path, a mount) may produce.
pub const MAX_EXPANDED_VALUE: usize = 1 << 20;
/// Largest total of all expansions in one Dockerfile.
pub const MAX_EXPANDED_TOTAL: usize = 64 << 20;

/// One modelled vertex: a step, a WORKDIR, a FROM or a link merge.
#[derive(Debug, Clone)]
struct Node {
    key: String,
    /// Chain key of the vertex before it (a linked copy's key leaves it out).
    before: String,
    /// Chain key after this node (differs from `key` for linked copies: the merge).
    chain: String,
    keyword: Keyword,
    counted: bool,
    linked: bool,
    stage: usize,
    position: u32,
    line: usize,
    text: String,
    /// The whole instruction, for saying what changed.
    full: String,
    /// The definition without parent, env and content: equal `shape` means "same text".
    shape: String,
    /// The shape without a COPY's `--from` name (the shape itself for other steps).
    bare: String,
    /// Hash of the ARGs and ENVs in a RUN's environment (0 for other steps).
    env: u64,
    /// Where the variables of a RUN can be replayed from, to name what changed.
    vars_at: Option<LogPos>,
    context: String,
    /// Where copied or mounted content comes from, and its token.
    sources: Vec<(String, String)>,
    owner: Option<String>,
}

/// A point in a stage's log of ARG and ENV changes: (log, length).
type LogPos = (usize, usize);

/// One ARG or ENV change, as the log records it.
#[derive(Debug, Clone)]
enum VarOp {
    Arg(String, Option<String>),
    Env(String, String),
}

/// A stage's ARG and ENV changes, after those of the stage it is built FROM.
#[derive(Debug, Clone, Default)]
struct VarLog {
    parent: Option<LogPos>,
    ops: Vec<VarOp>,
}

/// The ARGs and ENVs of a stage. Every change costs O(log n), so a file of n ARG, ENV and RUN
/// lines is analysed in O(n log n); a RUN's environment is keyed by a hash kept up to date,
/// not by copying it.
#[derive(Debug, Clone, Default)]
struct Vars {
    /// ENV entries in first-set order (setting one again keeps its place).
    env: Vec<(String, String)>,
    env_at: HashMap<String, usize>,
    /// ARG declarations in order; a re-declared ARG moves to the end, leaving a hole.
    args: Vec<Option<(String, Option<String>)>>,
    arg_at: HashMap<String, usize>,
    /// What `$NAME` expands to: ARGs with a value, ENVs over them.
    scope: HashMap<String, String>,
    env_hash: SeqHash,
    arg_hash: SeqHash,
}

impl Vars {
    fn get(&self, name: &str) -> Option<String> {
        self.scope.get(name).cloned()
    }

    fn apply(&mut self, op: &VarOp) {
        match op {
            VarOp::Arg(name, value) => self.set_arg(name, value.clone()),
            VarOp::Env(name, value) => self.set_env(name, value.clone()),
        }
    }

    fn set_arg(&mut self, name: &str, value: Option<String>) {
        if let Some(old) = self.arg_at.remove(name) {
            self.args[old] = None;
            self.arg_hash.set(old, None);
        }
        let slot = self.args.len();
        let shadowed = self.env_at.contains_key(name);
        let entry = value.as_ref().filter(|_| !shadowed).map(|v| entry_hash(name, v));
        self.arg_hash.set(slot, entry);
        if !shadowed {
            match &value {
                Some(v) => self.scope.insert(name.to_owned(), v.clone()),
                None => self.scope.remove(name),
            };
        }
        self.args.push(Some((name.to_owned(), value)));
        self.arg_at.insert(name.to_owned(), slot);
    }

    fn set_env(&mut self, name: &str, value: String) {
        let slot = match self.env_at.get(name) {
            Some(&slot) => {
                self.env[slot].1 = value.clone();
                slot
            }
            None => {
                // An ARG of the same name leaves the RUN environment's ARG part.
                if let Some(&a) = self.arg_at.get(name) {
                    self.arg_hash.set(a, None);
                }
                self.env.push((name.to_owned(), value.clone()));
                self.env_at.insert(name.to_owned(), self.env.len() - 1);
                self.env.len() - 1
            }
        };
        self.env_hash.set(slot, Some(entry_hash(name, &value)));
        self.scope.insert(name.to_owned(), value);
    }

    /// The hash of a RUN's environment: ENVs in order, then ARGs with a value that no ENV hides.
    fn hash(&self) -> u64 {
        let (e, ep) = self.env_hash.root();
        let (a, ap) = self.arg_hash.root();
        let mut h = Hasher::new("ENV");
        h.field(&format!("{e:x}/{ep:x}/{a:x}/{ap:x}"));
        h.0
    }

    /// A RUN's environment as a list, for saying what changed.
    fn run_env(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        for (k, v) in self.args.iter().flatten() {
            if let Some(v) = v
                && !self.env_at.contains_key(k)
            {
                env.push((k.clone(), v.clone()));
            }
        }
        env
    }
}

fn entry_hash(name: &str, value: &str) -> u64 {
    let mut h = Hasher::new("VAR");
    h.field(name).field(value);
    h.0
}

/// An order-sensitive hash of a sequence with holes (a polynomial hash in a segment tree), so
/// that setting one element costs O(log n).
#[derive(Debug, Clone, Default)]
struct SeqHash {
    leaves: usize,
    tree: Vec<(u64, u64)>,
}

impl SeqHash {
    const EMPTY: (u64, u64) = (0, 1);
    const BASE: u64 = 0x0100_0000_01b3;

    fn combine(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0.wrapping_mul(b.1).wrapping_add(b.0), a.1.wrapping_mul(b.1))
    }

    fn set(&mut self, slot: usize, value: Option<u64>) {
        if slot >= self.leaves {
            let mut leaves = self.leaves.max(1);
            while leaves <= slot {
                leaves *= 2;
            }
            let mut tree = vec![Self::EMPTY; 2 * leaves];
            tree[leaves..leaves + self.leaves].copy_from_slice(&self.tree[self.leaves..]);
            for i in (1..leaves).rev() {
                tree[i] = Self::combine(tree[2 * i], tree[2 * i + 1]);
            }
            (self.leaves, self.tree) = (leaves, tree);
        }
        let mut i = self.leaves + slot;
        self.tree[i] = value.map_or(Self::EMPTY, |v| (v, Self::BASE));
        while i > 1 {
            i /= 2;
            self.tree[i] = Self::combine(self.tree[2 * i], self.tree[2 * i + 1]);
        }
    }

    fn root(&self) -> (u64, u64) {
        self.tree.get(1).copied().unwrap_or(Self::EMPTY)
    }
}

#[derive(Debug, Clone, Default)]
struct StageState {
    chain: String,
    vars: Vars,
    /// This stage's log of ARG and ENV changes.
    log: usize,
    workdir: String,
    user: String,
    shell: Vec<String>,
    /// Token of the stage's content as `COPY --from` sees it.
    token: String,
    /// The image at the root of the stage's FROM chain.
    root_image: String,
    positions: u32,
}

struct Analysis {
    target: String,
    needed: BTreeSet<usize>,
    nodes: Vec<Node>,
    keys: HashSet<String>,
    states: BTreeMap<usize, StageState>,
    totals: BTreeMap<usize, u32>,
    stage_names: Vec<String>,
    /// Stage index by display name.
    stage_index: HashMap<String, usize>,
    bases: Vec<Base>,
    logs: Vec<VarLog>,
    copies_from_context: bool,
    copies_from_rerun_stage: bool,
    /// Images the needed stages start from or copy from.
    images: BTreeSet<String>,
    /// Node index by key (the first node with that key).
    by_key: HashMap<String, usize>,
    /// Node indices by the chain key before them (non-linked nodes).
    by_before: HashMap<String, Vec<usize>>,
    /// Linked-copy node indices by their shape without the `--from` name.
    linked_by_bare: HashMap<String, Vec<usize>>,
}

impl Analysis {
    /// The variables of a RUN, replayed from the logs.
    fn run_env(&self, at: Option<LogPos>) -> Vec<(String, String)> {
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

    fn index(&mut self) {
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
enum Base {
    Image(String),
    Stage(usize),
}

/// Stage by reference: an `AS` name (any case), or a number below `before`.
fn find_stage(names: &HashMap<String, usize>, reference: &str, before: usize) -> Option<usize> {
    names
        .get(&reference.to_lowercase())
        .copied()
        .filter(|i| *i < before)
        .or_else(|| reference.parse::<usize>().ok().filter(|i| *i < before))
}

fn analyze(
    df: &Dockerfile,
    side: &Side,
    options: &Options,
    old: Option<&Analysis>,
) -> Result<Analysis, ExplainError> {
    let invalid = |line: usize, message: String, hint: &str| ExplainError::Invalid {
        origin: side.origin.clone(),
        line,
        message,
        hint: hint.to_owned(),
    };
    let mut budget = MAX_EXPANDED_TOTAL;

    // Global ARGs, for FROM lines and in-stage `ARG NAME` without a default.
    let mut globals: HashMap<String, String> = HashMap::new();
    for arg in &df.global_args {
        let value = match side.build_args.get(&arg.name) {
            Some(v) => Some(v.clone()),
            None => match &arg.default {
                Some(d) => Some(
                    expand_capped(d, &|n| globals.get(n).cloned(), &mut budget)
                        .map_err(|e| invalid(arg.line, e.message(&format!("ARG {}", arg.name)), e.hint()))?,
                ),
                None => None,
            },
        };
        if let Some(v) = value {
            globals.insert(arg.name.clone(), v);
        }
    }
    let lookup_global = |n: &str| globals.get(n).cloned();

    let names: Vec<String> = df.stages.iter().map(Stage::display_name).collect();
    // `AS` names; the first of a name wins (the parser rejects duplicates).
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for stage in &df.stages {
        if let Some(n) = &stage.name {
            by_name.entry(n.clone()).or_insert(stage.index);
        }
    }
    let mut bases = Vec::new();
    for stage in &df.stages {
        let base = expand_capped(&stage.base, &lookup_global, &mut budget)
            .map_err(|e| invalid(stage.line, e.message("FROM"), e.hint()))?;
        if base.is_empty() {
            return Err(invalid(
                stage.line,
                format!("`FROM {}` expands to nothing", stage.base),
                "give the ARG a default before the first FROM, or pass it with --build-arg",
            ));
        }
        bases.push(match find_stage(&by_name, &base, stage.index) {
            Some(i) => Base::Stage(i),
            None => Base::Image(normalize_image(&base)),
        });
    }

    let target = match &options.target {
        None => df.stages.len() - 1,
        Some(t) => by_name.get(&t.to_lowercase()).copied().ok_or_else(|| ExplainError::NoTarget {
            origin: side.origin.clone(),
            target: t.clone(),
            stages: names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
        })?,
    };

    let mut analysis = Analysis {
        target: names[target].clone(),
        needed: BTreeSet::new(),
        nodes: Vec::new(),
        keys: HashSet::new(),
        states: BTreeMap::new(),
        totals: BTreeMap::new(),
        stage_index: names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect(),
        stage_names: names,
        bases,
        logs: Vec::new(),
        copies_from_context: false,
        copies_from_rerun_stage: false,
        images: BTreeSet::new(),
        by_key: HashMap::new(),
        by_before: HashMap::new(),
        linked_by_bare: HashMap::new(),
    };
    let mut walker = Walker { df, side, options, old, globals: &globals, by_name: &by_name, budget };
    walker.walk(target, &mut analysis)?;
    analysis.nodes.sort_by_key(|n| (n.stage, n.line));
    analysis.index();
    Ok(analysis)
}

/// Why an expansion was refused.
#[derive(Debug, Clone, Copy)]
enum TooBig {
    Value,
    Total,
}

impl TooBig {
    fn message(self, what: &str) -> String {
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

    fn hint(self) -> &'static str {
        "a value that refers to itself more than once (`ENV A=$A$A`) doubles on every line: \
         build long values in a RUN step or a file instead"
    }
}

/// `dockerfile::expand` within [`MAX_EXPANDED_VALUE`], charged to a file-wide budget.
fn expand_capped(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    budget: &mut usize,
) -> Result<String, TooBig> {
    let value = dockerfile::expand_within(text, lookup, MAX_EXPANDED_VALUE).ok_or(TooBig::Value)?;
    *budget = budget.checked_sub(value.len()).ok_or(TooBig::Total)?;
    Ok(value)
}

/// What analysing one stage came to.
enum Progress {
    Done,
    /// It needs this stage first (found only while walking it: a mount `from=` built from a
    /// stage's ARG).
    Needs(usize, String, usize),
}

struct Walker<'a> {
    df: &'a Dockerfile,
    side: &'a Side<'a>,
    options: &'a Options,
    old: Option<&'a Analysis>,
    globals: &'a HashMap<String, String>,
    by_name: &'a HashMap<String, usize>,
    budget: usize,
}

impl Walker<'_> {
    fn invalid(&self, line: usize, message: String, hint: &str) -> ExplainError {
        ExplainError::Invalid { origin: self.side.origin.clone(), line, message, hint: hint.to_owned() }
    }

    fn expand(&mut self, text: &str, vars: &Vars, line: usize, what: &str) -> Result<String, ExplainError> {
        let lookup = |n: &str| vars.get(n);
        expand_capped(text, &lookup, &mut self.budget)
            .map_err(|e| self.invalid(line, e.message(what), e.hint()))
    }

    /// What an image is keyed on: its id when the engine gave one, else its name.
    fn content(&self, image: &str) -> String {
        match self.options.image_ids.as_ref().and_then(|ids| ids.get(image)) {
            Some(id) => format!("id:{id}"),
            None => format!("name:{image}"),
        }
    }

    /// Stage by `--from` reference: a name, or a number.
    fn stage_ref(&self, reference: &str) -> Option<usize> {
        find_stage(self.by_name, reference, self.df.stages.len())
    }

    /// The stages a stage needs before it, as far as they are known without walking it: its
    /// FROM, and `--from`/`from=` references that name a stage with global ARGs only.
    /// (line, reference, stage) each.
    fn dependencies(&self, index: usize, a: &Analysis) -> Vec<(usize, String, usize)> {
        let stage = &self.df.stages[index];
        let mut out = Vec::new();
        if let Base::Stage(parent) = a.bases[index] {
            out.push((stage.line, stage.base.clone(), parent));
        }
        let lookup = |n: &str| self.globals.get(n).cloned();
        for ins in &stage.instructions {
            let mut refs: Vec<String> = Vec::new();
            if let Some(from) = ins.flag("from") {
                refs.push(from.to_owned());
            }
            if ins.keyword == Keyword::Run {
                for mount in ins.flags_named("mount") {
                    refs.extend(mount.split(',').filter_map(|f| f.strip_prefix("from=")).map(str::to_owned));
                }
            }
            for r in refs {
                let expanded = dockerfile::expand_within(&r, &lookup, MAX_EXPANDED_VALUE).unwrap_or_default();
                if let Some(i) = self.stage_ref(&expanded) {
                    out.push((ins.line, expanded, i));
                }
            }
        }
        out
    }

    /// Analyses `target` and every stage it needs, each after the stages it needs, with an
    /// explicit stack: a chain of thousands of stages cannot overflow the call stack.
    fn walk(&mut self, target: usize, a: &mut Analysis) -> Result<(), ExplainError> {
        let mut stack = vec![target];
        let mut on_stack: HashSet<usize> = HashSet::from([target]);
        while let Some(&top) = stack.last() {
            if a.states.contains_key(&top) {
                stack.pop();
                on_stack.remove(&top);
                continue;
            }
            let missing = self.dependencies(top, a).into_iter().find(|(_, _, d)| !a.states.contains_key(d));
            let need = match missing {
                Some(dep) => Some(dep),
                None => {
                    let mark = a.nodes.len();
                    match self.stage(top, a)? {
                        Progress::Done => None,
                        Progress::Needs(line, reference, dep) => {
                            // Walk it again once the stage it needs is done.
                            a.nodes.truncate(mark);
                            a.logs.truncate(a.logs.len() - 1);
                            Some((line, reference, dep))
                        }
                    }
                }
            };
            let Some((line, reference, dep)) = need else { continue };
            if !on_stack.insert(dep) {
                let name = self.df.stages[top].display_name();
                let message = if dep == top {
                    format!("`--from={reference}` refers to its own stage")
                } else {
                    format!(
                        "`{reference}` needs stage `{name}`, which needs it: the stages depend on each other"
                    )
                };
                return Err(self.invalid(line, message, "a stage can only use stages that do not use it"));
            }
            stack.push(dep);
        }
        Ok(())
    }

    fn stage(&mut self, index: usize, a: &mut Analysis) -> Result<Progress, ExplainError> {
        let stage = &self.df.stages[index];
        a.needed.insert(index);
        let quarry =
            self.df.stages.first().is_some_and(|_| self.side.text.starts_with("# Rendered by quarry"));
        let mut owner = if quarry { stage_owner(stage) } else { None };

        let mut state = match a.bases[index].clone() {
            Base::Stage(parent) => {
                let mut s = a.states[&parent].clone();
                // BuildKit does not number a FROM of another stage.
                s.positions = 0;
                a.logs.push(VarLog { parent: Some((s.log, a.logs[s.log].ops.len())), ops: Vec::new() });
                s.log = a.logs.len() - 1;
                s
            }
            Base::Image(image) => {
                let mut h = Hasher::new("FROM");
                h.field(&self.content(&image)).field(stage.platform.as_deref().unwrap_or(""));
                a.images.insert(image.clone());
                let key = h.finish();
                a.keys.insert(key.clone());
                a.logs.push(VarLog::default());
                StageState {
                    chain: key,
                    log: a.logs.len() - 1,
                    workdir: "/".to_owned(),
                    shell: vec!["/bin/sh".to_owned(), "-c".to_owned()],
                    root_image: image,
                    positions: 1,
                    ..StageState::default()
                }
            }
        };

        for ins in &stage.instructions {
            if quarry && let Some(o) = comment_owner(&ins.comments) {
                owner = Some(o);
            }
            match (&ins.keyword, &ins.body) {
                (Keyword::Arg, Body::Args(decls)) => {
                    for d in decls {
                        let value = match self.side.build_args.get(&d.name) {
                            Some(v) => Some(v.clone()),
                            None => match &d.default {
                                Some(def) => Some(self.expand(
                                    def,
                                    &state.vars,
                                    ins.line,
                                    &format!("ARG {}", d.name),
                                )?),
                                None => self.globals.get(&d.name).cloned(),
                            },
                        };
                        a.logs[state.log].ops.push(VarOp::Arg(d.name.clone(), value.clone()));
                        state.vars.set_arg(&d.name, value);
                    }
                }
                (Keyword::Env, Body::Pairs(pairs)) => {
                    for (k, v) in pairs {
                        let value = self.expand(v, &state.vars, ins.line, &format!("ENV {k}"))?;
                        a.logs[state.log].ops.push(VarOp::Env(k.clone(), value.clone()));
                        state.vars.set_env(k, value);
                    }
                }
                (Keyword::User, Body::Text(user)) => {
                    state.user = self.expand(user, &state.vars, ins.line, "USER")?;
                }
                (Keyword::Shell, Body::Exec(words)) => state.shell = words.clone(),
                (Keyword::Workdir, Body::Text(dir)) => {
                    let dir = self.expand(dir, &state.vars, ins.line, "WORKDIR")?;
                    state.workdir = join_path(&state.workdir, &dir);
                    state.positions += 1;
                    let mut h = Hasher::new("WORKDIR");
                    h.field(&state.workdir);
                    let shape = h.clone().finish();
                    h.field(&state.chain);
                    let key = h.finish();
                    let step = Step {
                        key: key.clone(),
                        chain: key,
                        shape,
                        bare: None,
                        env: None,
                        sources: Vec::new(),
                    };
                    self.push(a, &mut state, ins, index, step, owner.clone());
                }
                (Keyword::Run, _) => {
                    state.positions += 1;
                    if let Some(needs) = self.run(a, &mut state, ins, index, owner.clone())? {
                        return Ok(needs);
                    }
                }
                (Keyword::Copy | Keyword::Add, _) => {
                    state.positions += 1;
                    if let Some(needs) = self.copy(a, &mut state, ins, index, owner.clone())? {
                        return Ok(needs);
                    }
                }
                _ => {}
            }
        }
        a.totals.insert(index, state.positions);
        state.token = self.token_for(index, &state.chain);
        a.states.insert(index, state);
        Ok(Progress::Done)
    }

    /// For a copy from an image named in `--same-output`: the token of the old build's copy of
    /// the same paths from an image at the same place, whose bytes it is declared to copy.
    fn same_image_output(
        &self,
        sources: &[(String, String)],
        bare: &Hasher,
        linked: bool,
        before: &str,
    ) -> Option<String> {
        let old = self.old?;
        let image = sources.last()?.0.strip_prefix("image:")?;
        let declared = self.options.same_output.iter().any(|s| normalize_image(s) == image);
        if !declared {
            return None;
        }
        let bare = bare.clone().finish();
        let indices = if linked { old.linked_by_bare.get(&bare) } else { old.by_before.get(before) };
        indices
            .into_iter()
            .flatten()
            .map(|&i| &old.nodes[i])
            .find(|o| o.bare == bare && o.sources.last().is_some_and(|(w, _)| w.starts_with("image:")))
            .map(|o| o.sources.last().map(|(_, t)| t.clone()).unwrap_or_default())
    }

    /// The content token of a finished stage: its chain key when the old build had it; else a
    /// fresh token (it ran again and is assumed to write different bytes) unless declared
    /// reproducible.
    fn token_for(&self, index: usize, chain: &str) -> String {
        let Some(old) = self.old else { return chain.to_owned() };
        if old.keys.contains(chain) {
            return chain.to_owned();
        }
        let name = self.df.stages[index].display_name();
        if self.options.same_output.contains(&name)
            && let Some(i) = old.stage_index.get(&name)
            && let Some(s) = old.states.get(i)
        {
            return s.token.clone();
        }
        format!("rerun:{chain}")
    }

    fn push(
        &self,
        a: &mut Analysis,
        state: &mut StageState,
        ins: &Instruction,
        stage: usize,
        step: Step,
        owner: Option<String>,
    ) {
        let Step { key, chain, shape, bare, env, sources } = step;
        let linked = chain != key;
        a.keys.insert(key.clone());
        a.keys.insert(chain.clone());
        a.nodes.push(Node {
            before: state.chain.clone(),
            key,
            chain: chain.clone(),
            keyword: ins.keyword,
            counted: matches!(ins.keyword, Keyword::Run | Keyword::Copy | Keyword::Add),
            linked,
            stage,
            position: state.positions,
            line: ins.line,
            text: ins.first_line.clone(),
            full: ins.text.clone(),
            bare: bare.unwrap_or_else(|| shape.clone()),
            shape,
            env: env.unwrap_or(0),
            vars_at: env.map(|_| (state.log, a.logs[state.log].ops.len())),
            context: format!("workdir={} user={} shell={:?}", state.workdir, state.user, state.shell),
            sources,
            owner,
        });
        state.chain = chain;
    }

    fn run(
        &mut self,
        a: &mut Analysis,
        state: &mut StageState,
        ins: &Instruction,
        stage: usize,
        owner: Option<String>,
    ) -> Result<Option<Progress>, ExplainError> {
        // Only the final argv is in BuildKit's key: a shell-form RUN is the SHELL plus its text,
        // the same step as the exec form with that argv.
        let argv: Vec<&str> = match &ins.body {
            Body::Shell(cmd) => state.shell.iter().map(String::as_str).chain([cmd.as_str()]).collect(),
            Body::Exec(words) => words.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let mut shape = Hasher::new("RUN");
        shape.field(&argv.len().to_string());
        for word in argv {
            shape.field(word);
        }
        for doc in &ins.heredocs {
            shape.field(&doc.name).field(&doc.body);
        }
        let mut sources = Vec::new();
        let mut mounts = Vec::new();
        let mut written = Vec::new();
        for raw in ins.flags_named("mount") {
            written.push(self.mount_fields(raw));
            let expanded = self.expand(raw, &state.vars, ins.line, "--mount")?;
            let mut fields = self.mount_fields(&expanded);
            if let Some(from) = fields.get("from").cloned() {
                let token = match self.source_token(a, &from, ins.line, &mut sources)? {
                    Ok(token) => token,
                    Err(needs) => return Ok(Some(needs)),
                };
                fields.insert("from".to_owned(), token);
            }
            mounts.push(fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
        }
        // The shape holds the mounts as written, so that a value coming from an ARG shows up as
        // an ARG change; the key holds them expanded, as BuildKit sees them.
        written.sort();
        for m in &written {
            shape.field(&m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
        }
        mounts.sort();
        for flag in ["network", "security"] {
            shape.field(ins.flag(flag).unwrap_or(""));
        }
        let env = state.vars.hash();
        let shape_key = shape.clone().finish();
        let mut h = shape;
        for m in &mounts {
            h.field(m);
        }
        h.field(&format!("{env:016x}"));
        h.field(&state.workdir).field(&state.user).field(&state.chain);
        let key = h.finish();
        let step =
            Step { key: key.clone(), chain: key, shape: shape_key, bare: None, env: Some(env), sources };
        self.push(a, state, ins, stage, step, owner);
        Ok(None)
    }

    /// A `--mount` value as a canonical map, with what the engine leaves out of the key removed.
    fn mount_fields(&self, text: &str) -> BTreeMap<String, String> {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, "true"));
            let k = match k {
                "dst" | "destination" => "target",
                "src" => "source",
                "ro" | "readonly" => "readonly",
                other => other,
            };
            fields.insert(k.to_owned(), v.to_owned());
        }
        let kind = fields.get("type").cloned().unwrap_or_else(|| "bind".to_owned());
        fields.insert("type".to_owned(), kind.clone());
        if kind == "cache" && fields.contains_key("id") && self.options.store != Store::Legacy {
            // BuildKit 0.13+ leaves a named cache mount's id and sharing out of the key.
            fields.remove("id");
            fields.remove("sharing");
        }
        fields
    }

    /// The token of `COPY --from=<reference>` or a mount's `from=`: a stage's content, or an
    /// image; or the stage that must be analysed first.
    fn source_token(
        &mut self,
        a: &mut Analysis,
        reference: &str,
        line: usize,
        sources: &mut Vec<(String, String)>,
    ) -> Result<Result<String, Progress>, ExplainError> {
        let lookup = |n: &str| self.globals.get(n).cloned();
        let expanded = expand_capped(reference, &lookup, &mut self.budget)
            .map_err(|e| self.invalid(line, e.message("--from"), e.hint()))?;
        match self.stage_ref(&expanded) {
            Some(i) => {
                let Some(state) = a.states.get(&i) else {
                    return Ok(Err(Progress::Needs(line, expanded, i)));
                };
                let token = state.token.clone();
                if token.starts_with("rerun:") {
                    a.copies_from_rerun_stage = true;
                }
                sources.push((format!("stage:{}", a.stage_names[i]), token.clone()));
                Ok(Ok(token))
            }
            None => {
                let image = normalize_image(&expanded);
                a.images.insert(image.clone());
                let token = format!("image:{}", self.content(&image));
                sources.push((format!("image:{image}"), token.clone()));
                Ok(Ok(token))
            }
        }
    }

    fn copy(
        &mut self,
        a: &mut Analysis,
        state: &mut StageState,
        ins: &Instruction,
        stage: usize,
        owner: Option<String>,
    ) -> Result<Option<Progress>, ExplainError> {
        let Body::Copy { sources: srcs, dest } = &ins.body else { return Ok(None) };
        let link = ins.flag("link").is_some_and(|v| v.is_empty() || v == "true");
        if link && self.options.store == Store::Legacy {
            return Err(self.invalid(
                ins.line,
                format!("`{} --link` does not parse on Docker 20.10", ins.keyword),
                "render for the legacy engine (plain COPY), or explain with --engine containerd",
            ));
        }
        let linked = link && self.options.store == Store::Containerd;
        let mut expanded = Vec::new();
        for s in srcs {
            expanded.push(self.expand(s, &state.vars, ins.line, ins.keyword.as_str())?);
        }
        let srcs = expanded;
        let dest = self.expand(dest, &state.vars, ins.line, ins.keyword.as_str())?;
        let dest = join_path(&state.workdir, &dest);
        let mut shape = Hasher::new(ins.keyword.as_str());
        for s in &srcs {
            shape.field(s);
        }
        shape.field(&dest);
        for f in &ins.flags {
            if !matches!(f.name.as_str(), "link" | "from") {
                let value = self.expand(f.value.as_deref().unwrap_or(""), &state.vars, ins.line, &f.name)?;
                shape.field(&f.name).field(&value);
            }
        }
        for doc in &ins.heredocs {
            shape.field(&doc.name).field(&doc.body);
        }
        let mut sources = Vec::new();
        // The key holds what is copied, not the name it is copied from: two identical stages
        // (or two tags of one image) give the same key. The shape, which says whether the
        // text changed, holds the name.
        let bare = shape.clone();
        let token = match ins.flag("from") {
            Some(from) => {
                shape.field(&format!("from:{}", from.to_lowercase()));
                match self.source_token(a, from, ins.line, &mut sources)? {
                    Ok(token) => {
                        self.same_image_output(&sources, &bare, linked, &state.chain).unwrap_or(token)
                    }
                    Err(needs) => return Ok(Some(needs)),
                }
            }
            None => {
                let context: Vec<&String> =
                    srcs.iter().filter(|s| !s.starts_with("<<") && !is_url(s)).collect();
                if !context.is_empty() {
                    a.copies_from_context = true;
                }
                let changed: Vec<String> = context
                    .iter()
                    .filter(|s| {
                        self.old.is_some() && self.options.changed_context.iter().any(|c| paths_overlap(s, c))
                    })
                    .map(|s| (*s).clone())
                    .collect();
                let token = if changed.is_empty() {
                    "context".to_owned()
                } else {
                    format!("changed:{}", changed.join(","))
                };
                sources.push(("context".to_owned(), token.clone()));
                token
            }
        };
        let shape_key = shape.finish();
        let bare_key = bare.clone().finish();
        let mut h = bare;
        h.field(&token);
        let step = if linked {
            let key = h.finish();
            let mut m = Hasher::new("MERGE");
            m.field(&state.chain).field(&key);
            Step { key, chain: m.finish(), shape: shape_key, bare: Some(bare_key), env: None, sources }
        } else {
            h.field(&state.chain);
            let key = h.finish();
            Step { key: key.clone(), chain: key, shape: shape_key, bare: Some(bare_key), env: None, sources }
        };
        self.push(a, state, ins, stage, step, owner);
        Ok(None)
    }
}

/// A step's keys, before it becomes a [`Node`].
struct Step {
    key: String,
    chain: String,
    shape: String,
    /// The shape without the `--from` name, for a COPY.
    bare: Option<String>,
    /// A RUN's environment hash.
    env: Option<u64>,
    sources: Vec<(String, String)>,
}

fn report(node: &Node, first_changed: Option<&Node>, new: &Analysis, old: &Analysis) -> StepReport {
    // A linked copy is two vertices on the containerd store: the copy and its merge onto the
    // layers before it. The engine counts the step as reused only when both are cached.
    let key_cached = old.keys.contains(&node.key);
    let reused = key_cached && (!node.linked || old.keys.contains(&node.chain));
    let linked_copy_cached = node.linked && key_cached && !reused;
    let (reason, detail) = if reused {
        reused_reason(node, old)
    } else if linked_copy_cached {
        (
            Reason::LinkedCopy,
            "the layers before it changed, the copy did not; merging it onto them is cheap".to_owned(),
        )
    } else {
        rerun_reason(node, first_changed, new, old)
    };
    StepReport {
        stage: new.stage_names[node.stage].clone(),
        position: node.position,
        stage_steps: new.totals.get(&node.stage).copied().unwrap_or(0),
        line: node.line,
        instruction: node.keyword.as_str().to_owned(),
        text: node.text.clone(),
        extension: node.owner.clone(),
        reused,
        linked_copy_cached,
        reason,
        detail,
        key: node.key.clone(),
        same_as: None,
    }
}

fn reused_reason(node: &Node, old: &Analysis) -> (Reason, String) {
    let twin = old.by_key.get(&node.key).map(|&i| &old.nodes[i]);
    let detail = match twin {
        Some(o) if o.text != node.text => {
            format!("same key as line {} of the old file (the differences are not in BuildKit's key)", o.line)
        }
        _ => String::new(),
    };
    (Reason::Unchanged, detail)
}

fn rerun_reason(
    node: &Node,
    first_changed: Option<&Node>,
    new: &Analysis,
    old: &Analysis,
) -> (Reason, String) {
    let old_keys = &old.keys;
    if !node.linked && !old_keys.contains(&node.before) {
        return match first_changed {
            Some(first) if first.linked && old_keys.contains(&first.key) => (
                Reason::EarlierStepRan,
                format!("it follows line {}, a linked copy laid on changed layers", first.line),
            ),
            Some(first) => (
                Reason::EarlierStepRan,
                format!("it follows line {} ({}), which runs again", first.line, first.keyword.as_str()),
            ),
            None => (Reason::FromChanged, from_detail(node.stage, new, old)),
        };
    }
    // Same place in the chain (or a linked copy): compare with the old step that had the same
    // parent and the same text.
    let indices =
        if node.linked { old.linked_by_bare.get(&node.bare) } else { old.by_before.get(&node.before) };
    let candidates: Vec<&Node> = indices
        .into_iter()
        .flatten()
        .map(|&i| &old.nodes[i])
        .filter(|o| o.keyword == node.keyword && o.linked == node.linked)
        .collect();
    if let Some(twin) = candidates.iter().find(|o| o.shape == node.shape && o.context == node.context) {
        if twin.env != node.env {
            return (Reason::ArgEnvChanged, env_diff(&old.run_env(twin.vars_at), &new.run_env(node.vars_at)));
        }
        for ((what, new_token), (_, old_token)) in node.sources.iter().zip(&twin.sources) {
            if new_token != old_token {
                return match what.split_once(':') {
                    Some(("stage", name)) => (
                        Reason::CopiedStageChanged,
                        format!(
                            "stage `{name}` runs again; its output is assumed to change (if it is \
                             reproducible, say so with --same-output {name})"
                        ),
                    ),
                    Some(("image", image)) => (
                        Reason::CopiedImageChanged,
                        format!(
                            "`{}` is not the image the old build copied from (if the copied files are \
                             the same, say so with --same-output {})",
                            short_image(image),
                            short_image(image)
                        ),
                    ),
                    _ => (Reason::ContextChanged, new_token.trim_start_matches("changed:").to_owned()),
                };
            }
        }
    }
    if let Some(twin) = candidates.iter().find(|o| o.shape == node.shape) {
        return (
            Reason::InstructionChanged,
            format!("WORKDIR, USER or SHELL differs from line {}", twin.line),
        );
    }
    if node.linked {
        return (Reason::NewStep, "no such linked copy in the old build".to_owned());
    }
    match candidates.first() {
        Some(o) => (Reason::InstructionChanged, difference(&o.full, &node.full)),
        None => (Reason::NewStep, "the old build had no step here".to_owned()),
    }
}

/// Where two instruction texts first differ: `…old…` → `…new…`.
fn difference(old: &str, new: &str) -> String {
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let mut start = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    while start > 0 && !old[start - 1].is_whitespace() && old[start - 1] != ',' {
        start -= 1;
    }
    let piece = |chars: &[char]| -> String {
        let tail: String = chars[start.min(chars.len())..].iter().take(40).collect();
        let more = chars.len() > start + 40;
        format!("{}{tail}{}", if start > 0 { "…" } else { "" }, if more { "…" } else { "" })
    };
    if old.len() <= start {
        return format!("added at the end: `{}`", piece(&new));
    }
    if new.len() <= start {
        return format!("removed at the end: `{}`", piece(&old));
    }
    format!("`{}` → `{}`", piece(&old), piece(&new))
}

fn from_detail(stage: usize, new: &Analysis, old: &Analysis) -> String {
    let name = &new.stage_names[stage];
    let old_base = old.stage_index.get(name).map(|&i| &old.bases[i]);
    match (&new.bases[stage], old_base) {
        (Base::Image(image), Some(Base::Image(before))) if image != before => {
            format!("`{}` → `{}`", short_image(before), short_image(image))
        }
        (Base::Image(image), _) => format!("`{}` is not what the old build started from", short_image(image)),
        (Base::Stage(parent), _) => {
            format!("it builds on stage `{}`, which runs again", new.stage_names[*parent])
        }
    }
}

fn env_diff(old: &[(String, String)], new: &[(String, String)]) -> String {
    let old_values: HashMap<&str, &str> = old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let new_names: HashSet<&str> = new.iter().map(|(k, _)| k.as_str()).collect();
    let mut changes = Vec::new();
    for (k, v) in new {
        match old_values.get(k.as_str()).map(|before| (k, *before)) {
            None => changes.push(format!("`{k}` added")),
            Some((_, before)) if before != v.as_str() => changes.push(format!("`{k}`: `{before}` → `{v}`")),
            _ => {}
        }
    }
    for (k, _) in old {
        if !new_names.contains(k.as_str()) {
            changes.push(format!("`{k}` removed"));
        }
    }
    if changes.is_empty() { "the order of ENV/ARG entries changed".to_owned() } else { changes.join(", ") }
}

fn warnings(df: &Dockerfile, a: &Analysis, store: Store) -> Vec<Warning> {
    const AUTOMATIC: &[&str] = &[
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
    ];
    let mut out = Vec::new();
    for stage in df.stages.iter().filter(|s| a.needed.contains(&s.index)) {
        // The next RUN after each instruction, found in one backward pass.
        let mut next_runs = vec![None; stage.instructions.len()];
        let mut next: Option<(&Instruction, usize)> = None;
        for (i, ins) in stage.instructions.iter().enumerate().rev() {
            next_runs[i] = next;
            if ins.keyword == Keyword::Run {
                next = Some((ins, i));
            }
        }
        // The names each RUN refers to, worked out once per RUN.
        let mut referenced: HashMap<usize, HashSet<String>> = HashMap::new();
        // The first linked copy of the stage: a RUN after it re-runs whenever any copy changes.
        let mut linked_copy: Option<usize> = None;
        for (i, ins) in stage.instructions.iter().enumerate() {
            if ins.keyword == Keyword::Copy && ins.flag("link").is_some() && linked_copy.is_none() {
                linked_copy = Some(ins.line);
            }
            if ins.keyword == Keyword::Run
                && let Some(copy) = linked_copy
            {
                out.push(Warning {
                    line: ins.line,
                    code: "run-after-linked-copy",
                    message: format!(
                        "this RUN follows the linked copy on line {copy}: it runs again whenever any copy or step before it changes, however cheap the copies are{}\nhint: move it before the copies if it needs no copied files; quarry extensions mark such a step `setup_after_copies` only when it truly needs artifacts",
                        if store == Store::Containerd { "" } else { " (and on this engine the copies are plain COPY steps in the chain)" }
                    ),
                });
            }
            if let Body::Args(decls) = &ins.body {
                let next_run = next_runs[i]
                    .map(|(run, at)| (run, &*referenced.entry(at).or_insert_with(|| run_references(run))));
                for d in decls.iter().filter(|d| !AUTOMATIC.contains(&d.name.as_str())) {
                    if let Some((run, names)) = next_run
                        && !names.contains(&d.name)
                    {
                        out.push(Warning {
                            line: ins.line,
                            code: "arg-ahead-of-run",
                            message: format!(
                                "`ARG {}` enters the cache key of every later RUN in stage `{}`, starting with line {}, which does not use it: a different value re-runs them all\nhint: declare it right before the first step that needs it",
                                d.name,
                                stage.display_name(),
                                run.line
                            ),
                        });
                    }
                }
            }
            if matches!(ins.keyword, Keyword::Copy | Keyword::Add)
                && ins.flag("link").is_some()
                && ins.flag("chmod").is_some()
            {
                out.push(Warning {
                    line: ins.line,
                    code: "link-chmod",
                    message: format!(
                        "`{} --link --chmod`: the key still holds the source files' own modes, which --chmod throws away, so a checkout or umask difference runs the copy again{}\nhint: set the modes in the source (or the stage that makes it) and drop --chmod",
                        ins.keyword,
                        if store == Store::Containerd { "" } else { " (and --link is a plain COPY on this engine)" }
                    ),
                });
            }
            if ins.keyword == Keyword::Run && mentions_apt_update(ins) && !has_lists_cache(ins) {
                out.push(Warning {
                    line: ins.line,
                    code: "apt-lists-uncached",
                    message: "`apt-get update` without a cache mount on /var/lib/apt/lists: every run downloads the package lists again and stores them in the layer\nhint: add `--mount=type=cache,target=/var/lib/apt/lists,sharing=locked` (and one for /var/cache/apt)".to_owned(),
                });
            }
        }
    }
    // Builder bases: the root images of needed stages other than the target.
    let target = a.stage_names.iter().position(|n| *n == a.target);
    let mut seen = BTreeSet::new();
    for (&i, state) in &a.states {
        if Some(i) == target || state.root_image.contains('@') || state.root_image == "scratch" {
            continue;
        }
        if !seen.insert(state.root_image.clone()) {
            continue;
        }
        let stage = &df.stages[i];
        out.push(Warning {
            line: stage.line,
            code: "mutable-builder-base",
            message: format!(
                "builder base `{}` is a tag, which can move: when it does, every builder stage on it runs again{}\nhint: pin it by digest (`{}@sha256:...`), and update the pin on purpose",
                short_image(&state.root_image),
                if state.root_image.ends_with(":latest") { " (`latest` moves most often)" } else { "" },
                short_image(&state.root_image),
            ),
        });
    }
    out.sort_by(|x, y| (x.line, x.code).cmp(&(y.line, y.code)));
    out
}

/// The variables a RUN refers to, in its command, heredocs and flags.
fn run_references(run: &Instruction) -> HashSet<String> {
    let mut names = HashSet::new();
    match &run.body {
        Body::Shell(cmd) => dockerfile::referenced(cmd, &mut names),
        Body::Exec(words) => words.iter().for_each(|w| dockerfile::referenced(w, &mut names)),
        _ => {}
    }
    for d in &run.heredocs {
        dockerfile::referenced(&d.body, &mut names);
    }
    for v in run.flags.iter().filter_map(|f| f.value.as_deref()) {
        dockerfile::referenced(v, &mut names);
    }
    names
}

fn mentions_apt_update(run: &Instruction) -> bool {
    let text = match &run.body {
        Body::Shell(cmd) => cmd.clone(),
        Body::Exec(words) => words.join(" "),
        _ => String::new(),
    };
    let all = run.heredocs.iter().fold(text, |acc, d| acc + "\n" + &d.body);
    all.contains("apt-get update") || all.contains("apt update")
}

fn has_lists_cache(run: &Instruction) -> bool {
    run.flags_named("mount").any(|m| {
        let fields: Vec<&str> = m.split(',').collect();
        fields.contains(&"type=cache")
            && fields.iter().any(|f| {
                matches!(f.split_once('='), Some(("target" | "dst" | "destination", p)) if p.trim_end_matches('/') == "/var/lib/apt/lists")
            })
    })
}

/// The owner of a stage in quarry's output: `# NAME: builder` above or right after FROM, or the
/// shared builder base of older renders.
fn stage_owner(stage: &Stage) -> Option<String> {
    if stage.name.as_deref().is_some_and(|n| n.starts_with("quarry_builder_base")) {
        return Some("shared builder base".to_owned());
    }
    comment_owner(&stage.comments)
        .or_else(|| stage.instructions.first().and_then(|i| comment_owner(&i.comments)))
}

/// `# cargo: apt packages` -> `cargo`.
fn comment_owner(comments: &[String]) -> Option<String> {
    comments.iter().rev().find_map(|c| {
        let (name, what) = c.split_once(": ")?;
        if name == "quarry" {
            // quarry's own steps: the fixed first step, its entrypoint and start-up files.
            return Some(name.to_owned());
        }
        let known = [
            "builder",
            "apt packages",
            "artifacts",
            "files",
            "shell environment",
            "environment",
            "setup",
            "user setup",
            "the image's user",
        ];
        let known = known.contains(&what) || what.starts_with("setup that needs the copies");
        (known && crate::rules::is_identifier(name)).then(|| name.to_owned())
    })
}

fn join_path(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else if workdir.ends_with('/') {
        format!("{workdir}{path}")
    } else {
        format!("{workdir}/{path}")
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}

/// Whether two context paths overlap (one is the other or inside it).
fn paths_overlap(a: &str, b: &str) -> bool {
    let clean = |p: &str| p.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_owned();
    let (a, b) = (clean(a), clean(b));
    a.is_empty()
        || b.is_empty()
        || a == b
        || a.starts_with(&format!("{b}/"))
        || b.starts_with(&format!("{a}/"))
}

/// `debian` -> `docker.io/library/debian:latest`; a digest keeps no default tag.
pub fn normalize_image(image: &str) -> String {
    if image == "scratch" {
        return image.to_owned();
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repo, tag) = match last.rsplit_once(':') {
        Some((_, t)) => (&name[..name.len() - t.len() - 1], Some(t)),
        None => (name, None),
    };
    let first = repo.split('/').next().unwrap_or(repo);
    let has_registry =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let repo = if has_registry {
        repo.to_owned()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{repo}:{t}@{d}"),
        (Some(t), None) => format!("{repo}:{t}"),
        (None, Some(d)) => format!("{repo}@{d}"),
        (None, None) => format!("{repo}:latest"),
    }
}

fn short_image(image: &str) -> &str {
    image.strip_prefix("docker.io/library/").or_else(|| image.strip_prefix("docker.io/")).unwrap_or(image)
}

/// FNV-1a (64 bit) over length-prefixed fields: a stable key, not a security boundary.
#[derive(Clone)]
struct Hasher(u64);

impl Hasher {
    fn new(kind: &str) -> Hasher {
        let mut h = Hasher(0xcbf2_9ce4_8422_2325);
        h.field(kind);
        h
    }

    fn field(&mut self, s: &str) -> &mut Self {
        for b in (s.len() as u64).to_le_bytes().iter().chain(s.as_bytes()) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    fn finish(self) -> String {
        format!("{:016x}", self.0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}
