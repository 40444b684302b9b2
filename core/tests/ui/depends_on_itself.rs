//! A registration whose `depends_on` names the extension itself does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        depends_on: &["curl", "demo"],
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
