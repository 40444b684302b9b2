//! `quarry explain`: which steps BuildKit reuses when an old build is rebuilt as a new one.
//!
//! Either side is a Dockerfile (any Dockerfile) or a quarry configuration (`*.toml`), rendered
//! first. The cache model lives in `quarry_core::explain`; this module reads the inputs and
//! prints the prediction.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quarry_core::explain::{self, Explanation, Options, Side, Store};
use quarry_core::{EngineLevel, Registry, Rendered};

use crate::args::Format;
use crate::{output, ui};

/// A parsed `quarry explain`.
#[derive(Debug, Clone)]
pub struct Explain {
    /// The old Dockerfile or configuration.
    pub old: PathBuf,
    /// The new one; `None`: the current project's configuration.
    pub new: Option<PathBuf>,
    /// Engine model; `None`: the engine that answers, else the containerd store.
    pub store: Option<Store>,
    /// `--target`.
    pub target: Option<String>,
    /// `--build-arg` (both builds).
    pub build_args: Vec<(String, String)>,
    /// `--old-build-arg` (the old build only, over `--build-arg`).
    pub old_build_args: Vec<(String, String)>,
    /// `--same-output`.
    pub same_output: Vec<String>,
    /// `--changed`.
    pub changed: Vec<String>,
    /// `--format`.
    pub format: Format,
}

/// What one side of the comparison is.
struct Input {
    origin: String,
    text: String,
    /// Build-context files of a rendered configuration.
    files: Option<BTreeMap<String, Vec<u8>>>,
}

/// Runs `quarry explain`.
pub fn command(registry: &Registry, explain: &Explain) -> anyhow::Result<()> {
    let store = explain.store.unwrap_or_else(detect_store);
    let level = if store == Store::Legacy { EngineLevel::Legacy } else { EngineLevel::Modern };
    let old = read(registry, Some(&explain.old), level)?;
    let new = read(registry, explain.new.as_deref(), level)?;

    let mut changed = explain.changed.clone();
    if let (Some(before), Some(after)) = (&old.files, &new.files) {
        for (path, contents) in after {
            if before.get(path) != Some(contents) {
                changed.push(path.clone());
            }
        }
    }
    let mut new_args: BTreeMap<String, String> = explain.build_args.iter().cloned().collect();
    let mut old_args = new_args.clone();
    old_args.extend(explain.old_build_args.iter().cloned());
    if store == Store::Legacy {
        // What `quarry build` passes on engines without BUILDKIT_CACHE_MOUNT_NS.
        for args in [&mut old_args, &mut new_args] {
            args.entry("CACHE_ID".to_owned()).or_insert_with(|| "default".to_owned());
        }
    }
    let options = Options {
        store,
        target: explain.target.clone(),
        same_output: explain.same_output.iter().cloned().collect::<BTreeSet<_>>(),
        changed_context: changed,
    };
    let result = explain::explain(
        &Side { text: &old.text, origin: old.origin.clone(), build_args: old_args },
        &Side { text: &new.text, origin: new.origin.clone(), build_args: new_args },
        &options,
    )?;
    match explain.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&result).context("cannot write JSON")?;
            text.push('\n');
            output::stdout(text.as_bytes())
        }
        Format::Text => {
            for warning in &result.warnings {
                ui::warning(&format!("{}: line {}: {}", new.origin, warning.line, warning.message));
            }
            for assumption in &result.assumptions {
                ui::note(&format!("assumed: {assumption}"));
            }
            output::stdout(human(&result).as_bytes())
        }
    }
}

/// The cache model of the engine at DOCKER_HOST; the containerd store when none answers.
fn detect_store() -> Store {
    let docker = std::env::var("QUARRY_DOCKER").unwrap_or_else(|_| "docker".to_owned());
    match crate::engine::detect(&docker) {
        Ok(engine) => {
            let store = if engine.level() == EngineLevel::Legacy {
                Store::Legacy
            } else if engine.containerd_store {
                Store::Containerd
            } else {
                Store::Classic
            };
            ui::note(&format!("explaining for Docker {} ({})", engine.version, store_words(store)));
            store
        }
        Err(_) => {
            ui::note(&format!(
                "no Docker engine answers: explaining for {} (choose another with --engine)",
                store_words(Store::Containerd)
            ));
            Store::Containerd
        }
    }
}

fn store_words(store: Store) -> &'static str {
    match store {
        Store::Containerd => "Docker 23+ with the containerd image store",
        Store::Classic => "Docker 23+ with the classic image store",
        Store::Legacy => "Docker 20.10's BuildKit",
    }
}

fn read(registry: &Registry, path: Option<&Path>, level: EngineLevel) -> anyhow::Result<Input> {
    let Some(path) = path else {
        let mut request = quarry_core::Request { engine: level, ..Default::default() };
        crate::configure(registry, &mut request, false)
            .context("no NEW file given, so the current project's configuration is the new side")?;
        request.host = crate::host::values();
        let rendered = quarry_core::render(registry, &request)?;
        return Ok(rendered_input("the current configuration".to_owned(), &rendered));
    };
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    // By content, not by name (`quarry.toml.orig` is a configuration): a Dockerfile is never a
    // TOML table (`FROM x` has no `=`), and a configuration always is.
    if path.extension().is_some_and(|e| e == "toml") || text.parse::<toml::Table>().is_ok() {
        // The user's file applies under it, as it does under the project's quarry.toml.
        let layers = crate::config::Layers::with_project_file(registry, path)?;
        let mut request = quarry_core::Request { engine: level, ..Default::default() };
        layers.apply(&mut request);
        if request.image.is_empty() {
            anyhow::bail!("`{origin}` sets no `image`\nhint: add a line such as `image = \"ubuntu:24.04\"`");
        }
        request.host = crate::host::values();
        let rendered = quarry_core::render(registry, &request)
            .with_context(|| format!("cannot render `{}`", path.display()))?;
        return Ok(rendered_input(origin, &rendered));
    }
    Ok(Input { origin, text, files: None })
}

/// What rebuilding `old` as `new` costs, both renders of quarry, on `store`.
pub fn compare_rendered(old: &Rendered, new: &Rendered, store: Store) -> anyhow::Result<Explanation> {
    let old = rendered_input("the locked order".to_owned(), old);
    let new = rendered_input("the canonical order".to_owned(), new);
    let before = old.files.clone().unwrap_or_default();
    let after = new.files.clone().unwrap_or_default();
    let changed = after
        .iter()
        .filter(|(path, contents)| before.get(*path) != Some(*contents))
        .map(|(p, _)| p.clone())
        .collect();
    let options = Options { store, target: None, same_output: BTreeSet::new(), changed_context: changed };
    Ok(explain::explain(
        &Side { text: &old.text, origin: old.origin.clone(), build_args: BTreeMap::new() },
        &Side { text: &new.text, origin: new.origin.clone(), build_args: BTreeMap::new() },
        &options,
    )?)
}

fn rendered_input(origin: String, rendered: &Rendered) -> Input {
    let files = rendered.files.iter().map(|f| (f.path.clone(), f.contents.to_vec())).collect();
    Input { origin, text: rendered.dockerfile.clone(), files: Some(files) }
}

/// The human form: one line per step with a second line saying why, then the summary line.
pub fn human(e: &Explanation) -> String {
    let mut out = String::new();
    for step in &e.steps {
        let status = if step.reused { "reused" } else { "re-run" };
        let owner = step.extension.as_deref().map(|o| format!("{o}: ")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{status}  [{} {}/{}] line {}  {owner}{}",
            step.stage,
            step.position,
            step.stage_steps,
            step.line,
            shorten(&step.text, 70)
        );
        let why = if step.detail.is_empty() {
            step.reason.describe().to_owned()
        } else {
            format!("{}: {}", step.reason.describe(), step.detail)
        };
        let _ = writeln!(out, "        {why}");
    }
    if !e.skipped_stages.is_empty() {
        let names: Vec<String> = e.skipped_stages.iter().map(|s| format!("`{s}`")).collect();
        let _ = writeln!(out, "not built (target `{}` does not need them): {}", e.target, names.join(", "));
    }
    let _ = writeln!(out, "{} of {} steps reused", e.reused, e.total);
    out
}

fn shorten(text: &str, max: usize) -> String {
    let text = text.trim_end_matches(['\\', ' ']);
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}
