//! The image tag and the build context of `quarry build`: the default tag, checking a `--tag`,
//! and the folders the Dockerfile and shipped files are written to.

use std::io::Write;
use std::path::{Path, PathBuf};

use quarry_buildkit::hash::fnv1a;
use quarry_core::{Hinted, Rendered};

/// `quarry/<extensions>:<hash>`: the same configuration gives the same tag on every machine.
pub fn default_tag(rendered: &Rendered) -> String {
    let mut names: Vec<&str> =
        rendered.resolved.extensions.iter().filter(|r| r.requested).map(|r| r.extension.name).collect();
    names.sort_unstable();
    let mut repo = names.join("-").replace('_', "-");
    if repo.len() > 100 {
        repo.truncate(100);
        repo = repo.trim_end_matches('-').to_owned();
    }
    let mut bytes = rendered.dockerfile.as_bytes().to_vec();
    for f in &rendered.files {
        bytes.extend_from_slice(f.path.as_bytes());
        bytes.extend_from_slice(&f.contents);
    }
    format!("quarry/{repo}:{:016x}", fnv1a(&bytes))
}

/// Checks a `--tag` as `docker build --tag` does: a reference without digest, i.e. an optional
/// registry host (`registry.example.com:5000/`), lowercase path components
/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*` separated by `/`, and an optional `:tag`
/// `[\w][\w.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), Hinted> {
    if !tag.contains('@') && quarry_core::rules::is_image_ref(tag) {
        return Ok(());
    }
    Err(Hinted::new(
        format!("invalid tag {}", quarry_core::text::shown(tag)),
        "write it like `dev`, `team/dev:py310` or `registry.example.com:5000/team/dev:1.0`: lowercase letters \
         and digits joined by `.`, `_` or `-`, parts separated by `/`, and a tag after `:`",
    ))
}

/// The folder under [`contexts_root`] that holds the contexts of builds of `tag`: `/` and `:`
/// written as `%2F` and `%3A`, which is injective because a valid tag holds no `%`, and never
/// empty, `.` or `..` because a valid tag starts with a letter or digit. A tag whose encoding
/// would pass 200 bytes (file names end at 255) keeps its first 180 bytes and adds a hash of the
/// whole.
pub fn context_folder_name(tag: &str) -> String {
    debug_assert!(check_tag(tag).is_ok(), "{tag:?}");
    let encoded = tag.replace('%', "%25").replace('/', "%2F").replace(':', "%3A");
    if encoded.len() <= 200 {
        return encoded;
    }
    let mut cut = 180;
    while !encoded.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}%{:016x}", &encoded[..cut], fnv1a(tag.as_bytes()))
}

/// Where build contexts are kept: `$XDG_CACHE_HOME/quarry/contexts`, else
/// `~/.cache/quarry/contexts`, else the system temp folder.
pub fn contexts_root() -> PathBuf {
    let base = crate::xdg_dir("XDG_CACHE_HOME", ".cache").unwrap_or_else(std::env::temp_dir);
    base.join("quarry").join("contexts")
}

/// Writes a build's own context: a new folder with an unpredictable name, created exclusively
/// under `<root>/<tag folder>/`, so concurrent builds of one configuration (a CI matrix with one
/// cache id per job) never share or delete each other's context. Remove it with
/// [`remove_build_context`] when the build succeeded; a failed build keeps it.
pub fn write_build_context(root: &Path, tag: &str, rendered: &Rendered) -> std::io::Result<PathBuf> {
    let parent = root.join(context_folder_name(tag));
    let mut attempts = 0;
    let dir = loop {
        std::fs::create_dir_all(&parent)?;
        match tempfile::Builder::new().prefix("build-").tempdir_in(&parent) {
            Ok(dir) => break dir,
            // Another build removed the (then empty) tag folder in between: make it again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 5 => attempts += 1,
            Err(e) => return Err(e),
        }
    };
    write_files(dir.path(), rendered)?;
    Ok(dir.keep())
}

/// Removes a build context written by [`write_build_context`], and its tag folder when no other
/// build's context is left in it.
pub fn remove_build_context(dir: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(dir)?;
    if let Some(parent) = dir.parent() {
        // Fails while another build's context is in it: that is fine.
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// Writes the Dockerfile and every shipped file into `dir`, replacing what was there. The files
/// are written to a new sibling folder with an unpredictable name first and renamed into place,
/// so `dir` is never half-written. For a folder the caller owns alone (the cache benchmark, the
/// engine tests); `quarry build` uses [`write_build_context`].
pub fn write_context(dir: &Path, rendered: &Rendered) -> std::io::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = tempfile::Builder::new().prefix(&format!(".{name}.staging-")).tempdir_in(parent)?;
    write_files(staging.path(), rendered)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::rename(staging.path(), dir)?;
    // Renamed away: nothing is left to clean up.
    let _ = staging.keep();
    Ok(())
}

fn write_files(dir: &Path, rendered: &Rendered) -> std::io::Result<()> {
    write_file(&dir.join("Dockerfile"), rendered.dockerfile.as_bytes(), false)?;
    write_shipped(dir, &rendered.files)
}

/// Writes each shipped file at its path under `dir` (`quarry/...`), executable or not.
pub fn write_shipped(dir: &Path, files: &[quarry_core::BuildFile]) -> std::io::Result<()> {
    for f in files {
        write_file(&dir.join(&f.path), &f.contents, f.executable)?;
    }
    Ok(())
}

fn write_file(path: &Path, contents: &[u8], executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(contents)?;
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_as_docker_does() {
        for good in [
            "dev",
            "quarry/git:0123abcd",
            "team/dev:py3.10-rc_1",
            "registry.example.com:5000/team/dev:1.0",
            "localhost/a__b/c-d:latest",
            "Registry.Example.com/x",
        ] {
            assert!(check_tag(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/../b",
            "/abs",
            "Dev",
            "a//b",
            "x:",
            "x:-1",
            "x:.",
            "a\nb",
            "x@sha256:00",
            "a b",
        ] {
            let err = check_tag(bad).unwrap_err();
            assert!(
                err.message.starts_with("invalid tag ")
                    && err.hint.as_ref().unwrap().starts_with("write it like `dev`"),
                "{bad}: {err}"
            );
        }
        assert_eq!(check_tag("a\nb").unwrap_err().message, "invalid tag \"a\\nb\"");
    }

    #[test]
    fn context_folder_names_are_safe_and_distinct() {
        let tags = [
            "quarry/git:abc",
            "quarry_git_abc",
            "quarry/git_abc",
            "a",
            "a:b",
            "a/b",
            "localhost:5000/a",
            "localhost/5000/a",
        ];
        let names: std::collections::BTreeSet<String> = tags.iter().map(|t| context_folder_name(t)).collect();
        assert_eq!(names.len(), tags.len(), "{names:?}");
        for name in &names {
            assert!(!name.is_empty() && name != "." && name != ".." && !name.contains('/'), "{name}");
        }
        let long = format!("{}:{}", vec!["abcdefghij"; 15].join("/"), "t".repeat(60));
        assert!(check_tag(&long).is_ok());
        let name = context_folder_name(&long);
        assert!(name.len() <= 200 && name != context_folder_name(&long.replace(":t", ":u")), "{name}");
    }

    fn rendered() -> Rendered {
        let registry =
            quarry_core::Registry::from_extensions(quarry_catalog::LINKED.iter().copied()).unwrap();
        let request = quarry_core::Request {
            image: "ubuntu:24.04".into(),
            extensions: vec![quarry_core::Selection::new("cargo")],
            ..quarry_core::Request::default()
        };
        quarry_core::render(&registry, &request).unwrap()
    }

    /// Eight builds of one configuration write their contexts at once (a CI matrix with one cache
    /// id per job): each gets its own folder, none fails, and none loses its files while the
    /// others finish and remove theirs.
    #[test]
    fn concurrent_builds_have_their_own_contexts() {
        let root = std::env::temp_dir().join(format!("quarry-contexts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let rendered = std::sync::Arc::new(rendered());
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let builds: Vec<_> = (0..8)
            .map(|i| {
                let (root, rendered, barrier) = (root.clone(), rendered.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let dir = write_build_context(&root, "quarry/cargo:abc", &rendered).unwrap();
                    barrier.wait();
                    // Half the builds finish first, while the others still read their context.
                    if i % 2 == 0 {
                        remove_build_context(&dir).unwrap();
                    }
                    barrier.wait();
                    if i % 2 == 1 {
                        assert_eq!(
                            std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
                            rendered.dockerfile
                        );
                        for f in &rendered.files {
                            assert_eq!(std::fs::read(dir.join(&f.path)).unwrap(), f.contents.as_ref());
                        }
                        remove_build_context(&dir).unwrap();
                    }
                    dir
                })
            })
            .collect();
        let dirs: std::collections::BTreeSet<PathBuf> =
            builds.into_iter().map(|b| b.join().unwrap()).collect();
        assert_eq!(dirs.len(), 8);
        assert!(dirs.iter().all(|d| d.starts_with(root.join("quarry%2Fcargo%3Aabc"))), "{dirs:?}");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "every context and its tag folder are gone");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
