//! The one reader of `inventory`: collects every registered extension once, sorts them by name
//! and rejects duplicates, so that nothing downstream depends on link order.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::model::{Alias, Extension};

/// What [`crate::register!`] submits to `inventory`.
#[derive(Debug)]
pub struct Registration {
    extension: &'static Extension,
}

impl Registration {
    /// Wraps a checked extension; use [`crate::register!`] rather than calling this.
    pub const fn new(extension: &'static Extension) -> Self {
        Registration { extension }
    }
}

inventory::collect!(Registration);

/// Registers an extension: checks it at compile time and submits it to the registry.
///
/// ```ignore
/// quarry_core::register! {
///     pub static EXTENSION: quarry_core::Extension = quarry_core::Extension { /* ... */ };
/// }
/// ```
///
/// A registration that breaks a rule of [`Extension::check`] fails to compile.
#[macro_export]
macro_rules! register {
    ($(#[$meta:meta])* $vis:vis static $ident:ident : $ty:ty = $value:expr ;) => {
        $(#[$meta])*
        $vis static $ident: $ty = {
            const CHECKED: $ty = $value;
            const _: () = CHECKED.check();
            CHECKED
        };
        $crate::__private::inventory::submit! {
            $crate::Registration::new(&$ident)
        }
    };
}

/// All registered extensions, sorted by name, and their aliases.
#[derive(Debug)]
pub struct Registry {
    extensions: BTreeMap<&'static str, &'static Extension>,
    aliases: BTreeMap<&'static str, (&'static Extension, &'static Alias)>,
}

/// Two crates registered the same extension name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("extension `{name}` is registered twice, by crate `{first}` and by crate `{second}`")]
pub struct DuplicateExtension {
    /// The extension name.
    pub name: &'static str,
    /// The crate that comes first by name.
    pub first: &'static str,
    /// The other crate.
    pub second: &'static str,
}

impl crate::hint::Hint for DuplicateExtension {
    fn hint(&self) -> Option<String> {
        Some("rename one of them; extension names are unique".to_owned())
    }
}

impl Registry {
    /// Builds a registry from a list of extensions (the `inventory` list, or a test's own).
    pub fn from_extensions(
        list: impl IntoIterator<Item = &'static Extension>,
    ) -> Result<Registry, DuplicateExtension> {
        let mut extensions: BTreeMap<&'static str, &'static Extension> = BTreeMap::new();
        let duplicate = |name, a: &Extension, b: &Extension| {
            let (first, second) = if a.crate_name <= b.crate_name {
                (a.crate_name, b.crate_name)
            } else {
                (b.crate_name, a.crate_name)
            };
            DuplicateExtension { name, first, second }
        };
        for ext in list {
            if let Some(prev) = extensions.insert(ext.name, ext) {
                return Err(duplicate(ext.name, prev, ext));
            }
        }
        // Aliases share the names' space: an alias is selected, flagged and shown as a name.
        let mut aliases: BTreeMap<&'static str, (&'static Extension, &'static Alias)> = BTreeMap::new();
        for &ext in extensions.values() {
            for alias in ext.aliases {
                if let Some(other) = extensions.get(alias.name) {
                    return Err(duplicate(alias.name, other, ext));
                }
                if let Some((prev, _)) = aliases.insert(alias.name, (ext, alias)) {
                    return Err(duplicate(alias.name, prev, ext));
                }
            }
        }
        Ok(Registry { extensions, aliases })
    }

    /// Looks an extension up by name, or by an alias of it (whose option values
    /// [`Registry::alias`] gives).
    pub fn get(&self, name: &str) -> Option<&'static Extension> {
        self.extensions.get(name).copied().or_else(|| self.aliases.get(name).map(|(ext, _)| *ext))
    }

    /// The alias `name` and the extension it names, when `name` is an alias.
    pub fn alias(&self, name: &str) -> Option<(&'static Extension, &'static Alias)> {
        self.aliases.get(name).copied()
    }

    /// Every alias, sorted by name, with its extension.
    pub fn aliases(&self) -> impl Iterator<Item = (&'static Extension, &'static Alias)> + '_ {
        self.aliases.values().copied()
    }

    /// Every extension, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static Extension> + '_ {
        self.extensions.values().copied()
    }

    /// Every name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.extensions.keys().copied()
    }

    /// Number of extensions.
    pub fn len(&self) -> usize {
        self.extensions.len()
    }

    /// Whether no extension is registered.
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty()
    }

    /// The registered name or alias closest to `name`, if one is close enough to be a likely
    /// typo.
    pub fn suggest(&self, name: &str) -> Option<&'static str> {
        crate::suggest::closest(name, self.names().chain(self.aliases.keys().copied()))
    }
}

/// The process-wide registry of every linked extension.
pub fn registry() -> Result<&'static Registry, DuplicateExtension> {
    static REGISTRY: OnceLock<Result<Registry, DuplicateExtension>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Registry::from_extensions(inventory::iter::<Registration>().map(|r| r.extension)))
        .as_ref()
        .map_err(Clone::clone)
}
