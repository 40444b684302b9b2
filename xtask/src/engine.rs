//! The Docker engines and registries the engine tests run against, started through
//! `xtask/engine/*.sh` when they are not running and this is root, and stopped afterwards if
//! this run started them: on success, on failure and when a signal ends the run.
//!
//! The tests read `QUARRY_TEST_ENGINE_<NAME>` (a `DOCKER_HOST`), `QUARRY_TEST_DOCKER_CONFIG_<NAME>`
//! and `QUARRY_TEST_ADD_HOST` (`host:ip` of the Debian mirror). Names: `MODERN` (Docker 26 with
//! the containerd image store), `LEGACY` (Docker 20.10), and `RUNNER1`, `RUNNER2`: two more
//! Docker 26 engines with the containerd store and their own data roots, standing in for two CI
//! runners in the remote-cache test, which also reads `QUARRY_TEST_REGISTRY` (a loopback
//! registry, `xtask/engine/registry.sh`), `QUARRY_TEST_REGISTRY_RO` (one that refuses pushes) and
//! `QUARRY_TEST_REGISTRY_DIR` (the first one's storage). With any engine, `QUARRY_TEST_GPG` is
//! a gpg the robotics test signs its apt repositories with (`tools.sh`: bookworm's, unpacked).
//! `PODMAN` is Debian bookworm's Podman (`start.sh podman`, `podman.sh`): the tests read
//! `QUARRY_TEST_PODMAN` (the `podman` wrapper with the engine's private configuration) and
//! `QUARRY_TEST_PODMAN_HOST` (its Docker-compatible socket).
//!
//! Everything the scripts download, unpack and keep is in one folder, `QUARRY_ENGINE_CACHE`
//! (default `/var/cache/quarry-engine`); nothing is installed into the system.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::interrupt::{self, Signals, say};

/// What a test variable stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// An engine of `start.sh KIND`.
    Engine(String),
    /// A registry of `registry.sh start NAME`.
    Registry(&'static str),
}

/// The default set, by the suffix of the test variables: (name, engine kind or registry).
const DEFAULTS: &[(&str, &str)] = &[
    ("MODERN", "26c"),
    ("LEGACY", "20.10"),
    ("RUNNER1", "26c-rca"),
    ("RUNNER2", "26c-rcb"),
    ("REGISTRY", "registry main"),
    ("REGISTRY_RO", "registry ro"),
    ("PODMAN", "podman"),
];

fn default_service(name: &str) -> Option<Service> {
    let (_, what) = DEFAULTS.iter().find(|(n, _)| *n == name)?;
    Some(match what.strip_prefix("registry ") {
        Some("main") => Service::Registry("main"),
        Some(_) => Service::Registry("ro"),
        None => Service::Engine((*what).to_owned()),
    })
}

/// Every engine and registry of the default set.
pub fn all() -> Vec<(String, Service)> {
    DEFAULTS.iter().map(|(n, _)| ((*n).to_owned(), default_service(n).expect("a default"))).collect()
}

/// Parses `--engines`: `none`, or a comma-separated list of names (`MODERN`, `LEGACY`,
/// `RUNNER1`, `RUNNER2`, `REGISTRY`, `REGISTRY_RO`), an engine's optionally with another kind
/// of `start.sh` (`MODERN=26c-qi`).
pub fn parse(list: &str) -> anyhow::Result<Vec<(String, Service)>> {
    if list == "none" {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = DEFAULTS.iter().map(|(n, _)| *n).collect();
    let mut out: Vec<(String, Service)> = Vec::new();
    for item in list.split(',') {
        let (name, kind) = match item.split_once('=') {
            Some((n, k)) => (n, Some(k)),
            None => (item, None),
        };
        let Some(service) = default_service(name) else {
            bail!("unknown engine `{name}` in `--engines`\nhint: use `none` or some of {}", names.join(", "));
        };
        let service = match (service, kind) {
            (Service::Engine(_), Some(kind)) => {
                let base = kind.split('-').next().unwrap_or(kind);
                if (name == "PODMAN") != (kind == "podman")
                    || !["26c", "26", "20.10", "podman"].contains(&base)
                {
                    bail!(
                        "unknown engine kind `{kind}` for `{name}`\nhint: 26c, 26 or 20.10, or one of them with -NAME \
                         (PODMAN: podman)"
                    );
                }
                Service::Engine(kind.to_owned())
            }
            (Service::Registry(_), Some(_)) => bail!("`{name}` takes no kind in `--engines`"),
            (service, None) => service,
        };
        if out.iter().any(|(n, _)| n == name) {
            bail!("`{name}` is named twice in `--engines`");
        }
        out.push((name.to_owned(), service));
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct Engines {
    env: BTreeMap<String, String>,
    /// Engine kinds this run started (or was starting when it stopped), in order.
    started: Vec<String>,
    /// Registries this run started.
    registries: Vec<&'static str>,
}

impl Engines {
    /// Starts what is missing of `wanted` (as root), making base images in each engine unless
    /// `images` is false, or reports loudly that engine tests will be skipped. An engine or
    /// registry is recorded as this run's before its script runs, so [`Engines::tear_down`]
    /// stops it even when the start fails or is interrupted half-way.
    pub fn bring_up(
        &mut self,
        wanted: &[(String, Service)],
        images: bool,
        signals: &Signals,
    ) -> anyhow::Result<()> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if !root {
            eprintln!(
                "xtask: not root: no Docker engine is started; engine tests use QUARRY_TEST_ENGINE_* if set, \
                 else they are ignored (and fail under CI=true)"
            );
            return Ok(());
        }
        for (name, service) in wanted {
            signals.check()?;
            match service {
                Service::Engine(kind) => self.engine(name, kind, images, signals)?,
                Service::Registry(registry) => self.registry(name, registry, signals)?,
            }
        }
        if wanted.iter().any(|(_, s)| matches!(s, Service::Engine(_))) {
            self.tools(signals)?;
        }
        Ok(())
    }

    /// The programs engine tests run on this machine that a fresh one may lack (`tools.sh`:
    /// bookworm's gpg, unpacked into the folder), as `QUARRY_TEST_<NAME>`.
    fn tools(&mut self, signals: &Signals) -> anyhow::Result<()> {
        if std::env::var_os("QUARRY_TEST_GPG").is_some() {
            return Ok(());
        }
        let made = script_with("tools.sh", &[], false, Some(signals))
            .context("cannot provide the engine tests' tools")?;
        for (key, value) in made {
            if key == "GPG" {
                self.env.insert("QUARRY_TEST_GPG".to_owned(), value);
            }
        }
        Ok(())
    }

    fn engine(&mut self, name: &str, kind: &str, images: bool, signals: &Signals) -> anyhow::Result<()> {
        let given = if kind == "podman" {
            "QUARRY_TEST_PODMAN".to_owned()
        } else {
            format!("QUARRY_TEST_ENGINE_{name}")
        };
        if std::env::var_os(given).is_some() {
            return Ok(());
        }
        if script_with("status.sh", &[kind], true, Some(signals)).is_err() {
            signals.check()?;
            self.started.push(kind.to_owned());
        }
        let started = script_with("start.sh", &[kind], false, Some(signals))
            .with_context(|| format!("cannot start engine {kind}"))?;
        for (key, value) in started {
            let var = match key.as_str() {
                "DOCKER_HOST" => format!("QUARRY_TEST_ENGINE_{name}"),
                "DOCKER_CONFIG" => format!("QUARRY_TEST_DOCKER_CONFIG_{name}"),
                "PODMAN" => "QUARRY_TEST_PODMAN".to_owned(),
                "PODMAN_HOST" => "QUARRY_TEST_PODMAN_HOST".to_owned(),
                _ => continue,
            };
            self.env.insert(var, value);
        }
        if images {
            let made = script_with("images.sh", &[kind], false, Some(signals))
                .with_context(|| format!("cannot make base images on {kind}"))?;
            for (key, value) in made {
                if key == "ADD_HOST" {
                    self.env.insert("QUARRY_TEST_ADD_HOST".to_owned(), value);
                }
            }
        }
        Ok(())
    }

    fn registry(&mut self, var: &str, registry: &'static str, signals: &Signals) -> anyhow::Result<()> {
        let var = format!("QUARRY_TEST_{var}");
        if std::env::var_os(&var).is_some() {
            return Ok(());
        }
        if script_with("registry.sh", &["status", registry], true, Some(signals)).is_err() {
            signals.check()?;
            self.registries.push(registry);
        }
        let out = script_with("registry.sh", &["start", registry], false, Some(signals))
            .with_context(|| format!("cannot start registry {registry}"))?;
        for (key, value) in out {
            match key.as_str() {
                "REGISTRY" => self.env.insert(var.clone(), value),
                "REGISTRY_DIR" if registry == "main" => {
                    self.env.insert("QUARRY_TEST_REGISTRY_DIR".to_owned(), value)
                }
                _ => None,
            };
        }
        Ok(())
    }

    /// What the ignored tests need of `wanted` that neither the environment nor this run
    /// provides (the test variables of its engines and registries; an empty `wanted`, no
    /// engine at all): nothing means every test of them can run.
    pub fn missing(&self, wanted: &[(String, Service)]) -> Vec<String> {
        if wanted.is_empty() {
            return vec!["an engine (`--engines none`)".to_owned()];
        }
        let needed = wanted.iter().map(|(name, service)| match service {
            Service::Engine(_) => format!("QUARRY_TEST_ENGINE_{name}"),
            Service::Registry(_) => format!("QUARRY_TEST_{name}"),
        });
        needed.filter(|var| std::env::var_os(var).is_none() && !self.env.contains_key(var)).collect()
    }

    /// Variables for the test run.
    pub fn test_env(&self) -> impl Iterator<Item = (&String, &String)> {
        self.env.iter()
    }

    /// Stops the engines and registries this run started, last first; `stop.sh` also removes
    /// each engine's bridge and rules, and gives back ip_forward after the last one. Runs to
    /// the end whatever signals come meanwhile.
    pub fn tear_down(self) {
        if !self.started.is_empty() || !self.registries.is_empty() {
            say(&format!(
                "xtask: stopping what this run started: {}",
                self.started
                    .iter()
                    .map(String::as_str)
                    .chain(self.registries.iter().map(|r| match *r {
                        "main" => "registry main",
                        _ => "registry ro",
                    }))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for name in self.registries.iter().rev() {
            if let Err(e) = stop("registry.sh", &["stop", name]) {
                say(&format!("xtask: cannot stop registry {name}: {e:#}"));
            }
        }
        for kind in self.started.iter().rev() {
            if let Err(e) = stop("stop.sh", &[kind]) {
                say(&format!("xtask: cannot stop engine {kind}: {e:#}"));
            }
        }
    }
}

fn stop(name: &str, args: &[&str]) -> anyhow::Result<()> {
    let path = crate::workspace().join("xtask/engine").join(name);
    let status = interrupt::run_to_end(Command::new("bash").arg(&path).args(args))?;
    if !status.success() {
        bail!("`{} {}` failed ({status})", path.display(), args.join(" "));
    }
    Ok(())
}

/// Runs `xtask/engine/registry.sh <action> <name>`, parsed as [`script`] does.
pub fn registry_script(action: &str, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    script_with("registry.sh", &[action, name], action == "status", None)
}

/// Runs `xtask/engine/<name> <kind>` and parses its `KEY=VALUE` stdout lines.
pub fn script(name: &str, kind: &str) -> anyhow::Result<Vec<(String, String)>> {
    script_with(name, &[kind], name == "status.sh", None)
}

/// Runs a script of `xtask/engine/` in a process group of its own; with `signals`, a caught
/// signal stops it (SIGTERM: its traps clean up) and the error is `Interrupted`.
fn script_with(
    name: &str,
    args: &[&str],
    quiet: bool,
    signals: Option<&Signals>,
) -> anyhow::Result<Vec<(String, String)>> {
    let what = args.join(" ");
    let path = crate::workspace().join("xtask/engine").join(name);
    let mut command = Command::new("bash");
    command.arg(&path).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(if quiet {
        Stdio::null()
    } else {
        Stdio::inherit()
    });
    let (status, stdout) = interrupt::run(&mut command, signals, "TERM")?;
    if !status.success() {
        bail!("`{} {what}` failed ({status})", path.display());
    }
    Ok(String::from_utf8_lossy(&stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_lists_parse() {
        assert_eq!(parse("none").unwrap(), vec![]);
        assert_eq!(
            parse("MODERN,REGISTRY").unwrap(),
            vec![
                ("MODERN".to_owned(), Service::Engine("26c".into())),
                ("REGISTRY".to_owned(), Service::Registry("main")),
            ]
        );
        assert_eq!(
            parse("LEGACY=20.10-qi").unwrap(),
            vec![("LEGACY".to_owned(), Service::Engine("20.10-qi".into()))]
        );
        assert_eq!(all().len(), 7);
        assert_eq!(parse("PODMAN").unwrap(), vec![("PODMAN".to_owned(), Service::Engine("podman".into()))]);
        for bad in ["MODERN=27", "REGISTRY=x", "OTHER", "MODERN,MODERN", "", "MODERN=podman", "PODMAN=26c"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
