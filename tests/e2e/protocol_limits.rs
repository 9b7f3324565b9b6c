//! The admin socket's limits as a user meets them: a request over 1 MiB fails the CLI at
//! once with the size and the limit (never a wait for a reply that cannot come), lines the
//! daemon cannot read are answered with their id, a key given twice is refused, and many
//! clients holding half-sent lines cost the daemon a bounded amount of memory.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{alive, run_with_timeout, wait_for, TestHome, DEADLINE};

/// `MAX_PENDING`: what the daemon may hold of unfinished lines in all (32 MiB).
const BUDGET: u64 = 32 << 20;

const HELLO: &str = r#"{"id":0,"type":"hello","protocol_version":1,"version":"x"}"#;

/// A raw connection that said hello.
fn hello(sock: &Path) -> (BufReader<UnixStream>, UnixStream) {
    let s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    writeln!(w, "{HELLO}").expect("hello");
    let mut line = String::new();
    r.read_line(&mut line).expect("hello reply");
    (r, w)
}

fn call(r: &mut BufReader<UnixStream>, w: &mut UnixStream, line: &[u8]) -> Value {
    w.write_all(line).expect("write");
    w.write_all(b"\n").expect("write");
    let mut reply = String::new();
    r.read_line(&mut reply).expect("reply");
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"))
}

/// The daemon's resident memory, in bytes.
fn rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

#[test]
fn a_request_over_1_mib_fails_the_cli_promptly_and_the_daemon_stays_up() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let daemon = t.daemon_pid().expect("pmx.pid");
    let big = "x".repeat(1_200_000);
    let file = t.path("big.ron");
    std::fs::write(
        &file,
        format!(
            "Ecosystem(apps: [App(name: \"big\", script: \"/bin/sleep\", interpreter: \"none\", args: [\"3600\", \"{big}\"])])"
        ),
    )
    .expect("write ecosystem");
    let started = Instant::now();
    let out = run_with_timeout(
        t.cmd(&["start", file.to_str().expect("utf-8 path")]),
        Duration::from_secs(60),
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit 1; stderr: {stderr}");
    assert!(
        took < Duration::from_secs(20),
        "failed after {took:?}, not promptly"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("bytes is over the limit of 1048576 bytes"),
        "says the size and the limit: {stderr}"
    );
    assert!(stderr.contains("fewer apps"), "says what to do: {stderr}");
    t.ok(&["ping"]);
    assert_eq!(t.daemon_pid(), Some(daemon), "the same daemon serves");
    assert!(t.list().is_empty(), "nothing started");
}

#[test]
fn lines_the_daemon_cannot_read_are_answered_with_their_id_and_duplicate_keys_are_refused() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let (mut r, mut w) = hello(&t.home.join("pmx.sock"));
    let deep = format!(
        r#"{{"id":21,"type":"ping","x":{}0{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let cases: [(&[u8], u64, &str); 4] = [
        (deep.as_bytes(), 21, "malformed"),
        (
            br#"{"id":22,"type":"describe","target":"\ud800"}"#,
            22,
            "malformed",
        ),
        (
            br#"{"id":23,"type":"ping","type":"kill"}"#,
            23,
            "bad_request",
        ),
        (
            br#"{"id":24,"type":"restart","target":"a","env":{"K":"1","K":"2"}}"#,
            24,
            "bad_request",
        ),
    ];
    for (line, id, code) in cases {
        let reply = call(&mut r, &mut w, line);
        assert_eq!(reply["id"], id, "{reply}");
        assert_eq!(reply["error"]["code"], code, "{reply}");
    }
    let reply = call(&mut r, &mut w, br#"{"id":25,"type":"ping"}"#);
    assert_eq!(
        reply["result"]["pong"], true,
        "the daemon was not killed: {reply}"
    );
}

#[test]
fn many_clients_holding_half_sent_lines_cost_a_bounded_amount_of_memory() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let daemon = t.daemon_pid().expect("pmx.pid");
    let sock = t.home.join("pmx.sock");
    let before = rss(daemon);
    // 100 clients, each 1 MB of a line that never ends: 100 MB offered.
    let chunk = vec![b'x'; 1_000_000];
    let mut held = Vec::new();
    for _ in 0..100 {
        let (r, mut w) = hello(&sock);
        w.write_all(br#"{"id":1,"type":"describe","target":""#)
            .expect("head");
        w.write_all(&chunk)
            .expect("1 MB: the daemon reads (or drops) it all");
        held.push((r, w));
    }
    t.ok(&["ping"]);
    let during = rss(daemon);
    assert!(
        during < before + BUDGET + (40 << 20),
        "the daemon holds {} MiB with 100 half-sent lines of 1 MB (was {} MiB); the budget is {} MiB",
        during >> 20,
        before >> 20,
        BUDGET >> 20
    );
    // A client past the budget finishing its line hears too_large, with the id it sent.
    let (r, w) = held.last_mut().expect("a client");
    w.write_all(b"\"}\n").expect("newline");
    let mut reply = String::new();
    r.read_line(&mut reply).expect("reply");
    let reply: Value = serde_json::from_str(&reply).expect("JSON");
    assert_eq!(reply["error"]["code"], "too_large", "{reply}");
    assert_eq!(reply["id"], 1, "{reply}");
    drop(held);
    let mut after = 0;
    let given_back = wait_for(DEADLINE, || {
        after = rss(daemon);
        after < before + (16 << 20)
    });
    assert!(
        given_back,
        "memory given back once the clients left: {} MiB, was {} MiB",
        after >> 20,
        before >> 20
    );
    t.ok(&["ping"]);
    assert!(alive(daemon));
}

/// The caller's environment travels once per request: 600 apps of one file, started by a
/// shell with 4 KB of environment (2.4 MB had it gone once per app, over the 1 MiB
/// limit), start from that one file, each with the whole environment. `autostart: false`
/// keeps the test to registering them; one is started to check what it inherited.
#[test]
fn hundreds_of_apps_of_one_file_start_whatever_the_size_of_the_callers_environment() {
    let t = TestHome::new();
    let apps: String = (0..600)
        .map(|i| {
            format!(
                "App(name: \"a{i:03}\", script: \"/bin/sleep\", args: [\"3600\"], autostart: false),\n"
            )
        })
        .collect();
    let file = t.work.join("eco.ron");
    std::fs::write(&file, format!("Ecosystem(apps: [\n{apps}])\n")).expect("write");
    let big = "v".repeat(4000);
    let mut c = t.cmd(&["start", "eco.ron"]);
    c.env("PMX_BIG_VAR", &big);
    let out = run_with_timeout(c, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = t.list();
    assert_eq!(rows.len(), 600, "every app registered");
    assert!(rows.iter().all(|r| r["status"] == "stopped"));
    t.ok(&["start", "a599"]);
    t.wait_status("a599", "online");
    let env = t.ok(&["env", &rows[599]["id"].to_string()]);
    assert!(
        env.lines().any(|l| l == format!("PMX_BIG_VAR={big}")),
        "the last app got the caller's environment"
    );
}
