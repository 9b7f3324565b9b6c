//! Readiness and rolling reload of an unmodified Node app in cluster mode: its workers
//! share the port through pmx (Node's cluster protocol, pmx as the primary), say
//! `process.send('ready')` once they listen, and a reload replaces them one by one without
//! a failed request. And what a `kill -9` of one instance costs a client: no refused
//! connection, at most the one request that instance held.

use std::time::{Duration, Instant};

use crate::harness::*;
use crate::http::{free_port, Client};
use crate::reload::{online_pids, Census};

/// `pmx start node_http.js --name NAME -i N --wait-ready --listen-timeout 60000` with
/// `PORT` and `READY_DELAY_MS` in its environment. The long `listen_timeout` makes the
/// app's own `process.send('ready')` the only way to `online` within a test's deadline.
fn start_node(t: &TestHome, name: &str, port: u16, n: usize, ready_delay_ms: u64) -> Duration {
    let count = n.to_string();
    let script = app("node_http.js");
    let mut c = t.cmd(&[
        "start",
        &script,
        "--name",
        name,
        "-i",
        &count,
        "--wait-ready",
        "--listen-timeout",
        "60000",
    ]);
    c.env("PORT", port.to_string());
    c.env("READY_DELAY_MS", ready_delay_ms.to_string());
    let began = Instant::now();
    let out = run_with_timeout(c, Duration::from_secs(90));
    expect_ok(&out, "start node_http.js --wait-ready");
    began.elapsed()
}

#[test]
fn process_send_ready_holds_a_node_worker_launching_and_the_start_returns_once_ready() {
    let t = TestHome::new();
    let port = free_port();
    let took = start_node(&t, "nready", port, 2, 1500);
    // The start returned once both said ready: at least the delay, far less than the
    // 60 s listen_timeout.
    assert!(
        took >= Duration::from_millis(1500),
        "the start waited for process.send('ready'): {took:?}"
    );
    let rows: Vec<_> = t
        .list()
        .into_iter()
        .filter(|r| r["name"] == "nready")
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["status"] == "online"),
        "online as soon as the start returned: {rows:?}"
    );
    let log = std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
    assert!(
        log.matches("ready (process.send)").count() >= 2,
        "each worker's ready was heard: {log}"
    );
}

#[test]
fn a_node_cluster_app_reloads_rolling_on_process_send_ready_without_a_failed_request() {
    let t = TestHome::new();
    let port = free_port();
    start_node(&t, "nroll", port, 2, 300);
    let mut pids = online_pids(&t, "nroll", 2);
    let client = Client::start(port);
    assert!(
        client.serves_more_than(20),
        "the client is served before the reloads"
    );
    let census = Census::start("nroll");
    for round in 0..2 {
        t.ok(&["reload", "nroll"]);
        let after = online_pids(&t, "nroll", 2);
        for (n, pid) in &after {
            assert_ne!(
                Some(pid),
                pids.get(n),
                "round {round}: instance {n} replaced"
            );
        }
        pids = after;
    }
    let (fewest, _) = census.finish();
    let (ok, failed) = client.finish();
    assert_eq!(
        failed,
        0,
        "no failed request in {} during two reloads",
        ok + failed
    );
    assert!(
        fewest >= 2,
        "never fewer than 2 workers running during the reloads: {fewest}"
    );
}

#[test]
fn a_kill_9_of_one_instance_refuses_no_connection_and_loses_at_most_the_request_it_held() {
    let t = TestHome::new();
    let port = free_port();
    start_node(&t, "nkill", port, 2, 0);
    let pids = online_pids(&t, "nkill", 2);
    let client = Client::start(port);
    assert!(client.serves_more_than(20), "served before the kill");
    let victim = pids[&0] as i32;
    kill9(victim);
    // The instance comes back (a new pid, ready again), the loop served meanwhile.
    assert!(
        wait_for(DEADLINE, || {
            let after = online_pids(&t, "nkill", 2);
            after[&0] as i32 != victim
        }),
        "instance 0 restarted under a new pid: {:?}",
        t.list()
    );
    let served = client.served();
    assert!(
        client.serves_more_than(served + 20),
        "served after the restart"
    );
    let (ok, refused, lost) = client.finish_by_kind();
    assert_eq!(
        refused, 0,
        "no connection refused ({ok} served, {lost} lost)"
    );
    // One request at a time: the killed process can have held one of them at most.
    assert!(
        lost <= 1,
        "at most the request the killed instance held: {lost} lost"
    );
}

#[test]
fn a_node_app_slow_to_listen_reloads_without_a_failed_request_and_without_wait_ready() {
    // No --wait-ready: the new worker's `listening` (or listen_timeout) is what a rolling
    // replacement waits for, as PM2's cluster reload does; a replacement taken as ready
    // once spawned would stop the old workers 1.5 s before a new one listens.
    let t = TestHome::new();
    let port = free_port();
    let script = app("node_http.js");
    let mut c = t.cmd(&["start", &script, "--name", "nslow", "-i", "2"]);
    c.env("PORT", port.to_string());
    c.env("LISTEN_DELAY_MS", "1500");
    expect_ok(
        &run_with_timeout(c, Duration::from_secs(60)),
        "start node_http.js -i 2",
    );
    let mut pids = online_pids(&t, "nslow", 2);
    // Online once spawned; the port answers once a worker listens, 1.5 s later.
    assert!(
        wait_for(DEADLINE, || crate::http::get_ok(port)),
        "the workers listen"
    );
    let client = Client::start(port);
    assert!(
        client.serves_more_than(20),
        "the client is served before the reload"
    );
    let began = Instant::now();
    t.ok(&["reload", "nslow"]);
    let took = began.elapsed();
    let after = online_pids(&t, "nslow", 2);
    for (n, pid) in &after {
        assert_ne!(Some(pid), pids.get(n), "instance {n} replaced");
    }
    pids = after;
    let (ok, failed) = client.finish();
    assert_eq!(failed, 0, "no failed request in {}", ok + failed);
    assert!(
        took >= Duration::from_millis(3000),
        "each of the 2 replacements was waited for until it listened: {took:?} ({pids:?})"
    );
}
