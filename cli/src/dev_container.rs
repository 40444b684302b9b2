//! `quarry up`, `enter`, `stop`, `down` and `ps`: the project's dev container, one long-lived
//! container per project folder (`quarry_docker::container`), made from the same render and run
//! settings as `quarry run`, replaced only when they changed and the user agrees, entered through
//! quarry's entrypoint so every extension's environment is there; and the
//! `.devcontainer/devcontainer.json` that lets an IDE open the project with it. In a rockerc
//! folder it follows rockerc's conventions (`quarry rockerc`): the container is named after the
//! folder and the folder is mounted at `/workspaces/<name>`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quarry_core::{Hinted, Registry, Request};
use quarry_docker::{container, run};

use crate::build_run::{RunSettings, compose_run, execute_build, prepare_build};
use crate::layers::ProjectKind;
use crate::{args, output, ui};

/// The project a dev container is for.
struct Project {
    /// The folder of quarry.toml or rockerc.yaml, else the current folder (canonical).
    folder: PathBuf,

    /// The project is a rockerc.yaml: rockerc's container name and workspace.
    rockerc: bool,
}

impl Project {
    fn find(registry: &Registry) -> anyhow::Result<Project> {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        let (folder, rockerc) = match crate::layers::discover(registry, &cwd)? {
            Some((loaded, kind)) => {
                (loaded.path.parent().map_or(cwd.clone(), Path::to_path_buf), kind == ProjectKind::Rockerc)
            }
            None => (cwd, false),
        };
        let folder = folder.canonicalize().unwrap_or(folder);
        Ok(Project { folder, rockerc })
    }

    /// git's top level of the folder, else the folder.
    fn worktree(&self) -> PathBuf {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&self.folder)
            .args(["rev-parse", "--show-toplevel"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or_else(|| self.folder.clone())
    }

    /// The container's name when the configuration names none: rockerc's (the folder's name,
    /// lowercase) in a rockerc folder, else quarry's ([`container::name_of`]).
    fn default_name(&self) -> String {
        if self.rockerc {
            let name = container::rockerc_name(&self.folder);
            if !name.is_empty() {
                return name;
            }
        }
        container::name_of(&self.folder)
    }

    /// Where the folder is mounted when the configuration does not mount it: at its own path, or
    /// at rockerc's `/workspaces/<name>`.
    fn workspace(&self, name: &str) -> String {
        if self.rockerc { format!("/workspaces/{name}") } else { self.folder.display().to_string() }
    }

    /// The container made for this folder, found by its label (whatever its name).
    fn existing(&self, docker: &str) -> Option<container::Existing> {
        container::list(docker, Some(&self.folder)).into_iter().next()
    }
}

fn docker() -> String {
    quarry_docker::engine::program()
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
            options: quarry_docker::build::BuildOptions::default(),
            project: None,
        },
        replace: false,
        force: false,
        recreate: false,
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
    let project = Project::find(registry)?;
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
    let image_at =
        |args: &[String]| args.iter().position(|a| *a == prepared.tag).expect("the image is in the run line");
    // A name the configuration gives (the `name` extension) is the container's.
    let named = args[..image_at(&args)].iter().position(|a| a == "--name");
    let name = match named {
        Some(at) => {
            let name = args.remove(at + 1);
            args.remove(at);
            name
        }
        None => project.default_name(),
    };
    // The project folder, where sessions start, as a dev container has its workspace: unless the
    // configuration mounts it (or a folder above it) already.
    let workspace = !container::mounts(&args, &project.folder);
    let target = project.workspace(&name);
    if workspace {
        let at = image_at(&args);
        let source = project.folder.display().to_string();
        args.splice(
            at..at,
            ["--volume".to_owned(), format!("{source}:{target}"), "--workdir".to_owned(), target.clone()],
        );
    }
    let image_at = image_at(&args);
    let hash = container::run_hash(&args[1..image_at]);
    let labels = [
        ("--detach".to_owned(), None),
        ("--name".to_owned(), Some(name.clone())),
        ("--label".to_owned(), Some(format!("{}={}", container::LABEL_PROJECT, project.folder.display()))),
        (
            "--label".to_owned(),
            Some(format!("{}={}", container::LABEL_WORKTREE, project.worktree().display())),
        ),
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
    // The tag names the render; its labels also say the base images it was built from. (Its id
    // changes with every build on the containerd store, whose attestations carry the build's
    // time: images without quarry's labels are compared by id.)
    let image_id = container::image_id(docker, &prepared.tag).unwrap_or_default();
    let labels = quarry_docker::current::labels(docker, &prepared.tag);
    let same_image = |e: &container::Existing| {
        e.image == prepared.tag
            && if labels.0.is_empty() || labels.1.is_empty() {
                e.image_id == image_id
            } else {
                e.render == labels
            }
    };
    match project.existing(docker) {
        Some(e) if same_image(&e) && e.run == hash && e.name == name && !up.recreate => {
            if !e.running {
                docker_ok(docker, &["start", &name])?;
                ui::note(&format!("started `{name}`"));
            } else {
                ui::note(&format!("`{name}` runs the current image with the current settings"));
            }
        }
        Some(e) => {
            let image = !same_image(&e);
            let settings = e.run != hash || e.name != name;
            let what = match (image, settings) {
                (true, true) => Some("the image and the run-time settings"),
                (true, false) => Some("the image"),
                (false, true) => {
                    Some("the run-time settings (mounts, devices, GPUs, environment, ports, network, name)")
                }
                (false, false) => None,
            };
            if let Some(what) = what {
                ui::note(&format!("{what} changed since `{}` was made", e.name));
                if !up.replace && !up.recreate && !confirm(&format!("replace `{}`?", e.name))? {
                    anyhow::bail!(Hinted::new(
                        format!("`{}` was left as it is: {what} changed since it was made", e.name),
                        "`quarry up --replace` replaces it (what is inside it but in mounted folders is lost)",
                    ));
                }
            }
            let open = if e.running { container::sessions(docker, &e.name) } else { 0 };
            if open > 0 && !up.force {
                anyhow::bail!(Hinted::new(
                    format!("{open} session(s) are open in `{}`: it was not replaced", e.name),
                    "leave them and run `quarry up --replace` again, or add `--force` to replace it anyway",
                ));
            }
            docker_ok(docker, &["rm", "--force", &e.id])?;
            ui::note(&format!("removed `{}`", e.name));
            create(docker, &args, &name)?;
        }
        None => create(docker, &args, &name)?,
    }
    // devcontainer.json's own workspaceMount and workspaceFolder stand for quarry's.
    let mut runtime: Vec<String> = args[at..image_at + (at - 1)].to_vec();
    if workspace {
        runtime.truncate(runtime.len() - 4);
    }
    let folder = Workspace { host: &project.folder, target: &target, mounted_by_quarry: workspace };
    write_devcontainer(&folder, &name, &prepared.tag, &runtime, prepared.rendered.final_user.as_deref());
    Ok(name)
}

fn create(docker: &str, args: &[String], name: &str) -> anyhow::Result<()> {
    ui::detail(&run::shell_line(docker, args));
    checked(docker, args, |err| {
        Hinted::new(
            format!("`docker run` of `{name}` failed: {err}"),
            "the same settings with `quarry run` show the container's own output",
        )
    })?;
    ui::note(&format!("`{name}` is up: `quarry enter` opens a session in it"));
    Ok(())
}

/// Runs `docker args`; when it fails, the error `failed` makes of its stderr.
fn checked<S: AsRef<std::ffi::OsStr>>(
    docker: &str,
    args: &[S],
    failed: impl Fn(&str) -> Hinted,
) -> anyhow::Result<()> {
    let out = std::process::Command::new(docker)
        .args(args)
        .output()
        .with_context(|| format!("cannot run `{docker}`"))?;
    if !out.status.success() {
        anyhow::bail!(failed(String::from_utf8_lossy(&out.stderr).trim()));
    }
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
    checked(docker, args, |err| {
        Hinted::new(
            format!("`docker {}` failed: {err}", args.join(" ")),
            "`quarry ps` shows the project's containers",
        )
    })
}

/// `quarry enter [COMMAND]`: the command's exit code.
pub(crate) fn enter_command(registry: &Registry, command: Vec<String>) -> anyhow::Result<u8> {
    let project = Project::find(registry)?;
    let docker = docker();
    let name = match project.existing(&docker) {
        Some(e) if e.running => e.name,
        Some(e) => {
            docker_ok(&docker, &["start", &e.name])?;
            e.name
        }
        None => up_container(registry, default_up())?,
    };
    enter(&docker, &name, command)
}

/// `quarry rockerc` without `--dry-run`: rockerc's persistent container. `up` (replacing the
/// container at once when what it was made with changed, as rockerc does, and anew with
/// `--force`), VS Code attached with `vsc`, then a session (the command, or a shell).
pub(crate) fn rockerc_session(
    registry: &Registry,
    up: args::Up,
    command: Vec<String>,
    vsc: bool,
) -> anyhow::Result<u8> {
    let name = up_container(registry, up)?;
    if vsc {
        attach_vscode(&docker(), &name);
    }
    enter(&docker(), &name, command)
}

/// VS Code attached to the running container `name` (its Dev Containers extension's
/// `attached-container` address), at the container's working folder.
fn attach_vscode(docker: &str, name: &str) {
    let out = std::process::Command::new(docker)
        .args(["container", "inspect", "--format", "{{.Config.WorkingDir}}", "--", name])
        .output();
    let folder = out
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|f| f.starts_with('/'))
        .unwrap_or_else(|| "/".to_owned());
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    let uri = format!("vscode-remote://attached-container+{hex}{folder}");
    ui::detail(&format!("code --folder-uri {uri}"));
    match std::process::Command::new("code").args(["--folder-uri", &uri]).status() {
        Ok(s) if s.success() => ui::note(&format!("VS Code is attached to `{name}`")),
        Ok(_) => ui::warning(&format!("VS Code could not attach to `{name}`")),
        Err(_) => ui::warning(
            "`code` is not on PATH: VS Code was not attached (open the folder and \"Reopen in Container\": `.devcontainer/devcontainer.json` names this container's image and settings)",
        ),
    }
}

/// A session in the running container `name`: through quarry's entrypoint, so the environment is
/// `docker run`'s, which `docker exec` alone skips.
fn enter(docker: &str, name: &str, command: Vec<String>) -> anyhow::Result<u8> {
    let mut args: Vec<String> = vec!["exec".into()];
    if std::io::stdin().is_terminal() {
        args.extend(["--interactive".into(), "--tty".into()]);
    }
    if let Ok(term) = std::env::var("TERM") {
        args.extend(["--env".into(), format!("TERM={term}")]);
    }
    args.push(name.to_owned());
    args.push(quarry_core::ENTRYPOINT_PATH.to_owned());
    if command.is_empty() {
        args.push("bash".into());
    } else {
        args.extend(command);
    }
    ui::detail(&run::shell_line(docker, &args));
    let status = std::process::Command::new(docker)
        .args(&args)
        .status()
        .with_context(|| format!("cannot run `{docker}`"))?;
    Ok(status.code().map_or(crate::exit::FAILURE, |c| u8::try_from(c).unwrap_or(crate::exit::FAILURE)))
}

/// `quarry stop`.
pub(crate) fn stop_command(registry: &Registry) -> anyhow::Result<()> {
    let project = Project::find(registry)?;
    match project.existing(&docker()) {
        Some(e) if e.running => {
            docker_ok(&docker(), &["stop", "--time", "2", &e.name])?;
            ui::note(&format!("stopped `{}`", e.name));
        }
        Some(e) => ui::note(&format!("`{}` is not running", e.name)),
        None => ui::note(&format!("this project has no container (`{}`)", project.folder.display())),
    }
    Ok(())
}

/// `quarry down`: removes the container alone (no volume, no file).
pub(crate) fn down_command(registry: &Registry) -> anyhow::Result<()> {
    let project = Project::find(registry)?;
    match project.existing(&docker()) {
        Some(e) => {
            docker_ok(&docker(), &["rm", "--force", &e.id])?;
            ui::note(&format!("removed `{}`; volumes and the project's files are as they were", e.name));
        }
        None => ui::note(&format!("this project has no container (`{}`)", project.folder.display())),
    }
    Ok(())
}

/// `quarry ps`: this project's containers, and whether each runs the image the project renders
/// now.
pub(crate) fn ps_command(registry: &Registry) -> anyhow::Result<()> {
    let project = Project::find(registry)?;
    let current = current_tag(registry).ok();
    let labels = current.as_ref().map(|tag| quarry_docker::current::labels(&docker(), tag));
    let mut out = String::from("NAME                                      STATE      CURRENT  IMAGE\n");
    for e in container::list(&docker(), Some(&project.folder)) {
        let now = match &current {
            Some(tag) if *tag == e.image && labels.as_ref() == Some(&e.render) => "yes",
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
    crate::configured::configure(registry, &mut request, false, None)?;
    let mut podman = false;
    if let Ok(engine) = quarry_docker::engine::detect(&docker()) {
        request.engine = engine.level();
        request.image_config = quarry_docker::engine::image_config(&docker(), &request.image);
        podman = engine.is_podman();
    }
    let mut rendered = quarry_core::render(registry, &request)?;
    if podman {
        // As `build` gives it to Buildah.
        rendered.dockerfile = quarry_docker::buildah::adapt_dockerfile(&rendered.dockerfile);
    }
    Ok(quarry_docker::context::default_tag(&rendered))
}

/// The marker of a devcontainer.json quarry wrote: it is replaced; any other is left alone.
const GENERATED: &str = "// Written by quarry";

/// Where the project folder is in the container.
pub(crate) struct Workspace<'a> {
    /// The folder on the host.
    pub host: &'a Path,
    /// Its path in the container.
    pub target: &'a str,
    /// quarry mounts it (else the configuration's own mount, in the run arguments, does).
    pub mounted_by_quarry: bool,
}

/// `.devcontainer/devcontainer.json`, for VS Code's Dev Containers and the devcontainer CLI: the
/// image quarry built, its user, and `docker run`'s settings, kept current by `quarry up`. A file
/// that quarry did not write is left alone, with a note.
fn write_devcontainer(
    workspace: &Workspace,
    name: &str,
    image: &str,
    run_args: &[String],
    user: Option<&str>,
) {
    let path = workspace.host.join(".devcontainer").join("devcontainer.json");
    if let Ok(old) = std::fs::read_to_string(&path)
        && !old.starts_with(GENERATED)
    {
        ui::note(&format!("`{}` is not quarry's: it was left as it is", path.display()));
        return;
    }
    let text = devcontainer_json(workspace, name, image, run_args, user);
    let written = std::fs::create_dir_all(path.parent().expect("a folder"))
        .map_err(anyhow::Error::from)
        .and_then(|()| output::write_atomically(&path, text.as_bytes()));
    if let Err(e) = written {
        ui::note(&format!("cannot write `{}`: {e:#}", path.display()));
    }
}

/// The text of the devcontainer.json (JSON with a comment, which the format allows).
pub(crate) fn devcontainer_json(
    workspace: &Workspace,
    name: &str,
    image: &str,
    run_args: &[String],
    user: Option<&str>,
) -> String {
    let mut config = serde_json::json!({
        "name": name,
        "image": image,
        "runArgs": run_args,
        "workspaceFolder": workspace.target,
        "overrideCommand": true,
    });
    // The configuration's own mount of the folder (or of one above it) is in runArgs: an empty
    // workspaceMount keeps the folder from being mounted twice.
    config["workspaceMount"] = serde_json::Value::String(if workspace.mounted_by_quarry {
        format!("source={},target={},type=bind", workspace.host.display(), workspace.target)
    } else {
        String::new()
    });
    if let Some(u) = user {
        config["remoteUser"] = serde_json::Value::String(u.to_owned());
        config["containerUser"] = serde_json::Value::String(u.to_owned());
    }
    format!(
        "{GENERATED} from this project's configuration: `quarry up` rewrites it. Edit quarry.toml, not this file.\n{}\n",
        serde_json::to_string_pretty(&config).expect("JSON")
    )
}
