//! quarry.toml's `deps`: deps_rocker's `*.deps.yaml` files of the project, read where they are
//! (`import_deps.rs`), each layer a project extension `project_deps_<key>` with steps of its own.
//!
//! The layers keep deps_rocker's order: each depends on the one before it, so the chain holds
//! that order whatever quarry.lock says, and the lock records it as it records any project
//! extension. Per command:
//! - `apt`: the layer's apt packages, in an apt layer of quarry's.
//! - `add-apt-repository`: `software-properties-common` in its apt layer, then one
//!   `add-apt-repository -y -n '<entry>'` RUN per entry (PPAs, components); one-line sources
//!   (`deb ...`) are written to `/etc/apt/sources.list.d/<extension>.list` in one RUN. The next
//!   apt layer's `apt-get update` reads them.
//! - `env`: its entries as the image's `ENV`; the RUN steps of the layers after it see them too
//!   (each exports them first), as they would after deps_rocker's `ENV` lines.
//! - `pip`: `python3 -m pip install -U <words>` in the chain, into the image's own Python as
//!   deps_rocker does (`python3-pip` in its apt layer; PEP 668's guard lifted for the step), so
//!   every `python3` of the image, the later layers' scripts and `#!/usr/bin/python3` programs
//!   import the packages; a download cache is mounted.
//! - `run`: one RUN per entry.
//! - `script`: the layer's scripts, bind-mounted from the build context, each run with bash in one
//!   RUN; `sudo` in them runs the command as it is (see [`SUDO`]).
//! - `pyproject`: pip, as above, of the dependencies of every `pyproject.toml` of the project.
//! - `tzdata`, `locales`: the catalog's `tzdata` and `locales`, which do what deps_rocker's
//!   fixed snippets do.
//!
//! A user layer's `pip`, `pyproject`, `run` and `script` steps run as the image's user
//! (`setup_as_user`, with `HOME` that user's); its apt packages and repositories need root and get
//! it.

use std::collections::BTreeMap;

use quarry_core::Extension;
use toml::Spanned;

use super::Project;
use super::keys::GENERATED;
use crate::import_deps::{self, Command, DEFAULT_PATTERN, Group, Layer};

/// The chain priority of deps layers: after the catalog's apt extensions and the project's own
/// apt layers; user layers after the `user` extension (10).
const PRIORITY: u8 = 25;
const USER_PRIORITY: u8 = 5;

/// The `sudo` a script layer runs with, first on PATH for its step. deps_rocker removes `sudo`
/// from the scripts' text, since they run as root; this does the same to the command without
/// touching other text (`/etc/sudoers`, `pseudo`): options are dropped and the command runs as
/// it is (as root, or as the user a `-u` names). A user layer's step uses the image's own sudo
/// when it has one (the `user` extension's), else runs the command as the user, as deps_rocker
/// would.
const SUDO: &str = r#"#!/bin/sh
# quarry: `sudo` for deps_rocker's scripts, first on PATH for the step that runs them.
if [ "$(id -u)" != 0 ]; then
  IFS=:
  for dir in $PATH; do
    if [ -n "$dir" ] && [ -x "$dir/sudo" ] && ! [ "$dir/sudo" -ef "$0" ]; then
      unset IFS
      exec "$dir/sudo" "$@"
    fi
  done
  unset IFS
fi
user=
while [ "$#" -gt 0 ]; do
  case "$1" in
    -u|--user) user=${2:-}; shift; [ "$#" -gt 0 ] && shift ;;
    -u?*) user=${1#-u}; shift ;;
    --user=*) user=${1#--user=}; shift ;;
    -g|-C|-D|-h|-p|-r|-t|-T|-U) shift; [ "$#" -gt 0 ] && shift ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [ "$#" -eq 0 ]; then exit 0; fi
if [ -n "$user" ] && [ "$(id -u)" = 0 ] && [ "$user" != root ]; then
  exec "$(PATH="$PATH:/usr/sbin:/sbin" command -v runuser)" -u "$user" -- env -- "$@"
fi
exec env -- "$@"
"#;

/// Where a script layer's files are mounted.
const MOUNTS: &str = "/tmp/quarry-deps";

impl Project<'_> {
    /// The extensions of `deps`: one per layer of the deps files, in deps_rocker's order.
    pub(super) fn deps(&self) -> anyhow::Result<Vec<&'static Extension>> {
        let Some(value) = &self.loaded.config.deps else { return Ok(Vec::new()) };
        let patterns = self.deps_patterns(value)?;
        if patterns.is_empty() {
            return Ok(Vec::new());
        }
        let files = import_deps::find(&self.root, &patterns)?;
        if files.is_empty() {
            let shown: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
            return Err(self
                .error(
                    value.span(),
                    format!("`deps`: no file below `{}` matches {}", self.root.display(), shown.join(", ")),
                    "deps files are found below quarry.toml's folder, as deps_rocker finds them below the current one: check the pattern, or remove `deps`",
                )
                .into());
        }
        let layers = import_deps::read(&self.root, &files)?;
        let mut names: BTreeMap<String, &Layer> = BTreeMap::new();
        let mut out = Vec::new();
        let mut env_before: Vec<String> = Vec::new();
        let mut previous: Option<String> = None;
        for layer in &layers {
            let name = extension_name(&layer.key);
            if let Some(other) = names.insert(name.clone(), layer) {
                return Err(layer
                    .at
                    .error(
                        format!(
                            "`{}` and `{}` ({}:{}) are both the extension `{name}`",
                            layer.key, other.key, other.at.file, other.at.line
                        ),
                        "rename one of the two layers: quarry names a layer's extension by its key, lowercase, with `-` and `.` as `_`",
                    )
                    .into());
            }
            out.push(self.deps_layer(&name, layer, previous.as_deref(), &env_before)?);
            if layer.command == Command::Env {
                env_before.extend(layer.entries.iter().cloned());
            }
            previous = Some(name);
        }
        Ok(out)
    }

    /// `deps = true`, `"pattern"` or `["pattern", ...]`, checked; `false` is none.
    fn deps_patterns(&self, value: &Spanned<toml::Value>) -> Result<Vec<String>, crate::config::ConfigError> {
        let bad = |message: String, hint: &str| self.error(value.span(), message, hint);
        let patterns: Vec<String> = match value.get_ref() {
            toml::Value::Boolean(true) => vec![DEFAULT_PATTERN.to_owned()],
            toml::Value::Boolean(false) => Vec::new(),
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(items) => {
                items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<_>>().ok_or_else(
                    || bad("`deps` lists something that is not a pattern".to_owned(), "quote each pattern"),
                )?
            }
            _ => {
                return Err(bad(
                    "`deps` is `true`, a pattern or a list of patterns".to_owned(),
                    "write `deps = true` for deps_rocker's `*.deps.yaml`, or `deps = \"robot.deps.yaml\"`",
                ));
            }
        };
        for p in &patterns {
            if let Err(why) = import_deps::check_pattern(p) {
                return Err(bad(
                    format!("`deps`: {} is not a pattern quarry takes", crate::ui::shown(p)),
                    why,
                ));
            }
        }
        Ok(patterns)
    }

    /// The extension of one layer, after `previous` (the layer before it) and seeing `env` (the
    /// entries of the `env` layers before it) in its RUN steps.
    fn deps_layer(
        &self,
        name: &str,
        layer: &Layer,
        previous: Option<&str>,
        env: &[String],
    ) -> anyhow::Result<&'static Extension> {
        let user = layer.group == Group::User;
        let group = match layer.group {
            Group::Preamble => "preamble layer",
            Group::Root => "layer",
            Group::User => "user layer",
        };
        let description = format!("deps_rocker {group} `{}` of the project's deps files", layer.key);
        let mut toml = format!(
            "name = {}\ndescription = {}\ncache_priority = {}\n",
            quoted(name),
            quoted(&description),
            if user { USER_PRIORITY } else { PRIORITY }
        );
        let mut depends_on: Vec<&str> = previous.into_iter().collect();
        match layer.command {
            Command::Tzdata => depends_on.push("tzdata"),
            Command::Locales => depends_on.push("locales"),
            _ => {}
        }
        if !depends_on.is_empty() {
            toml.push_str(&format!("depends_on = {}\n", list(&depends_on)));
        }
        let setup_file = format!("{GENERATED}/setup.Dockerfile.j2");
        let mut generated: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        // The RUN steps' own start: the environment of the env layers before, and a user's HOME.
        let mut start = String::new();
        for entry in env {
            let (n, v) = entry.split_once('=').expect("env entries are NAME=value");
            start.push_str(&format!("export {n}=\"{}\" && ", double_quoted(v)));
        }
        if user {
            start.push_str(
                "export HOME=\"$(getent passwd \"$(id -u)\" | cut -d: -f6 | grep . || echo /)\" && ",
            );
        }
        let mut template = String::new();
        let mut files = String::new();
        let mut as_user = false;
        match layer.command {
            Command::Apt => toml.push_str(&format!("apt_packages = {}\n", list(&layer.entries))),
            Command::AddAptRepository => {
                toml.push_str("apt_packages = [\"software-properties-common\"]\n");
                // One-line sources are written as add-apt-repository writes them; Debian 12's
                // writes an empty file when the image's own sources are deb822 (checked with
                // bookworm's 0.99.30), so quarry writes them itself.
                let (lines, others): (Vec<&String>, Vec<&String>) =
                    layer.entries.iter().partition(|r| r.starts_with("deb ") || r.starts_with("deb-src "));
                if !lines.is_empty() {
                    let quoted: Vec<String> = lines.iter().map(|l| format!("'{}'", literal(l))).collect();
                    template.push_str(&format!(
                        "RUN {start}printf '%s\\n' {} > /etc/apt/sources.list.d/{name}.list\n",
                        quoted.join(" ")
                    ));
                }
                // Lists are read by the next apt layer's `apt-get update`, as every apt layer reads them.
                for r in others {
                    template.push_str(&format!("RUN {start}add-apt-repository -y -n '{}'\n", literal(r)));
                }
            }
            Command::Env => toml.push_str(&format!("env = {}\n", list(&layer.entries))),
            Command::Pip | Command::Pyproject => {
                toml.push_str("apt_packages = [\"python3-pip\"]\n");
                let words: Vec<String> = layer.entries.iter().map(|w| format!("'{}'", literal(w))).collect();
                let (cache, no_cache) = if user {
                    (String::new(), " --no-cache-dir")
                } else {
                    ("{{ cache_mount('pip', '/root/.cache/pip') }} \\\n    ".to_owned(), "")
                };
                template.push_str(&format!(
                    "RUN {cache}export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 && \
                     {start}python3 -m pip install{no_cache} -U {}\n",
                    words.join(" ")
                ));
                as_user = user;
            }
            Command::Run => {
                for c in &layer.entries {
                    template.push_str(&format!("RUN {start}{}\n", literal(c)));
                }
                as_user = user;
            }
            Command::Script => {
                let shim = format!("{GENERATED}/sudo");
                files.push_str(&format!("[[files]]\npath = {}\nexecutable = true\n", quoted(&shim)));
                generated.insert(shim.clone(), SUDO.as_bytes().to_vec());
                template.push_str(&format!(
                    "RUN --mount=type=bind,source={{{{ context }}}}/{shim},target={MOUNTS}/sudo/sudo \\\n"
                ));
                let mut runs = Vec::new();
                for s in &layer.entries {
                    files.push_str(&format!("[[files]]\npath = {}\n", quoted(s)));
                    template.push_str(&format!(
                        "    --mount=type=bind,source={{{{ context }}}}/{s},target={MOUNTS}/scripts/{s} \\\n"
                    ));
                    runs.push(format!("bash {MOUNTS}/scripts/{s}"));
                }
                template.push_str(&format!(
                    "    {start}export PATH=\"{MOUNTS}/sudo:$PATH\" && {}\n",
                    runs.join(" && ")
                ));
                as_user = user;
            }
            Command::Tzdata | Command::Locales => {}
        }
        if !template.is_empty() {
            toml.push_str(&format!("setup = {}\n", quoted(&setup_file)));
            if as_user {
                toml.push_str("setup_as_user = true\n");
            }
            generated.insert(setup_file, template.into_bytes());
        }
        toml.push_str(&files);
        self.build(name, "deps", &toml, &generated)
    }
}

/// `project_deps_<key>`: lowercase, `-` and `.` as `_`, no `__`, not ending in `_`.
fn extension_name(key: &str) -> String {
    let mut out = String::from("project_deps_");
    for c in key.chars() {
        let c = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// Text of the project for a template: `{` is written as an expression when the text holds what
/// minijinja would read (`{{`, `{%`, `{#`), so it reaches the Dockerfile as it is.
fn literal(text: &str) -> String {
    if ["{{", "{%", "{#"].iter().any(|t| text.contains(t)) {
        text.replace('{', "{{ '{' }}")
    } else {
        text.to_owned()
    }
}

/// `value` for the inside of a double-quoted shell string, as core's `.env` files write values
/// ([`quarry_core::shell::shell_word`]), kept literal in the template.
fn double_quoted(value: &str) -> String {
    literal(&quarry_core::shell::shell_word(value))
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quoted(i.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn names_follow_keys() {
        assert_eq!(extension_name("apt"), "project_deps_apt");
        assert_eq!(extension_name("apt_ros-base"), "project_deps_apt_ros_base");
        assert_eq!(extension_name("add-apt-repository_PPA"), "project_deps_add_apt_repository_ppa");
        assert_eq!(extension_name("script_x--y."), "project_deps_script_x_y");
        assert!(quarry_core::rules::is_snake_case(&extension_name(&"a".repeat(51))));
    }

    /// The `sudo` of script steps runs the command as it is: options dropped, `VAR=value` kept,
    /// `--` respected; with no command it does nothing. (As root `-u` would switch users; this
    /// runs as whoever runs the tests, on a PATH without another sudo.)
    #[test]
    fn the_sudo_of_script_steps_runs_the_command() {
        let dir = std::env::temp_dir().join(format!("quarry-sudo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(dir.join("bin/sudo"), SUDO).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("bin/sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
        for tool in ["id", "env", "sh", "echo", "printf", "sed"] {
            let found = ["/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists());
            std::os::unix::fs::symlink(found.unwrap(), dir.join("bin").join(tool)).unwrap();
        }
        let run = |script: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", script])
                .env("PATH", dir.join("bin"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(run("sudo -E -H echo hi"), "hi\n");
        assert_eq!(run("sudo VAR=1 sh -c 'echo $VAR'"), "1\n");
        assert_eq!(run("sudo -- printf '%s\\n' -x"), "-x\n");
        assert_eq!(run("echo a | sudo sed s/a/b/"), "b\n");
        assert_eq!(run("sudo; echo done"), "done\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn template_text_stays_literal() {
        assert_eq!(literal("echo ${#PATH}"), "echo ${{ '{' }}#PATH}");
        assert_eq!(literal("awk '{print $1}'"), "awk '{print $1}'");
        assert_eq!(double_quoted("/opt/x:$PATH"), "/opt/x:$PATH");
        assert_eq!(double_quoted("a$(id)b$1"), "a\\$(id)b\\$1");
    }
}
