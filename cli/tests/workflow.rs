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
    let registry = quarry_core::registry().unwrap();
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
            let build = match invocation {
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
