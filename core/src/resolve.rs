//! From what the user selected to the ordered list of extensions to render: dependencies added,
//! options checked and defaulted, overrides applied, and one deterministic order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::error::Error;
use crate::hint::Hinted;
use crate::model::{BuilderFrom, CachePriority, DEFAULT_BUILDER_BASE_IMAGE, Extension};
use crate::registry::Registry;
use crate::request::Request;
use crate::rules;
use crate::select::{AddedDependency, closure, left_out_as_root};

/// An extension as it will be rendered.
#[derive(Debug, Clone)]
pub struct ResolvedExtension {
    /// The registered extension.
    pub extension: &'static Extension,
    /// Every option's value: the user's, or the default. For a list option, its first value
    /// (or the default): only `[run]` entries use list options, through `lists`.
    pub options: BTreeMap<String, String>,
    /// Every list option's values, in the order given (repeats removed): the user's, or
    /// `[default]` (nothing for a required option that was not given, which is an error).
    pub lists: BTreeMap<String, Vec<String>>,
    /// Effective cache priority (metadata or override).
    pub priority: CachePriority,
    /// Effective builder base image, if the extension has a builder on a base image of its own
    /// (not one that starts from another builder or from the final image).
    pub builder_base_image: Option<String>,
    /// Whether the user selected it (rather than it being pulled in as a dependency).
    pub requested: bool,
}

/// The resolved selection, in render order.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Extensions ordered by (priority descending, name), dependencies first.
    pub extensions: Vec<ResolvedExtension>,
    /// Dependencies that were added automatically.
    pub added: Vec<AddedDependency>,
    /// The global builder base image (override or default).
    pub default_builder_base_image: String,
    /// What the user should know (a locked order that had to change, an extension that mirrors
    /// the host user left out as root, host values that could not be used).
    pub notes: Vec<Hinted>,
}

/// Resolves `request` against `registry`.
pub fn resolve(registry: &Registry, request: &Request) -> Result<Resolved, Error> {
    if request.extensions.is_empty() {
        return Err(Error::NothingSelected);
    }
    let default_builder_base_image = match &request.builder_base_image {
        Some(image) => checked_image("global builder base image", image)?,
        None => DEFAULT_BUILDER_BASE_IMAGE.to_owned(),
    };

    let crate::alias::Canonical { option_defaults, pinned, overrides, locked_order } =
        crate::alias::canonical(registry, request);

    // The user's selections, merged by name; list options' values are concatenated.
    let mut selected: BTreeMap<&'static str, BTreeMap<String, String>> = BTreeMap::new();
    let mut lists: BTreeMap<&'static str, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    // Which alias set an option, so that another value is named as against the alias.
    let mut preset_by = crate::alias::PresetBy::default();
    for selection in &request.extensions {
        let ext = registry.get(&selection.name).ok_or_else(|| Error::UnknownExtension {
            name: selection.name.clone(),
            suggestion: registry.suggest(&selection.name).map(str::to_owned),
        })?;
        let options = selected.entry(ext.name).or_default();
        // `ros_jazzy` is `ros` with distro `jazzy`: its values join the selection's own.
        preset_by.apply(registry, selection, ext, options)?;
        let ext_lists = lists.entry(ext.name).or_default();
        let given_lists = selection.lists.iter().flat_map(|(o, values)| values.iter().map(move |v| (o, v)));
        let singles_of_lists =
            selection.options.iter().filter(|(o, _)| ext.option(o).is_some_and(|s| s.multiple));
        for (option, value) in singles_of_lists.chain(given_lists) {
            check_option(ext, option, value)?;
            if !ext.option(option).is_some_and(|s| s.multiple) {
                return Err(Error::NotAList { extension: ext.name.to_owned(), option: option.clone() });
            }
            let values = ext_lists.entry(option.clone()).or_default();
            if !values.contains(value) {
                values.push(value.clone());
            }
        }
        for (option, value) in &selection.options {
            if ext.option(option).is_some_and(|s| s.multiple) {
                continue;
            }
            check_option(ext, option, value)?;
            if let Some(previous) = options.get(option)
                && previous != value
            {
                preset_by.check(ext, option, previous, value)?;
                return Err(Error::ConflictingOption {
                    extension: ext.name.to_owned(),
                    option: option.clone(),
                    first: previous.clone(),
                    second: value.clone(),
                });
            }
            options.insert(option.clone(), value.clone());
        }
    }

    // As root on the host there is no user to mirror: an extension that makes the image's user
    // from the host's (`final_user` from a `from_host = "user"` option) keeps the image's root,
    // as rocker's `--user` does, unless the user named one.
    let mut notes = Vec::new();
    if request.host.root {
        selected.retain(|name, given| {
            let Some(ext) = registry.get(name) else { return true };
            if !left_out_as_root(ext, |o| given.contains_key(o), &option_defaults) {
                return true;
            }
            notes.push(Hinted::new(
                format!(
                    "you run quarry as root, so `{name}` makes no user: the image runs as root, as rocker does, \
                     and a mounted home is root's"
                ),
                format!("to have a user anyway, name it: `{}-name NAME {}-uid UID`", ext.flag(), ext.flag()),
            ));
            false
        });
    }

    let (all, added) = closure(registry, selected.keys().copied())?;

    // Overrides of extensions that are not selected do nothing: the CLI points at the project
    // file's line where that is a mistake.
    let mut resolved: BTreeMap<&'static str, ResolvedExtension> = BTreeMap::new();
    for (&name, &ext) in &all {
        let overrides = overrides.get(name);
        let priority = overrides.and_then(|o| o.cache_priority).unwrap_or(ext.cache_priority);
        let override_base = overrides.and_then(|o| o.builder_base_image.as_deref());
        let builder_base_image = match ext.builder.map(|b| b.from) {
            None => None,
            Some(BuilderFrom::BaseImage) => Some(match override_base {
                Some(image) => checked_image(&format!("builder base image of `{name}`"), image)?,
                None if request.builder_base_image.is_some() => default_builder_base_image.clone(),
                None => ext.builder_base_image.unwrap_or(DEFAULT_BUILDER_BASE_IMAGE).to_owned(),
            }),
            Some(from) => {
                if let BuilderFrom::Extension(source) = from
                    && all.get(source).is_none_or(|s| s.builder.is_none())
                {
                    return Err(Error::BuilderFromMissing {
                        extension: name.to_owned(),
                        from: source.to_owned(),
                    });
                }
                if override_base.is_some() {
                    let what = match from {
                        BuilderFrom::Extension(source) => format!("the builder of `{source}`"),
                        _ => "the final image".to_owned(),
                    };
                    return Err(Error::NoOwnBuilderBase { extension: name.to_owned(), what });
                }
                None
            }
        };
        let given = selected.get(name);
        let mut options: BTreeMap<String, String> = BTreeMap::new();
        let mut option_lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for spec in ext.options.iter().filter(|s| s.multiple) {
            let values = lists.get(name).and_then(|l| l.get(spec.name)).cloned().unwrap_or_default();
            let values = match (values.is_empty(), spec.required) {
                (false, _) => values,
                (true, true) => {
                    return Err(Error::MissingOption {
                        extension: name.to_owned(),
                        option: spec.name.to_owned(),
                        flag: format!("{}-{}", ext.flag(), spec.name.replace('_', "-")),
                    });
                }
                (true, false) => vec![spec.default.to_owned()],
            };
            options.insert(spec.name.to_owned(), values[0].clone());
            option_lists.insert(spec.name.to_owned(), values);
        }
        // The host's values of one extension are taken together or not at all: the host user
        // `nobody` (uid 65534, refused) must not become a `nobody` with uid 1000.
        let refused: Vec<String> = ext
            .options
            .iter()
            .filter(|s| {
                !s.multiple
                    && given.is_none_or(|g| !g.contains_key(s.name))
                    && option_defaults.get(name).is_none_or(|d| !d.contains_key(s.name))
            })
            .filter_map(|s| {
                let value = request.host.get(s.from_host?)?;
                (!s.rule.accepts(value)).then(|| format!("{} {}", s.name, crate::text::shown(value)))
            })
            .collect();
        let mirror_host = refused.is_empty();
        if !mirror_host {
            notes.push(Hinted::new(
                format!(
                    "the host's {} cannot be used for `{name}`, so it takes none of the host's values: its defaults apply",
                    refused.join(", ")
                ),
                format!("set its options to choose (`quarry show {name}`)"),
            ));
        }
        // An option's value, by precedence: the user's (the command line over the project file
        // over the user file, merged by the CLI), the user file's preference, quarry.lock's pin,
        // the host's value, the default.
        for spec in ext.options.iter().filter(|s| !s.multiple) {
            if let Some(value) = given.and_then(|g| g.get(spec.name)) {
                options.insert(spec.name.to_owned(), value.clone());
                continue;
            }
            let preferred = option_defaults.get(name).and_then(|d| d.get(spec.name));
            let pinned = pinned.get(name).and_then(|d| d.get(spec.name));
            if let Some(value) = preferred.or(pinned) {
                check_option(ext, spec.name, value)?;
                options.insert(spec.name.to_owned(), value.clone());
                continue;
            }
            let host = spec.from_host.and_then(|h| request.host.get(h)).filter(|_| mirror_host);
            if spec.required && host.is_none() {
                return Err(Error::MissingOption {
                    extension: name.to_owned(),
                    option: spec.name.to_owned(),
                    flag: format!("{}-{}", ext.flag(), spec.name.replace('_', "-")),
                });
            }
            // An option whose values suit different images follows the final image
            // (`supported_images_by`): `ros` on `ubuntu:22.04` is Humble.
            let by_image = crate::images::default_for(ext, spec, &request.image);
            options.insert(spec.name.to_owned(), host.or(by_image).unwrap_or(spec.default).to_owned());
        }
        resolved.insert(
            name,
            ResolvedExtension {
                extension: ext,
                options,
                lists: option_lists,
                priority,
                builder_base_image,
                requested: selected.contains_key(name),
            },
        );
    }

    let canonical = order(&resolved, |name| (Reverse(resolved[name].priority), name))?;
    let order = match locked_order.as_deref() {
        None | Some([]) => canonical,
        Some(locked) => chain_order(&resolved, locked, &canonical, &mut notes)?,
    };
    let extensions =
        order.into_iter().map(|name| resolved.remove(name).expect("ordered names are resolved")).collect();
    Ok(Resolved { extensions, added, default_builder_base_image, notes })
}

fn checked_image(what: &str, image: &str) -> Result<String, Error> {
    if rules::is_image_ref(image) {
        Ok(image.to_owned())
    } else {
        Err(Error::InvalidImage { what: what.to_owned(), value: image.to_owned() })
    }
}

/// Checks the values given for `option` of `ext`, from any source (the command line, a
/// configuration file, a resolution): the option exists, takes a list when `list`, and each
/// value passes its rule. The one check of option values; quarry.toml's points the error at
/// the file.
pub fn check_option_values(
    ext: &Extension,
    option: &str,
    values: &[String],
    list: bool,
) -> Result<(), Error> {
    if list
        && let Some(spec) = ext.option(option)
        && !spec.multiple
    {
        return Err(Error::NotAList { extension: ext.name.to_owned(), option: option.to_owned() });
    }
    if values.is_empty() {
        // An empty list still names the option: it must exist.
        return check_option(ext, option, "").or_else(|e| match e {
            Error::InvalidOption { .. } => Ok(()),
            other => Err(other),
        });
    }
    values.iter().try_for_each(|v| check_option(ext, option, v))
}

/// Validates one user-given option value.
pub(crate) fn check_option(ext: &Extension, option: &str, value: &str) -> Result<(), Error> {
    let Some(spec) = ext.option(option) else {
        let known: Vec<&str> = ext.options.iter().map(|o| o.name).collect();
        return Err(Error::UnknownOption {
            extension: ext.name.to_owned(),
            option: option.to_owned(),
            suggestion: crate::suggest::closest(option, known.iter().copied()).map(str::to_owned),
            known: known.iter().map(|k| (*k).to_owned()).collect(),
        });
    };
    if spec.rule.accepts(value) {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            extension: ext.name.to_owned(),
            option: option.to_owned(),
            value: value.to_owned(),
            expectation: spec.rule.expectation(),
        })
    }
}

/// The chain only grows: the extensions of a locked order keep their places, and the others
/// follow them in canonical order. A locked order that now breaks a dependency (the catalog
/// changed) is repaired by placing each extension as early as its dependencies allow, with a note.
fn chain_order(
    resolved: &BTreeMap<&'static str, ResolvedExtension>,
    locked: &[String],
    canonical: &[&'static str],
    notes: &mut Vec<Hinted>,
) -> Result<Vec<&'static str>, Error> {
    let mut rank: BTreeMap<&'static str, usize> = BTreeMap::new();
    for name in locked {
        if let Some((&key, _)) = resolved.get_key_value(name.as_str()) {
            let next = rank.len();
            rank.entry(key).or_insert(next);
        }
    }
    let appended_from = rank.len();
    for (i, &name) in canonical.iter().enumerate() {
        rank.entry(name).or_insert(appended_from + i);
    }
    let out = order(resolved, |name| rank[name])?;
    let wanted: Vec<&str> = {
        let mut w: Vec<&'static str> = rank.keys().copied().collect();
        w.sort_by_key(|n| rank[n]);
        w
    };
    if out != wanted {
        notes.push(Hinted::new(
            format!(
                "the locked order of the extensions breaks a dependency, so it changed to {}",
                out.join(", ")
            ),
            "`quarry lock --reorder` returns to the canonical order",
        ));
    }
    Ok(out)
}

/// What `r` must follow in the chain: its `depends_on`, and, when its setup runs as the image's
/// user, the resolved extension that makes that user (the one that sets `final_user`).
fn placed_after<'a>(
    resolved: &'a BTreeMap<&'static str, ResolvedExtension>,
    r: &'a ResolvedExtension,
) -> impl Iterator<Item = &'static str> + 'a {
    let user_makers = resolved
        .iter()
        .filter(move |(_, u)| r.extension.setup_as_user && u.extension.final_user.is_some())
        .map(|(&name, _)| name)
        .filter(move |name| *name != r.extension.name && !r.extension.depends_on.contains(name));
    r.extension.depends_on.iter().copied().chain(user_makers)
}

/// Topological order in which, among the extensions whose dependencies are all placed, the one
/// with the smallest `key` comes next (canonical: priority descending, then name).
fn order<K: Ord>(
    resolved: &BTreeMap<&'static str, ResolvedExtension>,
    key: impl Fn(&'static str) -> K,
) -> Result<Vec<&'static str>, Error> {
    let mut pending: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for (&name, r) in resolved {
        pending.insert(name, 0);
        for dep in placed_after(resolved, r) {
            *pending.get_mut(name).expect("just inserted") += 1;
            dependents.entry(dep).or_default().push(name);
        }
    }
    let mut ready: BinaryHeap<Reverse<(K, &'static str)>> =
        pending.iter().filter(|(_, n)| **n == 0).map(|(&name, _)| Reverse((key(name), name))).collect();
    let mut out = Vec::with_capacity(resolved.len());
    while let Some(Reverse((_, name))) = ready.pop() {
        out.push(name);
        for &dependent in dependents.get(name).map(Vec::as_slice).unwrap_or_default() {
            let n = pending.get_mut(dependent).expect("every dependent is pending");
            *n -= 1;
            if *n == 0 {
                ready.push(Reverse((key(dependent), dependent)));
            }
        }
    }
    if out.len() == resolved.len() {
        return Ok(out);
    }
    let placed: BTreeSet<&str> = out.iter().copied().collect();
    Err(Error::DependencyCycle { cycle: find_cycle(resolved, &placed) })
}

/// A cycle among the extensions that could not be placed, starting at the smallest name.
fn find_cycle(resolved: &BTreeMap<&'static str, ResolvedExtension>, placed: &BTreeSet<&str>) -> Vec<String> {
    let start = resolved
        .keys()
        .copied()
        .find(|n| !placed.contains(n))
        .expect("a cycle leaves at least one extension unplaced");
    // Walk unplaced dependencies until a name repeats; every unplaced node has one.
    let mut path: Vec<&str> = vec![start];
    loop {
        let current = *path.last().expect("path is never empty");
        let next = placed_after(resolved, &resolved[current])
            .filter(|d| !placed.contains(d))
            .min()
            .expect("an unplaced extension has an unplaced dependency");
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<String> = path[pos..].iter().map(|s| (*s).to_owned()).collect();
            // Rotate so the cycle starts at its smallest name, for a stable message.
            let min = cycle.iter().enumerate().min_by_key(|(_, n)| n.as_str()).map(|(i, _)| i).unwrap_or(0);
            cycle.rotate_left(min);
            cycle.push(cycle[0].clone());
            return cycle;
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ext, registry, request};

    fn order(reg: &Registry, names: &[&str]) -> Vec<&'static str> {
        resolve(reg, &request(names)).unwrap().extensions.iter().map(|r| r.extension.name).collect()
    }

    #[test]
    fn order_is_priority_then_name_with_dependencies_first() {
        let reg =
            registry(vec![ext("a", &[], 10), ext("b", &[], 90), ext("c", &["a"], 95), ext("d", &[], 90)]);
        // c has the highest priority but needs a, so a comes just before it.
        assert_eq!(order(&reg, &["a", "b", "c", "d"]), ["b", "d", "a", "c"]);
        assert_eq!(order(&reg, &["d", "c", "b", "a"]), ["b", "d", "a", "c"]);
    }

    #[test]
    fn dependencies_are_added_and_reported() {
        let reg = registry(vec![ext("a", &[], 10), ext("b", &["a"], 20), ext("c", &["a", "b"], 30)]);
        let resolved = resolve(&reg, &request(&["c"])).unwrap();
        let names: Vec<_> = resolved.extensions.iter().map(|r| (r.extension.name, r.requested)).collect();
        assert_eq!(names, [("a", false), ("b", false), ("c", true)]);
        assert_eq!(
            resolved.added,
            [
                AddedDependency { name: "a", required_by: "b" },
                AddedDependency { name: "b", required_by: "c" }
            ]
        );
    }

    #[test]
    fn cycles_are_named() {
        let reg = registry(vec![
            ext("a", &["c"], 10),
            ext("b", &["a"], 20),
            ext("c", &["b"], 30),
            ext("d", &["a"], 1),
        ]);
        let err = resolve(&reg, &request(&["d"])).unwrap_err();
        assert_eq!(
            err,
            Error::DependencyCycle { cycle: vec!["a".into(), "c".into(), "b".into(), "a".into()] }
        );
        assert_eq!(err.to_string(), "dependency cycle: a -> c -> b -> a");
        assert_eq!(err.hint().as_deref(), Some("remove one of these `depends_on` entries"));
    }

    /// A setup that runs as the image's user follows the extension that makes the user, whatever
    /// the priorities or the locked order say; without such an extension, nothing changes.
    #[test]
    fn a_setup_as_the_user_follows_the_extension_that_makes_the_user() {
        let mut maker = ext("maker", &[], 10);
        maker.final_user = Some("someone");
        let mut mine = ext("mine", &[], 90);
        mine.setup_as_user = true;
        let reg = registry(vec![maker, mine, ext("other", &[], 50)]);
        let names = |req: &Request| -> Vec<&'static str> {
            resolve(&reg, req).unwrap().extensions.iter().map(|r| r.extension.name).collect()
        };
        assert_eq!(names(&request(&["maker", "mine", "other"])), ["other", "maker", "mine"]);
        assert_eq!(names(&request(&["mine", "other"])), ["mine", "other"]);
        let mut req = request(&["maker", "mine", "other"]);
        req.locked_order = Some(vec!["mine".into(), "other".into(), "maker".into()]);
        let resolved = resolve(&reg, &req).unwrap();
        let order: Vec<&str> = resolved.extensions.iter().map(|r| r.extension.name).collect();
        assert_eq!(order, ["other", "maker", "mine"]);
        assert_eq!(resolved.notes.len(), 1, "{:?}", resolved.notes);
    }

    #[test]
    fn unknown_names_get_suggestions() {
        let reg = registry(vec![ext("ros_jazzy", &[], 10)]);
        let err = resolve(&reg, &request(&["ros-jazy"])).unwrap_err();
        assert_eq!(err.to_string(), "unknown extension `ros-jazy`");
        assert_eq!(
            err.hint().as_deref(),
            Some("did you mean `ros_jazzy`? `quarry list` shows every extension")
        );
        let err = resolve(&reg, &request(&[])).unwrap_err();
        assert_eq!(err, Error::NothingSelected);
    }

    #[test]
    fn the_chain_keeps_a_locked_order_and_repairs_a_broken_one() {
        let reg =
            registry(vec![ext("a", &[], 10), ext("b", &[], 90), ext("c", &["a"], 50), ext("d", &[], 70)]);
        let names = |req: &Request| -> Vec<&'static str> {
            resolve(&reg, req).unwrap().extensions.iter().map(|r| r.extension.name).collect()
        };
        // Canonical: b (90), d (70), a (10, needed by c), c.
        assert_eq!(names(&request(&["a", "b", "c", "d"])), ["b", "d", "a", "c"]);
        // A locked order is kept, whatever the priorities; a new extension goes last; names the
        // registry does not know are skipped.
        let mut req = request(&["a", "b", "c", "d"]);
        req.locked_order = Some(vec!["a".into(), "gone".into(), "c".into(), "b".into()]);
        assert_eq!(names(&req), ["a", "c", "b", "d"]);
        assert!(resolve(&reg, &req).unwrap().notes.is_empty());
        // An order that breaks a dependency (c before a) is repaired, with a note.
        req.locked_order = Some(vec!["c".into(), "a".into(), "b".into(), "d".into()]);
        let resolved = resolve(&reg, &req).unwrap();
        let order: Vec<&str> = resolved.extensions.iter().map(|r| r.extension.name).collect();
        assert_eq!(order, ["a", "c", "b", "d"]);
        assert!(
            resolved.notes[0].message.contains("breaks a dependency, so it changed to a, c, b, d"),
            "{:?}",
            resolved.notes
        );
        // The user's order never matters.
        let mut reversed = request(&["d", "c", "b", "a"]);
        reversed.locked_order = Some(vec!["a".into(), "c".into(), "b".into()]);
        assert_eq!(names(&reversed), ["a", "c", "b", "d"]);
    }
}
