//! The Python with rocker 0.4.0 and deps_rocker 0.23.2 that the differential test runs against
//! (`cli/tests/rocker_differential.rs`): a venv of the project's own, `target/rocker-venv`, made by
//! `cargo xtask test` when missing (pip, from PyPI). Nothing is installed outside it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The packages, pinned: the versions quarry's rocker entry reads lines as.
const PACKAGES: &[&str] = &["rocker==0.4.0", "deps-rocker==0.23.2"];

/// The venv's python, made (or completed) when missing. A machine without python3 or PyPI gets
/// `None` and a note: the differential test then says SKIPPED (and fails under `CI=true`).
pub fn python() -> Option<PathBuf> {
    match make() {
        Ok(python) => Some(python),
        Err(e) => {
            eprintln!("xtask: no Python with rocker for the differential test: {e:#}");
            None
        }
    }
}

fn make() -> anyhow::Result<PathBuf> {
    let venv = crate::workspace().join("target/rocker-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".quarry-packages");
    let wanted = PACKAGES.join(" ");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    eprintln!("xtask: making {} with {wanted}", venv.display());
    let status =
        Command::new("python3").args(["-m", "venv"]).arg(&venv).status().context("cannot run python3")?;
    if !status.success() {
        bail!("`python3 -m venv {}` failed", venv.display());
    }
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .status()
        .context("cannot run pip")?;
    if !status.success() {
        bail!("`pip install {wanted}` failed");
    }
    std::fs::write(&stamp, &wanted)?;
    Ok(python)
}
