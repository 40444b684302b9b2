//! The shared remote cache on real parts: a distribution registry on loopback
//! (`QUARRY_TEST_REGISTRY`, and a read-only one in `QUARRY_TEST_REGISTRY_RO`) and two Docker 26
//! engines with the containerd image store, each with its own data root, standing in for two CI
//! runners (`QUARRY_TEST_ENGINE_RUNNER1`, `QUARRY_TEST_ENGINE_RUNNER2`). `cargo xtask test`
//! starts them; the test is `#[ignore]`d for them, and fails without them when asked to run.
//!
//! Executed or imported is read from BuildKit's rawjson stream: a builder RUN step that executes
//! prints `RAN <stage>` in its log; a step imported from the registry prints nothing of its own
//! (and is not `cached` either: see `buildkit-cache-facts.md`, last section).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{missing, scratch, token};
use quarry_core::{Builder, BuilderFrom, Extension, Registry, Request, Rule, Selection, Template};
use quarry_docker::build::{BuildOptions, build_args};
use quarry_docker::cache_id::{CacheId, Source};
use quarry_docker::context::write_context;
use quarry_docker::remote_cache::{self, CacheRepo, KeyInputs, RemoteCache};

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

const TOKEN: quarry_core::OptionSpec =
    quarry_core::OptionSpec::new("token", "makes the stages new to the registry", "none", Rule::Identifier);

/// A builder that installs Debian packages (`apt`) and does local work, printing `RAN <name>`.
fn tool(name: &'static str, apt: &'static [&'static str], work: &'static str) -> &'static Extension {
    let source: &'static str = leak(format!(
        "RUN echo \"RAN {name}_builder {{{{ options.token }}}}\" && mkdir -p {{{{ out }}}} && {work} > {{{{ out }}}}/out\n"
    ));
    let out: &'static str = leak(format!("/opt/quarry/{name}"));
    leak(Extension {
        name,
        crate_name: "remote-cache-test",
        description: "remote cache test builder",
        builder: Some(Builder {
            from: BuilderFrom::BaseImage,
            apt_packages: apt,
            template: Template { file: "builder", source: leak(source.to_owned()) },
            artifacts: leak([quarry_core::Artifact { source: out, dest: out }]),
            downloads: &[],
        }),
        options: leak([TOKEN]),
        ..Extension::EMPTY
    })
}

fn registry() -> Registry {
    Registry::from_extensions([
        tool("alpha", &["xz-utils"], "seq 1 300000 | xz -9 | sha256sum"),
        tool("beta", &["jq"], "jq --version && seq 1 200000 | sha256sum"),
        tool("gamma", &[], "seq 1 100000 | md5sum"),
        tool("delta", &["bc"], "echo '2^4000' | bc | sha256sum"),
    ])
    .unwrap()
}

fn request(image: &str, names: &[&str], token: &str) -> Request {
    Request {
        image: image.into(),
        extensions: names.iter().map(|n| Selection::new(*n).with_option("token", token)).collect(),
        builder_base_image: Some("debian:bookworm".into()),
        ..Request::default()
    }
}

/// One CI runner: an engine and a `docker` wrapper pointing at it.
struct Runner {
    host: String,
    config: Option<String>,
    docker: PathBuf,
    add_host: Option<String>,
}

impl Runner {
    fn get(kind: &str, dir: &Path) -> Option<Runner> {
        let host = std::env::var(format!("QUARRY_TEST_ENGINE_{kind}")).ok().filter(|h| !h.is_empty())?;
        let config = std::env::var(format!("QUARRY_TEST_DOCKER_CONFIG_{kind}")).ok();
        let docker = dir.join(format!("docker-{kind}"));
        let mut script = format!("#!/bin/sh\nexport DOCKER_HOST='{host}' DOCKER_BUILDKIT=1\n");
        if let Some(c) = &config {
            script.push_str(&format!("export DOCKER_CONFIG='{c}'\n"));
        }
        script.push_str("exec docker \"$@\"\n");
        std::fs::write(&docker, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        Some(Runner { host, config, docker, add_host: std::env::var("QUARRY_TEST_ADD_HOST").ok() })
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.docker).args(args).output().expect("docker runs")
    }

    fn engine(&self) -> quarry_docker::engine::Engine {
        let out = self.docker(&["version", "--format", "{{.Server.Version}}"]);
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let info = self.docker(&["info", "--format", "{{json .DriverStatus}}"]);
        quarry_docker::engine::Engine {
            major_minor: quarry_docker::engine::parse_version(&version).expect("engine version"),
            version,
            buildx: true,
            containerd_store: String::from_utf8_lossy(&info.stdout).contains("io.containerd.snapshotter"),
            podman: None,
        }
    }

    /// What `quarry build` does with a remote cache, through the same library calls: plan and
    /// probe, the build with its imports (rawjson progress, returned), then the exports.
    fn build(&self, dir: &Path, rendered: &quarry_core::Rendered, tag: &str, cache: &RemoteCache) -> Outcome {
        let project = tag.split(':').next().unwrap_or_default().rsplit('/').next().map(str::to_owned);
        let keys = KeyInputs { project, ..KeyInputs::default() };
        write_context(dir, rendered).unwrap();
        let engine = self.engine();
        let plan = remote_cache::prepare(
            self.docker.to_str().unwrap(),
            cache,
            &engine,
            Some("docker"),
            &keys,
            rendered,
            false,
            &quarry_cli::ui::show,
        )
        .unwrap();
        let mut opts = BuildOptions {
            progress: Some("rawjson".into()),
            add_host: self.add_host.iter().cloned().collect(),
            ..BuildOptions::default()
        };
        if let Some(plan) = &plan {
            opts.cache_from = plan.imports();
        }
        let id = CacheId { value: "default".into(), source: Source::Flag };
        let args = build_args(&engine, dir, tag, &id, &opts);
        let built = common::retrying(tag, || {
            let mut c = Command::new(&self.docker);
            c.args(&args);
            c
        });
        let (progress, vertices) = (built.text(), built.vertices());
        assert!(built.output.status.success(), "build of {tag} failed:\n{progress}");
        let exported = plan
            .as_ref()
            .map(|p| remote_cache::export(self.docker.to_str().unwrap(), &args, p, &quarry_cli::ui::show));
        Outcome { progress, vertices, plan, exported }
    }

    fn prune(&self) {
        let out = self.docker(&["builder", "prune", "-af"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

struct Outcome {
    /// Every attempt's rawjson progress.
    progress: String,
    /// Its vertices, merged over the attempts.
    vertices: Vec<quarry_docker::progress::Vertex>,
    plan: Option<remote_cache::RemotePlan>,
    exported: Option<remote_cache::Exported>,
}

impl Outcome {
    /// Stages whose RUN step executed (printed its `RAN <stage>` line).
    fn executed(&self) -> Vec<String> {
        let mut out: Vec<String> = logs(&self.progress)
            .lines()
            .filter_map(|l| {
                l.trim().strip_prefix("RAN ").map(|r| r.split(' ').next().unwrap_or("").to_owned())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// (stage, instruction, cached) of every RUN/COPY step of the build.
    fn steps(&self) -> Vec<(String, String, bool)> {
        quarry_docker::progress::steps(&self.vertices)
            .into_iter()
            .filter(|s| s.is_counted())
            .map(|s| (s.stage, s.instruction.chars().take(60).collect(), s.cached))
            .collect()
    }

    fn missing(&self) -> usize {
        self.plan.as_ref().map_or(usize::MAX, |p| p.missing.len())
    }
}

/// Every `logs[].data` of a rawjson stream, decoded and joined.
fn logs(stream: &str) -> String {
    let mut out = Vec::new();
    let mut rest = stream;
    while let Some(start) = rest.find('{') {
        rest = &rest[start..];
        let mut objects = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        match objects.next() {
            Some(Ok(v)) => {
                for log in v.get("logs").and_then(|l| l.as_array()).into_iter().flatten() {
                    if let Some(data) = log.get("data").and_then(|d| d.as_str()) {
                        out.extend(base64(data));
                    }
                }
                rest = &rest[objects.byte_offset()..];
            }
            _ => rest = &rest[1..],
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The registry's tags of `repo` (HTTP API, plain http on loopback).
fn tags(registry: &str, repo: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(registry).unwrap();
    write!(s, "GET /v2/{repo}/tags/list HTTP/1.1\r\nHost: {registry}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("{}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let mut tags: Vec<String> = v
        .get("tags")
        .and_then(|t| t.as_array())
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// Bytes and files under the registry's blob store, when its folder is known.
fn blob_store() -> Option<(u64, usize)> {
    let root =
        PathBuf::from(std::env::var("QUARRY_TEST_REGISTRY_DIR").ok()?).join("docker/registry/v2/blobs");
    let (mut bytes, mut files) = (0, 0);
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                bytes += m.len();
                files += 1;
            }
        }
    }
    Some((bytes, files))
}

/// Both runners get the same base images, as two CI runners pulling one tag do.
fn same_base_images(a: &Runner, b: &Runner) {
    let ids = |r: &Runner| {
        String::from_utf8_lossy(
            &r.docker(&["image", "inspect", "--format", "{{.Id}}", "debian:bookworm", "debian:trixie"])
                .stdout,
        )
        .into_owned()
    };
    if ids(a) == ids(b) && !ids(a).is_empty() {
        return;
    }
    let save = Command::new(&a.docker)
        .args(["save", "debian:bookworm", "debian:trixie"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut save = save;
    let load = Command::new(&b.docker).arg("load").stdin(save.stdout.take().unwrap()).output().unwrap();
    assert!(save.wait().unwrap().success());
    assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
    assert_eq!(ids(a), ids(b));
}

fn runners(dir: &Path) -> (Runner, Runner, String, Option<String>) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let one = Runner::get("RUNNER1", dir)
        .unwrap_or_else(|| missing("QUARRY_TEST_ENGINE_RUNNER1", "the Docker engines"));
    let two = Runner::get("RUNNER2", dir)
        .unwrap_or_else(|| missing("QUARRY_TEST_ENGINE_RUNNER2", "the Docker engines"));
    let registry =
        var("QUARRY_TEST_REGISTRY").unwrap_or_else(|| missing("QUARRY_TEST_REGISTRY", "the registry"));
    let _ = (&one.host, &one.config);
    (one, two, registry, var("QUARRY_TEST_REGISTRY_RO"))
}

/// X on runner 1, then Y (sharing two builders, another final image) on a fresh runner 2: the
/// shared builders come from the registry; X again on a pruned runner 2: everything comes from
/// the registry and nothing is exported.
#[test]
#[ignore = "needs the Docker engines and the registries `cargo xtask test` starts"]
fn builders_are_shared_across_runners_and_projects() {
    let dir = scratch("remote-cache");
    let (one, two, registry_addr, read_only) = runners(&dir);
    same_base_images(&one, &two);
    let t = token();
    let repo_path = format!("quarry-test/{t}");
    let cache = RemoteCache {
        repo: CacheRepo::parse(&format!("{registry_addr}/{repo_path}")).unwrap(),
        insecure: false,
    };
    let reg = registry();
    let x = quarry_core::render(&reg, &request("debian:bookworm", &["alpha", "beta", "gamma"], &t)).unwrap();
    let y = quarry_core::render(&reg, &request("debian:trixie", &["alpha", "beta", "delta"], &t)).unwrap();
    let mut report = BTreeMap::new();

    // X on runner 1: a cold registry; everything executes and every reference is exported.
    one.prune();
    let x1 = one.build(&dir.join("x1"), &x, &format!("quarry-test/x:{t}"), &cache);
    assert_eq!(x1.missing(), 4, "three builders and the final stage are new");
    assert_eq!(x1.executed(), ["alpha_builder", "beta_builder", "gamma_builder"], "{:?}", x1.steps());
    let exported = x1.exported.clone().unwrap();
    assert_eq!((exported.done.len(), exported.failed.len()), (4, 0), "{exported:?}");
    report.insert(
        "1. X on runner 1 (cold)",
        format!("executed {:?}, exported {}", x1.executed(), exported.done.len()),
    );
    let tags_after_x = tags(&registry_addr, &repo_path);
    assert_eq!(tags_after_x.len(), 5, "four references and X's moving one: {tags_after_x:?}");

    // Y on runner 2 (nothing in its cache): alpha and beta come from the registry.
    two.prune();
    let y2 = two.build(&dir.join("y2"), &y, &format!("quarry-test/y:{t}"), &cache);
    assert_eq!(y2.missing(), 2, "delta's builder and Y's final stage are new");
    assert_eq!(y2.executed(), ["delta_builder"], "{:#?}", y2.steps());
    let shared: Vec<_> =
        y2.steps().into_iter().filter(|s| s.0 == "alpha_builder" || s.0 == "beta_builder").collect();
    // Runner 2's own cache was pruned: a step BuildKit reports as cached came from the registry
    // (rawjson marks a registry import `cached`, although plain progress shows it as `DONE`).
    assert_eq!(shared.len(), 4, "apt and work steps of alpha and beta: {:#?}", y2.steps());
    assert!(shared.iter().all(|s| s.2), "the shared builders come from the registry: {shared:#?}");
    report.insert(
        "2. Y on fresh runner 2",
        format!("executed {:?}; shared builder steps seen: {}", y2.executed(), shared.len()),
    );

    // X on runner 2, pruned: every step comes from the registry; nothing is exported.
    two.prune();
    let blobs_before = blob_store();
    let x2 = two.build(&dir.join("x2"), &x, &format!("quarry-test/x:{t}"), &cache);
    assert_eq!(x2.missing(), 0);
    assert_eq!(x2.executed(), Vec::<String>::new(), "{:#?}", x2.steps());
    let steps = x2.steps();
    let executed_steps: Vec<_> = steps.iter().filter(|s| !s.2).collect();
    assert!(executed_steps.is_empty(), "every step comes from the registry: {executed_steps:#?}");
    assert!(steps.len() >= 10, "{steps:#?}");
    assert_eq!(x2.exported.clone().unwrap(), remote_cache::Exported::default());
    assert_eq!(tags(&registry_addr, &repo_path).len(), 8);
    assert_eq!(blob_store(), blobs_before, "a warm build pushes nothing");
    report.insert(
        "3. X on pruned runner 2",
        format!("executed {:?}, {} steps, exported nothing", x2.executed(), x2.steps().len()),
    );

    // A registry that refuses pushes: the build succeeds, every export fails with a reason.
    if let Some(ro) = read_only {
        let cache =
            RemoteCache { repo: CacheRepo::parse(&format!("{ro}/{repo_path}")).unwrap(), insecure: false };
        let refused = two.build(&dir.join("ro"), &x, &format!("quarry-test/x:{t}"), &cache);
        let exported = refused.exported.unwrap();
        assert!(exported.done.is_empty() && exported.failed.len() == 4, "{exported:?}");
        assert!(exported.failed[0].1.contains("405 Method Not Allowed"), "{exported:?}");
        assert!(
            exported.failed[1..].iter().all(|f| f.1.starts_with("skipped")),
            "one refusal is enough: {exported:?}"
        );
        report.insert("4. read-only registry", format!("build ok; export failed: {}", exported.failed[0].1));
    } else {
        missing("QUARRY_TEST_REGISTRY_RO", "the read-only registry");
    }
    for (k, v) in &report {
        eprintln!("remote cache: {k}: {v}");
    }
    if let Some((bytes, files)) = blob_store() {
        eprintln!("remote cache: registry blob store now {files} files, {:.1} MB", bytes as f64 / 1e6);
    }
    for r in [&one, &two] {
        let _ = r.docker(&["rmi", &format!("quarry-test/x:{t}"), &format!("quarry-test/y:{t}")]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
