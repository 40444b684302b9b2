//! The pieces of a render: the selection resolved, and every template and templated value of
//! every selected extension rendered and checked against its slot, before any layout. quarry's
//! layout (`render.rs`) and the benchmark's other layouts are all written from them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use quarry_buildkit::image::Reference;

use crate::error::Error;
use crate::fill::{render_template, render_value_keeping, template_error};
use crate::hint::Hinted;
use crate::model::{AptRepository, Artifact, BuilderFrom, CONTEXT_DIR, Extension, Template};
use crate::registry::Registry;
use crate::request::Request;
use crate::resolve::{Resolved, ResolvedExtension, resolve};
use crate::rules;
use crate::shell;
use crate::stage::AptSource;
use crate::template::{self, Slot};

/// Name of the final stage.
pub const FINAL_STAGE: &str = "quarry_final";

/// quarry's entrypoint in the final image: loads the shell environment, then runs the command.
pub const ENTRYPOINT_PATH: &str = "/usr/local/bin/quarry-entrypoint";

/// The folder each extension's shell environment lands in, `<name>.sh`.
pub const ENV_DIR: &str = "/etc/quarry/env.d";

/// Build-context folder of quarry's own files, copied to `/` (entrypoint and start-up files).
pub(crate) const ROOT_CONTEXT: &str = "quarry/_root";
/// Build-context folder of the extensions' shell environments.
pub(crate) const ENV_CONTEXT: &str = "quarry/_env.d";

/// The fixed first step of every final stage. It depends on nothing the user selects, so it is
/// built once per final image: apt keeps what it downloads (so the cache mounts pay off), and
/// interactive bash loads `/etc/quarry/env.sh`.
pub const FINAL_PRELUDE: &str = "RUN if [ -d /etc/apt/apt.conf.d ]; then \\\n      \
    rm -f /etc/apt/apt.conf.d/docker-clean; \\\n      \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache; \\\n    \
    fi \\\n \
    && echo '[ -r /etc/quarry/env.sh ] && . /etc/quarry/env.sh' >> /etc/bash.bashrc";

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
    /// Third-party repositories its final-image packages come from, options filled in.
    pub apt_repositories: Vec<AptSource>,
    /// Final-stage RUN steps (a rendered snippet).
    pub setup: Option<String>,
    /// Whether `setup` must follow the copies (the declared exception).
    pub setup_after_copies: bool,
    /// Whether `setup` runs as the image's user (`USER` before it, `USER root` after it).
    pub setup_as_user: bool,
    /// `NAME=value` entries of the final image.
    pub env: Vec<String>,
    /// The extension's shell environment, if it has one: a build-context folder holding
    /// `<name>.env` (its `ENV` for any shell) and `<name>.sh` (its `[shell]` lines, for bash),
    /// copied into `/etc/quarry/env.d/`.
    pub shell_dir: Option<String>,
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
    if let Some(c) = &request.image_config
        && !c.user.is_empty()
        && !rules::is_user_spec(&c.user)
    {
        return Err(Error::InvalidImageUser { value: c.user.clone() });
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
    // An option whose values suit different images: a value the image is known not to suit is
    // an error before anything is built.
    for r in &resolved.extensions {
        let mut options: Vec<&str> = r.extension.supported_images_by.iter().map(|e| e.option).collect();
        options.dedup();
        for option in options {
            let value = r.options[option].as_str();
            warnings.extend(crate::images::check(r.extension, option, value, &request.image)?);
        }
    }
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
        let shell_dir = format!("{ENV_CONTEXT}/{}", ext.name);
        let shell_files = [(shell::env_file(ext.name, &env), "env"), (shell::shell_file(r)?, "sh")];
        let shell_dir = shell_files.iter().any(|(f, _)| f.is_some()).then_some(shell_dir);
        for (contents, suffix) in shell_files {
            if let (Some(contents), Some(dir)) = (contents, &shell_dir) {
                files.push(BuildFile {
                    path: format!("{dir}/{}.{suffix}", ext.name),
                    contents: Cow::Owned(contents.into_bytes()),
                    executable: false,
                });
            }
        }
        // The project's files the CLI collected: the folder always exists (a fixed note in it),
        // so a step may mount it whether or not the project has any.
        if let Some(spec) = &ext.project_files {
            let dir = format!("{CONTEXT_DIR}/{}/{}", ext.name, crate::model::PROJECT_FILES_DIR);
            files.push(BuildFile {
                path: format!("{dir}/.quarry-project-files"),
                contents: Cow::Owned(
                    format!("the project's files named {} (written by quarry)\n", spec.names.join(", "))
                        .into_bytes(),
                ),
                executable: false,
            });
            for f in request.project_files.get(ext.name).map(Vec::as_slice).unwrap_or_default() {
                if !rules::is_rel_path(&f.path) || f.path.ends_with(".quarry-project-files") {
                    return Err(Error::InvalidProjectFile {
                        extension: ext.name.to_owned(),
                        path: f.path.clone(),
                    });
                }
                files.push(BuildFile {
                    path: format!("{dir}/{}", f.path),
                    contents: Cow::Owned(f.contents.clone()),
                    executable: false,
                });
            }
        }
        let mut copied_files = Vec::new();
        for f in ext.files {
            let path = format!("{CONTEXT_DIR}/{}/{}", ext.name, f.path);
            if let Some(dest) = f.dest {
                copied_files.push((path.clone(), dest));
            }
            files.push(BuildFile { path, contents: Cow::Borrowed(f.contents), executable: f.executable });
        }
        extensions.push(ExtensionPieces {
            name: ext.name,
            builder: builders.remove(ext.name),
            apt_packages,
            apt_repositories: ext
                .apt_repositories
                .iter()
                .map(|repo| render_repository(r, repo))
                .collect::<Result<_, _>>()?,
            setup,
            setup_after_copies: ext.setup_after_copies,
            setup_as_user: ext.setup_as_user,
            env,
            shell_dir,
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
        ("etc/quarry/env.sh", shell::ENV_SH, false),
        ("usr/local/bin/quarry-entrypoint", shell::ENTRYPOINT_SH, true),
        ("etc/profile.d/quarry.sh", shell::PROFILE_SH, false),
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

/// A repository with its options filled in, each part checked again as it will be written; a
/// line keeps its own variables for the apt layer ([`crate::stage::apt_source_line`]).
fn render_repository(r: &ResolvedExtension, repo: &AptRepository) -> Result<AptSource, Error> {
    let ext = r.extension;
    let fill = |file: &'static str, source: &'static str, kept: &[&str]| -> Result<String, Error> {
        Ok(render_value_keeping(r, &Template { file, source }, kept)?.trim().to_owned())
    };
    let fail = |what: &str, value: &str, expected: &str| {
        template_error(
            ext,
            &Template { file: "apt_repositories", source: "" },
            format!("repository `{}`: {what} rendered to {value:?}, which is not {expected}", repo.name),
        )
    };
    let mut fingerprints = Vec::new();
    for f in repo.key_fingerprints {
        let value = fill("apt_repositories.key_fingerprints", f, &[])?;
        if !rules::is_key_fingerprint(&value) {
            return Err(fail("a key fingerprint", &value, "40 or 64 hex digits"));
        }
        fingerprints.push(value.to_ascii_uppercase());
    }
    let key_url = fill("apt_repositories.key_url", repo.key_url, &[])?;
    let pinned = !fingerprints.is_empty();
    if !(rules::is_https_url(&key_url) || (pinned && rules::is_http_url(&key_url))) {
        return Err(fail(
            "`key_url`",
            &key_url,
            "an https:// URL (http:// only for a key pinned by fingerprint)",
        ));
    }
    let mut lines = Vec::new();
    let kept = template::APT_SOURCE_VARIABLES;
    if repo.arch_sources.is_empty() {
        lines.push((None, fill("apt_repositories.source", repo.source, kept)?));
    }
    for a in repo.arch_sources {
        lines.push((Some(a.arch), fill("apt_repositories.source", a.line, kept)?));
    }
    for (_, line) in &lines {
        if !template::is_apt_source(line) {
            return Err(fail(
                "a `deb` line",
                line,
                "a `deb` line with `signed-by={{ keyring }}` and no shell characters",
            ));
        }
    }
    Ok(AptSource { name: repo.name.to_owned(), key_url, lines, fingerprints })
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
    use crate::test_support::ext;

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
