//! A new key of `extension.toml` is a key in the schema and a field in the model, and nothing
//! else. On a copy of `buildkit`, `core` and `codegen` with exactly those two edits (a key
//! `example_key` in `schema::EXTENSION`, a field `example_key` in `Extension` and its `EMPTY`),
//! an extension crate that sets the key (`build.rs` calling codegen, as every catalog crate does)
//! registers its value, a project extension read at run time has it, `docs/EXTENDING.md`'s table
//! (`schema::markdown`) and the scaffold of a new extension show it, and a misspelt key is
//! answered with it.
//!
//! The copy builds in its own target folder under `target/tmp`, about a minute the first time;
//! files are rewritten only when they change, so later runs build only what did.

use std::path::{Path, PathBuf};
use std::process::Command;

const CRATES: [&str; 3] = ["buildkit", "core", "codegen"];

/// `text` with `anchor` (found exactly once) followed by `insert`.
fn insert_after(text: &str, anchor: &str, insert: &str, what: &str) -> String {
    assert_eq!(text.matches(anchor).count(), 1, "{what}: the anchor {anchor:?} must be there once");
    text.replacen(anchor, &format!("{anchor}{insert}"), 1)
}

/// Writes `contents` to `path` unless it holds them already (an unchanged file keeps its time).
fn write(path: &Path, contents: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// Copies the folder `from` to `to`, leaving out tests (not needed to build the library).
fn copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "tests" || name == "target" {
            continue;
        }
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy(&path, &to.join(&name));
        } else {
            write(&to.join(&name), &std::fs::read(&path).unwrap());
        }
    }
}

fn patched_copy(workspace: &Path, dir: &Path) {
    for krate in CRATES {
        copy(&workspace.join(krate), &dir.join(krate));
    }
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap();
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("exclude ="))
        .map(|l| {
            if l.starts_with("members =") {
                "members = [\"buildkit\", \"core\", \"codegen\", \"probe\"]\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    write(&dir.join("Cargo.toml"), manifest.as_bytes());
    write(&dir.join("Cargo.lock"), &std::fs::read(workspace.join("Cargo.lock")).unwrap());

    // The two edits: the model's field, and the schema's key.
    let model = std::fs::read_to_string(workspace.join("core/src/model.rs")).unwrap();
    let model = insert_after(
        &model,
        "        /// One line for `quarry list` and `--help`.\n        pub description: &'static str,\n",
        "        /// A key the new-key test adds.\n        pub example_key: Option<&'static str>,\n",
        "the field",
    );
    let model = insert_after(&model, "        description: \"\",\n", "        example_key: None,\n", "EMPTY");
    write(&dir.join("core/src/model.rs"), model.as_bytes());
    let schema = std::fs::read_to_string(workspace.join("core/src/schema.rs")).unwrap();
    let schema = insert_after(
        &schema,
        "pub static EXTENSION: Table = Table {\n    path: \"\",\n    keys: &[\n",
        "        key(\"example_key\", Type::String, \"none\", \"a key the new-key test adds.\"),\n",
        "the key",
    );
    write(&dir.join("core/src/schema.rs"), schema.as_bytes());

    // An extension crate that sets the key, and reads the same folder as a project would.
    write(
        &dir.join("probe/Cargo.toml"),
        b"[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
          [dependencies]\nquarry-core = { workspace = true }\nquarry-codegen = { workspace = true }\n\n\
          [build-dependencies]\nquarry-codegen = { workspace = true }\n",
    );
    write(&dir.join("probe/build.rs"), b"fn main() {\n    quarry_codegen::build_script();\n}\n");
    write(
        &dir.join("probe/extension.toml"),
        b"name = \"probe\"\ndescription = \"sets the new key\"\nexample_key = \"from the crate\"\n",
    );
    write(&dir.join("probe/src/main.rs"), PROBE.as_bytes());
}

const PROBE: &str = r##"include!(concat!(env!("OUT_DIR"), "/extension.rs"));

fn main() {
    use quarry_core::schema;
    println!("crate: {:?}", EXTENSION.example_key);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = quarry_codegen::runtime::load(dir, "probe", dir, "quarry.toml").unwrap();
    println!("project: {:?}", project.example_key);
    let docs = schema::markdown(&schema::EXTENSION);
    println!("docs: {}", docs.lines().find(|l| l.starts_with("| `example_key`")).unwrap_or("none"));
    let scaffold = schema::scaffold();
    println!("scaffold: {}", scaffold.lines().find(|l| l.starts_with("# example_key")).unwrap_or("none"));
    let load = |rel: &str, _: u64| Err(format!("`{rel}` does not exist"));
    let text = "name = \"probe\"\ndescription = \"d\"\nexample_kye = \"x\"\n";
    let input = quarry_codegen::Input { path: "probe/extension.toml", text, load: &load };
    let diagnostics = quarry_codegen::generate(&input, "probe").unwrap_err();
    println!("misspelt: {}", diagnostics[0].message);
}
"##;

#[test]
fn a_key_in_the_schema_and_the_model_reaches_every_reader() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-key");
    patched_copy(workspace, &dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--offline", "-p", "probe"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "crate: Some(\"from the crate\")",
            "project: Some(\"from the crate\")",
            "docs: | `example_key` | string | none | a key the new-key test adds. |",
            "scaffold: # example_key = \"\"",
            "misspelt: unknown key `example_kye`; did you mean `example_key`?",
        ]
    );
}
