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
mod linked;
pub mod output;

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
        args::Invocation::List => list_command(registry),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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

fn render_command(registry: &Registry, render: &args::Render) -> anyhow::Result<()> {
    let rendered = render_request(registry, &render.request)?;
    match &render.output {
        Some(path) => output::write_atomically(path, rendered.dockerfile.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display())),
        None => output::stdout(rendered.dockerfile.as_bytes()),
    }
}

/// Renders for the engine, writes the context and builds; returns the tag.
pub fn build_command(registry: &Registry, mut build: args::Build) -> anyhow::Result<String> {
    let docker = std::env::var("QUARRY_DOCKER").unwrap_or_else(|_| "docker".to_owned());
    let engine = engine::detect(&docker)?;
    let level = engine.level();
    if build.engine_given && build.request.engine < level {
        eprintln!(
            "warning: Docker {} has no `COPY --link` (needs Docker 23+): rendering plain `COPY --from` instead",
            engine.version
        );
        build.request.engine = level;
    } else if !build.engine_given {
        build.request.engine = level;
        if level == quarry_core::EngineLevel::Legacy {
            eprintln!("note: Docker {} has no `COPY --link`: rendering plain `COPY --from`", engine.version);
        }
    }
    if !engine.buildx {
        let missing = build::unsupported_without_buildx(&build.options);
        if !missing.is_empty() {
            anyhow::bail!(
                "{} need docker buildx, which this engine does not have\nhint: install the buildx plugin, or drop {}",
                missing.join(", "),
                missing.join(", ")
            );
        }
    }
    let cache = cache_id::resolve(build.cache_id.as_deref(), &|k| std::env::var(k).ok())?;
    let rendered = render_request(registry, &build.request)?;
    let tag = build.tag.clone().unwrap_or_else(|| build::default_tag(&rendered));
    let context = build::contexts_root().join(tag.replace(['/', ':'], "_"));
    build::write_context(&context, &rendered)
        .with_context(|| format!("cannot write the build context `{}`", context.display()))?;
    eprintln!("note: building `{tag}` with cache id `{}` ({})", cache.value, cache.source);
    let args = build::build_args(&engine, &context, &tag, &cache, &build.options);
    let status = run_streaming(&docker, &args, !engine.buildx)?;
    if !status.0.success() {
        let step = build::failing_step(&status.1).map(|s| format!(" at step `{s}`")).unwrap_or_default();
        let code = status.0.code().map(|c| format!(" (docker exited with code {c})")).unwrap_or_default();
        anyhow::bail!(
            "the build failed{step}{code}\nhint: the build context is kept at `{}`",
            context.display()
        );
    }
    output::stdout(format!("{tag}\n").as_bytes())?;
    Ok(tag)
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
    let mut child = command.spawn().with_context(|| format!("cannot run `{docker}`"))?;
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
        let options: Vec<String> = ext.options.iter().map(|o| format!("{}={}", o.name, o.default)).collect();
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
