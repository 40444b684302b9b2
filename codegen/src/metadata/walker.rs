//! The walker's state, shared by the modules that check each part, and the two ways a value
//! reaches core's model: strings made `'static` like a registration's (leaked: a build script
//! ends, and a process loads a project extension once), and every plain key set by name through
//! [`Record`], so a key the schema and the model both have needs no reader code of its own.

use quarry_core::bake::{Plain, Record};
use quarry_core::schema::{self, Type};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::Input;
use crate::diagnostic::Diagnostic;

/// The `[run]` keys whose entries are templates.
pub(super) const RUN_LIST_KEYS: &[&str] =
    &["env", "volumes", "optional_volumes", "devices", "args", "group_add"];

pub(crate) type Table<'i> = DeTable<'i>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

pub(crate) struct Walker<'a> {
    pub(super) input: &'a Input<'a>,
    pub(super) diagnostics: Vec<Diagnostic>,
    /// The extension's `depends_on`: templates may use `deps.<name>` of these.
    pub(super) depends_on: Vec<String>,
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
}

pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// `s` as the model holds text.
pub(crate) fn text(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Strings as the model holds a list of them.
pub(crate) fn texts(items: Vec<String>) -> &'static [&'static str] {
    slice(items.iter().map(|s| text(s)).collect())
}

/// Values as the model holds a list of them.
pub(crate) fn slice<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

impl Walker<'_> {
    /// The extension's `depends_on`, as templates name them (`deps.<name>.out`).
    pub(super) fn deps(&self) -> Vec<&str> {
        self.depends_on.iter().map(String::as_str).collect()
    }

    /// Sets every plain key of `table` (a string, strings, a boolean, an integer, as the schema
    /// `spec` types it) on the field of `value` with its name. Keys the model builds otherwise
    /// (templates, tables, rules) are left to the walker's own code; a value that does not fit
    /// its field is reported, unless the key has a diagnostic already.
    pub(super) fn plain<T: Record>(
        &mut self,
        table: &Table<'_>,
        spec: &'static schema::Table,
        prefix: &str,
        value: &mut T,
    ) {
        for (key, v) in table.iter() {
            let k: &str = key.get_ref();
            let Some(key_spec) = spec.key(k) else { continue };
            let plain = match (key_spec.ty, v.get_ref()) {
                (Type::String | Type::InlineTemplate | Type::OneOf(_), DeValue::String(s)) => {
                    Plain::Str(text(s))
                }
                (Type::Strings, DeValue::Array(list)) => Plain::Strs(texts(
                    list.iter().filter_map(|i| i.get_ref().as_str().map(str::to_owned)).collect(),
                )),
                (Type::Boolean, DeValue::Boolean(b)) => Plain::Bool(*b),
                (Type::Integer, DeValue::Integer(i)) => match i64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) => Plain::Int(n),
                    Err(_) => Plain::Int(i64::MAX),
                },
                _ => continue,
            };
            if let Err((rule, message)) = value.set(k, plain) {
                let path = join(prefix, k);
                if !self.diagnostics.iter().any(|d| d.key == path) {
                    self.error(v.span().start, &path, rule, message);
                }
            }
        }
    }
}
