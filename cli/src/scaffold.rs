//! `quarry new-extension NAME`: a project extension in `.quarry/extensions/NAME/`, from the same
//! commented `extension.toml` that `cargo xtask new-extension` gives a crate.

use std::path::{Path, PathBuf};

use anyhow::Context;
use quarry_core::{Hinted, Registry};

use crate::{output, ui};

/// The header line of a crate's scaffold: who checks the file.
pub const CHECKED_BY_CODEGEN: &str = "quarry-codegen checks this file when the crate builds: a mistake fails `cargo build` with its\n# file, line, column, key and rule.";
/// The header line of a project extension's scaffold.
pub const CHECKED_AT_RUN: &str = "quarry checks this file whenever it runs in the project: a mistake stops it with the file,\n# line, column, key and rule.";

/// `template` with the placeholders every scaffold shares filled in for `name`.
pub fn fill(name: &str, template: &str) -> String {
    template
        .replace("@NAME@", name)
        .replace("@FLAG@", &name.replace('_', "-"))
        .replace("@UPPER@", &name.to_ascii_uppercase())
}

/// Writes the project extension `name` (in `dir`, default `.quarry/extensions/<name>`) and adds
/// its folder to quarry.toml's `extension_dirs` when the file has no such key yet.
pub fn project_extension(registry: &Registry, name: &str, dir: Option<&Path>) -> anyhow::Result<()> {
    if !quarry_core::rules::is_snake_case(name) {
        anyhow::bail!(Hinted::new(
            format!("{name:?} is not a snake_case name"),
            format!(
                "use lowercase letters, digits and single `_`, starting with a letter, such as `{}`",
                suggest_name(name)
            ),
        ));
    }
    if let Some(ext) = registry.get(name) {
        let place = ext
            .crate_name
            .strip_prefix(crate::config::ORIGIN)
            .map_or_else(|| format!("crate `{}`", ext.crate_name), |p| format!("in `{p}`"));
        anyhow::bail!(Hinted::new(
            format!("an extension `{name}` exists already ({place})"),
            "choose another name"
        ));
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let project = crate::layers::find_project(&cwd);
    let root = project.as_deref().and_then(Path::parent).map_or_else(|| cwd.clone(), Path::to_owned);
    let dir: PathBuf = dir.map_or_else(|| root.join(".quarry/extensions").join(name), |d| cwd.join(d));
    if dir.exists() {
        anyhow::bail!(Hinted::new(
            format!("`{}` exists already", dir.display()),
            "remove it, or choose another name or `--dir`"
        ));
    }
    // The folder must be the project's: a `.quarry` (or any folder on the way) that links out of
    // it would make quarry write elsewhere, and `extension_dirs` could not name it.
    let existing = dir.ancestors().find(|a| a.exists()).unwrap_or(&root);
    if let (Ok(real), Ok(real_root)) = (existing.canonicalize(), root.canonicalize())
        && !real.starts_with(&real_root)
    {
        anyhow::bail!(Hinted::new(
            format!(
                "`{}` leads outside the project (to `{}`) through a symbolic link",
                existing.display(),
                real.display()
            ),
            "remove the link, or choose a `--dir` inside the project",
        ));
    }
    let toml = fill(name, &extension_toml().replace("@CHECKED@", CHECKED_AT_RUN));
    let setup = fill(name, SETUP_TEMPLATE);
    std::fs::create_dir_all(dir.join("templates"))
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    output::write_atomically(&dir.join("extension.toml"), toml.as_bytes())?;
    output::write_atomically(&dir.join("templates/setup.Dockerfile.j2"), setup.as_bytes())?;
    ui::note(&format!("wrote `{}` (extension.toml, templates/setup.Dockerfile.j2)", dir.display()));
    let rel = dir
        .strip_prefix(&root)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| dir.display().to_string());
    match project {
        Some(file) => add_to_project(&file, &rel),
        None => {
            ui::note(&format!(
                "next: in a quarry.toml here, add `extension_dirs = [{}]`, then `quarry render`",
                ui::quoted(&rel)
            ));
            Ok(())
        }
    }
}

/// Adds `rel` to `extension_dirs`: a new line when the file has no such key, else a note saying
/// what to add. The line goes right after a commented example of the key (`quarry init`'s, among
/// the top-level keys, above commented tables that a user may uncomment later), else before the
/// first table.
fn add_to_project(file: &Path, rel: &str) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let text = quarry_codegen::files::read_text(file, None, quarry_codegen::files::TEXT_LIMIT, &shown)?;
    let has_key = text.lines().any(|l| l.trim_start().starts_with("extension_dirs"));
    if has_key || !quarry_core::rules::is_rel_path(rel) {
        ui::note(&format!(
            "next: add {} to `extension_dirs` in `{}`, then `quarry render`",
            ui::quoted(rel),
            file.display()
        ));
        return Ok(());
    }
    let line = format!("extension_dirs = [\"{rel}\"]\n");
    let lines = || {
        text.lines().scan(0, |offset, l| {
            let start = *offset;
            *offset += l.len() + 1;
            Some((start, l))
        })
    };
    let after_example = lines()
        .find(|(_, l)| l.starts_with("# extension_dirs = "))
        .map(|(start, l)| (start + l.len() + 1).min(text.len()));
    let at = after_example.unwrap_or_else(|| {
        lines().find(|(_, l)| l.trim_start().starts_with('[')).map_or(text.len(), |(start, _)| start)
    });
    let mut new = String::with_capacity(text.len() + line.len() + 1);
    new.push_str(&text[..at]);
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&line);
    new.push_str(&text[at..]);
    output::write_atomically(file, new.as_bytes())?;
    ui::note(&format!("added it to `extension_dirs` in `{}`; `quarry render` shows it", file.display()));
    Ok(())
}

/// A snake_case spelling of `name` for the hint.
fn suggest_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.starts_with(|c: char| c.is_ascii_lowercase()) { out } else { format!("my_{out}") }
}

/// The commented `extension.toml` of a new extension (a crate's or a project's), with
/// `@NAME@`, `@FLAG@`, `@UPPER@` and `@CHECKED@` left to fill: quarry_core's scaffold, which
/// shows every key of the schema.
pub fn extension_toml() -> String {
    quarry_core::schema::scaffold()
}

pub const SETUP_TEMPLATE: &str = r#"# The final stage's chain, as root, right after this extension's apt packages: steps that need
# only them. Option values are written literally into the steps that use them.
RUN update-ca-certificates --fresh > /dev/null
"#;
