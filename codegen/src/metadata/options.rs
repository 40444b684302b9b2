//! `[options.<option>]`: each option's rule (`rule` or `one_of`), default, host value, list form
//! and aliases, checked against each other; and what names option values from elsewhere:
//! `[supported_images_by]` and the extension's `[aliases]`.

use quarry_core::rules::{self, Rule};
use quarry_core::{Alias, HostValue, ImagesOfValue, OptionSpec, OptionValue, ProjectFiles, schema};
use toml::de::DeValue;

use super::walker::*;

impl Walker<'_> {
    pub(super) fn options(&mut self, root: &Table<'_>, extension: &str) -> Vec<OptionSpec> {
        let self_flag = extension.replace('_', "-");
        let Some(options) = self.table(root, "", "options") else { return Vec::new() };
        let mut out = Vec::new();
        for (key, value) in options.iter() {
            let name: &str = key.get_ref();
            let prefix = format!("options.{name}");
            if !rules::is_snake_case(name) {
                self.error(
                    key.span().start,
                    &prefix,
                    "snake-case-name",
                    format!("option name {name:?} is not snake_case"),
                );
            }
            let DeValue::Table(t) = value.get_ref() else {
                self.type_error(value, &prefix, "a table", value.get_ref());
                continue;
            };
            let description = self.string(t, &prefix, "description", false).unwrap_or_default();
            if description.is_empty() && t.contains_key("description") {
                self.error(
                    key.span().start,
                    &join(&prefix, "description"),
                    "required",
                    format!("option `{name}` needs a `description`"),
                );
            }
            let default = self.string(t, &prefix, "default", false);
            let rule = match (t.get("rule"), t.get("one_of")) {
                (Some(_), Some(v)) => {
                    self.error(
                        v.span().start,
                        &join(&prefix, "one_of"),
                        "rule",
                        "give either `rule` or `one_of`, not both".to_owned(),
                    );
                    None
                }
                (None, None) => {
                    self.error(key.span().start, &prefix, "rule", format!("option `{name}` needs a validation rule: `rule = \"...\"` ({}) or `one_of = [...]`", rule_names().collect::<Vec<_>>().join(", ")));
                    None
                }
                (Some(v), None) => {
                    let r = self.string(t, &prefix, "rule", false).unwrap_or_default();
                    let rule = Rule::from_key(&r);
                    if rule.is_none() {
                        let hint = quarry_core::suggest_closest(&r, rule_names())
                            .map(|s| format!("did you mean `{s}`?"))
                            .unwrap_or_else(|| {
                                format!("known rules: {}", rule_names().collect::<Vec<_>>().join(", "))
                            });
                        self.error(
                            v.span().start,
                            &join(&prefix, "rule"),
                            "rule",
                            format!("unknown rule {r:?}; {hint}"),
                        );
                    }
                    rule
                }
                (None, Some(v)) => {
                    let values = self.string_array(t, &prefix, "one_of");
                    let mut ok = !values.is_empty();
                    if values.is_empty() {
                        self.error(
                            v.span().start,
                            &join(&prefix, "one_of"),
                            "rule",
                            "`one_of` needs at least one value".to_owned(),
                        );
                    }
                    for value in &values {
                        if !(rules::is_version(value) || rules::is_identifier(value)) {
                            ok = false;
                            self.error(
                                v.span().start,
                                &join(&prefix, "one_of"),
                                "rule",
                                format!(
                                    "{value:?} cannot be a value: use letters, digits, `.`, `_`, `-`, `+`"
                                ),
                            );
                        }
                    }
                    ok.then(|| Rule::OneOf(texts(values)))
                }
            };
            let required = self.boolean(t, &prefix, "required", false);
            let multiple = self.boolean(t, &prefix, "multiple", false);
            let aliases = self.string_array(t, &prefix, "aliases");
            let alias_at = t.get("aliases").map(|v| v.span().start).unwrap_or(key.span().start);
            for alias in &aliases {
                if *alias == self_flag && !required && multiple {
                    self.error(
                        alias_at,
                        &join(&prefix, "aliases"),
                        "flag-name",
                        format!("`--{alias}` is the extension's own flag: a list option may take it over only when `required` (else `--{alias}` alone could not select the extension with the default)"),
                    );
                }
            }
            let from_host = match self.string(t, &prefix, "from_host", false) {
                None => None,
                Some(h) => match HostValue::from_key(&h) {
                    Some(host) => Some(host),
                    None => {
                        let at = t.get("from_host").map(|v| v.span().start).unwrap_or(key.span().start);
                        self.error(
                            at,
                            &join(&prefix, "from_host"),
                            "host-value",
                            format!(
                                "unknown host value {h:?}: use one of {}",
                                HostValue::KEYS
                                    .iter()
                                    .map(|v| format!("`{v}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        None
                    }
                },
            };
            let default = match (default, required) {
                (Some(_), true) => {
                    let at = t.get("default").map(|v| v.span().start).unwrap_or(key.span().start);
                    self.error(
                        at,
                        &join(&prefix, "default"),
                        "required",
                        format!("option `{name}` is `required`: it takes no `default`"),
                    );
                    String::new()
                }
                (None, true) => String::new(),
                (Some(d), false) => d,
                (None, false) => {
                    self.error(
                        key.span().start,
                        &join(&prefix, "default"),
                        "required",
                        format!("option `{name}` needs a `default` (or `required = true`)"),
                    );
                    continue;
                }
            };
            if let Some(rule) = rule {
                if !required && !rule.accepts(&default) {
                    let at = t.get("default").map(|v| v.span().start).unwrap_or(key.span().start);
                    self.error(
                        at,
                        &join(&prefix, "default"),
                        "option-default",
                        format!(
                            "the default {default:?} fails the option's own rule: expected {}",
                            rule.expectation()
                        ),
                    );
                }
                let mut option = OptionSpec {
                    name: text(name),
                    description: text(&description),
                    default: text(&default),
                    rule,
                    required,
                    from_host,
                    multiple,
                    aliases: texts(aliases),
                };
                self.plain(t, &schema::OPTION, &prefix, &mut option);
                out.push(option);
            }
        }
        out
    }
}

impl Walker<'_> {
    /// `[supported_images_by.<option>]`: value to images, for single-value options of the
    /// extension, each value passing the option's rule.
    pub(super) fn images_by(&mut self, root: &Table<'_>, options: &[OptionSpec]) -> Vec<ImagesOfValue> {
        let mut out = Vec::new();
        let Some(table) = self.table(root, "", "supported_images_by") else { return out };
        for (option, values) in table.iter() {
            let option: &str = option.get_ref();
            let prefix = format!("supported_images_by.{option}");
            let Some(spec) =
                self.named_option(options, option, values.span().start, &prefix, "option-images")
            else {
                continue;
            };
            let DeValue::Table(values) = values.get_ref() else {
                self.type_error(values, &prefix, "a table of values to images", values.get_ref());
                continue;
            };
            for (value, images) in values.iter() {
                let value: &str = value.get_ref();
                let at = images.span().start;
                let key = join(&prefix, value);
                if !spec.rule.accepts(value) {
                    self.error(
                        at,
                        &key,
                        "option-images",
                        format!(
                            "{value:?} is not a value of `{option}`: expected {}",
                            spec.rule.expectation()
                        ),
                    );
                    continue;
                }
                let list = self.string_array(values, &prefix, value);
                for image in &list {
                    self.check(rules::is_image_ref(image), at, &key, "image-reference", || {
                        format!("{image:?} is not an image reference: write it like `ubuntu:22.04`")
                    });
                }
                self.check(!list.is_empty(), at, &key, "option-images", || {
                    "needs at least one image".to_owned()
                });
                out.push(ImagesOfValue { option: spec.name, value: text(value), images: texts(list) });
            }
        }
        out
    }

    /// `[aliases]`: alias name to the option values it sets.
    pub(super) fn aliases(&mut self, root: &Table<'_>, name: &str, options: &[OptionSpec]) -> Vec<Alias> {
        let mut out = Vec::new();
        let Some(table) = self.table(root, "", "aliases") else { return out };
        for (alias, values) in table.iter() {
            let alias: &str = alias.get_ref();
            let prefix = format!("aliases.{alias}");
            let at = values.span().start;
            if !rules::is_snake_case(alias) {
                self.error(
                    at,
                    &prefix,
                    "snake-case-name",
                    format!("alias {alias:?} is not a snake_case name"),
                );
                continue;
            }
            if alias == name {
                self.error(at, &prefix, "duplicate", format!("`{alias}` is the extension's own name"));
                continue;
            }
            let DeValue::Table(values) = values.get_ref() else {
                self.type_error(values, &prefix, "a table of option values", values.get_ref());
                continue;
            };
            let mut set = Vec::new();
            for (option, value) in values.iter() {
                let option: &str = option.get_ref();
                let key = join(&prefix, option);
                let Some(spec) = self.named_option(options, option, value.span().start, &key, "alias-option")
                else {
                    continue;
                };
                let DeValue::String(v) = value.get_ref() else {
                    self.type_error(value, &key, "a string", value.get_ref());
                    continue;
                };
                if !spec.rule.accepts(v) {
                    self.error(
                        value.span().start,
                        &key,
                        "alias-option",
                        format!("{v:?} fails the option's rule: expected {}", spec.rule.expectation()),
                    );
                    continue;
                }
                set.push(OptionValue { option: spec.name, value: text(v) });
            }
            set.sort_by_key(|o| o.option);
            out.push(Alias { name: text(alias), options: slice(set) });
        }
        out
    }

    /// `[project_files]`: every key a plain one, the folder an option of rule `abs_path` and the
    /// names plain file names.
    pub(super) fn project_files(&mut self, root: &Table<'_>, options: &[OptionSpec]) -> Option<ProjectFiles> {
        let t = self.table(root, "", "project_files")?;
        let prefix = "project_files";
        let mut files = ProjectFiles { folder_option: "", names: &[], skip_folders_with: &[] };
        self.plain(t, &schema::PROJECT_FILES, prefix, &mut files);
        // A missing key is reported by the schema's walk.
        let folder = files.folder_option;
        if folder.is_empty() {
            return None;
        }
        let at = |k: &str| t.get(k).map(|v| v.span().start).unwrap_or(0);
        if let Some(o) = self.named_option(
            options,
            folder,
            at("folder_option"),
            "project_files.folder_option",
            "project-files",
        ) {
            self.check(
                o.rule == Rule::AbsPath,
                at("folder_option"),
                "project_files.folder_option",
                "project-files",
                || format!("`{folder}` must have `rule = \"abs_path\"`: it names a folder of the host"),
            );
        }
        for (key, list) in [("names", files.names), ("skip_folders_with", files.skip_folders_with)] {
            for n in list {
                self.check(rules::is_file_name(n), at(key), &join(prefix, key), "project-files", || {
                    format!("{n:?} is not a file name: letters, digits, `.`, `_`, `+`, `-`")
                });
            }
        }
        self.check(!files.names.is_empty(), at("names"), "project_files.names", "project-files", || {
            "needs at least one file name".to_owned()
        });
        Some(files)
    }

    /// The single-value option `option`, or a diagnostic under `rule`.
    fn named_option<'o>(
        &mut self,
        options: &'o [OptionSpec],
        option: &str,
        at: usize,
        key: &str,
        rule: &'static str,
    ) -> Option<&'o OptionSpec> {
        match options.iter().find(|o| o.name == option) {
            None => {
                self.error(
                    at,
                    key,
                    rule,
                    format!("the extension has no option `{option}`: declare it under `[options]`"),
                );
                None
            }
            Some(o) if o.multiple => {
                self.error(
                    at,
                    key,
                    rule,
                    format!("`{option}` is a list option: only a single-value option can be set here"),
                );
                None
            }
            Some(o) => Some(o),
        }
    }
}

/// The rule names an option may give, from the one list in `quarry_core::rules`.
pub(super) fn rule_names() -> impl Iterator<Item = &'static str> {
    Rule::NAMED.iter().map(|r| r.key())
}
