//! The `quarry` command line as a library, so that `xtask` and third-party binaries that link
//! their own extension crates run exactly the same commands.
//!
//! Exit codes: 0 success, 1 user, configuration or build error, 2 usage error (see
//! [`exit`]).

pub mod args;
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
