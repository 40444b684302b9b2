//! Turns an extension's metadata file into the Rust code that registers it, or into diagnostics
//! that name the file, line, column, key and rule of every mistake at once.
//!
//! [`generate`] is pure: text in, code or diagnostics out (files the metadata names are read
//! through the loader it is given). [`build_script`] is the thin IO wrapper an extension's
//! `build.rs` calls. [`runtime::load`] runs the same validation on a project's extension folder
//! at run time and builds the same value, so a project extension and a crate get the same
//! diagnostics from the same code.

mod diagnostic;
mod emit;
pub mod files;
mod metadata;
pub mod runtime;

use std::path::{Path, PathBuf};

pub use diagnostic::Diagnostic;
pub use metadata::Metadata;

/// Name of the metadata file in an extension crate.
pub const METADATA_FILE: &str = "extension.toml";

/// Reads a file the metadata names, relative to the crate, at most the given number of bytes.
pub type Load<'a> = dyn Fn(&str, u64) -> Result<Vec<u8>, String> + 'a;

/// What [`generate`] reads.
pub struct Input<'a> {
    /// The metadata file's path as it should appear in diagnostics.
    pub path: &'a str,
    /// The metadata file's text.
    pub text: &'a str,
    /// Reads a file the metadata names (a template or a context file), relative to the crate, at
    /// most the given number of bytes; the error says why not (it ends a diagnostic).
    pub load: &'a Load<'a>,
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The generated registration code.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Rust source to `include!` from the extension's `lib.rs`.
    pub code: String,
    /// Files the metadata named (relative to the crate), for `rerun-if-changed`.
    pub files: Vec<String>,
}

/// Parses and validates metadata, then emits the registration code.
pub fn generate(input: &Input<'_>) -> Result<Generated, Vec<Diagnostic>> {
    let metadata = metadata::parse(input)?;
    let files = metadata.referenced_files();
    Ok(Generated { code: emit::emit(&metadata), files })
}

/// The `build.rs` of an extension crate: reads `extension.toml` from the crate folder, writes
/// `$OUT_DIR/extension.rs`, and reports every diagnostic as a `cargo::error=` line.
pub fn build_script() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rerun-if-changed={METADATA_FILE}");
    let display = display_path(&dir);
    match run(&dir, &display) {
        Ok(generated) => {
            for file in &generated.files {
                println!("cargo::rerun-if-changed={file}");
            }
            if let Err(e) = std::fs::write(out.join("extension.rs"), generated.code) {
                println!("cargo::error=cannot write {}: {e}", out.join("extension.rs").display());
            }
        }
        Err(diagnostics) => {
            for d in diagnostics {
                println!("cargo::error={d}");
            }
            // Any file of the crate may be the fix: watch them all until the metadata is valid.
            println!("cargo::rerun-if-changed=.");
        }
    }
}

fn run(dir: &Path, display: &str) -> Result<Generated, Vec<Diagnostic>> {
    let path = dir.join(METADATA_FILE);
    let shown = format!("{display}/{METADATA_FILE}");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        vec![Diagnostic::whole_file(&shown, "missing-file", format!("cannot read the metadata file: {e}"))]
    })?;
    let load =
        |rel: &str, limit: u64| files::read(&dir.join(rel), Some(dir), limit, rel).map_err(|e| e.to_string());
    generate(&Input { path: &shown, text: &text, load: &load })
}

/// The crate folder relative to the workspace root when it is inside one (`extensions/cargo`),
/// else the full path.
fn display_path(dir: &Path) -> String {
    let mut candidate = dir.parent();
    while let Some(parent) = candidate {
        if (parent.join("Cargo.lock").exists() || parent.join(".git").exists())
            && let Ok(rel) = dir.strip_prefix(parent)
        {
            return rel.display().to_string();
        }
        candidate = parent.parent();
    }
    dir.display().to_string()
}
