//! `cargo xtask bench remote-sim`: a simulation of the shared remote cache's hit rate across a
//! fleet of ephemeral CI runners and projects, built from the per-stage reference rule itself
//! (`quarry_docker::remote_cache::plan` on real renders of the cache benchmark's extensions) and the
//! benchmark's scenario mix (A add, B final image, C version bump, D reorder, E remove).
//!
//! Every job runs on a fresh runner (an empty local cache), so a builder stage is either imported
//! from the registry or executed. Three strategies are compared on the same job sequence:
//! - `per-stage`: quarry's rule, one reference per builder stage, shared by every project;
//! - `per-project`: one reference per project holding its last build (what peers offer);
//! - `none`: no registry cache.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use quarry_core::Selection;
use quarry_docker::remote_cache::{CacheRepo, KeyInputs, plan};

use crate::bench::Id;

/// Parameters of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Projects in the organisation.
    pub projects: usize,
    /// Weeks simulated.
    pub weeks: usize,
    /// CI jobs per project and week.
    pub jobs: usize,
    /// Percent chance per project and week of one change drawn from the scenario mix.
    pub change_percent: u64,
    /// Seed of the pseudo-random sequence.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { projects: 12, weeks: 8, jobs: 10, change_percent: 30, seed: 15 }
    }
}

/// What a simulation counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Builder stages the jobs needed.
    pub stages: usize,
    /// Of those, imported with per-stage references.
    pub per_stage_hits: usize,
    /// Of those, imported with one reference per project.
    pub per_project_hits: usize,
    /// Builder stages needed by the first job of a project after a change (or its first job).
    pub after_change: usize,
    /// Of those, imported with per-stage references.
    pub after_change_per_stage: usize,
    /// Of those, imported with one reference per project.
    pub after_change_per_project: usize,
    /// Distinct builder references the registry ends up holding (per-stage rule).
    pub builder_refs: usize,
    /// Distinct final-stage references it ends up holding.
    pub final_refs: usize,
    /// Changes applied, per scenario letter.
    pub changes: BTreeMap<&'static str, usize>,
}

/// A small linear congruential generator: deterministic, dependency-free.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

/// One project's configuration: the benchmark's list with some entries left out, and an image.
fn project(rng: &mut Lcg) -> crate::bench::ScenarioConfig {
    let mut config = crate::bench::ScenarioConfig::base();
    // Keep `python` when `pylib` stays, `shell` when `user` stays: drop only leaves.
    for leaf in ["pylib", "primes", "mandel", "tls", "editor", "kvstore"] {
        if rng.next(100) < 35 {
            config.list.retain(|s| s.name != leaf);
        }
    }
    if rng.next(2) == 1 {
        config.image = crate::bench::NEW_IMAGE;
    }
    config
}

/// Applies scenario `id` to a project in the benchmark's way; `kvstore_version` is the
/// organisation's current pin (a bump reaches every project that uses it).
fn change(config: &mut crate::bench::ScenarioConfig, id: Id, rng: &mut Lcg) {
    use crate::bench::{ADDED, IMAGE, NEW_IMAGE, REMOVED};
    match id {
        Id::A if !config.list.iter().any(|s| s.name == ADDED) => {
            let at = rng.next(config.list.len() as u64 + 1) as usize;
            config.list.insert(at, Selection::new(ADDED));
        }
        Id::A => config.list.retain(|s| s.name != ADDED),
        Id::B => config.image = if config.image == IMAGE { NEW_IMAGE } else { IMAGE },
        Id::C => {}
        Id::D => config.list.reverse(),
        Id::E if config.list.iter().any(|s| s.name == REMOVED) => config.list.retain(|s| s.name != REMOVED),
        Id::E => config.list.push(Selection::new(REMOVED)),
    }
}

/// Runs the simulation.
pub fn simulate(params: Params) -> anyhow::Result<Figures> {
    use crate::bench::BUMPED;
    let registry = crate::bench::bench_registry();
    let repo = CacheRepo::parse("registry.example.com/quarry-cache").map_err(|e| anyhow::anyhow!(e))?;
    let mut rng = Lcg(params.seed);
    let mut projects: Vec<_> = (0..params.projects).map(|_| project(&mut rng)).collect();
    let mut version: u32 = 3;
    let mut held: BTreeSet<String> = BTreeSet::new();
    let mut last_of_project: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut finals: BTreeSet<String> = BTreeSet::new();
    let mut figures = Figures::default();
    let mut changed = vec![true; projects.len()];
    for _week in 0..params.weeks {
        for p in 0..projects.len() {
            if rng.next(100) < params.change_percent {
                let id = Id::ALL[rng.next(5) as usize];
                *figures.changes.entry(id.letter()).or_default() += 1;
                if id == Id::C {
                    // An organisation-wide bump of the pinned tool.
                    version += 1;
                }
                change(&mut projects[p], id, &mut rng);
                changed[p] = true;
            }
        }
        for _job in 0..params.jobs {
            for (p, config) in projects.iter().enumerate() {
                let mut config = config.clone();
                if let Some(entry) = config.list.iter_mut().find(|s| s.name == BUMPED.0) {
                    *entry = Selection::new(BUMPED.0).with_option("version", format!("2.{version}.0"));
                }
                let rendered = quarry_core::render(registry, &config.request())?;
                let refs = plan(&repo, &rendered, &KeyInputs::default()).map_err(|e| anyhow::anyhow!(e))?;
                let builders: BTreeSet<String> =
                    refs.iter().filter(|r| r.stage.is_some()).map(|r| r.reference.clone()).collect();
                figures.stages += builders.len();
                let previous = last_of_project.get(&p);
                let stage_hits = builders.iter().filter(|r| held.contains(*r)).count();
                let project_hits =
                    builders.iter().filter(|r| previous.is_some_and(|s| s.contains(*r))).count();
                figures.per_stage_hits += stage_hits;
                figures.per_project_hits += project_hits;
                if std::mem::take(&mut changed[p]) {
                    figures.after_change += builders.len();
                    figures.after_change_per_stage += stage_hits;
                    figures.after_change_per_project += project_hits;
                }
                held.extend(builders.iter().cloned());
                finals.extend(refs.iter().filter(|r| r.stage.is_none()).map(|r| r.reference.clone()));
                last_of_project.insert(p, builders);
            }
        }
    }
    figures.builder_refs = held.len();
    figures.final_refs = finals.len();
    Ok(figures)
}

/// `cargo xtask bench remote-sim [--projects N] [--weeks N] [--jobs N] [--change-percent N] [--seed N]`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut params = Params::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value: u64 = match it.next().map(|v| v.parse()) {
            Some(Ok(v)) => v,
            _ => bail!(
                "usage: cargo xtask bench remote-sim [--projects N] [--weeks N] [--jobs N] [--change-percent N] [--seed N]"
            ),
        };
        match flag.as_str() {
            "--projects" => params.projects = value as usize,
            "--weeks" => params.weeks = value as usize,
            "--jobs" => params.jobs = value as usize,
            "--change-percent" => params.change_percent = value.min(100),
            "--seed" => params.seed = value,
            other => bail!("unknown option `{other}`"),
        }
    }
    let f = simulate(params)?;
    let pct = |n: usize| if f.stages == 0 { 0.0 } else { 100.0 * n as f64 / f.stages as f64 };
    println!(
        "fleet: {} projects x {} jobs/week x {} weeks on fresh runners; {}% chance of a change per project-week",
        params.projects, params.jobs, params.weeks, params.change_percent
    );
    let changes: Vec<String> = f.changes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("changes drawn from the bench's scenario mix: {}", changes.join(", "));
    println!("builder stages needed by the jobs: {}", f.stages);
    println!(
        "  imported with per-stage references (quarry): {:>6} ({:.1} %)",
        f.per_stage_hits,
        pct(f.per_stage_hits)
    );
    println!(
        "  imported with one reference per project:    {:>6} ({:.1} %)",
        f.per_project_hits,
        pct(f.per_project_hits)
    );
    println!("  imported without a registry cache:          {:>6} (0.0 %)", 0);
    let after = |n: usize| if f.after_change == 0 { 0.0 } else { 100.0 * n as f64 / f.after_change as f64 };
    println!("builder stages of the first job after a change (or a project's first job): {}", f.after_change);
    println!(
        "  imported: per-stage {} ({:.1} %), per-project {} ({:.1} %)",
        f.after_change_per_stage,
        after(f.after_change_per_stage),
        f.after_change_per_project,
        after(f.after_change_per_project)
    );
    println!("registry references at the end: {} builder, {} final", f.builder_refs, f.final_refs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_stage_references_hit_at_least_as_often_as_per_project_ones() {
        let small = Params { projects: 4, weeks: 3, jobs: 2, change_percent: 50, seed: 7 };
        let f = simulate(small).unwrap();
        assert!(f.stages > 0);
        assert!(f.per_stage_hits >= f.per_project_hits, "{f:?}");
        // Cross-project sharing: the very first job of each later project already hits.
        assert!(f.per_stage_hits > f.per_project_hits, "{f:?}");
        assert!(f.after_change_per_stage > f.after_change_per_project, "{f:?}");
        assert!(f.builder_refs < f.stages, "{f:?}");
        // Deterministic for a seed.
        assert_eq!(f, simulate(small).unwrap());
        // With no changes and one job per week, every job after the first set hits.
        let still = simulate(Params { change_percent: 0, ..small }).unwrap();
        assert_eq!(still.stages - still.per_stage_hits, still.builder_refs, "{still:?}");
    }
}

/// `cargo xtask bench cache --remote`: for each scenario A–E (quarry's layout), on two private
/// engines standing in for two CI runners and the loopback registry of `registry.sh`:
/// runner 1 builds OLD and exports its references; runner 2, pruned, builds NEW without the
/// shared cache (wall time), then, pruned again, with it (wall time, steps executed), and exports
/// what NEW adds. Reports both wall times and the registry's blob-store growth per scenario.
pub mod bench {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::Instant;

    use anyhow::{Context, bail};
    use quarry_docker::build::{BuildOptions, build_args};
    use quarry_docker::cache_id::{CacheId, Source};
    use quarry_docker::context::write_context;
    use quarry_docker::remote_cache::{self, CacheRepo, KeyInputs, RemoteCache};

    use crate::bench::{Id, Scenario};

    const RUNNERS: [&str; 2] = ["26c-rca", "26c-rcb"];

    struct Runner {
        kind: &'static str,
        docker: PathBuf,
        add_host: String,
        started: bool,
    }

    impl Runner {
        fn up(kind: &'static str, dir: &Path) -> anyhow::Result<Runner> {
            let started = crate::engine::script("status.sh", kind).is_err();
            let env = crate::engine::script("start.sh", kind)?;
            let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            let host = get("DOCKER_HOST").context("start.sh printed no DOCKER_HOST")?;
            let config = get("DOCKER_CONFIG").context("start.sh printed no DOCKER_CONFIG")?;
            let images = crate::engine::script("images.sh", kind)?;
            let add_host =
                images.into_iter().find(|(k, _)| k == "ADD_HOST").map(|(_, v)| v).unwrap_or_default();
            let docker = dir.join(format!("docker-{kind}"));
            std::fs::write(
                &docker,
                format!(
                    "#!/bin/sh\nexport DOCKER_HOST='{host}' DOCKER_CONFIG='{config}'\nexec docker \"$@\"\n"
                ),
            )?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755))?;
            Ok(Runner { kind, docker, add_host, started })
        }

        fn docker(&self, args: &[&str]) -> anyhow::Result<String> {
            let out = Command::new(&self.docker).args(args).output()?;
            if !out.status.success() {
                bail!(
                    "`docker {}` on {} failed: {}",
                    args.join(" "),
                    self.kind,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }

        fn engine(&self) -> anyhow::Result<quarry_docker::engine::Engine> {
            let version = self.docker(&["version", "--format", "{{.Server.Version}}"])?.trim().to_owned();
            let info = self.docker(&["info", "--format", "{{json .DriverStatus}}"])?;
            Ok(quarry_docker::engine::Engine {
                major_minor: quarry_docker::engine::parse_version(&version).context("engine version")?,
                version,
                buildx: true,
                containerd_store: info.contains("io.containerd.snapshotter"),
                podman: None,
            })
        }

        /// Builds `rendered`; with `cache`, as `quarry build` does with a registry (imports, then
        /// exports).
        fn build(
            &self,
            dir: &Path,
            rendered: &quarry_core::Rendered,
            cache: Option<&RemoteCache>,
        ) -> anyhow::Result<Built> {
            write_context(dir, rendered)?;
            let engine = self.engine()?;
            let docker = self.docker.to_str().context("path")?;
            let plan = match cache {
                Some(c) => remote_cache::prepare(
                    docker,
                    c,
                    &engine,
                    Some("docker"),
                    &KeyInputs { project: Some("bench".into()), ..KeyInputs::default() },
                    rendered,
                    false,
                    &quarry_cli::ui::show,
                )
                .map_err(|e| anyhow::anyhow!(e))?,
                None => None,
            };
            let mut opts = BuildOptions {
                progress: Some("rawjson".into()),
                add_host: vec![self.add_host.clone()],
                ..BuildOptions::default()
            };
            if let Some(p) = &plan {
                opts.cache_from = p.imports();
            }
            let id = CacheId { value: "default".into(), source: Source::Default };
            let args = build_args(&engine, dir, "quarry-bench-remote/image:latest", &id, &opts);
            let start = Instant::now();
            let (out, attempts) = crate::bench::run_build(self.kind, || {
                let mut c = Command::new(&self.docker);
                c.args(&args);
                c
            })?;
            let wall = start.elapsed().as_secs_f64();
            let progress = attempts.join("\n");
            if !out.status.success() {
                let tail: Vec<&str> = progress.lines().rev().take(15).collect();
                bail!(
                    "build on {} failed:\n{}",
                    self.kind,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            let ran: Vec<_> = crate::bench::build_vertices(&attempts)
                .into_iter()
                .filter(|s| s.is_counted() && !s.cached)
                .collect();
            let executed = ran.len();
            let executed_builder = ran.iter().filter(|s| s.stage != quarry_core::FINAL_STAGE).count();
            let start = Instant::now();
            if let Some(p) = &plan {
                let e = remote_cache::export(docker, &args, p, &quarry_cli::ui::show);
                if !e.failed.is_empty() {
                    bail!("exports failed: {:?}", e.failed);
                }
            }
            Ok(Built { wall, executed, executed_builder, export: start.elapsed().as_secs_f64() })
        }

        fn prune(&self) -> anyhow::Result<()> {
            let _ = self.docker(&["image", "rm", "--force", "quarry-bench-remote/image:latest"]);
            self.docker(&["builder", "prune", "--all", "--force"]).map(|_| ())
        }
    }

    /// One build of the benchmark.
    struct Built {
        /// Seconds of the build (exports not included).
        wall: f64,
        /// RUN, COPY and ADD steps executed.
        executed: usize,
        /// Of those, steps of builder stages.
        executed_builder: usize,
        /// Seconds of the export to the registry (0 without one).
        export: f64,
    }

    /// The figures of one scenario.
    struct Row {
        id: Id,
        title: String,
        without: Built,
        with: Built,
        warm: Built,
        export_old: f64,
        growth_old: u64,
        growth_new: u64,
    }

    fn blob_bytes(root: &Path) -> u64 {
        let mut total = 0;
        let mut stack = vec![root.join("docker/registry/v2/blobs")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                match e.metadata() {
                    Ok(m) if m.is_dir() => stack.push(e.path()),
                    Ok(m) => total += m.len(),
                    Err(_) => {}
                }
            }
        }
        total
    }

    /// Runs the remote-cache benchmark for `ids`.
    pub fn run(ids: &[Id]) -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("quarry-bench-remote-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let registry = crate::engine::registry_script("start", "main")?;
        let get = |k: &str| registry.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let addr = get("REGISTRY").context("registry.sh printed no REGISTRY")?;
        let storage = PathBuf::from(get("REGISTRY_DIR").context("registry.sh printed no REGISTRY_DIR")?);
        let runners = [Runner::up(RUNNERS[0], &dir)?, Runner::up(RUNNERS[1], &dir)?];
        // Two runners pulling one tag get one image: load runner 1's base images into runner 2.
        let save = Command::new(&runners[0].docker)
            .args(["save", "debian:bookworm", "debian:trixie"])
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut save = save;
        let load = Command::new(&runners[1].docker)
            .arg("load")
            .stdin(save.stdout.take().context("pipe")?)
            .output()?;
        if !save.wait()?.success() || !load.status.success() {
            bail!("cannot copy the base images between the runners");
        }
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let reg = crate::bench::bench_registry();
        let mut rows = Vec::new();
        let result = (|| -> anyhow::Result<()> {
            for &id in ids {
                let scenario = Scenario::new(id);
                // Each scenario its own repository: NEW finds exactly what OLD exported.
                let repo = format!("{addr}/quarry-bench/{stamp}-{}", id.letter().to_ascii_lowercase());
                let cache = RemoteCache {
                    repo: CacheRepo::parse(&repo).map_err(|e| anyhow::anyhow!(e))?,
                    insecure: false,
                };
                let old = quarry_core::render(reg, &scenario.old.request())?;
                let new = quarry_core::render(reg, &scenario.new.request())?;
                let before = blob_bytes(&storage);
                runners[0].prune()?;
                let old_built = runners[0].build(&dir.join("old"), &old, Some(&cache))?;
                let after_old = blob_bytes(&storage);
                runners[1].prune()?;
                let without = runners[1].build(&dir.join("new-a"), &new, None)?;
                runners[1].prune()?;
                let with = runners[1].build(&dir.join("new-b"), &new, Some(&cache))?;
                let after_new = blob_bytes(&storage);
                // A third runner's view: the registry now holds every stage of NEW (another
                // project, or an earlier job, built it), so no builder step has to run.
                runners[0].prune()?;
                let warm = runners[0].build(&dir.join("new-c"), &new, Some(&cache))?;
                eprintln!(
                    "bench remote {}: NEW without {:.1} s ({} steps executed), with {:.1} s ({} executed), \
                     warm registry {:.1} s ({} executed, {} of them in builder stages)",
                    id.letter(),
                    without.wall,
                    without.executed,
                    with.wall,
                    with.executed,
                    warm.wall,
                    warm.executed,
                    warm.executed_builder,
                );
                rows.push(Row {
                    id,
                    title: scenario.title.clone(),
                    without,
                    with,
                    warm,
                    export_old: old_built.export,
                    growth_old: after_old - before,
                    growth_new: after_new - after_old,
                });
            }
            Ok(())
        })();
        for r in &runners {
            if r.started {
                let _ = crate::engine::script("stop.sh", r.kind);
            }
        }
        result?;
        println!(
            "remote cache benchmark: runner 1 builds OLD and exports; runner 2 (pruned) builds NEW without, then (pruned) with the shared cache"
        );
        println!(
            "| scenario | change | NEW without s (executed) | NEW with s (executed) | without / with | warm registry s (executed; in builders) | export OLD s | export NEW s | registry growth OLD MB | NEW MB |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for r in &rows {
            println!(
                "| {} | {} | {:.1} ({}) | {:.1} ({}) | {:.1}x | {:.1} ({}; {}) | {:.1} | {:.1} | {:.1} | {:.1} |",
                r.id.letter(),
                r.title,
                r.without.wall,
                r.without.executed,
                r.with.wall,
                r.with.executed,
                r.without.wall / r.with.wall.max(0.01),
                r.warm.wall,
                r.warm.executed,
                r.warm.executed_builder,
                r.export_old,
                r.with.export,
                r.growth_old as f64 / 1e6,
                r.growth_new as f64 / 1e6
            );
        }
        println!(
            "warm registry: a third pruned runner builds NEW once the registry holds every stage NEW has; \
             no builder step should execute"
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
