//! The stage walker: global ARGs and FROM lines first, then every stage the target needs, each
//! after the stages it needs, with an explicit stack.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::analysis::{Analysis, Base, Place, Progress, StageState, Step, Walker, expand_capped, find_stage};
use super::keys::join_path;
use super::options::{ExplainError, MAX_EXPANDED_TOTAL, MAX_EXPANDED_VALUE, Options, Side};
use super::vars::{VarLog, VarOp};
use crate::dockerfile::{self, Body, Dockerfile, Keyword, Stage};
use crate::hash::Hasher;
use crate::image;

pub(super) fn analyze(
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
            None => Base::Image(image::normalize(&base)),
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
        earlier: HashSet::new(),
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

impl Walker<'_> {
    /// The stages a stage needs before it, as far as they are known without walking it: its
    /// FROM, and `--from`/`from=` references that name a stage with global ARGs only.
    /// (line, reference, stage) each.
    pub(super) fn dependencies(&self, index: usize, a: &Analysis) -> Vec<(usize, String, usize)> {
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
    pub(super) fn walk(&mut self, target: usize, a: &mut Analysis) -> Result<(), ExplainError> {
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

    pub(super) fn stage(&mut self, index: usize, a: &mut Analysis) -> Result<Progress, ExplainError> {
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
                    self.push(a, &mut state, Place { ins, stage: index, owner: owner.clone() }, step);
                }
                (Keyword::Run, _) => {
                    state.positions += 1;
                    if let Some(needs) =
                        self.run(a, &mut state, Place { ins, stage: index, owner: owner.clone() })?
                    {
                        return Ok(needs);
                    }
                }
                (Keyword::Copy | Keyword::Add, _) => {
                    state.positions += 1;
                    if let Some(needs) =
                        self.copy(a, &mut state, Place { ins, stage: index, owner: owner.clone() })?
                    {
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
}

/// The owner of a stage in quarry's output: `# NAME: builder` above or right after FROM, or the
/// shared builder base of older renders.
pub(super) fn stage_owner(stage: &Stage) -> Option<String> {
    if stage.name.as_deref().is_some_and(|n| n.starts_with("quarry_builder_base")) {
        return Some("shared builder base".to_owned());
    }
    comment_owner(&stage.comments)
        .or_else(|| stage.instructions.first().and_then(|i| comment_owner(&i.comments)))
}

/// `# cargo: apt packages` -> `cargo`.
pub(super) fn comment_owner(comments: &[String]) -> Option<String> {
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
        (known && is_extension_name(name)).then(|| name.to_owned())
    })
}

/// Whether `name` can be an extension's name as quarry writes it in comments: 1 to 64 ASCII
/// letters, digits, `_`, `.` or `-`, starting with a letter, digit or `_` (quarry's own rule for
/// identifiers, kept here so that this crate needs nothing of quarry's model).
fn is_extension_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().all(allowed)
}
