//! The shell side of the final image: quarry's entrypoint and start-up files, and each
//! extension's `/etc/quarry/env.d/<name>.sh` (its `[shell]` lines, for bash) and
//! `/etc/quarry/env.d/<name>.env` (its `ENV` written again, for any shell that does not inherit
//! it), so that `docker run IMAGE cmd`, `docker exec` through the entrypoint, interactive bash
//! and login shells (`bash -l`, `su -`, whose `/etc/profile` resets `PATH`) all see the same
//! environment. Each extension's files are its own, so a change to one re-runs its own copy.

use crate::error::Error;
use crate::fill::render_template;
use crate::resolve::ResolvedExtension;
use crate::template::Slot;

/// `/etc/quarry/env.sh`: every extension's `ENV` (`*.env`) in any shell, then every
/// extension's shell environment (`*.sh`), once per shell, in bash only.
pub(crate) const ENV_SH: &str = r#"# Written by quarry: loads each extension's shell environment from /etc/quarry/env.d.
# Sourced by quarry's entrypoint (`docker run IMAGE cmd`), by interactive bash
# (/etc/bash.bashrc) and by login shells (/etc/profile.d/quarry.sh). The extensions' ENV
# (*.env, POSIX: what a login shell's /etc/profile reset) is loaded by every shell, their
# shell start-up lines (*.sh) by bash.
for quarry_env_file in /etc/quarry/env.d/*.env; do
  if [ -r "$quarry_env_file" ]; then . "$quarry_env_file"; fi
done
if [ -n "${BASH_VERSION:-}" ] && [ "${quarry_env_loaded:-}" != "$$" ]; then
  quarry_env_loaded=$$
  for quarry_env_file in /etc/quarry/env.d/*.sh; do
    if [ -r "$quarry_env_file" ]; then . "$quarry_env_file"; fi
  done
fi
unset quarry_env_file
"#;

/// `/usr/local/bin/quarry-entrypoint`.
pub(crate) const ENTRYPOINT_SH: &str = r#"#!/bin/bash
# Written by quarry: loads each extension's shell environment, then runs the command (the base
# image's own entrypoint, if it had one, is the first word of it). With no command at all, bash.
quarry_load_env() { . /etc/quarry/env.sh; }
quarry_load_env
unset -f quarry_load_env
if [ "$#" -eq 0 ]; then set -- /bin/bash; fi
exec "$@"
"#;

/// `/etc/profile.d/quarry.sh`.
pub(crate) const PROFILE_SH: &str = "# Written by quarry: login shells load each extension's shell environment too.\n\
if [ -r /etc/quarry/env.sh ]; then . /etc/quarry/env.sh; fi\n";

/// The extension's `/etc/quarry/env.d/<name>.sh`, if it declares shell initialisation.
pub(crate) fn shell_file(r: &ResolvedExtension) -> Result<Option<String>, Error> {
    let shell = &r.extension.shell;
    if shell.is_empty() {
        return Ok(None);
    }
    let mut out = format!(
        "# {}: shell environment, written by quarry from the extension's metadata.\n",
        r.extension.name
    );
    if let Some(init) = &shell.init {
        out.push_str(render_template(r, init, Slot::Shell)?.trim_end());
        out.push('\n');
    }
    if let Some(interactive) = &shell.interactive {
        out.push_str("if [[ $- == *i* ]]; then\n");
        for line in render_template(r, interactive, Slot::Shell)?.trim_end().lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str("fi\n");
    }
    Ok(Some(out))
}

/// An extension's `/etc/quarry/env.d/<name>.env`: its `ENV` entries, in the Dockerfile's order,
/// as POSIX shell that changes nothing where the value is already there:
/// - a list that names itself (`PATH=/opt/x/bin:$PATH`) adds each of its other entries that the
///   variable lacks, in front or behind as written, so `PATH` keeps the Dockerfile's order after
///   `/etc/profile` reset it, and a shell that inherited it is left as it is;
/// - any other value is set only where the variable is unset, so `docker run -e NAME=...` wins.
///
/// Extensions' files are loaded in name order, so in a login shell two extensions' entries of one
/// list follow their names, not the Dockerfile's order. `entries` are `NAME=value`, values as
/// [`crate::rules::is_env_entry`] accepts them; a `$` that starts no `$NAME` or `${...}` is
/// written literally, as Docker reads it.
pub(crate) fn env_file(extension: &str, entries: &[String]) -> Option<String> {
    if entries.is_empty() {
        return None;
    }
    let mut out = format!(
        "# {extension}: its ENV, written by quarry for shells that do not inherit it (a login shell's\n\
         # /etc/profile resets PATH; `su -` starts empty). Values already there are kept.\n",
    );
    for entry in entries {
        let Some((name, value)) = entry.split_once('=') else { continue };
        let parts: Vec<&str> = value.split(':').collect();
        let own = [format!("${name}"), format!("${{{name}}}")];
        match parts.iter().position(|p| own.iter().any(|o| o == p)) {
            Some(at) => {
                // In front: the last first, so they end up in the written order.
                for part in parts[..at].iter().rev().filter(|p| !p.is_empty()) {
                    let part = shell_word(part);
                    out.push_str(&format!(
                        "case \":${{{name}:-}}:\" in *\":{part}:\"*) ;; *) {name}=\"{part}${{{name}:+:${name}}}\" ;; esac\n"
                    ));
                }
                for part in parts[at + 1..].iter().filter(|p| !p.is_empty()) {
                    let part = shell_word(part);
                    out.push_str(&format!(
                        "case \":${{{name}:-}}:\" in *\":{part}:\"*) ;; *) {name}=\"${{{name}:+${name}:}}{part}\" ;; esac\n"
                    ));
                }
                out.push_str(&format!("export {name}\n"));
            }
            None => {
                out.push_str(&format!(
                    "if [ -z \"${{{name}+set}}\" ]; then {name}=\"{}\"; export {name}; fi\n",
                    shell_word(value)
                ));
            }
        }
    }
    Some(out)
}

/// `value` for the inside of a double-quoted shell string: `$NAME` and `${...}` stay
/// expansions, as in Docker's `ENV`; any other `$` (`$(`, `$1`) is literal there, and here.
/// Values are `rules::is_env_entry`'s: no quote, `\` or backtick reaches it unescaped.
pub fn shell_word(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' if chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || *n == '_' || *n == '{') => {
                out.push('$')
            }
            '$' | '"' | '\\' | '`' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file is sourced by a real shell: in a login shell whose PATH was reset, after the
    /// Dockerfile's ENV (nothing changes), and under `docker run -e` (the user's value wins).
    #[test]
    fn the_environment_file_restores_env_and_changes_nothing_that_is_there() {
        let entries = |e: &[&str]| e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let file = [
            env_file(
                "cargo",
                &entries(&["RUSTUP_HOME=/opt/quarry/cargo/rustup", "PATH=/opt/quarry/cargo/cargo/bin:$PATH"]),
            ),
            env_file("npm", &entries(&["PATH=/opt/quarry/npm/bin:/opt/quarry/npm/extra:$PATH"])),
            env_file("odd", &entries(&["ODD=a$(id)b", "MANPATH=${MANPATH}:/opt/man"])),
        ]
        .map(Option::unwrap)
        .join("");
        let run = |env: &[(&str, &str)]| {
            let script =
                format!("{file}\nprintf '%s|%s|%s|%s\\n' \"$PATH\" \"$RUSTUP_HOME\" \"$ODD\" \"$MANPATH\"");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .env_clear()
                .envs(env.iter().copied())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
        };
        // What /etc/profile leaves.
        assert_eq!(
            run(&[("PATH", "/usr/bin:/bin")]),
            "/opt/quarry/npm/bin:/opt/quarry/npm/extra:/opt/quarry/cargo/cargo/bin:/usr/bin:/bin|/opt/quarry/cargo/rustup|a$(id)b|/opt/man"
        );
        // What ENV already gave the process: nothing moves, nothing doubles.
        let full = "/opt/quarry/npm/bin:/opt/quarry/npm/extra:/opt/quarry/cargo/cargo/bin:/usr/bin:/bin";
        assert_eq!(
            run(&[("PATH", full), ("RUSTUP_HOME", "/opt/quarry/cargo/rustup"), ("MANPATH", "/x:/opt/man")]),
            format!("{full}|/opt/quarry/cargo/rustup|a$(id)b|/x:/opt/man")
        );
        // `docker run -e RUSTUP_HOME=/mine` wins.
        assert!(run(&[("PATH", "/bin"), ("RUSTUP_HOME", "/mine")]).contains("|/mine|"));
        assert_eq!(env_file("none", &[]), None);
    }
}
