//! The one minijinja environment every extension template is rendered with, the variables a
//! template may use, and the check that a rendered snippet holds only Dockerfile instructions an
//! extension may emit.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::rules;

/// Which slot of the Dockerfile a template fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// The body of `<name>_builder`.
    Builder,
    /// Final-stage RUN steps of the chain, run as root.
    Setup,
    /// Shell initialisation: bash text written to a file, not Dockerfile instructions.
    Shell,
    /// A single value rather than instructions: `final_user`, `workdir`, an `env` entry, a
    /// templated apt package name. It is checked by the rule of its place, not as a snippet.
    Value,
}

impl Slot {
    /// Instructions a snippet in this slot may contain.
    pub fn allowed_instructions(self) -> &'static [&'static str] {
        match self {
            Slot::Builder => &["RUN", "COPY", "ENV", "WORKDIR"],
            // Setup steps are the final stage's RUN chain: environment goes to `env`, files to
            // `files` or the builder, the user's folder to `workdir`.
            Slot::Setup => &["RUN"],
            Slot::Shell | Slot::Value => &[],
        }
    }
}

/// Top-level variables every template may use.
///
/// - `name`: the extension's name.
/// - `out`: `/opt/quarry/<name>`, where a builder writes what it produces.
/// - `context`: `quarry/<name>`, the build-context folder holding the extension's files.
/// - `options`: the option values, by option name.
/// - `deps`: what an extension may know of the extensions in its `depends_on`:
///   `deps.<name>.out`, that one's `/opt/quarry/<name>` (claude's builder, `from = "npm"`, runs
///   `{{ deps.npm.out }}/bin/npm`), so no extension writes another's path.
pub const VARIABLES: &[&str] = &["name", "out", "context", "options", "deps"];

/// What `deps.<name>` holds for an extension of `depends_on`.
pub const DEP_VARIABLES: &[&str] = &["out"];

/// Variables `[run]` entries see besides [`VARIABLES`], filled in by the CLI at `quarry run` time:
///
/// - `home`: the home folder of the image's user (the `home` of the extension that sets
///   `final_user`, else `/root`), for mounts into it;
/// - `host_groups`: the host user's supplementary group ids, comma-separated (for `group_add`);
/// - `gpu`: whether the engine runs NVIDIA GPUs (it has the NVIDIA Container Toolkit's
///   runtime), for GPUs only when present.
pub const RUN_VARIABLES: &[&str] = &["home", "host_groups", "gpu"];

/// The variables of an apt repository's `source` line besides the options, filled in by the apt
/// layer (`stage::apt_source_line`): `keyring`, the path of the repository's key (with the pinned
/// fingerprints), and the image's architecture (`dpkg --print-architecture`), codename (`noble`)
/// and release (`os_release`, `ubuntu2404`: its `ID` and `VERSION_ID` without dots, as NVIDIA
/// names its repositories), shell expansions evaluated in the image, so one line serves every
/// release.
pub const APT_SOURCE_VARIABLES: &[&str] = &["keyring", "arch", "codename", "os_release"];

/// Whether `line`, a `source` line with its options filled in, is one the apt layer may write:
/// a template over [`APT_SOURCE_VARIABLES`] alone that uses `keyring` (in `signed-by=`) and,
/// each variable standing for its name, is a `deb ` line of `[A-Za-z0-9 /:._~\[\]=,+-]` only.
pub fn is_apt_source(line: &str) -> bool {
    let known = variables(line)
        .is_ok_and(|v| v.contains("keyring") && v.iter().all(|n| APT_SOURCE_VARIABLES.contains(&n.as_str())));
    let rendered = render_with_names(line, APT_SOURCE_VARIABLES).unwrap_or_default();
    known
        && rendered.starts_with("deb ")
        && rendered.bytes().all(|c| c.is_ascii_alphanumeric() || b" /:.-_[]=,+~".contains(&c))
}

/// Functions every template may call.
///
/// - `cache_mount(id, target)`: a BuildKit cache mount whose id ends in `-${CACHE_ID}`.
pub const FUNCTIONS: &[&str] = &["cache_mount"];

/// The fuel of one render: instructions a template may run before it is stopped with an error.
/// The catalog's largest template needs a few thousand; a loop of 10⁸ iterations used to run for
/// seconds at every `quarry list`.
pub const FUEL: u64 = 1_000_000;

/// Creates the template environment: strict undefined, no auto-escaping, trailing newline kept,
/// `trim_blocks` and `lstrip_blocks`, and at most [`FUEL`] instructions per render.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env.add_function("cache_mount", cache_mount);
    env
}

/// `--mount=type=cache,id=<id>-${CACHE_ID},target=<target>,sharing=locked`.
fn cache_mount(id: &str, target: &str) -> Result<String, minijinja::Error> {
    if !rules::is_identifier(id) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("cache_mount id `{id}` must be an identifier (letters, digits, `_`, `.`, `-`)"),
        ));
    }
    if !rules::is_abs_path(target) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("cache_mount target `{target}` must be an absolute path"),
        ));
    }
    Ok(cache_mount_flag(id, target))
}

/// The cache-mount flag core writes for `id` on `target`.
pub fn cache_mount_flag(id: &str, target: &str) -> String {
    format!("--mount=type=cache,id={id}-${{CACHE_ID}},target={target},sharing=locked")
}

/// The variables `source` uses that no template may use, given the extension's option names and
/// its `depends_on`.
///
/// Nested attribute lookups are checked too: `options.versoin` is reported when there is no
/// option `versoin`, `deps.uv.out` when `uv` is not in `depends_on`.
pub fn unknown_variables(
    source: &str,
    option_names: &[&str],
    depends_on: &[&str],
) -> Result<Vec<String>, minijinja::Error> {
    let env = environment();
    let template = env.template_from_str(source)?;
    let mut unknown = BTreeSet::new();
    for var in template.undeclared_variables(true) {
        let mut parts = var.splitn(2, '.');
        let head = parts.next().unwrap_or_default();
        let rest = parts.next();
        let known = match head {
            "options" => match rest {
                None => true,
                Some(rest) => {
                    let option = rest.split('.').next().unwrap_or_default();
                    option_names.contains(&option)
                }
            },
            "deps" => match rest.map(|r| r.split_once('.').unwrap_or((r, ""))) {
                None => true,
                Some((dep, attr)) => {
                    depends_on.contains(&dep) && (attr.is_empty() || DEP_VARIABLES.contains(&attr))
                }
            },
            h if VARIABLES.contains(&h) || FUNCTIONS.contains(&h) => rest.is_none(),
            _ => false,
        };
        if !known {
            unknown.insert(var);
        }
    }
    Ok(unknown.into_iter().collect())
}

/// The variables `source` names (top-level names, without attributes).
pub fn variables(source: &str) -> Result<BTreeSet<String>, minijinja::Error> {
    let env = environment();
    let template = env.template_from_str(source)?;
    Ok(template.undeclared_variables(false).into_iter().collect())
}

/// `source` rendered with each of `names` standing for itself (`{{ keyring }}` gives `keyring`):
/// the text a template writes around its variables, for a check of its characters.
pub fn render_with_names(source: &str, names: &[&str]) -> Result<String, minijinja::Error> {
    let ctx = Value::from_pairs(names.iter().map(|n| (*n, *n)));
    render("names", source, ctx)
}

/// The context every template of extension `name` is rendered with, given its `depends_on` and
/// its option values (name, value, rule). `bool` options become booleans and `uint` options
/// numbers.
pub fn context<'a>(
    name: &str,
    depends_on: &[&str],
    options: impl IntoIterator<Item = (&'a str, &'a str, rules::Rule)>,
) -> Value {
    let options: std::collections::BTreeMap<&str, Value> = options
        .into_iter()
        .map(|(option, value, rule)| {
            let value = match rule {
                rules::Rule::Bool => Value::from(value == "true"),
                rules::Rule::Uint | rules::Rule::UserId => {
                    Value::from(value.parse::<u64>().unwrap_or_default())
                }
                _ => Value::from(value),
            };
            (option, value)
        })
        .collect();
    let deps: std::collections::BTreeMap<&str, Value> = depends_on
        .iter()
        .map(|dep| (*dep, minijinja::context! { out => format!("{}/{dep}", crate::model::ARTIFACT_ROOT) }))
        .collect();
    minijinja::context! {
        name => name,
        out => format!("{}/{name}", crate::model::ARTIFACT_ROOT),
        context => format!("{}/{name}", crate::model::CONTEXT_DIR),
        options => options,
        deps => deps,
    }
}

/// `base` with each variable of `kept` standing for itself as it is written (`{{ keyring }}`):
/// the context that fills in a value's options and leaves these variables for a later step to
/// fill (an apt source line's, [`APT_SOURCE_VARIABLES`]).
pub fn keeping(base: Value, kept: &[&str]) -> Value {
    let kept = Value::from_pairs(kept.iter().map(|v| (*v, format!("{{{{ {v} }}}}"))));
    minijinja::context! { ..kept, ..base }
}

/// The context of `[run]` entries: [`context`] and the [`RUN_VARIABLES`].
pub fn run_context(base: Value, home: &str, host_groups: &str, gpu: bool) -> Value {
    minijinja::context! { home => home, host_groups => host_groups, gpu => gpu, ..base }
}

/// Renders `source` (named `<extension>/<file>`) with `ctx`.
///
/// One environment serves every call: setting one up (its built-in filters, tests and
/// functions) costs more than compiling a small template, and a render compiles dozens. It holds
/// no templates and no state, so a call's output depends on its arguments alone.
///
/// Text without `{` holds no tag, expression or comment, and renders to itself (the environment
/// keeps the trailing newline): it is returned as it is, not compiled.
pub fn render(name: &str, source: &str, ctx: Value) -> Result<String, minijinja::Error> {
    if !source.contains('{') {
        return Ok(source.to_owned());
    }
    static SHARED: OnceLock<Environment<'static>> = OnceLock::new();
    let env = SHARED.get_or_init(environment);
    let template = env.template_from_named_str(name, source)?;
    template.render(ctx)
}

/// A rendered snippet that its slot does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetError {
    /// 1-based line of the rendered snippet (0 when the fault is the snippet as a whole).
    pub line: usize,
    /// The offending line, trimmed.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SnippetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "rendered line {}: ", self.line)?;
        }
        f.write_str(&self.message)
    }
}

/// Checks a rendered snippet, reading its lines as BuildKit does where quarry places it (after
/// other instructions, `\\` the escape character): every instruction is allowed in its slot and
/// written in capitals, none opens a heredoc, the last one does not continue into what follows,
/// and there is one at least. Control characters other than tab are refused, but for `\r` at a
/// line's end: the snippet is written as it was read ([`crate::StageWriter::snippet`]).
pub fn check_snippet(slot: Slot, snippet: &str) -> Result<(), SnippetError> {
    use quarry_buildkit::dockerfile::lines::{Line, Reader};
    let allowed = slot.allowed_instructions();
    for (index, line) in snippet.split('\n').enumerate() {
        let body = line.trim_end_matches('\r');
        if let Some(c) = body.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(SnippetError {
                line: index + 1,
                text: body.trim().to_owned(),
                message: format!(
                    "control character U+{:04X}: a Dockerfile line holds printable text and tabs only",
                    u32::from(c)
                ),
            });
        }
    }
    let mut any = false;
    for line in Reader::within(snippet, '\\') {
        let Ok(Line::Instruction(logical)) = line else { continue };
        any = true;
        let fail = |message: String| SnippetError {
            line: logical.start,
            text: logical.raw[0].trim().to_owned(),
            message,
        };
        let word = logical.keyword();
        let upper = word.to_ascii_uppercase();
        if !allowed.contains(&upper.as_str()) {
            return Err(fail(format!(
                "instruction `{word}` is not allowed here (allowed: {})",
                allowed.join(", ")
            )));
        }
        if word != upper {
            return Err(fail(format!("write the instruction as `{upper}`")));
        }
        // BuildKit looks for heredocs in the joined line of RUN, COPY and ADD, wherever the `<<`.
        if logical.text.contains("<<") && ["RUN", "COPY", "ADD"].contains(&upper.as_str()) {
            return Err(fail(
                "heredocs need a newer Dockerfile frontend than quarry targets; \
                 use a file shipped in the build context instead"
                    .to_owned(),
            ));
        }
        if logical.continued {
            return Err(fail(
                "the last instruction ends with `\\` (comment and blank lines after it do not end it), \
                 continuing into whatever follows"
                    .to_owned(),
            ));
        }
    }
    if !any {
        return Err(SnippetError {
            line: 0,
            text: String::new(),
            message: "the template produced no instruction".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An apt source line is a template over its variables.
    #[test]
    fn an_apt_source_line_renders_its_variables() {
        let s = "deb [arch={{ arch }} signed-by={{ keyring }}] https://example.org {{ codename }} main";
        assert_eq!(
            variables(s).unwrap(),
            BTreeSet::from(["arch".into(), "codename".into(), "keyring".into()])
        );
        assert_eq!(
            render_with_names(s, APT_SOURCE_VARIABLES).unwrap(),
            "deb [arch=arch signed-by=keyring] https://example.org codename main"
        );
        assert!(is_apt_source(s));
        assert!(is_apt_source("deb [signed-by={{ keyring }}] http://a/b {{ codename }} main"));
        assert!(is_apt_source("deb [signed-by={{ keyring }}] https://a/{{ os_release }}/x86_64 /"));
        assert!(!is_apt_source("deb [signed-by={{ keyring }}] http://a/$(id) main"));
        assert!(!is_apt_source("deb http://a/b main"));
        assert!(!is_apt_source("deb [signed-by={{ keyring }}] {{ options.mirror }} main"));
    }

    /// An extension knows the path of an extension it depends on, and no other's.
    #[test]
    fn deps_are_the_extensions_of_depends_on() {
        let src = "{{ deps.npm.out }}/bin {{ deps.uv.out }} {{ deps.npm.bin }}";
        assert_eq!(unknown_variables(src, &[], &["npm"]).unwrap(), ["deps.npm.bin", "deps.uv.out"]);
        let ctx = context("claude", &["npm"], []);
        assert_eq!(
            render("claude/t", "PATH={{ deps.npm.out }}/bin:$PATH", ctx).unwrap(),
            "PATH=/opt/quarry/npm/bin:$PATH"
        );
    }

    #[test]
    fn a_template_cannot_run_for_long() {
        let started = std::time::Instant::now();
        let err = render(
            "x/t",
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            Value::from(()),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfFuel);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn environment_is_strict() {
        let err = render("x/t", "{{ nope }}", Value::from(())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UndefinedError);
    }

    #[test]
    fn unknown_variables_are_found() {
        let src = "RUN {{ options.version }} {{ options.versoin }} {{ out }} {{ image }}\n";
        let unknown = unknown_variables(src, &["version"], &[]).unwrap();
        assert_eq!(unknown, vec!["image".to_owned(), "options.versoin".to_owned()]);
    }

    #[test]
    fn snippets_are_checked() {
        assert!(check_snippet(Slot::Builder, "RUN a \\\n  && b\nENV X=1\n").is_ok());
        let err = check_snippet(Slot::Builder, "RUN a\nFROM x\n").unwrap_err();
        assert_eq!((err.line, err.text.as_str()), (2, "FROM x"));
        assert!(err.to_string().starts_with("rendered line 2: instruction `FROM` is not allowed"));
        assert!(check_snippet(Slot::Setup, "run x\n").unwrap_err().message.contains("`RUN`"));
        assert!(check_snippet(Slot::Setup, "ENV A=1\n").unwrap_err().message.contains("allowed: RUN"));
        assert!(check_snippet(Slot::Setup, "RUN x \\\n").unwrap_err().message.contains("continuing"));
        assert!(check_snippet(Slot::Setup, "RUN x \\\n# c\n\n").unwrap_err().message.contains("continuing"));
        assert!(check_snippet(Slot::Setup, "# only a comment\n").is_err());
        assert!(check_snippet(Slot::Setup, "RUN <<EOF\nx\nEOF\n").is_err());
        // Lines are read as BuildKit reads them: a comment never continues, an escaped escape
        // does not either, and a heredoc's `<<` counts on any line of its instruction.
        let err = check_snippet(Slot::Setup, "RUN true\n# c \\\nLABEL x=1\n").unwrap_err();
        assert_eq!((err.line, err.text.as_str()), (3, "LABEL x=1"));
        assert_eq!(check_snippet(Slot::Setup, "RUN echo \\\\\nLABEL y=1\n").unwrap_err().line, 2);
        let err = check_snippet(Slot::Setup, "RUN cat \\\n  <<EOF\nEOF\n").unwrap_err();
        assert!(err.message.starts_with("heredocs"), "{err}");
        assert!(check_snippet(Slot::Setup, "RUN a\u{b}\n").unwrap_err().message.contains("U+000B"));
        assert!(check_snippet(Slot::Setup, "RUN a \\\r\n  && b\r\n").is_ok(), "CRLF");
    }

    #[test]
    fn text_without_braces_renders_to_itself_as_minijinja_renders_it() {
        let env = environment();
        for text in [
            "",
            "\n",
            "curl",
            "RUN apt-get update \\\n  && rm -rf /var/lib/apt/lists/*\n\n",
            "  %} #} }} \t\r\nline\n   \n",
            "https://example.org/a-1.0.tar.gz",
        ] {
            let compiled = env.template_from_named_str("t", text).unwrap().render(()).unwrap();
            assert_eq!(render("t", text, Value::UNDEFINED).unwrap(), compiled, "{text:?}");
            assert_eq!(compiled, text);
        }
        let ctx = minijinja::context! { name => "x" };
        assert_eq!(render("t", "a {{ name }}\n", ctx).unwrap(), "a x\n");
        assert!(render("t", "{{ nothing }}", Value::UNDEFINED).is_err(), "strict, as before");
    }

    #[test]
    fn cache_mount_rejects_injection() {
        let env = environment();
        let ok = env.render_str("{{ cache_mount('cargo', '/root/.cargo') }}", ()).unwrap();
        assert_eq!(ok, "--mount=type=cache,id=cargo-${CACHE_ID},target=/root/.cargo,sharing=locked");
        assert!(env.render_str("{{ cache_mount('a,b', '/x') }}", ()).is_err());
        assert!(env.render_str("{{ cache_mount('a', 'x y') }}", ()).is_err());
    }
}
