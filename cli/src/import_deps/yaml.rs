//! A deps file's YAML as a tree of values with their places: aliases expanded and counted, so an
//! alias bomb or deep nesting stops at a limit instead of filling the memory.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::{MAX_NESTING, MAX_NODES, Place};
use crate::config::ConfigError;

/// A YAML value with the 1-based line and column it starts at.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Null(usize, usize),
    Text(String, usize, usize),
    Seq(Vec<Node>, usize, usize),
    Map(Vec<(Node, Node)>, usize, usize),
}

/// The top-level keys of a deps file, with their places and values, in the file's order.
pub(super) fn top_level(file: &str, text: &str) -> Result<Vec<(String, Place, Node)>, ConfigError> {
    let at = |line, column| Place { file: file.to_owned(), line, column };
    let mut tree = Tree::default();
    Parser::new_from_str(text).load(&mut tree, true).map_err(|e| {
        at(e.marker().line(), e.marker().col() + 1)
            .error(format!("not YAML: {}", e.info()), "fix the YAML at this place")
    })?;
    if let Some((line, column)) = tree.too_big {
        return Err(at(line, column).error(
            format!("the file stands for more than {MAX_NODES} YAML values or nests deeper than {MAX_NESTING} once its aliases are expanded"),
            "a deps file lists packages: write its lists out",
        ));
    }
    if tree.docs.len() > 1 {
        let (line, column) = tree.second_doc.unwrap_or((1, 1));
        return Err(at(line, column).error(
            "the file holds more than one YAML document".to_owned(),
            "keep one document: remove the `---`",
        ));
    }
    let pairs = match tree.docs.pop() {
        None | Some(Node::Null(..)) => return Ok(Vec::new()),
        Some(Node::Map(pairs, ..)) => pairs,
        Some(Node::Text(_, line, column) | Node::Seq(_, line, column)) => {
            return Err(at(line, column).error(
                "a deps file is a mapping of layers to lists".to_owned(),
                "write `apt_tools: [git]`, one key per layer",
            ));
        }
    };
    let mut out: Vec<(String, Place, Node)> = Vec::new();
    for (key, value) in pairs {
        let (key, line, column) = match key {
            Node::Text(key, line, column) => (key, line, column),
            other => {
                let (line, column) = place_of(&other);
                return Err(at(line, column)
                    .error("a key that is not text".to_owned(), "write keys such as `apt_tools`"));
            }
        };
        if let Some((_, first, _)) = out.iter().find(|(k, _, _)| *k == key) {
            return Err(at(line, column).error(
                format!("`{key}` is given twice in this file (first at line {})", first.line),
                "merge the two lists into one: YAML keeps only the last",
            ));
        }
        out.push((key, at(line, column), value));
    }
    Ok(out)
}

/// The node tree of a YAML stream, aliases expanded and counted.
#[derive(Default)]
struct Tree {
    /// Open collections: the collection, its anchor, where it starts and the nodes inside it.
    open: Vec<(Open, usize, (usize, usize), u64)>,
    /// Anchored nodes and their expanded size.
    anchors: HashMap<usize, (Node, u64)>,
    docs: Vec<Node>,
    second_doc: Option<(usize, usize)>,
    total: u64,
    /// Where the stream became too large or too deep.
    too_big: Option<(usize, usize)>,
}

enum Open {
    Seq(Vec<Node>),
    /// The pairs so far, and a key waiting for its value.
    Map(Vec<(Node, Node)>, Option<Node>),
}

impl Tree {
    fn add(&mut self, node: Node, size: u64, anchor: usize) {
        self.total = self.total.saturating_add(size);
        if self.total > MAX_NODES {
            self.too_big = Some(place_of(&node));
            return;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.open.last_mut() {
            None => self.docs.push(node),
            Some((collection, _, _, inside)) => {
                *inside = inside.saturating_add(size);
                match collection {
                    Open::Seq(items) => items.push(node),
                    Open::Map(pairs, pending) => match pending.take() {
                        None => *pending = Some(node),
                        Some(key) => pairs.push((key, node)),
                    },
                }
            }
        }
    }
}

fn place_of(node: &Node) -> (usize, usize) {
    match node {
        Node::Null(l, c) | Node::Text(_, l, c) | Node::Seq(_, l, c) | Node::Map(_, l, c) => (*l, *c),
    }
}

impl MarkedEventReceiver for Tree {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.too_big.is_some() {
            return;
        }
        let at = (mark.line(), mark.col() + 1);
        match ev {
            Event::DocumentStart if !self.docs.is_empty() && self.second_doc.is_none() => {
                self.second_doc = Some(at);
            }
            Event::Scalar(value, style, anchor, tag) => {
                let null_tag = tag.as_ref().is_some_and(|t| t.suffix == "null");
                let str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let node = if null_tag
                    || (style == TScalarStyle::Plain
                        && !str_tag
                        && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
                {
                    Node::Null(at.0, at.1)
                } else {
                    Node::Text(value, at.0, at.1)
                };
                self.add(node, 1, anchor);
            }
            Event::Alias(anchor) => {
                // Counted before it is copied: a copy is never larger than the limit.
                let size = self.anchors.get(&anchor).map_or(1, |(_, size)| *size);
                if self.total.saturating_add(size) > MAX_NODES {
                    self.too_big = Some(at);
                    return;
                }
                let node = self.anchors.get(&anchor).map_or(Node::Null(at.0, at.1), |(node, _)| node.clone());
                self.add(node, size, 0);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.open.len() >= MAX_NESTING {
                    self.too_big = Some(at);
                    return;
                }
                let open = if matches!(ev, Event::SequenceStart(..)) {
                    Open::Seq(Vec::new())
                } else {
                    Open::Map(Vec::new(), None)
                };
                self.open.push((open, anchor, at, 1));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((open, anchor, (line, column), size)) = self.open.pop() else { return };
                let node = match open {
                    Open::Seq(items) => Node::Seq(items, line, column),
                    Open::Map(pairs, _) => Node::Map(pairs, line, column),
                };
                // The collection's own node was counted when it opened, in `size`: count the rest.
                self.total = self.total.saturating_sub(size - 1);
                self.add(node, size, anchor);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_read_with_places_and_bounded() {
        let pairs = top_level("a.deps.yaml", "# c\napt_tools:\n  - git\n  - 'x'\nenv: [A=1]\n").unwrap();
        let keys: Vec<(&str, usize, usize)> =
            pairs.iter().map(|(k, p, _)| (k.as_str(), p.line, p.column)).collect();
        assert_eq!(keys, [("apt_tools", 2, 1), ("env", 5, 1)]);
        let Node::Seq(items, ..) = &pairs[0].2 else { panic!("{:?}", pairs[0].2) };
        assert!(matches!(&items[1], Node::Text(t, 4, 5) if t == "x"), "{items:?}");
        // Aliases are expanded; a bomb is refused.
        let pairs = top_level("a", "base: &b [git, curl]\napt_x: *b\n").unwrap();
        assert!(matches!(&pairs[1].2, Node::Seq(items, ..) if items.len() == 2));
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        for (n, p) in ["b", "c", "d", "e", "f", "g", "h"].iter().zip(["a", "b", "c", "d", "e", "f", "g"]) {
            bomb.push_str(&format!("{n}: &{n} [{}]\n", vec![format!("*{p}"); 9].join(",")));
        }
        let err = top_level("bomb.deps.yaml", &bomb).unwrap_err();
        assert!(err.message.contains("more than 100000 YAML values"), "{err}");
        let deep = format!("a: {}x{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(top_level("deep", &deep).is_err());
        let err = top_level("two", "a: [x]\na: [y]\n").unwrap_err();
        assert_eq!(err.to_string(), "two:2:1: `a` is given twice in this file (first at line 1)");
        let err = top_level("docs", "a: [x]\n---\nb: [y]\n").unwrap_err();
        assert!(err.message.contains("more than one YAML document"), "{err}");
        assert!(top_level("empty", "# nothing\n").unwrap().is_empty());
        let err = top_level("bad", "a: [x\n").unwrap_err();
        assert!(err.message.starts_with("not YAML"), "{err}");
    }
}
