//! Interrupting `cargo xtask test` leaves nothing behind: no daemon of its engines or registries
//! runs, no package got installed, nothing of it is outside its folder, and the network is as
//! it was.
//!
//! An inner `xtask test` runs with a folder of its own (`QUARRY_ENGINE_CACHE` =
//! `<the outer folder>/interrupt-test`, whose `pkg/` is hard-linked from the outer folder so
//! nothing is downloaded again), engines of its own (`26c-qi`, `20.10-qi`: own sockets, bridges
//! and subnets), its own registry port, and no base images. It does not race with the engines the
//! surrounding run uses. Its `cargo test` is a stand-in script (`CARGO`): "tests" that use the
//! engines and never end (a container on each engine, an attached `docker run` client, a
//! `sleep` that ignores SIGINT as background jobs of scripts do). Once they run, SIGINT goes to
//! the xtask alone, as `kill -INT` would send it; it must stop them, then the daemons, and exit
//! with 130. Root only: it is `#[ignore]`d for root, and fails without it when asked to run.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the checkout").to_path_buf()
}

fn sh(script: &str, folder: &Path) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("QUARRY_ENGINE_CACHE", folder)
        .current_dir(checkout().join("xtask/engine"))
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Installed packages with their versions and states.
fn packages() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"])
        .output()
        .expect("dpkg-query runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What is in the folders an install or a daemon's defaults would write to, and the top-level
/// cgroups.
fn system_entries() -> BTreeSet<String> {
    const FOLDERS: &[&str] = &[
        "/etc",
        "/etc/alternatives",
        "/etc/init.d",
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/libexec",
        "/usr/share",
        "/var/lib",
        "/var/cache",
        "/var/log",
        "/run",
        "/run/containerd",
        "/run/docker",
        "/opt",
    ];
    // And the cgroups at the top of every hierarchy (an engine's containers' parent).
    let mut folders: Vec<PathBuf> = FOLDERS.iter().map(PathBuf::from).collect();
    folders.push(PathBuf::from("/sys/fs/cgroup"));
    if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
        folders.extend(hierarchies.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let mut seen = BTreeSet::new();
    for folder in folders {
        if let Ok(entries) = std::fs::read_dir(folder) {
            for e in entries.flatten() {
                seen.insert(e.path().display().to_string());
            }
        }
    }
    seen
}

/// Live (not zombie) processes whose command line names `text`.
fn processes_naming(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(text) && alive(&e.file_name().to_string_lossy()) {
            found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    found
}

fn alive(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Stands in for `cargo test`: tests that use the engines and do not end by themselves.
const FAKE_CARGO: &str = r#"#!/bin/bash
set -euo pipefail
dir=$(dirname "$0")/fake
mkdir -p "$dir"
echo $$ >"$dir/pids"
img=quarry-itest/busybox:latest
for e in MODERN LEGACY; do
    host=QUARRY_TEST_ENGINE_$e config=QUARRY_TEST_DOCKER_CONFIG_$e
    export DOCKER_HOST=${!host} DOCKER_CONFIG=${!config}
    tar -C "$QUARRY_ENGINE_CACHE/pkg/bookworm/root" -c bin/busybox | docker import - "$img" >/dev/null
    docker run -d "$img" /bin/busybox sleep 600 >/dev/null
    docker run --sig-proxy=false "$img" /bin/busybox sleep 600 >/dev/null 2>&1 &
    echo $! >>"$dir/pids"
done
sleep 600 &
echo $! >>"$dir/pids"
exec 9<>"/dev/tcp/${QUARRY_TEST_REGISTRY%:*}/${QUARRY_TEST_REGISTRY#*:}"
printf 'GET /v2/ HTTP/1.0\r\n\r\n' >&9
head -c 12 <&9 | grep -q '^HTTP/1.. 200'
exec 9<&-
# Wait until the containers run.
until [ "$(DOCKER_HOST=$QUARRY_TEST_ENGINE_LEGACY docker ps -q | wc -l)" = 2 ] &&
    [ "$(DOCKER_HOST=$QUARRY_TEST_ENGINE_MODERN docker ps -q | wc -l)" = 2 ]; do
    sleep 0.2
done
echo ready >"$dir/ready"
wait
"#;

#[test]
#[ignore = "needs root (it starts Docker engines of its own): `cargo xtask test` runs it as root"]
fn interrupting_xtask_test_stops_everything_it_started_and_installs_nothing() {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    assert!(root, "`cargo xtask test` starts no engine without root: run it with `cargo xtask test` as root");
    let outer = PathBuf::from(
        std::env::var("QUARRY_ENGINE_CACHE").unwrap_or_else(|_| "/var/cache/quarry-engine".to_owned()),
    );
    let folder = outer.join("interrupt-test");
    // What an earlier run of this test may have left.
    if folder.exists() {
        sh("bash stop.sh all", &folder);
        std::fs::remove_dir_all(&folder).unwrap();
    }
    std::fs::create_dir_all(&folder).unwrap();
    if outer.join("pkg/bookworm/.complete").exists() && outer.join("pkg/trixie/.complete").exists() {
        let copied = Command::new("cp").arg("-al").arg(outer.join("pkg")).arg(folder.join("pkg")).status();
        assert!(copied.unwrap().success(), "cp -al of the packages");
    }
    let run_dir = sh(". env.sh && echo \"$QE_RUN\"", &folder);
    let fake = folder.join("fake-cargo");
    std::fs::write(&fake, FAKE_CARGO).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

    let packages_before = packages();
    let entries_before = system_entries();
    let forward_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();

    let log_path = folder.join("xtask.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut xtask = Command::new(env!("CARGO_BIN_EXE_xtask"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("QUARRY_TEST_") {
            xtask.env_remove(key);
        }
    }
    let mut child = xtask
        .args(["test", "--engines", "MODERN=26c-qi,LEGACY=20.10-qi,REGISTRY", "--no-images"])
        .env("QUARRY_ENGINE_CACHE", &folder)
        .env("CARGO", &fake)
        .env("QUARRY_REGISTRY_PORT", free_port().to_string())
        .current_dir(checkout())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("xtask runs");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let ready = folder.join("fake/ready");
    let deadline = Instant::now() + Duration::from_secs(600);
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("xtask ended ({status}) before its tests ran:\n{}", log());
        }
        assert!(Instant::now() < deadline, "the tests did not start within 10 min:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let pids = std::fs::read_to_string(folder.join("fake/pids")).unwrap();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("xtask did not end within 5 min of SIGINT:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = log();
    eprintln!("xtask ended {:.1} s after SIGINT ({status}):\n{log}", t0.elapsed().as_secs_f64());
    assert_eq!(status.code(), Some(130), "{log}");

    // The stand-in tests and what they started.
    for pid in pids.split_whitespace() {
        assert!(!alive(pid), "process {pid} of the tests still runs:\n{log}");
    }
    // No daemon: dockerd, containerd, the shims and docker-registry all name the folder or the
    // runtime folder (their binaries, configs, exec roots).
    for text in [folder.display().to_string(), run_dir.clone()] {
        let left = processes_naming(&text);
        assert!(left.is_empty(), "still running: {left:#?}\n{log}");
    }
    assert!(!Path::new(&run_dir).exists(), "the runtime folder {run_dir} is left");
    // Network: bridges, rules and ip_forward.
    for bridge in ["qbr26cqi", "qbr2010qi"] {
        assert!(!Path::new("/sys/class/net").join(bridge).exists(), "bridge {bridge} is left");
    }
    let rules = sh(
        "lib=$(echo \"$QUARRY_ENGINE_CACHE\"/pkg/bookworm/root/usr/lib/*-linux-gnu); \
         b=nft; LD_LIBRARY_PATH=$lib XTABLES_LIBDIR=$lib/xtables \
         \"$QUARRY_ENGINE_CACHE\"/pkg/bookworm/root/usr/sbin/xtables-nft-multi iptables -t nat -S >/dev/null 2>&1 || b=legacy; \
         LD_LIBRARY_PATH=$lib XTABLES_LIBDIR=$lib/xtables XTABLES_LOCKFILE=/dev/null \
         \"$QUARRY_ENGINE_CACHE\"/pkg/bookworm/root/usr/sbin/xtables-$b-multi iptables-save",
        &folder,
    );
    assert!(
        !rules.contains("qbr26cqi") && !rules.contains("qbr2010qi"),
        "rules of the test's engines are left:\n{rules}"
    );
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(), forward_before);
    // Nothing installed, nothing written outside the folder.
    assert_eq!(packages(), packages_before, "the packages installed changed");
    let entries_after = system_entries();
    let new: Vec<&String> = entries_after.difference(&entries_before).collect();
    assert!(new.is_empty(), "new outside the folder: {new:?}");

    let _ = std::io::stderr().flush();
    std::fs::remove_dir_all(&folder).unwrap();
}
