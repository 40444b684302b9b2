//! The figures of one measurement per scenario and layout, the table, the targets and the JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use quarry_core::Rendered;
use serde_json::{Value, json};

use super::extensions::BUMPED;
use super::layout::Layout;
use super::scenario::{Id, Scenario};
use super::steps::{self, Step};
use super::{Measurement, Timings};

/// The figures of one scenario in one layout.
#[derive(Debug, Clone)]
pub struct Row {
    /// Which scenario.
    pub scenario: Id,
    /// Which layout.
    pub layout: Layout,
    /// Seconds: the rebuild of NEW on OLD's cache.
    pub rebuild: f64,
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
    /// Texts of OLD's RUN, COPY and ADD instructions.
    old_texts: BTreeSet<String>,
}

impl Row {
    /// The figures of a measurement.
    pub fn new(m: &Measurement<'_>, t: &Timings) -> Row {
        let names = |r: &Rendered| -> Vec<&'static str> {
            r.resolved.extensions.iter().map(|e| e.extension.name).collect()
        };
        let old_texts =
            steps::instructions(&m.old.dockerfile, &names(&m.old)).into_iter().map(|i| i.text).collect();
        let new_instructions = steps::instructions(&m.new.dockerfile, &names(&m.new));
        Row {
            scenario: m.scenario.id,
            layout: m.layout,
            rebuild: t.rebuild.wall,
            old_clean: t.old_clean,
            new_clean: t.new_clean,
            new_is_old: t.new_is_old,
            size: t.size,
            steps: steps::classify(&t.rebuild.vertices, &new_instructions),
            old_texts,
        }
    }

    fn count(&self, f: impl Fn(&Step) -> bool) -> usize {
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
    fn executed_where(&self, keep: impl Fn(&Step) -> bool) -> Vec<String> {
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

    /// The executed steps that are not the bumped extension's own.
    pub fn executed_not_bumped(&self) -> Vec<String> {
        self.executed_where(|s| s.owner.as_deref() != Some(BUMPED.0))
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

/// What a target is about: step reuse (checked) or time (a figure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Steps reused: a failure fails the benchmark.
    Reuse,
    /// A time ratio: reported, never fails the run.
    Time,
}

/// A target's outcome for one quarry layout.
#[derive(Debug, Clone)]
pub struct Target {
    /// Scenario.
    pub scenario: Id,
    /// Layout.
    pub layout: Layout,
    /// The target in words.
    pub what: String,
    /// Reuse or time.
    pub kind: Kind,
    /// Met or not.
    pub pass: bool,
    /// The numbers behind it.
    pub figures: String,
    /// Steps that broke it.
    pub offenders: Vec<String>,
}

/// All rows of a run.
#[derive(Debug)]
pub struct Report {
    engine: String,
    scenarios: Vec<(Id, String)>,
    rows: Vec<Row>,
    targets: Vec<Target>,
}

impl Report {
    /// The report of `rows`, measured on `engine`.
    pub fn new(engine: String, scenarios: &[Scenario], rows: Vec<Row>) -> Report {
        let targets = targets(&rows);
        let scenarios = scenarios.iter().map(|s| (s.id, s.title.clone())).collect();
        Report { engine, scenarios, rows, targets }
    }

    fn row(&self, id: Id, layout: Layout) -> Option<&Row> {
        self.rows.iter().find(|r| r.scenario == id && r.layout == layout)
    }

    /// How many step-reuse targets failed.
    pub fn failed_reuse_targets(&self) -> usize {
        self.targets.iter().filter(|t| t.kind == Kind::Reuse && !t.pass).count()
    }

    /// The table, one row per scenario and layout.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "cache benchmark on {}", self.engine);
        for (id, title) in &self.scenarios {
            let _ = writeln!(s, "  {}: {title}", id.letter());
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| scenario | layout | executed | cached | hit rate | RUN hit rate | pre-existing reused | rebuild s | naive / this rebuild | clean OLD s | clean NEW s | size MB |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let (pre, reused) = r.preexisting();
            let vs_naive = self
                .row(r.scenario, Layout::Naive)
                .filter(|_| r.layout != Layout::Naive)
                .map(|n| format!("{:.1}x", n.rebuild / r.rebuild))
                .unwrap_or_else(|| "-".to_owned());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} % | {:.0} % | {reused}/{pre} | {:.1} | {vs_naive} | {:.1} | {}{:.1} | {:.1} |",
                r.scenario.letter(),
                r.layout.name(),
                r.executed(),
                r.cached(),
                100.0 * r.hit_rate(),
                100.0 * r.run_hit_rate(),
                r.rebuild,
                r.old_clean,
                if r.new_is_old { "=OLD " } else { "" },
                r.new_clean,
                r.size as f64 / 1e6,
            );
        }
        let _ = writeln!(
            s,
            "\nSteps are RUN, COPY and ADD steps of the rebuild (a `COPY --link`'s merge half is not counted); \
             pre-existing: steps whose instruction was in OLD. Sizes: `docker image inspect .Size` \
             (compressed content on the containerd store)."
        );
        s
    }

    /// The targets, pass or fail, with their figures.
    pub fn targets_text(&self) -> String {
        let mut s = String::from("\ntargets (quarry layouts; the naive layout is the baseline):\n");
        for t in &self.targets {
            let verdict = match (t.pass, t.kind) {
                (true, _) => "pass",
                (false, Kind::Reuse) => "FAIL",
                (false, Kind::Time) => "not met (a figure; does not fail the run)",
            };
            let _ = writeln!(
                s,
                "  {} {:<15} {}: {verdict} ({})",
                t.scenario.letter(),
                t.layout.name(),
                t.what,
                t.figures
            );
            for o in t.offenders.iter().take(12) {
                let _ = writeln!(s, "      re-ran {o}");
            }
            if t.offenders.len() > 12 {
                let _ = writeln!(s, "      ... and {} more", t.offenders.len() - 12);
            }
        }
        s
    }

    /// Everything, for `--json`.
    pub fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let (pre, reused) = r.preexisting();
                json!({
                    "scenario": r.scenario.letter(),
                    "layout": r.layout.name(),
                    "steps_executed": r.executed(),
                    "steps_cached": r.cached(),
                    "hit_rate": r.hit_rate(),
                    "run_hit_rate": r.run_hit_rate(),
                    "preexisting_steps": pre,
                    "preexisting_reused": reused,
                    "rebuild_s": r.rebuild,
                    "clean_old_s": r.old_clean,
                    "clean_new_s": r.new_clean,
                    "clean_new_is_clean_old": r.new_is_old,
                    "image_size_bytes": r.size,
                    "executed": r.executed_where(|_| true),
                })
            })
            .collect();
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                json!({
                    "scenario": t.scenario.letter(),
                    "layout": t.layout.name(),
                    "target": t.what,
                    "kind": match t.kind { Kind::Reuse => "reuse", Kind::Time => "time" },
                    "pass": t.pass,
                    "figures": t.figures,
                    "offenders": t.offenders,
                })
            })
            .collect();
        let scenarios: Vec<Value> =
            self.scenarios.iter().map(|(id, title)| json!({ "id": id.letter(), "change": title })).collect();
        json!({
            "benchmark": "cargo xtask bench cache",
            "engine": self.engine,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "scenarios": scenarios,
            "rows": rows,
            "targets": targets,
        })
    }
}

fn targets(rows: &[Row]) -> Vec<Target> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.layout.is_quarry()) {
        let target = |what: &str, offenders: Vec<String>, figures: String| Target {
            scenario: r.scenario,
            layout: r.layout,
            what: what.to_owned(),
            kind: Kind::Reuse,
            pass: offenders.is_empty(),
            figures,
            offenders,
        };
        let (pre, reused) = r.preexisting();
        match r.scenario {
            Id::A | Id::D | Id::E => out.push(target(
                "every step that existed before is reused",
                r.rerun_preexisting(),
                format!("{reused} of {pre} reused; re-ran {}", r.rerun_kinds()),
            )),
            Id::B => {
                let builder_steps = r.count(|s| s.builder_stage);
                let offenders = r.builder_executed();
                let figures = format!(
                    "{} of {builder_steps} builder-stage steps reused",
                    builder_steps - offenders.len()
                );
                out.push(target("every builder-stage step is reused", offenders, figures));
            }
            Id::C => {
                let offenders = r.executed_not_bumped();
                let figures = format!(
                    "{} steps executed, {} of them not `{}`'s",
                    r.executed(),
                    offenders.len(),
                    BUMPED.0
                );
                out.push(target(&format!("only `{}`'s steps run again", BUMPED.0), offenders, figures));
            }
        }
        if r.scenario == Id::A
            && let Some(naive) = rows.iter().find(|n| n.scenario == Id::A && n.layout == Layout::Naive)
        {
            let speedup = naive.rebuild / r.rebuild;
            out.push(Target {
                scenario: Id::A,
                layout: r.layout,
                what: "rebuild at least 3x faster than the naive layout".to_owned(),
                kind: Kind::Time,
                pass: speedup >= 3.0,
                figures: format!("{:.1} s vs {:.1} s: {speedup:.1}x", r.rebuild, naive.rebuild),
                offenders: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario::Scenario;
    use quarry_cli::progress::StepVertex;

    /// A rebuild in which the steps whose `<stage> <instruction>` contains one of `executed` ran.
    fn row(id: Id, layout: Layout, executed: &[&str], rebuild: f64) -> Row {
        let scenario = Scenario::new(id);
        let m = Measurement {
            scenario: &scenario,
            layout,
            old: layout.render(&scenario.old, None).unwrap(),
            new: layout.render(&scenario.new, None).unwrap(),
            stem: String::new(),
        };
        let names: Vec<&str> = m.new.resolved.extensions.iter().map(|e| e.extension.name).collect();
        let vertices = steps::instructions(&m.new.dockerfile, &names)
            .into_iter()
            .map(|i| StepVertex {
                stage: i.stage.clone(),
                index: 1,
                total: 1,
                cached: !executed.iter().any(|e| format!("{} {}", i.stage, i.text).contains(e)),
                instruction: i.text,
                link_merge: false,
                digest: String::new(),
            })
            .collect();
        let rebuild = crate::bench::measure::Build { wall: rebuild, vertices };
        Row::new(&m, &Timings { rebuild, old_clean: 60.0, new_clean: 61.0, new_is_old: false, size: 1 })
    }

    #[test]
    fn reuse_targets_name_the_steps_that_broke_them() {
        let a = row(Id::A, Layout::Quarry, &["jsongen", "jq", "localedef"], 10.0);
        let naive = row(Id::A, Layout::Naive, &["localedef"], 35.0);
        let c = row(Id::C, Layout::Quarry, &["libkv", "kvstore.conf"], 5.0);
        let c_nolock = row(Id::C, Layout::QuarryNoLock, &["libkv", "useradd"], 5.0);
        let report = Report::new(
            "test".into(),
            &[Scenario::new(Id::A), Scenario::new(Id::C)],
            vec![a, naive, c, c_nolock],
        );
        let summary: Vec<(Id, &str, bool, usize)> =
            report.targets.iter().map(|t| (t.scenario, t.layout.name(), t.pass, t.offenders.len())).collect();
        assert_eq!(
            summary,
            [(Id::A, "quarry", false, 1), (Id::A, "quarry", true, 0), (Id::C, "quarry", true, 0),]
        );
        assert!(report.targets[0].offenders[0].contains("localedef"), "{:?}", report.targets[0].offenders);
        assert_eq!(
            report.targets[0].figures,
            "34 of 35 reused; re-ran 0 builder steps, 0 copies, 0 apt layers, 1 setup step"
        );
        assert!(report.targets[1].figures.ends_with("3.5x"), "{}", report.targets[1].figures);
        assert_eq!(report.failed_reuse_targets(), 1);
        let table = report.table();
        // jsontools' builder COPY and RUN and its apt layer; locale's setup.
        assert!(table.contains("| A | quarry | 4 | 36 | 90 % | 85 % | 34/35 |"), "{table}");
        assert!(table.contains("| 3.5x |"), "{table}");
    }

    #[test]
    fn builder_steps_are_told_apart_in_b() {
        let b = row(Id::B, Layout::Quarry, &["quarry_final RUN"], 20.0);
        let targets = targets(&[b]);
        assert!(targets[0].pass, "{:?}", targets[0]);
        let naive_like = row(Id::B, Layout::Quarry, &["gcc -O2"], 20.0);
        assert!(!targets_of(naive_like)[0].pass);
    }

    fn targets_of(r: Row) -> Vec<Target> {
        targets(&[r])
    }
}
