//! BuildKit's side of quarry: a Dockerfile parser, the model of BuildKit's cache keys behind
//! `quarry explain`, image references as the engine normalises them, and the workspace's one
//! stable hash. Pure: no IO, and no dependency on quarry's extension model.

pub mod dockerfile;
pub mod explain;
pub mod hash;
pub mod image;
