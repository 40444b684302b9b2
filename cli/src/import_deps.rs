//! deps_rocker's `*.deps.yaml` files, read natively: found below the project by deps_rocker's
//! patterns, parsed with the place of every key and entry, merged into deps_rocker's layers in its
//! order, and every entry checked for the slot its command puts it in. quarry.toml's `deps` key
//! makes each layer a project extension (`project_ext/deps.rs`); `quarry import` writes that key.
//!
//! deps_rocker's semantics, kept: each key is `<command>_<layer>` (split at the first `_`; the
//! plain `apt` is a layer too); entries of one key in every file form one set, rendered sorted;
//! layers come in the order their keys are first seen, files in path order; a key holding
//! `preamble` is a preamble layer and one holding `user` a user layer, which come before and after
//! the others; a script's path is relative to its deps file. Files are read in sorted path order
//! (deps_rocker takes the file system's), and what deps_rocker would take wrongly or drop (a
//! missing script, a string where a list belongs, a key given twice in one file) is an error at
//! its place instead.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use quarry_core::rules;

use crate::config::ConfigError;

mod find;
mod yaml;

use find::read_file;
pub use find::{check_pattern, find};
use yaml::{Node, top_level};

/// deps_rocker's `--deps` without a value, and quarry.toml's `deps = true`.
pub const DEFAULT_PATTERN: &str = "*.deps.yaml";

/// The largest deps file (and `pyproject.toml`) read: real ones are a few lines.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most deps files one project may have.
const MAX_FILES: usize = 1000;
/// The most folder entries a search visits: a search never runs away (links to folders are not
/// followed, so it ends anyway).
const MAX_VISITED: usize = 1_000_000;
/// The most YAML values a deps file may stand for with its aliases expanded, and its deepest
/// nesting (as for rockerc files).
const MAX_NODES: u64 = 100_000;
const MAX_NESTING: usize = 64;
/// The longest key: `project_deps_` and the key make an extension name of at most 64 characters.
const MAX_KEY: usize = 51;
/// The longest entry.
const MAX_ENTRY: usize = 4096;

/// A deps_rocker command: the part of a key before its first `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// apt packages, in an apt layer.
    Apt,
    /// Repositories for `add-apt-repository`.
    AddAptRepository,
    /// `ENV` entries.
    Env,
    /// pip arguments.
    Pip,
    /// `RUN` commands.
    Run,
    /// Scripts run with bash.
    Script,
    /// The dependencies of every `pyproject.toml` below the project.
    Pyproject,
    /// deps_rocker's fixed time-zone snippet: the catalog's `tzdata`.
    Tzdata,
    /// deps_rocker's fixed locale snippet: the catalog's `locales`.
    Locales,
}

/// Every command, as keys spell it.
pub const COMMANDS: &[(&str, Command)] = &[
    ("apt", Command::Apt),
    ("add-apt-repository", Command::AddAptRepository),
    ("env", Command::Env),
    ("pip", Command::Pip),
    ("run", Command::Run),
    ("script", Command::Script),
    ("pyproject", Command::Pyproject),
    ("tzdata", Command::Tzdata),
    ("locales", Command::Locales),
];

/// Where a layer runs: deps_rocker's preamble, its root snippet, or after the image's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// A key holding `preamble`: before the other layers.
    Preamble,
    /// Every other key: as root.
    Root,
    /// A key holding `user` (and not `preamble`): as the image's user, after the others.
    User,
}

/// A place in a file of the project: its path relative to the project, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file, relative to the project folder.
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

impl Place {
    /// An error at this place.
    pub fn error(&self, message: String, hint: &str) -> ConfigError {
        ConfigError {
            path: PathBuf::from(&self.file),
            line: self.line,
            column: self.column,
            message,
            hint: hint.to_owned(),
        }
    }
}

/// One layer: every entry of one key, over every file.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The key, as written.
    pub key: String,
    /// What it does.
    pub command: Command,
    /// Where it runs.
    pub group: Group,
    /// Where the key is first seen.
    pub at: Place,
    /// The entries as the command takes them, a set in deps_rocker's order (sorted, each once):
    /// package names (`apt`), repositories (`add-apt-repository`), `NAME=value` (`env`; an entry
    /// `A=1 B=2` gives two), pip's words (`pip`: each entry split at white space, as its shell
    /// line does), commands (`run`), scripts as paths relative to the project (`script`), the
    /// requirements of the project's `pyproject.toml` files (`pyproject`); none for `tzdata` and
    /// `locales`, whose entries deps_rocker ignores too.
    pub entries: Vec<String>,
}

/// The layers of the deps files `files` (paths relative to `root`, as [`find`] gives them): the
/// preamble layers, then the root ones, then the user ones, each group in the order its keys are
/// first seen. Every entry is checked for its command; the first mistake is the error, at its
/// place.
pub fn read(root: &Path, files: &[String]) -> anyhow::Result<Vec<Layer>> {
    let mut layers: Vec<Layer> = Vec::new();
    // Per layer, its entries with the place each was first given.
    let mut sets: Vec<BTreeMap<String, Place>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for file in files {
        let text = read_file(root, file)?;
        for (key, key_at, value) in top_level(file, &text)? {
            let (command, group) = parse_key(&key).map_err(|(message, hint)| key_at.error(message, &hint))?;
            let entries = entries(&key, &key_at, value)?;
            if entries.is_empty() {
                // deps_rocker makes a layer of its first entry: an empty list is none.
                continue;
            }
            let i = *index.entry(key.clone()).or_insert_with(|| {
                layers.push(Layer {
                    key: key.clone(),
                    command,
                    group,
                    at: key_at.clone(),
                    entries: Vec::new(),
                });
                sets.push(BTreeMap::new());
                layers.len() - 1
            });
            let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
            for (raw, at) in entries {
                let taken = match command {
                    Command::Script => vec![script_path(root, dir, &raw, &at)?],
                    _ => vec![raw],
                };
                for t in taken {
                    sets[i].entry(t).or_insert(at.clone());
                }
            }
        }
    }
    for (layer, set) in layers.iter_mut().zip(sets) {
        layer.entries = checked(layer, set)?;
        if layer.command == Command::Pyproject {
            layer.entries = pyproject_requirements(root, &layer.at)?;
        }
    }
    layers.sort_by_key(|l| l.group);
    Ok(layers)
}

/// `<command>_<layer>` as deps_rocker splits it, with the group its name puts it in.
fn parse_key(key: &str) -> Result<(Command, Group), (String, String)> {
    if key.is_empty()
        || key.len() > MAX_KEY
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err((
            format!("{} is not a deps layer name quarry takes", quarry_core::text::shown(key)),
            format!(
                "write `<command>_<layer>` of letters, digits, `_`, `-` and `.`, at most {MAX_KEY} characters"
            ),
        ));
    }
    let word = key.split('_').next().unwrap_or_default();
    let Some((_, command)) = COMMANDS.iter().find(|(k, _)| *k == word) else {
        let names: Vec<&str> = COMMANDS.iter().map(|(k, _)| *k).collect();
        let hint = match quarry_core::suggest_closest(word, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? The commands are {}", names.join(", ")),
            None => format!("a key is `<command>_<layer>`; the commands are {}", names.join(", ")),
        };
        return Err((format!("`{key}`: `{word}` is not a deps_rocker command"), hint));
    };
    let group = if key.contains("preamble") {
        Group::Preamble
    } else if key.contains("user") {
        Group::User
    } else {
        Group::Root
    };
    Ok((*command, group))
}

/// The entries a key's value lists, with their places: nothing for an empty value.
fn entries(key: &str, key_at: &Place, value: Node) -> Result<Vec<(String, Place)>, ConfigError> {
    let at = |line, column| Place { file: key_at.file.clone(), line, column };
    match value {
        Node::Null(..) => Ok(Vec::new()),
        Node::Seq(items, ..) => items
            .into_iter()
            .map(|item| match item {
                Node::Text(text, line, column) => Ok((text, at(line, column))),
                Node::Null(line, column) => Err(at(line, column).error(
                    format!("`{key}` has an empty entry"),
                    "remove the `-` without a value, or give it one",
                )),
                Node::Seq(_, line, column) | Node::Map(_, line, column) => Err(at(line, column).error(
                    format!("`{key}` holds a list or a mapping as an entry"),
                    "give each entry as text, one per line",
                )),
            })
            .collect(),
        Node::Text(text, line, column) => Err(at(line, column).error(
            format!("`{key}` is {}, not a list", quarry_core::text::shown(&text)),
            &format!(
                "write it as a list, `{key}: [{}]` (deps_rocker would take each letter as an entry)",
                text.replace(['\n', '\r'], " ")
            ),
        )),
        Node::Map(_, line, column) => Err(at(line, column)
            .error(format!("`{key}` is a mapping, not a list"), "list the entries, one `- entry` per line")),
    }
}

/// A script entry as a path relative to the project: relative to the deps file's folder `dir`,
/// inside the project, naming a file (links followed inside the project only).
fn script_path(root: &Path, dir: &str, raw: &str, at: &Place) -> Result<String, ConfigError> {
    if raw.starts_with('/') {
        return Err(at.error(
            format!("script {} is an absolute path", quarry_core::text::shown(raw)),
            "put the script in the project and name it relative to the deps file's folder",
        ));
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(at.error(
                        format!("script {} is outside the project", quarry_core::text::shown(raw)),
                        "put the script in the project: it is relative to the deps file's folder",
                    ));
                }
            }
            p => parts.push(p),
        }
    }
    let rel = parts.join("/");
    if !rules::is_rel_path(&rel) {
        return Err(at.error(
            format!("script {} is not a path quarry takes", quarry_core::text::shown(raw)),
            "name scripts with letters, digits and `._+-`, relative to the deps file's folder",
        ));
    }
    let full = root.join(&rel);
    let inside = match (full.canonicalize(), root.canonicalize()) {
        (Ok(real), Ok(root)) => real.starts_with(&root).then_some(real),
        _ => {
            return Err(at.error(
                format!("script `{rel}` does not exist"),
                "a script's path is relative to the deps file's folder",
            ));
        }
    };
    match inside {
        Some(real) if real.is_file() => Ok(rel),
        Some(_) => Err(at.error(format!("script `{rel}` is not a file"), "name a script file")),
        None => Err(at.error(
            format!("script `{rel}` leads outside the project through a symbolic link"),
            "copy the script into the project",
        )),
    }
}

/// A layer's entries, each checked for its command and normalised, in deps_rocker's order.
fn checked(layer: &Layer, set: BTreeMap<String, Place>) -> Result<Vec<String>, ConfigError> {
    let key = &layer.key;
    let mut out = Vec::new();
    for (entry, at) in set {
        let shown = quarry_core::text::shown(&entry);
        if entry.len() > MAX_ENTRY {
            return Err(
                at.error(format!("`{key}`: an entry is longer than {MAX_ENTRY} characters"), "shorten it")
            );
        }
        match layer.command {
            Command::Apt => {
                if !rules::is_apt_package(&entry) {
                    return Err(at.error(
                        format!("`{key}`: {shown} is not a Debian package name"),
                        "write one package per entry, such as `libeigen3-dev`: lowercase letters, digits and `+.-`",
                    ));
                }
                out.push(entry);
            }
            Command::AddAptRepository => {
                if !is_repository(&entry) {
                    return Err(at.error(
                        format!("`{key}`: {shown} is not a repository `add-apt-repository` takes here"),
                        "write one repository per entry, such as `ppa:owner/name` or `deb http://example.org/apt stable main`, without quotes or `\\`",
                    ));
                }
                out.push(entry);
            }
            Command::Env => out.extend(env_entries(&entry).ok_or_else(|| {
                at.error(
                    format!("`{key}`: {shown} is not an environment entry quarry takes"),
                    "write `NAME=value` (or `NAME value`); the value without white space, quotes, `\\` or `{{`",
                )
            })?),
            Command::Pip => {
                let words: Vec<&str> = entry.split_ascii_whitespace().collect();
                if words.is_empty() || !words.iter().all(|w| is_shell_word(w)) {
                    return Err(at.error(
                        format!("`{key}`: {shown} is not a pip requirement or option quarry takes"),
                        "write requirements such as `numpy>=1.26` or options such as `--extra-index-url https://example.org/simple`, without quotes or `\\`",
                    ));
                }
                out.extend(words.into_iter().map(str::to_owned));
            }
            Command::Run => {
                check_command(&entry).map_err(|why| at.error(format!("`{key}`: {shown} {why}"), "give each command as one line of its own: each entry is a RUN step"))?;
                out.push(entry);
            }
            Command::Script => out.push(entry),
            Command::Pyproject | Command::Tzdata | Command::Locales => {}
        }
    }
    Ok(out)
}

/// A repository line for `add-apt-repository`, one single-quoted argument: printable ASCII and
/// spaces, no quote or `\`, not an option.
fn is_repository(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.bytes().all(|b| (b.is_ascii_graphic() || b == b' ') && !matches!(b, b'\'' | b'\\'))
}

/// One word that goes single-quoted into a RUN line: printable ASCII without a quote or `\`.
fn is_shell_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'\'' | b'\\'))
}

/// Why a `run` entry cannot be one RUN line, if it cannot.
fn check_command(s: &str) -> Result<(), &'static str> {
    if s.trim().is_empty() {
        return Err("is empty");
    }
    if s.chars().any(char::is_control) {
        return Err("holds a line break or another control character");
    }
    if s.trim_end().ends_with('\\') {
        return Err("ends with `\\`, which would continue the line");
    }
    if s.contains("<<") {
        return Err("holds `<<`, which BuildKit reads as a heredoc");
    }
    let end = s.trim_end();
    if end.ends_with("&&") || end.ends_with("||") || end.ends_with('|') {
        return Err("ends with `&&`, `||` or `|`, continuing into the next entry");
    }
    Ok(())
}

/// deps_rocker's `ENV <entry>` as quarry's entries: `NAME=value` (or several, white-space
/// separated), or the old `NAME value`; a value in matching quotes loses them, as Docker reads it.
fn env_entries(entry: &str) -> Option<Vec<String>> {
    let entry = entry.trim();
    let first = entry.split_ascii_whitespace().next()?;
    let pairs: Vec<(String, String)> = if first.contains('=') {
        entry
            .split_ascii_whitespace()
            .map(|pair| pair.split_once('=').map(|(n, v)| (n.to_owned(), unquoted(v).to_owned())))
            .collect::<Option<_>>()?
    } else {
        let value = entry[first.len()..].trim();
        vec![(first.to_owned(), unquoted(value).to_owned())]
    };
    pairs
        .into_iter()
        .map(|(name, value)| {
            let e = format!("{name}={value}");
            (rules::is_env_entry(&e) && !value.contains('{')).then_some(e)
        })
        .collect()
}

fn unquoted(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// The requirements every `pyproject.toml` below the project lists in `[project] dependencies`
/// and its `test` and `dev` extras, as deps_rocker's `pyproject` layer installs them: a set,
/// sorted. Each is one line without a quote `'` or `\`, as it goes single-quoted to pip.
fn pyproject_requirements(root: &Path, layer_at: &Place) -> anyhow::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct File {
        project: Option<ProjectTable>,
    }
    #[derive(serde::Deserialize)]
    struct ProjectTable {
        #[serde(default)]
        dependencies: Vec<toml::Spanned<String>>,
        #[serde(default, rename = "optional-dependencies")]
        optional: BTreeMap<String, Vec<toml::Spanned<String>>>,
    }
    let mut out = BTreeMap::new();
    let files = find(root, &["pyproject.toml".to_owned()])?;
    for file in &files {
        let text = read_file(root, file)?;
        let place = |offset: usize| {
            let before = &text[..offset.min(text.len())];
            Place {
                file: file.clone(),
                line: before.matches('\n').count() + 1,
                column: before.rsplit('\n').next().unwrap_or("").chars().count() + 1,
            }
        };
        let parsed: File = toml::from_str(&text).map_err(|e| {
            place(e.span().map_or(0, |s| s.start)).error(
                format!("not a pyproject.toml quarry can read: {}", e.message().trim()),
                "fix the TOML at this place: the `pyproject` deps layer reads every pyproject.toml of the project",
            )
        })?;
        let Some(project) = parsed.project else { continue };
        let extras = ["test", "dev"].into_iter().filter_map(|x| project.optional.get(x)).flatten();
        for requirement in project.dependencies.iter().chain(extras) {
            let r = requirement.get_ref().trim();
            if r.is_empty()
                || r.chars().any(char::is_control)
                || r.contains(['\'', '\\'])
                || r.starts_with('-')
            {
                return Err(place(requirement.span().start)
                    .error(
                        format!("{} is not a requirement quarry passes to pip", quarry_core::text::shown(r)),
                        "write a PEP 508 requirement on one line, without `'` or `\\`",
                    )
                    .into());
            }
            out.insert(r.to_owned(), ());
        }
    }
    if out.is_empty() {
        return Err(layer_at
            .error(
                format!("`pyproject`: no pyproject.toml of the project lists dependencies ({} found)", files.len()),
                "the `pyproject` layer installs `[project] dependencies` (and the `test` and `dev` extras) of every pyproject.toml below the project: add them, or remove the key",
            )
            .into());
    }
    Ok(out.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_as_deps_rocker_splits_them() {
        let split = |k: &str| parse_key(k).map_err(|(m, h)| format!("{m} / {h}"));
        assert_eq!(split("apt"), Ok((Command::Apt, Group::Root)));
        assert_eq!(split("apt_ros-base"), Ok((Command::Apt, Group::Root)));
        assert_eq!(split("add-apt-repository_ppa"), Ok((Command::AddAptRepository, Group::Root)));
        assert_eq!(split("script_entrypoint-user"), Ok((Command::Script, Group::User)));
        assert_eq!(split("env_preamble"), Ok((Command::Env, Group::Preamble)));
        assert_eq!(split("run_user-preamble"), Ok((Command::Run, Group::Preamble)));
        let err = split("scripts_main").unwrap_err();
        assert!(err.contains("`scripts` is not a deps_rocker command / did you mean `script`?"), "{err}");
        assert!(split("apt tools").is_err());
    }

    #[test]
    fn env_entries_are_docker_s() {
        let env = |e: &str| env_entries(e);
        assert_eq!(env("A=1"), Some(vec!["A=1".to_owned()]));
        assert_eq!(env("A=1 B=$A"), Some(vec!["A=1".to_owned(), "B=$A".to_owned()]));
        assert_eq!(env("LANG C.UTF-8"), Some(vec!["LANG=C.UTF-8".to_owned()]));
        assert_eq!(env("A=\"x\""), Some(vec!["A=x".to_owned()]));
        assert_eq!(env("PATH=/opt/x/bin:$PATH"), Some(vec!["PATH=/opt/x/bin:$PATH".to_owned()]));
        for bad in ["A=\"x y\"", "A x y", "1A=2", "A=x\\", "A={{ name }}", "=1", "A=1 B"] {
            assert_eq!(env(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_large_file_is_read_in_linear_time() {
        // 30,000 entries, each given twice: a scan of the list per entry took 45 s for 70,000 (a
        // debug build), a set takes well under a second. The bound is generous; quadratic is not.
        let mut yaml = String::from("apt:\n");
        for i in 0..30_000 {
            yaml.push_str(&format!("  - pkg{i:06}\n"));
        }
        let twice = format!("{yaml}apt_base:\n{}", &yaml[5..]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.deps.yaml"), &yaml).unwrap();
        std::fs::write(dir.path().join("b.deps.yaml"), &twice).unwrap();
        let started = std::time::Instant::now();
        let files = find(dir.path(), &[DEFAULT_PATTERN.to_owned()]).unwrap();
        let layers = read(dir.path(), &files).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "{:?}", started.elapsed());
        let sizes: Vec<(&str, usize)> = layers.iter().map(|l| (l.key.as_str(), l.entries.len())).collect();
        assert_eq!(sizes, [("apt", 30_000), ("apt_base", 30_000)]);
    }
}

#[cfg(test)]
mod against_deps_rocker;
