//! What `quarry explain` predicts for a measurement's rebuild, counted the way the benchmark
//! counts what BuildKit did, so the two can stand side by side.
//!
//! The prediction is `quarry_buildkit::explain::explain` on OLD's and NEW's Dockerfiles with the
//! containerd engine model (the bench's engine), no build args, and the build-context files
//! that differ between OLD's and NEW's renders named as changed, as `quarry explain OLD.toml
//! NEW.toml` does for configurations. Counting, apples to apples with [`super::steps`]:
//!
//! - explain reports RUN, COPY and ADD steps of the stages the target needs; a linked copy is
//!   one step (its merge is not a step of its own), as the bench leaves out a copy's `LINK`
//!   merge vertex;
//! - identical steps of identical stages are one vertex in BuildKit, printed once; explain
//!   reports them once per stage, so predicted steps with equal modelled keys count once.

use std::collections::{BTreeMap, BTreeSet};

use quarry_buildkit::explain::{Options, Side, Store, explain};
use quarry_core::Rendered;

use super::steps::{Step, normalize};

/// explain's prediction for one rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// The predicted steps (one per modelled key): normalized instruction, reused or not.
    pub steps: Vec<(String, bool)>,
}

impl Prediction {
    /// Steps predicted to come from the cache.
    pub fn reused(&self) -> usize {
        self.steps.iter().filter(|(_, reused)| *reused).count()
    }

    /// Steps predicted to run again.
    pub fn rerun(&self) -> usize {
        self.steps.len() - self.reused()
    }

    /// Instructions on which the prediction and the measurement differ, as `text: predicted
    /// N re-run / M reused, measured ...` lines (empty: they agree step by step).
    pub fn disagreements(&self, measured: &[Step]) -> Vec<String> {
        // (re-run, reused) per instruction text: identical texts of different stages (the apt
        // prelude of several builders) are compared as a group.
        let mut counts: BTreeMap<&str, ([usize; 2], [usize; 2])> = BTreeMap::new();
        for (text, reused) in &self.steps {
            counts.entry(text).or_default().0[usize::from(*reused)] += 1;
        }
        for s in measured {
            counts.entry(&s.text).or_default().1[usize::from(s.cached)] += 1;
        }
        counts
            .into_iter()
            .filter(|(_, (p, m))| p != m)
            .map(|(text, (p, m))| {
                format!(
                    "{}: predicted {} re-run / {} reused, measured {} executed / {} cached",
                    shorten(text),
                    p[0],
                    p[1],
                    m[0],
                    m[1]
                )
            })
            .collect()
    }
}

fn shorten(text: &str) -> String {
    if text.len() <= 110 {
        return text.to_owned();
    }
    let cut = (0..=110).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    format!("{} ...", &text[..cut])
}

/// explain's prediction for rebuilding `new` on the cache `old` left.
pub fn predict(old: &Rendered, new: &Rendered) -> anyhow::Result<Prediction> {
    let before: BTreeMap<&str, &[u8]> = old.files.iter().map(|f| (f.path.as_str(), &*f.contents)).collect();
    let changed_context = new
        .files
        .iter()
        .filter(|f| before.get(f.path.as_str()) != Some(&&*f.contents))
        .map(|f| f.path.clone())
        .collect();
    let options = Options { store: Store::Containerd, changed_context, ..Options::default() };
    let old_side = Side { text: &old.dockerfile, origin: "OLD".to_owned(), build_args: BTreeMap::new() };
    let new_side = Side { text: &new.dockerfile, origin: "NEW".to_owned(), build_args: BTreeMap::new() };
    let explanation = explain(&old_side, &new_side, &options)?;
    let lines: Vec<&str> = new.dockerfile.lines().collect();
    let mut keys = BTreeSet::new();
    let mut steps = Vec::new();
    for step in &explanation.steps {
        // A linked copy whose merge alone runs is a cached copy, as the bench counts it (the
        // merge half is not counted).
        if keys.insert(step.key.as_str()) {
            steps.push((instruction_at(&lines, step.line), step.reused || step.linked_copy_cached));
        }
    }
    Ok(Prediction { steps })
}

/// The instruction starting at 1-based `line`, its `\`-continuations joined, normalized as the
/// bench normalizes BuildKit's step names.
fn instruction_at(lines: &[&str], line: usize) -> String {
    let mut text = String::new();
    for l in lines.iter().skip(line.saturating_sub(1)) {
        match l.strip_suffix('\\') {
            Some(head) => text.push_str(head),
            None => {
                text.push_str(l);
                break;
            }
        }
    }
    normalize(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::layout::Layout;
    use crate::bench::scenario::{Id, Scenario};

    fn prediction(id: Id, layout: Layout) -> Prediction {
        let s = Scenario::new(id);
        let old = layout.render(&s.old, None).unwrap();
        let new = layout.render(&s.new, Some(&old)).unwrap();
        predict(&old, &new).unwrap()
    }

    #[test]
    fn identical_files_are_predicted_reused_whole() {
        let p = prediction(Id::D, Layout::Quarry);
        assert_eq!(p.rerun(), 0, "{p:?}");
        assert!(p.reused() > 20, "{p:?}");
        // The apt prelude of every builder on the same base is one vertex, counted once.
        let preludes = p
            .steps
            .iter()
            .filter(|(t, _)| t.starts_with("RUN rm -f /etc/apt/apt.conf.d/docker-clean"))
            .count();
        assert_eq!(preludes, 1, "{p:?}");
    }

    #[test]
    fn a_bump_reruns_the_bumped_builder_and_its_copy() {
        let p = prediction(Id::C, Layout::Quarry);
        let rerun: Vec<&str> = p.steps.iter().filter(|(_, r)| !r).map(|(t, _)| t.as_str()).collect();
        assert_eq!(rerun.len(), 2, "{rerun:?}");
        assert!(rerun[0].contains("2.4.0"), "{rerun:?}");
        assert!(rerun[1].starts_with("COPY --link --from=kvstore_builder"), "{rerun:?}");
    }

    #[test]
    fn instructions_are_joined_over_continuations() {
        let lines = ["FROM x", "RUN a \\", "    b", "COPY c d"];
        assert_eq!(instruction_at(&lines, 2), "RUN a b");
        assert_eq!(instruction_at(&lines, 4), "COPY c d");
    }
}
