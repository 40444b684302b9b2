//! `quarry run`: the `docker run` command line from what the selected extensions declare.

use quarry_core::Rendered;

use crate::{Message, Say};

/// What `docker run` is asked for beyond the extensions' needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Allocate a terminal and keep stdin open (when stdin is a terminal).
    pub interactive: bool,
    /// Remove the container when it stops (`--rm`).
    pub remove: bool,
    /// Extra arguments from the configuration files, before the image.
    pub extra: Vec<String>,
    /// The command to run instead of the image's default.
    pub command: Vec<String>,
    /// The folder relative volume paths are relative to (the current folder).
    pub cwd: std::path::PathBuf,
    /// The host user's supplementary group ids (the `host_groups` of `[run]` entries).
    pub host_groups: Vec<String>,
    /// Whether the engine runs NVIDIA GPUs (the `gpu` of `[run]` entries).
    pub gpu: bool,
    /// The X authority cookie file made on the host for this run, mounted for extensions that
    /// ask for it (`[run] xauthority`); `None` when none could be made.
    pub xauthority: Option<String>,
    /// The engine is Podman: its conventions applied ([`crate::podman_run::adapt`]).
    pub podman: Option<crate::podman_run::RunHost>,
}

/// A run argument that cannot be built. `Display` is the message; [`quarry_core::Hint`] the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// A run-argument template failed.
    #[error("a run argument of extension `{extension}` failed: {message}")]
    Template {
        /// The extension.
        extension: String,
        /// What went wrong.
        message: String,
    },
    /// A `group_add` entry rendered to something that is not a group.
    #[error("extension `{extension}` adds the group {group:?}, which is not a group name or id")]
    Group {
        /// The extension.
        extension: String,
        /// The rendered item.
        group: String,
    },
    /// A volume names a host variable that is not set.
    #[error("extension `{extension}` mounts {spec:?}, but `${var}` is not set on this host")]
    UnsetVariable {
        /// The extension.
        extension: String,
        /// The volume spec.
        spec: String,
        /// The missing variable.
        var: String,
    },
}

impl quarry_core::Hint for RunError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Template { .. } | Self::Group { .. } => {
                "this is a fault of the extension; report it to its authors".to_owned()
            }
            Self::UnsetVariable { extension, var, .. } => format!("set `{var}`, or leave `{extension}` out"),
        })
    }
}

/// The `docker run` arguments (without `docker`) for `tag`; `env` reads host variables; a volume
/// whose host path is missing is a warning through `say`.
pub fn run_args(
    rendered: &Rendered,
    tag: &str,
    options: &RunOptions,
    env: &dyn Fn(&str) -> Option<String>,
    say: Say,
) -> Result<Vec<String>, RunError> {
    let mut args: Vec<String> = vec!["run".into()];
    // An extension that keeps the container (rocker's `--nocleanup`) leaves out `--rm`.
    let keep = rendered.resolved.extensions.iter().any(|r| r.extension.run.keep_container);
    if options.remove && !keep {
        args.push("--rm".into());
    }
    if options.interactive {
        args.extend(["--interactive".into(), "--tty".into()]);
    }
    let home = user_home(rendered)?;
    let host_groups = options.host_groups.join(",");
    let mut xauthority = false;
    for r in &rendered.resolved.extensions {
        let ext = r.extension;
        let entries = ext.run.env.iter().chain(ext.run.args).chain(ext.run.devices).chain(ext.run.volumes);
        if !options.gpu && entries.clone().any(|e| e.contains('{') && e.contains("gpu")) {
            say(Message::Note(format!(
                "the engine has no NVIDIA runtime: `{}` runs the container without GPUs",
                ext.name
            )));
        }
        // An entry that uses a list option renders once per value; any other entry once.
        let render = |entry: &str| -> Result<Vec<String>, RunError> {
            let list = ext.options.iter().find(|o| o.multiple && uses_option(entry, o.name));
            let values: Vec<Option<&str>> = match list {
                Some(o) => r
                    .lists
                    .get(o.name)
                    .map(|v| v.iter().map(|s| Some(s.as_str())).collect())
                    .unwrap_or_default(),
                None => vec![None],
            };
            let mut out = Vec::new();
            for value in values {
                let options_ctx = quarry_core::template::context(
                    ext.name,
                    ext.depends_on,
                    ext.options.iter().map(|o| {
                        let v = match (list, value) {
                            (Some(l), Some(v)) if l.name == o.name => v,
                            _ => r.options[o.name].as_str(),
                        };
                        (o.name, v, o.rule)
                    }),
                );
                let ctx = quarry_core::template::run_context(options_ctx, &home, &host_groups, options.gpu);
                let text = if entry.contains('{') {
                    quarry_core::template::render(&format!("{}/run", ext.name), entry, ctx).map_err(|e| {
                        RunError::Template { extension: ext.name.to_owned(), message: e.to_string() }
                    })?
                } else {
                    entry.to_owned()
                };
                let text = text.trim().to_owned();
                if text.contains(['\n', '\r', '\0']) {
                    return Err(RunError::Template {
                        extension: ext.name.to_owned(),
                        message: format!("{entry:?} rendered to more than one line"),
                    });
                }
                if !text.is_empty() {
                    out.push(text);
                }
            }
            Ok(out)
        };
        let mut mine: Vec<String> = Vec::new();
        let made = (|| -> Result<(), RunError> {
            for e in ext.run.env {
                for e in render(e)? {
                    mine.extend(["--env".into(), e]);
                }
            }
            for v in ext.run.volumes {
                for v in render(v)? {
                    let expanded = expand(&v, env).map_err(|var| RunError::UnsetVariable {
                        extension: ext.name.to_owned(),
                        spec: v.clone(),
                        var,
                    })?;
                    let (spec, missing) = volume(&expanded, &options.cwd);
                    if let Some(missing) = missing {
                        say(Message::Warning(format!(
                            "the host path `{missing}` of volume {} does not exist: docker creates it as an empty folder owned by root",
                            quarry_core::text::quoted(&v)
                        )
                        .into()));
                    }
                    mine.extend(["--volume".into(), spec]);
                }
            }
            // Made only when the host path exists: Docker would create a missing one as a
            // root-owned folder.
            for v in ext.run.optional_volumes {
                for v in render(v)? {
                    let Ok(expanded) = expand(&v, env) else { continue };
                    let source = expanded.split(':').next().unwrap_or_default();
                    if std::path::Path::new(source).exists() {
                        mine.extend(["--volume".into(), expanded]);
                    }
                }
            }
            for d in ext.run.devices {
                for d in render(d)? {
                    // As rocker does: a device the host lacks is left out, with a warning, instead
                    // of docker failing on it.
                    let host = d.split(':').next().unwrap_or_default();
                    if !std::path::Path::new(host).exists() {
                        say(Message::Warning(
                            format!("the device `{host}` does not exist on this host: it is left out").into(),
                        ));
                        continue;
                    }
                    mine.extend(["--device".into(), d]);
                }
            }
            for a in ext.run.args {
                mine.extend(render(a)?);
            }
            for g in ext.run.group_add {
                for list in render(g)? {
                    for group in list.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                        if !(quarry_core::rules::is_uint(group) || quarry_core::rules::is_identifier(group)) {
                            return Err(RunError::Group {
                                extension: ext.name.to_owned(),
                                group: group.to_owned(),
                            });
                        }
                        mine.extend(["--group-add".into(), group.to_owned()]);
                    }
                }
            }
            Ok(())
        })();
        match made {
            Ok(()) => {
                args.extend(mine);
                xauthority |= ext.run.xauthority;
            }
            // As rocker leaves `--ssh` out without `SSH_AUTH_SOCK`: the extension's run-time part
            // goes, with a warning; its image stays.
            Err(RunError::UnsetVariable { extension, spec, var }) => {
                say(Message::Warning(quarry_core::Hinted::new(
                    format!(
                        "`${var}` is not set on this host, so `{extension}` is left out of this run (it mounts {})",
                        quarry_core::text::quoted(&spec)
                    ),
                    format!("set `{var}` on the host for `{extension}` to work"),
                )))
            }
            Err(e) => return Err(e),
        }
    }
    if xauthority && let Some(file) = &options.xauthority {
        let target = quarry_core::XAUTHORITY_PATH;
        args.extend([
            "--volume".into(),
            format!("{file}:{target}:ro"),
            "--env".into(),
            format!("XAUTHORITY={target}"),
        ]);
    }
    args.extend(options.extra.iter().cloned());
    if let Some(host) = &options.podman {
        let adapted = crate::podman_run::adapt(&args[1..], host, say);
        args.truncate(1);
        args.extend(adapted);
    }
    args.push(tag.to_owned());
    args.extend(options.command.iter().cloned());
    Ok(args)
}

/// Whether the template `entry` uses `options.<name>` (as a whole name).
fn uses_option(entry: &str, name: &str) -> bool {
    let needle = format!("options.{name}");
    entry.match_indices(&needle).any(|(i, _)| {
        let after = entry[i + needle.len()..].chars().next();
        let before = entry[..i].chars().next_back();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    })
}

/// A volume as rocker takes it: `/data` is `/data:/data`, and a relative host path (`src:/ws`,
/// `./data`) is made absolute against `cwd`, never a named volume. Returns the spec and the host
/// path when it does not exist.
pub fn volume(spec: &str, cwd: &std::path::Path) -> (String, Option<String>) {
    let mut parts: Vec<&str> = spec.split(':').collect();
    if parts.len() == 1 {
        parts.push(parts[0]);
    }
    let host = std::path::Path::new(parts[0]);
    let host = if host.is_absolute() { host.to_owned() } else { cwd.join(host) };
    let host = normalize(&host);
    let host_text = host.display().to_string();
    let container = if parts[1].starts_with('/') {
        parts[1].to_owned()
    } else {
        // `data:data`: the container side of a relative path is the same absolute path.
        normalize(&cwd.join(parts[1])).display().to_string()
    };
    let missing = (!host.exists()).then(|| host_text.clone());
    let mut out = vec![host_text, container];
    out.extend(parts[2..].iter().map(|s| (*s).to_owned()));
    (out.join(":"), missing)
}

/// `a/./b/../c` as `a/c`, lexically (the path may not exist yet).
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The home folder of the image's user, the `home` of `[run]` entries: the `home` of the
/// extension that sets the user, `/home/<user>` when it sets none, `/root` when no extension sets
/// a user.
pub fn user_home(rendered: &Rendered) -> Result<String, RunError> {
    let owner = rendered.resolved.extensions.iter().find(|r| r.extension.final_user.is_some());
    let Some(r) = owner else { return Ok("/root".to_owned()) };
    let ext = r.extension;
    match ext.home {
        Some(template) => {
            let ctx = quarry_core::template::context(
                ext.name,
                ext.depends_on,
                ext.options.iter().map(|o| (o.name, r.options[o.name].as_str(), o.rule)),
            );
            let home = quarry_core::template::render(&format!("{}/home", ext.name), template, ctx)
                .map_err(|e| RunError::Template { extension: ext.name.to_owned(), message: e.to_string() })?;
            let home = home.trim().to_owned();
            if !quarry_core::rules::is_abs_path(&home) {
                return Err(RunError::Template {
                    extension: ext.name.to_owned(),
                    message: format!("`home` rendered to {home:?}, which is not an absolute path"),
                });
            }
            Ok(home)
        }
        None => Ok(format!("/home/{}", rendered.final_user.as_deref().unwrap_or("root"))),
    }
}

/// Expands a leading `~` (`$HOME`) or `~name` (that user's home, which `env` gives for the key
/// `~name`; left as it is when there is no such user, as a shell does) up to the first `/` or
/// `:`, and every `$VAR` / `${VAR}` from the host environment.
pub fn expand(spec: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = spec;
    if let Some(after) = rest.strip_prefix('~') {
        let end = after.find(['/', ':']).unwrap_or(after.len());
        let user = &after[..end];
        if user.is_empty() {
            out.push_str(&env("HOME").ok_or_else(|| "HOME".to_owned())?);
        } else {
            match env(&format!("~{user}")) {
                Some(home) => out.push_str(&home),
                None => {
                    out.push('~');
                    out.push_str(user);
                }
            }
        }
        rest = &after[end..];
    }
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, remainder) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => (braced, ""),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(&env(name).ok_or_else(|| name.to_owned())?);
        }
        rest = remainder;
    }
    out.push_str(rest);
    Ok(out)
}

/// `args` as one shell-quoted line, for `--dry-run`.
/// The program (`QUARRY_DOCKER`, whatever it holds) is quoted as the arguments are.
pub fn shell_line(program: &str, args: &[String]) -> String {
    let mut line = shell_word(program);
    for a in args {
        line.push(' ');
        line.push_str(&shell_word(a));
    }
    line
}

/// One word for a POSIX shell: as it is when it is plain, else single-quoted.
pub fn shell_word(a: &str) -> String {
    if !a.is_empty() && a.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_./:=,@+%".contains(&c)) {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/home/me".into()),
            "DISPLAY" => Some(":0".into()),
            "~alice" => Some("/home/alice".into()),
            _ => None,
        }
    }

    #[test]
    fn expansion() {
        assert_eq!(expand("~/.ssh:/home/u/.ssh:ro", &env).unwrap(), "/home/me/.ssh:/home/u/.ssh:ro");
        assert_eq!(expand("${HOME}/x:$HOME/y", &env).unwrap(), "/home/me/x:/home/me/y");
        assert_eq!(expand("/tmp/.X11-unix:/tmp/.X11-unix", &env).unwrap(), "/tmp/.X11-unix:/tmp/.X11-unix");
        assert_eq!(expand("$NOPE/x", &env).unwrap_err(), "NOPE");
        // `~name` is that user's home, not `$HOME/name`.
        assert_eq!(expand("~alice/data:/data", &env).unwrap(), "/home/alice/data:/data");
        assert_eq!(expand("~alice:/data", &env).unwrap(), "/home/alice:/data");
        assert_eq!(expand("~nobody-here/x:/x", &env).unwrap(), "~nobody-here/x:/x");
        assert_eq!(expand("~:/h", &env).unwrap(), "/home/me:/h");
    }

    #[test]
    fn volumes_as_rocker() {
        let cwd = std::path::Path::new("/nonexistent-quarry/ws");
        assert_eq!(volume("/data", cwd).0, "/data:/data");
        assert_eq!(volume("src:/ws", cwd).0, "/nonexistent-quarry/ws/src:/ws");
        assert_eq!(volume("./a/../b:/b:ro", cwd).0, "/nonexistent-quarry/ws/b:/b:ro");
        assert_eq!(volume("/tmp", cwd).1, None);
        assert_eq!(volume("/nonexistent-quarry/x", cwd).1.as_deref(), Some("/nonexistent-quarry/x"));
        assert!(uses_option("{{ options.value }}", "value"));
        assert!(!uses_option("{{ options.values }}", "value"));
    }

    #[test]
    fn quoting() {
        let args: Vec<String> = ["run", "--env", "A=b c", "it's"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(shell_line("docker", &args), "docker run --env 'A=b c' 'it'\\''s'");
        assert_eq!(shell_line("/opt/my docker;id", &args[..1]), "'/opt/my docker;id' run");
    }
}
