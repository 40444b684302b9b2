//! Rendering with the real extension catalog: snapshots are the spec of the output; the other
//! tests hold the invariants (order independence, builders independent of the final image); the
//! registry equal to the `extensions/` folder is `catalog/tests/catalog.rs`.

use std::collections::BTreeSet;
use std::path::Path;

use quarry_cli::config::EXAMPLE;
use quarry_cli::layers::request_from_text;
use quarry_core::{EngineLevel, Registry, Request, Selection, registry};

const FIVE: [&str; 5] = ["cargo", "npm", "pixi", "palanteer", "ros_jazzy"];

fn reg() -> &'static Registry {
    registry().expect("no duplicate registrations")
}

fn request(image: &str, names: &[&str]) -> Request {
    Request {
        image: image.to_owned(),
        extensions: names.iter().map(|n| Selection::new(*n)).collect(),
        ..Request::default()
    }
}

fn render(req: &Request) -> String {
    quarry_core::render(reg(), req).unwrap_or_else(|e| panic!("{e}")).dockerfile
}

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
            cache_priority: Some(99),
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

/// ROS's shell start-up sources its setup for every command (quarry's entrypoint loads it) and
/// starts `rosdep update` once, in the background, quietly.
#[test]
fn ros_start_up_sources_setup_and_updates_rosdep_once() {
    let rendered = quarry_core::render(reg(), &request("ubuntu:24.04", &["ros_jazzy"])).unwrap();
    let env = rendered.files.iter().find(|f| f.path == "quarry/_env.d/ros/ros.sh").expect("ros env file");
    let text = String::from_utf8_lossy(&env.contents);
    assert!(text.contains("source /opt/ros/jazzy/setup.bash\n"), "{text}");
    assert!(text.contains("mkdir \"$quarry_ros_home/rosdep-update.started\""), "{text}");
    assert!(
        text.contains("rosdep update --rosdistro jazzy >\"$quarry_ros_home/rosdep-update.log\" 2>&1"),
        "{text}"
    );
    assert!(text.contains("</dev/null >/dev/null 2>&1 & )"), "{text}");
    let entrypoint =
        rendered.files.iter().find(|f| f.path.ends_with("quarry-entrypoint")).expect("entrypoint");
    assert!(String::from_utf8_lossy(&entrypoint.contents).contains(". /etc/quarry/env.sh"));
    assert!(rendered.dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/quarry-entrypoint\"]"));
}

fn run_args_in(home: &str, req: &Request, host_groups: &[&str], xauthority: Option<&str>) -> Vec<String> {
    let rendered = quarry_core::render(reg(), req).unwrap();
    let options = quarry_docker::run::RunOptions {
        host_groups: host_groups.iter().map(|g| (*g).to_owned()).collect(),
        xauthority: xauthority.map(str::to_owned),
        ..quarry_docker::run::RunOptions::default()
    };
    let env = |k: &str| match k {
        "HOME" => Some(home.to_owned()),
        "XDG_RUNTIME_DIR" => Some("/run/user/1000".to_owned()),
        _ => None,
    };
    quarry_docker::run::run_args(&rendered, "img", &options, &env, &quarry_cli::ui::show).unwrap()
}

fn run_args(req: &Request, host_groups: &[&str], xauthority: Option<&str>) -> Vec<String> {
    run_args_in("/home/me", req, host_groups, xauthority)
}

/// Mounts of the host's configuration land in the image user's home: the `user` extension's
/// `home` (the host's path), else root's; each only when the host has it.
#[test]
fn config_mounts_follow_the_users_home() {
    let host = tempfile::tempdir().unwrap();
    let h = host.path().to_str().unwrap().to_owned();
    let mut req = request("ubuntu:24.04", &["gitconfig", "claude", "codex", "gemini"]);
    // The system's /etc/gitconfig is the host's own (rocker mounts it too), when there is one.
    let system = std::path::Path::new("/etc/gitconfig").exists();
    let args = run_args_in(&h, &req, &[], None).join(" ");
    assert_eq!(args.contains("--volume /etc/gitconfig:/etc/gitconfig:ro"), system, "{args}");
    assert_eq!(args.matches("--volume").count(), usize::from(system), "nothing else to mount yet: {args}");
    for dir in [".claude", ".codex", ".gemini"] {
        std::fs::create_dir(host.path().join(dir)).unwrap();
    }
    for file in [".gitconfig", ".claude.json"] {
        std::fs::write(host.path().join(file), "").unwrap();
    }
    let args = run_args_in(&h, &req, &[], None).join(" ");
    for mount in [
        format!("--volume {h}/.gitconfig:/root/.gitconfig:ro"),
        format!("--volume {h}/.claude:/root/.claude"),
        format!("--volume {h}/.claude.json:/root/.claude.json"),
        format!("--volume {h}/.codex:/root/.codex"),
        format!("--volume {h}/.gemini:/root/.gemini"),
    ] {
        assert!(args.contains(&mount), "{mount}: {args}");
    }
    req.extensions.push(Selection::new("user").with_option("home", "/home/me"));
    let args = run_args_in(&h, &req, &[], None).join(" ");
    assert!(args.contains(&format!("--volume {h}/.gitconfig:/home/me/.gitconfig:ro")), "{args}");
    assert!(args.contains(&format!("--volume {h}/.claude.json:/home/me/.claude.json")), "{args}");
}

/// The host user's supplementary groups are added when asked, and only then; pulse adds `audio`
/// and the sound devices.
#[test]
fn groups_are_added_where_asked() {
    let plain = run_args(&request("debian:bookworm", &["user"]), &["27", "44"], None);
    assert!(!plain.contains(&"--group-add".to_owned()), "{plain:?}");
    let mut req = request("debian:bookworm", &[]);
    req.extensions.push(Selection::new("user").with_option("host_groups", "true"));
    let args = run_args(&req, &["27", "44"], None).join(" ");
    assert!(args.contains("--group-add 27 --group-add 44"), "{args}");
    let args = run_args(&req, &[], None);
    assert!(!args.contains(&"--group-add".to_owned()), "{args:?}");
    let pulse = run_args(&request("debian:bookworm", &["pulse"]), &[], None).join(" ");
    // A device the host lacks is left out (with a warning), as rocker does.
    assert_eq!(pulse.contains("--device /dev/snd"), std::path::Path::new("/dev/snd").exists(), "{pulse}");
    assert!(pulse.contains("--group-add audio"), "{pulse}");
    assert!(pulse.contains("--volume /run/user/1000/pulse/native:/run/pulse/native"), "{pulse}");
}

/// x11 mounts the cookie made for the run and names it with XAUTHORITY; without a cookie it
/// passes the display alone.
#[test]
fn x11_passes_the_cookie() {
    let req = request("debian:bookworm", &["x11", "palanteer"]);
    let args = run_args(&req, &[], Some("/run/user/1000/quarry/xauth-_0")).join(" ");
    assert!(
        args.contains("--volume /run/user/1000/quarry/xauth-_0:/tmp/.quarry.xauth:ro --env XAUTHORITY=/tmp/.quarry.xauth"),
        "{args}"
    );
    assert_eq!(args.matches("XAUTHORITY").count(), 1, "{args}");
    let args = run_args(&req, &[], None).join(" ");
    assert!(!args.contains("XAUTHORITY") && args.contains("--env DISPLAY"), "{args}");
    // palanteer alone asks for no cookie.
    let args = run_args(&request("debian:bookworm", &["palanteer"]), &[], Some("/x")).join(" ");
    assert!(!args.contains("XAUTHORITY"), "{args}");
}

/// nvidia sets what the NVIDIA Container Toolkit reads in the image, and `--gpus`.
#[test]
fn nvidia_sets_the_toolkits_environment() {
    let req = request("ubuntu:24.04", &["nvidia"]);
    let out = render(&req);
    assert!(out.contains("ENV NVIDIA_VISIBLE_DEVICES=all \\\n    NVIDIA_DRIVER_CAPABILITIES=all\n"), "{out}");
    assert!(out.contains("libegl1 libgl1 libgles2 libglvnd0 libglx0"), "{out}");
    let args = run_args(&req, &[], None);
    assert!(args.contains(&"--gpus=all".to_owned()), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--runtime")), "{args:?}");
}

/// ROS's start-up (`ros.sh` of `ros_jazzy`) in a home of its own, sourced by bash as quarry's
/// entrypoint does, with `rosdep` a stand-in script of `rosdep_body`: the home, and a shell that
/// sources it and prints `done`.
fn ros_start_up(rosdep_body: &str) -> (tempfile::TempDir, impl Fn() -> std::process::Output + use<>) {
    use std::os::unix::fs::PermissionsExt;
    let rendered = quarry_core::render(reg(), &request("ubuntu:24.04", &["ros_jazzy"])).unwrap();
    let env = rendered.files.iter().find(|f| f.path == "quarry/_env.d/ros/ros.sh").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ros_jazzy.sh");
    // Without ROS installed here, `source /opt/ros/...` fails: the stand-in skips that line.
    let text = String::from_utf8_lossy(&env.contents).replace("source /opt/ros/jazzy/setup.bash", ":");
    std::fs::write(&script, text).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let rosdep = bin.join("rosdep");
    std::fs::write(&rosdep, format!("#!/bin/sh\necho \"rosdep $*\" >> \"$HOME/calls\"\n{rosdep_body}"))
        .unwrap();
    std::fs::set_permissions(&rosdep, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let home = dir.path().to_path_buf();
    let shell = move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(". {}; echo done", script.display()))
            .env("HOME", &home)
            .env("PATH", &path)
            .env_remove("ROS_HOME")
            .output()
            .unwrap()
    };
    (dir, shell)
}

/// Waits until `path` exists (within 5 s), and a little more for the process writing it.
fn settled(path: &std::path::Path) {
    for _ in 0..100 {
        if path.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
}

/// ROS's start-up with a stand-in `rosdep` that makes the database as an update does (the cache
/// index last): it prints nothing, starts one `rosdep update` in the background, and a second
/// shell (or one after the database exists) starts none.
#[test]
fn ros_start_up_runs_rosdep_update_once_and_quietly() {
    let c = "$HOME/.ros/rosdep/sources.cache";
    let (dir, shell) = ros_start_up(&format!("mkdir -p \"{c}\" && : > \"{c}/index\"\n"));
    let first = shell();
    assert_eq!(String::from_utf8_lossy(&first.stdout), "done\n");
    assert_eq!(String::from_utf8_lossy(&first.stderr), "");
    // The background update finishes soon; a shell meanwhile or after starts none.
    let second = shell();
    assert_eq!(String::from_utf8_lossy(&second.stdout), "done\n");
    let calls = dir.path().join("calls");
    settled(&calls);
    assert_eq!(shell().status.code(), Some(0));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "rosdep update --rosdistro jazzy\n");
    assert!(dir.path().join(".ros/rosdep-update.started").is_dir());
}

/// A failed update leaves what rosdep's does without a network (the cache folder with the
/// sources it could read, no index): the next shell starts the update again.
#[test]
fn ros_start_up_tries_a_failed_rosdep_update_again() {
    let (dir, shell) = ros_start_up("mkdir -p \"$HOME/.ros/rosdep/sources.cache\"\nexit 1\n");
    let calls = dir.path().join("calls");
    assert_eq!(String::from_utf8_lossy(&shell().stdout), "done\n");
    settled(&calls);
    assert!(!dir.path().join(".ros/rosdep-update.started").exists());
    assert_eq!(String::from_utf8_lossy(&shell().stdout), "done\n");
    for _ in 0..100 {
        if std::fs::read_to_string(&calls).unwrap().lines().count() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "rosdep update --rosdistro jazzy\nrosdep update --rosdistro jazzy\n"
    );
}

/// Every extension's `ENV` reaches a shell that did not inherit it: its `<name>.env`, sourced by
/// a real `sh` whose environment holds only the `PATH` a login shell's `/etc/profile` sets,
/// gives every variable the value Docker's `ENV` gives it on that `PATH`, in the Dockerfile's
/// order (BuildKit's expansion, `quarry_buildkit::dockerfile::expand`). Sourced again on top of
/// that (the entrypoint of `docker exec`), nothing changes.
#[test]
fn every_extensions_env_reaches_login_shells() {
    let names: Vec<&str> =
        reg().iter().filter(|e| e.options.iter().all(|o| !o.required)).map(|e| e.name).collect();
    let pieces = quarry_core::pieces(reg(), &request("ubuntu:24.04", &names)).unwrap();
    let login_path = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
    let mut checked = 0;
    for e in pieces.extensions.iter().filter(|e| !e.env.is_empty()) {
        // What Docker's ENV gives, entry by entry.
        let mut docker: std::collections::BTreeMap<String, String> =
            [("PATH".to_owned(), login_path.to_owned())].into_iter().collect();
        for entry in &e.env {
            let (name, value) = entry.split_once('=').unwrap();
            let value = quarry_buildkit::dockerfile::expand(value, &|n| docker.get(n).cloned());
            docker.insert(name.to_owned(), value);
        }
        let dir = e.shell_dir.as_ref().unwrap_or_else(|| panic!("{}: no shell environment", e.name));
        let path = format!("{dir}/{}.env", e.name);
        let file = pieces.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path}"));
        let script = String::from_utf8(file.contents.to_vec()).unwrap();
        let shown: Vec<&String> = docker.keys().collect();
        let show: String = shown.iter().map(|n| format!("printf '%s=%s\\n' {n} \"${n}\"\n")).collect();
        let shell = |twice: bool| {
            let again = if twice { script.as_str() } else { "" };
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{script}\n{again}\n{show}"))
                .env_clear()
                .env("PATH", login_path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}: {}", e.name, String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let expected: String = docker.iter().map(|(n, v)| format!("{n}={v}\n")).collect();
        assert_eq!(shell(false), expected, "{}: {script}", e.name);
        assert_eq!(shell(true), expected, "{}: sourced twice", e.name);
        checked += 1;
    }
    let with_env = reg().iter().filter(|e| !e.env.is_empty() && names.contains(&e.name)).count();
    assert!(checked == with_env && checked >= 14, "{checked} of {with_env} extensions that set ENV checked");
}
