//! `quarry rocker ARGS...` (also as a program named `rocker`) and `quarry rockerc` (or
//! `rockerc`): rocker's command line and rockerc's files, read by `crate::rocker`, built and run
//! through `quarry run`'s path.

use std::path::Path;

use quarry_core::{Hinted, Registry, Request};

use crate::config::Loaded;
use crate::layers::ProjectKind;
use crate::rocker::translate::{Mode, Translation};
use crate::rocker::{COMPATIBLE, parse, project, rockerc, spec, translate, with_host};
use crate::{args, ui};

/// `quarry rocker ARGS...`: rocker's command line, run by quarry. Returns the container's exit
/// code.
pub fn rocker_command(registry: &'static Registry, argv: &[String]) -> anyhow::Result<u8> {
    let (dry_run, argv) = quarry_dry_run(argv);
    let parsed = parse::parse(argv)?;
    if parsed.has("help") {
        crate::output::stdout(help().as_bytes())?;
        return Ok(0);
    }
    if parsed.has("version") {
        crate::output::stdout(format!("quarry {} ({COMPATIBLE})\n", env!("CARGO_PKG_VERSION")).as_bytes())?;
        return Ok(0);
    }
    let t = with_host(|host| translate::translate(&parsed, registry, host))??;
    let cwd = std::env::current_dir()?;
    let loaded = project(registry, &t, &cwd.join("(rocker command line)"), None)?;
    run(registry, t, loaded, ProjectKind::RockerLine, dry_run)
}

/// quarry's own `--dry-run` in front of rocker's options (rocker has no option of that name):
/// print the docker commands instead of building and running.
fn quarry_dry_run(argv: &[String]) -> (bool, &[String]) {
    match argv.first() {
        Some(first) if first == "--dry-run" => (true, &argv[1..]),
        _ => (false, argv),
    }
}

/// `quarry rockerc [--x11 ...] [IMAGE] [COMMAND...]`: the folder's rockerc files, with rockerc's
/// command line on top (`--<extension>` words join `args`, the first other word is the image,
/// the rest the command).
pub fn rockerc_command(registry: &'static Registry, argv: &[String]) -> anyhow::Result<u8> {
    let (dry_run, argv) = quarry_dry_run(argv);
    if argv.first().is_some_and(|a| a == "--help" || a == "-h") {
        crate::output::stdout(ROCKERC_HELP.as_bytes())?;
        return Ok(0);
    }
    let cwd = std::env::current_dir()?;
    let Some(mut rc) = rockerc::Rockerc::find(&cwd)? else {
        anyhow::bail!(Hinted::new(
            format!("there is no `{}` in `{}`", rockerc::FILE, cwd.display()),
            "run it in the folder of a rockerc.yaml, or use `quarry rocker` with rocker's options",
        ));
    };
    let mut extra_args = Vec::new();
    let mut positional = Vec::new();
    let (mut vsc, mut force) = (false, false);
    for a in argv {
        match a.strip_prefix("--") {
            Some(flag) if positional.is_empty() && !flag.is_empty() => {
                if flag == "vsc" {
                    vsc = true;
                } else if flag == "force" {
                    force = true;
                } else if ["verbose", "show-dockerfile", "create-dockerfile"].contains(&flag) {
                    ui::note(&format!(
                        "rockerc's `--{flag}` is not used by quarry's rockerc (`quarry render` shows the Dockerfile, `--verbose` the commands)"
                    ));
                } else {
                    extra_args.push(yaml_rust2::Yaml::String(flag.to_owned()));
                }
            }
            _ => positional.push(a.clone()),
        }
    }
    if !extra_args.is_empty() {
        match rc.keys.iter_mut().find(|(k, _)| k == "args") {
            Some((_, yaml_rust2::Yaml::Array(items))) => items.extend(extra_args),
            _ => rc.keys.insert(0, ("args".to_owned(), yaml_rust2::Yaml::Array(extra_args))),
        }
    }
    let mut positional = positional.into_iter();
    if let Some(image) = positional.next() {
        rc.keys.retain(|(k, _)| k != "image");
        rc.keys.push(("image".to_owned(), yaml_rust2::Yaml::String(image)));
    }
    let (mut line, notes) = rc.argv();
    if !line.contains(&"--".to_owned()) {
        line.push("--".to_owned());
    }
    line.extend(positional);
    for n in &notes {
        ui::note(n);
    }
    let parsed = parse::parse(&line)?;
    let t = with_host(|host| translate::translate(&parsed, registry, host))??;
    let loaded = project(registry, &t, &cwd.join(rockerc::FILE), rc.dockerfile.as_deref())?;
    if dry_run || t.mode == Mode::DryRun || selects_nothing(&t, &loaded) {
        return run(registry, t, loaded, ProjectKind::Rockerc, dry_run);
    }
    // rockerc's persistent container: made (or found), then entered.
    for n in &t.notes {
        ui::note(n);
    }
    let command = t.command.clone();
    let (registry, build) = build_of(registry, &t, loaded, ProjectKind::Rockerc, false)?;
    let up = args::Up { build, replace: true, force, recreate: force };
    crate::dev_container::rockerc_session(registry, up, command, vsc)
}

/// Whether a translation selects no extension and its project file adds none.
fn selects_nothing(t: &Translation, loaded: &Loaded) -> bool {
    let selects = |v: &toml::Value| v.as_str().is_some_and(|e| !e.starts_with('!'));
    let nothing =
        t.config.get("extensions").and_then(toml::Value::as_array).is_none_or(|e| !e.iter().any(selects));
    nothing && crate::config::first_project_key(&loaded.config).is_none()
}

/// The build of a translation: the catalog with the project's own extensions, and the build
/// request.
fn build_of(
    registry: &'static Registry,
    t: &Translation,
    loaded: Loaded,
    kind: ProjectKind,
    dry_run: bool,
) -> anyhow::Result<(&'static Registry, args::Build)> {
    let registry = crate::project_ext::registry_of(
        registry,
        &loaded,
        loaded.path.parent().unwrap_or(Path::new(".")).to_owned(),
    )?;
    let build = args::Build {
        request: Request { host: crate::host::values(), ..Request::default() },
        engine_given: false,
        locked: false,
        tag: t.tag.clone(),
        dry_run,
        cache_id: None,
        cache_registry: None,
        cache_registry_insecure: false,
        options: quarry_docker::build::BuildOptions::default(),
        project: Some((loaded, kind)),
    };
    Ok((registry, build))
}

/// Runs a translation as `quarry run` runs: built (then only printed with `--mode dry-run`), with
/// rocker's `--rm` and terminal choices.
fn run(
    registry: &'static Registry,
    t: Translation,
    loaded: Loaded,
    kind: ProjectKind,
    dry_run: bool,
) -> anyhow::Result<u8> {
    for n in &t.notes {
        ui::note(n);
    }
    if selects_nothing(&t, &loaded) {
        return bare(&t, dry_run);
    }
    let (registry, build) = build_of(registry, &t, loaded, kind, dry_run)?;
    let run = args::Run {
        build,
        env_files: Vec::new(),
        run_args: Vec::new(),
        command: t.command.clone(),
        remove: true,
        interactive: match t.mode {
            Mode::Auto => None,
            Mode::Interactive => Some(true),
            Mode::NonInteractive | Mode::DryRun => Some(false),
        },
        print_after_build: t.mode == Mode::DryRun,
        strict: t.strict,
    };
    crate::build_run::run_command(registry, run)
}

/// A line that selects no extension: rocker builds an image that adds nothing; quarry runs the
/// image as it is (`--image-name` tags it), with the line's `docker run` arguments.
fn bare(t: &Translation, dry_run: bool) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    let docker = quarry_docker::engine::program();
    let Some(image) = t.config.get("image").and_then(toml::Value::as_str) else {
        anyhow::bail!(Hinted::new("no image given", "name the image after the options"));
    };
    // `--nocleanup` selects an extension, so a line that selects none runs with `--rm`.
    let mut run: Vec<String> = vec!["run".into(), "--rm".into()];
    let interactive = match t.mode {
        Mode::Auto => std::io::stdin().is_terminal(),
        Mode::Interactive => true,
        Mode::NonInteractive | Mode::DryRun => false,
    };
    if interactive {
        run.extend(["--interactive".into(), "--tty".into()]);
    }
    let extra = t.config.get("run").and_then(|r| r.get("args")).and_then(toml::Value::as_array);
    run.extend(extra.into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)));
    let tag = t.tag.clone();
    run.push(tag.clone().unwrap_or_else(|| image.to_owned()));
    run.extend(t.command.iter().cloned());
    let tag_args = tag.map(|name| vec!["tag".to_owned(), image.to_owned(), name]);
    ui::note("no extension is selected: the image runs as it is");
    if dry_run || t.mode == Mode::DryRun {
        let mut text = String::new();
        if let Some(args) = &tag_args {
            text.push_str(&format!("{}\n", quarry_docker::run::shell_line(&docker, args)));
        }
        text.push_str(&format!("{}\n", quarry_docker::run::shell_line(&docker, &run)));
        crate::output::stdout(text.as_bytes())?;
        return Ok(0);
    }
    if let Some(args) = &tag_args {
        let status = std::process::Command::new(&docker).args(args).status()?;
        if !status.success() {
            anyhow::bail!(Hinted::new(
                format!("`docker tag {image}` failed"),
                "check that the image exists on the engine (`docker images`)",
            ));
        }
    }
    let status = std::process::Command::new(&docker).args(&run).status()?;
    Ok(status.code().map_or(crate::exit::FAILURE, |c| u8::try_from(c).unwrap_or(crate::exit::FAILURE)))
}

/// `quarry rockerc --help`.
const ROCKERC_HELP: &str =
    "Usage: quarry rockerc [--dry-run] [--force] [--vsc] [--EXTENSION]... [IMAGE] [COMMAND]...
       rockerc ...   (quarry through a link named `rockerc`)

The folder's rockerc.yaml, under ~/.rockerc.yaml, as rockerc reads them: `args` are rocker's
extensions and flags, `image` the image, `extension-blacklist` what the folder leaves out.
`--EXTENSION` words join `args`, the first other word replaces the image, the rest is the command.

As rockerc does, the folder gets one long-lived container, named after the folder (or `name`),
with the folder at /workspaces/NAME unless the configuration mounts it: made when missing,
started when stopped, made anew when what it was made with changed (never while sessions are
open in it), then entered with a shell, or with COMMAND. `quarry enter`, `stop`, `down` and `ps`
work on the same container.

Options:
      --dry-run   print the docker commands (a one-shot run) instead of building and running
      --force     make the container anew even when nothing changed, even with sessions open
      --vsc       attach VS Code to the container (`code` on PATH) before the shell
";

/// `quarry rocker --help`: rocker's options, as quarry reads them.
pub fn help() -> String {
    let mut out = format!(
        "Usage: quarry rocker [OPTIONS] IMAGE [COMMAND]...\n       rocker [OPTIONS] IMAGE [COMMAND]...   (quarry through a link named `rocker`)\n\n\
         rocker's command line ({COMPATIBLE}), built and run by quarry: the same options, values and\n\
         defaults, the image cached as quarry caches it. An option with a list of values (`--volume a b`)\n\
         ends at `--` or the next option. Where rocker would refuse a line or change it, quarry does\n\
         what it says and notes the difference. `quarry rocker --dry-run ...` (quarry's own, first)\n\
         prints the docker commands instead of running them.\n\nOptions:\n"
    );
    for o in spec::OPTIONS {
        let names = o.names.join(", ");
        let value = match o.nargs {
            spec::Nargs::Zero => String::new(),
            spec::Nargs::One | spec::Nargs::ListOfOne => " VALUE".to_owned(),
            spec::Nargs::Optional => " [VALUE]".to_owned(),
            spec::Nargs::Any => " [VALUE ...]".to_owned(),
            spec::Nargs::AtLeastOne => " VALUE [VALUE ...]".to_owned(),
        };
        let choices =
            if o.choices.is_empty() { String::new() } else { format!(" ({})", o.choices.join(", ")) };
        out.push_str(&format!("  {names}{value}\n      {}{choices}\n", o.help));
    }
    out
}
