//! What a change to a project costs, at render level, on the real catalog: a ROS + Rust + Node
//! developer image of ten everyday extensions on `ubuntu:24.04`, rendered with its lock's chain
//! order as `quarry.lock` keeps it, then changed the ways users change it. `quarry explain`'s
//! model of BuildKit on the containerd image store (checked against the engine in
//! `explain_engine.rs`) says which steps of the new render run again.
//!
//! The promise: adding, bumping or removing an extension re-runs no step that existed before,
//! apart from the steps of the changed extension itself and, when an extension with steps in the
//! final stage's RUN chain is removed, the chain steps that followed it. A linked copy whose
//! parent layers changed is cached as a copy and only merged again (the engine prints the merge as
//! done, and `explain` counts it so): that merge is cheap, and counts as kept here, as in the
//! cache benchmark.

use std::collections::BTreeMap;

use quarry_buildkit::explain::{self, Explanation, Options, Side, StepReport, Store};
use quarry_core::{Registry, Rendered, Request, Selection, registry};

/// The project, in the order a person lists it.
const PROJECT: [&str; 10] =
    ["ros_jazzy", "cargo", "npm", "pixi", "lazygit", "git", "locales", "ccache", "uv", "user"];

fn reg() -> &'static Registry {
    // Names every extension crate, so the linker keeps their registrations.
    assert!(!quarry_catalog::LINKED.is_empty());
    registry().expect("no duplicate registrations")
}

fn request(names: &[&str], versions: &[(&str, &str)], previous: Option<&Rendered>) -> Request {
    Request {
        image: "ubuntu:24.04".to_owned(),
        extensions: names
            .iter()
            .map(|n| {
                let mut s = Selection::new(*n);
                for (ext, version) in versions {
                    if ext == n {
                        s = s.with_option("version", *version);
                    }
                }
                s
            })
            .collect(),
        locked_order: previous
            .map(|p| p.resolved.extensions.iter().map(|r| r.extension.name.to_owned()).collect()),
        ..Request::default()
    }
}

fn render(req: &Request) -> Rendered {
    quarry_core::render(reg(), req).unwrap_or_else(|e| panic!("{e}"))
}

fn files(r: &Rendered) -> BTreeMap<String, Vec<u8>> {
    r.files.iter().map(|f| (f.path.clone(), f.contents.to_vec())).collect()
}

fn explain(old: &Rendered, new: &Rendered) -> Explanation {
    let (before, after) = (files(old), files(new));
    let changed = after.iter().filter(|(p, c)| before.get(*p) != Some(*c)).map(|(p, _)| p.clone()).collect();
    let options = Options { store: Store::Containerd, changed_context: changed, ..Options::default() };
    fn side<'a>(r: &'a Rendered, origin: &str) -> Side<'a> {
        Side { text: &r.dockerfile, origin: origin.to_owned(), build_args: BTreeMap::new() }
    }
    explain::explain(&side(old, "old"), &side(new, "new"), &options).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the step really runs again: not reused, and not a linked copy that is only merged.
fn ran(s: &StepReport) -> bool {
    !s.reused && !s.linked_copy_cached
}

/// The steps that run again and are not `changed`'s own.
fn others_rerun(e: &Explanation, changed: &str) -> Vec<String> {
    e.steps
        .iter()
        .filter(|s| ran(s) && s.extension.as_deref() != Some(changed))
        .map(|s| format!("[{} {}/{}] {:?} {}", s.stage, s.position, s.stage_steps, s.reason, s.text))
        .collect()
}

fn base() -> Rendered {
    render(&request(&PROJECT, &[], None))
}

/// Adds `name` at `at` in the user's list.
fn added(name: &str, at: usize) -> (Rendered, Rendered) {
    let old = base();
    let mut names = PROJECT.to_vec();
    names.insert(at, name);
    let new = render(&request(&names, &[], Some(&old)));
    (old, new)
}

#[test]
fn adding_a_builder_only_extension_reruns_nothing_that_was_there() {
    let (old, new) = added("fzf", 3);
    let e = explain(&old, &new);
    assert_eq!(others_rerun(&e, "fzf"), Vec::<String>::new(), "{}", new.dockerfile);
    assert!(e.steps.iter().any(|s| s.extension.as_deref() == Some("fzf") && ran(s)));
}

#[test]
fn adding_an_apt_only_extension_reruns_nothing_that_was_there() {
    let (old, new) = added("jquery", 0);
    let e = explain(&old, &new);
    assert_eq!(others_rerun(&e, "jquery"), Vec::<String>::new(), "{}", new.dockerfile);
    // jq (priority 70) would sort before locales' setup (90 > 70 > ...) without the lock: the
    // lock puts it after every step of the chain.
    let chain_end = new.dockerfile.find("COPY --link quarry/_root/").unwrap();
    let jq = new.dockerfile.find("# jquery: apt packages").unwrap();
    let user = new.dockerfile.find("# user: setup").unwrap();
    assert!(user < jq && jq < chain_end, "{}", new.dockerfile);
}

#[test]
fn adding_an_apt_and_setup_extension_reruns_nothing_that_was_there() {
    let (old, new) = added("tzdata", 5);
    let e = explain(&old, &new);
    assert_eq!(others_rerun(&e, "tzdata"), Vec::<String>::new(), "{}", new.dockerfile);
    let rerun: Vec<&str> = e.steps.iter().filter(|s| ran(s)).map(|s| s.instruction.as_str()).collect();
    assert_eq!(rerun, ["RUN", "RUN"], "its apt layer and its setup step, nothing else");
}

#[test]
fn without_the_lock_the_same_addition_shifts_the_chain() {
    let old = base();
    let mut names = PROJECT.to_vec();
    names.insert(5, "tzdata");
    let new = render(&request(&names, &[], None));
    assert!(!others_rerun(&explain(&old, &new), "tzdata").is_empty(), "the test must be able to fail");
}

#[test]
fn bumping_a_version_reruns_only_that_extension() {
    for (name, version) in [("npm", "24.12.0"), ("lazygit", "0.67.0")] {
        let old = base();
        let new = render(&request(&PROJECT, &[(name, version)], Some(&old)));
        let e = explain(&old, &new);
        assert_eq!(others_rerun(&e, name), Vec::<String>::new(), "{name}: {}", new.dockerfile);
        assert!(e.steps.iter().any(ran), "{name}: the bump changes something");
    }
}

/// Within the bumped extension too, nothing runs again that does not use the version: every step
/// that runs is one whose own text changed (the download, with the version in its URL) or a copy
/// of what such a step produced. npm's configuration used to be a builder step after its
/// download, and ran again with every bump.
#[test]
fn a_bump_reruns_only_the_steps_that_use_the_version() {
    use quarry_buildkit::explain::Reason;
    for (name, version) in [("npm", "24.12.0"), ("lazygit", "0.67.0")] {
        let old = base();
        let new = render(&request(&PROJECT, &[(name, version)], Some(&old)));
        let e = explain(&old, &new);
        let rerun: Vec<String> = e
            .steps
            .iter()
            .filter(|s| ran(s))
            .map(|s| format!("{} {:?} {}", s.instruction, s.reason, s.text))
            .collect();
        for (s, shown) in e.steps.iter().filter(|s| ran(s)).zip(&rerun) {
            assert!(
                matches!(s.reason, Reason::InstructionChanged | Reason::CopiedStageChanged),
                "{name}: {shown} does not use the version, yet runs again: {rerun:#?}"
            );
        }
        assert_eq!(rerun.len(), 2, "{name}: the download and the copy of its output: {rerun:#?}");
    }
}

#[test]
fn removing_a_builder_only_extension_reruns_nothing() {
    let old = base();
    let names: Vec<&str> = PROJECT.iter().copied().filter(|n| *n != "pixi").collect();
    let new = render(&request(&names, &[], Some(&old)));
    let e = explain(&old, &new);
    assert_eq!(others_rerun(&e, "pixi"), Vec::<String>::new(), "{}", new.dockerfile);
    assert!(!e.steps.iter().any(ran));
}

#[test]
fn removing_a_chain_extension_reruns_only_the_chain_steps_after_it() {
    let old = base();
    let names: Vec<&str> = PROJECT.iter().copied().filter(|n| *n != "locales").collect();
    let new = render(&request(&names, &[], Some(&old)));
    let e = explain(&old, &new);
    let chain_end =
        new.dockerfile[..new.dockerfile.find("COPY --link quarry/_root/").unwrap()].lines().count();
    // Where locales' steps were: the first step of the new chain that the old one did not have
    // at that position.
    let first_rerun = e.steps.iter().find(|s| ran(s)).map(|s| s.line).unwrap_or(usize::MAX);
    for s in e.steps.iter().filter(|s| ran(s)) {
        assert!(
            s.stage == "quarry_final"
                && s.instruction == "RUN"
                && s.line >= first_rerun
                && s.line <= chain_end,
            "only chain followers of the removed extension may run again, not {s:?}"
        );
    }
    let old_locales = old.dockerfile.find("# locales: apt packages").unwrap();
    let followers = old.dockerfile[old_locales..].matches("\nRUN ").count();
    let rerun = e.steps.iter().filter(|s| ran(s)).count();
    assert!(rerun <= followers, "{rerun} re-run, {followers} followed locales");
    // Nothing before the removed extension's place runs again: locales (priority 90) followed
    // curl and git in the chain.
    for s in e.steps.iter().filter(|s| matches!(s.extension.as_deref(), Some("curl" | "git"))) {
        assert!(!ran(s), "{s:?}");
    }
}

#[test]
fn reordering_the_list_changes_nothing() {
    let old = base();
    let mut names = PROJECT.to_vec();
    names.reverse();
    let new = render(&request(&names, &[], Some(&old)));
    assert_eq!(old.dockerfile, new.dockerfile);
    assert_eq!(old.files, new.files);
}

/// `ros_workspace`'s cache key is the workspace's package.xml files: a source file never reaches
/// the build, so editing one changes nothing; editing a package.xml re-runs the rosdep step
/// alone (it is last in the chain), through its bind mount of the collected files.
#[test]
fn a_ros_workspace_reruns_only_rosdep_and_only_for_a_package_xml() {
    let with = |xml: &str| {
        let mut req = request(&["ros", "ros_workspace"], &[], None);
        req.extensions[1].options.insert("path".into(), "/ws".into());
        req.project_files.insert(
            "ros_workspace".into(),
            vec![
                quarry_core::ProjectFile {
                    path: "src/a/package.xml".into(),
                    contents: xml.as_bytes().to_vec(),
                },
                quarry_core::ProjectFile {
                    path: "src/b/package.xml".into(),
                    contents: b"<package/>".to_vec(),
                },
            ],
        );
        req
    };
    let old = render(&with("<package><depend>eigen</depend></package>"));
    assert!(old.files.iter().any(|f| f.path == "quarry/ros_workspace/project/src/a/package.xml"));
    assert!(old.dockerfile.contains(
        "RUN --mount=type=bind,source=quarry/ros_workspace/project,target=/tmp/quarry-ros-workspace \\\n    --mount=type=ssh"
    ));
    // A source file is not part of the request at all: the same render, nothing runs.
    let same = render(&with("<package><depend>eigen</depend></package>"));
    assert_eq!(same.dockerfile, old.dockerfile);
    assert!(explain(&old, &same).steps.iter().all(|s| !ran(s)));
    // A package.xml changes: the rosdep step, and nothing else.
    let new = render(&with("<package><depend>eigen</depend><depend>fmt</depend></package>"));
    let e = explain(&old, &new);
    let rerun: Vec<&StepReport> = e.steps.iter().filter(|s| ran(s)).collect();
    assert_eq!(rerun.len(), 1, "{rerun:#?}");
    assert_eq!(rerun[0].extension.as_deref(), Some("ros_workspace"), "{rerun:#?}");
    assert!(rerun[0].text.contains("source=quarry/ros_workspace/project"), "{:?}", rerun[0].text);
}
