//! The admin socket (SPEC §8) spoken directly: a raw `UnixStream` on `$PMX_HOME/pmx.sock`,
//! newline-delimited JSON, every read bounded by a timeout so a daemon that hangs fails the
//! test instead of blocking it.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::*;

/// The longest a single socket read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The request line limit (1 MiB).
const MAX_LINE: usize = 1 << 20;

const HELLO: &str = r#"{"id":0,"type":"hello","protocol_version":1,"version":"x"}"#;

/// `$PMX_HOME/pmx.sock` of a home whose daemon runs (started by `pmx ping`).
fn daemon_socket(t: &TestHome) -> PathBuf {
    t.ok(&["ping"]);
    t.home.join("pmx.sock")
}

/// One client connection.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    /// Connect, with read and write timeouts.
    fn open(sock: &Path) -> Conn {
        let stream =
            UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("write timeout");
        let writer = stream.try_clone().expect("clone stream");
        Conn {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Connect and say hello; asserts the hello's answer.
    fn hello(sock: &Path) -> Conn {
        let mut c = Conn::open(sock);
        let reply = c.call(HELLO);
        assert_eq!(reply["id"], 0, "hello reply: {reply}");
        assert_eq!(
            reply["result"]["protocol_version"], 1,
            "hello reply: {reply}"
        );
        c
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the socket");
    }

    fn send(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.send_raw(&bytes);
    }

    /// The next line, or None when the daemon closed the connection (EOF or reset).
    /// A timeout fails the test.
    fn line_or_close(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                assert!(
                    line.ends_with('\n'),
                    "a reply line ends with a newline: {line:?}"
                );
                Some(line)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("no reply from the daemon within {IO_TIMEOUT:?}")
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
            Err(e) => panic!("reading the socket: {e}"),
        }
    }

    /// The next JSON line (a reply or an event).
    fn recv(&mut self) -> Value {
        let line = self
            .line_or_close()
            .expect("the daemon closed the connection instead of answering");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply is not JSON: {e}: {line}"))
    }

    fn call(&mut self, line: &str) -> Value {
        self.send(line);
        self.recv()
    }

    /// Read events until `done` holds over everything read so far (SPEC deadline).
    fn events_until(&mut self, what: &str, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let end = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        while !done(&seen) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; events so far: {seen:#?}"
            );
            seen.push(self.recv());
        }
        seen
    }
}

/// Assert `reply` is an error reply with exactly this `id` (`Value::Null` for null) and code.
#[track_caller]
fn assert_error(reply: &Value, id: Value, code: &str) {
    let obj = reply
        .as_object()
        .unwrap_or_else(|| panic!("reply is not an object: {reply}"));
    assert_eq!(obj.get("id"), Some(&id), "reply id: {reply}");
    assert_eq!(reply["error"]["code"], code, "error code: {reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message: {reply}"
    );
    assert!(
        obj.get("result").is_none(),
        "an error has no result: {reply}"
    );
}

/// Assert `reply` is a successful `ping` answer with `id`.
#[track_caller]
fn assert_pong(reply: &Value, id: u64) {
    assert_eq!(reply["id"], id, "ping reply: {reply}");
    assert_eq!(reply["result"]["pong"], true, "ping reply: {reply}");
}

fn ping(id: u64) -> String {
    format!(r#"{{"id":{id},"type":"ping"}}"#)
}

#[test]
fn hello_round_trip() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::open(&sock);
    let reply = c.call(HELLO);
    let version = reply["result"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("hello reply carries the daemon's version: {reply}"))
        .to_string();
    assert!(!version.is_empty());
    assert_eq!(
        reply,
        json!({"id": 0, "result": {"protocol_version": 1, "version": version}})
    );
    let pong = c.call(&ping(1));
    assert_pong(&pong, 1);
    assert_eq!(pong["result"]["version"], version.as_str());
}

#[test]
fn request_before_hello_gets_hello_required() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::open(&sock);
    assert_error(&c.call(&ping(5)), json!(5), "hello_required");
    assert_error(
        &c.call(r#"{"id":6,"type":"list"}"#),
        json!(6),
        "hello_required",
    );
    // The session goes on: the hello is still accepted, then requests are served.
    assert_eq!(c.call(HELLO)["result"]["protocol_version"], 1);
    assert_pong(&c.call(&ping(7)), 7);
    // A hello belongs to its own connection only.
    let mut other = Conn::open(&sock);
    assert_error(&other.call(&ping(8)), json!(8), "hello_required");
}

#[test]
fn another_protocol_version_gets_version_mismatch() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::open(&sock);
    let reply = c.call(r#"{"id":3,"type":"hello","protocol_version":2,"version":"9.9.9"}"#);
    assert_error(&reply, json!(3), "version_mismatch");
    // A refused hello is no hello.
    assert_error(&c.call(&ping(4)), json!(4), "hello_required");
    let reply = c.call(r#"{"id":5,"type":"hello","protocol_version":0,"version":"x"}"#);
    assert_error(&reply, json!(5), "version_mismatch");
    assert_eq!(c.call(HELLO)["result"]["protocol_version"], 1);
    assert_pong(&c.call(&ping(6)), 6);
}

#[test]
fn ids_are_echoed_verbatim_up_to_u64_max() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::hello(&sock);
    for id in [0, 1, 42, (1u64 << 53) + 1, u64::MAX - 1, u64::MAX] {
        c.send(&ping(id));
        let line = c.line_or_close().expect("a reply");
        assert!(
            line.contains(&format!("\"id\":{id}")),
            "id {id} echoed verbatim: {line}"
        );
        let reply: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(reply["id"].as_u64(), Some(id), "{line}");
        assert_pong(&reply, id);
    }
    // Pipelined requests are answered in order, each with its own id.
    c.send_raw(format!("{}\n{}\n{}\n", ping(30), ping(u64::MAX), ping(10)).as_bytes());
    for id in [30, u64::MAX, 10] {
        assert_pong(&c.recv(), id);
    }
}

#[test]
fn an_id_that_is_not_a_u64_gets_bad_request_with_null_id() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::hello(&sock);
    for line in [
        r#"{"id":-1,"type":"ping"}"#,
        r#"{"id":"3","type":"ping"}"#,
        r#"{"id":1.5,"type":"ping"}"#,
        r#"{"id":null,"type":"ping"}"#,
        r#"{"id":[1],"type":"ping"}"#,
        r#"{"id":18446744073709551616,"type":"ping"}"#,
        r#"{"type":"ping"}"#,
    ] {
        let reply = c.call(line);
        assert_error(&reply, Value::Null, "bad_request");
    }
    assert_pong(&c.call(&ping(9)), 9);
}

#[test]
fn a_line_that_is_not_json_is_malformed() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::hello(&sock);
    for (line, id) in [
        ("hello daemon", Value::Null),
        ("{", Value::Null),
        // Cut short, but its id can be read: the reply names it.
        (r#"{"id":1,"type":"ping""#, Value::from(1)),
        ("[1,2]", Value::Null),
        (r#"[{"id":1,"type":"ping"}]"#, Value::Null),
        (r#""ping""#, Value::Null),
        ("42", Value::Null),
        ("null", Value::Null),
    ] {
        let reply = c.call(line);
        assert_error(&reply, id, "malformed");
    }
    // The session goes on.
    assert_pong(&c.call(&ping(2)), 2);
}

#[test]
fn invalid_utf8_gets_an_error_or_a_close_and_the_daemon_serves_on() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let daemon = t.daemon_pid().expect("pmx.pid");
    let mut bystander = Conn::hello(&sock);
    for (bytes, id) in [
        // The id can be read before the bad bytes: the reply names it.
        (&b"{\"id\":1,\"type\":\"\xff\xfe\"}\n"[..], Value::from(1)),
        (&b"\xc3\x28\xa0\xa1\x00\xff\n"[..], Value::Null),
    ] {
        let mut c = Conn::hello(&sock);
        c.send_raw(bytes);
        match c.line_or_close() {
            None => {} // closed: allowed
            Some(line) => {
                let reply: Value = serde_json::from_str(&line).expect("reply is JSON");
                assert_error(&reply, id.clone(), "malformed");
                // An error reply means the session goes on.
                assert_pong(&c.call(&ping(3)), 3);
            }
        }
        let mut fresh = Conn::hello(&sock);
        assert_pong(&fresh.call(&ping(4)), 4);
    }
    assert_pong(&bystander.call(&ping(5)), 5);
    assert_eq!(t.daemon_pid(), Some(daemon), "the same daemon serves");
    assert!(alive(daemon));
}

#[test]
fn a_line_over_1_mib_gets_too_large_and_the_session_goes_on() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::hello(&sock);

    // A request just over the limit.
    let head = r#"{"id":9,"type":"ping","pad":""#;
    let pad = "x".repeat(MAX_LINE + 16 - head.len());
    let line = format!("{head}{pad}\"}}");
    assert!(line.len() > MAX_LINE);
    let reply = c.call(&line);
    assert_eq!(reply["error"]["code"], "too_large", "{reply}");
    assert_pong(&c.call(&ping(10)), 10);

    // Three MiB of anything: the rest of the line is discarded, not read as requests
    // (the embedded newline-free pings must not be answered).
    let mut junk = Vec::with_capacity(3 * MAX_LINE + 64);
    while junk.len() < 3 * MAX_LINE {
        junk.extend_from_slice(ping(77).as_bytes());
    }
    junk.push(b'\n');
    c.send_raw(&junk);
    let reply = c.recv();
    assert_eq!(reply["error"]["code"], "too_large", "{reply}");
    assert_pong(&c.call(&ping(11)), 11);

    // A line just under the limit is read and answered with its id.
    let head = r#"{"id":12,"type":"describe","target":""#;
    let pad = "y".repeat(MAX_LINE - 64 - head.len());
    let line = format!("{head}{pad}\"}}");
    assert!(line.len() < MAX_LINE);
    let reply = c.call(&line);
    assert_eq!(
        reply["id"], 12,
        "an under-limit line is answered with its id"
    );
    assert_ne!(reply["error"]["code"], "too_large", "{}", &reply["error"]);
    assert_pong(&c.call(&ping(13)), 13);
}

#[test]
fn missing_or_unknown_type_gets_unknown_request_with_the_id() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::hello(&sock);
    assert_error(&c.call(r#"{"id":3}"#), json!(3), "unknown_request");
    assert_error(
        &c.call(r#"{"id":4,"type":"dance"}"#),
        json!(4),
        "unknown_request",
    );
    assert_error(&c.call(r#"{"id":5,"type":7}"#), json!(5), "unknown_request");
    assert_error(
        &c.call(&format!(r#"{{"id":{},"type":"LIST"}}"#, u64::MAX)),
        json!(u64::MAX),
        "unknown_request",
    );
    assert_pong(&c.call(&ping(6)), 6);
}

#[test]
fn known_verb_with_wrong_fields_gets_bad_request_with_the_id() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut c = Conn::hello(&sock);
    for (id, line) in [
        (10, r#"{"id":10,"type":"stop"}"#),
        (11, r#"{"id":11,"type":"stop","target":1}"#),
        (12, r#"{"id":12,"type":"describe","target":null}"#),
        (13, r#"{"id":13,"type":"signal","target":"all"}"#),
        (14, r#"{"id":14,"type":"start","apps":"nope"}"#),
        (15, r#"{"id":15,"type":"start"}"#),
        (16, r#"{"id":16,"type":"hello","version":"x"}"#),
        (17, r#"{"id":17,"type":"subscribe","apps":"a"}"#),
    ] {
        assert_error(&c.call(line), json!(id), "bad_request");
    }
    // Still a normal session (the bad subscribe did not subscribe it).
    assert_pong(&c.call(&ping(18)), 18);
    let list = c.call(r#"{"id":19,"type":"list"}"#);
    assert_eq!(list["id"], 19);
    assert!(list["result"].is_array(), "{list}");
}

#[test]
fn a_half_sent_line_never_stalls_other_clients() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    t.ok(&["start", &app("sleeper.sh"), "--name", "s"]);

    // One client sends half a request and keeps the connection open; another connects
    // and says nothing at all.
    let mut slow = Conn::hello(&sock);
    slow.send_raw(br#"{"id":1,"type":"pi"#);
    let _silent = Conn::open(&sock);
    let mut before_hello = Conn::open(&sock);
    before_hello.send_raw(br#"{"id":0,"type":"hel"#);

    for round in 0..3u64 {
        let mut other = Conn::hello(&sock);
        assert_pong(&other.call(&ping(100 + round)), 100 + round);
        let list = other.call(&format!(r#"{{"id":{},"type":"list"}}"#, 200 + round));
        assert_eq!(list["id"], 200 + round);
        let rows = list["result"].as_array().expect("list answers an array");
        assert!(rows.iter().any(|r| r["name"] == "s"), "{list}");
    }
    t.ok(&["list"]);

    // The half lines finish later and are answered as whole requests.
    slow.send_raw(b"ng\"}\n");
    assert_pong(&slow.recv(), 1);
    before_hello.send_raw(b"lo\",\"protocol_version\":1,\"version\":\"x\"}\n");
    assert_eq!(before_hello.recv()["result"]["protocol_version"], 1);
    assert_pong(&before_hello.call(&ping(2)), 2);
}

#[test]
fn a_slow_stop_never_stalls_other_clients() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let pidfile = t.path("pid");
    t.ok(&[
        "start",
        &app("ignore_sigint.py"),
        "--name",
        "stubborn",
        "--kill-timeout",
        "60000",
        "--",
        pidfile.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || pidfile.exists()), "the app is up");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");

    // This stop waits out the app's kill timeout (a minute) before it answers.
    let mut stopper = Conn::hello(&sock);
    stopper.send(r#"{"id":1,"type":"stop","target":"stubborn"}"#);

    // Meanwhile another client is served, and sees the stop in progress.
    let mut other = Conn::hello(&sock);
    let mut id = 100;
    let mut last = Value::Null;
    let stopping = wait_for(DEADLINE, || {
        id += 1;
        last = other.call(&format!(r#"{{"id":{id},"type":"list"}}"#));
        assert_eq!(last["id"], id, "{last}");
        last["result"][0]["status"] == "stopping"
    });
    assert!(
        stopping,
        "a list answered during the stop shows it stopping: {last}"
    );
    assert_pong(&other.call(&ping(2)), 2);
    assert_pong(&Conn::hello(&sock).call(&ping(3)), 3);

    // End the wait: the stop then answers its own client.
    kill9(pid);
    let reply = stopper.recv();
    assert_eq!(reply["id"], 1, "{reply}");
    assert!(reply.get("error").is_none(), "{reply}");
    t.wait_status("stubborn", "stopped");
}

#[test]
fn fifty_clients_at_once_are_all_answered() {
    const CLIENTS: u64 = 50;
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    t.ok(&["start", &app("sleeper.sh"), "--name", "s"]);
    t.wait_status("s", "online");
    let daemon = t.daemon_pid().expect("pmx.pid") as u64;

    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS as usize));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let sock = sock.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut c = Conn::hello(&sock);
                let list = c.call(&format!(r#"{{"id":{},"type":"list"}}"#, 1000 + i));
                assert_eq!(list["id"], 1000 + i, "client {i}: {list}");
                let rows = list["result"].as_array().expect("list answers an array");
                assert!(rows.iter().any(|r| r["name"] == "s"), "client {i}: {list}");
                let pong = c.call(&ping(2000 + i));
                assert_pong(&pong, 2000 + i);
                assert_eq!(pong["result"]["pid"], daemon, "client {i}: {pong}");
            })
        })
        .collect();
    let failures: Vec<String> = handles
        .into_iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.join().err().map(|e| {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("client {i}: {msg}")
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "clients failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_client_dying_mid_request_leaves_the_daemon_serving() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let daemon = t.daemon_pid().expect("pmx.pid");
    t.ok(&["start", &app("sleeper.sh"), "--name", "sl"]);
    let pid = int(&t.wait_status("sl", "online"), "pid") as i32;

    // Half a line, then gone.
    let mut c = Conn::hello(&sock);
    c.send_raw(br#"{"id":1,"type":"li"#);
    drop(c);
    // Connected, said nothing, gone.
    drop(Conn::open(&sock));
    // Requests whose replies nobody reads.
    for id in 0..20 {
        let mut c = Conn::hello(&sock);
        c.send(&format!(r#"{{"id":{id},"type":"list"}}"#));
        let _ = c.writer.shutdown(Shutdown::Both);
    }
    // A stop of a running app, closed before its reply.
    let mut c = Conn::hello(&sock);
    c.send(r#"{"id":2,"type":"stop","target":"sl"}"#);
    let _ = c.writer.shutdown(Shutdown::Both);
    drop(c);

    t.wait_status("sl", "stopped");
    assert!(
        wait_for(DEADLINE, || !alive(pid)),
        "the stopped app's process {pid} is gone"
    );
    assert!(alive(daemon), "the daemon survived the vanished clients");
    assert_eq!(t.daemon_pid(), Some(daemon), "no new daemon was started");
    let mut c = Conn::hello(&sock);
    assert_pong(&c.call(&ping(3)), 3);
    let row = t.row("sl");
    assert_eq!(row["status"], "stopped", "{row}");
    assert_eq!(t.daemon_pid(), Some(daemon));
}

#[test]
fn subscribe_streams_exit_restart_and_online_of_a_crash_loop() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut sub = Conn::hello(&sock);
    assert_eq!(
        sub.call(r#"{"id":7,"type":"subscribe"}"#),
        json!({"id": 7, "result": {"subscribed": true}})
    );
    let record = t.path("record");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--restart-delay",
        "200",
        "--",
        record.to_str().expect("utf8"),
        "0",
        "1",
    ]);
    let is = |e: &Value, kind: &str| e["event"] == kind && e["app"] == "c";
    // exit (code 1) → restart (with a reason) → online, in that order.
    let events = sub.events_until("exit, restart then online of c", |seen| {
        let Some(exit) = seen.iter().position(|e| is(e, "exit")) else {
            return false;
        };
        let Some(restart) = seen[exit..].iter().position(|e| is(e, "restart")) else {
            return false;
        };
        seen[exit + restart..].iter().any(|e| is(e, "online"))
    });
    let exit = events.iter().find(|e| is(e, "exit")).expect("exit");
    assert_eq!(exit["code"], 1, "exit carries the code: {exit}");
    let restart = events.iter().find(|e| is(e, "restart")).expect("restart");
    assert!(
        restart["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "restart carries a reason: {restart}"
    );
    for e in events.iter().filter(|e| e["app"] == "c") {
        assert!(e["id"].is_u64(), "event carries the instance id: {e}");
        assert!(e["time"].is_string(), "event carries its time: {e}");
    }
    let ids: Vec<&Value> = events
        .iter()
        .filter(|e| e["app"] == "c")
        .map(|e| &e["id"])
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one instance: {ids:?}"
    );
}

#[test]
fn subscribe_to_log_events_carries_stream_and_message() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut sub = Conn::hello(&sock);
    assert_eq!(
        sub.call(r#"{"id":8,"type":"subscribe","events":["log"]}"#),
        json!({"id": 8, "result": {"subscribed": true}})
    );
    let script = t.path("both.sh");
    std::fs::write(
        &script,
        "echo \"to stdout $$\"\necho \"to stderr $$\" >&2\nexec sleep infinity\n",
    )
    .expect("write both.sh");
    t.ok(&["start", script.to_str().expect("utf8"), "--name", "both"]);
    let pid = int(&t.wait_status("both", "online"), "pid");
    let out = format!("to stdout {pid}");
    let err = format!("to stderr {pid}");
    let events = sub.events_until("the out and err log lines of both", |seen| {
        seen.iter().any(|e| e["message"] == out.as_str())
            && seen.iter().any(|e| e["message"] == err.as_str())
    });
    for e in &events {
        assert_eq!(e["event"], "log", "only log events were asked for: {e}");
        assert_eq!(e["app"], "both", "{e}");
        assert!(e["time"].is_string(), "{e}");
        assert!(e["id"].is_u64(), "{e}");
    }
    let line = |m: &str| events.iter().find(|e| e["message"] == m).cloned();
    assert_eq!(line(&out).expect("out line")["stream"], "out");
    assert_eq!(line(&err).expect("err line")["stream"], "err");
}

#[test]
fn subscribe_apps_filter_excludes_other_apps() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut all = Conn::hello(&sock);
    assert_eq!(
        all.call(r#"{"id":1,"type":"subscribe"}"#)["result"]["subscribed"],
        true
    );
    let mut only_b = Conn::hello(&sock);
    assert_eq!(
        only_b.call(r#"{"id":2,"type":"subscribe","apps":["b"]}"#),
        json!({"id": 2, "result": {"subscribed": true}})
    );
    // Everything of `a` goes through the bus before `b` exists, so the filtered
    // subscriber would have received it before anything of `b`.
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    all.events_until("a online and its log line", |seen| {
        seen.iter()
            .any(|e| e["app"] == "a" && e["event"] == "online")
            && seen.iter().any(|e| e["app"] == "a" && e["event"] == "log")
    });
    t.ok(&["start", &app("sleeper.sh"), "--name", "b"]);
    let events = only_b.events_until("b online and its log line", |seen| {
        seen.iter()
            .any(|e| e["app"] == "b" && e["event"] == "online")
            && seen.iter().any(|e| e["app"] == "b" && e["event"] == "log")
    });
    for e in &events {
        assert_eq!(e["app"], "b", "the apps filter lets only b through: {e}");
    }
    // And a's stop, published before b's, is not seen either.
    t.ok(&["stop", "a"]);
    t.ok(&["stop", "b"]);
    let events = only_b.events_until("b stop", |seen| {
        seen.iter().any(|e| e["app"] == "b" && e["event"] == "stop")
    });
    for e in &events {
        assert_eq!(e["app"], "b", "the apps filter lets only b through: {e}");
    }
}

/// Connect as `nobody` (optionally keeping CAP_DAC_OVERRIDE so the 0700 home and 0600
/// socket do not stop it) and say hello. Prints `eacces`, `closed` or `reply …`.
const AS_NOBODY: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("eacces"); sys.exit(0)
try:
    s.sendall(b'{"id":0,"type":"hello","protocol_version":1,"version":"x"}\n')
    data = s.recv(65536)
except socket.timeout:
    print("timeout"); sys.exit(0)
except OSError:
    print("closed"); sys.exit(0)
print("closed" if data == b"" else "reply " + data.decode("utf-8", "replace"))
"#;

fn connect_as_nobody(sock: &Path, keep_dac_override: bool) -> String {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    if keep_dac_override {
        c.args(["--inh-caps=+dac_override", "--ambient-caps=+dac_override"]);
    }
    c.args(["/usr/bin/python3", "-c", AS_NOBODY])
        .arg(sock)
        .current_dir("/");
    let out = run_with_timeout(c, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "the nobody client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_peer_of_another_uid_is_refused_and_logged() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run a client as nobody");
        return;
    }
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let home_mode = std::fs::metadata(&t.home)
        .expect("home")
        .permissions()
        .mode();
    assert_eq!(home_mode & 0o777, 0o700, "PMX_HOME mode {home_mode:o}");
    let meta = std::fs::symlink_metadata(&sock).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "pmx.sock mode {:o}",
        meta.permissions().mode()
    );

    // Plain nobody: the file modes already keep it out (or the daemon closes it).
    let plain = connect_as_nobody(&sock, false);
    assert!(
        plain == "eacces" || plain == "closed",
        "nobody must be refused: {plain}"
    );

    // nobody past the file modes: the peer-credential check closes it without a reply,
    // and the daemon logs the attempt.
    let past_modes = connect_as_nobody(&sock, true);
    assert_eq!(past_modes, "closed", "nobody must get no reply");
    let log = t.home.join("pmx.log");
    let logged = wait_for(DEADLINE, || {
        std::fs::read_to_string(&log).is_ok_and(|text| {
            text.lines()
                .any(|l| l.contains("refused") && l.contains("65534"))
        })
    });
    assert!(
        logged,
        "pmx.log records the refusal of uid 65534:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The owner (root) is still served.
    let mut c = Conn::hello(&sock);
    assert_pong(&c.call(&ping(1)), 1);
}

#[test]
fn kill_over_the_socket_answers_then_the_daemon_exits() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let daemon = t.daemon_pid().expect("pmx.pid");
    t.ok(&["start", &app("sleeper.sh"), "--name", "s"]);
    let app_pid = int(&t.wait_status("s", "online"), "pid") as i32;

    let mut c = Conn::hello(&sock);
    let reply = c.call(r#"{"id":42,"type":"kill"}"#);
    assert_eq!(reply["id"], 42, "{reply}");
    assert!(reply.get("error").is_none(), "kill succeeds: {reply}");
    assert!(reply.get("result").is_some(), "{reply}");
    assert!(
        c.line_or_close().is_none(),
        "the connection closes after kill's reply"
    );
    assert!(
        wait_for(DEADLINE, || !alive(daemon)),
        "the daemon {daemon} exits after kill"
    );
    assert!(!alive(app_pid), "its app {app_pid} is gone too");
    assert!(
        UnixStream::connect(&sock).is_err(),
        "nothing answers on the socket any more"
    );
}

/// SPEC §8: a subscriber that reads too slowly loses events and, once it catches up, hears
/// how many, also when no event follows its losses (the app went quiet).
#[test]
fn a_slow_subscriber_hears_lagged_once_caught_up_even_if_nothing_follows() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut sub = Conn::hello(&sock);
    assert_eq!(
        sub.call(r#"{"id":8,"type":"subscribe","events":["log"]}"#),
        json!({"id": 8, "result": {"subscribed": true}})
    );
    // 200,000 lines per stream at once, far more than a subscriber's queue; then quiet.
    let n = burst(&t, 200_000);
    // Nothing read so far. Now every line arrives or is counted in a `lagged`, the last
    // ones too, although no event follows them.
    let total = |seen: &[Value]| -> u64 {
        seen.iter()
            .map(|e| match e["event"].as_str() {
                Some("log") => 1,
                _ => e["dropped"].as_u64().unwrap_or(0),
            })
            .sum()
    };
    // A running tally: summing everything seen on each event cost O(n²) in the test
    // itself (about 8 million JSON lookups in a debug build), enough under load to spend
    // the whole deadline counting instead of reading.
    let (mut counted, mut sum) = (0, 0);
    let events = sub.events_until("every line delivered or counted", |seen| {
        sum += total(&seen[counted..]);
        counted = seen.len();
        sum >= 2 * n as u64
    });
    assert_eq!(total(&events), 2 * n as u64);
    assert!(
        events.iter().any(|e| e["event"] == "lagged"),
        "the queue was overrun"
    );
}

#[test]
fn metrics_subscribers_get_figures_every_second_and_the_memory_restart() {
    let t = TestHome::new();
    let sock = daemon_socket(&t);
    let mut sub = Conn::hello(&sock);
    assert_eq!(
        sub.call(r#"{"id":3,"type":"subscribe","events":["metrics","restart"]}"#),
        json!({"id": 3, "result": {"subscribed": true}})
    );
    let mut all = Conn::hello(&sock);
    assert_eq!(
        all.call(r#"{"id":4,"type":"subscribe","apps":["leak"]}"#),
        json!({"id": 4, "result": {"subscribed": true}})
    );
    t.ok(&[
        "start",
        &app("leak.py"),
        "--name",
        "leak",
        "--max-memory-restart",
        "100M",
    ]);
    let events = sub.events_until("metrics of leak, then its memory restart", |seen| {
        seen.iter()
            .any(|e| e["event"] == "restart" && e["app"] == "leak")
    });
    let m = events
        .iter()
        .find(|e| e["event"] == "metrics" && e["app"] == "leak")
        .expect("a metrics event before the restart");
    assert!(m["memory"].as_u64().unwrap_or(0) > 0, "{m}");
    assert!(m["pid"].is_u64(), "{m}");
    assert!(m["id"].is_u64(), "{m}");
    let r = events
        .iter()
        .find(|e| e["event"] == "restart")
        .expect("restart");
    assert_eq!(r["reason"], "memory", "{r}");
    // A subscriber of every event is not sent metrics (it did not name them).
    let seen = all.events_until("the restart of leak", |seen| {
        seen.iter().any(|e| e["event"] == "restart")
    });
    assert!(
        seen.iter().all(|e| e["event"] != "metrics"),
        "metrics reached a subscriber that did not ask: {seen:#?}"
    );
}

/// Start app `burst`: `n` lines on each of its streams at once, then quiet; answers `n`
/// once both log files hold them all.
pub(crate) fn burst(t: &TestHome, n: usize) -> usize {
    let marker = t.path("done");
    t.ok(&[
        "start",
        &app("log_writer.py"),
        "--name",
        "burst",
        "--",
        "flood",
        &n.to_string(),
        marker.to_str().expect("utf8"),
    ]);
    let out = t.home.join("logs/burst-out.log");
    let err = t.home.join("logs/burst-error.log");
    assert!(
        wait_for(DEADLINE, || t.path("done-0").exists()
            && lines(&out).len() == n
            && lines(&err).len() == n),
        "the burst is written"
    );
    n
}
