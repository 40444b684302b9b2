//! The one way quarry reads a file that a project (or a file it points at) names: a project
//! extension's `extension.toml`, its templates and copied files, the two-line keys' files and
//! scripts, the project's Dockerfile, quarry.toml and quarry.lock, rockerc and deps_rocker files.
//!
//! - Inside the project: with `within`, the path with its links followed must stay in that folder
//!   (a link out of it is refused, naming where it leads).
//! - A regular file only: it is opened without following a last link and without blocking, then
//!   checked through the open file, so a FIFO never hangs a command and a device (`/dev/zero`) is
//!   never read.
//! - Bounded: a file over `limit` bytes is refused before it is read, and the read stops at the
//!   limit whatever the file grows to.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The limit of a text file quarry reads whole: metadata, templates, quarry.toml, quarry.lock,
/// rockerc and deps files, a project's Dockerfile.
pub const TEXT_LIMIT: u64 = 1 << 20;

/// The limit of one file a project copies into the image (`[[files]]`, `copy`, `scripts`).
pub const COPY_LIMIT: u64 = 256 << 20;

/// Why a file was not read. Each names the file as the caller shows it.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing is there.
    Missing(String),
    /// With its links followed, the path leaves the folder it must stay in.
    Outside {
        /// The file as shown.
        shown: String,
        /// Where it leads.
        target: PathBuf,
    },
    /// Not a regular file.
    NotAFile {
        /// The file as shown.
        shown: String,
        /// What it is: `a folder`, `a FIFO`, `a device`, `a socket`.
        kind: &'static str,
    },
    /// Larger than its limit.
    TooLarge {
        /// The file as shown.
        shown: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Not UTF-8 where text is needed.
    NotText(String),
    /// Any other failure.
    Io {
        /// The file as shown.
        shown: String,
        /// What the system said.
        error: std::io::Error,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing(shown) => write!(f, "`{shown}` does not exist"),
            ReadError::Outside { shown, target } => write!(
                f,
                "`{shown}` leads outside the project (to `{}`) through a symbolic link",
                target.display()
            ),
            ReadError::NotAFile { shown, kind } => write!(f, "`{shown}` is {kind}, not a regular file"),
            ReadError::TooLarge { shown, limit } => {
                write!(f, "`{shown}` is larger than {} MiB, the most quarry reads", limit >> 20)
            }
            ReadError::NotText(shown) => write!(f, "`{shown}` is not UTF-8 text"),
            ReadError::Io { shown, error } => write!(f, "cannot read `{shown}`: {error}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl quarry_core::Hint for ReadError {
    fn hint(&self) -> Option<String> {
        Some(
            match self {
                ReadError::Missing(_) => "check the path: a project's paths are relative to its quarry.toml",
                ReadError::Outside { .. } => {
                    "copy what it links to into the project, or point at it without the link"
                }
                ReadError::NotAFile { .. } => "name a regular file",
                ReadError::TooLarge { .. } => "name a smaller file, or ship it another way (a download)",
                ReadError::NotText(_) => "save it as UTF-8",
                ReadError::Io { .. } => return None,
            }
            .to_owned(),
        )
    }
}

/// Opens `path` for reading as described in the module documentation: the open file and its size.
/// `shown` names it in errors.
pub fn open(path: &Path, within: Option<&Path>, limit: u64, shown: &str) -> Result<(File, u64), ReadError> {
    let io = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing(shown.to_owned()),
        _ => ReadError::Io { shown: shown.to_owned(), error },
    };
    // Links are resolved first, and the file opened at the path they lead to, without following a
    // link there: what was checked is what is read.
    let real = path.canonicalize().map_err(io)?;
    if let Some(root) = within {
        let root = root.canonicalize().map_err(|error| ReadError::Io { shown: shown.to_owned(), error })?;
        if !real.starts_with(&root) {
            return Err(ReadError::Outside { shown: shown.to_owned(), target: real });
        }
    }
    use rustix::fs::{FileType, Mode, OFlags};
    let fd = rustix::fs::open(
        &real,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("a folder"),
        FileType::Fifo => Some("a FIFO (named pipe)"),
        FileType::CharacterDevice | FileType::BlockDevice => Some("a device"),
        FileType::Socket => Some("a socket"),
        _ => Some("not a file"),
    };
    if let Some(kind) = kind {
        return Err(ReadError::NotAFile { shown: shown.to_owned(), kind });
    }
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > limit {
        return Err(ReadError::TooLarge { shown: shown.to_owned(), limit });
    }
    // Reads block again: a regular file never waits.
    rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| io(e.into()))?;
    Ok((File::from(fd), size))
}

/// Reads `path` whole (see [`open`]).
pub fn read(path: &Path, within: Option<&Path>, limit: u64, shown: &str) -> Result<Vec<u8>, ReadError> {
    let (file, size) = open(path, within, limit, shown)?;
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|error| ReadError::Io { shown: shown.to_owned(), error })?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge { shown: shown.to_owned(), limit });
    }
    Ok(out)
}

/// Reads `path` whole as UTF-8 text (see [`open`]).
pub fn read_text(path: &Path, within: Option<&Path>, limit: u64, shown: &str) -> Result<String, ReadError> {
    String::from_utf8(read(path, within, limit, shown)?).map_err(|_| ReadError::NotText(shown.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_folder_and_under_the_limit_are_read() {
        let dir = tempfile_dir();
        let root = dir.join("project");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("a"), b"hello").unwrap();
        std::fs::write(dir.join("outside"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("a", root.join("in")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        let fifo = root.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());

        let r = |name: &str, limit| read(&root.join(name), Some(&root), limit, name);
        assert_eq!(r("a", 10).unwrap(), b"hello");
        assert_eq!(r("in", 10).unwrap(), b"hello");
        assert!(matches!(r("a", 4), Err(ReadError::TooLarge { .. })));
        assert!(matches!(r("out", 10), Err(ReadError::Outside { .. })));
        assert!(matches!(r("nothing", 10), Err(ReadError::Missing(_))));
        assert!(matches!(r("fifo", 10), Err(ReadError::NotAFile { kind: "a FIFO (named pipe)", .. })));
        assert!(matches!(read(Path::new("/dev/zero"), None, 10, "z"), Err(ReadError::NotAFile { .. })));
        assert!(matches!(r("zero", 10), Err(ReadError::Outside { .. })));
        assert!(matches!(r(".", 10), Err(ReadError::NotAFile { kind: "a folder", .. })));
        let err = r("out", 10).unwrap_err().to_string();
        assert!(err.starts_with("`out` leads outside the project (to `"), "{err}");
        std::fs::write(root.join("bad"), b"\xff").unwrap();
        assert!(matches!(read_text(&root.join("bad"), None, 10, "bad"), Err(ReadError::NotText(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "quarry-files-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
