//! The command-line definition: clap derive for the fixed part, and one flag per extension and per
//! extension option, generated from the registry (`--cargo`, `--cargo-version 1.95.0`).
//!
//! One job, so one long file: the command line, from its definition (whose doc comments are the
//! help text) through parsing (the lean parse first, the full command when it fails) to the data
//! the commands get and the usage errors (rocker's flags, "did you mean"); it reads no file, host
//! value or environment variable.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use quarry_core::{EngineLevel, HostValues, Registry, Request, Selection};

use crate::exit;

/// Compose cache-friendly multi-stage Dockerfiles from a catalog of extensions.
#[derive(Debug, Parser)]
#[command(name = "quarry", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print only data and errors: no notes or warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print the docker commands quarry runs.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render the Dockerfile for an image and a set of extensions.
    ///
    /// Select extensions with their flags (`--cargo --npm`) or by name (`-e cargo`); an option
    /// flag such as `--cargo-version 1.95.0` selects its extension too. Dependencies are added
    /// automatically. The output is the same whatever order the extensions are given in.
    Render(RenderArgs),
    /// Render, then build the image with BuildKit and tag it.
    ///
    /// The build context (the Dockerfile and the files extensions ship) is written to a folder of
    /// its own under `$XDG_CACHE_HOME/quarry/contexts/`, removed when the build succeeds and kept
    /// when it fails. Prints the tag on stdout.
    Build(BuildArgs),
    /// Build if needed, then run the container with what the extensions ask for.
    ///
    /// Environment, volumes, devices and other `docker run` arguments come from the selected
    /// extensions; the container is interactive when stdin is a terminal. Exits with the
    /// container's exit code.
    #[command(
        override_usage = "quarry run [OPTIONS] [IMAGE] [COMMAND]...\n       quarry run [OPTIONS] -- [COMMAND]..."
    )]
    Run(RunArgs),
    /// Predict which steps BuildKit reuses when OLD is rebuilt as NEW, and why.
    ///
    /// OLD and NEW are Dockerfiles (any Dockerfile) or quarry configurations (rendered first),
    /// told apart by their content (`quarry.toml.orig` is a configuration). Without NEW, the new side is the current project's configuration. Prints each
    /// RUN, COPY and ADD step of the stages the target needs, reused or re-run with the reason,
    /// and ends with `N of M steps reused`. Warnings about cache busters go to stderr.
    Explain(ExplainArgs),
    /// The last build's steps, each reused or re-run, with its reason.
    ///
    /// Every build that quarry runs is checked against explain's prediction (old: what this
    /// project last built on this engine); `why` prints what that build did: for each RUN, COPY
    /// and ADD step, reused or re-run, its time, and the first change in its key (which file, which
    /// ARG, which parent), with the prediction where the engine did otherwise.
    Why,
    /// Draw the stage graph: builder stages, the final chain and the copies between them.
    ///
    /// Mermaid (`--format mermaid`, the default: GitHub and most Markdown viewers draw it), DOT
    /// (`--format dot`, Graphviz), or SVG (`--format svg`, drawn by Graphviz's `dot`, which must
    /// be installed). With OLD (and NEW, else the current configuration), each step is coloured by
    /// explain's prediction for rebuilding OLD as NEW: reused, or re-run.
    Graph(GraphArgs),
    /// List every extension: name, priority, builder base, options and description.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one extension: description, priority, builder base, options, what it adds.
    Show {
        /// The extension.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the configuration files that apply here, in merge order, and what they give merged.
    ///
    /// The user file comes first, then the project's quarry.toml found in the current folder or
    /// a parent, then its quarry.lock (which pins option values the files leave to defaults); the
    /// command line wins over all of them. A project file or lock owned by another user is
    /// refused unless its folder is in `safe_directories` of the user file or in
    /// $QUARRY_SAFE_DIRECTORIES.
    ShowConfig,
    /// Write or update quarry.lock for the project, or return its chain to the canonical order.
    ///
    /// The lock keeps the order of the final stage's RUN chain: an extension added later goes
    /// after every existing step, whatever its priority, so nothing that was built before runs
    /// again. `--reorder` sorts the chain by priority (then name) instead, as a new project would
    /// have it, and prints what that costs: the steps the next build runs again.
    Lock {
        /// Return to the canonical order (priority descending, then name).
        #[arg(long)]
        reorder: bool,
    },
    /// Start this project's dev container: built if needed, then kept running.
    ///
    /// One container per project folder (and so per worktree), named and labelled so that it is
    /// found again after a restart. Run again, it reuses the container when nothing changed; when
    /// the image or the run-time settings changed it says what and replaces the container when
    /// told (`--replace`, or yes at the prompt), never while sessions are open in it unless
    /// `--force`. Writes `.devcontainer/devcontainer.json` for VS Code and the devcontainer CLI.
    Up(UpArgs),
    /// Open a session in this project's dev container (started with `up` if needed).
    ///
    /// As the image's user, in its working folder, with the environment the image's entrypoint
    /// gives (`docker exec` through quarry's entrypoint), with a terminal when there is one.
    /// Several sessions may run at once.
    Enter {
        /// The command [default: bash].
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Stop this project's dev container (it keeps its state; `up` or `enter` starts it again).
    Stop,
    /// Remove this project's dev container. Volumes and the project's files are never touched.
    Down,
    /// This project's dev containers: name, state, the image they run, and whether it is current.
    Ps,
    /// Run rocker's command line: the same options, built and run by quarry.
    ///
    /// rocker 0.4's options with deps_rocker's and off-your-rocker's, read as rocker reads them
    /// (`quarry rocker --help` lists them): `quarry rocker --x11 --user --volume ~/ws -- osrf/ros:humble-desktop
    /// rviz2`. A link to quarry named `rocker` is the same command.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Rocker {
        /// rocker's options, the image and the command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Run the folder's rockerc.yaml (with ~/.rockerc.yaml), as rockerc does.
    ///
    /// `--<extension>` words join its `args`, the first other word replaces its image, the rest is
    /// the command. As rockerc, it keeps one container for the folder and opens a shell in it
    /// (`quarry rockerc --help`). A link to quarry named `rockerc` is the same command.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Rockerc {
        /// Extensions to add, the image and the command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Remove the build contexts quarry keeps: failed and interrupted builds', dry runs'.
    ///
    /// A failed build keeps its context (the Dockerfile and shipped files) to debug it with
    /// `docker build`; quarry keeps the newest 5 and removes any older than two days by itself.
    /// A running build's context is never removed.
    Clean,
    /// Write a commented starter quarry.toml in the current folder.
    Init {
        /// Replace an existing quarry.toml.
        #[arg(long)]
        force: bool,
    },
    /// Scaffold a project extension in `.quarry/extensions/NAME/` and add it to quarry.toml.
    ///
    /// The folder holds a commented `extension.toml` showing every key around a working example
    /// and a setup template; it renders as it is. quarry validates it whenever it runs, with the
    /// diagnostics a catalog crate gets at `cargo build`.
    NewExtension {
        /// snake_case name of the extension.
        name: String,
        /// The folder to write it in [default: .quarry/extensions/NAME].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Convert a rocker configuration (rockerc.yaml) or a deps_rocker `*.deps.yaml` into quarry.toml.
    ///
    /// deps_rocker's `deps` (in `args`, or `deps: PATTERN`) becomes quarry.toml's `deps`, which
    /// reads the deps files where they are, every layer; a deps file alone becomes `deps` naming
    /// it. What `quarry build` would refuse in them is named now. What has no equivalent is named.
    Import {
        /// The rockerc file.
        file: PathBuf,
        /// Where to write.
        #[arg(short, long, value_name = "FILE", default_value = "quarry.toml")]
        output: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): quarry(1), or a command's, quarry-render(1) for `render`.
    ///
    /// `quarry man > quarry.1; for c in render build run ...; do quarry man $c > quarry-$c.1;
    /// done` writes every page quarry(1) refers to.
    Man {
        /// The command whose page to print.
        command: Option<String>,
    },
}

/// Output format of `list` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

/// What to render: the image and the extensions.
#[derive(Debug, Args)]
struct SelectArgs {
    /// The final image, e.g. `ubuntu:24.04` [default: `image` of quarry.toml].
    image: Option<String>,
    /// Select an extension by name (repeatable).
    #[arg(short = 'e', long = "extension", value_name = "NAME")]
    extensions: Vec<String>,
    /// Image every builder starts from, unless an extension's own override says otherwise
    /// [default: ubuntu:22.04, or the extension's own choice].
    #[arg(long, value_name = "IMAGE")]
    builder_base_image: Option<String>,
    /// The engine the Dockerfile is for: `modern` (Docker 23+, `COPY --link`) or `legacy`
    /// (Docker 20.10: plain `COPY --from`) [default: modern for `render`, the engine's own level
    /// for `build`].
    #[arg(long, value_enum, value_name = "LEVEL")]
    engine: Option<EngineArg>,
    /// Fail instead of writing quarry.lock when the configuration no longer matches it.
    #[arg(long)]
    locked: bool,
}

#[derive(Debug, Args)]
struct RenderArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// Write the Dockerfile to FILE instead of stdout (written whole or not at all).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BuildArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// Tag for the image [default: `quarry/<extensions>:<hash of the rendered context>`].
    #[arg(short, long, value_name = "NAME", visible_alias = "image-name")]
    tag: Option<String>,
    /// Cache id isolating this job's cache mounts [default: $ROCKER_CACHE_ID, $QUARRY_CACHE_ID,
    /// the GitHub Actions job and runner, or `default`].
    #[arg(long, value_name = "ID")]
    cache_id: Option<String>,
    /// Do not use the layer cache.
    #[arg(long, visible_alias = "nocache")]
    no_cache: bool,
    /// Always look for newer base images.
    #[arg(long)]
    pull: bool,
    /// buildx builder instance to use.
    #[arg(long, value_name = "NAME")]
    builder: Option<String>,
    /// External cache source (buildx), e.g. `type=local,src=/cache` (repeatable).
    #[arg(long, value_name = "SPEC")]
    cache_from: Vec<String>,
    /// Cache export destination (buildx), e.g. `type=local,dest=/cache` (repeatable).
    #[arg(long, value_name = "SPEC")]
    cache_to: Vec<String>,
    /// Share builder caches through this registry, `REGISTRY/REPO` (one reference per builder
    /// stage; see docs/remote-cache.md) [default: `[cache] registry`].
    #[arg(long, value_name = "REF")]
    cache_registry: Option<String>,
    /// Allow the cache registry over plain http (loopback registries need no flag).
    #[arg(long)]
    cache_registry_insecure: bool,
    /// Add a host-to-IP mapping for RUN steps, `HOST:IP` (repeatable).
    #[arg(long, value_name = "HOST:IP")]
    add_host: Vec<String>,
    /// Networking mode for RUN steps during the build (`docker build --network`); the
    /// container's network is the `network` extension's (`--network-mode`).
    #[arg(long = "build-network", value_name = "MODE")]
    network: Option<String>,
    /// Target platform, e.g. `linux/arm64`.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// An SSH agent or keys for the build's steps that mount one (`docker build --ssh`):
    /// `default` is `$SSH_AUTH_SOCK`, for `ros_workspace`'s private repositories (repeatable).
    #[arg(long = "build-ssh", value_name = "ID[=SOCKET]")]
    build_ssh: Vec<String>,
    /// Progress output: `auto`, `plain` or `tty`.
    #[arg(long, value_name = "TYPE")]
    progress: Option<String>,
    /// Print the docker commands instead of running them (the build context is written, so they
    /// work when pasted).
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// Read environment variables from FILE on the host (`docker run --env-file`; repeatable).
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// One more `docker run` argument, passed as it is (repeatable): `--run-arg=--ipc=host`,
    /// `--run-arg=--cpus=2`, `--run-arg=--detach`.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    run_arg: Vec<String>,
    /// The command to run in the container [default: the image's]. After the image it needs no
    /// `--` (`quarry run ubuntu:24.04 ls -la`); with the image from quarry.toml, write
    /// `quarry run -- CMD...`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Debug, Args)]
struct UpArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// Replace the container when the image or the run-time settings changed, without asking.
    #[arg(long, short = 'y')]
    replace: bool,
    /// Replace it even while sessions are open in it.
    #[arg(long)]
    force: bool,
    /// Make the container anew even when nothing changed (what is inside it but in mounted
    /// folders is lost).
    #[arg(long)]
    recreate: bool,
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// The previous Dockerfile or configuration.
    old: PathBuf,
    /// The new Dockerfile or configuration [default: the current project's configuration].
    new: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
struct GraphArgs {
    /// The previous Dockerfile or configuration: colour each step by explain's prediction.
    old: Option<PathBuf>,
    /// The new Dockerfile or configuration [default: the current project's configuration].
    new: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    format: GraphFormat,
    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// The format of `quarry graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Mermaid flowchart text.
    Mermaid,
    /// Graphviz DOT text.
    Dot,
    /// SVG, drawn by Graphviz's `dot`.
    Svg,
}

/// How explain models the two builds (`quarry explain` and `quarry graph`).
#[derive(Debug, Args)]
struct ModelArgs {
    /// The engine whose cache rules apply: `containerd` (Docker 23+ with the containerd image
    /// store), `classic` (Docker 23+ with the classic store: `COPY --link` is a plain COPY),
    /// `legacy` (Docker 20.10: cache-mount ids and sharing are in the key), or `auto`: the engine
    /// that answers at DOCKER_HOST, else `containerd`.
    #[arg(long, value_enum, default_value_t = StoreArg::Auto)]
    engine: StoreArg,
    /// Target stage of both builds [default: the last stage].
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// A build argument of both builds, `NAME=VALUE` (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = name_value)]
    build_arg: Vec<(String, String)>,
    /// A build argument of the old build only, over `--build-arg` (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = name_value)]
    old_build_arg: Vec<(String, String)>,
    /// A build argument of the new build only, over `--build-arg` (repeatable). `NAME=` gives an
    /// empty value, which is not the same as no value: the ARG's default (or nothing) is replaced.
    #[arg(long, value_name = "NAME=VALUE", value_parser = name_value)]
    new_build_arg: Vec<(String, String)>,
    /// A stage whose output is byte-identical when it runs again (a reproducible builder), or an
    /// image whose copied files are the ones the old build copied at that step, so copies from
    /// it stay cached (repeatable).
    #[arg(long, value_name = "STAGE|IMAGE")]
    same_output: Vec<String>,
    /// A build-context path whose content changed (repeatable); configurations find their own.
    #[arg(long, value_name = "PATH")]
    changed: Vec<String>,
}

/// A parsed `quarry explain` (or the model of a `quarry graph`); without OLD, the old side is
/// the new one.
fn explain(old: Option<PathBuf>, new: Option<PathBuf>, model: ModelArgs, format: Format) -> Explain {
    Explain {
        old,
        new,
        store: match model.engine {
            StoreArg::Auto => None,
            StoreArg::Containerd => Some(quarry_buildkit::explain::Store::Containerd),
            StoreArg::Classic => Some(quarry_buildkit::explain::Store::Classic),
            StoreArg::Legacy => Some(quarry_buildkit::explain::Store::Legacy),
        },
        target: model.target,
        build_args: model.build_arg,
        old_build_args: model.old_build_arg,
        new_build_args: model.new_build_arg,
        same_output: model.same_output,
        changed: model.changed,
        format,
    }
}

fn name_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreArg {
    Auto,
    Containerd,
    Classic,
    Legacy,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EngineArg {
    Modern,
    Legacy,
}

/// A parsed `quarry render`.
#[derive(Debug, Clone)]
pub struct Render {
    /// What to render.
    pub request: Request,
    /// Where to write it (stdout when `None`).
    pub output: Option<PathBuf>,
    /// `--locked`.
    pub locked: bool,
}

/// A parsed `quarry build`.
#[derive(Debug, Clone)]
pub struct Build {
    /// What to render (its engine level is replaced by the engine's unless `engine_given`).
    pub request: Request,
    /// Whether `--engine` was given.
    pub engine_given: bool,
    /// `--locked`.
    pub locked: bool,
    /// `--tag`.
    pub tag: Option<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--cache-id`.
    pub cache_id: Option<String>,
    /// `--cache-registry`.
    pub cache_registry: Option<String>,
    /// `--cache-registry-insecure`.
    pub cache_registry_insecure: bool,
    /// Pass-throughs.
    pub options: quarry_docker::build::BuildOptions,
    /// The project's configuration when it is given rather than found (`quarry rocker`'s
    /// command line, a `rockerc.yaml`).
    pub project: Option<(crate::config::Loaded, crate::layers::ProjectKind)>,
}

/// A parsed `quarry run`.
#[derive(Debug, Clone)]
pub struct Run {
    /// The image to build.
    pub build: Build,
    /// `--env-file`, as given.
    pub env_files: Vec<PathBuf>,
    /// `--run-arg`.
    pub run_args: Vec<String>,
    /// The command after the image (or after `--`).
    pub command: Vec<String>,
    /// Whether the container is removed when it stops (rocker's `--nocleanup` keeps it).
    pub remove: bool,
    /// `--interactive --tty`: `None` when stdin is a terminal (rocker's `--mode` chooses).
    pub interactive: Option<bool>,
    /// Build, then print the `docker run` command instead of running it (rocker's `--mode
    /// dry-run`).
    pub print_after_build: bool,
    /// An extension added as a dependency is an error (rocker's `--strict-extension-selection`).
    pub strict: bool,
}

/// A parsed `quarry up`.
#[derive(Debug, Clone)]
pub struct Up {
    /// The image to build and the configuration.
    pub build: Build,
    /// `--replace`.
    pub replace: bool,
    /// `--force`.
    pub force: bool,
    /// `--recreate`.
    pub recreate: bool,
}

/// A parsed `quarry explain`.
#[derive(Debug, Clone)]
pub struct Explain {
    /// The old Dockerfile or configuration; `None`: the new one (`quarry graph` without OLD).
    pub old: Option<PathBuf>,
    /// The new one; `None`: the current project's configuration.
    pub new: Option<PathBuf>,
    /// Engine model; `None`: the engine that answers, else the containerd store.
    pub store: Option<quarry_buildkit::explain::Store>,
    /// `--target`.
    pub target: Option<String>,
    /// `--build-arg` (both builds).
    pub build_args: Vec<(String, String)>,
    /// `--old-build-arg` (the old build only, over `--build-arg`).
    pub old_build_args: Vec<(String, String)>,
    /// `--new-build-arg` (the new build only, over `--build-arg`).
    pub new_build_args: Vec<(String, String)>,
    /// `--same-output`.
    pub same_output: Vec<String>,
    /// `--changed`.
    pub changed: Vec<String>,
    /// `--format`.
    pub format: Format,
}

/// A parsed `quarry graph`.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The model; its old side is the new one unless `compare`.
    pub explain: Explain,
    /// OLD was given: colour the steps by the prediction.
    pub compare: bool,
    /// `--format`.
    pub format: GraphFormat,
    /// `--output`.
    pub output: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// `quarry render`.
    Render(Box<Render>),
    /// `quarry build`.
    Build(Box<Build>),
    /// `quarry run`.
    Run(Box<Run>),
    /// `quarry explain`.
    Explain(Box<Explain>),
    /// `quarry why`.
    Why,
    /// `quarry graph`.
    Graph(Box<Graph>),
    /// `quarry list`.
    List(Format),
    /// `quarry show`.
    Show(String, Format),
    /// `quarry show-config`.
    ShowConfig,
    /// `quarry up`.
    Up(Box<Up>),
    /// `quarry enter [COMMAND]`.
    Enter(Vec<String>),
    /// `quarry stop`.
    Stop,
    /// `quarry down`.
    Down,
    /// `quarry ps`.
    Ps,
    /// `quarry rocker ARGS...`.
    Rocker(Vec<String>),
    /// `quarry rockerc ARGS...`.
    Rockerc(Vec<String>),
    /// `quarry clean`.
    Clean,
    /// `quarry lock`.
    Lock {
        /// `--reorder`.
        reorder: bool,
    },
    /// `quarry init`.
    Init {
        /// `--force`.
        force: bool,
    },
    /// `quarry new-extension`.
    NewExtension {
        /// The name.
        name: String,
        /// `--dir`.
        dir: Option<PathBuf>,
    },
    /// `quarry import`.
    Import {
        /// The rockerc file.
        file: PathBuf,
        /// Output file.
        output: PathBuf,
        /// `--force`.
        force: bool,
    },
    /// `quarry completions`.
    Completions(clap_complete::Shell),
    /// `quarry man [COMMAND]`.
    Man(Option<String>),
}

/// A command line that could not be parsed.
#[derive(Debug)]
pub enum ArgsError {
    /// clap's own error (usage, `--help`, `--version`).
    Clap(clap::Error),
    /// An extension flag that does not exist, reported as an unknown extension.
    Unknown(anyhow::Error),
}

impl ArgsError {
    /// Prints the error (or the help) and returns the exit code.
    pub fn exit(self) -> ExitCode {
        match self {
            // Every command's `--version` is quarry's own line (`quarry 0.1.0`), not clap's
            // `quarry-run 0.1.0`.
            ArgsError::Clap(e) if e.kind() == ErrorKind::DisplayVersion => {
                use std::io::Write;
                let _ = std::io::stdout().write_all(Cli::command().render_version().as_bytes());
                ExitCode::SUCCESS
            }
            ArgsError::Clap(e) => {
                let _ = e.print();
                ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 })
            }
            ArgsError::Unknown(e) => exit::report(&e, exit::FAILURE),
        }
    }
}

/// One generated flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionFlag {
    /// The long flag without `--`.
    pub long: String,
    /// The extension.
    pub extension: &'static str,
    /// The option, for option flags.
    pub option: Option<&'static str>,
    /// Other spellings of an option flag (`env` for `env-value`, `net` for `network-mode`).
    pub aliases: Vec<String>,
    /// A list option: the flag may be repeated.
    pub multiple: bool,
    /// The extension's own flag taken over by an optional single-value option: `--network`
    /// alone selects it, `--network bridge` gives the value ([`optional_values`]).
    pub optional_value: bool,
}

/// The value an optional-value flag has when given alone: it selects its extension only.
const SELECT_ONLY: &str = "\u{0}select";

impl ExtensionFlag {
    /// The clap argument id: prefixed, so it never meets a built-in argument's id.
    pub fn id(&self) -> String {
        format!("ext:{}", self.long)
    }
}

/// Every generated flag, or the first two that collide with each other or with a fixed flag.
pub fn extension_flags(registry: &Registry) -> Result<Vec<ExtensionFlag>, String> {
    flags_beside(registry, &Cli::command())
}

/// [`extension_flags`], checked against the fixed flags of `cli` (the derived command, built
/// once by the caller).
fn flags_beside(registry: &Registry, cli: &clap::Command) -> Result<Vec<ExtensionFlag>, String> {
    let mut flags: BTreeMap<String, ExtensionFlag> = BTreeMap::new();
    // Every built-in long flag of every command (`--format` of `list` too: one line may name
    // both), the global ones and clap's own `--help` and `--version`.
    let mut fixed: Vec<String> = std::iter::once(cli)
        .chain(cli.get_subcommands())
        .flat_map(|c| {
            c.get_arguments()
                .flat_map(|a| a.get_long().into_iter().chain(a.get_all_aliases().unwrap_or_default()))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    fixed.extend(["help", "version"].map(str::to_owned));
    let mut claimed: BTreeMap<String, &'static str> = BTreeMap::new();
    for ext in registry.iter() {
        let mut add = |flag: ExtensionFlag| -> Result<(), String> {
            for long in std::iter::once(&flag.long).chain(&flag.aliases) {
                if fixed.contains(long) {
                    return Err(format!(
                        "flag `--{long}` of extension `{}` collides with a built-in flag",
                        flag.extension
                    ));
                }
                if let Some(prev) = claimed.get(long) {
                    return Err(format!(
                        "flag `--{long}` is claimed by extension `{prev}` and by extension `{}`",
                        flag.extension
                    ));
                }
                claimed.insert(long.clone(), flag.extension);
            }
            flags.insert(flag.long.clone(), flag);
            Ok(())
        };
        let base = ext.name.replace('_', "-");
        // An option may take over the extension's own flag (`--env A=1`, `--network [MODE]`).
        let taken_over = ext.options.iter().any(|o| o.aliases.contains(&base.as_str()));
        if !taken_over {
            let flag = ExtensionFlag {
                long: base.clone(),
                extension: ext.name,
                option: None,
                aliases: Vec::new(),
                multiple: false,
                optional_value: false,
            };
            add(flag)?;
        }
        for option in ext.options {
            let mut long = format!("{base}-{}", option.name.replace('_', "-"));
            let mut aliases: Vec<String> = option.aliases.iter().map(|a| (*a).to_owned()).collect();
            let optional_value = !option.required && !option.multiple && aliases.contains(&base);
            // Shown as the extension's own flag, `--network[=VALUE]`, with `--network-mode` beside it.
            if optional_value {
                aliases.retain(|a| *a != base);
                aliases.insert(0, std::mem::replace(&mut long, base.clone()));
            }
            add(ExtensionFlag {
                long,
                extension: ext.name,
                option: Some(option.name),
                aliases,
                multiple: option.multiple,
                optional_value,
            })?;
        }
    }
    // An alias has its own flag and flags for the options it leaves open (`--ros-jazzy`,
    // `--ros-jazzy-variant`); the selection names the alias, which resolution turns into the
    // extension with the alias's values.
    for (ext, alias) in registry.aliases() {
        let base = alias.name.replace('_', "-");
        let mut add = |flag: ExtensionFlag| -> Result<(), String> {
            if fixed.contains(&flag.long) {
                return Err(format!(
                    "flag `--{}` of alias `{}` collides with a built-in flag",
                    flag.long, alias.name
                ));
            }
            if let Some(prev) = claimed.get(&flag.long) {
                return Err(format!(
                    "flag `--{}` is claimed by extension `{prev}` and by alias `{}`",
                    flag.long, alias.name
                ));
            }
            claimed.insert(flag.long.clone(), alias.name);
            flags.insert(flag.long.clone(), flag);
            Ok(())
        };
        add(ExtensionFlag {
            long: base.clone(),
            extension: alias.name,
            option: None,
            aliases: Vec::new(),
            multiple: false,
            optional_value: false,
        })?;
        for option in ext.options.iter().filter(|o| !alias.options.iter().any(|a| a.option == o.name)) {
            add(ExtensionFlag {
                long: format!("{base}-{}", option.name.replace('_', "-")),
                extension: alias.name,
                option: Some(option.name),
                aliases: Vec::new(),
                multiple: option.multiple,
                optional_value: false,
            })?;
        }
    }
    Ok(flags.into_values().collect())
}

/// Subcommands that select extensions, and so take the registry's flags.
const SELECTING: &[&str] = &["render", "build", "run", "up"];

/// The full command, with the registry's flags on every subcommand that selects extensions.
pub fn command(registry: &Registry) -> Result<clap::Command, String> {
    let cli = Cli::command();
    let flags = flags_beside(registry, &cli)?;
    Ok(with_flags(registry, cli, flags.iter()))
}

/// `cli` with `flags` on every subcommand that selects extensions.
fn with_flags<'a>(
    registry: &Registry,
    mut command: clap::Command,
    flags: impl Iterator<Item = &'a ExtensionFlag> + Clone,
) -> clap::Command {
    for name in SELECTING {
        command = command.mut_subcommand(name, |mut sub| {
            sub = sub
                .after_help(
                    "Extensions: one flag each (`--cargo`), options as `--cargo-version VALUE`; `--help` lists them \
                     grouped by extension, `quarry list` in a table, `quarry show NAME` in full.",
                )
                .after_long_help("");
            for flag in flags.clone() {
                let Some(ext) = registry.get(flag.extension) else { continue };
                sub = sub.arg(flag_arg(registry, ext, flag));
            }
            sub
        });
    }
    command
}

/// The clap argument of one generated flag of `ext` (or of an alias of it).
fn flag_arg(registry: &Registry, ext: &quarry_core::Extension, flag: &ExtensionFlag) -> Arg {
    // Grouped under their extension, and only in `--help`: `-h` stays one screen.
    let arg = Arg::new(flag.id())
        .long(flag.long.clone())
        .hide_short_help(true)
        .help_heading(format!("Extension `{}`", ext.name));
    let Some(spec) = flag.option.and_then(|option| ext.option(option)) else {
        let help = match registry.alias(flag.extension) {
            Some((_, alias)) => {
                let set: Vec<String> =
                    alias.options.iter().map(|o| format!("{} `{}`", o.option, o.value)).collect();
                format!("`{}` with {}", ext.name, set.join(", "))
            }
            None => ext.description.to_owned(),
        };
        return arg.action(ArgAction::SetTrue).help(help);
    };
    let mut help = spec.description.to_owned();
    if spec.multiple && !help.contains("repeatable") {
        help.push_str(" (repeatable)");
    }
    help.push_str(&format!(" [{}]", spec.default_statement()));
    let arg = if spec.multiple { arg.action(ArgAction::Append) } else { arg.action(ArgAction::Set) };
    // Given alone it selects the extension; its value is `=VALUE` or, as one more word, what
    // [`optional_values`] joins to it.
    let arg = if flag.optional_value {
        arg.num_args(0..=1).require_equals(true).default_missing_value(SELECT_ONLY)
    } else {
        arg
    };
    // An alias's option flags (`--ros-jazzy-variant`) are accepted but not listed: the
    // extension's own flags say the same.
    let arg = arg.hide(registry.alias(flag.extension).is_some());
    arg.value_name("VALUE").visible_aliases(flag.aliases.clone()).help(help)
}

/// The command for completion scripts and the man page: `-e`, `show` and `one_of` options list
/// their values, and file names are offered only where a file is meant. (Parsing keeps free text
/// there, so a mistyped name gets quarry's own "did you mean" rather than clap's list.)
pub fn command_for_completions(registry: &Registry) -> Result<clap::Command, String> {
    use clap::builder::PossibleValuesParser;
    let names: Vec<String> = registry
        .iter()
        .map(|e| e.name.to_owned())
        .chain(registry.aliases().map(|(_, a)| a.name.to_owned()))
        .collect();
    let flags = extension_flags(registry)?;
    let mut command = command(registry)?;
    command = command.mut_subcommand("show", |sub| {
        sub.mut_arg("name", |a| a.value_parser(PossibleValuesParser::new(names.clone())))
    });
    for name in SELECTING {
        command = command.mut_subcommand(name, |mut sub| {
            sub = sub.mut_arg("extensions", |a| a.value_parser(PossibleValuesParser::new(names.clone())));
            for flag in &flags {
                let Some(option) = flag.option else { continue };
                let spec = registry
                    .get(flag.extension)
                    .and_then(|e| e.option(option))
                    .expect("flags come from the registry");
                sub = sub.mut_arg(flag.id(), |a| match spec.rule {
                    quarry_core::Rule::OneOf(values) => {
                        a.value_parser(PossibleValuesParser::new(values.iter().copied()))
                    }
                    quarry_core::Rule::Bool => a.value_parser(PossibleValuesParser::new(["true", "false"])),
                    quarry_core::Rule::AbsPath => a.value_hint(clap::ValueHint::AnyPath),
                    _ => a.value_hint(clap::ValueHint::Other),
                });
            }
            sub
        });
    }
    Ok(command)
}

/// A parsed command line: what it asks for and how much to say on stderr. Parsing has no side
/// effects; the caller sets the level and reads host values.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// What the command line asks for.
    pub invocation: Invocation,
    /// `--quiet`.
    pub quiet: bool,
    /// `--verbose`.
    pub verbose: bool,
}

/// Parses `argv` (program name first).
///
/// Building a clap argument for each of the registry's flags costs more than the rest of a render,
/// so the command line is first parsed by a command that holds only the generated flags `argv`
/// names (every `--word` in it, values and words after `--` included: more flags than needed
/// never change a parse). A parse that fails, `--help` included, is done again with the full
/// command, so help and errors (with clap's suggestions) are those of the full command.
pub fn parse(registry: &Registry, argv: Vec<OsString>) -> Result<Parsed, ArgsError> {
    parse_with(registry, argv, true)
}

/// [`parse`]; `lean` false parses with the full command only (what tests compare with).
fn parse_with(registry: &Registry, argv: Vec<OsString>, lean_first: bool) -> Result<Parsed, ArgsError> {
    let cli = Cli::command();
    let flags = flags_beside(registry, &cli).map_err(|e| {
        ArgsError::Unknown(
            quarry_core::Hinted::new(
                e,
                "rename the flag: an option's `aliases` (and every extension's flags) must differ from \
                 quarry's own flags and from each other",
            )
            .into(),
        )
    })?;
    let named = if lean_first { named_longs(&argv) } else { BTreeSet::new() };
    let wanted: Vec<&ExtensionFlag> = flags
        .iter()
        .filter(|f| named.contains(f.long.as_str()) || f.aliases.iter().any(|a| named.contains(a.as_str())))
        .collect();
    let argv = optional_values(registry, &flags, argv);
    let lean = with_flags(registry, cli, wanted.iter().copied());
    let lean_argv = command_after_image(&lean, argv.clone());
    let (matches, present) = match lean.try_get_matches_from(lean_argv) {
        Ok(matches) if lean_first => (matches, wanted),
        // The same text whatever flags the command holds.
        Err(e) if lean_first && e.kind() == ErrorKind::DisplayVersion => return Err(ArgsError::Clap(e)),
        _ => {
            let full = with_flags(registry, Cli::command(), flags.iter());
            let argv = command_after_image(&full, argv);
            let matches = full.try_get_matches_from(argv).map_err(|e| unknown_extension(registry, e))?;
            (matches, flags.iter().collect())
        }
    };
    let cli = Cli::from_arg_matches(&matches).map_err(ArgsError::Clap)?;
    let sub = |name| matches.subcommand_matches(name).expect("the subcommand matched");
    let invocation = match cli.command {
        Command::Explain(args) => {
            Invocation::Explain(Box::new(explain(Some(args.old), args.new, args.model, args.format)))
        }
        Command::Why => Invocation::Why,
        Command::Graph(args) => Invocation::Graph(Box::new(Graph {
            compare: args.old.is_some(),
            explain: explain(args.old, args.new, args.model, Format::Text),
            format: args.format,
            output: args.output,
        })),
        Command::List { format } => Invocation::List(format),
        Command::Show { name, format } => Invocation::Show(name, format),
        Command::ShowConfig => Invocation::ShowConfig,
        Command::Clean => Invocation::Clean,
        Command::Lock { reorder } => Invocation::Lock { reorder },
        Command::Init { force } => Invocation::Init { force },
        Command::NewExtension { name, dir } => Invocation::NewExtension { name, dir },
        Command::Import { file, output, force } => Invocation::Import { file, output, force },
        Command::Completions { shell } => Invocation::Completions(shell),
        Command::Man { command } => Invocation::Man(command),
        Command::Render(args) => Invocation::Render(Box::new(Render {
            request: request(&present, &args.select, sub("render")),
            output: args.output,
            locked: args.select.locked,
        })),
        Command::Build(args) => Invocation::Build(Box::new(build(&present, args, sub("build")))),
        Command::Run(args) => Invocation::Run(Box::new(Run {
            build: build(&present, args.build, sub("run")),
            env_files: args.env_file,
            run_args: args.run_arg,
            command: args.command,
            remove: true,
            interactive: None,
            print_after_build: false,
            strict: false,
        })),
        Command::Up(args) => Invocation::Up(Box::new(Up {
            build: build(&present, args.build, sub("up")),
            replace: args.replace,
            force: args.force,
            recreate: args.recreate,
        })),
        Command::Enter { command } => Invocation::Enter(command),
        Command::Stop => Invocation::Stop,
        Command::Down => Invocation::Down,
        Command::Ps => Invocation::Ps,
        Command::Rocker { args } => Invocation::Rocker(args),
        Command::Rockerc { args } => Invocation::Rockerc(args),
    };
    Ok(Parsed { invocation, quiet: cli.quiet, verbose: cli.verbose })
}

/// The names of the long flags `argv` may use: every word that starts with `--`, up to a `=`.
fn named_longs(argv: &[OsString]) -> BTreeSet<&str> {
    argv.iter()
        .filter_map(|word| word.to_str()?.strip_prefix("--"))
        .map(|long| long.split_once('=').map_or(long, |(name, _)| name))
        .collect()
}

/// `quarry run IMAGE CMD ARGS...` as rocker takes it: the first word after the image starts the
/// command, so `--` is inserted before it (`quarry run ubuntu:24.04 ls -la`). A word is the
/// image or the command only when it is not a flag or a flag's value; everything from `--` on is
/// left as it is.
pub fn command_after_image(command: &clap::Command, mut argv: Vec<OsString>) -> Vec<OsString> {
    let takes_value = |sub: &clap::Command, long: Option<&str>, short: Option<char>| -> Option<bool> {
        let arg = sub.get_arguments().chain(command.get_arguments()).find(|a| match (long, short) {
            (Some(l), _) => a.get_long() == Some(l) || a.get_all_aliases().is_some_and(|v| v.contains(&l)),
            (None, Some(c)) => a.get_short() == Some(c),
            _ => false,
        })?;
        // An optional value is only ever `--flag=VALUE` here ([`optional_values`]).
        Some(arg.get_action().takes_values() && !arg.is_require_equals_set())
    };
    let Some(run_at) = argv.iter().skip(1).position(|a| !a.to_string_lossy().starts_with('-')).map(|i| i + 1)
    else {
        return argv;
    };
    if argv[run_at] != "run" {
        return argv;
    }
    let Some(sub) = command.find_subcommand("run") else { return argv };
    let mut positionals = 0;
    let mut i = run_at + 1;
    while i < argv.len() {
        let word = argv[i].to_string_lossy().into_owned();
        if word == "--" {
            return argv;
        }
        if let Some(long) = word.strip_prefix("--") {
            if !long.contains('=') && takes_value(sub, Some(long), None) == Some(true) {
                i += 1;
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // `-e NAME`, `-tNAME`, `-qv`: a short flag that takes a value ends the cluster.
            let first = shorts.chars().next().expect("not empty");
            if shorts.len() == 1 && takes_value(sub, None, Some(first)) == Some(true) {
                i += 1;
            }
        } else {
            positionals += 1;
            if positionals == 2 {
                argv.insert(i, OsString::from("--"));
                return argv;
            }
        }
        i += 1;
    }
    argv
}

fn build(flags: &[&ExtensionFlag], args: BuildArgs, matches: &ArgMatches) -> Build {
    Build {
        request: request(flags, &args.select, matches),
        engine_given: args.select.engine.is_some(),
        locked: args.select.locked,
        tag: args.tag,
        dry_run: args.dry_run,
        cache_id: args.cache_id,
        cache_registry: args.cache_registry,
        cache_registry_insecure: args.cache_registry_insecure,
        options: quarry_docker::build::BuildOptions {
            no_cache: args.no_cache,
            pull: args.pull,
            builder: args.builder,
            cache_from: args.cache_from,
            cache_to: args.cache_to,
            add_host: args.add_host,
            network: args.network,
            platform: args.platform,
            progress: args.progress,
            shm_size: None,
            ssh: args.build_ssh,
            tls_verify_off: false,
        },
        project: None,
    }
}

/// The request of the command line; `flags` are the generated flags the parsing command held.
fn request(flags: &[&ExtensionFlag], args: &SelectArgs, matches: &ArgMatches) -> Request {
    let mut selections: BTreeMap<String, Selection> = BTreeMap::new();
    for name in &args.extensions {
        // `-e ros-jazzy` names `ros_jazzy`, as its flag `--ros-jazzy` does.
        let name = name.replace('-', "_");
        selections.entry(name.clone()).or_insert_with(|| Selection::new(name));
    }
    for flag in flags {
        match flag.option {
            None => {
                if matches.get_flag(&flag.id()) {
                    selections
                        .entry(flag.extension.to_owned())
                        .or_insert_with(|| Selection::new(flag.extension));
                }
            }
            Some(option) if flag.multiple => {
                if let Some(values) = matches.get_many::<String>(&flag.id()) {
                    let selection = selections
                        .entry(flag.extension.to_owned())
                        .or_insert_with(|| Selection::new(flag.extension));
                    selection.lists.entry(option.to_owned()).or_default().extend(values.cloned());
                }
            }
            Some(option) => {
                if let Some(value) = matches.get_one::<String>(&flag.id()) {
                    let selection = selections
                        .entry(flag.extension.to_owned())
                        .or_insert_with(|| Selection::new(flag.extension));
                    if value != SELECT_ONLY {
                        selection.options.insert(option.to_owned(), value.clone());
                    }
                }
            }
        }
    }
    Request {
        image: args.image.clone().unwrap_or_default(),
        extensions: selections.into_values().collect(),
        builder_base_image: args.builder_base_image.clone(),
        overrides: BTreeMap::new(),
        option_defaults: BTreeMap::new(),
        pinned: BTreeMap::new(),
        engine: match args.engine {
            None | Some(EngineArg::Modern) => EngineLevel::Modern,
            Some(EngineArg::Legacy) => EngineLevel::Legacy,
        },
        // Read by the caller: parsing touches nothing outside the command line.
        host: HostValues::default(),
        locked_order: None,
        image_config: None,
        project_files: BTreeMap::new(),
    }
}

/// Joins the word after an optional-value flag (`--network bridge`) to it (`--network=bridge`)
/// when the option accepts the word, so clap takes it as the value; any other word (`--network
/// ubuntu:24.04`, `--shm-size IMAGE`) stays where it is, for the image or the command: a flag
/// never swallows the image. Nothing after `--` is touched.
fn optional_values(registry: &Registry, flags: &[ExtensionFlag], argv: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(argv.len());
    let mut words = argv.into_iter().peekable();
    while let Some(word) = words.next() {
        let text = word.to_string_lossy().into_owned();
        if text == "--" {
            out.push(word);
            out.extend(words);
            break;
        }
        let flag = text.strip_prefix("--").and_then(|long| {
            flags.iter().find(|f| f.optional_value && (f.long == long || f.aliases.iter().any(|a| a == long)))
        });
        let accepts = |value: &str| {
            flag.and_then(|f| registry.get(f.extension).and_then(|e| e.option(f.option?)))
                .is_some_and(|spec| spec.rule.accepts(value))
        };
        match words.peek().map(|w| w.to_string_lossy().into_owned()) {
            Some(next) if flag.is_some() && !next.starts_with('-') && accepts(&next) => {
                words.next();
                out.push(OsString::from(format!("{text}={next}")));
            }
            _ => out.push(word),
        }
    }
    out
}

/// Turns clap's "unexpected argument `--carg`" into "unknown extension `carg`, did you mean
/// `--cargo`?" when the flag looks like an extension flag.
fn unknown_extension(registry: &Registry, e: clap::Error) -> ArgsError {
    if e.kind() != ErrorKind::UnknownArgument {
        return ArgsError::Clap(e);
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return ArgsError::Clap(e);
    };
    let Some(name) = arg.strip_prefix("--").map(|a| a.split('=').next().unwrap_or(a)) else {
        return ArgsError::Clap(e);
    };
    if let Some((_, quarry)) = ROCKER_FLAGS.iter().find(|(rocker, _)| *rocker == name) {
        return ArgsError::Unknown(anyhow::Error::new(quarry_core::Hinted::new(
            format!("`--{name}` is rocker's flag; quarry has no flag of that name"),
            format!("in quarry: {quarry}"),
        )));
    }
    // A built-in flag of another command (`render --cache-id`): say which commands take it.
    let owners: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| c.get_arguments().any(|a| a.get_long() == Some(name)))
        .map(|c| format!("`quarry {}`", c.get_name()))
        .collect();
    if !owners.is_empty() {
        let command = e
            .get(ContextKind::Usage)
            .and_then(|usage| usage.to_string().split_whitespace().nth(2).map(str::to_owned))
            .unwrap_or_else(|| "this command".to_owned());
        return ArgsError::Unknown(anyhow::Error::new(quarry_core::Hinted::new(
            format!("`--{name}` is not an option of `quarry {command}`"),
            format!("`--{name}` is an option of {}", owners.join(", ")),
        )));
    }
    let mut flags: Vec<String> = Vec::new();
    for f in extension_flags(registry).unwrap_or_default() {
        flags.push(f.long);
        flags.extend(f.aliases);
    }
    // The built-in flags and their aliases too: `--nocach` is `--nocache`, not `--ccache`.
    for sub in Cli::command().get_subcommands().filter(|c| SELECTING.contains(&c.get_name())) {
        for a in sub.get_arguments() {
            flags.extend(a.get_long().map(str::to_owned));
            flags.extend(a.get_all_aliases().unwrap_or_default().into_iter().map(str::to_owned));
        }
    }
    flags.sort();
    flags.dedup();
    match quarry_core::suggest_closest(name, flags.iter().map(String::as_str)) {
        Some(flag) => ArgsError::Unknown(anyhow::Error::new(quarry_core::Hinted::new(
            format!("unknown extension or option `--{name}`"),
            format!("did you mean `--{flag}`? `quarry list` shows every extension"),
        ))),
        None => ArgsError::Clap(e),
    }
}

/// rocker's flags that quarry spells otherwise (rocker's `--volume`, `--env`, `--nocache`, ...
/// are accepted as they are), with the quarry spelling.
const ROCKER_FLAGS: &[(&str, &str)] = &[
    ("mode", "`--dry-run` prints the commands; `quarry run` is interactive whenever stdin is a terminal"),
    ("noexecute", "`--dry-run`"),
    ("persist-image", "nothing to add: quarry always keeps the image; `--tag NAME` names it"),
    ("user-override-name", "`--user-name NAME`"),
    ("user-preserve-home", "`--home` mounts the home folder"),
    ("extension-blacklist", "`!NAME` in `extensions` of quarry.toml removes an extension the user file adds"),
    ("oyr-run-arg", "`--run-arg ARG`"),
    ("gpus", "`--nvidia-gpus all`"),
    ("isaacsim", "`--isaac-sim`"),
];

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    /// An option's `aliases` may not claim a flag quarry has: `--help`, `--version`, the global
    /// `--quiet` and `--verbose`, `--format` of `list`, ...
    #[test]
    fn aliases_cannot_claim_built_in_flags() {
        for alias in ["help", "version", "quiet", "verbose", "format", "nocache", "target"] {
            let aliases: &'static [&'static str] = Box::leak(Box::new([alias]));
            let mut option = quarry_core::OptionSpec::new("value", "v", "x", quarry_core::Rule::Identifier);
            option.aliases = aliases;
            let ext = quarry_core::Extension {
                name: "tool",
                crate_name: "test",
                description: "d",
                options: Box::leak(Box::new([option])),
                ..quarry_core::Extension::EMPTY
            };
            let registry = quarry_core::Registry::from_extensions([&*Box::leak(Box::new(ext))]).unwrap();
            let err = super::extension_flags(&registry).unwrap_err();
            assert_eq!(err, format!("flag `--{alias}` of extension `tool` collides with a built-in flag"));
        }
    }

    #[test]
    fn fixed_command_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    /// The lean command (only the flags the line names) parses every line as the full command
    /// does, and fails the same way: the same invocation, the same error, help and suggestion.
    #[test]
    fn the_lean_parse_equals_the_full_parse() {
        let registry =
            quarry_core::Registry::from_extensions(quarry_catalog::LINKED.iter().copied()).unwrap();
        let lines = [
            "render ubuntu:24.04 --cargo --npm --pixi --uv --ros-jazzy",
            "render ubuntu:24.04 --cargo-version 1.95.0 -e npm --ros-jazzy-variant=desktop",
            "render --engine legacy -o out.Dockerfile --builder-base-image debian:12",
            "-q render ubuntu:24.04 --user --locked",
            "build ubuntu:24.04 --cargo --tag t --nocache --dry-run --cache-id x",
            "run ubuntu:24.04 --x11 --env A=1 --env B=2 --volume /a:/b ls -la --cargo",
            "run ubuntu:24.04 --net host --run-arg --ipc=host -- bash -c --cargo",
            "run --run-arg=--cpus=2 ubuntu:24.04 --nvidia",
            "-v explain old.Dockerfile new.Dockerfile --engine classic --build-arg A=1",
            "list --format json",
            "show ros_jazzy",
            "completions bash",
            "man render",
            // Errors and help: the lean parse gives way to the full command.
            "render ubuntu:24.04 --carg",
            "render ubuntu:24.04 --nocach",
            "render ubuntu:24.04 --gpus all",
            "render ubuntu:24.04 --cargo-version",
            "render ubuntu:24.04 --cargo --cargo",
            "build --help",
            "render -h",
            "help run",
            "rendr",
            "--version",
            "render --version",
            "-q -v list",
            "",
        ];
        for line in lines {
            let argv = || -> Vec<OsString> {
                std::iter::once("quarry").chain(line.split_whitespace()).map(OsString::from).collect()
            };
            let shown = |parsed: Result<super::Parsed, super::ArgsError>| match parsed {
                Ok(parsed) => format!("{parsed:?}"),
                Err(super::ArgsError::Clap(e)) => format!("clap {:?}: {}", e.kind(), e.render()),
                Err(super::ArgsError::Unknown(e)) => format!("unknown: {e:#}"),
            };
            let lean = shown(super::parse_with(&registry, argv(), true));
            let full = shown(super::parse_with(&registry, argv(), false));
            assert_eq!(lean, full, "`quarry {line}`");
        }
    }

    #[test]
    fn named_longs_are_every_double_dash_word() {
        let argv: Vec<OsString> =
            ["quarry", "run", "--cargo-version=1", "-e", "x", "--run-arg", "--ipc=host", "--", "--npm"]
                .map(OsString::from)
                .into();
        let named: Vec<&str> = super::named_longs(&argv).into_iter().collect();
        assert_eq!(named, ["", "cargo-version", "ipc", "npm", "run-arg"]);
    }
}
