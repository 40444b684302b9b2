//! The configuration a command runs with: the files merged under the command line, the values
//! quarry.lock pins, the project's Dockerfile as the final image, and the lock to compare the
//! render with; rendering with notes and warnings on stderr.

use anyhow::Context;
use quarry_core::{Hinted, Registry, Rendered, Request};

use crate::exit::HintContext;
use crate::{lock, output, ui};

/// Renders, reporting added dependencies and warnings on stderr.
pub fn render_request(registry: &Registry, request: &Request) -> anyhow::Result<Rendered> {
    let rendered = quarry_core::render(registry, request)?;
    for added in &rendered.resolved.added {
        ui::note(&format!("added `{}` (needed by `{}`)", added.name, added.required_by));
    }
    for warning in &rendered.warnings {
        ui::warning_with_hint(warning);
    }
    Ok(rendered)
}

/// The configuration that applies to a command, and its lock file.
#[derive(Debug)]
pub struct Configured {
    /// The configuration files.
    pub layers: crate::layers::Layers,
    /// `quarry.lock` next to the project file, and what it holds.
    lock: Option<(std::path::PathBuf, Option<lock::Lock>)>,
    locked: bool,
    /// The project's Dockerfile base (`dockerfile`) and the tag its result gets, when it is the
    /// final image.
    pub base: Option<(std::path::PathBuf, String)>,
}

impl Configured {
    /// Compares the render with `quarry.lock`: the lock to write when it changed, or an error
    /// with `--locked`. Without a project file there is no lock.
    pub fn check_lock(&self, rendered: &Rendered, request: &Request) -> anyhow::Result<Option<lock::Lock>> {
        let Some((path, old)) = &self.lock else { return Ok(None) };
        let new = lock::Lock::of(rendered, request);
        if old.as_ref() == Some(&new) {
            return Ok(None);
        }
        if self.locked {
            let why = match old {
                None => "there is none".to_owned(),
                Some(old) => lock::first_difference(old, &new),
            };
            anyhow::bail!(Hinted::new(
                format!("`{}` does not match the configuration: {why}", path.display()),
                "run without --locked to update it, and commit it",
            ));
        }
        Ok(Some(new))
    }

    /// Writes `lock` next to the project file.
    pub fn write_lock(&self, lock: &lock::Lock) -> anyhow::Result<()> {
        let Some((path, _)) = &self.lock else { return Ok(()) };
        output::write_atomically(path, lock.to_text().as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        ui::note(&format!("wrote `{}`", path.display()));
        Ok(())
    }

    /// Writes `lock` if it can; a lock that cannot be written (a read-only checkout) is skipped
    /// with a note, since what was asked for is done.
    pub(crate) fn write_lock_or_note(&self, lock: Option<lock::Lock>) {
        if let Some(lock) = lock
            && let Err(e) = self.write_lock(&lock)
        {
            let first = format!("{e:#}");
            ui::note(&format!("{}; the lock was left as it was", first.lines().next().unwrap_or_default()));
        }
    }

    /// Whether the project has a lock file (or will have one).
    pub fn has_project(&self) -> bool {
        self.lock.is_some()
    }
}

/// Merges the configuration files under what the command line gave, seeds values from
/// quarry.lock, and checks an image is set.
pub fn configure(registry: &Registry, request: &mut Request, locked: bool) -> anyhow::Result<Configured> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let layers = crate::layers::Layers::load(registry, &cwd)?;
    for (role, loaded) in layers.applied() {
        ui::detail(&format!("applying the {role} file `{}`", loaded.path.display()));
    }
    let image_given = !request.image.is_empty();
    layers.apply(request);
    // `dockerfile` of quarry.toml: its image is the final image (unless the command line names one).
    let mut base = None;
    if !image_given && let Some(path) = layers.dockerfile() {
        let text = std::fs::read(&path).hint_context(|| {
            Hinted::new(
                format!("cannot read the project's Dockerfile `{}`", path.display()),
                "fix `dockerfile` of quarry.toml",
            )
        })?;
        let tag = base_tag(&text);
        ui::detail(&format!("the final image is `{tag}`, built from `{}`", path.display()));
        request.image = tag.clone();
        base = Some((path, tag));
    }
    if request.image.is_empty() {
        anyhow::bail!(Hinted::new(
            "no image given",
            "name one (`quarry render ubuntu:24.04 --cargo`), or set `image` in quarry.toml (`quarry init` writes \
             one)",
        ));
    }
    let lock = match layers.project.as_ref() {
        None if locked => anyhow::bail!(Hinted::new(
            "--locked needs a quarry.toml and its quarry.lock",
            "`quarry init` writes a quarry.toml"
        )),
        None => None,
        Some(project) => {
            let path = lock::path_for(&project.path);
            layers.check_owner(&path)?;
            let mut old = lock::Lock::read(&path)?;
            for pinned in old.as_mut().map(|o| o.drop_host_values(registry)).unwrap_or_default() {
                ui::warning_with_hint(&Hinted::new(
                    format!(
                        "`{}` pins `{pinned}`, a value quarry takes from the host: it is ignored and dropped from \
                         the lock",
                        path.display()
                    ),
                    "set it in quarry.toml's `[options]` to pin it for everyone",
                ));
            }
            for e in old.iter().flat_map(|o| &o.extensions).filter(|e| registry.get(&e.name).is_none()) {
                ui::warning_with_hint(&Hinted::new(
                    format!(
                        "`{}` names the extension {}, which this quarry does not have: the chain goes on without \
                         it and the lock drops it",
                        path.display(),
                        ui::shown(&e.name)
                    ),
                    "if a newer or custom quarry has it, run that one",
                ));
            }
            if old.is_some() {
                ui::detail(&format!(
                    "lock `{}` pins option values the files leave to defaults",
                    path.display()
                ));
            }
            let resolved = quarry_core::resolve(registry, request).ok();
            let names: Vec<&str> = resolved
                .as_ref()
                .map(|r| r.extensions.iter().map(|e| e.extension.name).collect())
                .unwrap_or_default();
            if resolved.is_some() {
                layers.check_overrides(&names)?;
            }
            if let Some(old) = &old {
                old.seed(request, &names);
            }
            Some((path, old))
        }
    };
    Ok(Configured { layers, lock, locked, base })
}

/// The tag of a project Dockerfile's image: named by its content, so an edit gives a new tag
/// (and a new final image) while an unchanged file keeps it.
pub fn base_tag(dockerfile: &[u8]) -> String {
    format!("quarry/dockerfile:{:016x}", quarry_buildkit::hash::fnv1a(dockerfile))
}
