//! What `quarry list` and `quarry show` print about an extension, as text and as JSON.

use quarry_core::text::one_line;
use quarry_core::{BuilderFrom, DEFAULT_BUILDER_BASE_IMAGE, Extension};
use serde_json::{Value, json};

/// `ubuntu:22.04`, `npm's builder`, `the final image`, or `-` without a builder.
pub fn builder_base(ext: &Extension) -> String {
    match ext.builder.map(|b| b.from) {
        None => "-".to_owned(),
        Some(BuilderFrom::BaseImage) => {
            ext.builder_base_image.unwrap_or(DEFAULT_BUILDER_BASE_IMAGE).to_owned()
        }
        Some(BuilderFrom::Extension(e)) => format!("{e}'s builder"),
        Some(BuilderFrom::FinalImage) => "the final image".to_owned(),
    }
}

/// The default as `quarry list` writes it after `name=`: the value, or the statement in
/// parentheses when it is words.
fn default_text(o: &quarry_core::OptionSpec) -> String {
    let text = match (o.default_value_text(), o.from_host) {
        (Some(value), None) => value,
        (Some(words), Some(_)) => format!("({words})"),
        (None, _) => "(required)".to_owned(),
    };
    match (o.multiple, o.required) {
        (true, true) => "(required, repeatable)".to_owned(),
        (true, false) => format!("{text} (repeatable)"),
        _ => text,
    }
}

/// `text` (an inline template of `ext`) rendered with the options' defaults; a required option
/// shows as `<NAME>`. Falls back to the text itself if it does not render.
fn rendered(ext: &Extension, text: &str) -> String {
    if !text.contains('{') {
        return text.to_owned();
    }
    let placeholders: Vec<String> =
        ext.options.iter().map(|o| format!("<{}>", o.name.to_uppercase())).collect();
    let ctx = quarry_core::template::context(
        ext.name,
        ext.depends_on,
        ext.options.iter().zip(&placeholders).map(|(o, p)| {
            let value = if o.required || o.from_host.is_some() { p.as_str() } else { o.default };
            let rule = if o.required || o.from_host.is_some() { quarry_core::Rule::Arg } else { o.rule };
            (o.name, value, rule)
        }),
    );
    quarry_core::template::render(&format!("{}/show", ext.name), text, ctx)
        .unwrap_or_else(|_| text.to_owned())
}

/// `name=default` of each option, or `-`. A default too long for a line of the list (a key's
/// URL) is shortened in its middle: `quarry show` gives it whole.
pub fn options(ext: &Extension) -> Vec<String> {
    if ext.options.is_empty() {
        return vec!["-".to_owned()];
    }
    ext.options
        .iter()
        .map(|o| {
            let text = default_text(o);
            let chars: Vec<char> = text.chars().collect();
            let text = if chars.len() > 44 {
                let head: String = chars[..27].iter().collect();
                let tail: String = chars[chars.len() - 16..].iter().collect();
                format!("{head}…{tail}")
            } else {
                text
            };
            format!("{}={text}", o.name)
        })
        .collect()
}

/// The width `quarry list` keeps to: options wrap at it, and a catalog description fits a line.
pub const LIST_WIDTH: usize = 100;

/// The `quarry list` text: a line per extension with its name, priority, builder base and
/// options (wrapped between options at [`LIST_WIDTH`]), then its description, indented.
pub fn list(extensions: &[&Extension]) -> String {
    // The catalog's names and builder bases fit 15 columns; a project's own may be longer.
    let name_width = extensions.iter().map(|e| e.name.len()).max().unwrap_or(0).max(15);
    let base_width = extensions.iter().map(|e| builder_base(e).len()).max().unwrap_or(0).max(15);
    let column = name_width + " PRIORITY  ".len() + base_width + 2;
    let mut out =
        format!("{:<name_width$} PRIORITY  {:<base_width$}  OPTIONS (default)\n", "NAME", "BUILDER BASE");
    for ext in extensions {
        let mut line = format!(
            "{:<name_width$} {:>8}  {:<base_width$} ",
            ext.name,
            ext.cache_priority,
            builder_base(ext)
        );
        for (i, option) in options(ext).into_iter().enumerate() {
            if i > 0 && line.len() + 1 + option.len() > LIST_WIDTH {
                out.push_str(&line);
                out.push('\n');
                line = " ".repeat(column - 1);
            }
            line.push(' ');
            line.push_str(&option);
        }
        out.push_str(&line);
        out.push_str(&format!("\n    {}\n", one_line(ext.description)));
        if !ext.aliases.is_empty() {
            let names: Vec<&str> = ext.aliases.iter().map(|a| a.name).collect();
            out.push_str(&format!("    also named: {} (`quarry show {}`)\n", names.join(", "), ext.name));
        }
    }
    out
}

/// `ros_jazzy (distro=jazzy)`: each alias of `ext` with the values it sets.
pub fn aliases(ext: &Extension) -> Vec<String> {
    ext.aliases
        .iter()
        .map(|a| {
            let set: Vec<String> = a.options.iter().map(|o| format!("{}={}", o.option, o.value)).collect();
            format!("{} ({})", a.name, set.join(" "))
        })
        .collect()
}

/// `humble: ubuntu:22.04, ubuntu:jammy`: the images of each value of `option`.
fn images_by(ext: &Extension, option: &str) -> Vec<String> {
    ext.supported_images_by
        .iter()
        .filter(|e| e.option == option)
        .map(|e| format!("{}: {}", e.value, e.images.join(", ")))
        .collect()
}

/// Where the extension comes from: its crate, or the project (a folder of it, or a key of
/// quarry.toml). Its Dockerfile comments (`# <name>: ...`) point here.
pub fn defined_in(ext: &Extension) -> String {
    match ext.crate_name.strip_prefix(crate::config::ORIGIN) {
        Some(place) => format!("the project: {place}"),
        None => format!("crate `{}`", ext.crate_name),
    }
}

/// The `quarry show` text.
pub fn text(ext: &Extension) -> String {
    // Text of the metadata is one line each, whatever it holds: no escape sequence reaches the
    // terminal (`one_line`).
    let mut s = format!("{}: {}\n", ext.name, one_line(ext.description));
    s.push_str(&format!("  defined in: {}\n", defined_in(ext)));
    s.push_str(&format!("  flag: {}\n", ext.flag()));
    s.push_str(&format!("  cache priority: {}\n", ext.cache_priority));
    if !ext.depends_on.is_empty() {
        s.push_str(&format!("  depends on: {}\n", ext.depends_on.join(", ")));
    }
    s.push_str(&format!("  builder base: {}\n", builder_base(ext)));
    if !ext.supported_images.is_empty() {
        s.push_str(&format!("  final images: {}\n", ext.supported_images.join(", ")));
    }
    if !ext.aliases.is_empty() {
        s.push_str(&format!("  also named: {}\n", aliases(ext).join(", ")));
    }
    let mut by: Vec<&str> = ext.supported_images_by.iter().map(|e| e.option).collect();
    by.dedup();
    for option in by {
        s.push_str(&format!(
            "  final images by {option} (unset, it follows the image): {}\n",
            images_by(ext, option).join("; ")
        ));
    }
    if !ext.options.is_empty() {
        s.push_str("  options:\n");
        for o in ext.options {
            let aliases: String = o.aliases.iter().map(|a| format!(", --{a}")).collect();
            s.push_str(&format!(
                "    {}-{}{aliases} VALUE  {} [{}{}; {}]\n",
                ext.flag(),
                o.name.replace('_', "-"),
                one_line(o.description),
                o.default_statement(),
                if o.multiple { "; repeatable" } else { "" },
                o.rule.expectation(),
            ));
        }
    }
    s.push_str("  adds:\n");
    for line in adds(ext) {
        s.push_str(&format!("    {}\n", one_line(&line)));
    }
    s
}

/// What the extension adds, one line each.
fn adds(ext: &Extension) -> Vec<String> {
    let mut out = Vec::new();
    if !ext.apt_repositories.is_empty() {
        let names: Vec<String> = ext
            .apt_repositories
            .iter()
            .map(|r| {
                let key = if r.key_fingerprints.is_empty() {
                    "its key as it arrives"
                } else {
                    "key pinned by fingerprint"
                };
                format!("{} ({key})", r.name)
            })
            .collect();
        out.push(format!("apt repositories: {}", names.join(", ")));
    }
    if !ext.apt_packages.is_empty() {
        let packages: Vec<String> = ext.apt_packages.iter().map(|p| rendered(ext, p)).collect();
        out.push(format!("apt packages: {}", packages.join(" ")));
    }
    if let Some(b) = &ext.builder {
        if !b.apt_packages.is_empty() {
            out.push(format!("builder apt packages: {}", b.apt_packages.join(" ")));
        }
        for d in b.downloads {
            let arches: Vec<&str> = d.urls.iter().map(|u| u.arch.key()).collect();
            out.push(format!("download `{}` ({}): {}", d.name, arches.join(", "), d.verification()));
        }
        for a in b.artifacts {
            out.push(format!("copies {} to {}", a.source, a.dest));
        }
    }
    for f in ext.files {
        if let Some(dest) = f.dest {
            out.push(format!("file {dest}"));
        }
    }
    if ext.setup.is_some() {
        let who = if ext.setup_as_user { "as the image's user" } else { "root" };
        out.push(if ext.setup_after_copies {
            format!("setup steps after the copies ({who}; re-run whenever an earlier step changes)")
        } else {
            format!("setup steps ({who}, right after its apt packages)")
        });
    }
    for entry in ext.env {
        out.push(format!("ENV {}", rendered(ext, entry)));
    }
    if let Some(init) = &ext.shell.init {
        out.push(format!("shell start-up: {}", shell_summary(&rendered(ext, init.source))));
    }
    if let Some(interactive) = &ext.shell.interactive {
        out.push(format!("interactive bash: {}", shell_summary(&rendered(ext, interactive.source))));
    }
    if let Some(u) = ext.final_user {
        out.push(format!("the image's user ({})", rendered(ext, u)));
    }
    if let Some(dir) = ext.workdir {
        out.push(format!("working folder {}", rendered(ext, dir)));
    }
    if ext.run.keep_container {
        out.push("docker run without --rm: the container stays after it stops".to_owned());
    }
    for (kind, list) in [
        ("env", ext.run.env),
        ("volume", ext.run.volumes),
        ("device", ext.run.devices),
        ("arg", ext.run.args),
    ] {
        for item in list {
            out.push(format!("docker run {kind}: {}", rendered(ext, item)));
        }
    }
    if !ext.files.is_empty() {
        let files: Vec<&str> = ext.files.iter().map(|f| f.path).collect();
        out.push(format!("build-context files: {}", files.join(", ")));
    }
    if out.is_empty() {
        out.push("nothing (a marker extension)".to_owned());
    }
    out
}

/// One line of shell text as it is; several as the first line and how many follow (joining them
/// would not be shell).
fn shell_summary(text: &str) -> String {
    let lines: Vec<&str> = text.trim().lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [first, rest @ ..] => {
            format!("{first} (and {} more lines; `--format json` shows them all)", rest.len())
        }
    }
}

/// The JSON description.
pub fn json(ext: &Extension) -> Value {
    json!({
        "name": ext.name,
        "defined_in": defined_in(ext),
        "flag": ext.flag(),
        "description": ext.description,
        "cache_priority": ext.cache_priority.get(),
        "depends_on": ext.depends_on,
        "builder": ext.builder.as_ref().map(|b| json!({
            "base_image": match b.from {
                BuilderFrom::BaseImage => Value::from(ext.builder_base_image.unwrap_or(DEFAULT_BUILDER_BASE_IMAGE)),
                _ => Value::Null,
            },
            "from": match b.from {
                BuilderFrom::BaseImage => Value::from("base_image"),
                BuilderFrom::Extension(e) => Value::from(e),
                BuilderFrom::FinalImage => Value::from("final"),
            },
            "apt_packages": b.apt_packages,
            "downloads": b.downloads.iter().map(|d| json!({
                "name": d.name,
                "architectures": d.urls.iter().map(|u| u.arch.key()).collect::<Vec<_>>(),
                "verify": d.verify_key(),
                "reason": match d.verify {
                    quarry_core::Verify::None { reason } => Value::from(reason),
                    _ => Value::Null,
                },
            })).collect::<Vec<_>>(),
            "artifacts": b.artifacts.iter().map(|a| json!({"source": a.source, "dest": a.dest})).collect::<Vec<_>>(),
        })),
        "apt_packages": ext.apt_packages,
        "apt_repositories": ext.apt_repositories.iter().map(|r| r.name).collect::<Vec<_>>(),
        "supported_images": ext.supported_images,
        "supported_images_by": ext.supported_images_by.iter().map(|e| json!({
            "option": e.option, "value": e.value, "images": e.images,
        })).collect::<Vec<_>>(),
        "aliases": ext.aliases.iter().map(|a| json!({
            "name": a.name,
            "options": a.options.iter().map(|o| (o.option.to_owned(), Value::from(o.value))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "env": ext.env,
        "shell": {
            "init": ext.shell.init.map(|t| t.source),
            "interactive": ext.shell.interactive.map(|t| t.source),
        },
        "files": ext.files.iter().map(|f| json!({"path": f.path, "dest": f.dest})).collect::<Vec<_>>(),
        "workdir": ext.workdir,
        "options": ext.options.iter().map(|o| json!({
            "name": o.name,
            "description": o.description,
            "default": if o.required { Value::Null } else { Value::from(o.default) },
            "required": o.required,
            "multiple": o.multiple,
            "aliases": o.aliases,
            "from_host": o.from_host.map(|h| h.key()),
            "rule": o.rule.key(),
        })).collect::<Vec<_>>(),
        "run": {
            "env": ext.run.env,
            "volumes": ext.run.volumes,
            "devices": ext.run.devices,
            "args": ext.run.args,
            "keep_container": ext.run.keep_container,
        },
    })
}
