//! The project's files an extension's build needs (`[project_files]`): found below the host
//! folder its option names and read into the request, so rendering (which reads nothing from the
//! host) ships them. Only files of the declared names are read; hidden folders, folders holding a
//! skip marker and links to folders are not entered, and the walk is bounded.

use std::path::{Path, PathBuf};

use quarry_core::{Hinted, ProjectFile, Registry, Request};

/// At most this many files and folders are looked at below one folder.
const MAX_ENTRIES: usize = 200_000;
/// At most this many bytes are read in all.
const MAX_BYTES: u64 = 64 << 20;

/// Fills `request.project_files` for every selected extension that declares project files.
/// A selection that does not resolve is left as it is: the render reports why.
pub fn collect(registry: &Registry, request: &mut Request) -> anyhow::Result<()> {
    if !registry.iter().any(|e| e.project_files.is_some()) {
        return Ok(());
    }
    let Ok(resolved) = quarry_core::resolve(registry, request) else { return Ok(()) };
    for r in &resolved.extensions {
        let Some(spec) = &r.extension.project_files else { continue };
        let folder = PathBuf::from(&r.options[spec.folder_option]);
        let files = walk(&folder, spec.names, spec.skip_folders_with).map_err(|message| {
            Hinted::new(
                format!(
                    "`{}` cannot collect its files below `{}`: {message}",
                    r.extension.name,
                    folder.display()
                ),
                format!(
                    "point `{}-{}` at the project's folder",
                    r.extension.flag(),
                    spec.folder_option.replace('_', "-")
                ),
            )
        })?;
        request.project_files.insert(r.extension.name.to_owned(), files);
    }
    Ok(())
}

/// The files named one of `names` below `root`, sorted by path.
fn walk(root: &Path, names: &[&str], skip: &[&str]) -> Result<Vec<ProjectFile>, String> {
    if !root.is_dir() {
        return Err("it is not a folder".to_owned());
    }
    let mut out = Vec::new();
    let (mut entries, mut bytes) = (0usize, 0u64);
    let mut pending: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let mut children: Vec<std::fs::DirEntry> = match std::fs::read_dir(&dir) {
            Ok(read) => read.filter_map(Result::ok).collect(),
            // A folder the user cannot read holds nothing the build could use.
            Err(_) => continue,
        };
        if children.iter().any(|c| skip.iter().any(|s| c.file_name() == **s)) {
            continue;
        }
        children.sort_by_key(std::fs::DirEntry::file_name);
        for child in children {
            entries += 1;
            if entries > MAX_ENTRIES {
                return Err(format!("more than {MAX_ENTRIES} files and folders below it"));
            }
            let name = child.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(kind) = child.file_type() else { continue };
            let path = if rel.as_os_str().is_empty() { PathBuf::from(name) } else { rel.join(name) };
            if kind.is_dir() {
                if !name.starts_with('.') {
                    pending.push(path);
                }
                continue;
            }
            if !names.contains(&name) {
                continue;
            }
            // A link to a file is read (workspaces link packages in); a link to a folder is not
            // entered above.
            let Ok(contents) = std::fs::read(child.path()) else { continue };
            bytes += contents.len() as u64;
            if bytes > MAX_BYTES {
                return Err(format!(
                    "its files named {} hold more than {} MiB",
                    names.join(", "),
                    MAX_BYTES >> 20
                ));
            }
            let path = path.to_string_lossy().into_owned();
            if !quarry_core::rules::is_rel_path(&path) {
                return Err(format!(
                    "{} cannot be shipped: a path of letters, digits, `.`, `_`, `-`, `+`, `@` and `/` only",
                    quarry_core::text::shown(&path)
                ));
            }
            out.push(ProjectFile { path, contents });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_files_outside_skipped_and_hidden_folders() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("src/a/package.xml", "a");
        w("src/a/src/main.cpp", "int main() {}");
        w("src/b/nested/package.xml", "b");
        w("install/COLCON_IGNORE", "");
        w("install/share/a/package.xml", "copy");
        w(".git/package.xml", "no");
        std::os::unix::fs::symlink(dir.path().join("src"), dir.path().join("link")).unwrap();
        let files = walk(dir.path(), &["package.xml"], &["COLCON_IGNORE"]).unwrap();
        let got: Vec<(&str, &[u8])> =
            files.iter().map(|f| (f.path.as_str(), f.contents.as_slice())).collect();
        assert_eq!(got, [("src/a/package.xml", &b"a"[..]), ("src/b/nested/package.xml", &b"b"[..])]);
        assert!(walk(&dir.path().join("nope"), &["package.xml"], &[]).is_err());
    }
}
