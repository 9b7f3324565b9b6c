//! `pmx web`'s limits (issue 25): a flood of connections past the cap is closed at once
//! and leaves the daemon serving, and a request head sent a byte at a time (slowloris) is
//! cut, on the second request of a connection too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::web::{http, serve};

/// The cap of `actors/src/web/limits.rs`.
const CAP: usize = 64;

/// The daemon's open descriptors.
fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Everything the server sends on `s` until it closes (or `limit` passes: None).
fn until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(_) => return None,
        }
    }
}

/// Descriptors the daemon may open or close of its own meanwhile (a session, a /proc
/// read, a log file): the checks below are about the cap's 64.
const SLACK: usize = 4;

#[test]
fn connections_past_the_cap_are_closed_at_once_and_the_daemon_serves_on() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    t.wait_status("a", "online");
    let (port, _) = serve(&t, &[]);
    let daemon = t.daemon_pid().expect("the daemon's pid");
    let before = fds(daemon);
    // The cap's worth of idle connections (no byte sent), then more.
    let mut held: Vec<TcpStream> = (0..CAP)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    // `before` may count a descriptor of the moment (the CLI's session closing, a /proc
    // read): a few either way, never the cap's 64.
    assert!(
        wait_for(DEADLINE, || fds(daemon) + SLACK >= before + CAP),
        "the cap's connections are served: {} descriptors, {before} before",
        fds(daemon)
    );
    for n in 0..16 {
        let mut extra = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let got = until_closed(&mut extra, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("extra connection {n} was not closed at once"));
        assert!(got.is_empty(), "closed without an answer: {got:?}");
    }
    assert!(
        fds(daemon) <= before + CAP + SLACK,
        "the flood took descriptors: {} with {before} before",
        fds(daemon)
    );
    // The daemon itself serves on.
    t.ok(&["list"]);
    let log = std::fs::read_to_string(t.home.join("pmx.log")).expect("pmx.log");
    assert_eq!(
        log.matches("connections open, the limit").count(),
        1,
        "logged once:\n{log}"
    );
    // Once the others close, a new request is answered.
    held.clear();
    assert!(
        wait_for(DEADLINE, || http(port, "GET", "/api/processes", None)
            .is_some_and(|(status, _)| status == 200)),
        "no answer once the flood closed"
    );
    assert!(
        wait_for(DEADLINE, || fds(daemon) <= before + SLACK),
        "descriptors: {} after, {before} before",
        fds(daemon)
    );
}

#[test]
fn a_request_head_sent_a_byte_at_a_time_is_cut_on_a_kept_alive_connection_too() {
    let t = TestHome::new();
    let (port, _) = serve(&t, &[]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // A first request, answered; the connection kept alive.
    s.write_all(b"GET /api/processes HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("an answer");
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    // The second one a byte every 200 ms: it never gets whole (the dripping would take
    // longer than the deadline), and is cut within seconds.
    let started = Instant::now();
    let mut w = s.try_clone().expect("clone");
    let drip = std::thread::spawn(move || {
        for b in b"GET /api/processes HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if started.elapsed() > DEADLINE || w.write_all(&[*b]).is_err() {
                return;
            }
            // Pacing of the slow client, not a wait for a condition.
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let got = until_closed(&mut s, DEADLINE).expect("the connection was cut");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(20),
        "cut after {took:?}"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1 200"),
        "{got:?}"
    );
    let _ = drip.join();
}

/// Voluntary context switches of all the daemon's threads: how often they slept and woke.
fn wakeups(pid: i32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

#[test]
fn an_idle_web_service_never_wakes_the_daemon() {
    let t = TestHome::new();
    let (port, _) = serve(&t, &[]);
    // Served once: the HTTP service (and actix-http's 500 ms date timer) exists while a
    // connection does, and is gone with it.
    assert_eq!(
        http(port, "GET", "/api/processes", None).map(|r| r.0),
        Some(200)
    );
    let daemon = t.daemon_pid().expect("the daemon's pid");
    let settled = |n: &mut u64| {
        let now = wakeups(daemon);
        std::mem::replace(n, now) == now
    };
    let mut last = u64::MAX;
    assert!(wait_for(DEADLINE, || settled(&mut last)));
    // A measurement window, not a wait for a condition: nothing may happen in it.
    std::thread::sleep(Duration::from_secs(2));
    let woke = wakeups(daemon) - last;
    // A 500 ms timer wakes it about 8 times; the end of the request above, 2 at most.
    assert!(
        woke <= 2,
        "the idle daemon woke {woke} times in 2 s with pmx web on"
    );
}
