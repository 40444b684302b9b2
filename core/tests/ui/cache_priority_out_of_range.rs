//! A registration whose `cache_priority` is above 100 does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        cache_priority: quarry_core::CachePriority::of(101),
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
