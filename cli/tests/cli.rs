//! The `quarry` binary as a user runs it: rendering to stdout or a file, exit codes, messages and
//! nothing half-written; `list`, `show`, `help`, `man`, completions and `explain`.

use std::process::Command;

mod cli_support;

use cli_support::*;

#[test]
fn renders_to_stdout_and_reports_added_dependencies() {
    let o = quarry(&["render", "ubuntu:24.04", "--cargo", "--cargo-version", "1.80.1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(out.contains("--default-toolchain 1.80.1;"));
    assert_eq!(
        stderr(&o),
        "note: added `curl` (needed by `cargo`)\nnote: the Dockerfile copies files from `quarry/` of its build context, which only `-o FILE` writes (beside FILE)\n"
    );
}

#[test]
fn an_option_flag_selects_its_extension_and_e_selects_by_name() {
    let a = quarry(&["render", "ubuntu:24.04", "--npm-version", "22.12.0", "-e", "pixi"]);
    let b = quarry(&["render", "ubuntu:24.04", "--pixi", "--npm", "--npm-version", "22.12.0"]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn writes_the_output_file() {
    let dir = scratch("out");
    let file = dir.join("Dockerfile");
    let o = quarry(&["render", "debian:bookworm", "--git", "-o", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&file).unwrap().contains("FROM debian:bookworm AS quarry_final"));
    assert!(o.stdout.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Each bad input: one error line and one hint line, exit code 1, and no file written.
#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--carg"], "error: unknown extension or option `--carg`", "hint: did you mean `--cargo`?"),
        (
            &["--cache-id", "job-42"],
            "error: `--cache-id` is not an option of `quarry render`",
            "hint: `--cache-id` is an option of `quarry build`, `quarry run`, `quarry up`",
        ),
        (&["-e", "ros-jazy"], "error: unknown extension `ros_jazy`", "hint: did you mean `ros_jazzy`?"),
        (
            &["--cargo-version", "1.80 && rm -rf /"],
            "error: invalid value \"1.80 && rm -rf /\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            &["--cargo-version", "1.80\nRUN id"],
            "error: invalid value \"1.80\\nRUN id\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            &["--cargo-version", "1.80 \\"],
            "error: invalid value \"1.80 \\\\\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain",
        ),
        (
            &["--cargo-version", "latest"],
            "error: invalid value \"latest\" for option `version` of extension `cargo`",
            "hint: expected a rustup toolchain: `stable`, `beta`, `nightly` or a version such as `1.95` or `1.95.0`",
        ),
        (
            &["--tzdata-timezone", "../../etc/passwd"],
            "error: invalid value \"../../etc/passwd\" for option `timezone` of extension `tzdata`",
            "hint: expected a time zone name such as `Europe/Paris`",
        ),
        (
            &["--locales-locale", "de_DE"],
            "error: invalid value \"de_DE\" for option `locale` of extension `locales`",
            "hint: expected a locale such as `en_US.UTF-8`",
        ),
        (
            &["--ros-jazzy-variant", "desk"],
            "error: invalid value \"desk\" for option `variant` of extension `ros`",
            "hint: expected one of `ros-core`, `ros-base`, `desktop`, `desktop-full`",
        ),
        (
            &["--cargo", "--builder-base-image", "ubuntu 22.04"],
            "error: global builder base image \"ubuntu 22.04\" is not an image reference",
            "hint: write it like `ubuntu:24.04`",
        ),
    ];
    let dir = scratch("bad");
    let file = dir.join("Dockerfile");
    for (args, error, hint) in cases {
        let mut argv = vec!["render", "ubuntu:24.04", "-o", file.to_str().unwrap()];
        argv.extend_from_slice(args);
        let o = quarry(&argv);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {err}");
        assert!(lines[0].starts_with(error), "{args:?}: {err}");
        assert!(lines[1].starts_with(hint), "{args:?}: {err}");
        assert!(!file.exists(), "{args:?} wrote a file");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{args:?} left a file");
    }
    let o = quarry(&["render", "ubuntu 24.04", "--git"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: final image \"ubuntu 24.04\" is not an image reference\nhint:"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    let o = quarry(&["render", "--no-such-flag-at-all"]);
    assert_eq!(o.status.code(), Some(2));
    let o = quarry(&["render", "--git"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: no image given\nhint: name one"), "{}", stderr(&o));
    let o = quarry(&["render", "ubuntu:24.04", "--engine", "ancient"]);
    assert_eq!(o.status.code(), Some(2));
    let o = quarry(&["render", "ubuntu:24.04"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: no extension selected\nhint:"));
}

#[test]
fn unwritable_output_is_an_error() {
    let o = quarry(&["render", "ubuntu:24.04", "--git", "-o", "/nonexistent-dir/Dockerfile"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("\nerror: cannot write `/nonexistent-dir/Dockerfile`: "), "{}", stderr(&o));
}

#[test]
fn list_and_help() {
    let o = quarry(&["list"]);
    assert!(o.status.success());
    let list = String::from_utf8(o.stdout).unwrap();
    // Readable in 100 columns: options wrap between options, descriptions are one line.
    for line in list.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }
    insta::assert_snapshot!("list", list);
    let o = quarry(&["render", "--help"]);
    assert!(o.status.success());
    insta::assert_snapshot!("render_help", String::from_utf8(o.stdout).unwrap());
    let o = quarry(&["--help"]);
    insta::assert_snapshot!("help", String::from_utf8(o.stdout).unwrap());
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["render", "ubuntu:24.04", "--cargo", "--npm", "--pixi", "--palanteer", "--ros-jazzy"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn show_and_list_as_text_and_json() {
    let o = quarry(&["show", "ros_jazzy"]);
    assert!(o.status.success());
    insta::assert_snapshot!("show_ros_jazzy", String::from_utf8(o.stdout).unwrap());
    // Each option states its default once, truly, and its rule's text without another option's
    // examples.
    let o = quarry(&["show", "user"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("    --user-gid VALUE  Numeric id of the user's primary group [default: the host user's gid, else 1000; a whole number from 0 to 4294967295]\n"),
        "{text}"
    );
    assert!(
        text.contains("    --user-shell VALUE  Login shell [default: /bin/bash; an absolute path without spaces, quotes or `..`]\n"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.matches("default").count() <= 1), "{text}");
    let o = quarry(&["show", "env"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("[required; repeatable; one `docker run` argument: no spaces, quotes or `\\`]\n"),
        "{text}"
    );
    assert_eq!(text.matches("repeatable").count(), 1, "{text}");
    let o = quarry(&["show", "cargo", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "cargo");
    assert_eq!(v["flag"], "--cargo");
    assert_eq!(v["options"][1]["name"], "version");
    assert_eq!(v["options"][1]["rule"], "rust_toolchain");
    assert_eq!(v["builder"]["from"], "base_image");
    assert_eq!(v["builder"]["base_image"], "ubuntu:22.04");
    assert_eq!(v["builder"]["downloads"][0]["name"], "rustup_init");
    assert_eq!(v["builder"]["downloads"][0]["verify"], "checksum_file");
    // An unverified download says why, in text and JSON.
    let o = quarry(&["show", "deps_devtools"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("    download `ripgrep` (amd64, arm64): checked against upstream's .sha256 file\n"),
        "{text}"
    );
    assert!(
        text.contains("    download `fd` (amd64, arm64): not verified: fd publishes no checksum file"),
        "{text}"
    );
    let o = quarry(&["show", "nvim", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["builder"]["downloads"][0]["verify"], "none");
    assert!(v["builder"]["downloads"][0]["reason"].as_str().unwrap().contains("neovim/neovim#34956"));
    let o = quarry(&["list", "--format", "json"]);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = all.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.contains(&"ros") && names.len() >= 30);
    assert!(
        all.iter()
            .any(|e| e["aliases"].as_array().is_some_and(|a| a.iter().any(|a| a["name"] == "ros_jazzy")))
    );
    let o = quarry(&["show", "ros-jazy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hint: did you mean `ros_jazzy`?"));
}

#[test]
fn quiet_silences_notes_and_completions_and_man_are_generated() {
    let o = quarry(&["-q", "render", "ubuntu:24.04", "--cargo"]);
    assert!(o.status.success() && o.stderr.is_empty(), "{}", stderr(&o));
    let o = quarry(&["render", "ubuntu:24.04", "--cargo"]);
    assert_eq!(
        stderr(&o),
        "note: added `curl` (needed by `cargo`)\nnote: the Dockerfile copies files from `quarry/` of its build context, which only `-o FILE` writes (beside FILE)\n",
        "no colour when stderr is not a terminal"
    );
    for shell in ["bash", "zsh", "fish"] {
        let o = quarry(&["completions", shell]);
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("ros-jazzy"), "{shell}");
    }
    let o = quarry(&["man"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(".ie \\n(.g .ds Aq"));
}

#[test]
fn explain_reads_dockerfiles_and_configurations() {
    let dir = scratch("explain");
    std::fs::write(
        dir.join("old.Dockerfile"),
        "# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\nFROM ${BASE} AS tool\nRUN make\nFROM debian:bookworm\nRUN apt-get update\nCOPY --link --from=tool /out /out\nRUN <<EOF\necho one\nEOF\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("new.Dockerfile"),
        "# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\nFROM ${BASE} AS tool\nRUN make\nFROM debian:trixie\nRUN apt-get update\nCOPY --link --from=tool /out /out\nRUN <<EOF\necho one\nEOF\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "old.Dockerfile", "new.Dockerfile"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("explain_dockerfiles", String::from_utf8_lossy(&o.stdout));
    let err = stderr(&o);
    assert!(err.contains("line 6: `apt-get update` without a cache mount"), "{err}");
    assert!(err.contains("builder base `debian:bookworm` is a tag"), "{err}");
    assert!(err.contains("`# syntax=` directive is ignored"), "{err}");

    let o = quarry_in(
        &dir,
        "/nonexistent/config",
        &["explain", "old.Dockerfile", "new.Dockerfile", "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The linked copy's merge runs: the engine counts it as run, quarry's second count does not.
    assert_eq!((json["reused"].as_u64(), json["total"].as_u64()), (Some(1), Some(4)));
    assert_eq!(json["reused_counting_linked_copies"].as_u64(), Some(2));
    assert_eq!(json["steps"][2]["linked_copy_cached"], true);
    assert_eq!(json["steps"][1]["reason"], "from_changed");
    assert_eq!(json["steps"][2]["reason"], "linked_copy");

    // Configurations are rendered first; steps name their extension.
    std::fs::write(dir.join("old.toml"), "image = \"debian:bookworm\"\nextensions = [\"git\"]\n").unwrap();
    std::fs::write(dir.join("new.toml"), "image = \"debian:bookworm\"\nextensions = [\"git\", \"tzdata\"]\n")
        .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "old.toml", "new.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("explain_configurations", String::from_utf8(o.stdout).unwrap());
    // Without NEW, the project's configuration is the new side.
    std::fs::copy(dir.join("new.toml"), dir.join("quarry.toml")).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "old.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .ends_with("3 of 6 steps reused (4 of 6 counting linked copies, whose merges are cheap)\n")
    );
}

#[test]
fn explain_bad_input_exits_1_with_the_reason() {
    let dir = scratch("explain-bad");
    std::fs::write(dir.join("good.Dockerfile"), "FROM debian:bookworm AS final\nRUN true\n").unwrap();
    std::fs::write(dir.join("bad.Dockerfile"), "FROM debian:bookworm\nRUN <<EOF\nnever closed\n").unwrap();
    std::fs::write(dir.join("worse.Dockerfile"), "FORM debian:bookworm\n").unwrap();
    std::fs::write(dir.join("bad.toml"), "image = \"debian:bookworm\"\nextensions = [\"carg\"]\n").unwrap();
    std::fs::write(dir.join("link.Dockerfile"), "FROM a AS s\nRUN x\nFROM b\nCOPY --link --from=s /a /a\n")
        .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["bad.Dockerfile", "good.Dockerfile"], "bad.Dockerfile: line 2: heredoc `<<EOF` is never closed"),
        (&["good.Dockerfile", "worse.Dockerfile"], "worse.Dockerfile: line 1: unknown instruction `FORM`"),
        (&["bad.toml", "good.Dockerfile"], "carg"),
        (&["good.Dockerfile", "good.Dockerfile", "--target", "nope"], "no stage named `nope`"),
        (
            &["link.Dockerfile", "link.Dockerfile", "--engine", "legacy"],
            "line 4: `COPY --link` does not parse on Docker 20.10",
        ),
        (&["missing.Dockerfile", "good.Dockerfile"], "cannot read `missing.Dockerfile`"),
        (&["good.Dockerfile"], "no NEW file given"),
    ];
    for (args, want) in cases {
        let mut argv = vec!["explain"];
        argv.extend_from_slice(args);
        let o = quarry_in(&dir, "/nonexistent/config", &argv);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "a", "b", "--build-arg", "novalue"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `-o` onto a device or a FIFO writes into it; it never replaces it with a regular file
/// (`quarry render -o /dev/null` as root replaced `/dev/null`).
#[test]
fn output_to_a_device_or_fifo_writes_into_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("special-out");
    let null = dir.join("null");
    let made = Command::new("mknod").arg(&null).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    if made {
        let o = quarry(&["render", "ubuntu:24.04", "--git", "-o", null.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device(), "replaced by a file");
    }
    let fifo = dir.join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = quarry(&["render", "ubuntu:24.04", "--git", "-o", fifo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(reader.join().unwrap().contains("FROM ubuntu:24.04 AS quarry_final"));
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no temporary file is left");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `-h` is one screen, `--help` groups the extension flags under their extension and shows no
/// empty default; man pages exist for the commands quarry(1) names; completions offer extension
/// names and option values; `explain` tells a configuration from a Dockerfile by content.
#[test]
fn help_man_completions_and_explain_by_content() {
    let o = quarry(&["render", "-h"]);
    let short = String::from_utf8(o.stdout).unwrap();
    assert!(short.lines().count() < 40, "{short}");
    assert!(!short.contains("--cargo-version <VALUE>"), "{short}");
    let o = quarry(&["render", "--help"]);
    let long = String::from_utf8(o.stdout).unwrap();
    assert!(long.contains("Extension `cargo`:\n      --cargo\n"), "{long}");
    assert!(!long.contains("[default: ]"), "{long}");
    assert!(long.contains("[required]"), "{long}");
    // A default is said once: clap prints `default_value`, the doc comment does not repeat it.
    let o = quarry(&["import", "--help"]);
    let import = String::from_utf8(o.stdout).unwrap();
    assert_eq!(import.matches("[default: quarry.toml]").count(), 1, "{import}");
    // The command after the image needs no `--`, and the usage says so.
    let o = quarry(&["run", "-h"]);
    let run = String::from_utf8(o.stdout).unwrap();
    assert!(
        run.contains(
            "Usage: quarry run [OPTIONS] [IMAGE] [COMMAND]...\n       quarry run [OPTIONS] -- [COMMAND]...\n"
        ),
        "{run}"
    );
    // Every command's `--version` is quarry's.
    for line in [&["--version"][..], &["run", "--version"], &["render", "-V"], &["list", "--version"]] {
        let o = quarry(line);
        assert!(o.status.success(), "{line:?}");
        assert_eq!(String::from_utf8(o.stdout).unwrap(), format!("quarry {}\n", env!("CARGO_PKG_VERSION")));
    }

    let o = quarry(&["man"]);
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(page.contains("quarry\\-render(1)"), "{page}");
    let o = quarry(&["man", "render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains(".TH quarry-render 1"));

    let o = quarry(&["completions", "bash"]);
    let script = String::from_utf8(o.stdout).unwrap();
    assert!(script.contains("ros_jazzy"), "extension names are completed");
    assert!(script.contains("ros-base"), "one_of values are completed");

    let o = quarry(&["show", "ros_jazzy"]);
    let shown = String::from_utf8(o.stdout).unwrap();
    assert!(!shown.contains("{{"), "{shown}");

    let dir = scratch("explain-by-content");
    std::fs::write(dir.join("quarry.toml.orig"), "image = \"debian:bookworm\"\nextensions = [\"git\"]\n")
        .unwrap();
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"debian:bookworm\"\nextensions = [\"git\", \"jquery\"]\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["explain", "quarry.toml.orig"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("steps reused"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// deps_rocker's names keep working everywhere a name is written: flags (with the options the
/// alias leaves open), `-e`, quarry.toml's `extensions` and `[options.<alias>]`; a distribution on
/// the wrong Ubuntu release stops before anything is built, naming what works there.
#[test]
fn ros_aliases_work_as_names_and_the_wrong_release_is_an_error() {
    let o = quarry(&["render", "ubuntu:22.04", "--ros-humble", "--ros-humble-variant", "desktop"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("ros-dev-tools ros-humble-desktop\n"), "{out}");
    let o = quarry(&["render", "ubuntu:22.04", "-e", "ros-humble"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=humble"));
    // Unset, the image chooses the distribution.
    let o = quarry(&["render", "ubuntu:22.04", "--ros"]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("ENV ROS_DISTRO=humble"));

    let o = quarry(&["render", "ubuntu:22.04", "--ros-jazzy"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: `ros` with distro `jazzy` needs the final image `ubuntu:24.04` or `ubuntu:noble`, but it is \
         `ubuntu:22.04`\nhint: on `ubuntu:22.04`, choose distro `humble` (`--ros-distro humble`); or render with \
         `ubuntu:24.04`\n"
    );
    let o = quarry(&["render", "ubuntu:24.04", "--ros-jazzy", "--ros-distro", "humble"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(
        "error: `ros_jazzy` is `ros` with distro `jazzy`, but distro `humble` is given too\nhint:"
    ));

    let dir = scratch("ros-alias-project");
    std::fs::write(
        dir.join("quarry.toml"),
        "image = \"ubuntu:22.04\"\nextensions = [\"ros_humble\"]\n[options.ros_humble]\nvariant = \"ros-core\"\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout).unwrap().contains("ros-dev-tools ros-humble-ros-core\n"));
    let lock = std::fs::read_to_string(dir.join("quarry.lock")).unwrap();
    assert!(lock.contains("name = \"ros\"") && lock.contains("distro = \"humble\""), "{lock}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `ros_workspace` ships the workspace's package.xml files and nothing else of it: not its
/// sources, not colcon's build/install/log (marked COLCON_IGNORE), not hidden folders.
#[test]
fn ros_workspace_ships_only_the_package_xml_files() {
    let dir = scratch("ros-workspace");
    let ws = dir.join("ws");
    for (rel, text) in [
        ("src/driver/package.xml", "<package><name>driver</name></package>"),
        ("src/driver/src/main.cpp", "int main() {}"),
        ("src/tools/nested/package.xml", "<package><name>tools</name></package>"),
        ("install/COLCON_IGNORE", ""),
        ("install/share/driver/package.xml", "installed copy"),
        (".git/package.xml", "not this"),
    ] {
        std::fs::create_dir_all(ws.join(rel).parent().unwrap()).unwrap();
        std::fs::write(ws.join(rel), text).unwrap();
    }
    let out = dir.join("out/Dockerfile");
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let o = quarry_in(
        &ws,
        "/nonexistent/config",
        &["render", "ubuntu:24.04", "--ros", "--ros-workspace", "-o", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let project = dir.join("out/quarry/ros_workspace/project");
    let mut shipped = Vec::new();
    let mut stack = vec![project.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                shipped.push(p.strip_prefix(&project).unwrap().display().to_string());
            }
        }
    }
    shipped.sort();
    assert_eq!(shipped, [".quarry-project-files", "src/driver/package.xml", "src/tools/nested/package.xml"]);
    let dockerfile = std::fs::read_to_string(&out).unwrap();
    assert!(
        dockerfile.contains(
            "--mount=type=bind,source=quarry/ros_workspace/project,target=/tmp/quarry-ros-workspace"
        )
    );
    // Another folder by its option; one that is not a folder is an error naming the option.
    let o = quarry_in(
        &dir,
        "/nonexistent/config",
        &["render", "ubuntu:24.04", "--ros-workspace-path", "/nonexistent/ws"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: `ros_workspace` cannot collect its files below `/nonexistent/ws`: it is not a folder\n\
         hint: point `--ros-workspace-path` at the project's folder\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
