//! Final images an option's value works on (`supported_images_by`): which value an unset option
//! takes on a given image, and the error or warning for a value the image does not suit. Pure:
//! images are compared by their references, never inspected.

use quarry_buildkit::image::Reference;

use crate::error::Error;
use crate::hint::Hinted;
use crate::model::{Extension, ImagesOfValue, OptionSpec};
use crate::rules::Rule;
use crate::text::shown;

/// Whether `image` is one of `images`: the same reference once normalised (`ubuntu:22.04` is
/// `docker.io/library/ubuntu:22.04`; a digest pins one build of that tag), or a dated tag of one
/// (`ubuntu:jammy-20240101` is `ubuntu:jammy`).
pub(crate) fn image_in(images: &[&str], image: &str) -> bool {
    let reference = Reference::parse(image);
    images.iter().any(|candidate| {
        let c = Reference::parse(candidate);
        if c.tagged() == reference.tagged() {
            return true;
        }
        match (c.tag, reference.tag) {
            (Some(want), Some(have)) => {
                c.name == reference.name && have.strip_prefix(want).is_some_and(|rest| rest.starts_with('-'))
            }
            _ => false,
        }
    })
}

/// Whether quarry can tell that `image` is not one of an option's images: an official Ubuntu or
/// Debian image of a named release (not `latest`), or an image another value of the option lists.
fn placed(entries: &[&ImagesOfValue], image: &str) -> bool {
    let reference = Reference::parse(image);
    let official = matches!(reference.name.as_str(), "docker.io/library/ubuntu" | "docker.io/library/debian")
        && reference.tag.is_some_and(|t| !matches!(t, "latest" | "rolling" | "devel"));
    official || entries.iter().any(|e| image_in(e.images, image))
}

/// The entries of `option`, in the order the metadata gives them.
fn entries<'a>(ext: &'a Extension, option: &str) -> Vec<&'a ImagesOfValue> {
    ext.supported_images_by.iter().filter(|e| e.option == option).collect()
}

/// The value an unset option takes on `image` instead of its default, when the default does not
/// suit the image: the newest value that does, the last in the order of its `one_of`, or the
/// highest version for any other rule (`ubuntu:22.04` gives Isaac Sim `4.5.0`).
pub(crate) fn default_for(ext: &Extension, spec: &OptionSpec, image: &str) -> Option<&'static str> {
    let entries = entries(ext, spec.name);
    if entries.iter().any(|e| e.value == spec.default && image_in(e.images, image)) {
        return None;
    }
    let suiting = entries.iter().filter(|e| image_in(e.images, image)).map(|e| e.value);
    match spec.rule {
        Rule::OneOf(values) => suiting.max_by_key(|v| values.iter().position(|x| x == v)),
        _ => suiting.max_by(|a, b| version_key(a).cmp(&version_key(b)).then_with(|| a.cmp(b))),
    }
}

/// `6.1.0` as `[6, 1, 0]`: the numbers of a version, for ordering releases.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect()
}

/// Checks the resolved `value` of `option` on `image`: `Ok(None)` when it suits the image (or
/// the option has no images), an error when the image is known to be another release, and a
/// warning when quarry cannot tell.
pub(crate) fn check(
    ext: &Extension,
    option: &str,
    value: &str,
    image: &str,
) -> Result<Option<Hinted>, Error> {
    let all = entries(ext, option);
    let Some(entry) = all.iter().find(|e| e.value == value) else { return Ok(None) };
    if image_in(entry.images, image) {
        return Ok(None);
    }
    let needs = entry.images.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(" or ");
    let flag = format!("{}-{}", ext.flag(), option.replace('_', "-"));
    if placed(&all, image) {
        // The values that suit the image: a `one_of` in its order, versions newest first; the
        // one suggested is the one an unset option would take.
        let mut fits: Vec<&str> = all.iter().filter(|e| image_in(e.images, image)).map(|e| e.value).collect();
        let spec = ext.option(option);
        match spec.map(|s| s.rule) {
            Some(Rule::OneOf(values)) => fits.sort_by_key(|v| values.iter().position(|x| x == v)),
            _ => fits.sort_by(|a, b| version_key(b).cmp(&version_key(a)).then_with(|| b.cmp(a))),
        }
        let suggested =
            spec.and_then(|s| default_for(ext, s, image).or(Some(s.default)).filter(|d| fits.contains(d)));
        let hint = match fits.as_slice() {
            [] => format!("render with `{}`, or an image built from it", entry.images[0]),
            fits => format!(
                "on `{image}`, choose {option} {} (`{flag} {}`); or render with `{}`",
                fits.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" or "),
                suggested.unwrap_or(fits[0]),
                entry.images[0]
            ),
        };
        return Err(Error::UnsupportedImage {
            what: format!("`{}` with {option} `{value}`", ext.name),
            needs,
            image: image.to_owned(),
            hint,
        });
    }
    Ok(Some(Hinted::new(
        format!(
            "`{}` with {option} `{value}` needs the final image {needs}; quarry cannot tell which release {} is, \
             so its steps may fail",
            ext.name,
            shown(image)
        ),
        format!(
            "build {} from `{}`, or choose another {option} with `{flag}`",
            shown(image),
            entry.images[0]
        ),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ImagesOfValue;

    static OPTIONS: &[OptionSpec] =
        &[OptionSpec::new("distro", "d", "jazzy", Rule::OneOf(&["humble", "jazzy", "kilted"]))];
    static BY: &[ImagesOfValue] = &[
        ImagesOfValue { option: "distro", value: "humble", images: &["ubuntu:22.04", "ubuntu:jammy"] },
        ImagesOfValue { option: "distro", value: "jazzy", images: &["ubuntu:24.04", "ubuntu:noble"] },
        ImagesOfValue { option: "distro", value: "kilted", images: &["ubuntu:24.04", "ubuntu:noble"] },
    ];
    static EXT: Extension = Extension {
        name: "ros",
        description: "d",
        options: OPTIONS,
        supported_images_by: BY,
        ..Extension::EMPTY
    };

    #[test]
    fn an_unset_option_follows_the_image() {
        let distro = &OPTIONS[0];
        assert_eq!(default_for(&EXT, distro, "ubuntu:22.04"), Some("humble"));
        assert_eq!(default_for(&EXT, distro, "docker.io/library/ubuntu:jammy-20240101"), Some("humble"));
        assert_eq!(default_for(&EXT, distro, "ubuntu:24.04"), None);
        assert_eq!(default_for(&EXT, distro, "my/robot:1"), None);
        // The newest that suits: the last of `one_of`, the highest version.
        let humble = OptionSpec { default: "humble", ..OPTIONS[0] };
        assert_eq!(default_for(&EXT, &humble, "ubuntu:24.04"), Some("kilted"));
        static VERSIONS: &[ImagesOfValue] = &[
            ImagesOfValue { option: "version", value: "4.10.0", images: &["ubuntu:22.04"] },
            ImagesOfValue { option: "version", value: "4.5.0", images: &["ubuntu:22.04"] },
            ImagesOfValue { option: "version", value: "6.1.0", images: &["ubuntu:24.04"] },
        ];
        let ext = Extension { supported_images_by: VERSIONS, ..EXT };
        let version = OptionSpec::new("version", "v", "6.1.0", Rule::Version);
        assert_eq!(default_for(&ext, &version, "ubuntu:22.04"), Some("4.10.0"));
    }

    #[test]
    fn a_known_other_release_is_an_error_and_an_unknown_image_a_warning() {
        assert_eq!(check(&EXT, "distro", "humble", "ubuntu:22.04"), Ok(None));
        assert_eq!(check(&EXT, "distro", "humble", "ubuntu:jammy@sha256:abc"), Ok(None));
        let err = check(&EXT, "distro", "jazzy", "ubuntu:22.04").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`ros` with distro `jazzy` needs the final image `ubuntu:24.04` or `ubuntu:noble`, but it is `ubuntu:22.04`"
        );
        assert_eq!(
            err.hint().as_deref(),
            Some(
                "on `ubuntu:22.04`, choose distro `humble` (`--ros-distro humble`); or render with `ubuntu:24.04`"
            )
        );
        let err = check(&EXT, "distro", "humble", "debian:bookworm").unwrap_err();
        assert_eq!(err.hint().as_deref(), Some("render with `ubuntu:22.04`, or an image built from it"));
        let warning = check(&EXT, "distro", "humble", "my/robot:1").unwrap().unwrap();
        assert!(warning.message.contains("cannot tell which release `my/robot:1` is"), "{warning:?}");
        assert!(check(&EXT, "distro", "humble", "ubuntu").unwrap().is_some(), "latest moves: a warning");
    }
}
