//! A registration whose `depends_on` names the extension itself does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        depends_on: &["curl", "demo"],
        cache_priority: 50,
        builder_base_image: None,
        apt_packages: &[],
        apt_repositories: &[],
        builder: None,
        setup: None,
        user_setup: None,
        final_user: None,
        supported_images: &[],
        options: &[],
        files: &[],
        run: quarry_core::RunSpec::EMPTY,
    };
}

fn main() {}
