//! Predicts which steps of a new Dockerfile BuildKit takes from the cache an old one left, and why.
//!
//! The model follows the measured rules in `shared/buildkit-cache-facts.md`. Each step gets a key
//! built the way BuildKit builds its cache keys: the step's definition (text, the ARGs and ENVs in
//! its environment, WORKDIR, USER, SHELL, cache-mount options that count on the engine) on top of
//! the key of the step before it. `COPY --from` is keyed on the copied stage's content instead of
//! its definition, and `COPY --link` on the containerd image store leaves out the layers before it.
//! A step of the new file is reused exactly when the old build produced a step with the same key.
//! A stage that runs again is assumed to produce different bytes unless the caller says otherwise.
//!
//! `options` holds the inputs and errors, `walk` walks the stages (`analysis` holds what it
//! builds, `vars` the ARG and ENV state, `keys` the key of each step), `reasons` says why each
//! step is reused or not, and `lint` finds cache busters.

mod analysis;
mod keys;
mod lint;
mod options;
mod reasons;
mod vars;
mod walk;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::dockerfile::{self, Dockerfile, Stage};
use crate::image;
use analysis::Node;
use lint::warnings;
use reasons::report;
use walk::analyze;

pub use lint::Warning;
pub use options::{ExplainError, MAX_EXPANDED_TOTAL, MAX_EXPANDED_VALUE, Options, Side, Store};
pub use reasons::{Reason, StepReport};

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
    /// Every modelled key of the new build (its vertices and their chains), sorted: what its
    /// layers leave in the cache, for [`Options::cached_keys`] of later builds.
    #[serde(skip)]
    pub keys: Vec<String>,
}

/// Explains `new` against `old`.
pub fn explain(old: &Side, new: &Side, options: &Options) -> Result<Explanation, ExplainError> {
    let old_df = parse(old)?;
    let new_df = parse(new)?;
    let mut before = analyze(&old_df, old, options, None)?;
    // What earlier builds left in the cache counts as the old build's.
    before.earlier = options.cached_keys.iter().filter(|k| !before.keys.contains(*k)).cloned().collect();
    before.keys.extend(before.earlier.iter().cloned());
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
                .map(|i| format!("`{}`", image::short(i)))
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
    let mut keys: Vec<String> = after.keys.iter().cloned().collect();
    keys.sort_unstable();
    Ok(Explanation {
        keys,
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
