//! Finding deps files as deps_rocker's `--deps PATTERN` finds them (its `rglob` below the
//! project, in sorted order here), and reading one: bounded, UTF-8, inside the project.

use std::path::{Path, PathBuf};

use quarry_core::Hinted;

use super::{MAX_FILE_BYTES, MAX_FILES, MAX_VISITED, Place};

/// A deps file pattern of quarry.toml (and of deps_rocker's `--deps`): matched as deps_rocker's
/// `rglob` matches it, against the end of each file's path below the project, component by
/// component (`*`, `?`, `[...]` within a component, `**` for any number of folders). `Err` holds
/// why not.
pub fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    if pattern.is_empty() || pattern.len() > 255 {
        return Err("a pattern is 1 to 255 characters");
    }
    if pattern.starts_with('/') {
        return Err("a pattern is matched below the project: it does not start with `/`");
    }
    if !pattern.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-*?[]!/".contains(&b)) {
        return Err("a pattern has letters, digits, `._+-`, `/` and the wildcards `*?[]!` only");
    }
    if pattern.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("a pattern's folders are names or wildcards, never empty, `.` or `..`");
    }
    Ok(())
}

/// Whether the path `rel` (components joined by `/`) matches `pattern` as deps_rocker's
/// `Path.rglob(pattern)` would: `**/` + `pattern`, case-sensitively.
fn matches(pattern: &str, rel: &str) -> bool {
    let mut pat: Vec<&str> = vec!["**"];
    pat.extend(pattern.split('/'));
    let path: Vec<&str> = rel.split('/').collect();
    components_match(&pat, &path)
}

fn components_match(pat: &[&str], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| components_match(rest, &path[skip..])),
        Some((first, rest)) => {
            !path.is_empty()
                && name_matches(first.as_bytes(), path[0].as_bytes())
                && components_match(rest, &path[1..])
        }
    }
}

/// fnmatch on one name: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`; anything else literally.
fn name_matches(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| name_matches(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && name_matches(rest, &name[1..]),
        Some((b'[', rest)) => match (class_end(rest), name.split_first()) {
            (Some(end), Some((&c, name_rest))) => {
                class_matches(&rest[..end], c) && name_matches(&rest[end + 1..], name_rest)
            }
            (Some(_), None) => false,
            // An unclosed `[` is itself.
            (None, _) => name.first() == Some(&b'[') && name_matches(rest, &name[1..]),
        },
        Some((&c, rest)) => name.first() == Some(&c) && name_matches(rest, &name[1..]),
    }
}

/// The index of the `]` closing a class that starts after `[` (a `]` first is a member).
fn class_end(rest: &[u8]) -> Option<usize> {
    let start = usize::from(rest.first() == Some(&b'!'));
    let start = start + usize::from(rest.get(start) == Some(&b']'));
    rest[start.min(rest.len())..].iter().position(|&b| b == b']').map(|p| p + start)
}

fn class_matches(class: &[u8], c: u8) -> bool {
    let (negated, class) = match class.split_first() {
        Some((b'!', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut i = 0;
    let mut hit = false;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == b'-' {
            hit |= class[i] <= c && c <= class[i + 2];
            i += 3;
        } else {
            hit |= class[i] == c;
            i += 1;
        }
    }
    hit != negated
}

/// Every file below `root` that one of `patterns` matches, as paths relative to `root` (`/`
/// between folders), sorted. Folders named `.git` are not searched, nor folders reached through a
/// link; a matching link to a file is taken when the file is inside the project, and refused
/// otherwise.
pub fn find(root: &Path, patterns: &[String]) -> anyhow::Result<Vec<String>> {
    let real_root = root.canonicalize().map_err(|e| {
        Hinted::new(
            format!("cannot read the project folder `{}`: {e}", root.display()),
            "run quarry in the project",
        )
    })?;
    let mut out = Vec::new();
    let mut visited = 0usize;
    // (folder, its path relative to root), visited in sorted order.
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_owned(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut names: Vec<(String, std::fs::FileType)> = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            visited += 1;
            if visited > MAX_VISITED {
                anyhow::bail!(Hinted::new(
                    format!(
                        "the project below `{}` holds more than {MAX_VISITED} files and folders to search for deps files",
                        root.display()
                    ),
                    "deps files are searched in every folder below quarry.toml's, as deps_rocker searches them: keep build output (colcon's build/, install/, log/) out of the project, or quarry.toml in a folder without it",
                ));
            }
            // A name that is not UTF-8 is not a deps file quarry could name; its folder is searched.
            let Ok(name) = entry.file_name().into_string() else { continue };
            let Ok(kind) = entry.file_type() else { continue };
            names.push((name, kind));
        }
        names.sort_by(|a, b| b.0.cmp(&a.0));
        for (name, kind) in names {
            let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if kind.is_dir() {
                if name != ".git" {
                    stack.push((dir.join(&name), child));
                }
                continue;
            }
            if !patterns.iter().any(|p| matches(p, &child)) {
                continue;
            }
            if kind.is_symlink() {
                let target = dir.join(&name).canonicalize().ok();
                match target {
                    Some(t) if t.starts_with(&real_root) && t.is_file() => {}
                    Some(t) if !t.starts_with(&real_root) => anyhow::bail!(Hinted::new(
                        format!(
                            "deps file `{child}` is a link leading outside the project, to `{}`",
                            t.display()
                        ),
                        "copy the file into the project: what the image gets is the project's",
                    )),
                    _ => continue,
                }
            } else if !kind.is_file() {
                continue;
            }
            if out.len() == MAX_FILES {
                anyhow::bail!(Hinted::new(
                    format!("more than {MAX_FILES} deps files below `{}`", root.display()),
                    "narrow `deps` to the files of this project, such as `deps = \"robot.deps.yaml\"`",
                ));
            }
            out.push(child);
        }
    }
    out.sort();
    Ok(out)
}

/// The text of the project file `rel`: at most [`MAX_FILE_BYTES`], UTF-8 (a byte order mark
/// dropped), a regular file (a link is followed inside the project only).
pub(super) fn read_file(root: &Path, rel: &str) -> anyhow::Result<String> {
    use quarry_codegen::files::{ReadError, read_text};
    let at = Place { file: rel.to_owned(), line: 1, column: 1 };
    // The one reader of a project's files: inside the project, a regular file, bounded.
    let text = read_text(&root.join(rel), Some(root), MAX_FILE_BYTES, rel).map_err(|e| match e {
        ReadError::TooLarge { .. } => at.error(
            format!("the file is larger than {} KiB", MAX_FILE_BYTES / 1024),
            "a deps file is a few lines of YAML: check the `deps` patterns",
        ),
        ReadError::NotText(_) => at.error("the file is not UTF-8 text".to_owned(), "save it as UTF-8"),
        ReadError::Outside { .. } => at.error(
            "the file leads out of the project through a link".to_owned(),
            "keep deps files inside the project",
        ),
        ReadError::NotAFile { kind, .. } => {
            at.error(format!("the file is {kind}, not a regular file"), "name regular files of the project")
        }
        other => at.error(
            format!("cannot read the file: {other}"),
            "check that it is a readable file of the project",
        ),
    })?;
    // A byte order mark is no part of the text, as PyYAML and Python's TOML readers take it.
    Ok(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_rglob_does() {
        for (pattern, path, want) in [
            ("*.deps.yaml", "robot.deps.yaml", true),
            ("*.deps.yaml", "src/pkg/robot.deps.yaml", true),
            ("*.deps.yaml", "src/pkg/robot.yaml", false),
            ("*.deps.yaml", ".hidden/a.deps.yaml", true),
            ("robot.deps.yaml", "src/robot.deps.yaml", true),
            ("src/*.deps.yaml", "src/a.deps.yaml", true),
            ("src/*.deps.yaml", "x/src/a.deps.yaml", true),
            ("src/*.deps.yaml", "src/sub/a.deps.yaml", false),
            ("src/**/a.deps.yaml", "src/x/y/a.deps.yaml", true),
            ("src/**/a.deps.yaml", "src/a.deps.yaml", true),
            ("[ab].deps.yaml", "b.deps.yaml", true),
            ("[!ab].deps.yaml", "b.deps.yaml", false),
            ("[a-c]?.deps.yaml", "c1.deps.yaml", true),
            ("*.DEPS.yaml", "a.deps.yaml", false),
        ] {
            assert_eq!(matches(pattern, path), want, "{pattern} {path}");
        }
        for bad in ["", "/abs.yaml", "a/../b.yaml", "a//b", "a b.yaml", "./x.yaml"] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
        assert!(check_pattern("deps/**/*.deps.yaml").is_ok());
    }
}
