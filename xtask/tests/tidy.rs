//! Tidy checks on the workspace's sources (the crate-name check is `codegen`'s own test).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every `.rs` file under `dir`, recursively, in a stable order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to (`engine` for
/// `engine.rs` and for `engine/probe.rs`); the crate roots are left out.
fn modules(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for path in rust_files(dir) {
        let relative = path.strip_prefix(dir).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        found.push((module, std::fs::read_to_string(&path).unwrap()));
    }
    found
}

/// The crate's top-level modules that `source` names through `crate::` (`use crate::ui;`,
/// `use crate::{output, ui};`, `crate::host::values()`), comments and the `#[cfg(test)]` module
/// left out.
fn named_modules(source: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    named_through(source, known, "crate::")
}

/// The modules of `known` that `source` names through paths starting with `prefix` (`crate::`,
/// `super::`, `crate::metadata::`).
fn named_through(source: &str, known: &BTreeSet<String>, prefix: &str) -> BTreeSet<String> {
    paths_through(source, prefix).into_iter().filter(|n| known.contains(n)).collect()
}

/// The first segment of every path `source` starts with `prefix` (`crate::ui::note` gives `ui`,
/// `crate::{configure, ui}` both), comments, macros' `$crate::` and the `#[cfg(test)]` module
/// left out.
fn paths_through(source: &str, prefix: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    // A module's tests may use any module: they are not part of the module graph.
    for line in source.lines().take_while(|l| l.trim() != "#[cfg(test)]") {
        let code = line.split("//").next().unwrap_or_default();
        for (at, _) in code.match_indices(prefix) {
            // `crate::a::b` is not `a::b` named through `a::`.
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                // A group: the first path segment of each entry (nested groups are rare enough
                // to read only their first segment too).
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|entry| entry.trim().split("::").next().unwrap_or_default())
                    .collect(),
                None => {
                    vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or_default()]
                }
            };
            named.extend(names.into_iter().filter(|n| !n.is_empty()).map(str::to_owned));
        }
    }
    named
}

/// What the crate root (`lib.rs`, `main.rs`) brings in with `use` and `pub use`: each name it
/// makes a `crate::` path of (`pub use configured::configure` gives `configure`), with the first
/// segment of where it lives (`configured`, or another crate such as `quarry_docker`).
fn root_imports(dir: &Path) -> BTreeMap<String, String> {
    let mut imports = BTreeMap::new();
    let Some(root) = ["lib.rs", "main.rs"].iter().map(|f| dir.join(f)).find(|p| p.exists()) else {
        return imports;
    };
    let source = std::fs::read_to_string(root).unwrap();
    let mut statement: Option<String> = None;
    for line in source.lines() {
        // Items of the root start at the line's start; a test module's `use` is indented.
        let started = statement.is_some() || line.starts_with("use ") || line.starts_with("pub use ");
        let code = line.split("//").next().unwrap_or_default().trim();
        if !started {
            continue;
        }
        let text = statement.get_or_insert_with(String::new);
        text.push_str(code);
        if !code.contains(';') {
            continue;
        }
        let path: String = text
            .trim_start_matches("pub ")
            .trim_start_matches("use ")
            .split(';')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        statement = None;
        let (head, rest) = path.split_once("::").unwrap_or(("", &path));
        let items: Vec<&str> = rest.trim_start_matches('{').trim_end_matches('}').split(',').collect();
        for item in items.into_iter().filter(|i| !i.is_empty()) {
            let (item, alias) = item.split_once("as").map_or((item, None), |(i, a)| (i, Some(a)));
            let name = alias.unwrap_or_else(|| item.rsplit("::").next().unwrap_or(item));
            let head = if head.is_empty() { item.split("::").next().unwrap_or(item) } else { head };
            imports.insert(name.to_owned(), head.to_owned());
        }
    }
    imports
}

/// The module graph of the crate whose sources are in `dir`: module -> the modules it names,
/// directly or through a name the crate root re-exports (`crate::configure` is `configured`).
fn graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = modules(dir);
    let known: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let reexported = root_imports(dir);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, source) in &files {
        let mut named = named_modules(source, &known);
        named.extend(
            paths_through(source, "crate::")
                .iter()
                .filter_map(|n| reexported.get(n))
                .filter(|m| known.contains(*m))
                .cloned(),
        );
        graph.entry(module.clone()).or_default().extend(named.into_iter().filter(|n| n != module));
    }
    graph
}

/// The groups of modules that reach one another (strongly connected, more than one module).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(m) = stack.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reach(m))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for (m, from_m) in &reached {
        if !from_m.contains(*m) || groups.iter().any(|g| g.contains(*m)) {
            continue;
        }
        let group: BTreeSet<String> = from_m
            .iter()
            .filter(|other| reached.get(other).is_some_and(|r| r.contains(*m)))
            .cloned()
            .collect();
        groups.push(group);
    }
    groups
}

/// The graphs of the submodules of every folder module under `src` (`metadata/` holds
/// `metadata/walk.rs`, ...), keyed by the folder's module path (`metadata`, `explain`): each child
/// -> the siblings it names through `super::` or `crate::<path>::`.
fn submodule_graphs(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut graphs = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let mut children: Vec<(String, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
                if !["mod", "lib", "main"].contains(&stem.as_str()) {
                    children.push((stem, path));
                }
            }
        }
        if folder == src {
            continue;
        }
        let module_path: Vec<String> = folder
            .strip_prefix(src)
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_str().unwrap().to_owned())
            .collect();
        let known: BTreeSet<String> = children.iter().map(|(m, _)| m.clone()).collect();
        let through_crate = format!("crate::{}::", module_path.join("::"));
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, path) in &children {
            let source = std::fs::read_to_string(path).unwrap();
            let mut named = named_through(&source, &known, "super::");
            named.extend(named_through(&source, &known, &through_crate));
            named.remove(module);
            graph.insert(module.clone(), named);
        }
        graphs.insert(module_path.join("::"), graph);
    }
    graphs
}

/// A module imports a thing from the module it lives in, never through a name the crate root
/// brings in (`crate::configure` for `crate::configured::configure`, `crate::build` for
/// `quarry_docker::build`): the path says where the thing is, and the module graph sees the edge.
#[test]
fn modules_import_from_where_a_thing_lives() {
    let mut found = Vec::new();
    for krate in ["core", "codegen", "buildkit", "docker", "cli", "xtask"] {
        let dir = workspace().join(krate).join("src");
        let imports = root_imports(&dir);
        assert!(krate != "cli" || imports.contains_key("configure"), "the root's imports of `cli` are read");
        let files = modules(&dir);
        let known: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
        for (module, source) in &files {
            for name in paths_through(source, "crate::") {
                if let Some(home) = imports.get(&name).filter(|_| !known.contains(&name)) {
                    found.push(format!("{krate}::{module} names `crate::{name}`: import it from `{home}`"));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_name_the_root_re_exports_is_an_edge_of_the_graph() {
    let dir = std::env::temp_dir().join(format!("quarry-tidy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\npub use a::{thing, other as renamed};\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::helper;\npub fn thing() {}\n").unwrap();
    std::fs::write(dir.join("b.rs"), "pub fn helper() { crate::thing() }\n").unwrap();
    let graph = graph(&dir);
    assert_eq!(cycles(&graph), [BTreeSet::from(["a".to_owned(), "b".to_owned()])]);
    assert_eq!(root_imports(&dir)["renamed"], "a");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn modules_of_a_crate_do_not_import_each_other() {
    for krate in ["core", "codegen", "buildkit", "docker", "cli"] {
        no_cycles(krate);
    }
}

/// The same one level down: the files of a folder module (codegen's `metadata/`, buildkit's
/// `explain/`, ...) do not import each other in a circle either.
#[test]
fn submodules_do_not_import_each_other() {
    let mut folders = 0;
    for krate in ["core", "codegen", "buildkit", "docker", "cli"] {
        for (folder, graph) in submodule_graphs(&workspace().join(krate).join("src")) {
            folders += 1;
            let found = cycles(&graph);
            assert!(found.is_empty(), "files of `{krate}::{folder}` that import each other: {found:?}");
        }
    }
    assert!(folders >= 3, "the folder modules are found");
    let metadata = &submodule_graphs(&workspace().join("codegen/src"))["metadata"];
    assert!(metadata["walk"].contains("walker"), "`super::` paths are read: {metadata:?}");
}

fn no_cycles(krate: &str) {
    let graph = graph(&workspace().join(krate).join("src"));
    assert!(graph.len() > 2, "the modules of `{krate}` are found: {graph:?}");
    let found = cycles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|group| {
            let edges: Vec<String> = group
                .iter()
                .flat_map(|m| {
                    graph[m].iter().filter(|n| group.contains(*n)).map(move |n| format!("{m} -> {n}"))
                })
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "modules of `{krate}` that import each other: {}", described.join("; "));
}

/// The lines of `source` before its `#[cfg(test)]` module, numbered from 1.
fn non_test_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source.lines().enumerate().map(|(i, l)| (i + 1, l)).take_while(|(_, l)| l.trim() != "#[cfg(test)]")
}

/// Where `source` writes a hint into a message's text: `\nhint:` in a string, a string that
/// starts with `hint:`, or a continued string line (`...\n\`) whose next line starts with it.
/// A line that says `// tidy:` why it prints the label is left alone.
fn hint_text_lines(source: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut continued = false;
    for (number, line) in non_test_lines(source) {
        let trimmed = line.trim_start();
        let text = trimmed.contains("\\nhint:")
            || trimmed.contains("\"hint:")
            || (continued && trimmed.starts_with("hint:"));
        if text && !line.contains("// tidy:") {
            found.push(number);
        }
        continued = line.trim_end().ends_with("\\n\\");
    }
    found
}

#[test]
fn hints_are_data_not_text() {
    let mut found = Vec::new();
    for krate in ["core", "cli", "docker", "buildkit"] {
        for path in rust_files(&workspace().join(krate).join("src")) {
            let source = std::fs::read_to_string(&path).unwrap();
            let at = path.strip_prefix(workspace()).unwrap().display().to_string();
            found.extend(hint_text_lines(&source).into_iter().map(|line| format!("{at}:{line}")));
        }
    }
    assert!(
        found.is_empty(),
        "messages with a `hint:` in their text (give it as data: `quarry_core::Hinted`, a `Hint` impl): {}",
        found.join(", ")
    );
}

#[test]
fn the_hint_check_finds_hint_text() {
    let bad = [
        "bail!(\"`{x}` is a folder\\nhint: name a file\");",
        "const HINT: &str = \"hint: write it as `REGISTRY/REPO`\";",
        "    \"is registered twice\\n\\\n     hint: rename one of them\"",
    ];
    for source in bad {
        assert!(!hint_text_lines(source).is_empty(), "{source}");
    }
    let good = "Hinted::new(\"`x` is a folder\", \"name a file\");\nstyled(\"hint:\", \"1;32\") // tidy: the label\n\
                #[cfg(test)]\nassert!(err.contains(\"\\nhint: \"));";
    assert!(hint_text_lines(good).is_empty(), "{:?}", hint_text_lines(good));
}

#[test]
fn the_cycle_check_finds_cycles() {
    let known: BTreeSet<String> = ["args", "explain", "ui", "host"].map(str::to_owned).into();
    let named = named_modules(
        "use crate::{args::Format, ui};\n// crate::host in a comment\nlet x = crate::explain::f();",
        &known,
    );
    assert_eq!(named, ["args", "explain", "ui"].map(str::to_owned).into());
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).to_owned()).or_default().insert((*b).to_owned());
            g.entry((*b).to_owned()).or_default();
        }
        g
    };
    assert_eq!(cycles(&graph(&[("a", "b"), ("b", "a"), ("b", "c")])).len(), 1);
    let three = cycles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]));
    assert_eq!(three, vec![["a", "b", "c"].map(str::to_owned).into()]);
    assert!(cycles(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
}

/// Every source and test file of the workspace's crates (xtask's too) opens with a `//!` comment
/// saying what it is for, and a file over 600 lines is one of the few whose one job is long (each says so there): a new
/// long file is split, or joins this list with a reason in its first comment.
#[test]
fn files_say_their_job_and_long_ones_are_known() {
    const LONG: &[&str] =
        &["cli/src/args.rs", "core/src/model.rs", "core/src/rules.rs", "core/src/schema.rs"];
    let root = workspace();
    let mut long = Vec::new();
    let mut undocumented = Vec::new();
    let mut read = 0;
    for krate in ["core", "codegen", "buildkit", "docker", "cli", "catalog", "xtask"] {
        // A crate's sources and its tests (not their fixtures: trybuild's UI cases, metadata).
        for folder in ["src", "tests"] {
            let dir = root.join(krate).join(folder);
            if !dir.exists() {
                continue;
            }
            for path in rust_files(&dir) {
                let name = path.strip_prefix(&root).unwrap().display().to_string();
                if name.contains("/ui/") || name.contains("/fixtures/") {
                    continue;
                }
                read += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                if !text.starts_with("//!") {
                    undocumented.push(name.clone());
                }
                if text.lines().count() > 600 && !LONG.contains(&name.as_str()) {
                    long.push(name);
                }
            }
        }
    }
    assert!(read > 150, "the sources and tests are read ({read} files)");
    assert!(undocumented.is_empty(), "files without a first `//!` comment: {undocumented:?}");
    assert!(long.is_empty(), "files over 600 lines: {long:?}");
}
