//! Which Dockerfile step BuildKit ran or reused, and whose step it is.
//!
//! BuildKit names a step `[<stage> i/n] <instruction>`, with build args expanded and each
//! `\`-newline removed. The Dockerfile's own instructions are matched against those names after
//! the same treatment (white space collapsed, `${CACHE_ID}` as `default`). The owner of an
//! instruction is the extension named by the comment the layouts write before its block
//! (`# <name>: builder`, `# <name>: setup`, ...); steps before any such comment (the shared
//! builder base, the apt prelude) have none.

use std::collections::BTreeMap;

use quarry_core::FINAL_STAGE;
use quarry_docker::progress::StepVertex;

/// A RUN, COPY or ADD instruction of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The stage it belongs to.
    pub stage: String,
    /// The instruction as BuildKit names it, white space collapsed.
    pub text: String,
    /// The extension whose block it is in.
    pub owner: Option<String>,
}

/// The RUN, COPY and ADD instructions of `dockerfile`, with their owners among `extensions`.
pub fn instructions(dockerfile: &str, extensions: &[&str]) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut stage = String::new();
    let mut owner: Option<String> = None;
    let mut current = String::new();
    for line in dockerfile.lines() {
        if current.is_empty() {
            let trimmed = line.trim();
            if let Some(comment) = trimmed.strip_prefix('#') {
                let name = comment.trim().split(':').next().unwrap_or_default();
                if comment.contains(':') && extensions.contains(&name) {
                    owner = Some(name.to_owned());
                }
                continue;
            }
            if trimmed.is_empty() {
                continue;
            }
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                continue;
            }
            None => current.push_str(line),
        }
        let text = normalize(&current);
        current.clear();
        let keyword = text.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        match keyword.as_str() {
            "FROM" => {
                stage = text.rsplit(' ').next().unwrap_or_default().to_owned();
                owner = None;
            }
            "RUN" | "COPY" | "ADD" => {
                out.push(Instruction { stage: stage.clone(), text, owner: owner.clone() })
            }
            _ => {}
        }
    }
    out
}

/// White space runs as one space, trimmed; `${CACHE_ID}` as BuildKit shows it by default.
pub fn normalize(instruction: &str) -> String {
    instruction.replace("${CACHE_ID}", "default").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A counted step of a build, matched to its instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The stage BuildKit showed it under (for a step shared by identical stages, one of them).
    pub stage: String,
    /// The instruction, normalized.
    pub text: String,
    /// `RUN`, `COPY` or `ADD`.
    pub keyword: String,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Its owner; `None` for shared steps and steps of several owners (identical stages).
    pub owner: Option<String>,
    /// Whether BuildKit showed it under a stage other than the final one.
    pub builder_stage: bool,
}

/// The counted steps (RUN, COPY, ADD; not the merge half of `COPY --link`) of a build of
/// `dockerfile`, with owners.
pub fn classify(vertices: &[StepVertex], dockerfile: &[Instruction]) -> Vec<Step> {
    let mut by_text: BTreeMap<&str, Vec<&Instruction>> = BTreeMap::new();
    for i in dockerfile {
        by_text.entry(i.text.as_str()).or_default().push(i);
    }
    vertices
        .iter()
        .filter(|v| v.is_counted())
        .map(|v| {
            let text = normalize(&v.instruction);
            let matches = by_text.get(text.as_str()).map(Vec::as_slice).unwrap_or_default();
            let first_owner = matches.first().and_then(|i| i.owner.clone());
            let owner = first_owner.filter(|o| matches.iter().all(|i| i.owner.as_deref() == Some(o)));
            // The same text may be in a builder and in the final stage (the apt prelude); the
            // stage BuildKit shows is one that needs this very vertex.
            let builder_stage = v.stage != FINAL_STAGE;
            Step {
                stage: v.stage.clone(),
                keyword: v.keyword().to_owned(),
                text,
                cached: v.cached,
                owner,
                builder_stage,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# header: not an extension
ARG CACHE_ID=default

FROM debian:bookworm AS quarry_builder_base
# Shared builder base: a fixed tool set.
RUN rm -f x
ARG CACHE_ID
RUN --mount=type=cache,id=apt-${CACHE_ID},target=/c,sharing=locked \\
    apt-get update \\
 && apt-get install -y gcc

FROM quarry_builder_base AS tool_builder
# tool: builder
COPY quarry/tool/ /src/tool/
RUN make

FROM debian:bookworm AS quarry_final
RUN rm -f x
# tool: artifacts
COPY --link --from=tool_builder /opt/quarry/tool /opt/quarry/tool
# tool: setup
ENV PATH=/opt/quarry/tool/bin:$PATH
RUN tool --version
";

    fn vertex(stage: &str, instruction: &str, cached: bool, link_merge: bool) -> StepVertex {
        StepVertex {
            stage: stage.into(),
            index: 2,
            total: 3,
            instruction: instruction.into(),
            link_merge,
            cached,
            digest: String::new(),
        }
    }

    #[test]
    fn instructions_have_stages_and_owners() {
        let list = instructions(FILE, &["tool"]);
        let summary: Vec<(&str, &str, Option<&str>)> =
            list.iter().map(|i| (i.stage.as_str(), i.text.as_str(), i.owner.as_deref())).collect();
        assert_eq!(
            summary,
            [
                ("quarry_builder_base", "RUN rm -f x", None),
                (
                    "quarry_builder_base",
                    "RUN --mount=type=cache,id=apt-default,target=/c,sharing=locked apt-get update && apt-get install -y gcc",
                    None
                ),
                ("tool_builder", "COPY quarry/tool/ /src/tool/", Some("tool")),
                ("tool_builder", "RUN make", Some("tool")),
                ("quarry_final", "RUN rm -f x", None),
                (
                    "quarry_final",
                    "COPY --link --from=tool_builder /opt/quarry/tool /opt/quarry/tool",
                    Some("tool")
                ),
                ("quarry_final", "RUN tool --version", Some("tool")),
            ]
        );
    }

    #[test]
    fn steps_are_matched_as_buildkit_names_them() {
        let list = instructions(FILE, &["tool"]);
        let vertices = [
            // BuildKit keeps the spaces around a removed `\`-newline.
            vertex(
                "quarry_builder_base",
                "RUN --mount=type=cache,id=apt-default,target=/c,sharing=locked     apt-get update  && apt-get install -y gcc",
                true,
                false,
            ),
            vertex("tool_builder", "RUN make", false, false),
            // Identical steps of two stages are one vertex, shown under one of them.
            vertex("quarry_builder_base", "RUN rm -f x", true, false),
            vertex(
                "quarry_final",
                "COPY --link --from=tool_builder /opt/quarry/tool /opt/quarry/tool",
                true,
                false,
            ),
            vertex(
                "quarry_final",
                "COPY --link --from=tool_builder /opt/quarry/tool /opt/quarry/tool",
                false,
                true,
            ),
            vertex("quarry_final", "RUN tool --version", false, false),
        ];
        let steps = classify(&vertices, &list);
        let summary: Vec<(&str, bool, Option<&str>, bool)> = steps
            .iter()
            .map(|s| (s.keyword.as_str(), s.cached, s.owner.as_deref(), s.builder_stage))
            .collect();
        assert_eq!(
            summary,
            [
                ("RUN", true, None, true),
                ("RUN", false, Some("tool"), true),
                ("RUN", true, None, true),
                ("COPY", true, Some("tool"), false),
                ("RUN", false, Some("tool"), false),
            ]
        );
    }
}
