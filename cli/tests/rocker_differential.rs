//! `quarry rocker` against rocker itself: every command line of `rocker/lines.txt` (real lines
//! from public projects) goes through rocker 0.4.0's own entry point with deps_rocker 0.23.2
//! installed (`rocker/harness.py`: the daemon, the image build and the terminal stood in for) and
//! through `quarry rocker --dry-run`. The image, the command and each run-time setting rocker
//! would pass (mounts, devices, environment, network, GPUs, X11, names, limits) must be what
//! quarry passes, but for the differences docs/rocker.md lists with their reasons, which
//! `normalize` states once. Where rocker refuses a line, quarry either refuses it too or does
//! what the line says and notes how rocker differs.
//!
//! It needs a Python with rocker and deps_rocker: `QUARRY_TEST_ROCKER_PYTHON` (`cargo xtask test`
//! makes a venv with them); it is `#[ignore]`d for it, and fails without it when asked to run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use quarry_cli::rocker::translate::shell_words;

/// The Python with rocker that `cargo xtask test` makes; the test is `#[ignore]`d, so it runs only
/// when asked for, and then it fails without one.
fn rocker_python() -> PathBuf {
    std::env::var_os("QUARRY_TEST_ROCKER_PYTHON").map(PathBuf::from).filter(|p| p.exists()).unwrap_or_else(|| {
        panic!(
            "this test needs a Python with rocker, which `cargo xtask test` installs, and `QUARRY_TEST_ROCKER_PYTHON` \
             is not set: it is ignored by plain `cargo test`; run it with `cargo xtask test`"
        )
    })
}

struct Line {
    source: String,
    words: Vec<String>,
}

fn lines(home: &Path, pwd: &Path) -> Vec<Line> {
    let text = include_str!("rocker/lines.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (source, words) = l.split_once(" | ").expect("`source | words`");
            let words = words
                .replace("{HOME}", &home.display().to_string())
                .replace("{PWD_NAME}", &pwd.file_name().unwrap().to_string_lossy())
                .replace("{PWD}", &pwd.display().to_string());
            Line { source: source.to_owned(), words: shell_words(&words) }
        })
        .collect()
}

/// What a `docker run` command line asks for, one `kind=value` each, and its image and command.
#[derive(Debug, PartialEq, Eq)]
struct Settings {
    settings: BTreeSet<String>,
    image: String,
    command: String,
}

/// The settings of `argv` (`docker run ...`), with the differences docs/rocker.md gives reasons
/// for made equal:
/// - the X authority cookie's path, the SSH agent's and the PulseAudio socket's places in the
///   container, and the `rw` of a mount (Docker's default);
/// - a group rocker adds by the host's gid (`--group-add 29`) and quarry by name (`audio`, which
///   the container's own group file resolves);
/// - a device the host lacks, which quarry leaves out (docker would fail on it);
/// - as root, rocker's `--git` mounts into `/home/root`, a home it never makes; quarry into root's.
fn normalize(argv: &[String]) -> Settings {
    const VALUED: &[&str] = &[
        "-e",
        "--env",
        "-v",
        "--volume",
        "--device",
        "--network",
        "--net",
        "--name",
        "--hostname",
        "--ipc",
        "--cpus",
        "-m",
        "--memory",
        "--shm-size",
        "--ulimit",
        "--expose",
        "--cap-add",
        "--cap-drop",
        "--label",
        "-w",
        "--workdir",
        "--group-add",
        "--env-file",
        "--gpus",
        "--runtime",
        "-p",
        "--publish",
    ];
    let mut settings = BTreeSet::new();
    let mut words = argv.iter().skip_while(|w| *w != "run").skip(1).peekable();
    let mut command = Vec::new();
    let mut image = String::new();
    let mut xauthority = None;
    let mut pairs: Vec<(String, String)> = Vec::new();
    while let Some(w) = words.next() {
        let (flag, value) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (w.clone(), None),
        };
        if VALUED.contains(&flag.as_str()) {
            let value = value.or_else(|| words.next().cloned()).unwrap_or_default();
            let kind = match flag.as_str() {
                "-e" | "--env" => "env",
                "-v" | "--volume" => "volume",
                "--net" | "--network" => "network",
                "-m" | "--memory" => "memory",
                "-w" | "--workdir" => "workdir",
                "-p" | "--publish" => "publish",
                other => other.trim_start_matches('-'),
            };
            pairs.push((kind.to_owned(), value));
            continue;
        }
        match flag.as_str() {
            "--rm" => drop(settings.insert("rm".to_owned())),
            "-it" | "-i" | "-t" | "--interactive" | "--tty" => drop(settings.insert("it".to_owned())),
            "--privileged" => drop(settings.insert("privileged".to_owned())),
            "-d" | "--detach" => drop(settings.insert("detach".to_owned())),
            _ => {
                // The image (rocker's id, quarry's tag), then the command.
                image = w.clone();
                command.extend(words.by_ref().cloned());
                break;
            }
        }
    }
    for (kind, value) in &pairs {
        if kind == "env"
            && let Some(path) = value.strip_prefix("XAUTHORITY=")
        {
            xauthority = Some(path.to_owned());
        }
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let group_name = |gid: &str| {
        groups.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == gid).then(|| f[0].to_owned())
        })
    };
    for (kind, value) in pairs {
        if kind == "device" && !Path::new(value.split(':').next().unwrap_or_default()).exists() {
            continue;
        }
        let value = match kind.as_str() {
            "group-add" => group_name(&value).unwrap_or(value),
            "volume" if value.contains(":/home/root/") => value.replace(":/home/root/", ":/root/"),
            "env" if value.starts_with("XAUTHORITY=") => "XAUTHORITY=<cookie>".to_owned(),
            "env" if value.starts_with("SSH_AUTH_SOCK") => "SSH_AUTH_SOCK=<agent>".to_owned(),
            "env" if value.starts_with("PULSE_SERVER=") => "PULSE_SERVER=<socket>".to_owned(),
            "volume" => {
                let mut parts: Vec<&str> = value.split(':').collect();
                if parts.last() == Some(&"rw") {
                    parts.pop();
                }
                if parts.len() == 1 {
                    parts.push(parts[0]);
                }
                let trimmed: Vec<String> = parts
                    .iter()
                    .map(|p| if p.len() > 1 { p.trim_end_matches('/').to_owned() } else { (*p).to_owned() })
                    .collect();
                match &xauthority {
                    Some(x) if trimmed.get(1) == Some(x) => "<cookie>".to_owned(),
                    _ if trimmed[0].contains("ssh") || trimmed[0].contains("agent") => "<agent>".to_owned(),
                    _ if trimmed[0].contains("pulse") => "<pulse>".to_owned(),
                    _ => trimmed.join(":"),
                }
            }
            _ => value,
        };
        settings.insert(format!("{kind}={value}"));
    }
    Settings { settings, image, command: command.join(" ") }
}

/// The base of the final stage of the build a dry run prints: its context folder's Dockerfile.
fn final_base(dry_run: &str) -> String {
    let build = dry_run.lines().find(|l| l.contains(" build ")).expect("a build line");
    let context = shell_words(build).pop().expect("the context folder");
    let dockerfile = std::fs::read_to_string(Path::new(&context).join("Dockerfile")).expect("the Dockerfile");
    dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("FROM ")?.strip_suffix(" AS quarry_final"))
        .expect("the final stage")
        .to_owned()
}

#[test]
#[ignore = "needs the Python with rocker that `cargo xtask test` installs"]
fn quarry_rocker_does_what_rocker_does() {
    let python = rocker_python();
    let base = std::env::temp_dir().join(format!("quarry-rocker-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let home = base.join("home/me");
    let pwd = base.join("ws/robot_ws");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&pwd).unwrap();
    std::fs::write(home.join(".gitconfig"), "[user]\n\tname = Probe\n").unwrap();
    let lines = lines(&home, &pwd);
    let env = |c: &mut Command| {
        c.current_dir(&pwd)
            .env("HOME", &home)
            .env("DISPLAY", ":0")
            .env("TERM", "xterm")
            .env("XDG_CONFIG_HOME", base.join("config"))
            .env("XDG_CACHE_HOME", base.join("cache"))
            .env("XDG_STATE_HOME", base.join("state"))
            .env("XDG_RUNTIME_DIR", base.join("run"))
            .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
    };
    std::fs::create_dir_all(base.join("run")).unwrap();
    // rocker, every line at once.
    let mut c = Command::new(&python);
    env(&mut c);
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rocker/harness.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().expect("python runs");
    let input = serde_json::to_string(&lines.iter().map(|l| l.words.clone()).collect::<Vec<_>>()).unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rocker: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rocker.len(), lines.len());
    let mut report = Vec::new();
    let (mut same, mut recovered, mut both_refuse) = (0, 0, 0);
    for (line, rocker) in lines.iter().zip(&rocker) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"));
        env(&mut c);
        let q = c.arg("rocker").arg("--dry-run").args(&line.words).output().unwrap();
        let q_out = &q;
        let stderr = String::from_utf8_lossy(&q.stderr).into_owned();
        let quarry_run = String::from_utf8_lossy(&q.stdout)
            .lines()
            .find(|l| l.starts_with("docker run "))
            .map(shell_words);
        match (rocker["ok"].as_bool().unwrap(), quarry_run) {
            (true, Some(quarry_run)) => {
                let want: Vec<String> = rocker["docker_run"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                let (mut r, mut q) = (normalize(&want), normalize(&quarry_run));
                // The image the line names: rocker's, and the final stage's base of quarry's
                // build (or the image itself, when quarry runs it as it is).
                r.image = rocker["image"].as_str().unwrap_or_default().to_owned();
                let printed = String::from_utf8_lossy(&q_out.stdout).into_owned();
                if q.image.starts_with("quarry/") {
                    q.image = final_base(&printed);
                } else if let Some(tag) = printed.lines().find(|l| l.starts_with("docker tag ")) {
                    // `--image-name` on an image run as it is: tagged, then run by that name.
                    q.image = shell_words(tag)[2].clone();
                }
                if r == q {
                    same += 1;
                } else {
                    let only_r: Vec<&String> = r.settings.difference(&q.settings).collect();
                    let only_q: Vec<&String> = q.settings.difference(&r.settings).collect();
                    report.push(format!(
                        "{}:\n  rocker only: {only_r:?}\n  quarry only: {only_q:?}\n  images: {:?} / {:?}\n  commands: {:?} / {:?}",
                        line.source, r.image, q.image, r.command, q.command
                    ));
                }
            }
            (false, Some(_)) => {
                // rocker refuses; quarry does what the line says, and says how rocker differs.
                if stderr.contains("rocker would") {
                    recovered += 1;
                } else {
                    report.push(format!(
                        "{}: rocker refuses ({}) but quarry runs it without saying so:\n{stderr}",
                        line.source, rocker["error"]
                    ));
                }
            }
            (false, None) => {
                assert!(!q.status.success(), "{}", line.source);
                both_refuse += 1;
            }
            (true, None) => {
                report.push(format!("{}: rocker runs it, quarry refuses:\n{stderr}", line.source))
            }
        }
    }
    eprintln!(
        "{} lines: {same} the same, {recovered} rocker refuses and quarry runs (noted), {both_refuse} both refuse",
        lines.len()
    );
    assert!(report.is_empty(), "{}", report.join("\n"));
    std::fs::remove_dir_all(&base).unwrap();
}
