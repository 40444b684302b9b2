//! deps_rocker's `--auto`: extensions chosen from the files of a workspace, by deps_rocker 0.23's
//! rules (each extension's `auto_detect.yaml`): a file name or pattern anywhere below the folder,
//! optionally with a line it must hold, or a config folder in the workspace or the home folder.

use std::path::Path;

/// One rule: a file whose name matches selects the extension (when `holds` is empty, or when one
/// of its lines starts as one of `holds` says).
struct FileRule {
    pattern: &'static str,
    extension: &'static str,
    holds: &'static [&'static str],
}

const fn file(pattern: &'static str, extension: &'static str) -> FileRule {
    FileRule { pattern, extension, holds: &[] }
}

const FILE_RULES: &[FileRule] = &[
    file("Cargo.toml", "cargo"),
    file("Cargo.lock", "cargo"),
    file(".cargo/config", "cargo"),
    file(".cargo/config.toml", "cargo"),
    file("*.c", "ccache"),
    file("*.cc", "ccache"),
    file("*.cpp", "ccache"),
    file("*.cxx", "ccache"),
    file("*.h", "ccache"),
    file("*.hpp", "ccache"),
    file("*.hxx", "ccache"),
    file("environment.yml", "conda"),
    file("environment.yaml", "conda"),
    file("conda.yaml", "conda"),
    file("conda.yml", "conda"),
    file("package.json", "npm"),
    file("package-lock.json", "npm"),
    file("npm-shrinkwrap.json", "npm"),
    file(".npmrc", "npm"),
    file("pixi.toml", "pixi"),
    FileRule {
        pattern: "pyproject.toml",
        extension: "pixi",
        holds: &["[tool.pixi.project]", "[tool.pixi.workspace]"],
    },
    file("package.xml", "ros_jazzy"),
    file("pyproject.toml", "uv"),
    file(".python-version", "uv"),
    file("poetry.lock", "uv"),
    file("requirements.txt", "uv"),
    file("*.py", "uv"),
];

/// Config folders (in the workspace or the home folder) and what they select.
const FOLDER_RULES: &[(&str, &str)] = &[
    (".claude", "claude"),
    (".codex", "codex"),
    (".gemini", "gemini"),
    (".config/nvim", "nvim"),
    (".vim", "nvim"),
];

/// The most files a workspace walk reads names of: a home folder passed by mistake stays quick.
const MAX_FILES: usize = 200_000;
/// The largest file read for a `holds` rule.
const MAX_READ: u64 = 1 << 20;

/// The extensions the files below `root` (and the config folders of `$HOME`) select, sorted.
pub fn detect(root: &Path) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    for (folder, ext) in FOLDER_RULES {
        let here = root.join(folder).is_dir() || home.as_ref().is_some_and(|h| h.join(folder).is_dir());
        if here {
            found.push(ext);
        }
    }
    // A rule with a `/` names a path below the workspace itself.
    for rule in FILE_RULES.iter().filter(|r| r.pattern.contains('/')) {
        if root.join(rule.pattern).is_file() {
            found.push(rule.extension);
        }
    }
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_FILES {
                break;
            }
            let Ok(kind) = entry.file_type() else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                if name != ".git" {
                    stack.push(entry.path());
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            for rule in FILE_RULES.iter().filter(|r| !r.pattern.contains('/') && matches(r.pattern, &name)) {
                if !found.contains(&rule.extension)
                    && (rule.holds.is_empty() || holds(&entry.path(), rule.holds))
                {
                    found.push(rule.extension);
                }
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// A file name against a pattern with at most one leading `*`.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => name.ends_with(suffix) && name.len() > suffix.len(),
        None => pattern == name,
    }
}

fn holds(path: &Path, starts: &[&str]) -> bool {
    use std::io::Read;
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_READ).read_to_string(&mut text));
    read.is_ok() && text.lines().any(|l| starts.iter().any(|s| l.starts_with(s)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_workspace_selects_what_its_files_need() {
        let dir = std::env::temp_dir().join(format!("quarry-auto-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/pkg")).unwrap();
        std::fs::write(dir.join("src/pkg/package.xml"), "<package/>").unwrap();
        std::fs::write(dir.join("src/pkg/node.cpp"), "").unwrap();
        std::fs::write(dir.join("pyproject.toml"), "[project]\nname = \"x\"\n[tool.pixi.workspace]\n")
            .unwrap();
        assert_eq!(
            super::detect(&dir)
                .into_iter()
                .filter(|e| !["claude", "codex", "gemini", "nvim"].contains(e))
                .collect::<Vec<_>>(),
            ["ccache", "pixi", "ros_jazzy", "uv"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
