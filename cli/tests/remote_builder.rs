//! Remote engines and builders, on real engines: the remote-cache runners of `cargo xtask test`
//! (`QUARRY_TEST_ENGINE_RUNNER1`, `QUARRY_TEST_ENGINE_RUNNER2`), with runner 2 reached over a
//! loopback TCP port (a byte proxy to its socket, so the engine itself is left as started).
//!
//! - `DOCKER_HOST=tcp://127.0.0.1:PORT`: `quarry build` and `quarry run` work on that engine.
//! - `--builder` naming a `docker`-driver builder of another engine (a Docker context at the TCP
//!   address) while `DOCKER_HOST` is runner 1: refused before anything runs (buildx would refuse
//!   it too, and the image would not be where `docker run` runs), with the hint that works:
//! - `DOCKER_CONTEXT` at that context: the image is built on runner 2 and `quarry run` runs it
//!   there, not on runner 1.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{missing, scratch, stderr, stdout, token};

/// Forwards every connection to 127.0.0.1:<port> to the unix socket `socket`, both ways, until
/// the test process ends.
fn tcp_proxy(socket: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = UnixStream::connect(&socket) else { continue };
            let pipe = |mut from: Box<dyn Read + Send>,
                        mut to: Box<dyn std::io::Write + Send>,
                        close: Box<dyn Fn() + Send>| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    close();
                });
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (c3, s3) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(
                Box::new(client),
                Box::new(server),
                Box::new(move || {
                    let _ = s3.shutdown(std::net::Shutdown::Write);
                }),
            );
            pipe(
                Box::new(s2),
                Box::new(c2),
                Box::new(move || {
                    let _ = TcpStream::shutdown(&c3, std::net::Shutdown::Write);
                }),
            );
        }
    });
    port
}

fn quarry(host: &str, config: &Path, home: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"));
    c.env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .env("XDG_CACHE_HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("ROCKER_CACHE_ID")
        .env_remove("QUARRY_CACHE_ID")
        .env_remove("GITHUB_ACTIONS")
        .args(&args[..1]);
    // Before the command after `--`.
    if let Ok(h) = std::env::var("QUARRY_TEST_ADD_HOST") {
        c.args(["--add-host", &h]);
    }
    c.args(&args[1..]);
    c.output().unwrap()
}

fn docker(host: &str, config: &Path, args: &[&str]) -> Output {
    Command::new("docker").env("DOCKER_HOST", host).env("DOCKER_CONFIG", config).args(args).output().unwrap()
}

#[test]
#[ignore = "needs the Docker engines `cargo xtask test` starts"]
fn tcp_engines_and_builders_of_another_engine_build_and_run_there() {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| missing(name, "the Docker engines"))
    };
    let (one, two) = (var("QUARRY_TEST_ENGINE_RUNNER1"), var("QUARRY_TEST_ENGINE_RUNNER2"));
    let home = scratch("remote-builder");
    // Its own DOCKER_CONFIG (contexts live there), with runner 1's buildx plugin.
    let config = home.join("docker-config");
    std::fs::create_dir_all(config.join("cli-plugins")).unwrap();
    let plugins = std::env::var("QUARRY_TEST_DOCKER_CONFIG_RUNNER1")
        .map(|c| Path::new(&c).join("cli-plugins/docker-buildx"));
    if let Ok(plugin) = plugins {
        std::fs::copy(plugin, config.join("cli-plugins/docker-buildx")).unwrap();
    }
    std::fs::write(config.join("config.json"), "{}").unwrap();
    let socket = two.strip_prefix("unix://").expect("runner 2 listens on a unix socket");
    let tcp = format!("tcp://127.0.0.1:{}", tcp_proxy(socket));
    let t = token();

    // DOCKER_HOST at the TCP port: build and run there.
    let tag = format!("quarry-test/tcp:{t}");
    let out = quarry(&tcp, &config, &home, &["build", "debian:bookworm", "--git", "--tag", &tag]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = quarry(
        &tcp,
        &config,
        &home,
        &["run", "debian:bookworm", "--git", "--tag", &tag, "--", "git", "--version"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stdout(&run).starts_with("git version "), "{}", stdout(&run));
    assert!(docker(&two, &config, &["image", "inspect", &tag]).status.success(), "built on runner 2");

    // A Docker context for runner 2 at the TCP address. `--builder` naming it while DOCKER_HOST
    // is runner 1 is refused before anything runs, with the way that works as the hint.
    let context = format!("qtcp{}", &t[t.len() - 8..]);
    let made = docker(&one, &config, &["context", "create", &context, "--docker", &format!("host={tcp}")]);
    assert!(made.status.success(), "{}", stderr(&made));
    let tag = format!("quarry-test/builder:{t}");
    let refused = quarry(
        &one,
        &config,
        &home,
        &["build", "debian:bookworm", "--git", "--builder", &context, "--tag", &tag],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused)
            .contains(&format!("hint: run quarry with DOCKER_CONTEXT={context} (and DOCKER_HOST unset)")),
        "{}",
        stderr(&refused)
    );
    // DOCKER_CONTEXT at runner 2 (DOCKER_HOST unset): built and run there, never on runner 1.
    let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"));
    c.env_remove("DOCKER_HOST")
        .env("DOCKER_CONTEXT", &context)
        .env("DOCKER_CONFIG", &config)
        .env("XDG_CACHE_HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("ROCKER_CACHE_ID")
        .env_remove("QUARRY_CACHE_ID")
        .env_remove("GITHUB_ACTIONS")
        .args(["run", "debian:bookworm", "--git", "--builder", &context, "--tag", &tag]);
    if let Ok(h) = std::env::var("QUARRY_TEST_ADD_HOST") {
        c.args(["--add-host", &h]);
    }
    let run = c.args(["--", "git", "--version"]).output().unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stdout(&run).starts_with("git version "), "{}", stdout(&run));
    assert!(docker(&two, &config, &["image", "inspect", &tag]).status.success(), "built on runner 2");
    assert!(!docker(&one, &config, &["image", "inspect", &tag]).status.success(), "not on runner 1");
    eprintln!(
        "remote builder: DOCKER_HOST={tcp} built and ran; --builder {context} from runner 1 refused with a hint; \
         DOCKER_CONTEXT={context} built and ran on runner 2"
    );
    for tag in [format!("quarry-test/tcp:{t}"), tag] {
        let _ = docker(&two, &config, &["rmi", &tag]);
    }
    std::fs::remove_dir_all(home).unwrap();
}
