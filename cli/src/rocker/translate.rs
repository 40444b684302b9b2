//! A rocker command line, as `parse.rs` read it, carried out in quarry's terms: a configuration
//! (what a quarry.toml would say: the image, extensions, their options, build and run settings)
//! and how to run it (the command, rocker's `--mode`, `--image-name`); `--nocleanup` is the
//! `nocleanup` extension. The
//! meaning of each option is `spec.rs`'s `Meaning`; options whose meaning is `Special` are
//! carried out here, by `dest`.

use std::collections::BTreeMap;
use std::path::Path;

use quarry_core::{Hinted, Registry};
use toml::Value;

use super::parse::Parsed;
use super::spec::{Meaning, OPTIONS};

/// How rocker runs the container (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Interactive when stdin is a terminal (rocker's default: interactive, or non-interactive
    /// without a terminal).
    #[default]
    Auto,
    /// `-it`.
    Interactive,
    /// No `-it`.
    NonInteractive,
    /// Build the image, then print the `docker run` command instead of running it.
    DryRun,
}

/// A rocker command line in quarry's terms.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    /// What a quarry.toml would hold: `image`, `extensions` (with `!name` exclusions),
    /// `[options.*]`, `[build]`, `[run] args`, `deps`.
    pub config: toml::Table,
    /// The command.
    pub command: Vec<String>,
    /// `--mode`.
    pub mode: Mode,
    /// `--image-name`.
    pub tag: Option<String>,
    /// `--strict-extension-selection`: an extension added as a dependency is an error.
    pub strict: bool,
    /// What quarry does otherwise than rocker would, one line each (the parse's notes too).
    pub notes: Vec<String>,
}

/// The host's side of a translation: the folder quarry runs in and the host's groups.
#[derive(Debug, Clone)]
pub struct Host<'a> {
    /// The current folder.
    pub cwd: &'a Path,
    /// The host's groups: (name, gid), from `/etc/group`.
    pub groups: &'a [(String, String)],
}

/// The quarry extension a rocker extension name stands for (`isaacsim` is `isaac_sim`, `git` is
/// `gitconfig`, deps_rocker's `deps` its files): the option of that `dest` says.
pub fn extension_of(rocker_name: &str) -> Option<&'static str> {
    // rocker's extensions whose flag has another name (`--cpus`, `--memory`).
    match rocker_name {
        "cpu_limits" => return Some("cpu_limits"),
        "memory_limits" => return Some("memory_limits"),
        _ => {}
    }
    let dest = rocker_name.replace('-', "_");
    let option = OPTIONS.iter().find(|o| o.dest == dest)?;
    match option.meaning {
        Meaning::Extension(e) | Meaning::Option(e, _) | Meaning::List(e, _) => Some(e),
        _ => match option.dest {
            "nvidia" => Some("nvidia"),
            "cwd" => Some("cwd"),
            "cwd_name" => Some("name"),
            "oyr_mount" => Some("volume"),
            "oyr_spacenav" => Some("spacenav"),
            _ => None,
        },
    }
}

/// Carries `parsed` out in quarry's terms.
pub fn translate(parsed: &Parsed, registry: &Registry, host: &Host) -> Result<Translation, Hinted> {
    let mut t = Translation { notes: parsed.notes.clone(), ..Translation::default() };
    let mut extensions: Vec<String> = Vec::new();
    let mut options: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut build = toml::Table::new();
    let mut run_args: Vec<String> = Vec::new();
    let mut excluded: Vec<String> = Vec::new();
    let select = |name: &str, extensions: &mut Vec<String>| -> Result<(), Hinted> {
        if registry.get(name).is_none() {
            return Err(Hinted::new(
                format!("quarry has no `{name}` extension, which this rocker option needs"),
                "`quarry list` shows what it has; leave the option out",
            ));
        }
        if !extensions.iter().any(|e| e == name) {
            extensions.push(name.to_owned());
        }
        Ok(())
    };
    let set = |options: &mut BTreeMap<String, BTreeMap<String, Value>>,
               ext: &str,
               option: &str,
               value: &str| {
        options.entry(ext.to_owned()).or_default().insert(option.to_owned(), Value::String(value.to_owned()));
    };
    let push = |options: &mut BTreeMap<String, BTreeMap<String, Value>>,
                ext: &str,
                option: &str,
                values: &[String]| {
        let slot = options
            .entry(ext.to_owned())
            .or_default()
            .entry(option.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = slot {
            items.extend(values.iter().cloned().map(Value::String));
        }
    };
    let cwd_name = host.cwd.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for (option, values) in &parsed.given {
        match option.meaning {
            Meaning::Extension(name) => select(name, &mut extensions)?,
            Meaning::Option(ext, opt) => {
                select(ext, &mut extensions)?;
                if let Some(v) = values.last() {
                    set(&mut options, ext, opt, v);
                }
            }
            Meaning::List(ext, opt) => {
                select(ext, &mut extensions)?;
                push(&mut options, ext, opt, values);
            }
            Meaning::RunArg(arg) if values.is_empty() => run_args.push(arg.to_owned()),
            Meaning::RunArg(arg) => run_args.extend(values.iter().map(|v| format!("{arg}={v}"))),
            Meaning::Special => match option.dest {
                "help"
                | "version"
                | "persist_image"
                | "cache_perms"
                | "user_preserve_home"
                | "user_preserve_groups_permissive" => {}
                "noexecute" => {
                    t.mode = Mode::DryRun;
                    t.notes.push("`--noexecute` is deprecated in rocker: `--mode dry-run`".to_owned());
                }
                "nocache" => {
                    build.insert("no_cache".into(), Value::Boolean(true));
                }
                "pull" => {
                    build.insert("pull".into(), Value::Boolean(true));
                }
                "mode" => {
                    t.mode = match values.last().map(String::as_str) {
                        Some("interactive") => Mode::Interactive,
                        Some("non-interactive") => Mode::NonInteractive,
                        Some("dry-run") => Mode::DryRun,
                        _ => Mode::Auto,
                    }
                }
                "image_name" => t.tag = values.last().cloned(),
                "strict_extension_selection" => t.strict = true,
                "extension_blacklist" => {
                    for name in values {
                        match extension_of(name) {
                            Some(e) => excluded.push(e.to_owned()),
                            None => t.notes.push(format!(
                                "`--extension-blacklist {}`: quarry has no such extension, so nothing is left out",
                                quarry_core::text::shown(name)
                            )),
                        }
                    }
                }
                "auto" => {
                    let root = values.last().map_or(host.cwd.to_path_buf(), |v| host.cwd.join(v));
                    for name in super::auto::detect(&root) {
                        select(name, &mut extensions)?;
                    }
                }
                "cwd" => {
                    // deps_rocker's: the folder at `~/<its name>`, and the container starts there.
                    select("cwd", &mut extensions)?;
                    set(&mut options, "cwd", "in_home", "true");
                }
                "cwd_name" => {
                    select("name", &mut extensions)?;
                    set(&mut options, "name", "value", &container_name(&cwd_name));
                }
                "env_file" => {
                    for v in values {
                        run_args.push(format!("--env-file={}", host.cwd.join(v).display()));
                    }
                }
                "git_config_path" => {
                    select("gitconfig", &mut extensions)?;
                    if let Some(v) = values.last() {
                        set(&mut options, "gitconfig", "path", v);
                    }
                }
                "nvidia" => {
                    select("nvidia", &mut extensions)?;
                    if let Some(v) = values.last() {
                        set(&mut options, "nvidia", "mode", v);
                    }
                }
                "nvidia_glvnd_version" | "nvidia_glvnd_policy" => t.notes.push(format!(
                    "`{}`: quarry's `nvidia` installs the image's own libglvnd, whatever its release",
                    option.names[0]
                )),
                "deps" => {
                    t.config.insert("deps".into(), Value::String(values.last().cloned().unwrap_or_default()));
                }
                "oyr_mount" => {
                    select("volume", &mut extensions)?;
                    push(&mut options, "volume", "spec", values);
                }
                "oyr_run_arg" => {
                    for v in values {
                        run_args.extend(shell_words(v));
                    }
                }
                "oyr_spacenav" => select("spacenav", &mut extensions)?,
                "shm_size_build" => {
                    if let Some(v) = values.last() {
                        build.insert("shm_size".into(), Value::String(v.clone()));
                    }
                }
                "user_preserve_groups" => {
                    select("user", &mut extensions)?;
                    if values.is_empty() {
                        set(&mut options, "user", "host_groups", "true");
                    }
                    for name in values {
                        match host.groups.iter().find(|(n, _)| n == name) {
                            Some((_, gid)) => run_args.push(format!("--group-add={gid}")),
                            None => t.notes.push(format!(
                                "the host has no group {}: it is skipped, as rocker skips it",
                                quarry_core::text::shown(name)
                            )),
                        }
                    }
                }
                other => unreachable!("`{other}` is special but has no case: add one"),
            },
        }
    }
    // What the given extensions need, as rocker adds it (deps_rocker's `--pixi` brings `--user`
    // and `--curl`), or, with `--strict-extension-selection`, refuses without.
    let given: Vec<&str> = parsed.given.iter().map(|(o, _)| o.dest).collect();
    let mut queue: Vec<(&str, &str)> =
        parsed.given.iter().flat_map(|(o, _)| o.requires.iter().map(move |r| (*r, o.dest))).collect();
    let mut added: Vec<&str> = Vec::new();
    while let Some((needed, by)) = queue.pop() {
        if given.contains(&needed) || added.contains(&needed) {
            continue;
        }
        if t.strict {
            return Err(Hinted::new(
                format!("extension `{by}` is missing required extension(s) [`{needed}`]"),
                format!(
                    "give `--{}` too, or leave out --strict-extension-selection",
                    needed.replace('_', "-")
                ),
            ));
        }
        added.push(needed);
        match super::spec::by_dest(needed) {
            Some(option) => {
                match option.meaning {
                    Meaning::Extension(name) => select(name, &mut extensions)?,
                    _ => match extension_of(needed) {
                        Some(name) => select(name, &mut extensions)?,
                        None => continue,
                    },
                }
                t.notes.push(format!(
                    "`--{}` needs `--{}`, which rocker adds: so does quarry",
                    by.replace('_', "-"),
                    needed.replace('_', "-")
                ));
                queue.extend(option.requires.iter().map(|r| (*r, needed)));
            }
            None => t.notes.push(format!(
                "`--{}` needs rocker's `{needed}` extension, which rocker 0.4 with deps_rocker 0.23 lacks, so rocker \
                 would refuse the line: quarry goes on without it",
                by.replace('_', "-")
            )),
        }
    }
    if let Some(image) = &parsed.image {
        t.config.insert("image".into(), Value::String(image.clone()));
    }
    t.command = parsed.command.clone();
    extensions.retain(|e| !excluded.contains(e));
    let mut names: Vec<Value> = extensions.iter().cloned().map(Value::String).collect();
    names.extend(excluded.iter().map(|e| Value::String(format!("!{e}"))));
    t.config.insert("extensions".into(), Value::Array(names));
    let options: toml::Table = options
        .into_iter()
        .filter(|(e, _)| extensions.contains(e))
        .map(|(e, o)| (e, Value::Table(o.into_iter().collect())))
        .collect();
    if !options.is_empty() {
        t.config.insert("options".into(), Value::Table(options));
    }
    if !build.is_empty() {
        t.config.insert("build".into(), Value::Table(build));
    }
    if !run_args.is_empty() {
        let args = run_args.into_iter().map(Value::String).collect();
        t.config.insert(
            "run".into(),
            Value::Table([("args".to_owned(), Value::Array(args))].into_iter().collect()),
        );
    }
    Ok(t)
}

/// deps_rocker's container name from a folder's name: letters, digits, `.` and `-` (others
/// become `-`), starting with a letter or digit.
fn container_name(folder: &str) -> String {
    let name: String = folder
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
        .collect();
    let name = name.trim_start_matches(['-', '.']).to_owned();
    if name.is_empty() { "quarry".to_owned() } else { name }
}

/// `value` split as a POSIX shell splits it (rocker joins `--oyr-run-arg` values into its
/// `docker run` line, which it splits again); quotes and backslashes are honoured.
pub fn shell_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_split_as_a_shell_does() {
        assert_eq!(shell_words(" --label foo=bar"), ["--label", "foo=bar"]);
        assert_eq!(shell_words("--label 'a b' \"c \\\"d\\\"\" e\\ f"), ["--label", "a b", "c \"d\"", "e f"]);
        assert_eq!(shell_words(""), Vec::<String>::new());
    }

    #[test]
    fn every_special_option_has_a_case() {
        let registry =
            quarry_core::Registry::from_extensions(quarry_catalog::LINKED.iter().copied()).unwrap();
        let host = Host { cwd: Path::new("/work/proj"), groups: &[] };
        for o in OPTIONS.iter().filter(|o| o.meaning == Meaning::Special) {
            let values = match o.nargs {
                super::super::spec::Nargs::Zero => vec![],
                _ if !o.choices.is_empty() => vec![o.choices[0].to_owned()],
                _ => vec!["x".to_owned()],
            };
            let parsed = Parsed { image: Some("img".into()), given: vec![(o, values)], ..Parsed::default() };
            // Panics on a missing case; an extension this quarry lacks is an error, not a panic.
            let _ = translate(&parsed, &registry, &host);
        }
    }

    #[test]
    fn folder_names_become_container_names() {
        assert_eq!(container_name("my_repo@main"), "my-repo-main");
        assert_eq!(container_name("..x"), "x");
        assert_eq!(container_name("@@"), "quarry");
    }
}
