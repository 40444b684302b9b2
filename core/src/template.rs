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
pub const VARIABLES: &[&str] = &["name", "out", "context", "options"];

/// Variables `[run]` entries see besides [`VARIABLES`], filled in by the CLI at `quarry run` time:
///
/// - `home`: the home folder of the image's user (the `home` of the extension that sets
///   `final_user`, else `/root`), for mounts into it;
/// - `host_groups`: the host user's supplementary group ids, comma-separated (for `group_add`);
/// - `gpu`: whether the engine runs NVIDIA GPUs (it has the NVIDIA Container Toolkit's
///   runtime), for GPUs only when present.
pub const RUN_VARIABLES: &[&str] = &["home", "host_groups", "gpu"];

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

/// The variables `source` uses that no template may use, given the extension's option names.
///
/// Nested attribute lookups are checked too: `options.versoin` is reported when there is no
/// option `versoin`.
pub fn unknown_variables(source: &str, option_names: &[&str]) -> Result<Vec<String>, minijinja::Error> {
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
            h if VARIABLES.contains(&h) || FUNCTIONS.contains(&h) => rest.is_none(),
            _ => false,
        };
        if !known {
            unknown.insert(var);
        }
    }
    Ok(unknown.into_iter().collect())
}

/// The context every template of extension `name` is rendered with, given its option values
/// (name, value, rule). `bool` options become booleans and `uint` options numbers.
pub fn context<'a>(name: &str, options: impl IntoIterator<Item = (&'a str, &'a str, rules::Rule)>) -> Value {
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
    minijinja::context! {
        name => name,
        out => format!("{}/{name}", crate::ARTIFACT_ROOT),
        context => format!("{}/{name}", crate::CONTEXT_DIR),
        options => options,
    }
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
        let unknown = unknown_variables(src, &["version"]).unwrap();
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
