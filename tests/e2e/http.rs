//! HTTP on 127.0.0.1 for the cluster tests: a free port, a fixture server started on one,
//! one GET on a new connection, the instances that answer on a port, and a client loop on
//! another thread. The fixtures' servers (`fd_http.py`, `fd_http.pl`, `node_http.js`, gunicorn, uvicorn) answer
//! `<instance> <pid> <what>` bodies.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::{app, wait_for, TestHome, DEADLINE};

/// A port nothing listens on now (the kernel's pick of a free one, released at once).
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `pmx start fixtures/apps/<script> --name web <extra…> --listen tcp://127.0.0.1:<port>`
/// on a free port, which must succeed: (the port, the `listen` address).
pub(crate) fn start_web(t: &TestHome, script: &str, extra: &[&str]) -> (u16, String) {
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    let script = app(script);
    let mut args = vec!["start", script.as_str(), "--name", "web"];
    args.extend_from_slice(extra);
    args.extend(["--listen", listen.as_str()]);
    t.ok(&args);
    (port, listen)
}

/// What one GET on a new connection came to.
pub(crate) enum Got {
    /// An answer: its status line (`HTTP/1.1 200 OK`) and its body, trimmed.
    Answer(String, String),
    /// The port refused the connection: nothing listened.
    Refused,
    /// No (whole) answer: the connection failed otherwise, or was closed without one (the
    /// process holding it was killed), or 10 s passed.
    Lost,
}

/// One `GET /` (HTTP/1.1, `Connection: close`) to 127.0.0.1:`port` on a new connection,
/// read to its end (10 s at most).
pub(crate) fn request(port: u16) -> Got {
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Got::Refused,
        Err(_) => return Got::Lost,
    };
    let mut text = String::new();
    if s.set_read_timeout(Some(Duration::from_secs(10))).is_err()
        || s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .is_err()
        || s.read_to_string(&mut text).is_err()
    {
        return Got::Lost;
    }
    match text.split_once("\r\n\r\n") {
        Some((head, body)) => match head.lines().next() {
            Some(status) => Got::Answer(status.to_string(), body.trim().to_string()),
            None => Got::Lost,
        },
        None => Got::Lost,
    }
}

/// One GET (see [`request`]): (status line, body), or None when no answer came.
pub(crate) fn get(port: u16) -> Option<(String, String)> {
    match request(port) {
        Got::Answer(status, body) => Some((status, body)),
        Got::Refused | Got::Lost => None,
    }
}

/// One GET (see [`request`]): true when a 200 came back (`HTTP/1.0 200` from the Python
/// fixture, `HTTP/1.1 200` from the Perl and Node ones).
pub(crate) fn get_ok(port: u16) -> bool {
    get(port).is_some_and(|(status, _)| is_200(&status))
}

/// Whether a status line says 200, in HTTP/1.0 or 1.1.
fn is_200(status: &str) -> bool {
    status.starts_with("HTTP/1.0 200") || status.starts_with("HTTP/1.1 200")
}

/// GETs on `port`, a new connection each (20 ms apart while nothing answers), each
/// answer's (status line, body) to `each`, until `each` says it has enough or
/// [`DEADLINE`] passed.
fn poll(port: u16, mut each: impl FnMut(String, String) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        match get(port) {
            Some((status, body)) => {
                if each(status, body) {
                    return;
                }
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Who answered on `port` (`<instance> <pid> <what>` bodies), by instance number: (pid,
/// what), until `want` instances answered or [`DEADLINE`] passed. Answers of another
/// shape are passed over; their status is not looked at (see [`answerers_200`]).
pub(crate) fn answerers(port: u16, want: usize) -> BTreeMap<u32, (i64, String)> {
    collect_answerers(port, want, false)
}

/// [`answerers`], where every answer must be `200 OK` (a failed assertion otherwise).
pub(crate) fn answerers_200(port: u16, want: usize) -> BTreeMap<u32, (i64, String)> {
    collect_answerers(port, want, true)
}

fn collect_answerers(port: u16, want: usize, must_200: bool) -> BTreeMap<u32, (i64, String)> {
    let mut seen = BTreeMap::new();
    if want == 0 {
        return seen;
    }
    poll(port, |status, body| {
        if must_200 {
            assert!(status.ends_with("200 OK"), "{status}: {body}");
        }
        let parts: Vec<&str> = body.split(' ').collect();
        if let [n, pid, what] = parts[..] {
            if let (Ok(n), Ok(pid)) = (n.parse(), pid.parse()) {
                seen.insert(n, (pid, what.to_string()));
            }
        }
        seen.len() >= want
    });
    seen
}

/// GETs on `port` until `want` distinct pids (a body's second word) answered or
/// [`DEADLINE`] passed: the pids, and every body seen.
pub(crate) fn answering_pids(port: u16, want: usize) -> (BTreeSet<i64>, Vec<String>) {
    let mut pids = BTreeSet::new();
    let mut bodies = Vec::new();
    if want == 0 {
        return (pids, bodies);
    }
    poll(port, |_, body| {
        if let Some(pid) = body.split(' ').nth(1).and_then(|p| p.parse().ok()) {
            pids.insert(pid);
        }
        bodies.push(body);
        pids.len() >= want
    });
    (pids, bodies)
}

/// A client loop on another thread: sequential GETs to 127.0.0.1:`port`, a new connection
/// each, counted by what they came to.
pub(crate) struct Client {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Client {
    /// Starts the loop; it runs until [`Client::finish`] or [`Client::finish_by_kind`].
    pub(crate) fn start(port: u16) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let [ok, refused, lost] = [(); 3].map(|_| Arc::new(AtomicU64::new(0)));
        let (s, o, r, l) = (stop.clone(), ok.clone(), refused.clone(), lost.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let count = match request(port) {
                    Got::Answer(status, _) if is_200(&status) => &o,
                    Got::Refused => &r,
                    Got::Answer(..) | Got::Lost => &l,
                };
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        Client {
            stop,
            ok,
            refused,
            lost,
            thread,
        }
    }

    /// Requests answered with a 200 so far.
    pub(crate) fn served(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Whether more than `n` requests were answered with a 200 before [`DEADLINE`]
    /// passed (waits for it).
    pub(crate) fn serves_more_than(&self, n: u64) -> bool {
        wait_for(DEADLINE, || self.served() > n)
    }

    /// Stops the loop: (requests answered with a 200, requests failed).
    pub(crate) fn finish(self) -> (u64, u64) {
        let (ok, refused, lost) = self.finish_by_kind();
        (ok, refused + lost)
    }

    /// Stops the loop: (requests answered with a 200, connections refused, requests
    /// lost: connected but no 200).
    pub(crate) fn finish_by_kind(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (
            self.ok.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }
}
