//! The X authority cookie `quarry run` passes to containers of extensions that ask for it
//! (`[run] xauthority`): the host's cookie for `$DISPLAY`, its address family made the wildcard
//! `ffff` so it matches whatever host name the container has, written to a file of its own.
//! The same as `xauth nlist $DISPLAY | sed -e 's/^..../ffff/' | xauth -f FILE nmerge -`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::private_dir::{PrivateDirError, private_dir};

/// Where the cookie for `display` is written: in the first of `$XDG_RUNTIME_DIR/quarry`,
/// `$XDG_CACHE_HOME/quarry/run` (else `~/.cache/quarry/run`) and `quarry-<uid>/run` in the temp
/// folder that is, or can be made, a private folder of the user's ([`private_dir`]). A folder
/// another user made or could swap (a shared `/tmp`, the invoking user's runtime folder under
/// `sudo -E`) is passed over; when none is left, the last refusal says why.
pub fn cookie_path(display: &str) -> Result<PathBuf, PrivateDirError> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("quarry"));
    let cache = crate::xdg_dir("XDG_CACHE_HOME", ".cache").map(|d| d.join("quarry").join("run"));
    let temp =
        std::env::temp_dir().join(format!("quarry-{}", rustix::process::geteuid().as_raw())).join("run");
    let display: String =
        display.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let mut refusal = None;
    for dir in runtime.into_iter().chain(cache).chain([temp]) {
        // The cache's `quarry` folder is private too (the build contexts' parent).
        let made = match dir.parent().filter(|p| p.ends_with("quarry") && dir.ends_with("run")) {
            Some(quarry) => private_dir(quarry).and_then(|_| private_dir(&dir)),
            None => private_dir(&dir),
        };
        match made {
            Ok(dir) => return Ok(dir.join(format!("xauth-{display}"))),
            Err(e) => refusal = Some(e),
        }
    }
    Err(refusal.expect("the temp folder is always a candidate"))
}

/// The shell line that makes the cookie, for `--dry-run`.
pub fn shell_line(display: &str, file: &Path) -> String {
    let quote = crate::run::shell_word;
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
    make_cookie_from(display, file, None)
}

/// [`make_cookie`] from the host's authority file (`XAUTHORITY`, else `~/.Xauthority`), or from
/// `source`.
fn make_cookie_from(display: &str, file: &Path, source: Option<&Path>) -> Result<(), String> {
    let mut nlist = Command::new("xauth");
    if let Some(source) = source {
        nlist.arg("-f").arg(source);
    }
    let nlist = nlist
        .args(["nlist", display])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `xauth`: {e}"))?;
    let cookies = wildcard(&String::from_utf8_lossy(&nlist.stdout));
    if !nlist.status.success() || cookies.is_empty() {
        return Err(format!("`xauth nlist {display}` gave no cookie"));
    }
    // The folder is private (`cookie_path`): nobody else can put a link or a file in it.
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
    // uid than the file's owner, so the file itself is readable. Its mode is set through the
    // file opened without following a link, never through the path.
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(file, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))
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

    /// The cookie lands in a private folder and is made readable through the file itself: a
    /// link planted where the cookie goes is replaced, never followed, and the file it named
    /// keeps its mode. Needs `xauth` (under `CI=true` it must be there).
    #[test]
    fn the_cookie_never_changes_a_file_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        if Command::new("xauth").arg("-V").output().is_err() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "xauth is needed under CI=true");
            eprintln!("\n!!!!! SKIPPED: `xauth` is not installed on this host !!!!!\n");
            return;
        }
        let base = std::env::temp_dir().join(format!("quarry-xauth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let authority = base.join("Xauthority");
        let added = Command::new("xauth")
            .arg("-f")
            .arg(&authority)
            .args(["add", ":9", "MIT-MAGIC-COOKIE-1", "00112233445566778899aabbccddeeff"])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(added.success());
        let dir = private_dir(&base.join("run")).unwrap();
        let file = dir.join("xauth-_9");
        let victim = base.join("victim");
        std::fs::write(&victim, "secret").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&victim, &file).unwrap();
        make_cookie_from(":9", &file, Some(&authority)).unwrap();
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(meta.file_type().is_file(), "the link was replaced by the cookie");
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
