//! `cargo xtask new-extension NAME [--dir DIR]`: scaffolds an extension crate.
//!
//! Without `--dir` the crate goes to `extensions/NAME` in this workspace (workspace-inherited
//! `Cargo.toml`), and the catalog (`catalog/`, the crates the `quarry` binary links) is
//! regenerated. With `--dir` the crate is standalone, for a third party: its `Cargo.toml`
//! depends on `quarry-core` and build-depends on `quarry-codegen` by path to this checkout.
//!
//! Either way the crate holds a commented `extension.toml` showing every key around a working
//! minimal example (an apt package, a setup step, an option `version`), its template, the
//! one-line `build.rs`, the `lib.rs` that includes the generated registration, and
//! `tests/render.rs`, which renders the extension with `quarry_core` and checks the output.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask new-extension NAME [--dir DIR]";

/// Where the crate goes and which `Cargo.toml` it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    /// `extensions/NAME` of this workspace: inherits the workspace's package fields, lints and
    /// dependencies.
    Workspace,
    /// Anywhere else: a standalone `Cargo.toml` with path dependencies on this checkout.
    Standalone {
        /// The checkout's root, as written in the dependencies (relative to the crate when the
        /// crate is inside the checkout, else absolute).
        quarry: String,
        /// The workspace's `edition`.
        edition: String,
        /// The workspace's `rust-version`.
        rust_version: String,
    },
}

/// `cargo xtask new-extension ...`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let root = crate::workspace();
    let (name, dir) = parse_args(args)?;
    check_name(&root, &name)?;
    let in_workspace = root.join("extensions").join(&name);
    let (target, layout) = match dir {
        None => (in_workspace, Layout::Workspace),
        Some(dir) => {
            let target = absolute(&dir)?;
            if target == absolute(&in_workspace)? {
                (in_workspace, Layout::Workspace)
            } else {
                let layout = standalone_layout(&root, &target)?;
                (target, layout)
            }
        }
    };
    let files = scaffold(&name, &target, &layout)?;
    let shown = target.strip_prefix(&root).unwrap_or(&target).display().to_string();
    eprintln!("created extension `{name}` in `{shown}`:");
    for file in &files {
        eprintln!("  {file}");
    }
    match layout {
        Layout::Workspace => {
            crate::codegen::write(&root)?;
            eprintln!("updated `catalog/Cargo.toml` and `catalog/src/lib.rs`: the `quarry` binary links it");
            eprintln!(
                "next: edit `{shown}/extension.toml` and its templates, then\n  \
                 cargo test -p {krate}\n  \
                 cargo run -p quarry-cli -- render debian:bookworm --{flag}\n\
                 the catalog's snapshots in `cli/tests` (`quarry list`, `--help`, every extension \
                 rendered) gain it: run `cargo test -p quarry-cli` and review them (`cargo insta review`)",
                krate = crate::codegen::crate_name(&name),
                flag = name.replace('_', "-"),
            );
        }
        Layout::Standalone { .. } => eprintln!(
            "next: edit `{shown}/extension.toml` and its templates, then\n  \
             cargo test --manifest-path {shown}/Cargo.toml\n\
             to ship a `quarry` binary that includes it, see docs/EXTENDING.md"
        ),
    }
    Ok(())
}

fn parse_args(args: &[String]) -> anyhow::Result<(String, Option<PathBuf>)> {
    let mut name = None;
    let mut dir = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--dir" => match rest.next() {
                Some(d) if dir.is_none() => dir = Some(PathBuf::from(d)),
                Some(_) => bail!("`--dir` is given twice\n{USAGE}"),
                None => bail!("`--dir` needs a folder\n{USAGE}"),
            },
            flag if flag.starts_with('-') => bail!("unknown flag `{flag}`\n{USAGE}"),
            value if name.is_none() => name = Some(value.to_owned()),
            value => bail!("unexpected argument `{value}`\n{USAGE}"),
        }
    }
    let Some(name) = name else { bail!("the extension needs a NAME\n{USAGE}") };
    Ok((name, dir))
}

/// A snake_case name that neither an extension of this repository nor a flag of the command line
/// already has: every `quarry` binary links the repository's extensions, and two extensions of
/// one name (or one flag) make it refuse to start.
fn check_name(root: &Path, name: &str) -> anyhow::Result<()> {
    if !quarry_core::rules::is_snake_case(name) {
        let hint = snake_case_hint(name).map(|s| format!("did you mean `{s}`?")).unwrap_or_else(|| {
            "use lowercase letters, digits and single `_`, starting with a letter".to_owned()
        });
        bail!("`{name}` is not a snake_case extension name\nhint: {hint}");
    }
    if root.join("extensions").join(name).exists() {
        bail!(
            "extension `{name}` already exists (`extensions/{name}`)\nhint: choose another name; \
             a binary linking two extensions of one name refuses to start"
        );
    }
    let dashed = name.replace('_', "-");
    let registry = quarry_cli::registry_with(&[])?;
    let command = quarry_cli::args::command(registry).map_err(anyhow::Error::msg)?;
    let mut taken: Vec<String> = vec!["help".to_owned(), "version".to_owned()];
    for sub in command.get_subcommands() {
        taken.extend(sub.get_arguments().filter_map(|a| a.get_long().map(str::to_owned)));
    }
    for flag in [dashed.clone(), format!("{dashed}-version")] {
        if taken.contains(&flag) {
            bail!(
                "extension `{name}` would get the flag `--{flag}`, which the command line already has\n\
                 hint: choose another name"
            );
        }
    }
    Ok(())
}

/// `Hello-Tool` -> `hello_tool`, when that is a valid name.
fn snake_case_hint(name: &str) -> Option<String> {
    let mut s = String::new();
    for c in name.trim().chars() {
        match c {
            c if c.is_ascii_alphanumeric() => s.push(c.to_ascii_lowercase()),
            '-' | '_' | ' ' | '.' if !s.ends_with('_') => s.push('_'),
            _ => {}
        }
    }
    let s = s.trim_matches('_').to_owned();
    (s != name && quarry_core::rules::is_snake_case(&s)).then_some(s)
}

/// `path` made absolute against the current folder, with `.` and `..` resolved lexically.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    let joined = std::env::current_dir().context("cannot read the current folder")?.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The standalone layout for a crate at `target`: paths to this checkout, relative when the crate
/// is inside it (such as `examples/`), so the checkout can move.
fn standalone_layout(root: &Path, target: &Path) -> anyhow::Result<Layout> {
    let root = absolute(root)?;
    let quarry = match target.strip_prefix(&root) {
        Ok(inside) => {
            let depth = inside.components().count();
            vec![".."; depth].join("/")
        }
        Err(_) => root.display().to_string(),
    };
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("cannot read `Cargo.toml`")?;
    let field = |key: &str| -> anyhow::Result<String> {
        manifest
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim().strip_prefix('"'))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_owned)
            .with_context(|| format!("the root `Cargo.toml` lacks `{key}` in `[workspace.package]`"))
    };
    Ok(Layout::Standalone { quarry, edition: field("edition")?, rust_version: field("rust-version")? })
}

/// Writes the crate into `target` (which must not exist, or be an empty folder) and returns the
/// files it wrote, relative to `target`. The files are written to a staging folder next to
/// `target` and renamed into place, so a failure leaves nothing half-made.
fn scaffold(name: &str, target: &Path, layout: &Layout) -> anyhow::Result<Vec<String>> {
    if let Ok(mut entries) = std::fs::read_dir(target) {
        if entries.next().is_some() {
            bail!("`{}` already exists and is not empty\nhint: choose another folder", target.display());
        }
    } else if target.exists() {
        bail!("`{}` already exists and is not a folder", target.display());
    }
    let parent = target.parent().context("the crate folder has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    let staging = parent.join(format!(".{name}.new-extension-{}", std::process::id()));
    let files = crate_files(name, layout);
    let written = (|| -> anyhow::Result<()> {
        for (file, contents) in &files {
            let path = staging.join(file);
            std::fs::create_dir_all(path.parent().expect("files are inside the crate"))?;
            std::fs::write(&path, contents).with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        // `rename` replaces an empty folder.
        std::fs::rename(&staging, target)
            .with_context(|| format!("cannot move the new crate to `{}`", target.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written?;
    Ok(files.into_iter().map(|(file, _)| file.to_owned()).collect())
}

/// The crate's files: (path relative to the crate, contents).
fn crate_files(name: &str, layout: &Layout) -> Vec<(&'static str, String)> {
    let krate = crate::codegen::crate_name(name);
    let fill = |template: &str| {
        template
            .replace("@NAME@", name)
            .replace("@FLAG@", &name.replace('_', "-"))
            .replace("@CRATE@", &krate.replace('-', "_"))
            .replace("@CHECKED@", quarry_cli::scaffold::CHECKED_BY_CODEGEN)
    };
    let fill = |template: &str| quarry_cli::scaffold::fill(name, &fill(template));
    let cargo_toml = match layout {
        Layout::Workspace => format!(
            "[package]\n\
             name = \"{krate}\"\n\
             description = \"quarry extension `{name}`\"\n\
             version.workspace = true\n\
             edition.workspace = true\n\
             rust-version.workspace = true\n\
             license.workspace = true\n\
             publish.workspace = true\n\
             \n\
             [dependencies]\n\
             quarry-core.workspace = true\n\
             \n\
             [build-dependencies]\n\
             quarry-codegen.workspace = true\n\
             \n\
             [lints]\n\
             workspace = true\n"
        ),
        Layout::Standalone { quarry, edition, rust_version } => format!(
            "[package]\n\
             name = \"{krate}\"\n\
             description = \"quarry extension `{name}`\"\n\
             version = \"0.1.0\"\n\
             edition = \"{edition}\"\n\
             rust-version = \"{rust_version}\"\n\
             publish = false\n\
             \n\
             # These paths point into the quarry checkout this crate was scaffolded from. To build it\n\
             # anywhere else, switch them to a git dependency (or a registry one, once quarry is\n\
             # published), the same for both, e.g.\n\
             #   quarry-core = {{ git = \"https://example.org/quarry.git\", rev = \"...\" }}\n\
             # and use the same source for `quarry-cli` in the binary that links this crate.\n\
             [dependencies]\n\
             quarry-core = {{ path = {core:?} }}\n\
             \n\
             [build-dependencies]\n\
             quarry-codegen = {{ path = {codegen:?} }}\n",
            core = format!("{quarry}/core"),
            codegen = format!("{quarry}/codegen"),
        ),
    };
    vec![
        ("Cargo.toml", cargo_toml),
        ("build.rs", "fn main() {\n    quarry_codegen::build_script();\n}\n".to_owned()),
        (
            "src/lib.rs",
            fill(
                "//! quarry extension `@NAME@`: generated from `extension.toml` by `quarry-codegen`.\n\n\
                 include!(concat!(env!(\"OUT_DIR\"), \"/extension.rs\"));\n",
            ),
        ),
        ("extension.toml", fill(&quarry_cli::scaffold::extension_toml())),
        ("templates/setup.Dockerfile.j2", fill(quarry_cli::scaffold::SETUP_TEMPLATE)),
        ("tests/render.rs", fill(RENDER_TEST)),
    ]
}

const RENDER_TEST: &str = r#"//! Renders the extension with quarry's own renderer. The registry holds just this extension;
//! add the extensions of `depends_on`, if any, to the list.

use quarry_core::{EngineLevel, Registry, Request, Selection};
use @CRATE@::EXTENSION;

const NAME: &str = "@NAME@";

fn render(selection: Selection) -> Result<String, quarry_core::Error> {
    let registry = Registry::from_extensions([&EXTENSION]).expect("one extension");
    let request = Request {
        image: "debian:bookworm".to_owned(),
        extensions: vec![selection],
        engine: EngineLevel::Modern,
        ..Request::default()
    };
    quarry_core::render(&registry, &request).map(|rendered| rendered.dockerfile)
}

#[test]
fn renders_with_the_defaults() {
    let dockerfile = render(Selection::new(NAME)).unwrap();
    let install = "--no-install-recommends \\\n      ca-certificates\n";
    assert!(dockerfile.contains(install), "{dockerfile}");
    assert!(dockerfile.contains("RUN update-ca-certificates --fresh > /dev/null\n"), "{dockerfile}");
    let env = format!("ENV {}_VERSION=1.0.0\n", NAME.to_ascii_uppercase());
    assert!(dockerfile.contains(&env), "{dockerfile}");
}

#[test]
fn the_version_option_reaches_the_environment() {
    let selection = Selection::new(NAME).with_option("version", "2.1.0");
    let dockerfile = render(selection).unwrap();
    let env = format!("ENV {}_VERSION=2.1.0\n", NAME.to_ascii_uppercase());
    assert!(dockerfile.contains(&env), "{dockerfile}");
}

#[test]
fn a_malformed_version_is_refused() {
    let selection = Selection::new(NAME).with_option("version", "1.0; rm -rf /");
    let err = render(selection).unwrap_err();
    assert!(err.to_string().contains("invalid value"), "{err}");
}
"#;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// A fresh, empty temp folder for one test.
    fn temp(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("quarry-xtask-scaffold-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("`{file}`: {e}"))
    }

    #[test]
    fn scaffolds_a_standalone_crate() {
        let tmp = temp("standalone");
        let target = tmp.join("demo_tool");
        let layout = standalone_layout(&crate::workspace(), &target).unwrap();
        let files = scaffold("demo_tool", &target, &layout).unwrap();
        assert_eq!(
            files,
            [
                "Cargo.toml",
                "build.rs",
                "src/lib.rs",
                "extension.toml",
                "templates/setup.Dockerfile.j2",
                "tests/render.rs"
            ]
        );

        let cargo = read(&target, "Cargo.toml");
        let root = crate::workspace();
        for expected in [
            "name = \"quarry-ext-demo-tool\"\n".to_owned(),
            format!("quarry-core = {{ path = \"{}/core\" }}\n", root.display()),
            format!("[build-dependencies]\nquarry-codegen = {{ path = \"{}/codegen\" }}\n", root.display()),
            "switch them to a git dependency".to_owned(),
        ] {
            assert!(cargo.contains(&expected), "Cargo.toml lacks {expected:?}:\n{cargo}");
        }
        assert!(!cargo.contains(".workspace = true"), "{cargo}");
        assert_eq!(read(&target, "build.rs"), "fn main() {\n    quarry_codegen::build_script();\n}\n");
        assert!(
            read(&target, "src/lib.rs").contains("include!(concat!(env!(\"OUT_DIR\"), \"/extension.rs\"));")
        );

        let metadata = read(&target, "extension.toml");
        for key in [
            "name = \"demo_tool\"",
            "description = ",
            "# depends_on = ",
            "cache_priority = 50",
            "apt_packages = [\"ca-certificates\"]",
            "# [[apt_repositories]]",
            "# supported_images = ",
            "setup = \"templates/setup.Dockerfile.j2\"",
            "# setup_after_copies = true",
            "# setup_as_user = true",
            "env = [\"DEMO_TOOL_VERSION={{ options.version }}\"]",
            "# final_user = ",
            "# workdir = ",
            "# builder_base_image = ",
            "# [shell]",
            "# [builder]",
            "# from = \"npm\"",
            "# template = ",
            "# [[builder.artifacts]]",
            "url or key_fingerprint.",
            "# uid, gid, user, cwd or home: ",
            "# [[builder.downloads]]",
            "# checksum_url = ",
            "# # verify = \"none\"",
            "# [[files]]",
            "# [run]",
            "[options.version]",
            "default = \"1.0.0\"",
            "rule = \"version\"",
            "# one_of = ",
            "# required = true",
            "# from_host = ",
            "`--demo-tool-<option>`",
        ] {
            assert!(metadata.contains(key), "extension.toml lacks {key:?}");
        }
        assert!(!metadata.contains('@'), "a placeholder is left:\n{metadata}");
        assert!(read(&target, "templates/setup.Dockerfile.j2").contains("RUN update-ca-certificates"));
        let test = read(&target, "tests/render.rs");
        assert!(test.contains("use quarry_ext_demo_tool::EXTENSION;"), "{test}");
        assert!(test.contains("Registry::from_extensions([&EXTENSION])"), "{test}");
        assert!(test.contains("const NAME: &str = \"demo_tool\";"), "{test}");

        // Nothing is left behind but the crate.
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["demo_tool"]);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn a_crate_inside_the_checkout_uses_relative_paths() {
        let root = crate::workspace();
        let layout = standalone_layout(&root, &root.join("examples/custom-extension/hello_tool")).unwrap();
        let Layout::Standalone { quarry, .. } = &layout else { panic!("{layout:?}") };
        assert_eq!(quarry, "../../..");
    }

    #[test]
    fn workspace_crates_inherit_from_the_workspace() {
        let tmp = temp("workspace");
        scaffold("demo_tool", &tmp.join("demo_tool"), &Layout::Workspace).unwrap();
        let cargo = read(&tmp.join("demo_tool"), "Cargo.toml");
        let existing =
            std::fs::read_to_string(crate::workspace().join("extensions/dev_helpers/Cargo.toml")).unwrap();
        let expected = existing.replace("dev-helpers", "demo-tool").replace("dev_helpers", "demo_tool");
        assert_eq!(cargo, expected, "the same form as the existing crates");
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn invalid_names_are_refused() {
        let root = crate::workspace();
        let err = check_name(&root, "Hello-Tool").unwrap_err().to_string();
        assert_eq!(err, "`Hello-Tool` is not a snake_case extension name\nhint: did you mean `hello_tool`?");
        for bad in ["", "1tool", "tool_", "two__words", "a b"] {
            let err = check_name(&root, bad).unwrap_err().to_string();
            assert!(err.contains("is not a snake_case extension name"), "{bad:?}: {err}");
        }
        let err = check_name(&root, "cargo").unwrap_err().to_string();
        assert!(err.starts_with("extension `cargo` already exists (`extensions/cargo`)"), "{err}");
        // `--cache-id` is a flag of `quarry build`.
        let err = check_name(&root, "cache_id").unwrap_err().to_string();
        assert!(err.contains("the flag `--cache-id`"), "{err}");
        // A name no extension is likely to take.
        check_name(&root, "xtask_scaffold_probe").unwrap();
    }

    #[test]
    fn the_command_line_refuses_mistakes_before_writing() {
        let tmp = temp("cli");
        let run = |args: &[&str]| super::run(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>());
        let dir = tmp.join("x").display().to_string();
        let err = run(&["Bad-Name", "--dir", &dir]).unwrap_err().to_string();
        assert!(err.contains("not a snake_case extension name"), "{err}");
        assert!(!tmp.join("x").exists(), "nothing is written for a refused name");
        assert!(run(&[]).unwrap_err().to_string().contains("needs a NAME"));
        assert!(run(&["demo", "--dir"]).unwrap_err().to_string().contains("`--dir` needs a folder"));
        assert!(run(&["demo", "--force"]).unwrap_err().to_string().contains("unknown flag `--force`"));

        std::fs::write(tmp.join("file"), "").unwrap();
        std::fs::create_dir(tmp.join("full")).unwrap();
        std::fs::write(tmp.join("full/keep"), "").unwrap();
        for taken in ["file", "full"] {
            let dir = tmp.join(taken).display().to_string();
            let err = run(&["demo_tool", "--dir", &dir]).unwrap_err().to_string();
            assert!(err.contains("already exists"), "{err}");
        }
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
