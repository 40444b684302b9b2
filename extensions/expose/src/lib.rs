//! quarry extension `expose`: generated from `extension.toml` by `quarry-codegen`.

include!(concat!(env!("OUT_DIR"), "/extension.rs"));
