//! The `extension.toml` schema, told once: every table and key, its type, whether it is
//! required, the check its value passes and its documentation.
//!
//! One job, so one long file: it is a table of data. `codegen` walks it to validate metadata
//! (crates at `cargo build`, project extensions at run time, through the same walker);
//! `cargo xtask codegen` writes `docs/EXTENDING.md`'s key tables and the scaffold's commented
//! `extension.toml` from it, and `--check` fails when they drift.

use crate::model::{Arch, ChecksumFormat, Extract, HostValue};
use crate::rules::{self, Check};

/// A table of the metadata file: its path (`""` for the top level, `builder.downloads`) and keys.
#[derive(Debug)]
pub struct Table {
    /// Dotted path from the top level, as diagnostics name keys.
    pub path: &'static str,
    /// Its keys, in documentation order.
    pub keys: &'static [Key],
}

/// One key of a table.
#[derive(Debug)]
pub struct Key {
    /// The key as written.
    pub name: &'static str,
    /// What its value must be.
    pub ty: Type,
    /// Whether every table must have it.
    pub required: bool,
    /// What each string of the value must look like, checked wherever the key is given.
    pub check: Option<Check>,
    /// The default, as the documentation states it.
    pub default: &'static str,
    /// What it means and which further rules apply (rule names in backticks).
    pub doc: &'static str,
}

/// The type of a key's value.
#[derive(Debug, Clone, Copy)]
pub enum Type {
    /// A string.
    String,
    /// A string naming a template file, relative to the extension's folder.
    TemplateFile,
    /// A string that is itself a template over the variables.
    InlineTemplate,
    /// `true` or `false`.
    Boolean,
    /// A whole number.
    Integer,
    /// An array of strings.
    Strings,
    /// A table with keys of its own.
    Table(&'static Table),
    /// An array of tables (`[[files]]`).
    Tables(&'static Table),
    /// A table whose keys are names the author chooses, each a table (`[options.<option>]`).
    NamedTables(&'static Table),
    /// A string, one of a closed list of words (a vocabulary of the model: `Extract::KEYS`).
    OneOf(&'static [&'static str]),
    /// A table with one key per architecture (`Arch::KEYS`), each a string.
    ByArch(&'static str),
    /// A shape the walker checks itself; the text says what it is.
    Custom(&'static str),
    /// A key that no longer exists; the text says where its content goes now.
    Removed(&'static str),
}

impl Type {
    /// How the documentation names the type.
    pub fn describe(self) -> String {
        match self {
            Type::String => "string".to_owned(),
            Type::TemplateFile => "string: a template file".to_owned(),
            Type::InlineTemplate => "string: an inline template".to_owned(),
            Type::Boolean => "boolean".to_owned(),
            Type::Integer => "integer".to_owned(),
            Type::Strings => "array of strings".to_owned(),
            Type::OneOf(words) => words.iter().map(|w| format!("`\"{w}\"`")).collect::<Vec<_>>().join(", "),
            Type::ByArch(what) => format!(
                "table: {} to {what}",
                Arch::KEYS.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
            ),
            Type::Table(_) => "table".to_owned(),
            Type::Tables(_) => "array of tables".to_owned(),
            Type::NamedTables(_) => "table of tables".to_owned(),
            Type::Custom(text) => text.to_owned(),
            Type::Removed(_) => "–".to_owned(),
        }
    }

    /// How a diagnostic names the expected value (`expected a string, found an integer`).
    pub fn expected(self) -> &'static str {
        match self {
            Type::String | Type::TemplateFile | Type::InlineTemplate | Type::OneOf(_) => "a string",
            Type::Boolean => "a boolean",
            Type::Integer => "an integer",
            Type::Strings => "an array of strings",
            Type::Table(_) | Type::NamedTables(_) | Type::ByArch(_) => "a table",
            Type::Tables(_) => "an array of tables",
            Type::Custom(text) => text,
            Type::Removed(_) => "nothing",
        }
    }
}

const fn key(name: &'static str, ty: Type, default: &'static str, doc: &'static str) -> Key {
    Key { name, ty, required: false, check: None, default, doc }
}

const fn required(name: &'static str, ty: Type, doc: &'static str) -> Key {
    Key { name, ty, required: true, check: None, default: "required (`required`)", doc }
}

const fn checked(mut k: Key, check: Check) -> Key {
    k.check = Some(check);
    k
}

/// The top level of `extension.toml`.
pub static EXTENSION: Table = Table {
    path: "",
    keys: &[
        checked(
            required(
                "name",
                Type::String,
                "snake_case: `[a-z][a-z0-9_]*`, at most 64 characters, no `__`, not ending in `_` \
                 (`snake-case-name`). Unique among the extensions a binary links. The flag is `--` + \
                 name with `_` as `-`.",
            ),
            Check::SnakeCase,
        ),
        checked(
            required(
                "description",
                Type::String,
                "not empty (`required`). One line for `quarry list`, `quarry show` and `--help` \
                 (`one-line-text`); `quarry list` indents it by 4 in 100 columns, so at most 96 \
                 characters read best (the catalog's keep to that).",
            ),
            Check::OneLine,
        ),
        checked(
            key(
                "depends_on",
                Type::Strings,
                "`[]`",
                "extension names, not crate names (`snake-case-name`); not itself \
                 (`self-dependency`); no name twice (`duplicate`). Dependencies are selected \
                 automatically, rendered before this extension, and must be linked into the binary \
                 (else a render fails with \"depends on `x`, which is not linked into this binary\").",
            ),
            Check::SnakeCase,
        ),
        key(
            "cache_priority",
            Type::Integer,
            "`50`",
            "0 to 100 (`priority-range`). High means \"changes rarely\": emitted earlier in each \
             group of the final stage.",
        ),
        checked(
            key(
                "builder_base_image",
                Type::String,
                "the user's `--builder-base-image`, else `ubuntu:22.04`",
                "an image reference (`image-reference`); only with a `[builder]` \
                 (`builder-required`) that has no `from` (`builder-from`).",
            ),
            Check::Image,
        ),
        key(
            "apt_packages",
            Type::Strings,
            "`[]`",
            "Debian package names `[a-z0-9][a-z0-9+.-]+`, 2 to 128 characters (`apt-package`). An \
             entry may use options, `\"ros-jazzy-{{ options.variant }}\"`; rendered with the \
             defaults it must be a package name (`apt-package`), and it may use no other variable \
             (`template-variable`). Installed in the final image, in this extension's own apt layer.",
        ),
        key("apt_repositories", Type::Tables(&APT_REPOSITORY), "`[]`", "see [below](#apt_repositories)."),
        key("builder", Type::Table(&BUILDER), "none", "see [below](#builder)."),
        key(
            "setup",
            Type::TemplateFile,
            "none",
            "`RUN` steps as root in the final stage's chain, right after this extension's apt \
             layer; they may use apt packages only (see [the promise](#7-the-final-stage-promise)). \
             See [templates](#3-templates).",
        ),
        key(
            "setup_after_copies",
            Type::Boolean,
            "`false`",
            "the declared exception: `setup` truly needs artifacts of the final image, so it is \
             placed after every copy, where it runs again whenever any earlier step changes; needs \
             `setup` (`setup-required`). `quarry explain` warns about such steps. No catalog \
             extension uses it.",
        ),
        key(
            "setup_as_user",
            Type::Boolean,
            "`false`",
            "`setup` runs as the image's user instead of root: the user of the extension that sets \
             `final_user` (the chain puts this extension after that one), else the image's own \
             `USER`, else root; the steps after it run as root again. Needs `setup` \
             (`setup-required`); not on the extension that sets `final_user` (`setup-as-user`), \
             whose setup makes the user. For steps of a user's own (`pip install --user`, files \
             in the user's home).",
        ),
        key(
            "env",
            Type::Strings,
            "`[]`",
            "`NAME=value` entries of the final image (`env-entry`: `NAME` is \
             `[A-Za-z_][A-Za-z0-9_]*`, the value printable ASCII without white space, quotes, `\\` \
             or a backtick; `$PATH` expands). An entry may use options. Written as `ENV` after the \
             chain, so a changed value re-runs no step.",
        ),
        key("shell", Type::Table(&SHELL), "none", "shell start-up lines (bash), see [below](#shell)."),
        key(
            "final_user",
            Type::InlineTemplate,
            "none",
            "the user the image runs as, e.g. `\"{{ options.name }}\"`; only `options.*` and the \
             other [variables](#variables) (`template-variable`, `template-syntax`). When rendering, \
             it must give a user name, and at most one selected extension may set it.",
        ),
        key(
            "workdir",
            Type::InlineTemplate,
            "none",
            "the container's working folder, e.g. `\"/home/{{ options.name }}\"`; must render to \
             an absolute path (`abs-path`); needs `final_user` (`final-user-required`).",
        ),
        key(
            "home",
            Type::InlineTemplate,
            "none",
            "the home folder of `final_user`, e.g. `\"{{ options.home }}\"`; needs `final_user` \
             (`final-user-required`); with the default options an absolute path (`abs-path`). \
             `[run]` entries of every extension see it as `home`, to mount into the user's home.",
        ),
        key(
            "user_setup",
            Type::Removed(
                "`user_setup` is gone: shell start-up lines go to `[shell]` (`init` or \
                 `interactive`), files to `[[files]]` with a `dest` or to the builder, the user's \
                 folder to `workdir`",
            ),
            "–",
            "removed (`removed-key`): lines for `~/.bashrc` go to `[shell]`, files to `[[files]]` \
             with a `dest` or to the builder, the user's folder to `workdir`.",
        ),
        checked(
            key(
                "supported_images",
                Type::Strings,
                "`[]` (any image)",
                "image references (`image-reference`). Another final image renders with a warning.",
            ),
            Check::Image,
        ),
        key(
            "supported_images_by",
            Type::Custom("table: option to value to images"),
            "none",
            "the final images each value of an option works on: `[supported_images_by.distro]` \
             `humble = [\"ubuntu:22.04\", \"ubuntu:jammy\"]`; the option must be a single-value one of \
             this extension and each value pass its rule (`option-images`), each image an image \
             reference (`image-reference`). A value on an official Ubuntu or Debian image of another \
             release, or on an image another value lists, is an error before the build whose hint \
             names the values that work there; on an image quarry cannot place, a warning. An option \
             the user leaves unset, whose default does not suit the final image, takes the newest \
             value that does: the last in the order of its `one_of`, else the highest version \
             (`ros` on `ubuntu:22.04` is `humble`).",
        ),
        key(
            "aliases",
            Type::Custom("table: alias name to a table of option values"),
            "none",
            "other names of the extension, each with the option values it stands for: \
             `ros_jazzy = { distro = \"jazzy\" }`. An alias is snake_case (`snake-case-name`), \
             not the extension's own name nor another extension's or alias (an error of the \
             binary); its options are single-value options of this extension and its values pass \
             their rules (`alias-option`). `--ros-jazzy`, `extensions = [\"ros_jazzy\"]`, \
             `[options.ros_jazzy]` and `-e ros_jazzy` select the extension with those values; the \
             other options have flags under the alias too (`--ros-jazzy-variant`), and giving a set \
             option another value is an error.",
        ),
        key(
            "project_files",
            Type::Table(&PROJECT_FILES),
            "none",
            "files of the project the build needs, see [below](#project_files).",
        ),
        key("options", Type::NamedTables(&OPTION), "none", "see [below](#options)."),
        key("files", Type::Tables(&FILE), "`[]`", "see [below](#files)."),
        key("run", Type::Table(&RUN), "none", "see [below](#run)."),
    ],
};

/// `[builder]`.
pub static BUILDER: Table = Table {
    path: "builder",
    keys: &[
        key(
            "from",
            Type::String,
            "the builder base image",
            "`\"final\"`: start from the final image (what must match its interpreter or \
             libraries, such as a Python venv of the image's python3; it runs again when the final \
             image changes, and needs no `builder_base_image`, `builder-from`). An extension name: \
             start from that extension's builder stage, which must be in `depends_on` \
             (`builder-from`): tools installed by another tool's package manager (`npm install`, \
             `uv tool install`) into `{{ out }}`.",
        ),
        key(
            "apt_packages",
            Type::Strings,
            "`[]`",
            "as the top-level key; installed in the builder before its template. Nothing is \
             preinstalled: list the tools the template uses (`ca-certificates`, `curl`, `xz-utils`, \
             `build-essential`, `cmake`, `git`). Builders with the same list on the same base share \
             the step: BuildKit builds identical steps once.",
        ),
        key(
            "downloads",
            Type::Tables(&DOWNLOAD),
            "`[]`",
            "release downloads, each one verified step written by quarry before the template: see \
             [`[[builder.downloads]]`](#builderdownloads).",
        ),
        key(
            "template",
            Type::TemplateFile,
            "required (`required`), unless the builder has `downloads`",
            "the stage body, after the download steps.",
        ),
        key(
            "artifacts",
            Type::Tables(&ARTIFACT),
            "`[]`",
            "each becomes `COPY --link --from=<name>_builder <source> <dest>` (plain `COPY --from` \
             for Docker 20.10), in order: see [below](#builderartifacts).",
        ),
    ],
};

/// `[[builder.artifacts]]`.
pub static ARTIFACT: Table = Table {
    path: "builder.artifacts",
    keys: &[
        checked(
            required(
                "source",
                Type::String,
                "an absolute path (`abs-path`) equal to or below `/opt/quarry/<name>` \
                 (`artifact-path`).",
            ),
            Check::AbsPath,
        ),
        checked(
            key("dest", Type::String, "`source`", "an absolute path in the final image (`abs-path`)."),
            Check::AbsPath,
        ),
    ],
};

/// `[[builder.downloads]]`.
pub static DOWNLOAD: Table = Table {
    path: "builder.downloads",
    keys: &[
        checked(
            required(
                "name",
                Type::String,
                "snake_case (`snake-case-name`), unique in the builder (`duplicate`); named in the \
                 step's comment, its errors and `quarry show`.",
            ),
            Check::SnakeCase,
        ),
        required(
            "url",
            Type::ByArch("URL template"),
            "a key per architecture the download has, as `dpkg --print-architecture` names it \
             (`download-arch`); per-architecture names (`x86_64`, \
             `aarch64`) are written into each URL. Each an `https://` URL without white space, \
             quotes, `\\` or `$` (`https-url`), which may use `{{ options.<name> }}` \
             (`template-variable`) and is checked again after rendering.",
        ),
        key(
            "checksum_url",
            Type::Custom("string, or a table like `url`"),
            "one way to verify",
            "upstream's checksum file. A string serves every architecture; in it `{{ url }}` is \
             that architecture's download URL (`\"{{ url }}.sha256\"`). A table needs the same \
             architectures as `url` (`download-arch`). Needs `checksum_format`.",
        ),
        key(
            "checksum_format",
            Type::OneOf(ChecksumFormat::KEYS),
            "with `checksum_url` (`download-verify`)",
            "`hash`: the file's first word is the hash (a `.sha256` file with the hash alone or \
             followed by a name). `sha256sum`: `HASH  NAME` lines (`checksums.txt`, \
             `SHASUMS256.txt`); the line naming the download's file (the last part of its URL, \
             `*NAME` too) is used, and none is an error.",
        ),
        key(
            "sha256",
            Type::Custom("table: version to architecture to hash"),
            "one way to verify",
            "pinned values, for upstreams that publish no checksum file: \
             `sha256.\"1.0.0\".amd64 = \"<64 lowercase hex digits>\"` (`sha256`). Only values \
             published by upstream; never a hash computed from a download you did not check. Needs \
             `version_option`. A version with no pin is a render error whose hint names \
             `sha256_option`.",
        ),
        key(
            "version_option",
            Type::String,
            "with `sha256`",
            "the option holding the version the pins are keyed by.",
        ),
        key(
            "sha256_option",
            Type::String,
            "none",
            "an option with `default = \"pinned\"` and `rule = \"identifier\"`; a user's sha256 in \
             it replaces the pinned one (for a version the metadata does not pin).",
        ),
        key(
            "verify",
            Type::Custom("`\"none\"`"),
            "one way to verify",
            "not verified; needs a `reason` (`download-verify`), which `quarry show` prints.",
        ),
        checked(
            key(
                "reason",
                Type::String,
                "with `verify = \"none\"`",
                "why there is no way to verify the download, one line (`one-line-text`): the \
                 step's comment and `quarry show` give it.",
            ),
            Check::OneLine,
        ),
        required(
            "extract",
            Type::OneOf(Extract::KEYS),
            "`file` keeps the download as it is (`download-extract`).",
        ),
        key(
            "members",
            Type::Strings,
            "`[]`: the whole archive",
            "GNU tar `--wildcards` patterns (`*/rg`) of `[A-Za-z0-9._+/*-]`, the last part a plain \
             name (`download-extract`). Not with `file`.",
        ),
        key(
            "strip_components",
            Type::Integer,
            "`0`",
            "0 to 8: `tar --strip-components`; not with `file` or `zip`.",
        ),
        key(
            "dest",
            Type::String,
            "`\"\"`: `/opt/quarry/<name>`",
            "relative to `/opt/quarry/<name>` (`rel-path`): the folder an archive is extracted to, \
             or the file's own path for `file` (required there).",
        ),
        key(
            "mode",
            Type::String,
            "`\"0755\"`",
            "octal (`download-extract`): `chmod` of each member (its path after \
             `strip_components`) or of the file. A whole archive gets `chmod -R a+rX,go-w` instead.",
        ),
        key(
            "check",
            Type::InlineTemplate,
            "none",
            "one command line run last (`{{ out }}/bin/rg --version`), without `\\` \
             (`download-check`).",
        ),
    ],
};

/// `[options.<option>]`.
pub static OPTION: Table = Table {
    path: "options.<option>",
    keys: &[
        checked(
            required(
                "description",
                Type::String,
                "not empty (`required`). Shown in `--help` with the default (`one-line-text`).",
            ),
            Check::OneLine,
        ),
        key(
            "default",
            Type::String,
            "required unless `required = true` (`required`)",
            "must pass the option's own rule (`option-default`). Always a string, also for `uint` \
             and `bool`.",
        ),
        key(
            "rule",
            Type::String,
            "`rule` or `one_of`, exactly one (`rule`)",
            "one of the rules [below](#value-rules); an unknown name is `rule`, with a \"did you \
             mean\" hint.",
        ),
        key(
            "one_of",
            Type::Strings,
            "`rule` or `one_of`, exactly one (`rule`)",
            "at least one value; each shaped like a `version` or an `identifier` (`rule`).",
        ),
        key(
            "required",
            Type::Boolean,
            "`false`",
            "the user must give the option; no `default` then (`required`).",
        ),
        key(
            "from_host",
            Type::OneOf(HostValue::KEYS),
            "none",
            "a value of the host (`host-value`): the user's `uid`, `gid` and name (`user`), the \
             folder quarry runs in (`cwd`), `$HOME` (`home`). The CLI reads the host's value and uses it instead of `default` \
             (rendering itself reads nothing from the host). With `required = true`, the host's \
             value satisfies it. An extension takes the host's values together or not at all: if \
             one fails its rule, every option keeps its default, with a warning. Run as root, an \
             extension whose `final_user` comes from a `from_host = \"user\"` option makes no \
             user (the image stays root), with a warning, unless one of those options is given.",
        ),
        key(
            "multiple",
            Type::Boolean,
            "`false`",
            "a list option: the user gives it any number of times (`--env-value A=1 --env-value \
             B=2`, `value = [\"A=1\", \"B=2\"]` in quarry.toml), each value checked by the rule. \
             Only `[run]` entries may use it (`list-option`), at most one list option per entry; \
             the entry renders once per value. `required` means at least one value; else the list \
             is `[default]`.",
        ),
        checked(
            key(
                "aliases",
                Type::Strings,
                "`[]`",
                "other long flags for the option, without `--` (`flag-name`: `[a-z][a-z0-9-]*`, \
                 single `-`): `aliases = [\"net\"]` makes `--net` the same as `--network-mode`. An \
                 alias equal to the extension's own flag takes it over: on a `required` option \
                 (`aliases = [\"env\"]` on `env`'s `value`) `--env A=1` gives the value; on any \
                 other single-value option the flag's value is optional (`aliases = [\"network\"]` \
                 on `network`'s `mode`: `--network` alone selects the extension, `--network bridge` \
                 or `--network=bridge` gives the mode, and a word the option does not accept is left \
                 for the image: `--network ubuntu:24.04`). Not on an optional list option. A flag \
                 claimed twice is an error of the binary.",
            ),
            Check::FlagName,
        ),
    ],
};

/// `[[apt_repositories]]`.
pub static APT_REPOSITORY: Table = Table {
    path: "apt_repositories",
    keys: &[
        checked(
            required(
                "name",
                Type::String,
                "snake_case (`snake-case-name`); the key is stored as \
                 `/etc/apt/keyrings/<extension>-<name>.asc` (`.gpg` when the URL ends in `.gpg`).",
            ),
            Check::SnakeCase,
        ),
        required(
            "key_url",
            Type::String,
            "`https://` followed by `[A-Za-z0-9/._~:%+=@-]`, at most 2048 characters \
             (`https-url`); `http://` too when `key_fingerprints` pins the key. It may use \
             `{{ options.<name> }}` (a mirror's key), checked again after rendering.",
        ),
        required(
            "source",
            Type::Custom("string, or a table: architecture to line"),
            "a line starting with `deb `, containing `{{ keyring }}` (in `signed-by=`), with \
             `{{ arch }}`, `{{ codename }}` and `{{ os_release }}` (`ubuntu2404`, `debian12`: the \
             image's `ID` and `VERSION_ID` without dots) as the only other placeholders besides \
             `{{ options.<name> }}`, and otherwise only `[A-Za-z0-9 /:._~\\[\\]=,+-]` \
             (`apt-source`), checked again after rendering. They are read in the image, so one line \
             serves every release. A table gives one line per architecture, keys `amd64`, `arm64` \
             (`download-arch`), for repositories that name architectures their own way \
             (`x86_64`, `sbsa`); another architecture fails the step.",
        ),
        key(
            "key_fingerprints",
            Type::Strings,
            "`[]`: the key is trusted as it arrives",
            "the fingerprints (40 or 64 hex digits, `key-fingerprint`; each may use \
             `{{ options.<name> }}`) of the keys apt accepts for this repository: written into \
             `signed-by=`, so apt refuses a `Release` signed by any other key the downloaded file \
             holds. Every catalog repository pins its key; a mirror that signs with its own key \
             needs an option for it.",
        ),
    ],
};

/// `[project_files]`.
pub static PROJECT_FILES: Table = Table {
    path: "project_files",
    keys: &[
        required(
            "folder_option",
            Type::String,
            "an option of this extension with `rule = \"abs_path\"` (`project-files`), usually \
             `from_host = \"cwd\"`: the host folder the CLI collects below, at `render`, `build` and \
             `run`.",
        ),
        required(
            "names",
            Type::Strings,
            "file names (`[A-Za-z0-9._+-]`, `project-files`): every file of one of these names below \
             the folder, at any depth, is shipped at `{{ context }}/project/<its path>`; nothing \
             else of the project is. A step that mounts that folder (`RUN \
             --mount=type=bind,source={{ context }}/project,target=...`) has them as its only input \
             from the project, so it runs again when they change and never when another file does. \
             The folder always exists (a fixed `.quarry-project-files` note), hidden folders are \
             skipped, links to folders are not followed, and the walk stops with an error past \
             200,000 entries or 64 MiB.",
        ),
        key(
            "skip_folders_with",
            Type::Strings,
            "`[]`",
            "file names (`project-files`): a folder holding one of them is skipped with everything \
             below it (`COLCON_IGNORE`, which colcon writes into `build/`, `install/` and `log/`).",
        ),
    ],
};

/// `[[files]]`.
pub static FILE: Table = Table {
    path: "files",
    keys: &[
        checked(
            required(
                "path",
                Type::String,
                "relative to the extension's folder, without `..` (`rel-path`); the file must exist \
                 (`missing-file`).",
            ),
            Check::RelPath,
        ),
        key("executable", Type::Boolean, "`false`", "the file is written with mode 0755."),
        checked(
            key(
                "dest",
                Type::String,
                "none: a builder template copies it from `{{ context }}`",
                "an absolute path in the final image (`abs-path`), reached through `COPY --link`.",
            ),
            Check::AbsPath,
        ),
    ],
};

/// `[shell]`.
pub static SHELL: Table = Table {
    path: "shell",
    keys: &[
        key(
            "init",
            Type::InlineTemplate,
            "none",
            "sourced by quarry's entrypoint before every command (`docker run IMAGE ros2 --help`, \
             with no shell), by interactive bash and by login shells. Export what commands need: \
             `source /opt/ros/jazzy/setup.bash`, `export PATH=\"$HOME/.local/bin:$PATH\"`.",
        ),
        key(
            "interactive",
            Type::InlineTemplate,
            "none",
            "sourced by interactive bash only: key bindings, completion (`eval \"$(fzf --bash)\"`).",
        ),
    ],
};

/// `[run]`.
pub static RUN: Table = Table {
    path: "run",
    keys: &[
        key(
            "env",
            Type::Strings,
            "`[]`",
            "`--env <entry>` (`\"DISPLAY\"` passes the host's value, `\"X=1\"` sets one).",
        ),
        key(
            "volumes",
            Type::Strings,
            "`[]`",
            "`--volume <entry>`, after `~` and `$VAR` / `${VAR}` are expanded from the host.",
        ),
        key(
            "optional_volumes",
            Type::Strings,
            "`[]`",
            "as `volumes`, but only when the host path exists (and its variables are set): Docker \
             would create a missing source as a root-owned folder, even where a file belongs \
             (`\"~/.claude.json:{{ home }}/.claude.json\"`).",
        ),
        key("devices", Type::Strings, "`[]`", "`--device <entry>`."),
        key("args", Type::Strings, "`[]`", "`<entry>` as it is (`\"--gpus={{ options.gpus }}\"`)."),
        key(
            "group_add",
            Type::Strings,
            "`[]`",
            "a comma-separated list; each item, a group name or id, becomes `--group-add <item>` \
             (`\"audio\"`, `\"{% if options.host_groups %}{{ host_groups }}{% endif %}\"`).",
        ),
        key(
            "xauthority",
            Type::Boolean,
            "`false`",
            "`quarry run` makes an X authority cookie for the host's `$DISPLAY` (as `xauth nlist \
             $DISPLAY \\| sed -e 's/^..../ffff/' \\| xauth -f FILE nmerge -`, in \
             `$XDG_RUNTIME_DIR/quarry/`), mounts it read-only at `/tmp/.quarry.xauth` and sets \
             `XAUTHORITY`; without `xauth` or `DISPLAY` it warns and runs without. `--dry-run` \
             prints the line that makes it.",
        ),
        key(
            "keep_container",
            Type::Boolean,
            "`false`",
            "`quarry run` leaves out `--rm`: the container stays after it stops, for `docker start` \
             or `docker logs` (rocker's `--nocleanup`).",
        ),
    ],
};

/// Every table, in documentation order.
pub static TABLES: &[&Table] = &[
    &EXTENSION,
    &BUILDER,
    &ARTIFACT,
    &DOWNLOAD,
    &OPTION,
    &APT_REPOSITORY,
    &PROJECT_FILES,
    &FILE,
    &SHELL,
    &RUN,
];

impl Table {
    /// The key named `name`.
    pub fn key(&'static self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The names of the keys an author may write (removed keys excluded).
    pub fn names(&'static self) -> impl Iterator<Item = &'static str> {
        self.keys.iter().filter(|k| !matches!(k.ty, Type::Removed(_))).map(|k| k.name)
    }
}

/// A Markdown table of `table`'s keys: key, type, default, rules.
pub fn markdown(table: &Table) -> String {
    let mut out = String::from("| key | type | default | rules |\n|---|---|---|---|\n");
    for k in table.keys {
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", k.name, k.ty.describe(), k.default, k.doc));
    }
    out
}

/// The commented `extension.toml` a new extension starts from, as written by hand: every key
/// with what it does. [`scaffold`] adds what it lacks.
const SCAFFOLD: &str = include_str!("scaffold.toml");

/// The scaffold of a new extension (`quarry new-extension`, `cargo xtask new-extension`), with
/// `@NAME@`, `@FLAG@`, `@UPPER@` and `@CHECKED@` left for the caller: the hand-written file, its
/// word lists filled in from the vocabularies, and every key of a plain type it does not show
/// written from the schema (commented out, with its documentation, under its table's header), so
/// a new key is in every new extension as soon as it is in the schema.
pub fn scaffold() -> String {
    let or_list = |items: &[&str]| match items.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    let quoted = |items: &[&str]| items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>();
    let rules: Vec<&str> = rules::Rule::NAMED.iter().map(|r| r.key()).collect();
    let extracts = quoted(&Extract::KEYS[1..]);
    let extracts: Vec<&str> = extracts.iter().map(String::as_str).collect();
    let mut text = SCAFFOLD
        .replace("@RULES@", &or_list(&rules))
        .replace("@HOSTS@", &or_list(HostValue::KEYS))
        .replace("@EXTRACTS@", &or_list(&extracts));
    for table in TABLES {
        let missing: Vec<String> = table
            .keys
            .iter()
            .filter(|k| !shows(&text, k.name))
            .filter_map(|k| Some(format!("# {}\n# {} = {}\n", first_sentence(k.doc), k.name, example(k)?)))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let at = match header(table.path) {
            // Top-level keys go before the first table, commented out or not.
            None => text
                .match_indices('\n')
                .map(|(i, _)| i + 1)
                .find(|&i| text[i..].trim_start_matches(['#', ' ']).starts_with('['))
                .unwrap_or(text.len()),
            Some(h) => match text.find(&h) {
                Some(i) => text[i..].find('\n').map_or(text.len(), |j| i + j + 1),
                None => {
                    text.push_str(&format!("\n# {h}\n"));
                    text.len()
                }
            },
        };
        text.insert_str(at, &missing.concat());
    }
    text
}

/// How the scaffold writes a table's header: `[builder]`, `[[files]]`, `[options.` (the option's
/// name follows); `None` for the top level.
pub fn header(path: &str) -> Option<String> {
    match path {
        "" => None,
        "options.<option>" => Some("[options.".to_owned()),
        p if TABLES.iter().any(|t| t.path == p && is_array(t)) => Some(format!("[[{p}]]")),
        p => Some(format!("[{p}]")),
    }
}

/// Whether the table is an array of tables (`[[files]]`).
fn is_array(table: &Table) -> bool {
    TABLES.iter().flat_map(|t| t.keys).any(|k| matches!(k.ty, Type::Tables(t) if std::ptr::eq(t, table)))
}

/// Whether `text` shows the key `name`, set or commented out (`# name = ...`, `name.amd64 = `).
pub fn shows(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start_matches(['#', ' ']);
        l.starts_with(&format!("{name} =")) || l.starts_with(&format!("{name}."))
    })
}

/// A value of the key's type for the scaffold, or `None` for a shape only prose can show.
fn example(key: &Key) -> Option<String> {
    Some(match key.ty {
        Type::String | Type::InlineTemplate => "\"\"".to_owned(),
        Type::TemplateFile => format!("\"templates/{}.j2\"", key.name),
        Type::Boolean => "true".to_owned(),
        Type::Integer => "0".to_owned(),
        Type::Strings => "[]".to_owned(),
        Type::OneOf(words) => format!("\"{}\"", words.first()?),
        Type::ByArch(_)
        | Type::Custom(_)
        | Type::Removed(_)
        | Type::Table(_)
        | Type::Tables(_)
        | Type::NamedTables(_) => return None,
    })
}

/// The documentation's first sentence, on one line.
fn first_sentence(doc: &str) -> &str {
    doc.split_once(". ").map_or(doc, |(first, _)| first).trim_end_matches('.')
}

/// A Markdown table of the option rules: name and what it accepts.
pub fn rules_markdown() -> String {
    let mut out = String::from("| rule | accepts |\n|---|---|\n");
    for rule in rules::Rule::NAMED {
        out.push_str(&format!("| `{}` | {} |\n", rule.key(), rule.doc()));
    }
    out.push_str(&format!("| `one_of` | {} |\n", rules::Rule::OneOf(&[]).doc()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(table: &'static Table, seen: &mut Vec<&'static str>) {
        seen.push(table.path);
        for k in table.keys {
            if let Type::Table(t) | Type::Tables(t) | Type::NamedTables(t) = k.ty {
                walk(t, seen);
            }
        }
    }

    #[test]
    fn every_table_is_reachable_and_listed_once() {
        let mut seen = Vec::new();
        walk(&EXTENSION, &mut seen);
        seen.sort_unstable();
        let mut listed: Vec<&str> = TABLES.iter().map(|t| t.path).collect();
        listed.sort_unstable();
        assert_eq!(seen, listed);
    }

    #[test]
    fn keys_are_unique_and_checks_fit_their_type() {
        for t in TABLES {
            let mut names: Vec<&str> = t.keys.iter().map(|k| k.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), t.keys.len(), "{}", t.path);
            for k in t.keys {
                if k.check.is_some() {
                    assert!(matches!(k.ty, Type::String | Type::Strings), "{}.{}", t.path, k.name);
                }
                assert!(!k.doc.is_empty() && k.doc.ends_with('.'), "{}.{}", t.path, k.name);
            }
        }
    }
}
