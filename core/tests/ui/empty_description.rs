//! A registration whose `description` is empty does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "",
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
