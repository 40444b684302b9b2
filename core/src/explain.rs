//! Predicts which steps of a new Dockerfile BuildKit takes from the cache an old one left, and why.
//!
//! The model follows the measured rules in `shared/buildkit-cache-facts.md`. Each step gets a key
//! built the way BuildKit builds its cache keys: the step's definition (text, the ARGs and ENVs in
//! its environment, WORKDIR, USER, SHELL, cache-mount options that count on the engine) on top of
//! the key of the step before it. `COPY --from` is keyed on the copied stage's content instead of
//! its definition, and `COPY --link` on the containerd image store leaves out the layers before it.
//! A step of the new file is reused exactly when the old build produced a step with the same key.
//! A stage that runs again is assumed to produce different bytes unless the caller says otherwise.

use std::collections::{BTreeMap, BTreeSet};
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
}

/// Why a step is reused or runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Same key as a step of the old build.
    Unchanged,
    /// A linked copy: reused although layers before it changed.
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
            Reason::LinkedCopy => "linked copy: independent of earlier layers",
            Reason::FromChanged => "FROM changed",
            Reason::InstructionChanged => "instruction text changed",
            Reason::ArgEnvChanged => "an ARG or ENV in scope changed",
            Reason::EarlierStepRan => "an earlier step in this stage ran again",
            Reason::CopiedStageChanged => "the copied stage's content changed",
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
    /// Whether BuildKit takes it from the cache.
    pub reused: bool,
    /// Why.
    pub reason: Reason,
    /// Details of the reason.
    pub detail: String,
    /// The modelled cache key (equal keys: the same layer).
    pub key: String,
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
    /// Steps reused.
    pub reused: usize,
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
    #[error("{origin}: line {line}: {message}")]
    Invalid {
        /// File.
        origin: String,
        /// Line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Explains `new` against `old`.
pub fn explain(old: &Side, new: &Side, options: &Options) -> Result<Explanation, ExplainError> {
    let old_df = parse(old)?;
    let new_df = parse(new)?;
    let before = analyze(&old_df, old, options, None)?;
    let after = analyze(&new_df, new, options, Some(&before))?;

    let mut steps = Vec::new();
    for node in after.nodes.iter().filter(|n| n.counted) {
        steps.push(report(node, &after, &before));
    }
    let reused = steps.iter().filter(|s| s.reused).count();
    let total = steps.len();
    let skipped_stages =
        new_df.stages.iter().filter(|s| !after.needed.contains(&s.index)).map(Stage::display_name).collect();
    let mut assumptions = vec![
        "an image tag names the same image in both builds".to_owned(),
        "the cache holds the old build's layers, and nothing else counts".to_owned(),
    ];
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
        total,
        warnings: warnings(&new_df, &after, options.store),
        assumptions,
    })
}

fn parse(side: &Side) -> Result<Dockerfile, ExplainError> {
    dockerfile::parse(side.text).map_err(|error| ExplainError::Parse { origin: side.origin.clone(), error })
}

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
    env: Vec<(String, String)>,
    context: String,
    /// Where copied or mounted content comes from, and its token.
    sources: Vec<(String, String)>,
    owner: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct StageState {
    chain: String,
    env: Vec<(String, String)>,
    args: Vec<(String, Option<String>)>,
    workdir: String,
    user: String,
    shell: Vec<String>,
    /// Token of the stage's content as `COPY --from` sees it.
    token: String,
    /// The image at the root of the stage's FROM chain.
    root_image: String,
    positions: u32,
}

impl StageState {
    /// The variables in scope for expansion: ARGs with a value, then ENVs (which win).
    fn vars(&self) -> BTreeMap<String, String> {
        let args = self.args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)));
        args.chain(self.env.iter().cloned()).collect()
    }
}

struct Analysis {
    target: String,
    needed: BTreeSet<usize>,
    nodes: Vec<Node>,
    keys: BTreeSet<String>,
    states: BTreeMap<usize, StageState>,
    totals: BTreeMap<usize, u32>,
    stage_names: Vec<String>,
    bases: Vec<Base>,
    copies_from_context: bool,
    copies_from_rerun_stage: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    Image(String),
    Stage(usize),
}

fn analyze(
    df: &Dockerfile,
    side: &Side,
    options: &Options,
    old: Option<&Analysis>,
) -> Result<Analysis, ExplainError> {
    let invalid =
        |line: usize, message: String| ExplainError::Invalid { origin: side.origin.clone(), line, message };

    // Global ARGs, for FROM lines and in-stage `ARG NAME` without a default.
    let mut globals: BTreeMap<String, String> = BTreeMap::new();
    for arg in &df.global_args {
        let value = match side.build_args.get(&arg.name) {
            Some(v) => Some(v.clone()),
            None => arg.default.as_ref().map(|d| dockerfile::expand(d, &|n| globals.get(n).cloned())),
        };
        if let Some(v) = value {
            globals.insert(arg.name.clone(), v);
        }
    }
    let lookup_global = |n: &str| globals.get(n).cloned();

    let names: Vec<String> = df.stages.iter().map(Stage::display_name).collect();
    let find_stage = |reference: &str, before: usize| -> Option<usize> {
        let lower = reference.to_lowercase();
        df.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| reference.parse::<usize>().ok().filter(|i| *i < before))
    };
    let mut bases = Vec::new();
    for stage in &df.stages {
        let base = dockerfile::expand(&stage.base, &lookup_global);
        if base.is_empty() {
            return Err(invalid(stage.line, format!("`FROM {}` expands to nothing", stage.base)));
        }
        bases.push(match find_stage(&base, stage.index) {
            Some(i) => Base::Stage(i),
            None => Base::Image(normalize_image(&base)),
        });
    }

    let target = match &options.target {
        None => df.stages.len() - 1,
        Some(t) => {
            df.stages.iter().position(|s| s.name.as_deref() == Some(t.to_lowercase().as_str())).ok_or_else(
                || ExplainError::NoTarget {
                    origin: side.origin.clone(),
                    target: t.clone(),
                    stages: names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                },
            )?
        }
    };

    let mut analysis = Analysis {
        target: names[target].clone(),
        needed: BTreeSet::new(),
        nodes: Vec::new(),
        keys: BTreeSet::new(),
        states: BTreeMap::new(),
        totals: BTreeMap::new(),
        stage_names: names,
        bases,
        copies_from_context: false,
        copies_from_rerun_stage: false,
    };
    let mut walker = Walker { df, side, options, old, globals: &globals, visiting: BTreeSet::new() };
    walker.stage(target, &mut analysis)?;
    analysis.nodes.sort_by_key(|n| (n.stage, n.line));
    Ok(analysis)
}

struct Walker<'a> {
    df: &'a Dockerfile,
    side: &'a Side<'a>,
    options: &'a Options,
    old: Option<&'a Analysis>,
    globals: &'a BTreeMap<String, String>,
    visiting: BTreeSet<usize>,
}

impl Walker<'_> {
    fn invalid(&self, line: usize, message: String) -> ExplainError {
        ExplainError::Invalid { origin: self.side.origin.clone(), line, message }
    }

    /// Stage by `--from` reference: a name, or a number.
    fn stage_ref(&self, reference: &str) -> Option<usize> {
        let lower = reference.to_lowercase();
        self.df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| reference.parse::<usize>().ok().filter(|i| *i < self.df.stages.len()))
    }

    fn stage(&mut self, index: usize, a: &mut Analysis) -> Result<(), ExplainError> {
        if a.states.contains_key(&index) {
            return Ok(());
        }
        let stage = &self.df.stages[index];
        if !self.visiting.insert(index) {
            return Err(
                self.invalid(stage.line, format!("stage `{}` depends on itself", stage.display_name()))
            );
        }
        a.needed.insert(index);
        let quarry =
            self.df.stages.first().is_some_and(|_| self.side.text.starts_with("# Rendered by quarry"));
        let mut owner = if quarry { stage_owner(stage) } else { None };

        let mut state = match a.bases[index].clone() {
            Base::Stage(parent) => {
                self.stage(parent, a)?;
                let mut s = a.states[&parent].clone();
                // BuildKit does not number a FROM of another stage.
                s.positions = 0;
                s
            }
            Base::Image(image) => {
                let mut h = Hasher::new("FROM");
                h.field(&image).field(stage.platform.as_deref().unwrap_or(""));
                let key = h.finish();
                a.keys.insert(key.clone());
                StageState {
                    chain: key,
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
                        let current = state.vars();
                        let value = match self.side.build_args.get(&d.name) {
                            Some(v) => Some(v.clone()),
                            None => match &d.default {
                                Some(def) => Some(dockerfile::expand(def, &|n| current.get(n).cloned())),
                                None => self.globals.get(&d.name).cloned(),
                            },
                        };
                        state.args.retain(|(k, _)| *k != d.name);
                        state.args.push((d.name.clone(), value));
                    }
                }
                (Keyword::Env, Body::Pairs(pairs)) => {
                    for (k, v) in pairs {
                        let current = state.vars();
                        let value = dockerfile::expand(v, &|n| current.get(n).cloned());
                        match state.env.iter_mut().find(|(name, _)| name == k) {
                            Some(slot) => slot.1 = value,
                            None => state.env.push((k.clone(), value)),
                        }
                    }
                }
                (Keyword::User, Body::Text(user)) => {
                    let current = state.vars();
                    state.user = dockerfile::expand(user, &|n| current.get(n).cloned());
                }
                (Keyword::Shell, Body::Exec(words)) => state.shell = words.clone(),
                (Keyword::Workdir, Body::Text(dir)) => {
                    let current = state.vars();
                    let dir = dockerfile::expand(dir, &|n| current.get(n).cloned());
                    state.workdir = join_path(&state.workdir, &dir);
                    state.positions += 1;
                    let mut h = Hasher::new("WORKDIR");
                    h.field(&state.workdir);
                    let shape = h.clone().finish();
                    h.field(&state.chain);
                    let key = h.finish();
                    self.push(
                        a,
                        &mut state,
                        ins,
                        index,
                        key.clone(),
                        key,
                        shape,
                        Vec::new(),
                        Vec::new(),
                        owner.clone(),
                    );
                }
                (Keyword::Run, _) => {
                    state.positions += 1;
                    self.run(a, &mut state, ins, index, owner.clone())?;
                }
                (Keyword::Copy | Keyword::Add, _) => {
                    state.positions += 1;
                    self.copy(a, &mut state, ins, index, owner.clone())?;
                }
                _ => {}
            }
        }
        a.totals.insert(index, state.positions);
        state.token = self.token_for(index, &state.chain);
        self.visiting.remove(&index);
        a.states.insert(index, state);
        Ok(())
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
            && let Some(i) = old.stage_names.iter().position(|n| *n == name)
            && let Some(s) = old.states.get(&i)
        {
            return s.token.clone();
        }
        format!("rerun:{chain}")
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        a: &mut Analysis,
        state: &mut StageState,
        ins: &Instruction,
        stage: usize,
        key: String,
        chain: String,
        shape: String,
        env: Vec<(String, String)>,
        sources: Vec<(String, String)>,
        owner: Option<String>,
    ) {
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
            shape,
            env,
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
    ) -> Result<(), ExplainError> {
        let current = state.vars();
        let lookup = |n: &str| current.get(n).cloned();
        let mut shape = Hasher::new("RUN");
        match &ins.body {
            Body::Shell(cmd) => shape.field("shell").field(cmd).field(&state.shell.join("\u{1}")),
            Body::Exec(words) => shape.field("exec").field(&words.join("\u{1}")),
            _ => &mut shape,
        };
        for doc in &ins.heredocs {
            shape.field(&doc.name).field(&doc.body);
        }
        let mut sources = Vec::new();
        let mut mounts = Vec::new();
        let mut written = Vec::new();
        for raw in ins.flags_named("mount") {
            written.push(self.mount_fields(raw));
            let expanded = dockerfile::expand(raw, &lookup);
            let mut fields = self.mount_fields(&expanded);
            if let Some(from) = fields.get("from").cloned() {
                let token = self.source_token(a, &from, ins.line, &mut sources)?;
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
        let mut env: Vec<(String, String)> = state.env.clone();
        for (k, v) in &state.args {
            if let Some(v) = v
                && !env.iter().any(|(e, _)| e == k)
            {
                env.push((k.clone(), v.clone()));
            }
        }
        let shape_key = shape.clone().finish();
        let mut h = shape;
        for m in &mounts {
            h.field(m);
        }
        for (k, v) in &env {
            h.field(k).field(v);
        }
        h.field(&state.workdir).field(&state.user).field(&state.chain);
        let key = h.finish();
        self.push(a, state, ins, stage, key.clone(), key, shape_key, env, sources, owner);
        Ok(())
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

    /// The token of `COPY --from=<reference>` or a mount's `from=`: a stage's content, or an image.
    fn source_token(
        &mut self,
        a: &mut Analysis,
        reference: &str,
        line: usize,
        sources: &mut Vec<(String, String)>,
    ) -> Result<String, ExplainError> {
        let expanded = dockerfile::expand(reference, &|n| self.globals.get(n).cloned());
        match self.stage_ref(&expanded) {
            Some(i) => {
                if self.visiting.contains(&i) {
                    return Err(self.invalid(line, format!("`--from={expanded}` refers to its own stage")));
                }
                self.stage(i, a)?;
                let token = a.states[&i].token.clone();
                if token.starts_with("rerun:") {
                    a.copies_from_rerun_stage = true;
                }
                sources.push((format!("stage:{}", a.stage_names[i]), token.clone()));
                Ok(token)
            }
            None => {
                let image = normalize_image(&expanded);
                sources.push((format!("image:{image}"), image.clone()));
                Ok(format!("image:{image}"))
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
    ) -> Result<(), ExplainError> {
        let Body::Copy { sources: srcs, dest } = &ins.body else { return Ok(()) };
        let current = state.vars();
        let lookup = |n: &str| current.get(n).cloned();
        let link = ins.flag("link").is_some_and(|v| v.is_empty() || v == "true");
        if link && self.options.store == Store::Legacy {
            return Err(self.invalid(
                ins.line,
                format!(
                    "`{} --link` does not parse on Docker 20.10\nhint: render for the legacy engine (plain COPY), or explain with --engine containerd",
                    ins.keyword
                ),
            ));
        }
        let linked = link && self.options.store == Store::Containerd;
        let srcs: Vec<String> = srcs.iter().map(|s| dockerfile::expand(s, &lookup)).collect();
        let dest = join_path(&state.workdir, &dockerfile::expand(dest, &lookup));
        let mut shape = Hasher::new(ins.keyword.as_str());
        for s in &srcs {
            shape.field(s);
        }
        shape.field(&dest);
        for f in &ins.flags {
            if !matches!(f.name.as_str(), "link" | "from") {
                shape.field(&f.name).field(&dockerfile::expand(f.value.as_deref().unwrap_or(""), &lookup));
            }
        }
        for doc in &ins.heredocs {
            shape.field(&doc.name).field(&doc.body);
        }
        let mut sources = Vec::new();
        let token = match ins.flag("from") {
            Some(from) => {
                shape.field(&format!("from:{}", from.to_lowercase()));
                self.source_token(a, from, ins.line, &mut sources)?
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
        let shape_key = shape.clone().finish();
        let mut h = shape;
        h.field(&token);
        if linked {
            let key = h.finish();
            let mut m = Hasher::new("MERGE");
            m.field(&state.chain).field(&key);
            let chain = m.finish();
            self.push(a, state, ins, stage, key, chain, shape_key, Vec::new(), sources, owner);
        } else {
            h.field(&state.chain);
            let key = h.finish();
            self.push(a, state, ins, stage, key.clone(), key, shape_key, Vec::new(), sources, owner);
        }
        Ok(())
    }
}

fn report(node: &Node, new: &Analysis, old: &Analysis) -> StepReport {
    let reused = old.keys.contains(&node.key);
    let (reason, detail) = if reused { reused_reason(node, old) } else { rerun_reason(node, new, old) };
    StepReport {
        stage: new.stage_names[node.stage].clone(),
        position: node.position,
        stage_steps: new.totals.get(&node.stage).copied().unwrap_or(0),
        line: node.line,
        instruction: node.keyword.as_str().to_owned(),
        text: node.text.clone(),
        extension: node.owner.clone(),
        reused,
        reason,
        detail,
        key: node.key.clone(),
    }
}

fn reused_reason(node: &Node, old: &Analysis) -> (Reason, String) {
    if node.linked && !old.keys.contains(&node.before) {
        return (Reason::LinkedCopy, "layers before it changed; the copy itself did not".to_owned());
    }
    let twin = old.nodes.iter().find(|o| o.key == node.key);
    let detail = match twin {
        Some(o) if o.text != node.text => {
            format!("same key as line {} of the old file (the differences are not in BuildKit's key)", o.line)
        }
        _ => String::new(),
    };
    (Reason::Unchanged, detail)
}

fn rerun_reason(node: &Node, new: &Analysis, old: &Analysis) -> (Reason, String) {
    let old_keys = &old.keys;
    // What came before this step in its stage.
    let earlier: Vec<&Node> =
        new.nodes.iter().filter(|n| n.stage == node.stage && n.line < node.line).collect();
    if !node.linked && !old_keys.contains(&node.before) {
        let first_changed = earlier.iter().find(|n| !old_keys.contains(&n.chain));
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
    let candidates: Vec<&Node> = old
        .nodes
        .iter()
        .filter(|o| o.keyword == node.keyword && o.linked == node.linked)
        .filter(|o| node.linked || o.before == node.before)
        .collect();
    if let Some(twin) = candidates.iter().find(|o| o.shape == node.shape && o.context == node.context) {
        if twin.env != node.env {
            return (Reason::ArgEnvChanged, env_diff(&twin.env, &node.env));
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
    let old_base = old.stage_names.iter().position(|n| n == name).map(|i| &old.bases[i]);
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
    let mut changes = Vec::new();
    for (k, v) in new {
        match old.iter().find(|(o, _)| o == k) {
            None => changes.push(format!("`{k}` added")),
            Some((_, before)) if before != v => changes.push(format!("`{k}`: `{before}` → `{v}`")),
            _ => {}
        }
    }
    for (k, _) in old {
        if !new.iter().any(|(n, _)| n == k) {
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
        for (i, ins) in stage.instructions.iter().enumerate() {
            if let Body::Args(decls) = &ins.body {
                let next_run = stage.instructions[i + 1..].iter().find(|n| n.keyword == Keyword::Run);
                for d in decls.iter().filter(|d| !AUTOMATIC.contains(&d.name.as_str())) {
                    if let Some(run) = next_run
                        && !run_mentions(run, &d.name)
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

fn run_mentions(run: &Instruction, name: &str) -> bool {
    let in_body = match &run.body {
        Body::Shell(cmd) => dockerfile::mentions(cmd, name),
        Body::Exec(words) => words.iter().any(|w| dockerfile::mentions(w, name)),
        _ => false,
    };
    in_body
        || run.heredocs.iter().any(|d| dockerfile::mentions(&d.body, name))
        || run.flags.iter().any(|f| f.value.as_deref().is_some_and(|v| dockerfile::mentions(v, name)))
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
        let known = ["builder", "apt packages", "artifacts", "setup", "user setup", "the image's user"];
        (known.contains(&what) && crate::rules::is_identifier(name)).then(|| name.to_owned())
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
