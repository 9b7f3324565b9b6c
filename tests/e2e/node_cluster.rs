//! Node apps run unmodified, as under PM2 (SPEC §6): every Node app gets Node's IPC channel
//! (`process.send('ready')` reaches the daemon), and in cluster mode its instances are
//! Node cluster workers whose primary is pmx: their own `server.listen(PORT)` gets the
//! socket pmx holds for that port (the `listen` one, or one bound at the first request),
//! so they share it, never hit EADDRINUSE, and it stays bound while they restart.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::cluster::online_rows;
use crate::harness::*;
use crate::http::{answering_pids, free_port, get};

/// Whether `node` runs here; the tests skip (saying so) without it.
fn have_node() -> bool {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    tool_available(ok, "no `node` on PATH")
}

/// A [`TestHome`] when `node` runs here (see [`have_node`]), else None: the test skips.
fn node_home() -> Option<TestHome> {
    have_node().then(TestHome::new)
}

/// [`start_node`], then the listed pids once its `n` instances are online and each
/// printed that it listens ([`wait_listening`]).
fn start_listening(t: &TestHome, name: &str, port: u16, extra: &[&str], n: usize) -> Vec<i64> {
    start_node(t, name, port, extra);
    let pids = online(t, name, n);
    wait_listening(t, name, &pids);
    pids
}

/// `pmx start fixtures/apps/node_http.js --name <name> <extra…>` with `PORT=<port>` in the
/// caller's environment (the app reads it, as apps written for PM2 do).
fn start_node(t: &TestHome, name: &str, port: u16, extra: &[&str]) {
    let script = app("node_http.js");
    let mut args = vec!["start", script.as_str(), "--name", name];
    args.extend_from_slice(extra);
    let mut c = t.cmd(&args);
    c.env("PORT", port.to_string());
    expect_ok(
        &run_with_timeout(c, Duration::from_secs(120)),
        "pmx start node_http.js",
    );
}

/// The listed pids of `name`'s instances once `n` are online.
fn online(t: &TestHome, name: &str, n: usize) -> Vec<i64> {
    online_rows(t, name, n)
        .iter()
        .map(|r| int(r, "pid"))
        .collect()
}

/// The out and err logs of `name`'s instances, concatenated.
fn logs_of(t: &TestHome, name: &str, stream: &str) -> String {
    let mut all = String::new();
    if let Ok(dir) = std::fs::read_dir(t.home.join("logs")) {
        for e in dir.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with(&format!("{name}-{stream}")) {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    all
}

/// Wait until every pid of `pids` printed that it listens (the app's own sign).
fn wait_listening(t: &TestHome, name: &str, pids: &[i64]) {
    let mut out = String::new();
    assert!(
        wait_for(DEADLINE, || {
            out = logs_of(t, name, "out");
            pids.iter()
                .all(|p| out.contains(&format!("listening {p} ready:sent")))
        }),
        "every instance of {name} listens and said ready: {pids:?}\n{out}\nerr: {}",
        logs_of(t, name, "error")
    );
}

/// The lines of pmx.log.
fn daemon_log(t: &TestHome) -> String {
    std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default()
}

#[test]
fn four_unmodified_node_instances_share_one_port_without_listen() {
    let Some(t) = node_home() else {
        return;
    };
    let port = free_port();
    let pids = start_listening(&t, "web", port, &["-i", "4"], 4);
    let (seen, bodies) = answering_pids(port, 2);
    assert!(
        seen.len() >= 2,
        "at least two instances answer on one port: {bodies:?}"
    );
    assert!(
        seen.iter().all(|p| pids.contains(p)),
        "only listed instances answer: {seen:?} vs {pids:?}"
    );
    assert!(
        bodies.iter().all(|b| b.ends_with(" true true")),
        "each is a cluster worker with a connected channel, as under PM2: {bodies:?}"
    );
    let err = logs_of(&t, "web", "error");
    assert!(!err.contains("EADDRINUSE"), "no EADDRINUSE: {err}");
    assert_eq!(online(&t, "web", 4).len(), 4, "all 4 still online");
    assert!(
        t.list().iter().all(|r| r["mode"] == "cluster"),
        "list says cluster once they share a socket"
    );
    let text = t.ok(&["describe", "web"]);
    assert!(
        text.contains(&format!("tcp://*:{port}")),
        "describe names the socket pmx holds for the workers: {text}"
    );
}

#[test]
fn node_instances_listen_on_the_socket_pmx_holds_for_listen() {
    let Some(t) = node_home() else {
        return;
    };
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    start_listening(&t, "api", port, &["-i", "4", "--listen", &listen], 4);
    let (seen, bodies) = answering_pids(port, 2);
    assert!(seen.len() >= 2, "two instances answer: {bodies:?}");
    let err = logs_of(&t, "api", "error");
    assert!(!err.contains("EADDRINUSE"), "no EADDRINUSE: {err}");
    let log = daemon_log(&t);
    assert!(
        !log.contains("for its instances"),
        "the inherited socket served the port; none bound besides it: {log}"
    );
}

#[test]
fn a_killed_node_instance_restarts_while_the_port_keeps_answering() {
    let Some(t) = node_home() else {
        return;
    };
    let port = free_port();
    let pids = start_listening(&t, "web", port, &["-i", "2"], 2);
    kill9(pids[0] as i32);
    // The port answers at once: the socket is pmx's and the other instance serves it.
    let (_, body) = get(port).expect("the port answers right after the kill");
    assert!(!body.contains(&format!(" {} ", pids[0])), "{body}");
    let mut now = Vec::new();
    assert!(
        wait_for(DEADLINE, || {
            now = online(&t, "web", 2);
            !now.contains(&pids[0])
        }),
        "the killed instance is replaced: {pids:?} → {now:?}"
    );
    wait_listening(&t, "web", &now);
    let (seen, bodies) = answering_pids(port, 2);
    assert!(
        seen.iter().all(|p| now.contains(p)),
        "the live instances answer: {bodies:?}"
    );
    let err = logs_of(&t, "web", "error");
    assert!(
        !err.contains("EADDRINUSE"),
        "the replacement shares the port: {err}"
    );
}

#[test]
fn process_send_ready_reaches_the_daemon_from_every_instance() {
    let Some(t) = node_home() else {
        return;
    };
    let port = free_port();
    start_listening(&t, "web", port, &["-i", "2"], 2);
    let ids: Vec<i64> = t.list().iter().map(|r| int(r, "id")).collect();
    let mut log = String::new();
    assert!(
        wait_for(DEADLINE, || {
            log = daemon_log(&t);
            ids.iter()
                .all(|id| log.contains(&format!("app web id {id}: ready (process.send)")))
        }),
        "the daemon heard each instance's process.send('ready'): {log}"
    );
}

#[test]
fn a_single_node_instance_has_a_channel_and_is_no_cluster_worker() {
    let Some(t) = node_home() else {
        return;
    };
    let port = free_port();
    let pids = start_listening(&t, "solo", port, &[], 1);
    let (_, body) = get(port).expect("answers");
    assert_eq!(
        body,
        format!("0 {} false true", pids[0]),
        "fork mode: not a worker, process.send works and the channel is connected"
    );
    assert_eq!(t.row("solo")["mode"], "fork");
}

#[test]
fn the_channel_is_the_descriptor_after_the_listen_sockets_and_only_node_gets_one() {
    let Some(t) = node_home() else {
        return;
    };
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    start_node(&t, "web", port, &["--listen", &listen]);
    let pid = online(&t, "web", 1)[0];
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let env = String::from_utf8_lossy(&env);
    let vars: Vec<&str> = env.split('\0').collect();
    // Node deletes NODE_CHANNEL_FD and NODE_UNIQUE_ID from process.env, not from the
    // initial environment the kernel keeps.
    for want in [
        "NODE_CHANNEL_FD=4",
        "NODE_CHANNEL_SERIALIZATION_MODE=json",
        "LISTEN_FDS=1",
    ] {
        assert!(vars.contains(&want), "{want} in {vars:?}");
    }
    assert!(
        vars.iter().any(|v| v.starts_with("NODE_UNIQUE_ID=")),
        "a cluster worker: {vars:?}"
    );
    let link = std::fs::read_link(format!("/proc/{pid}/fd/4")).expect("fd 4");
    assert!(
        link.to_string_lossy().starts_with("socket:"),
        "fd 4 is the channel: {link:?}"
    );
    // A shell app gets no channel.
    t.ok(&["start", &app("sleeper.sh"), "--name", "sh"]);
    let sh = int(&t.wait_status("sh", "online"), "pid");
    let env = std::fs::read(format!("/proc/{sh}/environ")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&env).contains("NODE_CHANNEL_FD"),
        "no channel for a non-Node app"
    );
}

#[test]
fn an_express_app_listen_port_shares_one_port_across_four_instances() {
    let Some(t) = node_home() else {
        return;
    };
    // Express from the registry into the test's own directory (the repo has no npm
    // dependency); skipped, saying why, when it cannot be had quickly.
    let mut npm = std::process::Command::new("npm");
    npm.args([
        "install",
        "--no-audit",
        "--no-fund",
        "--silent",
        "--no-save",
        "express@4",
    ])
    .current_dir(&t.work)
    .stdin(std::process::Stdio::null());
    let out = run_with_timeout(npm, Duration::from_secs(60));
    if !out.status.success() || !t.work.join("node_modules/express").exists() {
        eprintln!(
            "skipped: `npm install express` failed (offline?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let script = t.path("app.js");
    std::fs::write(
        &script,
        "const express = require('express');\n\
         const app = express();\n\
         app.get('/', (req, res) => res.send(`${process.env.NODE_APP_INSTANCE} ${process.pid}`));\n\
         app.listen(process.env.PORT, () => console.log(`listening ${process.pid} ready:sent`));\n",
    )
    .expect("app.js");
    let port = free_port();
    let script = script.to_string_lossy().into_owned();
    let mut c = t.cmd(&["start", &script, "--name", "express", "-i", "4"]);
    c.env("PORT", port.to_string());
    expect_ok(
        &run_with_timeout(c, Duration::from_secs(120)),
        "pmx start app.js",
    );
    let pids = online(&t, "express", 4);
    wait_listening(&t, "express", &pids);
    let (seen, bodies) = answering_pids(port, 2);
    assert!(seen.len() >= 2, "two instances answer: {bodies:?}");
    let err = logs_of(&t, "express", "error");
    assert!(!err.contains("EADDRINUSE"), "no EADDRINUSE: {err}");
    assert_eq!(online(&t, "express", 4).len(), 4);
}

#[test]
fn node_workers_share_a_unix_socket_and_a_port_0_server_too() {
    let Some(t) = node_home() else {
        return;
    };
    let sock = t.path("s.sock");
    let script = t.path("servers.js");
    std::fs::write(
        &script,
        "const http = require('http');\n\
         const u = http.createServer((q, r) => r.end(`${process.pid}`));\n\
         u.listen(process.env.SOCK, () => {\n\
           const z = http.createServer().listen(0, () =>\n\
             console.log(`zero ${z.address().port} ${process.pid}`));\n\
         });\n",
    )
    .expect("servers.js");
    let script = script.to_string_lossy().into_owned();
    let mut c = t.cmd(&["start", &script, "--name", "srv", "-i", "2"]);
    c.env("SOCK", &sock);
    expect_ok(&run_with_timeout(c, Duration::from_secs(120)), "pmx start");
    let pids = online(&t, "srv", 2);
    let mut out = String::new();
    assert!(
        wait_for(DEADLINE, || {
            out = logs_of(&t, "srv", "out");
            pids.iter().all(|p| out.contains(&format!(" {p}\n")))
        }),
        "both listen: {out}\nerr: {}",
        logs_of(&t, "srv", "error")
    );
    let ports: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("zero "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(ports.len(), 1, "one port-0 socket for both workers: {out}");
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + DEADLINE;
    while seen.len() < 2 && Instant::now() < deadline {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&sock) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        if let Some(body) = text.split("\r\n\r\n").nth(1) {
            seen.insert(body.trim().to_string());
        }
    }
    assert_eq!(
        seen.len(),
        2,
        "both workers answer on the one unix socket: {seen:?}"
    );
    let err = logs_of(&t, "srv", "error");
    assert!(!err.contains("EADDRINUSE"), "{err}");
}

#[test]
fn a_worker_running_as_another_user_gets_no_privileged_port_from_pmx() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: not root, --uid cannot be tested");
        return;
    }
    let Some(t) = node_home() else {
        return;
    };
    // Port 80 as nobody: pmx (root) does not bind it on the app's behalf.
    start_node(&t, "low", 80, &["-i", "2", "--uid", "nobody"]);
    let mut err = String::new();
    assert!(
        wait_for(DEADLINE, || {
            err = logs_of(&t, "low", "error");
            err.contains("listen error: EACCES")
        }),
        "the worker's listen(80) is refused: {err}"
    );
    let log = daemon_log(&t);
    assert!(
        log.contains("app low: not binding tcp://*:80 for an app that runs as another user"),
        "{log}"
    );
    t.ok(&["delete", "low"]);
    // A port it could bind itself is shared as for anyone.
    let port = free_port();
    start_listening(&t, "high", port, &["-i", "2", "--uid", "nobody"], 2);
    assert!(get(port).is_some(), "the unprivileged port answers");
}

#[test]
fn stopped_node_workers_free_the_port_pmx_bound_for_them() {
    let Some(t) = node_home() else {
        return;
    };
    let port = free_port();
    start_listening(&t, "nstop", port, &["-i", "2"], 2);
    assert!(crate::http::get_ok(port), "served");
    t.ok(&["stop", "nstop"]);
    assert!(
        wait_for(DEADLINE, || matches!(
            crate::http::request(port),
            crate::http::Got::Refused
        )),
        "the port refuses once both workers are stopped"
    );
    t.ok(&["start", "nstop"]);
    assert!(
        wait_for(DEADLINE, || crate::http::get_ok(port)),
        "served again after start"
    );
}
