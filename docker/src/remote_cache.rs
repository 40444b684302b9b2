//! The shared remote cache: one registry reference per builder stage, one per project's final
//! stage, and the `docker buildx` arguments that import and export them.
//!
//! Naming (see `docs/remote-cache.md`): a builder stage's reference is
//! `REGISTRY/REPO:<stage>-<hash>`, where the hash covers everything BuildKit's keys for that stage
//! depend on and nothing else: [`FORMAT`], the ARGs before the first `FROM`, the stage's `FROM`
//! line and instructions as rendered (heredoc bodies and the context files it copies included),
//! the same for the builder stage it starts `FROM` (recursively), the platform and the build
//! arguments that reach layer keys. Two projects that render the same builder stage therefore
//! name the same reference, whatever their other extensions and final images are.
//!
//! The final stage's reference is `REGISTRY/REPO:final-<project>-<content>`: `project` hashes the
//! final image and the sorted list of requested extensions (not the project's path: the same
//! selection in two repositories, or checked out at two paths on two runners, is one project);
//! `content` hashes the whole rendered build (every stage and file), because the final stage
//! copies from every builder. A changed option thus names a new final reference, while the
//! builders it did not touch keep theirs.
//!
//! A reference is only a name under which BuildKit finds cache records: BuildKit still matches
//! each step by its own cache key, so a wrong or stale reference costs a cache miss, never a
//! wrong image.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use quarry_buildkit::dockerfile::{Body, Dockerfile, Stage};
use quarry_buildkit::hash::fnv1a;
use quarry_core::{Hint, Hinted, Rendered};

use crate::engine::Engine;
use crate::{Message, Say};

/// quarry's own cache-format version: bump it when the rendered layout changes in a way the
/// stage texts do not show (it starts every hash).
pub const FORMAT: u32 = 1;

/// A validated `REGISTRY/REPO`: where the shared cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRepo {
    /// `registry.example.com:5000`, `127.0.0.1:5000`, `ghcr.io`.
    pub host: String,
    /// `team/quarry-cache`.
    pub path: String,
}

impl CacheRepo {
    /// Parses and checks `REGISTRY/REPO`: a registry host (with a `.` or a `:port`, or
    /// `localhost`), then lowercase path components, and no tag or digest (quarry names the tags).
    pub fn parse(text: &str) -> Result<CacheRepo, Hinted> {
        const HINT: &str = "write it as `REGISTRY/REPO`, e.g. `ghcr.io/team/quarry-cache` or \
                            `127.0.0.1:5000/quarry-cache`, without a tag: quarry names one tag per stage";
        let bad = |why: &str| {
            Hinted::new(format!("invalid cache registry {}: {why}", quarry_core::text::shown(text)), HINT)
        };
        if text.contains('@') {
            return Err(bad("it carries a digest"));
        }
        let Some((host, path)) = text.split_once('/') else {
            return Err(bad("it names no repository after the registry host"));
        };
        let is_host = host == "localhost" || host.contains('.') || host.contains(':');
        if !is_host {
            return Err(bad(&format!("`{host}` is not a registry host (it has no `.` or `:port`)")));
        }
        if path.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            return Err(bad("it carries a tag"));
        }
        if !quarry_core::rules::is_image_ref(text) || path.is_empty() {
            return Err(bad("it is not a valid image repository"));
        }
        Ok(CacheRepo { host: host.to_owned(), path: path.to_owned() })
    }

    /// Whether the host is this machine's loopback: BuildKit and Docker talk plain http to such
    /// registries without being told to.
    pub fn is_loopback(&self) -> bool {
        let name = self.host.rsplit_once(':').map_or(self.host.as_str(), |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) { h } else { self.host.as_str() }
        });
        let name = name.trim_start_matches('[').trim_end_matches(']');
        name == "localhost" || name.starts_with("127.") || name == "::1"
    }

    /// `host/path:tag`.
    pub fn reference(&self, tag: &str) -> String {
        format!("{}/{}:{tag}", self.host, self.path)
    }
}

/// The remote-cache settings of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCache {
    /// Where.
    pub repo: CacheRepo,
    /// Whether the registry may be spoken to over plain http (`[cache] insecure`,
    /// `--cache-registry-insecure`); loopback registries need no flag.
    pub insecure: bool,
}

/// One reference of a build's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRef {
    /// The builder stage, or `None` for the final stage.
    pub stage: Option<String>,
    /// `host/path:tag`.
    pub reference: String,
    /// The project's moving reference (`latest-<project>`): the last final stage any build of
    /// the project exported. Imported when present, rewritten with every final-stage export,
    /// never a reason to export.
    pub moving: bool,
}

/// What besides the rendered text reaches BuildKit's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInputs {
    /// `--platform`.
    pub platform: Option<String>,
    /// `--build-arg NAME=VALUE` that reach layer keys (`CACHE_ID` on old engines; not
    /// `BUILDKIT_CACHE_MOUNT_NS`, which only names mount namespaces).
    pub build_args: Vec<(String, String)>,
    /// The project's name (the folder of its quarry.toml), for its moving reference; not a key
    /// input. `None`: no moving reference.
    pub project: Option<String>,
}

/// The references of a build: one per builder stage (`*_builder`) in file order, then the final
/// stage's.
pub fn plan(repo: &CacheRepo, rendered: &Rendered, keys: &KeyInputs) -> Result<Vec<StageRef>, String> {
    let file = quarry_buildkit::dockerfile::parse(&rendered.dockerfile).map_err(|e| e.to_string())?;
    let files: Vec<(&str, &[u8])> = rendered.files.iter().map(|f| (f.path.as_str(), &*f.contents)).collect();
    let mut refs = Vec::new();
    for stage in &file.stages {
        let Some(name) = stage.name.as_deref().filter(|n| n.ends_with("_builder")) else { continue };
        let hash = stage_hash(&file, stage, &files, keys);
        refs.push(StageRef {
            stage: Some(name.to_owned()),
            reference: repo.reference(&format!("{name}-{hash:016x}")),
            moving: false,
        });
    }
    let mut names: Vec<&str> =
        rendered.resolved.extensions.iter().filter(|r| r.requested).map(|r| r.extension.name).collect();
    names.sort_unstable();
    let image = file.stages.last().map(|s| s.base.as_str()).unwrap_or_default();
    let project = fnv1a(format!("{FORMAT}\n{image}\n{}", names.join(",")).as_bytes());
    let mut all = format!("{FORMAT}\n{}\n", keys_text(keys)).into_bytes();
    all.extend_from_slice(rendered.dockerfile.as_bytes());
    for (path, contents) in &files {
        all.extend_from_slice(format!("\n{path}\n{}\n", contents.len()).as_bytes());
        all.extend_from_slice(contents);
    }
    refs.push(StageRef {
        stage: None,
        reference: repo.reference(&format!("final-{project:016x}-{:016x}", fnv1a(&all))),
        moving: false,
    });
    if let Some(name) = &keys.project {
        let name = fnv1a(format!("{FORMAT}\n{name}").as_bytes());
        refs.push(StageRef {
            stage: None,
            reference: repo.reference(&format!("latest-{name:016x}")),
            moving: true,
        });
    }
    Ok(refs)
}

fn keys_text(keys: &KeyInputs) -> String {
    let mut args = keys.build_args.clone();
    args.sort();
    let args: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("platform={}\nargs={}", keys.platform.as_deref().unwrap_or(""), args.join("\u{1f}"))
}

/// The hash of a stage's cache inputs: [`FORMAT`], the key inputs, the global ARGs, then the
/// chain of stages from the root image to `stage`, each with its FROM and instructions.
fn stage_hash(file: &Dockerfile, stage: &Stage, files: &[(&str, &[u8])], keys: &KeyInputs) -> u64 {
    let mut text = format!("quarry-remote-cache {FORMAT}\n{}\n", keys_text(keys));
    for arg in &file.global_args {
        text.push_str(&format!("ARG {}={:?}\n", arg.name, arg.default));
    }
    let mut chain = vec![stage];
    let mut current = stage;
    // A stage can only start FROM an earlier one; the bound guards against a malformed file.
    while chain.len() <= file.stages.len() {
        let base = current.base.to_ascii_lowercase();
        match file.stages.iter().take(current.index).find(|s| s.name.as_deref() == Some(base.as_str())) {
            Some(parent) => {
                chain.push(parent);
                current = parent;
            }
            None => break,
        }
    }
    let mut bytes = Vec::new();
    for s in chain.iter().rev() {
        text.push_str(&format!("FROM {} platform={:?} AS {:?}\n", s.base, s.platform, s.name));
        for i in &s.instructions {
            text.push_str(&i.text);
            text.push('\n');
            for h in &i.heredocs {
                text.push_str(&format!("<<{}\n{}{}\n", h.name, h.body, h.name));
            }
            if i.flag("from").is_none()
                && let Body::Copy { sources, .. } = &i.body
            {
                for source in sources {
                    let source = source.trim_start_matches("./").trim_end_matches('/');
                    for (path, contents) in files {
                        let inside =
                            path.strip_prefix(source).is_some_and(|r| r.is_empty() || r.starts_with('/'));
                        if inside || source == "." {
                            bytes.extend_from_slice(format!("{path}\n{}\n", contents.len()).as_bytes());
                            bytes.extend_from_slice(contents);
                        }
                    }
                }
            }
        }
    }
    let mut all = text.into_bytes();
    all.extend_from_slice(&bytes);
    fnv1a(&all)
}

/// Whether an export's error says the registry refuses pushes (read-only, no permission), so the
/// other exports of the build would fail the same way.
pub fn refuses_pushes(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    ["405 method not allowed", "401 unauthorized", "403 forbidden", "denied", "unauthorized"]
        .iter()
        .any(|m| lower.contains(m))
}

/// `--cache-from` / `--cache-to` values.
pub fn cache_from(cache: &RemoteCache, reference: &str) -> String {
    format!("type=registry,ref={reference}{}", insecure_attr(cache))
}

/// See [`cache_from`]: `mode=max`, so every step of the stage is exported, not only the result.
pub fn cache_to(cache: &RemoteCache, reference: &str) -> String {
    format!("type=registry,ref={reference},mode=max{}", insecure_attr(cache))
}

fn insecure_attr(cache: &RemoteCache) -> &'static str {
    if cache.insecure && !cache.repo.is_loopback() { ",registry.insecure=true" } else { "" }
}

/// Why the registry cannot be used. `Display` is the message; [`Hint`] the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Nothing answers.
    #[error("cannot reach the cache registry `{host}`: {detail}")]
    Unreachable {
        /// The registry host.
        host: String,
        /// What the connection said.
        detail: String,
    },
    /// It speaks plain http, which was not allowed.
    #[error("the cache registry `{0}` speaks plain http, which quarry does not use unless told to")]
    Insecure(String),
    /// Anything else (authentication, a server error).
    #[error("the cache registry `{host}` answered: {detail}")]
    Other {
        /// The registry host.
        host: String,
        /// What it said.
        detail: String,
    },
}

impl Hint for ProbeError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Insecure(_) => Some(
                "if you trust the network to it, set `insecure = true` under `[cache]` or pass \
                 `--cache-registry-insecure`; else serve it over https"
                    .to_owned(),
            ),
            Self::Unreachable { .. } | Self::Other { .. } => None,
        }
    }
}

/// Whether the registry holds `tag`, asked over plain http (loopback or `insecure`) with the
/// registry API (`HEAD /v2/<repo>/manifests/<tag>`), else through `docker buildx imagetools
/// inspect`, which uses Docker's credentials and TLS.
pub fn exists(docker: &str, cache: &RemoteCache, tag_ref: &str) -> Result<bool, ProbeError> {
    if cache.insecure || cache.repo.is_loopback() {
        let tag = tag_ref.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
        match http_head(&cache.repo, tag) {
            Ok(200) => return Ok(true),
            Ok(404) => return Ok(false),
            // 401: the registry wants credentials: ask through Docker, which has them.
            Ok(401) => {}
            Ok(code) => {
                return Err(ProbeError::Other {
                    host: cache.repo.host.clone(),
                    detail: format!("HTTP {code} for the manifest of `{tag_ref}`"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let out = std::process::Command::new(docker)
        .args(["buildx", "imagetools", "inspect", "--raw", tag_ref])
        .output()
        .map_err(|e| ProbeError::Other {
            host: cache.repo.host.clone(),
            detail: format!("cannot run `{docker}`: {e}"),
        })?;
    if out.status.success() {
        return Ok(true);
    }
    Err(classify(&cache.repo.host, &String::from_utf8_lossy(&out.stderr))).or_else(|e| match e {
        ProbeError::Other { ref detail, .. } if detail == "not found" => Ok(false),
        e => Err(e),
    })
}

/// Reads `docker buildx imagetools inspect`'s complaint.
pub fn classify(host: &str, stderr: &str) -> ProbeError {
    let text = stderr.trim();
    let lower = text.to_ascii_lowercase();
    let first = text.lines().last().unwrap_or_default().trim_start_matches("ERROR: ").to_owned();
    if lower.contains("http response to https client") {
        return ProbeError::Insecure(host.to_owned());
    }
    if lower.contains(": not found") || lower.contains("manifest unknown") {
        return ProbeError::Other { host: host.to_owned(), detail: "not found".to_owned() };
    }
    let unreachable =
        ["connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host"];
    if unreachable.iter().any(|u| lower.contains(u)) {
        return ProbeError::Unreachable { host: host.to_owned(), detail: first };
    }
    ProbeError::Other { host: host.to_owned(), detail: first }
}

fn http_head(repo: &CacheRepo, tag: &str) -> Result<u16, ProbeError> {
    let unreachable = |detail: String| ProbeError::Unreachable { host: repo.host.clone(), detail };
    let authority = if repo.host.contains(':') { repo.host.clone() } else { format!("{}:80", repo.host) };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("the name has no address".to_owned()))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| unreachable(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "HEAD /v2/{}/manifests/{tag} HTTP/1.1\r\nHost: {}\r\nUser-Agent: quarry\r\nAccept: \
         application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
         application/vnd.docker.distribution.manifest.list.v2+json, \
         application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n",
        repo.path, repo.host
    );
    stream.write_all(request.as_bytes()).map_err(|e| unreachable(e.to_string()))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(unreachable(e.to_string())),
        }
        if head.len() > 8192 {
            break;
        }
    }
    parse_status(&head).ok_or_else(|| {
        if head.first() == Some(&0x15) || head.starts_with(b"\x16") {
            ProbeError::Other { host: repo.host.clone(), detail: "it speaks TLS: drop `insecure`".to_owned() }
        } else {
            ProbeError::Other {
                host: repo.host.clone(),
                detail: format!(
                    "not an HTTP answer: {:?}",
                    String::from_utf8_lossy(&head[..head.len().min(60)])
                ),
            }
        }
    })
}

/// `HTTP/1.1 404 Not Found\r\n...` -> 404.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|p| p.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// The remote cache of one build: what it imports and what it exports afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePlan {
    /// The settings.
    pub cache: RemoteCache,
    /// Every reference of the build (builders, then the final stage).
    pub refs: Vec<StageRef>,
    /// The references the registry does not hold yet: exported after the build.
    pub missing: Vec<StageRef>,
    /// The project's moving references, held or not: written with every final-stage export.
    pub moving: Vec<String>,
}

impl RemotePlan {
    /// `--cache-from` values: every reference the registry holds (all of them in a dry run).
    pub fn imports(&self) -> Vec<String> {
        self.refs
            .iter()
            .filter(|r| !self.missing.contains(r))
            .map(|r| cache_from(&self.cache, &r.reference))
            .collect()
    }
}

/// Why the remote cache is left out of a build, said as a warning; the build goes on.
pub fn engine_problem(engine: &Engine, driver: Option<&str>) -> Option<Hinted> {
    if !engine.buildx {
        return Some(Hinted::new(
            "the remote cache needs docker buildx, which this engine does not have: building without it",
            "install the buildx plugin",
        ));
    }
    if driver == Some("docker") && !engine.containerd_store {
        return Some(Hinted::new(
            format!(
                "Docker {}'s default builder (the `docker` driver on the classic image store) cannot export \
                 caches: building without the remote cache",
                engine.version
            ),
            "turn on the containerd image store (`{\"features\": {\"containerd-snapshotter\": true}}` in \
             daemon.json), or use a `docker-container` builder: `docker buildx create --name quarry --driver \
             docker-container` and `--builder quarry`",
        ));
    }
    None
}

/// The remote cache of a build on `engine` (whose builder has `driver`), said as notes through
/// `say`: `None`, with a warning, when the engine cannot export or the registry cannot be asked (the build goes
/// on without it); `Err` only when the render cannot be read. A dry run asks nothing and imports
/// every reference.
// Each argument is a separate input of the decision; a struct of them would be used once.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    docker: &str,
    settings: &RemoteCache,
    engine: &Engine,
    driver: Option<&str>,
    keys: &KeyInputs,
    rendered: &Rendered,
    dry_run: bool,
    say: Say,
) -> Result<Option<RemotePlan>, String> {
    if let Some(problem) = engine_problem(engine, driver) {
        say(Message::Warning(problem));
        return Ok(None);
    }
    let refs = plan(&settings.repo, rendered, keys)?;
    if dry_run {
        say(Message::Note(
            "remote cache: a dry run imports every reference; a build asks the registry first and exports what it lacks"
                .to_owned(),
        ));
        let moving = refs.iter().filter(|r| r.moving).map(|r| r.reference.clone()).collect();
        return Ok(Some(RemotePlan { cache: settings.clone(), refs, missing: Vec::new(), moving }));
    }
    match probe(docker, settings, refs) {
        Ok(plan) => {
            say(Message::Note(format!(
                "remote cache `{}/{}`: {} of {} references in the registry; {} to export after the build",
                settings.repo.host,
                settings.repo.path,
                plan.refs.len() - plan.missing.len(),
                plan.refs.len(),
                plan.missing.len()
            )));
            Ok(Some(plan))
        }
        Err(e) => {
            let message = format!("{e}: building without the remote cache");
            say(Message::Warning(Hinted { message, hint: e.hint() }));
            Ok(None)
        }
    }
}

/// Asks the registry which references it holds. `Err` when it cannot be asked (the caller warns
/// and builds without the remote cache).
pub fn probe(docker: &str, cache: &RemoteCache, refs: Vec<StageRef>) -> Result<RemotePlan, ProbeError> {
    let mut missing = Vec::new();
    let moving = refs.iter().filter(|r| r.moving).map(|r| r.reference.clone()).collect();
    let mut absent = Vec::new();
    for r in &refs {
        if !exists(docker, cache, &r.reference)? {
            if r.moving {
                absent.push(r.clone());
            } else {
                missing.push(r.clone());
            }
        }
    }
    // A moving reference the registry lacks is not imported (it is written with the final stage).
    let refs = refs.into_iter().filter(|r| !absent.contains(r)).collect();
    Ok(RemotePlan { cache: cache.clone(), refs, missing, moving })
}

/// The `docker` arguments that export `r` after the main build `main` (a buildx command line
/// ending in the context): the same build, cached by then, with `--target` for a builder stage,
/// no image output, and the stage's own `--cache-to`.
pub fn export_args(main: &[String], plan: &RemotePlan, r: &StageRef) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < main.len() {
        match main[i].as_str() {
            "--load" => {}
            "--tag" | "--progress" | "--cache-to" => i += 1,
            _ if i + 1 == main.len() => break,
            a => out.push(a.to_owned()),
        }
        i += 1;
    }
    out.extend(["--progress".into(), "plain".into(), "--output".into(), "type=cacheonly".into()]);
    if let Some(stage) = &r.stage {
        out.extend(["--target".into(), stage.clone()]);
    }
    out.extend(["--cache-to".into(), cache_to(&plan.cache, &r.reference)]);
    if r.stage.is_none() {
        // The project's moving reference gets the same cache, in the same run.
        for m in &plan.moving {
            out.extend(["--cache-to".into(), cache_to(&plan.cache, m)]);
        }
    }
    if let Some(context) = main.last() {
        out.push(context.clone());
    }
    out
}

/// What an export did: the references exported, and those that failed with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    /// Exported references.
    pub done: Vec<String>,
    /// (reference, reason) of failed exports.
    pub failed: Vec<(String, String)>,
}

/// Runs the exports of `plan` after a successful build; a failed export is a warning through
/// `say` (the image is built; only the sharing is lost), never silent.
pub fn export(docker: &str, main: &[String], plan: &RemotePlan, say: Say) -> Exported {
    let mut result = Exported::default();
    if plan.missing.is_empty() {
        say(Message::Note(format!(
            "remote cache: the registry holds all {} references of this build: nothing to export",
            plan.refs.len()
        )));
        return result;
    }
    for (n, r) in plan.missing.iter().enumerate() {
        if let Some((_, reason)) = result.failed.iter().find(|(_, reason)| refuses_pushes(reason)) {
            let left = plan.missing.len() - n;
            say(Message::Warning(format!(
                "remote cache: skipping the other {left} export(s): the registry refused a push ({reason})"
            )
            .into()));
            for r in &plan.missing[n..] {
                result.failed.push((r.reference.clone(), "skipped: the registry refuses pushes".to_owned()));
            }
            break;
        }
        let args = export_args(main, plan, r);
        say(Message::Detail(crate::run::shell_line(docker, &args)));
        let what = r.stage.as_deref().map_or("the final stage".to_owned(), |s| format!("`{s}`"));
        let started = std::time::Instant::now();
        let out = std::process::Command::new(docker).args(&args).output();
        match out {
            Ok(o) if o.status.success() => {
                say(Message::Note(format!(
                    "remote cache: exported {what} to `{}` ({:.1} s)",
                    r.reference,
                    started.elapsed().as_secs_f64()
                )));
                result.done.push(r.reference.clone());
            }
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stderr);
                let reason = text
                    .lines()
                    .rev()
                    .find(|l| l.contains("ERROR") || l.contains("error"))
                    .unwrap_or("the export failed")
                    .trim();
                say(Message::Warning(Hinted::new(
                    format!(
                        "remote cache: cannot export {what} to `{}`: {reason}\nthe image is built; the registry just \
                         does not get this cache",
                        r.reference
                    ),
                    format!(
                        "check that you may push to `{}/{}` (`docker login {}`)",
                        plan.cache.repo.host, plan.cache.repo.path, plan.cache.repo.host
                    ),
                )));
                result.failed.push((r.reference.clone(), reason.to_owned()));
            }
            Err(e) => {
                say(Message::Warning(
                    format!("remote cache: cannot run `{docker}` to export {what}: {e}").into(),
                ));
                result.failed.push((r.reference.clone(), e.to_string()));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_core::{Builder, BuilderFrom, Extension, Registry, Request, Selection, Template};

    fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    fn builder_ext(name: &'static str, from: BuilderFrom, body: &'static str) -> &'static Extension {
        leak(Extension {
            name,
            crate_name: "remote-cache-test",
            description: "test",
            builder: Some(Builder {
                from,
                apt_packages: &[],
                template: Template { file: "builder", source: body },
                artifacts: &[],
                downloads: &[],
            }),
            ..Extension::EMPTY
        })
    }

    fn plain_ext(name: &'static str, setup: &'static str) -> &'static Extension {
        leak(Extension {
            name,
            crate_name: "remote-cache-test",
            description: "test",
            setup: Some(Template { file: "setup", source: setup }),
            ..Extension::EMPTY
        })
    }

    fn registry(tool_body: &'static str) -> Registry {
        Registry::from_extensions([
            builder_ext("tool", BuilderFrom::BaseImage, tool_body),
            builder_ext("other", BuilderFrom::BaseImage, "RUN echo other > /o\n"),
            leak(Extension {
                depends_on: &["tool"],
                ..*builder_ext("plug", BuilderFrom::Extension("tool"), "RUN echo plug > /p\n")
            }),
            plain_ext("extra", "RUN echo extra\n"),
        ])
        .unwrap()
    }

    fn refs(registry: &Registry, image: &str, names: &[&str]) -> Vec<StageRef> {
        let request = Request {
            image: image.into(),
            extensions: names.iter().map(|n| Selection::new(*n)).collect(),
            builder_base_image: Some("debian:bookworm".into()),
            ..Request::default()
        };
        let rendered = quarry_core::render(registry, &request).unwrap();
        let repo = CacheRepo::parse("127.0.0.1:5000/quarry-cache").unwrap();
        plan(&repo, &rendered, &KeyInputs::default()).unwrap()
    }

    fn of<'a>(refs: &'a [StageRef], stage: Option<&str>) -> &'a str {
        &refs
            .iter()
            .find(|r| r.stage.as_deref() == stage)
            .unwrap_or_else(|| panic!("{stage:?} in {refs:?}"))
            .reference
    }

    #[test]
    fn projects_sharing_a_builder_share_its_reference() {
        let reg = registry("RUN echo tool-1 > /t\n");
        let x = refs(&reg, "debian:bookworm", &["tool", "other"]);
        let y = refs(&reg, "debian:trixie", &["tool", "extra", "plug"]);
        assert_eq!(of(&x, Some("tool_builder")), of(&y, Some("tool_builder")));
        assert!(of(&x, Some("tool_builder")).starts_with("127.0.0.1:5000/quarry-cache:tool_builder-"));
        assert_ne!(of(&x, None), of(&y, None));
        assert!(of(&x, None).starts_with("127.0.0.1:5000/quarry-cache:final-"));
        // The stage that builds on `tool`'s builder gets its own reference.
        assert!(y.iter().any(|r| r.stage.as_deref() == Some("plug_builder")));
        assert_eq!(x.len(), 3, "{x:?}");
    }

    #[test]
    fn a_builder_change_changes_its_reference_and_those_built_on_it_only() {
        let (old, new) = (registry("RUN echo tool-1 > /t\n"), registry("RUN echo tool-2 > /t\n"));
        let names = ["tool", "other", "plug"];
        let (a, b) = (refs(&old, "debian:bookworm", &names), refs(&new, "debian:bookworm", &names));
        assert_ne!(of(&a, Some("tool_builder")), of(&b, Some("tool_builder")));
        // `plug` starts FROM tool's builder: its cache keys change too.
        assert_ne!(of(&a, Some("plug_builder")), of(&b, Some("plug_builder")));
        assert_eq!(of(&a, Some("other_builder")), of(&b, Some("other_builder")));
        // The final stage copies from the changed builder: a new final reference.
        assert_ne!(of(&a, None), of(&b, None));
        // Same inputs, same names: the plan is deterministic.
        assert_eq!(a, refs(&old, "debian:bookworm", &names));
    }

    #[test]
    fn key_inputs_and_the_final_project_part() {
        let reg = registry("RUN echo tool-1 > /t\n");
        let request = Request {
            image: "debian:bookworm".into(),
            extensions: vec![Selection::new("tool")],
            builder_base_image: Some("debian:bookworm".into()),
            ..Request::default()
        };
        let rendered = quarry_core::render(&reg, &request).unwrap();
        let repo = CacheRepo::parse("localhost:5000/c").unwrap();
        let plain = plan(&repo, &rendered, &KeyInputs::default()).unwrap();
        let arm = plan(
            &repo,
            &rendered,
            &KeyInputs { platform: Some("linux/arm64".into()), ..KeyInputs::default() },
        )
        .unwrap();
        let legacy_id = plan(
            &repo,
            &rendered,
            &KeyInputs { build_args: vec![("CACHE_ID".into(), "py310".into())], ..KeyInputs::default() },
        )
        .unwrap();
        assert_ne!(plain[0], arm[0]);
        assert_ne!(plain[0], legacy_id[0]);
        // The final reference starts with the project's part: image and requested extensions.
        let project = |r: &StageRef| r.reference.split('-').nth(1).unwrap().to_owned();
        assert_eq!(project(&plain[1]), project(&arm[1]));
        assert_ne!(plain[1], arm[1]);
    }

    #[test]
    fn the_projects_moving_reference_is_written_with_its_final_stage() {
        let reg = registry("RUN echo tool-1 > /t\n");
        let request = Request {
            image: "debian:bookworm".into(),
            extensions: vec![Selection::new("tool")],
            builder_base_image: Some("debian:bookworm".into()),
            ..Request::default()
        };
        let rendered = quarry_core::render(&reg, &request).unwrap();
        let repo = CacheRepo::parse("localhost:5000/c").unwrap();
        let keys = KeyInputs { project: Some("service".into()), ..KeyInputs::default() };
        let refs = plan(&repo, &rendered, &keys).unwrap();
        assert_eq!(refs.len(), 3);
        assert!(refs[2].moving && refs[2].reference.starts_with("localhost:5000/c:latest-"), "{refs:?}");
        // The project's name is no key input: the other references do not move.
        assert_eq!(refs[..2], plan(&repo, &rendered, &KeyInputs::default()).unwrap()[..]);
        let cache = RemoteCache { repo, insecure: false };
        let moving = vec![refs[2].reference.clone()];
        let p = RemotePlan { cache, refs: refs.clone(), missing: refs[..2].to_vec(), moving };
        let main: Vec<String> = ["buildx", "build", "--load", "--tag", "t", "--progress", "auto", "/ctx"]
            .map(String::from)
            .to_vec();
        let builder = export_args(&main, &p, &refs[0]);
        assert_eq!(builder.iter().filter(|a| *a == "--cache-to").count(), 1);
        assert!(builder.windows(2).any(|w| w[0] == "--target" && w[1] == "tool_builder"), "{builder:?}");
        assert!(!builder.contains(&"--load".to_owned()) && !builder.contains(&"t".to_owned()), "{builder:?}");
        assert_eq!(builder.last().map(String::as_str), Some("/ctx"));
        let last = export_args(&main, &p, &refs[1]);
        let to: Vec<&String> =
            last.iter().skip_while(|a| *a != "--cache-to").filter(|a| a.starts_with("type=")).collect();
        assert_eq!(to.len(), 2, "{last:?}");
        assert!(to[1].contains(":latest-"), "{last:?}");
        // Only references the registry holds are imported.
        assert_eq!(p.imports(), [cache_from(&p.cache, &refs[2].reference)]);
    }

    #[test]
    fn repositories_are_checked() {
        let ok = CacheRepo::parse("registry.example.com:5000/team/quarry-cache").unwrap();
        assert_eq!((ok.host.as_str(), ok.path.as_str()), ("registry.example.com:5000", "team/quarry-cache"));
        assert!(!ok.is_loopback());
        for good in ["127.0.0.1:5000/c", "localhost/c", "localhost:5000/a/b", "[::1]:5000/c"] {
            let repo = CacheRepo::parse(good);
            if good.starts_with('[') {
                // IPv6 hosts are beyond `is_image_ref`: rejected with the same clear message.
                assert!(repo.is_err());
                continue;
            }
            assert!(repo.unwrap().is_loopback(), "{good}");
        }
        for (bad, why) in [
            ("quarry-cache", "names no repository"),
            ("team/quarry-cache", "not a registry host"),
            ("ghcr.io/team/cache:v1", "carries a tag"),
            ("ghcr.io/Team/cache", "not a valid image repository"),
            ("ghcr.io/", "not a valid image repository"),
            ("ghcr.io/c@sha256:abc", "digest"),
            ("ghcr.io/a b", "not a valid"),
        ] {
            let e = CacheRepo::parse(bad).unwrap_err();
            assert!(e.message.contains(why) && e.hint.is_some(), "{bad}: {e}");
        }
    }

    #[test]
    fn flags_and_insecure_registries() {
        let repo = CacheRepo::parse("10.0.0.5:5000/c").unwrap();
        let insecure = RemoteCache { repo: repo.clone(), insecure: true };
        assert_eq!(
            cache_from(&insecure, "10.0.0.5:5000/c:x"),
            "type=registry,ref=10.0.0.5:5000/c:x,registry.insecure=true"
        );
        let secure = RemoteCache { repo, insecure: false };
        assert_eq!(cache_to(&secure, "10.0.0.5:5000/c:x"), "type=registry,ref=10.0.0.5:5000/c:x,mode=max");
        let local = RemoteCache { repo: CacheRepo::parse("127.0.0.1:5000/c").unwrap(), insecure: true };
        assert!(!cache_to(&local, "r").contains("insecure"));
    }

    #[test]
    fn imagetools_errors_are_read() {
        let e = classify(
            "h:1",
            "ERROR: Get \"https://h:1/v2/\": http: server gave HTTP response to HTTPS client\n",
        );
        assert_eq!(e, ProbeError::Insecure("h:1".into()));
        assert!(e.hint().unwrap().contains("--cache-registry-insecure"));
        let e = classify("h:1", "ERROR: dial tcp 10.0.0.1:1: connect: connection refused");
        assert!(matches!(e, ProbeError::Unreachable { .. }), "{e:?}");
        let e = classify("h:1", "ERROR: h:1/c:t: not found");
        assert_eq!(e.to_string(), "the cache registry `h:1` answered: not found");
        assert_eq!(parse_status(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
        assert_eq!(parse_status(b"\x15\x03\x01"), None);
        assert!(refuses_pushes(
            "ERROR: failed to solve: error writing layer blob: unexpected status from POST request to \
             http://127.0.0.1:55016/v2/c/blobs/uploads/: 405 Method Not Allowed"
        ));
        assert!(refuses_pushes("ERROR: failed to push: denied: requested access to the resource is denied"));
        assert!(!refuses_pushes("ERROR: failed to solve: process did not complete successfully"));
    }

    #[test]
    fn an_unreachable_loopback_registry_is_reported() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cache =
            RemoteCache { repo: CacheRepo::parse(&format!("127.0.0.1:{port}/c")).unwrap(), insecure: false };
        let e = exists("docker", &cache, &format!("127.0.0.1:{port}/c:t")).unwrap_err();
        assert!(matches!(e, ProbeError::Unreachable { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!("cannot reach the cache registry `127.0.0.1:{port}`")),
            "{e}"
        );
    }

    #[test]
    fn a_plain_http_registry_is_asked_with_head() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for code in ["200 OK", "404 Not Found"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned());
                s.write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes()).unwrap();
            }
            seen
        });
        let cache = RemoteCache {
            repo: CacheRepo::parse(&format!("127.0.0.1:{port}/team/c")).unwrap(),
            insecure: false,
        };
        assert!(exists("docker", &cache, &format!("127.0.0.1:{port}/team/c:a")).unwrap());
        assert!(!exists("docker", &cache, &format!("127.0.0.1:{port}/team/c:b")).unwrap());
        assert_eq!(
            server.join().unwrap(),
            ["HEAD /v2/team/c/manifests/a HTTP/1.1", "HEAD /v2/team/c/manifests/b HTTP/1.1"]
        );
    }
}
