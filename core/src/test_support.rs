//! Helpers for core's unit tests: small extensions, registries and requests.

use crate::model::{Extension, Template};
use crate::registry::Registry;
use crate::request::{Request, Selection};

/// `v`, made `'static` as registrations are.
pub fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

/// An extension with a one-line setup step.
pub fn ext(name: &'static str, deps: &'static [&'static str], priority: u8) -> Extension {
    Extension {
        name,
        crate_name: "test",
        description: "test extension",
        depends_on: deps,
        cache_priority: crate::model::CachePriority::of(priority),
        setup: Some(Template { file: "setup", source: "RUN echo {{ name }}\n" }),
        ..Extension::EMPTY
    }
}

/// A registry of `list`.
pub fn registry(list: Vec<Extension>) -> Registry {
    Registry::from_extensions(list.into_iter().map(leak)).unwrap()
}

/// `names` on `debian:bookworm`, with default options.
pub fn request(names: &[&str]) -> Request {
    Request {
        image: "debian:bookworm".to_owned(),
        extensions: names.iter().map(|n| Selection::new(*n)).collect(),
        ..Request::default()
    }
}
