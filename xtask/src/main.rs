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
//! - `bench podman [--scenario A,..]`: the cache benchmark's scenarios (default A) in quarry's
//!   layout on Podman next to Docker 26: the steps of NEW's rebuild each engine reused.
//! - `test [--engines LIST] [--no-images] [CARGO TEST ARGS]`: the whole test suite, as CI runs
//!   it. As root, it starts the Docker engines and registries the engine tests need (see
//!   `xtask/engine/`; everything in one folder, `QUARRY_ENGINE_CACHE`) when they are not running,
//!   and stops what it started, also when SIGINT, SIGTERM or SIGHUP ends the run (exit 128 + the
//!   signal).

mod bench;
mod bench_explain;
mod bench_podman;
mod bench_remote;
mod bench_render;
mod bench_run;
mod codegen;
mod devcontainer_cli;
mod engine;
mod interrupt;
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
            interrupt::say(&format!("error: {e:#}"));
            match e.downcast_ref::<interrupt::Interrupted>() {
                Some(interrupted) => ExitCode::from(interrupted.exit_code()),
                None => ExitCode::FAILURE,
            }
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
        "bench" if rest.first().is_some_and(|w| w == "podman") => bench_podman::run(&rest[1..]),
        "bench" if rest.first().is_some_and(|w| w == "remote-sim") => bench_remote::run(&rest[1..]),
        "bench" if rest.first().is_some_and(|w| w == "cache") && rest.iter().any(|a| a == "--remote") => {
            bench_remote_cache(&rest[1..])
        }
        "bench" => bench::run(rest),
        "help" | "--help" | "-h" => {
            println!(
                "usage: cargo xtask <render [--config FILE] | codegen [--check] | new-extension NAME [--dir DIR] | test [--engines LIST] [--no-images] [CARGO TEST ARGS] | bench cache [OPTIONS] | bench explain | bench render [--runs N] [--quarry PATH] | bench run [--engine KIND] [--runs N] | bench podman [--scenario A,..] | bench remote-sim [OPTIONS]>"
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

/// `cargo test` with `selection` (its own arguments, perhaps `-- TEST ARGS` too), and
/// `--include-ignored` for the test binaries when asked.
fn cargo_test_args(selection: &[String], include_ignored: bool) -> Vec<String> {
    let mut args = vec!["test".to_owned()];
    args.extend(selection.iter().cloned());
    if include_ignored {
        if !selection.iter().any(|a| a == "--") {
            args.push("--".to_owned());
        }
        args.push("--include-ignored".to_owned());
    }
    args
}

/// `cargo xtask test [--engines LIST] [--no-images] [CARGO TEST ARGS]`: every test with the
/// engines up; arguments, when given, replace `--workspace --all-targets` (`cargo xtask test -p
/// quarry-cli --test engine_project`). `--engines` names what to start instead of every engine
/// and registry (`engine::parse`), `--no-images` skips the base images.
///
/// SIGINT, SIGTERM and SIGHUP are caught from the start: `cargo test` (in a process group of its
/// own) and its tests are stopped, then whatever this run started, and the exit code is 128 +
/// the signal (130 for Ctrl-C). The engines are stopped on success and failure alike.
fn test(args: &[String]) -> anyhow::Result<()> {
    let mut wanted = engine::all();
    let mut images = true;
    let mut rest = args;
    loop {
        match rest {
            [flag, list, tail @ ..] if flag == "--engines" => {
                wanted = engine::parse(list)?;
                rest = tail;
            }
            [flag, tail @ ..] if flag == "--no-images" => {
                images = false;
                rest = tail;
            }
            [flag] if flag == "--engines" => {
                bail!("`--engines` needs a list\nhint: `--engines MODERN,LEGACY` or `none`")
            }
            _ => break,
        }
    }
    codegen::check(&workspace())?;
    // The peers the differential tests run against, installed into target/ when missing.
    let rocker = rocker_venv::python();
    let devcontainer = devcontainer_cli::program();
    let signals = interrupt::Signals::catch()?;
    let mut engines = engine::Engines::default();
    let result = engines.bring_up(&wanted, images, &signals).and_then(|()| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let selection: Vec<String> = if rest.is_empty() {
            vec!["--workspace".to_owned(), "--all-targets".to_owned()]
        } else {
            rest.to_vec()
        };
        // The tests that need an engine, root or a tool are `#[ignore]`d: plain `cargo test`
        // lists them as ignored. They run when everything they need is here (the engines and
        // registries `--engines` names, and their tools), and always under CI, where one that
        // finds its engine or tool missing fails instead of being skipped.
        let mut missing = engines.missing(&wanted);
        if rocker.is_none() {
            missing.push("QUARRY_TEST_ROCKER_PYTHON".to_owned());
        }
        if devcontainer.is_none() {
            missing.push("QUARRY_TEST_DEVCONTAINER".to_owned());
        }
        if Command::new("xauth").arg("-V").output().is_err() {
            missing.push("`xauth` (apt-get install xauth)".to_owned());
        }
        if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0") {
            missing.push("root".to_owned());
        }
        let ci = std::env::var("CI").as_deref() == Ok("true");
        let include_ignored = missing.is_empty() || ci;
        if !include_ignored {
            eprintln!(
                "xtask: the ignored tests (engines, root, rocker, the devcontainer CLI, xauth) do not run, for want of: {}; \
                 `cargo test` lists them as ignored",
                missing.join(", ")
            );
        }
        let mut command = Command::new(cargo);
        // In a background process group a read of the terminal would stop it (SIGTTIN).
        command
            .args(cargo_test_args(&selection, include_ignored))
            .envs(engines.test_env())
            .envs(rocker.iter().map(|p| ("QUARRY_TEST_ROCKER_PYTHON", p.as_os_str())))
            .envs(devcontainer.iter().map(|p| ("QUARRY_TEST_DEVCONTAINER", p.as_os_str())))
            .current_dir(workspace())
            .stdin(std::process::Stdio::null());
        let (status, _) = interrupt::run(&mut command, Some(&signals), "INT")?;
        if !status.success() {
            bail!("tests failed");
        }
        Ok(())
    });
    engines.tear_down();
    // A signal during the tear-down still ends the run as interrupted.
    match (result, signals.check()) {
        (Err(e), _) if e.is::<interrupt::Interrupted>() => Err(e),
        (_, Err(interrupted)) => Err(interrupted.into()),
        (result, Ok(())) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::cargo_test_args;

    fn args(selection: &[&str], include_ignored: bool) -> Vec<String> {
        cargo_test_args(&selection.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), include_ignored)
    }

    /// The ignored tests run only when asked, and the test binaries get the flag after `--`, the
    /// caller's own or one of its own.
    #[test]
    fn ignored_tests_are_included_only_when_asked() {
        assert_eq!(args(&["--workspace"], false), ["test", "--workspace"]);
        assert_eq!(args(&["--workspace"], true), ["test", "--workspace", "--", "--include-ignored"]);
        assert_eq!(
            args(&["-p", "x", "--", "engine"], true),
            ["test", "-p", "x", "--", "engine", "--include-ignored"]
        );
    }
}
