//! Declared downloads (`[[builder.downloads]]`) on a real engine: core's verified step is built
//! against fake releases served over HTTP from this machine, one good and two tampered with (one
//! per checksum format). The tampered ones must fail the build at `sha256sum -c`.
//!
//! The fake releases are served by `python3 -m http.server` on the engine's bridge address, which
//! RUN steps reach. Real extensions may only use https URLs; this test's hand-written extension
//! sets `insecure_http_for_tests`, which codegen never emits.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{TestEngine, scratch, stderr, stdout, token};
use quarry_core::{
    Arch, ArchUrl, Artifact, Builder, BuilderFrom, ChecksumFormat, Download, Extension, Extract, OptionSpec,
    Registry, Request, Rule, Selection, Template, Verify,
};
use quarry_docker::context::write_context;

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

/// `<root>/v<version>/<name>-<version>.tar.gz`, holding `<name>-<version>/<name>`: a script that
/// prints `<name> <version> <marker>`.
fn archive(root: &Path, name: &str, version: &str, marker: &str) -> std::path::PathBuf {
    let work = root.join(format!("src-{name}-{version}-{marker}"));
    let top = work.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&top).unwrap();
    let script = top.join(name);
    let mut f = std::fs::File::create(&script).unwrap();
    writeln!(f, "#!/bin/sh\necho {name} {version} {marker}").unwrap();
    drop(f);
    let dir = root.join(format!("v{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}-{version}.tar.gz"));
    let status = Command::new("tar")
        .args(["-czf"])
        .arg(&file)
        .arg("-C")
        .arg(&work)
        .args(["--owner=0", "--group=0", &format!("{name}-{version}")])
        .status()
        .unwrap();
    assert!(status.success());
    file
}

/// Writes the releases: for each version, `tool` (with `tool-<v>.tar.gz.sha256`, hash alone)
/// and `other` (listed in `SHASUMS256.txt`, sha256sum format). 1.0.0 is genuine; in 6.6.6 the
/// `tool` archive was replaced after its checksum was published, in 7.7.7 the `other` one.
fn releases(root: &Path) {
    for version in ["1.0.0", "6.6.6", "7.7.7"] {
        let tool = archive(root, "tool", version, "genuine");
        let other = archive(root, "other", version, "genuine");
        let dir = root.join(format!("v{version}"));
        std::fs::write(dir.join(format!("tool-{version}.tar.gz.sha256")), format!("{}\n", sha256(&tool)))
            .unwrap();
        std::fs::write(
            dir.join("SHASUMS256.txt"),
            format!("{}  unrelated.tar.gz\n{}  other-{version}.tar.gz\n", "0".repeat(64), sha256(&other)),
        )
        .unwrap();
        match version {
            "6.6.6" => {
                archive(root, "tool", version, "tampered");
            }
            "7.7.7" => {
                archive(root, "other", version, "tampered");
            }
            _ => {}
        }
    }
}

fn extension(base: &str) -> Extension {
    let url = |path: &str| -> &'static [ArchUrl] {
        let u = leak_str(format!("{base}/v{{{{ options.version }}}}/{path}"));
        leak([ArchUrl { arch: Arch::Amd64, url: u }, ArchUrl { arch: Arch::Arm64, url: u }])
    };
    let tool = Download {
        name: "tool",
        urls: url("tool-{{ options.version }}.tar.gz"),
        verify: Verify::ChecksumFile {
            urls: url("tool-{{ options.version }}.tar.gz.sha256"),
            format: ChecksumFormat::Hash,
        },
        extract: Extract::TarGz,
        members: &["*/tool"],
        strip_components: 1,
        dest: "bin",
        mode: "0755",
        check: Some("{{ out }}/bin/tool"),
        insecure_http_for_tests: true,
    };
    let other = Download {
        name: "other",
        urls: url("other-{{ options.version }}.tar.gz"),
        verify: Verify::ChecksumFile { urls: url("SHASUMS256.txt"), format: ChecksumFormat::Sha256sum },
        extract: Extract::TarGz,
        members: &["*/other"],
        strip_components: 1,
        dest: "bin",
        mode: "0755",
        check: Some("{{ out }}/bin/other"),
        insecure_http_for_tests: true,
    };
    Extension {
        name: "fake_release",
        crate_name: "engine-downloads-test",
        description: "downloads fake releases from a local server",
        builder_base_image: Some("debian:bookworm"),
        builder: Some(Builder {
            from: BuilderFrom::BaseImage,
            apt_packages: &["ca-certificates", "curl"],
            downloads: leak([tool, other]),
            template: Template { file: "builder", source: "" },
            artifacts: &[Artifact { source: "/opt/quarry/fake_release/bin", dest: "/usr/local/bin" }],
        }),
        options: leak([OptionSpec::new("version", "v", "1.0.0", Rule::Version)]),
        ..Extension::EMPTY
    }
}

/// Builds `version` of the fake release; returns the build's output, whatever its outcome.
fn build(engine: &TestEngine, registry: &Registry, dir: &Path, version: &str, tag: &str) -> Output {
    let request = Request {
        image: "debian:bookworm".into(),
        extensions: vec![Selection::new("fake_release").with_option("version", version)],
        ..Request::default()
    };
    let rendered = quarry_core::render(registry, &request).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    write_context(dir, &rendered).unwrap();
    engine.build_context(dir, tag, "downloads", false).output
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn a_tampered_download_fails_the_build_and_a_genuine_one_is_installed() {
    let engine = TestEngine::get("MODERN");
    let root = scratch("downloads");
    let site = root.join("site");
    releases(&site);

    // The engine's bridge gateway is this machine, as RUN steps see it.
    let server = engine.serve(&site);
    let registry = Registry::from_extensions([leak(extension(&server.url))]).unwrap();
    let unique = token();

    // Genuine: both verified, installed, and their checks ran.
    let tag = format!("quarry-test/downloads:{unique}");
    let good = build(&engine, &registry, &root.join("ctx-good"), "1.0.0", &tag);
    let text = stderr(&good);
    assert!(good.status.success(), "the genuine release failed to build:\n{text}");
    assert_eq!(text.matches("/download: OK").count(), 2, "both downloads verified:\n{text}");
    let run =
        engine.docker(&["run", "--rm", &tag, "sh", "-c", "tool && other && stat -c %a /usr/local/bin/tool"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(stdout(&run), "tool 1.0.0 genuine\nother 1.0.0 genuine\n755\n");
    let _ = engine.docker(&["rmi", &tag]);

    // Tampered (6.6.6: `tool`, hash file; 7.7.7: `other`, checksum list): the build stops at
    // the check, before extracting.
    for (version, name) in [("6.6.6", "tool"), ("7.7.7", "other")] {
        let tag = format!("quarry-test/downloads-{version}:{unique}");
        let bad = build(&engine, &registry, &root.join(format!("ctx-{version}")), version, &tag);
        let text = stderr(&bad);
        assert!(!bad.status.success(), "the tampered {name} of {version} was built:\n{text}");
        assert!(text.contains("/download: FAILED"), "{name}: sha256sum rejected it:\n{text}");
        let failed = text.lines().find(|l| l.contains("did not complete successfully")).unwrap_or_default();
        assert!(
            failed.contains(&format!("{name}-{version}.tar.gz")),
            "the failing step is the {name} download:\n{text}"
        );
        assert!(
            !text.contains(&format!("{name} {version} tampered")),
            "the tampered {name} never ran:\n{text}"
        );
    }
    std::fs::remove_dir_all(root).unwrap();
}
