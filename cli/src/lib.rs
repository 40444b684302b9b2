//! The `quarry` command line as a library, so that `xtask` and third-party binaries that link
//! their own extension crates run exactly the same commands: argument parsing, configuration and
//! output around `quarry-core` (rendering), `quarry-docker` (the engine) and `quarry-catalog`
//! (quarry's extensions, linked).
//!
//! Exit codes: 0 success, 1 user, configuration or build error, 2 usage error (see
//! [`exit`]).

pub mod args;
pub mod config;
mod describe;
pub mod exit;
pub mod explain;
pub mod host;
mod import_deps;
pub mod lock;
pub mod output;
pub mod project;
mod project_ext;
pub mod scaffold;
pub mod ui;

use std::process::ExitCode;

use anyhow::Context;
use quarry_core::{Registry, Rendered, Request};
// The docker side, under the names the CLI's modules use (`crate::build`, `crate::cache_id`, ...).
use quarry_docker::{build, cache_id, engine, interrupt, remote_cache, run, xauth};
pub use {quarry_catalog, quarry_core};

/// Runs the `quarry` command line with the process arguments and quarry's catalog
/// ([`quarry_catalog::LINKED`]). Returns the exit code.
pub fn main() -> ExitCode {
    main_with(&[])
}

/// Runs the `quarry` command line with the process arguments, quarry's catalog and `extensions`,
/// a custom binary's own extension crates. Returns the exit code. A custom binary is:
///
/// ```ignore
/// fn main() -> std::process::ExitCode {
///     quarry_cli::main_with(&[&hello_tool::EXTENSION])
/// }
/// ```
///
/// Naming each crate's `EXTENSION` keeps the linker from dropping the crate; an extension that is
/// named but whose `inventory` registration did not reach the registry is added to it all the same.
pub fn main_with(extensions: &[&'static quarry_core::Extension]) -> ExitCode {
    match registry_with(extensions) {
        Ok(registry) => run(registry, std::env::args_os().collect()),
        Err(e) => exit::report(&anyhow::Error::new(e), exit::FAILURE),
    }
}

/// The registry of quarry's catalog and `extensions`: what [`main_with`] runs with, for
/// `xtask` and tests that render without the command line. Naming the lists keeps their crates
/// in the binary even where nothing else uses them.
pub fn registry_with(
    extensions: &[&'static quarry_core::Extension],
) -> Result<&'static Registry, quarry_core::DuplicateExtension> {
    // Using both lists is what keeps them, and the crates they name, in the binary.
    let (catalog, extensions) = std::hint::black_box((quarry_catalog::LINKED, extensions));
    let registered = quarry_core::registry()?;
    let mut missing: Vec<&'static quarry_core::Extension> = Vec::new();
    for &e in catalog.iter().chain(extensions) {
        if !registered.iter().chain(missing.iter().copied()).any(|r| std::ptr::eq(r, e)) {
            missing.push(e);
        }
    }
    if missing.is_empty() {
        return Ok(registered);
    }
    let registry = Registry::from_extensions(registered.iter().chain(missing))?;
    // One registry per process: it lives as long as the process, as `registry()`'s does.
    Ok(Box::leak(Box::new(registry)))
}

/// Runs the command line `argv` (program name first) with `registry` and the extensions of the
/// project found above the current folder.
pub fn run(registry: &'static Registry, argv: Vec<std::ffi::OsString>) -> ExitCode {
    let registry = match with_project_extensions(registry, &argv) {
        Ok(r) => r,
        Err(e) => return exit::report(&e, exit::FAILURE),
    };
    let args::Parsed { mut invocation, quiet, verbose } = match args::parse(registry, argv) {
        Ok(parsed) => parsed,
        Err(e) => return e.exit(),
    };
    ui::set_level(quiet, verbose);
    // Options may default to host values (`from_host`): read once, here, for the commands that
    // render from the command line.
    match &mut invocation {
        args::Invocation::Render(render) => render.request.host = host::values(),
        args::Invocation::Build(build) => build.request.host = host::values(),
        args::Invocation::Run(run) => run.build.request.host = host::values(),
        _ => {}
    }
    let result = match invocation {
        args::Invocation::Render(render) => render_command(registry, &render),
        args::Invocation::Build(build) => build_command(registry, *build).map(|_| ()),
        args::Invocation::Run(run) => match run_command(registry, *run) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        args::Invocation::Explain(explain) => explain::command(registry, &explain),
        args::Invocation::List(format) => list_command(registry, format),
        args::Invocation::Show(name, format) => show_command(registry, &name, format),
        args::Invocation::ShowConfig => show_config_command(registry),
        args::Invocation::Lock { reorder } => lock_command(registry, reorder),
        args::Invocation::Init { force } => {
            let path = std::path::Path::new(config::PROJECT_FILE);
            project::write_new(path, project::STARTER, force).map(|()| ui::note("wrote `quarry.toml`"))
        }
        args::Invocation::NewExtension { name, dir } => {
            scaffold::project_extension(registry, &name, dir.as_deref())
        }
        args::Invocation::Import { file, output, force } => import_command(registry, &file, &output, force),
        args::Invocation::Completions(shell) => completions(registry, shell),
        args::Invocation::Man(command) => man_page(registry, command.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<interrupt::Interrupted>() => exit::report(&e, exit::INTERRUPTED),
        Err(e) => exit::report(&e, exit::FAILURE),
    }
}

/// `registry` with the project's extensions. Commands that read no project (`init`, `import`,
/// `new-extension`, help, completions, man pages) go on with the catalog when the project's
/// extensions are broken, so that they can still help fix them.
fn with_project_extensions(
    registry: &'static Registry,
    argv: &[std::ffi::OsString],
) -> anyhow::Result<&'static Registry> {
    let Ok(cwd) = std::env::current_dir() else { return Ok(registry) };
    match project_ext::registry(registry, &cwd) {
        Ok(r) => Ok(r),
        Err(e) => {
            let first = argv.get(1).and_then(|a| a.to_str()).unwrap_or("");
            let helps = [
                "init",
                "import",
                "new-extension",
                "completions",
                "man",
                "help",
                "--help",
                "-h",
                "--version",
                "-V",
            ];
            if helps.contains(&first) { Ok(registry) } else { Err(e) }
        }
    }
}

/// Renders, reporting added dependencies and warnings on stderr.
pub fn render_request(registry: &Registry, request: &Request) -> anyhow::Result<Rendered> {
    let rendered = quarry_core::render(registry, request)?;
    for added in &rendered.resolved.added {
        ui::note(&format!("added `{}` (needed by `{}`)", added.name, added.required_by));
    }
    for warning in &rendered.warnings {
        ui::warning(warning);
    }
    Ok(rendered)
}

/// The configuration that applies to a command, and its lock file.
#[derive(Debug)]
pub struct Configured {
    /// The configuration files.
    pub layers: config::Layers,
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
            anyhow::bail!(
                "`{}` does not match the configuration: {why}\nhint: run without --locked to update it, and commit it",
                path.display()
            );
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
    fn write_lock_or_note(&self, lock: Option<lock::Lock>) {
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
    let layers = config::Layers::load(registry, &cwd)?;
    for (role, loaded) in layers.applied() {
        ui::detail(&format!("applying the {role} file `{}`", loaded.path.display()));
    }
    let image_given = !request.image.is_empty();
    layers.apply(request);
    // `dockerfile` of quarry.toml: its image is the final image (unless the command line names one).
    let mut base = None;
    if !image_given && let Some(path) = layers.dockerfile() {
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read the project's Dockerfile `{}`\nhint: fix `dockerfile` of quarry.toml",
                path.display()
            )
        })?;
        let tag = base_tag(&text);
        ui::detail(&format!("the final image is `{tag}`, built from `{}`", path.display()));
        request.image = tag.clone();
        base = Some((path, tag));
    }
    if request.image.is_empty() {
        anyhow::bail!(
            "no image given\nhint: name one (`quarry render ubuntu:24.04 --cargo`), or set `image` in quarry.toml (`quarry init` writes one)"
        );
    }
    let lock = match layers.project.as_ref() {
        None if locked => anyhow::bail!(
            "--locked needs a quarry.toml and its quarry.lock\nhint: `quarry init` writes a quarry.toml"
        ),
        None => None,
        Some(project) => {
            let path = lock::path_for(&project.path);
            layers.check_owner(&path)?;
            let mut old = lock::Lock::read(&path)?;
            for pinned in old.as_mut().map(|o| o.drop_host_values(registry)).unwrap_or_default() {
                ui::warning(&format!(
                    "`{}` pins `{pinned}`, a value quarry takes from the host: it is ignored and dropped from the lock\nhint: set it in quarry.toml's `[options]` to pin it for everyone",
                    path.display()
                ));
            }
            for e in old.iter().flat_map(|o| &o.extensions).filter(|e| registry.get(&e.name).is_none()) {
                ui::warning(&format!(
                    "`{}` names the extension {}, which this quarry does not have: the chain goes on without it and the lock drops it\nhint: if a newer or custom quarry has it, run that one",
                    path.display(),
                    ui::shown(&e.name)
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

fn render_command(registry: &Registry, render: &args::Render) -> anyhow::Result<()> {
    let mut request = render.request.clone();
    let configured = configure(registry, &mut request, render.locked)?;
    let rendered = render_request(registry, &request)?;
    if request.image_config.is_none() {
        ui::detail(
            "the final image's own ENTRYPOINT and CMD are not known here: quarry's entrypoint assumes none \
             (`quarry build` reads them from the engine and records them in quarry.lock)",
        );
    }
    // The Dockerfile first: a lock is never written for a render that failed.
    let lock = configured.check_lock(&rendered, &request)?;
    match &render.output {
        Some(path) => output::write_atomically(path, rendered.dockerfile.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?,
        None => output::stdout(rendered.dockerfile.as_bytes())?,
    }
    configured.write_lock_or_note(lock);
    Ok(())
}

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
    /// `docker` arguments that build it.
    pub args: Vec<String>,
    /// The `docker build` of the project's Dockerfile base, run first (`dockerfile`).
    pub base_args: Option<Vec<String>>,
    /// Extra `docker run` arguments from the configuration files.
    pub run_args: Vec<String>,
    /// The remote cache: imported by `args`, exported after a successful build.
    pub remote: Option<remote_cache::RemotePlan>,
}

/// Detects the engine, renders for it, writes the context and composes the build command.
/// With `dry_run`, a missing engine is assumed modern with buildx, and nothing is written.
pub fn prepare_build(
    registry: &Registry,
    mut build: args::Build,
    dry_run: bool,
) -> anyhow::Result<PreparedBuild> {
    if let Some(tag) = &build.tag {
        build::check_tag(tag)?;
    }
    let docker = std::env::var("QUARRY_DOCKER").unwrap_or_else(|_| "docker".to_owned());
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
    };
    let effective = engine.clone().unwrap_or(assumed);
    let level = effective.level();
    if build.request.engine < level {
        ui::warning(&format!(
            "Docker {} has no `COPY --link` (needs Docker 23+): rendering plain `COPY --from` instead",
            effective.version
        ));
        build.request.engine = level;
    } else if !build.engine_given {
        build.request.engine = level;
        if level == quarry_core::EngineLevel::Legacy {
            ui::note(&format!(
                "Docker {} has no `COPY --link`: rendering plain `COPY --from`",
                effective.version
            ));
        }
    }
    if !effective.buildx {
        let missing = build::unsupported_without_buildx(&build.options);
        if !missing.is_empty() {
            anyhow::bail!(
                "{} need docker buildx, which this engine does not have\nhint: install the buildx plugin, or drop {}",
                missing.join(", "),
                missing.join(", ")
            );
        }
    }
    if let (Some(builder), Some(_)) = (&build.options.builder, &engine) {
        let info = engine::builder_info(&docker, Some(builder));
        if let Some(problem) =
            engine::builder_problem(builder, &info, engine::current_context(&docker).as_deref())
        {
            anyhow::bail!(problem);
        }
    }
    let configured = configure(registry, &mut build.request, build.locked)?;
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
        let legacy = engine.as_ref().is_some_and(|e| !e.buildx);
        let (status, _) = build::run_streaming(&docker, args, legacy)?;
        if !status.success() {
            let code = status.code().map(|c| format!(" (docker exited with code {c})")).unwrap_or_default();
            anyhow::bail!(
                "the build of the project's Dockerfile failed{code}\nhint: `{}` must build on its own: try it with `docker build`",
                configured.base.as_ref().map(|(p, _)| p.display().to_string()).unwrap_or_default()
            );
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
    let lock = configured.check_lock(&rendered, &build.request)?;
    if !dry_run {
        configured.write_lock_or_note(lock);
    }
    let tag = build.tag.clone().unwrap_or_else(|| build::default_tag(&rendered));
    let root = build::contexts_root();
    // A dry run writes the context too, so the printed command works when pasted; it is kept.
    let context = build::write_build_context(&root, &tag, &rendered)
        .with_context(|| format!("cannot write the build context under `{}`", root.display()))?;
    if dry_run {
        ui::note(&format!(
            "dry run: the build context is written to `{}` and kept for the printed command",
            context.display()
        ));
    } else {
        ui::note(&format!("building `{tag}` with cache id `{}` ({})", cache.value, cache.source));
        ui::detail(&format!("build context `{}`", context.display()));
    }
    let remote =
        remote_cache_plan(&docker, &build, layers, engine.as_ref(), &effective, &cache, &rendered, dry_run)?;
    if let Some(plan) = &remote {
        build.options.cache_from.extend(plan.imports());
    }
    let args = build::build_args(&effective, &context, &tag, &cache, &build.options);
    Ok(PreparedBuild {
        docker,
        engine,
        rendered,
        tag,
        context,
        args,
        base_args,
        run_args: layers.run_args(),
        remote,
    })
}

/// The project's name for its moving cache reference: the folder of its quarry.toml, else of the
/// current folder (a repository checked out on any runner keeps its folder's name).
fn project_name(layers: &config::Layers) -> Option<String> {
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
    layers: &config::Layers,
    engine: Option<&engine::Engine>,
    effective: &engine::Engine,
    cache: &cache_id::CacheId,
    rendered: &Rendered,
    dry_run: bool,
) -> anyhow::Result<Option<remote_cache::RemotePlan>> {
    let (configured, insecure) = layers.cache_registry();
    let Some(text) = build.cache_registry.clone().or(configured) else { return Ok(None) };
    let repo = remote_cache::CacheRepo::parse(&text).map_err(|e| anyhow::anyhow!(e))?;
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
/// after a failure.
pub fn execute_build(prepared: &PreparedBuild) -> anyhow::Result<()> {
    let legacy = prepared.engine.as_ref().is_some_and(|e| !e.buildx);
    build::execute(
        &prepared.docker,
        &prepared.args,
        &prepared.context,
        legacy,
        prepared.remote.as_ref(),
        &ui::show,
    )
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

/// `quarry run`: builds (the layer cache makes an unchanged image instant), then runs the
/// container; returns the container's exit code.
pub fn run_command(registry: &Registry, run: args::Run) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    let dry_run = run.build.dry_run;
    let prepared = prepare_build(registry, run.build, dry_run)?;
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let mut extra = prepared.run_args.clone();
    for file in &run.env_files {
        let path = cwd.join(file);
        if !path.is_file() {
            anyhow::bail!(
                "the env file `{}` does not exist\nhint: name a file of `NAME=value` lines",
                file.display()
            );
        }
        extra.push(format!("--env-file={}", path.display()));
    }
    extra.extend(run.run_args.iter().cloned());
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
            None => {
                ui::warning(
                    "no folder for the X authority cookie (`XDG_RUNTIME_DIR` and `HOME` are not set)",
                );
                None
            }
            Some(file) if dry_run => Some((xauth::shell_line(display, &file), file)),
            Some(file) => match xauth::make_cookie(display, &file) {
                Ok(()) => Some((String::new(), file)),
                Err(why) => {
                    ui::warning(&format!(
                        "no X authority cookie for the container: {why}\nhint: install `xauth` on the host, or allow the container's connections with `xhost +local:`"
                    ));
                    None
                }
            },
        },
    };
    let options = run::RunOptions {
        interactive: std::io::stdin().is_terminal(),
        extra,
        command: run.command,
        cwd,
        host_groups: host::supplementary_groups(),
        xauthority: cookie.as_ref().map(|(_, file)| file.display().to_string()),
    };
    let run_args =
        run::run_args(&prepared.rendered, &prepared.tag, &options, &|k| std::env::var(k).ok(), &ui::show)?;
    if dry_run {
        let make_cookie = cookie.map(|(line, _)| format!("{line}\n")).unwrap_or_default();
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
    execute_build(&prepared)?;
    ui::detail(&run::shell_line(&prepared.docker, &run_args));
    let status = std::process::Command::new(&prepared.docker)
        .args(&run_args)
        .status()
        .with_context(|| format!("cannot run `{}`", prepared.docker))?;
    Ok(status.code().map_or(exit::FAILURE, |c| u8::try_from(c).unwrap_or(exit::FAILURE)))
}

/// The build of the project's Dockerfile base, as a line of its own, for `--dry-run`.
fn base_line(prepared: &PreparedBuild) -> String {
    match &prepared.base_args {
        Some(args) => format!("{}{}\n", build_env_prefix(prepared), run::shell_line(&prepared.docker, args)),
        None => String::new(),
    }
}

/// `DOCKER_BUILDKIT=1 ` when the engine builds without buildx (what [`execute_build`] sets).
fn build_env_prefix(prepared: &PreparedBuild) -> &'static str {
    if prepared.engine.as_ref().is_some_and(|e| !e.buildx) { "DOCKER_BUILDKIT=1 " } else { "" }
}

fn list_command(registry: &Registry, format: args::Format) -> anyhow::Result<()> {
    if format == args::Format::Json {
        let all: Vec<serde_json::Value> = registry.iter().map(describe::json).collect();
        return output::stdout(format!("{}\n", serde_json::to_string_pretty(&all)?).as_bytes());
    }
    let mut out = String::new();
    // The catalog's names fit 15 columns; a project's own may be longer.
    let width = registry.iter().map(|e| e.name.len()).max().unwrap_or(0).max(15);
    out.push_str(&format!("{:<width$} PRIORITY  BUILDER BASE            OPTIONS (default)\n", "NAME"));
    for ext in registry.iter() {
        out.push_str(&format!(
            "{:<width$} {:>8}  {:<23} {}\n",
            ext.name,
            ext.cache_priority,
            describe::builder_base(ext),
            describe::options_line(ext)
        ));
    }
    output::stdout(out.as_bytes())
}

fn show_command(registry: &Registry, name: &str, format: args::Format) -> anyhow::Result<()> {
    let Some(ext) = registry.get(name) else {
        return Err(quarry_core::Error::UnknownExtension {
            name: name.to_owned(),
            suggestion: registry.suggest(name).map(str::to_owned),
        }
        .into());
    };
    let text = match format {
        args::Format::Json => format!("{}\n", serde_json::to_string_pretty(&describe::json(ext))?),
        args::Format::Text => describe::text(ext),
    };
    output::stdout(text.as_bytes())
}

/// `quarry show-config`: the files that apply, in merge order, as comments, then the merged
/// configuration as TOML.
/// `quarry lock [--reorder]`.
fn lock_command(registry: &Registry, reorder: bool) -> anyhow::Result<()> {
    let mut request = Request { host: host::values(), ..Request::default() };
    let configured = configure(registry, &mut request, false)?;
    if !configured.has_project() {
        anyhow::bail!(
            "there is no quarry.toml here or in a parent folder, so there is no lock\nhint: `quarry init` writes one"
        );
    }
    let current = render_request(registry, &request)?;
    let rendered = if reorder {
        let canonical_request = Request { locked_order: None, ..request.clone() };
        let canonical = quarry_core::render(registry, &canonical_request)?;
        if canonical.dockerfile == current.dockerfile {
            ui::note("the chain is already in the canonical order");
        } else {
            let order: Vec<&str> = canonical.resolved.extensions.iter().map(|r| r.extension.name).collect();
            let cost =
                explain::compare_rendered(&current, &canonical, quarry_buildkit::explain::Store::Containerd)?;
            let rerun: Vec<String> = cost
                .steps
                .iter()
                .filter(|s| !s.reused && !s.linked_copy_cached)
                .map(|s| {
                    let first = s.text.lines().next().unwrap_or_default().trim_end_matches(['\\', ' ']);
                    format!("  [{} {}/{}] {first}", s.stage, s.position, s.stage_steps)
                })
                .collect();
            let merges = cost.reused_counting_linked_copies - cost.reused;
            output::stdout(
                format!(
                    "canonical order: {}\nthe next build runs {} of {} steps again, and merges {merges} linked copies again (containerd image store):\n{}\n",
                    order.join(", "),
                    rerun.len(),
                    cost.total,
                    rerun.join("\n")
                )
                .as_bytes(),
            )?;
        }
        request.locked_order = None;
        canonical
    } else {
        current
    };
    match configured.check_lock(&rendered, &request)? {
        Some(lock) => configured.write_lock(&lock),
        None => {
            ui::note("quarry.lock is up to date");
            Ok(())
        }
    }
}

fn show_config_command(registry: &Registry) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let layers = config::Layers::load(registry, &cwd)?;
    let mut out =
        String::from("# Files that apply, lowest precedence first (the command line wins over all):\n");
    let applied = layers.applied();
    if applied.is_empty() {
        out.push_str("#   none\n");
    }
    for (role, loaded) in &applied {
        out.push_str(&format!("#   {role:<8} {}\n", ui::quoted(&loaded.path.display().to_string())));
    }
    if let Some(project) = &layers.project {
        let lock = lock::path_for(&project.path);
        if lock.is_file() {
            layers.check_owner(&lock)?;
            out.push_str(&format!("#   {:<8} {}\n", "lock", ui::quoted(&lock.display().to_string())));
        }
    }
    let safe = layers.safe_directories();
    if !safe.is_empty() {
        let listed: Vec<String> = safe.iter().map(|d| ui::quoted(d)).collect();
        out.push_str(&format!("# Safe directories: {}\n", listed.join(", ")));
    }
    out.push_str("\n# The merged configuration:\n");
    out.push_str(&layers.effective().to_string());
    output::stdout(out.as_bytes())
}

fn import_command(
    registry: &Registry,
    file: &std::path::Path,
    out: &std::path::Path,
    force: bool,
) -> anyhow::Result<()> {
    let yaml = project::read_input(file)?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let imported = if name.ends_with(".deps.yaml") || name == "deps.yaml" {
        // Its scripts are relative to its folder; quarry.toml's, to the current one.
        let dir =
            file.parent().filter(|p| p.is_relative()).map(|p| p.display().to_string()).unwrap_or_default();
        let deps = import_deps::DepsFile { shown: file.display().to_string(), dir, yaml };
        project::import_deps(registry, deps)?
    } else {
        // deps_rocker's `deps` reads every `*.deps.yaml` below the folder it runs in.
        let folder = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let mut deps = Vec::new();
        for (shown, dir, path) in import_deps::find(folder)? {
            deps.push(import_deps::DepsFile { shown, dir, yaml: project::read_input(&path)? });
        }
        project::import_rockerc_with_deps(registry, &yaml, &file.display().to_string(), &deps)?
    };
    project::write_new(out, &imported.toml, force)?;
    for s in &imported.skipped {
        ui::warning(&format!("not converted: {s}"));
    }
    ui::note(&format!("wrote `{}`", out.display()));
    Ok(())
}

fn completions(registry: &Registry, shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = args::command_for_completions(registry).map_err(|e| anyhow::anyhow!(e))?;
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command, "quarry", &mut buf);
    output::stdout(&buf)
}

/// quarry(1), or the page of one command, `quarry-render(1)`, which quarry(1) refers to.
fn man_page(registry: &Registry, name: Option<&str>) -> anyhow::Result<()> {
    let command = args::command_for_completions(registry).map_err(|e| anyhow::anyhow!(e))?;
    let command = match name {
        None => command,
        Some(name) => {
            let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            let Some(sub) = command.find_subcommand(name) else {
                let hint = quarry_core::suggest_closest(name, names.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                anyhow::bail!(
                    "there is no command `{name}`\nhint: {hint}the commands are {}",
                    names.join(", ")
                );
            };
            sub.clone()
                .name(format!("quarry-{name}"))
                .version(command.get_version().unwrap_or_default().to_owned())
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(command).render(&mut buf)?;
    output::stdout(&buf)
}
