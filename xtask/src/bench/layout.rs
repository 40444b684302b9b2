//! The three Dockerfile layouts the benchmark measures, from the same rendered pieces:
//!
//! - `quarry`: what `quarry_core::render` writes.
//! - `no-shared-base`: the same, but no builder starts from the shared builder base stage; each
//!   builder starts from its bare base image and installs the tools it uses itself.
//! - `naive`: what a naive composer writes. Builders start from the final image (and install the
//!   tools they use); one final stage chains each extension's apt packages, artifact copies and
//!   setup in the user's list order (dependencies first, no priorities), then the user and the
//!   user setup steps; copies are plain `COPY --from` (no `--link`). Every step's text is
//!   quarry's (same apt cache mounts, same templates), so the numbers compare layouts, not
//!   step bodies.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use quarry_core::{ExtensionPieces, FINAL_STAGE, Pieces, Rendered, StageWriter};

use super::extensions;
use super::scenario::Config;

/// A Dockerfile layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layout {
    /// quarry's renderer, as it is.
    Quarry,
    /// quarry's renderer without the shared builder base stage.
    NoSharedBase,
    /// The naive baseline.
    Naive,
}

impl Layout {
    /// All three, in table order.
    pub const ALL: [Layout; 3] = [Layout::Quarry, Layout::NoSharedBase, Layout::Naive];

    /// The name used on the command line, in the table and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Quarry => "quarry",
            Layout::NoSharedBase => "no-shared-base",
            Layout::Naive => "naive",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == s.trim())
    }

    /// Whether it is one of quarry's layouts (the targets are about these; the naive one is the
    /// baseline they are compared with).
    pub fn is_quarry(self) -> bool {
        self != Layout::Naive
    }

    /// The Dockerfile and build context files of `config` in this layout.
    pub fn render(self, config: &Config) -> anyhow::Result<Rendered> {
        let request = config.request();
        let rendered = match self {
            Layout::Quarry => quarry_core::render(extensions::registry(), &request)?,
            Layout::NoSharedBase => {
                quarry_core::render(extensions::registry_without_shared_base(), &request)?
            }
            Layout::Naive => {
                let pieces = quarry_core::pieces(extensions::registry_without_shared_base(), &request)?;
                let dockerfile = naive(&pieces, &config.names())?;
                let Pieces { resolved, warnings, files, final_user, .. } = pieces;
                Rendered { dockerfile, resolved, warnings, files, final_user: final_user.map(|u| u.user) }
            }
        };
        Ok(rendered)
    }
}

/// The naive layout of `pieces`, in the order of `list` with every extension's dependencies
/// placed right before it (depth first, in `depends_on` order).
pub fn naive(pieces: &Pieces, list: &[&str]) -> anyhow::Result<String> {
    let by_name: BTreeMap<&str, &ExtensionPieces> = pieces.extensions.iter().map(|e| (e.name, e)).collect();
    let mut order: Vec<&ExtensionPieces> = Vec::new();
    let mut placed = BTreeSet::new();
    for name in list {
        place(name, &by_name, &pieces.resolved, &mut placed, &mut order)?;
    }

    let mut out = String::new();
    let names: Vec<&str> = order.iter().map(|e| e.name).collect();
    out.push_str("# Composed by `cargo xtask bench cache` as a naive composer would (the baseline).\n");
    out.push_str(&format!("# Extensions: {}\n", names.join(", ")));
    out.push_str("ARG CACHE_ID=default\n");
    for e in &order {
        let Some(b) = &e.builder else { continue };
        let mut stage = StageWriter::new(&mut out, &pieces.image, Some(&b.stage));
        stage.comment(&format!("{}: builder", e.name));
        if !b.apt_packages.is_empty() {
            stage.step(quarry_core::APT_PRELUDE);
            stage.step(&quarry_core::apt_install_step(&pieces.image, &b.apt_packages, &[], e.name));
        }
        stage.snippet(&b.body);
    }
    let mut stage = StageWriter::new(&mut out, &pieces.image, Some(FINAL_STAGE));
    if order.iter().any(|e| !e.apt_packages.is_empty()) {
        stage.step(quarry_core::APT_PRELUDE);
    }
    for e in &order {
        if !e.apt_packages.is_empty() || !e.apt_repositories.is_empty() {
            stage.comment(&format!("{}: apt packages", e.name));
            stage.step(&quarry_core::apt_install_step(
                &pieces.image,
                &e.apt_packages,
                e.apt_repositories,
                e.name,
            ));
        }
        if let Some(b) = e.builder.as_ref().filter(|b| !b.artifacts.is_empty()) {
            stage.comment(&format!("{}: artifacts", e.name));
            for a in b.artifacts {
                stage.step(&format!("COPY --from={} {} {}", b.stage, a.source, a.dest));
            }
        }
        if let Some(setup) = &e.setup {
            stage.comment(&format!("{}: setup", e.name));
            stage.snippet(setup);
        }
    }
    if let Some(user) = &pieces.final_user {
        stage.comment(&format!("{}: the image's user", user.owner));
        stage.step(&format!("USER {}", user.user));
    }
    for e in &order {
        if let Some(setup) = &e.user_setup {
            stage.comment(&format!("{}: user setup", e.name));
            stage.snippet(setup);
        }
    }
    Ok(out)
}

fn place<'a>(
    name: &str,
    by_name: &BTreeMap<&str, &'a ExtensionPieces>,
    resolved: &quarry_core::Resolved,
    placed: &mut BTreeSet<&'static str>,
    order: &mut Vec<&'a ExtensionPieces>,
) -> anyhow::Result<()> {
    let e = *by_name.get(name).with_context(|| format!("`{name}` is not among the rendered pieces"))?;
    if placed.contains(e.name) {
        return Ok(());
    }
    let r = resolved.extensions.iter().find(|r| r.extension.name == e.name).expect("pieces are resolved");
    for dep in r.extension.depends_on {
        place(dep, by_name, resolved, placed, order)?;
    }
    placed.insert(e.name);
    order.push(e);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario::{Id, Scenario};

    #[test]
    fn base_configuration_in_each_layout() {
        let config = Config::base();
        insta::assert_snapshot!("quarry", Layout::Quarry.render(&config).unwrap().dockerfile);
        insta::assert_snapshot!("no_shared_base", Layout::NoSharedBase.render(&config).unwrap().dockerfile);
        insta::assert_snapshot!("naive", Layout::Naive.render(&config).unwrap().dockerfile);
    }

    #[test]
    fn naive_order_is_the_list_with_dependencies_first() {
        let mut config = Config::base();
        config.list.retain(|s| s.name != "python" && s.name != "shell");
        config.list.reverse();
        let out = Layout::Naive.render(&config).unwrap().dockerfile;
        assert!(
            out.contains(
                "# Extensions: shell, user, editor, tls, mandel, locale, kvstore, primes, python, pylib\n"
            ),
            "{out}"
        );
        // Only the user setup runs as the user, after every root step.
        let user_at = out.find("USER bench").unwrap();
        assert!(out[user_at..].lines().filter(|l| l.starts_with("RUN")).count() == 1, "{out}");
        assert!(!out.contains("--link"));
        assert!(!out.contains("quarry_builder_base"));
        assert!(out.contains("FROM debian:bookworm AS primes_builder\n"));
    }

    #[test]
    fn only_the_naive_builders_follow_the_final_image() {
        let b = Scenario::new(Id::B);
        for layout in Layout::ALL {
            let old = layout.render(&b.old).unwrap().dockerfile;
            let new = layout.render(&b.new).unwrap().dockerfile;
            let builders =
                |s: &str| s.split("\nFROM debian:trixie AS quarry_final").next().unwrap().to_owned();
            let builders_old = old.split("\nFROM debian:bookworm AS quarry_final").next().unwrap().to_owned();
            assert_eq!(builders(&new) == builders_old, layout.is_quarry(), "{}", layout.name());
        }
    }

    #[test]
    fn reordering_changes_only_the_naive_layout() {
        let d = Scenario::new(Id::D);
        for layout in Layout::ALL {
            let same = layout.render(&d.old).unwrap().dockerfile == layout.render(&d.new).unwrap().dockerfile;
            assert_eq!(same, layout.is_quarry(), "{}", layout.name());
        }
    }
}
