//! The `quarry` command line as a library, so that `xtask` and third-party binaries that link
//! their own extension crates run exactly the same commands: argument parsing, configuration and
//! output around `quarry-core` (rendering), `quarry-docker` (the engine) and `quarry-catalog`
//! (quarry's extensions, linked).
//!
//! Exit codes: 0 success, 1 user, configuration or build error, 2 usage error (see
//! [`exit`]).

pub mod args;
mod build_run;
mod commands;
pub mod config;
mod configured;
mod describe;
mod dev_container;
pub mod exit;
pub mod explain;
mod graph;
pub mod host;
mod import_deps;
pub mod layers;
pub mod lock;
pub mod output;
mod podman;
pub mod project;
mod project_ext;
mod project_files;
pub mod rocker;
mod rocker_commands;
pub mod scaffold;
pub mod ui;
mod verify;
mod yaml;

use std::process::ExitCode;

use quarry_core::Registry;
use quarry_docker::interrupt;

pub use build_run::{PreparedBuild, build_command, execute_build, prepare_build, run_command};
use commands::{
    completions, import_command, list_command, lock_command, man_page, render_command, show_command,
    show_config_command,
};
pub use configured::{Configured, base_tag, configure, render_request};
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
pub fn run(registry: &'static Registry, mut argv: Vec<std::ffi::OsString>) -> ExitCode {
    // Through a link named `rocker` or `rockerc`, the program is that command of quarry's.
    let program = argv.first().map(|a| std::path::Path::new(a).file_name().unwrap_or_default().to_owned());
    if let Some(name) = program.filter(|n| n == "rocker" || n == "rockerc") {
        argv.insert(1, name);
    }
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
        args::Invocation::Up(up) => up.build.request.host = host::values(),
        _ => {}
    }
    let result = match invocation {
        args::Invocation::Render(render) => render_command(registry, &render),
        args::Invocation::Build(build) => build_command(registry, *build).map(|_| ()),
        args::Invocation::Run(run) => match run_command(registry, *run) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        args::Invocation::Up(up) => dev_container::up_command(registry, *up),
        args::Invocation::Enter(command) => match dev_container::enter_command(registry, command) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        args::Invocation::Stop => dev_container::stop_command(registry),
        args::Invocation::Down => dev_container::down_command(registry),
        args::Invocation::Ps => dev_container::ps_command(registry),
        args::Invocation::Rocker(line) => match rocker_commands::rocker_command(registry, &line) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        args::Invocation::Rockerc(line) => match rocker_commands::rockerc_command(registry, &line) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        args::Invocation::Explain(explain) => explain::command(registry, &explain),
        args::Invocation::Why => verify::why_command(
            crate::layers::Layers::load(registry, &std::env::current_dir().unwrap_or_default())
                .ok()
                .and_then(|l| l.project.map(|p| p.path))
                .as_deref(),
        ),
        args::Invocation::Graph(graph) => graph::command(registry, &graph),
        args::Invocation::List(format) => list_command(registry, format),
        args::Invocation::Show(name, format) => show_command(registry, &name, format),
        args::Invocation::ShowConfig => show_config_command(registry),
        args::Invocation::Clean => build_run::clean_command(),
        args::Invocation::Lock { reorder } => lock_command(registry, reorder),
        args::Invocation::Init { force } => {
            let path = std::path::Path::new(config::PROJECT_FILE);
            project::write_new(path, config::STARTER, force).map(|()| ui::note("wrote `quarry.toml`"))
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
