//! `quarry init` (a commented starter quarry.toml) and `quarry import` (a rockerc.yaml turned into
//! quarry.toml, naming what could not be converted).

use std::path::Path;

use anyhow::Context;
use quarry_core::Registry;
use yaml_rust2::{Yaml, YamlLoader};

/// The starter file `quarry init` writes.
pub const STARTER: &str = r#"# quarry.toml: what `quarry render`, `quarry build` and `quarry run` use when the command line
# names no image and no extension. Command-line flags win over this file; this file wins over
# your user file ($XDG_CONFIG_HOME/quarry/config.toml). `quarry list` shows every extension.

# The final image.
image = "ubuntu:24.04"

# Extensions, in any order: the Dockerfile is the same whatever the order.
extensions = ["cargo", "npm"]

# Image every builder starts from (default ubuntu:22.04: binaries built on an older glibc run on
# newer images, not the reverse).
# builder_base_image = "ubuntu:22.04"

# Cache id for this project's builds; the command line and ROCKER_CACHE_ID/QUARRY_CACHE_ID win.
# cache_id = "my-project"

# Option values, per extension (`quarry show cargo` lists them).
# [options.cargo]
# version = "1.95.0"

# Per-extension overrides.
# [overrides.npm]
# builder_base_image = "debian:bookworm"
# cache_priority = 70

# docker build pass-throughs.
# [build]
# add_host = ["deb.debian.org:192.0.2.1"]
# progress = "plain"

# Extra docker run arguments, one per entry.
# [run]
# args = ["--rm"]
"#;

/// Writes `contents` to `path` unless it exists (then `force` is needed).
pub fn write_new(path: &Path, contents: &str, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!("`{}` already exists\nhint: pass --force to replace it", path.display());
    }
    crate::output::write_atomically(path, contents.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// What `quarry import` made of a rockerc file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The quarry.toml text.
    pub toml: String,
    /// What was not converted, one line each.
    pub skipped: Vec<String>,
}

/// Converts rockerc YAML (keys `image`, `args`, `extension-blacklist`) to quarry.toml.
pub fn import_rockerc(registry: &Registry, yaml: &str, origin: &str) -> anyhow::Result<Imported> {
    let docs = YamlLoader::load_from_str(yaml).map_err(|e| {
        anyhow::anyhow!("`{origin}` is not YAML: {e}\nhint: a rockerc file is a YAML mapping")
    })?;
    let doc = docs.into_iter().next().unwrap_or(Yaml::Null);
    let Yaml::Hash(map) = &doc else {
        anyhow::bail!(
            "`{origin}` holds no mapping\nhint: a rockerc file looks like `image: ubuntu:22.04` and `args: [x11, user]`"
        );
    };
    let mut skipped = Vec::new();
    let mut image = None;
    let mut names: Vec<String> = Vec::new();
    let mut blacklist: Vec<String> = Vec::new();
    let list = |v: &Yaml| -> Vec<String> {
        match v {
            Yaml::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
            Yaml::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    };
    for (key, value) in map {
        match key.as_str().unwrap_or_default() {
            "image" => match value.as_str() {
                Some(i) if quarry_core::rules::is_image_ref(i) => image = Some(i.to_owned()),
                _ => skipped.push(format!("`image`: {value:?} is not an image reference")),
            },
            "args" => names = list(value),
            "extension-blacklist" => blacklist = list(value),
            other => skipped.push(format!("`{other}`: quarry has no such setting")),
        }
    }
    let mut extensions = Vec::new();
    for raw in names {
        let name = raw.trim_start_matches('-').replace('-', "_");
        if blacklist.iter().any(|b| b.replace('-', "_") == name) {
            continue;
        }
        if registry.get(&name).is_some() {
            if !extensions.contains(&name) {
                extensions.push(name);
            }
        } else {
            let hint = registry.suggest(&name).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
            skipped.push(format!("`args` entry `{raw}`: no such extension{hint}"));
        }
    }
    if !blacklist.is_empty() {
        skipped.push(format!(
            "`extension-blacklist` ({}): quarry selects only what `extensions` lists, so these are left out",
            blacklist.join(", ")
        ));
    }
    extensions.sort();
    let mut toml = format!("# Converted from {origin} by `quarry import`.\n");
    match &image {
        Some(i) => toml.push_str(&format!("image = {i:?}\n")),
        None => toml.push_str("# image = \"ubuntu:24.04\"   # rockerc named no image: set one\n"),
    }
    let quoted: Vec<String> = extensions.iter().map(|e| format!("{e:?}")).collect();
    toml.push_str(&format!("extensions = [{}]\n", quoted.join(", ")));
    if !skipped.is_empty() {
        toml.push_str("\n# Not converted:\n");
        for s in &skipped {
            toml.push_str(&format!("# - {s}\n"));
        }
    }
    Ok(Imported { toml, skipped })
}

#[cfg(test)]
mod tests {
    #[test]
    fn starter_file_is_valid() {
        let registry = quarry_core::Registry::from_extensions([]).unwrap();
        let loaded =
            crate::config::Loaded::parse(std::path::Path::new("quarry.toml"), super::STARTER.to_owned())
                .unwrap();
        assert_eq!(loaded.config.image.unwrap().into_inner(), "ubuntu:24.04");
        assert_eq!(loaded.config.extensions.len(), 2);
        // Unknown to an empty registry, known to the real one (checked in the CLI tests).
        assert!(
            crate::config::Loaded::parse(std::path::Path::new("q"), super::STARTER.to_owned())
                .unwrap()
                .check(&registry)
                .is_err()
        );
    }
}
