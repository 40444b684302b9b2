// A `required` option takes no default.
quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "demo",
        description: "demo",
        options: &[quarry_core::OptionSpec {
            name: "spec",
            description: "a mount",
            default: "/a:/a",
            rule: quarry_core::Rule::Arg,
            required: true,
            from_host: None,
            multiple: false,
            aliases: &[],
        }],
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
