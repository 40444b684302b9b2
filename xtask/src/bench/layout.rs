//! The three Dockerfile layouts the benchmark measures, from the same rendered pieces:
//!
//! - `quarry`: what `quarry_core::render` writes in a project, with the order of OLD's chain
//!   kept for NEW as `quarry.lock` keeps it (the chain only grows).
//! - `quarry-nolock`: the same renderer without a lock: every render takes the canonical order
//!   (priority, then name), so an extension added in the middle of the order shifts the chain.
//! - `naive`: what a naive composer writes. Builders start from the final image; one final stage
//!   chains each extension's apt packages, artifact copies, files, environment and setup in the
//!   user's list order (dependencies first, no priorities), then the user; copies are plain
//!   `COPY --from` (no `--link`). Every step's text is quarry's (same apt cache mounts, same
//!   templates), so the numbers compare layouts, not step bodies.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use quarry_core::{EngineLevel, ExtensionPieces, FINAL_STAGE, Pieces, Rendered, StageWriter};

use super::extensions;
use super::scenario::Config;

/// A Dockerfile layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layout {
    /// quarry's renderer with a lock.
    Quarry,
    /// quarry's renderer without a lock.
    QuarryNoLock,
    /// The naive baseline.
    Naive,
}

impl Layout {
    /// All three, in table order.
    pub const ALL: [Layout; 3] = [Layout::Quarry, Layout::QuarryNoLock, Layout::Naive];

    /// The name used on the command line, in the table and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Quarry => "quarry",
            Layout::QuarryNoLock => "quarry-nolock",
            Layout::Naive => "naive",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == s.trim())
    }

    /// Whether the targets hold this layout to them: quarry as a project uses it. The others
    /// are baselines.
    pub fn is_quarry(self) -> bool {
        self == Layout::Quarry
    }

    /// The Dockerfile and build context files of `config` in this layout; `previous` is the
    /// render of the configuration before the change, whose order a lock keeps.
    pub fn render(self, config: &Config, previous: Option<&Rendered>) -> anyhow::Result<Rendered> {
        self.render_for(EngineLevel::Modern, config, previous)
    }

    /// [`Layout::render`] for an engine of `level` (Podman and Docker 20.10 get plain copies).
    pub fn render_for(
        self,
        level: EngineLevel,
        config: &Config,
        previous: Option<&Rendered>,
    ) -> anyhow::Result<Rendered> {
        let mut request = config.request();
        request.engine = level;
        let rendered = match self {
            Layout::Quarry => {
                request.locked_order = previous
                    .map(|p| p.resolved.extensions.iter().map(|r| r.extension.name.to_owned()).collect());
                quarry_core::render(extensions::registry(), &request)?
            }
            Layout::QuarryNoLock => quarry_core::render(extensions::registry(), &request)?,
            Layout::Naive => {
                let pieces = quarry_core::pieces(extensions::registry(), &request)?;
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
                &e.apt_repositories,
                e.name,
            ));
        }
        if let Some(b) = e.builder.as_ref().filter(|b| !b.artifacts.is_empty()) {
            stage.comment(&format!("{}: artifacts", e.name));
            for a in b.artifacts {
                stage.step(&format!("COPY --from={} {} {}", b.stage, a.source, a.dest));
            }
        }
        for (path, dest) in &e.copied_files {
            stage.step(&format!("COPY {path} {dest}"));
        }
        if let Some(dir) = &e.shell_dir {
            stage.step(&format!("COPY {dir}/ {}/", quarry_core::ENV_DIR));
        }
        if !e.env.is_empty() {
            stage.step(&format!("ENV {}", e.env.join(" ")));
        }
        if let Some(setup) = &e.setup {
            stage.comment(&format!("{}: setup", e.name));
            stage.snippet(setup);
        }
    }
    if let Some(user) = &pieces.final_user {
        stage.comment(&format!("{}: the image's user", user.owner));
        stage.step(&format!("USER {}", user.user));
        if let Some(dir) = &user.workdir {
            stage.step(&format!("WORKDIR {dir}"));
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

    fn pair(layout: Layout, scenario: &Scenario) -> (String, String) {
        let old = layout.render(&scenario.old, None).unwrap();
        let new = layout.render(&scenario.new, Some(&old)).unwrap();
        (old.dockerfile, new.dockerfile)
    }

    #[test]
    fn base_configuration_in_each_layout() {
        let config = Config::base();
        insta::assert_snapshot!("quarry", Layout::Quarry.render(&config, None).unwrap().dockerfile);
        insta::assert_snapshot!("naive", Layout::Naive.render(&config, None).unwrap().dockerfile);
        assert_eq!(
            Layout::QuarryNoLock.render(&config, None).unwrap().dockerfile,
            Layout::Quarry.render(&config, None).unwrap().dockerfile,
            "without a previous render, both quarry layouts take the canonical order"
        );
    }

    #[test]
    fn naive_order_is_the_list_with_dependencies_first() {
        let mut config = Config::base();
        config.list.retain(|s| s.name != "python" && s.name != "shell");
        config.list.reverse();
        let out = Layout::Naive.render(&config, None).unwrap().dockerfile;
        assert!(
            out.contains(
                "# Extensions: shell, user, editor, tls, mandel, locale, kvstore, primes, python, pylib\n"
            ),
            "{out}"
        );
        assert!(!out.contains("--link"));
        assert!(out.contains("FROM debian:bookworm AS primes_builder\n"));
    }

    #[test]
    fn only_the_naive_builders_follow_the_final_image() {
        let b = Scenario::new(Id::B);
        for layout in Layout::ALL {
            let (old, new) = pair(layout, &b);
            let builders_new = new.split("\nFROM debian:trixie AS quarry_final").next().unwrap().to_owned();
            let builders_old = old.split("\nFROM debian:bookworm AS quarry_final").next().unwrap().to_owned();
            assert_eq!(builders_new == builders_old, layout != Layout::Naive, "{}", layout.name());
        }
    }

    #[test]
    fn reordering_changes_only_the_naive_layout() {
        let d = Scenario::new(Id::D);
        for layout in Layout::ALL {
            let (old, new) = pair(layout, &d);
            assert_eq!(old == new, layout != Layout::Naive, "{}", layout.name());
        }
    }

    #[test]
    fn with_the_lock_an_added_extension_goes_after_the_existing_chain() {
        let a = Scenario::new(Id::A);
        let (old, new) = pair(Layout::Quarry, &a);
        let chain = |s: &str| -> Vec<String> {
            let final_stage = &s[s.find("AS quarry_final").unwrap()..];
            let first_copy = final_stage.find("\nCOPY --link").unwrap();
            final_stage[..first_copy].lines().filter(|l| l.starts_with("RUN")).map(str::to_owned).collect()
        };
        let (old_chain, new_chain) = (chain(&old), chain(&new));
        assert!(new_chain.len() > old_chain.len());
        assert_eq!(new_chain[..old_chain.len()], old_chain[..], "the old chain is a prefix of the new one");
        let (_, nolock) = pair(Layout::QuarryNoLock, &a);
        assert_ne!(chain(&nolock)[..old_chain.len()], old_chain[..], "without the lock the chain shifts");
    }
}
