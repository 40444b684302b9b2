//! The cache keys of RUN and COPY/ADD steps: what BuildKit hashes for each, and what it leaves
//! out (a named cache mount's id, a linked copy's parent layers on the containerd store).

use std::collections::BTreeMap;

use super::analysis::{Analysis, Node, Place, Progress, StageState, Step, Stepped, Walker, expand_capped};
use super::options::{ExplainError, Store};
use crate::dockerfile::{Body, Keyword};
use crate::hash::Hasher;
use crate::image;

impl Walker<'_> {
    /// For a copy from an image named in `--same-output`: the token of the old build's copy of
    /// the same paths from an image at the same place, whose bytes it is declared to copy.
    pub(super) fn same_image_output(
        &self,
        sources: &[(String, String)],
        bare: &Hasher,
        linked: bool,
        before: &str,
    ) -> Option<String> {
        let old = self.old?;
        let image = sources.last()?.0.strip_prefix("image:")?;
        let declared = self.options.same_output.iter().any(|s| image::normalize(s) == image);
        if !declared {
            return None;
        }
        let bare = bare.clone().finish();
        let indices = if linked { old.linked_by_bare.get(&bare) } else { old.by_before.get(before) };
        indices
            .into_iter()
            .flatten()
            .map(|&i| &old.nodes[i])
            .find(|o| o.bare == bare && o.sources.last().is_some_and(|(w, _)| w.starts_with("image:")))
            .map(|o| o.sources.last().map(|(_, t)| t.clone()).unwrap_or_default())
    }

    /// The content token of a finished stage: its chain key when the old build had it; else a
    /// fresh token (it ran again and is assumed to write different bytes) unless declared
    /// reproducible.
    pub(super) fn token_for(&self, index: usize, chain: &str) -> String {
        let Some(old) = self.old else { return chain.to_owned() };
        if old.keys.contains(chain) {
            return chain.to_owned();
        }
        let name = self.df.stages[index].display_name();
        if self.options.same_output.contains(&name)
            && let Some(i) = old.stage_index.get(&name)
            && let Some(s) = old.states.get(i)
        {
            return s.token.clone();
        }
        format!("rerun:{chain}")
    }

    pub(super) fn push(&self, a: &mut Analysis, state: &mut StageState, at: Place, step: Step) {
        let Place { ins, stage, owner } = at;
        let Step { key, chain, shape, bare, env, sources } = step;
        let linked = chain != key;
        a.keys.insert(key.clone());
        a.keys.insert(chain.clone());
        a.nodes.push(Node {
            before: state.chain.clone(),
            key,
            chain: chain.clone(),
            keyword: ins.keyword,
            counted: matches!(ins.keyword, Keyword::Run | Keyword::Copy | Keyword::Add),
            linked,
            stage,
            position: state.positions,
            line: ins.line,
            text: ins.first_line.clone(),
            full: ins.text.clone(),
            bare: bare.unwrap_or_else(|| shape.clone()),
            shape,
            env: env.unwrap_or(0),
            vars_at: env.map(|_| (state.log, a.logs[state.log].ops.len())),
            context: format!("workdir={} user={} shell={:?}", state.workdir, state.user, state.shell),
            sources,
            owner,
        });
        state.chain = chain;
    }

    pub(super) fn run(&mut self, a: &mut Analysis, state: &mut StageState, at: Place) -> Stepped {
        let ins = at.ins;
        // Only the final argv is in BuildKit's key: a shell-form RUN is the SHELL plus its text,
        // the same step as the exec form with that argv.
        let argv: Vec<&str> = match &ins.body {
            Body::Shell(cmd) => state.shell.iter().map(String::as_str).chain([cmd.as_str()]).collect(),
            Body::Exec(words) => words.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let mut shape = Hasher::new("RUN");
        shape.field(&argv.len().to_string());
        for word in argv {
            shape.field(word);
        }
        for doc in &ins.heredocs {
            shape.field(&doc.name).field(&doc.body);
        }
        let mut sources = Vec::new();
        let mut mounts = Vec::new();
        let mut written = Vec::new();
        for raw in ins.flags_named("mount") {
            written.push(self.mount_fields(raw));
            let expanded = self.expand(raw, &state.vars, ins.line, "--mount")?;
            let mut fields = self.mount_fields(&expanded);
            if let Some(from) = fields.get("from").cloned() {
                let token = match self.source_token(a, &from, ins.line, &mut sources)? {
                    Ok(token) => token,
                    Err(needs) => return Ok(Some(needs)),
                };
                fields.insert("from".to_owned(), token);
            } else if fields.get("type").map(String::as_str) == Some("bind") {
                // A bind mount of the build context: the mounted files' content is in the key,
                // as a COPY's is, and nothing else of the context.
                let source = fields.get("source").cloned().unwrap_or_default();
                let changed = self.old.is_some()
                    && self.options.changed_context.iter().any(|c| paths_overlap(&source, c));
                let token = if changed { format!("changed:{source}") } else { "context".to_owned() };
                sources.push(("context".to_owned(), token.clone()));
                fields.insert("context".to_owned(), token);
            }
            mounts.push(fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
        }
        // The shape holds the mounts as written, so that a value coming from an ARG shows up as
        // an ARG change; the key holds them expanded, as BuildKit sees them.
        written.sort();
        for m in &written {
            shape.field(&m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
        }
        mounts.sort();
        for flag in ["network", "security"] {
            shape.field(ins.flag(flag).unwrap_or(""));
        }
        let env = state.vars.hash();
        let shape_key = shape.clone().finish();
        let mut h = shape;
        for m in &mounts {
            h.field(m);
        }
        h.field(&format!("{env:016x}"));
        h.field(&state.workdir).field(&state.user).field(&state.chain);
        let key = h.finish();
        let step =
            Step { key: key.clone(), chain: key, shape: shape_key, bare: None, env: Some(env), sources };
        self.push(a, state, at, step);
        Ok(None)
    }

    /// A `--mount` value as a canonical map, with what the engine leaves out of the key removed.
    pub(super) fn mount_fields(&self, text: &str) -> BTreeMap<String, String> {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, "true"));
            let k = match k {
                "dst" | "destination" => "target",
                "src" => "source",
                "ro" | "readonly" => "readonly",
                other => other,
            };
            fields.insert(k.to_owned(), v.to_owned());
        }
        let kind = fields.get("type").cloned().unwrap_or_else(|| "bind".to_owned());
        fields.insert("type".to_owned(), kind.clone());
        if kind == "cache" && fields.contains_key("id") && self.options.store != Store::Legacy {
            // BuildKit 0.13+ leaves a named cache mount's id and sharing out of the key.
            fields.remove("id");
            fields.remove("sharing");
        }
        fields
    }

    /// The token of `COPY --from=<reference>` or a mount's `from=`: a stage's content, or an
    /// image; or the stage that must be analysed first.
    pub(super) fn source_token(
        &mut self,
        a: &mut Analysis,
        reference: &str,
        line: usize,
        sources: &mut Vec<(String, String)>,
    ) -> Result<Result<String, Progress>, ExplainError> {
        let lookup = |n: &str| self.globals.get(n).cloned();
        let expanded = expand_capped(reference, &lookup, &mut self.budget)
            .map_err(|e| self.invalid(line, e.message("--from"), e.hint()))?;
        match self.stage_ref(&expanded) {
            Some(i) => {
                let Some(state) = a.states.get(&i) else {
                    return Ok(Err(Progress::Needs(line, expanded, i)));
                };
                let token = state.token.clone();
                if token.starts_with("rerun:") {
                    a.copies_from_rerun_stage = true;
                }
                sources.push((format!("stage:{}", a.stage_names[i]), token.clone()));
                Ok(Ok(token))
            }
            None => {
                let image = image::normalize(&expanded);
                a.images.insert(image.clone());
                let token = format!("image:{}", self.content(&image));
                sources.push((format!("image:{image}"), token.clone()));
                Ok(Ok(token))
            }
        }
    }

    pub(super) fn copy(&mut self, a: &mut Analysis, state: &mut StageState, at: Place) -> Stepped {
        let ins = at.ins;
        let Body::Copy { sources: srcs, dest } = &ins.body else { return Ok(None) };
        let link = ins.flag("link").is_some_and(|v| v.is_empty() || v == "true");
        if link && self.options.store == Store::Legacy {
            return Err(self.invalid(
                ins.line,
                format!("`{} --link` does not parse on Docker 20.10", ins.keyword),
                "render for the legacy engine (plain COPY), or explain with --engine containerd",
            ));
        }
        let linked = link && self.options.store == Store::Containerd;
        let mut expanded = Vec::new();
        for s in srcs {
            expanded.push(self.expand(s, &state.vars, ins.line, ins.keyword.as_str())?);
        }
        let srcs = expanded;
        let dest = self.expand(dest, &state.vars, ins.line, ins.keyword.as_str())?;
        let dest = join_path(&state.workdir, &dest);
        let mut shape = Hasher::new(ins.keyword.as_str());
        for s in &srcs {
            shape.field(s);
        }
        shape.field(&dest);
        for f in &ins.flags {
            if !matches!(f.name.as_str(), "link" | "from") {
                let value = self.expand(f.value.as_deref().unwrap_or(""), &state.vars, ins.line, &f.name)?;
                shape.field(&f.name).field(&value);
            }
        }
        for doc in &ins.heredocs {
            shape.field(&doc.name).field(&doc.body);
        }
        let mut sources = Vec::new();
        // The key holds what is copied, not the name it is copied from: two identical stages
        // (or two tags of one image) give the same key. The shape, which says whether the
        // text changed, holds the name.
        let bare = shape.clone();
        let token = match ins.flag("from") {
            Some(from) => {
                shape.field(&format!("from:{}", from.to_lowercase()));
                match self.source_token(a, from, ins.line, &mut sources)? {
                    Ok(token) => {
                        self.same_image_output(&sources, &bare, linked, &state.chain).unwrap_or(token)
                    }
                    Err(needs) => return Ok(Some(needs)),
                }
            }
            None => {
                let context: Vec<&String> =
                    srcs.iter().filter(|s| !s.starts_with("<<") && !is_url(s)).collect();
                if !context.is_empty() {
                    a.copies_from_context = true;
                }
                let changed: Vec<String> = context
                    .iter()
                    .filter(|s| {
                        self.old.is_some() && self.options.changed_context.iter().any(|c| paths_overlap(s, c))
                    })
                    .map(|s| (*s).clone())
                    .collect();
                let token = if changed.is_empty() {
                    "context".to_owned()
                } else {
                    format!("changed:{}", changed.join(","))
                };
                sources.push(("context".to_owned(), token.clone()));
                token
            }
        };
        let shape_key = shape.finish();
        let bare_key = bare.clone().finish();
        let mut h = bare;
        h.field(&token);
        let step = if linked {
            let key = h.finish();
            let mut m = Hasher::new("MERGE");
            m.field(&state.chain).field(&key);
            Step { key, chain: m.finish(), shape: shape_key, bare: Some(bare_key), env: None, sources }
        } else {
            h.field(&state.chain);
            let key = h.finish();
            Step { key: key.clone(), chain: key, shape: shape_key, bare: Some(bare_key), env: None, sources }
        };
        self.push(a, state, at, step);
        Ok(None)
    }
}

pub(super) fn join_path(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else if workdir.ends_with('/') {
        format!("{workdir}{path}")
    } else {
        format!("{workdir}/{path}")
    }
}

pub(super) fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}

/// Whether two context paths overlap (one is the other or inside it).
pub(super) fn paths_overlap(a: &str, b: &str) -> bool {
    let clean = |p: &str| p.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_owned();
    let (a, b) = (clean(a), clean(b));
    a.is_empty()
        || b.is_empty()
        || a == b
        || a.starts_with(&format!("{b}/"))
        || b.starts_with(&format!("{a}/"))
}
