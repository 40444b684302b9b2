//! Values of the host running quarry that options may default to (the `user` extension's uid,
//! gid and name, so files in mounted folders keep their owner; the current folder for `cwd`).

use quarry_core::HostValues;

pub use quarry_docker::xdg_dir;

/// The effective uid of this process (the second field of `Uid:` in `/proc/self/status`), which
/// decides whose files quarry trusts.
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Reads the current user's uid, gid and name; what cannot be read stays `None`. As root there is
/// no user to mirror (the point of `user` is a non-root user): the options keep their defaults.
pub fn values() -> HostValues {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    };
    // The current folder, for extensions that mount it (`cwd`); it is the same for root.
    let cwd = std::env::current_dir().ok().and_then(|d| d.to_str().map(str::to_owned));
    let uid = field("Uid:");
    if uid.as_deref() == Some("0") {
        return HostValues { cwd, root: true, ..HostValues::default() };
    }
    // `$USER`, else the name `/etc/passwd` gives the uid, else `id -un` (users of a directory
    // service); a process is started only in that last case.
    let user = std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|u| quarry_core::rules::is_user_name(u))
        .or_else(|| uid.as_deref().and_then(passwd_name))
        .or_else(|| {
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .filter(|u| quarry_core::rules::is_user_name(u))
        });
    let home = std::env::var("HOME").ok().filter(|h| quarry_core::rules::is_abs_path(h));
    HostValues { uid, gid: field("Gid:"), user, cwd, home, root: false }
}

/// The name `/etc/passwd` gives `uid`, when it is a valid user name.
fn passwd_name(uid: &str) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid && quarry_core::rules::is_user_name(name)).then(|| name.to_owned())
    })
}

/// The home folder `/etc/passwd` gives the user `name` (`~name/...` of a volume), when it is an
/// absolute path.
pub fn home_of(name: &str) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[0] == name && quarry_core::rules::is_abs_path(fields[5]))
            .then(|| fields[5].to_owned())
    })
}

/// The host's environment for `[run]` entries: variables, and `~name` as that user's home.
pub fn run_env(key: &str) -> Option<String> {
    match key.strip_prefix('~') {
        Some(user) => home_of(user),
        None => std::env::var(key).ok(),
    }
}

/// The supplementary group ids of this process (`Groups:` in `/proc/self/status`) other than its
/// primary group: what `docker run --group-add` gives the container's user for the host's
/// devices.
pub fn supplementary_groups() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_default();
    let primary = field("Gid:").split_whitespace().next().unwrap_or_default();
    field("Groups:")
        .split_whitespace()
        .filter(|g| *g != primary && quarry_core::rules::is_uint(g))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let v = super::values();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let root = status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        if root {
            assert_eq!((v.uid, v.gid, v.user), (None, None, None));
        } else {
            assert!(v.uid.unwrap().parse::<u32>().is_ok());
            assert!(v.gid.unwrap().parse::<u32>().is_ok());
        }
        for g in super::supplementary_groups() {
            assert!(g.parse::<u32>().is_ok(), "{g}");
        }
    }
}
