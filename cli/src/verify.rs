//! Every build checks explain: after `quarry build`, `run` or `up` builds, the prediction for this
//! build (old: what this project last built on this engine; new: this render) is set beside what
//! the engine did, step by step, from BuildKit's own progress (`quarry_docker::progress`). One
//! line says they agree (`explain: 31 of 35 steps reused, as predicted`); when they differ, each
//! step that differed is named with what the model expected and why, and a report a user can
//! attach to a bug is written (both Dockerfiles, the build arguments, the engine, the progress).
//!
//! The record of each build, `$XDG_STATE_HOME/quarry/builds/<hash>.json` (one per project,
//! image name and engine, in a private folder), keeps the render, the image ids it used, the keys
//! its layers left and its steps with their reasons: the next build's old side, and what
//! `quarry why` prints. Keys of a few builds before it count as cached too, so going back to a
//! version built earlier is not reported as a difference.
//!
//! `QUARRY_TEST_MISPREDICT=1` makes the model predict one step too many (the first step it would
//! reuse is predicted to run): the engine tests use it to see a difference reported.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quarry_buildkit::explain::{self, Options, Side, StepReport, Store};
use quarry_buildkit::hash::fnv1a;
use quarry_core::{EngineLevel, Rendered};
use quarry_docker::progress::{Ran, ran_steps};
use serde::{Deserialize, Serialize};

use crate::ui;

/// The record format.
const VERSION: u32 = 1;
/// Builds before the last whose keys still count as cached.
const EARLIER: usize = 4;

/// What a build is checked against, set up before it runs.
#[derive(Debug)]
pub struct Plan {
    /// The record's file (`None`: no state folder; nothing is kept).
    file: Option<PathBuf>,
    /// The last build's record.
    old: Option<Record>,
    /// The engine model.
    store: Store,
    /// The engine's version.
    engine: String,
    /// The build arguments the model sees (what quarry passes that a Dockerfile can read).
    build_args: BTreeMap<String, String>,
}

/// One build, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    version: u32,
    /// The image tag.
    tag: String,
    /// The engine's version and the model used.
    engine: String,
    store: String,
    /// The render.
    dockerfile: String,
    /// Build-context files: path → `length:hash`.
    files: BTreeMap<String, String>,
    build_args: BTreeMap<String, String>,
    /// The ids of the images its stages start from or copy from, by normalized name.
    image_ids: BTreeMap<String, String>,
    /// The keys its layers left.
    keys: Vec<String>,
    /// The keys of the builds before it, newest first.
    earlier: Vec<Vec<String>>,
    /// Its steps, as predicted and as the engine did them.
    steps: Vec<StepRecord>,
    /// The one-line summary printed after it.
    summary: String,
    /// The report written for it, when the two differed.
    report: Option<String>,
}

/// One step of a recorded build.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StepRecord {
    /// `[stage i/n]`.
    stage: String,
    position: u32,
    stage_steps: u32,
    /// The instruction's first line.
    text: String,
    extension: Option<String>,
    /// The model's prediction and its reason.
    predicted_reused: Option<bool>,
    reason: String,
    detail: String,
    /// What the engine did (`None`: not in its progress).
    reused: Option<bool>,
    seconds: Option<f64>,
}

impl Plan {
    /// The plan of a build for the project of `project_file` (or the current folder).
    pub fn new(
        project_file: Option<&Path>,
        level: EngineLevel,
        containerd_store: bool,
        engine: &str,
        cache_id: &str,
    ) -> Plan {
        let store = match (level, containerd_store) {
            (EngineLevel::Legacy, _) => Store::Legacy,
            (_, true) => Store::Containerd,
            (_, false) => Store::Classic,
        };
        let mut build_args = BTreeMap::new();
        // What `quarry build` passes on engines without BUILDKIT_CACHE_MOUNT_NS.
        if store == Store::Legacy {
            build_args.insert("CACHE_ID".to_owned(), cache_id.to_owned());
        }
        let file = record_file(project_file);
        let old = file.as_deref().and_then(load).filter(|r| r.engine == engine);
        Plan { file, old, store, engine: engine.to_owned(), build_args }
    }
}

/// `$XDG_STATE_HOME/quarry/builds/<hash of the project folder and the engine>.json`: whatever
/// this folder builds next (another extension, another tag) is checked against it.
fn record_file(project_file: Option<&Path>) -> Option<PathBuf> {
    let folder = match project_file {
        Some(f) => f.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => std::env::current_dir().ok()?,
    };
    let folder = folder.canonicalize().unwrap_or(folder);
    let engine = std::env::var("DOCKER_HOST").unwrap_or_default();
    let context = std::env::var("DOCKER_CONTEXT").unwrap_or_default();
    let key = format!("{}\0{engine}\0{context}", folder.display());
    let dir = crate::host::xdg_dir("XDG_STATE_HOME", ".local/state")?;
    Some(dir.join("quarry").join("builds").join(format!("{:016x}.json", fnv1a(key.as_bytes()))))
}

fn load(file: &Path) -> Option<Record> {
    let text = quarry_codegen::files::read_text(file, None, 64 << 20, "").ok()?;
    serde_json::from_str::<Record>(&text).ok().filter(|r| r.version == VERSION)
}

/// The build's files as the record keeps them.
fn file_digests(rendered: &Rendered) -> BTreeMap<String, String> {
    rendered
        .files
        .iter()
        .map(|f| (f.path.clone(), format!("{}:{:016x}", f.contents.len(), fnv1a(&f.contents))))
        .collect()
}

/// After a successful build: the prediction beside what the engine did, said, reported and kept.
pub fn check(plan: &Plan, rendered: &Rendered, tag: &str, docker: &str, progress: &str) {
    let ran = ran_steps(progress);
    let new_side = Side {
        text: &rendered.dockerfile,
        origin: "this build".to_owned(),
        build_args: plan.build_args.clone(),
    };
    let names = explain::images(&new_side, &Options::default()).unwrap_or_default();
    let image_ids = image_ids(docker, &names);
    let files = file_digests(rendered);
    let (explanation, old_text) = match &plan.old {
        Some(old) => {
            let changed =
                files.iter().filter(|(p, d)| old.files.get(*p) != Some(*d)).map(|(p, _)| p.clone()).collect();
            let options = Options {
                store: plan.store,
                changed_context: changed,
                image_ids: Some(image_ids.clone()),
                old_image_ids: Some(old.image_ids.clone()),
                cached_keys: old.earlier.iter().flatten().cloned().collect(),
                ..Options::default()
            };
            let old_side = Side {
                text: &old.dockerfile,
                origin: "the last build".to_owned(),
                build_args: old.build_args.clone(),
            };
            (explain::explain(&old_side, &new_side, &options).ok(), Some(old.dockerfile.clone()))
        }
        None => (None, None),
    };
    // Without a last build there is nothing to predict against; the keys are still worth keeping.
    let keys = match &explanation {
        Some(e) => e.keys.clone(),
        None => explain::explain(&new_side, &new_side, &Options { store: plan.store, ..Options::default() })
            .map(|e| e.keys)
            .unwrap_or_default(),
    };
    let mut predicted: Vec<StepReport> = explanation.as_ref().map(|e| e.steps.clone()).unwrap_or_default();
    predicted.retain(|s| s.same_as.is_none());
    if std::env::var("QUARRY_TEST_MISPREDICT").as_deref() == Ok("1")
        && let Some(s) = predicted.iter_mut().find(|s| s.reused)
    {
        s.reused = false;
        s.reason = explain::Reason::InstructionChanged;
        s.detail = "QUARRY_TEST_MISPREDICT: predicted to run on purpose".to_owned();
    }
    let steps = compare(&predicted, &ran);
    let verdict = Verdict::of(&steps, explanation.is_some(), !ran.is_empty());
    let mut report = None;
    match &verdict {
        Verdict::Agree { reused, total } => {
            ui::note(&format!("explain: {reused} of {total} steps reused, as predicted"))
        }
        Verdict::Differ { reused, predicted, total, differing } => {
            let mut text = format!(
                "explain: {reused} of {total} steps reused, {predicted} predicted: {} step(s) differ",
                differing.len()
            );
            for s in differing {
                text.push_str(&format!("\n  {}", describe_difference(s)));
            }
            let written = write_report(plan, rendered, tag, old_text.as_deref(), &steps, progress, &text);
            match &written {
                Ok(path) => ui::warning_with_hint(&quarry_core::Hinted::new(
                    text,
                    format!(
                        "the report `{}` holds both Dockerfiles, the build arguments, the engine and the progress: \
                         attach it to a bug report",
                        path.display()
                    ),
                )),
                Err(e) => ui::warning(&format!("{text}\n(cannot write the report: {e:#})")),
            }
            report = written.ok().map(|p| p.display().to_string());
        }
        Verdict::FirstBuild { total, reused } => ui::detail(&format!(
            "explain: the first build of this image on this engine that quarry knows of ({reused} of {total} steps reused): \
             the next build is checked against it"
        )),
        Verdict::NoProgress => ui::detail(
            "explain: not checked: the build's progress named no steps (`--progress plain`, the default, shows them)",
        ),
    }
    let Some(file) = &plan.file else { return };
    let mut earlier: Vec<Vec<String>> = Vec::new();
    if let Some(old) = &plan.old {
        earlier.push(old.keys.clone());
        earlier.extend(old.earlier.iter().take(EARLIER - 1).cloned());
    }
    let record = Record {
        version: VERSION,
        tag: tag.to_owned(),
        engine: plan.engine.clone(),
        store: plan.store.as_str().to_owned(),
        dockerfile: rendered.dockerfile.clone(),
        files,
        build_args: plan.build_args.clone(),
        image_ids,
        keys,
        earlier,
        steps,
        summary: verdict.line(),
        report,
    };
    if let Err(e) = save(file, &record) {
        ui::detail(&format!("cannot keep the build's record: {e:#}"));
    }
}

fn save(file: &Path, record: &Record) -> anyhow::Result<()> {
    let dir = file.parent().context("the record is in a folder")?;
    quarry_docker::private_dir::private_dir(dir)?;
    let text = serde_json::to_string(record).context("cannot write JSON")?;
    crate::output::write_atomically(file, text.as_bytes())
        .with_context(|| format!("cannot write `{}`", file.display()))
}

/// The ids of `images` the engine has now (one `docker image inspect` each; a missing one is left
/// out and compared by name).
fn image_ids(docker: &str, images: &BTreeSet<String>) -> BTreeMap<String, String> {
    images
        .iter()
        .filter_map(|image| {
            let out = std::process::Command::new(docker)
                .args(["image", "inspect", "--format", "{{.Id}}", "--", image])
                .output()
                .ok()
                .filter(|o| o.status.success())?;
            let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (!id.is_empty()).then(|| (image.clone(), id))
        })
        .collect()
}

/// The predicted steps beside what the engine did, matched by stage and position; engine steps
/// the model does not know of are kept too.
fn compare(predicted: &[StepReport], ran: &[Ran]) -> Vec<StepRecord> {
    // BuildKit names no stage in a one-stage file's steps (`[2/3] RUN ...`), even a named one.
    let stages: BTreeSet<&str> = predicted.iter().map(|p| p.stage.as_str()).collect();
    let only = (stages.len() == 1).then(|| stages.first().copied()).flatten();
    let ran: Vec<Ran> = ran
        .iter()
        .map(|r| match only {
            Some(only) if r.stage.is_empty() => Ran { stage: only.to_owned(), ..r.clone() },
            _ => r.clone(),
        })
        .collect();
    let ran = ran.as_slice();
    let mut out: Vec<StepRecord> = predicted
        .iter()
        .map(|p| {
            let did = ran.iter().find(|r| r.stage == p.stage && r.index == p.position);
            StepRecord {
                stage: p.stage.clone(),
                position: p.position,
                stage_steps: p.stage_steps,
                text: p.text.clone(),
                extension: p.extension.clone(),
                predicted_reused: Some(p.reused),
                reason: p.reason.to_string(),
                detail: p.detail.clone(),
                reused: did.map(|r| r.cached),
                seconds: did.and_then(|r| r.seconds),
            }
        })
        .collect();
    for r in ran {
        if !predicted.iter().any(|p| p.stage == r.stage && p.position == r.index) {
            out.push(StepRecord {
                stage: r.stage.clone(),
                position: r.index,
                stage_steps: 0,
                text: r.instruction.lines().next().unwrap_or_default().to_owned(),
                extension: None,
                predicted_reused: None,
                reason: String::new(),
                detail: String::new(),
                reused: Some(r.cached),
                seconds: r.seconds,
            });
        }
    }
    out
}

/// How a build's check came out.
#[derive(Debug)]
enum Verdict {
    Agree { reused: usize, total: usize },
    Differ { reused: usize, predicted: usize, total: usize, differing: Vec<StepRecord> },
    FirstBuild { reused: usize, total: usize },
    NoProgress,
}

impl Verdict {
    fn of(steps: &[StepRecord], predicted: bool, progress: bool) -> Verdict {
        if !progress {
            return Verdict::NoProgress;
        }
        let total = steps.len();
        let reused = steps.iter().filter(|s| s.reused == Some(true)).count();
        if !predicted {
            return Verdict::FirstBuild { reused, total };
        }
        let differing: Vec<StepRecord> = steps
            .iter()
            .filter(|s| s.predicted_reused != s.reused && s.predicted_reused.is_some())
            .cloned()
            .collect();
        let predicted = steps.iter().filter(|s| s.predicted_reused == Some(true)).count();
        if differing.is_empty() {
            Verdict::Agree { reused, total }
        } else {
            Verdict::Differ { reused, predicted, total, differing }
        }
    }

    fn line(&self) -> String {
        match self {
            Verdict::Agree { reused, total } => format!("{reused} of {total} steps reused, as predicted"),
            Verdict::Differ { reused, predicted, total, differing } => {
                format!(
                    "{reused} of {total} steps reused, {predicted} predicted: {} step(s) differ",
                    differing.len()
                )
            }
            Verdict::FirstBuild { reused, total } => {
                format!(
                    "{reused} of {total} steps reused (the first build quarry knows of: nothing predicted)"
                )
            }
            Verdict::NoProgress => "not checked: the progress named no steps".to_owned(),
        }
    }
}

fn describe_difference(s: &StepRecord) -> String {
    let step = format!("[{} {}/{}] {}", s.stage, s.position, s.stage_steps, shorten(&s.text));
    let why = if s.detail.is_empty() { s.reason.clone() } else { format!("{}: {}", s.reason, s.detail) };
    match (s.predicted_reused, s.reused) {
        (Some(true), Some(false)) => format!(
            "{step}: predicted reused ({why}); the engine ran it (its cache no longer held the layer, or an input the \
             model does not see changed)"
        ),
        (Some(false), Some(true)) => {
            format!("{step}: predicted to run ({why}); the engine took it from its cache")
        }
        (Some(_), None) => format!("{step}: predicted, but not in the engine's progress"),
        _ => step,
    }
}

fn shorten(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim_end_matches('\\').trim_end();
    if first.chars().count() <= 70 {
        return first.to_owned();
    }
    format!("{}...", first.chars().take(70).collect::<String>())
}

/// The report of a build whose check differed: one Markdown file, kept beside the records.
fn write_report(
    plan: &Plan,
    rendered: &Rendered,
    tag: &str,
    old: Option<&str>,
    steps: &[StepRecord],
    progress: &str,
    summary: &str,
) -> anyhow::Result<PathBuf> {
    let dir = plan
        .file
        .as_deref()
        .and_then(Path::parent)
        .map(|d| d.join("reports"))
        .context("no state folder to write the report to")?;
    quarry_docker::private_dir::private_dir(&dir)?;
    let mut text = String::new();
    let _ = writeln!(text, "# quarry: the build differed from explain's prediction\n");
    let _ = writeln!(text, "- quarry {}\n- image `{tag}`", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(text, "- engine: Docker {} (model: {})", plan.engine, plan.store.as_str());
    let _ = writeln!(text, "- build arguments: {:?}\n", plan.build_args);
    let _ = writeln!(text, "## Summary\n\n```\n{summary}\n```\n\n## Steps\n");
    let _ = writeln!(text, "| step | predicted | engine | reason | seconds |\n|---|---|---|---|---|");
    for s in steps {
        let word = |r: Option<bool>| match r {
            Some(true) => "reused",
            Some(false) => "ran",
            None => "-",
        };
        let _ = writeln!(
            text,
            "| `[{} {}/{}] {}` | {} | {} | {} {} | {} |",
            s.stage,
            s.position,
            s.stage_steps,
            shorten(&s.text).replace('|', "\\|"),
            word(s.predicted_reused),
            word(s.reused),
            s.reason,
            s.detail.replace('|', "\\|"),
            s.seconds.map(|t| format!("{t:.1}")).unwrap_or_default()
        );
    }
    let fence = |body: &str| format!("````\n{body}\n````\n");
    let _ = writeln!(text, "\n## The last build's Dockerfile\n\n{}", fence(old.unwrap_or("(none)")));
    let _ = writeln!(text, "## This build's Dockerfile\n\n{}", fence(&rendered.dockerfile));
    let _ = writeln!(text, "## Progress\n\n{}", fence(progress));
    let name = format!(
        "{:016x}.md",
        fnv1a(format!("{tag}\0{}\0{}", rendered.dockerfile, old.unwrap_or_default()).as_bytes())
    );
    let path = dir.join(name);
    crate::output::write_atomically(&path, text.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(path)
}

/// `quarry why`: the last build's steps in the project of `project_file` (or the current
/// folder), each reused or re-run, with its reason.
pub fn why_command(project_file: Option<&Path>) -> anyhow::Result<()> {
    let Some(record) = record_file(project_file).as_deref().and_then(load) else {
        anyhow::bail!(quarry_core::Hinted::new(
            "quarry has no record of a build here on this engine",
            "build with `quarry build` (or `run`, `up`) first; `quarry explain OLD NEW` predicts without building",
        ));
    };
    let mut out = format!("{} (Docker {}): {}\n", record.tag, record.engine, record.summary);
    for s in &record.steps {
        let did = match s.reused {
            Some(true) => "reused",
            Some(false) => "re-run",
            None => "not run",
        };
        let time = s.seconds.map(|t| format!(" {t:.1}s")).unwrap_or_default();
        let owner = s.extension.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
        let _ = write!(
            out,
            "  {did:<7}{time:>7}  [{} {}/{}] {}{owner}",
            s.stage,
            s.position,
            s.stage_steps,
            shorten(&s.text)
        );
        let why = if s.detail.is_empty() { s.reason.clone() } else { format!("{}: {}", s.reason, s.detail) };
        match s.predicted_reused {
            Some(p) if Some(p) != s.reused => {
                let _ = write!(out, "\n           predicted {}: {why}", if p { "reused" } else { "to run" });
            }
            Some(_) if !why.is_empty() => {
                let _ = write!(out, "\n           {why}");
            }
            _ => {}
        }
        out.push('\n');
    }
    if let Some(r) = &record.report {
        let _ = writeln!(out, "report: {r}");
    }
    crate::output::stdout(out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicted(stage: &str, position: u32, reused: bool) -> StepReport {
        StepReport {
            stage: stage.into(),
            position,
            stage_steps: 3,
            line: 1,
            instruction: "RUN".into(),
            text: format!("RUN step {position}"),
            extension: None,
            reused,
            linked_copy_cached: false,
            reason: if reused { explain::Reason::Unchanged } else { explain::Reason::InstructionChanged },
            detail: String::new(),
            key: String::new(),
            same_as: None,
        }
    }

    fn ran(stage: &str, index: u32, cached: bool) -> Ran {
        Ran {
            stage: stage.into(),
            index,
            instruction: format!("RUN step {index}"),
            cached,
            seconds: Some(1.0),
        }
    }

    #[test]
    fn agreeing_and_differing_builds_are_told_apart() {
        let p = [predicted("f", 2, true), predicted("f", 3, false)];
        let same = compare(&p, &[ran("f", 2, true), ran("f", 3, false)]);
        assert!(matches!(Verdict::of(&same, true, true), Verdict::Agree { reused: 1, total: 2 }));
        assert_eq!(Verdict::of(&same, true, true).line(), "1 of 2 steps reused, as predicted");
        let other = compare(&p, &[ran("f", 2, false), ran("f", 3, false)]);
        match Verdict::of(&other, true, true) {
            Verdict::Differ { reused: 0, predicted: 1, total: 2, differing } => {
                assert_eq!(differing.len(), 1);
                assert!(describe_difference(&differing[0]).contains("predicted reused"), "{differing:?}");
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(Verdict::of(&same, false, true), Verdict::FirstBuild { .. }));
        // A one-stage file's steps carry no stage name in BuildKit's progress.
        let unnamed = compare(&p, &[ran("", 2, true), ran("", 3, false)]);
        assert!(matches!(Verdict::of(&unnamed, true, true), Verdict::Agree { reused: 1, total: 2 }));
        assert!(matches!(Verdict::of(&same, true, false), Verdict::NoProgress));
    }

    #[test]
    fn records_are_per_project_folder() {
        let a = record_file(Some(Path::new("/p/quarry.toml")));
        let b = record_file(Some(Path::new("/p/quarry.toml")));
        let c = record_file(Some(Path::new("/q/quarry.toml")));
        if a.is_some() {
            assert_eq!(a, b);
            assert_ne!(a, c);
        }
    }
}
