//! Whether the image of a render is already on the engine, so that a build would only find every
//! step cached: the image quarry built carries two labels, the render it was built from and the
//! ids of the images its stages start from, and an image whose labels equal this render's and
//! the engine's current base ids is the one a fully cached build would give again.
//!
//! A warm `quarry run` then costs a few image inspections (through the engine's API where it is a
//! local socket) instead of a `docker buildx build`.

use std::collections::BTreeSet;

use quarry_buildkit::hash::fnv1a;
use quarry_core::Rendered;

/// The label that names the render (Dockerfile, shipped files, platform) an image was built from.
pub const RENDER_LABEL: &str = "org.quarry.render";
/// The label that names the ids of the images the render's stages start from or copy from.
pub const BASES_LABEL: &str = "org.quarry.bases";

/// What a build's image is made of, as its labels say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The render's digest ([`RENDER_LABEL`]).
    pub render: String,
    /// The images the stages start from or copy from (normalized names), `scratch` left out.
    pub bases: BTreeSet<String>,
}

impl Inputs {
    /// The inputs of `rendered`, built for `platform`.
    pub fn of(rendered: &Rendered, platform: Option<&str>) -> Inputs {
        let mut bytes = rendered.dockerfile.as_bytes().to_vec();
        for f in &rendered.files {
            bytes.extend_from_slice(f.path.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(&f.contents);
            bytes.push(0);
        }
        bytes.extend_from_slice(platform.unwrap_or_default().as_bytes());
        let side = quarry_buildkit::explain::Side {
            text: &rendered.dockerfile,
            origin: "Dockerfile".to_owned(),
            build_args: Default::default(),
        };
        let options = quarry_buildkit::explain::Options::default();
        let bases = quarry_buildkit::explain::images(&side, &options).unwrap_or_default();
        Inputs { render: format!("{:016x}", fnv1a(&bytes)), bases }
    }

    /// `--label` arguments for the build, given the ids of the bases the engine has now: the
    /// bases label only when every base is there (else the next build checks again).
    pub fn labels(&self, docker: &str) -> Vec<String> {
        let mut out = vec!["--label".to_owned(), format!("{RENDER_LABEL}={}", self.render)];
        let ids: Option<Vec<String>> =
            self.bases.iter().map(|b| image_labels(docker, b).map(|(id, _, _)| id)).collect();
        if let Some(ids) = ids {
            out.extend(["--label".to_owned(), format!("{BASES_LABEL}={}", bases_digest(&self.bases, &ids))]);
        }
        out
    }

    /// Whether `tag` is the image of these inputs: its labels against the bases' ids now. Any
    /// doubt (an image missing, an engine error, a label absent) is `false`.
    pub fn is_built(&self, docker: &str, tag: &str) -> bool {
        let Some((_, render, digest)) = image_labels(docker, tag) else { return false };
        let ids: Option<Vec<String>> =
            self.bases.iter().map(|b| image_labels(docker, b).map(|(id, _, _)| id)).collect();
        let Some(ids) = ids else { return false };
        render == self.render && digest == bases_digest(&self.bases, &ids)
    }
}

/// An image's id and its render and bases labels (empty when it has none), when the engine has it.
fn image_labels(docker: &str, image: &str) -> Option<(String, String, String)> {
    let v = crate::engine::inspect_image(docker, image)?;
    let label = |k: &str| v["Config"]["Labels"][k].as_str().unwrap_or_default().to_owned();
    Some((v["Id"].as_str()?.to_owned(), label(RENDER_LABEL), label(BASES_LABEL)))
}

/// The two labels of `tag` (render, bases), empty when it has none or the engine has no `tag`.
pub fn labels(docker: &str, tag: &str) -> (String, String) {
    image_labels(docker, tag).map(|(_, render, bases)| (render, bases)).unwrap_or_default()
}

/// One digest of the bases' names and ids, in name order.
fn bases_digest(names: &BTreeSet<String>, ids: &[String]) -> String {
    let mut bytes = Vec::new();
    for (name, id) in names.iter().zip(ids) {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(b'=');
        bytes.extend_from_slice(id.as_bytes());
        bytes.push(b'\n');
    }
    format!("{:016x}", fnv1a(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bases_digest_follows_names_and_ids() {
        let names: BTreeSet<String> = ["docker.io/library/debian:12", "docker.io/library/ubuntu:24.04"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let a = bases_digest(&names, &["sha256:1".to_owned(), "sha256:2".to_owned()]);
        let b = bases_digest(&names, &["sha256:1".to_owned(), "sha256:3".to_owned()]);
        assert_ne!(a, b);
        assert_eq!(a, bases_digest(&names, &["sha256:1".to_owned(), "sha256:2".to_owned()]));
    }
}
