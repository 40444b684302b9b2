//! What the engine can do, read once: which engine it is (Docker, or Podman through `podman`,
//! Podman's `docker` wrapper or its Docker-compatible socket), its version, whether buildx is
//! there, whether it uses the containerd image store. The render follows from it (`COPY --link`
//! needs Docker 23+; Podman's Buildah rejects it, `docs/podman.md`).

use std::process::Command;

use quarry_core::{EngineLevel, Hint, Hinted};

/// The engine's capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// Server version as the engine reports it, e.g. `26.1.5` or `20.10.24+dfsg1`.
    pub version: String,
    /// Major and minor version.
    pub major_minor: (u32, u32),
    /// Whether `docker buildx` is available.
    pub buildx: bool,
    /// Whether images live in the containerd store (where `COPY --link` pays off).
    pub containerd_store: bool,
    /// Podman instead of Docker: how quarry reaches it, and what it is.
    pub podman: Option<Podman>,
}

pub use crate::podman::{MIN_PODMAN_VERSION, Podman, Via};

/// Oldest engine quarry builds with: 20.10 (BuildKit 0.8, `RUN --mount=type=cache` with `${ARG}`
/// in the id).
pub const MIN_VERSION: (u32, u32) = (20, 10);

impl Engine {
    /// The Dockerfile level this engine's built-in frontend supports. Podman's Buildah rejects
    /// `COPY --link` (measured on Podman 4.3.1, Buildah 1.28.2: `docs/podman.md`), and its layer
    /// cache is a chain, so a link would not keep a copy apart from the layers before it anyway:
    /// Podman gets the plain `COPY --from` render whatever its version.
    pub fn level(&self) -> EngineLevel {
        if self.podman.is_none() && self.major_minor >= (23, 0) {
            EngineLevel::Modern
        } else {
            EngineLevel::Legacy
        }
    }

    /// Whether BuildKit's own `BUILDKIT_CACHE_MOUNT_NS` isolates cache mounts without touching
    /// layer keys (BuildKit 0.13, Docker 26 and later; never Buildah).
    pub fn has_mount_namespace(&self) -> bool {
        self.podman.is_none() && self.major_minor >= (26, 0)
    }

    /// Whether this is Podman.
    pub fn is_podman(&self) -> bool {
        self.podman.is_some()
    }

    /// Whether builds run on BuildKit (Docker), whose cache rules `quarry explain` models.
    pub fn is_buildkit(&self) -> bool {
        self.podman.is_none()
    }

    /// The engine as the user reads it: `Docker 26.1.5`, `Podman 4.3.1 (Buildah 1.28.2,
    /// rootful, through `podman`)`.
    pub fn describe(&self) -> String {
        let Some(p) = &self.podman else { return format!("Docker {}", self.version) };
        let buildah = p.buildah.as_ref().map(|b| format!("Buildah {b}, ")).unwrap_or_default();
        let mode = if p.rootless { "rootless" } else { "rootful" };
        let via = match p.via {
            Via::Podman => "through `podman`",
            Via::DockerWrapper => "through Podman's `docker` wrapper",
            Via::Socket => "through its Docker-compatible socket",
        };
        format!("Podman {} ({buildah}{mode}, {via})", self.version)
    }

    /// The variable the build command needs: `DOCKER_BUILDKIT=1` for the Docker CLI on an engine
    /// without buildx, `DOCKER_BUILDKIT=0` for the Docker CLI on Podman's socket (which has no
    /// BuildKit session endpoint); none for `podman`.
    pub fn build_env(&self) -> Option<(&'static str, &'static str)> {
        match &self.podman {
            Some(Podman { via: Via::Socket, .. }) => Some(("DOCKER_BUILDKIT", "0")),
            Some(_) => None,
            None if !self.buildx => Some(("DOCKER_BUILDKIT", "1")),
            None => None,
        }
    }

    /// Whether the build command is `podman build` (directly or through the wrapper), which
    /// prints its steps on stdout.
    pub fn builds_with_podman(&self) -> bool {
        matches!(&self.podman, Some(p) if p.via != Via::Socket)
    }
}

/// Why the engine cannot be used. `Display` is the message; [`Hint`] the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// `docker` is not installed.
    #[error("cannot run `docker`: {0}")]
    NoClient(String),
    /// The daemon does not answer.
    #[error("no Docker engine answers{}", host_suffix(.0))]
    NotRunning(Option<String>),
    /// The engine is older than [`MIN_VERSION`].
    #[error("Docker engine {0} is too old")]
    TooOld(String),
    /// Podman is older than [`MIN_PODMAN_VERSION`].
    #[error("Podman {0} is too old")]
    PodmanTooOld(String),
    /// `podman info` failed.
    #[error("`{program} info` failed: {message}")]
    PodmanInfo {
        /// The program.
        program: String,
        /// Its first error line.
        message: String,
    },
    /// The version string could not be read.
    #[error("cannot read the Docker engine version from {0:?}")]
    UnknownVersion(String),
}

impl Hint for EngineError {
    fn hint(&self) -> Option<String> {
        Some(
            match self {
                Self::NoClient(_) => "install the Docker CLI and make sure `docker` is on PATH",
                Self::NotRunning(_) => {
                    "start the engine (`sudo systemctl start docker`), or set DOCKER_HOST to a running one"
                }
                Self::TooOld(_) => "quarry needs Docker 20.10 or newer (BuildKit cache mounts)",
                Self::PodmanTooOld(_) => {
                    "quarry needs Podman 4.0 or newer (Buildah's `RUN --mount=type=cache`)"
                }
                Self::PodmanInfo { .. } => {
                    "check that `podman info` works (rootless: `podman system migrate`)"
                }
                Self::UnknownVersion(_) => "check that `docker version` works",
            }
            .to_owned(),
        )
    }
}

fn host_suffix(host: &Option<String>) -> String {
    host.as_ref().map(|h| format!(" at {}", quarry_core::text::shown(h))).unwrap_or_default()
}

/// `26.1.5` -> (26, 1); `20.10.24+dfsg1` -> (20, 10).
pub fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split(['.', '+', '-', '~']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Reads the engine's capabilities: through its API when it is a local socket
/// ([`crate::api`]), else through the `docker` CLI.
pub fn detect(docker: &str) -> Result<Engine, EngineError> {
    if program_name(docker) == "podman" {
        return detect_podman(docker, Via::Podman);
    }
    if let Some(api) = crate::api::Api::for_program(docker)
        && let Some(version) = api.json("/version")
    {
        if let Some(podman) = crate::podman::version_of(&version) {
            let info = api.json("/info").unwrap_or_default();
            return podman_engine(podman, Via::Socket, crate::podman::is_rootless_info(&info), None);
        }
        let version = version["Version"].as_str().unwrap_or_default().to_owned();
        let major_minor =
            parse_version(&version).ok_or_else(|| EngineError::UnknownVersion(version.clone()))?;
        if major_minor < MIN_VERSION {
            return Err(EngineError::TooOld(version));
        }
        let info = api.json("/info").unwrap_or_default();
        let containerd_store = info["DriverStatus"].to_string().contains("io.containerd.snapshotter");
        // A client plugin: found where the CLI looks for it, else asked of the CLI.
        let buildx = crate::api::has_cli_plugin("buildx")
            || Command::new(docker).args(["buildx", "version"]).output().is_ok_and(|o| o.status.success());
        return Ok(Engine { version, major_minor, buildx, containerd_store, podman: None });
    }
    if crate::podman::is_docker_wrapper(docker) {
        return detect_podman(docker, Via::DockerWrapper);
    }
    let out = Command::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map_err(|e| EngineError::NoClient(e.to_string()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || version.is_empty() {
        return Err(EngineError::NotRunning(std::env::var("DOCKER_HOST").ok()));
    }
    let major_minor = parse_version(&version).ok_or_else(|| EngineError::UnknownVersion(version.clone()))?;
    if major_minor < MIN_VERSION {
        return Err(EngineError::TooOld(version));
    }
    let buildx = Command::new(docker).args(["buildx", "version"]).output().is_ok_and(|o| o.status.success());
    let containerd_store = Command::new(docker)
        .args(["info", "--format", "{{json .DriverStatus}}"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("io.containerd.snapshotter"));
    Ok(Engine { version, major_minor, buildx, containerd_store, podman: None })
}

/// The program quarry drives: `QUARRY_DOCKER` when set, else `docker` when it is on `PATH`,
/// else `podman` when that is, else `docker` (whose absence the error then names).
pub fn program() -> String {
    if let Some(p) = std::env::var("QUARRY_DOCKER").ok().filter(|p| !p.is_empty()) {
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = |name: &str| std::env::split_paths(&path).any(|d| is_executable(&d.join(name)));
    if !on_path("docker") && on_path("podman") { "podman".to_owned() } else { "docker".to_owned() }
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The file name of a program path: `/usr/bin/podman` -> `podman`.
pub(crate) fn program_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Podman through a program (`podman`, or the `docker` wrapper): one `podman info`.
pub(crate) fn detect_podman(program: &str, via: Via) -> Result<Engine, EngineError> {
    let out = Command::new(program)
        .args(["info", "--format", "json"])
        .output()
        .map_err(|e| EngineError::NoClient(format!("{program}: {e}")))?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr);
        return Err(EngineError::PodmanInfo {
            program: program.to_owned(),
            message: message.lines().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_owned(),
        });
    }
    let (version, rootless, buildah) =
        crate::podman::parse_podman_info(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| EngineError::UnknownVersion(format!("{program} info")))?;
    podman_engine(version, via, rootless, buildah)
}

pub(crate) fn podman_engine(
    version: String,
    via: Via,
    rootless: bool,
    buildah: Option<String>,
) -> Result<Engine, EngineError> {
    let major_minor = parse_version(&version).ok_or_else(|| EngineError::UnknownVersion(version.clone()))?;
    if major_minor < MIN_PODMAN_VERSION {
        return Err(EngineError::PodmanTooOld(version));
    }
    Ok(Engine {
        version,
        major_minor,
        buildx: false,
        containerd_store: false,
        podman: Some(Podman { via, rootless, buildah }),
    })
}

/// What `docker buildx inspect` says of a builder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuilderInfo {
    /// `docker`, `docker-container`, `remote`, ...
    pub driver: Option<String>,
    /// The first node's endpoint: a Docker context name (`default`) or an address
    /// (`unix:///var/run/docker.sock`, `tcp://host:2375`).
    pub endpoint: Option<String>,
}

/// The address of the engine `docker` talks to: DOCKER_HOST, else the endpoint of the current
/// Docker context (`docker context inspect`).
pub fn engine_address(docker: &str) -> Option<String> {
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        return Some(host);
    }
    let out = Command::new(docker)
        .args(["context", "inspect", "--format", "{{.Endpoints.docker.Host}}"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|h| !h.is_empty())
}

/// Whether the engine at `address` runs on another machine: `tcp://`, `ssh://`, `http://` or
/// `https://` to a host that is not this machine's loopback. Its containers then mount that
/// machine's paths, not this one's.
pub fn is_remote(address: &str) -> bool {
    let Some((scheme, rest)) = address.split_once("://") else { return false };
    if !["tcp", "ssh", "http", "https"].contains(&scheme) {
        return false;
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    !(host == "localhost" || host.starts_with("127.") || host == "::1" || host.is_empty())
}

/// The Docker context the CLI uses (`docker context show`): `default` when DOCKER_HOST is set.
pub fn current_context(docker: &str) -> Option<String> {
    let out = Command::new(docker).args(["context", "show"]).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|c| !c.is_empty())
}

/// Why `--builder builder` cannot work from `context`: a `docker`-driver builder is the engine
/// of a Docker context, and buildx builds on another context's engine only through that context
/// (the image would also land there, while `docker run` runs on the current one).
pub fn builder_problem(builder: &str, info: &BuilderInfo, context: Option<&str>) -> Option<Hinted> {
    if info.driver.as_deref() != Some("docker") || context.is_none_or(|c| c == builder) {
        return None;
    }
    Some(Hinted::new(
        format!(
            "`--builder {builder}` is the Docker engine of context `{builder}`, not the current one (`{}`): \
             buildx builds there only through that context, and the image would not be where `quarry run` \
             runs it",
            context.unwrap_or_default()
        ),
        format!(
            "run quarry with DOCKER_CONTEXT={builder} (and DOCKER_HOST unset) instead of `--builder`: it then \
             builds and runs the image on that engine"
        ),
    ))
}

/// The buildx builder a build uses: `builder`, else the current one. Empty when buildx does not
/// say.
pub fn builder_info(docker: &str, builder: Option<&str>) -> BuilderInfo {
    let mut command = Command::new(docker);
    command.args(["buildx", "inspect"]);
    if let Some(b) = builder {
        command.arg(b);
    }
    match command.output() {
        Ok(out) if out.status.success() => parse_builder(&String::from_utf8_lossy(&out.stdout)),
        _ => BuilderInfo::default(),
    }
}

/// The `Driver:` and first `Endpoint:` lines of `docker buildx inspect`.
fn parse_builder(text: &str) -> BuilderInfo {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
    };
    BuilderInfo { driver: field("Driver:"), endpoint: field("Endpoint:") }
}

/// The image's own ENTRYPOINT, CMD and USER, when the engine has the image; `None` otherwise
/// (not pulled yet, or no answer).
pub fn image_config(docker: &str, image: &str) -> Option<quarry_core::ImageConfig> {
    parse_image_config(&inspect_image(docker, image)?["Config"].to_string())
}

/// What `docker image inspect NAME` says of one image (its id, config, labels), when the engine
/// has it: through the API when it is a local socket, else through the CLI.
pub fn inspect_image(docker: &str, image: &str) -> Option<serde_json::Value> {
    if let Some(api) = crate::api::Api::for_program(docker)
        && let Some(found) = api.image(image)
    {
        return found;
    }
    let out = Command::new(docker)
        .args(["image", "inspect", "--format", "{{json .}}", "--", image])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    serde_json::from_slice(&out.stdout).ok().map(first_of_array)
}

/// Podman 4.3's `inspect` prints its array of objects whatever `--format` says: the first
/// object, as Docker prints it.
pub fn first_of_array(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    }
}

/// `docker image inspect`'s `.Config` as JSON: `Entrypoint` and `Cmd` are arrays or null.
fn parse_image_config(json: &str) -> Option<quarry_core::ImageConfig> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let list = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(|l| l.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    Some(quarry_core::ImageConfig {
        entrypoint: list("Entrypoint"),
        cmd: list("Cmd"),
        user: v.get("User").and_then(|u| u.as_str()).unwrap_or_default().to_owned(),
    })
}

/// Whether the engine runs NVIDIA GPUs: it knows the NVIDIA Container Toolkit's `nvidia` runtime
/// (`docker info`'s runtimes), which `--gpus` and `--runtime=nvidia` need.
pub fn has_nvidia_runtime(docker: &str) -> bool {
    if let Some(api) = crate::api::Api::for_program(docker)
        && let Some(info) = api.json("/info")
    {
        return runtimes_have_nvidia(&info["Runtimes"].to_string());
    }
    Command::new(docker)
        .args(["info", "--format", "{{json .Runtimes}}"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| runtimes_have_nvidia(&String::from_utf8_lossy(&o.stdout)))
}

fn runtimes_have_nvidia(json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(json.trim())
        .ok()
        .and_then(|v| v.as_object().map(|m| m.keys().any(|k| k.starts_with("nvidia"))))
        .unwrap_or(false)
}

/// Whether `docker run` arguments ask for NVIDIA GPUs (`--gpus`, `--runtime=nvidia`, Podman's
/// CDI device `nvidia.com/gpu=...`).
pub fn wants_gpu(run_args: &[String]) -> bool {
    run_args.iter().any(|a| {
        a == "--gpus"
            || a.starts_with("--gpus=")
            || a == "--runtime=nvidia"
            || a.trim_start_matches("--device=").starts_with("nvidia.com/gpu=")
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn nvidia_runtimes_are_found_in_docker_info() {
        assert!(runtimes_have_nvidia(
            r#"{"io.containerd.runc.v2":{"path":"runc"},"nvidia":{"path":"nvidia-container-runtime"}}"#
        ));
        assert!(!runtimes_have_nvidia(r#"{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}}"#));
        assert!(!runtimes_have_nvidia("garbage"));
        assert!(wants_gpu(&["--gpus=all".into()]) && wants_gpu(&["--runtime=nvidia".into()]));
        assert!(!wants_gpu(&["--env=NVIDIA_VISIBLE_DEVICES=all".into()]));
    }

    #[test]
    fn image_configs_are_read_from_inspect() {
        let c = parse_image_config(
            r#"{"Env":["PATH=/usr/bin"],"Cmd":["/bin/bash"],"Entrypoint":null,"User":"","WorkingDir":""}"#,
        )
        .unwrap();
        assert_eq!(
            (c.entrypoint.len(), c.cmd.as_slice(), c.user.as_str()),
            (0, &["/bin/bash".to_owned()][..], "")
        );
        let c = parse_image_config(r#"{"Cmd":null,"Entrypoint":["/init","--"],"User":"app:app"}"#).unwrap();
        assert_eq!(
            (c.entrypoint, c.cmd.len(), c.user.as_str()),
            (vec!["/init".to_owned(), "--".to_owned()], 0, "app:app")
        );
        assert!(parse_image_config("not json").is_none());
    }

    /// A Docker engine of `version` with buildx and the classic store, for the tests of this
    /// crate.
    pub(crate) fn engine(version: &str) -> Engine {
        Engine {
            version: version.to_owned(),
            major_minor: parse_version(version).unwrap(),
            buildx: true,
            containerd_store: false,
            podman: None,
        }
    }

    #[test]
    fn builders() {
        let text = "Name:          default\nDriver:        docker\nLast Activity: x\n\nNodes:\nName: default\nEndpoint:  default\n";
        let info = parse_builder(text);
        assert_eq!((info.driver.as_deref(), info.endpoint.as_deref()), (Some("docker"), Some("default")));
        assert_eq!(builder_problem("default", &info, Some("default")), None);
        let other = parse_builder("Name: far\nDriver: docker\nNodes:\nEndpoint: far\n");
        let problem = builder_problem("far", &other, Some("default")).unwrap();
        assert!(problem.hint.unwrap().starts_with("run quarry with DOCKER_CONTEXT=far"));
        assert_eq!(builder_problem("far", &other, Some("far")), None);
        let container = parse_builder("Name: q\nDriver: docker-container\nNodes:\nEndpoint: default\n");
        assert_eq!(builder_problem("q", &container, Some("default")), None);
        assert_eq!(parse_builder("nothing"), BuilderInfo::default());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("26.1.5"), Some((26, 1)));
        assert_eq!(parse_version("20.10.24+dfsg1"), Some((20, 10)));
        assert_eq!(parse_version("28.2.2\n"), Some((28, 2)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn levels() {
        assert_eq!(engine("20.10.24+dfsg1").level(), EngineLevel::Legacy);
        assert_eq!(engine("23.0.0").level(), EngineLevel::Modern);
        assert!(!engine("25.0.3").has_mount_namespace());
        assert!(engine("26.1.5").has_mount_namespace());
    }

    #[test]
    fn remote_engines_are_told_apart() {
        for remote in [
            "tcp://build-host:2375",
            "ssh://me@build-host",
            "tcp://10.0.0.5:2376",
            "tcp://[2001:db8::1]:2375",
        ] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
            "npipe:////./pipe/docker_engine",
            "",
        ] {
            assert!(!is_remote(local), "{local}");
        }
    }

    #[test]
    fn messages() {
        let e = EngineError::NotRunning(Some("unix:///x.sock".into()));
        assert_eq!(e.to_string(), "no Docker engine answers at `unix:///x.sock`");
        let e = EngineError::NotRunning(Some("tcp://h\u{1b}[2J:2375".into()));
        assert_eq!(e.to_string(), "no Docker engine answers at \"tcp://h\\u001B[2J:2375\"");
        assert_eq!(
            e.hint().as_deref(),
            Some("start the engine (`sudo systemctl start docker`), or set DOCKER_HOST to a running one")
        );
        assert!(EngineError::TooOld("19.03.1".into()).hint().unwrap().contains("needs Docker 20.10"));
    }
}
