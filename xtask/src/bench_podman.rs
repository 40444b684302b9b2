//! `cargo xtask bench podman [--scenario A,..]`: the cache benchmark's scenarios in quarry's
//! layout on Podman (Buildah's layer cache) next to Docker 26 (BuildKit, containerd store). For
//! each scenario and engine: the engine's cache emptied, OLD built, then NEW (the rebuild), and
//! of NEW's RUN, COPY and ADD steps, how many the engine reused and how many it ran. Each engine
//! gets what `quarry build` gives it: Docker 26 the `COPY --link` render, Podman the plain-copy
//! render with its apt mounts adapted for Buildah (`quarry_docker::buildah::adapt_dockerfile`),
//! built with `podman build --layers`. The engines are the private `26c-b` and `podman` of
//! `xtask/engine/`, started when they are not running and stopped afterwards.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use quarry_core::{EngineLevel, Rendered};
use quarry_docker::build::{BuildOptions, build_args};
use quarry_docker::cache_id::{CacheId, Source};
use quarry_docker::context::write_context;
use quarry_docker::engine::Engine;

use crate::bench::{BenchEngine, Id, Layout, Scenario};

/// The Docker engine of the comparison (as `bench cache`'s default: pruning it disturbs no one).
const DOCKER: &str = "26c-b";
const TAG: &str = "quarry-bench-podman/image";

/// What one rebuild of NEW did.
struct Rebuild {
    /// RUN, COPY and ADD steps of NEW's build.
    steps: usize,
    /// Of those, taken from the engine's cache.
    reused: usize,
    /// Seconds of the build command.
    wall: f64,
}

struct Podman {
    program: String,
    add_host: String,
    engine: Engine,
    started: bool,
}

impl Podman {
    fn up() -> anyhow::Result<Podman> {
        let started = crate::engine::script("status.sh", "podman").is_err();
        let env = crate::engine::script("start.sh", "podman")?;
        let program = env
            .iter()
            .find(|(k, _)| k == "PODMAN")
            .map(|(_, v)| v.clone())
            .context("start.sh podman printed no PODMAN")?;
        let images = crate::engine::script("images.sh", "podman")?;
        let add_host = images.into_iter().find(|(k, _)| k == "ADD_HOST").map(|(_, v)| v).unwrap_or_default();
        let engine = quarry_docker::engine::detect(&program).map_err(|e| anyhow::anyhow!("{e}"))?;
        if !engine.is_podman() {
            bail!("`{program}` is not Podman");
        }
        Ok(Podman { program, add_host, engine, started })
    }

    fn podman(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.program).args(args).output().context("cannot run podman")?;
        if !out.status.success() {
            bail!("`podman {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Empties Buildah's layer cache: every image but the base images (its cached layers are
    /// intermediate images).
    fn prune(&self) -> anyhow::Result<()> {
        let listed = self.podman(&["images", "--all", "--format", "{{.ID}} {{.Repository}}"])?;
        let mut ids: Vec<&str> = listed
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, repo)| !(repo.ends_with("/debian") || *repo == "debian" || repo.contains("busybox")))
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            let mut args = vec!["rmi", "--force"];
            args.extend(ids);
            self.podman(&args)?;
        }
        Ok(())
    }

    fn build(&self, dir: &Path, rendered: &Rendered) -> anyhow::Result<Rebuild> {
        let adapted = Rendered {
            dockerfile: quarry_docker::buildah::adapt_dockerfile(&rendered.dockerfile),
            ..rendered.clone()
        };
        write_context(dir, &adapted)?;
        let opts = BuildOptions { add_host: vec![self.add_host.clone()], ..BuildOptions::default() };
        let cache = CacheId { value: "default".to_owned(), source: Source::Default };
        let args = build_args(&self.engine, dir, TAG, &cache, &opts);
        let start = Instant::now();
        let out = Command::new(&self.program).args(&args).output().context("cannot run podman build")?;
        let wall = start.elapsed().as_secs_f64();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            bail!("podman build failed:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        let counted: Vec<_> = quarry_docker::buildah::steps(&text)
            .into_iter()
            .filter(|s| ["RUN ", "COPY ", "ADD "].iter().any(|k| s.instruction.starts_with(k)))
            .collect();
        Ok(Rebuild { steps: counted.len(), reused: counted.iter().filter(|s| s.reused).count(), wall })
    }
}

/// `cargo xtask bench podman [--scenario A,B,..]`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let ids = match args {
        [] => vec![Id::A],
        [flag, list] if flag == "--scenario" => list
            .split(',')
            .map(|s| Id::parse(s).with_context(|| format!("unknown scenario `{s}`")))
            .collect::<anyhow::Result<_>>()?,
        _ => bail!("usage: cargo xtask bench podman [--scenario A,B,C,D,E]"),
    };
    let dir = std::env::temp_dir().join(format!("quarry-bench-podman-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let podman = Podman::up()?;
    let docker = BenchEngine::bring_up(DOCKER);
    let result = (|| -> anyhow::Result<Vec<(Id, String, Rebuild, Rebuild)>> {
        let docker = docker.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut rows = Vec::new();
        for &id in &ids {
            let scenario = Scenario::new(id);
            let old = Layout::Quarry.render(&scenario.old, None)?;
            let new = Layout::Quarry.render(&scenario.new, Some(&old))?;
            docker.prune()?;
            let log = dir.join("docker.log");
            docker.build(&dir.join("docker-old"), &old, &format!("{TAG}:old"), &log)?;
            let built = docker.build(&dir.join("docker-new"), &new, &format!("{TAG}:new"), &log)?;
            let counted: Vec<_> = built.vertices.iter().filter(|v| v.is_counted()).collect();
            let on_docker = Rebuild {
                steps: counted.len(),
                reused: counted.iter().filter(|v| v.cached).count(),
                wall: built.wall,
            };
            let old = Layout::Quarry.render_for(EngineLevel::Legacy, &scenario.old, None)?;
            let new = Layout::Quarry.render_for(EngineLevel::Legacy, &scenario.new, Some(&old))?;
            podman.prune()?;
            podman.build(&dir.join("podman-old"), &old)?;
            let on_podman = podman.build(&dir.join("podman-new"), &new)?;
            eprintln!(
                "bench podman {}: Podman reused {} of {} steps ({:.1} s), Docker {} of {} ({:.1} s)",
                id.letter(),
                on_podman.reused,
                on_podman.steps,
                on_podman.wall,
                on_docker.reused,
                on_docker.steps,
                on_docker.wall
            );
            rows.push((id, scenario.title, on_podman, on_docker));
        }
        Ok(rows)
    })();
    let _ = podman.prune();
    if let Ok(d) = &docker {
        d.tear_down();
    }
    if podman.started {
        let _ = crate::engine::script("stop.sh", "podman");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    println!(
        "Podman ({}) next to Docker 26 (engine `{DOCKER}`): NEW built right after OLD on an emptied cache",
        podman.engine.describe()
    );
    println!(
        "| scenario | change | Podman: reused of RUN/COPY/ADD (ran) | rebuild s | Docker: reused (ran) | rebuild s |"
    );
    println!("|---|---|---|---|---|---|");
    for (id, title, p, d) in &rows {
        println!(
            "| {} | {title} | {} of {} ({}) | {:.1} | {} of {} ({}) | {:.1} |",
            id.letter(),
            p.reused,
            p.steps,
            p.steps - p.reused,
            p.wall,
            d.reused,
            d.steps,
            d.steps - d.reused,
            d.wall
        );
    }
    println!(
        "Buildah's cache is a chain: after the first step that runs, every later step of its stage runs too \
         (docs/podman.md); BuildKit keys each step on its own inputs, and COPY --link keeps copies apart from \
         the layers before them."
    );
    Ok(())
}
