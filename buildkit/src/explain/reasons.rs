//! Why a step is reused or runs again: the per-step report and its reason, in words.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use super::analysis::{Analysis, Base, Node};
use crate::image;

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

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

pub(super) fn report(
    node: &Node,
    first_changed: Option<&Node>,
    new: &Analysis,
    old: &Analysis,
) -> StepReport {
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

pub(super) fn reused_reason(node: &Node, old: &Analysis) -> (Reason, String) {
    let twin = old.by_key.get(&node.key).map(|&i| &old.nodes[i]);
    let detail = match twin {
        Some(o) if o.text != node.text => {
            format!("same key as line {} of the old file (the differences are not in BuildKit's key)", o.line)
        }
        None if old.earlier.contains(&node.key) => {
            "an earlier build left the same layer in the cache".to_owned()
        }
        _ => String::new(),
    };
    (Reason::Unchanged, detail)
}

pub(super) fn rerun_reason(
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
                            image::short(image),
                            image::short(image)
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
pub(super) fn difference(old: &str, new: &str) -> String {
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

pub(super) fn from_detail(stage: usize, new: &Analysis, old: &Analysis) -> String {
    let name = &new.stage_names[stage];
    let old_base = old.stage_index.get(name).map(|&i| &old.bases[i]);
    match (&new.bases[stage], old_base) {
        (Base::Image(image), Some(Base::Image(before))) if image != before => {
            format!("`{}` → `{}`", image::short(before), image::short(image))
        }
        (Base::Image(image), _) => {
            format!("`{}` is not what the old build started from", image::short(image))
        }
        (Base::Stage(parent), _) => {
            format!("it builds on stage `{}`, which runs again", new.stage_names[*parent])
        }
    }
}

pub(super) fn env_diff(old: &[(String, String)], new: &[(String, String)]) -> String {
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
