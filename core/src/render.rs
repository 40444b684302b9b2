//! Assembles one multi-stage Dockerfile from a resolved selection.
//!
//! Layout, top to bottom:
//! 1. `ARG CACHE_ID=default`, before the first `FROM`.
//! 2. One `<name>_builder` stage per extension with a builder, on its own fixed base image (or
//!    on another builder, or on the final image, where the extension says so).
//! 3. The final stage:
//!    - the fixed step (the same in every image: apt keeps its downloads, interactive bash loads
//!      quarry's environment);
//!    - the RUN chain: per extension, in chain order, its apt layer and its setup RUN;
//!    - every `COPY --link`: quarry's entrypoint and start-up files, artifacts, files, each
//!      extension's shell environment;
//!    - `ENV`, the declared exceptions (setup that needs artifacts), `USER`, `WORKDIR`,
//!      `ENTRYPOINT` and `CMD`.
//!
//! Nothing a user changes sits before a RUN that does not depend on it: a RUN's cache key holds
//! every layer below it, so adding, bumping or removing an extension re-runs only its own steps.
//!
//! `ARG CACHE_ID` is re-declared in a stage right before the first instruction that uses it,
//! because a declared ARG enters the cache key of every later RUN of the stage.

use std::borrow::Cow;
use std::collections::BTreeMap;

use quarry_buildkit::image::Reference;

use crate::error::Error;
use crate::hint::Hinted;
use crate::model::{AptRepository, Artifact, BuilderFrom, Extension, Template};
use crate::registry::Registry;
use crate::request::{EngineLevel, ImageConfig, Request};
use crate::resolve::{Resolved, ResolvedExtension, resolve};
use crate::rules;
use crate::stage::{APT_PRELUDE, StageWriter, apt_install_step};
use crate::template::{self, Slot};

/// Name of the final stage.
pub const FINAL_STAGE: &str = "quarry_final";

/// quarry's entrypoint in the final image: loads the shell environment, then runs the command.
pub const ENTRYPOINT_PATH: &str = "/usr/local/bin/quarry-entrypoint";

/// The folder each extension's shell environment lands in, `<name>.sh`.
pub const ENV_DIR: &str = "/etc/quarry/env.d";

/// Build-context folder of quarry's own files, copied to `/` (entrypoint and start-up files).
const ROOT_CONTEXT: &str = "quarry/_root";
/// Build-context folder of the extensions' shell environments.
const ENV_CONTEXT: &str = "quarry/_env.d";

/// The fixed first step of every final stage. It depends on nothing the user selects, so it is
/// built once per final image: apt keeps what it downloads (so the cache mounts pay off), and
/// interactive bash loads `/etc/quarry/env.sh`.
pub const FINAL_PRELUDE: &str = "RUN if [ -d /etc/apt/apt.conf.d ]; then \\\n      \
    rm -f /etc/apt/apt.conf.d/docker-clean; \\\n      \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache; \\\n    \
    fi \\\n \
    && echo '[ -r /etc/quarry/env.sh ] && . /etc/quarry/env.sh' >> /etc/bash.bashrc";

/// `/etc/quarry/env.sh`: sources every extension's environment, once per shell, in bash only.
const ENV_SH: &str = r#"# Written by quarry: loads each extension's shell environment from /etc/quarry/env.d.
# Sourced by quarry's entrypoint (`docker run IMAGE cmd`), by interactive bash
# (/etc/bash.bashrc) and by login shells (/etc/profile.d/quarry.sh).
if [ -n "${BASH_VERSION:-}" ] && [ "${quarry_env_loaded:-}" != "$$" ]; then
  quarry_env_loaded=$$
  for quarry_env_file in /etc/quarry/env.d/*.sh; do
    if [ -r "$quarry_env_file" ]; then . "$quarry_env_file"; fi
  done
  unset quarry_env_file
fi
"#;

/// `/usr/local/bin/quarry-entrypoint`.
const ENTRYPOINT_SH: &str = r#"#!/bin/bash
# Written by quarry: loads each extension's shell environment, then runs the command (the base
# image's own entrypoint, if it had one, is the first word of it). With no command at all, bash.
quarry_load_env() { . /etc/quarry/env.sh; }
quarry_load_env
unset -f quarry_load_env
if [ "$#" -eq 0 ]; then set -- /bin/bash; fi
exec "$@"
"#;

/// `/etc/profile.d/quarry.sh`.
const PROFILE_SH: &str = "# Written by quarry: login shells load each extension's shell environment too.\n\
if [ -r /etc/quarry/env.sh ]; then . /etc/quarry/env.sh; fi\n";

/// A file to write into the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFile {
    /// Path relative to the context root: `quarry/<extension>/<path>`, or quarry's own files
    /// under `quarry/_root/` and `quarry/_env.d/`.
    pub path: String,
    /// Contents.
    pub contents: Cow<'static, [u8]>,
    /// Whether it is executable.
    pub executable: bool,
}

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
    let dockerfile = layout(&pieces, request);
    let Pieces { resolved, warnings, files, final_user, .. } = pieces;
    Ok(Rendered { dockerfile, resolved, warnings, files, final_user: final_user.map(|u| u.user) })
}

/// Every extension's contribution to the Dockerfile, rendered and checked but not laid out yet.
///
/// [`render`] lays these out as quarry's Dockerfile. A tool may lay the same pieces out otherwise
/// (`cargo xtask bench cache` composes a naive layout from them to measure quarry against), with
/// [`StageWriter`] and [`apt_install_step`] writing the steps as quarry does.
#[derive(Debug, Clone)]
pub struct Pieces {
    /// The final image.
    pub image: String,
    /// The resolved selection, in render order.
    pub resolved: Resolved,
    /// One entry per resolved extension, in render order.
    pub extensions: Vec<ExtensionPieces>,
    /// The user the image runs as, when an extension sets one.
    pub final_user: Option<FinalUser>,
    /// Things the user should know, one message each.
    pub warnings: Vec<Hinted>,
    /// Every file of the build context, sorted by path: the extensions' files, their shell
    /// environments and quarry's own start-up files.
    pub files: Vec<BuildFile>,
}

/// One extension's rendered contribution.
#[derive(Debug, Clone)]
pub struct ExtensionPieces {
    /// The extension's name.
    pub name: &'static str,
    /// Its builder stage, if it has one.
    pub builder: Option<BuilderPieces>,
    /// Packages for the final image, templates filled in (unsorted, as declared).
    pub apt_packages: Vec<String>,
    /// Third-party repositories its final-image packages come from.
    pub apt_repositories: &'static [AptRepository],
    /// Final-stage RUN steps (a rendered snippet).
    pub setup: Option<String>,
    /// Whether `setup` must follow the copies (the declared exception).
    pub setup_after_copies: bool,
    /// `NAME=value` entries of the final image.
    pub env: Vec<String>,
    /// The extension's shell environment: its path in the build context, if it has one.
    pub shell_file: Option<String>,
    /// Context files copied into the final image: (path in the build context, destination).
    pub copied_files: Vec<(String, &'static str)>,
}

/// A rendered builder stage.
#[derive(Debug, Clone)]
pub struct BuilderPieces {
    /// The stage name, `<name>_builder`.
    pub stage: String,
    /// What its `FROM` names: an image, or another builder stage.
    pub from: String,
    /// The image at the root of the stage (for apt cache-mount ids).
    pub image: String,
    /// Whether the stage starts from another builder stage (which has done apt's set-up).
    pub from_stage: bool,
    /// Packages installed in the stage before its body, templates filled in.
    pub apt_packages: Vec<String>,
    /// One verified RUN step per declared download, each with its comment line.
    pub downloads: Vec<String>,
    /// The stage body (a rendered snippet).
    pub body: String,
    /// What the final image copies from the stage.
    pub artifacts: &'static [Artifact],
}

/// The image's user and the extension that sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalUser {
    /// The user name.
    pub user: String,
    /// Its working folder, if the extension sets one.
    pub workdir: Option<String>,
    /// The extension whose `final_user` it is.
    pub owner: &'static str,
}

/// Resolves `request` and renders every template and templated value, checked against its slot.
pub fn pieces(registry: &Registry, request: &Request) -> Result<Pieces, Error> {
    if !rules::is_image_ref(&request.image) {
        return Err(Error::InvalidImage { what: "final image".to_owned(), value: request.image.clone() });
    }
    let resolved = resolve(registry, request)?;

    // Rendered group by group, in the order the groups appear in the file, so the first error
    // reported is the first one in the file.
    let mut builders: BTreeMap<&'static str, BuilderPieces> = BTreeMap::new();
    for r in &resolved.extensions {
        let Some(builder) = &r.extension.builder else { continue };
        let (from, image, from_stage) = match builder.from {
            BuilderFrom::BaseImage => {
                let image =
                    r.builder_base_image.clone().expect("resolve sets a base for base-image builders");
                (image.clone(), image, false)
            }
            BuilderFrom::FinalImage => (request.image.clone(), request.image.clone(), false),
            BuilderFrom::Extension(source) => {
                let source = builders.get(source).expect("resolve places a builder's source first");
                (source.stage.clone(), source.image.clone(), true)
            }
        };
        let pieces = BuilderPieces {
            stage: r.extension.builder_stage(),
            from,
            image,
            from_stage,
            apt_packages: render_packages(r, builder.apt_packages)?,
            downloads: builder
                .downloads
                .iter()
                .map(|d| crate::download::step(r, d))
                .collect::<Result<_, _>>()?,
            // A builder that only downloads has an empty template.
            body: if builder.template.source.is_empty() {
                String::new()
            } else {
                render_template(r, &builder.template, Slot::Builder)?
            },
            artifacts: builder.artifacts,
        };
        builders.insert(r.extension.name, pieces);
    }

    let mut warnings: Vec<Hinted> = resolved.notes.clone();
    warnings.extend(
        resolved.extensions.iter().filter_map(|r| unsupported_image_warning(r.extension, &request.image)),
    );
    warnings.extend(
        builders
            .iter()
            .filter_map(|(name, b)| crate::glibc::newer_builder_warning(name, &b.image, &request.image)),
    );

    let mut extensions = Vec::with_capacity(resolved.extensions.len());
    let mut files: Vec<BuildFile> = Vec::new();
    for r in &resolved.extensions {
        let ext = r.extension;
        let apt_packages = render_packages(r, ext.apt_packages)?;
        let setup = ext.setup.as_ref().map(|t| render_template(r, t, Slot::Setup)).transpose()?;
        let env = ext
            .env
            .iter()
            .map(|entry| {
                let template = Template { file: "env", source: entry };
                let value = render_template(r, &template, Slot::Value)?;
                if rules::is_env_entry(&value) {
                    Ok(value)
                } else {
                    Err(template_error(
                        ext,
                        &template,
                        format!("{entry:?} rendered to {value:?}, which is not NAME=value without white space or quotes"),
                    ))
                }
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let shell_file = shell_file(r)?.map(|contents| {
            let path = format!("{ENV_CONTEXT}/{}.sh", ext.name);
            files.push(BuildFile {
                path: path.clone(),
                contents: Cow::Owned(contents.into_bytes()),
                executable: false,
            });
            path
        });
        let mut copied_files = Vec::new();
        for f in ext.files {
            let path = format!("quarry/{}/{}", ext.name, f.path);
            if let Some(dest) = f.dest {
                copied_files.push((path.clone(), dest));
            }
            files.push(BuildFile { path, contents: Cow::Borrowed(f.contents), executable: f.executable });
        }
        extensions.push(ExtensionPieces {
            name: ext.name,
            builder: builders.remove(ext.name),
            apt_packages,
            apt_repositories: ext.apt_repositories,
            setup,
            setup_after_copies: ext.setup_after_copies,
            env,
            shell_file,
            copied_files,
        });
    }

    let mut final_user: Option<FinalUser> = None;
    for r in &resolved.extensions {
        let Some(user_template) = r.extension.final_user else { continue };
        let template = Template { file: "final_user", source: user_template };
        let user = render_template(r, &template, Slot::Value)?.trim().to_owned();
        if !rules::is_user_name(&user) {
            return Err(template_error(
                r.extension,
                &template,
                format!("`final_user` rendered to {user:?}, which is not a user name"),
            ));
        }
        let workdir = match r.extension.workdir {
            None => None,
            Some(source) => {
                let template = Template { file: "workdir", source };
                let dir = render_template(r, &template, Slot::Value)?.trim().to_owned();
                if !rules::is_abs_path(&dir) {
                    return Err(template_error(
                        r.extension,
                        &template,
                        format!("`workdir` rendered to {dir:?}, which is not an absolute path"),
                    ));
                }
                Some(dir)
            }
        };
        if let Some(first) = &final_user {
            return Err(Error::TwoFinalUsers {
                first: first.owner.to_owned(),
                second: r.extension.name.to_owned(),
            });
        }
        final_user = Some(FinalUser { user, workdir, owner: r.extension.name });
    }

    for (path, contents, executable) in [
        ("etc/quarry/env.sh", ENV_SH, false),
        ("usr/local/bin/quarry-entrypoint", ENTRYPOINT_SH, true),
        ("etc/profile.d/quarry.sh", PROFILE_SH, false),
    ] {
        files.push(BuildFile {
            path: format!("{ROOT_CONTEXT}/{path}"),
            contents: Cow::Borrowed(contents.as_bytes()),
            executable,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));

    Ok(Pieces { image: request.image.clone(), resolved, extensions, final_user, warnings, files })
}

/// The extension's `/etc/quarry/env.d/<name>.sh`, if it declares shell initialisation.
fn shell_file(r: &ResolvedExtension) -> Result<Option<String>, Error> {
    let shell = &r.extension.shell;
    if shell.is_empty() {
        return Ok(None);
    }
    let mut out = format!(
        "# {}: shell environment, written by quarry from the extension's metadata.\n",
        r.extension.name
    );
    if let Some(init) = &shell.init {
        out.push_str(render_template(r, init, Slot::Shell)?.trim_end());
        out.push('\n');
    }
    if let Some(interactive) = &shell.interactive {
        out.push_str("if [[ $- == *i* ]]; then\n");
        for line in render_template(r, interactive, Slot::Shell)?.trim_end().lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str("fi\n");
    }
    Ok(Some(out))
}

/// quarry's layout of `pieces` (see the module documentation).
fn layout(pieces: &Pieces, request: &Request) -> String {
    let mut out = String::new();
    let names: Vec<&str> = pieces.extensions.iter().map(|e| e.name).collect();
    out.push_str("# Rendered by quarry; do not edit: change the configuration and render again.\n");
    out.push_str(&format!("# Extensions: {}\n", names.join(", ")));
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
    }

    let link = match request.engine {
        EngineLevel::Modern => "--link ",
        EngineLevel::Legacy => "",
    };
    let config = request.image_config.as_ref();
    let base_user = config.and_then(ImageConfig::non_root_user);

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
            stage.step(&apt_install_step(&pieces.image, &e.apt_packages, e.apt_repositories, e.name));
        }
        if let Some(setup) = e.setup.as_ref().filter(|_| !e.setup_after_copies) {
            stage.comment(&format!("{}: setup", e.name));
            stage.snippet(setup);
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
        if let Some(path) = &e.shell_file {
            stage.comment(&format!("{}: shell environment", e.name));
            stage.step(&format!("COPY {link}{path} {ENV_DIR}/{}.sh", e.name));
        }
    }

    // Metadata after the last chain RUN costs no step.
    for e in pieces.extensions.iter().filter(|e| !e.env.is_empty()) {
        stage.comment(&format!("{}: environment", e.name));
        stage.step(&format!("ENV {}", e.env.join(" \\\n    ")));
    }
    for e in &pieces.extensions {
        if let Some(setup) = e.setup.as_ref().filter(|_| e.setup_after_copies) {
            stage.comment(&format!(
                "{}: setup that needs the copies (declared in its metadata): runs again whenever an earlier step changes",
                e.name
            ));
            stage.snippet(setup);
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
    out
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

/// Package names, with `{{ options.* }}` placeholders filled in and the result checked.
fn render_packages(r: &ResolvedExtension, packages: &'static [&'static str]) -> Result<Vec<String>, Error> {
    packages
        .iter()
        .map(|p| {
            if !p.contains("{{") {
                return Ok((*p).to_owned());
            }
            let template = Template { file: "apt_packages", source: p };
            let name = render_template(r, &template, Slot::Value)?;
            if rules::is_apt_package(&name) {
                Ok(name)
            } else {
                Err(template_error(
                    r.extension,
                    &template,
                    format!("{p:?} rendered to {name:?}, which is not a package name"),
                ))
            }
        })
        .collect()
}

pub(crate) fn render_template(
    r: &ResolvedExtension,
    template: &Template,
    slot: Slot,
) -> Result<String, Error> {
    let ext = r.extension;
    let ctx =
        template::context(ext.name, ext.options.iter().map(|o| (o.name, r.options[o.name].as_str(), o.rule)));
    let name = format!("{}/{}", ext.name, template.file);
    let rendered = template::render(&name, template.source, ctx)
        .map_err(|e| template_error(ext, template, e.to_string()))?;
    // Shell text goes to a file of the build context, values are checked by their own rule.
    if !matches!(slot, Slot::Value | Slot::Shell) {
        template::check_snippet(slot, &rendered).map_err(|e| template_error(ext, template, e.to_string()))?;
    }
    Ok(rendered)
}

pub(crate) fn template_error(ext: &Extension, template: &Template, message: String) -> Error {
    Error::Template {
        extension: ext.name.to_owned(),
        template: format!("{}/{}", ext.name, template.file),
        message,
    }
}

fn unsupported_image_warning(ext: &Extension, image: &str) -> Option<Hinted> {
    if ext.supported_images.is_empty() {
        return None;
    }
    // What the tag names: a digest pins one build of it, which is still that release.
    let tagged = |image| Reference::parse(image).tagged();
    let normal = tagged(image);
    if ext.supported_images.iter().any(|s| tagged(s) == normal) {
        return None;
    }
    let list: Vec<String> = ext.supported_images.iter().map(|s| format!("`{s}`")).collect();
    Some(Hinted::new(
        format!(
            "extension `{}` needs one of the final images {}, but the image is `{image}`: its steps \
             will most likely fail",
            ext.name,
            list.join(", "),
        ),
        format!("render with `{}`, or an image built from it", ext.supported_images[0]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Builder;
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
        tool.options = leak([crate::OptionSpec {
            name: "version",
            description: "v",
            default: "1.0.0",
            rule: crate::Rule::Version,
            required: false,
            from_host: None,
            multiple: false,
            aliases: &[],
        }]);
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
        e.options = leak([crate::OptionSpec {
            name: "version",
            description: "v",
            default: "1.0.0",
            rule: crate::Rule::Version,
            required: false,
            from_host: None,
            multiple: false,
            aliases: &[],
        }]);
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
    }

    #[test]
    fn supported_images_match_every_spelling_of_the_tag() {
        let mut e = ext("ros", &[], 50);
        e.supported_images = &["ubuntu:24.04", "localhost:5000/x"];
        for image in [
            "ubuntu:24.04",
            "docker.io/library/ubuntu:24.04",
            "docker.io/ubuntu:24.04",
            "index.docker.io/library/ubuntu:24.04",
            "ubuntu:24.04@sha256:abc",
            "localhost:5000/x:latest",
        ] {
            assert_eq!(unsupported_image_warning(&e, image), None, "{image}");
        }
        for image in ["ubuntu:22.04", "ubuntu", "localhost:5001/x", "me/ubuntu:24.04"] {
            assert!(unsupported_image_warning(&e, image).is_some(), "{image}");
        }
    }
}
