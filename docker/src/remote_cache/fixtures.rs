//! Test extensions for the remote cache's unit tests: builders that start from the base image
//! or from another builder, and a plain extension.

use quarry_core::{Builder, BuilderFrom, Extension, Registry, Rendered, Request, Selection, Template};

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn builder_ext(name: &'static str, from: BuilderFrom, body: &'static str) -> &'static Extension {
    leak(Extension {
        name,
        crate_name: "remote-cache-test",
        description: "test",
        builder: Some(Builder {
            from,
            apt_packages: &[],
            template: Template { file: "builder", source: body },
            artifacts: &[],
            downloads: &[],
        }),
        ..Extension::EMPTY
    })
}

fn plain_ext(name: &'static str, setup: &'static str) -> &'static Extension {
    leak(Extension {
        name,
        crate_name: "remote-cache-test",
        description: "test",
        setup: Some(Template { file: "setup", source: setup }),
        ..Extension::EMPTY
    })
}

pub(super) fn registry(tool_body: &'static str) -> Registry {
    Registry::from_extensions([
        builder_ext("tool", BuilderFrom::BaseImage, tool_body),
        builder_ext("other", BuilderFrom::BaseImage, "RUN echo other > /o\n"),
        leak(Extension {
            depends_on: &["tool"],
            ..*builder_ext("plug", BuilderFrom::Extension("tool"), "RUN echo plug > /p\n")
        }),
        plain_ext("extra", "RUN echo extra\n"),
    ])
    .unwrap()
}

/// `tool` alone, rendered on `debian:bookworm` with its builder on the same base.
pub(super) fn tool_rendered() -> Rendered {
    let request = Request {
        image: "debian:bookworm".into(),
        extensions: vec![Selection::new("tool")],
        builder_base_image: Some("debian:bookworm".into()),
        ..Request::default()
    };
    quarry_core::render(&registry("RUN echo tool-1 > /t\n"), &request).unwrap()
}
