//! `quarry init` (writes `config::STARTER`, never over a file unless forced) and `quarry import`
//! (a rockerc.yaml turned into quarry.toml, naming what could not be converted).

use std::path::Path;

use anyhow::Context;
use quarry_core::{Hinted, Registry};
use yaml_rust2::Yaml;

use crate::ui::shown;

/// Writes `contents` to `path` unless it exists (then `force` is needed).
pub fn write_new(path: &Path, contents: &str, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!(Hinted::new(
            format!("`{}` already exists", path.display()),
            "pass --force to replace it"
        ));
    }
    crate::output::write_atomically(path, contents.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// The largest rockerc file `quarry import` reads: real ones are a few lines.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// What `quarry import` made of a rockerc file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The quarry.toml text.
    pub toml: String,
    /// What was not converted, one line each.
    pub skipped: Vec<String>,
    /// What the user should know about what was converted: deps files that `quarry build` would
    /// refuse, or none where `deps` looks.
    pub warnings: Vec<Hinted>,
}

/// Reads a rockerc or deps file of at most [`MAX_INPUT_BYTES`], a regular file
/// ([`quarry_codegen::files`]: `/dev/zero` and a FIFO end with an error, not a hang); `within`, a
/// file found under the project, must not lead out of that folder through a link.
pub fn read_input(path: &Path, within: Option<&Path>) -> anyhow::Result<String> {
    use quarry_codegen::files::{self, ReadError};
    let name = path.display().to_string();
    files::read_text(path, within, MAX_INPUT_BYTES, &name).map_err(|e| match e {
        ReadError::TooLarge { .. } => Hinted::new(
            format!("{} is larger than {} KiB", shown(&name), MAX_INPUT_BYTES / 1024),
            "a rockerc file is a few lines of YAML: check the file name",
        )
        .into(),
        e => anyhow::Error::new(e),
    })
}

/// rocker and deps_rocker spellings of extensions that quarry names otherwise.
const EXTENSION_ALIASES: &[(&str, &str)] =
    &[("isaacsim", "isaac_sim"), ("gitclone", "git_clone"), ("jq", "jquery")];

/// The run-time extension that mounts the host's `~/.gitconfig` (rocker's `--git` does both).
const GITCONFIG: &str = "gitconfig";

/// rockerc keys (and `args` entries) quarry has no equivalent for, with the closest feature.
const UNMAPPED: &[(&str, &str)] = &[
    ("image-name", "`quarry build --tag NAME` (or `--image-name`) names the image"),
    ("mode", "`quarry run --dry-run` prints the commands; a terminal makes the run interactive"),
    ("oyr-run-arg", "`[run] args` of quarry.toml, or `quarry run --run-arg ARG`"),
    ("user-override-name", "`[options.user] name` of quarry.toml"),
    ("user-preserve-home", "the `home` extension"),
    ("ipc", "`[run] args = [\"--ipc=host\"]` of quarry.toml"),
    ("group-add", "`[run] args = [\"--group-add=GROUP\"]` of quarry.toml"),
];

/// rockerc keys whose values become a list option: key, extension, option.
const LIST_KEYS: &[(&str, &str, &str)] = &[
    ("volume", "volume", "spec"),
    ("devices", "devices", "path"),
    ("port", "port", "mapping"),
    ("env", "env", "value"),
    ("ulimit", "ulimit", "value"),
];

/// Converts rockerc YAML to quarry.toml: `image`, `args` (extension names, rocker's and
/// deps_rocker's spellings, and the flags `pull`, `nocache`, `persist-image`, `git`, `cwd`),
/// `extension-blacklist` (as `!name` exclusions), `dockerfile`, `name`, `volume`, `devices`,
/// `port`, `env`, `ulimit`. What has no equivalent is named with the closest quarry feature.
/// Every name echoed into a comment is escaped ([`shown`]); values are written by the TOML
/// serializer; and the text is parsed back and must equal exactly what was converted before it
/// is returned.
pub fn import_rockerc(registry: &Registry, yaml: &str, origin: &str) -> anyhow::Result<Imported> {
    import_rockerc_in(registry, yaml, origin, None)
}

/// The first document of a rockerc file's YAML ([`crate::yaml::load`], alias bombs refused).
pub fn load_yaml(yaml: &str, origin: &str) -> anyhow::Result<Yaml> {
    let origin = shown(origin);
    let docs = crate::yaml::load(yaml, &origin)?.map_err(|e| {
        anyhow::Error::new(Hinted::new(
            format!("{origin} is not YAML: {e}"),
            "a rockerc file is a YAML mapping",
        ))
    })?;
    Ok(docs.into_iter().next().unwrap_or(Yaml::Null))
}

/// [`import_rockerc`] for a quarry.toml in `project`: deps_rocker's `deps` (`args: [deps]`, or
/// `deps: PATTERN`) becomes quarry.toml's `deps`, which reads the deps files where they are, and
/// the files it finds below `project` are read as `quarry build` will read them, so that what it
/// would refuse is said now.
pub fn import_rockerc_in(
    registry: &Registry,
    yaml: &str,
    origin: &str,
    project: Option<&Path>,
) -> anyhow::Result<Imported> {
    use toml::Value;
    let doc = load_yaml(yaml, origin)?;
    let origin = shown(origin);
    let Yaml::Hash(map) = &doc else {
        anyhow::bail!(Hinted::new(
            format!("{origin} holds no mapping"),
            "a rockerc file looks like `image: ubuntu:22.04` and `args: [x11, user]`",
        ));
    };
    let has = |k: &str| map.contains_key(&Yaml::String(k.to_owned()));
    if !(has("image") || has("args") || has("dockerfile")) {
        anyhow::bail!(Hinted::new(
            format!("{origin} is not a rockerc file: it has no `image`, `args` or `dockerfile`"),
            "a rockerc file looks like `image: ubuntu:22.04` and `args: [x11, user]`; a deps_rocker file is \
             converted when it is named `*.deps.yaml`",
        ));
    }
    let mut skipped = Vec::new();
    // deps_rocker's `--deps [PATTERN]`: `args: [deps]`, a key `deps: PATTERN`, or both. A pattern
    // quarry cannot take writes no `deps` at all: the default would read other files.
    let mut deps_pattern: Option<String> = None;
    let mut deps_refused = false;
    let mut image = None;
    let mut dockerfile = None;
    let mut names: Vec<String> = Vec::new();
    let mut blacklist: Vec<String> = Vec::new();
    let mut lists: std::collections::BTreeMap<(&str, &str), Vec<String>> = Default::default();
    let mut container_name = None;
    let mut build = toml::Table::new();
    let list = |v: &Yaml| -> Vec<String> {
        match v {
            Yaml::Array(items) => items
                .iter()
                .filter_map(|i| match i {
                    Yaml::String(s) => Some(s.clone()),
                    Yaml::Integer(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Yaml::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            Yaml::Integer(n) => vec![n.to_string()],
            _ => Vec::new(),
        }
    };
    let flag_on = |v: &Yaml| !matches!(v, Yaml::Boolean(false) | Yaml::Null);
    // An `args` entry written as a one-key map (`- volume: /data`) is that key at the top level;
    // any other entry that is not a name is named as not converted, never dropped silently.
    let mut entries: Vec<(&Yaml, &Yaml)> = map.iter().collect();
    if let Some(Yaml::Array(items)) = map.get(&Yaml::String("args".to_owned())) {
        for item in items {
            match item {
                Yaml::String(_) | Yaml::Integer(_) => {}
                Yaml::Hash(h) if h.len() == 1 => entries.extend(h.iter()),
                _ => skipped.push("an `args` entry that is neither a name nor `key: value`".to_owned()),
            }
        }
    }
    for (key, value) in entries {
        let Some(k) = key.as_str() else {
            skipped.push("a key that is not text: quarry has no such setting".to_owned());
            continue;
        };
        match k {
            "image" => match value.as_str() {
                Some(i) if quarry_core::rules::is_image_ref(i) => image = Some(i.to_owned()),
                Some(i) => skipped.push(format!("`image`: {} is not an image reference", shown(i))),
                None => skipped.push("`image`: not a text value".to_owned()),
            },
            "dockerfile" => match value.as_str() {
                Some(d) if quarry_core::rules::is_rel_path(d) || d.starts_with("./") => {
                    dockerfile = Some(d.trim_start_matches("./").to_owned())
                }
                Some(d) => skipped.push(format!(
                    "`dockerfile`: {} is not a path inside the project; set `dockerfile` of quarry.toml",
                    shown(d)
                )),
                None => skipped.push("`dockerfile`: not a text value".to_owned()),
            },
            "args" => names.extend(list(value)),
            "extension-blacklist" => blacklist = list(value),
            "name" => match value.as_str() {
                Some(n) if quarry_core::rules::is_identifier(n) => container_name = Some(n.to_owned()),
                _ => skipped.push("`name`: not a container name (letters, digits, `_`, `.`, `-`)".to_owned()),
            },
            "pull" | "nocache" | "no-cache" if flag_on(value) => {
                let key = if k == "pull" { "pull" } else { "no_cache" };
                build.insert(key.to_owned(), Value::Boolean(true));
            }
            "pull" | "nocache" | "no-cache" => {}
            "persist-image" => {}
            "deps" => match value {
                Yaml::String(p) if crate::import_deps::check_pattern(p).is_ok() => {
                    deps_pattern = Some(p.clone())
                }
                Yaml::Boolean(true) => deps_pattern = Some(crate::import_deps::DEFAULT_PATTERN.to_owned()),
                Yaml::Boolean(false) => {}
                Yaml::String(p) => {
                    deps_refused = true;
                    skipped.push(format!(
                        "`deps`: {} is not a pattern quarry takes ({})",
                        shown(p),
                        crate::import_deps::check_pattern(p).err().unwrap_or_default()
                    ));
                }
                _ => {
                    deps_refused = true;
                    skipped.push("`deps`: not a pattern".to_owned());
                }
            },
            other => match LIST_KEYS.iter().find(|(key, _, _)| *key == other) {
                Some((_, ext, option)) => lists.entry((ext, option)).or_default().extend(list(value)),
                None => match UNMAPPED.iter().find(|(key, _)| *key == other) {
                    Some((_, closest)) => {
                        skipped.push(format!("{}: closest in quarry: {closest}", shown(other)))
                    }
                    None => skipped.push(format!("{}: quarry has no such setting", shown(other))),
                },
            },
        }
    }
    let canonical = |raw: &str| -> String {
        let name = raw.trim_start_matches('-').replace('-', "_");
        EXTENSION_ALIASES.iter().find(|(a, _)| *a == name).map_or(name, |(_, to)| (*to).to_owned())
    };
    let blacklisted: Vec<String> = blacklist.iter().map(|b| canonical(b)).collect();
    let mut extensions: Vec<String> = Vec::new();
    let add = |name: &str, extensions: &mut Vec<String>| {
        if !extensions.iter().any(|e| e == name) && !blacklisted.iter().any(|b| b == name) {
            extensions.push(name.to_owned());
        }
    };
    let mut wants_deps = false;
    let mut cwd_in_home = false;
    for raw in &names {
        let name = canonical(raw);
        match name.as_str() {
            // deps_rocker's extension: quarry.toml's `deps` reads its files.
            "deps" | "deps_dependencies" => wants_deps = true,
            "pull" => {
                build.insert("pull".to_owned(), Value::Boolean(true));
            }
            "nocache" | "no_cache" => {
                build.insert("no_cache".to_owned(), Value::Boolean(true));
            }
            "persist_image" => {}
            // deps_rocker's `cwd`: the project folder at `~/<its name>`, where the container starts.
            // deps_rocker's `cwd` needs its `user`, which rocker adds.
            "cwd" if registry.get("cwd").is_some() => {
                add("cwd", &mut extensions);
                add("user", &mut extensions);
                cwd_in_home = true;
            }
            "git" => {
                add("git", &mut extensions);
                if registry.get(GITCONFIG).is_some() {
                    add(GITCONFIG, &mut extensions);
                } else {
                    skipped.push(format!(
                        "`args` entry `git`: the `git` package is converted; mounting `~/.gitconfig` needs the `{GITCONFIG}` extension, which this quarry does not link"
                    ));
                }
            }
            _ if registry.get(&name).is_some() => add(&name, &mut extensions),
            _ => match UNMAPPED.iter().find(|(key, _)| key.replace('-', "_") == name) {
                Some((_, closest)) => {
                    skipped.push(format!("`args` entry {}: closest in quarry: {closest}", shown(raw)))
                }
                None => {
                    let hint = registry
                        .suggest(&name)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    skipped.push(format!("`args` entry {}: no such extension{hint}", shown(raw)));
                }
            },
        }
    }
    // Values for list options and the container name select their extension.
    let mut options = toml::Table::new();
    for ((ext, option), values) in &lists {
        let spec = registry.get(ext).and_then(|e| e.option(option));
        let mut kept = Vec::new();
        for v in values {
            match spec {
                Some(spec) if spec.rule.accepts(v) => kept.push(Value::String(v.clone())),
                _ => skipped.push(format!("`{ext}` value {}: not one `docker run` argument", shown(v))),
            }
        }
        if !kept.is_empty() && spec.is_some() {
            add(ext, &mut extensions);
            let table = options.entry((*ext).to_owned()).or_insert_with(|| Value::Table(toml::Table::new()));
            if let Value::Table(t) = table {
                t.insert((*option).to_owned(), Value::Array(kept));
            }
        }
    }
    if cwd_in_home && extensions.iter().any(|e| e == "cwd") {
        options.insert(
            "cwd".to_owned(),
            Value::Table([("in_home".to_owned(), Value::String("true".to_owned()))].into_iter().collect()),
        );
    }
    if let Some(n) = &container_name
        && registry.get("name").is_some()
    {
        add("name", &mut extensions);
        options.insert(
            "name".to_owned(),
            Value::Table([("value".to_owned(), Value::String(n.clone()))].into_iter().collect()),
        );
    }
    extensions.sort();
    // Blacklisted extensions become exclusions: they also leave out what the user file adds.
    let mut exclusions: Vec<String> = Vec::new();
    for (raw, name) in blacklist.iter().zip(&blacklisted) {
        if registry.get(name).is_some() {
            if !exclusions.contains(&format!("!{name}")) {
                exclusions.push(format!("!{name}"));
            }
        } else {
            skipped.push(format!("`extension-blacklist` entry {}: no such extension", shown(raw)));
        }
    }
    let mut expected = toml::Table::new();
    if let Some(i) = &image {
        expected.insert("image".to_owned(), Value::String(i.clone()));
    }
    if let Some(d) = &dockerfile {
        expected.insert("dockerfile".to_owned(), Value::String(d.clone()));
    }
    let all: Vec<Value> = extensions.iter().chain(&exclusions).map(|e| Value::String(e.clone())).collect();
    expected.insert("extensions".to_owned(), Value::Array(all));
    if !options.is_empty() {
        expected.insert("options".to_owned(), Value::Table(options));
    }
    if !build.is_empty() {
        expected.insert("build".to_owned(), Value::Table(build));
    }
    let mut warnings = Vec::new();
    let pattern = match (wants_deps && !deps_refused, deps_pattern) {
        (_, Some(p)) => Some(p),
        (true, None) => Some(crate::import_deps::DEFAULT_PATTERN.to_owned()),
        (false, None) => None,
    };
    if let Some(pattern) = pattern {
        let value = if pattern == crate::import_deps::DEFAULT_PATTERN {
            Value::Boolean(true)
        } else {
            Value::String(pattern.clone())
        };
        expected.insert("deps".to_owned(), value);
        if let Some(project) = project {
            warnings.extend(check_deps(project, &pattern));
        }
    }
    write_imported(registry, &origin, image.is_none() && dockerfile.is_none(), expected, skipped, warnings)
}

/// `quarry import x.deps.yaml`: a quarry.toml in `project` whose `deps` reads the file, `pattern`
/// (its path relative to `project`).
pub fn import_deps(registry: &Registry, pattern: &str, project: &Path) -> anyhow::Result<Imported> {
    let mut expected = toml::Table::new();
    expected.insert("extensions".to_owned(), toml::Value::Array(Vec::new()));
    expected.insert("deps".to_owned(), toml::Value::String(pattern.to_owned()));
    let warnings = check_deps(project, pattern);
    write_imported(registry, &shown(pattern), true, expected, Vec::new(), warnings)
}

/// The deps files `pattern` finds below `project`, read as `quarry build` reads them: what it
/// would refuse, or finding none, as warnings.
fn check_deps(project: &Path, pattern: &str) -> Vec<Hinted> {
    let why = |e: anyhow::Error| {
        let hint = crate::exit::hints(&e).join("; ");
        Hinted::new(
            format!(
                "`deps`: {} (`quarry build` stops there until it is fixed)",
                e.to_string().replace('\n', " ")
            ),
            if hint.is_empty() { "fix the deps file".to_owned() } else { hint },
        )
    };
    match crate::import_deps::find(project, &[pattern.to_owned()]) {
        Err(e) => vec![why(e)],
        Ok(files) if files.is_empty() => vec![Hinted::new(
            format!("`deps`: no file below `{}` matches `{pattern}`", project.display()),
            "deps files are read below quarry.toml's folder: write quarry.toml where the rockerc file is",
        )],
        Ok(files) => crate::import_deps::read(project, &files).err().map(why).into_iter().collect(),
    }
}

/// The converted file's text, checked to hold exactly `expected`.
fn write_imported(
    registry: &Registry,
    origin: &str,
    no_image: bool,
    expected: toml::Table,
    skipped: Vec<String>,
    warnings: Vec<Hinted>,
) -> anyhow::Result<Imported> {
    let mut toml = format!("# Converted from {origin} by `quarry import`.\n");
    if no_image {
        toml.push_str("# image = \"ubuntu:24.04\"   # rockerc named no image: set one\n");
    }
    // `image` first, as people write it; the rest as the serializer writes it.
    let mut rest = expected.clone();
    if let Some(i) = rest.remove("image") {
        toml.push_str(&format!("image = {i}\n"));
    }
    toml.push_str(&toml::to_string(&rest).context("cannot write the converted configuration")?);
    if !skipped.is_empty() {
        toml.push_str("\n# Not converted:\n");
        for s in &skipped {
            toml.push_str(&format!("# - {s}\n"));
        }
    }
    check_converted(registry, &toml, &expected)?;
    Ok(Imported { toml, skipped, warnings })
}

/// Parses `toml` as a quarry configuration and checks it holds exactly `expected`: what
/// `import` writes can never carry more than it converted.
fn check_converted(registry: &Registry, toml: &str, expected: &toml::Table) -> anyhow::Result<()> {
    let bug = |why: String| {
        anyhow::Error::new(Hinted::new(
            format!("the converted quarry.toml is not what was converted: {why}"),
            "this is a bug in quarry; please report it with the rockerc file",
        ))
    };
    let loaded = crate::config::Loaded::parse(Path::new(crate::config::PROJECT_FILE), toml.to_owned())
        .map_err(|e| bug(e.to_string().replace('\n', " ")))?;
    loaded.check(registry).map_err(|e| bug(e.to_string().replace('\n', " ")))?;
    let parsed: toml::Table = toml::from_str(toml).map_err(|e| bug(e.to_string().replace('\n', " ")))?;
    if &parsed == expected { Ok(()) } else { Err(bug("it sets other keys".to_owned())) }
}

#[cfg(test)]
mod tests {
    const PAYLOAD: &str = "x\n[run]\nargs = [\"--privileged\", \"--volume=/:/host\"]\n#";

    fn registry() -> &'static quarry_core::Registry {
        static REGISTRY: std::sync::OnceLock<quarry_core::Registry> = std::sync::OnceLock::new();
        REGISTRY.get_or_init(|| {
            quarry_core::Registry::from_extensions(quarry_catalog::LINKED.iter().copied()).unwrap()
        })
    }

    /// Nothing from the input starts a TOML line: the converted file sets only image and
    /// extensions, whichever channel the payload comes through.
    #[test]
    fn import_echoes_nothing_live() {
        let payload_yaml = serde_json::to_string(&PAYLOAD.replace("\\n", "\n")).unwrap();
        let inputs = [
            format!("image: ubuntu:22.04\n{payload_yaml}: 1\n"),
            format!("image: ubuntu:22.04\nargs: [x11, {payload_yaml}]\n"),
            format!("image: ubuntu:22.04\nargs: [x11]\nextension-blacklist: [{payload_yaml}]\n"),
            format!("image: {payload_yaml}\nargs: [x11]\n"),
        ];
        for yaml in &inputs {
            let imported = super::import_rockerc(registry(), yaml, "rockerc.yaml").unwrap();
            assert!(!imported.toml.contains("\n[run]"), "{yaml}: {}", imported.toml);
            let config: toml::Table = toml::from_str(&imported.toml).unwrap();
            assert!(config.keys().all(|k| k == "image" || k == "extensions"), "{}", imported.toml);
            assert!(!config.contains_key("run"), "{}", imported.toml);
            assert!(imported.toml.contains(r#"x\n[run]\nargs = [\"--privileged\""#), "{}", imported.toml);
        }
        let imported =
            super::import_rockerc(registry(), "args: [x11]\n", &format!("a{}", PAYLOAD.replace("\\n", "\n")))
                .unwrap();
        let config: toml::Table = toml::from_str(&imported.toml).unwrap();
        assert_eq!(config.keys().collect::<Vec<_>>(), ["extensions"], "{}", imported.toml);
        // Control characters (a terminal escape, DEL, a lone carriage return) are escaped too.
        let imported =
            super::import_rockerc(registry(), "args: [x11]\n\"\\e[31m\\x7f\\r\": 1\n", "r").unwrap();
        assert!(
            imported.toml.contains(r#"# - "\u001B[31m\u007F\r": quarry has no such setting"#),
            "{}",
            imported.toml
        );
    }

    /// An `args` entry written as `key: value` is converted as that key; any other entry that is
    /// not a name is named, never dropped.
    #[test]
    fn keyed_args_entries_are_converted_and_others_named() {
        let yaml = "image: ubuntu:24.04\nargs:\n  - x11\n  - volume: /data\n  - [1, 2]\nvolume: /srv\n";
        let imported = super::import_rockerc(registry(), yaml, "rockerc.yaml").unwrap();
        let config: toml::Table = toml::from_str(&imported.toml).unwrap();
        assert_eq!(config["options"]["volume"]["spec"].as_array().unwrap().len(), 2, "{}", imported.toml);
        assert!(
            imported.skipped.iter().any(|s| s.contains("neither a name nor `key: value`")),
            "{:?}",
            imported.skipped
        );
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (name, prev) in
            ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            let refs = vec![format!("*{prev}"); 9].join(",");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        assert!(bomb.len() < 400, "{}", bomb.len());
        let err = super::import_rockerc(registry(), &bomb, "bomb.yaml").unwrap_err();
        assert!(err.to_string().contains("more than 100000 YAML values"), "{err}");
        assert!(!crate::exit::hints(&err).is_empty(), "{err}");
        let deep = format!("args: {}x{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(super::import_rockerc(registry(), &deep, "deep.yaml").is_err());
        // A few aliases are fine.
        let ok = "base: &b [x11]\nargs: *b\n";
        let imported = super::import_rockerc(registry(), ok, "ok.yaml").unwrap();
        assert!(imported.toml.contains("extensions = [\"x11\"]"), "{}", imported.toml);
        // A deps file is read the same way: `quarry import` of it warns, as `quarry build` refuses.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.deps.yaml"), &bomb).unwrap();
        let files = crate::import_deps::find(dir.path(), &["x.deps.yaml".to_owned()]).unwrap();
        let err = crate::import_deps::read(dir.path(), &files).unwrap_err();
        assert!(err.to_string().contains("more than 100000 YAML values"), "{err}");
        let imported = super::import_deps(registry(), "x.deps.yaml", dir.path()).unwrap();
        assert!(
            imported.warnings.iter().any(|w| w.message.contains("more than 100000 YAML values")),
            "{:?}",
            imported.warnings
        );
    }

    #[test]
    fn input_size_is_bounded() {
        let err = super::read_input(std::path::Path::new("/dev/zero"), None).unwrap_err();
        assert_eq!(err.to_string(), "`/dev/zero` is a device, not a regular file");
        assert!(!crate::exit::hints(&err).is_empty(), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; (super::MAX_INPUT_BYTES + 1) as usize]).unwrap();
        let err = super::read_input(&big, None).unwrap_err();
        assert!(err.to_string().ends_with("big.yaml` is larger than 1024 KiB"), "{err}");
    }
}
