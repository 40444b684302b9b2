//! Image references as the engine reads them: the one normaliser of the workspace.
//!
//! `debian`, `library/debian`, `docker.io/debian` and `index.docker.io/library/debian:latest`
//! all name `docker.io/library/debian:latest`. A name whose first component has a `.` or a `:`,
//! or is `localhost`, starts with a registry; any other name is on Docker Hub, and a one-component
//! Docker Hub name is an official image under `library/`.

use std::fmt;

/// An image reference, split and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    /// Registry and repository: `docker.io/library/debian`, `localhost:5000/tools`.
    pub name: String,
    /// The tag as written, if any.
    pub tag: Option<&'a str>,
    /// The digest as written (`sha256:...`), if any.
    pub digest: Option<&'a str>,
}

impl<'a> Reference<'a> {
    /// Splits and normalises `image`. Any text is accepted: what the engine would refuse is not
    /// this function's to judge.
    pub fn parse(image: &'a str) -> Reference<'a> {
        let (rest, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (image, None),
        };
        let last = rest.rsplit('/').next().unwrap_or(rest);
        let (repo, tag) = match last.rsplit_once(':') {
            Some((_, t)) => (&rest[..rest.len() - t.len() - 1], Some(t)),
            None => (rest, None),
        };
        let name = match repo.split_once('/') {
            Some(("docker.io" | "index.docker.io", path)) => hub(path),
            Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                repo.to_owned()
            }
            _ => hub(repo),
        };
        Reference { name, tag, digest }
    }

    /// The name and tag, without the digest: what a tag names (`latest` when none is written).
    pub fn tagged(&self) -> String {
        format!("{}:{}", self.name, self.tag.unwrap_or("latest"))
    }
}

/// A Docker Hub repository path: official images are under `library/`.
fn hub(path: &str) -> String {
    if path.contains('/') { format!("docker.io/{path}") } else { format!("docker.io/library/{path}") }
}

impl fmt::Display for Reference<'_> {
    /// The full reference; a digest without a tag gets no default tag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.tag, self.digest) {
            (Some(t), Some(d)) => write!(f, "{}:{t}@{d}", self.name),
            (Some(t), None) => write!(f, "{}:{t}", self.name),
            (None, Some(d)) => write!(f, "{}@{d}", self.name),
            (None, None) => write!(f, "{}:latest", self.name),
        }
    }
}

/// `debian` -> `docker.io/library/debian:latest`; a digest keeps no default tag; `scratch`
/// (no image at all) stays `scratch`.
pub fn normalize(image: &str) -> String {
    if image == "scratch" {
        return image.to_owned();
    }
    Reference::parse(image).to_string()
}

/// A normalised name as people write it, for messages: `docker.io/library/debian:12` ->
/// `debian:12`, `docker.io/me/tool:1` -> `me/tool:1`.
pub fn short(image: &str) -> &str {
    image.strip_prefix("docker.io/library/").or_else(|| image.strip_prefix("docker.io/")).unwrap_or(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_as_the_engine_does() {
        let cases = [
            ("debian", "docker.io/library/debian:latest"),
            ("debian:12", "docker.io/library/debian:12"),
            ("library/debian:12", "docker.io/library/debian:12"),
            ("docker.io/debian:12", "docker.io/library/debian:12"),
            ("docker.io/library/debian:12", "docker.io/library/debian:12"),
            ("index.docker.io/library/debian", "docker.io/library/debian:latest"),
            ("me/tool", "docker.io/me/tool:latest"),
            ("docker.io/me/tool:1", "docker.io/me/tool:1"),
            ("localhost/tool", "localhost/tool:latest"),
            ("localhost:5000/tool", "localhost:5000/tool:latest"),
            ("localhost:5000/tool:2", "localhost:5000/tool:2"),
            ("ghcr.io/org/tool:2", "ghcr.io/org/tool:2"),
            ("debian@sha256:abc", "docker.io/library/debian@sha256:abc"),
            ("debian:12@sha256:abc", "docker.io/library/debian:12@sha256:abc"),
            ("scratch", "scratch"),
        ];
        for (image, want) in cases {
            assert_eq!(normalize(image), want, "{image}");
        }
    }

    #[test]
    fn tagged_drops_the_digest_and_defaults_the_tag() {
        assert_eq!(Reference::parse("ubuntu:24.04@sha256:abc").tagged(), "docker.io/library/ubuntu:24.04");
        assert_eq!(Reference::parse("docker.io/ubuntu").tagged(), "docker.io/library/ubuntu:latest");
        assert_eq!(Reference::parse("localhost:5000/x").tagged(), "localhost:5000/x:latest");
    }

    #[test]
    fn short_names_drop_docker_hub() {
        assert_eq!(short("docker.io/library/debian:12"), "debian:12");
        assert_eq!(short("docker.io/me/tool:1"), "me/tool:1");
        assert_eq!(short("ghcr.io/org/tool:2"), "ghcr.io/org/tool:2");
        assert_eq!(short(&normalize("debian")), "debian:latest");
    }
}
