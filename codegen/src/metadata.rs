//! Parsing and validation of `extension.toml` into core's model, collecting every mistake with
//! its location: a walk over `quarry_core::schema` (`walk.rs`), every plain key set on its field
//! by name (`walker.rs`), and the checks the schema cannot state (`options.rs`, `sections.rs`,
//! `downloads.rs`, and `templates.rs` for every template).

use std::collections::BTreeSet;

use quarry_core::template::Slot;
use quarry_core::{Extension, Shell, Template, rules, schema};
use toml::de::DeTable;

mod downloads;
mod options;
mod sections;
mod templates;
mod walk;
mod walker;

use walker::{Walker, slice, text, texts};

use crate::Input;
use crate::diagnostic::Diagnostic;

/// The most TOML syntax errors reported one by one.
const MAX_SYNTAX_ERRORS: usize = 10;

/// Parses `input` into the extension it describes, registered by `origin` (the crate's name, or
/// the project's entry for it), returning every diagnostic found.
pub fn parse(input: &Input<'_>, origin: &str) -> Result<Extension, Vec<Diagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(input.text);
    let mut w = Walker { input, diagnostics: Vec::new(), depends_on: Vec::new() };
    // An unterminated string makes every later line an error: the first few say where, and
    // finding the line of each costs a scan of the text.
    let shown = errors.len().min(MAX_SYNTAX_ERRORS);
    for e in &errors[..shown] {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        w.error(offset, "", "toml-syntax", e.message().trim().to_owned());
    }
    if errors.len() > shown {
        let offset = errors[shown].span().map(|s| s.start).unwrap_or(0);
        w.error(
            offset,
            "",
            "toml-syntax",
            format!("and {} more syntax errors after this place, left out", errors.len() - shown),
        );
    }
    if !w.diagnostics.is_empty() {
        return Err(w.finish());
    }
    let root = root.get_ref();
    // Keys, types, requirements and value checks, all from the one schema.
    w.check_table(root, &schema::EXTENSION, "", 0);

    let name = w.string(root, "", "name", true);
    let name_ok = name.as_deref().is_some_and(rules::is_snake_case);
    let name = name.unwrap_or_default();
    let description = w.string(root, "", "description", true).unwrap_or_default();
    if description.trim().is_empty()
        && let Some(v) = root.get("description")
    {
        w.error(v.span().start, "description", "required", "must not be empty".to_owned());
    }

    let depends_on = w.string_array(root, "", "depends_on");
    w.depends_on = depends_on.clone();
    if let Some(Some(list)) = root.get("depends_on").map(|v| v.get_ref().as_array()) {
        let mut seen = BTreeSet::new();
        for (dep, item) in depends_on.iter().zip(list.iter()) {
            let at = item.span().start;
            if name_ok && *dep == name {
                w.error(
                    at,
                    "depends_on",
                    "self-dependency",
                    format!("`{dep}` is this extension itself: an extension cannot depend on itself"),
                );
            } else if rules::is_snake_case(dep) && !seen.insert(dep.clone()) {
                w.error(at, "depends_on", "duplicate", format!("`{dep}` is listed twice"));
            }
        }
    }

    let builder_base_image = w.string(root, "", "builder_base_image", false);
    if let (Some(_), Some(v)) = (&builder_base_image, root.get("builder_base_image")) {
        w.check(
            root.contains_key("builder"),
            v.span().start,
            "builder_base_image",
            "builder-required",
            || "is set but there is no `[builder]` table: only builders have a base image".to_owned(),
        );
    }

    // Options come before templates: templates are checked against them.
    let options = w.options(root, &name);
    // List options are for `[run]` entries only: every other template sees the single ones.
    let option_names: Vec<&str> = options.iter().filter(|o| !o.multiple).map(|o| o.name).collect();
    let all_option_names: Vec<&str> = options.iter().map(|o| o.name).collect();
    let list_names: Vec<&str> = options.iter().filter(|o| o.multiple).map(|o| o.name).collect();
    let apt_packages = w.packages(root, "", "apt_packages", &name, &options);

    let apt_repositories = w.repositories(root, &name, &options, &option_names);
    let supported_images_by = w.images_by(root, &options);
    let aliases = w.aliases(root, &name, &options);
    let project_files = w.project_files(root, &options);
    let builder = w.builder(root, &name, &options, &option_names);
    let setup = w.template_key(root, "", "setup", Slot::Setup, &name, &options, &option_names);
    let setup_after_copies = w.boolean(root, "", "setup_after_copies", false);
    if setup_after_copies && setup.is_none() && !root.contains_key("setup") {
        let at = root.get("setup_after_copies").map(|v| v.span().start).unwrap_or(0);
        w.error(at, "setup_after_copies", "setup-required", "is set but there is no `setup`".to_owned());
    }
    let setup_as_user = w.boolean(root, "", "setup_as_user", false);
    if setup_as_user && setup.is_none() && !root.contains_key("setup") {
        let at = root.get("setup_as_user").map(|v| v.span().start).unwrap_or(0);
        w.error(at, "setup_as_user", "setup-required", "is set but there is no `setup`".to_owned());
    }
    let env = w.string_array(root, "", "env");
    if let Some(Some(list)) = root.get("env").map(|v| v.get_ref().as_array()) {
        for (entry, item) in env.iter().zip(list.iter()) {
            let at = item.span().start;
            if rules::is_templated(entry) {
                if w.template_value(entry, at, "env", &option_names)
                    && let Some(rendered) = w.render_with_defaults(&name, entry, &options)
                {
                    w.check(rules::is_env_entry(&rendered), at, "env", "env-entry", || {
                        format!("{entry:?} renders to {rendered:?} with the default options, which is not NAME=value without white space, quotes or `\\`")
                    });
                }
            } else {
                w.check(rules::is_env_entry(entry), at, "env", "env-entry", || {
                    format!("{entry:?} is not NAME=value without white space, quotes or `\\` (`$PATH` expansions are fine)")
                });
            }
        }
    }
    let shell = match w.table(root, "", "shell") {
        None => Shell::EMPTY,
        Some(t) => {
            let mut part = |key: &'static str, file: &'static str| {
                let source = w.string(t, "shell", key, false)?;
                let at = t.get(key).map(|v| v.span().start).unwrap_or(0);
                w.template_value(&source, at, &format!("shell.{key}"), &option_names)
                    .then(|| Template { file, source: text(&source) })
            };
            let mut shell = Shell {
                init: part("init", "shell.init"),
                interactive: part("interactive", "shell.interactive"),
            };
            w.plain(t, &schema::SHELL, "shell", &mut shell);
            shell
        }
    };
    let final_user = w.string(root, "", "final_user", false);
    if let (Some(user), Some(v)) = (&final_user, root.get("final_user")) {
        w.template_value(user, v.span().start, "final_user", &option_names);
    }
    let workdir =
        w.user_path(root, "workdir", "folder", final_user.is_some(), &name, &options, &option_names);
    let home = w.user_path(root, "home", "home", final_user.is_some(), &name, &options, &option_names);
    if setup_as_user && root.contains_key("final_user") {
        let at = root.get("setup_as_user").map(|v| v.span().start).unwrap_or(0);
        w.error(
            at,
            "setup_as_user",
            "setup-as-user",
            "is set on the extension that sets `final_user`: its setup makes the user, so it runs as root"
                .to_owned(),
        );
    }
    let files = w.files(root);
    let run = w.run(root, &all_option_names, &list_names);
    for d in &mut w.diagnostics {
        let list = list_names.iter().find(|l| {
            d.rule == "template-variable" && d.message.starts_with(&format!("the template uses `options.{l}"))
        });
        if let Some(l) = list {
            d.rule = "list-option";
            d.message = format!(
                "`options.{l}` is a list option (`multiple = true`): only `[run]` entries may use it, rendered once per value"
            );
        }
    }

    let mut extension = Extension {
        name: text(&name),
        crate_name: text(origin),
        description: text(&description),
        depends_on: texts(depends_on),
        builder_base_image: builder_base_image.as_deref().map(text),
        apt_packages: texts(apt_packages),
        apt_repositories: slice(apt_repositories),
        builder,
        setup,
        setup_after_copies,
        setup_as_user,
        env: texts(env),
        shell,
        final_user: final_user.as_deref().map(text),
        workdir: workdir.as_deref().map(text),
        home: home.as_deref().map(text),
        supported_images_by: slice(supported_images_by),
        aliases: slice(aliases),
        project_files,
        options: slice(options),
        files: slice(files),
        run,
        ..Extension::EMPTY
    };
    // Every other plain key (`supported_images`, and any key added to the schema and the model).
    w.plain(root, &schema::EXTENSION, "", &mut extension);
    if !w.diagnostics.is_empty() {
        return Err(w.finish());
    }
    Ok(extension)
}

/// Every file `extension` names, relative to its folder: what `rerun-if-changed` watches.
pub fn referenced_files(extension: &Extension) -> Vec<String> {
    let mut files: BTreeSet<String> = BTreeSet::new();
    if let Some(b) = extension.builder.as_ref().filter(|b| b.template.file != sections::DOWNLOADS_ONLY) {
        files.insert(b.template.file.to_owned());
    }
    if let Some(t) = &extension.setup {
        files.insert(t.file.to_owned());
    }
    files.extend(extension.files.iter().map(|f| f.path.to_owned()));
    files.into_iter().collect()
}
