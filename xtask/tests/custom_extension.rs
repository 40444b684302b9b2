//! A third party's view: `examples/custom-extension` (a workspace outside quarry's, with an
//! extension crate and a binary linking it) builds, and its binary runs quarry's command line with
//! quarry's extensions and its own; an extension crate with mistakes in its metadata
//! (`examples/custom-extension/broken`) fails `cargo build` with quarry-codegen's diagnostics;
//! a crate scaffolded by `cargo xtask new-extension --dir` builds and passes its own tests.
//!
//! Everything builds `--offline` (the example's `Cargo.lock` pins the versions of quarry's own) into
//! one fixed target folder under the system temp folder, so reruns are incremental and the three
//! builds share what they can. Cold, the first build compiles quarry's dependencies once more.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the checkout").to_path_buf()
}

fn example() -> PathBuf {
    checkout().join("examples/custom-extension")
}

/// The fixed temp folder: `target/` is shared by every build of this file.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join("quarry-custom-extension");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cargo ARGS` in `dir`, into the shared target folder.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
    Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scratch().join("target"))
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env("CARGO_TERM_COLOR", "never")
        // No debug info: the builds link faster, and all three share one profile.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .output()
        .expect("cargo runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds the example once per test process (tests run in parallel; cargo's lock would serialize
/// them anyway) and returns the path of `my-quarry`.
fn my_quarry() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = cargo(&example(), &["build", "--offline"]);
            assert!(out.status.success(), "the example does not build:\n{}", text(&out.stderr));
            scratch().join("target/debug/my-quarry")
        })
        .clone()
}

/// Runs `my-quarry ARGS` in a folder without a `quarry.toml`.
fn run_my_quarry(args: &[&str]) -> String {
    let out = Command::new(my_quarry()).args(args).current_dir(scratch()).output().expect("my-quarry runs");
    assert!(out.status.success(), "`my-quarry {}` failed:\n{}", args.join(" "), text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_example_binary_lists_quarrys_extensions_and_its_own() {
    let list = run_my_quarry(&["list"]);
    let names: Vec<&str> = list.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    for name in ["hello_tool", "cargo", "curl", "npm", "user"] {
        assert!(names.contains(&name), "`my-quarry list` lacks `{name}`:\n{list}");
    }
    let hello = list.lines().find(|l| l.starts_with("hello_tool ")).unwrap();
    assert!(hello.contains(" 40 ") && hello.contains("font=standard greeting=hello"), "{hello}");
}

#[test]
fn the_example_binary_renders_its_extension() {
    let dockerfile = run_my_quarry(&["render", "debian:bookworm", "--hello-tool"]);
    assert!(dockerfile.starts_with("# Rendered by quarry"), "{dockerfile}");
    assert!(dockerfile.contains("# Extensions: hello_tool\n"), "{dockerfile}");
    assert!(dockerfile.contains("\nFROM debian:bookworm AS quarry_final\n"), "{dockerfile}");
    let install = dockerfile
        .find("apt-get install -y --no-install-recommends \\\n      figlet\n")
        .unwrap_or_else(|| panic!("no figlet install:\n{dockerfile}"));
    let setup = dockerfile
        .find("\nRUN figlet -f standard hello > /etc/motd \\\n && cat /etc/motd\n")
        .unwrap_or_else(|| panic!("no setup step:\n{dockerfile}"));
    assert!(install < setup, "apt packages come before setup steps:\n{dockerfile}");

    // With one of quarry's own extensions and an option: curl (priority 95) comes first.
    let dockerfile = run_my_quarry(&["render", "debian:bookworm", "--hello-tool-greeting", "moin", "--curl"]);
    assert!(dockerfile.contains("# Extensions: curl, hello_tool\n"), "{dockerfile}");
    assert!(dockerfile.contains("RUN figlet -f standard moin > /etc/motd"), "{dockerfile}");
}

#[test]
fn the_example_extensions_own_tests_pass() {
    let out = cargo(&example(), &["test", "--offline", "-p", "hello-tool"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("test result: ok. 3 passed"), "{stdout}");
}

#[test]
fn metadata_mistakes_fail_the_build_with_diagnostics() {
    let out = cargo(&example().join("broken"), &["build", "--offline"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the broken crate must not build:\n{stderr}");
    // Both mistakes at once, each with file, line, column, key and rule.
    let lines: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("error: broken@0.1.0: ")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(
            "broken/extension.toml:9:11: `options.version.default`: the default \"1.0 beta\" fails the \
             option's own rule: expected a version such as `1.83.0`"
        ) && lines[0].ends_with(" [rule: option-default]"),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        "broken/templates/setup.Dockerfile.j2:2:14: `setup`: the template uses `options.versoin`, but there \
         is no option `versoin`: declare it under `[options]` [rule: template-variable]",
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_scaffolded_crate_builds_and_passes_its_tests() {
    let dir = scratch().join(format!("scaffold-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A name no extension is likely to take: the scaffold refuses the names of quarry's own.
    let krate = dir.join("xtask_scaffold_probe");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["new-extension", "xtask_scaffold_probe", "--dir"])
        .arg(&krate)
        .output()
        .expect("xtask runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The example's lock file: the same versions as the example, so `--offline` finds them.
    std::fs::copy(example().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let out = cargo(&krate, &["test", "--offline"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("test result: ok. 3 passed"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
