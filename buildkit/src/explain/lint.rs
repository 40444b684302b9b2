//! Cache busters in a Dockerfile, found without the old side: an ARG ahead of RUNs that do not
//! use it, a RUN after a linked copy, `--link --chmod`, uncached apt lists, mutable builder bases.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::analysis::Analysis;
use super::options::Store;
use crate::dockerfile::{self, Body, Dockerfile, Instruction, Keyword};
use crate::image;

/// A cache buster found in the new Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "WarningJson")]
pub struct Warning {
    /// Line in the new Dockerfile.
    pub line: usize,
    /// Short identifier: `arg-ahead-of-run`, `link-chmod`, `mutable-builder-base`, `apt-lists-uncached`, ...
    pub code: &'static str,
    /// What and why.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// A warning as `quarry explain --format json` has always written it: one `message` holding the
/// hint on a line of its own. Only this output form joins the two.
#[derive(Serialize)]
struct WarningJson {
    line: usize,
    code: &'static str,
    message: String,
}

impl From<Warning> for WarningJson {
    fn from(w: Warning) -> Self {
        let message = format!("{}\nhint: {}", w.message, w.hint); // tidy: the JSON form
        Self { line: w.line, code: w.code, message }
    }
}

pub(super) fn warnings(df: &Dockerfile, a: &Analysis, store: Store) -> Vec<Warning> {
    const AUTOMATIC: &[&str] = &[
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
    ];
    let mut out = Vec::new();
    for stage in df.stages.iter().filter(|s| a.needed.contains(&s.index)) {
        // The next RUN after each instruction, found in one backward pass.
        let mut next_runs = vec![None; stage.instructions.len()];
        let mut next: Option<(&Instruction, usize)> = None;
        for (i, ins) in stage.instructions.iter().enumerate().rev() {
            next_runs[i] = next;
            if ins.keyword == Keyword::Run {
                next = Some((ins, i));
            }
        }
        // The names each RUN refers to, worked out once per RUN.
        let mut referenced: HashMap<usize, HashSet<String>> = HashMap::new();
        // The first linked copy of the stage: a RUN after it re-runs whenever any copy changes.
        let mut linked_copy: Option<usize> = None;
        for (i, ins) in stage.instructions.iter().enumerate() {
            if ins.keyword == Keyword::Copy && ins.flag("link").is_some() && linked_copy.is_none() {
                linked_copy = Some(ins.line);
            }
            if ins.keyword == Keyword::Run
                && let Some(copy) = linked_copy
            {
                out.push(Warning {
                    line: ins.line,
                    code: "run-after-linked-copy",
                    message: format!(
                        "this RUN follows the linked copy on line {copy}: it runs again whenever any copy or step before it changes, however cheap the copies are{}",
                        if store == Store::Containerd { "" } else { " (and on this engine the copies are plain COPY steps in the chain)" }
                    ),
                    hint: "move it before the copies if it needs no copied files; quarry extensions mark such a step `setup_after_copies` only when it truly needs artifacts".to_owned(),
                });
            }
            if let Body::Args(decls) = &ins.body {
                let next_run = next_runs[i]
                    .map(|(run, at)| (run, &*referenced.entry(at).or_insert_with(|| run_references(run))));
                for d in decls.iter().filter(|d| !AUTOMATIC.contains(&d.name.as_str())) {
                    if let Some((run, names)) = next_run
                        && !names.contains(&d.name)
                    {
                        out.push(Warning {
                            line: ins.line,
                            code: "arg-ahead-of-run",
                            message: format!(
                                "`ARG {}` enters the cache key of every later RUN in stage `{}`, starting with line {}, which does not use it: a different value re-runs them all",
                                d.name,
                                stage.display_name(),
                                run.line
                            ),
                            hint: "declare it right before the first step that needs it".to_owned(),
                        });
                    }
                }
            }
            if matches!(ins.keyword, Keyword::Copy | Keyword::Add)
                && ins.flag("link").is_some()
                && ins.flag("chmod").is_some()
            {
                out.push(Warning {
                    line: ins.line,
                    code: "link-chmod",
                    message: format!(
                        "`{} --link --chmod`: the key still holds the source files' own modes, which --chmod throws away, so a checkout or umask difference runs the copy again{}",
                        ins.keyword,
                        if store == Store::Containerd { "" } else { " (and --link is a plain COPY on this engine)" }
                    ),
                    hint: "set the modes in the source (or the stage that makes it) and drop --chmod".to_owned(),
                });
            }
            if ins.keyword == Keyword::Run && mentions_apt_update(ins) && !has_lists_cache(ins) {
                out.push(Warning {
                    line: ins.line,
                    code: "apt-lists-uncached",
                    message: "`apt-get update` without a cache mount on /var/lib/apt/lists: every run downloads the package lists again and stores them in the layer".to_owned(),
                    hint: "add `--mount=type=cache,target=/var/lib/apt/lists,sharing=locked` (and one for /var/cache/apt)".to_owned(),
                });
            }
        }
    }
    // Builder bases: the root images of needed stages other than the target.
    let target = a.stage_names.iter().position(|n| *n == a.target);
    let mut seen = BTreeSet::new();
    for (&i, state) in &a.states {
        if Some(i) == target || state.root_image.contains('@') || state.root_image == "scratch" {
            continue;
        }
        if !seen.insert(state.root_image.clone()) {
            continue;
        }
        let stage = &df.stages[i];
        out.push(Warning {
            line: stage.line,
            code: "mutable-builder-base",
            message: format!(
                "builder base `{}` is a tag, which can move: when it does, every builder stage on it runs again{}",
                image::short(&state.root_image),
                if state.root_image.ends_with(":latest") { " (`latest` moves most often)" } else { "" },
            ),
            hint: format!("pin it by digest (`{}@sha256:...`), and update the pin on purpose", image::short(&state.root_image)),
        });
    }
    out.sort_by(|x, y| (x.line, x.code).cmp(&(y.line, y.code)));
    out
}

/// The variables a RUN refers to, in its command, heredocs and flags.
pub(super) fn run_references(run: &Instruction) -> HashSet<String> {
    let mut names = HashSet::new();
    match &run.body {
        Body::Shell(cmd) => dockerfile::referenced(cmd, &mut names),
        Body::Exec(words) => words.iter().for_each(|w| dockerfile::referenced(w, &mut names)),
        _ => {}
    }
    for d in &run.heredocs {
        dockerfile::referenced(&d.body, &mut names);
    }
    for v in run.flags.iter().filter_map(|f| f.value.as_deref()) {
        dockerfile::referenced(v, &mut names);
    }
    names
}

pub(super) fn mentions_apt_update(run: &Instruction) -> bool {
    let text = match &run.body {
        Body::Shell(cmd) => cmd.clone(),
        Body::Exec(words) => words.join(" "),
        _ => String::new(),
    };
    let all = run.heredocs.iter().fold(text, |acc, d| acc + "\n" + &d.body);
    all.contains("apt-get update") || all.contains("apt update")
}

pub(super) fn has_lists_cache(run: &Instruction) -> bool {
    run.flags_named("mount").any(|m| {
        let fields: Vec<&str> = m.split(',').collect();
        fields.contains(&"type=cache")
            && fields.iter().any(|f| {
                matches!(f.split_once('='), Some(("target" | "dst" | "destination", p)) if p.trim_end_matches('/') == "/var/lib/apt/lists")
            })
    })
}
