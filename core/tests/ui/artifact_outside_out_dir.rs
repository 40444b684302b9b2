//! A registration whose an artifact `source` outside /opt/quarry/<name> does not compile.

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
        builder: Some(quarry_core::Builder {
            shared_base: true,
            apt_packages: &[],
            template: quarry_core::Template { file: "templates/builder.j2", source: "RUN true\n" },
            artifacts: &[quarry_core::Artifact { source: "/usr/local/bin/demo", dest: "/usr/local/bin/demo" }],
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
