//! The engine's HTTP API over its unix socket, for the questions quarry asks on every command:
//! the engine's version and image store, its runtimes, an image's id, config and labels. One
//! request costs about a millisecond; the same question through the `docker` CLI costs a process
//! start, 30 to 100 ms, which a warm `quarry run` would pay several times over.
//!
//! Only the local socket is asked this way: `DOCKER_HOST=unix://...`, or no DOCKER_HOST and no
//! Docker context but the default (`/var/run/docker.sock`). Any other address (tcp, ssh, a
//! context), or a `docker` program other than `docker` (`QUARRY_DOCKER`), is asked through the
//! CLI, as before.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket of the engine the `docker` CLI would talk to, when it is a local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    socket: PathBuf,
}

impl Api {
    /// The API of the engine `docker` talks to, when that is a local socket quarry can ask
    /// itself (see the module documentation).
    pub fn for_program(docker: &str) -> Option<Api> {
        if docker != "docker" {
            return None;
        }
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let socket = match host {
            Some(host) => PathBuf::from(host.strip_prefix("unix://")?),
            None => {
                if std::env::var("DOCKER_CONTEXT").is_ok_and(|c| !c.is_empty() && c != "default") {
                    return None;
                }
                if current_context().is_some_and(|c| c != "default") {
                    return None;
                }
                PathBuf::from("/var/run/docker.sock")
            }
        };
        Some(Api { socket })
    }

    /// `GET path`: the status and body, `None` when the socket does not answer.
    pub fn get(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        let mut stream = UnixStream::connect(&self.socket).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        stream.set_write_timeout(Some(Duration::from_secs(30))).ok()?;
        // One write: `write!` would send each piece of the format as a write of its own.
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: quarry\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = Vec::new();
        stream.take(64 << 20).read_to_end(&mut response).ok()?;
        parse_response(&response)
    }

    /// `GET path` as JSON, when the engine answers 200.
    pub fn json(&self, path: &str) -> Option<serde_json::Value> {
        match self.get(path)? {
            (200, body) => serde_json::from_slice(&body).ok(),
            _ => None,
        }
    }

    /// `GET /images/{name}/json` (what `docker image inspect` prints for one image): `Some(None)`
    /// when the engine has no such image, `None` when it does not answer.
    pub fn image(&self, name: &str) -> Option<Option<serde_json::Value>> {
        let path = format!("/images/{}/json", escape(name));
        match self.get(&path)? {
            (200, body) => serde_json::from_slice(&body).ok().map(Some),
            (404, _) => Some(None),
            _ => None,
        }
    }
}

/// The current context of the CLI's configuration (`currentContext` of `config.json`), if any.
fn current_context() -> Option<String> {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    config.get("currentContext")?.as_str().map(str::to_owned).filter(|c| !c.is_empty())
}

/// A path segment with what is not plain in a URL escaped (image references are mostly plain:
/// `/` and `:` stay, as the engine's router takes them).
pub fn escape(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"/:._-@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query value with everything but unreserved characters escaped.
pub fn escape_query(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"._-~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTTP/1.1 response: its status and body (de-chunked).
fn parse_response(response: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..end]).ok()?;
    let body = &response[end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Where the `docker` CLI finds its plugins (its own search list on Linux): the configuration
/// folder's `cli-plugins`, then the system folders.
pub fn has_cli_plugin(name: &str) -> bool {
    let config = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")),
    };
    let file = format!("docker-{name}");
    let system = [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ];
    config
        .map(|c| c.join("cli-plugins"))
        .into_iter()
        .chain(system.iter().map(PathBuf::from))
        .any(|dir| is_executable(&dir.join(&file)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_read_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
        assert_eq!(parse_response(plain), Some((200, b"{\"a\":1}".to_vec())));
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((404, b"{\"a\":1}".to_vec())));
        assert_eq!(parse_response(b"garbage"), None);
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), None);
    }

    #[test]
    fn names_are_escaped_only_where_needed() {
        assert_eq!(escape("docker.io/library/debian:bookworm"), "docker.io/library/debian:bookworm");
        assert_eq!(escape("a b?c"), "a%20b%3Fc");
    }

    #[test]
    fn the_api_is_asked_only_for_the_docker_program_on_a_unix_socket() {
        assert_eq!(Api::for_program("podman"), None);
        assert_eq!(Api::for_program("/tmp/wrapper.sh"), None);
    }

    /// A socket that answers like the engine: the request goes out, the answer comes back.
    #[test]
    fn a_request_reaches_the_socket_and_its_answer_comes_back() {
        let dir = std::env::temp_dir().join(format!("quarry-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // The request's head, however many reads it takes.
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0, "the request ended early: {:?}", String::from_utf8_lossy(&request));
                request.extend_from_slice(&chunk[..n]);
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{\"Version\":\"26.1\"}").unwrap();
            request
        });
        let api = Api { socket };
        assert_eq!(api.json("/version").unwrap()["Version"], "26.1");
        assert!(server.join().unwrap().starts_with("GET /version HTTP/1.1\r\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
