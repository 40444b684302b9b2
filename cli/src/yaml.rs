//! The one way `quarry import` reads YAML, rockerc and deps_rocker files alike: the values a
//! text stands for with its aliases expanded are counted on the event stream first, and a text
//! of more than [`MAX_NODES`] values or [`MAX_DEPTH`] levels is refused before anything is built
//! from it (a 380-byte alias bomb otherwise expands to gigabytes).

use quarry_core::Hinted;
use yaml_rust2::{Yaml, YamlLoader};

/// The most YAML nodes a file may stand for once its aliases are expanded.
pub const MAX_NODES: u64 = 100_000;
/// The deepest nesting a file may have.
pub const MAX_DEPTH: usize = 64;

/// The documents of `yaml` (`origin` names it in the error), counted first (see the module
/// documentation). `Ok(Err(message))`: not YAML.
pub(crate) fn load(yaml: &str, origin: &str) -> anyhow::Result<Result<Vec<Yaml>, String>> {
    let mut expansion = Expansion::default();
    if let Err(e) = yaml_rust2::parser::Parser::new_from_str(yaml).load(&mut expansion, true) {
        return Ok(Err(e.to_string()));
    }
    if expansion.total > MAX_NODES || expansion.deepest > MAX_DEPTH {
        anyhow::bail!(Hinted::new(
            format!(
                "{origin} stands for more than {MAX_NODES} YAML values or nests deeper than {MAX_DEPTH} once its \
                 aliases are expanded"
            ),
            "a rockerc or deps file names a few images, extensions and packages: remove the anchors (`&`) and \
             aliases (`*`)",
        ));
    }
    Ok(YamlLoader::load_from_str(yaml).map_err(|e| e.to_string()))
}

/// Counts the nodes a YAML stream stands for with its aliases expanded, and its nesting depth.
#[derive(Debug, Default)]
struct Expansion {
    /// Expanded size of each anchored node.
    anchored: std::collections::HashMap<usize, u64>,
    /// Open collections: their anchor and the nodes counted inside so far.
    open: Vec<(usize, u64)>,
    total: u64,
    deepest: usize,
}

impl Expansion {
    fn add(&mut self, nodes: u64) {
        self.total = self.total.saturating_add(nodes);
        if let Some((_, inside)) = self.open.last_mut() {
            *inside = inside.saturating_add(nodes);
        }
    }
}

impl yaml_rust2::parser::EventReceiver for Expansion {
    fn on_event(&mut self, event: yaml_rust2::Event) {
        use yaml_rust2::Event;
        match event {
            Event::Scalar(_, _, anchor, _) => {
                self.add(1);
                if anchor > 0 {
                    self.anchored.insert(anchor, 1);
                }
            }
            Event::Alias(anchor) => {
                let size = self.anchored.get(&anchor).copied().unwrap_or(1);
                self.add(size);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.add(1);
                self.open.push((anchor, 1));
                self.deepest = self.deepest.max(self.open.len());
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, size)) = self.open.pop()
                    && anchor > 0
                {
                    self.anchored.insert(anchor, size);
                }
            }
            _ => {}
        }
    }
}
