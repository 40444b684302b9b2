//! BuildKit's side of quarry: Dockerfile parsing, the cache-key model, image names, one hash.
//!
//! `dockerfile` parses any Dockerfile; `explain` models BuildKit's cache keys on two of them
//! (`quarry explain`); `image` is the workspace's one image-reference normaliser and `hash` its
//! one stable hash. Pure: no IO, and nothing of quarry's extension model (this crate does not
//! depend on `quarry-core`).

pub mod dockerfile;
pub mod explain;
pub mod hash;
pub mod image;
