//! Writing results: never a half-written file, never a special file replaced by a regular one,
//! never a link that someone else planted followed, and a closed pipe is not an error.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use quarry_core::Hinted;

/// Writes `data` to stdout; a broken pipe ends quietly.
pub fn stdout(data: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(data).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes `data` to `path` (`-o`, the lock, `init`, `import`):
/// - a regular file, or a new one, is replaced atomically: the data goes to a temporary file
///   created exclusively (`O_EXCL`) under an unpredictable name in the same folder, which is
///   then renamed over `path`, so `path` is the old file or the whole new one. A replaced file
///   keeps its permission bits.
/// - a character or block device, a FIFO or a socket (`-o /dev/null`, `-o /dev/stdout`, a named
///   pipe) is opened and written directly: it is never replaced by a regular file.
/// - a symbolic link is followed to the file it names, which is written as above (the link
///   stays), when the link is owned by the effective user or by root. A link owned by another
///   user is refused: in a shared folder it may have been planted to make quarry overwrite a file
///   elsewhere.
/// - run as root, the new file belongs to whoever owned the file it replaces, or, for a new
///   file, the folder it goes into, when that is another user: root's render of a user's project
///   does not leave a quarry.lock the user can no longer replace.
pub fn write_atomically(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let target = resolve_links(path)?;
    let old = match std::fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(m) = &old {
        if m.is_dir() {
            anyhow::bail!(Hinted::new(format!("`{}` is a folder", target.display()), "name a file to write"));
        }
        if !m.is_file() {
            let mut file = std::fs::OpenOptions::new().write(true).open(&target)?;
            return Ok(file.write_all(data).and_then(|()| file.flush())?);
        }
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target.file_name().ok_or_else(|| {
        Hinted::new(format!("`{}` is not a file path", target.display()), "name a file to write")
    })?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".quarry-tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?;
    if let Some(m) = &old {
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    if let Some((uid, gid)) = owner_for(dir, old.as_ref())? {
        // Through the open file: the name may have been swapped since.
        std::os::unix::fs::fchown(tmp.as_file(), Some(uid), Some(gid))?;
    }
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// Who a file quarry writes into `dir` (replacing `old`) should belong to, when that is not the
/// effective user: only as root, the owner of `old`, else of `dir`, when not root.
fn owner_for(dir: &Path, old: Option<&std::fs::Metadata>) -> std::io::Result<Option<(u32, u32)>> {
    if crate::host::effective_uid() != Some(0) {
        return Ok(None);
    }
    let (uid, gid) = match old {
        Some(m) => (m.uid(), m.gid()),
        None => {
            let m = std::fs::metadata(dir)?;
            (m.uid(), m.gid())
        }
    };
    Ok((uid != 0).then_some((uid, gid)))
}

/// Gives `path` and everything under it (links themselves, not what they name) to `owner`.
fn give_tree(path: &Path, (uid, gid): (u32, u32)) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            give_tree(&entry?.path(), (uid, gid))?;
        }
    }
    Ok(())
}

/// The file in a rendered build-context folder that says quarry wrote it: a render replaces only
/// a folder of its own.
const CONTEXT_MARKER: &str = ".written-by-quarry";

/// Writes a rendered Dockerfile to `path` as [`write_atomically`] does and, for a regular file,
/// the files it copies from its build context into the folder `quarry/` beside it, so that
/// `docker build DIR` and `docker build -f FILE DIR` build it as it is. The folder is replaced
/// whole: written under a new name first, then renamed into place; a `quarry/` that quarry did
/// not write (no marker file), or a link, is refused. Returns the folder, or `None` when `path`
/// is a device, FIFO or socket (`-o /dev/stdout`), which only the Dockerfile reaches.
pub fn write_render(
    path: &Path,
    dockerfile: &[u8],
    files: &[quarry_core::BuildFile],
) -> anyhow::Result<Option<PathBuf>> {
    let target = resolve_links(path)?;
    match std::fs::metadata(&target) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            write_atomically(&target, dockerfile)?;
            return Ok(None);
        }
        _ => {}
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let context = dir.join(quarry_core::CONTEXT_DIR);
    let old = match std::fs::symlink_metadata(&context) {
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
        Ok(m)
            if m.is_dir()
                && std::fs::symlink_metadata(context.join(CONTEXT_MARKER)).is_ok_and(|m| m.is_file()) =>
        {
            true
        }
        Ok(_) => anyhow::bail!(Hinted::new(
            format!(
                "`{}` is in the way: the Dockerfile's build context goes there, and quarry did not write it",
                context.display()
            ),
            "render into a folder of its own (`-o build/Dockerfile`), or move it away",
        )),
    };
    let staging = tempfile::Builder::new().prefix(".quarry.staging-").tempdir_in(dir)?;
    quarry_docker::context::write_shipped(staging.path(), files)?;
    let fresh = staging.path().join(quarry_core::CONTEXT_DIR);
    std::fs::create_dir_all(&fresh)?;
    std::fs::write(
        fresh.join(CONTEXT_MARKER),
        "The build context of the Dockerfile beside this folder, written by `quarry render -o`.\n\
         quarry replaces this folder on every render: keep nothing of your own in it.\n",
    )?;
    if let Some(owner) = owner_for(dir, None)? {
        give_tree(&fresh, owner)?;
    }
    if old {
        // Moved into the staging folder, which is removed with it.
        std::fs::rename(&context, staging.path().join("old"))?;
    }
    std::fs::rename(&fresh, &context)?;
    write_atomically(&target, dockerfile)?;
    Ok(Some(context))
}

/// Follows the symbolic links at `path` (at most 40) to the path they name, refusing a link that
/// neither the effective user nor root owns.
fn resolve_links(path: &Path) -> anyhow::Result<PathBuf> {
    let me = crate::host::effective_uid();
    let mut current = path.to_owned();
    for _ in 0..40 {
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e.into()),
        };
        if !meta.file_type().is_symlink() {
            return Ok(current);
        }
        if meta.uid() != 0 && Some(meta.uid()) != me {
            anyhow::bail!(Hinted::new(
                format!(
                    "`{}` is a symbolic link owned by another user (uid {}), so quarry does not follow it",
                    current.display(),
                    meta.uid()
                ),
                "check where it points and remove it, or write to the file it names directly",
            ));
        }
        let next = std::fs::read_link(&current)?;
        current = match current.parent() {
            Some(parent) => parent.join(next),
            None => next,
        };
    }
    anyhow::bail!(Hinted::new(
        format!("`{}`: too many levels of symbolic links", path.display()),
        "point the link at a file"
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::path::PathBuf;

    use super::write_atomically;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("quarry-out-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_whole_file_and_leaves_no_temp() {
        let dir = scratch("whole");
        let path = dir.join("Dockerfile");
        write_atomically(&path, b"FROM x\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"FROM x\n");
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert!(write_atomically(&dir.join("missing/Dockerfile"), b"x").is_err());
        // A replaced file keeps its mode.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"FROM y\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Run as root in a user's project, what quarry writes belongs to that user: a replaced file
    /// keeps its owner, a new file (quarry.lock) and `render -o`'s `quarry/` folder get the
    /// folder's. Root's render used to leave a root-owned quarry.lock the owner could not replace.
    #[test]
    fn as_root_a_users_files_stay_the_users() {
        use std::os::unix::fs::MetadataExt;
        if crate::host::effective_uid() != Some(0) {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let dir = scratch("owner");
        std::os::unix::fs::chown(&dir, Some(4242), Some(4343)).unwrap();
        let owner = |p: &std::path::Path| {
            let m = std::fs::symlink_metadata(p).unwrap();
            (m.uid(), m.gid())
        };
        let lock = dir.join("quarry.lock");
        write_atomically(&lock, b"new\n").unwrap();
        assert_eq!(owner(&lock), (4242, 4343), "a new file gets the folder's owner");
        std::os::unix::fs::chown(&lock, Some(4444), Some(4545)).unwrap();
        write_atomically(&lock, b"again\n").unwrap();
        assert_eq!(owner(&lock), (4444, 4545), "a replaced file keeps its owner");
        let file = quarry_core::BuildFile {
            path: "quarry/x/a.sh".into(),
            contents: std::borrow::Cow::Borrowed(b"echo\n"),
            executable: true,
        };
        let context = super::write_render(&dir.join("Dockerfile"), b"FROM x\n", &[file]).unwrap().unwrap();
        for p in [dir.join("Dockerfile"), context.clone(), context.join("x"), context.join("x/a.sh")] {
            assert_eq!(owner(&p), (4242, 4343), "{}", p.display());
        }
        // A root-owned folder stays root's.
        let root_dir = scratch("owner-root");
        write_atomically(&root_dir.join("f"), b"x").unwrap();
        assert_eq!(owner(&root_dir.join("f")).0, 0);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&root_dir).unwrap();
    }

    /// The old temporary name was `.<name>.quarry-tmp-<pid>`, opened without `O_EXCL`: a link
    /// planted there made quarry write through it.
    #[test]
    fn a_link_planted_at_a_predictable_temp_name_is_not_written_through() {
        let dir = scratch("planted");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let planted = dir.join(format!(".Dockerfile.quarry-tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomically(&dir.join("Dockerfile"), b"FROM x\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read(dir.join("Dockerfile")).unwrap(), b"FROM x\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn special_files_are_written_directly_not_replaced() {
        let dir = scratch("special");
        let fifo = dir.join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomically(&fifo, b"through the pipe\n").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe\n");
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        write_atomically(std::path::Path::new("/dev/null"), b"gone\n").unwrap();
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
        let err = write_atomically(&dir, b"x").unwrap_err();
        assert!(err.to_string().ends_with("is a folder") && !crate::exit::hints(&err).is_empty(), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_links_are_followed_and_kept_others_refused() {
        let dir = scratch("links");
        std::fs::create_dir_all(dir.join("real")).unwrap();
        let file = dir.join("real/Dockerfile");
        std::fs::write(&file, "old\n").unwrap();
        let link = dir.join("Dockerfile");
        std::os::unix::fs::symlink("real/Dockerfile", &link).unwrap();
        write_atomically(&link, b"new\n").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays");
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
        // A dangling link of ours creates the file it names.
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink("real/created", &dangling).unwrap();
        write_atomically(&dangling, b"made\n").unwrap();
        assert_eq!(std::fs::read(dir.join("real/created")).unwrap(), b"made\n");
        if crate::host::effective_uid() == Some(0) {
            std::os::unix::fs::lchown(&link, Some(4242), Some(4242)).unwrap();
            let err = write_atomically(&link, b"evil\n").unwrap_err();
            assert!(err.to_string().contains("is a symbolic link owned by another user (uid 4242)"), "{err}");
            assert!(!crate::exit::hints(&err).is_empty(), "{err}");
            assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
