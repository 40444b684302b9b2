//! `quarry explain` on hostile and unusual input: what reaches the terminal, and the hints of its
//! errors. (The main CLI tests of explain are in `cli.rs`; the engine checks in
//! `explain_engine.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn quarry_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", "/nonexistent/config")
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .output()
        .expect("quarry runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quarry-explain-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn terminal_escapes_in_a_dockerfile_are_written_out() {
    let dir = scratch("escapes");
    let esc = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}";
    let old = format!(
        "FROM debian:bookworm AS b{esc}\nRUN echo {esc}\nFROM debian:bookworm\nCOPY --from=b{esc} /a /a\n"
    );
    let new = old.replace("RUN echo", "ARG X=1\nRUN apt-get update; echo");
    std::fs::write(dir.join("old.Dockerfile"), &old).unwrap();
    std::fs::write(dir.join("new.Dockerfile"), &new).unwrap();
    let o = quarry_in(&dir, &["explain", "old.Dockerfile", "new.Dockerfile"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for out in [text(&o.stdout), text(&o.stderr)] {
        assert!(!out.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']), "{out:?}");
    }
    let out = text(&o.stdout);
    assert!(out.contains("echo \\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\u{202e}"), "{out}");
    assert!(out.contains("[b\\x1b]0;pwned"), "{out}");
    assert!(text(&o.stderr).contains("stage `b\\x1b]0;pwned"), "{}", text(&o.stderr));

    // Error messages quote the file, too.
    std::fs::write(dir.join("bad.Dockerfile"), format!("FROM a\nRUN{esc} x\n")).unwrap();
    let o = quarry_in(&dir, &["explain", "old.Dockerfile", "bad.Dockerfile"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(!err.contains('\u{1b}') && err.contains("unknown instruction `RUN\\x1b]0;pwned"), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = scratch("bom");
    std::fs::write(dir.join("a.Dockerfile"), "\u{feff}FROM debian:bookworm\nRUN echo a\n").unwrap();
    std::fs::write(dir.join("b.Dockerfile"), "FROM debian:bookworm\nRUN echo a\n").unwrap();
    let o = quarry_in(&dir, &["explain", "a.Dockerfile", "b.Dockerfile"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).ends_with("1 of 1 steps reused\n"), "{}", text(&o.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_error_names_its_fix() {
    let dir = scratch("hints");
    std::fs::write(dir.join("good.Dockerfile"), "FROM debian:bookworm\nRUN true\n").unwrap();
    std::fs::write(dir.join("latin1.Dockerfile"), b"FROM debian:bookworm\nRUN echo \xe9\n").unwrap();
    std::fs::create_dir_all(dir.join("folder")).unwrap();
    let cases = [
        ("missing.Dockerfile", "FROM a\n".to_owned()),
        ("folder", String::new()),
        ("latin1.Dockerfile", String::new()),
        ("unclosed.Dockerfile", "FROM a\nRUN <<EOF\nx\n".to_owned()),
        ("unknown.Dockerfile", "FORM a\n".to_owned()),
        ("empty-from.Dockerfile", "ARG B\nFROM ${B}\n".to_owned()),
        ("self.Dockerfile", "FROM a AS s\nCOPY --from=s /a /a\n".to_owned()),
        ("double.Dockerfile", format!("FROM a\nENV A=xx\n{}", "ENV A=$A$A\n".repeat(28))),
    ];
    for (name, contents) in &cases {
        if !contents.is_empty() && *name != "missing.Dockerfile" {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        let o = quarry_in(&dir, &["explain", "good.Dockerfile", name]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains(name) && err.contains("\nhint: "), "{name}: {err}");
    }
    // /dev/zero is not read, a FIFO not waited on.
    let o = quarry_in(&dir, &["explain", "good.Dockerfile", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("`/dev/zero` is a device, not a regular file"), "{}", text(&o.stderr));
    assert!(std::process::Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
    let o = quarry_in(&dir, &["explain", "good.Dockerfile", "fifo"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is a FIFO (named pipe), not a regular file"), "{}", text(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
