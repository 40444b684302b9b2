//! The metadata's model (what a valid `extension.toml` holds) and the walker's state, shared by
//! the modules that check each part.

use std::collections::BTreeSet;

use quarry_core::HostValue;
use quarry_core::rules::Rule;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::Input;
use crate::diagnostic::Diagnostic;

/// A template file named by the metadata, with its text.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    /// Path relative to the crate.
    pub file: String,
    /// The text.
    pub source: String,
}

/// An option as declared in metadata.
#[derive(Debug, Clone)]
pub struct OptionMeta {
    /// Option name.
    pub name: String,
    /// Help text.
    pub description: String,
    /// Default value.
    pub default: String,
    /// Validation rule.
    pub rule: Rule,
    /// No default: the user must give it.
    pub required: bool,
    /// Default taken from the host.
    pub from_host: Option<HostValue>,
    /// A list option (`multiple = true`).
    pub multiple: bool,
    /// Other long flags (`aliases = ["net"]`).
    pub aliases: Vec<String>,
}

/// What a builder starts from, as declared in metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromMeta {
    /// Its builder base image.
    BaseImage,
    /// Another extension's builder.
    Extension(String),
    /// The final image.
    FinalImage,
}

/// A builder as declared in metadata.
#[derive(Debug, Clone)]
pub struct BuilderMeta {
    /// What it starts from.
    pub from: FromMeta,
    /// Builder apt packages.
    pub apt_packages: Vec<String>,
    /// Declared downloads.
    pub downloads: Vec<DownloadMeta>,
    /// Stage body.
    pub template: TemplateFile,
    /// (source, dest) pairs.
    pub artifacts: Vec<(String, String)>,
}

/// An apt repository as declared in metadata.
#[derive(Debug, Clone)]
pub struct RepositoryMeta {
    /// Name.
    pub name: String,
    /// Key URL.
    pub key_url: String,
    /// Source line template (empty with `arch_sources`).
    pub source: String,
    /// (architecture, line), in `Arch::ALL` order.
    pub arch_sources: Vec<(String, String)>,
    /// Pinned key fingerprints.
    pub key_fingerprints: Vec<String>,
}

/// The images of one value of an option (`supported_images_by`).
#[derive(Debug, Clone)]
pub struct ImagesMeta {
    /// The option.
    pub option: String,
    /// Its value.
    pub value: String,
    /// The images.
    pub images: Vec<String>,
}

/// An alias and the option values it sets.
#[derive(Debug, Clone)]
pub struct AliasMeta {
    /// The alias.
    pub name: String,
    /// (option, value), sorted by option.
    pub options: Vec<(String, String)>,
}

/// A context file with its contents.
#[derive(Debug, Clone)]
pub struct FileMeta {
    /// Path relative to the crate.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
    /// Executable bit.
    pub executable: bool,
    /// Where the final image gets it.
    pub dest: Option<String>,
}

/// `docker run` needs.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    /// Environment.
    pub env: Vec<String>,
    /// Bind mounts.
    pub volumes: Vec<String>,
    /// Bind mounts made only when the host path exists.
    pub optional_volumes: Vec<String>,
    /// Devices.
    pub devices: Vec<String>,
    /// Other arguments.
    pub args: Vec<String>,
    /// Supplementary groups, comma-separated lists.
    pub group_add: Vec<String>,
    /// Pass an X authority cookie.
    pub xauthority: bool,
    /// Leave out `--rm`.
    pub keep_container: bool,
}

/// Validated metadata of one extension.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Dependencies.
    pub depends_on: Vec<String>,
    /// Priority.
    pub cache_priority: u8,
    /// Builder base image.
    pub builder_base_image: Option<String>,
    /// Final-image packages.
    pub apt_packages: Vec<String>,
    /// Repositories.
    pub apt_repositories: Vec<RepositoryMeta>,
    /// Builder.
    pub builder: Option<BuilderMeta>,
    /// Root setup template.
    pub setup: Option<TemplateFile>,
    /// Setup placed after the copies (the declared exception).
    pub setup_after_copies: bool,
    /// Setup run as the image's user.
    pub setup_as_user: bool,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    /// Shell initialisation for every command.
    pub shell_init: Option<String>,
    /// Shell initialisation for interactive bash.
    pub shell_interactive: Option<String>,
    /// The image user template.
    pub final_user: Option<String>,
    /// The working folder template.
    pub workdir: Option<String>,
    /// The user's home folder template.
    pub home: Option<String>,
    /// Supported final images.
    pub supported_images: Vec<String>,
    /// Final images per option value.
    pub supported_images_by: Vec<ImagesMeta>,
    /// Aliases.
    pub aliases: Vec<AliasMeta>,
    /// Project files: (folder option, names, skip markers).
    pub project_files: Option<(String, Vec<String>, Vec<String>)>,
    /// Options.
    pub options: Vec<OptionMeta>,
    /// Context files.
    pub files: Vec<FileMeta>,
    /// Run needs.
    pub run: RunMeta,
}

impl Metadata {
    /// Every file the metadata names, relative to the crate.
    pub fn referenced_files(&self) -> Vec<String> {
        let mut files: BTreeSet<String> = BTreeSet::new();
        if let Some(b) = self.builder.as_ref().filter(|b| b.template.file != "builder.downloads") {
            files.insert(b.template.file.clone());
        }
        if let Some(t) = &self.setup {
            files.insert(t.file.clone());
        }
        files.extend(self.files.iter().map(|f| f.path.clone()));
        files.into_iter().collect()
    }
}

/// The `[run]` keys whose entries are templates.
pub(super) const RUN_LIST_KEYS: &[&str] =
    &["env", "volumes", "optional_volumes", "devices", "args", "group_add"];

pub(crate) type Table<'i> = DeTable<'i>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

pub(crate) struct Walker<'a> {
    pub(super) input: &'a Input<'a>,
    pub(super) diagnostics: Vec<Diagnostic>,
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
}

pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A download as declared in metadata.
#[derive(Debug, Clone)]
pub struct DownloadMeta {
    /// snake_case name.
    pub name: String,
    /// (architecture, URL template), in `Arch::ALL` order.
    pub urls: Vec<(String, String)>,
    /// How it is verified.
    pub verify: VerifyMeta,
    /// `tar.gz`, `tar.xz`, `zip` or `file`.
    pub extract: String,
    /// Archive members.
    pub members: Vec<String>,
    /// `tar --strip-components`.
    pub strip_components: u8,
    /// Where it lands under the output folder.
    pub dest: String,
    /// Octal mode.
    pub mode: String,
    /// A check command template.
    pub check: Option<String>,
}

/// How a download is verified, as declared.
#[derive(Debug, Clone)]
pub enum VerifyMeta {
    /// Upstream's checksum file: (architecture, URL template) and its format.
    ChecksumFile { urls: Vec<(String, String)>, format: String },
    /// Pinned values: (version, architecture, sha256).
    Pinned { version_option: String, sha256: Vec<(String, String, String)>, override_option: Option<String> },
    /// Not verified, and why.
    None { reason: String },
}
