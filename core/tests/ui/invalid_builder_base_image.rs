//! A registration whose `builder_base_image` is not an image reference does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        depends_on: &[],
        cache_priority: 50,
        builder_base_image: Some("Ubuntu 22.04"),
        apt_packages: &[],
        apt_repositories: &[],
        builder: Some(quarry_core::Builder {
            shared_base: true,
            apt_packages: &[],
            template: quarry_core::Template { file: "templates/builder.j2", source: "RUN true\n" },
            artifacts: &[quarry_core::Artifact { source: "/opt/quarry/demo/bin/demo", dest: "/usr/local/bin/demo" }],
        }),
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
