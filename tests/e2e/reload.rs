//! Rolling reload in cluster mode (SPEC §6): each instance's replacement starts beside it
//! on the same shared socket and the old process is stopped (gracefully) only once the
//! replacement is ready, one instance at a time, so a client never sees a refused or
//! failed request; a replacement that dies before it is ready stops the reload with the
//! old instances serving; two reloads of one app never interleave.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::*;
use crate::http::{free_port, get_ok, Client};

/// The listed (instance number → pid) of `name` once exactly `n` rows are listed, all
/// online.
pub(crate) fn online_pids(t: &TestHome, name: &str, n: usize) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    assert!(
        wait_for(DEADLINE, || {
            let rows: Vec<_> = t.list().into_iter().filter(|r| r["name"] == name).collect();
            out = rows
                .iter()
                .map(|r| (int(r, "instance"), int(r, "pid")))
                .collect();
            rows.len() == n && rows.iter().all(|r| r["status"] == "online")
        }),
        "{n} instances of {name} online: {:?}",
        t.list()
    );
    out
}

/// `pmx start fd_http.py --name NAME -i N --listen … --wait-ready`. Each test names its
/// app apart: tests run in parallel and count processes by `PMX_APP_NAME`.
fn start_web(t: &TestHome, name: &str, port: u16, n: usize) {
    let listen = format!("tcp://127.0.0.1:{port}");
    let count = n.to_string();
    let script = app("fd_http.py");
    let args = vec![
        "start",
        &script,
        "--name",
        name,
        "-i",
        &count,
        "--listen",
        &listen,
        "--wait-ready",
    ];
    t.ok(&args);
}

/// The pid each instance's pid file (`pids/<name>-<id>.pid`, PM2's name) holds, by
/// instance number, once they all name the listed pids.
fn pid_files_name(t: &TestHome, name: &str, want: &BTreeMap<i64, i64>) {
    let rows: Vec<_> = t.list().into_iter().filter(|r| r["name"] == name).collect();
    let mut last = Vec::new();
    assert!(
        wait_for(DEADLINE, || {
            last = rows
                .iter()
                .map(|r| {
                    let file = t
                        .home
                        .join("pids")
                        .join(format!("{name}-{}.pid", int(r, "id")));
                    std::fs::read_to_string(file)
                        .ok()
                        .and_then(|s| s.trim().parse::<i64>().ok())
                })
                .collect();
            rows.iter()
                .zip(&last)
                .all(|(r, pid)| *pid == want.get(&int(r, "instance")).copied())
        }),
        "pid files {last:?}, listed {want:?}"
    );
}

/// Counts the app's processes (by `PMX_APP_NAME`) on another thread: the fewest and the
/// most seen. A rolling reload never has fewer than the instance count running (the old
/// process stops only once its replacement is ready); a restart would drop to none.
pub(crate) struct Census {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(usize, usize)>,
}

impl Census {
    pub(crate) fn start(name: &str) -> Census {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let kv = format!("PMX_APP_NAME={name}");
        let thread = std::thread::spawn(move || {
            let (mut min, mut max) = (usize::MAX, 0);
            while !s.load(Ordering::Relaxed) {
                let n = processes_with_env(&kv).len();
                min = min.min(n);
                max = max.max(n);
                std::thread::sleep(Duration::from_millis(5));
            }
            (min, max)
        });
        Census { stop, thread }
    }

    /// (fewest, most) processes seen.
    pub(crate) fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("census")
    }
}

#[test]
fn a_client_loop_sees_no_failure_during_three_rolling_reloads() {
    let t = TestHome::new();
    let port = free_port();
    start_web(&t, "loop3", port, 4);
    let mut pids = online_pids(&t, "loop3", 4);
    let client = Client::start(port);
    assert!(
        client.serves_more_than(20),
        "the client is served before the reloads"
    );
    let census = Census::start("loop3");
    for round in 0..3 {
        let out = t.ok(&["reload", "loop3"]);
        assert!(out.contains("loop3"), "the reload prints the table: {out}");
        let after = online_pids(&t, "loop3", 4);
        for (n, pid) in &after {
            assert_ne!(
                Some(pid),
                pids.get(n),
                "round {round}: instance {n} was replaced"
            );
        }
        pids = after;
    }
    let (fewest, _) = census.finish();
    assert!(
        fewest >= 4,
        "never fewer than the 4 instances running: {fewest}"
    );
    pid_files_name(&t, "loop3", &pids);
    let served_during = client.served();
    let (ok, failed) = client.finish();
    assert_eq!(failed, 0, "{failed} failed requests of {}", ok + failed);
    assert!(
        ok > served_during / 2 && ok > 20,
        "the client was served: {ok}"
    );
    // PM2 counts a reload as a restart of each instance.
    let restarts: Vec<i64> = t
        .list()
        .iter()
        .filter(|r| r["name"] == "loop3")
        .map(|r| int(r, "restarts"))
        .collect();
    assert_eq!(restarts, [3, 3, 3, 3]);
    // No process of the app beyond its four instances.
    assert!(
        wait_for(DEADLINE, || processes_with_env("PMX_APP_NAME=loop3").len()
            == 4),
        "{:?}",
        processes_with_env("PMX_APP_NAME=loop3")
    );
}

#[test]
fn a_replacement_that_dies_before_ready_stops_the_reload_and_the_old_ones_serve() {
    let t = TestHome::new();
    let port = free_port();
    let fail = t.path("fail");
    let fail_env = format!("FD_HTTP_FAIL_FILE={}", fail.display());
    // The daemon first, without the variable (it inherits the environment of the CLI
    // that starts it): only the app's processes carry it.
    t.ok(&["ping"]);
    // The variable reaches the app through the environment of the start.
    let listen = format!("tcp://127.0.0.1:{port}");
    let out = t
        .cmd(&[
            "start",
            &app("fd_http.py"),
            "--name",
            "dies",
            "-i",
            "2",
            "--listen",
            &listen,
            "--wait-ready",
        ])
        .env("FD_HTTP_FAIL_FILE", &fail)
        .output()
        .expect("pmx start");
    expect_ok(&out, "pmx start");
    let before = online_pids(&t, "dies", 2);
    std::fs::write(&fail, "").expect("fail file");
    let err = t.fails(&["reload", "dies"], 1);
    assert!(
        err.contains("instance 0") && err.contains("exited with code 1 before it was ready"),
        "the error names the instance and the exit: {err}"
    );
    assert!(err.contains("old processes keep serving"), "{err}");
    // The old processes run on, listed as they were (their pid files too), and serve.
    assert_eq!(online_pids(&t, "dies", 2), before);
    pid_files_name(&t, "dies", &before);
    for pid in before.values() {
        assert!(alive(*pid as i32));
    }
    for _ in 0..10 {
        assert!(get_ok(port), "the old instances serve");
    }
    let restarts: Vec<i64> = t.list().iter().map(|r| int(r, "restarts")).collect();
    assert_eq!(restarts, [0, 0], "a failed replacement is not a restart");
    assert_eq!(
        processes_with_env(&fail_env).len(),
        2,
        "the failed replacement is gone"
    );
    // Once the cause is gone, a reload goes through.
    std::fs::remove_file(&fail).expect("rm");
    t.ok(&["reload", "dies"]);
    let after = online_pids(&t, "dies", 2);
    assert!(after.values().all(|p| !before.values().any(|q| q == p)));
}

#[test]
fn two_overlapping_reloads_leave_exactly_the_instances_and_no_stray_process() {
    let t = TestHome::new();
    let port = free_port();
    start_web(&t, "twice", port, 4);
    let before = online_pids(&t, "twice", 4);
    let client = Client::start(port);
    let a = t
        .cmd(&["reload", "twice"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("reload a");
    let b = t
        .cmd(&["reload", "twice"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("reload b");
    for (what, c) in [("first", a), ("second", b)] {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "the {what} reload: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after = online_pids(&t, "twice", 4);
    assert!(after.values().all(|p| !before.values().any(|q| q == p)));
    // Both ran in full, one after the other: every instance replaced twice.
    let restarts: Vec<i64> = t.list().iter().map(|r| int(r, "restarts")).collect();
    assert_eq!(restarts, [2, 2, 2, 2]);
    let live = processes_with_env("PMX_APP_NAME=twice");
    let listed: Vec<i32> = after.values().map(|p| *p as i32).collect();
    assert!(
        wait_for(DEADLINE, || {
            let mut now = processes_with_env("PMX_APP_NAME=twice");
            now.sort_unstable();
            let mut want = listed.clone();
            want.sort_unstable();
            now == want
        }),
        "only the listed instances run: {live:?} vs {listed:?}"
    );
    let (ok, failed) = client.finish();
    assert_eq!(failed, 0, "{failed} failed of {}", ok + failed);
}

#[test]
fn a_reload_goes_on_in_the_daemon_when_its_client_goes_away() {
    let t = TestHome::new();
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    // Each replacement says READY=1 a second after it starts: the reload takes seconds.
    let out = t
        .cmd(&[
            "start",
            &app("fd_http.py"),
            "--name",
            "away",
            "-i",
            "3",
            "--listen",
            &listen,
            "--wait-ready",
        ])
        .env("FD_HTTP_READY_DELAY", "1")
        .output()
        .expect("start");
    expect_ok(&out, "pmx start");
    let before = online_pids(&t, "away", 3);
    let mut c = t
        .cmd(&["reload", "away"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("reload");
    // Gone as soon as the first replacement is under way.
    assert!(wait_for(DEADLINE, || processes_with_env(
        "PMX_APP_NAME=away"
    )
    .len()
        > 3));
    let _ = c.kill();
    let _ = c.wait();
    assert!(
        wait_for(DEADLINE, || {
            let now = online_pids(&t, "away", 3);
            now.values().all(|p| !before.values().any(|q| q == p))
        }),
        "every instance replaced"
    );
}

#[test]
fn a_single_fork_mode_instance_is_restarted_by_reload() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "one"]);
    let before = int(&t.wait_status("one", "online"), "pid");
    t.ok(&["reload", "one"]);
    let row = t.wait_status("one", "online");
    assert_ne!(int(&row, "pid"), before);
    assert_eq!(int(&row, "restarts"), 1);
}

#[test]
fn reload_update_env_replaces_every_instance_with_the_new_environment() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    let script = app("fd_http.py");
    let start = [
        "start",
        &script,
        "--name",
        "upenv",
        "-i",
        "2",
        "--listen",
        &listen,
        "--wait-ready",
    ];
    let out = t
        .cmd(&start)
        .env("GREETING", "one")
        .output()
        .expect("start");
    expect_ok(&out, "pmx start");
    let before = online_pids(&t, "upenv", 2);
    let client = Client::start(port);
    let out = t
        .cmd(&["reload", "upenv", "--update-env"])
        .env("GREETING", "two")
        .output()
        .expect("reload");
    expect_ok(&out, "pmx reload --update-env");
    let after = online_pids(&t, "upenv", 2);
    assert!(after.values().all(|p| !before.values().any(|q| q == p)));
    for row in t.list() {
        let env = t.ok(&["env", &int(&row, "id").to_string()]);
        assert!(env.lines().any(|l| l == "GREETING=two"), "{env}");
    }
    let (ok, failed) = client.finish();
    assert_eq!(failed, 0, "{failed} failed of {}", ok + failed);
}

#[test]
fn up_reloads_a_changed_cluster_app_rolling_without_a_failed_request() {
    let t = TestHome::new();
    let port = free_port();
    let eco = t.path("ecosystem.ron");
    let write = |v: &str| {
        std::fs::write(
            &eco,
            format!(
                "Ecosystem(apps: [App(name: \"upweb\", script: \"{}\", instances: 3, \
                 listen: [\"tcp://127.0.0.1:{port}\"], wait_ready: true, \
                 env: {{\"VERSION\": \"{v}\", \"FD_HTTP_READY_DELAY\": \"0.5\"}})])\n",
                app("fd_http.py")
            ),
        )
        .expect("write ecosystem");
    };
    write("1");
    let eco_s = eco.to_string_lossy().into_owned();
    t.ok(&["up", &eco_s]);
    let before = online_pids(&t, "upweb", 3);
    let client = Client::start(port);
    assert!(client.serves_more_than(10));
    write("2");
    let census = Census::start("upweb");
    let out = t.ok(&["up", &eco_s]);
    let (fewest, most) = census.finish();
    assert!(out.contains("reload"), "{out}");
    // Replacements ran beside the three (each takes 0.5 s to be ready), and never fewer
    // than three ran. (The most is not exact: an interpreter's launcher, pyenv's shim,
    // runs short-lived helpers carrying the app's environment.)
    assert!(
        fewest == 3 && most >= 4,
        "processes running during the reload: fewest {fewest}, most {most}"
    );
    let after = online_pids(&t, "upweb", 3);
    assert!(after.values().all(|p| !before.values().any(|q| q == p)));
    let (ok, failed) = client.finish();
    assert_eq!(failed, 0, "{failed} failed of {}", ok + failed);
}

#[test]
fn reloading_one_instance_by_id_replaces_only_that_one() {
    let t = TestHome::new();
    let port = free_port();
    start_web(&t, "byid", port, 3);
    let before = online_pids(&t, "byid", 3);
    let id1 = t
        .list()
        .iter()
        .find(|r| r["name"] == "byid" && int(r, "instance") == 1)
        .map(|r| int(r, "id"))
        .expect("instance 1");
    let census = Census::start("byid");
    t.ok(&["reload", &id1.to_string()]);
    let (fewest, _) = census.finish();
    assert!(fewest >= 3, "never fewer than 3 running: {fewest}");
    let after = online_pids(&t, "byid", 3);
    assert_ne!(after[&1], before[&1], "instance 1 replaced");
    assert_eq!(
        (after[&0], after[&2]),
        (before[&0], before[&2]),
        "the others untouched"
    );
}
