//! `quarry.lock`, next to `quarry.toml`: the resolved extensions with every option value and
//! builder base image, and a hash of the rendered Dockerfile, so that a render months later gives
//! the same Dockerfile. Option values and builder bases the configuration does not set are taken
//! from the lock (not from newer defaults); `--locked` fails when the lock would change.
//!
//! Options that default to host values (the user's uid) are not locked: they belong to whoever
//! runs quarry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quarry_core::{Rendered, Request, Selection};
use serde::Deserialize;

use crate::cache_id::fnv1a;

/// Name of the lock file.
pub const LOCK_FILE: &str = "quarry.lock";

/// The lock's content.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version.
    pub version: u32,
    /// The final image.
    pub image: String,
    /// Hash of the rendered Dockerfile.
    pub dockerfile: String,
    /// Every resolved extension, in render order.
    #[serde(default, rename = "extension")]
    pub extensions: Vec<LockedExtension>,
}

/// One locked extension.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockedExtension {
    /// Name.
    pub name: String,
    /// Effective cache priority.
    pub cache_priority: u8,
    /// Effective builder base image, for extensions with a builder.
    pub builder_base_image: Option<String>,
    /// Every option value (host-derived ones left out).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Lock {
    /// The lock of a render.
    pub fn of(rendered: &Rendered, image: &str) -> Lock {
        Lock {
            version: 1,
            image: image.to_owned(),
            dockerfile: format!("{:016x}", fnv1a(rendered.dockerfile.as_bytes())),
            extensions: rendered
                .resolved
                .extensions
                .iter()
                .map(|r| LockedExtension {
                    name: r.extension.name.to_owned(),
                    cache_priority: r.priority,
                    builder_base_image: r.builder_base_image.clone(),
                    options: r
                        .extension
                        .options
                        .iter()
                        .filter(|o| o.from_host.is_none())
                        .map(|o| (o.name.to_owned(), r.options[o.name].clone()))
                        .collect(),
                })
                .collect(),
        }
    }

    /// The file's text: deterministic, one fact per line.
    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# quarry.lock: written by quarry from quarry.toml; commit it with the project.\n\
             # `quarry render --locked` fails instead of changing it.\n",
        );
        let _ = writeln!(s, "version = {}", self.version);
        let _ = writeln!(s, "image = {:?}", self.image);
        let _ = writeln!(s, "dockerfile = {:?}", self.dockerfile);
        for e in &self.extensions {
            let _ =
                writeln!(s, "\n[[extension]]\nname = {:?}\ncache_priority = {}", e.name, e.cache_priority);
            if let Some(b) = &e.builder_base_image {
                let _ = writeln!(s, "builder_base_image = {b:?}");
            }
            if !e.options.is_empty() {
                let options: Vec<String> = e.options.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
                let _ = writeln!(s, "options = {{ {} }}", options.join(", "));
            }
        }
        s
    }

    /// Reads a lock file; `None` when there is none.
    pub fn read(path: &Path) -> anyhow::Result<Option<Lock>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read `{}`: {e}", path.display()),
        };
        toml::from_str(&text).map(Some).map_err(|e| {
            anyhow::anyhow!(
                "`{}` is not a quarry lock file: {}\nhint: delete it; quarry writes a new one",
                path.display(),
                e.message()
            )
        })
    }

    /// Fills `request` with the locked option values and builder bases of the extensions it
    /// selects (or that `names` adds as dependencies), where the command line and the
    /// configuration set none.
    pub fn seed(&self, request: &mut Request, names: &[&str]) {
        for e in &self.extensions {
            let selected = request.extensions.iter().any(|s| s.name == e.name);
            // A dependency is selected only when there is something to pin, so the "added" notes
            // stay true for the rest.
            let pins = !e.options.is_empty() || e.builder_base_image.is_some();
            if !selected && (!pins || !names.contains(&e.name.as_str())) {
                continue;
            }
            if !selected {
                request.extensions.push(Selection::new(e.name.clone()));
            }
            let selection = request.extensions.iter_mut().find(|s| s.name == e.name).expect("just ensured");
            for (k, v) in &e.options {
                selection.options.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if let Some(base) = &e.builder_base_image
                && request.builder_base_image.is_none()
            {
                let o = request.overrides.entry(e.name.clone()).or_default();
                if o.builder_base_image.is_none() {
                    o.builder_base_image = Some(base.clone());
                }
            }
        }
    }
}

/// Where the lock of a project file lives.
pub fn path_for(project: &Path) -> PathBuf {
    project.with_file_name(LOCK_FILE)
}

/// The first line where two lock texts differ, for the error message.
pub fn first_difference(old: &str, new: &str) -> String {
    for (a, b) in old.lines().zip(new.lines()) {
        if a != b {
            return format!("`{}` would become `{}`", a.trim(), b.trim());
        }
    }
    "the extension list changes".to_owned()
}
