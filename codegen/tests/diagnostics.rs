//! Snapshot tests of what a user sees for bad metadata: one fixture folder per mistake under
//! `tests/fixtures/`, each otherwise valid, and the exact diagnostics it produces. The fixture
//! `valid` must generate code instead; its generated registration is snapshotted as the spec of
//! codegen's output.
//!
//! A last test builds a throwaway extension crate with `cargo build` to prove the diagnostics reach
//! the user through the build script.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use quarry_codegen::{Diagnostic, Generated, Input, METADATA_FILE, generate};

/// Fixtures that must generate code; every other fixture must fail.
const VALID: &[&str] = &["valid"];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// Every fixture folder, sorted by name.
fn fixtures() -> Vec<String> {
    let mut cases: Vec<String> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .map(|entry| entry.expect("readable fixture entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().into_string().expect("UTF-8 fixture name"))
        .collect();
    cases.sort();
    cases
}

/// Runs codegen on fixture `case`, with a machine-independent path in diagnostics.
fn run(case: &str) -> Result<Generated, Vec<Diagnostic>> {
    let dir = fixtures_dir().join(case);
    let text = fs::read_to_string(dir.join(METADATA_FILE)).expect("fixture has an extension.toml");
    let load =
        |rel: &str, _limit: u64| fs::read(dir.join(rel)).map_err(|_| format!("`{rel}` does not exist"));
    let path = format!("fixtures/{case}/{METADATA_FILE}");
    generate(&Input { path: &path, text: &text, load: &load }, "quarry-ext-demo")
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(|d| format!("{d}\n")).collect()
}

#[test]
fn fixtures_are_all_there() {
    let cases = fixtures();
    for expected in [
        "apt_repository_rules",
        "artifact_outside_out_dir",
        "bad_apt_package",
        "bad_name",
        "download_rules",
        "final_stage_rules",
        "malformed_image",
        "list_option_rules",
        "many_mistakes",
        "missing_template_file",
        "one_line_text",
        "option_default_fails_rule",
        "option_images_and_aliases",
        "priority_out_of_range",
        "self_dependency",
        "setup_as_user_makes_the_user",
        "template_output_forbidden",
        "template_syntax",
        "template_unknown_variable",
        "toml_syntax",
        "unknown_key",
        "unknown_rule",
        "valid",
        "wrong_type",
    ] {
        assert!(cases.iter().any(|c| c == expected), "fixture `{expected}` is missing: {cases:?}");
    }
}

#[test]
fn bad_metadata_diagnostics() {
    for case in fixtures().iter().filter(|c| !VALID.contains(&c.as_str())) {
        let diagnostics = match run(case) {
            Ok(generated) => panic!("fixture `{case}` should fail, but generated:\n{}", generated.code),
            Err(diagnostics) => diagnostics,
        };
        assert!(!diagnostics.is_empty(), "fixture `{case}` failed without a diagnostic");
        for d in &diagnostics {
            assert!(
                d.file.starts_with(&format!("fixtures/{case}/")),
                "fixture `{case}`: diagnostic names another file: {d}"
            );
            assert!(d.line >= 1 && d.column >= 1, "fixture `{case}`: no position: {d}");
        }
        insta::assert_snapshot!(case.as_str(), render(&diagnostics));
    }
}

/// All mistakes are reported in one run, not one per build.
#[test]
fn many_mistakes_are_reported_at_once() {
    let diagnostics = run("many_mistakes").expect_err("many_mistakes must fail");
    let rules: BTreeSet<&str> = diagnostics.iter().map(|d| d.rule).collect();
    assert!(rules.len() >= 5, "expected at least 5 different rules broken at once, got {rules:?}");
    let lines: BTreeSet<usize> =
        diagnostics.iter().filter(|d| d.file.ends_with(METADATA_FILE)).map(|d| d.line).collect();
    assert!(lines.len() >= 5, "expected mistakes on at least 5 lines, got {lines:?}");
}

#[test]
fn valid_fixture_generates_code() {
    for case in VALID {
        let generated =
            run(case).unwrap_or_else(|d| panic!("fixture `{case}` should generate:\n{}", render(&d)));
        assert_eq!(
            generated.files,
            ["files/entrypoint.sh", "templates/builder.Dockerfile.j2", "templates/setup.Dockerfile.j2"],
            "files to watch for `rerun-if-changed`"
        );
        insta::assert_snapshot!(format!("{case}_generated"), generated.code);
    }
}

/// Generated code does not depend on the path it is given (no machine-specific output).
#[test]
fn generated_code_is_independent_of_the_path() {
    let dir = fixtures_dir().join("valid");
    let text = fs::read_to_string(dir.join(METADATA_FILE)).unwrap();
    let load = |rel: &str, _limit: u64| fs::read(dir.join(rel)).map_err(|e| e.to_string());
    let a =
        generate(&Input { path: "a/extension.toml", text: &text, load: &load }, "quarry-ext-demo").unwrap();
    let b =
        generate(&Input { path: "/elsewhere/b/extension.toml", text: &text, load: &load }, "quarry-ext-demo")
            .unwrap();
    assert_eq!(a.code, b.code);
}

/// Metadata with two mistakes, for the end-to-end build.
const E2E_METADATA: &str = r#"name = "demo"
description = "An extension whose metadata has two mistakes"
cache_priority = 150
apt_packages = ["curl", "Foo_Bar"]
"#;

/// The diagnostics of [`E2E_METADATA`] reach the user through `cargo build`, and fail it.
///
/// The throwaway workspace lives under the system temp folder with a fixed name, so reruns reuse
/// its target folder and only rebuild the build script's inputs.
#[test]
fn cargo_build_reports_every_diagnostic() {
    let codegen = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = codegen.parent().expect("codegen is inside the workspace");
    let core = root.join("core");
    let tmp = std::env::temp_dir().join("quarry-codegen-e2e");
    let krate = tmp.join("extensions").join("demo");
    fs::create_dir_all(krate.join("src")).unwrap();

    write_if_changed(
        &tmp.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"extensions/demo\"]\n",
    );
    // Same dependency versions as the workspace, so `--offline` finds them all in the cache.
    write_if_changed(&tmp.join("Cargo.lock"), &fs::read_to_string(root.join("Cargo.lock")).unwrap());
    write_if_changed(
        &krate.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"quarry-ext-demo\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\nquarry-core = {{ path = {core:?} }}\n\n\
             [build-dependencies]\nquarry-codegen = {{ path = {codegen:?} }}\n",
            core = core.display().to_string(),
            codegen = codegen.display().to_string(),
        ),
    );
    write_if_changed(&krate.join("build.rs"), "fn main() {\n    quarry_codegen::build_script();\n}\n");
    write_if_changed(
        &krate.join("src").join("lib.rs"),
        "include!(concat!(env!(\"OUT_DIR\"), \"/extension.rs\"));\n",
    );
    write_if_changed(&krate.join(METADATA_FILE), E2E_METADATA);

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "-p", "quarry-ext-demo"])
        .current_dir(&tmp)
        .env("CARGO_TARGET_DIR", tmp.join("target"))
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build must fail; stderr:\n{stderr}");
    for expected in [
        "extensions/demo/extension.toml:3:18: `cache_priority`: cache priority 150 is out of range",
        "[rule: priority-range]",
        "extensions/demo/extension.toml:4:25: `apt_packages`: \"Foo_Bar\" is not a Debian package name",
        "[rule: apt-package]",
    ] {
        assert!(stderr.contains(expected), "stderr lacks {expected:?}:\n{stderr}");
    }
}

/// Writes `contents` unless the file already holds them, so cargo's fingerprints stay fresh.
fn write_if_changed(path: &Path, contents: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(contents) {
        fs::write(path, contents).unwrap();
    }
}

/// An unterminated string makes every later line a syntax error: the first ten are reported,
/// then how many more, in linear time (each error's line used to cost a scan of the text: 300,000
/// lines ran for minutes).
#[test]
fn an_unterminated_string_is_reported_at_once() {
    let text = format!("name = \"x\"\ndescription = \"{}", "x\n".repeat(300_000));
    let load = |rel: &str, _limit: u64| Err(format!("`{rel}` does not exist"));
    let started = std::time::Instant::now();
    let diagnostics =
        generate(&Input { path: "x/extension.toml", text: &text, load: &load }, "quarry-ext-demo")
            .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(diagnostics.len(), 11, "{}", render(&diagnostics));
    assert!(diagnostics[10].message.starts_with("and 299"), "{}", diagnostics[10]);
    assert!(diagnostics.iter().all(|d| d.rule == "toml-syntax"));
}
