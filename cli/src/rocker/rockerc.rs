//! rockerc's files as rockerc reads them: `~/.rockerc.yaml` (the user's defaults) under the
//! folder's `rockerc.yaml`, merged as rockerc merges them (keys of the folder's file win, `args`
//! and `extension-blacklist` are joined without repeats, blacklisted `args` dropped), then turned
//! into rocker's command line as rockerc does (`--<arg>` per `args` entry, `--<key> <value>` per
//! other key, `-- <image>`), which `parse.rs` and `translate.rs` carry out like any rocker line.
//! Where rockerc would pass something rocker then mangles (a YAML list, `true`), the line says
//! what the file meant, with a note.

use std::path::{Path, PathBuf};

use yaml_rust2::Yaml;

/// The name of rockerc's file in a folder.
pub const FILE: &str = "rockerc.yaml";

/// rockerc's files that apply in a folder, merged.
#[derive(Debug, Clone, Default)]
pub struct Rockerc {
    /// The files read, the user's first.
    pub files: Vec<PathBuf>,
    /// The merged keys, in the order first seen.
    pub keys: Vec<(String, Yaml)>,
    /// `dockerfile` of the files, relative to the folder's file.
    pub dockerfile: Option<String>,
}

impl Rockerc {
    /// The folder's `rockerc.yaml` under the user's `~/.rockerc.yaml`, or `None` when the folder
    /// has none.
    pub fn find(folder: &Path) -> anyhow::Result<Option<Rockerc>> {
        let project = folder.join(FILE);
        if !project.is_file() {
            return Ok(None);
        }
        let global = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rockerc.yaml"));
        let mut files = Vec::new();
        let mut docs = Vec::new();
        let global = global.filter(|g| g.is_file()).map(|g| (g, None));
        // The folder's file must not lead out of the folder through a link.
        for (path, within) in global.into_iter().chain([(project, Some(folder))]) {
            let text = crate::project::read_input(&path, within)?;
            docs.push(crate::project::load_yaml(&text, &path.display().to_string())?);
            files.push(path);
        }
        Ok(Some(Rockerc::merge(files, &docs)))
    }

    /// Merges the documents (the user's first) as rockerc does.
    pub fn merge(files: Vec<PathBuf>, docs: &[Yaml]) -> Rockerc {
        let mut keys: Vec<(String, Yaml)> = Vec::new();
        let mut args: Vec<Yaml> = Vec::new();
        let mut blacklist: Vec<String> = Vec::new();
        for doc in docs {
            let Yaml::Hash(map) = doc else { continue };
            for (k, v) in map {
                let Some(k) = k.as_str() else { continue };
                match k {
                    "args" => {
                        for item in list(v) {
                            if !args.contains(&item) {
                                args.push(item);
                            }
                        }
                    }
                    "extension-blacklist" => {
                        for item in list(v).iter().filter_map(scalar) {
                            if !blacklist.contains(&item) {
                                blacklist.push(item);
                            }
                        }
                    }
                    _ => match keys.iter_mut().find(|(key, _)| key == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => keys.push((k.to_owned(), v.clone())),
                    },
                }
            }
        }
        args.retain(|a| scalar(a).is_none_or(|name| !blacklist.contains(&name)));
        let dockerfile = match keys.iter().position(|(k, _)| k == "dockerfile") {
            Some(at) => scalar(&keys.remove(at).1),
            None => None,
        };
        if !args.is_empty() {
            keys.insert(0, ("args".to_owned(), Yaml::Array(args)));
        }
        if !blacklist.is_empty() {
            keys.push((
                "extension-blacklist".to_owned(),
                Yaml::Array(blacklist.into_iter().map(Yaml::String).collect()),
            ));
        }
        Rockerc { files, keys, dockerfile }
    }

    /// rocker's command line for the merged files, with what rockerc would have mangled noted.
    pub fn argv(&self) -> (Vec<String>, Vec<String>) {
        let mut argv = Vec::new();
        let mut notes = Vec::new();
        let mut image = None;
        let mut pairs: Vec<(String, Yaml)> = Vec::new();
        for (k, v) in &self.keys {
            match k.as_str() {
                "image" => image = scalar(v),
                "args" => {
                    for item in list(v) {
                        match &item {
                            Yaml::Hash(h) => {
                                for (k, v) in h {
                                    if let Some(k) = k.as_str() {
                                        pairs.push((k.to_owned(), v.clone()));
                                    }
                                }
                            }
                            other => {
                                if let Some(name) = scalar(other).filter(|n| n != "create-dockerfile") {
                                    argv.push(format!("--{name}"));
                                }
                            }
                        }
                    }
                    // `- volume: /data` entries, after the flags.
                    for (k, v) in std::mem::take(&mut pairs) {
                        push_pair(&mut argv, &mut notes, &k, &v);
                    }
                }
                "extension-blacklist" => {
                    argv.push("--extension-blacklist".to_owned());
                    argv.extend(list(v).iter().filter_map(scalar));
                }
                _ => push_pair(&mut argv, &mut notes, k, v),
            }
        }
        if let Some(image) = image {
            argv.push("--".to_owned());
            argv.push(image);
        }
        (argv, notes)
    }
}

/// `--key value...` as rockerc writes it (`--key` then the value split as a shell splits it); a
/// YAML list (which rockerc would print as Python's `['a', 'b']`) gives its items, `true` the
/// flag alone and `false` nothing (rockerc would pass the word `True`).
fn push_pair(argv: &mut Vec<String>, notes: &mut Vec<String>, key: &str, value: &Yaml) {
    match value {
        Yaml::Boolean(false) | Yaml::Null => {}
        Yaml::Boolean(true) => argv.push(format!("--{key}")),
        Yaml::Array(items) => {
            notes.push(format!(
                "`{key}` is a list in the rockerc file: rockerc would pass it to rocker as Python prints a list; quarry \
                 takes each item"
            ));
            argv.push(format!("--{key}"));
            argv.extend(items.iter().filter_map(scalar));
        }
        other => {
            if let Some(text) = scalar(other) {
                argv.push(format!("--{key}"));
                argv.extend(super::translate::shell_words(&text));
            }
        }
    }
}

/// A YAML list, or a scalar as a list of one.
fn list(v: &Yaml) -> Vec<Yaml> {
    match v {
        Yaml::Array(items) => items.clone(),
        Yaml::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// A scalar as text.
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(if *b { "True" } else { "False" }.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(texts: &[&str]) -> Vec<Yaml> {
        texts.iter().map(|t| yaml_rust2::YamlLoader::load_from_str(t).unwrap().remove(0)).collect()
    }

    #[test]
    fn files_merge_and_become_rockers_line_as_rockerc_makes_it() {
        let merged = Rockerc::merge(
            vec![],
            &docs(&[
                "args: [x11, user, pulse]\nimage: ubuntu:22.04\nextension-blacklist: [pulse]\nname: mine\n",
                "image: osrf/ros:humble-desktop\nargs: [nvidia, x11, deps]\nvolume: ~/data:/data /tmp:/tmp\nnocache: true\ndockerfile: Dockerfile\n",
            ]),
        );
        assert_eq!(merged.dockerfile.as_deref(), Some("Dockerfile"));
        let (argv, notes) = merged.argv();
        assert_eq!(
            argv.join(" "),
            "--x11 --user --nvidia --deps --name mine --volume ~/data:/data /tmp:/tmp --nocache \
             --extension-blacklist pulse -- osrf/ros:humble-desktop"
        );
        assert!(notes.is_empty(), "{notes:?}");
        let (argv, notes) = Rockerc::merge(
            vec![],
            &docs(&["image: i\nargs: [x11, {env: A=1}]\ndevices: [/dev/a, /dev/b]\n"]),
        )
        .argv();
        assert_eq!(argv.join(" "), "--x11 --env A=1 --devices /dev/a /dev/b -- i");
        assert_eq!(notes.len(), 1);
    }
}
