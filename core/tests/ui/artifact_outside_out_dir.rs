//! A registration whose an artifact `source` outside /opt/quarry/<name> does not compile.

quarry_core::register! {
    pub static EXTENSION: quarry_core::Extension = quarry_core::Extension {
        name: "demo",
        crate_name: "quarry-ui",
        description: "A demo extension",
        builder: Some(quarry_core::Builder {
            from: quarry_core::BuilderFrom::BaseImage,
            apt_packages: &[], downloads: &[],
            template: quarry_core::Template { file: "templates/builder.j2", source: "RUN true\n" },
            artifacts: &[quarry_core::Artifact { source: "/usr/local/bin/demo", dest: "/usr/local/bin/demo" }],
        }),
        ..quarry_core::Extension::EMPTY
    };
}

fn main() {}
