//! Errors a user can cause (or an extension author, for template faults found at render time).
//!
//! Each message is one line naming the thing in backticks, followed by a `hint:` line with the fix
//! where one exists.

/// Why a selection could not be resolved or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No extension of that name is linked into this binary.
    #[error("unknown extension `{name}`\nhint: {}", unknown_hint(.suggestion.as_deref()))]
    UnknownExtension {
        /// What the user asked for.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// The extension has no such option.
    #[error("extension `{extension}` has no option `{option}`\nhint: {}", option_hint(.extension, .suggestion.as_deref(), .known))]
    UnknownOption {
        /// The extension.
        extension: String,
        /// The option asked for.
        option: String,
        /// The closest option name.
        suggestion: Option<String>,
        /// Every option of the extension.
        known: Vec<String>,
    },
    /// An option value does not satisfy its rule.
    #[error(
        "invalid value {value:?} for option `{option}` of extension `{extension}`\nhint: expected {expectation}"
    )]
    InvalidOption {
        /// The extension.
        extension: String,
        /// The option.
        option: String,
        /// The rejected value.
        value: String,
        /// What an accepted value looks like.
        expectation: String,
    },
    /// A required option was not given.
    #[error("extension `{extension}` needs its option `{option}`\nhint: give it with `{flag} VALUE`")]
    MissingOption {
        /// The extension.
        extension: String,
        /// The option.
        option: String,
        /// The command-line flag that sets it.
        flag: String,
    },
    /// Several values for an option that takes one.
    #[error("option `{option}` of extension `{extension}` takes one value, not a list\nhint: give it once")]
    NotAList {
        /// The extension.
        extension: String,
        /// The option.
        option: String,
    },
    /// The same option was given two different values.
    #[error(
        "option `{option}` of extension `{extension}` is given twice, as {first:?} and {second:?}\nhint: give it once"
    )]
    ConflictingOption {
        /// The extension.
        extension: String,
        /// The option.
        option: String,
        /// One value.
        first: String,
        /// The other value.
        second: String,
    },
    /// An image reference is malformed.
    #[error(
        "{what} {value:?} is not an image reference\nhint: write it like `ubuntu:24.04` or `registry.example.com/team/image:tag`"
    )]
    InvalidImage {
        /// Which image (`final image`, `builder base image of `cargo``).
        what: String,
        /// The rejected value.
        value: String,
    },
    /// A priority override is out of range.
    #[error(
        "cache priority {value} for extension `{extension}` is out of range\nhint: use a number from 0 to 100"
    )]
    InvalidPriority {
        /// The extension.
        extension: String,
        /// The rejected value.
        value: u32,
    },
    /// Nothing was selected.
    #[error("no extension selected\nhint: select at least one, e.g. `--curl`; `quarry list` shows them all")]
    NothingSelected,
    /// A dependency names an extension that is not linked.
    #[error(
        "extension `{extension}` depends on `{dependency}`, which is not linked into this binary\nhint: add the crate of `{dependency}` to the binary"
    )]
    MissingDependency {
        /// The extension declaring the dependency.
        extension: String,
        /// The missing dependency.
        dependency: String,
    },
    /// Dependencies form a cycle.
    #[error("dependency cycle: {}\nhint: remove one of these `depends_on` entries", .cycle.join(" -> "))]
    DependencyCycle {
        /// The cycle, first name repeated at the end.
        cycle: Vec<String>,
    },
    /// Two selected extensions both set the image's user.
    #[error("extensions `{first}` and `{second}` both set the image's user\nhint: select only one of them")]
    TwoFinalUsers {
        /// One extension.
        first: String,
        /// The other.
        second: String,
    },
    /// A builder starts from another extension's builder stage, which that extension lacks.
    #[error(
        "extension `{extension}` builds on the builder of `{from}`, which has none\nhint: this is a fault of the extension; report it to its authors"
    )]
    BuilderFromMissing {
        /// The extension whose builder starts from another.
        extension: String,
        /// The extension it starts from.
        from: String,
    },
    /// A builder base override for a builder that has no base image of its own.
    #[error(
        "extension `{extension}` builds on {what}, so it takes no builder base image\nhint: remove `builder_base_image` from its overrides"
    )]
    NoOwnBuilderBase {
        /// The extension.
        extension: String,
        /// What its builder starts from, in words.
        what: String,
    },
    /// A template failed to render or produced something not allowed.
    #[error(
        "template `{template}` of extension `{extension}` failed: {message}\nhint: this is a fault of the extension; report it to its authors"
    )]
    Template {
        /// The extension.
        extension: String,
        /// The template name, `<extension>/<file>`.
        template: String,
        /// What went wrong.
        message: String,
    },
}

fn unknown_hint(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`? `quarry list` shows every extension"),
        None => "`quarry list` shows every extension".to_owned(),
    }
}

fn option_hint(extension: &str, suggestion: Option<&str>, known: &[String]) -> String {
    match (suggestion, known.is_empty()) {
        (Some(s), _) => format!("did you mean `{s}`?"),
        (None, true) => format!("`{extension}` takes no options"),
        (None, false) => {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!("`{extension}` takes {}", list.join(", "))
        }
    }
}
