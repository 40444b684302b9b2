//! The devcontainer CLI (`@devcontainers/cli` 0.89.0, the reference implementation of the Dev
//! Containers spec that VS Code's extension shares) that the dev-container engine test opens
//! quarry's `.devcontainer/devcontainer.json` with: installed by `cargo xtask test` into
//! `target/devcontainer-cli` with the machine's npm, when missing. Nothing is installed outside it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The package, pinned.
const PACKAGE: &str = "@devcontainers/cli@0.89.0";

/// The `devcontainer` program, installed when missing. A machine without npm or its registry
/// gets `None` and a note: the test then says SKIPPED (and fails under `CI=true`).
pub fn program() -> Option<PathBuf> {
    match install() {
        Ok(program) => Some(program),
        Err(e) => {
            eprintln!("xtask: no devcontainer CLI for the dev-container test: {e:#}");
            None
        }
    }
}

fn install() -> anyhow::Result<PathBuf> {
    let dir = crate::workspace().join("target/devcontainer-cli");
    let program = dir.join("node_modules/.bin/devcontainer");
    let stamp = dir.join(".quarry-package");
    if program.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == PACKAGE) {
        return Ok(program);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    eprintln!("xtask: installing {PACKAGE} into {}", dir.display());
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(&dir)
        .arg(PACKAGE)
        .status()
        .context("cannot run npm")?;
    if !status.success() || !program.exists() {
        bail!("`npm install {PACKAGE}` failed");
    }
    std::fs::write(&stamp, PACKAGE)?;
    Ok(program)
}
