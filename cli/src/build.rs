//! `quarry build`: the build context, the image tag, and the `docker build` command line.
//!
//! How the cache id reaches the engine:
//! - On Docker 26+ (BuildKit 0.13+), `--build-arg BUILDKIT_CACHE_MOUNT_NS=<id>`: BuildKit puts the
//!   cache mounts of the build in their own namespace, while `CACHE_ID` keeps its default, so the
//!   layer keys do not change: a build with another id reuses every layer, and sees other mounts.
//! - On older engines, `--build-arg CACHE_ID=<id>`: the rendered mount ids change (the id is in
//!   their key there anyway), which isolates the mounts as a plain `docker build --build-arg
//!   CACHE_ID=<id>` of the rendered file does.

use std::io::Write;
use std::path::{Path, PathBuf};

use quarry_core::Rendered;

use crate::cache_id::{CacheId, fnv1a};
use crate::engine::Engine;

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
}

/// `quarry/<extensions>:<hash>`: the same configuration gives the same tag on every machine.
pub fn default_tag(rendered: &Rendered) -> String {
    let mut names: Vec<&str> =
        rendered.resolved.extensions.iter().filter(|r| r.requested).map(|r| r.extension.name).collect();
    names.sort_unstable();
    let mut repo = names.join("-").replace('_', "-");
    if repo.len() > 100 {
        repo.truncate(100);
        repo = repo.trim_end_matches('-').to_owned();
    }
    let mut bytes = rendered.dockerfile.as_bytes().to_vec();
    for f in &rendered.files {
        bytes.extend_from_slice(f.path.as_bytes());
        bytes.extend_from_slice(&f.contents);
    }
    format!("quarry/{repo}:{:016x}", fnv1a(&bytes))
}

/// Where build contexts are kept: `$XDG_CACHE_HOME/quarry/contexts`, else
/// `~/.cache/quarry/contexts`, else the system temp folder.
pub fn contexts_root() -> PathBuf {
    let base = crate::host::xdg_dir("XDG_CACHE_HOME", ".cache").unwrap_or_else(std::env::temp_dir);
    base.join("quarry").join("contexts")
}

/// Writes the Dockerfile and every shipped file into `dir`, replacing what was there. The files
/// are written to a sibling folder first and renamed into place, so `dir` is never half-written.
pub fn write_context(dir: &Path, rendered: &Rendered) -> std::io::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| {
        std::fs::create_dir_all(&staging)?;
        write_file(&staging.join("Dockerfile"), rendered.dockerfile.as_bytes(), false)?;
        for f in &rendered.files {
            write_file(&staging.join(&f.path), &f.contents, f.executable)?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::rename(&staging, dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn write_file(path: &Path, contents: &[u8], executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(contents)?;
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
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
    if engine.buildx {
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
    args.extend(["--progress".into(), opts.progress.clone().unwrap_or_else(|| "auto".into())]);
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
    args.push(context.display().to_string());
    args
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

/// One step of a build as BuildKit's plain progress shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `[stage i/n] INSTRUCTION ...` as printed.
    pub name: String,
    /// Whether BuildKit took it from the cache.
    pub cached: bool,
}

/// The RUN, COPY and ADD steps of a `--progress=plain` build output, in vertex order.
pub fn progress_steps(progress: &str) -> Vec<Step> {
    let mut steps: Vec<(u32, Step)> = Vec::new();
    let mut cached: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    for line in progress.lines() {
        let Some(rest) = line.strip_prefix('#') else { continue };
        let Some((num, body)) = rest.split_once(' ') else { continue };
        let Ok(num) = num.parse::<u32>() else { continue };
        if body.trim() == "CACHED" {
            cached.insert(num);
        } else if body.starts_with('[') && !steps.iter().any(|(n, _)| *n == num) {
            let instruction = body.split_once("] ").map(|(_, i)| i).unwrap_or_default();
            if ["RUN ", "COPY ", "ADD "].iter().any(|p| instruction.starts_with(p)) {
                steps.push((num, Step { name: body.to_owned(), cached: false }));
            }
        }
    }
    steps
        .into_iter()
        .map(|(num, mut step)| {
            step.cached = cached.contains(&num);
            step
        })
        .collect()
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
        };
        let args =
            build_args(&engine("26.1.5", true), Path::new("/ctx"), "t:1", &id("default"), &opts).join(" ");
        assert_eq!(
            args,
            "buildx build --load --builder b --cache-from type=local,src=/c --cache-to type=local,dest=/c \
             --tag t:1 --progress plain --no-cache --pull --add-host deb.debian.org:1.2.3.4 --network host \
             --platform linux/amd64 /ctx"
        );
        assert_eq!(unsupported_without_buildx(&opts), ["--builder", "--cache-from", "--cache-to"]);
    }

    #[test]
    fn steps_are_read_from_plain_progress() {
        let out = "#4 [quarry_final 1/3] FROM docker.io/library/debian:bookworm\n#5 [quarry_final 2/3] RUN a\n#5 CACHED\n\n#6 [x_builder 2/2] RUN b\n#6 0.2 hello\n#6 DONE 0.3s\n#7 [quarry_final 3/3] COPY --link --from=x_builder /a /a\n#7 CACHED\n#8 exporting to image";
        let steps = progress_steps(out);
        let summary: Vec<(&str, bool)> = steps.iter().map(|s| (s.name.as_str(), s.cached)).collect();
        assert_eq!(
            summary,
            [
                ("[quarry_final 2/3] RUN a", true),
                ("[x_builder 2/2] RUN b", false),
                ("[quarry_final 3/3] COPY --link --from=x_builder /a /a", true)
            ]
        );
    }

    #[test]
    fn failing_step_is_found() {
        let out = "#7 [tool_builder 2/2] RUN false\n#7 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n------\n > [tool_builder 2/2] RUN false:\n------\nERROR: failed to solve";
        assert_eq!(failing_step(out).as_deref(), Some("[tool_builder 2/2] RUN false"));
        assert_eq!(failing_step("all good"), None);
    }
}
