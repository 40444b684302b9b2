//! A registration whose `name` is not snake_case does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "Demo-Tool",
        crate_name: "quarry-ui",
        description: "A demo extension",
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
