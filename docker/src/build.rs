//! `quarry build`: the `docker build` command line, and running it.
//!
//! How the cache id reaches the engine:
//! - On Docker 26+ (BuildKit 0.13+), `--build-arg BUILDKIT_CACHE_MOUNT_NS=<id>`: BuildKit puts the
//!   cache mounts of the build in their own namespace, while `CACHE_ID` keeps its default, so the
//!   layer keys do not change: a build with another id reuses every layer, and sees other mounts.
//! - On older engines, `--build-arg CACHE_ID=<id>`: the rendered mount ids change (the id is in
//!   their key there anyway), which isolates the mounts as a plain `docker build --build-arg
//!   CACHE_ID=<id>` of the rendered file does.

use std::io::Write;
use std::path::Path;

use quarry_core::Hinted;

use anyhow::Context;

use crate::cache_id::CacheId;
use crate::context::remove_build_context;
use crate::engine::Engine;
use crate::interrupt::{self, Interrupted};
use crate::remote_cache::RemotePlan;
use crate::{Message, Say};

/// Pass-throughs to `docker build`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`.
    pub pull: bool,
    /// `--builder NAME` (buildx only).
    pub builder: Option<String>,
    /// `--cache-from` (buildx only).
    pub cache_from: Vec<String>,
    /// `--cache-to` (buildx only).
    pub cache_to: Vec<String>,
    /// `--add-host HOST:IP`.
    pub add_host: Vec<String>,
    /// `--network`.
    pub network: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--progress` (default `auto`).
    pub progress: Option<String>,
    /// `--shm-size` of the build's RUN steps (rocker's `--shm-size-build`).
    pub shm_size: Option<String>,
    /// `--ssh ID[=SOCKET]`: an SSH agent or keys for the RUN steps that mount one
    /// (`--mount=type=ssh`), such as `default` for `$SSH_AUTH_SOCK`.
    pub ssh: Vec<String>,
    /// `podman build --tls-verify=false`: the registry cache over plain http.
    pub tls_verify_off: bool,
}

/// The `docker` arguments that build `context` into `tag`.
pub fn build_args(
    engine: &Engine,
    context: &Path,
    tag: &str,
    cache: &CacheId,
    opts: &BuildOptions,
) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if engine.is_podman() {
        // Podman's own layer cache (`--layers`, its default, said anyway: `BUILDAH_LAYERS` in
        // the environment could turn it off); its registry cache takes a repository.
        args.push("build".into());
        if engine.builds_with_podman() {
            args.push("--layers".into());
            for c in &opts.cache_from {
                args.extend(["--cache-from".into(), c.clone()]);
            }
            for c in &opts.cache_to {
                args.extend(["--cache-to".into(), c.clone()]);
            }
            if opts.tls_verify_off {
                args.push("--tls-verify=false".into());
            }
        }
    } else if engine.buildx {
        args.extend(["buildx".into(), "build".into(), "--load".into()]);
        if let Some(builder) = &opts.builder {
            args.extend(["--builder".into(), builder.clone()]);
        }
        for c in &opts.cache_from {
            args.extend(["--cache-from".into(), c.clone()]);
        }
        for c in &opts.cache_to {
            args.extend(["--cache-to".into(), c.clone()]);
        }
    } else {
        args.push("build".into());
    }
    args.extend(["--tag".into(), tag.to_owned()]);
    if !engine.is_podman() {
        args.extend(["--progress".into(), opts.progress.clone().unwrap_or_else(|| "auto".into())]);
    }
    if cache.value != "default" {
        let arg = if engine.has_mount_namespace() { "BUILDKIT_CACHE_MOUNT_NS" } else { "CACHE_ID" };
        args.extend(["--build-arg".into(), format!("{arg}={}", cache.value)]);
    }
    if opts.no_cache {
        args.push("--no-cache".into());
    }
    if opts.pull {
        args.push("--pull".into());
    }
    for h in &opts.add_host {
        args.extend(["--add-host".into(), h.clone()]);
    }
    if let Some(n) = &opts.network {
        args.extend(["--network".into(), n.clone()]);
    }
    if let Some(p) = &opts.platform {
        args.extend(["--platform".into(), p.clone()]);
    }
    if let Some(s) = &opts.shm_size {
        args.extend(["--shm-size".into(), s.clone()]);
    }
    for s in &opts.ssh {
        args.extend(["--ssh".into(), s.clone()]);
    }
    args.push(context.display().to_string());
    args
}

/// Options the engine's build command does not take, named: `--builder` but with buildx,
/// `--cache-from`/`--cache-to` but with buildx or `podman build`, BuildKit's `--progress` and
/// `--ssh` not through Podman's socket (the Docker CLI's classic build).
pub fn unsupported_on(engine: &crate::engine::Engine, opts: &BuildOptions) -> Vec<&'static str> {
    if !engine.is_podman() {
        return if engine.buildx { Vec::new() } else { unsupported_without_buildx(opts) };
    }
    let mut out = Vec::new();
    if opts.builder.is_some() {
        out.push("--builder");
    }
    if !engine.builds_with_podman() {
        if !opts.cache_from.is_empty() {
            out.push("--cache-from");
        }
        if !opts.cache_to.is_empty() {
            out.push("--cache-to");
        }
        if !opts.ssh.is_empty() {
            out.push("--build-ssh");
        }
        // Podman 4.3's compatible build endpoint answers the Docker CLI's `extrahosts` with 400
        // Bad Request (measured; docs/podman.md).
        if !opts.add_host.is_empty() && engine.major_minor < (5, 0) {
            out.push("--add-host");
        }
    }
    out
}

/// Options that need buildx, named, when the engine has none.
pub fn unsupported_without_buildx(opts: &BuildOptions) -> Vec<&'static str> {
    let mut out = Vec::new();
    if opts.builder.is_some() {
        out.push("--builder");
    }
    if !opts.cache_from.is_empty() {
        out.push("--cache-from");
    }
    if !opts.cache_to.is_empty() {
        out.push("--cache-to");
    }
    out
}

/// The step a failed build stopped at, read from BuildKit's plain or tty progress output: the
/// last `[stage n/m] INSTRUCTION` line of the error block.
pub fn failing_step(progress: &str) -> Option<String> {
    let mut found = None;
    for line in progress.lines() {
        let line = line.trim();
        // `------` blocks show ` > [cargo_builder 2/3] RUN ...:`; earlier lines `#12 [x 2/3] RUN ...`.
        if let Some(rest) = line.strip_prefix("> [") {
            found = Some(format!("[{}", rest.trim_end_matches(':')));
        } else if found.is_none()
            && line.contains("ERROR")
            && let Some(at) = line.find('[')
        {
            found = Some(line[at..].to_owned());
        }
    }
    found
}

/// What [`is_snapshot_flake`] recognises, for the note that says a build runs again.
pub const SNAPSHOT_FLAKE: &str = "BuildKit's known snapshot race of parallel builds on the containerd store \
     (`failed to commit … during finalize: failed to stat active key during commit: snapshot … does not exist: not found`)";

/// Whether a failed build's output ends in one of containerd's known snapshot flakes on the
/// containerd image store: an error line holding
/// `failed to commit <id> during finalize: failed to stat active key during commit: snapshot <id>
/// does not exist: not found` (parallel builds that share a RUN step), or
/// `failed to prepare extraction snapshot "<key>": parent snapshot <id> does not exist: not found`
/// (unpacking the new image while layers it shares were just released; seen here on a fresh
/// machine). The same build passes when run again. Only an error line counts (`ERROR: …`,
/// `error: …`, `#12 ERROR: …`), not a step's own output (`#12 0.31 …`).
pub fn is_snapshot_flake(output: &str) -> bool {
    is_commit_flake(output) || is_extraction_flake(output)
}

/// The body of each error line of `output`.
fn error_lines(output: &str) -> impl Iterator<Item = &str> {
    output.lines().filter_map(|line| {
        let line = line.trim();
        let body = match line.strip_prefix('#') {
            Some(rest) => {
                rest.split_once(' ').map_or("", |(n, b)| if n.parse::<u32>().is_ok() { b } else { "" })
            }
            None => line,
        };
        body.to_ascii_lowercase().starts_with("error:").then_some(body)
    })
}

/// `failed to prepare extraction snapshot "<key>": parent snapshot <id> does not exist: not found`.
fn is_extraction_flake(output: &str) -> bool {
    error_lines(output).any(|body| {
        let Some((_, rest)) = body.split_once("failed to prepare extraction snapshot \"") else {
            return false;
        };
        let Some((key, rest)) = rest.split_once("\": parent snapshot ") else { return false };
        !key.is_empty()
            && rest
                .split_once(' ')
                .is_some_and(|(id, tail)| !id.is_empty() && tail.starts_with("does not exist: not found"))
    })
}

fn is_commit_flake(output: &str) -> bool {
    const MIDDLE: &str = " during finalize: failed to stat active key during commit: snapshot ";
    error_lines(output).any(|body| {
        let Some(at) = body.find(MIDDLE) else { return false };
        let (before, after) = (&body[..at], &body[at + MIDDLE.len()..]);
        let committed = before
            .rsplit_once("failed to commit ")
            .is_some_and(|(_, id)| !id.is_empty() && !id.contains(' '));
        let missing = after
            .split_once(' ')
            .is_some_and(|(id, rest)| !id.is_empty() && rest.starts_with("does not exist: not found"));
        committed && missing
    })
}

/// The warning [`execute`] gives before it runs a build once more.
fn once_more() -> String {
    format!("the build hit {SNAPSHOT_FLAKE}: building once more")
}

/// A build's output (as [`execute`] streamed it) cut into its attempts, at the warning it gives
/// before running the build once more. Read each attempt's rawjson on its own and merge them with
/// [`crate::progress::merge_attempts`]: the retry finds CACHED what the first attempt ran.
pub fn attempts(output: &str) -> Vec<&str> {
    let marker = once_more();
    let mut attempts = Vec::new();
    let mut rest = output;
    while let Some(at) = rest.find(&marker) {
        let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = rest[at..].find('\n').map_or(rest.len(), |i| at + i + 1);
        attempts.push(&rest[..line_start]);
        rest = &rest[line_end..];
    }
    attempts.push(rest);
    attempts
}

/// Whether failed attempt number `attempt` (from 1) of a build is run again: only the first,
/// only when it was not interrupted, and only after [`is_snapshot_flake`].
pub fn retry_after_failure(attempt: u32, interrupted: bool, output: &str) -> bool {
    attempt == 1 && !interrupted && is_snapshot_flake(output)
}

/// Runs the build `args` (from [`build_args`], without the `docker` program) of `context`, once
/// more after BuildKit's known snapshot flake ([`retry_after_failure`]), started as `launch`
/// says (`DOCKER_BUILDKIT=1` on an engine without buildx, Podman's stdout). The engine's progress goes
/// to stderr as it comes, or, `quiet`, is held back and shown ([`Message::Output`]) only when the
/// build fails. After a success it exports the `remote` cache and removes the context; a failure
/// keeps the context and names it, an interrupt is [`Interrupted`].
pub fn execute(
    docker: &str,
    args: &[String],
    context: &Path,
    launch: Launch,
    remote: Option<&RemotePlan>,
    quiet: bool,
    say: Say,
) -> anyhow::Result<String> {
    let mut attempt = 1;
    let mut progress = String::new();
    let (status, tail) = loop {
        say(Message::Detail(crate::run::shell_line(docker, args)));
        let streamed = run_streaming(docker, args, launch, !quiet)?;
        progress.push_str(&streamed.progress);
        let (status, tail) = (streamed.status, streamed.tail);
        let stopped = interrupt::happened() || interrupted(&status);
        if status.success() || !retry_after_failure(attempt, stopped, &tail) {
            break (status, tail);
        }
        say(Message::Warning(once_more().into()));
        attempt += 1;
    };
    if status.success() {
        if let Some(plan) = remote {
            let _ = crate::remote_cache::export(docker, args, plan, say);
        }
        if let Err(e) = remove_build_context(context) {
            say(Message::Warning(
                format!("cannot remove the build context `{}`: {e}", context.display()).into(),
            ));
        }
        return Ok(progress);
    }
    if interrupt::happened() || interrupted(&status) {
        return Err(Interrupted { context: context.to_path_buf() }.into());
    }
    if quiet {
        say(Message::Output(tail.clone()));
    }
    if let Some(image) = missing_image(&tail) {
        anyhow::bail!(Hinted::new(
            format!("the image `{image}` is not available on this engine and cannot be pulled"),
            "build or load it first (`docker load`, `docker import`), or name an image that `docker images` lists",
        ));
    }
    let step = if launch.podman { crate::buildah::failing_step(&tail) } else { failing_step(&tail) };
    let step = step.map(|s| format!(" at step `{s}`")).unwrap_or_default();
    let code = status.code().map(|c| format!(" (docker exited with code {c})")).unwrap_or_default();
    anyhow::bail!(Hinted::new(
        format!("the build failed{step}{code}"),
        format!("the build context is kept at `{}`", context.display()),
    ))
}

/// The image a build could not find or pull, read from BuildKit's error.
fn missing_image(tail: &str) -> Option<String> {
    let line = tail.lines().rev().find(|l| l.contains("failed to resolve source metadata for "))?;
    let rest = line.split("failed to resolve source metadata for ").nth(1)?;
    let image = rest.split(':').take(2).collect::<Vec<_>>().join(":");
    Some(quarry_buildkit::image::short(&image).to_owned())
}

fn interrupted(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(2) || status.code() == Some(130)
}

/// What [`run_streaming`] saw.
#[derive(Debug)]
pub struct Streamed {
    /// The command's exit status.
    pub status: std::process::ExitStatus,
    /// The last lines of its output, to read the failing step from.
    pub tail: String,
    /// The progress lines that say what each step did ([`crate::progress::ran_steps`] reads
    /// them): plain progress's step, `CACHED`, `DONE` and `ERROR` lines and attempt banners, or
    /// rawjson's objects; a step's own output is left out.
    pub progress: String,
}

/// How a build command is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Launch {
    /// A variable the command needs ([`Engine::build_env`]).
    pub env: Option<(&'static str, &'static str)>,
    /// Podman (`podman build`, or the Docker CLI's classic build on its socket): the steps come
    /// on stdout, which is quarry's data channel, so they are read and passed on to stderr like
    /// the rest of the progress; Buildah's progress lines.
    pub podman: bool,
}

impl Launch {
    /// How builds on `engine` are started (none: a Docker engine with buildx).
    pub fn of(engine: Option<&Engine>) -> Launch {
        match engine {
            Some(e) => Launch { env: e.build_env(), podman: e.is_podman() },
            None => Launch::default(),
        }
    }
}

/// Runs `docker args` as `launch` says, passing its stderr (and `podman build`'s stdout) through
/// when `echo`, and keeping the last lines to read the failing step from and the progress lines;
/// Ctrl-C reaches the child ([`interrupt`]).
pub fn run_streaming(docker: &str, args: &[String], launch: Launch, echo: bool) -> anyhow::Result<Streamed> {
    use std::io::BufRead;
    let mut command = std::process::Command::new(docker);
    let stdout = if launch.podman { std::process::Stdio::piped() } else { std::process::Stdio::inherit() };
    command.args(args).stdout(stdout).stderr(std::process::Stdio::piped());
    if let Some((name, value)) = launch.env {
        command.env(name, value);
    }
    interrupt::install();
    let mut child = command.spawn().with_context(|| format!("cannot run `{docker}`"))?;
    interrupt::watch(child.id());
    // Buildah's steps, read on a thread of their own while stderr is read here, each line to
    // stderr as it comes.
    let steps = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if echo {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
                lines.push(line);
            }
            lines
        })
    });
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut progress = String::new();
    if let Some(stderr) = child.stderr.take() {
        let mut err = std::io::stderr();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if echo {
                let _ = writeln!(err, "{line}");
            }
            if is_progress(&line) {
                progress.push_str(&line);
                progress.push('\n');
            }
            tail.push_back(line);
            if tail.len() > 400 {
                tail.pop_front();
            }
        }
    }
    let status = child.wait()?;
    interrupt::watch(0);
    if let Some(lines) = steps.and_then(|t| t.join().ok()) {
        // Buildah's steps first: its error line (stderr) says where it stopped.
        let mut all: Vec<String> = lines.iter().filter(|l| crate::buildah::is_progress(l)).cloned().collect();
        for line in &all {
            progress.push_str(line);
            progress.push('\n');
        }
        all.extend(tail);
        let skip = all.len().saturating_sub(400);
        tail = all.into_iter().skip(skip).collect();
    }
    Ok(Streamed { status, tail: tail.into_iter().collect::<Vec<_>>().join("\n"), progress })
}

/// Whether a line of a build's output says what a step did (see [`Streamed::progress`]).
fn is_progress(line: &str) -> bool {
    if line.starts_with('{') {
        return line.contains("\"vertexes\"");
    }
    let Some((num, body)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else { return false };
    num.parse::<u32>().is_ok()
        && (body.starts_with('[')
            || body.starts_with("CACHED")
            || body.starts_with("DONE ")
            || body.starts_with("ERROR")
            || body.starts_with("building with"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_id::Source;

    fn engine(version: &str, buildx: bool) -> Engine {
        Engine {
            version: version.into(),
            major_minor: crate::engine::parse_version(version).unwrap(),
            buildx,
            containerd_store: true,
            podman: None,
        }
    }

    fn id(v: &str) -> CacheId {
        CacheId { value: v.into(), source: Source::Flag }
    }

    #[test]
    fn cache_id_goes_to_the_mount_namespace_on_new_engines() {
        let opts = BuildOptions::default();
        let args = build_args(&engine("26.1.5", true), Path::new("/ctx"), "t:1", &id("py310"), &opts);
        assert_eq!(
            args,
            [
                "buildx",
                "build",
                "--load",
                "--tag",
                "t:1",
                "--progress",
                "auto",
                "--build-arg",
                "BUILDKIT_CACHE_MOUNT_NS=py310",
                "/ctx"
            ]
        );
        let args = build_args(&engine("20.10.24", false), Path::new("/ctx"), "t:1", &id("py310"), &opts);
        assert_eq!(
            args,
            ["build", "--tag", "t:1", "--progress", "auto", "--build-arg", "CACHE_ID=py310", "/ctx"]
        );
        let args = build_args(&engine("26.1.5", true), Path::new("/ctx"), "t:1", &id("default"), &opts);
        assert!(!args.iter().any(|a| a.contains("CACHE")));
    }

    #[test]
    fn pass_throughs() {
        let opts = BuildOptions {
            no_cache: true,
            pull: true,
            builder: Some("b".into()),
            cache_from: vec!["type=local,src=/c".into()],
            cache_to: vec!["type=local,dest=/c".into()],
            add_host: vec!["deb.debian.org:1.2.3.4".into()],
            network: Some("host".into()),
            platform: Some("linux/amd64".into()),
            progress: Some("plain".into()),
            shm_size: None,
            ssh: vec!["default".into()],
            tls_verify_off: false,
        };
        let args =
            build_args(&engine("26.1.5", true), Path::new("/ctx"), "t:1", &id("default"), &opts).join(" ");
        assert_eq!(
            args,
            "buildx build --load --builder b --cache-from type=local,src=/c --cache-to type=local,dest=/c \
             --tag t:1 --progress plain --no-cache --pull --add-host deb.debian.org:1.2.3.4 --network host \
             --platform linux/amd64 --ssh default /ctx"
        );
        assert_eq!(unsupported_without_buildx(&opts), ["--builder", "--cache-from", "--cache-to"]);
    }

    /// A failed parallel build's plain progress as BuildKit prints the flake (the ids are made up;
    /// the message is the one in `../shared/buildkit-cache-facts.md`).
    const FLAKE: &str = "#11 [quarry_final 5/6] RUN set -eu; git --version\n\
#11 0.215 git version 2.39.5\n\
#11 ERROR: failed to commit xg5pqixd4o1y7q0v4wcylyvzt during finalize: failed to stat active key during commit: snapshot 2ljdx0y4u8d0ocl0fv8y0x7i1 does not exist: not found\n\
------\n\
 > [quarry_final 5/6] RUN set -eu; git --version:\n\
------\n\
ERROR: failed to solve: failed to commit xg5pqixd4o1y7q0v4wcylyvzt during finalize: failed to stat active key during commit: snapshot 2ljdx0y4u8d0ocl0fv8y0x7i1 does not exist: not found";

    #[test]
    fn the_snapshot_flake_is_recognised_and_nothing_else() {
        assert!(is_snapshot_flake(FLAKE));
        assert!(is_snapshot_flake(FLAKE.lines().last().unwrap()));
        assert!(is_snapshot_flake(FLAKE.lines().nth(2).unwrap()));
        let others = [
            // A step that prints the text is not the engine failing.
            "#11 0.311 ERROR: failed to commit a during finalize: failed to stat active key during commit: snapshot b does not exist: not found\nERROR: failed to solve: process \"/bin/sh -c x\" did not complete successfully: exit code: 1",
            "ERROR: failed to solve: failed to compute cache key: failed to calculate checksum of ref x: \"/a\": not found",
            "ERROR: failed to solve: snapshot 2ljdx does not exist: not found",
            "ERROR: failed to solve: failed to commit x during finalize: failed to stat active key during commit: snapshot y is busy",
            "ERROR: failed to solve: during finalize: failed to stat active key during commit: snapshot y does not exist: not found",
            "failed to commit x during finalize: failed to stat active key during commit: snapshot y does not exist: not found",
            "",
        ];
        for other in others {
            assert!(!is_snapshot_flake(other), "{other}");
        }
        // Seen in this project's engine tests on Docker 26.1.5 with the containerd store.
        let extraction = "#12 ERROR: failed to prepare extraction snapshot \"extract-400370448-_uSh sha256:94c60008fd7562ce1cf1c79b1314bd79c6aebd14acc11c2cfcc4773d5db5ec10\": parent snapshot sha256:14579f053e53526a0b3109e62066ca6bc7262ccf5244803c0d8b23ac4d0891ca does not exist: not found\nERROR: failed to solve: failed to prepare extraction snapshot \"extract-400370448-_uSh sha256:94c6\": parent snapshot sha256:1457 does not exist: not found";
        assert!(is_snapshot_flake(extraction));
        assert!(!is_snapshot_flake(
            "#12 0.1 failed to prepare extraction snapshot \"k\": parent snapshot p does not exist: not found"
        ));
        assert!(!is_snapshot_flake(
            "ERROR: failed to prepare extraction snapshot \"k\": parent snapshot p is busy"
        ));
    }

    #[test]
    fn a_build_is_retried_once_and_only_after_the_flake() {
        assert!(retry_after_failure(1, false, FLAKE));
        let output = format!("one\n\x1b[1;33mwarning:\x1b[0m {}\ntwo\n", once_more());
        assert_eq!(attempts(&output), ["one\n", "two\n"]);
        assert_eq!(attempts("only\n"), ["only\n"]);
        assert!(!retry_after_failure(2, false, FLAKE), "only once");
        assert!(!retry_after_failure(1, true, FLAKE), "never after Ctrl-C");
        assert!(!retry_after_failure(1, false, "ERROR: failed to solve: exit code: 1"));
    }

    #[test]
    fn failing_step_is_found() {
        let out = "#7 [tool_builder 2/2] RUN false\n#7 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n------\n > [tool_builder 2/2] RUN false:\n------\nERROR: failed to solve";
        assert_eq!(failing_step(out).as_deref(), Some("[tool_builder 2/2] RUN false"));
        assert_eq!(failing_step("all good"), None);
    }
}
