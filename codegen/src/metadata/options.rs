//! `[options.<option>]`: each option's rule (`rule` or `one_of`), default, host value, list form
//! and aliases, checked against each other.

use quarry_core::rules::{self, Rule};
use quarry_core::{HostValue, OptionSpec, schema};
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

/// The rule names an option may give, from the one list in `quarry_core::rules`.
pub(super) fn rule_names() -> impl Iterator<Item = &'static str> {
    Rule::NAMED.iter().map(|r| r.key())
}
