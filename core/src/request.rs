//! What a render is asked for: the final image, the selected extensions with their options, the
//! overrides, the engine, the host's values, the locked chain order and the image's own
//! configuration. Plain data, shared by resolution and rendering.

use std::collections::BTreeMap;

/// What the target engine's Dockerfile frontend supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum EngineLevel {
    /// Docker 23+ (Dockerfile frontend 1.4+): `COPY --link`.
    #[default]
    Modern,
    /// Docker 20.10 (frontend 1.3): no `COPY --link`; plain `COPY --from` instead.
    Legacy,
}

/// One extension the user asked for, with the options they set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Extension name.
    pub name: String,
    /// Option values by option name; unset options take their defaults.
    pub options: BTreeMap<String, String>,
    /// Values of list options (`multiple`), in order; a value in `options` for a list option
    /// counts as one more.
    pub lists: BTreeMap<String, Vec<String>>,
}

impl Selection {
    /// A selection with default options.
    pub fn new(name: impl Into<String>) -> Self {
        Selection { name: name.into(), options: BTreeMap::new(), lists: BTreeMap::new() }
    }

    /// Adds values to a list option.
    pub fn with_values(
        mut self,
        option: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.lists.entry(option.into()).or_default().extend(values.into_iter().map(Into::into));
        self
    }

    /// Sets an option.
    pub fn with_option(mut self, option: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(option.into(), value.into());
        self
    }
}

/// Per-extension overrides of metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    /// Image the extension's builder starts from.
    pub builder_base_image: Option<String>,
    /// Cache priority.
    pub cache_priority: Option<crate::model::CachePriority>,
}

/// Everything a render depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The final image.
    pub image: String,
    /// The selected extensions, in any order.
    pub extensions: Vec<Selection>,
    /// Global builder base image override.
    pub builder_base_image: Option<String>,
    /// Per-extension overrides, by extension name; overrides of extensions that end up not
    /// selected do nothing.
    pub overrides: BTreeMap<String, Override>,
    /// Option values that apply only if the extension is selected (by the user or as a
    /// dependency), under the selections' own values: the user file's preferences.
    pub option_defaults: BTreeMap<String, BTreeMap<String, String>>,
    /// Option values quarry.lock pins, by extension: under the user's values and preferences,
    /// over the host's values and the defaults (`resolve` chooses, in one place).
    pub pinned: BTreeMap<String, BTreeMap<String, String>>,
    /// What the target engine supports.
    pub engine: EngineLevel,
    /// Values of the host running quarry, for options that default to them.
    pub host: HostValues,
    /// The order of the final stage's chain from the last render (`quarry.lock`): those
    /// extensions keep their places and new ones go after them, so the chain only grows.
    /// `None`: the canonical order (priority descending, then name).
    pub locked_order: Option<Vec<String>>,
    /// What the final image itself sets, when known (read from the engine): quarry's entrypoint
    /// composes with it instead of replacing it.
    pub image_config: Option<ImageConfig>,
    /// The project's files of each extension that declares `project_files`, by extension name,
    /// as the CLI read them (rendering reads nothing from the host).
    pub project_files: BTreeMap<String, Vec<ProjectFile>>,
}

/// One file of the project, shipped in the build context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFile {
    /// Its path below the collected folder, `/`-separated, relative, without `..`.
    pub path: String,
    /// Its contents.
    pub contents: Vec<u8>,
}

/// The final image's own `ENTRYPOINT`, `CMD` and `USER`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `ENTRYPOINT`, exec form; empty when there is none.
    pub entrypoint: Vec<String>,
    /// `CMD`, exec form; empty when there is none.
    pub cmd: Vec<String>,
    /// `USER`; empty means root.
    pub user: String,
}

impl ImageConfig {
    /// Whether the image runs as someone other than root.
    pub(crate) fn non_root_user(&self) -> Option<&str> {
        let user = self.user.as_str();
        let name = user.split(':').next().unwrap_or_default();
        (!name.is_empty() && name != "root" && name != "0").then_some(user)
    }
}

/// The host's values that options may default to (`None`: use the option's own default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostValues {
    /// The user's numeric id.
    pub uid: Option<String>,
    /// The user's primary group id.
    pub gid: Option<String>,
    /// The user's login name.
    pub user: Option<String>,
    /// The folder quarry runs in.
    pub cwd: Option<String>,
    /// The user's home folder.
    pub home: Option<String>,
    /// Whether quarry runs as root: there is no host user to mirror.
    pub root: bool,
}

impl HostValues {
    /// The value for `which`, if known.
    pub fn get(&self, which: crate::model::HostValue) -> Option<&str> {
        match which {
            crate::model::HostValue::Uid => self.uid.as_deref(),
            crate::model::HostValue::Gid => self.gid.as_deref(),
            crate::model::HostValue::User => self.user.as_deref(),
            crate::model::HostValue::Cwd => self.cwd.as_deref(),
            crate::model::HostValue::Home => self.home.as_deref(),
        }
    }
}
