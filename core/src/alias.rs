//! Aliases in resolution: `ros_jazzy` is `ros` with `distro` `jazzy`. The request's maps keyed
//! by name (preferences, pins, overrides, the locked order) are keyed by the extension, and an alias's
//! values join its selection, another value for one of them being an error naming the alias.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::model::Extension;
use crate::registry::Registry;
use crate::request::{Override, Request, Selection};

/// The request's maps with every alias written as its extension.
pub(crate) struct Canonical {
    /// The user file's preferences, by extension.
    pub option_defaults: BTreeMap<String, BTreeMap<String, String>>,
    /// quarry.lock's pins, by extension.
    pub pinned: BTreeMap<String, BTreeMap<String, String>>,
    /// Per-extension overrides, by extension.
    pub overrides: BTreeMap<String, Override>,
    /// The locked chain order, by extension.
    pub locked_order: Option<Vec<String>>,
}

/// [`Canonical`] of `request`.
pub(crate) fn canonical(registry: &Registry, request: &Request) -> Canonical {
    let name = |n: &str| extension_name(registry, n);
    let option_defaults = by_extension(registry, &request.option_defaults);
    let pinned = by_extension(registry, &request.pinned);
    let mut overrides: BTreeMap<String, Override> = BTreeMap::new();
    for (n, o) in &request.overrides {
        overrides.entry(name(n)).or_insert_with(|| o.clone());
    }
    let locked_order = request.locked_order.as_ref().map(|names| names.iter().map(|n| name(n)).collect());
    Canonical { option_defaults, pinned, overrides, locked_order }
}

/// The extension `name` names (itself, or the one it is an alias of); an unknown name as it is.
fn extension_name(registry: &Registry, name: &str) -> String {
    registry.get(name).map_or_else(|| name.to_owned(), |e| e.name.to_owned())
}

/// Option values keyed by extension or alias, keyed by extension; where two names give an option,
/// the first in name order wins.
fn by_extension(
    registry: &Registry,
    values: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (n, values) in values {
        let merged = out.entry(extension_name(registry, n)).or_default();
        for (option, value) in values {
            merged.entry(option.clone()).or_insert_with(|| value.clone());
        }
    }
    out
}

/// Which alias set which option of which extension, while selections are merged.
#[derive(Debug, Default)]
pub(crate) struct PresetBy(BTreeMap<(&'static str, &'static str), &'static str>);

impl PresetBy {
    /// When `selection` names an alias of `ext`, its values join `options` (the merged values of
    /// `ext` so far): a value the selection or an earlier one gives otherwise is an error.
    pub fn apply(
        &mut self,
        registry: &Registry,
        selection: &Selection,
        ext: &'static Extension,
        options: &mut BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let Some((_, alias)) = registry.alias(&selection.name) else { return Ok(()) };
        for preset in alias.options {
            let other = selection.options.get(preset.option).or_else(|| options.get(preset.option));
            if let Some(given) = other
                && given != preset.value
            {
                return Err(conflict(alias.name, ext, preset.option, preset.value, given));
            }
            options.insert(preset.option.to_owned(), preset.value.to_owned());
            self.0.insert((ext.name, preset.option), alias.name);
        }
        Ok(())
    }

    /// A selection gives `option` of `ext` the `value` where `previous` was merged: an error
    /// naming the alias when an alias set it (the caller reports any other conflict).
    pub fn check(&self, ext: &Extension, option: &str, previous: &str, value: &str) -> Result<(), Error> {
        match self.0.get(&(ext.name, option)) {
            Some(alias) => Err(conflict(alias, ext, option, previous, value)),
            None => Ok(()),
        }
    }
}

fn conflict(alias: &str, ext: &Extension, option: &str, preset: &str, given: &str) -> Error {
    Error::AliasConflict {
        alias: alias.to_owned(),
        extension: ext.name.to_owned(),
        option: option.to_owned(),
        preset: preset.to_owned(),
        given: given.to_owned(),
    }
}
