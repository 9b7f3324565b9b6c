//! `pmx web` across the daemon's replacement (issue 25): the fd holder keeps the service's
//! listening socket and its setting, so after `pmx update` and after a SIGKILLed daemon's
//! successor re-adopts, the service answers on the same port with the same token — and
//! during `update` no connection is refused (they wait in the socket's backlog).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::harness::*;
use crate::web::{http, json_ok, serve};

/// The token `web.token` holds.
fn token(t: &TestHome) -> String {
    std::fs::read_to_string(t.home.join("web.token"))
        .expect("web.token")
        .trim()
        .to_string()
}

/// Requests of `GET /api/processes` on new connections, one after another on a thread,
/// until stopped: how many were answered 200, refused, or cut (another outcome).
struct Hammer {
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicU64; 3]>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hammer {
    fn start(port: u16, token: String) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let (s, c) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let k = match once(port, &token) {
                    Ok(true) => 0,
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => 1,
                    _ => 2,
                };
                c[k].fetch_add(1, Ordering::Relaxed);
            }
        });
        Hammer {
            stop,
            counts,
            thread: Some(thread),
        }
    }

    /// (answered, refused, cut) so far.
    fn counts(&self) -> (u64, u64, u64) {
        let c = |k: usize| self.counts[k].load(Ordering::Relaxed);
        (c(0), c(1), c(2))
    }

    fn finish(mut self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.counts()
    }
}

/// One request: whether it was answered 200.
fn once(port: u16, token: &str) -> std::io::Result<bool> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(DEADLINE))?;
    write!(
        s,
        "GET /api/processes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text.starts_with("HTTP/1.1 200 "))
}

#[test]
fn pmx_update_keeps_the_web_service_on_its_port_and_token_and_refuses_no_connection() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    t.wait_status("a", "online");
    let (port, _) = serve(&t, &["--token"]);
    let token = token(&t);
    let daemon = t.daemon_pid();
    let hammer = Hammer::start(port, token.clone());
    assert!(
        wait_for(DEADLINE, || hammer.counts().0 >= 5),
        "the service answers before the update"
    );
    for _ in 0..2 {
        let before = hammer.counts().0;
        let out = t.ok(&["update"]);
        assert!(out.contains("daemon updated in place"), "{out}");
        assert!(
            wait_for(DEADLINE, || hammer.counts().0 >= before + 5),
            "the service answers after the update: {:?}",
            hammer.counts()
        );
    }
    let (answered, refused, cut) = hammer.finish();
    assert_eq!(
        refused, 0,
        "no connection refused ({answered} answered, {cut} cut by the exec)"
    );
    assert_eq!(t.daemon_pid(), daemon, "updated in place");
    let rows = json_ok(port, "GET", "/api/processes", Some(&token));
    assert_eq!(rows[0]["name"], "a", "{rows}");
    assert_eq!(
        http(port, "GET", "/api/processes", None).map(|r| r.0),
        Some(401),
        "the token is still required"
    );

    // Stopped, the socket is not kept any more: an update leaves the port closed.
    t.ok(&["web", "--stop"]);
    t.ok(&["update"]);
    assert!(
        wait_for(DEADLINE, || crate::web::refuses(port)),
        "the port serves after --stop and an update"
    );
    t.ok(&["save"]);
    let dump = std::fs::read_to_string(t.home.join("dump.ron")).expect("dump.ron");
    assert!(!dump.contains(&port.to_string()), "{dump}");
}

#[test]
fn a_killed_daemon_s_successor_serves_web_again_on_the_same_port_and_token() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    let pid = t.wait_status("a", "online")["pid"].clone();
    let (port, _) = serve(&t, &["--token"]);
    let token = token(&t);
    let daemon = t.daemon_pid().expect("the daemon's pid");
    kill9(daemon);
    assert!(wait_for(DEADLINE, || !alive(daemon)), "the daemon died");
    // The next command's daemon re-adopts the app and the service.
    assert_eq!(t.row("a")["pid"], pid, "the app was adopted");
    let rows = json_ok(port, "GET", "/api/processes", Some(&token));
    assert_eq!(rows[0]["pid"], pid, "{rows}");
    assert_eq!(
        http(port, "GET", "/api/processes", None).map(|r| r.0),
        Some(401)
    );
    assert_eq!(token, self::token(&t), "the same token");
    // And `pmx web` again on that address only confirms it.
    let out = t.ok(&["web", "--listen", &format!("127.0.0.1:{port}"), "--token"]);
    assert!(out.contains(&port.to_string()), "{out}");
}
