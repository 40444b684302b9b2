//! The one way quarry makes a folder of its own on the host (build contexts, the X cookie, the
//! user's chain order): created with mode 0700 when missing; an existing one is used only when it
//! is a real folder (not a link) that the effective user owns, and its mode is tightened through
//! the open folder, never through a path that could be swapped for a link.

use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Why a folder cannot be used as a private one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PrivateDirError {
    message: String,
    hint: String,
}

impl quarry_core::Hint for PrivateDirError {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
}

/// Makes `dir` a folder only the effective user can enter, or checks that it is one, and returns
/// it. Its parents are made as usual when missing (mode from the umask); `dir` itself is made
/// with mode 0700. An existing `dir` must be a folder, not a link, owned by the effective user;
/// access for group or others is then removed through the open folder. Its parent must be one
/// that no other user can rename entries of (the user's or root's, not writable by group or
/// others, or sticky as `/tmp` is). Anything else is refused: a folder someone else made where
/// quarry keeps its own (a shared `/tmp`, `sudo -E` keeping the invoking user's runtime folder)
/// is never used.
pub fn private_dir(dir: &Path) -> Result<PathBuf, PrivateDirError> {
    let refuse = |why: String| PrivateDirError {
        message: format!("`{}` cannot be quarry's private folder: {why}", dir.display()),
        hint: "remove it (or point the XDG_* variable at a folder of your own) and run quarry again"
            .to_owned(),
    };
    let me = rustix::process::geteuid().as_raw();
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| refuse(format!("cannot make its parent: {e}")))?;
        // Whoever may rename entries of the parent can swap the folder for another after it was
        // checked: only the user, root, or nobody but an entry's owner (the sticky bit of /tmp).
        let meta = std::fs::metadata(parent).map_err(|e| refuse(format!("cannot read its parent: {e}")))?;
        use std::os::unix::fs::MetadataExt;
        let sticky = meta.mode() & 0o1000 != 0;
        let owner_ok = meta.uid() == me || meta.uid() == 0;
        if !sticky && (!owner_ok || meta.mode() & 0o022 != 0) {
            return Err(refuse(format!(
                "its folder `{}` (uid {}, mode {:o}) lets another user replace it",
                parent.display(),
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
    }
    match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(refuse(format!("cannot make it: {e}"))),
    }
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
            refuse("it is a link or not a folder".to_owned())
        }
        e => refuse(format!("cannot open it: {e}")),
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    if stat.st_uid != me {
        return Err(refuse(format!("it belongs to uid {}, not to you (uid {me})", stat.st_uid)));
    }
    if stat.st_mode & 0o077 != 0 {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(stat.st_mode & 0o700))
            .map_err(|e| refuse(format!("cannot make it private: {e}")))?;
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("quarry-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn made_private_tightened_or_refused() {
        let base = scratch("dir");
        let dir = base.join("a/b/quarry");
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        // One of ours, too open: tightened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        // A link, even to a folder of ours, is refused and left alone.
        let link = base.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = private_dir(&link).unwrap_err();
        assert!(err.to_string().contains("is a link or not a folder"), "{err}");
        // In a folder anyone may change (world-writable, not sticky): refused.
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_dir(&open.join("quarry")).unwrap_err();
        assert!(err.to_string().contains("lets another user replace it"), "{err}");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        private_dir(&open.join("quarry")).unwrap();
        // A file in the way.
        std::fs::write(base.join("file"), "x").unwrap();
        assert!(private_dir(&base.join("file")).is_err());
        // Someone else's folder: refused, its mode untouched; and so is a folder in another
        // user's folder (root in a user's runtime folder, kept by `sudo -E`).
        if rustix::process::geteuid().is_root() {
            let users = base.join("users");
            std::fs::create_dir(&users).unwrap();
            std::os::unix::fs::chown(&users, Some(4242), Some(4242)).unwrap();
            let err = private_dir(&users.join("quarry")).unwrap_err();
            assert!(err.to_string().contains("(uid 4242, mode 755) lets another user replace it"), "{err}");
            let theirs = base.join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).unwrap();
            std::os::unix::fs::chown(&theirs, Some(4242), Some(4242)).unwrap();
            let err = private_dir(&theirs).unwrap_err();
            assert!(err.to_string().contains("belongs to uid 4242"), "{err}");
            assert_eq!(std::fs::metadata(&theirs).unwrap().mode() & 0o777, 0o777);
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
