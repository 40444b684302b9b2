//! The static description of an extension, as registered by its crate. One job, so one long
//! file: the types of the model and their compile-time check.
//!
//! This is the one description of an extension: `codegen` reads `extension.toml` into these
//! types (a crate's at build time, a project's at run time) and writes a crate's value back as
//! Rust through [`Bake`], which [`model!`] and [`vocabulary!`] derive with every struct and
//! word list, so a new key is a field here and a key in [`crate::schema`], and nothing else.
//!
//! Everything here is `'static` and const-constructible, so that a registration is plain data that
//! is checked at compile time ([`Extension::check`]) and read at run time through
//! [`crate::registry()`]. Its value checks are the schema's ([`crate::rules::Check`]), the same
//! ones `codegen` applies to `extension.toml`.

use crate::bake::{Bake, FromPlain, model, vocabulary};
use crate::rules::{self, Check, Rule};

/// Builder base image used when neither the extension nor the user names one.
pub const DEFAULT_BUILDER_BASE_IMAGE: &str = "ubuntu:22.04";
/// A cache priority, 0 to 100: high means "changes rarely", emitted early in each group of the
/// final stage. The one type of every place that holds one (metadata, a registration, an
/// override in quarry.toml or the user file, a resolved extension, the lock), and [`Self::new`]
/// the one check of a value that comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CachePriority(u8);

impl CachePriority {
    /// When the metadata sets none.
    pub const DEFAULT: CachePriority = CachePriority(50);
    /// The highest.
    pub const MAX: u8 = 100;

    /// `value` when it is a priority: the one check.
    pub const fn new(value: i64) -> Option<CachePriority> {
        if value >= 0 && value <= CachePriority::MAX as i64 { Some(CachePriority(value as u8)) } else { None }
    }

    /// A priority written in a registration (`CachePriority::of(70)`): out of range, it does not
    /// compile.
    pub const fn of(value: u8) -> CachePriority {
        match CachePriority::new(value as i64) {
            Some(p) => p,
            None => panic!("extension `cache_priority` must be in 0..=100"),
        }
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// What every place that reads a priority says of a value [`Self::new`] refused, with
    /// [`Self::RANGE`] as its hint.
    pub fn out_of_range(value: impl std::fmt::Display) -> String {
        format!("cache priority {value} is out of range")
    }

    /// What a priority may be.
    pub const RANGE: &'static str =
        "use a whole number from 0 to 100 (high = changes rarely = emitted early)";
}

impl std::fmt::Display for CachePriority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Bake for CachePriority {
    fn bake(&self, out: &mut String) {
        out.push_str(&format!("::quarry_core::CachePriority::of({})", self.0));
    }
}

impl FromPlain for CachePriority {
    fn from_plain(plain: crate::bake::Plain) -> Result<Option<Self>, (&'static str, String)> {
        match plain {
            crate::bake::Plain::Int(i) => CachePriority::new(i).map(Some).ok_or_else(|| {
                ("priority-range", format!("{}: {}", CachePriority::out_of_range(i), CachePriority::RANGE))
            }),
            other => {
                Err(("type", format!("the model holds an integer here, but the schema gives {other:?}")))
            }
        }
    }
}
/// Folder under which every builder writes its outputs: `/opt/quarry/<name>/`.
pub const ARTIFACT_ROOT: &str = "/opt/quarry";
/// The build-context folder every shipped file is under (`COPY quarry/...`; an extension's
/// files in `quarry/<name>/`): `quarry render -o FILE` writes it beside FILE, and `quarry build`
/// into a context folder of its own.
pub const CONTEXT_DIR: &str = "quarry";

model! {
    /// One extension: what it adds to the builder stages, the final image and `docker run`.
    ///
    /// The final stage takes, for each extension in chain order, its apt layer and its `setup` RUN
    /// (steps that need only apt packages); then every artifact copy and file, all `COPY --link`;
    /// then `env`, the image's user and workdir. Shell initialisation (`shell`) is a file sourced by
    /// quarry's entrypoint and by interactive bash, never a RUN.
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
        /// High means "changes rarely", emitted early in each group of the final stage.
        pub cache_priority: CachePriority,
        /// Image the builder stage is made from; `None` means the global default.
        pub builder_base_image: Option<&'static str>,
        /// Packages installed in the final image; an entry may use `{{ options.<name> }}`.
        pub apt_packages: &'static [&'static str],
        /// Third-party apt repositories added before `apt_packages` are installed.
        pub apt_repositories: &'static [AptRepository],
        /// The builder stage, if the extension builds or downloads something.
        pub builder: Option<Builder>,
        /// Final-stage RUN steps, run as root right after the extension's apt layer, in the chain
        /// before every copy: they may use apt packages only, never another extension's artifacts.
        pub setup: Option<Template>,
        /// The declared exception: `setup` truly needs artifacts of the final image, so it is placed
        /// after the copies, where it runs again whenever any earlier step changes.
        pub setup_after_copies: bool,
        /// `setup` runs as the image's user instead of root: the user of the extension that sets
        /// `final_user` (placed after that extension in the chain), else the image's own `USER`, else
        /// root. The chain's later steps run as root again.
        pub setup_as_user: bool,
        /// `NAME=value` environment entries of the final image (an entry may use templates),
        /// written after every RUN of the chain.
        pub env: &'static [&'static str],
        /// Shell initialisation, applied by quarry's entrypoint and by interactive bash.
        pub shell: Shell,
        /// The user the container runs as, a template such as `{{ options.name }}`. At most one
        /// selected extension may set it.
        pub final_user: Option<&'static str>,
        /// The container's working folder, a template such as `/home/{{ options.name }}`; set with
        /// `final_user` by the same extension.
        pub workdir: Option<&'static str>,
        /// The home folder of `final_user`, a template such as `{{ options.home }}`; set with
        /// `final_user` by the same extension. `[run]` entries of every extension see it as `home`
        /// (`/root` when no extension sets a user), so they can mount into the user's home.
        pub home: Option<&'static str>,
        /// Final images this extension supports (`ubuntu:24.04`, `ubuntu:noble`); empty means any.
        pub supported_images: &'static [&'static str],
        /// Final images per value of an option (`distro` `humble`: `ubuntu:22.04`): a value on an
        /// official image of another release (or one the table lists for another value) is an
        /// error, and an option the user leaves unset whose default does not suit the image takes
        /// the newest value that does.
        pub supported_images_by: &'static [ImagesOfValue],
        /// Other names of the extension, each with option values it sets: `ros_jazzy` is `ros` with
        /// `distro` `jazzy`. Selecting an alias selects the extension with those values.
        pub aliases: &'static [Alias],
        /// Files of the project the build needs, collected by the CLI from a host folder (an
        /// option's value) and shipped in the build context at `quarry/<name>/project/`: only these
        /// (a ROS workspace's `package.xml` files), so a step that mounts them runs again only when
        /// they change.
        pub project_files: Option<ProjectFiles>,
        /// Options with defaults and validation rules.
        pub options: &'static [OptionSpec],
        /// Files shipped in the build context under `quarry/<name>/`.
        pub files: &'static [ContextFile],
        /// What `docker run` needs for this extension.
        pub run: RunSpec,
    }
}

impl Extension {
    /// A base value for hand-written registrations and tests: no name, nothing added
    /// (`Extension { name: "x", description: "...", ..Extension::EMPTY }`).
    pub const EMPTY: Extension = Extension {
        name: "",
        crate_name: "",
        description: "",
        depends_on: &[],
        cache_priority: CachePriority::DEFAULT,
        builder_base_image: None,
        apt_packages: &[],
        apt_repositories: &[],
        builder: None,
        setup: None,
        setup_after_copies: false,
        setup_as_user: false,
        env: &[],
        shell: Shell::EMPTY,
        final_user: None,
        workdir: None,
        home: None,
        supported_images: &[],
        supported_images_by: &[],
        aliases: &[],
        project_files: None,
        options: &[],
        files: &[],
        run: RunSpec::EMPTY,
    };
}

model! {
    /// The final images one value of an option works on (`supported_images_by`).
    #[derive(Debug, Clone, Copy)]
    pub struct ImagesOfValue {
        /// The option.
        pub option: &'static str,
        /// One of its values.
        pub value: &'static str,
        /// The images it works on (`ubuntu:22.04`, `ubuntu:jammy`).
        pub images: &'static [&'static str],
    }
}

model! {
    /// Another name of an extension, with the option values it stands for.
    #[derive(Debug, Clone, Copy)]
    pub struct Alias {
        /// snake_case name, unique among extensions and aliases; its flag is `--` + name with `-`.
        pub name: &'static str,
        /// The options it sets.
        pub options: &'static [OptionValue],
    }
}

model! {
    /// An option and a value of it.
    #[derive(Debug, Clone, Copy)]
    pub struct OptionValue {
        /// The option.
        pub option: &'static str,
        /// The value.
        pub value: &'static str,
    }
}

model! {
    /// What the CLI collects from the project for an extension (`[project_files]`).
    #[derive(Debug, Clone, Copy)]
    pub struct ProjectFiles {
        /// The option whose value is the host folder to collect below (an `abs_path` option).
        pub folder_option: &'static str,
        /// The file names collected, at any depth (`package.xml`).
        pub names: &'static [&'static str],
        /// A folder holding a file of one of these names is skipped with all below it
        /// (`COLCON_IGNORE`); hidden folders always are.
        pub skip_folders_with: &'static [&'static str],
    }
}

/// Where an extension's project files land in the build context, below `quarry/<name>/`.
pub const PROJECT_FILES_DIR: &str = "project";

model! {
    /// One architecture's `deb` line of an apt repository whose path names the architecture in its
    /// own way (NVIDIA's `x86_64` and `sbsa`).
    #[derive(Debug, Clone, Copy)]
    pub struct ArchSource {
        /// The architecture, as `dpkg --print-architecture` names it.
        pub arch: Arch,
        /// The `deb` line, as [`AptRepository::source`].
        pub line: &'static str,
    }
}

model! {
    /// Shell initialisation as data. Both parts are bash, templates over the options, and land in
    /// `/etc/quarry/env.d/<name>.sh`.
    #[derive(Debug, Clone, Copy)]
    pub struct Shell {
        /// Sourced before every command: by quarry's entrypoint (`docker run IMAGE cmd`), by
        /// interactive bash and by login shells (`source /opt/ros/jazzy/setup.bash`).
        pub init: Option<Template>,
        /// Sourced by interactive bash only (key bindings, completion).
        pub interactive: Option<Template>,
    }
}

impl Shell {
    /// No shell initialisation.
    pub const EMPTY: Shell = Shell { init: None, interactive: None };

    /// Whether there is nothing to source.
    pub const fn is_empty(&self) -> bool {
        self.init.is_none() && self.interactive.is_none()
    }
}

model! {
    /// A builder stage: `FROM <base> AS <name>_builder`, its apt packages, then its template.
    #[derive(Debug, Clone, Copy)]
    pub struct Builder {
        /// What the stage starts from.
        pub from: BuilderFrom,
        /// Packages installed in the builder stage before its template runs (the tools it uses:
        /// `curl`, `ca-certificates`, `build-essential`, ...).
        pub apt_packages: &'static [&'static str],
        /// Declared downloads, each rendered by core as one verified RUN step (in this order) after
        /// the stage's apt packages and before its template.
        pub downloads: &'static [Download],
        /// The stage body; empty for a builder that only downloads.
        pub template: Template,
        /// What is copied into the final image, in this order.
        pub artifacts: &'static [Artifact],
    }
}

vocabulary! {
    /// A machine architecture, as `dpkg --print-architecture` names it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Arch {
        /// x86_64.
        Amd64 = "amd64",
        /// aarch64.
        Arm64 = "arm64",
    }
}

model! {
    /// A URL template for one architecture.
    #[derive(Debug, Clone, Copy)]
    pub struct ArchUrl {
        /// The architecture.
        pub arch: Arch,
        /// `https://` URL; may use `{{ options.<name> }}`. Checked again after rendering.
        pub url: &'static str,
    }
}

model! {
    /// A release file a builder downloads: core renders one RUN step that picks the URL of the
    /// machine's architecture, downloads it, verifies it, extracts it under `/opt/quarry/<name>/`,
    /// sets its mode and runs its check.
    #[derive(Debug, Clone, Copy)]
    pub struct Download {
        /// snake_case name, shown in the step's comment, messages and `quarry show`.
        pub name: &'static str,
        /// One URL template per supported architecture; other architectures fail the step.
        pub urls: &'static [ArchUrl],
        /// How the download is verified.
        pub verify: Verify,
        /// What the file is.
        pub extract: Extract,
        /// Archive members to extract (GNU tar `--wildcards` patterns, such as `*/rg`); empty means
        /// the whole archive.
        pub members: &'static [&'static str],
        /// Leading path components dropped from member names (`tar --strip-components`).
        pub strip_components: u8,
        /// Where it lands, relative to `/opt/quarry/<name>` (`bin`; empty for that folder itself):
        /// the folder for archives, the file itself for [`Extract::File`].
        pub dest: &'static str,
        /// Octal mode of the extracted members, or of the file (`0755`). A whole archive is made
        /// readable by all and writable by root only instead.
        pub mode: &'static str,
        /// A command that shows the download works (`{{ out }}/bin/rg --version`); a template.
        pub check: Option<&'static str>,
        /// Allows `http://` URLs. Only for tests that serve fake releases from a local server:
        /// codegen never sets it, so no extension of a catalog can.
        #[doc(hidden)]
        pub insecure_http_for_tests: bool,
    }
}

/// How a download is verified.
#[derive(Debug, Clone, Copy)]
pub enum Verify {
    /// Upstream publishes a checksum file: its URL per architecture (a template) and its format.
    ChecksumFile {
        /// One URL template per architecture of the download.
        urls: &'static [ArchUrl],
        /// How to find the download's sha256 in it.
        format: ChecksumFormat,
    },
    /// sha256 values pinned in the metadata, per version and architecture.
    Pinned {
        /// The option holding the version the pins are keyed by.
        version_option: &'static str,
        /// The pinned values.
        sha256: &'static [PinnedSha256],
        /// An option (default `pinned`) whose value, a sha256, replaces the pinned one: for
        /// versions the metadata has no pin for.
        override_option: Option<&'static str>,
    },
    /// Not verified, and why (shown by `quarry show`).
    None {
        /// Why there is no way to verify it.
        reason: &'static str,
    },
}

impl Bake for Verify {
    fn bake(&self, out: &mut String) {
        match self {
            Verify::ChecksumFile { urls, format } => {
                out.push_str("::quarry_core::Verify::ChecksumFile { urls: ");
                urls.bake(out);
                out.push_str(", format: ");
                format.bake(out);
            }
            Verify::Pinned { version_option, sha256, override_option } => {
                out.push_str("::quarry_core::Verify::Pinned { version_option: ");
                version_option.bake(out);
                out.push_str(", sha256: ");
                sha256.bake(out);
                out.push_str(", override_option: ");
                override_option.bake(out);
            }
            Verify::None { reason } => {
                out.push_str("::quarry_core::Verify::None { reason: ");
                reason.bake(out);
            }
        }
        out.push_str(" }");
    }
}

impl FromPlain for Verify {}

model! {
    /// A pinned sha256 of one version's download for one architecture.
    #[derive(Debug, Clone, Copy)]
    pub struct PinnedSha256 {
        /// The version option's value.
        pub version: &'static str,
        /// The architecture.
        pub arch: Arch,
        /// 64 lowercase hex digits.
        pub sha256: &'static str,
    }
}

vocabulary! {
    /// The format of a checksum file.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ChecksumFormat {
        /// The file's first word is the hash (a `.sha256` file with the hash alone, or followed by a
        /// name).
        Hash = "hash",
        /// `sha256sum` output, one `HASH  NAME` line per file (`SHASUMS256.txt`, `checksums.txt`):
        /// the line naming the download's file (the last part of its URL).
        Sha256sum = "sha256sum",
    }
}

vocabulary! {
    /// What a download is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Extract {
        /// A gzip-compressed tar archive.
        TarGz = "tar.gz",
        /// An xz-compressed tar archive (the builder needs `xz-utils`).
        TarXz = "tar.xz",
        /// A zip archive (the builder needs `unzip`; no `strip_components`).
        Zip = "zip",
        /// A plain file, kept as it is.
        File = "file",
    }
}

impl Extract {
    /// The packages a builder needs to extract it, besides `curl` and `ca-certificates`.
    pub const fn tools(self) -> &'static [&'static str] {
        match self {
            Extract::TarXz => &["xz-utils"],
            Extract::Zip => &["unzip"],
            Extract::TarGz | Extract::File => &[],
        }
    }
}

/// What a builder stage starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderFrom {
    /// Its builder base image (`builder_base_image`, the user's override, or `ubuntu:22.04`):
    /// fixed, whatever the final image is.
    BaseImage,
    /// Another extension's builder stage (which must be in `depends_on`): tools installed by
    /// that tool's package manager (`npm install`, `uv tool install`).
    Extension(&'static str),
    /// The final image, for what must match its interpreter or libraries (a Python venv of the
    /// image's python3). It runs again when the final image changes.
    FinalImage,
}

impl Bake for BuilderFrom {
    fn bake(&self, out: &mut String) {
        match self {
            BuilderFrom::BaseImage => out.push_str("::quarry_core::BuilderFrom::BaseImage"),
            BuilderFrom::FinalImage => out.push_str("::quarry_core::BuilderFrom::FinalImage"),
            BuilderFrom::Extension(name) => {
                out.push_str("::quarry_core::BuilderFrom::Extension(");
                name.bake(out);
                out.push(')');
            }
        }
    }
}

impl FromPlain for BuilderFrom {}

model! {
    /// A path a builder produces and where it lands in the final image.
    #[derive(Debug, Clone, Copy)]
    pub struct Artifact {
        /// Absolute path in the builder, under `/opt/quarry/<name>/`.
        pub source: &'static str,
        /// Absolute path in the final image.
        pub dest: &'static str,
    }
}

model! {
    /// A minijinja template embedded in the registration.
    #[derive(Debug, Clone, Copy)]
    pub struct Template {
        /// File name relative to the extension crate, e.g. `templates/builder.Dockerfile.j2`.
        pub file: &'static str,
        /// The template text.
        pub source: &'static str,
    }
}

model! {
    /// An apt repository: signing key and source line.
    #[derive(Debug, Clone, Copy)]
    pub struct AptRepository {
        /// snake_case name, used for the keyring and list file names.
        pub name: &'static str,
        /// URL of the signing key (ASCII-armored or binary): `https://`, or `http://` when
        /// `key_fingerprints` pins it; may use `{{ options.<name> }}` (a mirror's key).
        pub key_url: &'static str,
        /// The `deb` line, a template over `keyring`, `arch`, `codename` and `os_release`
        /// ([`crate::template::APT_SOURCE_VARIABLES`], filled in by the apt layer) and the
        /// extension's `options` (a mirror). Empty when `arch_sources` has the lines.
        pub source: &'static str,
        /// One `deb` line per architecture, instead of `source`.
        pub arch_sources: &'static [ArchSource],
        /// The fingerprints of the keys whose signatures apt accepts for the repository (written
        /// into `signed-by`, so apt itself refuses any other key the downloaded file holds); each may
        /// use `{{ options.<name> }}`. Empty: the downloaded key is trusted as it arrives.
        pub key_fingerprints: &'static [&'static str],
    }
}

model! {
    /// A file shipped in the build context at `quarry/<extension>/<path>`.
    #[derive(Debug, Clone, Copy)]
    pub struct ContextFile {
        /// Relative path, no `..`.
        pub path: &'static str,
        /// File contents.
        pub contents: &'static [u8],
        /// Whether the file is executable (mode 0755 instead of 0644).
        pub executable: bool,
        /// Where the final image gets it (`COPY --link`), if anywhere: configuration under `/etc`,
        /// a source list, a profile script. Otherwise only templates use it (`{{ context }}`).
        pub dest: Option<&'static str>,
    }
}

model! {
    /// Arguments the extension needs on `docker run`.
    #[derive(Debug, Clone, Copy)]
    pub struct RunSpec {
        /// Environment variables: `NAME` passes the host's value through, `NAME=value` sets one.
        pub env: &'static [&'static str],
        /// Bind mounts `host:container[:options]`; `~` and `$VAR` are expanded on the host.
        pub volumes: &'static [&'static str],
        /// Bind mounts like `volumes`, made only when the host path exists: a missing source is
        /// skipped instead of created by Docker (as a root-owned folder, even where a file belongs,
        /// such as `~/.claude.json`).
        pub optional_volumes: &'static [&'static str],
        /// Devices to pass through.
        pub devices: &'static [&'static str],
        /// Any other `docker run` arguments, each a separate argv entry.
        pub args: &'static [&'static str],
        /// Supplementary groups, each entry a comma-separated list of group names or ids; every item
        /// becomes `--group-add <item>`.
        pub group_add: &'static [&'static str],
        /// Pass an X authority cookie: at `quarry run` time the CLI writes a cookie file for the
        /// host's `$DISPLAY` (its host part wildcarded, so it matches inside the container), mounts it
        /// read-only at [`XAUTHORITY_PATH`] and sets `XAUTHORITY` to it.
        pub xauthority: bool,
        /// Keep the container after it stops: `quarry run` leaves out `--rm` (rocker's `--nocleanup`).
        pub keep_container: bool,
    }
}

/// Where the X authority cookie of [`RunSpec::xauthority`] is mounted in the container.
pub const XAUTHORITY_PATH: &str = "/tmp/.quarry.xauth";

impl RunSpec {
    /// No run arguments.
    pub const EMPTY: RunSpec = RunSpec {
        env: &[],
        volumes: &[],
        optional_volumes: &[],
        devices: &[],
        args: &[],
        group_add: &[],
        xauthority: false,
        keep_container: false,
    };

    /// Whether the extension asks for nothing at run time.
    pub const fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.volumes.is_empty()
            && self.optional_volumes.is_empty()
            && self.devices.is_empty()
            && self.args.is_empty()
            && self.group_add.is_empty()
            && !self.xauthority
            && !self.keep_container
    }
}

model! {
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
        /// A list option: the user may give it any number of times (`--env-value A=1 --env-value
        /// B=2`, `value = ["A=1", "B=2"]`), each value checked by `rule`. Only `[run]` entries may
        /// use it; an entry that does renders once per value. `required` means at least one value;
        /// otherwise the list is `[default]` when none is given.
        pub multiple: bool,
        /// Other long flags for this option, without `--` (`net` for `network`'s `mode`). An alias
        /// equal to the extension's own flag takes the flag over: `--env VALUE` for `env`'s required
        /// `value`; for an optional single value, `--network` alone selects the extension and
        /// `--network bridge` gives the value.
        pub aliases: &'static [&'static str],
    }
}

impl OptionSpec {
    /// An option with a default and nothing else: not required, not read from the host, one
    /// value, no aliases (hand-written registrations and tests set the rest with `..`).
    pub const fn new(
        name: &'static str,
        description: &'static str,
        default: &'static str,
        rule: Rule,
    ) -> Self {
        OptionSpec {
            name,
            description,
            default,
            rule,
            required: false,
            from_host: None,
            multiple: false,
            aliases: &[],
        }
    }

    /// The default in words, without a label, or `None` for a required option the host does not
    /// fill: `1.95.0`, `the host user's gid, else 1000` (the default stands where the host has no
    /// such value, and for root, who has no account to mirror), `the current folder`.
    pub fn default_value_text(&self) -> Option<String> {
        match (self.from_host, self.required) {
            (Some(host), true) => Some(host.describe().to_owned()),
            (Some(host), false) => Some(format!("{}, else {}", host.describe(), self.default)),
            (None, true) => None,
            (None, false) => Some(self.default.to_owned()),
        }
    }

    /// The one statement of the default that `--help` and `quarry show` make: `default: 1.95.0`,
    /// `default: the host user's gid, else 1000`, or `required`.
    pub fn default_statement(&self) -> String {
        match self.default_value_text() {
            Some(text) => format!("default: {text}"),
            None => "required".to_owned(),
        }
    }
}

vocabulary! {
    /// A value read from the host that runs quarry, for option defaults.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum HostValue {
        /// The user's numeric id.
        Uid = "uid",
        /// The user's primary group id.
        Gid = "gid",
        /// The user's login name.
        User = "user",
        /// The folder quarry runs in (an absolute path).
        Cwd = "cwd",
        /// The user's home folder (`$HOME`).
        Home = "home",
    }
}

impl HostValue {
    /// What the value is, in words, for the documentation of a default.
    pub fn describe(self) -> &'static str {
        match self {
            HostValue::Uid => "the host user's uid",
            HostValue::Gid => "the host user's gid",
            HostValue::User => "the host user's name",
            HostValue::Cwd => "the current folder",
            HostValue::Home => "the host user's $HOME",
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
        if !Check::SnakeCase.accepts(self.name) {
            panic!(
                "extension `name` must be snake_case: lowercase ASCII letters, digits and `_`, starting with a letter"
            );
        }
        if !Check::OneLine.accepts(self.description) {
            panic!("extension `description` must be one line of text (no control character)");
        }
        let mut i = 0;
        while i < self.depends_on.len() {
            if rules::str_eq(self.depends_on[i], self.name) {
                panic!("extension `depends_on` names the extension itself");
            }
            if !Check::SnakeCase.accepts(self.depends_on[i]) {
                panic!("extension `depends_on` entries must be snake_case extension names");
            }
            i += 1;
        }
        if let Some(image) = self.builder_base_image {
            if !Check::Image.accepts(image) {
                panic!("extension `builder_base_image` is not a valid image reference");
            }
            if self.builder.is_none() {
                panic!("extension `builder_base_image` is set but the extension has no builder");
            }
        }
        check_packages(self.apt_packages);
        if self.setup_after_copies && self.setup.is_none() {
            panic!("extension `setup_after_copies` is set but there is no `setup`");
        }
        if self.setup_as_user && self.setup.is_none() {
            panic!("extension `setup_as_user` is set but there is no `setup`");
        }
        if self.setup_as_user && self.final_user.is_some() {
            panic!(
                "extension `setup_as_user` is set on the extension that sets `final_user`, whose setup makes the user"
            );
        }
        if self.home.is_some() && self.final_user.is_none() {
            panic!("extension `home` needs `final_user`: the extension that sets the user sets its home");
        }
        if self.workdir.is_some() && self.final_user.is_none() {
            panic!(
                "extension `workdir` needs `final_user`: the extension that sets the user sets its folder"
            );
        }
        let mut i = 0;
        while i < self.env.len() {
            if !rules::is_env_entry(self.env[i]) && !rules::is_templated(self.env[i]) {
                panic!(
                    "extension `env` entries must be NAME=value, the value without white space, quotes or `\\`"
                );
            }
            i += 1;
        }
        if let Some(builder) = &self.builder {
            check_packages(builder.apt_packages);
            match builder.from {
                BuilderFrom::BaseImage => {}
                BuilderFrom::FinalImage => {
                    if self.builder_base_image.is_some() {
                        panic!("a builder `from` the final image has no `builder_base_image`");
                    }
                }
                BuilderFrom::Extension(other) => {
                    if self.builder_base_image.is_some() {
                        panic!("a builder `from` another extension's builder has no `builder_base_image`");
                    }
                    let mut found = false;
                    let mut j = 0;
                    while j < self.depends_on.len() {
                        if rules::str_eq(self.depends_on[j], other) {
                            found = true;
                        }
                        j += 1;
                    }
                    if !found {
                        panic!("a builder `from` another extension needs that extension in `depends_on`");
                    }
                }
            }
            let mut i = 0;
            while i < builder.downloads.len() {
                check_download(&builder.downloads[i], self.options);
                let mut j = i + 1;
                while j < builder.downloads.len() {
                    if rules::str_eq(builder.downloads[j].name, builder.downloads[i].name) {
                        panic!("two downloads have the same `name`");
                    }
                    j += 1;
                }
                i += 1;
            }
            let mut i = 0;
            while i < builder.artifacts.len() {
                let a = &builder.artifacts[i];
                if !Check::AbsPath.accepts(a.source) || !Check::AbsPath.accepts(a.dest) {
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
            if !Check::SnakeCase.accepts(o.name) {
                panic!("option `name` must be snake_case");
            }
            if !Check::OneLine.accepts(o.description) {
                panic!("option `description` must be one line of text (no control character)");
            }
            if o.required && !o.default.is_empty() {
                panic!("a `required` option has no `default`");
            }
            if !o.required && !o.rule.accepts(o.default) {
                panic!("option `default` does not satisfy the option's own `rule`");
            }
            let mut a = 0;
            while a < o.aliases.len() {
                if !Check::FlagName.accepts(o.aliases[a]) {
                    panic!("option `aliases` must be flag names: lowercase letters, digits and `-`");
                }
                a += 1;
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
            if !Check::SnakeCase.accepts(r.name) {
                panic!("apt repository `name` must be snake_case");
            }
            let pinned = !r.key_fingerprints.is_empty();
            let https = Check::HttpsUrl.accepts(r.key_url);
            if !(https || rules::is_templated(r.key_url) || (pinned && rules::is_http_url(r.key_url))) {
                panic!(
                    "apt repository `key_url` must be an https:// URL (or http:// with `key_fingerprints`)"
                );
            }
            let mut j = 0;
            while j < r.key_fingerprints.len() {
                let f = r.key_fingerprints[j];
                if !rules::is_key_fingerprint(f) && !rules::is_templated(f) {
                    panic!("apt repository `key_fingerprints` must be 40 or 64 hex digits");
                }
                j += 1;
            }
            if r.source.is_empty() == r.arch_sources.is_empty() {
                panic!("apt repository needs `source` or one line per architecture, not both");
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.aliases.len() {
            let a = &self.aliases[i];
            if !Check::SnakeCase.accepts(a.name) || rules::str_eq(a.name, self.name) {
                panic!("alias names must be snake_case and differ from the extension's name");
            }
            let mut j = 0;
            while j < a.options.len() {
                check_option_value(self.options, a.options[j].option, a.options[j].value);
                j += 1;
            }
            i += 1;
        }
        if let Some(p) = &self.project_files {
            let mut found = false;
            let mut i = 0;
            while i < self.options.len() {
                if rules::str_eq(self.options[i].name, p.folder_option) {
                    found = matches!(self.options[i].rule, Rule::AbsPath) && !self.options[i].multiple;
                }
                i += 1;
            }
            if !found {
                panic!("`project_files.folder_option` must name a single `abs_path` option of the extension");
            }
            let mut i = 0;
            while i < p.names.len() {
                if !rules::is_file_name(p.names[i]) {
                    panic!("`project_files.names` must be file names");
                }
                i += 1;
            }
            let mut i = 0;
            while i < p.skip_folders_with.len() {
                if !rules::is_file_name(p.skip_folders_with[i]) {
                    panic!("`project_files.skip_folders_with` must be file names");
                }
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.supported_images_by.len() {
            let e = &self.supported_images_by[i];
            check_option_value(self.options, e.option, e.value);
            let mut j = 0;
            while j < e.images.len() {
                if !Check::Image.accepts(e.images[j]) {
                    panic!("`supported_images_by` images must be image references");
                }
                j += 1;
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.files.len() {
            if !Check::RelPath.accepts(self.files[i].path) {
                panic!("context file `path` must be relative, without `..`");
            }
            if let Some(dest) = self.files[i].dest
                && !Check::AbsPath.accepts(dest)
            {
                panic!("context file `dest` must be an absolute path");
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

/// `value` is a value of the single-value option `option`.
const fn check_option_value(options: &[OptionSpec], option: &str, value: &str) {
    let mut i = 0;
    while i < options.len() {
        if rules::str_eq(options[i].name, option) {
            if options[i].multiple {
                panic!("an alias or `supported_images_by` names a list option");
            }
            if !options[i].rule.accepts(value) {
                panic!("an alias or `supported_images_by` gives a value the option's rule refuses");
            }
            return;
        }
        i += 1;
    }
    panic!("an alias or `supported_images_by` names an option the extension does not have");
}

const fn has_option(options: &[OptionSpec], name: &str) -> bool {
    let mut i = 0;
    while i < options.len() {
        if rules::str_eq(options[i].name, name) {
            return true;
        }
        i += 1;
    }
    false
}

const fn check_arch_urls(urls: &[ArchUrl], allow_http: bool) {
    if urls.is_empty() {
        panic!("a download needs a URL for at least one architecture");
    }
    let mut i = 0;
    while i < urls.len() {
        if !rules::is_url_template(urls[i].url, allow_http) {
            panic!("download URLs must be https:// URLs without white space, quotes, `\\` or `$`");
        }
        let mut j = i + 1;
        while j < urls.len() {
            if urls[j].arch as u8 == urls[i].arch as u8 {
                panic!("a download names an architecture twice");
            }
            j += 1;
        }
        i += 1;
    }
}

const fn check_download(d: &Download, options: &[OptionSpec]) {
    if !Check::SnakeCase.accepts(d.name) {
        panic!("download `name` must be snake_case");
    }
    check_arch_urls(d.urls, d.insecure_http_for_tests);
    match d.verify {
        Verify::ChecksumFile { urls, .. } => {
            check_arch_urls(urls, d.insecure_http_for_tests);
            if urls.len() != d.urls.len() {
                panic!("a checksum file needs a URL for each architecture of the download");
            }
        }
        Verify::Pinned { version_option, sha256, override_option } => {
            if !has_option(options, version_option) {
                panic!("a pinned download's `version_option` must be an option of the extension");
            }
            if let Some(o) = override_option
                && !has_option(options, o)
            {
                panic!("a pinned download's `sha256_option` must be an option of the extension");
            }
            let mut i = 0;
            while i < sha256.len() {
                if !rules::is_sha256(sha256[i].sha256) {
                    panic!("a pinned sha256 must be 64 lowercase hex digits");
                }
                i += 1;
            }
        }
        Verify::None { reason } => {
            if !Check::OneLine.accepts(reason) {
                panic!("a download with `verify = \"none\"` needs a `reason` of one line of text");
            }
        }
    }
    let mut i = 0;
    while i < d.members.len() {
        if !rules::is_member_pattern(d.members[i]) {
            panic!(
                "download `members` must be archive paths of letters, digits, `.`, `_`, `-`, `+`, `/` and `*`"
            );
        }
        i += 1;
    }
    if matches!(d.extract, Extract::File) && (!d.members.is_empty() || d.strip_components != 0) {
        panic!("a plain-file download has no `members` or `strip_components`");
    }
    if matches!(d.extract, Extract::File) && d.dest.is_empty() {
        panic!("a plain-file download needs a `dest` file name");
    }
    if matches!(d.extract, Extract::Zip) && d.strip_components != 0 {
        panic!("a zip download has no `strip_components`");
    }
    if !d.dest.is_empty() && !Check::RelPath.accepts(d.dest) {
        panic!("download `dest` must be a relative path under the builder's output folder");
    }
    if !rules::is_file_mode(d.mode) {
        panic!("download `mode` must be an octal mode such as `0755`");
    }
}
