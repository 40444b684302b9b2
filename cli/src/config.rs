//! Configuration files, one at a time: the format of the project's `quarry.toml` and the user's
//! `$XDG_CONFIG_HOME/quarry/config.toml`, parsing (errors point at the place) and checking one
//! file against the registry. Finding, loading and merging them is `layers.rs`.
//!
//! ```toml
//! image = "ubuntu:24.04"
//! extensions = ["cargo", "npm"]
//! builder_base_image = "ubuntu:22.04"   # every builder
//! cache_id = "dev"
//!
//! [options.cargo]
//! version = "1.95.0"
//!
//! [overrides.npm]
//! builder_base_image = "debian:bookworm"
//! cache_priority = 70
//!
//! [build]
//! add_host = ["deb.debian.org:192.0.2.1"]
//! progress = "plain"
//!
//! [run]
//! args = ["--cap-add=SYS_PTRACE"]
//! ```
//!
//! Merge rules (documented in README.md): a value from the command line wins over the project
//! file, which wins over the user file; `extensions`, `build.add_host`, `build.cache_from`,
//! `build.cache_to` and `run.args` are the union of all three, in that order.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use quarry_core::Registry;
use serde::Deserialize;
use toml::Spanned;

/// Name of the project file.
pub const PROJECT_FILE: &str = "quarry.toml";

/// What [`Extension::crate_name`] of a project extension starts with.
pub const ORIGIN: &str = "project:";

/// The project extensions of the registry, by name.
pub fn project_extension_names(registry: &Registry) -> Vec<String> {
    registry.iter().filter(|e| e.crate_name.starts_with(ORIGIN)).map(|e| e.name.to_owned()).collect()
}

/// The first key of `config` that only a project file may set, with its place.
pub fn first_project_key(config: &Config) -> Option<(&'static str, Range<usize>)> {
    let spans = [
        ("extension_dirs", config.extension_dirs.first().map(Spanned::span)),
        ("apt", config.apt.as_ref().map(Spanned::span)),
        ("apt_repositories", config.apt_repositories.first().map(Spanned::span)),
        ("pip", config.pip.as_ref().map(Spanned::span)),
        ("uv", config.uv.as_ref().map(Spanned::span)),
        ("copy", config.copy.first().map(Spanned::span)),
        ("scripts", config.scripts.as_ref().map(Spanned::span)),
        ("deps", config.deps.as_ref().map(Spanned::span)),
    ];
    spans.into_iter().find_map(|(key, span)| span.map(|s| (key, s)))
}

/// The built-in example configuration that `cargo xtask render` renders.
pub const EXAMPLE: &str = include_str!("../example.quarry.toml");

/// The starter file `quarry init` writes: every key of a project file, with a commented example
/// of each that parses when uncommented (tested here, and rendered in `cli/tests/cli.rs`).
pub const STARTER: &str = include_str!("../starter.quarry.toml");

/// One configuration file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The final image.
    pub image: Option<Spanned<String>>,
    /// Selected extensions.
    #[serde(default)]
    pub extensions: Vec<Spanned<String>>,
    /// Image every builder starts from.
    pub builder_base_image: Option<Spanned<String>>,
    /// A Dockerfile of the project (relative to the file's folder) that `build` and `run` build
    /// first, then use as the final image (rockerc's `dockerfile:`).
    pub dockerfile: Option<Spanned<String>>,
    /// Cache id for builds.
    pub cache_id: Option<Spanned<String>>,
    /// Option values: `[options.<extension>] <option> = value`.
    #[serde(default)]
    pub options: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<OptionValue>>>,
    /// `[overrides.<extension>]`.
    #[serde(default)]
    pub overrides: BTreeMap<Spanned<String>, OverrideConfig>,
    /// `docker build` pass-throughs.
    #[serde(default)]
    pub build: BuildConfig,
    /// `docker run` additions.
    #[serde(default)]
    pub run: RunConfig,
    /// The shared remote cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Folders whose quarry.toml and quarry.lock apply even when another user owns them (`"*"`:
    /// every folder). Read from the user's file only.
    #[serde(default)]
    pub safe_directories: Vec<Spanned<String>>,
    /// Folders of the project holding an extension each (`extension.toml` and its templates);
    /// project files only. See `project_ext/`.
    #[serde(default)]
    pub extension_dirs: Vec<Spanned<String>>,
    /// The project's apt packages: a list, or layers `{ tools, base, main }`.
    pub apt: Option<Spanned<toml::Value>>,
    /// apt repositories the project's packages come from.
    #[serde(default)]
    pub apt_repositories: Vec<Spanned<RepositoryConfig>>,
    /// The project's Python packages, installed in a venv built in a builder stage: a list, or
    /// layers `{ tools, base, main }`.
    pub pip: Option<Spanned<toml::Value>>,
    /// The same as `pip`, installed by uv (the catalog's `uv` extension, which the image then has).
    pub uv: Option<Spanned<toml::Value>>,
    /// Files and folders of the project copied into the image.
    #[serde(default)]
    pub copy: Vec<Spanned<CopyConfig>>,
    /// Scripts of the project run in the image: a list, or layers `{ tools, base, main, post }`.
    pub scripts: Option<Spanned<toml::Value>>,
    /// deps_rocker's `*.deps.yaml` files, read where they are: `true` (deps_rocker's default
    /// pattern), a pattern or a list of them. See `project_ext/deps.rs`.
    pub deps: Option<Spanned<toml::Value>>,
    /// The project extensions the registry holds for this file (filled when it is loaded): a
    /// project file selects them, as `extensions` selects catalog ones.
    #[serde(skip)]
    pub project_extensions: Vec<String>,
}

/// One `apt_repositories` entry of quarry.toml: the fields of `[[apt_repositories]]` in an
/// extension.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// snake_case name.
    pub name: Spanned<String>,
    /// The signing key's https URL.
    pub key_url: Spanned<String>,
    /// The `deb` line, with `{{ keyring }}`.
    pub source: Spanned<String>,
}

/// One `copy` entry: a file or folder of the project and where the image gets it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyConfig {
    /// Relative to quarry.toml's folder.
    pub path: Spanned<String>,
    /// An absolute path in the image.
    pub dest: Spanned<String>,
}

/// An option value: TOML strings, integers and booleans are all accepted.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OptionValue {
    /// `"1.95.0"`.
    String(String),
    /// `1000`.
    Integer(i64),
    /// `true`.
    Bool(bool),
    /// `["A=1", "B=2"]`, for a list option (`quarry show` marks them).
    List(Vec<OptionValue>),
}

impl OptionValue {
    /// The value as the option rules see it (a list's values joined by `,`: see [`Self::texts`]).
    pub fn text(&self) -> String {
        match self {
            OptionValue::String(s) => s.clone(),
            OptionValue::Integer(i) => i.to_string(),
            OptionValue::Bool(b) => b.to_string(),
            OptionValue::List(items) => items.iter().map(OptionValue::text).collect::<Vec<_>>().join(","),
        }
    }

    /// Every value: one, or a list's.
    pub fn texts(&self) -> Vec<String> {
        match self {
            OptionValue::List(items) => items.iter().flat_map(OptionValue::texts).collect(),
            other => vec![other.text()],
        }
    }
}

/// `[overrides.<extension>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideConfig {
    /// Image the extension's builder starts from.
    pub builder_base_image: Option<Spanned<String>>,
    /// Cache priority as written (any integer), checked by `quarry_core::CachePriority::new`.
    pub cache_priority: Option<Spanned<i64>>,
}

/// `[build]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// `--add-host`.
    #[serde(default)]
    pub add_host: Vec<String>,
    /// `--build-network`.
    pub network: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--progress`.
    pub progress: Option<String>,
    /// `--builder`.
    pub builder: Option<String>,
    /// `--cache-from`.
    #[serde(default)]
    pub cache_from: Vec<String>,
    /// `--cache-to`.
    #[serde(default)]
    pub cache_to: Vec<String>,
    /// `--pull`.
    pub pull: Option<bool>,
    /// `--no-cache`.
    pub no_cache: Option<bool>,
    /// `--shm-size` of RUN steps (rocker's `--shm-size-build`).
    pub shm_size: Option<String>,
    /// `--build-ssh`: SSH agents or keys for steps that mount one (`default`).
    #[serde(default)]
    pub ssh: Vec<String>,
}

/// `[cache]`: the shared remote cache (`docs/remote-cache.md`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `REGISTRY/REPO` holding one cache reference per builder stage and project.
    pub registry: Option<Spanned<String>>,
    /// Whether the registry may be spoken to over plain http (loopback registries need no flag).
    pub insecure: Option<bool>,
}

/// `[run]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Extra `docker run` arguments, one per entry.
    #[serde(default)]
    pub args: Vec<Spanned<String>>,
}

/// A configuration file that is wrong, pointing at the place. `Display` is the place and the
/// message; `hint` is the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", .path.display())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl quarry_core::Hint for ConfigError {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone()).filter(|h| !h.is_empty())
    }
}

/// A loaded file: where it is, its text and its content.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Its content.
    pub config: Config,
}

impl Loaded {
    /// Parses `text` read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<Loaded, ConfigError> {
        match toml::from_str::<Config>(&text) {
            Ok(config) => Ok(Loaded { path: path.to_owned(), text, config }),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim().to_owned();
                let hint = if message.starts_with("unknown field") {
                    "the keys are image, dockerfile, extensions, builder_base_image, cache_id, extension_dirs, apt, \
                     apt_repositories, pip, uv, copy, scripts, deps, [options.<extension>], [overrides.<extension>], [build], \
                     [run] and [cache]; see `quarry init`"
                } else {
                    "fix the TOML at this place"
                };
                Err(Loaded::error_at(path, &text, span, message, hint.to_owned()))
            }
        }
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> anyhow::Result<Loaded> {
        let shown = path.display().to_string();
        let text = quarry_codegen::files::read_text(path, None, quarry_codegen::files::TEXT_LIMIT, &shown)?;
        Ok(Loaded::parse(path, text)?)
    }

    fn error_at(path: &Path, text: &str, span: Range<usize>, message: String, hint: String) -> ConfigError {
        let mut offset = span.start.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ConfigError { path: path.to_owned(), line, column, message, hint }
    }

    /// An error pointing at `span` of this file.
    pub fn error(&self, span: Range<usize>, message: String, hint: String) -> ConfigError {
        Loaded::error_at(&self.path, &self.text, span, message, hint)
    }

    /// Checks every name and value against the registry: unknown extensions and options (with
    /// did-you-mean), option values that break their rule, bad images and priorities.
    pub fn check(&self, registry: &Registry) -> Result<(), ConfigError> {
        let c = &self.config;
        let unknown_extension = |name: &Spanned<String>, place: &str| {
            let hint = match registry.suggest(name.get_ref()) {
                Some(s) => format!("did you mean `{s}`? `quarry list` shows every extension"),
                None => "`quarry list` shows every extension".to_owned(),
            };
            self.error(name.span(), format!("unknown extension `{}` in {place}", name.get_ref()), hint)
        };
        let image = |value: &Spanned<String>, key: &str| {
            if quarry_core::rules::is_image_ref(value.get_ref()) {
                Ok(())
            } else {
                Err(self.error(
                    value.span(),
                    format!("`{key}` = {:?} is not an image reference", value.get_ref()),
                    "write it like `ubuntu:24.04` or `registry.example.com/team/image:tag`".to_owned(),
                ))
            }
        };
        if let Some(i) = &c.image {
            image(i, "image")?;
        }
        if let Some(i) = &c.builder_base_image {
            image(i, "builder_base_image")?;
        }
        if let Some(d) = &c.dockerfile
            && !quarry_core::rules::is_rel_path(d.get_ref())
        {
            return Err(self.error(
                d.span(),
                format!("`dockerfile` = {:?} is not a path inside the project", d.get_ref()),
                "write it relative to quarry.toml's folder, e.g. `docker/Dockerfile`".to_owned(),
            ));
        }
        if let Some(id) = &c.cache_id
            && !quarry_docker::cache_id::is_valid(id.get_ref())
        {
            return Err(self.error(
                id.span(),
                format!("`cache_id` = {:?} is not a cache id", id.get_ref()),
                "use 1 to 64 letters, digits, `_`, `.` or `-`".to_owned(),
            ));
        }
        for name in &c.extensions {
            let bare = name.get_ref().strip_prefix('!').unwrap_or(name.get_ref());
            if registry.get(bare).is_none() {
                return Err(unknown_extension(name, "`extensions`"));
            }
        }
        for (name, options) in &c.options {
            let Some(ext) = registry.get(name.get_ref()) else {
                return Err(unknown_extension(name, "`[options]`"));
            };
            for (option, value) in options {
                // core's check, pointed at the file: an unknown option at its key, a bad value at
                // the value.
                let list = matches!(value.get_ref(), OptionValue::List(_));
                if let Err(e) =
                    quarry_core::check_option_values(ext, option.get_ref(), &value.get_ref().texts(), list)
                {
                    let span = match e {
                        quarry_core::Error::UnknownOption { .. } => option.span(),
                        _ => value.span(),
                    };
                    return Err(self.error(span, e.to_string(), e.hint().unwrap_or_default()));
                }
            }
        }
        for (name, o) in &c.overrides {
            if registry.get(name.get_ref()).is_none() {
                return Err(unknown_extension(name, "`[overrides]`"));
            }
            if let Some(i) = &o.builder_base_image {
                image(i, "builder_base_image")?;
                let ext = registry.get(name.get_ref()).expect("checked above");
                let own_base =
                    matches!(ext.builder.map(|b| b.from), Some(quarry_core::BuilderFrom::BaseImage));
                if !own_base {
                    let what = match ext.builder.map(|b| b.from) {
                        None => "has no builder".to_owned(),
                        Some(quarry_core::BuilderFrom::Extension(e)) => format!("builds on `{e}`'s builder"),
                        Some(_) => "builds on the final image".to_owned(),
                    };
                    return Err(self.error(
                        i.span(),
                        format!(
                            "extension `{}` {what}, so a `builder_base_image` override does nothing",
                            ext.name
                        ),
                        format!("remove `builder_base_image` from `[overrides.{}]`", ext.name),
                    ));
                }
            }
            if let Some(p) = &o.cache_priority
                && quarry_core::CachePriority::new(*p.get_ref()).is_none()
            {
                return Err(self.error(
                    p.span(),
                    quarry_core::CachePriority::out_of_range(p.get_ref()),
                    quarry_core::CachePriority::RANGE.to_owned(),
                ));
            }
        }
        if let Some(r) = &c.cache.registry
            && let Err(e) = quarry_docker::remote_cache::CacheRepo::parse(r.get_ref())
        {
            let message = format!("`[cache] registry`: {}", e.message);
            return Err(self.error(r.span(), message, e.hint.unwrap_or_default()));
        }
        for arg in &c.run.args {
            if !quarry_core::rules::is_arg(arg.get_ref()) {
                return Err(self.error(
                    arg.span(),
                    format!("`run.args` entry {:?} is not one argument", arg.get_ref()),
                    "give each argument as its own entry, without spaces or quotes".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The starter with every commented example line (`# key = ...`, `# [table]`) uncommented.
    fn uncommented(starter: &str) -> String {
        starter
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(example)
                    if (example.starts_with('[')
                        || example
                            .split_once(" = ")
                            .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))) =>
                {
                    example
                }
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect()
    }

    /// Every example parses when uncommented, and together they show every key a project file
    /// may have (`safe_directories` belongs in the user file).
    #[test]
    fn every_key_has_an_example_that_parses() {
        let text = uncommented(super::STARTER);
        let c = super::Loaded::parse(std::path::Path::new("quarry.toml"), text.clone())
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .config;
        assert!(c.image.is_some() && c.dockerfile.is_some() && !c.extensions.is_empty());
        assert!(c.builder_base_image.is_some() && c.cache_id.is_some());
        assert!(!c.extension_dirs.is_empty() && c.apt.is_some() && !c.apt_repositories.is_empty());
        assert!(c.pip.is_some() && c.uv.is_some() && !c.copy.is_empty() && c.scripts.is_some());
        assert!(c.deps.is_some());
        assert_eq!(c.options.len(), 2);
        let o = c.overrides.values().next().unwrap();
        assert!(o.builder_base_image.is_some() && o.cache_priority.is_some());
        let b = &c.build;
        assert!(!b.add_host.is_empty() && !b.cache_from.is_empty() && !b.cache_to.is_empty());
        assert!(b.network.is_some() && b.platform.is_some() && b.progress.is_some() && b.builder.is_some());
        assert!(b.pull.is_some() && b.no_cache.is_some());
        assert_eq!(c.run.args.len(), 1);
        assert!(c.cache.registry.is_some() && c.cache.insecure.is_some());
        // Every `Config` field is named above: a new one fails to compile here until it has an
        // example in the starter.
        let super::Config {
            image: _,
            extensions: _,
            builder_base_image: _,
            dockerfile: _,
            cache_id: _,
            options: _,
            overrides: _,
            build: _,
            run: _,
            cache: _,
            safe_directories: _,
            extension_dirs: _,
            apt: _,
            apt_repositories: _,
            pip: _,
            uv: _,
            copy: _,
            scripts: _,
            deps: _,
            project_extensions: _,
        } = c;
    }

    #[test]
    fn starter_file_is_valid() {
        let registry = quarry_core::Registry::from_extensions([]).unwrap();
        let loaded =
            super::Loaded::parse(std::path::Path::new("quarry.toml"), super::STARTER.to_owned()).unwrap();
        assert_eq!(loaded.config.image.unwrap().into_inner(), "ubuntu:24.04");
        assert_eq!(loaded.config.extensions.len(), 2);
        // Unknown to an empty registry, known to the real one (checked in the CLI tests).
        assert!(
            super::Loaded::parse(std::path::Path::new("q"), super::STARTER.to_owned())
                .unwrap()
                .check(&registry)
                .is_err()
        );
    }
}
