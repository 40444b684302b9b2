//! The benchmark's configuration (ten extensions, as a user lists them) and the five changes
//! measured against it.

use quarry_core::{EngineLevel, Request, Selection};

use super::extensions::{ADDED, BUMPED, REMOVED};

/// The final image of the configuration, and the one scenario B changes to.
pub const IMAGE: &str = "debian:bookworm";
/// See [`IMAGE`].
pub const NEW_IMAGE: &str = "debian:trixie";
/// Every builder's base (the global builder base override): fixed, whatever the final image.
pub const BUILDER_BASE: &str = "debian:bookworm";

/// The ten extensions in the order the user listed them (not sorted, not by priority: as a
/// person writes a list). `pylib` needs `python` and `user` needs `shell`.
pub const LIST: [&str; 10] =
    ["shell", "python", "pylib", "primes", "kvstore", "locale", "mandel", "tls", "editor", "user"];
/// Where scenario A inserts its extension: after the fifth entry, as a user adds a line in the
/// middle of a list (appending it last is the naive layout's best case, not a typical one).
pub const ADD_AT: usize = 5;

/// A configuration: the final image and the user's list, in the user's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The final image.
    pub image: &'static str,
    /// The extensions with the options the user set, in the user's order.
    pub list: Vec<Selection>,
}

impl Config {
    /// The ten-extension configuration, with `kvstore`'s version written out as a user pinning
    /// it would.
    pub fn base() -> Config {
        let list = LIST
            .iter()
            .map(|name| match *name {
                n if n == BUMPED.0 => Selection::new(n).with_option("version", BUMPED.1),
                n => Selection::new(n),
            })
            .collect();
        Config { image: IMAGE, list }
    }

    /// The render request: builders on [`BUILDER_BASE`], an engine with `COPY --link`.
    pub fn request(&self) -> Request {
        Request {
            image: self.image.to_owned(),
            extensions: self.list.clone(),
            builder_base_image: Some(BUILDER_BASE.to_owned()),
            engine: EngineLevel::Modern,
            ..Request::default()
        }
    }

    /// The names in the user's order.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|s| s.name.as_str()).collect()
    }
}

/// One of the five measured changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Id {
    /// Add one extension.
    A,
    /// Change the final image.
    B,
    /// Bump one extension's version.
    C,
    /// Reorder the list.
    D,
    /// Remove one extension.
    E,
}

impl Id {
    /// All five, in order.
    pub const ALL: [Id; 5] = [Id::A, Id::B, Id::C, Id::D, Id::E];

    /// `A` ... `E`.
    pub fn letter(self) -> &'static str {
        match self {
            Id::A => "A",
            Id::B => "B",
            Id::C => "C",
            Id::D => "D",
            Id::E => "E",
        }
    }

    /// Parses a letter, either case.
    pub fn parse(s: &str) -> Option<Id> {
        Id::ALL.into_iter().find(|id| id.letter().eq_ignore_ascii_case(s.trim()))
    }
}

/// A scenario: the configuration before and after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Which one.
    pub id: Id,
    /// What changes, in words.
    pub title: String,
    /// Before.
    pub old: Config,
    /// After.
    pub new: Config,
}

impl Scenario {
    /// The scenario `id` on the ten-extension configuration.
    pub fn new(id: Id) -> Scenario {
        let old = Config::base();
        let mut new = old.clone();
        let title = match id {
            Id::A => {
                new.list.insert(ADD_AT, Selection::new(ADDED));
                format!("add `{ADDED}` (6th in the list)")
            }
            Id::B => {
                new.image = NEW_IMAGE;
                format!("final image {IMAGE} -> {NEW_IMAGE}")
            }
            Id::C => {
                let (name, from, to) = BUMPED;
                let entry =
                    new.list.iter_mut().find(|s| s.name == name).expect("the bumped extension is listed");
                *entry = Selection::new(name).with_option("version", to);
                format!("`{name}` version {from} -> {to}")
            }
            Id::D => {
                new.list.sort_by(|a, b| a.name.cmp(&b.name));
                "list sorted by name".to_owned()
            }
            Id::E => {
                new.list.retain(|s| s.name != REMOVED);
                format!("remove `{REMOVED}`")
            }
        };
        Scenario { id, title, old, new }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scenario_changes_one_thing() {
        let base = Config::base();
        let a = Scenario::new(Id::A);
        assert_eq!(a.old, base);
        assert_eq!(
            a.new.names(),
            [
                "shell",
                "python",
                "pylib",
                "primes",
                "kvstore",
                "jsontools",
                "locale",
                "mandel",
                "tls",
                "editor",
                "user"
            ]
        );
        let b = Scenario::new(Id::B);
        assert_eq!((b.new.image, b.new.list == base.list), ("debian:trixie", true));
        let c = Scenario::new(Id::C);
        let changed: Vec<(&Selection, &Selection)> =
            c.old.list.iter().zip(&c.new.list).filter(|(o, n)| o != n).collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0.options["version"], "2.3.0");
        assert_eq!(changed[0].1.options["version"], "2.4.0");
        let d = Scenario::new(Id::D);
        assert_eq!(
            d.new.names(),
            ["editor", "kvstore", "locale", "mandel", "primes", "pylib", "python", "shell", "tls", "user"]
        );
        let e = Scenario::new(Id::E);
        assert_eq!(e.new.names().len(), 9);
        assert!(!e.new.names().contains(&"locale"));
        for id in Id::ALL {
            assert_eq!(Id::parse(&id.letter().to_lowercase()), Some(id));
            assert_eq!(
                Scenario::new(id).new.request().builder_base_image.as_deref(),
                Some("debian:bookworm")
            );
        }
        assert_eq!(Id::parse("F"), None);
    }
}
