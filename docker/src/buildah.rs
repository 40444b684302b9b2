//! What `podman build` (Buildah) prints, read: which steps it took from its layer cache and
//! which it ran, and the step a failed build stopped at.
//!
//! Buildah prints each step as `STEP 3/7: RUN ...` (`[2/3] STEP 3/7: ...` in a multi-stage
//! build) and ends it with `--> Using cache <id>` when the layer was reused, or with `--> <id>`
//! (`--> Pushing cache ...`, `--> Cache pulled from remote ...` in between) once it ran. A
//! failed build ends in `Error: building at STEP "RUN ...": ...`. Measured on Podman 4.3.1 with
//! Buildah 1.28.2 (`xtask/engine/measure-podman.sh`, `docs/podman.md`).

/// A rendered Dockerfile as Buildah 1.28 builds it without hanging. Measured
/// (`docs/podman.md`): Buildah keeps the lock of a `sharing=locked` cache as a file inside the
/// cache (`buildah-cache-lockfile`), and a later step that mounts the cache locked waits forever
/// (1) when a step before deleted that file, which `apt-get update` does in
/// `/var/lib/apt/lists` (it removes every file there it does not know), and (2) when a step
/// before mounted it locked ahead of another cache mount (only a step's last mount is unlocked
/// again). So in every RUN the apt lists mount is `sharing=shared` and goes first, and of the
/// other cache mounts only the last stays `sharing=locked`: quarry's apt steps keep
/// `/var/cache/apt` locked (apt leaves unknown files there alone), so two builds with one cache
/// id still take their apt steps in turn.
pub fn adapt_dockerfile(dockerfile: &str) -> String {
    let mut out = String::with_capacity(dockerfile.len());
    let mut instruction: Vec<&str> = Vec::new();
    for line in dockerfile.split_inclusive('\n') {
        instruction.push(line);
        if !line.trim_end().ends_with('\\') {
            out.push_str(&adapt_instruction(&instruction));
            instruction.clear();
        }
    }
    out.push_str(&adapt_instruction(&instruction));
    out
}

const LISTS: &str = ",target=/var/lib/apt/lists,";

/// One instruction's lines: the mount flags that start a line (`RUN --mount=...` or an indented
/// `--mount=...`) reordered and their sharing set as [`adapt_dockerfile`] says.
fn adapt_instruction(lines: &[&str]) -> String {
    let is_run = lines.first().is_some_and(|l| l.trim_start().to_ascii_uppercase().starts_with("RUN "));
    if !is_run || !lines.iter().any(|l| l.contains("sharing=locked")) {
        return lines.concat();
    }
    // (line index, the flag's text) of each cache mount that is a word of its own.
    let flag_at = |line: &str| -> Option<(usize, usize)> {
        let start = line.find("--mount=type=cache,")?;
        let end = line[start..].find(char::is_whitespace).map_or(line.len(), |e| start + e);
        Some((start, end))
    };
    let mounts: Vec<(usize, String)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| flag_at(l).map(|(a, b)| (i, l[a..b].to_owned())))
        .collect();
    let lists = mounts.iter().filter(|(_, f)| f.contains(LISTS));
    let others: Vec<&String> = mounts.iter().filter(|(_, f)| !f.contains(LISTS)).map(|(_, f)| f).collect();
    let last_locked = others.iter().rposition(|f| f.contains("sharing=locked"));
    let mut flags: Vec<String> = lists.map(|(_, f)| f.replace("sharing=locked", "sharing=shared")).collect();
    for (n, f) in others.iter().enumerate() {
        flags.push(if Some(n) == last_locked {
            (*f).clone()
        } else {
            f.replace("sharing=locked", "sharing=shared")
        });
    }
    let mut lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    for ((i, old), new) in mounts.iter().zip(flags) {
        let (a, b) = flag_at(&lines[*i]).expect("found above");
        debug_assert_eq!(&lines[*i][a..b], old);
        lines[*i].replace_range(a..b, &new);
    }
    lines.concat()
}

/// One step of a Buildah build (FROM left out: it is no layer of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The stage prefix as printed (`[2/3]`), empty in a one-stage build.
    pub stage: String,
    /// The instruction as Buildah printed it.
    pub instruction: String,
    /// Whether Buildah took the layer from its cache (local, or pulled with `--cache-from`).
    pub reused: bool,
}

/// Whether a line of `podman build`'s output says what a step did.
pub fn is_progress(line: &str) -> bool {
    step_line(line).is_some() || line.starts_with("--> ")
}

/// `[2/3] STEP 3/7: RUN x` -> (`[2/3]`, `RUN x`).
fn step_line(line: &str) -> Option<(&str, &str)> {
    let (stage, rest) = match line.strip_prefix('[') {
        Some(_) => {
            let end = line.find("] ")?;
            (&line[..=end], &line[end + 2..])
        }
        None => ("", line),
    };
    let rest = rest.strip_prefix("STEP ")?;
    let (counter, instruction) = rest.split_once(": ")?;
    let (n, m) = counter.split_once('/')?;
    (n.parse::<u32>().is_ok() && m.parse::<u32>().is_ok()).then_some((stage, instruction))
}

/// The steps of a build's output, in order: reused when `--> Using cache` ended them.
pub fn steps(output: &str) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut open: Option<Step> = None;
    for line in output.lines() {
        if let Some((stage, instruction)) = step_line(line) {
            out.extend(open.take());
            if !instruction.trim_start().to_ascii_uppercase().starts_with("FROM ") {
                open = Some(Step {
                    stage: stage.to_owned(),
                    instruction: instruction.to_owned(),
                    reused: false,
                });
            }
        } else if let Some(rest) = line.strip_prefix("--> ") {
            if rest.starts_with("Using cache ") {
                if let Some(mut step) = open.take() {
                    step.reused = true;
                    out.push(step);
                }
            } else if !rest.starts_with("Pushing cache") && !rest.starts_with("Cache pulled") {
                out.extend(open.take());
            }
        }
    }
    out.extend(open);
    out
}

/// `(reused, all)` steps of a build's output.
pub fn reuse(output: &str) -> (usize, usize) {
    let steps = steps(output);
    (steps.iter().filter(|s| s.reused).count(), steps.len())
}

/// The step a failed build stopped at: `Error: building at STEP "RUN x": ...` -> `RUN x`.
pub fn failing_step(output: &str) -> Option<String> {
    let line = output.lines().rev().find_map(|l| l.trim().strip_prefix("Error: building at STEP \""))?;
    let end = line.find("\": ").unwrap_or(line.len().saturating_sub(1));
    Some(line[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: &str) -> crate::cache_id::CacheId {
        crate::cache_id::CacheId { value: v.into(), source: crate::cache_id::Source::Flag }
    }

    #[test]
    fn podman_builds_with_its_layer_cache_and_the_cache_id_as_a_build_arg() {
        let podman = |via| crate::engine::Engine {
            version: "4.3.1".into(),
            major_minor: (4, 3),
            buildx: false,
            containerd_store: false,
            podman: Some(crate::engine::Podman { via, rootless: false, buildah: None }),
        };
        let opts = crate::build::BuildOptions {
            cache_from: vec!["127.0.0.1:5000/cache".into()],
            cache_to: vec!["127.0.0.1:5000/cache".into()],
            tls_verify_off: true,
            ..crate::build::BuildOptions::default()
        };
        let args = crate::build::build_args(
            &podman(crate::engine::Via::Podman),
            std::path::Path::new("/ctx"),
            "t:1",
            &id("py310"),
            &opts,
        );
        assert_eq!(
            args.join(" "),
            "build --layers --cache-from 127.0.0.1:5000/cache --cache-to 127.0.0.1:5000/cache --tls-verify=false \
             --tag t:1 --build-arg CACHE_ID=py310 /ctx"
        );
        let socket = podman(crate::engine::Via::Socket);
        assert_eq!(crate::build::unsupported_on(&socket, &opts), ["--cache-from", "--cache-to"]);
        assert_eq!(
            crate::build::build_args(
                &socket,
                std::path::Path::new("/ctx"),
                "t:1",
                &id("default"),
                &crate::build::BuildOptions::default()
            )
            .join(" "),
            "build --tag t:1 /ctx"
        );
        assert!(crate::build::unsupported_on(&podman(crate::engine::Via::Podman), &opts).is_empty());
        let hosts = crate::build::BuildOptions {
            add_host: vec!["example.org:192.0.2.1".into()],
            ..Default::default()
        };
        assert_eq!(crate::build::unsupported_on(&socket, &hosts), ["--add-host"]);
    }

    /// Output of a real build (Podman 4.3.1), shortened: the builder stage ran, the final
    /// stage's RUN and COPY came from the cache.
    const BUILD: &str = "\
[1/2] STEP 1/3: FROM docker.io/library/debian:bookworm AS b
[1/2] STEP 2/3: ARG V=1
--> Using cache 2b87d95aa383e450f70a9576e0842405f47510d425465bfe47720a95f26ac663
--> 2b87d95aa38
[1/2] STEP 3/3: RUN echo builder > /out
--> 5c1e2a0d9f1
[2/2] STEP 1/3: FROM docker.io/library/debian:bookworm
[2/2] STEP 2/3: RUN echo final > /final
--> Using cache 14ca84478df3682d9e591ed4199d7c3f8abfc0de318815ea2ec26ce7258b37c0
--> 14ca84478df
[2/2] STEP 3/3: COPY --from=b /out /out
--> Cache pulled from remote 127.0.0.1:5000/cache:5acadeb5
--> Using cache 9a0c1f5e4b2d
[2/2] COMMIT quarry/x:1
--> 9a0c1f5e4b2
Successfully tagged localhost/quarry/x:1
";

    #[test]
    fn the_apt_lists_go_first_and_shared_and_the_archives_stay_locked_last() {
        let apt = quarry_core::apt_install_step("debian:bookworm", &["git".to_owned()], &[], "git");
        let file = format!("FROM debian:bookworm\n{apt}\nRUN echo done\n");
        let adapted = adapt_dockerfile(&file);
        let lists = adapted.find("target=/var/lib/apt/lists,sharing=shared").expect(&adapted);
        let archives = adapted.find("target=/var/cache/apt,sharing=locked").expect(&adapted);
        assert!(lists < archives, "{adapted}");
        assert!(
            adapted.starts_with("FROM debian:bookworm\nRUN --mount=type=cache,id=apt-lists-"),
            "{adapted}"
        );
        assert!(adapted.ends_with("\nRUN echo done\n"), "{adapted}");
        assert_eq!(adapted.len(), file.len() - "locked".len() + "shared".len());
        // Of two other locked mounts only the last stays locked; a file without any is as it was.
        let two = "RUN --mount=type=cache,id=a,target=/a,sharing=locked \\\n    --mount=type=cache,id=b,target=/b,sharing=locked true\n";
        assert_eq!(
            adapt_dockerfile(two),
            "RUN --mount=type=cache,id=a,target=/a,sharing=shared \\\n    --mount=type=cache,id=b,target=/b,sharing=locked true\n"
        );
        assert_eq!(adapt_dockerfile("FROM x\nCOPY a b\n"), "FROM x\nCOPY a b\n");
    }

    #[test]
    fn steps_are_read_as_reused_or_run() {
        let steps = steps(BUILD);
        let seen: Vec<(&str, &str, bool)> =
            steps.iter().map(|s| (s.stage.as_str(), s.instruction.as_str(), s.reused)).collect();
        assert_eq!(
            seen,
            [
                ("[1/2]", "ARG V=1", true),
                ("[1/2]", "RUN echo builder > /out", false),
                ("[2/2]", "RUN echo final > /final", true),
                ("[2/2]", "COPY --from=b /out /out", true),
            ]
        );
        assert_eq!(reuse(BUILD), (3, 4));
        assert!(is_progress("[2/2] STEP 3/3: COPY --from=b /out /out") && is_progress("--> 14ca84478df"));
        assert!(!is_progress("Get:1 http://deb.debian.org/debian bookworm InRelease"));
        assert!(!is_progress("STEP x/y: nothing"));
    }

    #[test]
    fn a_step_that_ran_last_is_counted() {
        assert_eq!(reuse("STEP 1/2: FROM x\nSTEP 2/2: RUN false\n"), (0, 1));
    }

    #[test]
    fn the_failing_step_is_read_from_the_error() {
        let out = "STEP 2/2: RUN false\nError: building at STEP \"RUN false\": while running runtime: exit status 1\n";
        assert_eq!(failing_step(out).as_deref(), Some("RUN false"));
        assert_eq!(failing_step("nothing"), None);
    }
}
