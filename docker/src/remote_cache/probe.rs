//! Asking the cache registry whether it holds a reference: the registry API over plain http
//! (loopback or `insecure`), else `docker buildx imagetools inspect`; [`ProbeError`] says why it
//! cannot be asked.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use quarry_core::Hint;

use super::naming::{CacheRepo, RemoteCache};

/// Why the registry cannot be used. `Display` is the message; [`Hint`] the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Nothing answers.
    #[error("cannot reach the cache registry `{host}`: {detail}")]
    Unreachable {
        /// The registry host.
        host: String,
        /// What the connection said.
        detail: String,
    },
    /// It speaks plain http, which was not allowed.
    #[error("the cache registry `{0}` speaks plain http, which quarry does not use unless told to")]
    Insecure(String),
    /// Anything else (authentication, a server error).
    #[error("the cache registry `{host}` answered: {detail}")]
    Other {
        /// The registry host.
        host: String,
        /// What it said.
        detail: String,
    },
}

impl Hint for ProbeError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Insecure(_) => Some(
                "if you trust the network to it, set `insecure = true` under `[cache]` or pass \
                 `--cache-registry-insecure`; else serve it over https"
                    .to_owned(),
            ),
            Self::Unreachable { .. } | Self::Other { .. } => None,
        }
    }
}

/// Whether the registry holds `tag`, asked over plain http (loopback or `insecure`) with the
/// registry API (`HEAD /v2/<repo>/manifests/<tag>`), else through `docker buildx imagetools
/// inspect`, which uses Docker's credentials and TLS.
pub fn exists(docker: &str, cache: &RemoteCache, tag_ref: &str) -> Result<bool, ProbeError> {
    if cache.insecure || cache.repo.is_loopback() {
        let tag = tag_ref.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
        match http_head(&cache.repo, tag, PROBE_DEADLINE) {
            Ok(200) => return Ok(true),
            Ok(404) => return Ok(false),
            // 401: the registry wants credentials: ask through Docker, which has them.
            Ok(401) => {}
            Ok(code) => {
                return Err(ProbeError::Other {
                    host: cache.repo.host.clone(),
                    detail: format!("HTTP {code} for the manifest of `{tag_ref}`"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let out = std::process::Command::new(docker)
        .args(["buildx", "imagetools", "inspect", "--raw", tag_ref])
        .output()
        .map_err(|e| ProbeError::Other {
            host: cache.repo.host.clone(),
            detail: format!("cannot run `{docker}`: {e}"),
        })?;
    if out.status.success() {
        return Ok(true);
    }
    Err(classify(&cache.repo.host, &String::from_utf8_lossy(&out.stderr))).or_else(|e| match e {
        ProbeError::Other { ref detail, .. } if detail == "not found" => Ok(false),
        e => Err(e),
    })
}

/// Reads `docker buildx imagetools inspect`'s complaint.
pub fn classify(host: &str, stderr: &str) -> ProbeError {
    let text = stderr.trim();
    let lower = text.to_ascii_lowercase();
    let first = text.lines().last().unwrap_or_default().trim_start_matches("ERROR: ").to_owned();
    if lower.contains("http response to https client") {
        return ProbeError::Insecure(host.to_owned());
    }
    if lower.contains(": not found") || lower.contains("manifest unknown") {
        return ProbeError::Other { host: host.to_owned(), detail: "not found".to_owned() };
    }
    let unreachable =
        ["connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host"];
    if unreachable.iter().any(|u| lower.contains(u)) {
        return ProbeError::Unreachable { host: host.to_owned(), detail: first };
    }
    ProbeError::Other { host: host.to_owned(), detail: first }
}

/// The longest the plain-http probe of one reference takes, connection, request and answer
/// together: a server that answers a byte at a time cannot hold a build longer.
const PROBE_DEADLINE: Duration = Duration::from_secs(15);

fn http_head(repo: &CacheRepo, tag: &str, within: Duration) -> Result<u16, ProbeError> {
    let unreachable = |detail: String| ProbeError::Unreachable { host: repo.host.clone(), detail };
    let deadline = std::time::Instant::now() + within;
    // What is left of the deadline, for the next step; an error once it has passed.
    let left = || {
        deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| unreachable(format!("no answer within {} s", within.as_secs_f32())))
    };
    let authority = if repo.host.contains(':') { repo.host.clone() } else { format!("{}:80", repo.host) };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("the name has no address".to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&addr, left()?.min(Duration::from_secs(5)))
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = stream.set_write_timeout(Some(left()?));
    let request = format!(
        "HEAD /v2/{}/manifests/{tag} HTTP/1.1\r\nHost: {}\r\nUser-Agent: quarry\r\nAccept: \
         application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
         application/vnd.docker.distribution.manifest.list.v2+json, \
         application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n",
        repo.path, repo.host
    );
    stream.write_all(request.as_bytes()).map_err(|e| unreachable(e.to_string()))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let _ = stream.set_read_timeout(Some(left()?));
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            // A signal (EINTR): read again, within what is left of the deadline.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A read that ran into the deadline, its timeout being what was left of it (Linux
            // says EAGAIN, `WouldBlock`, for a timed-out read).
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(unreachable(format!("no answer within {} s", within.as_secs_f32())));
            }
            Err(e) => return Err(unreachable(e.to_string())),
        }
        if head.len() > 8192 {
            break;
        }
    }
    parse_status(&head).ok_or_else(|| {
        if head.first() == Some(&0x15) || head.starts_with(b"\x16") {
            ProbeError::Other { host: repo.host.clone(), detail: "it speaks TLS: drop `insecure`".to_owned() }
        } else {
            ProbeError::Other {
                host: repo.host.clone(),
                detail: format!(
                    "not an HTTP answer: {:?}",
                    String::from_utf8_lossy(&head[..head.len().min(60)])
                ),
            }
        }
    })
}

/// `HTTP/1.1 404 Not Found\r\n...` -> 404.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|p| p.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagetools_errors_are_read() {
        let e = classify(
            "h:1",
            "ERROR: Get \"https://h:1/v2/\": http: server gave HTTP response to HTTPS client\n",
        );
        assert_eq!(e, ProbeError::Insecure("h:1".into()));
        assert!(e.hint().unwrap().contains("--cache-registry-insecure"));
        let e = classify("h:1", "ERROR: dial tcp 10.0.0.1:1: connect: connection refused");
        assert!(matches!(e, ProbeError::Unreachable { .. }), "{e:?}");
        let e = classify("h:1", "ERROR: h:1/c:t: not found");
        assert_eq!(e.to_string(), "the cache registry `h:1` answered: not found");
        assert_eq!(parse_status(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
        assert_eq!(parse_status(b"\x15\x03\x01"), None);
    }

    #[test]
    fn an_unreachable_loopback_registry_is_reported() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cache =
            RemoteCache { repo: CacheRepo::parse(&format!("127.0.0.1:{port}/c")).unwrap(), insecure: false };
        let e = exists("docker", &cache, &format!("127.0.0.1:{port}/c:t")).unwrap_err();
        assert!(matches!(e, ProbeError::Unreachable { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!("cannot reach the cache registry `127.0.0.1:{port}`")),
            "{e}"
        );
    }

    /// A server that answers a byte at a time used to hold the probe for as long as it liked
    /// (each read had its own timeout): the probe as a whole has a deadline.
    #[test]
    fn a_slow_registry_cannot_hold_the_probe() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            for _ in 0..40 {
                if s.write_all(b"H").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let repo = CacheRepo::parse(&format!("127.0.0.1:{port}/c")).unwrap();
        let started = std::time::Instant::now();
        let e = http_head(&repo, "t", Duration::from_secs(2)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
        assert!(e.to_string().contains("no answer within 2 s"), "{e}");
    }

    #[test]
    fn a_plain_http_registry_is_asked_with_head() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for code in ["200 OK", "404 Not Found"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned());
                s.write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes()).unwrap();
            }
            seen
        });
        let cache = RemoteCache {
            repo: CacheRepo::parse(&format!("127.0.0.1:{port}/team/c")).unwrap(),
            insecure: false,
        };
        assert!(exists("docker", &cache, &format!("127.0.0.1:{port}/team/c:a")).unwrap());
        assert!(!exists("docker", &cache, &format!("127.0.0.1:{port}/team/c:b")).unwrap());
        assert_eq!(
            server.join().unwrap(),
            ["HEAD /v2/team/c/manifests/a HTTP/1.1", "HEAD /v2/team/c/manifests/b HTTP/1.1"]
        );
    }
}
