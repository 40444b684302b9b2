//! Project extensions: a folder's `extension.toml`, read by the same reader as a crate's into the
//! same [`Extension`] value, at run time instead of at build time (where `emit` writes the value
//! as Rust).
//!
//! The model is `'static` (registrations are statics), so the value is leaked: a process loads
//! each project extension once, and it lives as long as the process does.

use std::path::Path;

use quarry_core::Extension;

use crate::diagnostic::Diagnostic;
use crate::{Input, METADATA_FILE, files, metadata};

/// Reads, validates and builds the extension in `dir`. `shown` is the folder as diagnostics name
/// it (relative to the project). `root` is the project's folder: a file the metadata names must
/// resolve inside it, so a symbolic link cannot ship a file from elsewhere on the host.
/// `origin` is what [`Extension::crate_name`] holds for it (`quarry.toml`'s folder entry).
pub fn load(
    dir: &Path,
    shown: &str,
    root: &Path,
    origin: &str,
) -> Result<&'static Extension, Vec<Diagnostic>> {
    let metadata_shown = format!("{shown}/{METADATA_FILE}");
    let text = files::read_text(&dir.join(METADATA_FILE), Some(root), files::TEXT_LIMIT, &metadata_shown)
        .map_err(|e| {
            let message = match e {
                files::ReadError::Missing(_) => format!(
                    "`{shown}` has no `{METADATA_FILE}`; `quarry new-extension NAME` makes a folder with one"
                ),
                e => format!("cannot read the metadata file: {e}"),
            };
            vec![Diagnostic::whole_file(&metadata_shown, "missing-file", message)]
        })?;
    let load = |rel: &str, limit: u64| read_inside_root(dir, root, rel, limit);
    Ok(leak(metadata::parse(&Input { path: &metadata_shown, text: &text, load: &load }, origin)?))
}

/// Validates metadata given as text (with its files read through `input.load`) and builds the
/// extension: what `quarry.toml`'s two-line keys become.
pub fn build(input: &Input<'_>, origin: &str) -> Result<&'static Extension, Vec<Diagnostic>> {
    Ok(leak(metadata::parse(input, origin)?))
}

/// Reads `rel` under `dir` when it resolves inside `root`, is a regular file and holds at most
/// `limit` bytes ([`files::read`]); the error says why not.
pub fn read_inside_root(dir: &Path, root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
    files::read(&dir.join(rel), Some(root), limit, rel).map_err(|e| e.to_string())
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copied file's bytes are moved into the extension, not copied: a 200 MB file took 400 MB.
    #[test]
    fn a_copied_file_is_held_once() {
        let seen = std::cell::Cell::new(std::ptr::null::<u8>());
        let load = |rel: &str, _limit: u64| {
            if rel == "files/big.bin" {
                let bytes = vec![7u8; 1 << 20];
                seen.set(bytes.as_ptr());
                Ok(bytes)
            } else {
                Err(format!("`{rel}` does not exist"))
            }
        };
        let text = "name = \"big\"\ndescription = \"d\"\n[[files]]\npath = \"files/big.bin\"\ndest = \"/opt/big.bin\"\n";
        let ext = build(&Input { path: "big/extension.toml", text, load: &load }, "test").unwrap();
        assert_eq!(ext.files[0].contents.len(), 1 << 20);
        assert_eq!(ext.files[0].contents.as_ptr(), seen.get(), "the bytes were copied");
    }
}
