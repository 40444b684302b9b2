//! Parsing and validation of `extension.toml`, collecting every mistake with its location.

use std::collections::BTreeSet;

use quarry_core::HostValue;
use quarry_core::rules::{self, Rule};
use quarry_core::schema;
use quarry_core::template::{self, Slot};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

mod downloads;
mod walk;

pub use downloads::{DownloadMeta, VerifyMeta};

use crate::Input;
use crate::diagnostic::Diagnostic;

/// A template file named by the metadata, with its text.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    /// Path relative to the crate.
    pub file: String,
    /// The text.
    pub source: String,
}

/// An option as declared in metadata.
#[derive(Debug, Clone)]
pub struct OptionMeta {
    /// Option name.
    pub name: String,
    /// Help text.
    pub description: String,
    /// Default value.
    pub default: String,
    /// Validation rule.
    pub rule: Rule,
    /// No default: the user must give it.
    pub required: bool,
    /// Default taken from the host.
    pub from_host: Option<HostValue>,
    /// A list option (`multiple = true`).
    pub multiple: bool,
    /// Other long flags (`aliases = ["net"]`).
    pub aliases: Vec<String>,
}

/// What a builder starts from, as declared in metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromMeta {
    /// Its builder base image.
    BaseImage,
    /// Another extension's builder.
    Extension(String),
    /// The final image.
    FinalImage,
}

/// A builder as declared in metadata.
#[derive(Debug, Clone)]
pub struct BuilderMeta {
    /// What it starts from.
    pub from: FromMeta,
    /// Builder apt packages.
    pub apt_packages: Vec<String>,
    /// Declared downloads.
    pub downloads: Vec<DownloadMeta>,
    /// Stage body.
    pub template: TemplateFile,
    /// (source, dest) pairs.
    pub artifacts: Vec<(String, String)>,
}

/// An apt repository as declared in metadata.
#[derive(Debug, Clone)]
pub struct RepositoryMeta {
    /// Name.
    pub name: String,
    /// Key URL.
    pub key_url: String,
    /// Source line template.
    pub source: String,
}

/// A context file with its contents.
#[derive(Debug, Clone)]
pub struct FileMeta {
    /// Path relative to the crate.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
    /// Executable bit.
    pub executable: bool,
    /// Where the final image gets it.
    pub dest: Option<String>,
}

/// `docker run` needs.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    /// Environment.
    pub env: Vec<String>,
    /// Bind mounts.
    pub volumes: Vec<String>,
    /// Bind mounts made only when the host path exists.
    pub optional_volumes: Vec<String>,
    /// Devices.
    pub devices: Vec<String>,
    /// Other arguments.
    pub args: Vec<String>,
    /// Supplementary groups, comma-separated lists.
    pub group_add: Vec<String>,
    /// Pass an X authority cookie.
    pub xauthority: bool,
}

/// Validated metadata of one extension.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Dependencies.
    pub depends_on: Vec<String>,
    /// Priority.
    pub cache_priority: u8,
    /// Builder base image.
    pub builder_base_image: Option<String>,
    /// Final-image packages.
    pub apt_packages: Vec<String>,
    /// Repositories.
    pub apt_repositories: Vec<RepositoryMeta>,
    /// Builder.
    pub builder: Option<BuilderMeta>,
    /// Root setup template.
    pub setup: Option<TemplateFile>,
    /// Setup placed after the copies (the declared exception).
    pub setup_after_copies: bool,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    /// Shell initialisation for every command.
    pub shell_init: Option<String>,
    /// Shell initialisation for interactive bash.
    pub shell_interactive: Option<String>,
    /// The image user template.
    pub final_user: Option<String>,
    /// The working folder template.
    pub workdir: Option<String>,
    /// The user's home folder template.
    pub home: Option<String>,
    /// Supported final images.
    pub supported_images: Vec<String>,
    /// Options.
    pub options: Vec<OptionMeta>,
    /// Context files.
    pub files: Vec<FileMeta>,
    /// Run needs.
    pub run: RunMeta,
}

impl Metadata {
    /// Every file the metadata names, relative to the crate.
    pub fn referenced_files(&self) -> Vec<String> {
        let mut files: BTreeSet<String> = BTreeSet::new();
        if let Some(b) = self.builder.as_ref().filter(|b| b.template.file != "builder.downloads") {
            files.insert(b.template.file.clone());
        }
        if let Some(t) = &self.setup {
            files.insert(t.file.clone());
        }
        files.extend(self.files.iter().map(|f| f.path.clone()));
        files.into_iter().collect()
    }
}

/// The `[run]` keys whose entries are templates.
const RUN_LIST_KEYS: &[&str] = &["env", "volumes", "optional_volumes", "devices", "args", "group_add"];
const SOURCE_PLACEHOLDERS: &[&str] = &["{{ keyring }}", "{{ arch }}", "{{ codename }}"];

pub(crate) type Table<'i> = DeTable<'i>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

pub(crate) struct Walker<'a> {
    input: &'a Input<'a>,
    diagnostics: Vec<Diagnostic>,
}

/// Parses `input`, returning every diagnostic found.
pub fn parse(input: &Input<'_>) -> Result<Metadata, Vec<Diagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(input.text);
    let mut w = Walker { input, diagnostics: Vec::new() };
    for e in errors {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        w.error(offset, "", "toml-syntax", e.message().trim().to_owned());
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

    let apt_repositories = w.repositories(root);
    let builder = w.builder(root, &name, &options, &option_names);
    let setup = w.template_key(root, "", "setup", Slot::Setup, &name, &options, &option_names);
    let setup_after_copies = w.boolean(root, "", "setup_after_copies", false);
    if setup_after_copies && setup.is_none() && !root.contains_key("setup") {
        let at = root.get("setup_after_copies").map(|v| v.span().start).unwrap_or(0);
        w.error(at, "setup_after_copies", "setup-required", "is set but there is no `setup`".to_owned());
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
        env,
        shell_init,
        shell_interactive,
        final_user,
        workdir,
        home,
        supported_images,
        options,
        files,
        run,
    })
}

/// `source` rendered with the options' defaults, when every default is valid.
fn render_with_defaults(name: &str, source: &str, options: &[OptionMeta]) -> Option<String> {
    if name.is_empty() || !options.iter().all(|o| o.required || o.rule.accepts(&o.default)) {
        return None;
    }
    let ctx = template::context(name, options.iter().map(|o| (o.name.as_str(), o.default.as_str(), o.rule)));
    template::render("value", source, ctx).ok().map(|s| s.trim().to_owned())
}

fn unknown_variable_message(var: &str) -> String {
    if let Some(option) = var.strip_prefix("options.") {
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

impl Walker<'_> {
    /// Package names; an entry may use `{{ options.<name> }}`, checked by rendering it with the
    /// options' defaults.
    fn packages(
        &mut self,
        table: &Table<'_>,
        prefix: &str,
        key: &str,
        name: &str,
        options: &[OptionMeta],
    ) -> Vec<String> {
        let packages = self.string_array(table, prefix, key);
        let option_names: Vec<&str> =
            options.iter().filter(|o| !o.multiple).map(|o| o.name.as_str()).collect();
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
                match template::unknown_variables(p, &option_names) {
                    Err(e) => self.error(at, &key, "template-syntax", format!("{p:?} does not parse: {e}")),
                    Ok(unknown) if !unknown.is_empty() => {
                        for var in unknown {
                            self.error(at, &key, "template-variable", unknown_variable_message(&var));
                        }
                    }
                    Ok(_) => {
                        let ctx = template::context(
                            name,
                            options.iter().map(|o| (o.name.as_str(), o.default.as_str(), o.rule)),
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

    fn options(&mut self, root: &Table<'_>, extension: &str) -> Vec<OptionMeta> {
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
                    ok.then(|| {
                        let leaked: Vec<&'static str> =
                            values.into_iter().map(|s| &*Box::leak(s.into_boxed_str())).collect();
                        Rule::OneOf(Box::leak(leaked.into_boxed_slice()))
                    })
                }
            };
            let required = self.boolean(t, &prefix, "required", false);
            let multiple = self.boolean(t, &prefix, "multiple", false);
            let aliases = self.string_array(t, &prefix, "aliases");
            let alias_at = t.get("aliases").map(|v| v.span().start).unwrap_or(key.span().start);
            for alias in &aliases {
                if *alias == self_flag && !required {
                    self.error(
                        alias_at,
                        &join(&prefix, "aliases"),
                        "flag-name",
                        format!("`--{alias}` is the extension's own flag: only a `required` option may take it over (else `--{alias}` alone could not select the extension with the default)"),
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
                                HostValue::ALL
                                    .iter()
                                    .map(|v| format!("`{}`", v.key()))
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
                out.push(OptionMeta {
                    name: name.to_owned(),
                    description,
                    default,
                    rule,
                    required,
                    from_host,
                    multiple,
                    aliases,
                });
            }
        }
        out
    }

    fn repositories(&mut self, root: &Table<'_>) -> Vec<RepositoryMeta> {
        let mut out = Vec::new();
        for (t, span) in self.tables(root, "", "apt_repositories") {
            let prefix = "apt_repositories";
            let name = self.string(t, prefix, "name", false);
            let key_url = self.string(t, prefix, "key_url", false);
            let source = self.string(t, prefix, "source", false);
            // A missing key is reported by the schema's walk.
            let (Some(name), Some(key_url), Some(source)) = (name, key_url, source) else { continue };
            let at = |k: &str| t.get(k).map(|v| v.span().start).unwrap_or(span.start);
            let mut rest = source.clone();
            for p in SOURCE_PLACEHOLDERS {
                rest = rest.replace(p, "");
            }
            let clean = rest.bytes().all(|c| c.is_ascii_alphanumeric() || b" /:.-_[]=,+~".contains(&c));
            self.check(source.starts_with("deb ") && clean && source.contains("{{ keyring }}"), at("source"), "apt_repositories.source", "apt-source", || {
                format!(
                    "{source:?} must be a `deb ` line using `signed-by={{{{ keyring }}}}`, with only {} as placeholders and no quotes, `$`, `\\` or newlines",
                    SOURCE_PLACEHOLDERS.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                )
            });
            out.push(RepositoryMeta { name, key_url, source });
        }
        out
    }

    fn builder(
        &mut self,
        root: &Table<'_>,
        name: &str,
        options: &[OptionMeta],
        option_names: &[&str],
    ) -> Option<BuilderMeta> {
        let t = self.table(root, "", "builder")?;
        let prefix = "builder";
        let from = match self.string(t, prefix, "from", false) {
            None => FromMeta::BaseImage,
            Some(f) if f == "final" => FromMeta::FinalImage,
            Some(f) => {
                let at = t.get("from").map(|v| v.span().start).unwrap_or(0);
                let depends: Vec<String> = match root.get("depends_on").map(|v| v.get_ref()) {
                    Some(DeValue::Array(list)) => list
                        .iter()
                        .filter_map(|i| match i.get_ref() {
                            DeValue::String(s) => Some(s.to_string()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if !rules::is_snake_case(&f) {
                    self.error(
                        at,
                        "builder.from",
                        "builder-from",
                        format!("{f:?} is neither `final` nor an extension name"),
                    );
                } else {
                    self.check(depends.contains(&f), at, "builder.from", "builder-from", || {
                        format!("the builder starts from `{f}`'s builder, so `depends_on` must list `{f}`")
                    });
                }
                FromMeta::Extension(f)
            }
        };
        if from != FromMeta::BaseImage
            && let Some(v) = root.get("builder_base_image")
        {
            self.error(
                v.span().start,
                "builder_base_image",
                "builder-from",
                "is set, but the builder starts from `builder.from`, not from a base image of its own"
                    .to_owned(),
            );
        }
        let apt_packages = self.packages(t, prefix, "apt_packages", name, options);
        let downloads = self.downloads(t, name, options, option_names);
        // The download steps run on the builder's own packages; a builder on another builder
        // has that one's.
        if !matches!(from, FromMeta::Extension(_)) {
            let at = t.get("apt_packages").map(|v| v.span().start).unwrap_or(0);
            let mut need: Vec<&str> = Vec::new();
            if !downloads.is_empty() {
                need.extend(["ca-certificates", "curl"]);
            }
            if downloads.iter().any(|d| d.extract == "tar.xz") {
                need.push("xz-utils");
            }
            if downloads.iter().any(|d| d.extract == "zip") {
                need.push("unzip");
            }
            for p in need {
                self.check(
                    apt_packages.iter().any(|a| a == p),
                    at,
                    "builder.apt_packages",
                    "download-tools",
                    || format!("the download steps need `{p}`: add it to the builder's `apt_packages`"),
                );
            }
        }
        let template = self.template_key(t, prefix, "template", Slot::Builder, name, options, option_names);
        if !t.contains_key("template") && downloads.is_empty() {
            let offset = root.get("builder").map(|v| v.span().start).unwrap_or(0);
            self.error(
                offset,
                "builder.template",
                "required",
                "a builder needs a `template` file".to_owned(),
            );
        }
        let mut artifacts = Vec::new();
        for (a, span) in self.tables(t, "builder", "artifacts") {
            let prefix = "builder.artifacts";
            let Some(source) = self.string(a, prefix, "source", false) else { continue };
            let dest = self.string(a, prefix, "dest", false).unwrap_or_else(|| source.clone());
            let at = a.get("source").map(|v| v.span().start).unwrap_or(span.start);
            if rules::is_abs_path(&source) {
                self.check(rules::is_artifact_of(&source, name), at, "builder.artifacts.source", "artifact-path", || {
                    format!("{source:?} is outside the builder's output folder: builders write under `/opt/quarry/{name}/`")
                });
            }
            artifacts.push((source, dest));
        }
        // A builder that only downloads has no template of its own.
        let template = match template {
            Some(t) => t,
            None if !t.contains_key("template") => {
                TemplateFile { file: "builder.downloads".to_owned(), source: String::new() }
            }
            None => return None,
        };
        Some(BuilderMeta { from, apt_packages, downloads, template, artifacts })
    }

    #[allow(clippy::too_many_arguments)]
    fn template_key(
        &mut self,
        table: &Table<'_>,
        prefix: &str,
        key: &str,
        slot: Slot,
        name: &str,
        options: &[OptionMeta],
        option_names: &[&str],
    ) -> Option<TemplateFile> {
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
        let Some(bytes) = (self.input.load)(&file) else {
            self.error(
                at,
                &key_path,
                "missing-file",
                format!("template file `{file}` does not exist or leaves the extension's folder (paths are relative to it; links may not lead outside the project)"),
            );
            return None;
        };
        let Ok(source) = String::from_utf8(bytes) else {
            self.error(at, &key_path, "missing-file", format!("template file `{file}` is not UTF-8"));
            return None;
        };
        let shown = template_path(self.input.path, &file);
        match template::unknown_variables(&source, option_names) {
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
        if !name.is_empty() && options.iter().all(|o| o.required || o.rule.accepts(&o.default)) {
            let ctx = template::context(
                name,
                options.iter().map(|o| (o.name.as_str(), o.default.as_str(), o.rule)),
            );
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
        Some(TemplateFile { file, source })
    }

    /// `workdir` or `home`: an inline template that renders to an absolute path with the default
    /// options, set only by the extension that sets `final_user`.
    #[allow(clippy::too_many_arguments)]
    fn user_path(
        &mut self,
        root: &Table<'_>,
        key: &str,
        what: &str,
        has_user: bool,
        name: &str,
        options: &[OptionMeta],
        option_names: &[&str],
    ) -> Option<String> {
        let path = self.string(root, "", key, false)?;
        let at = root.get(key).map(|v| v.span().start).unwrap_or(0);
        if self.template_value(&path, at, key, option_names)
            && let Some(rendered) = render_with_defaults(name, &path, options)
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

    /// An inline template (`final_user`, `workdir`, an `env` entry, shell text): it must parse
    /// and use only known variables. Returns whether it does.
    fn template_value(&mut self, source: &str, at: usize, key: &str, option_names: &[&str]) -> bool {
        match template::unknown_variables(source, option_names) {
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

    fn files(&mut self, root: &Table<'_>) -> Vec<FileMeta> {
        let mut out = Vec::new();
        for (t, span) in self.tables(root, "", "files") {
            let Some(path) = self.string(t, "files", "path", false) else { continue };
            let executable = self.boolean(t, "files", "executable", false);
            let dest = self.string(t, "files", "dest", false);
            let at = t.get("path").map(|v| v.span().start).unwrap_or(span.start);
            if !rules::is_rel_path(&path) {
                continue;
            }
            match (self.input.load)(&path) {
                Some(contents) => out.push(FileMeta { path, contents, executable, dest }),
                None => self.error(
                    at,
                    "files.path",
                    "missing-file",
                    format!("file `{path}` does not exist or leaves the extension's folder (paths are relative to it; links may not lead outside the project)"),
                ),
            }
        }
        out
    }

    /// `docker run` needs; each entry is a template over the options, checked like the others.
    fn run(&mut self, root: &Table<'_>, option_names: &[&str], list_names: &[&str]) -> RunMeta {
        let Some(t) = self.table(root, "", "run") else { return RunMeta::default() };
        let run = RunMeta {
            env: self.string_array(t, "run", "env"),
            volumes: self.string_array(t, "run", "volumes"),
            optional_volumes: self.string_array(t, "run", "optional_volumes"),
            devices: self.string_array(t, "run", "devices"),
            args: self.string_array(t, "run", "args"),
            group_add: self.string_array(t, "run", "group_add"),
            xauthority: self.boolean(t, "run", "xauthority", false),
        };
        for key in RUN_LIST_KEYS {
            let values = match *key {
                "env" => &run.env,
                "volumes" => &run.volumes,
                "optional_volumes" => &run.optional_volumes,
                "devices" => &run.devices,
                "group_add" => &run.group_add,
                _ => &run.args,
            };
            let at = t.get(*key).map(|v| v.span().start).unwrap_or(0);
            for value in values {
                let ok = self.check(
                    !value.is_empty() && !value.contains(['\n', '\r', '\0']),
                    at,
                    &format!("run.{key}"),
                    "run-arg",
                    || format!("{value:?} must be one non-empty line"),
                );
                if !ok || !value.contains(['{']) {
                    continue;
                }
                let lists_used: Vec<&&str> = list_names
                    .iter()
                    .filter(|l| find_in_expressions(value, &format!("options.{l}")).is_some())
                    .collect();
                self.check(lists_used.len() <= 1, at, &format!("run.{key}"), "list-option", || {
                    format!("{value:?} uses more than one list option: an entry renders once per value of one list")
                });
                match template::unknown_variables(value, option_names).map(|unknown| {
                    unknown
                        .into_iter()
                        .filter(|v| !template::RUN_VARIABLES.contains(&v.as_str()))
                        .collect::<Vec<_>>()
                }) {
                    Err(e) => self.error(
                        at,
                        &format!("run.{key}"),
                        "template-syntax",
                        format!("{value:?} does not parse: {e}"),
                    ),
                    Ok(unknown) => {
                        for var in unknown {
                            self.error(
                                at,
                                &format!("run.{key}"),
                                "template-variable",
                                unknown_variable_message(&var),
                            );
                        }
                    }
                }
            }
        }
        run
    }
}

/// Where `var` (`image`, `options.versoin`) is used inside a `{{ }}` or `{% %}` block of
/// `source`: the first whole-word occurrence of the name.
fn find_in_expressions(source: &str, var: &str) -> Option<usize> {
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
fn find_source_line(source: &str, rendered: &str) -> Option<usize> {
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
fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum()
}

/// The template's path for diagnostics: next to the metadata file.
fn template_path(metadata_path: &str, file: &str) -> String {
    match metadata_path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{file}"),
        None => file.to_owned(),
    }
}

/// The rule names an option may give, from the one list in `quarry_core::rules`.
fn rule_names() -> impl Iterator<Item = &'static str> {
    Rule::NAMED.iter().map(|r| r.key())
}
