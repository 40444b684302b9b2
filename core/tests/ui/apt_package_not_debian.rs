//! A registration whose an apt package that is not a Debian package name does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        apt_packages: &["curl", "Foo_Bar"],
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
