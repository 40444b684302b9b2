//! The `quarry` command line as a library, so that `xtask` and third-party binaries that link
//! their own extension crates run exactly the same commands.
//!
//! Exit codes: 0 success, 1 user, configuration or build error, 2 usage error (see
//! [`exit`]).

pub mod args;
pub mod build;
pub mod cache_id;
pub mod config;
pub mod engine;
pub mod exit;
pub mod host;
mod interrupt;
mod linked;
pub mod output;
pub mod run;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use quarry_core::{Registry, Rendered, Request};

pub use linked::LINKED;

/// Runs the `quarry` command line with the process arguments and the extensions linked into this
/// binary. Returns the exit code.
pub fn main() -> ExitCode {
    let registry = match quarry_core::registry() {
        Ok(r) => r,
        Err(e) => return exit::report(&anyhow::Error::new(e), exit::FAILURE),
    };
    run(registry, std::env::args_os().collect())
}

/// Runs the command line `argv` (program name first) with `registry`.
pub fn run(registry: &Registry, argv: Vec<std::ffi::OsString>) -> ExitCode {
    let invocation = match args::parse(registry, argv) {
        Ok(invocation) => invocation,
        Err(e) => return e.exit(),
    };
    let result = match invocation {
        args::Invocation::Render(render) => render_command(registry, &render),
        args::Invocation::Build(build) => build_command(registry, *build).map(|_| ()),
        args::Invocation::Run(run) => match run_command(registry, *run) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        args::Invocation::List => list_command(registry),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<interrupt::Interrupted>() => exit::report(&e, exit::INTERRUPTED),
        Err(e) => exit::report(&e, exit::FAILURE),
    }
}

/// Renders, reporting added dependencies and warnings on stderr.
pub fn render_request(registry: &Registry, request: &Request) -> anyhow::Result<Rendered> {
    let rendered = quarry_core::render(registry, request)?;
    let mut stderr = std::io::stderr().lock();
    for added in &rendered.resolved.added {
        let _ = writeln!(stderr, "note: added `{}` (needed by `{}`)", added.name, added.required_by);
    }
    for warning in &rendered.warnings {
        let _ = writeln!(stderr, "warning: {warning}");
    }
    Ok(rendered)
}

/// Merges the configuration files under what the command line gave, and checks an image is set.
fn configure(registry: &Registry, request: &mut Request) -> anyhow::Result<config::Layers> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let layers = config::Layers::load(registry, &cwd)?;
    layers.apply(request);
    if request.image.is_empty() {
        anyhow::bail!(
            "no image given\nhint: name one (`quarry render ubuntu:24.04 --cargo`), or set `image` in quarry.toml (`quarry init` writes one)"
        );
    }
    Ok(layers)
}

fn render_command(registry: &Registry, render: &args::Render) -> anyhow::Result<()> {
    let mut request = render.request.clone();
    configure(registry, &mut request)?;
    let rendered = render_request(registry, &request)?;
    match &render.output {
        Some(path) => output::write_atomically(path, rendered.dockerfile.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display())),
        None => output::stdout(rendered.dockerfile.as_bytes()),
    }
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
    /// Extra `docker run` arguments from the configuration files.
    pub run_args: Vec<String>,
}

/// Detects the engine, renders for it, writes the context and composes the build command.
/// With `dry_run`, a missing engine is assumed modern with buildx, and nothing is written.
pub fn prepare_build(
    registry: &Registry,
    mut build: args::Build,
    dry_run: bool,
) -> anyhow::Result<PreparedBuild> {
    let docker = std::env::var("QUARRY_DOCKER").unwrap_or_else(|_| "docker".to_owned());
    let engine = match engine::detect(&docker) {
        Ok(engine) => Some(engine),
        Err(e) if dry_run => {
            eprintln!(
                "note: {}; assuming Docker 26 with buildx for the dry run",
                e.to_string().lines().next().unwrap_or_default()
            );
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
        eprintln!(
            "warning: Docker {} has no `COPY --link` (needs Docker 23+): rendering plain `COPY --from` instead",
            effective.version
        );
        build.request.engine = level;
    } else if !build.engine_given {
        build.request.engine = level;
        if level == quarry_core::EngineLevel::Legacy {
            eprintln!(
                "note: Docker {} has no `COPY --link`: rendering plain `COPY --from`",
                effective.version
            );
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
    let layers = configure(registry, &mut build.request)?;
    layers.apply_build(&mut build.options);
    let cache = cache_id::resolve(
        build.cache_id.as_deref(),
        &|k| std::env::var(k).ok(),
        layers.cache_id().as_deref(),
    )?;
    let rendered = render_request(registry, &build.request)?;
    let tag = build.tag.clone().unwrap_or_else(|| build::default_tag(&rendered));
    let context = build::contexts_root().join(tag.replace(['/', ':'], "_"));
    if !dry_run {
        build::write_context(&context, &rendered)
            .with_context(|| format!("cannot write the build context `{}`", context.display()))?;
        eprintln!("note: building `{tag}` with cache id `{}` ({})", cache.value, cache.source);
    }
    let args = build::build_args(&effective, &context, &tag, &cache, &build.options);
    Ok(PreparedBuild { docker, engine, rendered, tag, context, args, run_args: layers.run_args() })
}

/// Runs a prepared build.
pub fn execute_build(prepared: &PreparedBuild) -> anyhow::Result<()> {
    let legacy = prepared.engine.as_ref().is_some_and(|e| !e.buildx);
    let (status, tail) = run_streaming(&prepared.docker, &prepared.args, legacy)?;
    if status.success() {
        return Ok(());
    }
    if interrupt::happened() || interrupted(&status) {
        return Err(interrupt::Interrupted { context: prepared.context.clone() }.into());
    }
    if let Some(image) = missing_image(&tail) {
        anyhow::bail!(
            "the image `{image}` is not available on this engine and cannot be pulled\nhint: build or load it first \
             (`docker load`, `docker import`), or name an image that `docker images` lists"
        );
    }
    let step = build::failing_step(&tail).map(|s| format!(" at step `{s}`")).unwrap_or_default();
    let code = status.code().map(|c| format!(" (docker exited with code {c})")).unwrap_or_default();
    anyhow::bail!(
        "the build failed{step}{code}\nhint: the build context is kept at `{}`",
        prepared.context.display()
    )
}

/// The image a build could not find or pull, read from BuildKit's error.
fn missing_image(tail: &str) -> Option<String> {
    let line = tail.lines().rev().find(|l| l.contains("failed to resolve source metadata for "))?;
    let rest = line.split("failed to resolve source metadata for ").nth(1)?;
    let image = rest.split(':').take(2).collect::<Vec<_>>().join(":");
    let image = image.trim_start_matches("docker.io/").trim_start_matches("library/");
    Some(image.to_owned())
}

fn interrupted(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(2) || status.code() == Some(130)
}

/// `quarry build`: prepares and runs the build, prints the tag.
pub fn build_command(registry: &Registry, build: args::Build) -> anyhow::Result<String> {
    let prepared = prepare_build(registry, build, false)?;
    execute_build(&prepared)?;
    output::stdout(format!("{}\n", prepared.tag).as_bytes())?;
    Ok(prepared.tag)
}

/// `quarry run`: builds (the layer cache makes an unchanged image instant), then runs the
/// container; returns the container's exit code.
pub fn run_command(registry: &Registry, run: args::Run) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    let prepared = prepare_build(registry, run.build, run.dry_run)?;
    let options = run::RunOptions {
        interactive: std::io::stdin().is_terminal(),
        extra: prepared.run_args.clone(),
        command: run.command,
    };
    let run_args = run::run_args(&prepared.rendered, &prepared.tag, &options, &|k| std::env::var(k).ok())?;
    if run.dry_run {
        let text = format!(
            "{}\n{}\n",
            run::shell_line(&prepared.docker, &prepared.args),
            run::shell_line(&prepared.docker, &run_args)
        );
        output::stdout(text.as_bytes())?;
        return Ok(0);
    }
    execute_build(&prepared)?;
    let status = std::process::Command::new(&prepared.docker)
        .args(&run_args)
        .status()
        .with_context(|| format!("cannot run `{}`", prepared.docker))?;
    Ok(status.code().map_or(exit::FAILURE, |c| u8::try_from(c).unwrap_or(exit::FAILURE)))
}

/// Runs `docker args`, passing its stderr through while keeping the last lines to read the
/// failing step from.
fn run_streaming(
    docker: &str,
    args: &[String],
    legacy_buildkit: bool,
) -> anyhow::Result<(std::process::ExitStatus, String)> {
    use std::io::BufRead;
    let mut command = std::process::Command::new(docker);
    command.args(args).stdout(std::process::Stdio::inherit()).stderr(std::process::Stdio::piped());
    if legacy_buildkit {
        command.env("DOCKER_BUILDKIT", "1");
    }
    interrupt::install();
    let mut child = command.spawn().with_context(|| format!("cannot run `{docker}`"))?;
    interrupt::watch(child.id());
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    if let Some(stderr) = child.stderr.take() {
        let mut err = std::io::stderr();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(err, "{line}");
            tail.push_back(line);
            if tail.len() > 400 {
                tail.pop_front();
            }
        }
    }
    let status = child.wait()?;
    interrupt::watch(0);
    Ok((status, tail.into_iter().collect::<Vec<_>>().join("\n")))
}

fn list_command(registry: &Registry) -> anyhow::Result<()> {
    let mut out = String::new();
    out.push_str("NAME          PRIORITY  BUILDER BASE            OPTIONS (default)\n");
    for ext in registry.iter() {
        let base = match &ext.builder {
            None => "-".to_owned(),
            Some(b) => {
                let image = ext.builder_base_image.unwrap_or(quarry_core::DEFAULT_BUILDER_BASE_IMAGE);
                if b.shared_base { format!("{image} (shared)") } else { image.to_owned() }
            }
        };
        let options: Vec<String> = ext
            .options
            .iter()
            .map(|o| match (o.required, o.from_host) {
                (true, _) => format!("{}=(required)", o.name),
                (false, Some(h)) => format!("{}=(host {}, else {})", o.name, h.key(), o.default),
                (false, None) => format!("{}={}", o.name, o.default),
            })
            .collect();
        out.push_str(&format!(
            "{:<13} {:>8}  {:<23} {}\n",
            ext.name,
            ext.cache_priority,
            base,
            if options.is_empty() { "-".to_owned() } else { options.join(" ") }
        ));
    }
    output::stdout(out.as_bytes())
}
