//! A valid hand-written registration compiles and is found in the registry.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo_tool",
        crate_name: "quarry-ui-pass",
        description: "A demo tool built from source",
        depends_on: &["curl"],
        cache_priority: quarry_core::CachePriority::of(100),
        builder_base_image: Some("ghcr.io/example/builder:1.0"),
        apt_packages: &["libssl3", "demo-{{ options.flavor }}"],
        apt_repositories: &[quarry_core::AptRepository {
            name: "demo_repo",
            key_url: "https://example.org/key.asc",
            source: "deb [signed-by={{ keyring }}] https://example.org/apt {{ codename }} main",
            arch_sources: &[],
            key_fingerprints: &["C1CF6E31E6BADE8868B172B4F42ED6FBAB17C654"],
        }],
        builder: Some(quarry_core::Builder {
            from: quarry_core::BuilderFrom::BaseImage,
            apt_packages: &["build-essential"], downloads: &[],
            template: quarry_core::Template { file: "templates/builder.j2", source: "RUN make\n" },
            artifacts: &[quarry_core::Artifact {
                source: "/opt/quarry/demo_tool/bin/demo",
                dest: "/usr/local/bin/demo",
            }],
        }),
        options: &[
            quarry_core::OptionSpec {
                name: "version",
                description: "Release",
                default: "1.2.3",
                rule: quarry_core::Rule::Version,
                required: false,
                from_host: None,
                multiple: false,
                aliases: &[],
            },
            quarry_core::OptionSpec {
                name: "flavor",
                description: "Package flavour",
                default: "full",
                rule: quarry_core::Rule::OneOf(&["full", "lite"]),
                required: false,
                from_host: None,
                multiple: false,
                aliases: &[],
            },
        ],
        files: &[quarry_core::ContextFile { path: "files/run.sh", contents: b"#!/bin/sh\n", executable: true, dest: None }],
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {
    let registry = quarry_core::registry().expect("no duplicate registration");
    let found = registry.get("demo_tool").expect("the registration reaches the registry");
    assert!(std::ptr::eq(found, &EXTENSION));
    assert_eq!(registry.len(), 1);
}
