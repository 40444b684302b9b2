//! A registration whose an option's `default` fails its own `rule` does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        options: &[quarry_core::OptionSpec {
            name: "version",
            description: "Release",
            default: "1.0 beta",
            rule: quarry_core::Rule::Version,
            required: false,
            from_host: None,
            multiple: false,
            aliases: &[],
        }],
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
