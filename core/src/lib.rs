//! quarry's core: the extension model, the registry of linked extensions and the pure renderer
//! that turns a selection of extensions into one cache-friendly multi-stage Dockerfile.
//!
//! Rendering does no IO, reads no clock and no environment: the same [`Request`] always gives the
//! same bytes, whatever order extensions were listed or linked in.

mod alias;
pub mod bake;
mod download;
mod error;
mod fill;
pub mod glibc;
mod hint;
mod images;
mod model;
mod pieces;
mod registry;
mod render;
mod request;
mod resolve;
pub mod rules;
pub mod schema;
mod select;
pub mod shell;
mod stage;
mod suggest;
pub mod template;
#[cfg(test)]
mod test_support;
pub mod text;

pub use error::Error;
pub use hint::{Hint, Hinted};
pub use model::{
    ARTIFACT_ROOT, Alias, AptRepository, Arch, ArchSource, ArchUrl, Artifact, Builder, BuilderFrom,
    CONTEXT_DIR, CachePriority, ChecksumFormat, ContextFile, DEFAULT_BUILDER_BASE_IMAGE, Download, Extension,
    Extract, HostValue, ImagesOfValue, OptionSpec, OptionValue, PROJECT_FILES_DIR, PinnedSha256,
    ProjectFiles, RunSpec, Shell, Template, Verify, XAUTHORITY_PATH,
};
pub use pieces::{BuildFile, ENTRYPOINT_PATH, ENV_DIR, FINAL_STAGE};
pub use registry::{DuplicateExtension, Registration, Registry, registry};
pub use render::{Rendered, render};
pub use request::{EngineLevel, HostValues, ImageConfig, Override, ProjectFile, Request, Selection};
// The rendered pieces and the writers `render` lays them out with, for tools that lay them out
// otherwise (the cache benchmark's naive baseline).
pub use pieces::{BuilderPieces, ExtensionPieces, FINAL_PRELUDE, FinalUser, Pieces, pieces};
pub use resolve::{Resolved, ResolvedExtension, check_option_values, resolve};
pub use rules::Rule;
pub use select::{AddedDependency, selected_names};
pub use stage::{APT_PRELUDE, AptSource, StageWriter, apt_install_step};
pub use suggest::closest as suggest_closest;

#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
