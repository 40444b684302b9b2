//! `quarry explain`: which steps BuildKit reuses when an old build is rebuilt as a new one.
//!
//! Either side is a Dockerfile (any Dockerfile) or a quarry configuration (`*.toml`), rendered
//! first. The cache model lives in `quarry_buildkit::explain`; this module reads the inputs and
//! prints the prediction.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use quarry_buildkit::explain::{self, Explanation, Options, Side, Store};
use quarry_core::{EngineLevel, Hinted, Registry, Rendered};

use crate::args::{Explain, Format};
use crate::{output, ui};

/// What one side of the comparison is.
struct Input {
    origin: String,
    text: String,
    /// Build-context files of a rendered configuration: each path with the length and hash of its
    /// contents, all that comparing two sides needs (a large file is not copied).
    files: Option<BTreeMap<String, (usize, u64)>>,
}

/// Runs `quarry explain`.
pub fn command(registry: &'static Registry, explain: &Explain) -> anyhow::Result<()> {
    let (result, new) = explained(registry, explain)?;
    match explain.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&result).context("cannot write JSON")?;
            text.push('\n');
            output::stdout(text.as_bytes())
        }
        Format::Text => {
            for warning in &result.warnings {
                ui::warning_with_hint(&Hinted::new(
                    printable_lines(&format!("{}: line {}: {}", new.origin, warning.line, warning.message)),
                    printable_lines(&warning.hint),
                ));
            }
            for assumption in &result.assumptions {
                ui::note(&printable_lines(&format!("assumed: {assumption}")));
            }
            output::stdout(human(&result).as_bytes())
        }
    }
}

/// The new side of an explanation: where it came from and its Dockerfile.
pub(crate) struct NewSide {
    /// Where it came from.
    pub origin: String,
    /// The Dockerfile.
    pub text: String,
}

/// explain's answer for `explain`, and its new side.
pub(crate) fn explained(
    registry: &'static Registry,
    explain: &Explain,
) -> anyhow::Result<(Explanation, NewSide)> {
    let (store, answered) = match explain.store {
        Some(store) => (store, None),
        None => {
            let (store, answered) = detect_store();
            (store, Some(answered))
        }
    };
    let level = if store == Store::Legacy { EngineLevel::Legacy } else { EngineLevel::Modern };
    let new = read(registry, explain.new.as_deref(), level)?;
    let old = match &explain.old {
        Some(path) => read(registry, Some(path), level)?,
        None => Input { origin: new.origin.clone(), text: new.text.clone(), files: new.files.clone() },
    };

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
    new_args.extend(explain.new_build_args.iter().cloned());
    if store == Store::Legacy {
        // What `quarry build` passes on engines without BUILDKIT_CACHE_MOUNT_NS.
        for args in [&mut old_args, &mut new_args] {
            args.entry("CACHE_ID".to_owned()).or_insert_with(|| "default".to_owned());
        }
    }
    let mut options = Options {
        store,
        target: explain.target.clone(),
        same_output: explain.same_output.iter().cloned().collect::<BTreeSet<_>>(),
        changed_context: changed,
        ..Options::default()
    };
    let old_side = Side { text: &old.text, origin: old.origin.clone(), build_args: old_args };
    let new_side = Side { text: &new.text, origin: new.origin.clone(), build_args: new_args };
    // BuildKit keys images on their content: ask the engine for ids, unless none answered.
    if answered != Some(false) {
        let mut images = BTreeSet::new();
        for side in [&old_side, &new_side] {
            // A file that does not parse is reported by `explain` below.
            images.extend(explain::images(side, &options).unwrap_or_default());
        }
        options.image_ids = image_ids(&images);
    }
    let result = explain::explain(&old_side, &new_side, &options)
        // The message quotes the Dockerfile: no terminal escapes from it reach the screen.
        .map_err(|e| Hinted {
            message: printable_lines(&e.to_string()),
            hint: e.hint().map(|h| printable_lines(&h)),
        })?;
    Ok((result, NewSide { origin: new.origin, text: new.text }))
}

fn docker() -> String {
    quarry_docker::engine::program()
}

/// The id of each image the engine has (`docker image inspect`); `None` when no engine answers.
fn image_ids(images: &BTreeSet<String>) -> Option<BTreeMap<String, String>> {
    let docker = docker();
    let mut ids = BTreeMap::new();
    for image in images {
        ui::detail(&printable(&format!("{docker} image inspect --format {{{{.Id}}}} {image}")));
        let out = std::process::Command::new(&docker)
            .args(["image", "inspect", "--format", "{{.Id}}", image])
            .output()
            .ok()?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !id.is_empty() {
            ids.insert(image.clone(), id);
        } else if !String::from_utf8_lossy(&out.stderr).to_lowercase().contains("no such image") {
            return None;
        }
    }
    Some(ids)
}

/// The cache model of the engine at DOCKER_HOST, and whether one answered; the containerd store
/// when none does.
fn detect_store() -> (Store, bool) {
    let docker = docker();
    match quarry_docker::engine::detect(&docker) {
        Ok(engine) if engine.is_podman() => {
            ui::warning(&format!(
                "the engine is {}: this prediction is BuildKit's (Docker 20.10's rules, for the plain-copy render \
                 Podman builds), not Buildah's. Buildah reuses a step only when every step before it was reused: \
                 after the first step that runs, all run (measured: docs/podman.md)",
                engine.describe()
            ));
            (Store::Legacy, true)
        }
        Ok(engine) => {
            let store = if engine.level() == EngineLevel::Legacy {
                Store::Legacy
            } else if engine.containerd_store {
                Store::Containerd
            } else {
                Store::Classic
            };
            ui::note(&format!("explaining for Docker {} ({})", engine.version, store_words(store)));
            (store, true)
        }
        Err(_) => {
            ui::note(&format!(
                "no Docker engine answers: explaining for {} (choose another with --engine)",
                store_words(Store::Containerd)
            ));
            (Store::Containerd, false)
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

fn read(registry: &'static Registry, path: Option<&Path>, level: EngineLevel) -> anyhow::Result<Input> {
    let Some(path) = path else {
        let mut request = quarry_core::Request { engine: level, ..Default::default() };
        crate::configured::configure(registry, &mut request, false, None)
            .context("no NEW file given, so the current project's configuration is the new side")?;
        request.host = crate::host::values();
        let rendered = quarry_core::render(registry, &request)?;
        return Ok(rendered_input("the current configuration".to_owned(), &rendered));
    };
    let origin = path.display().to_string();
    let text = read_text(path)?;
    // By content, not by name (`quarry.toml.orig` is a configuration): a Dockerfile is never a
    // TOML table (`FROM x` has no `=`), and a configuration always is.
    if path.extension().is_some_and(|e| e == "toml") || text.parse::<toml::Table>().is_ok() {
        // Its own project extensions (`apt`, `pip`, ..., `extension_dirs`), not the current
        // project's: OLD and NEW differ in them as in anything else.
        let registry = crate::project_ext::registry_of_file(registry, path, &std::env::current_dir()?)?;
        // The user's file applies under it, as it does under the project's quarry.toml.
        let layers = crate::layers::Layers::with_project_file(registry, path)?;
        let mut request = quarry_core::Request { engine: level, ..Default::default() };
        layers.apply(&mut request);
        if request.image.is_empty() {
            anyhow::bail!(Hinted::new(
                format!("`{origin}` sets no `image`"),
                "add a line such as `image = \"ubuntu:24.04\"`"
            ));
        }
        request.host = crate::host::values();
        // The lock next to it holds the chain order (and pinned values) the build of this
        // configuration had: `quarry explain quarry.toml.orig` compares with the lock's order.
        let lock_path = path.with_file_name(crate::lock::LOCK_FILE);
        if let Some(lock) = crate::lock::Lock::read(&lock_path)? {
            lock.check_values(&lock_path, registry)?;
            let names: Vec<&str> = quarry_core::resolve(registry, &request)
                .map(|r| r.extensions.iter().map(|e| e.extension.name).collect())
                .unwrap_or_default();
            lock.seed(&mut request, &names, registry);
        }
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
    let options = Options { store, changed_context: changed, ..Options::default() };
    Ok(explain::explain(
        &Side { text: &old.text, origin: old.origin.clone(), build_args: BTreeMap::new() },
        &Side { text: &new.text, origin: new.origin.clone(), build_args: BTreeMap::new() },
        &options,
    )?)
}

/// The largest Dockerfile `explain` reads.
const MAX_DOCKERFILE: u64 = 16 << 20;

/// A Dockerfile's text, with a hint for each way reading it can fail.
fn read_text(path: &Path) -> anyhow::Result<String> {
    use std::io::Read as _;
    let shown = printable(&path.display().to_string());
    let fail = |e: std::io::Error| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "check the path: OLD and NEW are Dockerfiles or quarry configurations (`*.toml`)"
            }
            std::io::ErrorKind::PermissionDenied => {
                "make the file readable for you, or copy it somewhere readable"
            }
            std::io::ErrorKind::IsADirectory => "name the Dockerfile inside the folder, not the folder",
            std::io::ErrorKind::InvalidData => {
                "a Dockerfile is UTF-8 text: convert it (e.g. `iconv -t UTF-8`)"
            }
            _ => "check that the path names a readable file",
        };
        anyhow::Error::new(Hinted::new(format!("cannot read `{shown}`: {e}"), hint))
    };
    // A regular file only: a FIFO is refused, not waited on (quarry_codegen::files).
    use quarry_codegen::files::ReadError;
    let file = match quarry_codegen::files::open(path, None, MAX_DOCKERFILE, &path.display().to_string()) {
        Ok((file, _)) => file,
        Err(ReadError::Missing(_)) => return Err(fail(std::io::ErrorKind::NotFound.into())),
        Err(ReadError::Io { error, .. }) => return Err(fail(error)),
        Err(ReadError::NotAFile { kind: "a folder", .. }) => {
            return Err(fail(std::io::ErrorKind::IsADirectory.into()));
        }
        Err(ReadError::TooLarge { .. }) => {
            anyhow::bail!(Hinted::new(
                format!("`{shown}` is larger than {} MiB: not a Dockerfile", MAX_DOCKERFILE >> 20),
                "name the Dockerfile itself"
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::new();
    file.take(MAX_DOCKERFILE + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > MAX_DOCKERFILE {
        anyhow::bail!(Hinted::new(
            format!("`{shown}` is larger than {} MiB: not a Dockerfile", MAX_DOCKERFILE >> 20),
            "name the Dockerfile itself"
        ));
    }
    String::from_utf8(bytes).map_err(|_| fail(std::io::ErrorKind::InvalidData.into()))
}

fn rendered_input(origin: String, rendered: &Rendered) -> Input {
    let files = rendered
        .files
        .iter()
        .map(|f| (f.path.clone(), (f.contents.len(), quarry_buildkit::hash::fnv1a(&f.contents))))
        .collect();
    Input { origin, text: rendered.dockerfile.clone(), files: Some(files) }
}

/// The human form: one line per step with a second line saying why, then the summary line.
pub fn human(e: &Explanation) -> String {
    let mut out = String::new();
    for step in &e.steps {
        let status = match (step.same_as, step.reused, step.linked_copy_cached) {
            (Some(_), _, _) => "shared",
            (None, true, _) => "reused",
            (None, false, true) => "merged",
            (None, false, false) => "re-run",
        };
        let owner = step.extension.as_deref().map(|o| format!("{o}: ")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{status}  [{} {}/{}] line {}  {}{}",
            printable(&step.stage),
            step.position,
            step.stage_steps,
            step.line,
            printable(&owner),
            printable(&shorten(&step.text, 70))
        );
        let why = if let Some(line) = step.same_as {
            format!("the same step as line {line}: BuildKit runs them as one (counted once)")
        } else if step.detail.is_empty() {
            step.reason.describe().to_owned()
        } else {
            format!("{}: {}", step.reason.describe(), step.detail)
        };
        let _ = writeln!(out, "        {}", printable(&why));
    }
    if !e.skipped_stages.is_empty() {
        let names: Vec<String> = e.skipped_stages.iter().map(|s| format!("`{}`", printable(s))).collect();
        let _ = writeln!(
            out,
            "not built (target `{}` does not need them): {}",
            printable(&e.target),
            names.join(", ")
        );
    }
    // What the engine counts; quarry's own view (a linked copy's merge is cheap) beside it.
    let _ = write!(out, "{} of {} steps reused", e.reused, e.total);
    if e.reused_counting_linked_copies != e.reused {
        let _ = write!(
            out,
            " ({} of {} counting linked copies, whose merges are cheap)",
            e.reused_counting_linked_copies, e.total
        );
    }
    out.push('\n');
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

/// `text` with control characters (C0, DEL, C1) and bidirectional overrides written out as
/// `\x1b` or `\u{9b}`, so text from a Dockerfile cannot drive the terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            if (c as u32) < 0x80 {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// [`printable`] line by line: a message's own line breaks stay.
fn printable_lines(text: &str) -> String {
    text.split('\n').map(printable).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out() {
        assert_eq!(printable("a\u{1b}[31mb\tc\u{7f}"), "a\\x1b[31mb\\x09c\\x7f");
        assert_eq!(printable("\u{9b}2J \u{202e}x é"), "\\u{9b}2J \\u{202e}x é");
        assert_eq!(printable_lines("one\u{7}\ntwo"), "one\\x07\ntwo");
    }
}
