//! The documented GitHub Actions workflow: each matrix job passes its own cache id, and every
//! `quarry` command in it is one this binary accepts.

use quarry_cli::args::{Invocation, parse};
use yaml_rust2::{Yaml, YamlLoader};

fn workflow() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/github-actions.yml");
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// Splits a shell command line written with double quotes only.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[test]
fn matrix_jobs_get_distinct_cache_ids() {
    let registry = quarry_cli::registry_with(&[]).unwrap();
    let job = &workflow()["jobs"]["image"];
    let matrix: Vec<&str> =
        job["strategy"]["matrix"]["python"].as_vec().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(matrix.len() >= 2);
    let commands: Vec<&str> = job["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.starts_with("quarry "))
        .collect();
    assert!(commands.iter().any(|c| c.starts_with("quarry build ")));
    for command in commands {
        assert!(command.contains("--cache-id \"${{ matrix.python }}\""), "{command}");
        let mut ids = Vec::new();
        for value in &matrix {
            let line = command.replace("${{ matrix.python }}", value);
            let invocation = parse(registry, words(&line).into_iter().map(Into::into).collect())
                .unwrap_or_else(|e| panic!("`{line}` does not parse: {e:?}"));
            let build = match invocation.invocation {
                Invocation::Build(b) => *b,
                Invocation::Run(r) => r.build,
                other => panic!("unexpected {other:?}"),
            };
            ids.push(build.cache_id.unwrap());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), matrix.len(), "every matrix job needs its own id: {command}");
    }
}

fn builds_of(job: &str) -> Vec<quarry_cli::args::Build> {
    let registry = quarry_cli::registry_with(&[]).unwrap();
    workflow()["jobs"][job]["steps"]
        .as_vec()
        .unwrap_or_else(|| panic!("job `{job}` has steps"))
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.starts_with("quarry "))
        .map(|line| {
            match parse(registry, words(line).into_iter().map(Into::into).collect()).map(|p| p.invocation) {
                Ok(Invocation::Build(b)) => *b,
                Ok(Invocation::Run(r)) => r.build,
                other => panic!("`{line}`: {other:?}"),
            }
        })
        .collect()
}

/// The registry-cache job passes a registry and a docker-container builder (the runners' docker
/// driver cannot export); the `gha` job passes the backend through with one scope.
#[test]
fn shared_cache_jobs_use_a_registry_or_the_gha_backend() {
    let shared = builds_of("shared-cache");
    assert_eq!(shared.len(), 1);
    let repo = shared[0].cache_registry.as_deref().unwrap();
    assert!(quarry_docker::remote_cache::CacheRepo::parse(repo).is_ok(), "{repo}");
    assert!(shared[0].options.builder.is_some());
    let gha = builds_of("gha-cache");
    assert_eq!(gha.len(), 1);
    assert!(gha[0].options.builder.is_some());
    assert!(gha[0].cache_registry.is_none());
    assert_eq!(gha[0].options.cache_from, ["type=gha,scope=quarry-dev"]);
    assert_eq!(gha[0].options.cache_to, ["type=gha,scope=quarry-dev,mode=max"]);
}
