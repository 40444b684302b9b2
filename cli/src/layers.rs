//! The configuration that applies: the user's file under the project's `quarry.toml` (found in
//! the current folder or a parent), loaded, checked together (roles, owners, overrides) and
//! merged under the command line, by the merge rules of `config.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quarry_core::{CachePriority, EngineLevel, Hinted, Registry, Request, Selection};

use crate::config::{
    BuildConfig, Config, ConfigError, Loaded, OptionValue, PROJECT_FILE, first_project_key,
    project_extension_names,
};

/// The user's configuration file: `$XDG_CONFIG_HOME/quarry/config.toml`, else
/// `~/.config/quarry/config.toml`.
pub fn user_file() -> Option<PathBuf> {
    Some(crate::host::xdg_dir("XDG_CONFIG_HOME", ".config")?.join("quarry").join("config.toml"))
}

/// The project file: `quarry.toml` in `start` or its nearest parent that has one.
pub fn find_project(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|d| d.join(PROJECT_FILE)).find(|p| p.is_file())
}

/// The environment variable listing folders whose files apply whoever owns them, separated by
/// `:` (`*`: every folder).
pub const SAFE_DIRECTORIES_VAR: &str = "QUARRY_SAFE_DIRECTORIES";

/// Where the project's configuration comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProjectKind {
    /// A quarry.toml (with its quarry.lock).
    #[default]
    Toml,
    /// A folder's `rockerc.yaml` (with `~/.rockerc.yaml`), carried out as rocker would: no lock
    /// is written into the folder; the chain order is the user's own.
    Rockerc,
    /// `quarry rocker`'s command line: likewise.
    RockerLine,
}

/// The configuration that applies: the user file under the project file.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// The user's file, if it exists.
    pub user: Option<Loaded>,
    /// The project's file, if one was found.
    pub project: Option<Loaded>,
    /// What the project's configuration was read from.
    pub kind: ProjectKind,
}

/// The project's configuration for `cwd`: the quarry.toml in it or a parent folder, else the
/// `rockerc.yaml` of `cwd` itself (rockerc reads only the folder it runs in), carried out as rocker
/// would (`crate::rocker`), under the user's `~/.rockerc.yaml`. The rockerc's notes are said once,
/// by [`Layers::load`], with the way to make it a quarry.toml.
pub fn discover(registry: &Registry, cwd: &Path) -> anyhow::Result<Option<(Loaded, ProjectKind)>> {
    if let Some(path) = find_project(cwd) {
        return Ok(Some((Loaded::read(&path)?, ProjectKind::Toml)));
    }
    let Some(rockerc) = crate::rocker::rockerc::Rockerc::find(cwd)? else { return Ok(None) };
    let loaded = crate::rocker::rockerc_project(registry, &rockerc, cwd)?;
    Ok(Some((loaded, ProjectKind::Rockerc)))
}

impl Layers {
    /// The user's file under `path` as the project file (`quarry explain old.toml`). A file named
    /// on the command line is the user's choice: its owner is not checked.
    pub fn with_project_file(registry: &Registry, path: &Path) -> anyhow::Result<Layers> {
        Layers::with_project(registry, Loaded::read(path)?, ProjectKind::Toml)
    }

    /// The user's file under `project`, a configuration given rather than found (`quarry rocker`'s
    /// command line).
    pub fn with_project(
        registry: &Registry,
        mut project: Loaded,
        kind: ProjectKind,
    ) -> anyhow::Result<Layers> {
        project.check(registry)?;
        project.config.project_extensions = project_extension_names(registry);
        let layers = Layers { user: Layers::load_user(registry)?, project: Some(project), kind };
        layers.check_roles()?;
        Ok(layers)
    }

    fn load_user(registry: &Registry) -> anyhow::Result<Option<Loaded>> {
        match user_file().filter(|p| p.is_file()) {
            None => Ok(None),
            Some(p) => {
                let loaded = Loaded::read(&p)?;
                loaded.check(registry)?;
                Ok(Some(loaded))
            }
        }
    }

    /// Loads the files that exist and checks them against the registry. The project file found
    /// above `cwd` must belong to the effective user unless its folder is a safe directory
    /// ([`Layers::check_owner`]).
    pub fn load(registry: &Registry, cwd: &Path) -> anyhow::Result<Layers> {
        let mut layers = Layers { user: Layers::load_user(registry)?, ..Layers::default() };
        if let Some((mut loaded, kind)) = discover(registry, cwd)? {
            if kind == ProjectKind::Rockerc {
                crate::rocker::say_rockerc_notes();
            }
            layers.check_owner(&loaded.path)?;
            loaded.check(registry)?;
            loaded.config.project_extensions = project_extension_names(registry);
            layers.project = Some(loaded);
            layers.kind = kind;
        }
        layers.check_roles()?;
        Ok(layers)
    }

    /// [`Layers::check_owner`] before the configuration is loaded (project extensions are read
    /// before the command line is parsed): the user's file is read for its safe directories only.
    pub fn check_owner_before_load(path: &Path) -> anyhow::Result<()> {
        let user = match user_file().filter(|p| p.is_file()) {
            Some(p) => Some(Loaded::read(&p)?),
            None => None,
        };
        Layers { user, ..Layers::default() }.check_owner(path)
    }

    /// A project file cannot mark folders safe: only the user's file and the environment can.
    fn check_roles(&self) -> Result<(), ConfigError> {
        if let Some(user) = &self.user
            && let Some((key, span)) = first_project_key(&user.config)
        {
            return Err(user.error(
                span,
                format!("`{key}` in the user file has no effect: it adds to one project's image"),
                "move it to the project's quarry.toml".to_owned(),
            ));
        }
        match &self.project {
            Some(p) if !p.config.safe_directories.is_empty() => Err(p.error(
                p.config.safe_directories[0].span(),
                "`safe_directories` in a project file has no effect: a project cannot vouch for itself"
                    .to_owned(),
                format!(
                    "move it to your user file ({}), or set {SAFE_DIRECTORIES_VAR}",
                    user_file().map_or("$XDG_CONFIG_HOME/quarry/config.toml".to_owned(), |f| format!(
                        "`{}`",
                        f.display()
                    ))
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The safe directories: `$QUARRY_SAFE_DIRECTORIES` (`:`-separated) and `safe_directories` of
    /// the user's file.
    pub fn safe_directories(&self) -> Vec<String> {
        let mut out: Vec<String> = std::env::var(SAFE_DIRECTORIES_VAR)
            .unwrap_or_default()
            .split(':')
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(user) = &self.user {
            out.extend(user.config.safe_directories.iter().map(|d| d.get_ref().clone()));
        }
        out
    }

    /// Refuses `path` (a discovered quarry.toml or quarry.lock) when a user other than the
    /// effective one owns it, as git refuses a repository another user owns: a quarry.toml in a
    /// shared folder above the current one (the system temp folder) would otherwise choose what
    /// runs and what is mounted. Root is held to the same rule. A folder listed in the safe
    /// directories (or `*`) is trusted whoever owns its files.
    pub fn check_owner(&self, path: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let owner = match std::fs::metadata(path) {
            Ok(m) => m.uid(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                anyhow::bail!(Hinted::new(
                    format!("cannot read `{}`: {e}", path.display()),
                    "check its permissions"
                ))
            }
        };
        let me = crate::host::effective_uid();
        if Some(owner) == me {
            return Ok(());
        }
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_owned());
        let safe = self.safe_directories().iter().any(|d| {
            d == "*" || std::fs::canonicalize(d).is_ok_and(|d| d == folder) || Path::new(d) == folder
        });
        if safe {
            return Ok(());
        }
        anyhow::bail!(Hinted::new(
            format!(
                "`{}` is owned by another user (uid {owner}), so quarry does not apply it",
                path.display()
            ),
            format!(
                "if you trust it, add its folder to `safe_directories` in your user file (`safe_directories = \
                 [{}]`) or to {SAFE_DIRECTORIES_VAR}; else run quarry outside `{}`",
                crate::ui::quoted(&folder.display().to_string()),
                folder.display()
            ),
        ))
    }

    /// A project file's `[overrides.X]` for an extension the render does not select is a mistake
    /// (the user file's apply only where their extension is selected): the error points at it.
    pub fn check_overrides(&self, selected: &[&str]) -> Result<(), ConfigError> {
        let Some(project) = &self.project else { return Ok(()) };
        for name in project.config.overrides.keys() {
            if !selected.contains(&name.get_ref().as_str()) {
                return Err(project.error(
                    name.span(),
                    format!(
                        "`[overrides.{}]`: extension `{}` is not selected",
                        name.get_ref(),
                        name.get_ref()
                    ),
                    format!("add `{}` to `extensions`, or remove the override", name.get_ref()),
                ));
            }
        }
        Ok(())
    }

    /// The files that apply with their role, in merge order (lowest precedence first).
    pub fn applied(&self) -> Vec<(&'static str, &Loaded)> {
        let user = self.user.iter().map(|l| ("user", l));
        user.chain(self.project.iter().map(|l| ("project", l))).collect()
    }

    /// The merged configuration of the files (without the command line or the lock), as a
    /// configuration file would write it (`quarry show-config`).
    pub fn effective(&self) -> toml::Table {
        use toml::Value;
        let strings = |items: &[String]| Value::Array(items.iter().cloned().map(Value::String).collect());
        let mut request = Request::default();
        self.apply(&mut request);
        let mut out = toml::Table::new();
        if !request.image.is_empty() {
            out.insert("image".into(), Value::String(request.image.clone()));
        }
        let names: Vec<String> = request.extensions.iter().map(|s| s.name.clone()).collect();
        out.insert("extensions".into(), strings(&names));
        if let Some(b) = &request.builder_base_image {
            out.insert("builder_base_image".into(), Value::String(b.clone()));
        }
        if let Some(id) = self.cache_id() {
            out.insert("cache_id".into(), Value::String(id));
        }
        let mut options = toml::Table::new();
        for s in request.extensions.iter().filter(|s| !s.options.is_empty() || !s.lists.is_empty()) {
            let mut values: toml::Table =
                s.options.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            for (k, list) in &s.lists {
                values.insert(k.clone(), strings(list));
            }
            options.insert(s.name.clone(), Value::Table(values));
        }
        if !options.is_empty() {
            out.insert("options".into(), Value::Table(options));
        }
        let mut overrides = toml::Table::new();
        for (name, o) in &request.overrides {
            let mut t = toml::Table::new();
            if let Some(b) = &o.builder_base_image {
                t.insert("builder_base_image".into(), Value::String(b.clone()));
            }
            if let Some(p) = o.cache_priority {
                t.insert("cache_priority".into(), Value::Integer(i64::from(p.get())));
            }
            overrides.insert(name.clone(), Value::Table(t));
        }
        if !overrides.is_empty() {
            out.insert("overrides".into(), Value::Table(overrides));
        }
        let mut b = quarry_docker::build::BuildOptions::default();
        self.apply_build(&mut b);
        let mut build = toml::Table::new();
        for (key, list) in [
            ("add_host", &b.add_host),
            ("cache_from", &b.cache_from),
            ("cache_to", &b.cache_to),
            ("ssh", &b.ssh),
        ] {
            if !list.is_empty() {
                build.insert(key.into(), strings(list));
            }
        }
        for (key, value) in [
            ("network", &b.network),
            ("platform", &b.platform),
            ("progress", &b.progress),
            ("builder", &b.builder),
            ("shm_size", &b.shm_size),
        ] {
            if let Some(v) = value {
                build.insert(key.into(), Value::String(v.clone()));
            }
        }
        for (key, on) in [("pull", b.pull), ("no_cache", b.no_cache)] {
            if on {
                build.insert(key.into(), Value::Boolean(true));
            }
        }
        if !build.is_empty() {
            out.insert("build".into(), Value::Table(build));
        }
        let run = self.run_args();
        if !run.is_empty() {
            out.insert(
                "run".into(),
                Value::Table([("args".to_owned(), strings(&run))].into_iter().collect()),
            );
        }
        out
    }

    /// The files, user first (lowest precedence first).
    fn files(&self) -> impl Iterator<Item = &Config> {
        self.user.iter().chain(self.project.iter()).map(|l| &l.config)
    }

    /// The last value set by any file (the project's wins).
    fn last<T: Clone>(&self, get: impl Fn(&Config) -> Option<T>) -> Option<T> {
        self.files().filter_map(get).last()
    }

    /// The configured image.
    pub fn image(&self) -> Option<String> {
        self.last(|c| c.image.as_ref().map(|s| s.get_ref().clone()))
    }

    /// The project's Dockerfile base (`dockerfile`), as a path: the last file that sets it,
    /// relative to that file's folder.
    /// The file's folder comes with it: the Dockerfile must be inside it.
    pub fn dockerfile(&self) -> Option<(PathBuf, PathBuf)> {
        self.project.iter().chain(self.user.iter()).find_map(|l| {
            let d = l.config.dockerfile.as_ref()?;
            let folder = l.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Some((folder.join(d.get_ref()), folder.to_owned()))
        })
    }

    /// The configured `[cache] registry` and `insecure` (the project's file wins).
    pub fn cache_registry(&self) -> (Option<String>, bool) {
        let registry = self.last(|c| c.cache.registry.as_ref().map(|s| s.get_ref().clone()));
        (registry, self.last(|c| c.cache.insecure).unwrap_or(false))
    }

    /// The configured cache id.
    pub fn cache_id(&self) -> Option<String> {
        self.last(|c| c.cache_id.as_ref().map(|s| s.get_ref().clone()))
    }

    /// Merges the files into `request` (which holds what the command line gave: it wins).
    pub fn apply(&self, request: &mut Request) {
        if request.image.is_empty()
            && let Some(image) = self.image()
        {
            request.image = image;
        }
        if request.builder_base_image.is_none() {
            request.builder_base_image =
                self.last(|c| c.builder_base_image.as_ref().map(|s| s.get_ref().clone()));
        }
        let mut selections: BTreeMap<String, Selection> =
            request.extensions.drain(..).map(|s| (s.name.clone(), s)).collect();
        // List options: the files' values (user, then project) come before the command line's.
        let cli_lists: BTreeMap<String, BTreeMap<String, Vec<String>>> =
            selections.iter_mut().map(|(n, s)| (n.clone(), std::mem::take(&mut s.lists))).collect();
        // What the command line set: it wins over every file.
        let from_cli: std::collections::BTreeSet<(String, String)> =
            selections.values().flat_map(|s| s.options.keys().map(|o| (s.name.clone(), o.clone()))).collect();
        let named_on_cli: std::collections::BTreeSet<String> = selections.keys().cloned().collect();
        // The user file's list values, for the extensions that end up selected.
        let mut user_lists: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (role, loaded) in self.applied() {
            let config = &loaded.config;
            let user = role == "user";
            // A project file selects its own extensions; `!name` below removes one.
            for name in &config.project_extensions {
                selections.entry(name.clone()).or_insert_with(|| Selection::new(name.clone()));
            }
            for name in &config.extensions {
                // `!x11` removes what a file below (the user's) added; the command line still wins.
                if let Some(excluded) = name.get_ref().strip_prefix('!') {
                    if !named_on_cli.contains(excluded) {
                        selections.remove(excluded);
                    }
                    continue;
                }
                selections
                    .entry(name.get_ref().clone())
                    .or_insert_with(|| Selection::new(name.get_ref().clone()));
            }
            for (name, options) in &config.options {
                // The user file's options are preferences: they apply when the extension is
                // selected, and never select it. The project's select it, as a flag does.
                if user {
                    let defaults = request.option_defaults.entry(name.get_ref().clone()).or_default();
                    for (option, value) in options {
                        if let OptionValue::List(_) = value.get_ref() {
                            let lists = user_lists.entry(name.get_ref().clone()).or_default();
                            lists
                                .entry(option.get_ref().clone())
                                .or_default()
                                .extend(value.get_ref().texts());
                        } else {
                            defaults.insert(option.get_ref().clone(), value.get_ref().text());
                        }
                    }
                    continue;
                }
                let selection = selections
                    .entry(name.get_ref().clone())
                    .or_insert_with(|| Selection::new(name.get_ref().clone()));
                for (option, value) in options {
                    if let OptionValue::List(_) = value.get_ref() {
                        let values = selection.lists.entry(option.get_ref().clone()).or_default();
                        values.extend(value.get_ref().texts());
                        continue;
                    }
                    // The project's value replaces the user's; the command line's stays.
                    if !from_cli.contains(&(name.get_ref().clone(), option.get_ref().clone())) {
                        selection.options.insert(option.get_ref().clone(), value.get_ref().text());
                    }
                }
            }
            for (name, o) in &config.overrides {
                let entry = request.overrides.entry(name.get_ref().clone()).or_default();
                if let Some(image) = &o.builder_base_image {
                    entry.builder_base_image = Some(image.get_ref().clone());
                }
                // Checked when the file was read (`config.rs`).
                if let Some(p) = o.cache_priority.as_ref().and_then(|p| CachePriority::new(*p.get_ref())) {
                    entry.cache_priority = Some(p);
                }
            }
        }
        // The user's values come first in a list, then the project's, then the command line's.
        for (name, lists) in user_lists {
            if let Some(selection) = selections.get_mut(&name) {
                for (option, mut values) in lists {
                    let entry = selection.lists.entry(option).or_default();
                    values.append(entry);
                    *entry = values;
                }
            }
        }
        for (name, lists) in cli_lists {
            if let Some(selection) = selections.get_mut(&name) {
                for (option, values) in lists {
                    selection.lists.entry(option).or_default().extend(values);
                }
            }
        }
        request.extensions = selections.into_values().collect();
    }

    /// Merges the `[build]` tables into `options` (command-line values win; lists are unions).
    pub fn apply_build(&self, options: &mut quarry_docker::build::BuildOptions) {
        for config in self.files() {
            let b = &config.build;
            union(&mut options.add_host, &b.add_host);
            union(&mut options.cache_from, &b.cache_from);
            union(&mut options.cache_to, &b.cache_to);
            union(&mut options.ssh, &b.ssh);
        }
        let fill = |slot: &mut Option<String>, get: &dyn Fn(&BuildConfig) -> Option<String>| {
            if slot.is_none() {
                *slot = self.last(|c| get(&c.build));
            }
        };
        fill(&mut options.network, &|b| b.network.clone());
        fill(&mut options.platform, &|b| b.platform.clone());
        fill(&mut options.progress, &|b| b.progress.clone());
        fill(&mut options.builder, &|b| b.builder.clone());
        fill(&mut options.shm_size, &|b| b.shm_size.clone());
        options.pull |= self.last(|c| c.build.pull).unwrap_or(false);
        options.no_cache |= self.last(|c| c.build.no_cache).unwrap_or(false);
    }

    /// Extra `docker run` arguments from the files.
    pub fn run_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for config in self.files() {
            let args: Vec<String> = config.run.args.iter().map(|a| a.get_ref().clone()).collect();
            union(&mut out, &args);
        }
        out
    }
}

fn union(into: &mut Vec<String>, from: &[String]) {
    for item in from {
        if !into.contains(item) {
            into.push(item.clone());
        }
    }
}

/// A request from one configuration text alone (no merging), for `cargo xtask render`.
pub fn request_from_text(registry: &Registry, text: &str, origin: &Path) -> anyhow::Result<Request> {
    let loaded = Loaded::parse(origin, text.to_owned())?;
    loaded.check(registry)?;
    let layers = Layers { user: None, project: Some(loaded), kind: ProjectKind::Toml };
    let mut request = Request { engine: EngineLevel::Modern, ..Request::default() };
    layers.apply(&mut request);
    if request.image.is_empty() {
        anyhow::bail!(Hinted::new(
            format!("`{}` sets no `image`", origin.display()),
            "add a line such as `image = \"ubuntu:24.04\"`",
        ));
    }
    Ok(request)
}
