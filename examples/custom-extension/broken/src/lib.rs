//! quarry extension `broken`: its metadata has mistakes on purpose, so this never compiles.

include!(concat!(env!("OUT_DIR"), "/extension.rs"));
