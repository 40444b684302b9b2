//! The static description of an extension, as registered by its crate.
//!
//! Everything here is `'static` and const-constructible, so that a registration is plain data that
//! is checked at compile time ([`Extension::check`]) and read at run time through
//! [`crate::registry()`].

use crate::rules::{self, Rule};

/// Builder base image used when neither the extension nor the user names one.
pub const DEFAULT_BUILDER_BASE_IMAGE: &str = "ubuntu:22.04";
/// `cache_priority` when the metadata does not set one.
pub const DEFAULT_CACHE_PRIORITY: u8 = 50;
/// Highest allowed `cache_priority`.
pub const MAX_CACHE_PRIORITY: u8 = 100;
/// Folder under which every builder writes its outputs: `/opt/quarry/<name>/`.
pub const ARTIFACT_ROOT: &str = "/opt/quarry";

/// One extension: what it adds to the builder stages, the final image and `docker run`.
#[derive(Debug, Clone, Copy)]
pub struct Extension {
    /// Unique snake_case name; the CLI flag is `--` + name with `_` as `-`.
    pub name: &'static str,
    /// The crate that registered it (named in duplicate-registration errors).
    pub crate_name: &'static str,
    /// One line for `quarry list` and `--help`.
    pub description: &'static str,
    /// Extensions pulled in automatically; each is also emitted before this one.
    pub depends_on: &'static [&'static str],
    /// 0..=100: high means "changes rarely", emitted early in each group of the final stage.
    pub cache_priority: u8,
    /// Image the builder stage (or the shared builder base it starts from) is made from;
    /// `None` means the global default.
    pub builder_base_image: Option<&'static str>,
    /// Packages installed in the final image; an entry may use `{{ options.<name> }}`.
    pub apt_packages: &'static [&'static str],
    /// Third-party apt repositories added before `apt_packages` are installed.
    pub apt_repositories: &'static [AptRepository],
    /// The builder stage, if the extension builds or downloads something.
    pub builder: Option<Builder>,
    /// Final-stage steps run as root, after all artifact copies.
    pub setup: Option<Template>,
    /// Final-stage steps run as the image's user, after all root setup.
    pub user_setup: Option<Template>,
    /// The user that user-stage steps (and the container) run as, a template such as
    /// `{{ options.name }}`. At most one selected extension may set it.
    pub final_user: Option<&'static str>,
    /// Final images this extension supports (`ubuntu:24.04`, `ubuntu:noble`); empty means any.
    pub supported_images: &'static [&'static str],
    /// Options with defaults and validation rules.
    pub options: &'static [OptionSpec],
    /// Files shipped in the build context under `quarry/<name>/`.
    pub files: &'static [ContextFile],
    /// What `docker run` needs for this extension.
    pub run: RunSpec,
}

/// A builder stage: `FROM <base> AS <name>_builder`, its apt packages, then its template.
#[derive(Debug, Clone, Copy)]
pub struct Builder {
    /// Start from the shared builder base stage (fixed tool set) instead of the bare image.
    pub shared_base: bool,
    /// Packages installed in the builder stage before its template runs.
    pub apt_packages: &'static [&'static str],
    /// The stage body.
    pub template: Template,
    /// What is copied into the final image, in this order.
    pub artifacts: &'static [Artifact],
}

/// A path a builder produces and where it lands in the final image.
#[derive(Debug, Clone, Copy)]
pub struct Artifact {
    /// Absolute path in the builder, under `/opt/quarry/<name>/`.
    pub source: &'static str,
    /// Absolute path in the final image.
    pub dest: &'static str,
}

/// A minijinja template embedded in the registration.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// File name relative to the extension crate, e.g. `templates/builder.Dockerfile.j2`.
    pub file: &'static str,
    /// The template text.
    pub source: &'static str,
}

/// An apt repository: signing key and source line.
#[derive(Debug, Clone, Copy)]
pub struct AptRepository {
    /// snake_case name, used for the keyring and list file names.
    pub name: &'static str,
    /// `https://` URL of the signing key (ASCII-armored or binary).
    pub key_url: &'static str,
    /// The `deb` line; `{{ keyring }}`, `{{ arch }}` and `{{ codename }}` are filled in.
    pub source: &'static str,
}

/// A file shipped in the build context at `quarry/<extension>/<path>`.
#[derive(Debug, Clone, Copy)]
pub struct ContextFile {
    /// Relative path, no `..`.
    pub path: &'static str,
    /// File contents.
    pub contents: &'static [u8],
    /// Whether the file is executable (mode 0755 instead of 0644).
    pub executable: bool,
}

/// Arguments the extension needs on `docker run`.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec {
    /// Environment variables: `NAME` passes the host's value through, `NAME=value` sets one.
    pub env: &'static [&'static str],
    /// Bind mounts `host:container[:options]`; `~` and `$VAR` are expanded on the host.
    pub volumes: &'static [&'static str],
    /// Devices to pass through.
    pub devices: &'static [&'static str],
    /// Any other `docker run` arguments, each a separate argv entry.
    pub args: &'static [&'static str],
}

impl RunSpec {
    /// No run arguments.
    pub const EMPTY: RunSpec = RunSpec { env: &[], volumes: &[], devices: &[], args: &[] };

    /// Whether the extension asks for nothing at run time.
    pub const fn is_empty(&self) -> bool {
        self.env.is_empty() && self.volumes.is_empty() && self.devices.is_empty() && self.args.is_empty()
    }
}

/// An option: `--<extension>-<option> VALUE` on the command line.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// snake_case name.
    pub name: &'static str,
    /// Help text.
    pub description: &'static str,
    /// Default value; must satisfy `rule` unless the option is `required`.
    pub default: &'static str,
    /// What values are allowed.
    pub rule: Rule,
    /// The user must give a value (`default` is then empty and unused).
    pub required: bool,
    /// Take the default from the host running quarry (the user's uid, ...), falling back to
    /// `default` where the host has no such value.
    pub from_host: Option<HostValue>,
}

/// A value read from the host that runs quarry, for option defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostValue {
    /// The user's numeric id.
    Uid,
    /// The user's primary group id.
    Gid,
    /// The user's login name.
    User,
}

impl HostValue {
    /// The name used in metadata files.
    pub fn key(self) -> &'static str {
        match self {
            HostValue::Uid => "uid",
            HostValue::Gid => "gid",
            HostValue::User => "user",
        }
    }
}

impl Extension {
    /// The stage name of this extension's builder.
    pub fn builder_stage(&self) -> String {
        format!("{}_builder", self.name)
    }

    /// `/opt/quarry/<name>`: where the builder writes what it produces.
    pub fn artifact_dir(&self) -> String {
        format!("{ARTIFACT_ROOT}/{}", self.name)
    }

    /// The command-line flag that selects this extension.
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }

    /// Looks up an option by name.
    pub fn option(&self, name: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }

    /// Compile-time check of a registration; a violation is a compile error through
    /// [`crate::register!`]. The same checks run in `codegen` with better messages; this guards
    /// hand-written registrations.
    pub const fn check(&self) {
        if !rules::is_snake_case(self.name) {
            panic!(
                "extension `name` must be snake_case: lowercase ASCII letters, digits and `_`, starting with a letter"
            );
        }
        if self.description.is_empty() {
            panic!("extension `description` must not be empty");
        }
        if self.cache_priority > MAX_CACHE_PRIORITY {
            panic!("extension `cache_priority` must be in 0..=100");
        }
        let mut i = 0;
        while i < self.depends_on.len() {
            if rules::str_eq(self.depends_on[i], self.name) {
                panic!("extension `depends_on` names the extension itself");
            }
            if !rules::is_snake_case(self.depends_on[i]) {
                panic!("extension `depends_on` entries must be snake_case extension names");
            }
            i += 1;
        }
        if let Some(image) = self.builder_base_image {
            if !rules::is_image_ref(image) {
                panic!("extension `builder_base_image` is not a valid image reference");
            }
            if self.builder.is_none() {
                panic!("extension `builder_base_image` is set but the extension has no builder");
            }
        }
        check_packages(self.apt_packages);
        if let Some(builder) = &self.builder {
            check_packages(builder.apt_packages);
            let mut i = 0;
            while i < builder.artifacts.len() {
                let a = &builder.artifacts[i];
                if !rules::is_abs_path(a.source) || !rules::is_abs_path(a.dest) {
                    panic!("artifact `source` and `dest` must be absolute paths");
                }
                if !rules::is_artifact_of(a.source, self.name) {
                    panic!("artifact `source` must be under /opt/quarry/<extension name>");
                }
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.options.len() {
            let o = &self.options[i];
            if !rules::is_snake_case(o.name) {
                panic!("option `name` must be snake_case");
            }
            if o.required && !o.default.is_empty() {
                panic!("a `required` option has no `default`");
            }
            if !o.required && !o.rule.accepts(o.default) {
                panic!("option `default` does not satisfy the option's own `rule`");
            }
            let mut j = i + 1;
            while j < self.options.len() {
                if rules::str_eq(self.options[j].name, o.name) {
                    panic!("two options have the same `name`");
                }
                j += 1;
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.apt_repositories.len() {
            let r = &self.apt_repositories[i];
            if !rules::is_snake_case(r.name) {
                panic!("apt repository `name` must be snake_case");
            }
            if !rules::is_https_url(r.key_url) {
                panic!("apt repository `key_url` must be an https:// URL");
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.files.len() {
            if !rules::is_rel_path(self.files[i].path) {
                panic!("context file `path` must be relative, without `..`");
            }
            i += 1;
        }
    }
}

const fn check_packages(packages: &[&str]) {
    let mut i = 0;
    while i < packages.len() {
        if !rules::is_apt_package(packages[i]) && !rules::is_templated_apt_package(packages[i]) {
            panic!("apt package names must match Debian policy: [a-z0-9][a-z0-9+.-]+");
        }
        i += 1;
    }
}
