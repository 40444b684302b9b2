//! The figures of one measurement: one scenario in one layout, its steps executed and cached,
//! which of them count against the scenario's target, and what explain predicted for it.

use std::collections::BTreeSet;

use quarry_core::Rendered;

use super::extensions::BUMPED;
use super::layout::Layout;
use super::predict::{Prediction, predict};
use super::scenario::Id;
use super::steps::{self, Step};
use super::{Measurement, Timings};
use quarry_core::FINAL_STAGE;

/// The figures of one scenario in one layout.
#[derive(Debug, Clone)]
pub struct Row {
    /// Which scenario.
    pub scenario: Id,
    /// Which layout.
    pub layout: Layout,
    /// Seconds: the rebuild of NEW on OLD's cache.
    pub rebuild: f64,
    /// Seconds of the rebuild during which the engine executed steps: its physical limit.
    pub limit: f64,
    /// Seconds: OLD built on an empty cache.
    pub old_clean: f64,
    /// Seconds: NEW built on an empty cache.
    pub new_clean: f64,
    /// NEW's file is OLD's (its clean build is OLD's, not measured again).
    pub new_is_old: bool,
    /// NEW's image size in bytes (`docker image inspect .Size`).
    pub size: u64,
    /// The counted steps of the rebuild.
    pub steps: Vec<Step>,
    /// `quarry explain`'s prediction for the rebuild (or why there is none).
    pub prediction: Result<Prediction, String>,
    /// Texts of OLD's RUN, COPY and ADD instructions.
    pub(super) old_texts: BTreeSet<String>,
    /// Extensions of OLD that NEW no longer has.
    pub(super) removed: Vec<String>,
    /// Texts of OLD's final-stage RUN chain steps that follow a removed extension's steps.
    pub(super) chain_followers: BTreeSet<String>,
    /// Texts of the bumped extension's builder steps from its first changed instruction on.
    pub(super) bumped_builder: BTreeSet<String>,
}

impl Row {
    /// The figures of a measurement.
    pub fn new(m: &Measurement<'_>, t: &Timings) -> Row {
        let names = |r: &Rendered| -> Vec<&'static str> {
            r.resolved.extensions.iter().map(|e| e.extension.name).collect()
        };
        let old_instructions = steps::instructions(&m.old.dockerfile, &names(&m.old));
        let old_texts = old_texts_of(&old_instructions);
        let new_instructions = steps::instructions(&m.new.dockerfile, &names(&m.new));
        let new_names = names(&m.new);
        let removed: Vec<String> =
            names(&m.old).into_iter().filter(|n| !new_names.contains(n)).map(str::to_owned).collect();
        Row {
            scenario: m.scenario.id,
            layout: m.layout,
            rebuild: t.rebuild.wall,
            limit: t.rebuild.executed,
            old_clean: t.old_clean,
            new_clean: t.new_clean,
            new_is_old: t.new_is_old,
            size: t.size,
            steps: steps::classify(&t.rebuild.vertices, &new_instructions),
            prediction: predict(&m.old, &m.new).map_err(|e| format!("{e:#}")),
            old_texts,
            chain_followers: chain_followers(&old_instructions, &removed),
            bumped_builder: bumped_builder(&new_instructions, &old_texts_of(&old_instructions)),
            removed,
        }
    }

    pub(super) fn count(&self, f: impl Fn(&Step) -> bool) -> usize {
        self.steps.iter().filter(|s| f(s)).count()
    }

    /// Steps executed.
    pub fn executed(&self) -> usize {
        self.count(|s| !s.cached)
    }

    /// Steps from the cache.
    pub fn cached(&self) -> usize {
        self.count(|s| s.cached)
    }

    /// Cached RUN steps over all RUN steps.
    pub fn run_hit_rate(&self) -> f64 {
        ratio(self.count(|s| s.keyword == "RUN" && s.cached), self.count(|s| s.keyword == "RUN"))
    }

    /// Cached steps over all steps.
    pub fn hit_rate(&self) -> f64 {
        ratio(self.cached(), self.steps.len())
    }

    /// Steps whose instruction was in OLD: (how many, how many of them came from the cache).
    pub fn preexisting(&self) -> (usize, usize) {
        let pre = |s: &Step| self.old_texts.contains(&s.text);
        (self.count(pre), self.count(|s| pre(s) && s.cached))
    }

    /// The executed steps `keep` selects, as `stage: instruction` lines.
    pub(super) fn executed_where(&self, keep: impl Fn(&Step) -> bool) -> Vec<String> {
        self.steps.iter().filter(|s| !s.cached && keep(s)).map(describe).collect()
    }

    /// The executed steps that existed in OLD.
    pub fn rerun_preexisting(&self) -> Vec<String> {
        self.executed_where(|s| self.old_texts.contains(&s.text))
    }

    /// The executed steps that existed in OLD, counted by kind: `1 apt layer, 8 setup steps`.
    pub fn rerun_kinds(&self) -> String {
        let rerun: Vec<&Step> =
            self.steps.iter().filter(|s| !s.cached && self.old_texts.contains(&s.text)).collect();
        let kinds = [
            ("builder step", "builder steps", rerun.iter().filter(|s| s.builder_stage).count()),
            ("copy", "copies", rerun.iter().filter(|s| !s.builder_stage && s.keyword != "RUN").count()),
            (
                "apt layer",
                "apt layers",
                rerun.iter().filter(|s| !s.builder_stage && s.keyword == "RUN" && is_apt(s)).count(),
            ),
            (
                "setup step",
                "setup steps",
                rerun.iter().filter(|s| !s.builder_stage && s.keyword == "RUN" && !is_apt(s)).count(),
            ),
        ];
        let parts: Vec<String> =
            kinds.iter().map(|(one, many, n)| format!("{n} {}", if *n == 1 { one } else { many })).collect();
        parts.join(", ")
    }

    /// The executed steps shown under builder stages.
    pub fn builder_executed(&self) -> Vec<String> {
        self.executed_where(|s| s.builder_stage)
    }

    /// Whether `s` is the bumped extension's own: a step of its builder from the first changed
    /// instruction on, or a copy of its builder's (changed) output into the final stage.
    pub(super) fn is_bumped_own(&self, s: &Step) -> bool {
        let from = format!("--from={}_builder ", BUMPED.0);
        (s.builder_stage && self.bumped_builder.contains(&s.text))
            || (!s.builder_stage && s.keyword == "COPY" && s.text.contains(&from))
    }

    /// Whether `s` is a final-stage RUN that followed a removed extension's steps in OLD's chain.
    pub(super) fn is_chain_follower(&self, s: &Step) -> bool {
        !s.builder_stage && s.keyword == "RUN" && self.chain_followers.contains(&s.text)
    }

    /// `(agrees step by step, lines where it does not)` of explain's prediction and the
    /// measurement; `None` without a prediction.
    pub fn agreement(&self) -> Option<(bool, Vec<String>)> {
        let p = self.prediction.as_ref().ok()?;
        let differ = p.disagreements(&self.steps);
        Some((differ.is_empty() && p.rerun() == self.executed() && p.reused() == self.cached(), differ))
    }

    /// `yes`, `no` or `n/a` (explain failed).
    pub(super) fn agrees_word(&self) -> &'static str {
        match self.agreement() {
            Some((true, _)) => "yes",
            Some((false, _)) => "no",
            None => "n/a",
        }
    }
}

fn old_texts_of(old: &[steps::Instruction]) -> BTreeSet<String> {
    old.iter().map(|i| i.text.clone()).collect()
}

/// Texts of the bumped extension's builder-stage steps in `new` from the first one whose text
/// OLD does not have on (a step after a changed one runs again with it).
fn bumped_builder(new: &[steps::Instruction], old_texts: &BTreeSet<String>) -> BTreeSet<String> {
    let stage = format!("{}_builder", BUMPED.0);
    new.iter()
        .filter(|i| i.stage == stage)
        .skip_while(|i| old_texts.contains(&i.text))
        .map(|i| i.text.clone())
        .collect()
}

/// Texts of the final-stage RUN chain steps of `old` (the final stage's RUNs before its first
/// COPY) that come after the last chain step of an extension in `removed`.
fn chain_followers(old: &[steps::Instruction], removed: &[String]) -> BTreeSet<String> {
    let chain: Vec<&steps::Instruction> = old
        .iter()
        .filter(|i| i.stage == FINAL_STAGE)
        .take_while(|i| !i.text.starts_with("COPY") && !i.text.starts_with("ADD"))
        .collect();
    let last_removed =
        chain.iter().rposition(|i| i.owner.as_ref().is_some_and(|o| removed.iter().any(|r| r == o)));
    match last_removed {
        Some(at) => chain[at + 1..].iter().map(|i| i.text.clone()).collect(),
        None => BTreeSet::new(),
    }
}

fn describe(s: &Step) -> String {
    let mut text = s.text.clone();
    if text.len() > 110 {
        let cut = (0..=110).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push_str(" ...");
    }
    format!("[{}{}] {text}", s.stage, s.owner.as_ref().map(|o| format!(", {o}")).unwrap_or_default())
}

/// An apt layer, or the prelude that readies the apt cache.
fn is_apt(s: &Step) -> bool {
    s.text.contains("apt-get install") || s.text.contains("Keep-Downloaded-Packages")
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}
