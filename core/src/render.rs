//! Assembles one multi-stage Dockerfile from a resolved selection.
//!
//! Layout, top to bottom:
//! 1. `ARG CACHE_ID=default`, before the first `FROM`.
//! 2. Shared builder base stages (`quarry_builder_base`): a fixed tool set that never depends on
//!    the selection.
//! 3. One `<name>_builder` stage per extension with a builder, on its own fixed base image.
//! 4. The final stage: one apt layer per extension, then every artifact copy, then root setup
//!    steps, then user steps; inside each group in resolve order (priority descending, name,
//!    dependencies first).
//!
//! `ARG CACHE_ID` is re-declared in a stage right before the first instruction that uses it,
//! because a declared ARG enters the cache key of every later RUN of the stage.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::model::{AptRepository, Extension, Template};
use crate::registry::Registry;
use crate::resolve::{Resolved, ResolvedExtension, resolve};
use crate::rules;
use crate::template::{self, Slot};

/// Name of the shared builder base stage built from the global builder base image.
pub const BUILDER_BASE_STAGE: &str = "quarry_builder_base";

/// The fixed tool set of every shared builder base stage, sorted.
pub const BUILDER_BASE_TOOLS: &[&str] =
    &["build-essential", "ca-certificates", "cmake", "curl", "git", "pkg-config", "unzip", "xz-utils"];

/// Name of the final stage.
pub const FINAL_STAGE: &str = "quarry_final";

/// What the target engine's Dockerfile frontend supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum EngineLevel {
    /// Docker 23+ (Dockerfile frontend 1.4+): `COPY --link`.
    #[default]
    Modern,
    /// Docker 20.10 (frontend 1.3): no `COPY --link`; plain `COPY --from` instead.
    Legacy,
}

/// One extension the user asked for, with the options they set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Extension name.
    pub name: String,
    /// Option values by option name; unset options take their defaults.
    pub options: BTreeMap<String, String>,
}

impl Selection {
    /// A selection with default options.
    pub fn new(name: impl Into<String>) -> Self {
        Selection { name: name.into(), options: BTreeMap::new() }
    }

    /// Sets an option.
    pub fn with_option(mut self, option: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(option.into(), value.into());
        self
    }
}

/// Per-extension overrides of metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    /// Image the extension's builder starts from.
    pub builder_base_image: Option<String>,
    /// Cache priority, 0..=100.
    pub cache_priority: Option<u32>,
}

/// Everything a render depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The final image.
    pub image: String,
    /// The selected extensions, in any order.
    pub extensions: Vec<Selection>,
    /// Global builder base image override.
    pub builder_base_image: Option<String>,
    /// Per-extension overrides, by extension name.
    pub overrides: BTreeMap<String, Override>,
    /// What the target engine supports.
    pub engine: EngineLevel,
    /// Values of the host running quarry, for options that default to them.
    pub host: HostValues,
}

/// The host's values that options may default to (`None`: use the option's own default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostValues {
    /// The user's numeric id.
    pub uid: Option<String>,
    /// The user's primary group id.
    pub gid: Option<String>,
    /// The user's login name.
    pub user: Option<String>,
}

impl HostValues {
    /// The value for `which`, if known.
    pub fn get(&self, which: crate::HostValue) -> Option<&str> {
        match which {
            crate::HostValue::Uid => self.uid.as_deref(),
            crate::HostValue::Gid => self.gid.as_deref(),
            crate::HostValue::User => self.user.as_deref(),
        }
    }
}

/// A file to write into the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFile {
    /// Path relative to the context root: `quarry/<extension>/<path>`.
    pub path: String,
    /// Contents.
    pub contents: &'static [u8],
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
    pub warnings: Vec<String>,
    /// Files the extensions ship in the build context, sorted by path.
    pub files: Vec<BuildFile>,
    /// The user the image runs as, when an extension sets one.
    pub final_user: Option<String>,
}

/// Renders `request` with the extensions of `registry`.
pub fn render(registry: &Registry, request: &Request) -> Result<Rendered, Error> {
    if !rules::is_image_ref(&request.image) {
        return Err(Error::InvalidImage { what: "final image".to_owned(), value: request.image.clone() });
    }
    let resolved = resolve(registry, request)?;
    let mut out = String::new();
    let names: Vec<&str> = resolved.extensions.iter().map(|r| r.extension.name).collect();
    out.push_str("# Rendered by quarry; do not edit: change the configuration and render again.\n");
    out.push_str(&format!("# Extensions: {}\n", names.join(", ")));
    out.push_str("ARG CACHE_ID=default\n");

    // Shared builder bases, one per distinct image, the global default first.
    let mut shared_bases: BTreeMap<String, String> = BTreeMap::new();
    for r in &resolved.extensions {
        if let (Some(builder), Some(image)) = (&r.extension.builder, &r.builder_base_image)
            && builder.shared_base
        {
            let stage = if *image == resolved.default_builder_base_image {
                BUILDER_BASE_STAGE.to_owned()
            } else {
                format!("{BUILDER_BASE_STAGE}_{}", stage_slug(image))
            };
            shared_bases.insert(stage, image.clone());
        }
    }
    for (stage_name, image) in &shared_bases {
        let mut stage = Stage::new(&mut out, image, Some(stage_name));
        stage.comment("Shared builder base: a fixed tool set, whatever extensions are selected.");
        stage.step(APT_PRELUDE);
        let tools: Vec<String> = BUILDER_BASE_TOOLS.iter().map(|t| (*t).to_owned()).collect();
        stage.step(&apt_install(image, &tools, &[], ""));
    }

    // Builder stages.
    for r in &resolved.extensions {
        let (Some(builder), Some(image)) = (&r.extension.builder, &r.builder_base_image) else {
            continue;
        };
        let base_stage = shared_bases.iter().find(|(_, i)| *i == image).map(|(s, _)| s.as_str());
        let from = match (builder.shared_base, base_stage) {
            (true, Some(stage)) => stage,
            _ => image.as_str(),
        };
        let ext = r.extension;
        let mut stage = Stage::new(&mut out, from, Some(&ext.builder_stage()));
        stage.comment(&format!("{}: builder", ext.name));
        if !builder.apt_packages.is_empty() {
            if !builder.shared_base {
                stage.step(APT_PRELUDE);
            }
            let packages = render_packages(r, builder.apt_packages)?;
            stage.step(&apt_install(image, &packages, &[], ext.name));
        }
        stage.snippet(&render_template(r, &builder.template, Slot::Builder)?);
    }

    // The final stage.
    let mut warnings = Vec::new();
    for r in &resolved.extensions {
        if let Some(w) = unsupported_image_warning(r.extension, &request.image) {
            warnings.push(w);
        }
    }
    let mut final_user: Option<(String, &str)> = None;
    for r in &resolved.extensions {
        let Some(user_template) = r.extension.final_user else { continue };
        let template = Template { file: "final_user", source: user_template };
        let user = render_template(r, &template, Slot::Value)?;
        let user = user.trim().to_owned();
        if !rules::is_user_name(&user) {
            return Err(template_error(
                r.extension,
                &template,
                format!("`final_user` rendered to {user:?}, which is not a user name"),
            ));
        }
        if let Some((_, first)) = &final_user {
            return Err(Error::TwoFinalUsers {
                first: (*first).to_owned(),
                second: r.extension.name.to_owned(),
            });
        }
        final_user = Some((user, r.extension.name));
    }

    let mut stage = Stage::new(&mut out, &request.image, Some(FINAL_STAGE));
    let has_apt = resolved
        .extensions
        .iter()
        .any(|r| !r.extension.apt_packages.is_empty() || !r.extension.apt_repositories.is_empty());
    if has_apt {
        stage.step(APT_PRELUDE);
    }
    for r in &resolved.extensions {
        let ext = r.extension;
        if ext.apt_packages.is_empty() && ext.apt_repositories.is_empty() {
            continue;
        }
        stage.comment(&format!("{}: apt packages", ext.name));
        let packages = render_packages(r, ext.apt_packages)?;
        stage.step(&apt_install(&request.image, &packages, ext.apt_repositories, ext.name));
    }
    for r in &resolved.extensions {
        let Some(builder) = &r.extension.builder else { continue };
        if builder.artifacts.is_empty() {
            continue;
        }
        stage.comment(&format!("{}: artifacts", r.extension.name));
        let link = match request.engine {
            EngineLevel::Modern => "--link ",
            EngineLevel::Legacy => "",
        };
        for a in builder.artifacts {
            stage.step(&format!("COPY {link}--from={} {} {}", r.extension.builder_stage(), a.source, a.dest));
        }
    }
    for r in &resolved.extensions {
        if let Some(setup) = &r.extension.setup {
            stage.comment(&format!("{}: setup", r.extension.name));
            stage.snippet(&render_template(r, setup, Slot::Setup)?);
        }
    }
    if let Some((user, owner)) = &final_user {
        stage.comment(&format!("{owner}: the image's user"));
        stage.step(&format!("USER {user}"));
    }
    for r in &resolved.extensions {
        if let Some(setup) = &r.extension.user_setup {
            stage.comment(&format!("{}: user setup", r.extension.name));
            stage.snippet(&render_template(r, setup, Slot::UserSetup)?);
        }
    }

    let mut files: Vec<BuildFile> = resolved
        .extensions
        .iter()
        .flat_map(|r| {
            r.extension.files.iter().map(|f| BuildFile {
                path: format!("quarry/{}/{}", r.extension.name, f.path),
                contents: f.contents,
                executable: f.executable,
            })
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));

    Ok(Rendered { dockerfile: out, resolved, warnings, files, final_user: final_user.map(|(u, _)| u) })
}

/// Makes the image's own apt cache keep what it downloads, so the cache mounts pay off.
const APT_PRELUDE: &str = "RUN rm -f /etc/apt/apt.conf.d/docker-clean \\\n \
    && echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache";

/// One apt layer: repositories (if any), then the sorted, de-duplicated packages.
fn apt_install(image: &str, packages: &[String], repositories: &[AptRepository], owner: &str) -> String {
    let slug = image_slug(image);
    let mut packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    packages.sort_unstable();
    packages.dedup();
    let mut s = String::from("RUN ");
    s.push_str(&template::cache_mount_flag(&format!("apt-cache-{slug}"), "/var/cache/apt"));
    s.push_str(" \\\n    ");
    s.push_str(&template::cache_mount_flag(&format!("apt-lists-{slug}"), "/var/lib/apt/lists"));
    s.push_str(" \\\n    apt-get update");
    if !repositories.is_empty() {
        s.push_str(" \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl");
        s.push_str(" \\\n && install -d -m 0755 /etc/apt/keyrings");
        for repo in repositories {
            let keyring = keyring_path(owner, repo);
            s.push_str(&format!(" \\\n && curl -fsSL {} -o {keyring}", repo.key_url));
            s.push_str(&format!(
                " \\\n && echo \"{}\" > /etc/apt/sources.list.d/{owner}-{}.list",
                apt_source_line(repo, &keyring),
                repo.name
            ));
        }
        s.push_str(" \\\n && apt-get update");
    }
    if !packages.is_empty() {
        s.push_str(
            " \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n      ",
        );
        s.push_str(&packages.join(" "));
    }
    s
}

/// Where a repository's key is stored: `.gpg` for binary keys, `.asc` for armored ones.
fn keyring_path(owner: &str, repo: &AptRepository) -> String {
    let ext = if repo.key_url.ends_with(".gpg") { "gpg" } else { "asc" };
    format!("/etc/apt/keyrings/{owner}-{}.{ext}", repo.name)
}

/// The `deb` line, with the keyring, architecture and codename filled in. The architecture and
/// codename are shell expansions evaluated in the image, so the same line serves every release.
pub fn apt_source_line(repo: &AptRepository, keyring: &str) -> String {
    repo.source
        .replace("{{ keyring }}", keyring)
        .replace("{{ arch }}", "$(dpkg --print-architecture)")
        .replace("{{ codename }}", "$(. /etc/os-release && echo $VERSION_CODENAME)")
}

/// `ubuntu:22.04` -> `ubuntu-22.04`: the image in a cache-mount id.
fn image_slug(image: &str) -> String {
    image.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

/// `ubuntu:24.04` -> `ubuntu_24_04`: the image in a stage name.
fn stage_slug(image: &str) -> String {
    image.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
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

fn render_template(r: &ResolvedExtension, template: &Template, slot: Slot) -> Result<String, Error> {
    let ext = r.extension;
    let ctx =
        template::context(ext.name, ext.options.iter().map(|o| (o.name, r.options[o.name].as_str(), o.rule)));
    let name = format!("{}/{}", ext.name, template.file);
    let rendered = template::render(&name, template.source, ctx)
        .map_err(|e| template_error(ext, template, e.to_string()))?;
    if slot != Slot::Value {
        template::check_snippet(slot, &rendered).map_err(|e| template_error(ext, template, e.to_string()))?;
    }
    Ok(rendered)
}

fn template_error(ext: &Extension, template: &Template, message: String) -> Error {
    Error::Template {
        extension: ext.name.to_owned(),
        template: format!("{}/{}", ext.name, template.file),
        message,
    }
}

fn unsupported_image_warning(ext: &Extension, image: &str) -> Option<String> {
    if ext.supported_images.is_empty() {
        return None;
    }
    let normal = normalize_image(image);
    if ext.supported_images.iter().any(|s| normalize_image(s) == normal) {
        return None;
    }
    let list: Vec<String> = ext.supported_images.iter().map(|s| format!("`{s}`")).collect();
    Some(format!(
        "extension `{}` needs one of the final images {}, but the image is `{image}`: its steps \
         will most likely fail\nhint: render with `{}`, or an image built from it",
        ext.name,
        list.join(", "),
        ext.supported_images[0]
    ))
}

/// `docker.io/library/ubuntu:24.04@sha256:...` -> `ubuntu:24.04`; no tag means `latest`.
fn normalize_image(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let image = image.strip_prefix("docker.io/").unwrap_or(image);
    let image = image.strip_prefix("library/").unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') { image.to_owned() } else { format!("{image}:latest") }
}

/// Writes one stage and tracks whether `ARG CACHE_ID` has been declared in it.
struct Stage<'a> {
    out: &'a mut String,
    cache_arg_declared: bool,
}

impl<'a> Stage<'a> {
    fn new(out: &'a mut String, from: &str, name: Option<&str>) -> Self {
        out.push('\n');
        out.push_str("FROM ");
        out.push_str(from);
        if let Some(name) = name {
            out.push_str(" AS ");
            out.push_str(name);
        }
        out.push('\n');
        Stage { out, cache_arg_declared: false }
    }

    fn comment(&mut self, text: &str) {
        self.out.push_str("# ");
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// One instruction (possibly spanning continuation lines).
    fn step(&mut self, instruction: &str) {
        if !self.cache_arg_declared && instruction.contains("${CACHE_ID}") {
            self.out.push_str("ARG CACHE_ID\n");
            self.cache_arg_declared = true;
        }
        self.out.push_str(instruction.trim_end());
        self.out.push('\n');
    }

    /// A rendered template: split into instructions so `ARG CACHE_ID` lands right before the
    /// first one that uses it. Blank lines are dropped.
    fn snippet(&mut self, snippet: &str) {
        let mut current = String::new();
        for line in snippet.lines() {
            if current.is_empty() && line.trim().is_empty() {
                continue;
            }
            if current.is_empty() && line.trim_start().starts_with('#') {
                self.out.push_str(line.trim_end());
                self.out.push('\n');
                continue;
            }
            current.push_str(line.trim_end());
            current.push('\n');
            if !line.trim_end().ends_with('\\') {
                self.step(&current);
                current.clear();
            }
        }
        if !current.is_empty() {
            self.step(&current);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Artifact, Builder, RunSpec};
    use crate::resolve::AddedDependency;

    fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    fn ext(name: &'static str, deps: &'static [&'static str], priority: u8) -> Extension {
        Extension {
            name,
            crate_name: "test",
            description: "test extension",
            depends_on: deps,
            cache_priority: priority,
            builder_base_image: None,
            apt_packages: &[],
            apt_repositories: &[],
            builder: None,
            setup: Some(Template { file: "setup", source: "RUN echo {{ name }}\n" }),
            user_setup: None,
            final_user: None,
            supported_images: &[],
            options: &[],
            files: &[],
            run: RunSpec::EMPTY,
        }
    }

    fn registry(list: Vec<Extension>) -> Registry {
        Registry::from_extensions(list.into_iter().map(leak)).unwrap()
    }

    fn request(names: &[&str]) -> Request {
        Request {
            image: "debian:bookworm".to_owned(),
            extensions: names.iter().map(|n| Selection::new(*n)).collect(),
            ..Request::default()
        }
    }

    fn order(reg: &Registry, names: &[&str]) -> Vec<&'static str> {
        resolve(reg, &request(names)).unwrap().extensions.iter().map(|r| r.extension.name).collect()
    }

    #[test]
    fn order_is_priority_then_name_with_dependencies_first() {
        let reg =
            registry(vec![ext("a", &[], 10), ext("b", &[], 90), ext("c", &["a"], 95), ext("d", &[], 90)]);
        // c has the highest priority but needs a, so a comes just before it.
        assert_eq!(order(&reg, &["a", "b", "c", "d"]), ["b", "d", "a", "c"]);
        assert_eq!(order(&reg, &["d", "c", "b", "a"]), ["b", "d", "a", "c"]);
    }

    #[test]
    fn dependencies_are_added_and_reported() {
        let reg = registry(vec![ext("a", &[], 10), ext("b", &["a"], 20), ext("c", &["a", "b"], 30)]);
        let resolved = resolve(&reg, &request(&["c"])).unwrap();
        let names: Vec<_> = resolved.extensions.iter().map(|r| (r.extension.name, r.requested)).collect();
        assert_eq!(names, [("a", false), ("b", false), ("c", true)]);
        assert_eq!(
            resolved.added,
            [
                AddedDependency { name: "a", required_by: "b" },
                AddedDependency { name: "b", required_by: "c" }
            ]
        );
    }

    #[test]
    fn cycles_are_named() {
        let reg = registry(vec![
            ext("a", &["c"], 10),
            ext("b", &["a"], 20),
            ext("c", &["b"], 30),
            ext("d", &["a"], 1),
        ]);
        let err = resolve(&reg, &request(&["d"])).unwrap_err();
        assert_eq!(
            err,
            Error::DependencyCycle { cycle: vec!["a".into(), "c".into(), "b".into(), "a".into()] }
        );
        assert_eq!(
            err.to_string(),
            "dependency cycle: a -> c -> b -> a\nhint: remove one of these `depends_on` entries"
        );
    }

    #[test]
    fn unknown_names_get_suggestions() {
        let reg = registry(vec![ext("ros_jazzy", &[], 10)]);
        let err = resolve(&reg, &request(&["ros-jazy"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown extension `ros-jazy`\nhint: did you mean `ros_jazzy`? `quarry list` shows every extension"
        );
        let err = resolve(&reg, &request(&[])).unwrap_err();
        assert_eq!(err, Error::NothingSelected);
    }

    #[test]
    fn cache_arg_is_declared_right_before_its_first_use() {
        let mut builder_ext = ext("tool", &[], 50);
        builder_ext.setup = None;
        builder_ext.builder = Some(Builder {
            shared_base: false,
            apt_packages: &[],
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
        assert_eq!(
            render(&reg, &req).unwrap_err().to_string(),
            "extension `tool` has no option `versoin`\nhint: did you mean `version`?"
        );
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
    fn image_normalization() {
        assert_eq!(normalize_image("docker.io/library/ubuntu:24.04"), "ubuntu:24.04");
        assert_eq!(normalize_image("ubuntu"), "ubuntu:latest");
        assert_eq!(normalize_image("localhost:5000/x"), "localhost:5000/x:latest");
    }
}
