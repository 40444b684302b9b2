//! Podman, as quarry finds it: the `podman` program, a `docker` that is Podman's compatibility
//! wrapper (`podman-docker`), or Podman's Docker-compatible socket behind `DOCKER_HOST`; its
//! version, whether it runs rootless, the Buildah inside it. What quarry does with it: the
//! engine's level and build command (`engine`, `build`), Buildah's output (`buildah`) and
//! `podman run`'s conventions (`podman_run`).

use std::process::Command;

/// Podman, as quarry found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Podman {
    /// How quarry reaches it.
    pub via: Via,
    /// Whether it runs rootless (its containers' root is the host user).
    pub rootless: bool,
    /// The Buildah version inside it, when it says (`podman info`).
    pub buildah: Option<String>,
}

/// How quarry reaches Podman.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The `podman` program.
    Podman,
    /// A `docker` program that is Podman's compatibility wrapper (`podman-docker`).
    DockerWrapper,
    /// The Docker CLI, talking to Podman's Docker-compatible API (`podman system service`)
    /// behind `DOCKER_HOST`: builds go through the API's classic build endpoint, which Buildah
    /// serves (`DOCKER_BUILDKIT=0`).
    Socket,
}

/// Oldest Podman quarry builds with: 4.0 (Buildah 1.24, `RUN --mount=type=cache`).
pub const MIN_PODMAN_VERSION: (u32, u32) = (4, 0);

/// Whether `docker --version` is Podman's (`podman-docker`'s wrapper runs `podman`, which
/// prints `podman version 4.3.1`; the Docker CLI prints `Docker version 28.2.2, build ...`).
pub fn is_docker_wrapper(docker: &str) -> bool {
    Command::new(docker)
        .arg("--version")
        .output()
        .is_ok_and(|o| says_podman(&String::from_utf8_lossy(&o.stdout)))
}

fn says_podman(version_line: &str) -> bool {
    version_line.trim_start().to_ascii_lowercase().starts_with("podman")
}

/// Podman's version in the API's `/version` answer: its `Components` name `Podman Engine`
/// (Docker's name `Engine`), or its `Platform` does.
pub fn version_of(version: &serde_json::Value) -> Option<String> {
    let components = version["Components"].as_array().map(Vec::as_slice).unwrap_or_default();
    let engine = components.iter().find(|c| c["Name"].as_str().is_some_and(|n| n.contains("Podman")));
    let platform = version["Platform"]["Name"].as_str().is_some_and(|n| n.contains("Podman"));
    match engine {
        Some(c) => c["Version"].as_str().map(str::to_owned),
        None if platform => version["Version"].as_str().map(str::to_owned),
        None => None,
    }
}

/// Whether the API's `/info` says the engine runs rootless (`SecurityOptions` holds
/// `name=rootless`, for Docker and Podman alike).
pub fn is_rootless_info(info: &serde_json::Value) -> bool {
    info["SecurityOptions"].as_array().is_some_and(|o| o.iter().any(|s| s.as_str() == Some("name=rootless")))
}

/// `podman info --format json`: Podman's version, whether it is rootless, Buildah's version.
pub fn parse_podman_info(json: &str) -> Option<(String, bool, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let version = v["version"]["Version"].as_str()?.to_owned();
    let rootless = v["host"]["security"]["rootless"].as_bool().unwrap_or(false);
    let buildah = v["host"]["buildahVersion"].as_str().map(str::to_owned);
    Some((version, rootless, buildah))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::engine as docker;
    use crate::engine::{Engine, EngineError, podman_engine};
    use quarry_core::EngineLevel;

    fn podman(via: Via) -> Engine {
        podman_engine("4.3.1".into(), via, false, Some("1.28.2".into())).unwrap()
    }

    #[test]
    fn podman_is_told_apart() {
        assert!(says_podman("podman version 4.3.1\n"));
        assert!(!says_podman("Docker version 28.2.2, build e6534b4"));
        let version: serde_json::Value = serde_json::from_str(
            r#"{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1"}],"Version":"4.3.1"}"#,
        )
        .unwrap();
        assert_eq!(version_of(&version).as_deref(), Some("4.3.1"));
        let docker: serde_json::Value = serde_json::from_str(
            r#"{"Platform":{"Name":"Docker Engine - Community"},"Components":[{"Name":"Engine","Version":"26.1.5"}],"Version":"26.1.5"}"#,
        )
        .unwrap();
        assert_eq!(version_of(&docker), None);
        let info: serde_json::Value =
            serde_json::from_str(r#"{"SecurityOptions":["name=seccomp,profile=default","name=rootless"]}"#)
                .unwrap();
        assert!(is_rootless_info(&info));
        assert_eq!(
            parse_podman_info(
                r#"{"host":{"buildahVersion":"1.28.2","security":{"rootless":true}},"version":{"Version":"4.3.1"}}"#
            ),
            Some(("4.3.1".to_owned(), true, Some("1.28.2".to_owned())))
        );
        assert_eq!(parse_podman_info("not json"), None);
        assert_eq!(crate::engine::program_name("/usr/bin/podman"), "podman");
    }

    #[test]
    fn podman_builds_the_plain_copy_render_with_the_cache_id_as_a_build_arg() {
        let p = podman(Via::Podman);
        assert_eq!(p.level(), EngineLevel::Legacy);
        assert!(!p.has_mount_namespace() && p.is_podman() && !p.is_buildkit());
        assert_eq!(p.describe(), "Podman 4.3.1 (Buildah 1.28.2, rootful, through `podman`)");
        assert_eq!(p.build_env(), None);
        assert!(p.builds_with_podman());
        let socket = podman(Via::Socket);
        assert_eq!(socket.build_env(), Some(("DOCKER_BUILDKIT", "0")));
        assert!(!socket.builds_with_podman());
        assert_eq!(docker("26.1.5").describe(), "Docker 26.1.5");
        assert!(matches!(
            podman_engine("3.4.4".into(), Via::Podman, false, None),
            Err(EngineError::PodmanTooOld(_))
        ));
    }
}
