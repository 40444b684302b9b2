//! The image tag and the build context of `quarry build`: the default tag, checking a `--tag`,
//! and the folders the Dockerfile and shipped files are written to.

use std::io::Write;
use std::path::{Path, PathBuf};

use quarry_buildkit::hash::fnv1a;
use quarry_core::{Hinted, Rendered};

/// `quarry/<extensions>:<hash>`: the same configuration gives the same tag on every machine.
/// The layers of the project's deps files (`project_deps_*`) are named once, as `deps`.
pub fn default_tag(rendered: &Rendered) -> String {
    let mut names: Vec<&str> = rendered
        .resolved
        .extensions
        .iter()
        .filter(|r| r.requested)
        .map(|r| if r.extension.name.starts_with("project_deps_") { "deps" } else { r.extension.name })
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut repo = names.join("-").replace('_', "-");
    if repo.len() > 100 {
        repo.truncate(100);
        repo = repo.trim_end_matches('-').to_owned();
    }
    // Hashed part by part: a large copied file is not held twice.
    let parts = std::iter::once(rendered.dockerfile.as_bytes())
        .chain(rendered.files.iter().flat_map(|f| [f.path.as_bytes(), f.contents.as_ref()]));
    format!("quarry/{repo}:{:016x}", quarry_buildkit::hash::fnv1a_of(parts))
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
/// `~/.cache/quarry/contexts`, else `quarry-<uid>/contexts` in the system temp folder. The
/// `quarry` folder is private ([`crate::private_dir`]): in a shared temp folder, one that another
/// user made first is refused, never used.
pub fn contexts_root() -> PathBuf {
    match crate::xdg_dir("XDG_CACHE_HOME", ".cache") {
        Some(base) => base.join("quarry").join("contexts"),
        None => std::env::temp_dir()
            .join(format!("quarry-{}", rustix::process::geteuid().as_raw()))
            .join("contexts"),
    }
}

/// The file in a build's context that the build holds locked (`flock`) while it runs: [`prune`]
/// and [`clean`] never touch a context whose lock is held, and the lock goes with the process,
/// so a killed build's context is removable at once.
const RUNNING: &str = ".quarry-building";
/// The folder a dry run writes its context to, under its tag folder: replaced by the next.
const DRY_RUN: &str = "dry-run";
/// How many contexts of failed or interrupted builds [`prune`] leaves, the newest.
pub const KEEP_FAILED: usize = 5;
/// Age after which [`prune`] removes any context quarry keeps (a dry run's, a failed build's):
/// two days.
pub const STALE: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 3600);

/// A build's own context, locked as running until this value is dropped.
#[derive(Debug)]
pub struct BuildContext {
    /// The folder.
    pub dir: PathBuf,
    _running: std::fs::File,
}

/// Writes a build's own context: a new folder with an unpredictable name, created exclusively
/// under `<root>/<tag folder>/`, so concurrent builds of one configuration (a CI matrix with one
/// cache id per job) never share or delete each other's context. It is locked as running while
/// the returned value lives. Remove it with [`remove_build_context`] when the build succeeded; a
/// failed build leaves it for debugging, and [`prune`] bounds how many stay.
pub fn write_build_context(root: &Path, tag: &str, rendered: &Rendered) -> std::io::Result<BuildContext> {
    let parent = tag_folder(root, tag)?;
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
    let running = std::fs::File::create(dir.path().join(RUNNING))?;
    rustix::fs::flock(&running, rustix::fs::FlockOperation::LockExclusive)?;
    write_files(dir.path(), rendered)?;
    Ok(BuildContext { dir: dir.keep(), _running: running })
}

/// Writes a dry run's context, `<root>/<tag folder>/dry-run`, replacing the last dry run's of
/// the same tag, so repeated dry runs keep one folder each.
pub fn write_dry_run_context(root: &Path, tag: &str, rendered: &Rendered) -> std::io::Result<PathBuf> {
    let dir = tag_folder(root, tag)?.join(DRY_RUN);
    write_context(&dir, rendered)?;
    Ok(dir)
}

/// `<root>/<tag folder>`, with `root`'s `quarry` folder made private.
fn tag_folder(root: &Path, tag: &str) -> std::io::Result<PathBuf> {
    if let Some(quarry) = root.parent() {
        crate::private_dir::private_dir(quarry).map_err(std::io::Error::other)?;
    }
    Ok(root.join(context_folder_name(tag)))
}

/// What [`prune`] or [`clean`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// How many folders.
    pub folders: usize,
    /// Their size in bytes.
    pub bytes: u64,
}

/// Removes what quarry keeps beyond its bounds: contexts of failed builds but the newest
/// [`KEEP_FAILED`], and every kept or dry-run context older than [`STALE`]. A running build's
/// context is never touched.
pub fn prune(root: &Path) -> Removed {
    sweep(root, false)
}

/// Removes every context quarry keeps (`quarry clean`): failed and interrupted builds', dry
/// runs'; a running build's is left alone.
pub fn clean(root: &Path) -> Removed {
    sweep(root, true)
}

/// Whether a build holds the context's lock.
fn running(dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(dir.join(RUNNING)) else { return false };
    matches!(
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared),
        Err(rustix::io::Errno::WOULDBLOCK)
    )
}

fn sweep(root: &Path, all: bool) -> Removed {
    let now = std::time::SystemTime::now();
    let age = |p: &Path| {
        std::fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    let mut failed: Vec<(std::time::Duration, PathBuf)> = Vec::new();
    let mut removed = Removed::default();
    let remove = |dir: &Path, removed: &mut Removed| {
        let bytes = size(dir);
        if std::fs::remove_dir_all(dir).is_ok() {
            removed.folders += 1;
            removed.bytes += bytes;
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    };
    let Ok(tags) = std::fs::read_dir(root) else { return removed };
    for tag in tags.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
        let Ok(contexts) = std::fs::read_dir(tag.path()) else { continue };
        for context in contexts.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            let path = context.path();
            if running(&path) {
                continue;
            }
            if all || age(&path) > STALE {
                remove(&path, &mut removed);
            } else if context.file_name() != DRY_RUN {
                failed.push((age(&path), path));
            }
        }
    }
    failed.sort();
    for (_, path) in failed.iter().skip(KEEP_FAILED) {
        remove(path, &mut removed);
    }
    removed
}

/// The bytes of the files under `dir` (links not followed).
fn size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
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
    use std::os::unix::fs::PermissionsExt;

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
                    let context = write_build_context(&root, "quarry/cargo:abc", &rendered).unwrap();
                    let dir = context.dir.clone();
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

    /// Bounded leftovers: dry runs of one tag share one folder; of failed builds the newest
    /// [`KEEP_FAILED`] stay; `clean` removes them all; a running build's context is never touched,
    /// by either, and a killed build's (its lock gone with it) is removable at once.
    #[test]
    fn kept_contexts_are_bounded_and_running_ones_left_alone() {
        let base = std::env::temp_dir().join(format!("quarry-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("quarry").join("contexts");
        let rendered = rendered();
        let a = write_dry_run_context(&root, "quarry/a:1", &rendered).unwrap();
        let b = write_dry_run_context(&root, "quarry/a:1", &rendered).unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read_dir(root.join("quarry%2Fa%3A1")).unwrap().count(), 1);
        let running = write_build_context(&root, "quarry/a:1", &rendered).unwrap();
        let mut failed = Vec::new();
        for i in 0..KEEP_FAILED + 3 {
            // Failed builds: their hold on the context ended with them.
            let c = write_build_context(&root, &format!("quarry/f:{i}"), &rendered).unwrap();
            failed.push(c.dir.clone());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let removed = prune(&root);
        assert_eq!(removed.folders, 3, "the oldest failed ones go");
        assert!(removed.bytes > 0);
        assert!(failed[..3].iter().all(|d| !d.exists()) && failed[3..].iter().all(|d| d.exists()));
        assert!(a.exists() && running.dir.exists());
        let removed = clean(&root);
        assert_eq!(removed.folders, KEEP_FAILED + 1, "the failed ones and the dry run");
        assert!(running.dir.join("Dockerfile").is_file(), "a running build keeps its context");
        assert_eq!(
            std::fs::metadata(base.join("quarry")).unwrap().permissions().mode() & 0o777,
            0o700,
            "the folder is private"
        );
        drop(running);
        assert_eq!(clean(&root).folders, 1);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
