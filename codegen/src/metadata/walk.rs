//! The schema's walk: every key of `extension.toml` checked against `quarry_core::schema`
//! (unknown keys, types, required keys, value checks), and the typed accessors the rest of the
//! walker reads values with.

use std::ops::Range;

use quarry_core::schema::{self, Type};
use toml::de::DeValue;

use super::walker::{Table, Value, Walker, join, type_name};
use crate::diagnostic::Diagnostic;

impl Walker<'_> {
    /// Checks `table` against `spec`: every key known (with a did-you-mean), of its type, each
    /// string passing the key's check, and every required key present. Nested tables are walked
    /// the same way. `at` is where a missing key is reported.
    pub(super) fn check_table(
        &mut self,
        table: &Table<'_>,
        spec: &'static schema::Table,
        prefix: &str,
        at: usize,
    ) {
        for (key, value) in table.iter() {
            let k: &str = key.get_ref();
            let path = join(prefix, k);
            match spec.key(k) {
                Some(key_spec) => self.check_value(value, key_spec, &path),
                None => {
                    let hint = match quarry_core::suggest_closest(k, spec.names()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "allowed keys: {}",
                            spec.names().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.error(key.span().start, &path, "unknown-key", format!("unknown key `{k}`; {hint}"));
                }
            }
        }
        for key_spec in spec.keys.iter().filter(|k| k.required && !table.contains_key(k.name)) {
            let message = if prefix.is_empty() {
                format!("the key `{}` is required", key_spec.name)
            } else {
                format!("`{prefix}` needs the key `{}`", key_spec.name)
            };
            self.error(at, &join(prefix, key_spec.name), "required", message);
        }
    }

    fn check_value(&mut self, value: &Value<'_>, spec: &'static schema::Key, path: &str) {
        let check_string = |w: &mut Self, item: &Value<'_>| match item.get_ref() {
            DeValue::String(s) => {
                if let Some(check) = spec.check
                    && !check.accepts(s)
                {
                    w.error(
                        item.span().start,
                        path,
                        check.rule(),
                        format!("{s:?} is not {}", check.expectation()),
                    );
                }
            }
            other => w.type_error(item, path, "a string", other),
        };
        match (spec.ty, value.get_ref()) {
            (Type::Removed(message), _) => {
                self.error(value.span().start, path, "removed-key", message.to_owned())
            }
            (Type::Custom(_), _) => {}
            // The reader checks the word and each architecture, with the rule of its section.
            (Type::OneOf(_), DeValue::String(_)) | (Type::ByArch(_), DeValue::Table(_)) => {}
            (Type::String | Type::TemplateFile | Type::InlineTemplate, DeValue::String(_)) => {
                check_string(self, value)
            }
            (Type::Boolean, DeValue::Boolean(_)) | (Type::Integer, DeValue::Integer(_)) => {}
            (Type::Strings, DeValue::Array(list)) => {
                for item in list.iter() {
                    check_string(self, item);
                }
            }
            (Type::Table(t), DeValue::Table(table)) => self.check_table(table, t, path, value.span().start),
            (Type::Tables(t), DeValue::Array(list)) => {
                for item in list.iter() {
                    match item.get_ref() {
                        DeValue::Table(table) => self.check_table(table, t, path, item.span().start),
                        other => self.type_error(item, path, "a table", other),
                    }
                }
            }
            (Type::NamedTables(t), DeValue::Table(table)) => {
                for (name, item) in table.iter() {
                    let path = join(path, name.get_ref());
                    match item.get_ref() {
                        DeValue::Table(table) => self.check_table(table, t, &path, name.span().start),
                        other => self.type_error(item, &path, "a table", other),
                    }
                }
            }
            (ty, other) => self.type_error(value, path, ty.expected(), other),
        }
    }

    pub(super) fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort();
        self.diagnostics.dedup();
        self.diagnostics
    }

    pub(super) fn error(&mut self, offset: usize, key: &str, rule: &'static str, message: String) {
        self.diagnostics.push(Diagnostic::at(self.input.path, self.input.text, offset, key, rule, message));
    }

    pub(super) fn check(
        &mut self,
        ok: bool,
        offset: usize,
        key: &str,
        rule: &'static str,
        message: impl FnOnce() -> String,
    ) -> bool {
        if !ok {
            self.error(offset, key, rule, message());
        }
        ok
    }

    pub(super) fn type_error(&mut self, v: &Value<'_>, key: &str, expected: &str, found: &DeValue<'_>) {
        self.error(v.span().start, key, "type", format!("expected {expected}, found {}", type_name(found)));
    }

    pub(super) fn string(
        &mut self,
        table: &Table<'_>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<String> {
        match table.get(key) {
            None => {
                if required {
                    let offset = 0;
                    self.error(
                        offset,
                        &join(prefix, key),
                        "required",
                        format!("the key `{key}` is required"),
                    );
                }
                None
            }
            Some(v) => match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                other => {
                    self.type_error(v, &join(prefix, key), "a string", other);
                    None
                }
            },
        }
    }

    pub(super) fn boolean(&mut self, table: &Table<'_>, prefix: &str, key: &str, default: bool) -> bool {
        match table.get(key) {
            None => default,
            Some(v) => match v.get_ref() {
                DeValue::Boolean(b) => *b,
                other => {
                    self.type_error(v, &join(prefix, key), "a boolean", other);
                    default
                }
            },
        }
    }

    pub(super) fn string_array(&mut self, table: &Table<'_>, prefix: &str, key: &str) -> Vec<String> {
        let Some(v) = table.get(key) else { return Vec::new() };
        let Some(list) = v.get_ref().as_array() else {
            self.type_error(v, &join(prefix, key), "an array of strings", v.get_ref());
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in list.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                other => self.type_error(item, &join(prefix, key), "a string", other),
            }
        }
        out
    }

    pub(super) fn table<'t, 'i>(
        &mut self,
        table: &'t Table<'i>,
        prefix: &str,
        key: &str,
    ) -> Option<&'t Table<'i>> {
        let v = table.get(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.type_error(v, &join(prefix, key), "a table", other);
                None
            }
        }
    }

    pub(super) fn tables<'t, 'i>(
        &mut self,
        table: &'t Table<'i>,
        prefix: &str,
        key: &str,
    ) -> Vec<(&'t Table<'i>, Range<usize>)> {
        let Some(v) = table.get(key) else { return Vec::new() };
        let key = join(prefix, key);
        let Some(list) = v.get_ref().as_array() else {
            self.type_error(v, &key, "an array of tables", v.get_ref());
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in list.iter() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span())),
                other => self.type_error(item, &key, "a table", other),
            }
        }
        out
    }
}
