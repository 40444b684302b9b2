//! Configuration as a user writes it: quarry.toml and the user file merged under the command line,
//! errors that point into the file, `init`'s starter, host defaults, another user's files,
//! `--verbose` and `show-config`, and a project's own Dockerfile.

use std::process::Command;

mod cli_support;

use cli_support::*;

/// The user extension takes the host user's name, uid and gid unless told otherwise. As root
/// there is no user to mirror: it makes none, says so, and the image stays root (as rocker's
/// `--user` does) unless a user is named. The host's values are taken together or not at all: as
/// `nobody` (uid 65534, refused) the image gets the defaults, not a `nobody` with uid 1000.
#[test]
fn user_defaults_to_the_host_user() {
    let host = quarry_cli::host::values();
    let as_uid = |uid: u32, user: &str, args: &[&str]| {
        let mut c = if host.root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", &uid.to_string(), "--regid", &uid.to_string(), "--clear-groups", "--"]);
            c.arg(env!("CARGO_BIN_EXE_quarry"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_quarry"))
        };
        let o = c
            .args(args)
            .current_dir("/")
            .env("USER", user)
            .env("HOME", format!("/home/{user}"))
            .env("XDG_CONFIG_HOME", "/nonexistent/config")
            .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        (String::from_utf8(o.stdout.clone()).unwrap(), stderr(&o))
    };
    if host.root {
        let (out, err) = as_uid(0, "root", &["render", "debian:bookworm", "--user"]);
        assert!(!out.contains("useradd") && !out.contains("\nUSER "), "{out}");
        assert!(
            err.contains("warning: you run quarry as root, so `user` makes no user: the image runs as root")
                && err.contains("hint: to have a user anyway, name it: `--user-name NAME --user-uid UID`"),
            "{err}"
        );
        let (out, _) =
            as_uid(0, "root", &["render", "debian:bookworm", "--user-uid", "4242", "--user-name", "dev"]);
        assert!(out.contains("useradd --no-log-init --uid 4242 ") && out.contains("\nUSER dev\n"), "{out}");
        // An ordinary user, as the host user is for most.
        let (out, err) = as_uid(4242, "ada", &["render", "debian:bookworm", "--user"]);
        assert!(
            out.contains("useradd --no-log-init --uid 4242 --gid 4242 --home-dir /home/ada"),
            "{out}{err}"
        );
        assert!(out.contains("\nUSER ada\n"), "{out}");
        // nobody's uid is refused: none of the host's values are used.
        let (out, err) = as_uid(65534, "nobody", &["render", "debian:bookworm", "--user"]);
        assert!(out.contains("useradd --no-log-init --uid 1000 --gid 1000 --home-dir /home/quarry"), "{out}");
        assert!(out.contains("\nUSER quarry\n") && !out.contains("nobody"), "{out}");
        assert!(
            err.contains(
                "the host's uid `65534` cannot be used for `user`, so it takes none of the host's values"
            ),
            "{err}"
        );
    } else {
        let uid = host.uid.clone().unwrap();
        let (out, _) =
            as_uid(0, host.user.as_deref().unwrap_or("me"), &["render", "debian:bookworm", "--user"]);
        assert!(out.contains(&format!("useradd --no-log-init --uid {uid} ")), "{out}");
    }
}

/// The smallest project file is two lines, and `render`, `build` and `run` use it without an
/// image or extension flags; it is found from a subfolder too.
#[test]
fn the_smallest_project_file() {
    let dir = scratch("project");
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"cargo\", \"npm\"]\n")
        .unwrap();
    std::fs::create_dir_all(dir.join("src/deep")).unwrap();
    let o = quarry_in(&dir.join("src/deep"), "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("FROM ubuntu:24.04 AS quarry_final")
            && out.contains("AS cargo_builder")
            && out.contains("AS npm_builder")
    );
    let flags = quarry(&["render", "ubuntu:24.04", "--cargo", "--npm"]);
    assert_eq!(out.as_bytes(), flags.stdout.as_slice(), "the file means the same as the flags");
    let o = quarry_in(&dir, "/nonexistent/config", &["run", "--dry-run", "--", "cargo", "--version"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains(" cargo --version"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The command line wins over the project file, which wins over the user file; extension lists
/// are unions.
#[test]
fn configuration_layers_merge() {
    let dir = scratch("layers");
    let user = dir.join("xdg/quarry");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("config.toml"),
        "image = \"debian:trixie\"\nextensions = [\"git\"]\ncache_id = \"user\"\n[options.cargo]\nversion = \"1.80.0\"\nprofile = \"default\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"cargo\"]\n[options.cargo]\nversion = \"1.85.0\"\n[overrides.cargo]\ncache_priority = 99\n",
    )
    .unwrap();
    let xdg = dir.join("xdg");
    let xdg = xdg.to_str().unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("FROM debian:bookworm AS quarry_final"), "project image wins over the user's");
    assert!(out.contains("--profile default --default-toolchain 1.85.0;"), "project version, user profile");
    assert!(out.contains("# git: apt packages"), "the user's extensions are added");
    // cargo (99 by the override) now comes before git (90); curl stays first as their dependency.
    assert!(
        out.find("# cargo: apt packages").unwrap() < out.find("# git: apt packages").unwrap(),
        "override"
    );
    let o = quarry_in(&dir, xdg, &["render", "ubuntu:24.04", "--cargo-version", "1.90.0"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("FROM ubuntu:24.04 AS quarry_final") && out.contains("--default-toolchain 1.90.0;"));
    let o = quarry_in(&dir, xdg, &["run", "--dry-run"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("BUILDKIT_CACHE_MOUNT_NS=user"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Mistakes in quarry.toml point at the file, line and column, with a hint.
#[test]
fn configuration_errors_point_into_the_file() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "image = \"ubuntu:24.04\"\nextensions = [\"carg\"]\n",
            "quarry.toml:2:15: unknown extension `carg` in `extensions`",
            "hint: did you mean `cargo`?",
        ),
        (
            "image = \"ubuntu:24.04\"\n[options.cargo]\nversoin = \"1.0\"\n",
            "quarry.toml:3:1: extension `cargo` has no option `versoin`",
            "hint: did you mean `version`?",
        ),
        (
            "image = \"ubuntu:24.04\"\n[options.cargo]\nversion = \"1.0 && rm\"\n",
            "quarry.toml:3:11: invalid value \"1.0 && rm\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            "image = \"ubuntu 24.04\"\n",
            "quarry.toml:1:9: `image` = \"ubuntu 24.04\" is not an image reference",
            "hint: write it like",
        ),
        ("imgae = \"ubuntu:24.04\"\n", "quarry.toml:1:1: unknown field `imgae`", "hint: the keys are image"),
        (
            "image = \"ubuntu:24.04\"\n[run]\nargs = [\"--rm\", \"--env FOO=1\"]\n",
            "quarry.toml:3:17: `run.args` entry \"--env FOO=1\" is not one argument",
            "hint: give each argument as its own entry",
        ),
        (
            "image = \"ubuntu:24.04\"\n[cache]\nregistry = \"team/quarry-cache\"\n",
            "quarry.toml:3:12: `[cache] registry`: invalid cache registry `team/quarry-cache`: `team` is not a registry host",
            "hint: write it as `REGISTRY/REPO`",
        ),
        (
            "image = \"ubuntu:24.04\"\n[overrides.npm]\ncache_priority = 101\n",
            "quarry.toml:3:18: cache priority 101 is out of range",
            "hint: use a whole number from 0 to 100",
        ),
        (
            "image = \"ubuntu:24.04\"\n[overrides.npm]\ncache_priority = -1\n",
            "quarry.toml:3:18: cache priority -1 is out of range",
            "hint: use a whole number from 0 to 100",
        ),
    ];
    let dir = scratch("badconfig");
    for (text, error, hint) in cases {
        std::fs::write(dir.join("quarry.toml"), text).unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
        assert_eq!(o.status.code(), Some(1), "{text}");
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(error), "{text}: {err}");
        assert!(lines[1].starts_with(hint), "{text}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The user file's `[options.X]` are preferences: they never select X, and apply when X is
/// selected, even as a dependency. Its `[overrides.X]` apply only where X is selected; the project
/// file's point at their line when X is not. An override of a builder base where there is none is
/// an error at its line.
#[test]
fn user_file_preferences_and_override_mistakes() {
    let dir = scratch("prefs");
    let user = dir.join("xdg/quarry");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("config.toml"),
        "[options.npm]\nversion = \"22.20.0\"\n[options.cargo]\nversion = \"1.80.0\"\n[overrides.palanteer]\ncache_priority = 5\n",
    )
    .unwrap();
    let xdg = dir.join("xdg");
    let xdg = xdg.to_str().unwrap();
    std::fs::write(dir.join("quarry.toml"), "image = \"ubuntu:24.04\"\nextensions = [\"claude\"]\n").unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("node-v22.20.0-linux"), "the preference reaches npm, a dependency: {out}");
    assert!(!out.contains("cargo"), "a preference never selects its extension");

    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\n[overrides.cargo]\ncache_priority = 99\n",
    )
    .unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.toml:3:12: `[overrides.cargo]`: extension `cargo` is not selected\nhint: add `cargo` to `extensions`, or remove the override"),
        "{}",
        stderr(&o)
    );

    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\n[overrides.git]\nbuilder_base_image = \"debian:bookworm\"\n",
    )
    .unwrap();
    let o = quarry_in(&dir, xdg, &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.toml:4:22: extension `git` has no builder, so a `builder_base_image` override does nothing"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn init_writes_a_starter_that_renders_and_never_overwrites() {
    let dir = scratch("init");
    let o = quarry_in(&dir, "/nonexistent/config", &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FROM ubuntu:24.04 AS quarry_final"));
    let before = std::fs::read(dir.join("quarry.toml")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`quarry.toml` already exists\nhint: pass --force"));
    assert_eq!(std::fs::read(dir.join("quarry.toml")).unwrap(), before);
    // `new-extension` adds its folder among the top-level keys, where the commented example is,
    // not after the commented tables.
    let o = quarry_in(&dir, "/nonexistent/config", &["new-extension", "eigen_tools"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    assert!(
        text.contains("# extension_dirs = [\".quarry/extensions/eigen\"]\nextension_dirs = [\".quarry/extensions/eigen_tools\"]\n"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The starter's commented examples, uncommented as they are, make a project that renders with
/// every two-line key, once with `pip` and once with `uv` (one of the two).
#[test]
fn init_examples_render_when_uncommented() {
    for installer in ["pip", "uv"] {
        let dir = scratch(&format!("init-examples-{installer}"));
        let o = quarry_in(&dir, "/nonexistent/config", &["init"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let other = if installer == "pip" { "uv" } else { "pip" };
        // `dockerfile` would build; `image` is the example's final image.
        let skipped = [format!("{other} = "), "dockerfile = ".to_owned()];
        let starter = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
        let text: String = starter
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(example)
                    if (example.starts_with('[')
                        || example
                            .split_once(" = ")
                            .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_')))
                        && !skipped.iter().any(|k| example.starts_with(k.as_str())) =>
                {
                    format!("{example}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        std::fs::write(dir.join("quarry.toml"), &text).unwrap();
        // What the examples name.
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::write(dir.join("config/app.conf"), "level = 1\n").unwrap();
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(dir.join("scripts/setup.sh"), "echo setup\n").unwrap();
        std::fs::write(dir.join("scripts/after-copies.sh"), "echo after\n").unwrap();
        std::fs::write(dir.join("robot.deps.yaml"), "apt_tools: [git]\n").unwrap();
        std::fs::create_dir_all(dir.join(".quarry/extensions/eigen")).unwrap();
        std::fs::write(
            dir.join(".quarry/extensions/eigen/extension.toml"),
            "name = \"eigen\"\ndescription = \"Eigen\"\napt_packages = [\"libeigen3-dev\"]\n",
        )
        .unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
        assert!(o.status.success(), "{installer}: {}\n{text}", stderr(&o));
        let dockerfile = String::from_utf8(o.stdout).unwrap();
        for comment in [
            "# project_apt: apt packages",
            &format!("# project_{installer}: builder"),
            "# project_copy: files",
            "# project_scripts: setup",
            "# project_scripts_post: setup",
            "# eigen: apt packages",
            "# project_deps_apt_tools: apt packages",
            "COPY --link quarry/project_copy/",
            "/etc/apt/keyrings/project_apt-vendor.asc",
        ] {
            assert!(dockerfile.contains(comment), "{installer}: no `{comment}`:\n{dockerfile}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A quarry.toml (or quarry.lock) that another user owns, found in a parent folder, is refused
/// as git refuses another user's repository, unless its folder is a safe directory (by the
/// user file or the environment). The tests run as root and give the files to uid 4242.
#[test]
fn another_users_project_file_or_lock_is_refused_unless_marked_safe() {
    use std::os::unix::fs::chown;
    let dir = scratch("owner");
    let project = dir.join("shared");
    std::fs::create_dir_all(project.join("mine")).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\n[run]\nargs = [\"--privileged\"]\n",
    )
    .unwrap();
    let me = std::fs::metadata(&dir).unwrap();
    let (uid, gid) = {
        use std::os::unix::fs::MetadataExt;
        (me.uid(), me.gid())
    };
    chown(project.join("quarry.toml"), Some(4242), Some(4242)).unwrap();
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(xdg.join("quarry")).unwrap();
    let cwd = project.join("mine");

    let o = quarry_env(&cwd, &xdg, &[], &["render"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!(
            "error: `{}` is owned by another user (uid 4242), so quarry does not apply it",
            project.join("quarry.toml").display()
        )
    );
    assert!(lines[1].starts_with("hint: if you trust it, add its folder to `safe_directories`"), "{err}");
    assert!(lines[1].contains(&format!("safe_directories = [\"{}\"]", project.display())), "{err}");
    assert!(o.stdout.is_empty() && !project.join("quarry.lock").exists());
    let o = quarry_env(&cwd, &xdg, &[], &["show-config"]);
    assert_eq!(o.status.code(), Some(1), "show-config refuses it too");

    // Marked safe by the environment, by the user file, or all folders with `*`.
    let safe_env = project.to_str().unwrap();
    for (env, user_file) in [
        (vec![("QUARRY_SAFE_DIRECTORIES", format!("/elsewhere:{safe_env}"))], String::new()),
        (vec![], format!("safe_directories = [\"{safe_env}\"]\n")),
        (vec![], "safe_directories = [\"*\"]\n".to_owned()),
    ] {
        std::fs::write(xdg.join("quarry/config.toml"), &user_file).unwrap();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let o = quarry_env(&cwd, &xdg, &env, &["run", "--dry-run"]);
        assert!(o.status.success(), "{env:?} {user_file}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("--privileged"));
    }
    std::fs::write(xdg.join("quarry/config.toml"), "").unwrap();

    // Our own project file with another user's lock: the lock is refused.
    chown(project.join("quarry.toml"), Some(uid), Some(gid)).unwrap();
    std::fs::write(project.join("quarry.lock"), "version = 1\n").unwrap();
    chown(project.join("quarry.lock"), Some(4242), Some(4242)).unwrap();
    let o = quarry_env(&cwd, &xdg, &[], &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("quarry.lock` is owned by another user (uid 4242)"), "{}", stderr(&o));
    std::fs::remove_file(project.join("quarry.lock")).unwrap();

    // A project cannot vouch for itself.
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"git\"]\nsafe_directories = [\"*\"]\n",
    )
    .unwrap();
    let o = quarry_env(&cwd, &xdg, &[], &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("quarry.toml:3:21: `safe_directories` in a project file has no effect"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `-v` names the files that apply; `quarry show-config` lists them in merge order and prints
/// the merged configuration.
#[test]
fn verbose_and_show_config_say_which_files_apply() {
    let dir = scratch("show-config");
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(xdg.join("quarry")).unwrap();
    std::fs::write(xdg.join("quarry/config.toml"), "extensions = [\"git\"]\n[run]\nargs = [\"--rm\"]\n")
        .unwrap();
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:24.04\"\nextensions = [\"cargo\"]\n[options.cargo]\nversion = \"1.80.0\"\n",
    )
    .unwrap();
    let o = quarry_env(&dir, &xdg, &[], &["-v", "render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let user = xdg.join("quarry/config.toml");
    let project = dir.join("quarry.toml");
    assert!(
        err.starts_with(&format!(
            "info: applying the user file `{}`\ninfo: applying the project file `{}`\n",
            user.display(),
            project.display()
        )),
        "{err}"
    );
    let o = quarry_env(&dir, &xdg, &[], &["show-config"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        out,
        format!(
            "# Files that apply, lowest precedence first (the command line wins over all):\n\
             #   user     \"{}\"\n#   project  \"{}\"\n#   lock     \"{}\"\n\n# The merged configuration:\n\
             extensions = [\"cargo\", \"git\"]\nimage = \"ubuntu:24.04\"\n\n[options.cargo]\nversion = \"1.80.0\"\n\n\
             [run]\nargs = [\"--rm\"]\n",
            user.display(),
            project.display(),
            dir.join("quarry.lock").display()
        )
    );
    let o =
        quarry_env(&std::env::temp_dir(), std::path::Path::new("/nonexistent/config"), &[], &["show-config"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("#   none\n"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// List options in quarry.toml: the user file's, the project's and the command line's values, in
/// that order; a list for a single-valued option points at the file.
#[test]
fn list_options_in_configuration_files() {
    let dir = scratch("list-config");
    let home = dir.join("config");
    std::fs::create_dir_all(home.join("quarry")).unwrap();
    std::fs::write(home.join("quarry/config.toml"), "[options.env]\nvalue = [\"U=1\"]\n").unwrap();
    let project = dir.join("p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\"]\n[options.env]\nvalue = [\"A=1\", \"B=2\"]\n[options.port]\nmapping = \"80:80\"\n",
    )
    .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["run", "--dry-run", "--env", "C=3", "--", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = docker_run_line(&o);
    assert!(line.contains("--env U=1 --env A=1 --env B=2 --env C=3 --publish=80:80"), "{line}");
    assert!(line.ends_with(" bash"), "{line}");
    // List options are not locked: they never change the Dockerfile.
    let lock = std::fs::read_to_string(project.join("quarry.lock")).unwrap_or_default();
    assert!(!lock.contains("A=1"), "{lock}");
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\n[options.network]\nmode = [\"host\", \"bridge\"]\n",
    )
    .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("quarry.toml:3:8: option `mode` of extension `network` takes one value, not a list"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A project removes an extension the user file adds with `!name`.
#[test]
fn a_project_excludes_what_the_user_file_adds() {
    let dir = scratch("exclude");
    let home = dir.join("config");
    std::fs::create_dir_all(home.join("quarry")).unwrap();
    std::fs::write(home.join("quarry/config.toml"), "extensions = [\"git\", \"jquery\"]\n").unwrap();
    let project = dir.join("p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"!jquery\", \"curl\"]\n",
    )
    .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("# Extensions: curl, git\n"), "{out}");
    // The command line still wins.
    let o = rq(&project, home.to_str().unwrap(), &["render", "--jquery"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("# Extensions: curl, git, jquery\n"));
    std::fs::write(project.join("quarry.toml"), "image = \"debian:bookworm\"\nextensions = [\"!jqury\"]\n")
        .unwrap();
    let o = rq(&project, home.to_str().unwrap(), &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("did you mean `jquery`?"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `dockerfile` of quarry.toml: the project's Dockerfile is built first, tagged by its content,
/// and its image is the final image.
#[test]
fn a_project_dockerfile_is_the_final_image() {
    let dir = scratch("dockerfile-base");
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    std::fs::write(dir.join("docker/Dockerfile"), "FROM debian:bookworm\nRUN echo one\n").unwrap();
    std::fs::write(dir.join("quarry.toml"), "dockerfile = \"docker/Dockerfile\"\nextensions = [\"git\"]\n")
        .unwrap();
    let o = rq(&dir, "/nonexistent/config", &["build", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let d = dir.display();
    assert!(lines[0].starts_with("docker buildx build --load --tag quarry/dockerfile:"), "{out}");
    assert!(lines[0].ends_with(&format!(" --file {d}/docker/Dockerfile {d}/docker")), "{out}");
    let tag = lines[0].split(' ').nth(5).unwrap().to_owned();
    let o = rq(&dir, "/nonexistent/config", &["render"]);
    let rendered = String::from_utf8(o.stdout).unwrap();
    assert!(rendered.contains(&format!("FROM {tag} AS quarry_final")), "{rendered}");
    // Another Dockerfile, another tag; the same one, the same tag.
    std::fs::write(dir.join("docker/Dockerfile"), "FROM debian:bookworm\nRUN echo two\n").unwrap();
    let o = rq(&dir, "/nonexistent/config", &["render"]);
    assert!(!String::from_utf8(o.stdout).unwrap().contains(&tag));
    // The command line's image wins.
    let o = rq(&dir, "/nonexistent/config", &["render", "ubuntu:24.04"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("FROM ubuntu:24.04 AS quarry_final"));
    std::fs::write(dir.join("quarry.toml"), "dockerfile = \"../Dockerfile\"\n").unwrap();
    let o = rq(&dir, "/nonexistent/config", &["render"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`dockerfile` = \"../Dockerfile\" is not a path inside the project"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
