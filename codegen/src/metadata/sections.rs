//! The sections whose checks go beyond the schema's: `[[apt_repositories]]`, `[builder]` (its
//! `from`, tools and artifacts), `[[files]]` and `[run]`.

use quarry_core::template::{self, Slot};
use quarry_core::{
    AptRepository, Arch, ArchSource, Artifact, Builder, BuilderFrom, ContextFile, Extract, OptionSpec,
    RunSpec, Template, rules, schema,
};
use toml::de::DeValue;

use super::templates::{find_in_expressions, unknown_variable_message};
use super::walker::*;

/// The template file a builder that only downloads is given (it has no body).
pub(super) const DOWNLOADS_ONLY: &str = "builder.downloads";

impl Walker<'_> {
    pub(super) fn repositories(
        &mut self,
        root: &Table<'_>,
        name: &str,
        options: &[OptionSpec],
        option_names: &[&str],
    ) -> Vec<AptRepository> {
        let mut out = Vec::new();
        for (t, span) in self.tables(root, "", "apt_repositories") {
            let prefix = "apt_repositories";
            let repo_name = self.string(t, prefix, "name", false);
            let key_url = self.string(t, prefix, "key_url", false);
            let key_fingerprints = self.string_array(t, prefix, "key_fingerprints");
            let at = |k: &str| t.get(k).map(|v| v.span().start).unwrap_or(span.start);
            // `source`: one line, or a table of lines by architecture.
            let mut source = String::new();
            let mut arch_sources: Vec<ArchSource> = Vec::new();
            match t.get("source").map(|v| v.get_ref()) {
                None => {}
                Some(DeValue::String(line)) => source = line.to_string(),
                Some(DeValue::Table(lines)) => {
                    for (arch, line) in lines.iter() {
                        let arch: &str = arch.get_ref();
                        let Some(arch) = Arch::from_key(arch) else {
                            let known =
                                Arch::KEYS.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(" or ");
                            self.error(
                                at("source"),
                                "apt_repositories.source",
                                "download-arch",
                                format!("unknown architecture `{arch}`: use {known}"),
                            );
                            continue;
                        };
                        match line.get_ref() {
                            DeValue::String(l) => arch_sources.push(ArchSource { arch, line: text(l) }),
                            other => self.type_error(line, "apt_repositories.source", "a string", other),
                        }
                    }
                    arch_sources.sort_by_key(|a| a.arch);
                    if arch_sources.is_empty() {
                        self.error(
                            at("source"),
                            "apt_repositories.source",
                            "apt-source",
                            "needs a line for at least one architecture".to_owned(),
                        );
                    }
                }
                Some(other) => {
                    let v = t.get("source").expect("matched above");
                    self.type_error(
                        v,
                        "apt_repositories.source",
                        "a string or a table of lines by architecture",
                        other,
                    );
                }
            }
            // A missing key is reported by the schema's walk.
            let (Some(repo_name), Some(key_url)) = (repo_name, key_url) else { continue };
            if source.is_empty() && arch_sources.is_empty() {
                continue;
            }
            let pinned = !key_fingerprints.is_empty();
            for f in &key_fingerprints {
                if let Some(value) = self.repository_value(
                    f,
                    at("key_fingerprints"),
                    "apt_repositories.key_fingerprints",
                    name,
                    options,
                    option_names,
                    &[],
                ) {
                    self.check(
                        rules::is_key_fingerprint(&value),
                        at("key_fingerprints"),
                        "apt_repositories.key_fingerprints",
                        "key-fingerprint",
                        || format!("{value:?} is not a key fingerprint: 40 or 64 hex digits, without spaces"),
                    );
                }
            }
            if let Some(url) = self.repository_value(
                &key_url,
                at("key_url"),
                "apt_repositories.key_url",
                name,
                options,
                option_names,
                &[],
            ) {
                self.check(rules::is_https_url(&url) || (pinned && rules::is_http_url(&url)), at("key_url"), "apt_repositories.key_url", "https-url", || {
                    format!("{url:?} is not an https:// URL without spaces or shell characters (http:// only with `key_fingerprints`)")
                });
            }
            // Each line a template over the options and the apt source variables: rendered with
            // the options' defaults, each variable standing for its name, a `deb` line of plain
            // characters that names the keyring.
            let names = template::APT_SOURCE_VARIABLES;
            let lines: Vec<&str> =
                if source.is_empty() { arch_sources.iter().map(|a| a.line).collect() } else { vec![&source] };
            for line in lines {
                if let Some(rendered) = self.repository_value(
                    line,
                    at("source"),
                    "apt_repositories.source",
                    name,
                    options,
                    option_names,
                    names,
                ) {
                    self.check(template::is_apt_source(&rendered), at("source"), "apt_repositories.source", "apt-source", || {
                        format!(
                            "{line:?} must be a `deb ` line using `signed-by={{{{ keyring }}}}`, with only {} and options as variables and no quotes, `$`, `\\` or newlines",
                            names.iter().map(|p| format!("`{{{{ {p} }}}}`")).collect::<Vec<_>>().join(", ")
                        )
                    });
                }
            }
            let mut repository = AptRepository {
                name: text(&repo_name),
                key_url: text(&key_url),
                source: text(&source),
                arch_sources: slice(arch_sources),
                key_fingerprints: texts(key_fingerprints),
            };
            self.plain(t, &schema::APT_REPOSITORY, prefix, &mut repository);
            out.push(repository);
        }
        out
    }

    /// A repository's value, its options filled in with their defaults and the variables of
    /// `kept` (a line's own) written back as they were; `None` when it uses unknown variables
    /// (reported) or cannot be rendered.
    #[allow(clippy::too_many_arguments)]
    fn repository_value(
        &mut self,
        source: &str,
        at: usize,
        key: &str,
        name: &str,
        options: &[OptionSpec],
        option_names: &[&str],
        kept: &[&str],
    ) -> Option<String> {
        if !source.contains("{{") {
            return Some(source.to_owned());
        }
        match template::unknown_variables(source, option_names, &self.deps()) {
            Err(e) => {
                self.error(at, key, "template-syntax", format!("{source:?} does not parse: {e}"));
                return None;
            }
            Ok(unknown) => {
                let unknown: Vec<String> =
                    unknown.into_iter().filter(|v| !kept.contains(&v.as_str())).collect();
                for var in &unknown {
                    self.error(at, key, "template-variable", unknown_variable_message(var));
                }
                if !unknown.is_empty() {
                    return None;
                }
            }
        }
        self.render_with_defaults_keeping(name, source, options, kept)
    }

    pub(super) fn builder(
        &mut self,
        root: &Table<'_>,
        name: &str,
        options: &[OptionSpec],
        option_names: &[&str],
    ) -> Option<Builder> {
        let t = self.table(root, "", "builder")?;
        let prefix = "builder";
        let from = match self.string(t, prefix, "from", false) {
            None => BuilderFrom::BaseImage,
            Some(f) if f == "final" => BuilderFrom::FinalImage,
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
                BuilderFrom::Extension(text(&f))
            }
        };
        if from != BuilderFrom::BaseImage
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
        if !matches!(from, BuilderFrom::Extension(_)) {
            let at = t.get("apt_packages").map(|v| v.span().start).unwrap_or(0);
            let mut need: Vec<&str> = Vec::new();
            if !downloads.is_empty() {
                need.extend(["ca-certificates", "curl"]);
            }
            for extract in Extract::ALL {
                if downloads.iter().any(|d| d.extract == *extract) {
                    need.extend(extract.tools());
                }
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
            let mut artifact = Artifact { source: text(&source), dest: text(&dest) };
            self.plain(a, &schema::ARTIFACT, prefix, &mut artifact);
            artifacts.push(artifact);
        }
        // A builder that only downloads has no template of its own.
        let template = match template {
            Some(t) => t,
            None if !t.contains_key("template") => Template { file: DOWNLOADS_ONLY, source: "" },
            None => return None,
        };
        let mut builder = Builder {
            from,
            apt_packages: texts(apt_packages),
            downloads: slice(downloads),
            template,
            artifacts: slice(artifacts),
        };
        self.plain(t, &schema::BUILDER, prefix, &mut builder);
        Some(builder)
    }

    pub(super) fn files(&mut self, root: &Table<'_>) -> Vec<ContextFile> {
        let mut out = Vec::new();
        for (t, span) in self.tables(root, "", "files") {
            let Some(path) = self.string(t, "files", "path", false) else { continue };
            let executable = self.boolean(t, "files", "executable", false);
            let dest = self.string(t, "files", "dest", false);
            let at = t.get("path").map(|v| v.span().start).unwrap_or(span.start);
            if !rules::is_rel_path(&path) {
                continue;
            }
            match (self.input.load)(&path, crate::files::COPY_LIMIT) {
                Ok(contents) => {
                    // Moved, not copied: a large file is held once.
                    let contents = slice(contents);
                    let mut file =
                        ContextFile { path: text(&path), contents, executable, dest: dest.as_deref().map(text) };
                    self.plain(t, &schema::FILE, "files", &mut file);
                    out.push(file);
                }
                Err(why) => self.error(
                    at,
                    "files.path",
                    "missing-file",
                    format!("file {why} (paths are relative to the extension's folder; links may not lead outside the project)"),
                ),
            }
        }
        out
    }

    /// `docker run` needs: every key a plain one, each list entry a template over the options,
    /// checked like the others.
    pub(super) fn run(&mut self, root: &Table<'_>, option_names: &[&str], list_names: &[&str]) -> RunSpec {
        let Some(t) = self.table(root, "", "run") else { return RunSpec::EMPTY };
        let mut run = RunSpec::EMPTY;
        self.plain(t, &schema::RUN, "run", &mut run);
        for key in RUN_LIST_KEYS {
            let values = match *key {
                "env" => run.env,
                "volumes" => run.volumes,
                "optional_volumes" => run.optional_volumes,
                "devices" => run.devices,
                "group_add" => run.group_add,
                _ => run.args,
            };
            let at = t.get(*key).map(|v| v.span().start).unwrap_or(0);
            for &value in values {
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
                match template::unknown_variables(value, option_names, &self.deps()).map(|unknown| {
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
