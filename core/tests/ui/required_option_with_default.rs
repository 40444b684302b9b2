// A `required` option takes no default.
quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "demo",
        description: "demo",
        depends_on: &[],
        cache_priority: 50,
        builder_base_image: None,
        apt_packages: &[],
        apt_repositories: &[],
        builder: None,
        setup: None,
        user_setup: None,
        final_user: None,
        supported_images: &[],
        options: &[quarry_core::OptionSpec {
            name: "spec",
            description: "a mount",
            default: "/a:/a",
            rule: quarry_core::Rule::Arg,
            required: true,
            from_host: None,
        }],
        files: &[],
        run: quarry_core::RunSpec::EMPTY,
    };
}

fn main() {}
