//! The shared remote cache: one registry reference per builder stage, one per project's final
//! stage, and the `docker buildx` arguments that import and export them.
//!
//! Naming (see `docs/remote-cache.md`): a builder stage's reference is
//! `REGISTRY/REPO:<stage>-<hash>`, where the hash covers everything BuildKit's keys for that stage
//! depend on and nothing else: [`FORMAT`], the ARGs before the first `FROM`, the stage's `FROM`
//! line and instructions as rendered (heredoc bodies and the context files it copies included),
//! the same for the builder stage it starts `FROM` (recursively), the platform and the build
//! arguments that reach layer keys. Two projects that render the same builder stage therefore
//! name the same reference, whatever their other extensions and final images are.
//!
//! The final stage's reference is `REGISTRY/REPO:final-<project>-<content>`: `project` hashes the
//! final image and the sorted list of requested extensions (not the project's path: the same
//! selection in two repositories, or checked out at two paths on two runners, is one project);
//! `content` hashes the whole rendered build (every stage and file), because the final stage
//! copies from every builder. A changed option thus names a new final reference, while the
//! builders it did not touch keep theirs.
//!
//! A reference is only a name under which BuildKit finds cache records: BuildKit still matches
//! each step by its own cache key, so a wrong or stale reference costs a cache miss, never a
//! wrong image.
//!
//! `naming` names the references, `probe` asks the registry whether it holds one, and `export`
//! makes a build's plan (what it imports, what it exports afterwards) and runs its exports.

mod export;
#[cfg(test)]
mod fixtures;
mod naming;
mod probe;

pub use export::{
    Exported, RemotePlan, cache_from, cache_to, engine_problem, export, export_args, prepare, probe,
    refuses_pushes,
};
pub use naming::{CacheRepo, FORMAT, KeyInputs, RemoteCache, StageRef, plan};
pub use probe::{ProbeError, classify, exists};
