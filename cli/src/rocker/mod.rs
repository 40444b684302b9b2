//! rocker's command line and rockerc's files, as rocker users write them, in quarry's terms, for
//! `quarry rocker` and `quarry rockerc` (`rocker_commands.rs`) and a folder with a `rockerc.yaml`
//! and no quarry.toml (`layers.rs`). `spec.rs` holds rocker's options,
//! `parse.rs` reads a command line as rocker's argparse does, `translate.rs` says it in quarry's
//! terms, `rockerc.rs` reads rockerc's files, `auto.rs` is deps_rocker's `--auto`.

pub mod auto;
pub mod parse;
pub mod rockerc;
pub mod spec;
pub mod translate;

use std::path::Path;

use quarry_core::{Hinted, Registry};

use crate::config::Loaded;
use crate::ui;
use translate::{Host, Translation};

/// The version rocker's options are read as.
pub const COMPATIBLE: &str = "rocker 0.4, deps_rocker 0.23, off-your-rocker 0.1";

/// The host's side of a translation in this process.
pub(crate) fn with_host<T>(f: impl FnOnce(&Host) -> T) -> anyhow::Result<T> {
    let cwd = std::env::current_dir().map_err(|e| {
        Hinted::new(format!("cannot read the current folder: {e}"), "run quarry in a folder that exists")
    })?;
    let groups = host_groups();
    Ok(f(&Host { cwd: &cwd, groups: &groups }))
}

/// The host's groups, (name, gid), from `/etc/group`.
fn host_groups() -> Vec<(String, String)> {
    std::fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let gid = f.nth(1)?;
            Some((name.to_owned(), gid.to_owned()))
        })
        .collect()
}

/// The configuration a translation makes, as the project layer `origin` stands for.
pub(crate) fn project(
    registry: &Registry,
    t: &Translation,
    origin: &Path,
    dockerfile: Option<&str>,
) -> anyhow::Result<Loaded> {
    let mut config = t.config.clone();
    if let Some(d) = dockerfile {
        config.insert("dockerfile".into(), toml::Value::String(d.to_owned()));
    }
    let text = toml::to_string(&config).map_err(|e| {
        Hinted::new(
            format!("cannot write the configuration: {e}"),
            "this is a bug in quarry; please report it",
        )
    })?;
    let loaded = Loaded::parse(origin, text)?;
    loaded.check(registry)?;
    Ok(loaded)
}

/// What reading the folder's rockerc files found to say, kept until a command uses the project
/// ([`say_rockerc_notes`]): `quarry list` or `quarry import` in such a folder says nothing of it.
static ROCKERC_NOTES: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);

/// A folder's rockerc files as a project configuration (`crate::layers::discover`).
pub fn rockerc_project(
    registry: &Registry,
    rockerc: &rockerc::Rockerc,
    cwd: &Path,
) -> anyhow::Result<Loaded> {
    let (argv, mut notes) = rockerc.argv();
    let parsed = if argv.iter().any(|a| a == "--") { parse::parse(&argv)? } else { parse_lenient(&argv)? };
    let t = with_host(|host| translate::translate(&parsed, registry, host))??;
    notes.extend(t.notes.iter().cloned());
    let files: Vec<String> = rockerc.files.iter().map(|f| format!("`{}`", f.display())).collect();
    notes.insert(
        0,
        format!(
            "no quarry.toml here: using {} as rockerc would (`quarry import {}` makes it a quarry.toml)",
            files.join(" under "),
            rockerc::FILE
        ),
    );
    let mut pending = ROCKERC_NOTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    pending.get_or_insert(notes);
    drop(pending);
    project(registry, &t, &cwd.join(rockerc::FILE), rockerc.dockerfile.as_deref())
}

/// Says, once, what reading the folder's rockerc files found ([`rockerc_project`]).
pub fn say_rockerc_notes() {
    let mut pending = ROCKERC_NOTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(notes) = pending.as_mut() {
        for n in notes.drain(..) {
            ui::note(&n);
        }
    }
}

/// `argv` read with no image required (rockerc's files may leave the image to the command line).
fn parse_lenient(argv: &[String]) -> anyhow::Result<parse::Parsed> {
    let mut with = argv.to_vec();
    with.extend(["--".to_owned(), "quarry-no-image".to_owned()]);
    let mut parsed = parse::parse(&with)?;
    parsed.image = None;
    Ok(parsed)
}
