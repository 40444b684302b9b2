//! `cargo xtask bench cache`: how well each Dockerfile layout survives the changes users make,
//! measured on a real engine.
//!
//! For every scenario (A add, B final image, C version bump, D reorder, E remove) and layout
//! (`quarry`, `quarry-nolock`, `naive`): empty the build cache, build OLD (the clean build of
//! OLD), build NEW (the rebuild: wall time, and from BuildKit's rawjson progress the RUN, COPY and
//! ADD steps executed and cached), then empty the cache again and build NEW (its clean build)
//! and read its image size. Scenarios run one after the other with the three layouts of a
//! scenario back to back, so drift in the machine's speed touches all layouts alike.
//!
//! Figures, not assertions on time: the targets on step reuse are checked (exit 1 when one fails
//! for the quarry layout), the rebuild-time ratio against the naive layout is reported. Next to
//! each measured rebuild the report prints what `quarry explain` predicted for it (`predict`).

mod extensions;
mod layout;
mod measure;
mod predict;
mod report;
mod scenario;
mod steps;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub use layout::Layout;
use measure::IMAGE_REPO;
use report::Row;
pub use scenario::{Id, Scenario};
// For `bench_remote` (the remote-cache simulation): the benchmark's configuration and extensions.
pub(crate) use extensions::{ADDED, BUMPED, REMOVED, registry as bench_registry};
pub(crate) use measure::{BenchEngine, run_build, vertices as build_vertices};
pub(crate) use scenario::{Config as ScenarioConfig, IMAGE, NEW_IMAGE};

const USAGE: &str = "usage: cargo xtask bench cache [--scenario A,B,C,D,E] [--layout quarry,quarry-nolock,naive] \
[--json PATH] [--engine KIND] [--render-only]";

/// Default private engine: pruning it disturbs no one.
const ENGINE: &str = "26c-b";
/// Attempts per measurement when a build fails (a flaky mirror connection, not a slow one).
const ATTEMPTS: usize = 3;

#[derive(Debug)]
struct Options {
    scenarios: Vec<Id>,
    layouts: Vec<Layout>,
    json: PathBuf,
    engine: String,
    render_only: bool,
}

/// `cargo xtask bench <args>`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    match args.split_first() {
        Some((what, rest)) if what == "cache" => {
            let options = parse(rest)?;
            cache(&options)
        }
        _ => bail!("{USAGE}"),
    }
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        scenarios: Id::ALL.to_vec(),
        layouts: Layout::ALL.to_vec(),
        json: crate::workspace().join("target/bench/cache.json"),
        engine: ENGINE.to_owned(),
        render_only: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("`{arg}` needs a value\n{USAGE}"));
        match arg.as_str() {
            "--scenario" => {
                let list = value()?;
                let parsed: BTreeSet<Id> = list
                    .split(',')
                    .map(|s| {
                        Id::parse(s).with_context(|| format!("unknown scenario `{s}`\nhint: A, B, C, D or E"))
                    })
                    .collect::<anyhow::Result<_>>()?;
                options.scenarios = parsed.into_iter().collect();
            }
            "--layout" => {
                let list = value()?;
                let parsed: BTreeSet<Layout> = list
                    .split(',')
                    .map(|s| {
                        Layout::parse(s).with_context(|| {
                            format!("unknown layout `{s}`\nhint: quarry, quarry-nolock or naive")
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
                options.layouts = parsed.into_iter().collect();
            }
            "--json" => options.json = PathBuf::from(value()?),
            "--engine" => options.engine = value()?.clone(),
            "--render-only" => options.render_only = true,
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok(options)
}

fn cache(options: &Options) -> anyhow::Result<()> {
    let out = crate::workspace().join("target/bench/cache");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let scenarios: Vec<Scenario> = options.scenarios.iter().map(|id| Scenario::new(*id)).collect();

    // Render everything first: a render error costs no build.
    let mut plan = Vec::new();
    for scenario in &scenarios {
        for layout in &options.layouts {
            let old = layout.render(&scenario.old, None)?;
            let new = layout.render(&scenario.new, Some(&old))?;
            let m = Measurement {
                scenario,
                layout: *layout,
                old,
                new,
                stem: format!("{}-{}", layout.name(), scenario.id.letter()),
            };
            std::fs::write(m.path(&out, "old", "Dockerfile"), &m.old.dockerfile)?;
            std::fs::write(m.path(&out, "new", "Dockerfile"), &m.new.dockerfile)?;
            plan.push(m);
        }
    }
    if options.render_only {
        eprintln!("bench: Dockerfiles written to `{}` (--render-only: nothing built)", out.display());
        return Ok(());
    }

    let engine = BenchEngine::bring_up(&options.engine)?;
    let result = measure_all(&engine, &plan, &out);
    engine.tear_down();
    let rows = result?;

    let report = report::Report::new(engine.describe(), &scenarios, rows);
    print!("{}", report.table());
    print!("{}", report.targets_text());
    print!("{}", report.lock_text());
    if let Some(parent) = options.json.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(&options.json, serde_json::to_string_pretty(&report.json())? + "\n")
        .with_context(|| format!("cannot write `{}`", options.json.display()))?;
    eprintln!(
        "bench: wrote `{}`; Dockerfiles and rawjson logs in `{}`",
        options.json.display(),
        out.display()
    );
    if report.failed_reuse_targets() > 0 {
        bail!(
            "{} step-reuse target(s) failed for the quarry layout (see above)",
            report.failed_reuse_targets()
        );
    }
    Ok(())
}

/// One scenario in one layout: the two files to build.
#[derive(Debug)]
pub struct Measurement<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The layout.
    pub layout: Layout,
    /// OLD, rendered in the layout.
    pub old: quarry_core::Rendered,
    /// NEW, rendered in the layout.
    pub new: quarry_core::Rendered,
    /// `<layout>-<scenario>`: the start of its file names and image tags.
    pub stem: String,
}

impl Measurement<'_> {
    /// `<out>/<stem>-<what>.<ext>`.
    fn path(&self, out: &Path, what: &str, ext: &str) -> PathBuf {
        out.join(format!("{}-{what}.{ext}", self.stem))
    }

    fn tag(&self, what: &str) -> String {
        format!("{IMAGE_REPO}:{}-{what}", self.stem)
    }
}

/// What the builds of one measurement took.
#[derive(Debug, Clone)]
pub struct Timings {
    /// The rebuild of NEW on OLD's cache.
    pub rebuild: measure::Build,
    /// Seconds: OLD on an empty cache.
    pub old_clean: f64,
    /// Seconds: NEW on an empty cache.
    pub new_clean: f64,
    /// NEW's file is OLD's, so its clean build is OLD's (not repeated).
    pub new_is_old: bool,
    /// NEW's image size in bytes.
    pub size: u64,
}

fn measure_all(engine: &BenchEngine, plan: &[Measurement<'_>], out: &Path) -> anyhow::Result<Vec<Row>> {
    eprintln!(
        "bench: {} measurements on {}; each clean build starts from an empty build cache, so its \
         apt cache mounts are empty too and every package is downloaded from the Debian mirror \
         ({} via --add-host)",
        plan.len(),
        engine.describe(),
        engine.add_host()
    );
    let mut rows = Vec::new();
    for (i, m) in plan.iter().enumerate() {
        let label = format!("[{}/{}] {} {}", i + 1, plan.len(), m.scenario.id.letter(), m.layout.name());
        let mut attempt = 1;
        let timings = loop {
            match measure_one(engine, m, out, &label) {
                Ok(timings) => break timings,
                Err(e) if attempt < ATTEMPTS => {
                    eprintln!(
                        "bench: {label}: {e:#}\nbench: {label}: measuring again (attempt {})",
                        attempt + 1
                    );
                    attempt += 1;
                }
                Err(e) => return Err(e.context(format!("{label}: failed {ATTEMPTS} times"))),
            }
        };
        rows.push(Row::new(m, &timings));
    }
    engine.prune()?;
    Ok(rows)
}

/// Prune, build OLD, build NEW on its cache, prune, build NEW again.
fn measure_one(
    engine: &BenchEngine,
    m: &Measurement<'_>,
    out: &Path,
    label: &str,
) -> anyhow::Result<Timings> {
    let context = out.join("context");
    engine.prune()?;
    let old = engine.build(&context, &m.old, &m.tag("old"), &m.path(out, "old", "rawjson"))?;
    eprintln!("bench: {label}: clean build of OLD {:.1} s", old.wall);
    let rebuild = engine.build(&context, &m.new, &m.tag("new"), &m.path(out, "new", "rawjson"))?;
    let size = engine.size(&m.tag("new"))?;
    eprintln!("bench: {label}: rebuild of NEW {:.1} s", rebuild.wall);
    let new_is_old = m.old.dockerfile == m.new.dockerfile && m.old.files == m.new.files;
    let new_clean = if new_is_old {
        eprintln!("bench: {label}: NEW is OLD's file: its clean build is OLD's");
        old.wall
    } else {
        engine.prune()?;
        let clean = engine.build(&context, &m.new, &m.tag("clean"), &m.path(out, "clean", "rawjson"))?;
        eprintln!("bench: {label}: clean build of NEW {:.1} s", clean.wall);
        clean.wall
    };
    Ok(Timings { rebuild, old_clean: old.wall, new_clean, new_is_old, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn filters_parse() {
        let o = parse(&args("--scenario c,A --layout naive,quarry --json /tmp/x.json")).unwrap();
        assert_eq!(o.scenarios, [Id::A, Id::C]);
        assert_eq!(o.layouts, [Layout::Quarry, Layout::Naive]);
        assert_eq!(o.json, PathBuf::from("/tmp/x.json"));
        assert_eq!(o.engine, "26c-b");
        let o = parse(&[]).unwrap();
        assert_eq!((o.scenarios.len(), o.layouts.len()), (5, 3));
        assert!(parse(&args("--scenario F")).unwrap_err().to_string().contains("unknown scenario `F`"));
        assert!(parse(&args("--layout fancy")).is_err());
        assert!(parse(&args("--json")).unwrap_err().to_string().contains("needs a value"));
    }
}
