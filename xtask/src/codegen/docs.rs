//! The parts of the documentation written from `quarry_core::schema`: `docs/EXTENDING.md`'s key
//! and rule tables, and the check that the scaffold's commented `extension.toml` shows every key.

use std::path::Path;

use anyhow::{Context, bail};
use quarry_core::schema::{self, Type};

/// `<!-- @generated schema:<table> ... -->` ... `<!-- @generated end -->`.
const BEGIN: &str = "<!-- @generated schema:";
const END: &str = "<!-- @generated end -->";

/// `docs/EXTENDING.md` with every generated block rewritten from the schema.
pub fn extending_md(current: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(current.len());
    let mut rest = current;
    while let Some(start) = rest.find(BEGIN) {
        let name_start = start + BEGIN.len();
        let name_end =
            rest[name_start..].find(' ').map(|i| name_start + i).context("a generated block has no name")?;
        let name = &rest[name_start..name_end];
        let header_end = rest[start..].find('\n').map(|i| start + i + 1).context("unterminated marker")?;
        let Some(end) = rest[header_end..].find(END).map(|i| header_end + i) else {
            bail!("`docs/EXTENDING.md`: the generated block `{name}` has no `{END}`");
        };
        out.push_str(&rest[..header_end]);
        out.push_str(&block(name)?);
        out.push_str(END);
        rest = &rest[end + END.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

fn block(name: &str) -> anyhow::Result<String> {
    if name == "rules" {
        return Ok(schema::rules_markdown());
    }
    let path = if name == "top" { "" } else { name };
    match schema::TABLES.iter().find(|t| t.path == path) {
        Some(table) => Ok(schema::markdown(table)),
        None => bail!("`docs/EXTENDING.md` names the schema table `{name}`, which does not exist"),
    }
}

/// Checks that the scaffold's `extension.toml` shows every key of the schema (set, or commented
/// out as `# key = ...`): `quarry_core::schema::scaffold` writes the plain ones it lacks, so this
/// fails for a table or a key of a shape only prose can show.
pub fn check_scaffold(text: &str) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for table in schema::TABLES {
        if let Some(h) = schema::header(table.path)
            && !text.contains(h.as_str())
        {
            missing.push(h);
        }
        for key in table.keys {
            if matches!(key.ty, Type::Removed(_) | Type::Table(_) | Type::Tables(_) | Type::NamedTables(_)) {
                continue;
            }
            if !schema::shows(text, key.name) {
                missing.push(if table.path.is_empty() {
                    key.name.to_owned()
                } else {
                    format!("{}.{}", table.path, key.name)
                });
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "the scaffold's `extension.toml` does not show {}\nhint: add each, commented out, with a line saying what it does (see docs/EXTENDING.md)",
            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// A unified diff of `old` against `new`, for `--check`.
pub fn diff(path: &Path, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("{} (committed)", path.display()), &format!("{} (generated)", path.display()))
        .to_string()
}
