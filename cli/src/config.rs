//! The TOML configuration: an image, the extensions with their options, and overrides.
//!
//! ```toml
//! image = "ubuntu:24.04"
//! extensions = ["cargo", "npm"]
//! builder_base_image = "ubuntu:22.04"   # optional, for every builder
//!
//! [options.cargo]
//! version = "1.95.0"
//!
//! [overrides.npm]
//! builder_base_image = "debian:bookworm"
//! cache_priority = 70
//! ```

use std::collections::BTreeMap;

use anyhow::Context;
use quarry_core::{EngineLevel, Override, Request, Selection};
use serde::Deserialize;

/// A configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The final image.
    pub image: String,
    /// Selected extensions, in any order.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Global builder base image.
    pub builder_base_image: Option<String>,
    /// Option values by extension, then option.
    #[serde(default)]
    pub options: BTreeMap<String, BTreeMap<String, String>>,
    /// Per-extension overrides.
    #[serde(default)]
    pub overrides: BTreeMap<String, OverrideConfig>,
}

/// `[overrides.<extension>]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OverrideConfig {
    /// Image the extension's builder starts from.
    pub builder_base_image: Option<String>,
    /// Cache priority, 0..=100.
    pub cache_priority: Option<u32>,
}

impl Config {
    /// Parses configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Config> {
        toml::from_str(text).with_context(|| format!("invalid configuration `{origin}`"))
    }

    /// The render request this configuration describes. Options given for an extension that is
    /// not in `extensions` select it.
    pub fn to_request(&self, engine: EngineLevel) -> Request {
        let mut selections: BTreeMap<&str, Selection> = BTreeMap::new();
        for name in &self.extensions {
            selections.entry(name).or_insert_with(|| Selection::new(name.clone()));
        }
        for (name, options) in &self.options {
            let selection = selections.entry(name).or_insert_with(|| Selection::new(name.clone()));
            selection.options.extend(options.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Request {
            image: self.image.clone(),
            extensions: selections.into_values().collect(),
            builder_base_image: self.builder_base_image.clone(),
            overrides: self
                .overrides
                .iter()
                .map(|(name, o)| {
                    (
                        name.clone(),
                        Override {
                            builder_base_image: o.builder_base_image.clone(),
                            cache_priority: o.cache_priority,
                        },
                    )
                })
                .collect(),
            engine,
            host: quarry_core::HostValues::default(),
        }
    }
}

/// The built-in example configuration that `cargo xtask render` renders.
pub const EXAMPLE: &str = include_str!("../example.quarry.toml");
