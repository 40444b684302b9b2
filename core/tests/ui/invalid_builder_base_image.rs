//! A registration whose `builder_base_image` is not an image reference does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        builder_base_image: Some("Ubuntu 22.04"),
        builder: Some(quarry_core::Builder {
            from: quarry_core::BuilderFrom::BaseImage,
            apt_packages: &[], downloads: &[],
            template: quarry_core::Template { file: "templates/builder.j2", source: "RUN true\n" },
            artifacts: &[quarry_core::Artifact { source: "/opt/quarry/demo/bin/demo", dest: "/usr/local/bin/demo" }],
        }),
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
