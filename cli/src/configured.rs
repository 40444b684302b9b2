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
    /// `quarry.lock` of the project, when there is a project file.
    lock: Option<ProjectLock>,
    locked: bool,
    /// The project's Dockerfile base (`dockerfile`) and the tag its result gets, when it is the
    /// final image.
    pub base: Option<(std::path::PathBuf, String)>,
}

/// The project's lock and what it is made from: quarry.toml alone. The user file and the command
/// line change the image a user builds, never the file the project commits; the chain order of
/// what they add is kept in a file of the user's own ([`lock::UserOrder`]).
#[derive(Debug)]
struct ProjectLock {
    /// quarry.lock; none for a project that is not a quarry.toml (its chain order is the user's).
    path: Option<std::path::PathBuf>,
    old: Option<lock::Lock>,
    /// What quarry.toml alone asks for, seeded from the lock: the lock records its render.
    request: Request,
    /// This user's chain order in this project.
    user_order: lock::UserOrder,
}

impl Configured {
    /// Compares the render of the project's own configuration (quarry.toml, on the image the
    /// command renders when it is the project's) with `quarry.lock`: the lock to write when it
    /// changed, or an error with `--locked`. `canonical` renders it in the canonical order
    /// (`quarry lock --reorder`). Without a project file there is no lock.
    pub fn check_lock(
        &self,
        registry: &Registry,
        request: &Request,
        canonical: bool,
    ) -> anyhow::Result<Option<lock::Lock>> {
        let Some(project) = &self.lock else { return Ok(None) };
        let Some(path) = &project.path else { return Ok(None) };
        let mut own = project.request.clone();
        if own.image == request.image && request.image_config.is_some() {
            own.image_config = request.image_config.clone();
        }
        if canonical {
            own.locked_order = None;
        }
        let new = match quarry_core::render(registry, &own) {
            Ok(rendered) => lock::Lock::of(&rendered, &own),
            Err(e) if !self.locked => {
                ui::note(&format!(
                    "`{}` is left as it was: quarry.toml alone does not render ({e}), and the lock records                      what it alone asks for",
                    path.display()
                ));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if project.old.as_ref() == Some(&new) {
            return Ok(None);
        }
        if self.locked {
            let why = match &project.old {
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
        let Some(path) = self.lock.as_ref().and_then(|p| p.path.as_ref()) else { return Ok(()) };
        output::write_atomically(path, lock.to_text().as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        ui::note(&format!("wrote `{}`", path.display()));
        Ok(())
    }

    /// Writes `lock` if it can; a lock that cannot be written (a read-only checkout) is skipped
    /// with a note, since what was asked for is done. Then [`Configured::remember_order`].
    pub(crate) fn write_lock_or_note(&self, lock: Option<lock::Lock>, rendered: &Rendered) {
        if let Some(lock) = &lock
            && let Err(e) = self.write_lock(lock)
        {
            let first = format!("{e:#}");
            ui::note(&format!("{}; the lock was left as it was", first.lines().next().unwrap_or_default()));
        }
        self.remember_order(lock.as_ref(), rendered);
    }

    /// Keeps the chain order of `rendered` in the user's own file where it holds more than the
    /// project's (`lock` when it was just made, else the old one): the user file's and the
    /// command line's extensions.
    pub(crate) fn remember_order(&self, lock: Option<&lock::Lock>, rendered: &Rendered) {
        let Some(project) = &self.lock else { return };
        let order: Vec<String> =
            rendered.resolved.extensions.iter().map(|r| r.extension.name.to_owned()).collect();
        let project_order: Vec<String> = lock
            .or(project.old.as_ref())
            .iter()
            .flat_map(|l| l.extensions.iter().map(|e| e.name.clone()))
            .collect();
        if let Err(e) = project.user_order.keep(&order, &project_order) {
            ui::note(&format!("{e:#}; the chain order of your own extensions is not remembered"));
        }
    }

    /// Whether the project has a lock file (or will have one).
    pub fn has_project(&self) -> bool {
        self.lock.as_ref().is_some_and(|p| p.path.is_some())
    }
}

/// Merges the configuration files under what the command line gave, seeds values from
/// quarry.lock, and checks an image is set.
pub fn configure(
    registry: &Registry,
    request: &mut Request,
    locked: bool,
    given: Option<(crate::config::Loaded, crate::layers::ProjectKind)>,
) -> anyhow::Result<Configured> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let layers = match given {
        Some((project, kind)) => crate::layers::Layers::with_project(registry, project, kind)?,
        None => crate::layers::Layers::load(registry, &cwd)?,
    };
    for (role, loaded) in layers.applied() {
        ui::detail(&format!("applying the {role} file `{}`", loaded.path.display()));
    }
    let image_given = !request.image.is_empty();
    layers.apply(request);
    // `dockerfile` of quarry.toml: its image is the final image (unless the command line names one).
    let mut base = None;
    if !image_given && let Some((path, folder)) = layers.dockerfile() {
        // Inside the project (no link out of it), a regular file of at most 16 MiB.
        let shown = path.display().to_string();
        let text =
            quarry_codegen::files::read(&path, Some(&folder), 16 << 20, &shown).hint_context(|| {
                Hinted::new(
                    format!("cannot use the project's Dockerfile {}", crate::ui::shown(&shown)),
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
        // A rockerc.yaml or rocker's command line: no lock is written into the user's folder;
        // the chain keeps the order the user last built with.
        Some(project) if layers.kind != crate::layers::ProjectKind::Toml => {
            if locked {
                anyhow::bail!(Hinted::new(
                    "--locked needs a quarry.toml and its quarry.lock",
                    format!("`quarry import {}` writes a quarry.toml from it", project.path.display()),
                ));
            }
            let user_order = lock::UserOrder::of_project(&project.path);
            request.locked_order = user_order.merged(None);
            Some(ProjectLock { path: None, old: None, request: Request::default(), user_order })
        }
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
            if let Some(old) = &old {
                old.check_values(&path, registry)?;
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
            // Which extensions the lock may pin: the selection and its dependencies, not a
            // resolution (the render resolves, once, after the lock's values are in).
            let names = quarry_core::selected_names(registry, request).ok();
            if let Some(names) = &names {
                layers.check_overrides(names)?;
            }
            let names = names.unwrap_or_default();
            // quarry.toml alone, on the image this command renders, with no host's values but
            // the folder (`cwd` needs one; it never reaches the Dockerfile) and the engine level
            // every engine shares, so every developer and CI runner writes the same lock.
            let folder = project.path.parent().map(|p| p.display().to_string());
            let mut own = Request {
                host: quarry_core::HostValues { cwd: folder, ..Default::default() },
                ..Request::default()
            };
            crate::layers::Layers { user: None, project: Some(project.clone()), ..Default::default() }
                .apply(&mut own);
            if own.image.is_empty() {
                own.image = base.as_ref().map_or_else(|| request.image.clone(), |(_, tag)| tag.clone());
            }
            let user_order = lock::UserOrder::of_project(&project.path);
            if let Some(old) = &old {
                let own_names = quarry_core::selected_names(registry, &own).unwrap_or_default();
                old.seed(&mut own, &own_names, registry);
                old.seed(request, &names, registry);
            }
            request.locked_order = user_order.merged(request.locked_order.take());
            Some(ProjectLock { path: Some(path), old, request: own, user_order })
        }
    };
    // The project's files extensions ship (a ROS workspace's package.xml files), read here so
    // that rendering reads nothing from the host.
    crate::project_files::collect(registry, request)?;
    Ok(Configured { layers, lock, locked, base })
}

/// The tag of a project Dockerfile's image: named by its content, so an edit gives a new tag
/// (and a new final image) while an unchanged file keeps it.
pub fn base_tag(dockerfile: &[u8]) -> String {
    format!("quarry/dockerfile:{:016x}", quarry_buildkit::hash::fnv1a(dockerfile))
}
