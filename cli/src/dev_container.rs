//! `quarry up`, `enter`, `stop`, `down` and `ps`: the project's dev container, one long-lived
//! container per project folder (`quarry_docker::container`), made from the same render and run
//! settings as `quarry run`, replaced only when they changed and the user agrees, entered through
//! quarry's entrypoint so every extension's environment is there; and the
//! `.devcontainer/devcontainer.json` that lets an IDE open the project with it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quarry_core::{Hinted, Registry, Request};
use quarry_docker::{container, run};

use crate::build_run::{RunSettings, compose_run, execute_build, prepare_build};
use crate::{args, output, ui};

/// The project folder (of quarry.toml or rockerc.yaml, else the current folder) and its worktree
/// (git's top level, else the folder).
fn project(registry: &Registry) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let folder = match crate::layers::discover(registry, &cwd)? {
        Some((loaded, _)) => loaded.path.parent().map_or(cwd.clone(), Path::to_path_buf),
        None => cwd,
    };
    let folder = folder.canonicalize().unwrap_or(folder);
    let worktree = std::process::Command::new("git")
        .arg("-C")
        .arg(&folder)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| folder.clone());
    Ok((folder, worktree))
}

fn docker() -> String {
    std::env::var("QUARRY_DOCKER").unwrap_or_else(|_| "docker".to_owned())
}

/// A `quarry up` of the project's own configuration (what `enter` starts when there is none).
fn default_up() -> args::Up {
    args::Up {
        build: args::Build {
            request: Request { host: crate::host::values(), ..Request::default() },
            engine_given: false,
            locked: false,
            tag: None,
            dry_run: false,
            cache_id: None,
            cache_registry: None,
            cache_registry_insecure: false,
            options: crate::build::BuildOptions::default(),
            project: None,
        },
        replace: false,
        force: false,
    }
}

/// `quarry up`: prints the container's name.
pub(crate) fn up_command(registry: &Registry, up: args::Up) -> anyhow::Result<()> {
    let name = up_container(registry, up)?;
    output::stdout(format!("{name}\n").as_bytes())
}

/// Builds if needed and makes sure the project's container runs the current image with the
/// current run settings; returns its name.
fn up_container(registry: &Registry, up: args::Up) -> anyhow::Result<String> {
    let (folder, worktree) = project(registry)?;
    let name = container::name_of(&folder);
    let prepared = prepare_build(registry, up.build, false)?;
    execute_build(&prepared)?;
    let settings = RunSettings {
        env_files: &[],
        run_args: &[],
        command: container::KEEP_ALIVE.iter().map(|w| (*w).to_owned()).collect(),
        interactive: false,
        remove: false,
    };
    let (mut args, _) = compose_run(&prepared, settings, false)?;
    // The project folder, at its own path, where sessions start, as a dev container has its
    // workspace: unless the configuration mounts it (or a folder above it) already.
    let workspace = !container::mounts(&args, &folder);
    if workspace {
        let at = args.iter().position(|a| *a == prepared.tag).expect("the image is in the run line");
        let path = folder.display().to_string();
        args.splice(at..at, ["--volume".to_owned(), format!("{path}:{path}"), "--workdir".to_owned(), path]);
    }
    let image_at = args.iter().position(|a| *a == prepared.tag).expect("the image is in the run line");
    let hash = container::run_hash(&args[1..image_at]);
    let labels = [
        ("--detach".to_owned(), None),
        ("--name".to_owned(), Some(name.clone())),
        ("--label".to_owned(), Some(format!("{}={}", container::LABEL_PROJECT, folder.display()))),
        ("--label".to_owned(), Some(format!("{}={}", container::LABEL_WORKTREE, worktree.display()))),
        ("--label".to_owned(), Some(format!("{}={}", container::LABEL_IMAGE, prepared.tag))),
        ("--label".to_owned(), Some(format!("{}={hash}", container::LABEL_RUN))),
    ];
    let mut at = 1;
    for (flag, value) in labels {
        args.insert(at, flag);
        at += 1;
        if let Some(v) = value {
            args.insert(at, v);
            at += 1;
        }
    }
    let docker = &prepared.docker;
    // The tag names the render; the id also changes when a base image does.
    let image_id = container::image_id(docker, &prepared.tag).unwrap_or_default();
    match container::find(docker, &name) {
        Some(e) if e.image == prepared.tag && e.image_id == image_id && e.run == hash => {
            if !e.running {
                docker_ok(docker, &["start", &name])?;
                ui::note(&format!("started `{name}`"));
            } else {
                ui::note(&format!("`{name}` runs the current image with the current settings"));
            }
        }
        Some(e) => {
            let what = match (e.image != prepared.tag || e.image_id != image_id, e.run != hash) {
                (true, true) => "the image and the run-time settings",
                (true, false) => "the image",
                _ => "the run-time settings (mounts, devices, GPUs, environment, ports, network)",
            };
            ui::note(&format!("`{name}` was made with other {what} than the project has now"));
            if !up.replace && !confirm(&format!("replace `{name}`?"))? {
                anyhow::bail!(Hinted::new(
                    format!("`{name}` runs with outdated {what}: it was left as it is"),
                    "`quarry up --replace` replaces it (what is inside it but in mounted folders is lost)",
                ));
            }
            let open = if e.running { container::sessions(docker, &name) } else { 0 };
            if open > 0 && !up.force {
                anyhow::bail!(Hinted::new(
                    format!("{open} session(s) are open in `{name}`: it was not replaced"),
                    "leave them and run `quarry up --replace` again, or `--force` to replace it anyway",
                ));
            }
            docker_ok(docker, &["rm", "--force", &name])?;
            create(docker, &args, &name)?;
        }
        None => create(docker, &args, &name)?,
    }
    // devcontainer.json's own workspaceMount and workspaceFolder stand for quarry's.
    let mut runtime: Vec<String> = args[at..image_at + (at - 1)].to_vec();
    if workspace {
        runtime.truncate(runtime.len() - 4);
    }
    write_devcontainer(
        &folder,
        &name,
        &prepared.tag,
        &runtime,
        prepared.rendered.final_user.as_deref(),
        workspace,
    );
    Ok(name)
}

fn create(docker: &str, args: &[String], name: &str) -> anyhow::Result<()> {
    ui::detail(&run::shell_line(docker, args));
    let out = std::process::Command::new(docker)
        .args(args)
        .output()
        .with_context(|| format!("cannot run `{docker}`"))?;
    if !out.status.success() {
        anyhow::bail!(Hinted::new(
            format!("`docker run` of `{name}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            "the same settings with `quarry run` show the container's own output",
        ));
    }
    ui::note(&format!("`{name}` is up: `quarry enter` opens a session in it"));
    Ok(())
}

/// Asks on the terminal; without one, the answer is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn docker_ok(docker: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new(docker)
        .args(args)
        .output()
        .with_context(|| format!("cannot run `{docker}`"))?;
    if !out.status.success() {
        anyhow::bail!(Hinted::new(
            format!("`docker {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()),
            "`quarry ps` shows the project's containers",
        ));
    }
    Ok(())
}

/// `quarry enter [COMMAND]`: the command's exit code.
pub(crate) fn enter_command(registry: &Registry, command: Vec<String>) -> anyhow::Result<u8> {
    let (folder, _) = project(registry)?;
    let name = container::name_of(&folder);
    let docker = docker();
    match container::find(&docker, &name) {
        Some(e) if e.running => {}
        Some(_) => docker_ok(&docker, &["start", &name])?,
        None => {
            up_container(registry, default_up())?;
        }
    }
    let mut args: Vec<String> = vec!["exec".into()];
    if std::io::stdin().is_terminal() {
        args.extend(["--interactive".into(), "--tty".into()]);
    }
    if let Ok(term) = std::env::var("TERM") {
        args.extend(["--env".into(), format!("TERM={term}")]);
    }
    args.push(name);
    // Through quarry's entrypoint: the environment `docker run` gives, which `docker exec` skips.
    args.push(quarry_core::ENTRYPOINT_PATH.to_owned());
    if command.is_empty() {
        args.push("bash".into());
    } else {
        args.extend(command);
    }
    ui::detail(&run::shell_line(&docker, &args));
    let status = std::process::Command::new(&docker)
        .args(&args)
        .status()
        .with_context(|| format!("cannot run `{docker}`"))?;
    Ok(status.code().map_or(crate::exit::FAILURE, |c| u8::try_from(c).unwrap_or(crate::exit::FAILURE)))
}

/// `quarry stop`.
pub(crate) fn stop_command(registry: &Registry) -> anyhow::Result<()> {
    let (folder, _) = project(registry)?;
    let name = container::name_of(&folder);
    match container::find(&docker(), &name) {
        Some(e) if e.running => {
            docker_ok(&docker(), &["stop", "--time", "2", &name])?;
            ui::note(&format!("stopped `{name}`"));
        }
        Some(_) => ui::note(&format!("`{name}` is not running")),
        None => ui::note(&format!("this project has no container (`{name}`)")),
    }
    Ok(())
}

/// `quarry down`: removes the container alone (no volume, no file).
pub(crate) fn down_command(registry: &Registry) -> anyhow::Result<()> {
    let (folder, _) = project(registry)?;
    let name = container::name_of(&folder);
    match container::find(&docker(), &name) {
        Some(_) => {
            docker_ok(&docker(), &["rm", "--force", &name])?;
            ui::note(&format!("removed `{name}`; volumes and the project's files are as they were"));
        }
        None => ui::note(&format!("this project has no container (`{name}`)")),
    }
    Ok(())
}

/// `quarry ps`: this project's containers, and whether each runs the image the project renders
/// now.
pub(crate) fn ps_command(registry: &Registry) -> anyhow::Result<()> {
    let (folder, _) = project(registry)?;
    let current = current_tag(registry).ok();
    let current_id = current.as_ref().and_then(|tag| container::image_id(&docker(), tag));
    let mut out = String::from("NAME                                      STATE      CURRENT  IMAGE\n");
    for e in container::list(&docker(), Some(&folder)) {
        let now = match &current {
            Some(tag) if *tag == e.image && current_id.as_deref() == Some(e.image_id.as_str()) => "yes",
            Some(_) => "no",
            None => "?",
        };
        out.push_str(&format!("{:<41} {:<10} {:<8} {}\n", e.name, e.status, now, e.image));
    }
    output::stdout(out.as_bytes())
}

/// The tag the project's configuration renders to now (no build).
fn current_tag(registry: &Registry) -> anyhow::Result<String> {
    let mut request = Request { host: crate::host::values(), ..Request::default() };
    crate::configure(registry, &mut request, false, None)?;
    if let Ok(engine) = quarry_docker::engine::detect(&docker()) {
        request.engine = engine.level();
        request.image_config = quarry_docker::engine::image_config(&docker(), &request.image);
    }
    let rendered = quarry_core::render(registry, &request)?;
    Ok(quarry_docker::context::default_tag(&rendered))
}

/// The marker of a devcontainer.json quarry wrote: it is replaced; any other is left alone.
const GENERATED: &str = "// Written by quarry";

/// `.devcontainer/devcontainer.json`, for VS Code's Dev Containers and the devcontainer CLI: the
/// image quarry built, its user, and `docker run`'s settings, kept current by `quarry up`. A file
/// that quarry did not write is left alone, with a note.
fn write_devcontainer(
    folder: &Path,
    name: &str,
    image: &str,
    run_args: &[String],
    user: Option<&str>,
    workspace: bool,
) {
    let path = folder.join(".devcontainer").join("devcontainer.json");
    if let Ok(old) = std::fs::read_to_string(&path)
        && !old.starts_with(GENERATED)
    {
        ui::note(&format!("`{}` is not quarry's: it was left as it is", path.display()));
        return;
    }
    let text = devcontainer_json(folder, name, image, run_args, user, workspace);
    let written = std::fs::create_dir_all(path.parent().expect("a folder"))
        .map_err(anyhow::Error::from)
        .and_then(|()| output::write_atomically(&path, text.as_bytes()));
    if let Err(e) = written {
        ui::note(&format!("cannot write `{}`: {e:#}", path.display()));
    }
}

/// The text of the devcontainer.json (JSON with a comment, which the format allows).
pub(crate) fn devcontainer_json(
    folder: &Path,
    name: &str,
    image: &str,
    run_args: &[String],
    user: Option<&str>,
    workspace: bool,
) -> String {
    let mut config = serde_json::json!({
        "name": name,
        "image": image,
        "runArgs": run_args,
        "workspaceFolder": folder.display().to_string(),
        "overrideCommand": true,
    });
    // The configuration's own mount of the folder (or of one above it) is in runArgs: the
    // workspace is not mounted twice.
    config["workspaceMount"] = if workspace {
        serde_json::Value::String(format!(
            "source={},target={},type=bind",
            folder.display(),
            folder.display()
        ))
    } else {
        serde_json::Value::String(String::new())
    };
    if let Some(u) = user {
        config["remoteUser"] = serde_json::Value::String(u.to_owned());
        config["containerUser"] = serde_json::Value::String(u.to_owned());
    }
    format!(
        "{GENERATED} from this project's configuration: `quarry up` rewrites it. Edit quarry.toml, not this file.\n{}\n",
        serde_json::to_string_pretty(&config).expect("JSON")
    )
}
