//! deps_rocker's `*.deps.yaml` files turned into quarry.toml's project keys (`apt`, `pip`,
//! `scripts`), keeping their layers: `*_tools`, `*_base`, the plain key and `script_post` become
//! the layers `tools`, `base`, `main` and `post`, which run in that order as they did.

use std::path::Path;

use quarry_core::rules;
use toml::Value;
use yaml_rust2::Yaml;

/// One deps file: as the messages name it, its folder relative to the project (`""` at the
/// root; script paths are relative to it) and its text.
#[derive(Debug, Clone)]
pub struct DepsFile {
    /// The file as shown in messages.
    pub shown: String,
    /// Its folder, relative to the project.
    pub dir: String,
    /// The YAML text.
    pub yaml: String,
}

/// deps_rocker's key → (quarry key, layer).
const KEYS: &[(&str, &str, &str)] = &[
    ("apt_tools", "apt", "tools"),
    ("apt_base", "apt", "base"),
    ("apt", "apt", "main"),
    ("pip_tools", "pip", "tools"),
    ("pip_base", "pip", "base"),
    ("pip", "pip", "main"),
    ("script_tools", "scripts", "tools"),
    ("scripts_tools", "scripts", "tools"),
    ("script_base", "scripts", "base"),
    ("scripts_base", "scripts", "base"),
    ("script", "scripts", "main"),
    ("scripts", "scripts", "main"),
    ("script_post", "scripts", "post"),
    ("scripts_post", "scripts", "post"),
];

/// The most files and the deepest folder a search visits.
const MAX_FILES: usize = 200;
const MAX_DEPTH: usize = 8;

/// Every `*.deps.yaml` under `root` as (shown path, its folder relative to `root`, full path),
/// sorted by path; hidden folders, `target` and `node_modules` are skipped, as are links.
pub fn find(root: &Path) -> anyhow::Result<Vec<(String, String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    visit(root, "", 0, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn visit(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<(String, String, std::path::PathBuf)>,
) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut names: Vec<(String, std::fs::FileType)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.file_type().ok()?)))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in names {
        let child_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        if kind.is_dir() && !name.starts_with('.') && name != "target" && name != "node_modules" {
            visit(&dir.join(&name), &child_rel, depth + 1, out)?;
        } else if kind.is_file() && (name.ends_with(".deps.yaml") || name == "deps.yaml") {
            if out.len() == MAX_FILES {
                anyhow::bail!(quarry_core::Hinted::new(
                    format!("more than {MAX_FILES} deps files under `{}`", dir.display()),
                    "run `quarry import` on a smaller folder",
                ));
            }
            out.push((child_rel, rel.to_owned(), dir.join(&name)));
        }
    }
    Ok(())
}

/// The project keys the files stand for, merged in file order (an entry given twice is kept
/// once, where it first appears). What cannot be converted is added to `skipped`.
pub fn convert(files: &[DepsFile], skipped: &mut Vec<String>) -> anyhow::Result<toml::Table> {
    // (quarry key, layer) → entries, and every (key, layer, entry) kept, to keep each once.
    let mut layers: Vec<((&str, &str), Vec<String>)> = Vec::new();
    let mut kept: std::collections::HashSet<(&str, &str, String)> = std::collections::HashSet::new();
    for file in files {
        let shown = crate::ui::shown(&file.shown);
        let docs = match crate::yaml::load(&file.yaml, &shown)? {
            Ok(docs) => docs,
            Err(e) => {
                skipped.push(format!("{shown}: not YAML ({e})"));
                continue;
            }
        };
        let Some(Yaml::Hash(map)) = docs.into_iter().next() else {
            skipped.push(format!("{shown}: holds no mapping"));
            continue;
        };
        for (key, value) in &map {
            let Some(k) = key.as_str() else { continue };
            let Some((_, to, layer)) = KEYS.iter().find(|(from, _, _)| *from == k) else {
                let closest = match k {
                    "env" => "a project extension's `env` (`quarry new-extension`)",
                    _ if k.starts_with("apt_sources") || k.contains("source") => "`apt_repositories`",
                    _ => "no such setting",
                };
                skipped.push(format!("{shown}: {}: closest in quarry: {closest}", crate::ui::shown(k)));
                continue;
            };
            let entries = match value {
                Yaml::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
                Yaml::String(s) => s.split_whitespace().map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            for entry in entries {
                let converted = match *to {
                    "apt" if rules::is_apt_package(&entry) => Some(entry.clone()),
                    "pip" if rules::is_pip_requirement(&entry) => Some(entry.clone()),
                    "scripts" => {
                        let path =
                            if file.dir.is_empty() { entry.clone() } else { format!("{}/{entry}", file.dir) };
                        let path = path.trim_start_matches("./").replace("/./", "/");
                        rules::is_rel_path(&path).then_some(path)
                    }
                    _ => None,
                };
                let Some(converted) = converted else {
                    skipped.push(format!(
                        "{shown}: {} entry {}: not converted",
                        crate::ui::shown(k),
                        crate::ui::shown(&entry)
                    ));
                    continue;
                };
                if !kept.insert((to, layer, converted.clone())) {
                    continue;
                }
                let slot = match layers.iter_mut().find(|(at, _)| *at == (*to, *layer)) {
                    Some((_, list)) => list,
                    None => {
                        layers.push(((to, layer), Vec::new()));
                        &mut layers.last_mut().expect("just pushed").1
                    }
                };
                slot.push(converted);
            }
        }
    }
    let mut out = toml::Table::new();
    for key in ["apt", "pip", "scripts"] {
        let mut given: Vec<(&str, Vec<String>)> =
            layers.iter().filter(|((k, _), _)| *k == key).map(|((_, l), v)| (*l, v.clone())).collect();
        given.sort_by_key(|(l, _)| ["tools", "base", "main", "post"].iter().position(|x| x == l));
        let list = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        match given.as_slice() {
            [] => {}
            [("main", v)] => {
                out.insert(key.to_owned(), list(v));
            }
            _ => {
                let table: toml::Table = given.iter().map(|(l, v)| ((*l).to_owned(), list(v))).collect();
                out.insert(key.to_owned(), Value::Table(table));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &str, yaml: &str) -> DepsFile {
        DepsFile { shown: format!("{dir}/x.deps.yaml"), dir: dir.to_owned(), yaml: yaml.to_owned() }
    }

    #[test]
    fn layers_are_kept_and_merged_in_file_order() {
        let mut skipped = Vec::new();
        let out = convert(
            &[
                file(
                    "",
                    "apt_tools: [git]\napt: [libeigen3-dev]\npip: [numpy]\nscripts: [setup.sh]\nenv: [A=1]\n",
                ),
                file("sub", "apt: [libeigen3-dev, cmake]\nscript_post: [post.sh]\npip_base: ['rich>=13']\n"),
            ],
            &mut skipped,
        )
        .unwrap();
        let text = toml::to_string(&out).unwrap();
        // Layers are written by name; they run in their own order whatever the file's.
        assert!(text.contains("[apt]\nmain = [\"libeigen3-dev\", \"cmake\"]\ntools = [\"git\"]"), "{text}");
        assert!(text.contains("[pip]\nbase = [\"rich>=13\"]\nmain = [\"numpy\"]"), "{text}");
        assert!(text.contains("[scripts]\nmain = [\"setup.sh\"]\npost = [\"sub/post.sh\"]"), "{text}");
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("`env`"));
    }

    #[test]
    fn unsafe_entries_are_named_not_converted() {
        let mut skipped = Vec::new();
        let out = convert(
            &[file("", "apt: [\"git; rm -rf /\"]\nscripts: [../evil.sh]\npip: [\"x'y\"]\n")],
            &mut skipped,
        )
        .unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(skipped.len(), 3, "{skipped:?}");
    }

    #[test]
    fn a_large_file_is_converted_in_linear_time() {
        // 45,000 entries, each given twice: a scan of the list per entry took 45 s for 70,000 (a
        // debug build), a set takes well under a second. The bound is generous; quadratic is not.
        let mut yaml = String::from("apt:\n");
        for i in 0..45_000 {
            yaml.push_str(&format!("  - pkg{i:06}\n"));
        }
        let twice = format!("{yaml}apt_base:\n{}", &yaml[5..]);
        let started = std::time::Instant::now();
        let mut skipped = Vec::new();
        let out = convert(&[file("", &yaml), file("", &twice)], &mut skipped).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "{:?}", started.elapsed());
        let apt = out["apt"].as_table().unwrap();
        assert_eq!(apt["main"].as_array().unwrap().len(), 45_000);
        assert_eq!(apt["base"].as_array().unwrap().len(), 45_000);
        assert!(skipped.is_empty(), "{:?}", &skipped[..1]);
    }
}
