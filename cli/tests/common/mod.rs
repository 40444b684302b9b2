//! The harness the integration tests share: `quarry` run offline ([`offline`]) or in a project
//! on an engine ([`TestEngine::quarry_in`]), scratch folders, and for the engine tests the engines `cargo xtask test` starts (`QUARRY_TEST_ENGINE_{MODERN,LEGACY}`), which
//! every engine test is `#[ignore]`d for and fails without when asked to run; a folder served over HTTP, and wheels for a
//! local PEP 503 index in it.
// Each test crate uses part of the harness.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use quarry_core::{Registry, Request};
use quarry_docker::build::{BuildOptions, build_args, retry_after_failure};
use quarry_docker::cache_id::{CacheId, Source};
use quarry_docker::context::write_context;
use quarry_docker::engine::Engine;
use quarry_docker::progress::{Vertex, merge_attempts, parse_rawjson};

/// Fails the running test: it needs `var`, which `cargo xtask test` sets when it has `what`. Such
/// a test is `#[ignore]`d, so it runs only when asked for (`--include-ignored`), and then it must
/// not pass without what it tests against.
pub fn missing(var: &str, what: &str) -> ! {
    panic!(
        "this test needs {what} that `cargo xtask test` provides, and `{var}` is not set: it is ignored by plain \
         `cargo test`; run it with `cargo xtask test` (as root, which starts the engines)"
    )
}

/// A running engine the tests may use; holds the lock that runs engine tests one at a time, so
/// timings are not skewed by sibling builds.
pub struct TestEngine {
    pub host: String,
    pub config: Option<String>,
    pub add_host: Option<String>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl TestEngine {
    /// The engine `cargo xtask test` started for `kind` (`MODERN`, `LEGACY`). A test that asks
    /// for one is `#[ignore]`d, so plain `cargo test` lists it as ignored; `cargo xtask test`
    /// runs it (`--include-ignored`) when it has started the engines, and one that runs without
    /// its engine fails here instead of passing.
    pub fn get(kind: &str) -> TestEngine {
        let host = std::env::var(format!("QUARRY_TEST_ENGINE_{kind}")).ok().filter(|h| !h.is_empty());
        let host =
            host.unwrap_or_else(|| missing(&format!("QUARRY_TEST_ENGINE_{kind}"), "the Docker engines"));
        TestEngine {
            _serial: SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            host,
            config: std::env::var(format!("QUARRY_TEST_DOCKER_CONFIG_{kind}")).ok(),
            add_host: std::env::var("QUARRY_TEST_ADD_HOST").ok(),
        }
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DOCKER_HOST", &self.host).env("DOCKER_BUILDKIT", "1");
        if let Some(config) = &self.config {
            c.env("DOCKER_CONFIG", config);
        }
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.command("docker").args(args).output().expect("docker runs")
    }

    pub fn quarry(&self, cache_home: &Path, args: &[&str]) -> Output {
        let mut c = self.command(env!("CARGO_BIN_EXE_quarry"));
        c.env("XDG_CACHE_HOME", cache_home).env_remove("ROCKER_CACHE_ID").env_remove("QUARRY_CACHE_ID");
        c.env_remove("GITHUB_ACTIONS");
        c.args(args);
        if let Some(h) = &self.add_host {
            c.args(["--add-host", h]);
        }
        c.output().expect("quarry runs")
    }

    /// `quarry ARGS` in `project` as its user runs it there: cache, configuration and state of
    /// its own under `home`, no cache id or docker program from the environment, stdin closed.
    pub fn quarry_in(&self, project: &Path, home: &Path, args: &[&str]) -> Command {
        let mut c = self.command(env!("CARGO_BIN_EXE_quarry"));
        c.current_dir(project)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env_remove("ROCKER_CACHE_ID")
            .env_remove("QUARRY_CACHE_ID")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("QUARRY_DOCKER")
            .env_remove("QUARRY_TEST_MISPREDICT")
            .stdin(Stdio::null())
            .args(args);
        c
    }

    pub fn detect(&self) -> Engine {
        let out = self.docker(&["version", "--format", "{{.Server.Version}}"]);
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let buildx = self.docker(&["buildx", "version"]).status.success();
        Engine {
            major_minor: quarry_docker::engine::parse_version(&version).expect("engine version"),
            version,
            buildx,
            containerd_store: false,
            podman: None,
        }
    }

    /// Builds a rendered Dockerfile the way `quarry build` does; returns the plain progress.
    pub fn build(&self, dir: &Path, request: &Request, registry: &Registry, tag: &str, id: &str) -> String {
        self.build_as(dir, request, registry, tag, id, false)
    }

    /// Like [`TestEngine::build`]; with `seed_form`, the id goes in as a plain
    /// `--build-arg CACHE_ID=<id>` (what any `docker build` of the rendered file can do).
    pub fn build_as(
        &self,
        dir: &Path,
        request: &Request,
        registry: &Registry,
        tag: &str,
        id: &str,
        seed_form: bool,
    ) -> String {
        let rendered = quarry_core::render(registry, request).unwrap_or_else(|e| panic!("{e}"));
        write_context(dir, &rendered).unwrap();
        let built = self.build_context(dir, tag, id, seed_form);
        let text = built.text();
        assert!(built.output.status.success(), "build of {tag} failed:\n{text}");
        text
    }

    /// Builds the context folder `dir` (written by `write_context`, perhaps changed since) as
    /// `quarry build` does, with plain progress and the cache id `id` (as `CACHE_ID` with
    /// `seed_form`); whatever its outcome.
    pub fn build_context(&self, dir: &Path, tag: &str, id: &str, seed_form: bool) -> Attempts {
        let opts = BuildOptions {
            progress: Some("plain".into()),
            add_host: self.add_host.iter().cloned().collect(),
            ..BuildOptions::default()
        };
        let cache = CacheId { value: id.into(), source: Source::Flag };
        let mut engine = self.detect();
        if seed_form {
            // An engine before 26 gets the id as CACHE_ID.
            engine.major_minor = engine.major_minor.min((25, 0));
        }
        self.docker_build(&build_args(&engine, dir, tag, &cache, &opts))
    }

    /// `docker ARGS` of a build, run once more after containerd's snapshot flake ([`retrying`]).
    pub fn docker_build<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Attempts {
        let what: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
        retrying(&what.join(" "), || {
            let mut c = self.command("docker");
            c.args(args);
            c
        })
    }
}

/// An HTTP server of a folder of this machine, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://<address>:<port>` as RUN steps on the engine reach it.
    pub url: String,
    /// The address alone (pip's `trusted-host`).
    pub host: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestEngine {
    /// Serves `dir` with `python3 -m http.server` where the engine's RUN steps reach this machine:
    /// on the bridge network's gateway.
    pub fn serve(&self, dir: &Path) -> Server {
        let gw =
            self.docker(&["network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"]);
        assert!(gw.status.success(), "{}", stderr(&gw));
        let host = stdout(&gw).trim().to_owned();
        let port = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "0.0.0.0", "--directory"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        // Serving once the port answers.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Server { child, url: format!("http://{host}:{port}"), host }
    }
}

/// A build command's outcome over its attempts.
pub struct Attempts {
    /// The last attempt's output.
    pub output: Output,
    /// Each attempt's stderr, in order.
    pub stderr: Vec<String>,
}

impl Attempts {
    /// Every attempt's stderr, as `quarry build` prints them: `progress_steps` reads a step the
    /// first attempt executed as run, even when the retry finds it cached.
    pub fn text(&self) -> String {
        self.stderr.join("\n")
    }

    /// The rawjson progress's vertices over the attempts ([`merge_attempts`]).
    pub fn vertices(&self) -> Vec<Vertex> {
        let each: Vec<Vec<Vertex>> = self.stderr.iter().map(|s| parse_rawjson(s)).collect();
        merge_attempts(&each)
    }
}

/// Runs the build `command` makes; after containerd's snapshot flake ("failed to commit ...
/// snapshot does not exist", which a build sharing a step with another can hit) runs it once
/// more, as `quarry build` does, and says so.
pub fn retrying(what: &str, mut command: impl FnMut() -> Command) -> Attempts {
    let mut stderr = Vec::new();
    let mut attempt = 1;
    loop {
        let output = command().output().expect("docker runs");
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        let again = !output.status.success() && retry_after_failure(attempt, false, &text);
        stderr.push(text);
        if !again {
            return Attempts { output, stderr };
        }
        eprintln!("note: containerd's snapshot flake in the build of {what}: building it once more");
        attempt += 1;
    }
}

/// Writes `text` to `dir/rel`, making the folders on the way.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `quarry ARGS` in `dir` with no engine (a socket that does not exist) and no user file or state
/// of the person running the tests: what render, explain and import do on their own.
pub fn offline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join(".no-user-config"))
        .env("XDG_STATE_HOME", dir.join(".no-user-state"))
        .env("DOCKER_HOST", "unix:///nonexistent/quarry-test.sock")
        .output()
        .expect("quarry runs")
}

/// The catalog's registry.
pub fn reg() -> &'static quarry_core::Registry {
    quarry_core::registry().expect("no duplicate registrations")
}

/// A request for `names` of the catalog on `image`, everything else left as it is.
pub fn request(image: &str, names: &[&str]) -> Request {
    Request {
        image: image.to_owned(),
        extensions: names.iter().map(|n| quarry_core::Selection::new(*n)).collect(),
        ..Request::default()
    }
}

/// The Dockerfile of `req` rendered with the catalog.
pub fn render(req: &Request) -> String {
    quarry_core::render(reg(), req).unwrap_or_else(|e| panic!("{e}")).dockerfile
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quarry-engine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A unique token so a test's steps are really executed, whatever the cache holds.
pub fn token() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("t{nanos}")
}

/// A pure-Python wheel `<name>-<version>`, whose module prints its version: written by python3's
/// `zipfile` with the RECORD hashes pip checks, into `<site>/files/`, and listed in the simple
/// index `<site>/simple/<name>/` (PEP 503), which lists every version written so far.
pub fn wheel(site: &Path, name: &str, version: &str) {
    let module = name.replace('-', "_");
    let file = format!("{module}-{version}-py3-none-any.whl");
    let script = format!(
        r#"
import base64, hashlib, zipfile
files = {{
    "{module}/__init__.py": "VERSION = '{version}'\n",
    "{module}-{version}.dist-info/METADATA": "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    "{module}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: quarry-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}}
record = []
with zipfile.ZipFile("files/{file}", "w") as z:
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{{path}},sha256={{digest}},{{len(data)}}")
        z.writestr(path, data)
    record.append("{module}-{version}.dist-info/RECORD,,")
    z.writestr("{module}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
"#
    );
    std::fs::create_dir_all(site.join("files")).unwrap();
    let out =
        std::process::Command::new("python3").arg("-c").arg(&script).current_dir(site).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let index = site.join("simple").join(name).join("index.html");
    let mut links = std::fs::read_to_string(&index).unwrap_or_default();
    links.push_str(&format!("<a href=\"/files/{file}\">{file}</a><br>\n"));
    let index_dir = site.join("simple").join(name);
    std::fs::create_dir_all(&index_dir).unwrap();
    std::fs::write(index_dir.join("index.html"), links).unwrap();
}
