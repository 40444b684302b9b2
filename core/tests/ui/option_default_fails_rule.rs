//! A registration whose an option's `default` fails its own `rule` does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
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
            name: "version",
            description: "Release",
            default: "1.0 beta",
            rule: quarry_core::Rule::Version,
            required: false,
            from_host: None,
        }],
        files: &[],
        run: quarry_core::RunSpec::EMPTY,
    };
}

fn main() {}
