//! Errors a user can cause (or an extension author, for template faults found at render time).
//!
//! Each message is one line naming the thing in backticks (`Display`); the fix, where one exists,
//! is [`Error::hint`], apart from it (see [`crate::Hint`]).

/// Why a selection could not be resolved or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No extension of that name is linked into this binary.
    #[error("unknown extension `{name}`")]
    UnknownExtension {
        /// What the user asked for.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// The extension has no such option.
    #[error("extension `{extension}` has no option `{option}`")]
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
    #[error("invalid value {value:?} for option `{option}` of extension `{extension}`")]
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
    #[error("extension `{extension}` needs its option `{option}`")]
    MissingOption {
        /// The extension.
        extension: String,
        /// The option.
        option: String,
        /// The command-line flag that sets it.
        flag: String,
    },
    /// Several values for an option that takes one.
    #[error("option `{option}` of extension `{extension}` takes one value, not a list")]
    NotAList {
        /// The extension.
        extension: String,
        /// The option.
        option: String,
    },
    /// The same option was given two different values.
    #[error("option `{option}` of extension `{extension}` is given twice, as {first:?} and {second:?}")]
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
    #[error("{what} {value:?} is not an image reference")]
    InvalidImage {
        /// Which image (`final image`, `builder base image of `cargo``).
        what: String,
        /// The rejected value.
        value: String,
    },
    /// The final image's own user (the engine's or quarry.lock's `image_config`) is not one
    /// quarry can write into `USER`.
    #[error("the final image's user {value:?} is not a user name or id quarry can write into `USER`")]
    InvalidImageUser {
        /// The rejected value.
        value: String,
    },
    /// The rendered Dockerfile does not read back, as BuildKit reads it, as the instructions
    /// quarry wrote: a value added or joined one. A fault of quarry.
    #[error(
        "the rendered Dockerfile does not read back as written: {written} instructions written, {read} read"
    )]
    Unreadable {
        /// Instructions quarry wrote.
        written: usize,
        /// Instructions read back (one more than written: at least that many).
        read: usize,
    },
    /// Nothing was selected.
    #[error("no extension selected")]
    NothingSelected,
    /// A dependency names an extension that is not linked.
    #[error("extension `{extension}` depends on `{dependency}`, which is not linked into this binary")]
    MissingDependency {
        /// The extension declaring the dependency.
        extension: String,
        /// The missing dependency.
        dependency: String,
    },
    /// Dependencies form a cycle.
    #[error("dependency cycle: {}", .cycle.join(" -> "))]
    DependencyCycle {
        /// The cycle, first name repeated at the end.
        cycle: Vec<String>,
    },
    /// Two selected extensions both set the image's user.
    #[error("extensions `{first}` and `{second}` both set the image's user")]
    TwoFinalUsers {
        /// One extension.
        first: String,
        /// The other.
        second: String,
    },
    /// A builder starts from another extension's builder stage, which that extension lacks.
    #[error("extension `{extension}` builds on the builder of `{from}`, which has none")]
    BuilderFromMissing {
        /// The extension whose builder starts from another.
        extension: String,
        /// The extension it starts from.
        from: String,
    },
    /// A builder base override for a builder that has no base image of its own.
    #[error("extension `{extension}` builds on {what}, so it takes no builder base image")]
    NoOwnBuilderBase {
        /// The extension.
        extension: String,
        /// What its builder starts from, in words.
        what: String,
    },
    /// A template failed to render or produced something not allowed.
    #[error("template `{template}` of extension `{extension}` failed: {message}")]
    Template {
        /// The extension.
        extension: String,
        /// The template name, `<extension>/<file>`.
        template: String,
        /// What went wrong.
        message: String,
    },
    /// An alias sets an option the selection gives another value.
    #[error("`{alias}` is `{extension}` with {option} `{preset}`, but {option} `{given}` is given too")]
    AliasConflict {
        /// The alias.
        alias: String,
        /// Its extension.
        extension: String,
        /// The option.
        option: String,
        /// The alias's value.
        preset: String,
        /// The other value.
        given: String,
    },
    /// An option's value does not work on the final image, which is known to be another release.
    #[error("{what} needs the final image {needs}, but it is `{image}`")]
    UnsupportedImage {
        /// The extension and the option's value, in words (`` `ros` with distro `jazzy` ``).
        what: String,
        /// The images the value works on, in words (`ubuntu:22.04` or `ubuntu:jammy`).
        needs: String,
        /// The final image.
        image: String,
        /// The fix: the values that work on the image, or the image to use.
        hint: String,
    },
    /// A collected project file's path cannot be written into the build context.
    #[error("extension `{extension}` collected the project file {path:?}, whose path cannot be shipped")]
    InvalidProjectFile {
        /// The extension.
        extension: String,
        /// The path.
        path: String,
    },
    /// A download's version has no pinned sha256: the user's choice of version, not a fault of
    /// the extension.
    #[error("template `{template}` of extension `{extension}` failed: {message}")]
    UnpinnedDownload {
        /// The extension.
        extension: String,
        /// The template name, `<extension>/<file>`.
        template: String,
        /// Which download and version.
        message: String,
        /// How to give the sha256, or to pick a pinned version.
        hint: String,
    },
}

impl Error {
    /// The fix, where one exists (one line, without the `hint:` label).
    pub fn hint(&self) -> Option<String> {
        const EXTENSION_FAULT: &str = "this is a fault of the extension; report it to its authors";
        Some(match self {
            // rocker's and docker's `-e NAME=value`: quarry's `-e` names an extension.
            Self::UnknownExtension { name, .. } if name.contains('=') => format!(
                "`-e` selects an extension by name in quarry: set a variable with `--env {name}` (`quarry rocker` reads \
                 rocker's `-e` as rocker does)"
            ),
            Self::UnknownExtension { suggestion, .. } => unknown_hint(suggestion.as_deref()),
            Self::UnknownOption { extension, suggestion, known, .. } => {
                option_hint(extension, suggestion.as_deref(), known)
            }
            Self::InvalidOption { expectation, .. } => format!("expected {expectation}"),
            Self::MissingOption { flag, .. } => format!("give it with `{flag} VALUE`"),
            Self::NotAList { .. } | Self::ConflictingOption { .. } => "give it once".to_owned(),
            Self::InvalidImage { .. } => {
                "write it like `ubuntu:24.04` or `registry.example.com/team/image:tag`".to_owned()
            }
            Self::InvalidImageUser { .. } => {
                "it comes from the engine or quarry.lock's `image_config`: fix that line or delete quarry.lock"
                    .to_owned()
            }
            Self::Unreadable { .. } => {
                "a value reached the Dockerfile unchecked: this is a fault of quarry, report it with the command"
                    .to_owned()
            }
            Self::NothingSelected => {
                "select at least one, e.g. `--curl`; `quarry list` shows them all".to_owned()
            }
            Self::MissingDependency { dependency, .. } => {
                format!("add the crate of `{dependency}` to the binary")
            }
            Self::DependencyCycle { .. } => "remove one of these `depends_on` entries".to_owned(),
            Self::TwoFinalUsers { .. } => "select only one of them".to_owned(),
            Self::BuilderFromMissing { .. } | Self::Template { .. } => EXTENSION_FAULT.to_owned(),
            Self::NoOwnBuilderBase { .. } => "remove `builder_base_image` from its overrides".to_owned(),
            Self::UnpinnedDownload { hint, .. } | Self::UnsupportedImage { hint, .. } => hint.clone(),
            Self::InvalidProjectFile { .. } => {
                "rename it to letters, digits, `.`, `_`, `-`, `+`, `@` and `/`, or leave it out".to_owned()
            }
            Self::AliasConflict { extension, .. } => {
                format!("give one of them: the alias, or `{extension}` with the option you want")
            }
        })
    }
}

impl crate::hint::Hint for Error {
    fn hint(&self) -> Option<String> {
        Error::hint(self)
    }
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
