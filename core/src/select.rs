//! Which extensions a request selects: the selection, less what running as root leaves out, and
//! the dependencies, transitively. Resolution starts from it (`resolve.rs`), and the CLI asks it
//! alone which extensions quarry.lock may pin before it seeds the request.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::model::Extension;
use crate::registry::Registry;
use crate::request::Request;

/// A dependency added because a selected extension needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedDependency {
    /// The added extension.
    pub name: &'static str,
    /// The first (by name) extension that needs it.
    pub required_by: &'static str,
}

/// The extensions a render of `request` selects, dependencies included, in name order:
/// resolution's first step alone (the selection, less what running as root leaves out, and the
/// dependencies), without checking option values. The CLI learns from it which extensions the
/// lock pins before it seeds the request, so a render resolves once (in `pieces`).
pub fn selected_names(registry: &Registry, request: &Request) -> Result<Vec<&'static str>, Error> {
    let mut given: BTreeMap<&'static str, BTreeSet<&str>> = BTreeMap::new();
    for selection in &request.extensions {
        let ext = registry.get(&selection.name).ok_or_else(|| Error::UnknownExtension {
            name: selection.name.clone(),
            suggestion: registry.suggest(&selection.name).map(str::to_owned),
        })?;
        let names = given.entry(ext.name).or_default();
        names.extend(selection.options.keys().map(String::as_str));
        names.extend(selection.lists.keys().map(String::as_str));
        // An alias (`ros_jazzy`) gives the options it sets.
        if let Some((_, alias)) = registry.alias(&selection.name) {
            names.extend(alias.options.iter().map(|o| o.option));
        }
    }
    if request.host.root {
        let option_defaults = crate::alias::canonical(registry, request).option_defaults;
        given.retain(|name, given| {
            registry
                .get(name)
                .is_none_or(|ext| !left_out_as_root(ext, |o| given.contains(o), &option_defaults))
        });
    }
    Ok(closure(registry, given.keys().copied())?.0.into_keys().collect())
}

/// Whether running as root leaves `ext` out: it makes the image's user from the host's
/// (`final_user` from a `from_host = "user"` option), and no host-valued option of it is given
/// (`given`) or preferred in the user file (`option_defaults`, by extension).
pub(crate) fn left_out_as_root(
    ext: &Extension,
    given: impl Fn(&str) -> bool,
    option_defaults: &BTreeMap<String, BTreeMap<String, String>>,
) -> bool {
    let mirrors = ext.final_user.is_some()
        && ext.options.iter().any(|o| o.from_host == Some(crate::model::HostValue::User));
    let named = ext
        .options
        .iter()
        .filter(|o| o.from_host.is_some())
        .any(|o| given(o.name) || option_defaults.get(ext.name).is_some_and(|d| d.contains_key(o.name)));
    mirrors && !named
}

/// `selected` and their dependencies, transitively, by name; and the dependencies added, each
/// with the first extension (by name) that needs it. Visited in name order so `required_by` is
/// deterministic.
#[allow(clippy::type_complexity)]
pub(crate) fn closure(
    registry: &Registry,
    selected: impl Iterator<Item = &'static str>,
) -> Result<(BTreeMap<&'static str, &'static Extension>, Vec<AddedDependency>), Error> {
    let selected: BTreeSet<&'static str> = selected.collect();
    let mut all: BTreeMap<&'static str, &'static Extension> = BTreeMap::new();
    let mut added = Vec::new();
    let mut queue: Vec<&'static Extension> = selected.iter().filter_map(|name| registry.get(name)).collect();
    while !queue.is_empty() {
        queue.sort_by_key(|e| Reverse(e.name));
        let ext = queue.pop().expect("queue is not empty");
        if all.insert(ext.name, ext).is_some() {
            continue;
        }
        for dep in ext.depends_on {
            let dep_ext = registry.get(dep).ok_or_else(|| Error::MissingDependency {
                extension: ext.name.to_owned(),
                dependency: (*dep).to_owned(),
            })?;
            if !selected.contains(dep) {
                added.push(AddedDependency { name: dep_ext.name, required_by: ext.name });
            }
            queue.push(dep_ext);
        }
    }
    added.sort_by(|a, b| (a.name, a.required_by).cmp(&(b.name, b.required_by)));
    added.dedup_by(|a, b| a.name == b.name);
    Ok((all, added))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::resolve;
    use crate::test_support::{ext, registry, request};

    /// `selected_names` is the resolution's set of extensions, without its checks of values.
    #[test]
    fn selected_names_are_the_resolved_extensions() {
        let reg = registry(vec![ext("a", &[], 50), ext("b", &["a"], 60), ext("c", &["b"], 10)]);
        let mut req = request(&["c"]);
        let resolved: Vec<&str> =
            resolve(&reg, &req).unwrap().extensions.iter().map(|r| r.extension.name).collect();
        assert_eq!(selected_names(&reg, &req).unwrap(), ["a", "b", "c"]);
        assert_eq!(resolved.len(), 3);
        req.extensions[0].options.insert("nope".into(), "1".into());
        assert!(resolve(&reg, &req).is_err(), "resolve checks the options");
        assert_eq!(selected_names(&reg, &req).unwrap(), ["a", "b", "c"], "the names do not");
        assert!(matches!(selected_names(&reg, &request(&["x"])), Err(Error::UnknownExtension { .. })));
    }
}
