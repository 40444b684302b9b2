//! The engine the benchmark builds on, and the builds themselves: timed, with BuildKit's rawjson
//! progress read into steps.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{Context, bail};
use quarry_core::Rendered;
use quarry_docker::build::{BuildOptions, SNAPSHOT_FLAKE, build_args, retry_after_failure};
use quarry_docker::cache_id::{CacheId, Source};
use quarry_docker::context::write_context;
use quarry_docker::engine::Engine;
use quarry_docker::progress::{StepVertex, executed_seconds, merge_attempts, parse_rawjson, steps};

/// Repository of every image the benchmark tags; removed before each clean build.
pub const IMAGE_REPO: &str = "quarry-bench";

/// A private Docker engine (`xtask/engine/start.sh KIND`), started by this run or found running.
#[derive(Debug)]
pub struct BenchEngine {
    kind: String,
    host: String,
    config: String,
    add_host: String,
    engine: Engine,
    started: bool,
}

impl BenchEngine {
    /// Starts engine `kind` if it is not running (as root) and makes its base images.
    pub fn bring_up(kind: &str) -> anyhow::Result<BenchEngine> {
        if !kind.contains('-') {
            bail!(
                "`{kind}` is a shared engine and the benchmark empties its build cache\n\
                 hint: use a private instance such as `{kind}-b` (`--engine {kind}-b`)"
            );
        }
        let was_running = crate::engine::script("status.sh", kind).is_ok();
        if was_running {
            eprintln!("bench: engine {kind} is running; using it");
        } else {
            let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
            if !root {
                bail!(
                    "engine {kind} is not running and only root can start it\nhint: run as root, or start it with `xtask/engine/start.sh {kind}`"
                );
            }
            eprintln!(
                "bench: starting the private Docker engine {kind} (xtask/engine/start.sh {kind}); stopped at the end"
            );
        }
        let vars = crate::engine::script("start.sh", kind)?;
        let get = |key: &str| {
            vars.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .with_context(|| format!("`start.sh {kind}` printed no {key}="))
        };
        let mut bench = BenchEngine {
            kind: kind.to_owned(),
            host: get("DOCKER_HOST")?,
            config: get("DOCKER_CONFIG")?,
            add_host: String::new(),
            engine: Engine {
                version: String::new(),
                major_minor: (0, 0),
                buildx: true,
                containerd_store: false,
                podman: None,
            },
            started: !was_running,
        };
        // From here on, an engine this run started is stopped again when something fails.
        match bench.ready() {
            Ok(()) => Ok(bench),
            Err(e) => {
                bench.tear_down();
                Err(e)
            }
        }
    }

    /// Makes the base images, reads the mirror's address and checks what the engine can do.
    fn ready(&mut self) -> anyhow::Result<()> {
        let kind = self.kind.clone();
        eprintln!("bench: making the base images it lacks (xtask/engine/images.sh {kind})");
        let images = crate::engine::script("images.sh", &kind)?;
        self.add_host = images
            .into_iter()
            .find(|(k, _)| k == "ADD_HOST")
            .map(|(_, v)| v)
            .with_context(|| format!("`images.sh {kind}` printed no ADD_HOST="))?;
        self.engine = self.detect()?;
        if !self.engine.containerd_store || !self.engine.buildx {
            bail!("engine {kind} must use the containerd image store and have buildx (a `26c-NAME` engine)");
        }
        Ok(())
    }

    fn detect(&self) -> anyhow::Result<Engine> {
        let version = self.docker_ok(&["version", "--format", "{{.Server.Version}}"])?.trim().to_owned();
        let major_minor = quarry_docker::engine::parse_version(&version)
            .with_context(|| format!("cannot read the engine version from {version:?}"))?;
        let buildx = self.docker(&["buildx", "version"])?.status.success();
        let containerd_store = self
            .docker_ok(&["info", "--format", "{{json .DriverStatus}}"])?
            .contains("io.containerd.snapshotter");
        Ok(Engine { version, major_minor, buildx, containerd_store, podman: None })
    }

    /// `26.1.5, containerd image store` and the like.
    pub fn describe(&self) -> String {
        let buildx = self.docker_ok(&["buildx", "version"]).unwrap_or_default();
        let buildx = buildx.split_whitespace().nth(1).unwrap_or("?").to_owned();
        format!(
            "Docker {} (buildx {buildx}), containerd image store, engine `{}`",
            self.engine.version, self.kind
        )
    }

    /// `host:ip` of the Debian mirror, for `--add-host`.
    pub fn add_host(&self) -> &str {
        &self.add_host
    }

    fn command(&self) -> Command {
        self.program("docker")
    }

    /// `program` with this engine's DOCKER_HOST and DOCKER_CONFIG (`docker`, or `quarry`).
    pub fn program(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DOCKER_HOST", &self.host).env("DOCKER_CONFIG", &self.config).env("DOCKER_BUILDKIT", "1");
        c
    }

    fn docker(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.command().args(args).output().with_context(|| format!("cannot run `docker {}`", args.join(" ")))
    }

    fn docker_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.docker(args)?;
        if !out.status.success() {
            bail!("`docker {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Removes the benchmark's images and empties the build cache (cache mounts included, so the
    /// next build downloads every package from the mirror again).
    pub fn prune(&self) -> anyhow::Result<()> {
        let images = self.docker_ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO])?;
        let images: Vec<&str> = images.lines().filter(|l| !l.trim().is_empty()).collect();
        if !images.is_empty() {
            let mut args = vec!["image", "rm", "--force"];
            args.extend(images);
            self.docker_ok(&args)?;
        }
        self.docker_ok(&["builder", "prune", "--all", "--force"])?;
        Ok(())
    }

    /// Writes `rendered`'s context into `dir` and builds it as `quarry build` would, with rawjson
    /// progress (kept in `log`).
    pub fn build(&self, dir: &Path, rendered: &Rendered, tag: &str, log: &Path) -> anyhow::Result<Build> {
        write_context(dir, rendered)
            .with_context(|| format!("cannot write the build context `{}`", dir.display()))?;
        let opts = BuildOptions {
            progress: Some("rawjson".to_owned()),
            add_host: vec![self.add_host.clone()],
            ..BuildOptions::default()
        };
        let cache = CacheId { value: "default".to_owned(), source: Source::Default };
        let args = build_args(&self.engine, dir, tag, &cache, &opts);
        let start = Instant::now();
        let (out, attempts) = run_build(tag, || {
            let mut c = self.command();
            c.args(&args);
            c
        })?;
        let wall = start.elapsed().as_secs_f64();
        let progress = attempts.join("\n");
        std::fs::write(log, &progress).with_context(|| format!("cannot write `{}`", log.display()))?;
        if !out.status.success() {
            let tail: Vec<&str> = progress.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("build of `{tag}` failed ({}), log `{}`:\n{}", out.status, log.display(), tail.join("\n"));
        }
        let executed = attempts.iter().map(|a| executed_seconds(a)).sum();
        Ok(Build { wall, executed, vertices: vertices(&attempts) })
    }

    /// The image's size as `docker image inspect` reports it (on the containerd store: its
    /// compressed content).
    pub fn size(&self, tag: &str) -> anyhow::Result<u64> {
        let out = self.docker_ok(&["image", "inspect", "--format", "{{.Size}}", tag])?;
        out.trim().parse().with_context(|| format!("cannot read the size of `{tag}` from {out:?}"))
    }

    /// Stops the engine if this run started it.
    pub fn tear_down(&self) {
        if self.started {
            eprintln!("bench: stopping engine {} (xtask/engine/stop.sh {})", self.kind, self.kind);
            if let Err(e) = crate::engine::script("stop.sh", &self.kind) {
                eprintln!("bench: cannot stop engine {}: {e:#}", self.kind);
            }
        }
    }
}

/// Runs the build `command` makes; after BuildKit's snapshot flake runs it once more, as `quarry
/// build` does, and says so. The last attempt's output and each attempt's rawjson progress: a
/// wall time around it counts both attempts.
pub fn run_build(tag: &str, mut command: impl FnMut() -> Command) -> anyhow::Result<(Output, Vec<String>)> {
    let mut attempts: Vec<String> = Vec::new();
    loop {
        let out = command().output().context("cannot run `docker buildx build`")?;
        let progress = String::from_utf8_lossy(&out.stderr).into_owned();
        let again = !out.status.success() && retry_after_failure(attempts.len() as u32 + 1, false, &progress);
        attempts.push(progress);
        if !again {
            return Ok((out, attempts));
        }
        eprintln!(
            "bench: the build of `{tag}` hit {SNAPSHOT_FLAKE}: building once more (its wall time counts both)"
        );
    }
}

/// The Dockerfile steps of a build's attempts: a step the first attempt ran counts as run, even
/// when the retry found it cached.
pub fn vertices(attempts: &[String]) -> Vec<StepVertex> {
    let each: Vec<_> = attempts.iter().map(|a| parse_rawjson(a)).collect();
    steps(&merge_attempts(&each))
}

/// One build: wall time and the steps BuildKit reported.
#[derive(Debug, Clone)]
pub struct Build {
    /// Seconds the `docker buildx build --load` command took.
    pub wall: f64,
    /// Seconds during which the engine executed Dockerfile steps (every attempt's): the
    /// physical limit of this build.
    pub executed: f64,
    /// The Dockerfile steps, merged over the stream.
    pub vertices: Vec<StepVertex>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_engine_is_refused_before_anything_runs() {
        let err = BenchEngine::bring_up("26c").unwrap_err().to_string();
        assert!(err.contains("`26c` is a shared engine"), "{err}");
        assert!(err.contains("--engine 26c-b"), "{err}");
    }
}
