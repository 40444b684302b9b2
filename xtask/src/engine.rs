//! The Docker engines the engine tests run against, started through `xtask/engine/*.sh` when they
//! are not running and this is root, and stopped afterwards if this run started them.
//!
//! The tests read `QUARRY_TEST_ENGINE_<KIND>` (a `DOCKER_HOST`), `QUARRY_TEST_DOCKER_CONFIG_<KIND>`
//! and `QUARRY_TEST_ADD_HOST` (`host:ip` of the Debian mirror). Kinds: `MODERN` (Docker 26 with
//! the containerd image store), `LEGACY` (Docker 20.10), and `RUNNER1`, `RUNNER2`: two more
//! Docker 26 engines with the containerd store and their own data roots, standing in for two CI
//! runners in the remote-cache test, which also reads `QUARRY_TEST_REGISTRY` (a loopback
//! registry, `xtask/engine/registry.sh`), `QUARRY_TEST_REGISTRY_RO` (one that refuses pushes) and
//! `QUARRY_TEST_REGISTRY_DIR` (the first one's storage).

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, bail};

/// (script kind, test-variable suffix)
const KINDS: &[(&str, &str)] =
    &[("26c", "MODERN"), ("20.10", "LEGACY"), ("26c-rca", "RUNNER1"), ("26c-rcb", "RUNNER2")];

/// (registry.sh name, test variable)
const REGISTRIES: &[(&str, &str)] = &[("main", "QUARRY_TEST_REGISTRY"), ("ro", "QUARRY_TEST_REGISTRY_RO")];

#[derive(Debug, Default)]
pub struct Engines {
    env: BTreeMap<String, String>,
    started: Vec<&'static str>,
    registries: Vec<&'static str>,
}

impl Engines {
    /// Starts what is missing (as root), or reports loudly that engine tests will be skipped.
    pub fn bring_up() -> anyhow::Result<Engines> {
        let mut engines = Engines::default();
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if !root {
            eprintln!(
                "xtask: not root: no Docker engine is started; engine tests use QUARRY_TEST_ENGINE_* if set, \
                 else they are SKIPPED (and fail under CI=true)"
            );
            return Ok(engines);
        }
        for (kind, suffix) in KINDS {
            if std::env::var_os(format!("QUARRY_TEST_ENGINE_{suffix}")).is_some() {
                continue;
            }
            let was_running = script("status.sh", kind).is_ok();
            let started =
                script("start.sh", kind).with_context(|| format!("cannot start Docker engine {kind}"))?;
            if !was_running {
                engines.started.push(kind);
            }
            for (key, value) in started {
                let name = match key.as_str() {
                    "DOCKER_HOST" => format!("QUARRY_TEST_ENGINE_{suffix}"),
                    "DOCKER_CONFIG" => format!("QUARRY_TEST_DOCKER_CONFIG_{suffix}"),
                    _ => continue,
                };
                engines.env.insert(name, value);
            }
            let images =
                script("images.sh", kind).with_context(|| format!("cannot make base images on {kind}"))?;
            for (key, value) in images {
                if key == "ADD_HOST" {
                    engines.env.insert("QUARRY_TEST_ADD_HOST".to_owned(), value);
                }
            }
        }
        for (name, var) in REGISTRIES {
            if std::env::var_os(var).is_some() {
                continue;
            }
            let was_running = registry_script("status", name).is_ok();
            let out =
                registry_script("start", name).with_context(|| format!("cannot start registry {name}"))?;
            if !was_running {
                engines.registries.push(name);
            }
            for (key, value) in out {
                match key.as_str() {
                    "REGISTRY" => engines.env.insert((*var).to_owned(), value),
                    "REGISTRY_DIR" if *name == "main" => {
                        engines.env.insert("QUARRY_TEST_REGISTRY_DIR".to_owned(), value)
                    }
                    _ => None,
                };
            }
        }
        Ok(engines)
    }

    /// The variables the engine tests need that neither the environment nor this run provides:
    /// none means every engine test can run.
    pub fn missing(&self) -> Vec<String> {
        let needed = KINDS
            .iter()
            .map(|(_, suffix)| format!("QUARRY_TEST_ENGINE_{suffix}"))
            .chain(REGISTRIES.iter().map(|(_, var)| (*var).to_owned()));
        needed.filter(|var| std::env::var_os(var).is_none() && !self.env.contains_key(var)).collect()
    }

    /// Variables for the test run.
    pub fn test_env(&self) -> impl Iterator<Item = (&String, &String)> {
        self.env.iter()
    }

    /// Stops the engines this run started.
    pub fn tear_down(self) {
        for kind in self.started {
            if let Err(e) = script("stop.sh", kind) {
                eprintln!("xtask: cannot stop Docker engine {kind}: {e:#}");
            }
        }
        for name in self.registries {
            if let Err(e) = registry_script("stop", name) {
                eprintln!("xtask: cannot stop registry {name}: {e:#}");
            }
        }
    }
}

/// Runs `xtask/engine/registry.sh <action> <name>`, parsed as [`script`] does.
pub fn registry_script(action: &str, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    script_with("registry.sh", &[action, name], action == "status")
}

/// Runs `xtask/engine/<name> <kind>` and parses its `KEY=VALUE` stdout lines.
pub fn script(name: &str, kind: &str) -> anyhow::Result<Vec<(String, String)>> {
    script_with(name, &[kind], name == "status.sh")
}

fn script_with(name: &str, args: &[&str], quiet: bool) -> anyhow::Result<Vec<(String, String)>> {
    let kind = args.join(" ");
    let path = crate::workspace().join("xtask/engine").join(name);
    let out = Command::new("bash")
        .arg(&path)
        .args(args)
        .stderr(if quiet { std::process::Stdio::null() } else { std::process::Stdio::inherit() })
        .output()
        .with_context(|| format!("cannot run `{}`", path.display()))?;
    if !out.status.success() {
        bail!("`{} {kind}` failed ({})", path.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect())
}
