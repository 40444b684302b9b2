//! An extension's templates filled with its resolved options, and checked against the slot they
//! fill: what every part of a render (pieces, downloads) writes templates through.

use crate::error::Error;
use crate::model::{Extension, Template};
use crate::resolve::ResolvedExtension;
use crate::template::{self, Slot};

pub(crate) fn render_template(
    r: &ResolvedExtension,
    template: &Template,
    slot: Slot,
) -> Result<String, Error> {
    let ext = r.extension;
    let ctx = template::context(
        ext.name,
        ext.depends_on,
        ext.options.iter().map(|o| (o.name, r.options[o.name].as_str(), o.rule)),
    );
    let name = format!("{}/{}", ext.name, template.file);
    let rendered = template::render(&name, template.source, ctx)
        .map_err(|e| template_error(ext, template, e.to_string()))?;
    // Shell text goes to a file of the build context, values are checked by their own rule.
    if !matches!(slot, Slot::Value | Slot::Shell) {
        template::check_snippet(slot, &rendered).map_err(|e| template_error(ext, template, e.to_string()))?;
    }
    Ok(rendered)
}

/// `template`, a value of the metadata (an apt repository's key URL, fingerprint or line), filled
/// with `r`'s options; each variable of `kept` is written back as it was (`{{ keyring }}`), for
/// the step that writes the value to fill in.
pub(crate) fn render_value_keeping(
    r: &ResolvedExtension,
    template: &Template,
    kept: &[&str],
) -> Result<String, Error> {
    let ext = r.extension;
    let ctx = template::keeping(
        template::context(
            ext.name,
            ext.depends_on,
            ext.options.iter().map(|o| (o.name, r.options[o.name].as_str(), o.rule)),
        ),
        kept,
    );
    let name = format!("{}/{}", ext.name, template.file);
    template::render(&name, template.source, ctx).map_err(|e| template_error(ext, template, e.to_string()))
}

pub(crate) fn template_error(ext: &Extension, template: &Template, message: String) -> Error {
    Error::Template {
        extension: ext.name.to_owned(),
        template: format!("{}/{}", ext.name, template.file),
        message,
    }
}
