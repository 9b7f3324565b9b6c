//! Cluster mode's shared sockets: pmx binds an app's `listen` addresses once and lends
//! them to every instance as fds 3.. (systemd's `LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`), so N instances serve one port, and the port stays bound while any
//! instance restarts.

use std::collections::BTreeMap;
use std::net::TcpListener;

use serde_json::Value;

use crate::harness::*;
use crate::http::{answerers, start_web};

/// The listed rows of app `name` that are online, once exactly `n` are (rows of it in
/// another status may be listed besides).
pub(crate) fn online_rows(t: &TestHome, name: &str, n: usize) -> Vec<Value> {
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
    rows
}

/// The listed (instance number → pid) of app `name`, once all `n` are online.
fn online_pids(t: &TestHome, name: &str, n: usize) -> BTreeMap<u32, i64> {
    online_rows(t, name, n)
        .iter()
        .map(|r| (int(r, "instance") as u32, int(r, "pid")))
        .collect()
}

#[test]
fn four_instances_share_one_port_each_with_its_own_pid_and_number() {
    let t = TestHome::new();
    let (port, _) = start_web(&t, "fd_http.py", &["-i", "4"]);
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
    let (port, _) = start_web(&t, "fd_http.py", &["-i", "2"]);
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
    // The wrong part named: the port, not the (empty) host.
    let err = t.fails(&["start", &app("fd_http.py"), "--listen", "tcp://:80x"], 2);
    assert!(err.contains("the port must be"), "{err}");
    let twice = [
        "--listen",
        "tcp://127.0.0.1:1",
        "--listen",
        "tcp://127.0.0.1:1",
    ];
    let err = t.fails(
        &[&["start", &app("fd_http.py")][..], &twice[..]].concat(),
        2,
    );
    assert!(err.contains("is given twice"), "{err}");
    // In a file, at the second one's position.
    std::fs::write(
        t.path("twice.ron"),
        format!(
            "(apps: [App(name: \"tw\", script: {:?},\n  listen: [\"tcp://127.0.0.1:1\",\n   \"tcp://127.0.0.1:1\"])])\n",
            app("fd_http.py")
        ),
    )
    .expect("write");
    let file = t.path("twice.ron");
    let err = t.fails(&["up", file.to_str().expect("utf-8")], 2);
    assert!(
        err.contains("twice.ron:3:4") && err.contains("listed twice"),
        "{err}"
    );
    assert!(t.daemon_pid().is_none() || t.list().is_empty());
}

/// The daemon's open descriptors whose target contains `part` (`/proc/<pid>/fd`).
fn daemon_fds_to(t: &TestHome, part: &str) -> Vec<String> {
    let pid = t.daemon_pid().expect("daemon pid");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|p| p.display().to_string())
                .filter(|p| p.contains(part))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deleting_a_group_releases_its_members_sockets_and_log_files() {
    // A member deleted through its group's Delete stops like an app deleted alone: its
    // App supervisor ends, closing the `listen` socket and its log files.
    let t = TestHome::new();
    let port = crate::http::free_port();
    std::fs::write(
        t.path("ecosystem.ron"),
        format!(
            "(apps: [App(name: \"hx\", script: {:?}, instances: 2, \
             listen: [\"tcp://127.0.0.1:{port}\"])],\n \
             groups: [Group(name: \"hg\", apps: [\"hx\"])])\n",
            app("fd_http.py")
        ),
    )
    .expect("write ecosystem");
    let file = t.path("ecosystem.ron");
    t.ok(&["up", file.to_str().expect("utf-8 path")]);
    online_rows(&t, "hx", 2);
    t.ok(&["scale", "hx", "3"]);
    online_rows(&t, "hx", 3);
    assert!(
        !daemon_fds_to(&t, "hx-out").is_empty(),
        "its log files are open"
    );
    t.ok(&["delete", "hg"]);
    assert!(
        wait_for(DEADLINE, || TcpListener::bind(("127.0.0.1", port)).is_ok()),
        "the port is free once the group is deleted"
    );
    assert!(
        wait_for(DEADLINE, || daemon_fds_to(&t, "hx-").is_empty()),
        "no log file of hx left open: {:?}",
        daemon_fds_to(&t, "hx-")
    );
}

#[test]
fn a_stopped_app_frees_its_port_and_binds_it_again_when_started() {
    // PM2 frees the port on stop; a port held with nobody accepting hung clients.
    let t = TestHome::new();
    let (port, _) = start_web(&t, "fd_http.py", &["-i", "2"]);
    assert_eq!(answerers(port, 2).len(), 2, "both instances serve");
    t.ok(&["stop", "web"]);
    assert!(
        wait_for(DEADLINE, || matches!(
            crate::http::request(port),
            crate::http::Got::Refused
        )),
        "the port refuses once every instance is stopped"
    );
    // Free for anyone meanwhile.
    drop(TcpListener::bind(("127.0.0.1", port)).expect("the port is free"));
    t.ok(&["start", "web"]);
    assert_eq!(answerers(port, 2).len(), 2, "served again after start");
    // A restart never lets go of it (no refused connection: the cluster tests).
    t.ok(&["restart", "web"]);
    assert!(
        !matches!(crate::http::request(port), crate::http::Got::Refused),
        "bound across a restart"
    );
}
