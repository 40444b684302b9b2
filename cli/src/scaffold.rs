//! `quarry new-extension NAME`: a project extension in `.quarry/extensions/NAME/`, from the same
//! commented `extension.toml` that `cargo xtask new-extension` gives a crate.

use std::path::{Path, PathBuf};

use anyhow::Context;
use quarry_core::{Hinted, HostValue, Registry, Rule};

use crate::{output, ui};

/// The header line of a crate's scaffold: who checks the file.
pub const CHECKED_BY_CODEGEN: &str = "quarry-codegen checks this file when the crate builds: a mistake fails `cargo build` with its\n# file, line, column, key and rule.";
/// The header line of a project extension's scaffold.
pub const CHECKED_AT_RUN: &str = "quarry checks this file whenever it runs in the project: a mistake stops it with the file,\n# line, column, key and rule.";

/// `template` with the placeholders every scaffold shares filled in for `name`.
pub fn fill(name: &str, template: &str) -> String {
    template
        .replace("@NAME@", name)
        .replace("@FLAG@", &name.replace('_', "-"))
        .replace("@UPPER@", &name.to_ascii_uppercase())
        .replace("@RULES@", &or_list(Rule::NAMED.iter().map(|r| r.key())))
        .replace("@HOSTS@", &or_list(HostValue::ALL.iter().map(|h| h.key())))
}

/// `a, b or c`.
fn or_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    match items.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Writes the project extension `name` (in `dir`, default `.quarry/extensions/<name>`) and adds
/// its folder to quarry.toml's `extension_dirs` when the file has no such key yet.
pub fn project_extension(registry: &Registry, name: &str, dir: Option<&Path>) -> anyhow::Result<()> {
    if !quarry_core::rules::is_snake_case(name) {
        anyhow::bail!(Hinted::new(
            format!("{name:?} is not a snake_case name"),
            format!(
                "use lowercase letters, digits and single `_`, starting with a letter, such as `{}`",
                suggest_name(name)
            ),
        ));
    }
    if let Some(ext) = registry.get(name) {
        let place = ext
            .crate_name
            .strip_prefix(crate::config::ORIGIN)
            .map_or_else(|| format!("crate `{}`", ext.crate_name), |p| format!("in `{p}`"));
        anyhow::bail!(Hinted::new(
            format!("an extension `{name}` exists already ({place})"),
            "choose another name"
        ));
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let project = crate::layers::find_project(&cwd);
    let root = project.as_deref().and_then(Path::parent).map_or_else(|| cwd.clone(), Path::to_owned);
    let dir: PathBuf = dir.map_or_else(|| root.join(".quarry/extensions").join(name), |d| cwd.join(d));
    if dir.exists() {
        anyhow::bail!(Hinted::new(
            format!("`{}` exists already", dir.display()),
            "remove it, or choose another name or `--dir`"
        ));
    }
    // The folder must be the project's: a `.quarry` (or any folder on the way) that links out of
    // it would make quarry write elsewhere, and `extension_dirs` could not name it.
    let existing = dir.ancestors().find(|a| a.exists()).unwrap_or(&root);
    if let (Ok(real), Ok(real_root)) = (existing.canonicalize(), root.canonicalize())
        && !real.starts_with(&real_root)
    {
        anyhow::bail!(Hinted::new(
            format!(
                "`{}` leads outside the project (to `{}`) through a symbolic link",
                existing.display(),
                real.display()
            ),
            "remove the link, or choose a `--dir` inside the project",
        ));
    }
    let toml = fill(name, &EXTENSION_TOML.replace("@CHECKED@", CHECKED_AT_RUN));
    let setup = fill(name, SETUP_TEMPLATE);
    std::fs::create_dir_all(dir.join("templates"))
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    output::write_atomically(&dir.join("extension.toml"), toml.as_bytes())?;
    output::write_atomically(&dir.join("templates/setup.Dockerfile.j2"), setup.as_bytes())?;
    ui::note(&format!("wrote `{}` (extension.toml, templates/setup.Dockerfile.j2)", dir.display()));
    let rel = dir
        .strip_prefix(&root)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| dir.display().to_string());
    match project {
        Some(file) => add_to_project(&file, &rel),
        None => {
            ui::note(&format!(
                "next: in a quarry.toml here, add `extension_dirs = [{}]`, then `quarry render`",
                ui::quoted(&rel)
            ));
            Ok(())
        }
    }
}

/// Adds `rel` to `extension_dirs`: a new line when the file has no such key, else a note saying
/// what to add. The line goes right after a commented example of the key (`quarry init`'s, among
/// the top-level keys, above commented tables that a user may uncomment later), else before the
/// first table.
fn add_to_project(file: &Path, rel: &str) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let text = quarry_codegen::files::read_text(file, None, quarry_codegen::files::TEXT_LIMIT, &shown)?;
    let has_key = text.lines().any(|l| l.trim_start().starts_with("extension_dirs"));
    if has_key || !quarry_core::rules::is_rel_path(rel) {
        ui::note(&format!(
            "next: add {} to `extension_dirs` in `{}`, then `quarry render`",
            ui::quoted(rel),
            file.display()
        ));
        return Ok(());
    }
    let line = format!("extension_dirs = [\"{rel}\"]\n");
    let lines = || {
        text.lines().scan(0, |offset, l| {
            let start = *offset;
            *offset += l.len() + 1;
            Some((start, l))
        })
    };
    let after_example = lines()
        .find(|(_, l)| l.starts_with("# extension_dirs = "))
        .map(|(start, l)| (start + l.len() + 1).min(text.len()));
    let at = after_example.unwrap_or_else(|| {
        lines().find(|(_, l)| l.trim_start().starts_with('[')).map_or(text.len(), |(start, _)| start)
    });
    let mut new = String::with_capacity(text.len() + line.len() + 1);
    new.push_str(&text[..at]);
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&line);
    new.push_str(&text[at..]);
    output::write_atomically(file, new.as_bytes())?;
    ui::note(&format!("added it to `extension_dirs` in `{}`; `quarry render` shows it", file.display()));
    Ok(())
}

/// A snake_case spelling of `name` for the hint.
fn suggest_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.starts_with(|c: char| c.is_ascii_lowercase()) { out } else { format!("my_{out}") }
}

/// The commented `extension.toml` of a new extension (a crate's or a project's); `cargo xtask codegen --check` keeps it showing
/// every key of the schema.
pub const EXTENSION_TOML: &str = r##"# The quarry extension `@NAME@`. Every key is shown; the commented-out ones are optional.
# @CHECKED@ The whole format: docs/EXTENDING.md in the quarry repository.

# Unique snake_case name. `--@FLAG@` selects the extension; its options are `--@FLAG@-<option>`.
name = "@NAME@"
# One line for `quarry list` and `--help`; required, not empty.
description = "@NAME@: say in one line what it adds to the image"

# Extensions selected with this one and emitted before it: names, never crates. The binary must
# link them (the repository's own extensions always are).
# depends_on = ["curl"]

# 0 to 100, default 50. High = changes rarely = emitted early in each group of the final stage, so
# that changing this extension re-runs little. For reference: curl 95, git 90, ros_jazzy 80,
# cargo 60, user 10. Use a low number when users often change this extension's options.
cache_priority = 50

# Packages of the final image, installed in this extension's own apt layer. An entry may use an
# option, such as "ros-jazzy-{{ options.variant }}"; it must render to a Debian package name.
apt_packages = ["ca-certificates"]

# Third-party apt repositories, added to this extension's apt layer before its packages. `source`
# is a `deb` line with `signed-by={{ keyring }}`; `{{ arch }}`, `{{ codename }}` and
# `{{ os_release }}` are optional (or `source.amd64`, `source.arm64`: one line each). Pin the key:
# apt then accepts only its signatures. URLs and fingerprints may use options (a mirror).
# [[apt_repositories]]
# name = "example"
# key_url = "https://example.org/apt/key.asc"
# key_fingerprints = ["0123456789ABCDEF0123456789ABCDEF01234567"]
# source = "deb [arch={{ arch }} signed-by={{ keyring }}] https://example.org/apt {{ codename }} main"

# Final images the steps work on; another image renders with a warning. Empty: any image.
# supported_images = ["ubuntu:24.04"]
# The final images each value of an option works on: a value on an official image of another
# release is an error before the build; unset, the option takes the newest value that suits it.
# supported_images_by.version."1.0.0" = ["ubuntu:22.04", "ubuntu:jammy"]

# Other names of the extension, each with the option values it stands for (`--@FLAG@-v1`).
# aliases.@NAME@_v1 = { version = "1.0.0" }

# The final stage is a RUN chain (every extension's apt layer and its `setup`, in the order the
# project's quarry.lock keeps), then every copy (`COPY --link`), then environment, user and
# entrypoint. A RUN's cache key holds every layer below it, so the chain holds only what needs
# apt packages and nothing else: files go to `[[files]]` or the builder, environment to `env`,
# shell start-up lines to `[shell]`. Then adding, bumping or removing an extension re-runs only
# its own steps.

# RUN steps as root, right after this extension's apt packages: they may use apt packages only,
# never another extension's artifacts (those arrive later, as copies). Only RUN is allowed.
setup = "templates/setup.Dockerfile.j2"
# The rare step that truly needs artifacts of the final image: placed after the copies, where it
# runs again whenever any earlier step changes; `quarry explain` warns about it.
# setup_after_copies = true
# Steps of the image's user (`pip install --user`, files in its home): `setup` runs as the user that
# another extension sets with `final_user` (after that extension), else the image's own USER.
# setup_as_user = true

# Environment of the final image, NAME=value (no white space or quotes; `$PATH` expands). Written
# after the chain, so changing a value re-runs no step.
env = ["@UPPER@_VERSION={{ options.version }}"]

# The user the image runs as, its folder and its home, templates over the options. At most one
# selected extension sets them. `[run]` entries of every extension see the home as `{{ home }}`.
# final_user = "{{ options.user }}"
# workdir = "/home/{{ options.user }}"
# home = "/home/{{ options.user }}"

# The image a builder starts from; needs `[builder]`. Default: the user's `--builder-base-image`,
# else ubuntu:22.04 (an old glibc, so what the builder makes runs on newer images too).
# builder_base_image = "ubuntu:22.04"

# Shell start-up lines (bash), templates over the options, in /etc/quarry/env.d/@NAME@.sh. `init`
# runs before every command: `docker run IMAGE cmd` (through quarry's entrypoint), interactive and
# login shells; export what commands need. `interactive` runs in interactive bash only.
# [shell]
# init = 'export PATH="$HOME/.@NAME@/bin:$PATH"'
# interactive = 'eval "$(@NAME@ completion bash)"'

# A builder stage `@NAME@_builder` that downloads or compiles, writing only under
# /opt/quarry/@NAME@ (`{{ out }}`). Its body may use RUN, COPY, ENV, WORKDIR. It installs the tools it
# uses first (nothing is preinstalled).
# [builder]
# from = "npm"                          # start from another extension's builder (list it in
#                                       # `depends_on`), or "final": the final image (a Python venv)
# apt_packages = ["ca-certificates", "curl"]   # installed in the builder before its template
# template = "templates/builder.Dockerfile.j2"
#
# What the final image copies from the builder (`COPY --link`), in order.
# [[builder.artifacts]]
# source = "/opt/quarry/@NAME@"         # under /opt/quarry/@NAME@
# dest = "/opt/quarry/@NAME@"           # default: `source`
#
# A release download: quarry writes one verified step for it, before the template (which a builder
# that only downloads leaves out). URLs are https, per architecture (`dpkg --print-architecture`).
# Verify with upstream's checksum file, or pin sha256 values, or say why not (`quarry show` says it).
# [[builder.downloads]]
# name = "@NAME@"
# url.amd64 = "https://example.org/v{{ options.version }}/@NAME@-x86_64-linux.tar.gz"
# url.arm64 = "https://example.org/v{{ options.version }}/@NAME@-aarch64-linux.tar.gz"
# checksum_url = "{{ url }}.sha256"     # or one file for all: ".../v{{ options.version }}/checksums.txt"
# checksum_format = "hash"              # the file's first word; "sha256sum": the line naming the file
# # sha256."1.0.0".amd64 = "<64 hex digits>"   # pinned instead of a checksum file, with
# # version_option = "version"          # the option the pins are keyed by, and optionally
# # sha256_option = "sha256"            # an option whose value replaces the pinned hash
# # verify = "none"                     # or neither, with
# # reason = "upstream publishes no checksums"
# extract = "tar.gz"                    # "tar.xz", "zip" or "file"
# members = ["*/@NAME@"]                # GNU tar patterns; none: the whole archive
# strip_components = 1
# dest = "bin"                          # under /opt/quarry/@NAME@; for "file", the file itself
# mode = "0755"
# check = "{{ out }}/bin/@NAME@ --version"

# Files shipped in the build context under `quarry/@NAME@/`. With `dest`, the final image gets the
# file there (`COPY --link`: configuration under /etc, a source list); without, a builder template
# copies it (`COPY {{ context }}/files/entry.sh /src/`).
# [[files]]
# path = "files/@NAME@.conf"
# dest = "/etc/@NAME@/@NAME@.conf"
# executable = false

# What `quarry run` passes to `docker run`. Entries may use options, `{{ home }}` (the image
# user's home, else /root) and `{{ host_groups }}` (the host user's supplementary gids); one that
# renders empty is dropped. Volumes expand `~` and `$VAR` from the host.
# [run]
# env = ["@UPPER@_TOKEN"]
# volumes = ["/srv/@NAME@:/srv/@NAME@"]
# optional_volumes = ["~/.config/@NAME@:{{ home }}/.config/@NAME@"]   # only when the host has it
# devices = ["/dev/dri"]
# group_add = ["video"]                 # comma-separated groups, each a `--group-add`
# xauthority = true                     # an X authority cookie for $DISPLAY, as XAUTHORITY
# keep_container = true                 # no `--rm`: the container stays after it stops
# args = ["--shm-size=1g"]

# Files of the project the build needs, and nothing else of it: every file of these names below
# the folder an `abs_path` option names is shipped at `{{ context }}/project/`, so a step that
# mounts that folder runs again only when they change (a ROS workspace's package.xml files).
# [project_files]
# folder_option = "workspace"           # an option with rule = "abs_path", from_host = "cwd"
# names = ["package.xml"]
# skip_folders_with = ["COLCON_IGNORE"] # folders holding one of these are skipped

# Options: `--@FLAG@-<option> VALUE`. Each has a description, a rule (or `one_of`), and a default
# (or `required = true`). Values are checked against the rule before they reach the Dockerfile.
[options.version]
description = "Version, recorded in the image as `@UPPER@_VERSION`"
default = "1.0.0"
# @RULES@.
rule = "version"
# one_of = ["1.0.0", "2.0.0"]          # instead of `rule`: one of fixed values
# required = true                       # instead of `default`: the user must give it
# from_host = "uid"                     # @HOSTS@: the host's value, else `default`
# multiple = true                       # a list option, for `[run]` entries: given any number of times
# aliases = ["ver"]                     # other long flags: `--ver` as `--@FLAG@-version`
"##;

pub const SETUP_TEMPLATE: &str = r#"# The final stage's chain, as root, right after this extension's apt packages: steps that need
# only them. Option values are written literally into the steps that use them.
RUN update-ca-certificates --fresh > /dev/null
"#;
