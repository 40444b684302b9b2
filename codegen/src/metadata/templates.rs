//! The template checks: template files and inline templates must parse, use only known
//! variables and, rendered with the options' defaults, hold only what their slot allows; package
//! entries may use options.

use quarry_core::rules;
use quarry_core::template::{self, Slot};

use quarry_core::{OptionSpec, Template};

use super::walker::*;
use crate::diagnostic::Diagnostic;

impl Walker<'_> {
    /// Package names; an entry may use `{{ options.<name> }}`, checked by rendering it with the
    /// options' defaults.
    pub(super) fn packages(
        &mut self,
        table: &Table<'_>,
        prefix: &str,
        key: &str,
        name: &str,
        options: &[OptionSpec],
    ) -> Vec<String> {
        let packages = self.string_array(table, prefix, key);
        let option_names: Vec<&str> = options.iter().filter(|o| !o.multiple).map(|o| o.name).collect();
        if let Some(Some(list)) = table.get(key).map(|v| v.get_ref().as_array()) {
            for (p, item) in packages.iter().zip(list.iter()) {
                let at = item.span().start;
                let key = join(prefix, key);
                if !p.contains("{{") {
                    self.check(rules::is_apt_package(p), at, &key, "apt-package", || {
                        format!("{p:?} is not a Debian package name ([a-z0-9][a-z0-9+.-]+)")
                    });
                    continue;
                }
                match template::unknown_variables(p, &option_names, &self.deps()) {
                    Err(e) => self.error(at, &key, "template-syntax", format!("{p:?} does not parse: {e}")),
                    Ok(unknown) if !unknown.is_empty() => {
                        for var in unknown {
                            self.error(at, &key, "template-variable", unknown_variable_message(&var));
                        }
                    }
                    Ok(_) => {
                        let ctx = template::context(
                            name,
                            &self.deps(),
                            options.iter().map(|o| (o.name, o.default, o.rule)),
                        );
                        let rendered = template::render("apt_packages", p, ctx).unwrap_or_default();
                        self.check(rules::is_apt_package(&rendered) && rules::is_templated_apt_package(p), at, &key, "apt-package", || {
                            format!("{p:?} renders to {rendered:?} with the default options, which is not a Debian package name")
                        });
                    }
                }
            }
        }
        packages
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn template_key(
        &mut self,
        table: &Table<'_>,
        prefix: &str,
        key: &str,
        slot: Slot,
        name: &str,
        options: &[OptionSpec],
        option_names: &[&str],
    ) -> Option<Template> {
        let file = self.string(table, prefix, key, false)?;
        let key_path = join(prefix, key);
        let at = table.get(key).map(|v| v.span().start).unwrap_or(0);
        if !rules::is_rel_path(&file) {
            self.error(
                at,
                &key_path,
                "missing-file",
                format!("{file:?} must be a path relative to the extension's folder"),
            );
            return None;
        }
        let bytes = match (self.input.load)(&file, crate::files::TEXT_LIMIT) {
            Ok(bytes) => bytes,
            Err(why) => {
                self.error(
                    at,
                    &key_path,
                    "missing-file",
                    format!("template file {why} (paths are relative to the extension's folder; links may not lead outside the project)"),
                );
                return None;
            }
        };
        let Ok(source) = String::from_utf8(bytes) else {
            self.error(at, &key_path, "missing-file", format!("template file `{file}` is not UTF-8"));
            return None;
        };
        let shown = template_path(self.input.path, &file);
        match template::unknown_variables(&source, option_names, &self.deps()) {
            Err(e) => {
                let offset = e
                    .range()
                    .map(|r| r.start)
                    .or_else(|| e.line().map(|l| line_offset(&source, l)))
                    .unwrap_or(0);
                let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
                self.diagnostics.push(Diagnostic::at(
                    &shown,
                    &source,
                    offset,
                    &key_path,
                    "template-syntax",
                    format!("the template does not parse: {detail}"),
                ));
                return None;
            }
            Ok(unknown) if !unknown.is_empty() => {
                for var in unknown {
                    let offset = find_in_expressions(&source, &var).unwrap_or(0);
                    self.diagnostics.push(Diagnostic::at(
                        &shown,
                        &source,
                        offset,
                        &key_path,
                        "template-variable",
                        unknown_variable_message(&var),
                    ));
                }
                return None;
            }
            Ok(_) => {}
        }
        // Render with the defaults: the output must be instructions this slot allows.
        if !name.is_empty() && options.iter().all(|o| o.required || o.rule.accepts(o.default)) {
            let ctx =
                template::context(name, &self.deps(), options.iter().map(|o| (o.name, o.default, o.rule)));
            match template::render(&format!("{name}/{file}"), &source, ctx) {
                Err(e) => {
                    let offset = e.line().map(|l| line_offset(&source, l)).unwrap_or(0);
                    self.diagnostics.push(Diagnostic::at(
                        &shown,
                        &source,
                        offset,
                        &key_path,
                        "template-render",
                        format!("rendering with the default options fails: {e}"),
                    ));
                }
                Ok(out) => {
                    if let Err(e) = template::check_snippet(slot, &out) {
                        let offset = find_source_line(&source, &e.text).unwrap_or(0);
                        self.diagnostics.push(Diagnostic::at(
                            &shown,
                            &source,
                            offset,
                            &key_path,
                            "template-output",
                            format!("rendered with the default options, {e}"),
                        ));
                    }
                }
            }
        }
        Some(Template { file: text(&file), source: text(&source) })
    }

    /// `workdir` or `home`: an inline template that renders to an absolute path with the default
    /// options, set only by the extension that sets `final_user`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn user_path(
        &mut self,
        root: &Table<'_>,
        key: &str,
        what: &str,
        has_user: bool,
        name: &str,
        options: &[OptionSpec],
        option_names: &[&str],
    ) -> Option<String> {
        let path = self.string(root, "", key, false)?;
        let at = root.get(key).map(|v| v.span().start).unwrap_or(0);
        if self.template_value(&path, at, key, option_names)
            && let Some(rendered) = self.render_with_defaults(name, &path, options)
        {
            self.check(rules::is_abs_path(&rendered), at, key, "abs-path", || {
                format!(
                    "{path:?} renders to {rendered:?} with the default options, which is not an absolute path"
                )
            });
        }
        self.check(has_user, at, key, "final-user-required", || {
            format!("is set but there is no `final_user`: the extension that sets the user sets its {what}")
        });
        Some(path)
    }

    /// `source` rendered with the options' defaults, when every default is valid.
    pub(super) fn render_with_defaults(
        &self,
        name: &str,
        source: &str,
        options: &[OptionSpec],
    ) -> Option<String> {
        self.render_with_defaults_keeping(name, source, options, &[])
    }

    /// `source` rendered with the options' defaults, when every default is valid, the variables
    /// of `kept` written back as they were (`template::keeping`).
    pub(super) fn render_with_defaults_keeping(
        &self,
        name: &str,
        source: &str,
        options: &[OptionSpec],
        kept: &[&str],
    ) -> Option<String> {
        if name.is_empty() || !options.iter().all(|o| o.required || o.rule.accepts(o.default)) {
            return None;
        }
        let ctx = template::context(name, &self.deps(), options.iter().map(|o| (o.name, o.default, o.rule)));
        template::render("value", source, template::keeping(ctx, kept)).ok().map(|s| s.trim().to_owned())
    }

    /// An inline template (`final_user`, `workdir`, an `env` entry, shell text): it must parse
    /// and use only known variables. Returns whether it does.
    pub(super) fn template_value(
        &mut self,
        source: &str,
        at: usize,
        key: &str,
        option_names: &[&str],
    ) -> bool {
        match template::unknown_variables(source, option_names, &self.deps()) {
            Err(e) => {
                self.error(at, key, "template-syntax", format!("{source:?} does not parse: {e}"));
                false
            }
            Ok(unknown) => {
                for var in &unknown {
                    self.error(at, key, "template-variable", unknown_variable_message(var));
                }
                unknown.is_empty()
            }
        }
    }
}

pub(super) fn unknown_variable_message(var: &str) -> String {
    if let Some(dep) = var.strip_prefix("deps.") {
        let (dep, _) = dep.split_once('.').unwrap_or((dep, ""));
        format!(
            "the template uses `{var}`: a template knows only `deps.<name>.{}` of the extensions in `depends_on`, and `{dep}` is not one of them (or has no such value)",
            template::DEP_VARIABLES.join("`, `deps.<name>.")
        )
    } else if let Some(option) = var.strip_prefix("options.") {
        format!(
            "the template uses `{var}`, but there is no option `{}`: declare it under `[options]`",
            option.split('.').next().unwrap_or(option)
        )
    } else {
        format!(
            "the template uses the variable `{var}`, which does not exist: templates may use {}, {} and options.<name>",
            template::VARIABLES.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "),
            template::FUNCTIONS.iter().map(|v| format!("`{v}()`")).collect::<Vec<_>>().join(", "),
        )
    }
}

/// Where `var` (`image`, `options.versoin`) is used inside a `{{ }}` or `{% %}` block of
/// `source`: the first whole-word occurrence of the name.
pub(super) fn find_in_expressions(source: &str, var: &str) -> Option<usize> {
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(start) = source[at..].find(['{']).map(|i| at + i) {
        let open = &source[start..];
        let close = if open.starts_with("{{") {
            "}}"
        } else if open.starts_with("{%") {
            "%}"
        } else {
            at = start + 1;
            continue;
        };
        let end = source[start + 2..].find(close).map_or(source.len(), |i| start + 2 + i);
        blocks.push(start + 2..end);
        at = end;
    }
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    for block in &blocks {
        let text = &source[block.clone()];
        for (i, _) in text.match_indices(var) {
            let before = text[..i].chars().next_back();
            let after = text[i + var.len()..].chars().next();
            if !before.is_some_and(is_word) && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Some(block.start + i);
            }
        }
    }
    None
}

/// Where a rendered line came from: the template line equal to it, else the first line that starts
/// with the same instruction word.
pub(super) fn find_source_line(source: &str, rendered: &str) -> Option<usize> {
    let mut offset = 0;
    let word = rendered.split_whitespace().next()?;
    let mut first_word_match = None;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed == rendered {
            return Some(offset + line.len() - line.trim_start().len());
        }
        if first_word_match.is_none() && trimmed.split_whitespace().next() == Some(word) {
            first_word_match = Some(offset + line.len() - line.trim_start().len());
        }
        offset += line.len();
    }
    first_word_match
}

/// Byte offset of the start of 1-based `line`.
pub(super) fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum()
}

/// The template's path for diagnostics: next to the metadata file.
pub(super) fn template_path(metadata_path: &str, file: &str) -> String {
    match metadata_path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{file}"),
        None => file.to_owned(),
    }
}
