//! Which cache id a build uses, so that parallel CI jobs never wait on each other's locked cache
//! mounts.
//!
//! Precedence, first found wins:
//! 1. `--cache-id ID`
//! 2. `ROCKER_CACHE_ID`, then `QUARRY_CACHE_ID`
//! 3. `cache_id` in quarry.toml (or the user's config file)
//! 4. GitHub Actions (`GITHUB_ACTIONS=true`): `gha-<job>-<runner>`, from `GITHUB_JOB` and
//!    `RUNNER_NAME`. Jobs running at the same time on one host run on different runners, so their
//!    ids differ; the same job on the same runner gets the same id on every run, so it reuses its
//!    cache.
//! 5. `default`
//!
//! An id is 1 to 64 characters of `[A-Za-z0-9_.-]`: anything else could corrupt a mount spec.

use std::fmt;

use quarry_buildkit::hash::fnv1a;

/// Longest accepted id.
pub const MAX_LEN: usize = 64;

/// Where the id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--cache-id`.
    Flag,
    /// An environment variable (named).
    Env(&'static str),
    /// A configuration file.
    Config,
    /// Derived from GitHub Actions' environment.
    GithubActions,
    /// Nothing set.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("--cache-id"),
            Source::Env(name) => write!(f, "${name}"),
            Source::Config => f.write_str("quarry.toml"),
            Source::GithubActions => f.write_str("GitHub Actions job and runner"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A validated cache id and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheId {
    /// The id.
    pub value: String,
    /// Its origin.
    pub source: Source,
}

/// An id that would corrupt a mount spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cache id {value:?} (from {origin})")]
pub struct InvalidCacheId {
    /// The rejected value.
    pub value: String,
    /// Where it came from.
    pub origin: Source,
}

impl quarry_core::Hint for InvalidCacheId {
    fn hint(&self) -> Option<String> {
        Some(format!("use 1 to {MAX_LEN} letters, digits, `_`, `.` or `-`, e.g. `py310`"))
    }
}

/// Whether `id` may be used as a cache id.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Resolves the cache id from the flag, the environment (`env` reads a variable) and the
/// configuration files' `cache_id`.
pub fn resolve(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    config: Option<&str>,
) -> Result<CacheId, InvalidCacheId> {
    let checked = |value: String, source: Source| {
        if is_valid(&value) {
            Ok(CacheId { value, source })
        } else {
            Err(InvalidCacheId { value, origin: source })
        }
    };
    if let Some(flag) = flag {
        return checked(flag.to_owned(), Source::Flag);
    }
    for name in ["ROCKER_CACHE_ID", "QUARRY_CACHE_ID"] {
        if let Some(value) = env(name).filter(|v| !v.is_empty()) {
            return checked(value, Source::Env(name));
        }
    }
    if let Some(value) = config {
        return checked(value.to_owned(), Source::Config);
    }
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        let job = env("GITHUB_JOB").unwrap_or_default();
        let runner = env("RUNNER_NAME").unwrap_or_default();
        return Ok(CacheId { value: github_id(&job, &runner), source: Source::GithubActions });
    }
    Ok(CacheId { value: "default".to_owned(), source: Source::Default })
}

/// `gha-<job>-<runner>`, each part escaped so that the id names one job and runner only: letters,
/// digits and `.` stay, every other byte becomes `_` and two hex digits (`-` is `_2d`, a space
/// `_20`), so `-` separates the parts and nothing else. Longer than [`MAX_LEN`]: shortened, with a
/// 64-bit hash of the job and runner as the suffix.
pub fn github_id(job: &str, runner: &str) -> String {
    fn escape(part: &str) -> String {
        let mut out = String::with_capacity(part.len());
        for b in part.bytes() {
            if b.is_ascii_alphanumeric() || b == b'.' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("_{b:02x}"));
            }
        }
        out
    }
    let id = format!("gha-{}-{}", escape(job), escape(runner));
    if id.len() <= MAX_LEN {
        return id;
    }
    // The job and runner, length-prefixed, so the hash input is injective too.
    let hash = fnv1a(format!("{}:{job}{runner}", job.len()).as_bytes());
    format!("{}-{hash:016x}", &id[..MAX_LEN - 17])
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_core::Hint;
    use std::collections::BTreeMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn precedence() {
        let all = env(&[
            ("ROCKER_CACHE_ID", "rocker"),
            ("QUARRY_CACHE_ID", "quarry"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_JOB", "test"),
            ("RUNNER_NAME", "runner 1"),
        ]);
        assert_eq!(
            resolve(Some("flag"), &all, None).unwrap(),
            CacheId { value: "flag".into(), source: Source::Flag }
        );
        assert_eq!(resolve(None, &all, Some("cfg")).unwrap().source, Source::Env("ROCKER_CACHE_ID"));
        let no_rocker = env(&[("QUARRY_CACHE_ID", "quarry"), ("GITHUB_ACTIONS", "true")]);
        assert_eq!(resolve(None, &no_rocker, None).unwrap().value, "quarry");
        let gha = env(&[("GITHUB_ACTIONS", "true"), ("GITHUB_JOB", "test"), ("RUNNER_NAME", "runner 1")]);
        assert_eq!(
            resolve(None, &gha, None).unwrap(),
            CacheId { value: "gha-test-runner_201".into(), source: Source::GithubActions }
        );
        assert_eq!(
            resolve(None, &gha, Some("cfg")).unwrap(),
            CacheId { value: "cfg".into(), source: Source::Config }
        );
        assert_eq!(resolve(None, &env(&[]), None).unwrap().value, "default");
    }

    #[test]
    fn concurrent_jobs_differ_and_reruns_match() {
        assert_ne!(github_id("build", "runner-1"), github_id("build", "runner-2"));
        assert_ne!(github_id("build", "runner-1"), github_id("test", "runner-1"));
        // A re-run (another run id, another attempt) of the job on the runner gets its id again:
        // the id is the job's and the runner's, written out, and nothing else of the run's.
        assert_eq!(github_id("build", "runner-1"), "gha-build-runner_2d1");
        let run = |id: &str, attempt: &str| {
            let vars = [
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_JOB", "build"),
                ("RUNNER_NAME", "runner-1"),
                ("GITHUB_RUN_ID", id),
                ("GITHUB_RUN_ATTEMPT", attempt),
            ];
            resolve(None, &env(&vars), None).unwrap().value
        };
        assert_eq!(run("1001", "1"), "gha-build-runner_2d1");
        assert_eq!(run("1002", "2"), "gha-build-runner_2d1");
        // Too long: cut, and ended by a hash of the whole job and runner.
        let long = github_id(&"j".repeat(100), "r");
        assert_eq!(long.len(), MAX_LEN);
        assert!(is_valid(&long));
        let (head, hash) = long.split_at(MAX_LEN - 16);
        assert_eq!(head, format!("gha-{}-", "j".repeat(MAX_LEN - 21)));
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{long}");
        assert_ne!(long, github_id(&"j".repeat(101), "r"));
    }

    #[test]
    fn the_mapping_is_injective() {
        // These collided when every other character became `-`.
        assert_ne!(github_id("a-b", "c"), github_id("a", "b-c"));
        assert_ne!(github_id("a b", "c"), github_id("a-b", "c"));
        assert_ne!(github_id("a_2d", "c"), github_id("a-", "c"));
        assert_eq!(github_id("a-b", "c"), "gha-a_2db-c");
        assert!(is_valid(&github_id("GitHub Actions 2", "build (py3.10, ubuntu)")));
        let long = |job: &str| github_id(job, &"r".repeat(60));
        assert_ne!(long("a"), long("b"));
    }

    #[test]
    fn ids_that_would_corrupt_a_mount_are_rejected() {
        for bad in ["a,b", "a b", "", "x\ny", "a=b", &"x".repeat(65)] {
            let err = resolve(Some(bad), &env(&[]), None).unwrap_err();
            assert!(err.hint().unwrap().starts_with("use 1 to 64"), "{err}");
        }
        let err = resolve(None, &env(&[("ROCKER_CACHE_ID", "py 3.10")]), None).unwrap_err();
        assert_eq!(err.to_string(), "invalid cache id \"py 3.10\" (from $ROCKER_CACHE_ID)");
        assert_eq!(err.hint().as_deref(), Some("use 1 to 64 letters, digits, `_`, `.` or `-`, e.g. `py310`"));
    }
}
