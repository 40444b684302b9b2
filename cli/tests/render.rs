//! Rendering with the real extension catalog: snapshots are the spec of the output; the other
//! tests hold the invariants (order independence, builders independent of the final image, the
//! registry equal to the `extensions/` folder).

use std::collections::BTreeSet;
use std::path::Path;

use quarry_cli::config::{EXAMPLE, request_from_text};
use quarry_core::{EngineLevel, Registry, Request, Selection, registry};

const FIVE: [&str; 5] = ["cargo", "npm", "pixi", "palanteer", "ros_jazzy"];

fn reg() -> &'static Registry {
    registry().expect("no duplicate registrations")
}

fn request(image: &str, names: &[&str]) -> Request {
    Request {
        image: image.to_owned(),
        extensions: names.iter().map(|n| Selection::new(*n)).collect(),
        ..Request::default()
    }
}

fn render(req: &Request) -> String {
    quarry_core::render(reg(), req).unwrap_or_else(|e| panic!("{e}")).dockerfile
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli is inside the workspace")
}

#[test]
fn registry_equals_the_extensions_folder() {
    let folders: BTreeSet<String> = std::fs::read_dir(workspace().join("extensions"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let registered: BTreeSet<String> = reg().names().map(str::to_owned).collect();
    assert_eq!(registered, folders, "every folder of extensions/ must be linked into the binary");
    let linked: BTreeSet<String> = quarry_cli::LINKED.iter().map(|e| e.name.to_owned()).collect();
    assert_eq!(linked, folders);
    for ext in reg().iter() {
        assert_eq!(ext.crate_name, format!("quarry-ext-{}", ext.name.replace('_', "-")));
    }
}

#[test]
fn extension_flags_do_not_collide() {
    let flags = quarry_cli::args::extension_flags(reg()).unwrap();
    assert!(flags.iter().any(|f| f.long == "ros-jazzy"));
    assert!(flags.iter().any(|f| f.long == "cargo-version" && f.option == Some("version")));
}

#[test]
fn every_dependency_is_registered() {
    for ext in reg().iter() {
        for dep in ext.depends_on {
            assert!(reg().get(dep).is_some(), "`{}` depends on unknown `{dep}`", ext.name);
        }
    }
}

/// A valid value for a required option, by rule.
fn sample(rule: quarry_core::Rule) -> &'static str {
    match rule {
        quarry_core::Rule::Port => "8080:80",
        quarry_core::Rule::Uint => "1",
        quarry_core::Rule::Size => "1g",
        quarry_core::Rule::AbsPath => "/data",
        _ => "sample",
    }
}

#[test]
fn each_extension_alone() {
    for ext in reg().iter() {
        let mut req = request("ubuntu:24.04", &[ext.name]);
        for option in ext.options.iter().filter(|o| o.required) {
            req.extensions[0].options.insert(option.name.to_owned(), sample(option.rule).to_owned());
        }
        let out = render(&req);
        insta::assert_snapshot!(format!("alone_{}", ext.name), out);
    }
}

#[test]
fn the_five_together() {
    let mut names = FIVE.to_vec();
    names.push("user");
    insta::assert_snapshot!("five_and_user", render(&request("ubuntu:24.04", &names)));
}

#[test]
fn the_example_configuration() {
    let example = request_from_text(reg(), EXAMPLE, Path::new("example.quarry.toml")).unwrap();
    let out = render(&example);
    assert_eq!(
        out,
        render(&{
            let mut n = FIVE.to_vec();
            n.push("user");
            let mut r = request("ubuntu:24.04", &n);
            r.extensions
                .iter_mut()
                .find(|s| s.name == "cargo")
                .unwrap()
                .options
                .insert("version".into(), "1.95.0".into());
            r.extensions
                .iter_mut()
                .find(|s| s.name == "ros_jazzy")
                .unwrap()
                .options
                .insert("variant".into(), "ros-base".into());
            r
        })
    );
}

#[test]
fn legacy_engine_has_no_linked_copies() {
    let mut req = request("ubuntu:24.04", &FIVE);
    req.engine = EngineLevel::Legacy;
    let out = render(&req);
    assert!(!out.contains("--link"));
    assert_eq!(out.replace("COPY ", "COPY --link "), render(&request("ubuntu:24.04", &FIVE)));
}

/// Every permutation of six extensions (720) renders the same bytes.
#[test]
fn output_does_not_depend_on_the_order_given() {
    let mut names: Vec<&str> = FIVE.to_vec();
    names.push("user");
    let expected = render(&request("ubuntu:24.04", &names));
    let mut count = 0;
    permute(&mut names, 0, &mut |p| {
        count += 1;
        assert_eq!(render(&request("ubuntu:24.04", p)), expected, "order {p:?}");
    });
    assert_eq!(count, 720);
}

fn permute<'a>(items: &mut Vec<&'a str>, k: usize, f: &mut impl FnMut(&[&'a str])) {
    if k == items.len() {
        f(items);
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permute(items, k + 1, f);
        items.swap(k, i);
    }
}

/// The registry sorts what `inventory` yields: any link order gives the same output.
#[test]
fn output_does_not_depend_on_link_order() {
    let names: Vec<&str> = FIVE.to_vec();
    let expected = render(&request("ubuntu:24.04", &names));
    let mut linked: Vec<&'static quarry_core::Extension> = quarry_cli::LINKED.to_vec();
    for rotation in 0..linked.len() {
        linked.rotate_left(1);
        let mut shuffled = linked.clone();
        if rotation % 2 == 1 {
            shuffled.reverse();
        }
        let other = Registry::from_extensions(shuffled).unwrap();
        assert_eq!(
            quarry_core::render(&other, &request("ubuntu:24.04", &names)).unwrap().dockerfile,
            expected
        );
    }
}

/// Everything before the final stage: the builder stages.
fn builder_part(dockerfile: &str) -> &str {
    let at = dockerfile.find("\nFROM ").expect("has stages");
    let end = dockerfile.find(" AS quarry_final\n").expect("has a final stage");
    let end = dockerfile[..end].rfind("\nFROM ").unwrap();
    &dockerfile[at..end]
}

#[test]
fn changing_the_final_image_changes_no_builder_line() {
    let base = render(&request("ubuntu:24.04", &FIVE));
    assert!(builder_part(&base).contains("AS palanteer_builder"));
    for image in ["debian:trixie", "ubuntu:22.04", "registry.example.com/team/dev:1"] {
        let other = render(&request(image, &FIVE));
        assert_eq!(builder_part(&other), builder_part(&base), "final image {image}");
        assert_ne!(other, base);
    }
}

#[test]
fn builder_base_overrides() {
    let mut req = request("ubuntu:24.04", &["cargo", "npm"]);
    req.builder_base_image = Some("debian:bookworm".to_owned());
    let out = render(&req);
    assert!(out.contains("FROM debian:bookworm AS cargo_builder\n"));
    assert!(out.contains("FROM debian:bookworm AS npm_builder\n"));
    assert!(!out.contains("ubuntu:22.04"));
    req.overrides.insert(
        "npm".to_owned(),
        quarry_core::Override {
            builder_base_image: Some("debian:trixie".to_owned()),
            cache_priority: Some(99),
        },
    );
    let out = render(&req);
    assert!(out.contains("FROM debian:trixie AS npm_builder\n"));
    assert!(out.contains("FROM debian:bookworm AS cargo_builder\n"));
    // npm (99 now) outranks cargo (60): its copies and environment come first.
    let npm_env = out.find("# npm: environment").unwrap();
    let cargo_env = out.find("# cargo: environment").unwrap();
    assert!(npm_env < cargo_env);
}

#[test]
fn ros_on_another_image_is_flagged() {
    let rendered = quarry_core::render(reg(), &request("debian:bookworm", &["ros_jazzy"])).unwrap();
    assert_eq!(rendered.warnings.len(), 1);
    assert!(
        rendered.warnings[0]
            .starts_with("extension `ros_jazzy` needs one of the final images `ubuntu:24.04`")
    );
    let ok = quarry_core::render(reg(), &request("docker.io/library/ubuntu:noble", &["ros_jazzy"])).unwrap();
    assert!(ok.warnings.is_empty());
}

#[test]
fn no_syntax_directive_and_one_cache_arg_per_stage() {
    let out = render(&request("ubuntu:24.04", &FIVE));
    assert!(!out.to_lowercase().contains("# syntax"));
    for stage in out.split("\nFROM ").skip(1) {
        let uses = stage.contains("${CACHE_ID}");
        let declared = stage.matches("\nARG CACHE_ID\n").count();
        assert_eq!(declared, usize::from(uses), "stage {}", stage.lines().next().unwrap());
        if uses {
            // Declared as late as possible: the very next instruction uses it.
            let arg = stage.find("\nARG CACHE_ID\n").unwrap();
            let next = &stage[arg + "\nARG CACHE_ID\n".len()..];
            assert!(next.lines().next().unwrap().contains("${CACHE_ID}"), "{next}");
        }
    }
    for id in out.match_indices("id=").map(|(i, _)| &out[i..]) {
        let id = id.split([',', ' ']).next().unwrap();
        assert!(id.ends_with("-${CACHE_ID}"), "{id}");
    }
}

/// The full command, with every generated flag, passes clap's own consistency checks.
#[test]
fn generated_command_is_consistent() {
    quarry_cli::args::command(reg()).unwrap().debug_assert();
}

/// Every extension that needs no option value, together: the same bytes in any order.
#[test]
fn the_whole_catalog_renders_deterministically() {
    let names: Vec<&str> =
        reg().iter().filter(|e| e.options.iter().all(|o| !o.required)).map(|e| e.name).collect();
    assert!(names.len() >= 25, "{names:?}");
    let expected = render(&request("ubuntu:24.04", &names));
    let mut shuffled = names.clone();
    // A fixed sequence of rotations and reversals: deterministic, yet every position moves.
    for round in 0..12 {
        shuffled.rotate_left(round * 7 % names.len() + 1);
        if round % 3 == 0 {
            shuffled.reverse();
        }
        assert_eq!(render(&request("ubuntu:24.04", &shuffled)), expected, "order {shuffled:?}");
    }
    insta::assert_snapshot!("whole_catalog", expected);
}

/// Builder bases whose names differ only in punctuation (`ubuntu:22.04`, `ubuntu_22.04`) no longer
/// meet in one stage name: each builder starts from its own image, under its own stage.
#[test]
fn builder_bases_never_share_a_stage_name() {
    let mut req = request("ubuntu:24.04", &["cargo", "npm"]);
    for (name, image) in [("cargo", "ubuntu:22.04"), ("npm", "ubuntu_22.04")] {
        req.overrides.insert(
            name.to_owned(),
            quarry_core::Override { builder_base_image: Some(image.to_owned()), cache_priority: None },
        );
    }
    let out = render(&req);
    assert!(out.contains("FROM ubuntu:22.04 AS cargo_builder\n"), "{out}");
    assert!(out.contains("FROM ubuntu_22.04 AS npm_builder\n"), "{out}");
    let stages: Vec<&str> = out.lines().filter_map(|l| l.split(" AS ").nth(1)).collect();
    let unique: BTreeSet<&str> = stages.iter().copied().collect();
    assert_eq!(stages.len(), unique.len(), "stage names are unique: {stages:?}");
}
