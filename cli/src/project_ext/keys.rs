//! The two-line keys of quarry.toml (`apt`, `apt_repositories`, `pip` or `uv`, `copy`, `scripts`):
//! the metadata quarry writes for each, validated by the catalog's walker as a folder's is.

use std::collections::BTreeMap;
use std::path::Path;

use quarry_core::{Extension, rules};
use toml::Spanned;

use super::{Project, diagnostics};
use crate::config::{self, ConfigError, ORIGIN};

/// The layers of the two-line keys, in the order they run, with the priority of each kind.
/// `post` exists for scripts only: they run after every copy.
const LAYERS: &[&str] = &["tools", "base", "main", "post"];

/// Where the generated templates of the two-line keys are named (never a file of the project).
pub(super) const GENERATED: &str = "quarry-generated";

/// What installs the Python packages of `pip` or `uv`: the text of its steps.
struct Installer {
    /// The quarry.toml key, and the name of its cache mount.
    key: &'static str,
    /// What a RUN that uses the installer mounts first.
    tool: &'static str,
    /// The command that makes the venv on the image's python3 (never a downloaded one).
    venv: &'static str,
    /// Where its download cache is mounted.
    cache: &'static str,
    /// The install command, before the requirements.
    install: &'static str,
    /// The metadata line of the extensions it needs.
    depends_on: &'static str,
    /// The builder's apt packages.
    builder_apt: &'static str,
}

/// The venv's own pip (Debian's `python3-venv`); reads the image's `/etc/pip.conf`.
const PIP: Installer = Installer {
    key: "pip",
    tool: "",
    venv: "python3 -m venv {{ out }}/venv",
    cache: "/root/.cache/pip",
    install: "{{ out }}/venv/bin/pip install",
    depends_on: "",
    builder_apt: "[\"ca-certificates\", \"python3\", \"python3-venv\"]",
};

/// uv, bind-mounted from the catalog's `uv` builder; reads the image's `/etc/uv/uv.toml`. It
/// makes venvs without `python3-venv`, copies from its cache (a cache mount is another file
/// system, so it cannot link) and compiles bytecode as pip does.
const UV: Installer = Installer {
    key: "uv",
    tool: "--mount=type=bind,from=uv_builder,source=/opt/quarry/uv/bin/uv,target=/usr/local/bin/uv \\\n    ",
    venv: "uv venv --python-preference only-system --python python3 {{ out }}/venv",
    cache: "/root/.cache/uv",
    install: "UV_LINK_MODE=copy uv pip install --compile-bytecode --python {{ out }}/venv/bin/python",
    depends_on: "depends_on = [\"uv\"]\n",
    builder_apt: "[\"ca-certificates\", \"python3\"]",
};

/// The layers of a two-line key that are given, in the order they run: (layer, entries).
type Layers = Vec<(&'static str, Vec<Spanned<String>>)>;

impl Project<'_> {
    /// The extensions of `apt`, `pip` or `uv`, `copy` and `scripts`.
    pub(super) fn two_line_keys(&self) -> anyhow::Result<Vec<&'static Extension>> {
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
        let apt_layers: Vec<&'static str> = apt.iter().map(|(l, _)| *l).collect();
        let python = match (&c.pip, &c.uv) {
            (Some(_), Some(uv)) => {
                return Err(self
                    .error(
                        uv.span(),
                        "`pip` and `uv` both list Python packages".to_owned(),
                        "keep one: each makes its own venv, and the image's PATH can hold only one first",
                    )
                    .into());
            }
            (Some(v), None) => Some(self.python(v, &PIP)?),
            (None, Some(v)) => Some(self.python(v, &UV)?),
            (None, None) => None,
        };
        out.extend(python);
        if !c.copy.is_empty() {
            out.push(self.copy(&c.copy)?);
        }
        if let Some(v) = &c.scripts {
            let venv = python.map(|p| p.name);
            for (layer, scripts) in self.layers(v, "scripts", LAYERS)? {
                out.push(self.scripts(layer, &scripts, &apt_layers, venv)?);
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

    /// `pip` or `uv`: one venv made in a builder on the final image (its interpreter), one RUN per
    /// layer so that a change to `main` leaves the earlier layers' installs in the cache, then
    /// copied. uv comes from the catalog's `uv` builder, bind-mounted into the steps that use it.
    fn python(
        &self,
        value: &Spanned<toml::Value>,
        installer: &Installer,
    ) -> anyhow::Result<&'static Extension> {
        let key = installer.key;
        let layers = self.layers(value, key, &LAYERS[..3])?;
        let name = format!("project_{key}");
        let mut template = format!("RUN {}{}\n", installer.tool, installer.venv);
        for (layer, reqs) in &layers {
            for r in reqs {
                if !rules::is_pip_requirement(r.get_ref()) {
                    return Err(self
                        .error(
                            r.span(),
                            format!("`{key}`: {:?} is not a requirement quarry accepts", r.get_ref()),
                            "write a name with an optional version, such as `numpy==2.1` or `rich>=13`: letters, digits and `._-[],=<>!~+*`",
                        )
                        .into());
                }
            }
            let words: Vec<String> = reqs.iter().map(|r| format!("'{}'", r.get_ref())).collect();
            template.push_str(&format!(
                "# {key}, {layer}\nRUN {}{{{{ cache_mount('{key}', '{}') }}}} \\\n    {} {}\n",
                installer.tool,
                installer.cache,
                installer.install,
                words.join(" ")
            ));
        }
        let mut toml =
            header(&name, &format!("Python packages of the project, in a venv (quarry.toml `{key}`)"), 27);
        toml.push_str(&format!(
            "{}apt_packages = [\"python3\"]\nenv = [\"VIRTUAL_ENV=/opt/quarry/{name}/venv\", \"PATH=/opt/quarry/{name}/venv/bin:$PATH\"]\n\
             [builder]\nfrom = \"final\"\napt_packages = {}\n\
             template = \"{GENERATED}/builder.Dockerfile.j2\"\n\
             [[builder.artifacts]]\nsource = \"/opt/quarry/{name}/venv\"\n",
            installer.depends_on,
            installer.builder_apt,
        ));
        let files = BTreeMap::from([(format!("{GENERATED}/builder.Dockerfile.j2"), template.into_bytes())]);
        self.build(&name, key, &toml, &files)
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
    /// changed script re-runs its own step and what follows it, nothing before. A script sees
    /// every package of the project: it depends on the `apt` layers up to its own (so the chain
    /// puts them first, whatever quarry.lock held) and, before the copies, runs with the project's
    /// venv mounted from its builder and on PATH (`post` scripts get the copied venv). A script
    /// that starts with `#!` runs with its interpreter; any other with bash.
    fn scripts(
        &self,
        layer: &str,
        scripts: &[Spanned<String>],
        apt_layers: &[&str],
        venv: Option<&str>,
    ) -> anyhow::Result<&'static Extension> {
        let name = layer_name("project_scripts", layer);
        let post = layer == "post";
        let mut toml = header(
            &name,
            &format!("scripts of the project (quarry.toml `scripts`, {layer})"),
            priority(layer, 7),
        );
        let rank = |l: &str| LAYERS.iter().position(|x| *x == l);
        let mut depends_on: Vec<String> = apt_layers
            .iter()
            .filter(|l| rank(l) <= rank(layer))
            .map(|l| layer_name("project_apt", l))
            .collect();
        depends_on.extend(venv.map(str::to_owned));
        if !depends_on.is_empty() {
            toml.push_str(&format!("depends_on = {}\n", list(depends_on.iter().map(String::as_str))));
        }
        toml.push_str(&format!("setup = \"{GENERATED}/setup.Dockerfile.j2\"\n"));
        if post {
            toml.push_str("setup_after_copies = true\n");
        }
        // Before the copies the venv is not in the image yet: the step mounts it from its builder.
        let (mount, env) = match venv.filter(|_| !post) {
            Some(v) => (
                format!(
                    "--mount=type=bind,from={v}_builder,source=/opt/quarry/{v}/venv,target=/opt/quarry/{v}/venv \\\n    "
                ),
                format!("env VIRTUAL_ENV=/opt/quarry/{v}/venv PATH=/opt/quarry/{v}/venv/bin:$PATH "),
            ),
            None => (String::new(), String::new()),
        };
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
            let shebang = has_shebang(&full, &self.root, s.get_ref())?;
            toml.push_str(&format!("[[files]]\npath = {}\nexecutable = {shebang}\n", quoted(s.get_ref())));
            let file = s.get_ref().rsplit('/').next().unwrap_or_default();
            let target = format!("/tmp/quarry-scripts/{file}");
            let run = if shebang { target.clone() } else { format!("bash {target}") };
            template.push_str(&format!(
                "RUN {mount}--mount=type=bind,source={{{{ context }}}}/{0},target={target} \\\n    {env}{run}\n",
                s.get_ref()
            ));
        }
        let files = BTreeMap::from([(format!("{GENERATED}/setup.Dockerfile.j2"), template.into_bytes())]);
        self.build(&name, "scripts", &toml, &files)
    }

    /// Validates the written metadata with the catalog's walker; files it names come from
    /// `generated` or, inside the project, from the project.
    pub(super) fn build(
        &self,
        name: &str,
        key: &str,
        toml: &str,
        generated: &BTreeMap<String, Vec<u8>>,
    ) -> anyhow::Result<&'static Extension> {
        let root = self.root.clone();
        let load = move |rel: &str, limit: u64| match generated.get(rel) {
            Some(bytes) => Ok(bytes.clone()),
            None if rel.starts_with(GENERATED) => Err(format!("`{rel}` was not generated")),
            None => quarry_codegen::runtime::read_inside_root(&root, &root, rel, limit),
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

/// Whether the file starts with `#!`: it names its own interpreter. Opened as every file of the
/// project is ([`quarry_codegen::files`]): a FIFO is refused, not waited on.
fn has_shebang(path: &Path, root: &Path, shown: &str) -> anyhow::Result<bool> {
    use std::io::Read;
    let (mut file, _) =
        quarry_codegen::files::open(path, Some(root), quarry_codegen::files::COPY_LIMIT, shown)?;
    let mut start = [0u8; 2];
    Ok(file.read_exact(&mut start).is_ok() && &start == b"#!")
}

/// A TOML string holding `s` exactly, whatever it holds: written by the TOML serializer, so a
/// quote or a newline of a value (an `apt_repositories` entry is checked only by the metadata's
/// own rules, after this) stays inside its string and cannot add a key.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
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
