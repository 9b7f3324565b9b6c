//! Verbs racing a `delete` of the same app (issue 18, item 8): each is answered with
//! success or `not_found` (the app is gone), never an actor's mailbox error; the daemon
//! stays up and nothing of the app runs once the delete has answered.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// Rounds of start, then delete racing the other verbs.
const ROUNDS: usize = 200;

/// One client connection: hello said, every read bounded.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn hello(sock: &Path) -> Conn {
        let stream = UnixStream::connect(sock).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut c = Conn {
            reader: BufReader::new(stream),
            writer,
        };
        let reply = c.call(r#"{"id":0,"type":"hello","protocol_version":1,"version":"x"}"#);
        assert!(
            reply.as_ref().is_ok_and(|r| r.get("result").is_some()),
            "hello: {reply:?}"
        );
        c
    }

    /// Send `line`, answer the reply; errors (no reply in time, a closed connection)
    /// are answered rather than panicking, so the other threads' barriers never hang.
    fn call(&mut self, line: &str) -> Result<Value, String> {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut reply = String::new();
        match self.reader.read_line(&mut reply) {
            Ok(0) => Err("the daemon closed the connection".into()),
            Ok(_) => serde_json::from_str(&reply).map_err(|e| format!("{e}: {reply}")),
            Err(e) => Err(format!("no reply: {e}")),
        }
    }
}

/// The verbs fired at once, each on its own connection: (name, request line).
fn verbs(app: &str) -> Vec<(&'static str, String)> {
    let t = format!("\"target\":\"{app}\"");
    vec![
        ("delete", format!(r#"{{"id":1,"type":"delete",{t}}}"#)),
        ("restart", format!(r#"{{"id":1,"type":"restart",{t}}}"#)),
        ("stop", format!(r#"{{"id":1,"type":"stop",{t}}}"#)),
        ("describe", format!(r#"{{"id":1,"type":"describe",{t}}}"#)),
        (
            "signal",
            format!(r#"{{"id":1,"type":"signal","signal":"SIGTERM",{t}}}"#),
        ),
    ]
}

/// Whether `reply` is one a verb racing a delete may get: success or `not_found`; a
/// signal also `conflict` when the racing stop left nothing running to signal. Never
/// `internal`, never a word of an actor's mailbox.
fn acceptable(verb: &str, reply: &Value) -> bool {
    if reply.get("result").is_some() {
        return true;
    }
    let code = reply["error"]["code"].as_str().unwrap_or_default();
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    if message.to_lowercase().contains("mailbox") {
        return false;
    }
    match (verb, code) {
        ("delete", _) => false,
        (_, "not_found") => true,
        ("signal", "conflict") => true,
        _ => false,
    }
}

#[test]
fn verbs_racing_a_delete_answer_success_or_not_found_and_leave_nothing_running() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let daemon = t.daemon_pid().expect("pid file");
    let sock = t.home.join("pmx.sock");
    let lines = verbs("r");
    let start = Arc::new(Barrier::new(lines.len() + 1));
    let done = Arc::new(Barrier::new(lines.len() + 1));
    let workers: Vec<_> = lines
        .into_iter()
        .map(|(verb, line)| {
            let mut conn = Conn::hello(&sock);
            let (start, done) = (start.clone(), done.clone());
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                let mut codes = std::collections::BTreeMap::<String, usize>::new();
                for round in 0..ROUNDS {
                    start.wait();
                    let reply = match conn.call(&line) {
                        Ok(r) => r,
                        Err(e) => {
                            bad.push(format!("round {round}: {verb}: {e}"));
                            done.wait();
                            continue;
                        }
                    };
                    let code = reply["error"]["code"].as_str().unwrap_or("ok").to_string();
                    *codes.entry(code).or_default() += 1;
                    if !acceptable(verb, &reply) {
                        bad.push(format!("round {round}: {verb}: {reply}"));
                    }
                    done.wait();
                }
                (verb, bad, codes)
            })
        })
        .collect();
    let sleeper = app("sleeper.sh");
    for round in 0..ROUNDS {
        t.ok(&["start", &sleeper, "--name", "r", "-i", "2"]);
        start.wait();
        done.wait();
        // The delete answered: nothing of the app is listed or runs.
        let listed: Vec<Value> = t.list();
        assert!(listed.is_empty(), "round {round}: still listed: {listed:?}");
        let running: Vec<i32> = t.processes().into_iter().filter(|p| *p != daemon).collect();
        assert!(
            running.is_empty(),
            "round {round}: still running: {running:?}"
        );
    }
    let mut failures = Vec::new();
    for w in workers {
        let (verb, bad, codes) = w.join().expect("worker");
        eprintln!("{verb}: {codes:?}");
        failures.extend(bad);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(alive(daemon), "the daemon stays up");
    t.ok(&["ping"]);
    t.ok(&["kill"]);
    assert!(!alive(daemon));
    assert!(t.processes().is_empty(), "{:?}", t.processes());
}

#[test]
fn kill_racing_a_slow_delete_answers_once_nothing_of_the_app_runs() {
    let t = TestHome::new();
    let pid_file = t.path("pid");
    t.ok(&[
        "start",
        &app("ignore_sigint.py"),
        "--name",
        "slow",
        "--kill-timeout",
        "1500",
        "--",
        pid_file.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || pid_file.exists()));
    let pid = read_pid(&pid_file);
    let daemon = t.daemon_pid().expect("pid file");
    // The delete waits out the kill timeout; `kill` comes while it does.
    let mut conn = Conn::hello(&t.home.join("pmx.sock"));
    conn.writer
        .write_all(b"{\"id\":1,\"type\":\"delete\",\"target\":\"slow\"}\n")
        .expect("write");
    assert!(wait_for(DEADLINE, || t
        .list()
        .iter()
        .any(|r| r["status"] == "stopping")));
    t.ok(&["kill"]);
    assert!(!alive(pid), "the app's process is gone once kill returns");
    assert!(!alive(daemon));
    assert!(t.processes().is_empty(), "{:?}", t.processes());
}
