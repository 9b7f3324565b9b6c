//! The probes of a health check (SPEC §5), as futures that never block the thread they
//! run on: an HTTP/1.1 GET over a tokio `TcpStream` (2xx/3xx passes), a TCP connect, and
//! the spawn of an `exec` probe in its own process group (its exit comes back through the
//! Reaper, as every child's does; the App supervisor's `app/health.rs` times it out and
//! kills its group). Each is bounded by the check's `timeout`.
//!
//! The HTTP client is a few lines over tokio, not a crate: a probe needs a request line,
//! a `Host` header and the status line of the answer, and an HTTP crate (hyper, awc)
//! would bring a second protocol stack into a daemon that has none.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::supervision::health::ProbeResult;

/// The most of an answer read to find its status line, bytes.
const STATUS_LINE_MAX: usize = 1024;

fn fail(detail: impl Into<String>) -> ProbeResult {
    ProbeResult {
        pass: false,
        detail: detail.into(),
    }
}

fn pass(detail: impl Into<String>) -> ProbeResult {
    ProbeResult {
        pass: true,
        detail: detail.into(),
    }
}

/// A probe's address, resolved: `host` may be a name (`localhost`), resolved by tokio
/// off this thread.
async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => TcpStream::connect((ip, port)).await,
        Err(_) => TcpStream::connect((host, port)).await,
    }
}

/// What an I/O error says, short (`connection refused`).
fn io_detail(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::UnexpectedEof => "connection closed before an answer".into(),
        _ => e.to_string(),
    }
}

/// `fut` within `timeout_ms`, else a failure saying so.
async fn bounded(
    timeout_ms: u64,
    fut: impl std::future::Future<Output = ProbeResult>,
) -> ProbeResult {
    match tokio::time::timeout(Duration::from_millis(timeout_ms), fut).await {
        Ok(r) => r,
        Err(_) => fail(format!("timed out after {timeout_ms} ms")),
    }
}

/// A TCP probe: a connect to `host:port` within `timeout_ms` passes.
pub async fn tcp(host: String, port: u16, timeout_ms: u64) -> ProbeResult {
    bounded(timeout_ms, async move {
        match connect(&host, port).await {
            Ok(_) => pass("connected"),
            Err(e) => fail(io_detail(&e)),
        }
    })
    .await
}

/// An HTTP probe: `GET path` on `host:port` (HTTP/1.1, `Connection: close`); a 2xx or
/// 3xx status within `timeout_ms` passes (Kubernetes' `httpGet`). Only the status line is
/// read.
pub async fn http(host: String, port: u16, path: String, timeout_ms: u64) -> ProbeResult {
    bounded(timeout_ms, async move {
        let mut s = match connect(&host, port).await {
            Ok(s) => s,
            Err(e) => return fail(io_detail(&e)),
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: pmx-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        if let Err(e) = s.write_all(req.as_bytes()).await {
            return fail(io_detail(&e));
        }
        let mut buf = Vec::with_capacity(128);
        let mut chunk = [0u8; 256];
        loop {
            if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                return status(&buf[..end]);
            }
            if buf.len() >= STATUS_LINE_MAX {
                return fail("no HTTP status line in the answer");
            }
            match s.read(&mut chunk).await {
                Ok(0) if buf.is_empty() => return fail("connection closed before an answer"),
                Ok(0) => return status(&buf),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return fail(io_detail(&e)),
            }
        }
    })
    .await
}

/// The result a status line (`HTTP/1.1 200 OK`) means.
pub fn status(line: &[u8]) -> ProbeResult {
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let code = match (words.next(), words.next()) {
        (Some(v), Some(c)) if v.starts_with("HTTP/") => c.parse::<u16>().ok(),
        _ => None,
    };
    match code {
        Some(c) if (200..400).contains(&c) => pass(format!("HTTP {c}")),
        Some(c) => fail(format!("HTTP {c}")),
        None => fail("not an HTTP answer"),
    }
}

/// Spawn an `exec` probe: `argv` in `cwd` with `env` (the instance's), in a process group
/// of its own (so the timeout kills all it started), stdin/stdout/stderr on /dev/null.
/// Answers its pid (= its group); its exit comes through the Reaper.
pub fn spawn_exec(
    argv: &[String],
    cwd: &Path,
    env: &BTreeMap<String, String>,
) -> std::io::Result<i32> {
    let Some((program, args)) = argv.split_first() else {
        return Err(std::io::Error::other("exec probe without a command"));
    };
    let child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    // Not waited for here: the Reaper collects every child of the daemon.
    Ok(child.id() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_pass_on_2xx_and_3xx() {
        let cases: &[(&str, bool, &str)] = &[
            ("HTTP/1.1 200 OK", true, "HTTP 200"),
            ("HTTP/1.0 204 No Content", true, "HTTP 204"),
            ("HTTP/1.1 302 Found", true, "HTTP 302"),
            ("HTTP/1.1 404 Not Found", false, "HTTP 404"),
            ("HTTP/1.1 503 Service Unavailable", false, "HTTP 503"),
            ("HTTP/1.1 199", false, "HTTP 199"),
            ("SSH-2.0-OpenSSH", false, "not an HTTP answer"),
            ("", false, "not an HTTP answer"),
        ];
        for (line, ok, detail) in cases {
            let r = status(line.as_bytes());
            assert_eq!((r.pass, r.detail.as_str()), (*ok, *detail), "{line}");
        }
    }

    #[actix::test]
    async fn a_refused_connect_fails_and_a_silent_server_times_out() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        // Listening but never answering: the connect passes, the GET times out.
        assert!(tcp("127.0.0.1".into(), port, 500).await.pass);
        let r = http("127.0.0.1".into(), port, "/".into(), 200).await;
        assert_eq!(r.detail, "timed out after 200 ms");
        drop(l);
        let r = tcp("127.0.0.1".into(), port, 500).await;
        assert!(!r.pass, "{r:?}");
    }
}
