//! The X authority cookie `quarry run` passes to containers of extensions that ask for it
//! (`[run] xauthority`): the host's cookie for `$DISPLAY`, its address family made the wildcard
//! `ffff` so it matches whatever host name the container has, written to a file of its own.
//! The same as `xauth nlist $DISPLAY | sed -e 's/^..../ffff/' | xauth -f FILE nmerge -`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the cookie for `display` is written: `$XDG_RUNTIME_DIR/quarry/`, else
/// `$XDG_CACHE_HOME/quarry/run/`; a folder only its owner can enter.
pub fn cookie_path(display: &str) -> Option<PathBuf> {
    let dir = crate::xdg_dir("XDG_RUNTIME_DIR", "")
        .filter(|d| std::env::var_os("XDG_RUNTIME_DIR").is_some() && d.is_dir())
        .map(|d| d.join("quarry"))
        .or_else(|| crate::xdg_dir("XDG_CACHE_HOME", ".cache").map(|d| d.join("quarry").join("run")))?;
    let display: String =
        display.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    Some(dir.join(format!("xauth-{display}")))
}

/// The shell line that makes the cookie, for `--dry-run`.
pub fn shell_line(display: &str, file: &Path) -> String {
    let quote = |s: &str| crate::run::shell_line("", &[s.to_owned()]).trim_start().to_owned();
    format!(
        "xauth nlist {} | sed -e 's/^..../ffff/' | xauth -f {} nmerge -",
        quote(display),
        quote(&file.display().to_string())
    )
}

/// `xauth nlist` lines with the address family (the first four hex digits) set to `ffff`.
pub fn wildcard(nlist: &str) -> String {
    let mut out = String::new();
    for line in nlist.lines().filter(|l| l.len() > 4 && l.is_char_boundary(4)) {
        out.push_str("ffff");
        out.push_str(&line[4..]);
        out.push('\n');
    }
    out
}

/// Writes a fresh cookie file for `display` at `file`. An error says why none could be made.
pub fn make_cookie(display: &str, file: &Path) -> Result<(), String> {
    let nlist = Command::new("xauth")
        .args(["nlist", display])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `xauth`: {e}"))?;
    let cookies = wildcard(&String::from_utf8_lossy(&nlist.stdout));
    if !nlist.status.success() || cookies.is_empty() {
        return Err(format!("`xauth nlist {display}` gave no cookie"));
    }
    let dir = file.parent().ok_or("the cookie file has no folder")?;
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::remove_file(file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot replace {}: {e}", file.display())),
    }
    let mut merge = Command::new("xauth")
        .arg("-q")
        .arg("-f")
        .arg(file)
        .args(["nmerge", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `xauth`: {e}"))?;
    merge
        .stdin
        .take()
        .expect("piped")
        .write_all(cookies.as_bytes())
        .map_err(|e| format!("cannot write to `xauth`: {e}"))?;
    let status = merge.wait().map_err(|e| format!("`xauth nmerge` failed: {e}"))?;
    if !status.success() || !file.is_file() {
        return Err(format!("`xauth -f {} nmerge -` failed", file.display()));
    }
    // The folder is its owner's alone on the host; in the container the user may have another
    // uid than the file's owner, so the file itself is readable.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("cannot set the mode of {}: {e}", file.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_becomes_the_wildcard() {
        let nlist = "0100 0004 6d79686f 0001 30 0012 4d49542d4d414749432d434f4f4b49452d31 0010 00112233\n\
                     0000 0000 0001 30 0012 4d49542d4d414749432d434f4f4b49452d31 0010 44556677\n";
        assert_eq!(
            wildcard(nlist),
            "ffff 0004 6d79686f 0001 30 0012 4d49542d4d414749432d434f4f4b49452d31 0010 00112233\n\
             ffff 0000 0001 30 0012 4d49542d4d414749432d434f4f4b49452d31 0010 44556677\n"
        );
        assert_eq!(wildcard(""), "");
    }

    #[test]
    fn dry_run_line() {
        assert_eq!(
            shell_line(":0", Path::new("/run/user/1000/quarry/xauth-_0")),
            "xauth nlist :0 | sed -e 's/^..../ffff/' | xauth -f /run/user/1000/quarry/xauth-_0 nmerge -"
        );
    }
}
