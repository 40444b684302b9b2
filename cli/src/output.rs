//! Writing results: never a half-written file, and a closed pipe is not an error.

use std::io::{ErrorKind, Write};
use std::path::Path;

/// Writes `data` to stdout; a broken pipe ends quietly.
pub fn stdout(data: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(data).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes `data` to `path` through a temporary file in the same folder and a rename, so the file
/// is either the old one or the whole new one.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name =
        path.file_name().ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "not a file path"))?;
    let tmp = dir.join(format!(".{}.quarry-tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    #[test]
    fn writes_whole_file_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("quarry-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("Dockerfile");
        write_atomically(&path, b"FROM x\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"FROM x\n");
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert!(write_atomically(&dir.join("missing/Dockerfile"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
