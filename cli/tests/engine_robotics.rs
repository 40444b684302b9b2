//! The robotics catalog on the real engine, with the ROS 2 and CUDA apt repositories simulated by
//! local ones, as a company's mirrors are: the test makes a signing key with gpg, small `.deb`
//! packages with dpkg-deb (`ros-humble-ros-base` with a `ros2` that prints what it sees,
//! `ros-dev-tools` bringing Debian's rosdep, an RMW package, `cuda-toolkit-12-8` with an `nvcc`),
//! a signed `InRelease` for each, a rosdistro index and rosdep rules, and serves them over HTTP;
//! quarry.toml points `ros`, `cuda` and `ros_workspace` at them through their mirror options.
//! The base image is `debian:bookworm` under a name of the test's own (a company's base image):
//! there is no Ubuntu image here, and a name quarry cannot place gets a warning, not an error.
//!
//! It checks the environment in the four ways a user meets it (`docker run IMAGE ros2`, `bash -l`,
//! `bash -i`, and an exec session through quarry's entrypoint), rosdep's first update per user,
//! that the pinned key is enforced (another fingerprint fails the build), and ros_workspace's
//! cache key: a source file edited re-runs nothing, a package.xml edited re-runs the rosdep step
//! alone.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestEngine, scratch, stderr, stdout, token};
use quarry_docker::progress::progress_steps;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn sh(dir: &Path, script: &str, env: &[(&str, &Path)]) -> String {
    let mut c = Command::new("sh");
    c.arg("-ec").arg(script).current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("sh runs");
    assert!(out.status.success(), "{script}\n{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// A signing key made in `home` (a GNUPGHOME of the test's own): its fingerprint.
fn make_key(home: &Path, name: &str) -> String {
    std::fs::create_dir_all(home).unwrap();
    let env = [("GNUPGHOME", home)];
    sh(
        home,
        &format!(
            "chmod 700 .; gpg --batch --passphrase '' --quick-gen-key '{name} <{name}@example.invalid>' rsa2048 sign never"
        ),
        &env,
    );
    let listing = sh(home, "gpg --batch --with-colons --list-keys", &env);
    listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .expect("a fingerprint")
        .to_owned()
}

/// A package `name` (architecture all) holding `files` (path in the image, contents, mode) and
/// `links` (path, target).
fn deb(pool: &Path, name: &str, depends: &str, files: &[(&str, &str, u32)], links: &[(&str, &str)]) {
    use std::os::unix::fs::PermissionsExt;
    let root = pool.join(format!("{name}.tree"));
    let depends = if depends.is_empty() { String::new() } else { format!("Depends: {depends}\n") };
    write(
        &root,
        "DEBIAN/control",
        &format!(
            "Package: {name}\nVersion: 1.0.0\nArchitecture: all\nMaintainer: quarry test <t@example.invalid>\n{depends}Description: a stand-in for the test\n"
        ),
    );
    for (path, text, mode) in files {
        let p = root.join(path.trim_start_matches('/'));
        write(&root, path.trim_start_matches('/'), text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    for (path, target) in links {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }
    sh(
        pool,
        &format!(
            "dpkg-deb --root-owner-group --build {name}.tree {name}_1.0.0_all.deb >/dev/null && rm -rf {name}.tree"
        ),
        &[],
    );
}

/// `Release` for the index files of `dir` (paths relative to it), signed as `InRelease` with the
/// key of `gnupg`.
fn sign_release(dir: &Path, fields: &str, files: &[&str], gnupg: &Path) {
    let mut release = format!("{fields}Date: {}SHA256:\n", sh(dir, "date -u -R", &[]));
    for f in files {
        let sum = sh(dir, &format!("sha256sum {f} | cut -d' ' -f1"), &[]);
        let size = std::fs::metadata(dir.join(f)).unwrap().len();
        release.push_str(&format!(" {} {size} {f}\n", sum.trim()));
    }
    std::fs::write(dir.join("Release"), release).unwrap();
    sh(dir, "gpg --batch --yes --clearsign -o InRelease Release", &[("GNUPGHOME", gnupg)]);
}

/// The simulated repositories under `site`, signed with the key of `gnupg`.
fn repositories(site: &Path, gnupg: &Path) {
    let env = [("GNUPGHOME", gnupg)];
    sh(site, "mkdir -p keys && gpg --batch --armor --export > keys/test.asc", &env);

    // ROS 2: `dists/bookworm/main` (the codename is the image's), packages in `pool/`.
    let ros = site.join("ros2");
    let pool = ros.join("pool");
    std::fs::create_dir_all(&pool).unwrap();
    let ros2 = "#!/bin/sh\necho \"ros2 $* distro=${ROS_DISTRO:-} rmw=${RMW_IMPLEMENTATION:-} setup=${QUARRY_TEST_ROS_SETUP:-}\"\n";
    let setup = "export ROS_DISTRO=humble\nexport QUARRY_TEST_ROS_SETUP=sourced\ncase \":$PATH:\" in *:/opt/ros/humble/bin:*) ;; *) PATH=\"/opt/ros/humble/bin:$PATH\" ;; esac\nexport PATH\n";
    let files = [("/opt/ros/humble/setup.bash", setup, 0o644), ("/opt/ros/humble/bin/ros2", ros2, 0o755)];
    deb(&pool, "ros-humble-ros-base", "", &files, &[]);
    // Debian's own rosdep: ros_workspace's step runs the real one.
    deb(
        &pool,
        "ros-dev-tools",
        "python3-rosdep2",
        &[("/usr/share/doc/ros-dev-tools/README", "test\n", 0o644)],
        &[],
    );
    let rmw = [("/opt/ros/humble/lib/librmw_cyclonedds_cpp.so", "stand-in\n", 0o644)];
    deb(&pool, "ros-humble-rmw-cyclonedds-cpp", "", &rmw, &[]);
    for arch in ["amd64", "arm64"] {
        let dir = format!("dists/bookworm/main/binary-{arch}");
        std::fs::create_dir_all(ros.join(&dir)).unwrap();
        sh(&ros, &format!("dpkg-scanpackages pool /dev/null 2>/dev/null > {dir}/Packages"), &[]);
    }
    let dists = ros.join("dists/bookworm");
    sign_release(
        &dists,
        "Origin: quarry-test\nLabel: quarry-test\nSuite: bookworm\nCodename: bookworm\nArchitectures: amd64 arm64\nComponents: main\n",
        &["main/binary-amd64/Packages", "main/binary-arm64/Packages"],
        gnupg,
    );

    // CUDA: NVIDIA's flat layout, `<release>/<arch>/` (`debian12` for bookworm).
    for arch in ["x86_64", "sbsa"] {
        let flat = site.join(format!("cuda/debian12/{arch}"));
        std::fs::create_dir_all(&flat).unwrap();
        let nvcc = [(
            "/usr/local/cuda-12.8/bin/nvcc",
            "#!/bin/sh\necho 'Cuda compilation tools, release 12.8 (stand-in)'\n",
            0o755,
        )];
        deb(&flat, "cuda-toolkit-12-8", "", &nvcc, &[("/usr/local/cuda", "cuda-12.8")]);
        sh(&flat, "dpkg-scanpackages . /dev/null 2>/dev/null > Packages", &[]);
        sign_release(&flat, "Origin: quarry-test\nLabel: quarry-test cuda\n", &["Packages"], gnupg);
    }

    // rosdistro: the index, Humble's distribution file and rosdep's rules.
    write(
        site,
        "rosdistro/index-v4.yaml",
        "%YAML 1.1\n---\ndistributions:\n  humble:\n    distribution: [humble/distribution.yaml]\n    distribution_status: active\n    distribution_type: ros2\n    python_version: 3\ntype: index\nversion: 4\n",
    );
    write(
        site,
        "rosdistro/humble/distribution.yaml",
        "%YAML 1.1\n---\nrelease_platforms:\n  debian: [bookworm]\nrepositories: {}\ntype: distribution\nversion: 2\n",
    );
    write(
        site,
        "rosdistro/rosdep/base.yaml",
        "quarry_test_tree:\n  debian: [tree]\nquarry_test_jq:\n  debian: [jq]\n",
    );
    write(site, "rosdistro/rosdep/python.yaml", "quarry_test_unused_py:\n  debian: [python3-yaml]\n");
    write(site, "rosdistro/rosdep/ruby.yaml", "quarry_test_unused_rb:\n  debian: [ruby]\n");
}

fn package_xml(deps: &[&str], run: &str) -> String {
    let deps: String = deps.iter().map(|d| format!("  <exec_depend>{d}</exec_depend>\n")).collect();
    format!(
        "<?xml version=\"1.0\"?>\n<package format=\"3\">\n  <name>driver</name>\n  <version>0.1.0</version>\n  \
         <description>run {run}</description>\n  <maintainer email=\"t@example.invalid\">t</maintainer>\n  \
         <license>MIT</license>\n{deps}</package>\n"
    )
}

/// `quarry build` in `project`: the steps that ran (not taken from the cache), or the output of a
/// failed build.
fn build(engine: &TestEngine, project: &Path, home: &Path, tag: &str) -> Result<Vec<String>, String> {
    let mut c = engine.command(env!("CARGO_BIN_EXE_quarry"));
    c.current_dir(project)
        .env("XDG_CACHE_HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("ROCKER_CACHE_ID")
        .env_remove("QUARRY_CACHE_ID")
        .env_remove("GITHUB_ACTIONS")
        .args(["build", "--progress", "plain", "--tag", tag]);
    if let Some(h) = &engine.add_host {
        c.args(["--add-host", h]);
    }
    let out = c.output().expect("quarry runs");
    let err = stderr(&out);
    if !out.status.success() {
        return Err(err);
    }
    Ok(progress_steps(&err).into_iter().filter(|s| !s.cached).map(|s| s.name).collect())
}

fn runs(steps: &[String]) -> Vec<&String> {
    steps.iter().filter(|s| s.contains(" RUN ")).collect()
}

#[test]
fn ros_rmw_cuda_and_a_workspace_from_simulated_repositories() {
    let Some(engine) = TestEngine::get("MODERN") else { return };
    let run = token();
    let dir = scratch("robotics");
    let (site, gnupg, other) = (dir.join("site"), dir.join("gnupg"), dir.join("gnupg-other"));
    let fingerprint = make_key(&gnupg, "quarry-test-repo");
    let unrelated = make_key(&other, "quarry-test-other");
    repositories(&site, &gnupg);
    let server = engine.serve(&site);
    let url = &server.url;

    let base = format!("quarry-test/robot-base:{run}");
    let tagged = engine.docker(&["tag", "debian:bookworm", &base]);
    assert!(tagged.status.success(), "{}", stderr(&tagged));

    let project = dir.join("project");
    let home = dir.join("home");
    let config = |fingerprint: &str| {
        format!(
            "image = \"{base}\"\n\
             extensions = [\"ros_humble\", \"rmw\", \"cuda\", \"ros_workspace\", \"user\"]\n\
             [options.ros_humble]\nmirror = \"{url}/ros2\"\nkey_url = \"{url}/keys/test.asc\"\nkey_fingerprint = \"{fingerprint}\"\n\
             [options.cuda]\nmirror = \"{url}/cuda\"\nkey_url = \"{url}/keys/test.asc\"\nkey_fingerprint = \"{fingerprint}\"\n\
             [options.ros_workspace]\nrosdistro = \"{url}/rosdistro\"\n\
             [options.user]\nname = \"robot\"\nuid = \"4321\"\ngid = \"4321\"\nhome = \"/home/robot\"\n"
        )
    };
    write(&project, "quarry.toml", &config(&fingerprint));
    write(&project, "src/driver/package.xml", &package_xml(&["quarry_test_tree"], &run));
    write(&project, "src/driver/src/main.cpp", "int main() { return 0; }\n");
    let tag = format!("quarry-test/robotics:{run}");

    let first = build(&engine, &project, &home, &tag).unwrap_or_else(|e| panic!("{e}"));
    assert!(runs(&first).iter().any(|s| s.contains("ros_workspace/project")), "{first:#?}");

    // The environment, four ways: no shell, a login shell, an interactive shell (both without
    // quarry's entrypoint), and an exec session in a running container through the entrypoint.
    let want = "distro=humble rmw=rmw_cyclonedds_cpp setup=sourced";
    let o = engine.docker(&["run", "--rm", &tag, "ros2", "doctor"]);
    assert_eq!(stdout(&o), format!("ros2 doctor {want}\n"), "{}", stderr(&o));
    for flag in ["-lc", "-ic"] {
        let o = engine.docker(&["run", "--rm", "--entrypoint", "bash", &tag, flag, "ros2 topic list"]);
        assert!(
            stdout(&o).contains(&format!("ros2 topic list {want}\n")),
            "bash {flag}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    let name = format!("quarry-test-robotics-{run}");
    let started = engine.docker(&["run", "-d", "--name", &name, &tag, "sleep", "300"]);
    assert!(started.status.success(), "{}", stderr(&started));
    let o = engine.docker(&["exec", &name, "/usr/local/bin/quarry-entrypoint", "ros2", "node", "list"]);
    assert_eq!(stdout(&o), format!("ros2 node list {want}\n"), "{}", stderr(&o));
    let o = engine.docker(&["exec", &name, "bash", "-lc", "ros2 run"]);
    assert!(stdout(&o).contains(&format!("ros2 run {want}\n")), "{}", stderr(&o));
    // The image runs as its user, whose first session started rosdep's update (its log is
    // written; the update itself needs GitHub, which this engine does not reach).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let o = engine.docker(&[
        "exec",
        &name,
        "sh",
        "-c",
        "id -un; test -f \"$HOME/.ros/rosdep-update.log\" && echo log",
    ]);
    assert_eq!(stdout(&o), "robot\nlog\n", "{}", stderr(&o));
    let _ = engine.docker(&["rm", "-f", &name]);
    // CUDA's toolkit from its repository, on PATH; the workspace's dependency from rosdep.
    let o = engine.docker(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "nvcc --version; echo $NVIDIA_REQUIRE_CUDA; tree --version",
    ]);
    let text = stdout(&o);
    assert!(
        text.starts_with("Cuda compilation tools, release 12.8 (stand-in)\ncuda>=12.8\ntree v"),
        "{text}{}",
        stderr(&o)
    );

    // A source file changes: nothing runs again (it never reaches the build).
    write(&project, "src/driver/src/main.cpp", "int main() { return 1; }\n");
    let source = build(&engine, &project, &home, &tag).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("source edited: ran {source:#?}");
    assert!(runs(&source).is_empty(), "{source:#?}");

    // A package.xml changes: the rosdep step runs again, and no other RUN.
    write(&project, "src/driver/package.xml", &package_xml(&["quarry_test_tree", "quarry_test_jq"], &run));
    let xml = build(&engine, &project, &home, &tag).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("package.xml edited: ran {xml:#?}");
    let ran = runs(&xml);
    assert_eq!(ran.len(), 1, "{xml:#?}");
    assert!(ran[0].contains("ros_workspace/project"), "{ran:#?}");
    let o = engine.docker(&["run", "--rm", &tag, "jq", "--version"]);
    assert!(stdout(&o).starts_with("jq-1."), "{}", stderr(&o));

    // The key is pinned: the same repository with another key's fingerprint fails at apt.
    let pinned = dir.join("pinned");
    write(
        &pinned,
        "quarry.toml",
        &format!(
            "image = \"{base}\"\nextensions = [\"ros_humble\"]\n\
             [options.ros_humble]\nmirror = \"{url}/ros2\"\nkey_url = \"{url}/keys/test.asc\"\nkey_fingerprint = \"{unrelated}\"\n"
        ),
    );
    let failed = build(&engine, &pinned, &home, &format!("quarry-test/robotics-pinned:{run}"))
        .expect_err("a repository signed by another key than the pinned one must fail");
    assert!(["NO_PUBKEY", "not signed", "signatures"].iter().any(|w| failed.contains(w)), "{failed}");

    drop(server);
    for t in [&tag, &base] {
        let _ = engine.docker(&["rmi", t]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
