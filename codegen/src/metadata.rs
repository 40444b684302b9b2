//! Parsing and validation of `extension.toml`, collecting every mistake with its location: a
//! walk over `quarry_core::schema` (`walk.rs`) and the checks the schema cannot state
//! (`options.rs`, `sections.rs`, `downloads.rs`, and `templates.rs` for every template).

use std::collections::BTreeSet;

use quarry_core::rules;
use quarry_core::schema;
use quarry_core::template::Slot;
use toml::de::{DeTable, DeValue};

mod downloads;
mod model;
mod options;
mod sections;
mod templates;
mod walk;

use templates::render_with_defaults;

use model::Walker;
pub use model::{DownloadMeta, FromMeta, Metadata, TemplateFile, VerifyMeta};

use crate::Input;
use crate::diagnostic::Diagnostic;

/// The most TOML syntax errors reported one by one.
const MAX_SYNTAX_ERRORS: usize = 10;

/// Parses `input`, returning every diagnostic found.
pub fn parse(input: &Input<'_>) -> Result<Metadata, Vec<Diagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(input.text);
    let mut w = Walker { input, diagnostics: Vec::new() };
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

    let cache_priority = match root.get("cache_priority") {
        None => quarry_core::DEFAULT_CACHE_PRIORITY,
        Some(v) => match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(p) if (0..=i64::from(quarry_core::MAX_CACHE_PRIORITY)).contains(&p) => p as u8,
                _ => {
                    w.error(v.span().start, "cache_priority", "priority-range", format!("{} is out of range: use a whole number from 0 to 100 (high = changes rarely = emitted early)", &input.text[v.span()]));
                    quarry_core::DEFAULT_CACHE_PRIORITY
                }
            },
            // The schema's walk reports another type.
            _ => quarry_core::DEFAULT_CACHE_PRIORITY,
        },
    };

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

    let supported_images = w.string_array(root, "", "supported_images");

    // Options come before templates: templates are checked against them.
    let options = w.options(root, &name);
    // List options are for `[run]` entries only: every other template sees the single ones.
    let option_names: Vec<&str> = options.iter().filter(|o| !o.multiple).map(|o| o.name.as_str()).collect();
    let all_option_names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
    let list_names: Vec<&str> = options.iter().filter(|o| o.multiple).map(|o| o.name.as_str()).collect();
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
                    && let Some(rendered) = render_with_defaults(&name, entry, &options)
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
    let (shell_init, shell_interactive) = match w.table(root, "", "shell") {
        None => (None, None),
        Some(t) => {
            let mut part = |key: &str| {
                let text = w.string(t, "shell", key, false)?;
                let at = t.get(key).map(|v| v.span().start).unwrap_or(0);
                w.template_value(&text, at, &format!("shell.{key}"), &option_names).then_some(text)
            };
            (part("init"), part("interactive"))
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

    if !w.diagnostics.is_empty() {
        return Err(w.finish());
    }
    Ok(Metadata {
        name,
        description,
        depends_on,
        cache_priority,
        builder_base_image,
        apt_packages,
        apt_repositories,
        builder,
        setup,
        setup_after_copies,
        setup_as_user,
        env,
        shell_init,
        shell_interactive,
        final_user,
        workdir,
        home,
        supported_images,
        supported_images_by,
        aliases,
        project_files,
        options,
        files,
        run,
    })
}

impl Walker<'_> {}
