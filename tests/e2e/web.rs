//! `pmx web` (issue 25, step 1): the daemon's HTTP service — the JSON API answering the
//! socket's own objects, typed errors with HTTP statuses, the bearer token off loopback,
//! `/metrics` in Prometheus' text format (checked with `prometheus_client`'s parser),
//! `--stop`, and the setting surviving save → kill → resurrect.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::http::free_port;

/// An answer: the status, the head's lines (lower-case names), the body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Answer {
    /// The value of header `name` (lower-case), if the answer has it.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Send `method path` to the port with `headers` (`Name: value` lines; a `Host` of
/// `localhost:<port>` unless one is given); None when the port refuses.
pub(crate) fn raw(port: u16, method: &str, path: &str, headers: &[&str]) -> Option<Answer> {
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return None,
        Err(e) => panic!("connect to {port}: {e}"),
    };
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        head.push_str(&format!("Host: localhost:{port}\r\n"));
    }
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    Some(Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// What one request came to: the status code and the body, or None when the port
/// refused the connection.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Option<(u16, String)> {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    raw(port, method, path, &headers).map(|a| (a.status, a.body))
}

/// Whether `port` refuses a connection (nothing listens). A connection taken and then
/// reset (a service closing as it is asked) is not a refusal: the caller waits on.
pub(crate) fn refuses(port: u16) -> bool {
    matches!(
        TcpStream::connect(("127.0.0.1", port)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// A request that must be answered 200 with JSON.
pub(crate) fn json_ok(port: u16, method: &str, path: &str, token: Option<&str>) -> Value {
    let (status, body) = http(port, method, path, token).expect("the port serves");
    assert_eq!(status, 200, "{method} {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
}

/// Two sleepers, `a` and `b`, online.
pub(crate) fn two_apps(t: &TestHome) {
    for name in ["a", "b"] {
        t.ok(&["start", &app("sleeper.sh"), "--name", name]);
        t.wait_status(name, "online");
    }
}

/// `pmx web --listen 127.0.0.1:<free port> <extra…>`: the port.
pub(crate) fn serve(t: &TestHome, extra: &[&str]) -> (u16, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["web", "--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let out = t.ok(&args);
    (port, out)
}

#[test]
fn the_json_api_lists_describes_and_restarts_as_the_socket_does() {
    let t = TestHome::new();
    two_apps(&t);
    let (port, out) = serve(&t, &[]);
    assert!(out.contains(&format!("http://127.0.0.1:{port}/")), "{out}");

    let rows = json_ok(port, "GET", "/api/processes", None);
    let rows = rows.as_array().expect("an array");
    for name in ["a", "b"] {
        let row = rows.iter().find(|r| r["name"] == name).expect("listed");
        assert_eq!(row["pid"], t.row(name)["pid"], "{name}'s pid");
        assert!(row["pid"].as_i64().is_some_and(|p| p > 0), "{row}");
    }

    let described = json_ok(port, "GET", "/api/processes/a", None);
    let d = &described.as_array().expect("an array")[0];
    assert_eq!(d["name"], "a", "{d}");
    assert!(d["out_log"].as_str().is_some(), "{d}");

    let before = t.row("a")["pid"].as_i64().expect("a pid");
    let touched = json_ok(port, "POST", "/api/processes/a/restart", None);
    assert_eq!(touched[0]["name"], "a", "{touched}");
    let after = t.wait_row("a", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != before)
    });
    assert_eq!(after["restarts"], 1, "{after}");
    assert_eq!(t.row("b")["restarts"], 0);

    let stopped = json_ok(port, "POST", "/api/processes/b/stop", None);
    assert_eq!(stopped[0]["status"], "stopped", "{stopped}");
    let started = json_ok(port, "POST", "/api/processes/b/start", None);
    assert_eq!(started[0]["name"], "b", "{started}");
    t.wait_status("b", "online");

    let logs = json_ok(port, "GET", "/api/logs/a?lines=5", None);
    let out = logs
        .as_array()
        .expect("an array")
        .iter()
        .find(|f| f["stream"] == "out")
        .expect("the out file");
    let lines: Vec<&str> = out["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(lines.iter().any(|l| l.starts_with("sleeper ")), "{lines:?}");
}

#[test]
fn an_unknown_target_is_404_with_the_not_found_code() {
    let t = TestHome::new();
    two_apps(&t);
    let (port, _) = serve(&t, &[]);
    for (method, path) in [
        ("GET", "/api/processes/nope"),
        ("POST", "/api/processes/nope/restart"),
        ("GET", "/api/logs/nope"),
        ("GET", "/no/such/route"),
    ] {
        let (status, body) = http(port, method, path, None).expect("served");
        assert_eq!(status, 404, "{method} {path}: {body}");
        let v: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(v["error"]["code"], "not_found", "{body}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (status, body) = http(port, "GET", "/api/logs/a?lines=ten", None).expect("served");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"bad_request\""), "{body}");
}

#[test]
fn a_non_loopback_listener_answers_401_without_the_token_and_200_with_it() {
    let t = TestHome::new();
    two_apps(&t);
    let port = free_port();
    let out = t.ok(&["web", "--listen", &format!("0.0.0.0:{port}")]);
    let file = t.home.join("web.token");
    let token = std::fs::read_to_string(&file).expect("web.token");
    let token = token.trim();
    assert_eq!(token.len(), 64, "{token}");
    assert!(out.contains(token), "the token is printed once: {out}");
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    for path in ["/api/processes", "/metrics", "/api/processes/a", "/nope"] {
        let (status, body) = http(port, "GET", path, None).expect("served");
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("\"unauthorized\""), "{body}");
        let (status, _) = http(port, "GET", path, Some("0".repeat(64).as_str())).expect("served");
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    let rows = json_ok(port, "GET", "/api/processes", Some(token));
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");

    // `--token` on loopback too; without it the loopback service is open.
    let (port2, out) = serve(&t, &["--token"]);
    let token2 = std::fs::read_to_string(&file).expect("web.token");
    assert!(out.contains(token2.trim()), "{out}");
    assert_eq!(
        http(port2, "GET", "/api/processes", None).map(|r| r.0),
        Some(401)
    );
    assert_eq!(
        http(port2, "GET", "/api/processes", Some(token2.trim())).map(|r| r.0),
        Some(200)
    );
    assert!(
        wait_for(DEADLINE, || refuses(port)),
        "the old port is closed"
    );
}

#[test]
fn moving_the_service_to_another_address_on_its_own_port_says_to_stop_it_first() {
    let t = TestHome::new();
    let (port, _) = serve(&t, &[]);
    let wide = format!("0.0.0.0:{port}");
    let err = t.fails(&["web", "--listen", &wide, "--token"], 1);
    assert!(
        err.contains(&format!("pmx web already serves 127.0.0.1:{port}"))
            && err.contains("run `pmx web --stop` first"),
        "{err}"
    );
    // Nothing changed: the old service still answers, without a token.
    assert_eq!(
        http(port, "GET", "/api/processes", None).map(|r| r.0),
        Some(200)
    );
    t.ok(&["web", "--stop"]);
    assert!(wait_for(DEADLINE, || refuses(port)), "stopped");
    t.ok(&["web", "--listen", &wide, "--token"]);
    assert_eq!(
        http(port, "GET", "/api/processes", None).map(|r| r.0),
        Some(401)
    );
}

#[test]
fn web_stop_closes_the_port() {
    let t = TestHome::new();
    let (port, _) = serve(&t, &[]);
    assert_eq!(
        http(port, "GET", "/api/processes", None).map(|r| r.0),
        Some(200)
    );
    assert_eq!(
        t.ok(&["web", "--stop"]).trim(),
        format!("web service stopped (it served http://127.0.0.1:{port}/)")
    );
    assert!(
        wait_for(DEADLINE, || refuses(port)),
        "the port still answers after --stop"
    );
    // Twice is fine, and says so; a bad address is one line, exit 2 (a usage error).
    assert_eq!(
        t.ok(&["web", "--stop"]).trim(),
        "web service was not running"
    );
    let err = t.fails(&["web", "--listen", "localhost"], 2);
    assert!(err.contains("expected an address and a port"), "{err}");
}

/// prometheus_client's parser over `text`: one line per sample,
/// `<name> <name label> <value>`, or the parser's error.
const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        print(s.name, s.labels.get("name", "-"), s.labels.get("status", "-"), s.value)
"#;

#[test]
fn metrics_parse_and_carry_both_apps_memory_and_restarts() {
    let python = python_with("prometheus_client");
    if !tool_available(
        python.is_some(),
        "no python imports prometheus_client (.ci/run installs it)",
    ) {
        return;
    }
    let python = python.unwrap_or_default();
    let t = TestHome::new();
    two_apps(&t);
    t.ok(&["restart", "b"]);
    t.wait_row("b", "restarted", |r| {
        r["restarts"] == 1 && r["status"] == "online"
    });
    let (port, _) = serve(&t, &[]);
    // Memory is sampled while someone looks: /metrics asks, so it comes within seconds.
    let mut text = String::new();
    let sampled = wait_for(DEADLINE, || {
        let (status, body) = http(port, "GET", "/metrics", None).expect("served");
        assert_eq!(status, 200, "{body}");
        text = body;
        ["a", "b"]
            .iter()
            .all(|n| text.contains(&format!("pmx_process_memory_bytes{{name=\"{n}\"")))
    });
    assert!(sampled, "no memory figures:\n{text}");
    let mut child = Command::new(&python)
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("parse");
    assert!(
        out.status.success(),
        "prometheus_client refused it: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = String::from_utf8_lossy(&out.stdout).to_string();
    let value = |metric: &str, name: &str, status: &str| -> Option<f64> {
        samples.lines().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() == 4 && f[0] == metric && f[1] == name && f[2] == status)
                .then(|| f[3].parse().ok())
                .flatten()
        })
    };
    for name in ["a", "b"] {
        let memory = value("pmx_process_memory_bytes", name, "-").expect("memory");
        assert!(memory > 0.0, "{name}: {samples}");
        assert_eq!(
            value("pmx_process_status", name, "online"),
            Some(1.0),
            "{samples}"
        );
        assert_eq!(
            value("pmx_process_status", name, "stopped"),
            Some(0.0),
            "{samples}"
        );
        assert_eq!(
            value("pmx_process_log_lines_lost_total", name, "-"),
            Some(0.0)
        );
        // Every line its files hold was written by this daemon: one per start.
        let written = ["out", "error"]
            .iter()
            .map(|s| lines(&t.home.join(format!("logs/{name}-{s}.log"))).len())
            .sum::<usize>();
        assert_eq!(
            value("pmx_process_log_lines_written_total", name, "-"),
            Some(written as f64),
            "{samples}"
        );
        assert!(
            value("pmx_process_uptime_seconds", name, "-").is_some(),
            "{samples}"
        );
    }
    assert_eq!(
        value("pmx_process_restarts_total", "a", "-"),
        Some(0.0),
        "{samples}"
    );
    assert_eq!(
        value("pmx_process_restarts_total", "b", "-"),
        Some(1.0),
        "{samples}"
    );
    assert!(value("pmx_daemon_memory_bytes", "-", "-").is_some_and(|m| m > 0.0));
    assert!(value("pmx_daemon_cpu_seconds_total", "-", "-").is_some());
    assert_eq!(
        value("pmx_daemon_event_subscribers", "-", "-"),
        Some(0.0),
        "{samples}"
    );
    assert!(
        text.contains("# TYPE pmx_process_restarts_total counter"),
        "{text}"
    );
}

#[test]
fn save_kill_resurrect_brings_the_web_service_back_on_its_port_and_token() {
    let t = TestHome::new();
    two_apps(&t);
    let (port, _) = serve(&t, &["--token"]);
    let token = std::fs::read_to_string(t.home.join("web.token")).expect("web.token");
    let token = token.trim().to_string();
    t.ok(&["save"]);
    let dump = std::fs::read_to_string(t.home.join("dump.ron")).expect("dump.ron");
    assert!(dump.contains(&format!("127.0.0.1:{port}")), "{dump}");
    t.ok(&["kill"]);
    assert!(
        wait_for(DEADLINE, || refuses(port)),
        "the port outlived the daemon"
    );
    t.ok(&["resurrect"]);
    let rows = json_ok(port, "GET", "/api/processes", Some(&token));
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
    assert_eq!(
        http(port, "GET", "/api/processes", None).map(|r| r.0),
        Some(401)
    );

    // Saved with the service off: a resurrect leaves it off.
    t.ok(&["web", "--stop"]);
    t.ok(&["save"]);
    t.ok(&["kill"]);
    t.ok(&["resurrect"]);
    assert!(
        wait_for(DEADLINE, || refuses(port)),
        "served though saved off"
    );
}

#[test]
fn metrics_show_health_up_only_for_an_app_with_a_health_check() {
    let t = TestHome::new();
    let app_port = free_port();
    std::fs::write(
        t.path("ecosystem.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"h\", script: \"{}\", args: [\"{app_port}\"], kill_timeout: \"1s\", health: (http: \"http://127.0.0.1:{app_port}/\", interval: \"200ms\", timeout: \"1s\")), App(name: \"plain\", script: \"{}\")])",
            app("health_http.py"),
            app("sleeper.sh")
        ),
    )
    .expect("write ecosystem.ron");
    t.ok(&["up"]);
    t.wait_status("h", "online");
    t.wait_status("plain", "online");
    let (port, _) = serve(&t, &[]);
    let mut text = String::new();
    let passed = wait_for(DEADLINE, || {
        text = http(port, "GET", "/metrics", None).expect("served").1;
        text.contains(
            "pmx_process_health_up{name=\"h\",id=\"0\",instance=\"0\",namespace=\"default\"} 1\n",
        )
    });
    assert!(passed, "no passing health figure for h:\n{text}");
    assert!(
        !text.contains("pmx_process_health_up{name=\"plain\""),
        "an app without health has no health figure:\n{text}"
    );
}
