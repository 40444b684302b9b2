//! The commands that render, read or write files without an engine: `render`, `list`, `show`,
//! `lock`, `show-config`, `import`, `completions` and `man`.

use anyhow::Context;
use quarry_core::{Hinted, Registry, Request};

use crate::configured::{configure, render_request};
use crate::{args, describe, explain, host, import_deps, lock, output, project, ui};

pub(crate) fn render_command(registry: &Registry, render: &args::Render) -> anyhow::Result<()> {
    let mut request = render.request.clone();
    let configured = configure(registry, &mut request, render.locked, None)?;
    let rendered = render_request(registry, &request)?;
    if request.image_config.is_none() {
        ui::detail(
            "the final image's own ENTRYPOINT and CMD are not known here: quarry's entrypoint assumes none \
             (`quarry build` reads them from the engine and records them in quarry.lock)",
        );
    }
    // The Dockerfile first: a lock is never written for a render that failed.
    let lock = configured.check_lock(registry, &request, false)?;
    let context = match &render.output {
        Some(path) => output::write_render(path, rendered.dockerfile.as_bytes(), &rendered.files)
            .with_context(|| format!("cannot write `{}`", path.display()))?,
        None => {
            output::stdout(rendered.dockerfile.as_bytes())?;
            None
        }
    };
    match context {
        Some(context) => ui::note(&format!(
            "wrote the files the Dockerfile copies to `{}`: build with `docker build {}`",
            context.display(),
            context.parent().map_or(".".into(), |d| if d.as_os_str().is_empty() {
                ".".into()
            } else {
                d.display().to_string()
            })
        )),
        None if !rendered.files.is_empty() => ui::note(&format!(
            "the Dockerfile copies files from `{}/` of its build context, which only `-o FILE` writes (beside FILE)",
            quarry_core::CONTEXT_DIR
        )),
        None => {}
    }
    configured.write_lock_or_note(lock, &rendered);
    Ok(())
}

pub(crate) fn list_command(registry: &Registry, format: args::Format) -> anyhow::Result<()> {
    if format == args::Format::Json {
        let all: Vec<serde_json::Value> = registry.iter().map(describe::json).collect();
        return output::stdout(format!("{}\n", serde_json::to_string_pretty(&all)?).as_bytes());
    }
    let all: Vec<&quarry_core::Extension> = registry.iter().collect();
    output::stdout(describe::list(&all).as_bytes())
}

pub(crate) fn show_command(registry: &Registry, name: &str, format: args::Format) -> anyhow::Result<()> {
    let Some(ext) = registry.get(name) else {
        return Err(quarry_core::Error::UnknownExtension {
            name: name.to_owned(),
            suggestion: registry.suggest(name).map(str::to_owned),
        }
        .into());
    };
    let text = match format {
        args::Format::Json => format!("{}\n", serde_json::to_string_pretty(&describe::json(ext))?),
        args::Format::Text => describe::text(ext),
    };
    output::stdout(text.as_bytes())
}

/// `quarry show-config`: the files that apply, in merge order, as comments, then the merged
/// configuration as TOML.
/// `quarry lock [--reorder]`.
pub(crate) fn lock_command(registry: &Registry, reorder: bool) -> anyhow::Result<()> {
    let mut request = Request { host: host::values(), ..Request::default() };
    let configured = configure(registry, &mut request, false, None)?;
    if !configured.has_project() {
        anyhow::bail!(Hinted::new(
            "there is no quarry.toml here or in a parent folder, so there is no lock",
            "`quarry init` writes one",
        ));
    }
    let current = render_request(registry, &request)?;
    let rendered = if reorder {
        let canonical_request = Request { locked_order: None, ..request.clone() };
        let canonical = quarry_core::render(registry, &canonical_request)?;
        if canonical.dockerfile == current.dockerfile {
            ui::note("the chain is already in the canonical order");
        } else {
            let order: Vec<&str> = canonical.resolved.extensions.iter().map(|r| r.extension.name).collect();
            let cost =
                explain::compare_rendered(&current, &canonical, quarry_buildkit::explain::Store::Containerd)?;
            let rerun: Vec<String> = cost
                .steps
                .iter()
                .filter(|s| !s.reused && !s.linked_copy_cached)
                .map(|s| {
                    let first = s.text.lines().next().unwrap_or_default().trim_end_matches(['\\', ' ']);
                    format!("  [{} {}/{}] {first}", s.stage, s.position, s.stage_steps)
                })
                .collect();
            let merges = cost.reused_counting_linked_copies - cost.reused;
            output::stdout(
                format!(
                    "canonical order: {}\nthe next build runs {} of {} steps again, and merges {merges} linked copies again (containerd image store):\n{}\n",
                    order.join(", "),
                    rerun.len(),
                    cost.total,
                    rerun.join("\n")
                )
                .as_bytes(),
            )?;
        }
        request.locked_order = None;
        canonical
    } else {
        current
    };
    let lock = configured.check_lock(registry, &request, reorder)?;
    match &lock {
        Some(lock) => configured.write_lock(lock)?,
        None => ui::note("quarry.lock is up to date"),
    }
    configured.remember_order(lock.as_ref(), &rendered);
    Ok(())
}

pub(crate) fn show_config_command(registry: &Registry) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let layers = crate::layers::Layers::load(registry, &cwd)?;
    let mut out =
        String::from("# Files that apply, lowest precedence first (the command line wins over all):\n");
    let applied = layers.applied();
    if applied.is_empty() {
        out.push_str("#   none\n");
    }
    for (role, loaded) in &applied {
        out.push_str(&format!("#   {role:<8} {}\n", ui::quoted(&loaded.path.display().to_string())));
    }
    if let Some(project) = &layers.project {
        let lock = lock::path_for(&project.path);
        if lock.is_file() {
            layers.check_owner(&lock)?;
            out.push_str(&format!("#   {:<8} {}\n", "lock", ui::quoted(&lock.display().to_string())));
        }
    }
    let safe = layers.safe_directories();
    if !safe.is_empty() {
        let listed: Vec<String> = safe.iter().map(|d| ui::quoted(d)).collect();
        out.push_str(&format!("# Safe directories: {}\n", listed.join(", ")));
    }
    out.push_str("\n# The merged configuration:\n");
    out.push_str(&layers.effective().to_string());
    output::stdout(out.as_bytes())
}

pub(crate) fn import_command(
    registry: &Registry,
    file: &std::path::Path,
    out: &std::path::Path,
    force: bool,
) -> anyhow::Result<()> {
    let yaml = project::read_input(file, None)?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // The new quarry.toml's folder: `deps` finds the deps files below it.
    let project = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let imported = if name.ends_with(".deps.yaml") || name == "deps.yaml" {
        project::import_deps(registry, &deps_pattern(file, project)?, project)?
    } else {
        project::import_rockerc_in(registry, &yaml, &file.display().to_string(), Some(project))?
    };
    project::write_new(out, &imported.toml, force)?;
    for s in &imported.skipped {
        ui::warning(&format!("not converted: {s}"));
    }
    for w in &imported.warnings {
        ui::warning_with_hint(w);
    }
    ui::note(&format!("wrote `{}`", out.display()));
    Ok(())
}

/// The pattern of quarry.toml's `deps` that names the deps file `file` from `project`: its path
/// below the project.
fn deps_pattern(file: &std::path::Path, project: &std::path::Path) -> anyhow::Result<String> {
    let outside = || {
        Hinted::new(
            format!(
                "`{}` is not below the folder of the new quarry.toml, `{}`",
                file.display(),
                project.display()
            ),
            "write quarry.toml in the project, above the deps file (`-o`): `deps` reads the file where it is",
        )
    };
    let (Ok(file_real), Ok(project_real)) = (file.canonicalize(), project.canonicalize()) else {
        anyhow::bail!(outside());
    };
    let rel = file_real.strip_prefix(&project_real).map_err(|_| outside())?;
    let rel: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    let pattern = rel.join("/");
    if let Err(why) = import_deps::check_pattern(&pattern) {
        anyhow::bail!(Hinted::new(
            format!("`{pattern}` cannot be a `deps` pattern: {why}"),
            "rename the file"
        ));
    }
    Ok(pattern)
}

pub(crate) fn completions(registry: &Registry, shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = args::command_for_completions(registry).map_err(|e| anyhow::anyhow!(e))?;
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command, "quarry", &mut buf);
    output::stdout(&buf)
}

/// quarry(1), or the page of one command, `quarry-render(1)`, which quarry(1) refers to.
pub(crate) fn man_page(registry: &Registry, name: Option<&str>) -> anyhow::Result<()> {
    let command = args::command_for_completions(registry).map_err(|e| anyhow::anyhow!(e))?;
    let command = match name {
        None => command,
        Some(name) => {
            let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            let Some(sub) = command.find_subcommand(name) else {
                let hint = quarry_core::suggest_closest(name, names.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                anyhow::bail!(Hinted::new(
                    format!("there is no command `{name}`"),
                    format!("{hint}the commands are {}", names.join(", ")),
                ));
            };
            sub.clone()
                .name(format!("quarry-{name}"))
                .version(command.get_version().unwrap_or_default().to_owned())
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(command).render(&mut buf)?;
    output::stdout(&buf)
}
