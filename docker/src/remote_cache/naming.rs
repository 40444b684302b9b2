//! The names of the remote cache's references: one per builder stage, hashed over what its
//! BuildKit keys depend on, one per project's final stage, and the project's moving reference; pure
//! functions on the render (the scheme is described in [the module](super)).

use quarry_buildkit::dockerfile::{Body, Dockerfile, Stage};
use quarry_buildkit::hash::fnv1a;
use quarry_core::{Hinted, Rendered};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_cache::fixtures::{registry, tool_rendered};
    use quarry_core::{Registry, Request, Selection};

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
        let rendered = tool_rendered();
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
    fn repositories_are_checked() {
        let ok = CacheRepo::parse("registry.example.com:5000/team/quarry-cache").unwrap();
        assert_eq!((ok.host.as_str(), ok.path.as_str()), ("registry.example.com:5000", "team/quarry-cache"));
        assert!(!ok.is_loopback());
        for good in ["127.0.0.1:5000/c", "localhost/c", "localhost:5000/a/b", "[::1]:5000/c"] {
            assert!(CacheRepo::parse(good).unwrap().is_loopback(), "{good}");
        }
        for (bad, why) in [
            ("quarry-cache", "names no repository"),
            ("team/quarry-cache", "not a registry host"),
            ("ghcr.io/team/cache:v1", "carries a tag"),
            ("ghcr.io/Team/cache", "not a valid image repository"),
            ("ghcr.io/", "not a valid image repository"),
            ("ghcr.io/c@sha256:abc", "digest"),
            ("ghcr.io/a b", "not a valid"),
            ("ghcr..io/x", "not a valid image repository"),
        ] {
            let e = CacheRepo::parse(bad).unwrap_err();
            assert!(e.message.contains(why) && e.hint.is_some(), "{bad}: {e}");
        }
    }
}
