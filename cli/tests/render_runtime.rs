//! The catalog's images at run time, without an engine: the `docker run` arguments its
//! extensions give (mounts into the user's home, groups, the X cookie, GPUs), and the shell
//! start-up they ship run by a real shell (ROS's setup and its one `rosdep update`, every
//! extension's environment in a login shell). The rendered Dockerfiles are `render.rs`'s.

mod common;

use common::{reg, render, request};
use quarry_core::{Request, Selection};

/// ROS's shell start-up sources its setup for every command (quarry's entrypoint loads it) and
/// starts `rosdep update` once, in the background, quietly.
#[test]
fn ros_start_up_sources_setup_and_updates_rosdep_once() {
    let rendered = quarry_core::render(reg(), &request("ubuntu:24.04", &["ros_jazzy"])).unwrap();
    let env = rendered.files.iter().find(|f| f.path == "quarry/_env.d/ros/ros.sh").expect("ros env file");
    let text = String::from_utf8_lossy(&env.contents);
    assert!(text.contains("source /opt/ros/jazzy/setup.bash\n"), "{text}");
    assert!(text.contains("mkdir \"$quarry_ros_home/rosdep-update.started\""), "{text}");
    assert!(
        text.contains("rosdep update --rosdistro jazzy >\"$quarry_ros_home/rosdep-update.log\" 2>&1"),
        "{text}"
    );
    assert!(text.contains("</dev/null >/dev/null 2>&1 & )"), "{text}");
    let entrypoint =
        rendered.files.iter().find(|f| f.path.ends_with("quarry-entrypoint")).expect("entrypoint");
    assert!(String::from_utf8_lossy(&entrypoint.contents).contains(". /etc/quarry/env.sh"));
    assert!(rendered.dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/quarry-entrypoint\"]"));
}

fn run_args_in(home: &str, req: &Request, host_groups: &[&str], xauthority: Option<&str>) -> Vec<String> {
    let rendered = quarry_core::render(reg(), req).unwrap();
    let options = quarry_docker::run::RunOptions {
        host_groups: host_groups.iter().map(|g| (*g).to_owned()).collect(),
        xauthority: xauthority.map(str::to_owned),
        ..quarry_docker::run::RunOptions::default()
    };
    let env = |k: &str| match k {
        "HOME" => Some(home.to_owned()),
        "XDG_RUNTIME_DIR" => Some("/run/user/1000".to_owned()),
        _ => None,
    };
    quarry_docker::run::run_args(&rendered, "img", &options, &env, &quarry_cli::ui::show).unwrap()
}

fn run_args(req: &Request, host_groups: &[&str], xauthority: Option<&str>) -> Vec<String> {
    run_args_in("/home/me", req, host_groups, xauthority)
}

/// Mounts of the host's configuration land in the image user's home: the `user` extension's
/// `home` (the host's path), else root's; each only when the host has it.
#[test]
fn config_mounts_follow_the_users_home() {
    let host = tempfile::tempdir().unwrap();
    let h = host.path().to_str().unwrap().to_owned();
    let mut req = request("ubuntu:24.04", &["gitconfig", "claude", "codex", "gemini"]);
    // The system's /etc/gitconfig is the host's own (rocker mounts it too), when there is one.
    let system = std::path::Path::new("/etc/gitconfig").exists();
    let args = run_args_in(&h, &req, &[], None).join(" ");
    assert_eq!(args.contains("--volume /etc/gitconfig:/etc/gitconfig:ro"), system, "{args}");
    assert_eq!(args.matches("--volume").count(), usize::from(system), "nothing else to mount yet: {args}");
    for dir in [".claude", ".codex", ".gemini"] {
        std::fs::create_dir(host.path().join(dir)).unwrap();
    }
    for file in [".gitconfig", ".claude.json"] {
        std::fs::write(host.path().join(file), "").unwrap();
    }
    let args = run_args_in(&h, &req, &[], None).join(" ");
    for mount in [
        format!("--volume {h}/.gitconfig:/root/.gitconfig:ro"),
        format!("--volume {h}/.claude:/root/.claude"),
        format!("--volume {h}/.claude.json:/root/.claude.json"),
        format!("--volume {h}/.codex:/root/.codex"),
        format!("--volume {h}/.gemini:/root/.gemini"),
    ] {
        assert!(args.contains(&mount), "{mount}: {args}");
    }
    req.extensions.push(Selection::new("user").with_option("home", "/home/me"));
    let args = run_args_in(&h, &req, &[], None).join(" ");
    assert!(args.contains(&format!("--volume {h}/.gitconfig:/home/me/.gitconfig:ro")), "{args}");
    assert!(args.contains(&format!("--volume {h}/.claude.json:/home/me/.claude.json")), "{args}");
}

/// The host user's supplementary groups are added when asked, and only then; pulse adds `audio`
/// and the sound devices.
#[test]
fn groups_are_added_where_asked() {
    let plain = run_args(&request("debian:bookworm", &["user"]), &["27", "44"], None);
    assert!(!plain.contains(&"--group-add".to_owned()), "{plain:?}");
    let mut req = request("debian:bookworm", &[]);
    req.extensions.push(Selection::new("user").with_option("host_groups", "true"));
    let args = run_args(&req, &["27", "44"], None).join(" ");
    assert!(args.contains("--group-add 27 --group-add 44"), "{args}");
    let args = run_args(&req, &[], None);
    assert!(!args.contains(&"--group-add".to_owned()), "{args:?}");
    let pulse = run_args(&request("debian:bookworm", &["pulse"]), &[], None).join(" ");
    // A device the host lacks is left out (with a warning), as rocker does.
    assert_eq!(pulse.contains("--device /dev/snd"), std::path::Path::new("/dev/snd").exists(), "{pulse}");
    assert!(pulse.contains("--group-add audio"), "{pulse}");
    assert!(pulse.contains("--volume /run/user/1000/pulse/native:/run/pulse/native"), "{pulse}");
}

/// x11 mounts the cookie made for the run and names it with XAUTHORITY; without a cookie it
/// passes the display alone.
#[test]
fn x11_passes_the_cookie() {
    let req = request("debian:bookworm", &["x11", "palanteer"]);
    let args = run_args(&req, &[], Some("/run/user/1000/quarry/xauth-_0")).join(" ");
    assert!(
        args.contains("--volume /run/user/1000/quarry/xauth-_0:/tmp/.quarry.xauth:ro --env XAUTHORITY=/tmp/.quarry.xauth"),
        "{args}"
    );
    assert_eq!(args.matches("XAUTHORITY").count(), 1, "{args}");
    let args = run_args(&req, &[], None).join(" ");
    assert!(!args.contains("XAUTHORITY") && args.contains("--env DISPLAY"), "{args}");
    // palanteer alone asks for no cookie.
    let args = run_args(&request("debian:bookworm", &["palanteer"]), &[], Some("/x")).join(" ");
    assert!(!args.contains("XAUTHORITY"), "{args}");
}

/// nvidia sets what the NVIDIA Container Toolkit reads in the image, and `--gpus`.
#[test]
fn nvidia_sets_the_toolkits_environment() {
    let req = request("ubuntu:24.04", &["nvidia"]);
    let out = render(&req);
    assert!(out.contains("ENV NVIDIA_VISIBLE_DEVICES=all \\\n    NVIDIA_DRIVER_CAPABILITIES=all\n"), "{out}");
    assert!(out.contains("libegl1 libgl1 libgles2 libglvnd0 libglx0"), "{out}");
    let args = run_args(&req, &[], None);
    assert!(args.contains(&"--gpus=all".to_owned()), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--runtime")), "{args:?}");
}

/// ROS's start-up (`ros.sh` of `ros_jazzy`) in a home of its own, sourced by bash as quarry's
/// entrypoint does, with `rosdep` a stand-in script of `rosdep_body`: the home, and a shell that
/// sources it and prints `done`.
fn ros_start_up(rosdep_body: &str) -> (tempfile::TempDir, impl Fn() -> std::process::Output + use<>) {
    use std::os::unix::fs::PermissionsExt;
    let rendered = quarry_core::render(reg(), &request("ubuntu:24.04", &["ros_jazzy"])).unwrap();
    let env = rendered.files.iter().find(|f| f.path == "quarry/_env.d/ros/ros.sh").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ros_jazzy.sh");
    // Without ROS installed here, `source /opt/ros/...` fails: the stand-in skips that line.
    let text = String::from_utf8_lossy(&env.contents).replace("source /opt/ros/jazzy/setup.bash", ":");
    std::fs::write(&script, text).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let rosdep = bin.join("rosdep");
    std::fs::write(&rosdep, format!("#!/bin/sh\necho \"rosdep $*\" >> \"$HOME/calls\"\n{rosdep_body}"))
        .unwrap();
    std::fs::set_permissions(&rosdep, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let home = dir.path().to_path_buf();
    let shell = move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(". {}; echo done", script.display()))
            .env("HOME", &home)
            .env("PATH", &path)
            .env_remove("ROS_HOME")
            .output()
            .unwrap()
    };
    (dir, shell)
}

/// Waits until `path` exists (within 5 s), and a little more for the process writing it.
fn settled(path: &std::path::Path) {
    for _ in 0..100 {
        if path.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
}

/// ROS's start-up with a stand-in `rosdep` that makes the database as an update does (the cache
/// index last): it prints nothing, starts one `rosdep update` in the background, and a second
/// shell (or one after the database exists) starts none.
#[test]
fn ros_start_up_runs_rosdep_update_once_and_quietly() {
    let c = "$HOME/.ros/rosdep/sources.cache";
    let (dir, shell) = ros_start_up(&format!("mkdir -p \"{c}\" && : > \"{c}/index\"\n"));
    let first = shell();
    assert_eq!(String::from_utf8_lossy(&first.stdout), "done\n");
    assert_eq!(String::from_utf8_lossy(&first.stderr), "");
    // The background update finishes soon; a shell meanwhile or after starts none.
    let second = shell();
    assert_eq!(String::from_utf8_lossy(&second.stdout), "done\n");
    let calls = dir.path().join("calls");
    settled(&calls);
    assert_eq!(shell().status.code(), Some(0));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "rosdep update --rosdistro jazzy\n");
    assert!(dir.path().join(".ros/rosdep-update.started").is_dir());
}

/// A failed update leaves what rosdep's does without a network (the cache folder with the
/// sources it could read, no index): the next shell starts the update again.
#[test]
fn ros_start_up_tries_a_failed_rosdep_update_again() {
    let (dir, shell) = ros_start_up("mkdir -p \"$HOME/.ros/rosdep/sources.cache\"\nexit 1\n");
    let calls = dir.path().join("calls");
    assert_eq!(String::from_utf8_lossy(&shell().stdout), "done\n");
    settled(&calls);
    assert!(!dir.path().join(".ros/rosdep-update.started").exists());
    assert_eq!(String::from_utf8_lossy(&shell().stdout), "done\n");
    for _ in 0..100 {
        if std::fs::read_to_string(&calls).unwrap().lines().count() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "rosdep update --rosdistro jazzy\nrosdep update --rosdistro jazzy\n"
    );
}

/// Every extension's `ENV` reaches a shell that did not inherit it: its `<name>.env`, sourced by
/// a real `sh` whose environment holds only the `PATH` a login shell's `/etc/profile` sets,
/// gives every variable the value Docker's `ENV` gives it on that `PATH`, in the Dockerfile's
/// order (BuildKit's expansion, `quarry_buildkit::dockerfile::expand`). Sourced again on top of
/// that (the entrypoint of `docker exec`), nothing changes.
#[test]
fn every_extensions_env_reaches_login_shells() {
    let names: Vec<&str> =
        reg().iter().filter(|e| e.options.iter().all(|o| !o.required)).map(|e| e.name).collect();
    let pieces = quarry_core::pieces(reg(), &request("ubuntu:24.04", &names)).unwrap();
    let login_path = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
    let mut checked = 0;
    for e in pieces.extensions.iter().filter(|e| !e.env.is_empty()) {
        // What Docker's ENV gives, entry by entry.
        let mut docker: std::collections::BTreeMap<String, String> =
            [("PATH".to_owned(), login_path.to_owned())].into_iter().collect();
        for entry in &e.env {
            let (name, value) = entry.split_once('=').unwrap();
            let value = quarry_buildkit::dockerfile::expand(value, &|n| docker.get(n).cloned());
            docker.insert(name.to_owned(), value);
        }
        let dir = e.shell_dir.as_ref().unwrap_or_else(|| panic!("{}: no shell environment", e.name));
        let path = format!("{dir}/{}.env", e.name);
        let file = pieces.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path}"));
        let script = String::from_utf8(file.contents.to_vec()).unwrap();
        let shown: Vec<&String> = docker.keys().collect();
        let show: String = shown.iter().map(|n| format!("printf '%s=%s\\n' {n} \"${n}\"\n")).collect();
        let shell = |twice: bool| {
            let again = if twice { script.as_str() } else { "" };
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{script}\n{again}\n{show}"))
                .env_clear()
                .env("PATH", login_path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}: {}", e.name, String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let expected: String = docker.iter().map(|(n, v)| format!("{n}={v}\n")).collect();
        assert_eq!(shell(false), expected, "{}: {script}", e.name);
        assert_eq!(shell(true), expected, "{}: sourced twice", e.name);
        checked += 1;
    }
    let with_env = reg().iter().filter(|e| !e.env.is_empty() && names.contains(&e.name)).count();
    assert!(checked == with_env && checked >= 14, "{checked} of {with_env} extensions that set ENV checked");
}
