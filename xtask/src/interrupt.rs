//! Ctrl-C, SIGTERM and SIGHUP during `cargo xtask test`: caught, so that the run can stop its
//! children and then the engines it started. Every child runs in a process group of its own,
//! which is stopped as a whole when a signal comes: a signal sent to the xtask alone (`kill
//! -INT`) reaches the tests as surely as a Ctrl-C in the terminal, and the daemons, started
//! with `setsid` by the scripts, are left to the tear-down.

use std::io::{BufRead, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals caught since [`Signals::catch`].
#[derive(Debug, Clone)]
pub struct Signals {
    first: Arc<AtomicI32>,
}

impl Signals {
    /// From now on SIGINT, SIGTERM and SIGHUP no longer end this process: the first one is
    /// recorded (and said), later ones are only said.
    pub fn catch() -> anyhow::Result<Signals> {
        let first = Arc::new(AtomicI32::new(0));
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot catch signals")?;
        let seen = Arc::clone(&first);
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if seen.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    say(&format!(
                        "\nxtask: {}: stopping the tests, then the engines this run started",
                        name(signal)
                    ));
                } else {
                    say(&format!(
                        "\nxtask: {} again: still stopping; the engines this run started are stopped next",
                        name(signal)
                    ));
                }
            }
        });
        Ok(Signals { first })
    }

    /// The first signal caught, if any.
    pub fn caught(&self) -> Option<i32> {
        Some(self.first.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }

    /// `Err(Interrupted)` once a signal was caught.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.caught() {
            Some(signal) => Err(Interrupted { signal }),
            None => Ok(()),
        }
    }
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// A signal stopped the run; the process exits with 128 + the signal's number (130 for
/// SIGINT), as a shell reports a command a signal ended.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
}

impl Interrupted {
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(1)
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", name(self.signal))
    }
}

impl std::error::Error for Interrupted {}

/// Runs `command` in a process group of its own until it ends, and returns its status and, if
/// the caller made its stdout a pipe, what it wrote there. When `signals` catches a signal
/// meanwhile, the whole group is stopped ([`stop_group`]: SIGINT for `cargo test`, as in a
/// terminal; SIGTERM for a script, whose traps then clean up) and the error is [`Interrupted`].
/// When the command ends by itself, whatever it left running in its group is stopped too.
pub fn run(
    command: &mut Command,
    signals: Option<&Signals>,
    first_signal: &str,
) -> anyhow::Result<(ExitStatus, Vec<u8>)> {
    let mut child = command.process_group(0).spawn().with_context(|| format!("cannot run {command:?}"))?;
    let group = child.id();
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        })
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(signal) = signals.and_then(Signals::caught) {
            stop_group(group, first_signal);
            let _ = child.wait();
            return Err(Interrupted { signal }.into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    stop_group(group, "TERM");
    let stdout = reader.map(|r| r.join().unwrap_or_default()).unwrap_or_default();
    if let Some(signal) = signals.and_then(Signals::caught) {
        return Err(Interrupted { signal }.into());
    }
    Ok((status, stdout))
}

/// Writes a line to stderr, and never fails: after a Ctrl-C the terminal may be gone, or the
/// `tee` the output went through may have been stopped with the run (`eprintln!` would panic).
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs `command` (in a process group of its own) to its end, whatever signals come: the
/// tear-down's `stop.sh` must not be cut short by a second Ctrl-C. Its stderr is relayed
/// through [`say`], so a closed terminal or pipe cannot end it either (by SIGPIPE or a failed
/// write); its stdout is dropped.
pub fn run_to_end(command: &mut Command) -> anyhow::Result<ExitStatus> {
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))?;
    if let Some(err) = child.stderr.take() {
        for line in std::io::BufReader::new(err).lines() {
            match line {
                Ok(line) => say(&line),
                Err(_) => break,
            }
        }
    }
    Ok(child.wait()?)
}

/// Ends every process of process group `group`: `first_signal` (INT or TERM), SIGTERM after
/// 5 s and again after 5 s more (the `docker` client of an attached `docker run` outlives
/// two signals and exits at the third), SIGKILL after 50 s more; returns once none is left (or
/// says so after that). The long wait before SIGKILL lets a child that is itself tearing
/// down engines (the interrupt test's own `cargo xtask test`) finish.
pub fn stop_group(group: u32, first_signal: &str) {
    let steps = [(first_signal, 5), ("TERM", 5), ("TERM", 50), ("KILL", 10)];
    for (i, (signal, secs)) in steps.into_iter().enumerate() {
        let left = group_members(group);
        if left.is_empty() {
            return;
        }
        if i > 0 {
            say(&format!("xtask: still running: {}; sending SIG{signal}", left.join(", ")));
        }
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{group}"))
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if !group_alive(group) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if group_alive(group) {
        say(&format!("xtask: processes of group {group} are still running after SIGKILL"));
    }
}

/// Whether a process of group `group` is running (zombies do not count: PID 1 on these
/// machines may not reap orphans).
pub fn group_alive(group: u32) -> bool {
    !group_members(group).is_empty()
}

/// The running processes of group `group`, as `pid (name)`.
fn group_members(group: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let group = group.to_string();
    entries
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
            let (head, rest) = stat.rsplit_once(") ")?;
            let mut fields = rest.split_ascii_whitespace();
            let state = fields.next()?;
            let pgrp = fields.nth(1)?;
            (state != "Z" && pgrp == group).then(|| format!("{head})"))
        })
        .collect()
}
