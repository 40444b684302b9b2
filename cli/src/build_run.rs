//! `quarry build` and `quarry run`: the engine detected, the render made for it, the build
//! context written, the remote cache planned, the `docker build` run, then `docker run` with the
//! extensions' arguments.

use anyhow::Context;
use quarry_core::{Hinted, Registry, Rendered};
use quarry_docker::{build, cache_id, context, current, engine, remote_cache, run, xauth};

use crate::configured::{configure, render_request};
use crate::{args, exit, host, output, ui};

/// A build, ready to run: what was rendered and the docker command that builds it.
#[derive(Debug)]
pub struct PreparedBuild {
    /// The `docker` program.
    pub docker: String,
    /// The engine (`None` when none answered and only a dry run was asked for).
    pub engine: Option<engine::Engine>,
    /// The render.
    pub rendered: Rendered,
    /// The image tag.
    pub tag: String,
    /// The build context folder.
    pub context: std::path::PathBuf,
    /// The build's hold on its context (none for a dry run's): no `quarry clean` or prune
    /// removes it while this lives.
    pub running: Option<context::BuildContext>,
    /// `docker` arguments that build it.
    pub args: Vec<String>,
    /// The `docker build` of the project's Dockerfile base, run first (`dockerfile`).
    pub base_args: Option<Vec<String>>,
    /// Extra `docker run` arguments from the configuration files.
    pub run_args: Vec<String>,
    /// The remote cache: imported by `args`, exported after a successful build.
    pub remote: Option<remote_cache::RemotePlan>,
    /// The image of this exact render is on the engine already, from the same base images
    /// ([`current`]): a build would find every step cached, so none is run.
    pub current: bool,
    /// What the build is checked against once it ran ([`crate::verify`]); none for a dry run.
    pub verify: Option<crate::verify::Plan>,
}

/// Detects the engine, renders for it, writes the context and composes the build command.
/// With `dry_run`, a missing engine is assumed modern with buildx, and nothing is written.
pub fn prepare_build(
    registry: &Registry,
    mut build: args::Build,
    dry_run: bool,
) -> anyhow::Result<PreparedBuild> {
    if let Some(tag) = &build.tag {
        context::check_tag(tag)?;
    }
    let docker = quarry_docker::engine::program();
    let engine = match engine::detect(&docker) {
        Ok(engine) => Some(engine),
        Err(e) if dry_run => {
            ui::note(&format!(
                "{}; assuming Docker 26 with buildx for the dry run",
                e.to_string().lines().next().unwrap_or_default()
            ));
            None
        }
        Err(e) => return Err(e.into()),
    };
    let assumed = engine::Engine {
        version: "26.1.5".into(),
        major_minor: (26, 1),
        buildx: true,
        containerd_store: true,
        podman: None,
    };
    let effective = engine.clone().unwrap_or(assumed);
    if let Some(found) = engine.as_ref().filter(|e| e.is_podman()) {
        ui::note(&format!("engine: {}", found.describe()));
    } else if let Some(found) = &engine {
        ui::detail(&format!("engine: {}", found.describe()));
    }
    crate::podman::choose_level(&mut build, &effective)?;
    if let (Some(builder), Some(_)) = (&build.options.builder, &engine) {
        let info = engine::builder_info(&docker, Some(builder));
        if let Some(problem) =
            engine::builder_problem(builder, &info, engine::current_context(&docker).as_deref())
        {
            anyhow::bail!(problem);
        }
    }
    let configured = configure(registry, &mut build.request, build.locked, build.project.take())?;
    configured.layers.apply_build(&mut build.options);
    let cache = cache_id::resolve(
        build.cache_id.as_deref(),
        &|k| std::env::var(k).ok(),
        configured.layers.cache_id().as_deref(),
    )?;
    // The project's Dockerfile first: its image is the final image, so it must exist before
    // its ENTRYPOINT and CMD are read. BuildKit's cache makes an unchanged one instant.
    let base_args = configured.base.as_ref().map(|(path, tag)| {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let mut args = build::build_args(&effective, folder, tag, &cache, &build.options);
        let context = args.pop().expect("the context is the last argument");
        args.extend(["--file".into(), path.display().to_string(), context]);
        args
    });
    if let (Some(args), false) = (&base_args, dry_run) {
        ui::note(&format!("building the project's Dockerfile as `{}`", build.request.image));
        ui::detail(&run::shell_line(&docker, args));
        let launch = build::Launch::of(engine.as_ref());
        let build::Streamed { status, tail, .. } = build::run_streaming(&docker, args, launch, !ui::quiet())?;
        if !status.success() {
            if ui::quiet() {
                ui::show(quarry_docker::Message::Output(tail));
            }
            let code = status.code().map(|c| format!(" (docker exited with code {c})")).unwrap_or_default();
            anyhow::bail!(Hinted::new(
                format!("the build of the project's Dockerfile failed{code}"),
                format!(
                    "`{}` must build on its own: try it with `docker build`",
                    configured.base.as_ref().map(|(p, _)| p.display().to_string()).unwrap_or_default()
                ),
            ));
        }
    }
    if engine.is_some() {
        match engine::image_config(&docker, &build.request.image) {
            Some(config) => build.request.image_config = Some(config),
            None if build.request.image_config.is_none() => ui::note(&format!(
                "the image `{}` is not on the engine yet, so its own ENTRYPOINT and CMD are not known: \
                 quarry's entrypoint assumes none (the next build, once the image is there, composes with them)",
                build.request.image
            )),
            None => {}
        }
    }
    let layers = &configured.layers;
    let rendered = render_request(registry, &build.request)?;
    if build.options.ssh.is_empty() && rendered.dockerfile.contains("--mount=type=ssh") {
        ui::note(
            "a build step can use an SSH agent (private repositories): `--build-ssh default` forwards yours \
             ($SSH_AUTH_SOCK); without it the step runs without one",
        );
    }
    let lock = configured.check_lock(registry, &build.request, false)?;
    if !dry_run {
        configured.write_lock_or_note(lock, &rendered);
    }
    // Buildah builds the render with its apt lists shared ([`quarry_docker::buildah::adapt_dockerfile`]);
    // the lock keeps the render's own hash.
    let rendered = if effective.is_podman() {
        Rendered { dockerfile: quarry_docker::buildah::adapt_dockerfile(&rendered.dockerfile), ..rendered }
    } else {
        rendered
    };
    let tag = build.tag.clone().unwrap_or_else(|| context::default_tag(&rendered));
    let inputs = current::Inputs::of(&rendered, build.options.platform.as_deref());
    if !dry_run && engine.is_some() && !build.options.no_cache && !build.options.pull {
        ui::detail(&format!("{docker} image inspect {tag} (is this render built already?)"));
        if inputs.is_built(&docker, &tag) {
            ui::note(&format!("`{tag}` is this render's image, from the same base images: nothing to build"));
            let args = build::build_args(&effective, &context::contexts_root(), &tag, &cache, &build.options);
            return Ok(PreparedBuild {
                docker,
                engine,
                rendered,
                tag,
                context: context::contexts_root(),
                running: None,
                args,
                base_args,
                run_args: configured.layers.run_args(),
                remote: None,
                current: true,
                verify: None,
            });
        }
    }
    let root = context::contexts_root();
    // What earlier builds kept, within bounds: the newest failed ones, nothing stale.
    let pruned = context::prune(&root);
    if pruned.folders > 0 {
        ui::detail(&format!("removed {} old build contexts ({})", pruned.folders, human_bytes(pruned.bytes)));
    }
    // A dry run writes the context too, so the printed command works when pasted; it is kept,
    // one per tag (the next dry run replaces it).
    let (context, running) = if dry_run {
        context::write_dry_run_context(&root, &tag, &rendered).map(|dir| (dir, None))
    } else {
        context::write_build_context(&root, &tag, &rendered).map(|c| (c.dir.clone(), Some(c)))
    }
    .with_context(|| format!("cannot write the build context under `{}`", root.display()))?;
    if dry_run {
        ui::note(&format!(
            "dry run: the build context is written to `{}` and kept for the printed command (`quarry clean` removes it)",
            context.display()
        ));
    } else {
        ui::note(&format!("building `{tag}` with cache id `{}` ({})", cache.value, cache.source));
        ui::detail(&format!("build context `{}`", context.display()));
    }
    let remote = if effective.is_podman() {
        crate::podman::registry_cache(&mut build, layers, &effective)?;
        None
    } else {
        remote_cache_plan(&docker, &build, layers, engine.as_ref(), &effective, &cache, &rendered, dry_run)?
    };
    if let Some(plan) = &remote {
        build.options.cache_from.extend(plan.imports());
    }
    // explain's model is BuildKit's: a Buildah build is not checked against it.
    let verify = engine.as_ref().filter(|e| !dry_run && e.is_buildkit()).map(|e| {
        crate::verify::Plan::new(
            layers.project.as_ref().map(|p| p.path.as_path()),
            build.request.engine,
            e.containerd_store,
            &e.version,
            &cache.value,
        )
    });
    let mut args = build::build_args(&effective, &context, &tag, &cache, &build.options);
    if engine.is_some() {
        let context_arg = args.pop().expect("the context is the last argument");
        args.extend(inputs.labels(&docker));
        args.push(context_arg);
    }
    Ok(PreparedBuild {
        docker,
        engine,
        rendered,
        tag,
        context,
        running,
        args,
        base_args,
        run_args: layers.run_args(),
        remote,
        current: false,
        verify,
    })
}

/// The project's name for its moving cache reference: the folder of its quarry.toml, else of the
/// current folder (a repository checked out on any runner keeps its folder's name).
fn project_name(layers: &crate::layers::Layers) -> Option<String> {
    let folder = match &layers.project {
        Some(p) => p.path.canonicalize().ok()?.parent()?.to_path_buf(),
        None => std::env::current_dir().ok()?,
    };
    folder.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The remote cache of a build, when one is configured and usable: a malformed reference is an
/// error; an engine that cannot export, or a registry that cannot be asked, is a warning and the
/// build goes on without the remote cache.
#[allow(clippy::too_many_arguments)]
fn remote_cache_plan(
    docker: &str,
    build: &args::Build,
    layers: &crate::layers::Layers,
    engine: Option<&engine::Engine>,
    effective: &engine::Engine,
    cache: &cache_id::CacheId,
    rendered: &Rendered,
    dry_run: bool,
) -> anyhow::Result<Option<remote_cache::RemotePlan>> {
    let (configured, insecure) = layers.cache_registry();
    let Some(text) = build.cache_registry.clone().or(configured) else { return Ok(None) };
    let repo = remote_cache::CacheRepo::parse(&text)?;
    let settings = remote_cache::RemoteCache { repo, insecure: insecure || build.cache_registry_insecure };
    let driver = engine.and_then(|_| engine::builder_info(docker, build.options.builder.as_deref()).driver);
    let mut keys = remote_cache::KeyInputs {
        platform: build.options.platform.clone(),
        build_args: Vec::new(),
        project: project_name(layers),
    };
    if cache.value != "default" && !effective.has_mount_namespace() {
        keys.build_args.push(("CACHE_ID".to_owned(), cache.value.clone()));
    }
    remote_cache::prepare(
        docker,
        &settings,
        effective,
        driver.as_deref(),
        &keys,
        rendered,
        dry_run,
        &ui::show,
    )
    .map_err(|e| anyhow::anyhow!(e))
}

/// Runs a prepared build ([`build::execute`]): once more after BuildKit's known snapshot flake,
/// the remote cache exported after a success, the context removed after a success and kept
/// after a failure. Nothing when the image is built already ([`PreparedBuild::current`]).
pub fn execute_build(prepared: &PreparedBuild) -> anyhow::Result<()> {
    if prepared.current {
        return Ok(());
    }
    let launch = build::Launch::of(prepared.engine.as_ref());
    let progress = build::execute(
        &prepared.docker,
        &prepared.args,
        &prepared.context,
        launch,
        prepared.remote.as_ref(),
        ui::quiet(),
        &ui::show,
    )?;
    if let Some(plan) = &prepared.verify {
        crate::verify::check(plan, &prepared.rendered, &prepared.tag, &prepared.docker, &progress);
    }
    if launch.podman {
        let (reused, all) = quarry_docker::buildah::reuse(&progress);
        ui::note(&format!(
            "Buildah reused {reused} of {all} steps from its layer cache (explain's prediction is BuildKit's and is \
             not checked on Podman: docs/podman.md)"
        ));
    }
    Ok(())
}

/// `quarry build`: prepares and runs the build, prints the tag.
pub fn build_command(registry: &Registry, build: args::Build) -> anyhow::Result<String> {
    let dry_run = build.dry_run;
    let prepared = prepare_build(registry, build, dry_run)?;
    if dry_run {
        let line = run::shell_line(&prepared.docker, &prepared.args);
        output::stdout(
            format!("{}{}{line}\n", base_line(&prepared), build_env_prefix(&prepared)).as_bytes(),
        )?;
        return Ok(prepared.tag);
    }
    execute_build(&prepared)?;
    output::stdout(format!("{}\n", prepared.tag).as_bytes())?;
    Ok(prepared.tag)
}

/// `quarry run`: builds unless this render's image is there already, then runs the container;
/// returns the container's exit code.
pub fn run_command(registry: &Registry, mut run: args::Run) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    // `quarry run --volume ~/ws -- ubuntu:24.04 bash`: with no image configured, the first word
    // after `--` is the image, as in rocker's and docker's lines.
    if run.build.request.image.is_empty()
        && run.build.project.is_none()
        && run.command.first().is_some_and(|w| quarry_core::rules::is_image_ref(w))
    {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        let layers = crate::layers::Layers::load(registry, &cwd)?;
        if layers.image().is_none() && layers.dockerfile().is_none() {
            run.build.request.image = run.command.remove(0);
        }
    }
    let dry_run = run.build.dry_run;
    let prepared = prepare_build(registry, run.build, dry_run)?;
    let settings = RunSettings {
        env_files: &run.env_files,
        run_args: &run.run_args,
        command: run.command,
        interactive: run.interactive.unwrap_or_else(|| std::io::stdin().is_terminal()),
        remove: run.remove,
    };
    let (run_args, cookie) = compose_run(&prepared, settings, dry_run)?;
    if dry_run {
        let make_cookie = cookie.map(|line| format!("{line}\n")).unwrap_or_default();
        let text = format!(
            "{}{}{}\n{make_cookie}{}\n",
            base_line(&prepared),
            build_env_prefix(&prepared),
            run::shell_line(&prepared.docker, &prepared.args),
            run::shell_line(&prepared.docker, &run_args)
        );
        output::stdout(text.as_bytes())?;
        return Ok(0);
    }
    if run.strict && !prepared.rendered.resolved.added.is_empty() {
        let added: Vec<String> = prepared
            .rendered
            .resolved
            .added
            .iter()
            .map(|a| format!("`{}` (needed by `{}`)", a.name, a.required_by))
            .collect();
        anyhow::bail!(Hinted::new(
            format!("--strict-extension-selection: {} would be added", added.join(", ")),
            "name them on the command line too",
        ));
    }
    execute_build(&prepared)?;
    if run.print_after_build {
        output::stdout(format!("{}\n", run::shell_line(&prepared.docker, &run_args)).as_bytes())?;
        return Ok(0);
    }
    ui::detail(&run::shell_line(&prepared.docker, &run_args));
    let status = std::process::Command::new(&prepared.docker)
        .args(&run_args)
        .status()
        .with_context(|| format!("cannot run `{}`", prepared.docker))?;
    Ok(status.code().map_or(exit::FAILURE, |c| u8::try_from(c).unwrap_or(exit::FAILURE)))
}

/// What `docker run` is asked for beyond the render: the command line's run settings.
#[derive(Debug)]
pub(crate) struct RunSettings<'a> {
    /// `--env-file`.
    pub env_files: &'a [std::path::PathBuf],
    /// `--run-arg`.
    pub run_args: &'a [String],
    /// The command.
    pub command: Vec<String>,
    /// `--interactive --tty`.
    pub interactive: bool,
    /// `--rm`.
    pub remove: bool,
}

/// The `docker run` arguments of a prepared build: the configuration's and the command line's,
/// the X authority cookie made (or, for a dry run, the line that makes it, returned), GPUs checked
/// on the engine before anything is built.
pub(crate) fn compose_run(
    prepared: &PreparedBuild,
    settings: RunSettings,
    dry_run: bool,
) -> anyhow::Result<(Vec<String>, Option<String>)> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let mut extra = prepared.run_args.clone();
    for file in settings.env_files {
        let path = cwd.join(file);
        if !path.is_file() {
            anyhow::bail!(Hinted::new(
                format!("the env file `{}` does not exist", file.display()),
                "name a file of `NAME=value` lines",
            ));
        }
        extra.push(format!("--env-file={}", path.display()));
    }
    extra.extend(settings.run_args.iter().cloned());
    // An extension asks for an X authority cookie: made now (or, for a dry run, the line that
    // makes it), for the host's `$DISPLAY`.
    let wants_cookie = prepared.rendered.resolved.extensions.iter().any(|r| r.extension.run.xauthority);
    let display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
    let cookie = match (wants_cookie, &display) {
        (false, _) => None,
        (true, None) => {
            ui::warning("`DISPLAY` is not set: no X authority cookie for the container");
            None
        }
        (true, Some(display)) => match xauth::cookie_path(display) {
            Err(e) => {
                ui::warning_with_hint(&Hinted::new(
                    format!("no X authority cookie for the container: {e}"),
                    quarry_core::Hint::hint(&e).unwrap_or_default(),
                ));
                None
            }
            Ok(file) if dry_run => Some((xauth::shell_line(display, &file), file)),
            Ok(file) => match xauth::make_cookie(display, &file) {
                Ok(()) => Some((String::new(), file)),
                Err(why) => {
                    ui::warning_with_hint(&Hinted::new(
                        format!("no X authority cookie for the container: {why}"),
                        "install `xauth` on the host, or allow the container's connections with `xhost +local:`",
                    ));
                    None
                }
            },
        },
    };
    let mut options = run::RunOptions {
        interactive: settings.interactive,
        remove: settings.remove,
        gpu: true,
        extra,
        command: settings.command,
        cwd,
        host_groups: host::supplementary_groups(),
        xauthority: cookie.as_ref().map(|(_, file)| file.display().to_string()),
        podman: None,
    };
    // GPUs: asked of the engine, when the container would ask for them, before the build, so a
    // host without them fails (or, for GPUs only when present, goes on without them) before
    // anything is built.
    let quiet = |_: quarry_docker::Message| {};
    let asks = run::run_args(&prepared.rendered, &prepared.tag, &options, &crate::host::run_env, &quiet)
        .is_ok_and(|args| engine::wants_gpu(&args));
    let podman = prepared.engine.as_ref().and_then(|e| e.podman.as_ref());
    let gpu = !asks
        || prepared.engine.is_none()
        || match podman {
            Some(_) => quarry_docker::podman_run::has_cdi_gpus(),
            None => engine::has_nvidia_runtime(&prepared.docker),
        };
    options.gpu = gpu;
    options.podman = podman.map(|p| crate::podman::run_host(p, &prepared.rendered));
    let run_args =
        run::run_args(&prepared.rendered, &prepared.tag, &options, &crate::host::run_env, &ui::show)?;
    warn_of_a_remote_engine(&prepared.docker, &run_args);
    if !gpu && engine::wants_gpu(&run_args) && podman.is_some() {
        anyhow::bail!(crate::podman::no_cdi_gpus());
    }
    if !gpu && engine::wants_gpu(&run_args) {
        anyhow::bail!(Hinted::new(
            "the container asks for NVIDIA GPUs, but the engine has no NVIDIA runtime: `docker run` would fail after \
             the build (`could not select device driver \"\" with capabilities: [[gpu]]`)",
            "install the NVIDIA Container Toolkit on the host, or use `--nvidia-mode auto` for GPUs only when the \
             engine has them",
        ));
    }

    Ok((run_args, cookie.map(|(line, _)| line).filter(|l| !l.is_empty())))
}

/// The build of the project's Dockerfile base, as a line of its own, for `--dry-run`.
fn base_line(prepared: &PreparedBuild) -> String {
    match &prepared.base_args {
        Some(args) => format!("{}{}\n", build_env_prefix(prepared), run::shell_line(&prepared.docker, args)),
        None => String::new(),
    }
}

/// A run that mounts host paths on an engine of another machine mounts that machine's paths,
/// which quarry checked (and made, for the X cookie) here: said once, as a warning.
fn warn_of_a_remote_engine(docker: &str, run_args: &[String]) {
    let mounts = run_args.iter().any(|a| a == "--volume" || a == "--device" || a.starts_with("--mount"));
    if !mounts {
        return;
    }
    if let Some(address) = engine::engine_address(docker).filter(|a| engine::is_remote(a)) {
        ui::warning_with_hint(&Hinted::new(
            format!(
                "the engine at {} is on another machine: the container's volumes and devices are that machine's \
                 paths, and quarry checked them on this one",
                ui::shown(&address)
            ),
            "mount only what exists on the engine's machine, or run quarry there",
        ));
    }
}

/// `DOCKER_BUILDKIT=1 ` when the engine builds without buildx, `DOCKER_BUILDKIT=0 ` through
/// Podman's socket (what [`execute_build`] sets).
fn build_env_prefix(prepared: &PreparedBuild) -> String {
    match prepared.engine.as_ref().and_then(|e| e.build_env()) {
        Some((name, value)) => format!("{name}={value} "),
        None => String::new(),
    }
}

/// `612 MB`, `4.2 kB`: sizes as people read them (powers of 1000).
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", units[unit]) }
}

/// `quarry clean`: removes every build context quarry keeps (failed and interrupted builds',
/// dry runs', those a killed build left), never a running build's.
pub fn clean_command() -> anyhow::Result<()> {
    let root = context::contexts_root();
    let removed = context::clean(&root);
    let text = if removed.folders == 0 {
        format!("nothing to remove under `{}`\n", root.display())
    } else {
        format!(
            "removed {} build context{} ({}) under `{}`\n",
            removed.folders,
            if removed.folders == 1 { "" } else { "s" },
            human_bytes(removed.bytes),
            root.display()
        )
    };
    output::stdout(text.as_bytes())
}
