//! Cluster mode's shared sockets: pmx binds an app's `listen` addresses once and lends
//! them to every instance as fds 3.. (systemd's `LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`), so N instances serve one port, and the port stays bound while any
//! instance restarts.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A port nothing listens on now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One GET to 127.0.0.1:`port`: the body (`<instance> <pid> <LISTEN_FDNAMES>`), or None
/// when no answer came.
fn get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split("\r\n\r\n").nth(1)?;
    Some(body.trim().to_string())
}

/// Who answered on `port`, by instance number: (pid, fd names), until `want` instances
/// answered or the deadline passed.
fn answerers(port: u16, want: usize) -> BTreeMap<u32, (i64, String)> {
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + DEADLINE;
    while seen.len() < want && Instant::now() < deadline {
        if let Some(body) = get(port) {
            let parts: Vec<&str> = body.split(' ').collect();
            if let [n, pid, names] = parts[..] {
                if let (Ok(n), Ok(pid)) = (n.parse(), pid.parse()) {
                    seen.insert(n, (pid, names.to_string()));
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    seen
}

/// The listed (instance number → pid) of app `name`, once all `n` are online.
fn online_pids(t: &TestHome, name: &str, n: usize) -> BTreeMap<u32, i64> {
    let mut rows = Vec::new();
    assert!(
        wait_for(DEADLINE, || {
            rows = t
                .list()
                .into_iter()
                .filter(|r| r["name"] == name && r["status"] == "online")
                .collect();
            rows.len() == n
        }),
        "{n} instances of {name} online: {rows:?}"
    );
    rows.iter()
        .map(|r| (int(r, "instance") as u32, int(r, "pid")))
        .collect()
}

#[test]
fn four_instances_share_one_port_each_with_its_own_pid_and_number() {
    let t = TestHome::new();
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    t.ok(&[
        "start",
        &app("fd_http.py"),
        "--name",
        "web",
        "-i",
        "4",
        "--listen",
        &listen,
    ]);
    let pids = online_pids(&t, "web", 4);
    let seen = answerers(port, 4);
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3],
        "every instance answers on the one port: {seen:?}"
    );
    for (n, (pid, names)) in &seen {
        assert_eq!(Some(pid), pids.get(n), "instance {n} is the listed process");
        assert_eq!(
            names, "web",
            "LISTEN_FDNAMES names the socket after the app"
        );
    }
    assert!(
        t.list().iter().all(|r| r["mode"] == "cluster"),
        "list says cluster once the instances share a socket"
    );
    let pm2: serde_json::Value = serde_json::from_str(&t.ok(&["jlist"])).expect("jlist");
    let modes: Vec<&str> = pm2
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|p| p["pm2_env"]["exec_mode"].as_str())
        .collect();
    assert_eq!(modes, ["cluster_mode"; 4], "jlist says so in PM2's words");
}

#[test]
fn the_port_stays_bound_and_served_across_a_restart_of_every_instance() {
    let t = TestHome::new();
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    t.ok(&[
        "start",
        &app("fd_http.py"),
        "--name",
        "web",
        "-i",
        "2",
        "--listen",
        &listen,
    ]);
    let before = online_pids(&t, "web", 2);
    assert_eq!(answerers(port, 2).len(), 2);
    t.ok(&["restart", "web"]);
    let after = online_pids(&t, "web", 2);
    assert!(
        before.values().all(|p| !after.values().any(|q| q == p)),
        "new processes"
    );
    let seen = answerers(port, 2);
    assert_eq!(
        seen.values().map(|(p, _)| *p).collect::<Vec<_>>(),
        after.values().copied().collect::<Vec<_>>(),
        "the new processes serve the same port"
    );
}

#[test]
fn an_address_that_cannot_be_bound_fails_the_start_naming_it() {
    let t = TestHome::new();
    let held = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let listen = format!("tcp://{}", held.local_addr().expect("addr"));
    let err = t.fails(
        &[
            "start",
            &app("fd_http.py"),
            "--name",
            "web",
            "--listen",
            &listen,
        ],
        1,
    );
    assert!(
        err.contains(&format!("cannot listen on {listen}")),
        "the error names the address: {err}"
    );
    assert!(t.list().is_empty(), "nothing registered, nothing running");
}

#[test]
fn a_bad_listen_flag_is_refused_before_anything_starts() {
    let t = TestHome::new();
    let err = t.fails(&["start", &app("fd_http.py"), "--listen", "http://x:1"], 2);
    assert!(err.contains("--listen"), "{err}");
    assert!(t.daemon_pid().is_none() || t.list().is_empty());
}
