//! The report of a run: the table of every scenario and layout (`row.rs` holds the figures of
//! one), the targets checked on them, and the JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::extensions::BUMPED;
use super::layout::Layout;
use super::row::Row;
use super::scenario::{Id, Scenario};

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
            "| scenario | layout | executed | cached | explain: re-run | explain: reused | explain agrees | hit rate | RUN hit rate | pre-existing reused | rebuild s | limit s | rebuild / limit | naive / this rebuild | clean OLD s | clean NEW s | size MB |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let (pre, reused) = r.preexisting();
            let vs_naive = self
                .row(r.scenario, Layout::Naive)
                .filter(|_| r.layout != Layout::Naive)
                .map(|n| format!("{:.1}x", n.rebuild / r.rebuild))
                .unwrap_or_else(|| "-".to_owned());
            let vs_limit =
                if r.limit > 0.0 { format!("{:.2}x", r.rebuild / r.limit) } else { "-".to_owned() };
            let (predicted_rerun, predicted_reused) = match &r.prediction {
                Ok(p) => (p.rerun().to_string(), p.reused().to_string()),
                Err(_) => ("-".to_owned(), "-".to_owned()),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {predicted_rerun} | {predicted_reused} | {} | {:.0} % | {:.0} % | {reused}/{pre} | {:.1} | {:.1} | {vs_limit} | {vs_naive} | {:.1} | {}{:.1} | {:.1} |",
                r.scenario.letter(),
                r.layout.name(),
                r.executed(),
                r.cached(),
                r.agrees_word(),
                100.0 * r.hit_rate(),
                100.0 * r.run_hit_rate(),
                r.rebuild,
                r.limit,
                r.old_clean,
                if r.new_is_old { "=OLD " } else { "" },
                r.new_clean,
                r.size as f64 / 1e6,
            );
        }
        let _ = writeln!(
            s,
            "\nSteps are RUN, COPY and ADD steps of the rebuild, one per BuildKit vertex (a `COPY --link`'s \
             merge half is not counted); pre-existing: steps whose instruction was in OLD. explain: \
             `quarry_buildkit::explain` on OLD's and NEW's Dockerfiles (containerd store model, build-context \
             files that differ between the renders named as changed), counted alike: its RUN, COPY and ADD \
             steps, a linked copy once, steps with equal modelled keys (identical steps of identical \
             stages, one vertex in BuildKit) once; it agrees when every instruction has the same number \
             of re-run and reused steps in both. Sizes: `docker image inspect .Size` (compressed content \
             on the containerd store). limit: the seconds during which the engine executed steps of the \
             rebuild (its own start and end times, steps that ran side by side counted once), the least \
             any tool could take; rebuild / limit is the overhead above it (`-` when nothing ran)."
        );
        for r in &self.rows {
            match (&r.prediction, r.agreement()) {
                (Err(e), _) => {
                    let _ = writeln!(s, "  {} {}: explain failed: {e}", r.scenario.letter(), r.layout.name());
                }
                (Ok(_), Some((false, differ))) => {
                    let _ = writeln!(s, "  {} {}: explain disagrees:", r.scenario.letter(), r.layout.name());
                    for d in &differ {
                        let _ = writeln!(s, "      {d}");
                    }
                }
                _ => {}
            }
        }
        s
    }

    /// What the lock saves: per scenario, steps executed and rebuild seconds with and without it.
    pub fn lock_text(&self) -> String {
        let mut s = String::from(
            "\nlock vs no lock (quarry keeps OLD's chain order as quarry.lock does; quarry-nolock renders \
             the canonical order every time):\n",
        );
        let _ = writeln!(
            s,
            "| scenario | executed: quarry | executed: quarry-nolock | rebuild s: quarry | rebuild s: quarry-nolock |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        let mut any = false;
        for (id, _) in &self.scenarios {
            let (Some(lock), Some(nolock)) =
                (self.row(*id, Layout::Quarry), self.row(*id, Layout::QuarryNoLock))
            else {
                continue;
            };
            any = true;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.1} |",
                id.letter(),
                lock.executed(),
                nolock.executed(),
                lock.rebuild,
                nolock.rebuild
            );
        }
        if any { s } else { String::new() }
    }

    /// The targets, pass or fail, with their figures.
    pub fn targets_text(&self) -> String {
        let mut s = String::from("\ntargets (the quarry layout; quarry-nolock and naive are baselines):\n");
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
                    "explain": match (&r.prediction, r.agreement()) {
                        (Ok(p), Some((agrees, differ))) => json!({
                            "rerun": p.rerun(),
                            "reused": p.reused(),
                            "agrees": agrees,
                            "disagreements": differ,
                        }),
                        (Err(e), _) => json!({ "error": e }),
                        (Ok(_), None) => Value::Null,
                    },
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
        let figures = |also: &str| format!("{reused} of {pre} reused; re-ran {}{also}", r.rerun_kinds());
        match r.scenario {
            Id::A => {
                out.push(target("no step that existed before runs again", r.rerun_preexisting(), figures("")))
            }
            Id::C => {
                let allowed = r.count(|s| !s.cached && r.old_texts.contains(&s.text) && r.is_bumped_own(s));
                out.push(target(
                    &format!(
                        "no step that existed before runs again, apart from `{}`'s own (its builder's steps \
                         from the changed one on, the copy of its output)",
                        BUMPED.0
                    ),
                    r.executed_where(|s| r.old_texts.contains(&s.text) && !r.is_bumped_own(s)),
                    figures(&format!("; {allowed} of them `{}`'s own", BUMPED.0)),
                ))
            }
            Id::E => {
                let allowed =
                    r.count(|s| !s.cached && r.old_texts.contains(&s.text) && r.is_chain_follower(s));
                let removed = r.removed.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                out.push(target(
                    &format!(
                        "no step that existed before runs again, apart from the final stage's RUN chain \
                         steps that followed {removed}'s in OLD's chain ({} of them)",
                        r.chain_followers.len()
                    ),
                    r.executed_where(|s| r.old_texts.contains(&s.text) && !r.is_chain_follower(s)),
                    figures(&format!("; {allowed} of them chain followers of {removed}")),
                ))
            }
            Id::D => {
                let mut offenders = r.executed_where(|_| true);
                if !r.new_is_old {
                    offenders
                        .insert(0, "(NEW's Dockerfile or build-context files differ from OLD's)".to_owned());
                }
                let figures = format!(
                    "Dockerfile and files {}; {} steps executed, {} cached",
                    if r.new_is_old { "byte-identical" } else { "DIFFER" },
                    r.executed(),
                    r.cached()
                );
                out.push(target(
                    "NEW's Dockerfile and build-context files are byte-identical to OLD's, and nothing runs",
                    offenders,
                    figures,
                ));
            }
            Id::B => {
                let builder_steps = r.count(|s| s.builder_stage);
                let offenders = r.builder_executed();
                let figures = format!(
                    "{} of {builder_steps} builder-stage steps reused",
                    builder_steps - offenders.len()
                );
                out.push(target("every builder-stage step is reused", offenders, figures));
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
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::bench::predict::predict;
    use crate::bench::scenario::Scenario;
    use crate::bench::steps;
    use crate::bench::{Measurement, Timings};
    use quarry_docker::progress::StepVertex;

    /// The vertices BuildKit shows for a build of `dockerfile`: one per instruction, except that
    /// stages from the same image with the same steps so far share their vertices, as BuildKit
    /// builds identical steps once.
    fn vertices(
        dockerfile: &str,
        names: &[&str],
        cached: impl Fn(&steps::Instruction) -> bool,
    ) -> Vec<StepVertex> {
        let bases: BTreeMap<&str, &str> = dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix("FROM "))
            .filter_map(|l| l.split_once(" AS ").map(|(base, stage)| (stage.trim(), base.trim())))
            .collect();
        let mut seen = BTreeSet::new();
        let mut so_far: (String, Vec<String>) = Default::default();
        let mut out = Vec::new();
        for i in steps::instructions(dockerfile, names) {
            if so_far.0 != i.stage {
                so_far = (i.stage.clone(), vec![bases[i.stage.as_str()].to_owned()]);
            }
            so_far.1.push(i.text.clone());
            if !seen.insert(so_far.1.clone()) {
                continue;
            }
            out.push(StepVertex {
                stage: i.stage.clone(),
                index: 1,
                total: 1,
                cached: cached(&i),
                instruction: i.text,
                link_merge: false,
                digest: String::new(),
            });
        }
        out
    }

    fn measurement(scenario: &Scenario, layout: Layout) -> Measurement<'_> {
        let old = layout.render(&scenario.old, None).unwrap();
        let new = layout.render(&scenario.new, Some(&old)).unwrap();
        Measurement { scenario, layout, old, new, stem: String::new() }
    }

    fn row_of(m: &Measurement<'_>, vertices: Vec<StepVertex>, rebuild: f64) -> Row {
        let new_is_old = m.old.dockerfile == m.new.dockerfile && m.old.files == m.new.files;
        let rebuild = crate::bench::measure::Build { wall: rebuild, executed: rebuild / 2.0, vertices };
        Row::new(m, &Timings { rebuild, old_clean: 60.0, new_clean: 61.0, new_is_old, size: 1 })
    }

    /// A rebuild in which the steps whose `<stage> <instruction>` contains one of `executed` ran.
    fn row(id: Id, layout: Layout, executed: &[&str], rebuild: f64) -> Row {
        let scenario = Scenario::new(id);
        let m = measurement(&scenario, layout);
        let names: Vec<&str> = m.new.resolved.extensions.iter().map(|e| e.extension.name).collect();
        let v = vertices(&m.new.dockerfile, &names, |i| {
            !executed.iter().any(|e| format!("{} {}", i.stage, i.text).contains(e))
        });
        row_of(&m, v, rebuild)
    }

    fn verdicts(rows: Vec<Row>) -> Vec<(bool, Vec<String>)> {
        targets(&rows).into_iter().filter(|t| t.kind == Kind::Reuse).map(|t| (t.pass, t.offenders)).collect()
    }

    #[test]
    fn reuse_targets_name_the_steps_that_broke_them() {
        let a = row(Id::A, Layout::Quarry, &["jsongen", "jq", "localedef"], 10.0);
        let naive = row(Id::A, Layout::Naive, &["localedef"], 35.0);
        let c = row(Id::C, Layout::Quarry, &["2.4.0", "COPY --link --from=kvstore_builder"], 5.0);
        let c_nolock = row(Id::C, Layout::QuarryNoLock, &["2.4.0", "useradd"], 5.0);
        let report = Report::new(
            "test".into(),
            &[Scenario::new(Id::A), Scenario::new(Id::C)],
            vec![a, naive, c, c_nolock],
        );
        let summary: Vec<(Id, &str, bool, usize)> =
            report.targets.iter().map(|t| (t.scenario, t.layout.name(), t.pass, t.offenders.len())).collect();
        // Only the quarry layout is held to the targets.
        assert_eq!(
            summary,
            [(Id::A, "quarry", false, 1), (Id::A, "quarry", true, 0), (Id::C, "quarry", true, 0),]
        );
        assert!(report.targets[0].offenders[0].contains("localedef"), "{:?}", report.targets[0].offenders);
        assert_eq!(
            report.targets[0].figures,
            "31 of 32 reused; re-ran 0 builder steps, 0 copies, 0 apt layers, 1 setup step"
        );
        assert!(report.targets[1].figures.ends_with("3.5x"), "{}", report.targets[1].figures);
        assert!(
            report.targets[2].figures.ends_with("1 of them `kvstore`'s own"),
            "{}",
            report.targets[2].figures
        );
        assert_eq!(report.failed_reuse_targets(), 1);
        let table = report.table();
        // jsontools' builder RUN and its final apt layer (its builder's apt step is the other C
        // builders'); locale's setup. explain predicts jsontools' builder (COPY, RUN), its final
        // apt layer and its copy: it disagrees.
        assert!(table.contains("| A | quarry | 3 | 33 | 4 | 32 | no | 92 % |"), "{table}");
        assert!(table.contains("| 3.5x |"), "{table}");
        assert!(
            table.contains("A quarry: explain disagrees:\n      COPY --link --from=jsontools_builder"),
            "{table}"
        );
        let lock = report.lock_text();
        assert!(lock.contains("| C | 2 | 2 | 5.0 | 5.0 |"), "{lock}");
    }

    #[test]
    fn c_allows_only_the_bumped_builder_from_its_change_on_and_its_copy() {
        let ok = row(Id::C, Layout::Quarry, &["2.4.0", "COPY --link --from=kvstore_builder"], 5.0);
        assert_eq!(verdicts(vec![ok]), [(true, vec![])]);
        // kvstore's source COPY comes before the changed RUN: unchanged, must be reused.
        let source = row(Id::C, Layout::Quarry, &["2.4.0", "COPY quarry/kvstore/"], 5.0);
        assert!(!verdicts(vec![source])[0].0);
        let setup = row(Id::C, Layout::Quarry, &["2.4.0", "useradd"], 5.0);
        let v = verdicts(vec![setup]);
        assert!(!v[0].0 && v[0].1[0].contains("useradd"), "{v:?}");
    }

    #[test]
    fn e_allows_the_removed_apt_layers_chain_followers_and_nothing_else() {
        // locale is removed: editor's apt layer and setup and user's setup followed it.
        let followers = ["vim-tiny", "update-alternatives", "useradd"];
        let e = row(Id::E, Layout::Quarry, &followers, 5.0);
        let t = &targets(std::slice::from_ref(&e))[0];
        assert!(t.pass, "{t:?}");
        assert!(t.what.contains("followed `locale`'s in OLD's chain (3 of them)"), "{}", t.what);
        assert!(t.figures.ends_with("3 of them chain followers of `locale`"), "{}", t.figures);
        // An apt layer or setup step before the removed one is not a follower.
        for (before, owner) in [
            ("ca-certificates openssl", "tls"),
            ("update-ca-certificates", "tls"),
            ("bash-completion", "shell"),
        ] {
            let r = row(Id::E, Layout::Quarry, &[followers.as_slice(), &[before]].concat(), 5.0);
            let v = verdicts(vec![r]);
            let one = v[0].1.len() == 1 && v[0].1[0].starts_with(&format!("[quarry_final, {owner}]"));
            assert!(!v[0].0 && one, "{before}: {v:?}");
        }
        // Nor is a copy after the chain, or a builder step.
        for other in ["COPY --link --from=primes_builder", "gcc -O2 -o /opt/quarry/mandel"] {
            let r = row(Id::E, Layout::Quarry, &[other], 5.0);
            assert!(!verdicts(vec![r])[0].0, "{other}");
        }
    }

    #[test]
    fn d_must_be_byte_identical_and_fully_reused() {
        let d = row(Id::D, Layout::Quarry, &[], 1.0);
        assert!(d.new_is_old);
        assert_eq!(verdicts(vec![d.clone()]), [(true, vec![])]);
        let mut differs = d.clone();
        differs.new_is_old = false;
        let v = verdicts(vec![differs]);
        assert!(!v[0].0 && v[0].1[0].contains("differ"), "{v:?}");
        let reran = row(Id::D, Layout::Quarry, &["useradd"], 1.0);
        assert!(!verdicts(vec![reran])[0].0);
    }

    #[test]
    fn builder_steps_are_told_apart_in_b() {
        let b = row(Id::B, Layout::Quarry, &["quarry_final RUN"], 20.0);
        assert_eq!(verdicts(vec![b]), [(true, vec![])]);
        let naive_like = row(Id::B, Layout::Quarry, &["gcc -O2"], 20.0);
        assert!(!verdicts(vec![naive_like])[0].0);
    }

    #[test]
    fn explain_agrees_when_the_measurement_is_its_prediction() {
        for id in Id::ALL {
            let scenario = Scenario::new(id);
            for layout in Layout::ALL {
                let m = measurement(&scenario, layout);
                let names: Vec<&str> = m.new.resolved.extensions.iter().map(|e| e.extension.name).collect();
                let predicted = predict(&m.old, &m.new).unwrap();
                // The predicted outcomes of each text, in file order.
                let mut queue: BTreeMap<&str, Vec<bool>> = BTreeMap::new();
                for (text, reused) in predicted.steps.iter().rev() {
                    queue.entry(text).or_default().push(*reused);
                }
                let queue = std::cell::RefCell::new(queue);
                let reused = |i: &steps::Instruction| {
                    queue.borrow_mut().get_mut(i.text.as_str()).and_then(Vec::pop).unwrap_or(false)
                };
                let r = row_of(&m, vertices(&m.new.dockerfile, &names, reused), 1.0);
                let (agrees, differ) = r.agreement().unwrap();
                assert!(agrees, "{id:?} {layout:?}: {differ:?}");
                assert_eq!(r.agrees_word(), "yes");
            }
        }
        // One step measured otherwise: the counts and the instruction are reported.
        let c = row(Id::C, Layout::Quarry, &["2.4.0"], 1.0);
        let (agrees, differ) = c.agreement().unwrap();
        assert!(!agrees);
        assert_eq!(differ.len(), 1, "{differ:?}");
        assert!(
            differ[0].starts_with(
                "COPY --link --from=kvstore_builder /opt/quarry/kvstore /opt/quarry/kvstore: \
             predicted 1 re-run / 0 reused, measured 0 executed / 1 cached"
            ),
            "{differ:?}"
        );
    }
}
