//! Project automation, the one entry point for project tasks: `cargo xtask <task>`.
//!
//! - `render [--config FILE]`: render the built-in example configuration (or FILE) to stdout.
//! - `codegen [--check]`: regenerate the catalog, the extension crates the `quarry` binary links
//!   (`catalog/src/lib.rs` and the dependency block of `catalog/Cargo.toml`); `--check` fails when
//!   they are out of date instead of writing.
//! - `new-extension NAME [--dir DIR]`: scaffold an extension crate into `extensions/NAME` (and
//!   link it into the `quarry` binary), or with `--dir` anywhere, as a standalone crate for a
//!   third party (see `docs/EXTENDING.md`).
//! - `bench cache [--scenario A,..] [--layout ..] [--json PATH] [--engine KIND] [--render-only]`:
//!   the cache benchmark (`docs/measurements/cache-bench.md`) on a private Docker engine, which it
//!   starts (as root) when it is not running and stops afterwards.
//! - `bench remote-sim [--projects N] [--weeks N] [--jobs N] [--change-percent N] [--seed N]`:
//!   the shared remote cache's hit rate across a fleet of runners and projects, simulated from
//!   the per-stage reference rule and the cache benchmark's scenario mix (`docs/remote-cache.md`).
//! - `bench cache --remote [--scenario A,..]`: for each scenario, NEW's wall time on a pruned
//!   runner without and with the shared registry cache that OLD's build on another runner
//!   filled, and the registry's growth (engines `26c-rca`, `26c-rcb`, `registry.sh`).
//! - `bench explain`: `quarry explain`'s time for 5k to 40k ARG, ENV and RUN lines, and the ratio
//!   per doubling (linear growth shows as about 2).
//! - `bench render [--runs N] [--quarry PATH]`: the wall time of a whole `quarry` process
//!   (`--version`, and a render of five extensions) next to one that does nothing, on the release
//!   binary it builds (or PATH).
//! - `bench run [--engine KIND] [--runs N] [--quarry PATH]`: a warm `quarry run` against `docker
//!   run` of the same image, and `quarry enter` against `docker exec`, side by side on a private
//!   engine (the release binary it builds, or PATH).
//! - `test`: the whole test suite, as CI runs it. As root, it starts the Docker engines the
//!   engine tests need (see `xtask/engine/`) when they are not running, and stops what it started.

mod bench;
mod bench_explain;
mod bench_remote;
mod bench_render;
mod bench_run;
mod codegen;
mod devcontainer_cli;
mod engine;
mod rocker_venv;
mod scaffold;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let (task, rest) = args.split_first().map(|(t, r)| (t.as_str(), r)).unwrap_or(("help", &[]));
    match task {
        "render" => render(rest),
        "codegen" => match rest {
            [] => codegen::write(&workspace()),
            [flag] if flag == "--check" => codegen::check(&workspace()),
            _ => bail!("usage: cargo xtask codegen [--check]"),
        },
        "new-extension" => scaffold::run(rest),
        "test" => test(rest),
        "bench" if rest.first().is_some_and(|w| w == "explain") => bench_explain::run(&rest[1..]),
        "bench" if rest.first().is_some_and(|w| w == "render") => bench_render::run(&rest[1..]),
        "bench" if rest.first().is_some_and(|w| w == "run") => bench_run::run(&rest[1..]),
        "bench" if rest.first().is_some_and(|w| w == "remote-sim") => bench_remote::run(&rest[1..]),
        "bench" if rest.first().is_some_and(|w| w == "cache") && rest.iter().any(|a| a == "--remote") => {
            bench_remote_cache(&rest[1..])
        }
        "bench" => bench::run(rest),
        "help" | "--help" | "-h" => {
            println!(
                "usage: cargo xtask <render [--config FILE] | codegen [--check] | new-extension NAME [--dir DIR] | test [CARGO TEST ARGS] | bench cache [OPTIONS] | bench explain | bench render [--runs N] [--quarry PATH] | bench run [--engine KIND] [--runs N] | bench remote-sim [OPTIONS]>"
            );
            Ok(())
        }
        other => bail!("unknown task `{other}`\nhint: run `cargo xtask help`"),
    }
}

/// `bench cache --remote [--scenario A,..]`: see `bench_remote::bench`.
fn bench_remote_cache(args: &[String]) -> anyhow::Result<()> {
    let mut ids = bench::Id::ALL.to_vec();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--remote" => {}
            "--scenario" => {
                let list = it.next().context("--scenario needs A,B,..")?;
                ids = list
                    .split(',')
                    .map(|s| bench::Id::parse(s).with_context(|| format!("unknown scenario `{s}`")))
                    .collect::<anyhow::Result<_>>()?;
            }
            other => {
                bail!("usage: cargo xtask bench cache --remote [--scenario A,B,C,D,E] (unknown `{other}`)")
            }
        }
    }
    bench_remote::bench::run(&ids)
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

fn render(args: &[String]) -> anyhow::Result<()> {
    let (text, origin) = match args {
        [] => (quarry_cli::config::EXAMPLE.to_owned(), "example.quarry.toml".to_owned()),
        [flag, file] if flag == "--config" => {
            (std::fs::read_to_string(file).with_context(|| format!("cannot read `{file}`"))?, file.clone())
        }
        _ => bail!("usage: cargo xtask render [--config FILE]"),
    };
    let registry = quarry_cli::registry_with(&[])?;
    let request = quarry_cli::layers::request_from_text(registry, &text, Path::new(&origin))?;
    let rendered = quarry_cli::render_request(registry, &request)?;
    quarry_cli::output::stdout(rendered.dockerfile.as_bytes())
}

/// `cargo xtask test [CARGO TEST ARGS]`: every test with the engines up; arguments, when given,
/// replace `--workspace --all-targets` (`cargo xtask test -p quarry-cli --test engine_project`).
fn test(args: &[String]) -> anyhow::Result<()> {
    codegen::check(&workspace())?;
    let engines = engine::Engines::bring_up()?;
    let rocker = rocker_venv::python();
    let devcontainer = devcontainer_cli::program();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let selection: Vec<String> = if args.is_empty() {
        vec!["--workspace".to_owned(), "--all-targets".to_owned()]
    } else {
        args.to_vec()
    };
    let status = Command::new(cargo)
        .arg("test")
        .args(&selection)
        .envs(engines.test_env())
        .envs(rocker.iter().map(|p| ("QUARRY_TEST_ROCKER_PYTHON", p.as_os_str())))
        .envs(devcontainer.iter().map(|p| ("QUARRY_TEST_DEVCONTAINER", p.as_os_str())))
        .current_dir(workspace())
        .status()
        .context("cannot run cargo test");
    engines.tear_down();
    if !status?.success() {
        bail!("tests failed");
    }
    Ok(())
}
