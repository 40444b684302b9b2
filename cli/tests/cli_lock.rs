//! quarry.lock as a user meets it: pins and their checks, every line checked, the chain order kept
//! until `--reorder`, and a user file that never changes the project's lock.

use std::path::PathBuf;

mod cli_support;

use cli_support::*;

/// quarry.lock is written next to quarry.toml, pins values the configuration leaves to
/// defaults, and `--locked` fails when the configuration moved away from it.
#[test]
fn the_lock_file_pins_and_guards() {
    let dir = scratch("lock");
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\"]\n").unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(
        "quarry.lock` does not match the configuration: there is none\nhint: run without --locked"
    ));
    let first = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    assert!(
        lock.contains("name = \"cargo\"")
            && lock.contains("version = \"1.95.0\"")
            && lock.contains("name = \"curl\""),
        "{lock}"
    );
    let again = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(first.stdout, again.stdout);

    // A lock from months ago pinned an older toolchain: it stays, whatever today's default.
    std::fs::write(dir.join("quarry.lock"), lock.replace("version = \"1.95.0\"", "version = \"1.80.0\""))
        .unwrap();
    let pinned = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(
        String::from_utf8_lossy(&pinned.stdout).contains("--default-toolchain 1.80.0;"),
        "{}",
        stderr(&pinned)
    );

    // The configuration changes: --locked refuses, a plain render updates the lock.
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\", \"git\"]\n")
        .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.lock` does not match the configuration: extension `git` would be added"),
        "{}",
        stderr(&o)
    );
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(dir.join("quarry.lock")).unwrap().contains("name = \"git\""));

    // A changed value names its extension.
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"cargo\", \"git\"]\n[options.cargo]\nversion = \"1.91.0\"\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert!(stderr(&o).contains("extension `cargo`: `options = {"), "{}", stderr(&o));
    assert!(stderr(&o).contains("would become `options = { profile = \"minimal\", version = \"1.91.0\" }`"));
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success());

    // A host value pinned by hand is ignored, with a warning, and never makes --locked fail.
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"user\"]\n").unwrap();
    assert!(quarry_in(&dir, "/nonexistent/config", &["render"]).status.success());
    let lock_user = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    std::fs::write(dir.join("quarry.lock"), lock_user.replace("shell = ", "uid = \"4242\", shell = "))
        .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pins `user.uid`, a value quarry takes from the host: it is ignored"),
        "{}",
        stderr(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("4242"));
    drop(lock);

    // A render that fails writes no lock.
    std::fs::remove_file(dir.join("quarry.lock")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "-o", "/nonexistent/dir/Dockerfile"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.join("quarry.lock").exists(), "a failed render must not write the lock");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A lock alone decides what a fresh runner writes: every line of it is checked, and each
/// mistake is an error naming quarry.lock with a hint, before anything is rendered.
#[test]
fn a_lock_is_checked_line_by_line() {
    let dir = scratch("lock-checked");
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\"]\n").unwrap();
    assert!(quarry_in(&dir, "/nonexistent/config", &["render"]).status.success());
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    let entries = &lock[lock.find("[[extension]]").unwrap()..];
    let user = "image_config = { entrypoint = [], cmd = [], user = \"app\\nLABEL x=1\" }\n";
    for (text, want) in [
        (
            lock.replace("version = 1\n", "version = 99\n"),
            "has format version 99, and this quarry reads version 1",
        ),
        (format!("{lock}\n{entries}"), "lists the extension `curl` twice"),
        (
            lock.replacen("\n[[extension]]", &format!("{user}\n[[extension]]"), 1),
            "`image_config.user` \"app\\nLABEL x=1\"",
        ),
        (
            lock.replace("version = \"1.95.0\"", "version = \"1 0\""),
            "pins `cargo.version` to a value this quarry refuses",
        ),
    ] {
        std::fs::write(dir.join("quarry.lock"), &text).unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
        assert_eq!(o.status.code(), Some(1), "{want}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with("error: `") && err.contains("quarry.lock`"), "{err}");
        assert!(err.contains(want) && err.contains("\nhint: "), "{err}");
        assert!(o.stdout.is_empty());
    }
    // Not UTF-8: named, with a hint.
    let mut bytes = lock.clone().into_bytes();
    bytes.extend_from_slice(b"\xff\xfe");
    std::fs::write(dir.join("quarry.lock"), bytes).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.lock` is not UTF-8 text\nhint: delete it; quarry writes a new one"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The chain only grows: an extension added later goes last in the lock and the Dockerfile, and
/// `quarry lock --reorder` returns to the canonical order, saying what that re-runs. A lock that
/// names an extension this quarry does not have gets a warning and is rewritten without it.
#[test]
fn the_lock_keeps_the_chain_order_until_reordered() {
    let dir = scratch("chain");
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\", \"ccache\"]\n",
    )
    .unwrap();
    assert!(quarry_in(&dir, "/nonexistent/config", &["lock"]).status.success());
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\", \"ccache\", \"tzdata\"]\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    // tzdata (priority 85) goes after ccache (70): it was added later.
    assert!(
        out.find("# ccache: apt packages").unwrap() < out.find("# tzdata: apt packages").unwrap(),
        "{out}"
    );

    let o = quarry_in(&dir, "/nonexistent/config", &["lock", "--reorder"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("canonical order: curl, git, tzdata, ccache\nthe next build runs "), "{text}");
    let o = quarry_in(&dir, "/nonexistent/config", &["render", "--locked"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.find("# tzdata: apt packages").unwrap() < out.find("# ccache: apt packages").unwrap(),
        "{out}"
    );
    let o = quarry_in(&dir, "/nonexistent/config", &["lock", "--reorder"]);
    assert!(stderr(&o).contains("the chain is already in the canonical order"), "{}", stderr(&o));

    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    std::fs::write(dir.join("quarry.lock"), lock.replace("name = \"tzdata\"", "name = \"tzdatax\"")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("names the extension `tzdatax`, which this quarry does not have: the chain goes on without it and the lock drops it"),
        "{}",
        stderr(&o)
    );
    assert!(!std::fs::read_to_string(dir.join("quarry.lock")).unwrap().contains("tzdatax"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A user's preferences never change what the project commits: extensions and options of the
/// user file (and extensions given on the command line) leave quarry.lock byte for byte as it
/// was, while their own chain order is kept in the user's state folder, so that adding a second
/// one later does not move the first (nothing before it runs again).
#[test]
fn the_user_file_never_changes_the_projects_lock() {
    let dir = scratch("user-lock");
    let config = dir.join("config");
    std::fs::create_dir_all(config.join("quarry")).unwrap();
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"tzdata\"]\napt = [\"jq\"]\n",
    )
    .unwrap();
    let render = |args: &[&str]| {
        let mut all = vec!["render"];
        all.extend(args);
        let o = quarry_in(&project, config.to_str().unwrap(), &all);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let chain = |dockerfile: &str| -> Vec<String> {
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix("# ")?.strip_suffix(": apt packages"))
            .map(str::to_owned)
            .collect()
    };
    render(&[]);
    let lock = std::fs::read(project.join("quarry.lock")).unwrap();
    let user_file = config.join("quarry/config.toml");
    std::fs::write(
        &user_file,
        "extensions = [\"git\", \"x11\"]\n[options.tzdata]\ntimezone = \"Europe/Berlin\"\n",
    )
    .unwrap();
    let with_git = render(&[]);
    assert!(with_git.contains("Europe/Berlin"), "the user's preference applies: {with_git}");
    assert_eq!(chain(&with_git), ["tzdata", "project_apt", "curl", "git"]);
    assert_eq!(
        std::fs::read(project.join("quarry.lock")).unwrap(),
        lock,
        "the user file changed quarry.lock"
    );
    // A second extension of the user's goes after the first, whatever its priority.
    std::fs::write(&user_file, "extensions = [\"git\", \"x11\", \"locales\"]\n").unwrap();
    assert_eq!(chain(&render(&[])), ["tzdata", "project_apt", "curl", "git", "locales"]);
    // The command line's extensions are the user's too.
    assert_eq!(chain(&render(&["--jquery"])), ["tzdata", "project_apt", "curl", "git", "locales", "jquery"]);
    assert_eq!(std::fs::read(project.join("quarry.lock")).unwrap(), lock);
    // The order is the user's own, kept outside the project.
    let kept: Vec<PathBuf> = std::fs::read_dir(project.join(".test-state/quarry/chains"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let text = std::fs::read_to_string(&kept[0]).unwrap();
    assert!(text.contains("order = [\"tzdata\", \"project_apt\", \"curl\", \"git\""), "{text}");
    // Gone again: the lock is as it was, and `--locked` (CI) passes with or without the user file.
    std::fs::remove_file(&user_file).unwrap();
    assert_eq!(chain(&render(&["--locked"])), ["tzdata", "project_apt"]);
    assert_eq!(std::fs::read(project.join("quarry.lock")).unwrap(), lock);
    std::fs::write(&user_file, "extensions = [\"git\"]\n").unwrap();
    render(&["--locked"]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// quarry.lock pins what the configuration leaves to defaults, but not against an alias (which
/// sets its own values), nor an option that follows the final image once the image changed: a
/// project moved from ubuntu:24.04 to 22.04 gets Humble, not the locked Jazzy.
#[test]
fn the_lock_pins_neither_an_aliass_values_nor_an_image_chosen_one_for_another_image() {
    let dir = scratch("ros-lock");
    let toml = |image: &str, ext: &str| format!("image = \"{image}\"\nextensions = [\"{ext}\"]\n");
    std::fs::write(dir.join("quarry.toml"), toml("ubuntu:24.04", "ros")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("ENV ROS_DISTRO=jazzy"), "{}", stderr(&o));
    std::fs::write(dir.join("quarry.toml"), toml("ubuntu:22.04", "ros")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=humble"));
    std::fs::write(dir.join("quarry.toml"), toml("ubuntu:24.04", "ros_kilted")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=kilted"));
    std::fs::remove_dir_all(dir).unwrap();
}
