//! Which glibc an image ships, from known facts about official images, for one warning: a
//! program built on a newer glibc than the final image's may not start there ("GLIBC_2.xx not
//! found"). No IO: images this table does not know get no warning.

use quarry_buildkit::image::Reference;

use crate::hint::Hinted;

/// The glibc `(major, minor)` of `image`, when it is an official Ubuntu or Debian release this
/// table knows (`ubuntu:22.04`, `ubuntu:jammy`, `debian:bookworm-slim`, `debian:12`, ...).
pub fn glibc_of(image: &str) -> Option<(u32, u32)> {
    let reference = Reference::parse(image);
    let name = reference.name.strip_prefix("docker.io/library/")?;
    let tag = reference.tag.unwrap_or("latest");
    // `jammy-20240101`, `bookworm-slim`, `12.5-slim`: the release is the part before `-`.
    let release = tag.split('-').next().unwrap_or(tag);
    match name {
        "ubuntu" => match release {
            "20.04" | "focal" => Some((2, 31)),
            "22.04" | "jammy" => Some((2, 35)),
            "24.04" | "noble" => Some((2, 39)),
            _ => None,
        },
        "debian" => match release.split('.').next().unwrap_or(release) {
            "11" | "bullseye" => Some((2, 31)),
            "12" | "bookworm" => Some((2, 36)),
            "13" | "trixie" => Some((2, 41)),
            _ => None,
        },
        _ => None,
    }
}

/// The warning for a builder of `extension` on `builder_image` whose output goes into
/// `final_image`, when the builder's glibc is known to be newer than the final image's.
pub fn newer_builder_warning(extension: &str, builder_image: &str, final_image: &str) -> Option<Hinted> {
    let (b, f) = (glibc_of(builder_image)?, glibc_of(final_image)?);
    (b > f).then(|| {
        Hinted::new(
            format!(
                "the builder of `{extension}` runs on `{builder_image}` (glibc {}.{}), newer than the final \
                 image `{final_image}` (glibc {}.{}): what it builds may fail there with \"GLIBC_{}.{} not \
                 found\"",
                b.0, b.1, f.0, f.1, b.0, b.1
            ),
            format!(
                "build on the final image's release: `builder_base_image = \"{final_image}\"` under \
                 `[overrides.{extension}]` in quarry.toml, or `--builder-base-image {final_image}`"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_images() {
        assert_eq!(glibc_of("ubuntu:20.04"), Some((2, 31)));
        assert_eq!(glibc_of("ubuntu:jammy-20240101"), Some((2, 35)));
        assert_eq!(glibc_of("docker.io/library/ubuntu:24.04"), Some((2, 39)));
        assert_eq!(glibc_of("docker.io/ubuntu:24.04"), Some((2, 39)));
        assert_eq!(glibc_of("debian:bookworm-slim"), Some((2, 36)));
        assert_eq!(glibc_of("debian:12.5"), Some((2, 36)));
        assert_eq!(glibc_of("debian:trixie"), Some((2, 41)));
        assert_eq!(glibc_of("debian:bullseye@sha256:abc"), Some((2, 31)));
        assert_eq!(glibc_of("ubuntu"), None);
        assert_eq!(glibc_of("localhost:5000/ubuntu"), None);
        assert_eq!(glibc_of("fedora:40"), None);
    }

    #[test]
    fn only_newer_builders_warn() {
        let w = newer_builder_warning("palanteer", "ubuntu:22.04", "ubuntu:20.04").unwrap();
        let m = &w.message;
        assert!(m.contains("glibc 2.35") && m.contains("glibc 2.31") && m.contains("GLIBC_2.35"), "{m}");
        assert!(w.hint.unwrap().contains("[overrides.palanteer]"));
        assert_eq!(newer_builder_warning("x", "ubuntu:22.04", "ubuntu:24.04"), None);
        assert_eq!(newer_builder_warning("x", "ubuntu:22.04", "ubuntu:22.04"), None);
        assert_eq!(newer_builder_warning("x", "debian:trixie", "alpine:3"), None);
        assert!(newer_builder_warning("x", "debian:trixie", "debian:bookworm").is_some());
    }
}
