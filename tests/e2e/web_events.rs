//! `pmx web`'s `GET /api/events` (issue 25): the bus as Server-Sent Events, the socket's
//! `subscribe` over HTTP — an `exit` and a log line of a real app, narrowing by apps and
//! events, `lagged` for a reader that stopped reading, the keep-alive comment of a quiet
//! stream, and a closed stream leaving no subscriber and no descriptor behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::web::{http, serve};

/// One open `GET /api/events` stream, read as SSE messages.
pub(crate) struct Sse {
    rd: BufReader<TcpStream>,
    /// The response head's lines (status line first).
    pub head: Vec<String>,
    /// Decoded body bytes not yet taken as a message.
    body: Vec<u8>,
}

impl Sse {
    /// Open `path` on `port`: the request sent, the head read (the subscription is in
    /// place once it has come).
    pub(crate) fn open(port: u16, path: &str, token: Option<&str>) -> Sse {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n{auth}\r\n"
        )
        .expect("write");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut rd = BufReader::new(s);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            rd.read_line(&mut line).expect("a response head");
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        Sse {
            rd,
            head,
            body: Vec::new(),
        }
    }

    /// The value of response header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The next message (its lines, without the blank line ending it), or None when the
    /// stream ended or `limit` passed first.
    pub(crate) fn next_raw(&mut self, limit: Duration) -> Option<String> {
        let until = Instant::now() + limit;
        loop {
            if let Some(end) = self.body.windows(2).position(|w| w == b"\n\n") {
                let msg = String::from_utf8_lossy(&self.body[..end]).to_string();
                self.body.drain(..end + 2);
                return Some(msg);
            }
            let left = until.checked_duration_since(Instant::now())?;
            self.rd
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            // One chunk of the chunked body: its size line, its bytes, its CRLF.
            let mut size = String::new();
            match self.rd.read_line(&mut size) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return None,
                Err(e) => panic!("reading the stream: {e}"),
            }
            self.rd
                .get_ref()
                .set_read_timeout(Some(DEADLINE))
                .expect("timeout");
            let n = usize::from_str_radix(size.trim(), 16)
                .unwrap_or_else(|_| panic!("a chunk size, not {size:?}"));
            if n == 0 {
                return None;
            }
            let mut chunk = vec![0; n + 2];
            self.rd.read_exact(&mut chunk).expect("a whole chunk");
            self.body.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next event (a `data:` message's JSON), skipping comments; None as for
    /// [`Sse::next_raw`].
    pub(crate) fn next_event(&mut self, limit: Duration) -> Option<Value> {
        let until = Instant::now() + limit;
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            let msg = self.next_raw(left)?;
            if msg.starts_with(':') {
                continue;
            }
            let data = msg
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("a data message, not {msg:?}"));
            assert!(!data.contains('\n'), "one line of JSON: {msg:?}");
            return Some(serde_json::from_str(data).expect("JSON"));
        }
    }

    /// Events until one satisfies `want`; panics naming `what` when none comes in time.
    pub(crate) fn until(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.next_event(left) {
                Some(e) if want(&e) => return e,
                Some(e) => seen.push(e),
                None => break,
            }
        }
        panic!(
            "no {what} on the stream; saw {} events, the last: {:?}",
            seen.len(),
            seen.last()
        );
    }
}

/// `pmx_daemon_event_subscribers` of `/metrics`.
fn subscribers(port: u16) -> Option<u64> {
    let (status, body) = http(port, "GET", "/metrics", None)?;
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix("pmx_daemon_event_subscribers "))
        .and_then(|v| v.trim().parse().ok())
}

/// The daemon's open descriptors.
fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A ticker app named `name`, online: its pid.
fn ticker(t: &TestHome, name: &str) -> i64 {
    t.ok(&["start", &app("ticker.sh"), "--name", name]);
    let row = t.wait_status(name, "online");
    row["pid"].as_i64().expect("a pid")
}

#[test]
fn the_event_stream_delivers_a_log_line_and_the_exit_of_a_killed_app() {
    let t = TestHome::new();
    let pid = ticker(&t, "a");
    let (port, _) = serve(&t, &[]);
    let mut sse = Sse::open(port, "/api/events", None);
    assert!(sse.head[0].contains(" 200 "), "{:?}", sse.head);
    assert_eq!(
        sse.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    let line = sse.until("a log line of a", |e| {
        e["event"] == "log" && e["app"] == "a" && e["stream"] == "out"
    });
    assert!(
        line["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("tick ")),
        "{line}"
    );
    assert!(line["id"].is_u64() && line["time"].is_string(), "{line}");
    kill9(pid as i32);
    let exit = sse.until("a's exit", |e| e["event"] == "exit" && e["app"] == "a");
    assert_eq!(exit["signal"], "SIGKILL", "{exit}");
}

#[test]
fn the_event_stream_narrows_by_apps_and_events_as_subscribe_does() {
    let t = TestHome::new();
    let a = ticker(&t, "a");
    let b = ticker(&t, "b");
    let (port, _) = serve(&t, &[]);
    let mut sse = Sse::open(port, "/api/events?apps=b&events=exit,restart", None);
    kill9(a as i32);
    t.wait_row("a", "a restarted", |r| r["restarts"] == 1);
    kill9(b as i32);
    // Neither a's exit nor any log line comes first: b's exit does.
    let first = sse.next_event(DEADLINE).expect("an event");
    assert_eq!(
        (&first["event"], &first["app"]),
        (&"exit".into(), &"b".into()),
        "{first}"
    );
    let next = sse.next_event(DEADLINE).expect("an event");
    assert_eq!(
        (&next["event"], &next["app"]),
        (&"restart".into(), &"b".into()),
        "{next}"
    );

    // A parameter the socket's subscribe does not have is refused, with what it takes.
    let (status, body) = http(port, "GET", "/api/events?app=b", None).expect("served");
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["error"]["code"], "bad_request", "{body}");
    assert!(body.contains("apps=a,b"), "{body}");
}

#[test]
fn a_reader_that_stops_reading_loses_events_then_hears_lagged() {
    let t = TestHome::new();
    let (port, _) = serve(&t, &[]);
    let mut sse = Sse::open(port, "/api/events?events=log", None);
    // 200,000 lines per stream at once, far more than the queue and the socket's buffers
    // hold while nothing is read; then quiet.
    let n = crate::protocol::burst(&t, 200_000);
    // Now read: every line arrives or is counted in a `lagged`, the last ones too,
    // although no event follows them.
    let (mut sum, mut lagged) = (0u64, 0);
    let until = Instant::now() + Duration::from_secs(60);
    while sum < 2 * n as u64 {
        let left = until
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("only {sum} of {} lines delivered or counted", 2 * n));
        let e = sse
            .next_event(left)
            .unwrap_or_else(|| panic!("the stream ended at {sum} of {}", 2 * n));
        match e["event"].as_str() {
            Some("log") => sum += 1,
            Some("lagged") => {
                lagged += 1;
                sum += e["dropped"].as_u64().expect("dropped");
            }
            _ => panic!("only log events were asked for: {e}"),
        }
    }
    assert_eq!(sum, 2 * n as u64);
    assert!(lagged > 0, "the queue was overrun");
    // The daemon was never slowed: it answered throughout, and answers now.
    t.ok(&["list"]);
}

#[test]
fn a_quiet_event_stream_gets_a_keep_alive_comment_and_is_not_cut() {
    let t = TestHome::new();
    let pid = ticker(&t, "a");
    let (port, _) = serve(&t, &[]);
    // Only exits: nothing comes while the app runs.
    let mut sse = Sse::open(port, "/api/events?events=exit", None);
    let comment = sse.next_raw(Duration::from_secs(40)).expect("a message");
    assert_eq!(comment, ": keep-alive");
    // Past actix-http's 5 s request and keep-alive timeouts, the stream still serves.
    kill9(pid as i32);
    let exit = sse.next_event(DEADLINE).expect("the exit");
    assert_eq!(
        (&exit["event"], &exit["app"]),
        (&"exit".into(), &"a".into()),
        "{exit}"
    );
}

#[test]
fn closing_event_streams_frees_their_subscriptions_and_descriptors() {
    let t = TestHome::new();
    ticker(&t, "a");
    let (port, _) = serve(&t, &[]);
    let daemon = t.daemon_pid().expect("the daemon's pid");
    assert_eq!(subscribers(port), Some(0));
    // The count once the connections of the requests above are closed (the client sees
    // their end a moment before the daemon closes its descriptor): two equal reads.
    let mut last = usize::MAX;
    assert!(wait_for(DEADLINE, || {
        let now = fds(daemon);
        std::mem::replace(&mut last, now) == now
    }));
    let before = last;
    // Streams of exits only: nothing is written to them, so only the closed socket
    // itself can tell the daemon they are gone.
    let streams: Vec<Sse> = (0..3)
        .map(|_| Sse::open(port, "/api/events?events=exit", None))
        .collect();
    assert_eq!(subscribers(port), Some(3));
    assert!(
        wait_for(DEADLINE, || fds(daemon) >= before + 3),
        "three streams, three sockets: {} then {}",
        before,
        fds(daemon)
    );
    drop(streams);
    assert!(
        wait_for(DEADLINE, || subscribers(port) == Some(0)),
        "subscribers left: {:?}",
        subscribers(port)
    );
    assert!(
        wait_for(DEADLINE, || fds(daemon) <= before),
        "descriptors: {} before, {} after",
        before,
        fds(daemon)
    );
}
