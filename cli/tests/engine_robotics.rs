//! The robotics catalog on the real engine, with the ROS 2 and CUDA apt repositories simulated by
//! local ones, as a company's mirrors are: the test makes a signing key with gpg, small `.deb`
//! packages with dpkg-deb (`ros-humble-ros-base` with a `ros2` that prints what it sees,
//! `ros-dev-tools` bringing Debian's rosdep, an RMW package, `cuda-toolkit-12-8` with an `nvcc`),
//! their `Packages` indexes, a signed `InRelease` for each, a rosdistro index and rosdep rules,
//! and serves them over HTTP; quarry.toml points `ros`, `cuda` and `ros_workspace` at them
//! through their mirror options. gpg is `QUARRY_TEST_GPG` (bookworm's, which `cargo xtask test`
//! unpacks into the engines' folder: `xtask/engine/tools.sh`), else the machine's; dpkg-deb,
//! coreutils and python3 (the HTTP server) are the machine's.
//! The base image is `debian:bookworm` under a name of the test's own (a company's base image):
//! there is no Ubuntu image here, and a name quarry cannot place gets a warning, not an error.
//!
//! It checks the environment in the four ways a user meets it (`docker run IMAGE ros2`, `bash -l`,
//! `bash -i`, and an exec session through quarry's entrypoint), rosdep's first update per user
//! (started by the user's first session; without a network it fails, and the next session tries
//! again), that the pinned key is enforced (another fingerprint fails the build), and
//! ros_workspace's cache key: a source file edited re-runs nothing, a package.xml edited re-runs
//! the rosdep step alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestEngine, scratch, stderr, stdout, token, write};
use quarry_docker::progress::{Step, progress_steps};

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

/// The gpg the test runs: `cargo xtask test`'s own, else the machine's.
fn gpg() -> PathBuf {
    std::env::var_os("QUARRY_TEST_GPG").map_or_else(|| PathBuf::from("gpg"), PathBuf::from)
}

/// GnuPG homes, removed when dropped (also when the test fails): each one's gpg-agent ends
/// when its socket goes.
struct GnupgHomes(Vec<PathBuf>);

impl Drop for GnupgHomes {
    fn drop(&mut self) {
        for home in &self.0 {
            let _ = std::fs::remove_dir_all(home);
        }
    }
}

/// A signing key without a passphrase made in `home` (a GNUPGHOME of the test's own): its
/// fingerprint.
fn make_key(home: &Path, name: &str) -> String {
    write(
        home,
        "key.params",
        &format!(
            "%no-protection\nKey-Type: rsa\nKey-Length: 2048\nKey-Usage: sign\nName-Real: {name}\n\
             Name-Email: {name}@example.invalid\nExpire-Date: 0\n%commit\n"
        ),
    );
    let gpg = gpg();
    let env = [("GNUPGHOME", home), ("GPG", gpg.as_path())];
    sh(home, "chmod 700 .; \"$GPG\" --batch --gen-key key.params 2>&1", &env);
    let listing = sh(home, "\"$GPG\" --batch --with-colons --list-keys", &env);
    listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .expect("a fingerprint")
        .to_owned()
}

/// A package `name` (architecture all) holding `files` (path in the image, contents, mode) and
/// `links` (path, target), built into the folder `pool` of the repository `repo`: its entry of
/// the repository's `Packages` index (what dpkg-scanpackages writes).
fn deb(
    repo: &Path,
    pool: &str,
    name: &str,
    depends: &str,
    files: &[(&str, &str, u32)],
    links: &[(&str, &str)],
) -> String {
    use std::os::unix::fs::PermissionsExt;
    let pool_dir = repo.join(pool);
    let root = pool_dir.join(format!("{name}.tree"));
    let depends = if depends.is_empty() { String::new() } else { format!("Depends: {depends}\n") };
    let control = format!(
        "Package: {name}\nVersion: 1.0.0\nArchitecture: all\nMaintainer: quarry test <t@example.invalid>\n{depends}"
    );
    let description = "Description: a stand-in for the test\n";
    write(&root, "DEBIAN/control", &format!("{control}{description}"));
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
    let file = format!("{pool}/{name}_1.0.0_all.deb");
    sh(
        repo,
        &format!(
            "dpkg-deb --root-owner-group --build {pool}/{name}.tree {file} >/dev/null && rm -rf {pool}/{name}.tree"
        ),
        &[],
    );
    let size = std::fs::metadata(repo.join(&file)).unwrap().len();
    let sum = sh(repo, &format!("sha256sum {file} | cut -d' ' -f1"), &[]);
    format!("{control}Filename: {file}\nSize: {size}\nSHA256: {}\n{description}\n", sum.trim())
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
    let gpg = gpg();
    sh(
        dir,
        "\"$GPG\" --batch --yes --clearsign -o InRelease Release",
        &[("GNUPGHOME", gnupg), ("GPG", gpg.as_path())],
    );
}

/// The simulated repositories under `site`, signed with the key of `gnupg`.
fn repositories(site: &Path, gnupg: &Path) {
    let gpg = gpg();
    let env = [("GNUPGHOME", gnupg), ("GPG", gpg.as_path())];
    std::fs::create_dir_all(site).unwrap();
    sh(site, "mkdir -p keys && \"$GPG\" --batch --armor --export > keys/test.asc", &env);

    // ROS 2: `dists/bookworm/main` (the codename is the image's), packages in `pool/`.
    let ros = site.join("ros2");
    let ros2 = "#!/bin/sh\necho \"ros2 $* distro=${ROS_DISTRO:-} rmw=${RMW_IMPLEMENTATION:-} setup=${QUARRY_TEST_ROS_SETUP:-}\"\n";
    let setup = "export ROS_DISTRO=humble\nexport QUARRY_TEST_ROS_SETUP=sourced\ncase \":$PATH:\" in *:/opt/ros/humble/bin:*) ;; *) PATH=\"/opt/ros/humble/bin:$PATH\" ;; esac\nexport PATH\n";
    let files = [("/opt/ros/humble/setup.bash", setup, 0o644), ("/opt/ros/humble/bin/ros2", ros2, 0o755)];
    let mut index = deb(&ros, "pool", "ros-humble-ros-base", "", &files, &[]);
    // Debian's own rosdep: ros_workspace's step runs the real one.
    index += &deb(
        &ros,
        "pool",
        "ros-dev-tools",
        "python3-rosdep2",
        &[("/usr/share/doc/ros-dev-tools/README", "test\n", 0o644)],
        &[],
    );
    let rmw = [("/opt/ros/humble/lib/librmw_cyclonedds_cpp.so", "stand-in\n", 0o644)];
    index += &deb(&ros, "pool", "ros-humble-rmw-cyclonedds-cpp", "", &rmw, &[]);
    for arch in ["amd64", "arm64"] {
        write(&ros, &format!("dists/bookworm/main/binary-{arch}/Packages"), &index);
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
        let nvcc = [(
            "/usr/local/cuda-12.8/bin/nvcc",
            "#!/bin/sh\necho 'Cuda compilation tools, release 12.8 (stand-in)'\n",
            0o755,
        )];
        let index = deb(&flat, ".", "cuda-toolkit-12-8", "", &nvcc, &[("/usr/local/cuda", "cuda-12.8")]);
        write(&flat, "Packages", &index);
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

/// `quarry build` in `project`: its RUN, COPY and ADD steps, or the output of a failed build.
fn build(engine: &TestEngine, project: &Path, home: &Path, tag: &str) -> Result<Vec<Step>, String> {
    let mut c = engine.quarry_in(project, home, &["build", "--progress", "plain", "--tag", tag]);
    if let Some(h) = &engine.add_host {
        c.args(["--add-host", h]);
    }
    let out = c.output().expect("quarry runs");
    let err = stderr(&out);
    if !out.status.success() {
        return Err(err);
    }
    Ok(progress_steps(&err))
}

/// `script`'s output in the container `name` once `done` holds of it (within a minute).
fn until(engine: &TestEngine, name: &str, script: &str, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let o = engine.docker(&["exec", name, "sh", "-c", script]);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        if done(&text) {
            return text;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "after a minute:\n{text}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The RUN steps that ran (not taken from the cache).
fn runs(steps: &[Step]) -> Vec<&str> {
    steps.iter().filter(|s| !s.cached && s.name.contains(" RUN ")).map(|s| s.name.as_str()).collect()
}

#[test]
#[ignore = "needs the Docker engines and the gpg `cargo xtask test` provides"]
fn ros_rmw_cuda_and_a_workspace_from_simulated_repositories() {
    let engine = TestEngine::get("MODERN");
    let run = token();
    let dir = scratch("robotics");
    let (site, gnupg, other) = (dir.join("site"), dir.join("gnupg"), dir.join("gnupg-other"));
    let homes = GnupgHomes(vec![gnupg.clone(), other.clone()]);
    let fingerprint = make_key(&gnupg, "quarry-test-repo");
    let unrelated = make_key(&other, "quarry-test-other");
    repositories(&site, &gnupg);
    // The keys are made and used: their agents may go.
    drop(homes);
    let server = engine.serve(&site);
    let url = &server.url;

    // One name in every run: apt's cache mounts are named after the image, and stay warm.
    let base = "quarry-test/robot-base:bookworm";
    let tagged = engine.docker(&["tag", "debian:bookworm", base]);
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
    // Without a network: the per-user rosdep update below reads GitHub (the `ros` extension's
    // sources list), and must fail the same way on every machine.
    let name = format!("quarry-test-robotics-{run}");
    let started = engine.docker(&["run", "-d", "--network", "none", "--name", &name, &tag, "sleep", "300"]);
    assert!(started.status.success(), "{}", stderr(&started));
    let o = engine.docker(&["exec", &name, "/usr/local/bin/quarry-entrypoint", "ros2", "node", "list"]);
    assert_eq!(stdout(&o), format!("ros2 node list {want}\n"), "{}", stderr(&o));
    let o = engine.docker(&["exec", &name, "bash", "-lc", "ros2 run"]);
    assert!(stdout(&o).contains(&format!("ros2 run {want}\n")), "{}", stderr(&o));
    // The image runs as its user, whose first session (the container's command, through the
    // entrypoint) started rosdep's update in the background, logged in the user's ~/.ros; the
    // update failed (no network), which removes its marker so that the next session tries
    // again; and the next one does.
    let update =
        "id -un; cd \"$HOME/.ros\" && ls -d rosdep-update.started 2>/dev/null; cat rosdep-update.log";
    let failed =
        until(&engine, &name, update, |o| !o.contains("rosdep-update.started") && o.contains("ERROR"));
    assert!(failed.starts_with("robot\n"), "{failed}");
    assert!(failed.contains("raw.githubusercontent.com"), "{failed}");
    let o = engine.docker(&["exec", &name, "sh", "-c", "rm \"$HOME/.ros/rosdep-update.log\""]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = engine.docker(&["exec", &name, "bash", "-lc", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    until(&engine, &name, update, |o| !o.contains("rosdep-update.started") && o.contains("ERROR"));
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

    // A source file changes: nothing runs again, as it never reaches the build. The render is
    // the same, so quarry finds its image built already; under another tag BuildKit builds it,
    // and takes every step from the cache, the rosdep step too.
    write(&project, "src/driver/src/main.cpp", "int main() { return 1; }\n");
    let same = build(&engine, &project, &home, &tag).unwrap_or_else(|e| panic!("{e}"));
    assert!(runs(&same).is_empty(), "{same:#?}");
    let source_tag = format!("quarry-test/robotics-source:{run}");
    let source = build(&engine, &project, &home, &source_tag).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("source edited: ran {:#?}", runs(&source));
    assert!(runs(&source).is_empty(), "{source:#?}");
    assert!(source.iter().any(|s| s.cached && s.name.contains("ros_workspace/project")), "{source:#?}");

    // A package.xml changes: the rosdep step runs again, and no other RUN.
    write(&project, "src/driver/package.xml", &package_xml(&["quarry_test_tree", "quarry_test_jq"], &run));
    let xml = build(&engine, &project, &home, &tag).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("package.xml edited: ran {:#?}", runs(&xml));
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
    // apt's verdict on that repository: `GPG error: URL/ros2 bookworm InRelease: The following
    // signatures couldn't be verified ...`, `The repository 'URL/ros2 bookworm InRelease' is not
    // signed.`
    let repo = format!("{url}/ros2 bookworm InRelease");
    assert!(
        failed.lines().any(|l| l.contains(&repo)
            && ["NO_PUBKEY", "is not signed", "signatures couldn't be verified"]
                .iter()
                .any(|w| l.contains(w))),
        "{failed}"
    );

    drop(server);
    for t in [tag.as_str(), source_tag.as_str(), base] {
        let _ = engine.docker(&["rmi", t]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
