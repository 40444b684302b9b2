//! `cargo xtask bench run [--engine KIND] [--runs N] [--quarry PATH]`: the daily loop's cost next
//! to the engine's own commands, side by side on one private engine: a warm `quarry run` of an
//! unchanged project against `docker run` of the same image, and `quarry enter` into the running
//! dev container against `docker exec`. Medians of N interleaved runs, and their ratios (the
//! figure to watch: 1.0 is the engine's own cost).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::bench::BenchEngine;

const USAGE: &str = "usage: cargo xtask bench run [--engine KIND] [--runs N] [--quarry PATH]";

/// The project: the benchmark's base image, a package from the mirror and an environment value,
/// so the image has a chain step and an extension environment to load.
const PROJECT: &str = "image = \"debian:bookworm\"\napt = [\"jq\"]\nextensions = [\"env\"]\n\n[options.env]\nvalue = [\"BENCH=1\"]\n";

/// `cargo xtask bench run ...`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut engine = "26c-b".to_owned();
    let mut runs = 5usize;
    let mut quarry: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("`{arg}` needs a value\n{USAGE}"));
        match arg.as_str() {
            "--engine" => engine = value()?.clone(),
            "--runs" => runs = value()?.parse().context("--runs takes a number")?,
            "--quarry" => quarry = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let quarry = match quarry {
        Some(p) => p,
        None => crate::bench_render::release_binary()?,
    };
    let bench = BenchEngine::bring_up(&engine)?;
    let result = measure(&bench, &quarry, runs);
    bench.tear_down();
    result
}

fn project_dir() -> PathBuf {
    crate::workspace().join("target/bench/run/project")
}

fn measure(bench: &BenchEngine, quarry: &std::path::Path, runs: usize) -> anyhow::Result<()> {
    let dir = project_dir();
    let home = crate::workspace().join("target/bench/run/home");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create `{}`", home.display()))?;
    std::fs::write(dir.join("quarry.toml"), PROJECT).context("cannot write the project")?;
    let add_host = bench.add_host().to_owned();
    let quarry_cmd = |args: &[&str]| {
        let mut c = bench.program(&quarry.display().to_string());
        c.current_dir(&dir)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env_remove("QUARRY_CACHE_ID")
            .env_remove("ROCKER_CACHE_ID")
            .env_remove("GITHUB_ACTIONS")
            .args(args)
            .stdin(Stdio::null());
        c
    };
    // The image, built once (with the mirror's address), its tag read back.
    let out = quarry_cmd(&["build", "--quiet", "--add-host", &add_host])
        .output()
        .context("cannot run quarry build")?;
    if !out.status.success() {
        bail!("quarry build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let tag = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    eprintln!("bench: built `{tag}`; {runs} runs of each, interleaved");
    // `quarry run` renders with the same configuration, so it finds the same image.
    let warm_run = || quarry_cmd(&["run", "--quiet", "--", "true"]);
    let docker_run = || {
        let mut c = bench.program("docker");
        c.args(["run", "--rm", &tag, "true"]).stdin(Stdio::null());
        c
    };
    check(warm_run(), "quarry run")?;
    let up = quarry_cmd(&["up", "--quiet"]).output().context("cannot run quarry up")?;
    if !up.status.success() {
        bail!("quarry up failed:\n{}", String::from_utf8_lossy(&up.stderr));
    }
    let container = String::from_utf8_lossy(&up.stdout).trim().to_owned();
    let enter = || quarry_cmd(&["enter", "true"]);
    let exec = || {
        let mut c = bench.program("docker");
        c.args(["exec", &container, "true"]).stdin(Stdio::null());
        c
    };
    check(enter(), "quarry enter")?;
    let mut times: [Vec<f64>; 4] = Default::default();
    for _ in 0..runs {
        times[0].push(timed(warm_run(), "quarry run")?);
        times[1].push(timed(docker_run(), "docker run")?);
        times[2].push(timed(enter(), "quarry enter")?);
        times[3].push(timed(exec(), "docker exec")?);
    }
    let _ = quarry_cmd(&["down", "--quiet"]).output();
    let m: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    println!("bench run: {} ({runs} runs each, medians, interleaved)", bench.describe());
    println!("  quarry run (warm)  {:>7.3} s", m[0]);
    println!("  docker run         {:>7.3} s", m[1]);
    println!("  ratio              {:>7.2}x", m[0] / m[1]);
    println!("  quarry enter       {:>7.3} s", m[2]);
    println!("  docker exec        {:>7.3} s", m[3]);
    println!("  ratio              {:>7.2}x", m[2] / m[3]);
    Ok(())
}

fn check(mut command: Command, what: &str) -> anyhow::Result<()> {
    let out = command.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!("{what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Seconds `command` took; it must succeed.
fn timed(mut command: Command, what: &str) -> anyhow::Result<f64> {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = command.output().with_context(|| format!("cannot run {what}"))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("{what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(seconds)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn medians() {
        assert_eq!(super::median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
