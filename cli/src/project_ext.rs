//! Project extensions: the extensions a project's quarry.toml adds to the catalog, with no crate
//! to write.
//!
//! - `extension_dirs`: folders holding an `extension.toml` and templates in the catalog's format,
//!   validated by `quarry_codegen::runtime` (the walker a crate's `cargo build` runs).
//! - The two-line keys `apt`, `apt_repositories`, `pip`, `copy` and `scripts`: each becomes an
//!   extension whose metadata quarry writes and validates the same way.
//!
//! They join the registry before the command line is parsed, so their flags, options, priorities,
//! dependencies and lock entries work as a catalog extension's do.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use quarry_core::{Extension, Hinted, Registry, rules};
use toml::Spanned;

use crate::config::{self, ConfigError, Loaded, ORIGIN, first_project_key};

/// The layers of the two-line keys, in the order they run, with the priority of each kind.
/// `post` exists for scripts only: they run after every copy.
const LAYERS: &[&str] = &["tools", "base", "main", "post"];

/// Where the generated templates of the two-line keys are named (never a file of the project).
const GENERATED: &str = "quarry-generated";

/// The catalog plus the extensions of the project file found above `cwd`. Without a project
/// file, or with one that adds none, the catalog itself.
pub fn registry(catalog: &'static Registry, cwd: &Path) -> anyhow::Result<&'static Registry> {
    let Some(path) = crate::layers::find_project(cwd) else { return Ok(catalog) };
    let root = folder_of(&path);
    registry_of(catalog, &path, root)
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
    let config = &Loaded::read(path)?.config;
    let root = match crate::layers::find_project(cwd) {
        Some(project) if !named_paths(config).iter().all(|p| own.join(p).exists()) => folder_of(&project),
        _ => own,
    };
    registry_of(catalog, path, root)
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

/// The catalog plus the extensions the configuration `path` adds, its paths read from `root`.
fn registry_of(catalog: &'static Registry, path: &Path, root: PathBuf) -> anyhow::Result<&'static Registry> {
    let loaded = Loaded::read(path)?;
    if first_project_key(&loaded.config).is_none() {
        return Ok(catalog);
    }
    // A project file of another user adds no code to the image unless its folder is trusted.
    crate::layers::Layers::check_owner_before_load(path)?;
    let project = Project { loaded: &loaded, root };
    let mut extensions: Vec<&'static Extension> = Vec::new();
    for dir in &loaded.config.extension_dirs {
        extensions.push(project.folder(dir)?);
    }
    extensions.extend(project.two_line_keys()?);
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

/// The layers of a two-line key that are given, in the order they run: (layer, entries).
type Layers = Vec<(&'static str, Vec<Spanned<String>>)>;

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

    /// The extensions of `apt`, `pip`, `copy` and `scripts`.
    fn two_line_keys(&self) -> anyhow::Result<Vec<&'static Extension>> {
        let c = &self.loaded.config;
        let mut out = Vec::new();
        let apt = match &c.apt {
            Some(v) => self.layers(v, "apt", &LAYERS[..3])?,
            None => Vec::new(),
        };
        for r in &c.apt_repositories {
            if apt.is_empty() {
                return Err(self
                    .error(
                        r.span(),
                        "`apt_repositories` without `apt` adds nothing".to_owned(),
                        "list the packages in `apt`",
                    )
                    .into());
            }
        }
        let first_apt = apt.first().map(|(l, _)| *l);
        for (layer, packages) in &apt {
            let layer: &str = layer;
            for p in packages {
                if !rules::is_apt_package(p.get_ref()) {
                    return Err(self
                        .error(
                            p.span(),
                            format!("`apt`: {:?} is not a Debian package name", p.get_ref()),
                            "use a name such as `libeigen3-dev`",
                        )
                        .into());
                }
            }
            let name = layer_name("project_apt", layer);
            let mut toml = header(
                &name,
                &format!("apt packages of the project (quarry.toml `apt`, {layer})"),
                priority(layer, 8),
            );
            toml.push_str(&format!(
                "apt_packages = {}\n",
                list(packages.iter().map(|p| p.get_ref().as_str()))
            ));
            if Some(layer) == first_apt {
                for r in &c.apt_repositories {
                    let r = r.get_ref();
                    toml.push_str(&format!(
                        "[[apt_repositories]]\nname = {}\nkey_url = {}\nsource = {}\n",
                        quoted(r.name.get_ref()),
                        quoted(r.key_url.get_ref()),
                        quoted(r.source.get_ref())
                    ));
                }
            }
            out.push(self.build(&name, "apt", &toml, &BTreeMap::new())?);
        }
        if let Some(v) = &c.pip {
            out.push(self.pip(v)?);
        }
        if !c.copy.is_empty() {
            out.push(self.copy(&c.copy)?);
        }
        if let Some(v) = &c.scripts {
            for (layer, scripts) in self.layers(v, "scripts", LAYERS)? {
                out.push(self.scripts(layer, &scripts)?);
            }
        }
        Ok(out)
    }

    /// A list (the `main` layer) or a table of layers, each a list of strings.
    fn layers(
        &self,
        value: &Spanned<toml::Value>,
        key: &str,
        allowed: &'static [&'static str],
    ) -> Result<Layers, ConfigError> {
        let span = value.span();
        let strings = |v: &toml::Value, what: &str| -> Result<Vec<Spanned<String>>, ConfigError> {
            let items = v.as_array().ok_or_else(|| {
                self.error(
                    span.clone(),
                    format!("`{what}` must be a list of strings"),
                    "write it like `[\"a\", \"b\"]`",
                )
            })?;
            items
                .iter()
                .map(|i| {
                    i.as_str().map(|s| Spanned::new(span.clone(), s.to_owned())).ok_or_else(|| {
                        self.error(
                            span.clone(),
                            format!("`{what}` holds {i}, which is not a string"),
                            "quote each entry",
                        )
                    })
                })
                .collect()
        };
        let mut out: Layers = Vec::new();
        match value.get_ref() {
            toml::Value::Table(t) => {
                for (layer, v) in t {
                    let Some(known) = allowed.iter().find(|l| **l == layer) else {
                        return Err(self.error(
                            span,
                            format!("`{key}` has no layer `{layer}`"),
                            &format!("the layers are {}, in the order they run", allowed.join(", ")),
                        ));
                    };
                    out.push((*known, strings(v, &format!("{key}.{layer}"))?));
                }
            }
            other => {
                out.push(("main", strings(other, key)?));
            }
        }
        out.retain(|(_, v)| !v.is_empty());
        // The order they run in, not the file's.
        out.sort_by_key(|(l, _)| LAYERS.iter().position(|x| x == l));
        Ok(out)
    }

    /// `pip`: one venv made in a builder on the final image (its interpreter), one RUN per layer
    /// so that a change to `main` leaves the earlier layers' installs in the cache, then copied.
    fn pip(&self, value: &Spanned<toml::Value>) -> anyhow::Result<&'static Extension> {
        let layers = self.layers(value, "pip", &LAYERS[..3])?;
        let name = "project_pip";
        let mut template = String::from("RUN python3 -m venv {{ out }}/venv\n");
        for (layer, reqs) in &layers {
            for r in reqs {
                if !rules::is_pip_requirement(r.get_ref()) {
                    return Err(self
                        .error(
                            r.span(),
                            format!("`pip`: {:?} is not a requirement quarry accepts", r.get_ref()),
                            "write a name with an optional version, such as `numpy==2.1` or `rich>=13`: letters, digits and `._-[],=<>!~+*`",
                        )
                        .into());
                }
            }
            let words: Vec<String> = reqs.iter().map(|r| format!("'{}'", r.get_ref())).collect();
            template.push_str(&format!(
                "# pip, {layer}\nRUN {{{{ cache_mount('pip', '/root/.cache/pip') }}}} \\\n    {{{{ out }}}}/venv/bin/pip install {}\n",
                words.join(" ")
            ));
        }
        let mut toml = header(name, "Python packages of the project, in a venv (quarry.toml `pip`)", 27);
        toml.push_str(&format!(
            "apt_packages = [\"python3\"]\nenv = [\"VIRTUAL_ENV=/opt/quarry/{name}/venv\", \"PATH=/opt/quarry/{name}/venv/bin:$PATH\"]\n\
             [builder]\nfrom = \"final\"\napt_packages = [\"ca-certificates\", \"python3\", \"python3-venv\"]\n\
             template = \"{GENERATED}/builder.Dockerfile.j2\"\n\
             [[builder.artifacts]]\nsource = \"/opt/quarry/{name}/venv\"\n"
        ));
        let files = BTreeMap::from([(format!("{GENERATED}/builder.Dockerfile.j2"), template.into_bytes())]);
        self.build(name, "pip", &toml, &files)
    }

    /// `copy`: each file (a folder's, recursively) as a `[[files]]` entry with a `dest`.
    fn copy(&self, entries: &[Spanned<config::CopyConfig>]) -> anyhow::Result<&'static Extension> {
        let name = "project_copy";
        let mut toml = header(name, "files of the project (quarry.toml `copy`)", 20);
        for entry in entries {
            let e = entry.get_ref();
            let full = self.path(&e.path, "copy")?;
            let dest = e.dest.get_ref();
            if !rules::is_abs_path(dest) {
                return Err(self
                    .error(
                        e.dest.span(),
                        format!("`copy`: `dest` = {dest:?} is not an absolute path"),
                        "write where the image gets it, such as `/etc/app/app.toml`",
                    )
                    .into());
            }
            let rel = e.path.get_ref().trim_end_matches('/');
            let mut files = Vec::new();
            let root = self.root.canonicalize().unwrap_or_else(|_| self.root.clone());
            walk(&full, rel, &root, &mut files).map_err(|message| {
                self.error(
                    e.path.span(),
                    format!("`copy`: {message}"),
                    "copy files and folders of the project only",
                )
            })?;
            if files.is_empty() {
                return Err(self
                    .error(
                        e.path.span(),
                        format!("`copy`: `{rel}` holds no file"),
                        "name a file, or a folder with files",
                    )
                    .into());
            }
            for (file, executable) in files {
                let target = if full.is_dir() {
                    format!("{}/{}", dest.trim_end_matches('/'), &file[rel.len() + 1..])
                } else {
                    dest.clone()
                };
                toml.push_str(&format!(
                    "[[files]]\npath = {}\ndest = {}\nexecutable = {executable}\n",
                    quoted(&file),
                    quoted(&target)
                ));
            }
        }
        self.build(name, "copy", &toml, &BTreeMap::new())
    }

    /// `scripts` of one layer: each runs from the build context through a bind mount, so a
    /// changed script re-runs its own step and what follows it, nothing before.
    fn scripts(&self, layer: &str, scripts: &[Spanned<String>]) -> anyhow::Result<&'static Extension> {
        let name = layer_name("project_scripts", layer);
        let post = layer == "post";
        let mut toml = header(
            &name,
            &format!("scripts of the project (quarry.toml `scripts`, {layer})"),
            priority(layer, 9),
        );
        toml.push_str(&format!("setup = \"{GENERATED}/setup.Dockerfile.j2\"\n"));
        if post {
            toml.push_str("setup_after_copies = true\n");
        }
        let mut template = String::new();
        for s in scripts {
            let full = self.path(s, "scripts")?;
            if !full.is_file() {
                return Err(self
                    .error(
                        s.span(),
                        format!("`scripts`: `{}` is not a file", s.get_ref()),
                        "name a script of the project",
                    )
                    .into());
            }
            toml.push_str(&format!("[[files]]\npath = {}\n", quoted(s.get_ref())));
            template.push_str(&format!(
                "RUN --mount=type=bind,source={{{{ context }}}}/{0},target=/tmp/quarry-script \\\n    bash /tmp/quarry-script\n",
                s.get_ref()
            ));
        }
        let files = BTreeMap::from([(format!("{GENERATED}/setup.Dockerfile.j2"), template.into_bytes())]);
        self.build(&name, "scripts", &toml, &files)
    }

    /// Validates the written metadata with the catalog's walker; files it names come from
    /// `generated` or, inside the project, from the project.
    fn build(
        &self,
        name: &str,
        key: &str,
        toml: &str,
        generated: &BTreeMap<String, Vec<u8>>,
    ) -> anyhow::Result<&'static Extension> {
        let root = self.root.clone();
        let load = move |rel: &str| match generated.get(rel) {
            Some(bytes) => Some(bytes.clone()),
            None if rel.starts_with(GENERATED) => None,
            None => quarry_codegen::runtime::read_inside_root(&root, &root, rel),
        };
        let shown = format!("{} (`{key}`)", self.loaded.path.display());
        quarry_codegen::runtime::build(
            &quarry_codegen::Input { path: &shown, text: toml, load: &load },
            &format!("{ORIGIN}quarry.toml {key}"),
        )
        .map_err(|d| {
            diagnostics(&format!("`{key}` of `{}` (as extension `{name}`)", self.loaded.path.display()), d)
        })
    }
}

fn header(name: &str, description: &str, priority: u8) -> String {
    format!("name = \"{name}\"\ndescription = \"{description}\"\ncache_priority = {priority}\n")
}

/// `project_apt` for `main`, `project_apt_tools` for `tools`.
fn layer_name(base: &str, layer: &str) -> String {
    if layer == "main" { base.to_owned() } else { format!("{base}_{layer}") }
}

/// Layers that change rarely go first: tools 40s, base 30s, main 20s, post 10s.
fn priority(layer: &str, unit: u8) -> u8 {
    let tier = match layer {
        "tools" => 40,
        "base" => 30,
        "main" => 20,
        _ => 10,
    };
    tier + unit
}

fn quoted(s: &str) -> String {
    // Values reaching here passed their rules (no quotes or `\`); the TOML basic string is exact.
    format!("\"{s}\"")
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    format!("[{}]", items.map(quoted).collect::<Vec<_>>().join(", "))
}

/// Every file under `full` (itself, when a file), as (project-relative path, executable), sorted.
fn walk(full: &Path, rel: &str, root: &Path, out: &mut Vec<(String, bool)>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(full).map_err(|e| format!("cannot read `{rel}`: {e}"))?;
    if meta.file_type().is_symlink() {
        // A link is followed only to a file inside the project.
        let target = full.canonicalize().map_err(|e| format!("cannot follow the link `{rel}`: {e}"))?;
        if !target.starts_with(root) {
            return Err(format!("`{rel}` is a link leading outside the project, to `{}`", target.display()));
        }
        if !target.is_file() {
            return Err(format!("`{rel}` is a link to a folder: copy the folder itself"));
        }
    }
    if full.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(full)
            .map_err(|e| format!("cannot read `{rel}`: {e}"))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        for entry in entries {
            let child = format!("{rel}/{entry}");
            if !rules::is_rel_path(&child) {
                return Err(format!("`{child}`: quarry copies names of letters, digits and `._+-` only"));
            }
            walk(&full.join(&entry), &child, root, out)?;
        }
    } else {
        let executable =
            std::fs::metadata(full).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
        out.push((rel.to_owned(), executable));
    }
    Ok(())
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
