//! `quarry.lock`, next to `quarry.toml`: the resolved extensions with every option value and
//! builder base image, and a hash of the rendered Dockerfile, so that a render months later gives
//! the same Dockerfile. Option values and builder bases the configuration does not set are taken
//! from the lock (not from newer defaults); `--locked` fails when the lock would change.
//!
//! Options that default to host values (the user's uid) are not locked: they belong to whoever
//! runs quarry. Nor are list options (`--env-value A=1 --env-value B=2`): only `[run]` entries
//! use them, so they never change the Dockerfile, and a value removed from quarry.toml must not
//! come back from the lock.
//!
//! The order of the `[[extension]]` entries is the order of the final stage's RUN chain. The
//! chain only grows: the next render keeps the locked extensions in their places and puts new
//! ones after them, so adding or removing an extension re-runs nothing that came before it.
//! `quarry lock --reorder` returns to the canonical order (priority, then name). The final
//! image's own ENTRYPOINT, CMD and USER, as the engine reported them to `quarry build`, are kept
//! too, so `quarry render` composes with them as the build did.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::HintContext;
use quarry_buildkit::hash::fnv1a;
use quarry_codegen::files;
use quarry_core::{Hinted, ImageConfig, Rendered, Request, Selection};
use serde::Deserialize;

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
    /// What the final image itself sets, as the engine reported it.
    #[serde(default)]
    pub image_config: Option<LockedImageConfig>,
    /// Every resolved extension, in chain order.
    #[serde(default, rename = "extension")]
    pub extensions: Vec<LockedExtension>,
}

/// The final image's ENTRYPOINT, CMD and USER.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockedImageConfig {
    /// ENTRYPOINT, exec form.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// CMD, exec form.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// USER.
    #[serde(default)]
    pub user: String,
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
    /// The lock of a render of `request`.
    pub fn of(rendered: &Rendered, request: &Request) -> Lock {
        Lock {
            version: 1,
            image: request.image.clone(),
            dockerfile: format!("{:016x}", fnv1a(rendered.dockerfile.as_bytes())),
            image_config: request.image_config.as_ref().map(|c| LockedImageConfig {
                entrypoint: c.entrypoint.clone(),
                cmd: c.cmd.clone(),
                user: c.user.clone(),
            }),
            extensions: rendered
                .resolved
                .extensions
                .iter()
                .map(|r| LockedExtension {
                    name: r.extension.name.to_owned(),
                    cache_priority: r.priority.get(),
                    builder_base_image: r.builder_base_image.clone(),
                    options: r
                        .extension
                        .options
                        .iter()
                        .filter(|o| o.from_host.is_none() && !o.multiple)
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
             # `quarry render --locked` fails instead of changing it. The extensions are in the order\n\
             # of the final stage's RUN chain: new ones go last (`quarry lock --reorder` sorts them).\n",
        );
        let _ = writeln!(s, "version = {}", self.version);
        let _ = writeln!(s, "image = {:?}", self.image);
        let _ = writeln!(s, "dockerfile = {:?}", self.dockerfile);
        if let Some(c) = &self.image_config {
            let list = |v: &[String]| {
                let items: Vec<String> =
                    v.iter().map(|i| toml::Value::String(i.clone()).to_string()).collect();
                format!("[{}]", items.join(", "))
            };
            let _ = writeln!(
                s,
                "image_config = {{ entrypoint = {}, cmd = {}, user = {} }}",
                list(&c.entrypoint),
                list(&c.cmd),
                toml::Value::String(c.user.clone())
            );
        }
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

    /// Reads a lock file; `None` when there is none. It is read as every file of a project is
    /// ([`files`]: a regular file in the project's folder, at most 1 MiB), and checked as a whole:
    /// format version 1, each extension once, the image's user a name or id
    /// ([`quarry_core::rules::is_user_spec`]), since a lock alone (a fresh CI runner) decides
    /// what they write.
    pub fn read(path: &Path) -> anyhow::Result<Option<Lock>> {
        let shown = path.display().to_string();
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let bad = |message: String| {
            anyhow::Error::new(Hinted::new(
                message,
                "fix that line, or delete the lock: quarry writes a new one",
            ))
        };
        let text = match files::read_text(path, Some(folder), files::TEXT_LIMIT, &shown) {
            Ok(t) => t,
            Err(files::ReadError::Missing(_)) => return Ok(None),
            Err(e) => {
                return Err(e).hint_context(|| {
                    Hinted::new(
                        format!("cannot read the lock file `{shown}`"),
                        "delete it; quarry writes a new one",
                    )
                });
            }
        };
        let lock: Lock = toml::from_str(&text)
            .map_err(|e| bad(format!("`{shown}` is not a quarry lock file: {}", e.message())))?;
        if lock.version != 1 {
            return Err(bad(format!(
                "`{shown}` has format version {}, and this quarry reads version 1",
                lock.version
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(e) = lock.extensions.iter().find(|e| !seen.insert(e.name.as_str())) {
            return Err(bad(format!("`{shown}` lists the extension {} twice", crate::ui::shown(&e.name))));
        }
        if let Some(c) = &lock.image_config
            && !c.user.is_empty()
            && !quarry_core::rules::is_user_spec(&c.user)
        {
            return Err(bad(format!(
                "`{shown}`: `image_config.user` {} is not a user name or id",
                crate::ui::shown(&c.user)
            )));
        }
        Ok(Some(lock))
    }

    /// Checks the pinned values against the extensions of `registry` that the lock names: each
    /// option value passes its option's rule, each builder base is an image reference. An error
    /// names the lock, the extension and the option.
    pub fn check_values(&self, path: &Path, registry: &quarry_core::Registry) -> anyhow::Result<()> {
        let shown = path.display().to_string();
        for e in &self.extensions {
            let Some(ext) = registry.get(&e.name) else { continue };
            for (option, value) in &e.options {
                if let Err(err) =
                    quarry_core::check_option_values(ext, option, std::slice::from_ref(value), false)
                {
                    return Err(anyhow::Error::new(err)).hint_context(|| {
                        Hinted::new(
                            format!("`{shown}` pins `{}.{option}` to a value this quarry refuses", e.name),
                            "fix that line, or delete the lock: quarry writes a new one",
                        )
                    });
                }
            }
            if let Some(base) =
                e.builder_base_image.as_deref().filter(|b| !quarry_core::rules::is_image_ref(b))
            {
                anyhow::bail!(Hinted::new(
                    format!(
                        "`{shown}` pins the builder base of `{}` to {}, which is not an image reference",
                        e.name,
                        crate::ui::shown(base)
                    ),
                    "fix that line, or delete the lock: quarry writes a new one",
                ));
            }
        }
        Ok(())
    }

    /// Fills `request` with the chain order, the final image's own configuration (when the image
    /// is the locked one and the engine was not asked), and the locked option values (as
    /// `pinned`, which resolution puts under the user's values and preferences) and builder bases
    /// of the extensions it selects (or that `names` adds as dependencies).
    pub fn seed(&self, request: &mut Request, names: &[&str], registry: &quarry_core::Registry) {
        request.locked_order = Some(self.extensions.iter().map(|e| e.name.clone()).collect());
        if request.image_config.is_none()
            && self.image == request.image
            && let Some(c) = &self.image_config
        {
            request.image_config = Some(ImageConfig {
                entrypoint: c.entrypoint.clone(),
                cmd: c.cmd.clone(),
                user: c.user.clone(),
            });
        }
        // A selection may name the extension by an alias (`ros_jazzy` for `ros`).
        let extension_of =
            |name: &str| registry.get(name).map_or_else(|| name.to_owned(), |x| x.name.to_owned());
        let same_image = self.image == request.image;
        for e in &self.extensions {
            let selected = request.extensions.iter().any(|s| extension_of(&s.name) == e.name);
            // A dependency is selected only when there is something to pin, so the "added" notes
            // stay true for the rest.
            let pins = !e.options.is_empty() || e.builder_base_image.is_some();
            if !selected && (!pins || !names.contains(&e.name.as_str())) {
                continue;
            }
            if !selected {
                request.extensions.push(Selection::new(e.name.clone()));
            }
            // Under the user's values and preferences: resolution chooses (an alias's values,
            // `ros_humble`'s distro, are the selection's own, so they win over a pin). An option
            // that follows the final image (`supported_images_by`) is pinned only for the image
            // the lock was made with.
            let ext = registry.get(&e.name);
            let follows_image =
                |k: &str| ext.is_some_and(|x| x.supported_images_by.iter().any(|i| i.option == k));
            let pins: BTreeMap<String, String> = e
                .options
                .iter()
                .filter(|(k, _)| same_image || !follows_image(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !pins.is_empty() {
                request.pinned.insert(e.name.clone(), pins);
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

/// What differs first between two locks, naming the extension it belongs to.
pub fn first_difference(old: &Lock, new: &Lock) -> String {
    let names = |l: &Lock| l.extensions.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
    let (old_names, new_names) = (names(old), names(new));
    if old_names != new_names {
        let added: Vec<String> =
            new_names.iter().filter(|n| !old_names.contains(n)).map(|n| format!("`{n}`")).collect();
        let removed: Vec<String> =
            old_names.iter().filter(|n| !new_names.contains(n)).map(|n| format!("`{n}`")).collect();
        return match (added.is_empty(), removed.is_empty()) {
            (false, true) => format!("extension {} would be added", added.join(", ")),
            (true, false) => format!("extension {} would be removed", removed.join(", ")),
            (false, false) => {
                format!("extension {} would be added and {} removed", added.join(", "), removed.join(", "))
            }
            (true, true) => format!(
                "the order of the extensions would change from {} to {}",
                old_names.join(", "),
                new_names.join(", ")
            ),
        };
    }
    for (a, b) in old.extensions.iter().zip(&new.extensions) {
        if a != b {
            let (a_text, b_text) = (Lock { extensions: vec![a.clone()], ..Lock::default() }.to_text(), {
                Lock { extensions: vec![b.clone()], ..Lock::default() }.to_text()
            });
            for (x, y) in a_text.lines().zip(b_text.lines()) {
                if x != y {
                    return format!("extension `{}`: `{}` would become `{}`", a.name, x.trim(), y.trim());
                }
            }
        }
    }
    let (a_text, b_text) = (old.to_text(), new.to_text());
    for (a, b) in a_text.lines().zip(b_text.lines()) {
        if a != b {
            return format!("`{}` would become `{}`", a.trim(), b.trim());
        }
    }
    "the lock would change".to_owned()
}

impl Lock {
    /// Drops option values of `from_host` options pinned by hand: they belong to whoever runs
    /// quarry and are never locked. Returns `extension.option` of each dropped value.
    pub fn drop_host_values(&mut self, registry: &quarry_core::Registry) -> Vec<String> {
        let mut dropped = Vec::new();
        for e in &mut self.extensions {
            let Some(ext) = registry.get(&e.name) else { continue };
            e.options.retain(|k, _| {
                let host = ext.option(k).is_some_and(|o| o.from_host.is_some());
                if host {
                    dropped.push(format!("{}.{k}", e.name));
                }
                !host
            });
        }
        dropped
    }
}

/// One user's chain order in one project: the project's extensions and those the user file and
/// the command line add, kept in `$XDG_STATE_HOME/quarry/chains/<hash of the project folder>.toml`
/// (else `~/.local/state/quarry/chains/`), a private folder of the user's. quarry.lock keeps the
/// project's order; this keeps where the user's own extensions go in it, so that they keep their
/// places (nothing before them runs again) without changing the file the project commits.
#[derive(Debug)]
pub struct UserOrder {
    /// The project's folder, as written in the file (a hash names the file).
    project: String,
    file: Option<PathBuf>,
    stored: Option<Vec<String>>,
}

/// The file's content.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserOrderFile {
    project: String,
    order: Vec<String>,
}

impl UserOrder {
    /// The order kept for the project of `project_file` (none when there is no state folder or
    /// no file, or the file is unreadable: it is only a preference).
    pub fn of_project(project_file: &Path) -> UserOrder {
        let folder = project_file.parent().unwrap_or(Path::new("."));
        let folder = folder.canonicalize().unwrap_or_else(|_| folder.to_owned());
        let project = folder.display().to_string();
        let file = crate::host::xdg_dir("XDG_STATE_HOME", ".local/state").map(|d| {
            d.join("quarry").join("chains").join(format!("{:016x}.toml", fnv1a(project.as_bytes())))
        });
        let stored = file
            .as_ref()
            .and_then(|f| files::read_text(f, None, files::TEXT_LIMIT, "").ok())
            .and_then(|t| toml::from_str::<UserOrderFile>(&t).ok())
            .filter(|f| f.project == project)
            .map(|f| f.order);
        UserOrder { project, file, stored }
    }

    /// The chain order to render with, from the lock's (`locked`): the user's kept order where it
    /// holds the lock's extensions as a prefix of the lock's order (the lock only grew since: its
    /// new extensions follow), else the lock's followed by the user's own, in their order.
    pub fn merged(&self, locked: Option<Vec<String>>) -> Option<Vec<String>> {
        let Some(user) = &self.stored else { return locked };
        let Some(locked) = locked else { return Some(user.clone()) };
        let shared: Vec<&String> = user.iter().filter(|n| locked.contains(n)).collect();
        if locked.iter().zip(&shared).all(|(a, b)| a == *b) {
            let mut out = user.clone();
            out.extend(locked.iter().skip(shared.len()).cloned());
            return Some(out);
        }
        let mut out = locked.clone();
        out.extend(user.iter().filter(|n| !locked.contains(n)).cloned());
        Some(out)
    }

    /// Keeps `order`, the chain a render used, when it differs from the project's own
    /// (`project`, the lock's order); forgets the kept one when not.
    pub fn keep(&self, order: &[String], project: &[String]) -> anyhow::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        if order == project {
            if self.stored.is_some() {
                std::fs::remove_file(file).with_context(|| format!("cannot remove `{}`", file.display()))?;
            }
            return Ok(());
        }
        if self.stored.as_deref() == Some(order) {
            return Ok(());
        }
        let folder = file.parent().expect("the file is in a folder");
        quarry_docker::private_dir::private_dir(folder)?;
        let list: Vec<String> = order.iter().map(|n| toml::Value::String(n.clone()).to_string()).collect();
        let text = format!(
            "# Written by quarry: your chain order in this project. quarry.lock keeps the project's; this\n\
             # adds where the extensions of your user file and command line go. Yours, not the project's.\n\
             project = {}\norder = [{}]\n",
            toml::Value::String(self.project.clone()),
            list.join(", ")
        );
        crate::output::write_atomically(file, text.as_bytes())
            .with_context(|| format!("cannot write `{}`", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::UserOrder;

    fn order(stored: Option<&[&str]>) -> UserOrder {
        UserOrder {
            project: "/p".into(),
            file: None,
            stored: stored.map(|s| s.iter().map(|n| (*n).to_owned()).collect()),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn the_users_extensions_keep_their_places_as_the_lock_grows() {
        let locked = || Some(names(&["a", "b"]));
        assert_eq!(order(None).merged(locked()), locked());
        assert_eq!(order(Some(&["x"])).merged(None), Some(names(&["x"])));
        // The user's `x` sits between the project's.
        let user = order(Some(&["a", "x", "b"]));
        assert_eq!(user.merged(locked()), Some(names(&["a", "x", "b"])));
        // The project added `c`: it goes last, `x` stays.
        assert_eq!(user.merged(Some(names(&["a", "b", "c"]))), Some(names(&["a", "x", "b", "c"])));
        // The project removed `b`.
        assert_eq!(user.merged(Some(names(&["a"]))), Some(names(&["a", "x", "b"])));
        // The project reordered: its order, then the user's own.
        assert_eq!(user.merged(Some(names(&["b", "a"]))), Some(names(&["b", "a", "x"])));
    }
}
