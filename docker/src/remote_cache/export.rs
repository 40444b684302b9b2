//! A build's remote cache: the `--cache-from` and `--cache-to` values, the plan of what it imports
//! (the references the registry holds) and exports, and the exports after a successful build.

use quarry_core::{Hint, Hinted, Rendered};

use super::naming::{KeyInputs, RemoteCache, StageRef, plan};
use super::probe::{ProbeError, exists};
use crate::engine::Engine;
use crate::{Message, Say};

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
    use crate::remote_cache::CacheRepo;
    use crate::remote_cache::fixtures::tool_rendered;

    #[test]
    fn the_projects_moving_reference_is_written_with_its_final_stage() {
        let rendered = tool_rendered();
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
    fn refused_pushes_are_read() {
        assert!(refuses_pushes(
            "ERROR: failed to solve: error writing layer blob: unexpected status from POST request to \
             http://127.0.0.1:55016/v2/c/blobs/uploads/: 405 Method Not Allowed"
        ));
        assert!(refuses_pushes("ERROR: failed to push: denied: requested access to the resource is denied"));
        assert!(!refuses_pushes("ERROR: failed to solve: process did not complete successfully"));
    }
}
