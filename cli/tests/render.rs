//! Rendering with the real extension catalog: snapshots are the spec of the output; the other
//! tests hold the invariants (order independence, builders independent of the final image); the
//! registry equal to the `extensions/` folder is `catalog/tests/catalog.rs`, and the images' run
//! time (`docker run` arguments, shell start-up) `render_runtime.rs`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{reg, render, request};
use quarry_cli::config::EXAMPLE;
use quarry_cli::layers::request_from_text;
use quarry_core::{EngineLevel, Registry, Request, Selection};

const FIVE: [&str; 5] = ["cargo", "npm", "pixi", "palanteer", "ros_jazzy"];

#[test]
fn extension_flags_do_not_collide() {
    let flags = quarry_cli::args::extension_flags(reg()).unwrap();
    assert!(flags.iter().any(|f| f.long == "ros-jazzy"));
    assert!(flags.iter().any(|f| f.long == "cargo-version" && f.option == Some("version")));
}

#[test]
fn every_dependency_is_registered() {
    for ext in reg().iter() {
        for dep in ext.depends_on {
            assert!(reg().get(dep).is_some(), "`{}` depends on unknown `{dep}`", ext.name);
        }
    }
}

/// A valid value for a required option, by rule.
fn sample(rule: quarry_core::Rule) -> &'static str {
    match rule {
        quarry_core::Rule::Port => "8080:80",
        quarry_core::Rule::Uint => "1",
        quarry_core::Rule::Size => "1g",
        quarry_core::Rule::Decimal => "1.5",
        quarry_core::Rule::AbsPath => "/data",
        _ => "sample",
    }
}

#[test]
fn each_extension_alone() {
    for ext in reg().iter() {
        let mut req = request("ubuntu:24.04", &[ext.name]);
        for option in ext.options.iter().filter(|o| o.required) {
            req.extensions[0].options.insert(option.name.to_owned(), sample(option.rule).to_owned());
        }
        let out = render(&req);
        insta::assert_snapshot!(format!("alone_{}", ext.name), out);
    }
}

#[test]
fn the_five_together() {
    let mut names = FIVE.to_vec();
    names.push("user");
    insta::assert_snapshot!("five_and_user", render(&request("ubuntu:24.04", &names)));
}

#[test]
fn the_example_configuration() {
    let example = request_from_text(reg(), EXAMPLE, Path::new("example.quarry.toml")).unwrap();
    let out = render(&example);
    assert_eq!(
        out,
        render(&{
            let mut n = FIVE.to_vec();
            n.push("user");
            let mut r = request("ubuntu:24.04", &n);
            r.extensions
                .iter_mut()
                .find(|s| s.name == "cargo")
                .unwrap()
                .options
                .insert("version".into(), "1.95.0".into());
            r.extensions
                .iter_mut()
                .find(|s| s.name == "ros_jazzy")
                .unwrap()
                .options
                .insert("variant".into(), "ros-base".into());
            r
        })
    );
}

#[test]
fn legacy_engine_has_no_linked_copies() {
    let mut req = request("ubuntu:24.04", &FIVE);
    req.engine = EngineLevel::Legacy;
    let out = render(&req);
    assert!(!out.contains("--link"));
    assert_eq!(out.replace("COPY ", "COPY --link "), render(&request("ubuntu:24.04", &FIVE)));
}

/// Every permutation of six extensions (720) renders the same bytes.
#[test]
fn output_does_not_depend_on_the_order_given() {
    let mut names: Vec<&str> = FIVE.to_vec();
    names.push("user");
    let expected = render(&request("ubuntu:24.04", &names));
    let mut count = 0;
    permute(&mut names, 0, &mut |p| {
        count += 1;
        assert_eq!(render(&request("ubuntu:24.04", p)), expected, "order {p:?}");
    });
    assert_eq!(count, 720);
}

fn permute<'a>(items: &mut Vec<&'a str>, k: usize, f: &mut impl FnMut(&[&'a str])) {
    if k == items.len() {
        f(items);
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permute(items, k + 1, f);
        items.swap(k, i);
    }
}

/// The registry sorts what `inventory` yields: any link order gives the same output.
#[test]
fn output_does_not_depend_on_link_order() {
    let names: Vec<&str> = FIVE.to_vec();
    let expected = render(&request("ubuntu:24.04", &names));
    let mut linked: Vec<&'static quarry_core::Extension> = quarry_catalog::LINKED.to_vec();
    for rotation in 0..linked.len() {
        linked.rotate_left(1);
        let mut shuffled = linked.clone();
        if rotation % 2 == 1 {
            shuffled.reverse();
        }
        let other = Registry::from_extensions(shuffled).unwrap();
        assert_eq!(
            quarry_core::render(&other, &request("ubuntu:24.04", &names)).unwrap().dockerfile,
            expected
        );
    }
}

/// Everything before the final stage: the builder stages.
fn builder_part(dockerfile: &str) -> &str {
    let at = dockerfile.find("\nFROM ").expect("has stages");
    let end = dockerfile.find(" AS quarry_final\n").expect("has a final stage");
    let end = dockerfile[..end].rfind("\nFROM ").unwrap();
    &dockerfile[at..end]
}

#[test]
fn changing_the_final_image_changes_no_builder_line() {
    let base = render(&request("ubuntu:24.04", &FIVE));
    assert!(builder_part(&base).contains("AS palanteer_builder"));
    for image in ["debian:trixie", "ubuntu:22.04", "registry.example.com/team/dev:1"] {
        // ROS Jazzy is for Ubuntu 24.04 only (an error elsewhere); it has no builder.
        let names: Vec<&str> = FIVE.iter().copied().filter(|n| *n != "ros_jazzy").collect();
        let other = render(&request(image, &names));
        assert_eq!(builder_part(&other), builder_part(&base), "final image {image}");
        assert_ne!(other, base);
    }
}

#[test]
fn builder_base_overrides() {
    let mut req = request("ubuntu:24.04", &["cargo", "npm"]);
    req.builder_base_image = Some("debian:bookworm".to_owned());
    let out = render(&req);
    assert!(out.contains("FROM debian:bookworm AS cargo_builder\n"));
    assert!(out.contains("FROM debian:bookworm AS npm_builder\n"));
    assert!(!out.contains("ubuntu:22.04"));
    req.overrides.insert(
        "npm".to_owned(),
        quarry_core::Override {
            builder_base_image: Some("debian:trixie".to_owned()),
            cache_priority: Some(quarry_core::CachePriority::of(99)),
        },
    );
    let out = render(&req);
    assert!(out.contains("FROM debian:trixie AS npm_builder\n"));
    assert!(out.contains("FROM debian:bookworm AS cargo_builder\n"));
    // npm (99 now) outranks cargo (60): its copies and environment come first.
    let npm_env = out.find("# npm: environment").unwrap();
    let cargo_env = out.find("# cargo: environment").unwrap();
    assert!(npm_env < cargo_env);
}

/// The ROS 2 distributions in support, each on the Ubuntu releases its packages exist for (REP
/// 2000), as `extension.toml` keeps them: every spelling of each release renders without a
/// warning, by `--ros-distro`, by the alias and, unset, by the image alone.
const ROS_RELEASES: &[(&str, &[&str])] = &[
    ("humble", &["ubuntu:22.04", "ubuntu:jammy", "docker.io/library/ubuntu:jammy-20240911"]),
    ("jazzy", &["ubuntu:24.04", "ubuntu:noble"]),
    ("kilted", &["ubuntu:24.04", "ubuntu:noble"]),
    ("rolling", &["ubuntu:24.04", "ubuntu:noble"]),
];

#[test]
fn each_ros_distribution_renders_on_each_of_its_ubuntu_releases() {
    for (distro, images) in ROS_RELEASES {
        for image in *images {
            let by_option = Request {
                extensions: vec![Selection::new("ros").with_option("distro", *distro)],
                ..request(image, &[])
            };
            let by_alias = request(image, &[&format!("ros_{distro}")]);
            for req in [by_option, by_alias] {
                let rendered =
                    quarry_core::render(reg(), &req).unwrap_or_else(|e| panic!("{distro} on {image}: {e}"));
                assert!(rendered.warnings.is_empty(), "{distro} on {image}: {:?}", rendered.warnings);
                let out = &rendered.dockerfile;
                assert!(out.contains(&format!("ros-dev-tools ros-{distro}-ros-base\n")), "{out}");
                assert!(out.contains(&format!("ENV ROS_DISTRO={distro}")), "{out}");
            }
        }
        insta::assert_snapshot!(
            format!("ros_{distro}"),
            render(&request(images[0], &[&format!("ros_{distro}")]))
        );
    }
    // Unset, the distribution is the image's: Humble on 22.04, the default Jazzy on 24.04.
    for (image, distro) in [("ubuntu:22.04", "humble"), ("ubuntu:jammy", "humble"), ("ubuntu:24.04", "jazzy")]
    {
        let rendered = quarry_core::render(reg(), &request(image, &["ros"])).unwrap();
        assert!(rendered.dockerfile.contains(&format!("ENV ROS_DISTRO={distro}")), "{image}");
        let ros = rendered.resolved.extensions.iter().find(|r| r.extension.name == "ros").unwrap();
        assert_eq!(ros.options["distro"], distro, "{image}");
    }
}

#[test]
fn a_ros_distribution_on_the_wrong_release_is_an_error_naming_what_works() {
    let err = |image: &str, names: &[&str]| {
        quarry_core::render(reg(), &request(image, names))
            .err()
            .unwrap_or_else(|| panic!("{names:?} on {image} renders"))
    };
    let e = err("ubuntu:22.04", &["ros_jazzy"]);
    assert_eq!(
        e.to_string(),
        "`ros` with distro `jazzy` needs the final image `ubuntu:24.04` or `ubuntu:noble`, but it is `ubuntu:22.04`"
    );
    assert_eq!(
        e.hint().as_deref(),
        Some(
            "on `ubuntu:22.04`, choose distro `humble` (`--ros-distro humble`); or render with `ubuntu:24.04`"
        )
    );
    let e = err("ubuntu:noble", &["ros_humble"]);
    assert!(e.to_string().contains("needs the final image `ubuntu:22.04` or `ubuntu:jammy`"), "{e}");
    assert_eq!(
        e.hint().as_deref(),
        Some(
            "on `ubuntu:noble`, choose distro `jazzy` or `kilted` or `rolling` (`--ros-distro jazzy`); or render with `ubuntu:22.04`"
        )
    );
    // Another distribution of Linux: no distribution works there.
    let e = err("debian:bookworm", &["ros"]);
    assert!(e.to_string().starts_with("`ros` with distro `jazzy` needs the final image"), "{e}");
    assert_eq!(e.hint().as_deref(), Some("render with `ubuntu:24.04`, or an image built from it"));
    // An image quarry cannot place renders, with a warning: it may be built from the right one.
    let rendered =
        quarry_core::render(reg(), &request("registry.example.com/robot/base:3", &["ros_humble"])).unwrap();
    assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
    assert!(rendered.warnings[0].message.contains("cannot tell which release"), "{:?}", rendered.warnings);
    // The alias and a contradicting option.
    let mut req = request("ubuntu:24.04", &["ros_jazzy"]);
    req.extensions[0].options.insert("distro".into(), "humble".into());
    let e = quarry_core::render(reg(), &req).unwrap_err();
    assert_eq!(e.to_string(), "`ros_jazzy` is `ros` with distro `jazzy`, but distro `humble` is given too");
}

#[test]
fn the_ros_key_is_pinned_and_a_mirror_is_an_option() {
    let out = render(&request("ubuntu:24.04", &["ros"]));
    assert!(
        out.contains(
            "curl -fsSL https://raw.githubusercontent.com/ros/rosdistro/master/ros.key -o /etc/apt/keyrings/ros-ros2.asc"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "signed-by=/etc/apt/keyrings/ros-ros2.asc,C1CF6E31E6BADE8868B172B4F42ED6FBAB17C654] \
             http://packages.ros.org/ros2/ubuntu $(. /etc/os-release && echo $VERSION_CODENAME) main"
        ),
        "{out}"
    );
    let mirror = Selection::new("ros")
        .with_option("mirror", "http://apt.example.com/ros2/ubuntu")
        .with_option("key_url", "http://apt.example.com/keys/ros.asc")
        .with_option("key_fingerprint", "0123456789abcdef0123456789abcdef01234567");
    let out = render(&Request { extensions: vec![mirror], ..request("ubuntu:24.04", &[]) });
    assert!(out.contains("curl -fsSL http://apt.example.com/keys/ros.asc -o"), "{out}");
    assert!(
        out.contains(
            "signed-by=/etc/apt/keyrings/ros-ros2.asc,0123456789ABCDEF0123456789ABCDEF01234567] http://apt.example.com/ros2/ubuntu "
        ),
        "{out}"
    );
    let bad = Selection::new("ros").with_option("mirror", "http://x/$(id)");
    let e = quarry_core::render(reg(), &Request { extensions: vec![bad], ..request("ubuntu:24.04", &[]) })
        .unwrap_err();
    assert!(e.to_string().starts_with("invalid value \"http://x/$(id)\" for option `mirror`"), "{e}");
}

#[test]
fn rmw_installs_the_images_ros_middleware_and_sets_it() {
    for (implementation, package) in
        [("cyclonedds", "rmw-cyclonedds-cpp"), ("fastrtps", "rmw-fastrtps-cpp"), ("zenoh", "rmw-zenoh-cpp")]
    {
        let req = Request {
            extensions: vec![
                Selection::new("ros"),
                Selection::new("rmw").with_option("implementation", implementation),
            ],
            ..request("ubuntu:24.04", &[])
        };
        let out = render(&req);
        assert!(out.contains(&format!("\"ros-$distro-{package}\"")), "{out}");
        assert!(out.contains(&format!("ENV RMW_IMPLEMENTATION=rmw_{implementation}_cpp")), "{out}");
        // After ROS's own apt layer in the chain.
        assert!(out.find("# ros: apt packages").unwrap() < out.find("# rmw: setup").unwrap(), "{out}");
    }
    // On a ROS image, without quarry's `ros`: the image's ROS_DISTRO names the packages.
    let out = render(&request("osrf/ros:humble-desktop", &["rmw"]));
    assert!(out.contains("distro=\"${ROS_DISTRO:-}\""), "{out}");
    assert!(!out.contains("# ros:"), "{out}");
}

#[test]
fn cuda_comes_from_nvidias_repository_for_the_images_release_with_the_key_pinned() {
    let out = render(&request("ubuntu:22.04", &["cuda"]));
    assert!(
        out.contains("amd64) echo \"deb [signed-by=/etc/apt/keyrings/cuda-cuda.asc,EB693B3035CD5710E231E123A4B469963BF863CC] https://developer.download.nvidia.com/compute/cuda/repos/$(. /etc/os-release && echo $ID$VERSION_ID | tr -d .)/x86_64/ /\""),
        "{out}"
    );
    assert!(out.contains("arm64) echo \"deb [signed-by="), "{out}");
    assert!(out.contains("/sbsa/ /\" > /etc/apt/sources.list.d/cuda-cuda.list ;;"), "{out}");
    assert!(out.contains("      cuda-toolkit-12-8\n"), "{out}");
    assert!(out.contains("NVIDIA_REQUIRE_CUDA=cuda>=12.8"), "{out}");
    let mirror = Selection::new("cuda")
        .with_option("version", "12.6")
        .with_option("mirror", "http://mirror.example.com/cuda");
    let out = render(&Request { extensions: vec![mirror], ..request("ubuntu:24.04", &[]) });
    assert!(out.contains("http://mirror.example.com/cuda/$(. /etc/os-release"), "{out}");
    assert!(out.contains("      cuda-toolkit-12-6\n"), "{out}");
    let bad = Selection::new("cuda").with_option("version", "12.x");
    let e = quarry_core::render(reg(), &Request { extensions: vec![bad], ..request("ubuntu:24.04", &[]) })
        .unwrap_err();
    assert!(
        e.to_string().starts_with("invalid value \"12.x\" for option `version` of extension `cuda`"),
        "{e}"
    );
}

#[test]
fn isaac_sim_versions_follow_their_ubuntu_release() {
    let version = |image: &str, given: Option<&str>| -> Result<String, quarry_core::Error> {
        let mut s = Selection::new("isaac_sim");
        if let Some(v) = given {
            s = s.with_option("version", v);
        }
        let rendered = quarry_core::render(reg(), &Request { extensions: vec![s], ..request(image, &[]) })?;
        let r = rendered.resolved.extensions.iter().find(|r| r.extension.name == "isaac_sim").unwrap();
        assert!(
            rendered.dockerfile.contains(&format!("\"isaacsim[all,extscache]=={}\"", r.options["version"]))
        );
        Ok(r.options["version"].clone())
    };
    // deps_rocker's 4.5.0 on 22.04 (Python 3.10), 6.x on 24.04 (Python 3.12).
    assert_eq!(version("ubuntu:22.04", None).unwrap(), "4.5.0");
    assert_eq!(version("ubuntu:24.04", None).unwrap(), "6.1.0");
    assert_eq!(version("ubuntu:22.04", Some("4.2.0")).unwrap(), "4.2.0");
    let e = version("ubuntu:22.04", Some("6.1.0")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`isaac_sim` with version `6.1.0` needs the final image `ubuntu:24.04` or `ubuntu:noble`, but it is `ubuntu:22.04`"
    );
    assert!(
        e.hint().unwrap().starts_with("on `ubuntu:22.04`, choose version `4.5.0` or `4.2.0`"),
        "{:?}",
        e.hint()
    );
    let e = version("ubuntu:24.04", Some("4.5.0")).unwrap_err();
    assert!(e.hint().unwrap().contains("`6.2.0` or `6.1.0` or `6.0.0`"), "{:?}", e.hint());
}

#[test]
fn vulkan_with_nvidia_has_nvidias_icd() {
    let out = render(&request("ubuntu:24.04", &["vulkan", "nvidia"]));
    assert!(out.contains("libvulkan1 mesa-vulkan-drivers vulkan-tools"), "{out}");
    assert!(
        out.contains("COPY --link quarry/nvidia/files/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json"),
        "{out}"
    );
    let alone = quarry_core::render(reg(), &request("ubuntu:24.04", &["vulkan"])).unwrap();
    assert!(!alone.dockerfile.contains("nvidia_icd.json"));
    let icd = quarry_core::render(reg(), &request("ubuntu:24.04", &["nvidia"]))
        .unwrap()
        .files
        .into_iter()
        .find(|f| f.path == "quarry/nvidia/files/nvidia_icd.json")
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&icd.contents).unwrap();
    assert_eq!(json["ICD"]["library_path"], "libGLX_nvidia.so.0");
}

#[test]
fn no_syntax_directive_and_one_cache_arg_per_stage() {
    let out = render(&request("ubuntu:24.04", &FIVE));
    assert!(!out.to_lowercase().contains("# syntax"));
    for stage in out.split("\nFROM ").skip(1) {
        let uses = stage.contains("${CACHE_ID}");
        let declared = stage.matches("\nARG CACHE_ID\n").count();
        assert_eq!(declared, usize::from(uses), "stage {}", stage.lines().next().unwrap());
        if uses {
            // Declared as late as possible: the very next instruction uses it.
            let arg = stage.find("\nARG CACHE_ID\n").unwrap();
            let next = &stage[arg + "\nARG CACHE_ID\n".len()..];
            assert!(next.lines().next().unwrap().contains("${CACHE_ID}"), "{next}");
        }
    }
    for id in out.match_indices("id=").map(|(i, _)| &out[i..]) {
        let id = id.split([',', ' ']).next().unwrap();
        assert!(id.ends_with("-${CACHE_ID}"), "{id}");
    }
}

/// The full command, with every generated flag, passes clap's own consistency checks.
#[test]
fn generated_command_is_consistent() {
    quarry_cli::args::command(reg()).unwrap().debug_assert();
}

/// Every extension that needs no option value, together: the same bytes in any order.
#[test]
fn the_whole_catalog_renders_deterministically() {
    let names: Vec<&str> =
        reg().iter().filter(|e| e.options.iter().all(|o| !o.required)).map(|e| e.name).collect();
    assert!(names.len() >= 25, "{names:?}");
    let expected = render(&request("ubuntu:24.04", &names));
    let mut shuffled = names.clone();
    // A fixed sequence of rotations and reversals: deterministic, yet every position moves.
    for round in 0..12 {
        shuffled.rotate_left(round * 7 % names.len() + 1);
        if round % 3 == 0 {
            shuffled.reverse();
        }
        assert_eq!(render(&request("ubuntu:24.04", &shuffled)), expected, "order {shuffled:?}");
    }
    insta::assert_snapshot!("whole_catalog", expected);
}

/// Builder bases whose names differ only in punctuation (`ubuntu:22.04`, `ubuntu_22.04`) no longer
/// meet in one stage name: each builder starts from its own image, under its own stage.
#[test]
fn builder_bases_never_share_a_stage_name() {
    let mut req = request("ubuntu:24.04", &["cargo", "npm"]);
    for (name, image) in [("cargo", "ubuntu:22.04"), ("npm", "ubuntu_22.04")] {
        req.overrides.insert(
            name.to_owned(),
            quarry_core::Override { builder_base_image: Some(image.to_owned()), cache_priority: None },
        );
    }
    let out = render(&req);
    assert!(out.contains("FROM ubuntu:22.04 AS cargo_builder\n"), "{out}");
    assert!(out.contains("FROM ubuntu_22.04 AS npm_builder\n"), "{out}");
    let stages: Vec<&str> = out.lines().filter_map(|l| l.split(" AS ").nth(1)).collect();
    let unique: BTreeSet<&str> = stages.iter().copied().collect();
    assert_eq!(stages.len(), unique.len(), "stage names are unique: {stages:?}");
}

/// A builder on a newer release than the final image is flagged, with the glibc of each; one on
/// an older or equal release, or an unknown image, is not.
#[test]
fn a_builder_newer_than_the_final_image_is_flagged() {
    let rendered = quarry_core::render(reg(), &request("ubuntu:20.04", &["palanteer"])).unwrap();
    assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
    let w = &rendered.warnings[0];
    assert!(
        w.message.starts_with(
            "the builder of `palanteer` runs on `ubuntu:22.04` (glibc 2.35), newer than the final image `ubuntu:20.04` (glibc 2.31)"
        ),
        "{w}"
    );
    assert!(w.hint.is_some(), "{w}");
    for image in ["ubuntu:22.04", "ubuntu:24.04", "debian:bookworm", "debian:trixie", "example.org/base:1"] {
        let ok = quarry_core::render(reg(), &request(image, &["palanteer"])).unwrap();
        assert!(ok.warnings.is_empty(), "{image}: {:?}", ok.warnings);
    }
    let mut older = request("debian:bullseye", &["palanteer"]);
    older.builder_base_image = Some("debian:bookworm".to_owned());
    let rendered = quarry_core::render(reg(), &older).unwrap();
    assert!(
        rendered.warnings[0]
            .message
            .contains("(glibc 2.36), newer than the final image `debian:bullseye` (glibc 2.31)")
    );
}

/// `user`'s uid may not be root's or nobody's: the render fails, saying why, before any shell.
#[test]
fn the_user_cannot_take_roots_or_nobodys_uid() {
    for uid in ["0", "65534"] {
        let mut req = request("debian:bookworm", &[]);
        req.extensions.push(Selection::new("user").with_option("uid", uid));
        let err = quarry_core::render(reg(), &req).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("invalid value \"{uid}\" for option `uid` of extension `user`")),
            "{err}"
        );
        assert!(
            err.hint()
                .unwrap()
                .starts_with("expected the id of a new account, from 1 to 4294967294: not 0 or 65534"),
            "{err}"
        );
    }
    // From the host, such a uid is not taken, and then none of the host's values are: the
    // defaults stay together (no `nobody` with uid 1000), with a warning.
    let mut req = request("debian:bookworm", &["user"]);
    req.host.uid = Some("65534".to_owned());
    req.host.user = Some("nobody".to_owned());
    req.host.home = Some("/srv/home/me".to_owned());
    let rendered = quarry_core::render(reg(), &req).unwrap();
    let out = &rendered.dockerfile;
    assert!(out.contains("useradd --no-log-init --uid 1000 --gid 1000 --home-dir /home/quarry"), "{out}");
    assert!(out.contains("\nUSER quarry\n") && !out.contains("nobody"), "{out}");
    assert!(
        rendered
            .warnings
            .iter()
            .any(|w| w.message.contains("the host's uid `65534` cannot be used for `user`")),
        "{:?}",
        rendered.warnings
    );
    // A usable host user: every value is the host's.
    req.host.uid = Some("4242".to_owned());
    req.host.user = Some("me".to_owned());
    let out = render(&req);
    assert!(out.contains("useradd --no-log-init --uid 4242 --gid 1000 --home-dir /srv/home/me"), "{out}");
    assert!(out.contains("mkdir -p \"$(dirname /srv/home/me)\""), "{out}");
    assert!(out.contains("\nWORKDIR /srv/home/me\n"), "{out}");
}

/// Passwordless sudo is the default and an option; sudo itself comes from the apt layer.
#[test]
fn the_users_sudo_is_an_option() {
    let with = render(&request("debian:bookworm", &["user"]));
    assert!(with.contains("echo 'quarry ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/quarry-user"), "{with}");
    let mut req = request("debian:bookworm", &[]);
    req.extensions.push(Selection::new("user").with_option("sudo", "false"));
    let without = render(&req);
    assert!(!without.contains("sudoers"), "{without}");
    assert!(without.contains("install -y --no-install-recommends \\\n      sudo\n"), "{without}");
}
