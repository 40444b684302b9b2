//! What `build` and `run` do differently for the engine found: the render's level and what
//! is said about it, the options the engine's build command lacks, and for Podman its registry
//! cache (Buildah's `--cache-from`/`--cache-to`), the run's host (`--userns=keep-id`, SELinux)
//! and the error for GPUs without a CDI specification.

use quarry_core::{Hinted, Rendered};
use quarry_docker::{build, engine, remote_cache};

use crate::{args, ui};

/// Sets the render's level to what `engine` builds, saying so (a note; a warning when the
/// command line asked for more), and refuses build options the engine's command lacks.
pub(crate) fn choose_level(build: &mut args::Build, effective: &engine::Engine) -> anyhow::Result<()> {
    let level = effective.level();
    let why = if effective.is_podman() {
        format!("Podman {}'s Buildah rejects `COPY --link` (docs/podman.md)", effective.version)
    } else {
        format!("Docker {} has no `COPY --link` (needs Docker 23+)", effective.version)
    };
    // Asked for a level the engine lacks (`--engine modern`): a warning; not asked, a note.
    if build.engine_given && build.request.engine < level {
        ui::warning(&format!("{why}: rendering plain `COPY --from` instead"));
        build.request.engine = level;
    } else if !build.engine_given {
        build.request.engine = level;
        if level == quarry_core::EngineLevel::Legacy {
            ui::note(&format!("{why}: rendering plain `COPY --from`"));
        }
    }
    let missing = build::unsupported_on(effective, &build.options);
    if !missing.is_empty() {
        let (what, fix) = if effective.is_podman() {
            let fix = if effective.builds_with_podman() {
                format!("drop {}: it names a buildx builder", missing.join(", "))
            } else {
                format!(
                    "drop {}, or run quarry with `podman` (on PATH, or QUARRY_DOCKER=podman), whose `podman build` \
                     takes them",
                    missing.join(", ")
                )
            };
            (format!("{} cannot be passed to {}", missing.join(", "), effective.describe()), fix)
        } else {
            (
                format!("{} need docker buildx, which this engine does not have", missing.join(", ")),
                format!("install the buildx plugin, or drop {}", missing.join(", ")),
            )
        };
        anyhow::bail!(Hinted::new(what, fix));
    }
    Ok(())
}

/// The registry cache of a build on Podman: Buildah pushes each step's layer to one repository
/// under its own cache key (`--cache-to REPO`) and pulls them from there (`--cache-from REPO`),
/// so quarry names no tags; a plain-http registry (loopback, or `insecure`) needs
/// `--tls-verify=false`. Through Podman's socket the Docker CLI's classic build takes neither:
/// a warning, and the build goes on without it.
pub(crate) fn registry_cache(
    build: &mut args::Build,
    layers: &crate::layers::Layers,
    engine: &engine::Engine,
) -> anyhow::Result<()> {
    let (configured, insecure) = layers.cache_registry();
    let Some(text) = build.cache_registry.clone().or(configured) else { return Ok(()) };
    let repo = remote_cache::CacheRepo::parse(&text)?;
    if !engine.builds_with_podman() {
        ui::warning_with_hint(&Hinted::new(
            format!(
                "the registry cache `{text}` is left out: {} builds through the Docker CLI's classic build, \
                 which takes no --cache-from/--cache-to",
                engine.describe()
            ),
            "run quarry with `podman` (on PATH, or QUARRY_DOCKER=podman) to use the registry cache",
        ));
        return Ok(());
    }
    let reference = format!("{}/{}", repo.host, repo.path);
    ui::note(&format!(
        "registry cache on Podman: `--cache-from {reference} --cache-to {reference}` (Buildah's own, one tag per \
         step under its cache key; not BuildKit's per-stage references)"
    ));
    build.options.cache_from.push(reference.clone());
    build.options.cache_to.push(reference);
    if insecure || build.cache_registry_insecure || repo.is_loopback() {
        build.options.tls_verify_off = true;
    }
    Ok(())
}

/// Whether the image runs as the host user: an extension sets the image's user and makes it from
/// the host's uid (an option `from_host = "uid"`). Rootless Podman then keeps the host user's id
/// (`--userns=keep-id`).
fn has_host_user(rendered: &Rendered) -> bool {
    rendered.resolved.extensions.iter().any(|r| {
        r.extension.final_user.is_some()
            && r.extension.options.iter().any(|o| o.from_host == Some(quarry_core::HostValue::Uid))
    })
}

/// How a run on `podman` adapts: rootless or not, SELinux enforcing or not, the host user in
/// the image or not.
pub(crate) fn run_host(podman: &engine::Podman, rendered: &Rendered) -> quarry_docker::podman_run::RunHost {
    quarry_docker::podman_run::RunHost {
        rootless: podman.rootless,
        selinux: quarry_docker::podman_run::selinux_enforcing(),
        host_user: has_host_user(rendered),
    }
}

/// The error for GPUs asked of Podman on a host without a CDI specification of them.
pub(crate) fn no_cdi_gpus() -> Hinted {
    Hinted::new(
        "the container asks for NVIDIA GPUs, but this host has no CDI specification of them (`nvidia.com/gpu` \
             in /etc/cdi or /var/run/cdi), which Podman's `--device nvidia.com/gpu=all` needs",
        "generate one with the NVIDIA Container Toolkit (`sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`), \
             or use `--nvidia-mode auto` for GPUs only when the host has them",
    )
}
