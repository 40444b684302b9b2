//! Assembles one multi-stage Dockerfile from a resolved selection.
//!
//! Layout, top to bottom:
//! 1. `ARG CACHE_ID=default`, under its comment, before the first `FROM`.
//! 2. One `<name>_builder` stage per extension with a builder, on its own fixed base image (or
//!    on another builder, or on the final image, where the extension says so).
//! 3. The final stage:
//!    - the fixed step (the same in every image: apt keeps its downloads, interactive bash loads
//!      quarry's environment);
//!    - the RUN chain: per extension, in chain order, its apt layer and its setup RUN;
//!    - every `COPY --link`: quarry's entrypoint and start-up files, artifacts, files, each
//!      extension's shell environment (its `[shell]` lines, and its `ENV` for login shells);
//!    - `ENV`, the declared exceptions (setup that needs artifacts), `USER`, `WORKDIR`,
//!      `ENTRYPOINT` and `CMD`.
//!
//! Nothing a user changes sits before a RUN that does not depend on it: a RUN's cache key holds
//! every layer below it, so adding, bumping or removing an extension re-runs only its own steps.
//!
//! `ARG CACHE_ID` is re-declared in a stage right before the first instruction that uses it,
//! because a declared ARG enters the cache key of every later RUN of the stage.

use crate::error::Error;
use crate::hint::Hinted;
use crate::pieces::{
    BuildFile, ENTRYPOINT_PATH, ENV_DIR, FINAL_PRELUDE, FINAL_STAGE, Pieces, ROOT_CONTEXT, pieces,
};
use crate::registry::Registry;
use crate::request::{EngineLevel, ImageConfig, Request};
use crate::resolve::Resolved;
use crate::stage::{APT_PRELUDE, StageWriter, apt_install_step, comment};

/// The result of a render.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The Dockerfile.
    pub dockerfile: String,
    /// The resolved selection, in render order.
    pub resolved: Resolved,
    /// Things the user should know (an unsupported final image, ...), one message each.
    pub warnings: Vec<Hinted>,
    /// Files the extensions ship in the build context, sorted by path.
    pub files: Vec<BuildFile>,
    /// The user the image runs as, when an extension sets one.
    pub final_user: Option<String>,
}

/// Renders `request` with the extensions of `registry`: [`pieces`], laid out as described in the
/// module documentation.
pub fn render(registry: &Registry, request: &Request) -> Result<Rendered, Error> {
    let pieces = pieces(registry, request)?;
    let (dockerfile, written) = layout(&pieces, request);
    read_back(&dockerfile, written)?;
    let Pieces { resolved, warnings, files, final_user, .. } = pieces;
    Ok(Rendered { dockerfile, resolved, warnings, files, final_user: final_user.map(|u| u.user) })
}

/// Reads the Dockerfile back as BuildKit will ([`quarry_buildkit::dockerfile::lines`]): it must
/// hold exactly the `written` instructions quarry wrote, none continued past the end. Every value
/// is checked or escaped for its place before it is written; this is the backstop that no value,
/// of a key that exists or of one added later, can add or join an instruction.
fn read_back(dockerfile: &str, written: usize) -> Result<(), Error> {
    use quarry_buildkit::dockerfile::lines::{Line, Reader};
    let mut read = 0;
    for line in Reader::new(dockerfile) {
        match line {
            Ok(Line::Instruction(l)) if !l.continued => read += 1,
            Ok(Line::Comment { .. } | Line::Blank { .. }) => {}
            _ => read = usize::MAX,
        }
        if read > written {
            break;
        }
    }
    if read == written {
        return Ok(());
    }
    Err(Error::Unreadable { written, read: read.min(written + 1) })
}

/// The comment over `ARG CACHE_ID=default`: what the argument is for.
const CACHE_ID_COMMENT: &str = "quarry: every cache mount's id ends in -${CACHE_ID}; `quarry build --cache-id ID` (or `--build-arg CACHE_ID=ID`) keeps jobs' caches apart.";

/// quarry's layout of `pieces` (see the module documentation), and how many instructions it
/// wrote.
fn layout(pieces: &Pieces, request: &Request) -> (String, usize) {
    let mut out = String::new();
    let mut written = 1;
    let names: Vec<&str> = pieces.extensions.iter().map(|e| e.name).collect();
    out.push_str("# Rendered by quarry; do not edit: change the configuration and render again.\n");
    out.push_str(&format!("# Extensions: {}\n", names.join(", ")));
    out.push_str(&comment(CACHE_ID_COMMENT));
    out.push_str("ARG CACHE_ID=default\n");

    // Builder stages; a builder that starts from another comes after it (resolve order puts
    // dependencies first).
    for e in &pieces.extensions {
        let Some(b) = &e.builder else { continue };
        let mut stage = StageWriter::new(&mut out, &b.from, Some(&b.stage));
        stage.comment(&format!("{}: builder", e.name));
        if !b.apt_packages.is_empty() {
            if !b.from_stage {
                stage.step(APT_PRELUDE);
            }
            stage.step(&apt_install_step(&b.image, &b.apt_packages, &[], e.name));
        }
        for d in &b.downloads {
            stage.snippet(d);
        }
        stage.snippet(&b.body);
        written += stage.written();
    }

    let link = match request.engine {
        EngineLevel::Modern => "--link ",
        EngineLevel::Legacy => "",
    };
    let config = request.image_config.as_ref();
    let base_user = config.and_then(ImageConfig::non_root_user);

    // The user a `setup_as_user` step runs as: the image's user, as it will be.
    let image_user = pieces.final_user.as_ref().map(|u| u.user.as_str()).or(base_user);
    let mut stage = StageWriter::new(&mut out, &pieces.image, Some(FINAL_STAGE));
    if base_user.is_some() {
        stage.comment("The image runs as a user of its own: the chain runs as root.");
        stage.step("USER root");
    }
    stage.comment("quarry: the same in every image (apt keeps its downloads; interactive bash loads /etc/quarry/env.sh).");
    stage.step(FINAL_PRELUDE);

    // The chain: apt layers and the setup steps that need only them, in chain order.
    for e in &pieces.extensions {
        if !e.apt_packages.is_empty() || !e.apt_repositories.is_empty() {
            stage.comment(&format!("{}: apt packages", e.name));
            stage.step(&apt_install_step(&pieces.image, &e.apt_packages, &e.apt_repositories, e.name));
        }
        if let Some(setup) = e.setup.as_ref().filter(|_| !e.setup_after_copies) {
            setup_step(&mut stage, e, setup, image_user, "setup");
        }
    }

    // Copies: independent of the layers before them (`COPY --link`).
    stage.comment("quarry: the entrypoint and shell start-up files.");
    stage.step(&format!("COPY {link}{ROOT_CONTEXT}/ /"));
    for e in &pieces.extensions {
        let artifacts =
            e.builder.as_ref().map(|b| (b.stage.as_str(), b.artifacts)).filter(|(_, a)| !a.is_empty());
        if let Some((from, artifacts)) = artifacts {
            stage.comment(&format!("{}: artifacts", e.name));
            for a in artifacts {
                stage.step(&format!("COPY {link}--from={from} {} {}", a.source, a.dest));
            }
        }
        if !e.copied_files.is_empty() {
            stage.comment(&format!("{}: files", e.name));
            for (path, dest) in &e.copied_files {
                stage.step(&format!("COPY {link}{path} {dest}"));
            }
        }
        if let Some(dir) = &e.shell_dir {
            stage.comment(&format!("{}: shell environment", e.name));
            stage.step(&format!("COPY {link}{dir}/ {ENV_DIR}/"));
        }
    }

    // Metadata after the last chain RUN costs no step.
    for e in pieces.extensions.iter().filter(|e| !e.env.is_empty()) {
        stage.comment(&format!("{}: environment", e.name));
        stage.step(&format!("ENV {}", e.env.join(" \\\n    ")));
    }
    for e in &pieces.extensions {
        if let Some(setup) = e.setup.as_ref().filter(|_| e.setup_after_copies) {
            setup_step(
                &mut stage,
                e,
                setup,
                image_user,
                "setup that needs the copies (declared in its metadata): runs again whenever an earlier step changes",
            );
        }
    }
    match (&pieces.final_user, base_user) {
        (Some(user), _) => {
            stage.comment(&format!("{}: the image's user", user.owner));
            stage.step(&format!("USER {}", user.user));
            if let Some(dir) = &user.workdir {
                stage.step(&format!("WORKDIR {dir}"));
            }
        }
        (None, Some(user)) => {
            stage.comment("The image's own user, as it was.");
            stage.step(&format!("USER {user}"));
        }
        (None, None) => {}
    }
    stage.comment(&format!(
        "quarry's entrypoint loads {ENV_DIR}/*.sh, then runs the command{}.",
        match config {
            Some(c) if !c.entrypoint.is_empty() => " through the image's own entrypoint",
            Some(_) => "",
            None => " (the image's own ENTRYPOINT and CMD were not known: assumed none, and bash without a command)",
        }
    ));
    let mut entrypoint = vec![ENTRYPOINT_PATH.to_owned()];
    if let Some(c) = config {
        // An image quarry made already has this entrypoint first: do not run it twice.
        let own = c.entrypoint.first().is_some_and(|e| e == ENTRYPOINT_PATH);
        entrypoint.extend(c.entrypoint.iter().skip(usize::from(own)).cloned());
    }
    stage.step(&format!("ENTRYPOINT {}", json_array(&entrypoint)));
    if let Some(c) = config.filter(|c| !c.cmd.is_empty()) {
        stage.step(&format!("CMD {}", json_array(&c.cmd)));
    }
    written += stage.written();
    (out, written)
}

/// An extension's setup snippet, after a comment saying what it is; with `setup_as_user`, between
/// `USER <the image's user>` and `USER root` (nothing to switch when the image runs as root).
fn setup_step(
    stage: &mut StageWriter<'_>,
    e: &crate::pieces::ExtensionPieces,
    setup: &str,
    image_user: Option<&str>,
    what: &str,
) {
    match image_user.filter(|_| e.setup_as_user) {
        Some(user) => {
            stage.comment(&format!("{}: {what}, as the image's user", e.name));
            stage.step(&format!("USER {user}"));
            stage.snippet(setup);
            stage.step("USER root");
        }
        None if e.setup_as_user => {
            stage.comment(&format!("{}: {what}, as the image's user (root)", e.name));
            stage.snippet(setup);
        }
        None => {
            stage.comment(&format!("{}: {what}", e.name));
            stage.snippet(setup);
        }
    }
}

/// A JSON array of strings, for exec-form instructions.
fn json_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            let mut q = String::from('"');
            for c in s.chars() {
                match c {
                    '"' => q.push_str("\\\""),
                    '\\' => q.push_str("\\\\"),
                    c if (c as u32) < 0x20 || c == '\u{7f}' => q.push_str(&format!("\\u{:04x}", c as u32)),
                    c => q.push(c),
                }
            }
            q.push('"');
            q
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Artifact, Builder, BuilderFrom, Template};
    use crate::request::Selection;
    use crate::test_support::{ext, leak, registry, request};

    #[test]
    fn cache_arg_is_declared_right_before_its_first_use() {
        let mut builder_ext = ext("tool", &[], 50);
        builder_ext.setup = None;
        builder_ext.builder = Some(Builder {
            from: BuilderFrom::BaseImage,
            apt_packages: &[],
            downloads: &[],
            template: Template {
                file: "builder",
                source: "RUN echo first\nRUN {{ cache_mount('x', '/root/.cache') }} echo second\n",
            },
            artifacts: &[Artifact { source: "/opt/quarry/tool", dest: "/opt/quarry/tool" }],
        });
        let reg = registry(vec![builder_ext]);
        let out = render(&reg, &request(&["tool"])).unwrap().dockerfile;
        let stage: Vec<&str> = out.split("\nFROM ").nth(1).unwrap().lines().collect();
        assert_eq!(
            stage,
            [
                "ubuntu:22.04 AS tool_builder",
                "# tool: builder",
                "RUN echo first",
                "ARG CACHE_ID",
                "RUN --mount=type=cache,id=x-${CACHE_ID},target=/root/.cache,sharing=locked echo second",
            ]
        );
        assert!(out.starts_with("# Rendered by quarry"));
        assert!(out.contains("\nARG CACHE_ID=default\n\nFROM"));
        assert!(out.contains("COPY --link --from=tool_builder /opt/quarry/tool /opt/quarry/tool\n"));
        let legacy = render(&reg, &Request { engine: EngineLevel::Legacy, ..request(&["tool"]) }).unwrap();
        assert!(legacy.dockerfile.contains("COPY --from=tool_builder /opt/quarry/tool /opt/quarry/tool\n"));
        assert!(!legacy.dockerfile.contains("--link"));
    }

    #[test]
    fn pieces_are_what_render_lays_out() {
        let mut tool = ext("tool", &["base"], 50);
        tool.apt_packages = &["jq"];
        tool.options = leak([crate::OptionSpec::new("version", "v", "1.0.0", crate::Rule::Version)]);
        tool.builder = Some(Builder {
            from: BuilderFrom::BaseImage,
            apt_packages: &["libz-dev"],
            downloads: &[],
            template: Template { file: "builder", source: "RUN echo {{ options.version }} > {{ out }}/v\n" },
            artifacts: &[Artifact { source: "/opt/quarry/tool", dest: "/opt/quarry/tool" }],
        });
        let reg = registry(vec![tool, ext("base", &[], 10)]);
        let mut req = request(&[]);
        req.extensions = vec![Selection::new("tool").with_option("version", "2.0")];
        let pieces = pieces(&reg, &req).unwrap();
        let names: Vec<&str> = pieces.extensions.iter().map(|e| e.name).collect();
        assert_eq!(names, ["base", "tool"]);
        let tool = &pieces.extensions[1];
        let builder = tool.builder.as_ref().unwrap();
        assert_eq!(
            (builder.stage.as_str(), builder.image.as_str(), builder.from.as_str()),
            ("tool_builder", "ubuntu:22.04", "ubuntu:22.04")
        );
        assert_eq!(builder.apt_packages, ["libz-dev"]);
        assert_eq!(builder.body, "RUN echo 2.0 > /opt/quarry/tool/v\n");
        assert_eq!(tool.apt_packages, ["jq"]);
        assert_eq!(tool.setup.as_deref(), Some("RUN echo tool\n"));

        // A layout of one's own, written with the same writers.
        let mut out = String::new();
        let mut stage = StageWriter::new(&mut out, &pieces.image, Some("mine"));
        stage.snippet(&builder.body);
        stage.step(&apt_install_step(&pieces.image, &tool.apt_packages, &[], tool.name));
        stage.step("RUN true");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..4],
            ["", "FROM debian:bookworm AS mine", "RUN echo 2.0 > /opt/quarry/tool/v", "ARG CACHE_ID"]
        );
        assert!(render(&reg, &req).unwrap().dockerfile.contains(&apt_install_step(
            "debian:bookworm",
            &tool.apt_packages,
            &[],
            "tool"
        )));
    }

    #[test]
    fn stages_appear_only_when_needed() {
        let mut apt_only = ext("aptonly", &[], 50);
        apt_only.apt_packages = &["jq"];
        apt_only.setup = None;
        let reg = registry(vec![apt_only]);
        let out = render(&reg, &request(&["aptonly"])).unwrap().dockerfile;
        assert_eq!(out.matches("\nFROM ").count(), 1, "{out}");
        assert!(out.contains("FROM debian:bookworm AS quarry_final\n"));
        assert!(out.contains("apt-get install -y --no-install-recommends \\\n      jq\n"));
    }

    #[test]
    fn options_are_validated_and_never_injected() {
        let mut e = ext("tool", &[], 50);
        e.options = leak([crate::OptionSpec::new("version", "v", "1.0.0", crate::Rule::Version)]);
        e.setup = Some(Template { file: "setup", source: "RUN echo {{ options.version }}\n" });
        let reg = registry(vec![e]);
        for bad in ["1.0\nRUN rm -rf /", "1.0 \\", "1.0 beta", "$(id)"] {
            let mut req = request(&[]);
            req.extensions = vec![Selection::new("tool").with_option("version", bad)];
            let err = render(&reg, &req).unwrap_err();
            assert!(matches!(err, Error::InvalidOption { .. }), "{bad:?}: {err}");
        }
        let mut req = request(&[]);
        req.extensions = vec![Selection::new("tool").with_option("versoin", "1")];
        let err = render(&reg, &req).unwrap_err();
        assert_eq!(err.to_string(), "extension `tool` has no option `versoin`");
        assert_eq!(err.hint().as_deref(), Some("did you mean `version`?"));
        req.extensions = vec![Selection::new("tool").with_option("version", "2.0")];
        assert!(render(&reg, &req).unwrap().dockerfile.contains("RUN echo 2.0\n"));
    }

    /// A `setup_as_user` step runs between `USER <the image's user>` and `USER root`: the user an
    /// extension sets, else the image's own; on a root image it is a plain setup step.
    #[test]
    fn a_setup_as_the_user_switches_to_the_images_user_and_back() {
        let mut maker = ext("maker", &[], 10);
        maker.final_user = Some("someone");
        let mut mine = ext("mine", &[], 90);
        mine.setup_as_user = true;
        let reg = registry(vec![maker, mine, ext("other", &[], 5)]);
        let out = render(&reg, &request(&["maker", "mine", "other"])).unwrap().dockerfile;
        assert!(
            out.contains(
                "# maker: setup\nRUN echo maker\n# mine: setup, as the image's user\nUSER someone\nRUN echo mine\nUSER root\n# other: setup\nRUN echo other\n"
            ),
            "{out}"
        );
        // The image's user is set again at the end, as always.
        assert_eq!(out.matches("\nUSER someone\n").count(), 2, "{out}");
        let mut req = request(&["mine"]);
        let root = render(&reg, &req).unwrap().dockerfile;
        assert!(root.contains("# mine: setup, as the image's user (root)\nRUN echo mine\n"), "{root}");
        assert!(!root.contains("USER "), "{root}");
        req.image_config = Some(ImageConfig { entrypoint: vec![], cmd: vec![], user: "app".into() });
        let own = render(&reg, &req).unwrap().dockerfile;
        assert!(own.contains("USER app\nRUN echo mine\nUSER root\n"), "{own}");
    }

    /// The backstop: text that would add or join an instruction is found when the Dockerfile is
    /// read back, whatever wrote it.
    #[test]
    fn the_dockerfile_reads_back_as_written() {
        assert!(read_back("# c\nARG A=1\n\nFROM x\nRUN a \\\n  b\n", 3).is_ok());
        assert!(matches!(
            read_back("FROM x\nRUN a\nLABEL b=1\n", 2),
            Err(Error::Unreadable { written: 2, read: 3 })
        ));
        assert!(read_back("FROM x\nRUN a \\\n", 2).is_err());
        assert!(read_back("FROM x\nRUN a \\\nRUN b\n", 3).is_err());
        let reg = registry(vec![ext("a", &[], 10)]);
        assert!(render(&reg, &request(&["a"])).is_ok());
    }

    #[test]
    fn images_are_validated() {
        let reg = registry(vec![ext("a", &[], 1)]);
        let mut req = request(&["a"]);
        req.image = "ubuntu:24.04\nRUN evil".to_owned();
        assert!(matches!(render(&reg, &req).unwrap_err(), Error::InvalidImage { .. }));
        let mut req = request(&["a"]);
        req.builder_base_image = Some("Not An Image".to_owned());
        assert!(matches!(render(&reg, &req).unwrap_err(), Error::InvalidImage { .. }));
    }

    #[test]
    fn the_images_own_entrypoint_cmd_and_user_are_composed_with() {
        let reg = registry(vec![ext("a", &[], 10)]);
        let mut req = request(&["a"]);
        let out = render(&reg, &req).unwrap().dockerfile;
        assert!(out.ends_with("ENTRYPOINT [\"/usr/local/bin/quarry-entrypoint\"]\n"), "{out}");
        assert!(out.contains("were not known"), "the assumption is written down");
        req.image_config = Some(ImageConfig {
            entrypoint: vec!["/init".into(), "--".into()],
            cmd: vec!["serve".into(), "--port=8\"0".into()],
            user: "app:app".into(),
        });
        let out = render(&reg, &req).unwrap().dockerfile;
        let final_stage = out.split("AS quarry_final\n").nth(1).unwrap();
        assert!(
            final_stage
                .starts_with("# The image runs as a user of its own: the chain runs as root.\nUSER root\n")
        );
        assert!(final_stage.contains("\nUSER app:app\n"), "{out}");
        assert!(out.contains("ENTRYPOINT [\"/usr/local/bin/quarry-entrypoint\", \"/init\", \"--\"]\nCMD [\"serve\", \"--port=8\\\"0\"]\n"), "{out}");
        // An image quarry made already starts with quarry's entrypoint: it is not doubled.
        req.image_config = Some(ImageConfig {
            entrypoint: vec![ENTRYPOINT_PATH.into()],
            cmd: vec!["/bin/bash".into()],
            user: String::new(),
        });
        let out = render(&reg, &req).unwrap().dockerfile;
        assert!(
            out.contains("ENTRYPOINT [\"/usr/local/bin/quarry-entrypoint\"]\nCMD [\"/bin/bash\"]\n"),
            "{out}"
        );
        assert!(!out.contains("USER "), "root images get no USER line: {out}");
        // Whatever the engine or a lock says, the user is one word of `USER`.
        for bad in ["app\nLABEL x=1", "app \\", "$HOME", "a:b:c", "-x"] {
            req.image_config = Some(ImageConfig { entrypoint: vec![], cmd: vec![], user: bad.into() });
            let err = render(&reg, &req).unwrap_err();
            assert!(matches!(err, Error::InvalidImageUser { .. }), "{bad:?}: {err}");
        }
    }
}
