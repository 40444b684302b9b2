//! Project extensions: the extensions a project's quarry.toml adds to the catalog, with no crate
//! to write.
//!
//! - `extension_dirs`: folders holding an `extension.toml` and templates in the catalog's format,
//!   validated by `quarry_codegen::runtime` (the walker a crate's `cargo build` runs).
//! - The two-line keys `apt`, `apt_repositories`, `pip`, `uv`, `copy` and `scripts`: each becomes an
//!   extension whose metadata quarry writes and validates the same way.
//!
//! They join the registry before the command line is parsed, so their flags, options, priorities,
//! dependencies and lock entries work as a catalog extension's do.

use std::ops::Range;
use std::path::{Path, PathBuf};

use quarry_core::{Extension, Hinted, Registry, rules};
use toml::Spanned;

use crate::config::{self, ConfigError, Loaded, ORIGIN, first_project_key};

mod deps;
mod keys;

/// The catalog plus the extensions of the project file found above `cwd`. Without a project
/// file, or with one that adds none, the catalog itself.
pub fn registry(catalog: &'static Registry, cwd: &Path) -> anyhow::Result<&'static Registry> {
    let Some((loaded, _)) = crate::layers::discover(catalog, cwd)? else { return Ok(catalog) };
    let root = folder_of(&loaded.path);
    registry_of(catalog, &loaded, root)
}

/// The catalog plus the extensions of the configuration `path` (`quarry explain OLD.toml NEW.toml`:
/// each side with its own `apt`, `pip`, ... and folders), whatever project `cwd` is in. Its paths
/// are read from its own folder; a configuration kept elsewhere (`git show HEAD:quarry.toml >
/// /tmp/old.toml`) that names paths its folder lacks reads them from the project of `cwd`.
pub fn registry_of_file(
    registry: &'static Registry,
    path: &Path,
    cwd: &Path,
) -> anyhow::Result<&'static Registry> {
    let catalog: Vec<&'static Extension> =
        registry.iter().filter(|e| !e.crate_name.starts_with(ORIGIN)).collect();
    let catalog: &'static Registry = if catalog.len() == registry.len() {
        registry
    } else {
        Box::leak(Box::new(Registry::from_extensions(catalog)?))
    };
    let own = folder_of(path);
    let loaded = Loaded::read(path)?;
    let root = match crate::layers::find_project(cwd) {
        Some(project) if !named_paths(&loaded.config).iter().all(|p| own.join(p).exists()) => {
            folder_of(&project)
        }
        _ => own,
    };
    registry_of(catalog, &loaded, root)
}

/// The project paths a configuration names: `extension_dirs`, `copy` and `scripts`.
fn named_paths(config: &config::Config) -> Vec<String> {
    fn strings(value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) => out.push(s.clone()),
            toml::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            toml::Value::Table(t) => t.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out: Vec<String> = config.extension_dirs.iter().map(|d| d.get_ref().clone()).collect();
    out.extend(config.copy.iter().map(|c| c.get_ref().path.get_ref().clone()));
    if let Some(scripts) = &config.scripts {
        strings(scripts.get_ref(), &mut out);
    }
    out
}

/// The folder of a file, `.` for a bare name.
fn folder_of(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned()
}

/// The catalog plus the extensions the configuration `loaded` adds, its paths read from `root`.
pub(crate) fn registry_of(
    catalog: &'static Registry,
    loaded: &Loaded,
    root: PathBuf,
) -> anyhow::Result<&'static Registry> {
    if first_project_key(&loaded.config).is_none() {
        return Ok(catalog);
    }
    // A project file of another user adds no code to the image unless its folder is trusted.
    crate::layers::Layers::check_owner_before_load(&loaded.path)?;
    let project = Project { loaded, root };
    let mut extensions: Vec<&'static Extension> = Vec::new();
    for dir in &loaded.config.extension_dirs {
        extensions.push(project.folder(dir)?);
    }
    extensions.extend(project.two_line_keys()?);
    extensions.extend(project.deps()?);
    let mut all: Vec<&'static Extension> = catalog.iter().collect();
    for ext in &extensions {
        if let Some(other) = all.iter().find(|e| e.name == ext.name) {
            let (what, hint) = if other.crate_name.starts_with(ORIGIN) {
                (
                    format!("project extension `{}` of `{}`", other.name, &other.crate_name[ORIGIN.len()..]),
                    "give each project extension its own `name`",
                )
            } else {
                (
                    format!("catalog extension `{}` (crate `{}`)", other.name, other.crate_name),
                    "rename the project's extension, or select the catalog one in `extensions` instead",
                )
            };
            anyhow::bail!(Hinted::new(
                format!(
                    "project extension `{}` of `{}` has the name of the {what}",
                    ext.name,
                    &ext.crate_name[ORIGIN.len()..],
                ),
                hint,
            ));
        }
        all.push(ext);
    }
    let registry = Registry::from_extensions(all)?;
    Ok(Box::leak(Box::new(registry)))
}

/// A project file and the folder its paths are read from.
struct Project<'a> {
    loaded: &'a Loaded,
    root: PathBuf,
}

impl Project<'_> {
    fn error(&self, span: Range<usize>, message: String, hint: &str) -> ConfigError {
        self.loaded.error(span, message, hint.to_owned())
    }

    /// A relative path of the project, checked: inside it, and naming what exists.
    fn path(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        let rel = value.get_ref();
        if !rules::is_rel_path(rel.trim_end_matches('/')) {
            return Err(self.error(
                value.span(),
                format!("`{key}` = {rel:?} is not a path inside the project"),
                "write it relative to quarry.toml's folder, without `..`, using letters, digits and `/._+-`",
            ));
        }
        let full = self.root.join(rel);
        let (Ok(real), Ok(root)) = (full.canonicalize(), self.root.canonicalize()) else {
            return Err(self.error(
                value.span(),
                format!("`{key}`: `{}` does not exist", full.display()),
                "check the path: it is relative to quarry.toml's folder",
            ));
        };
        if !real.starts_with(&root) {
            return Err(self.error(
                value.span(),
                format!(
                    "`{key}`: `{rel}` leads outside the project (to `{}`) through a symbolic link",
                    real.display()
                ),
                "copy what it links to into the project, or point at it without the link",
            ));
        }
        Ok(full)
    }

    /// The extension in the folder `dir` names.
    fn folder(&self, dir: &Spanned<String>) -> anyhow::Result<&'static Extension> {
        let full = self.path(dir, "extension_dirs")?;
        if !full.is_dir() {
            return Err(self
                .error(
                    dir.span(),
                    format!("`extension_dirs`: `{}` is not a folder", dir.get_ref()),
                    "name the folder that holds the extension's `extension.toml`",
                )
                .into());
        }
        let shown = dir.get_ref().trim_end_matches('/');
        quarry_codegen::runtime::load(&full, shown, &self.root, &format!("{ORIGIN}{shown}"))
            .map_err(|d| diagnostics(&format!("project extension `{shown}`"), d))
    }
}

/// The codegen diagnostics of a project extension, as one error: every mistake with its place.
fn diagnostics(what: &str, list: Vec<quarry_codegen::Diagnostic>) -> anyhow::Error {
    let lines: Vec<String> = list.iter().map(|d| format!("  {d}")).collect();
    Hinted::new(
        format!("{what} is not valid:\n{}", lines.join("\n")),
        "fix each place named above; docs/EXTENDING.md lists every key and rule",
    )
    .into()
}
