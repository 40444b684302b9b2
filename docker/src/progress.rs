//! Reads BuildKit's progress: which steps ran, which came from the cache, and how long they took.
//! The `--progress=rawjson` stream is read vertex by vertex; plain progress (what `quarry build`
//! shows) step by step ([`ran_steps`] reads either).
//!
//! Plain progress hides the vertices of `COPY --link` on the containerd image store (the copy and
//! its `LINK` merge print as one `DONE` group), so measurements read the raw vertex stream.

use serde::Deserialize;

/// One vertex of the solve graph, merged over all the updates the stream carried for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vertex {
    /// Content digest: the vertex's cache identity.
    pub digest: String,
    /// Display name, such as `[quarry_final 3/7] RUN ...` or `[internal] load .dockerignore`.
    pub name: String,
    /// Digests of the vertices it depends on.
    pub inputs: Vec<String>,
    /// Whether BuildKit took it from the cache.
    pub cached: bool,
    /// Start and completion times (RFC 3339), when reported.
    pub started: Option<String>,
    /// See `started`.
    pub completed: Option<String>,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// A Dockerfile step as BuildKit printed it: `[<stage> <index>/<total>] <instruction>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepVertex {
    /// Stage name (`stage-N` for an unnamed stage; empty for an unnamed target stage).
    pub stage: String,
    /// 1-based position among the stage's LLB-producing instructions (FROM is 1).
    pub index: u32,
    /// Number of such instructions in the stage.
    pub total: u32,
    /// The instruction as displayed (build args expanded), e.g. `RUN make`.
    pub instruction: String,
    /// True for the merge vertex a `COPY --link` adds on the containerd store (`LINK COPY ...`).
    pub link_merge: bool,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Digest of the vertex.
    pub digest: String,
}

impl StepVertex {
    /// `RUN`, `COPY`, `ADD`, `FROM`, `WORKDIR`, ...: the instruction keyword.
    pub fn keyword(&self) -> &str {
        self.instruction.split_whitespace().next().unwrap_or_default()
    }

    /// Whether it is a RUN, COPY or ADD step (the steps `explain` and the benchmark count).
    pub fn is_counted(&self) -> bool {
        !self.link_merge && matches!(self.keyword(), "RUN" | "COPY" | "ADD")
    }
}

#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    vertexes: Vec<RawVertex>,
}

#[derive(Deserialize)]
struct RawVertex {
    digest: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    inputs: Option<Vec<String>>,
    #[serde(default)]
    cached: Option<bool>,
    #[serde(default)]
    started: Option<String>,
    #[serde(default)]
    completed: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Parses a rawjson stream (a sequence of JSON objects, possibly pretty-printed, possibly mixed
/// with non-JSON lines such as warnings). Vertices come back in the order first seen.
pub fn parse_rawjson(stream: &str) -> Vec<Vertex> {
    let mut vertices: Vec<Vertex> = Vec::new();
    let mut rest = stream;
    while let Some(start) = rest.find('{') {
        rest = &rest[start..];
        let mut objects = serde_json::Deserializer::from_str(rest).into_iter::<Update>();
        match objects.next() {
            Some(Ok(update)) => {
                let used = objects.byte_offset();
                for raw in update.vertexes {
                    merge(&mut vertices, raw);
                }
                rest = &rest[used..];
            }
            // Not an update object: skip this brace and look for the next one.
            _ => rest = &rest[1..],
        }
    }
    vertices
}

fn merge(vertices: &mut Vec<Vertex>, raw: RawVertex) {
    let v = match vertices.iter_mut().position(|v| v.digest == raw.digest) {
        Some(i) => &mut vertices[i],
        None => {
            vertices.push(Vertex { digest: raw.digest.clone(), ..Vertex::default() });
            vertices.last_mut().expect("just pushed")
        }
    };
    if let Some(name) = raw.name {
        v.name = name;
    }
    if let Some(inputs) = raw.inputs {
        v.inputs = inputs;
    }
    v.cached |= raw.cached.unwrap_or(false);
    v.started = raw.started.or(v.started.take());
    v.completed = raw.completed.or(v.completed.take());
    v.error = raw.error.or(v.error.take());
}

/// The vertices of a build run in several attempts (each attempt's [`parse_rawjson`], in order):
/// the last attempt's, a vertex counted as cached only if no earlier attempt executed it. A build
/// run once more after BuildKit's snapshot flake finds the steps its first attempt ran CACHED,
/// but they ran.
pub fn merge_attempts(attempts: &[Vec<Vertex>]) -> Vec<Vertex> {
    let Some((last, earlier)) = attempts.split_last() else { return Vec::new() };
    let executed: std::collections::BTreeSet<&str> = earlier
        .iter()
        .flatten()
        .filter(|v| !v.cached && v.started.is_some())
        .map(|v| v.digest.as_str())
        .collect();
    last.iter()
        .cloned()
        .map(|mut v| {
            v.cached &= !executed.contains(v.digest.as_str());
            v
        })
        .collect()
}

/// The Dockerfile steps among `vertices` (internal and export vertices left out).
pub fn steps(vertices: &[Vertex]) -> Vec<StepVertex> {
    vertices.iter().filter_map(step).collect()
}

fn step(v: &Vertex) -> Option<StepVertex> {
    let body = v.name.strip_prefix('[')?;
    let (label, instruction) = body.split_once("] ")?;
    // BuildKit pads the position to the width of the total (`[quarry_final  3/20]`) and prints
    // no stage for the unnamed stage of a one-stage file (`[2/3] RUN ...`).
    let label = label.trim();
    let (stage, position) = label.rsplit_once(' ').unwrap_or(("", label));
    let stage = stage.trim_end();
    let (index, total) = position.split_once('/')?;
    let (index, total) = (index.parse().ok()?, total.parse().ok()?);
    let (link_merge, instruction) = match instruction.strip_prefix("LINK ") {
        Some(copy) => (true, copy),
        None => (false, instruction),
    };
    Some(StepVertex {
        stage: stage.to_owned(),
        index,
        total,
        instruction: instruction.to_owned(),
        link_merge,
        cached: v.cached,
        digest: v.digest.clone(),
    })
}

/// One step of a build as BuildKit's plain progress shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `[stage i/n] INSTRUCTION ...` as printed.
    pub name: String,
    /// Whether BuildKit took it from the cache in every attempt that showed it.
    pub cached: bool,
}

/// The RUN, COPY and ADD steps of a `--progress=plain` build output, in vertex order.
///
/// The output may hold several attempts of one build (a build run once more after BuildKit's
/// snapshot flake prints its progress twice, numbered from 1 again). The steps are the last
/// attempt's, and a step counts as cached only if no earlier attempt executed it: a step that ran
/// before the flake and is CACHED in the retry still ran.
pub fn progress_steps(progress: &str) -> Vec<Step> {
    let attempts = split_attempts(progress);
    let Some((last, earlier)) = attempts.split_last() else { return Vec::new() };
    let executed: std::collections::BTreeSet<String> = earlier
        .iter()
        .flat_map(|attempt| attempt_steps(attempt))
        .filter(|s| !s.cached)
        .map(|s| s.name)
        .collect();
    attempt_steps(last)
        .into_iter()
        .map(|mut s| {
            s.cached &= !executed.contains(&s.name);
            s
        })
        .collect()
}

/// Plain progress cut where a new `docker build` began: at the line that loads the Dockerfile
/// (`[internal] load build definition`), or buildx's `#0 building with` banner before it.
fn split_attempts(progress: &str) -> Vec<Vec<&str>> {
    let mut attempts: Vec<Vec<&str>> = vec![Vec::new()];
    let mut seen_step = false;
    for line in progress.lines() {
        let begins = line.starts_with("#0 building with")
            || line
                .split_once(' ')
                .is_some_and(|(_, body)| body.starts_with("[internal] load build definition"));
        if begins && seen_step {
            attempts.push(Vec::new());
            seen_step = false;
        }
        // Both markers open an attempt; only a numbered step after them can close it.
        seen_step |= !begins && line.starts_with('#') && !line.starts_with("#0 ");
        attempts.last_mut().expect("one attempt").push(line);
    }
    attempts
}

fn attempt_steps(lines: &[&str]) -> Vec<Step> {
    let mut steps: Vec<(u32, Step)> = Vec::new();
    let mut cached: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    for line in lines {
        let Some(rest) = line.strip_prefix('#') else { continue };
        let Some((num, body)) = rest.split_once(' ') else { continue };
        let Ok(num) = num.parse::<u32>() else { continue };
        if body.trim() == "CACHED" {
            cached.insert(num);
        } else if body.starts_with('[') && !steps.iter().any(|(n, _)| *n == num) {
            let instruction = body.split_once("] ").map(|(_, i)| i).unwrap_or_default();
            if ["RUN ", "COPY ", "ADD "].iter().any(|p| instruction.starts_with(p)) {
                steps.push((num, Step { name: body.to_owned(), cached: false }));
            }
        }
    }
    steps
        .into_iter()
        .map(|(num, mut step)| {
            step.cached = cached.contains(&num);
            step
        })
        .collect()
}

/// A counted Dockerfile step (RUN, COPY, ADD) of a build, as the engine counts it: cached only if
/// no attempt executed it and, for a linked copy, its merge was cached too.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    /// Stage name as BuildKit prints it.
    pub stage: String,
    /// 1-based position in the stage (FROM is 1).
    pub index: u32,
    /// The instruction as displayed.
    pub instruction: String,
    /// Taken from the cache.
    pub cached: bool,
    /// Seconds it took to run, when the progress says (`DONE 1.2s`, or rawjson's times).
    pub seconds: Option<f64>,
}

/// The counted steps of a build's progress, plain or rawjson (the lines of every attempt, in
/// order), in the order the engine showed them.
pub fn ran_steps(progress: &str) -> Vec<Ran> {
    if progress.lines().any(|l| l.trim_start().starts_with("{\"vertexes\"")) {
        return rawjson_steps(progress);
    }
    let attempts = split_attempts(progress);
    let Some((last, earlier)) = attempts.split_last() else { return Vec::new() };
    let executed: std::collections::BTreeSet<String> = earlier
        .iter()
        .flat_map(|attempt| plain_vertices(attempt))
        .filter(|(_, v)| !v.cached && v.completed.is_some())
        .map(|(_, v)| v.name)
        .collect();
    plain_vertices(last)
        .into_iter()
        .filter_map(|(seconds, v)| {
            let s = step(&v)?;
            s.is_counted().then(|| Ran {
                cached: s.cached && !executed.contains(&v.name),
                stage: s.stage,
                index: s.index,
                instruction: s.instruction,
                seconds,
            })
        })
        .collect()
}

/// The vertices of one attempt's plain progress, with the seconds of each that ran.
fn plain_vertices(lines: &[&str]) -> Vec<(Option<f64>, Vertex)> {
    let mut out: Vec<(u32, Option<f64>, Vertex)> = Vec::new();
    for line in lines {
        let Some(rest) = line.strip_prefix('#') else { continue };
        let Some((num, body)) = rest.split_once(' ') else { continue };
        let Ok(num) = num.parse::<u32>() else { continue };
        let body = body.trim_end();
        let at = match out.iter().position(|(n, _, _)| *n == num) {
            Some(at) => at,
            None if body.starts_with('[') => {
                out.push((
                    num,
                    None,
                    Vertex { digest: format!("#{num}"), name: body.to_owned(), ..Vertex::default() },
                ));
                continue;
            }
            None => continue,
        };
        let (_, seconds, v) = &mut out[at];
        if body == "CACHED" {
            v.cached = true;
        } else if let Some(time) = body.strip_prefix("DONE ") {
            *seconds = time.strip_suffix('s').and_then(|t| t.parse().ok());
            v.completed = Some(time.to_owned());
        } else if let Some(error) = body.strip_prefix("ERROR") {
            v.error = Some(error.trim_start_matches(':').trim().to_owned());
            v.completed = Some(String::new());
        }
    }
    out.into_iter().map(|(_, seconds, v)| (seconds, v)).collect()
}

/// [`ran_steps`] of a rawjson stream: a linked copy is reused only when its merge is too.
fn rawjson_steps(stream: &str) -> Vec<Ran> {
    let vertices = parse_rawjson(stream);
    let all = steps(&vertices);
    let seconds: std::collections::HashMap<&str, f64> = vertices
        .iter()
        .filter_map(|v| {
            let (a, b) = (v.started.as_deref()?, v.completed.as_deref()?);
            Some((v.digest.as_str(), (timestamp(b)? - timestamp(a)?).max(0.0)))
        })
        .collect();
    all.iter()
        .filter(|s| s.is_counted())
        .map(|s| {
            let merge = all.iter().find(|m| m.link_merge && m.stage == s.stage && m.index == s.index);
            Ran {
                stage: s.stage.clone(),
                index: s.index,
                instruction: s.instruction.clone(),
                cached: s.cached && merge.is_none_or(|m| m.cached),
                seconds: (!s.cached).then(|| seconds.get(s.digest.as_str()).copied()).flatten(),
            }
        })
        .collect()
}

/// Seconds since the epoch of an RFC 3339 time (`2026-01-01T00:00:01.5Z`, or with an offset).
/// Seconds during which at least one Dockerfile step (RUN, COPY, ADD, and a linked copy's merge)
/// executed rather than came from the cache, by the engine's own times in a rawjson `stream`:
/// the intervals of steps that ran side by side count once. A rebuild cannot take less than
/// this, whatever the tool around the engine does; the rest of its wall time is overhead.
pub fn executed_seconds(stream: &str) -> f64 {
    let mut spans: Vec<(f64, f64)> = parse_rawjson(stream)
        .iter()
        .filter(|v| !v.cached && step(v).is_some_and(|s| matches!(s.keyword(), "RUN" | "COPY" | "ADD")))
        .filter_map(|v| {
            let (a, b) = (timestamp(v.started.as_deref()?)?, timestamp(v.completed.as_deref()?)?);
            Some((a, b.max(a)))
        })
        .collect();
    spans.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (a, b) in spans {
        match current {
            Some((start, end)) if a <= end => current = Some((start, end.max(b))),
            _ => {
                total += current.map_or(0.0, |(start, end)| end - start);
                current = Some((a, b));
            }
        }
    }
    total + current.map_or(0.0, |(start, end)| end - start)
}

fn timestamp(text: &str) -> Option<f64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let mut c = clock.split(':');
    let (h, min, sec) =
        (c.next()?.parse::<f64>().ok()?, c.next()?.parse::<f64>().ok()?, c.next()?.parse::<f64>().ok()?);
    let shift = match offset.as_bytes().first() {
        Some(b'+' | b'-') => {
            let (oh, om) = offset[1..].split_once(':')?;
            let minutes = oh.parse::<f64>().ok()? * 60.0 + om.parse::<f64>().ok()?;
            if offset.starts_with('+') { -minutes * 60.0 } else { minutes * 60.0 }
        }
        _ => 0.0,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + sec + shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = r#"{
  "vertexes": [
    { "digest": "sha256:aa", "name": "[t 3/5] COPY --link --from=s /a /a", "inputs": ["sha256:bb"] }
  ]
}
WARNING: something the CLI printed
{"vertexes":[{"digest":"sha256:aa","name":"[t 3/5] COPY --link --from=s /a /a","started":"x","cached":true,"completed":"y"}]}
{"statuses":[{"id":"transferring","vertex":"sha256:aa"}]}
{"vertexes":[{"digest":"sha256:cc","name":"[t 3/5] LINK COPY --link --from=s /a /a","inputs":["sha256:dd","sha256:aa"]},
 {"digest":"sha256:ee","name":"[internal] load .dockerignore"},
 {"digest":"sha256:ff","name":"[s 2/3] RUN echo 1 > /a","error":"exit code: 1"}]}
"#;

    #[test]
    fn a_vertex_executed_before_a_retry_is_not_cached() {
        let ran = r#"{"vertexes":[{"digest":"sha256:a","name":"[s 2/2] RUN a","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:01Z"},{"digest":"sha256:b","name":"[s 1/2] FROM x","cached":true,"started":"2026-01-01T00:00:00Z"}]}"#;
        let cached = r#"{"vertexes":[{"digest":"sha256:a","name":"[s 2/2] RUN a","cached":true,"started":"2026-01-01T00:00:02Z"},{"digest":"sha256:b","name":"[s 1/2] FROM x","cached":true,"started":"2026-01-01T00:00:02Z"}]}"#;
        let merged = merge_attempts(&[parse_rawjson(ran), parse_rawjson(cached)]);
        let summary: Vec<(&str, bool)> = merged.iter().map(|v| (v.digest.as_str(), v.cached)).collect();
        assert_eq!(summary, [("sha256:a", false), ("sha256:b", true)]);
        assert!(merge_attempts(&[parse_rawjson(cached)]).iter().all(|v| v.cached));
    }

    #[test]
    fn steps_are_read_from_plain_progress() {
        let out = "#4 [quarry_final 1/3] FROM docker.io/library/debian:bookworm\n#5 [quarry_final 2/3] RUN a\n#5 CACHED\n\n#6 [x_builder 2/2] RUN b\n#6 0.2 hello\n#6 DONE 0.3s\n#7 [quarry_final 3/3] COPY --link --from=x_builder /a /a\n#7 CACHED\n#8 exporting to image";
        let steps = progress_steps(out);
        let summary: Vec<(&str, bool)> = steps.iter().map(|s| (s.name.as_str(), s.cached)).collect();
        assert_eq!(
            summary,
            [
                ("[quarry_final 2/3] RUN a", true),
                ("[x_builder 2/2] RUN b", false),
                ("[quarry_final 3/3] COPY --link --from=x_builder /a /a", true)
            ]
        );
    }

    #[test]
    fn a_step_executed_before_a_retry_is_not_cached() {
        let first = "#0 building with \"default\" instance using docker driver\n\n#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n#5 [quarry_final 2/3] RUN a\n#5 CACHED\n#6 [quarry_final 3/3] RUN b\n#6 DONE 1.0s\n#7 exporting to image\n#7 ERROR: failed to extract layer: snapshot does not exist";
        let second = "#0 building with \"default\" instance using docker driver\n\n#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n#5 [quarry_final 2/3] RUN a\n#5 CACHED\n#6 [quarry_final 3/3] RUN b\n#6 CACHED\n#7 exporting to image\n#7 DONE 0.1s";
        let both =
            format!("{first}\nwarning: the build hit the snapshot flake: building once more\n{second}");
        let summary = |out: &str| -> Vec<(String, bool)> {
            progress_steps(out).into_iter().map(|s| (s.name, s.cached)).collect()
        };
        let expected = |b: bool| {
            vec![("[quarry_final 2/3] RUN a".to_owned(), true), ("[quarry_final 3/3] RUN b".to_owned(), b)]
        };
        assert_eq!(summary(second), expected(true));
        assert_eq!(summary(&both), expected(false), "b ran in the first attempt");
        // Engines without buildx print no banner; the Dockerfile's load still opens an attempt.
        let legacy = both.replace("#0 building with \"default\" instance using docker driver\n", "");
        assert_eq!(summary(&legacy), expected(false));
    }

    #[test]
    fn updates_merge_per_vertex_in_first_seen_order() {
        let vertices = parse_rawjson(STREAM);
        let digests: Vec<&str> = vertices.iter().map(|v| v.digest.as_str()).collect();
        assert_eq!(digests, ["sha256:aa", "sha256:cc", "sha256:ee", "sha256:ff"]);
        assert!(vertices[0].cached);
        assert_eq!(vertices[0].inputs, ["sha256:bb"]);
        assert_eq!(vertices[0].completed.as_deref(), Some("y"));
        assert_eq!(vertices[3].error.as_deref(), Some("exit code: 1"));
    }

    #[test]
    fn padded_positions_leave_the_stage_name_alone() {
        let stream = r#"{"vertexes":[{"digest":"sha256:1","name":"[quarry_final  3/20] RUN a","cached":true},
            {"digest":"sha256:2","name":"[quarry_final 12/20] RUN b"}]}"#;
        let steps = steps(&parse_rawjson(stream));
        let summary: Vec<(&str, u32, u32, &str)> =
            steps.iter().map(|s| (s.stage.as_str(), s.index, s.total, s.instruction.as_str())).collect();
        assert_eq!(summary, [("quarry_final", 3, 20, "RUN a"), ("quarry_final", 12, 20, "RUN b")]);
    }

    #[test]
    fn steps_split_stage_position_and_link_merges() {
        let steps = steps(&parse_rawjson(STREAM));
        let summary: Vec<(&str, u32, bool, bool, bool)> = steps
            .iter()
            .map(|s| (s.stage.as_str(), s.index, s.link_merge, s.cached, s.is_counted()))
            .collect();
        assert_eq!(
            summary,
            [("t", 3, false, true, true), ("t", 3, true, false, false), ("s", 2, false, false, true)]
        );
        assert_eq!(steps[2].keyword(), "RUN");
    }

    #[test]
    fn ran_steps_read_plain_progress_with_times_and_retries() {
        let first = "#0 building with \"default\" instance using docker driver\n#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n#5 [quarry_final 2/4] RUN a\n#5 CACHED\n#6 [quarry_final 3/4] RUN b\n#6 0.1 output\n#6 DONE 1.5s\n#7 exporting to image\n#7 ERROR: failed to extract layer: snapshot does not exist";
        let second = "#0 building with \"default\" instance using docker driver\n#1 [internal] load build definition from Dockerfile\n#1 DONE 0.0s\n#5 [quarry_final 2/4] RUN a\n#5 CACHED\n#6 [quarry_final 3/4] RUN b\n#6 CACHED\n#8 [quarry_final 4/4] COPY --link --from=x /a /a\n#8 DONE 0.2s\n#7 exporting to image\n#7 DONE 0.1s";
        let summary = |text: &str| -> Vec<(String, u32, bool, Option<f64>)> {
            ran_steps(text).into_iter().map(|r| (r.stage, r.index, r.cached, r.seconds)).collect()
        };
        assert_eq!(
            summary(second),
            [
                ("quarry_final".to_owned(), 2, true, None),
                ("quarry_final".to_owned(), 3, true, None),
                ("quarry_final".to_owned(), 4, false, Some(0.2))
            ]
        );
        let both = format!("{first}\n{second}");
        assert!(!summary(&both)[1].2, "b ran in the first attempt");
    }

    #[test]
    fn executed_seconds_count_overlapping_steps_once() {
        let stream = r#"{"vertexes":[
{"digest":"sha256:a","name":"[a 2/2] RUN x","started":"2026-01-01T00:00:01Z","completed":"2026-01-01T00:00:04Z"},
{"digest":"sha256:b","name":"[b 2/2] RUN y","started":"2026-01-01T00:00:02Z","completed":"2026-01-01T00:00:05.5Z"},
{"digest":"sha256:c","name":"[t 2/3] RUN z","cached":true,"started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:09Z"},
{"digest":"sha256:d","name":"[t 3/3] LINK COPY --link --from=a /a /a","started":"2026-01-01T00:00:07Z","completed":"2026-01-01T00:00:07.5Z"},
{"digest":"sha256:e","name":"[internal] load build context","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:09Z"}]}"#;
        assert!((executed_seconds(stream) - 5.0).abs() < 1e-9, "{}", executed_seconds(stream));
        assert_eq!(executed_seconds(""), 0.0);
    }

    #[test]
    fn ran_steps_read_rawjson_with_link_merges_and_times() {
        let stream = r#"{"vertexes":[{"digest":"sha256:a","name":"[t 2/3] RUN x","started":"2026-01-01T00:00:00Z","completed":"2026-01-01T00:00:02.5Z"},
{"digest":"sha256:c","name":"[t 3/3] COPY --link --from=s /a /a","cached":true},
{"digest":"sha256:d","name":"[t 3/3] LINK COPY --link --from=s /a /a","started":"2026-01-01T00:00:03Z","completed":"2026-01-01T00:00:03.1Z"}]}"#;
        let ran = ran_steps(stream);
        let summary: Vec<(u32, bool)> = ran.iter().map(|r| (r.index, r.cached)).collect();
        assert_eq!(summary, [(2, false), (3, false)], "the copy's merge ran");
        assert_eq!(ran[0].seconds, Some(2.5));
        assert_eq!(timestamp("2026-01-01T01:00:00+01:00"), timestamp("2026-01-01T00:00:00Z"));
        assert_eq!(timestamp("1970-01-02T00:00:00Z"), Some(86_400.0));
    }
}
