//! Apps outlive the daemon (SPEC §5, the daemon's death): after a SIGKILL of the daemon
//! every app keeps running with its pipes still read later (the fd holder keeps their
//! read ends), and the next daemon re-adopts them: the same ids and pids, every line in
//! the log files in order, their trees still stopped whole, their exits still noticed,
//! nothing started twice.

use std::time::Duration;

use crate::harness::*;

/// SIGKILL the daemon and wait until it is gone.
pub fn crash(t: &TestHome) {
    let pid = t.daemon_pid().expect("a daemon");
    kill9(pid);
    assert!(
        wait_for(DEADLINE, || !alive(pid)),
        "daemon {pid} still alive"
    );
}

/// Wait until pmx.log holds `what` (it is written by a thread of its own).
pub fn daemon_log_says(t: &TestHome, what: &str) {
    let mut text = String::new();
    assert!(
        wait_for(DEADLINE, || {
            text = std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
            text.contains(what)
        }),
        "pmx.log never said {what:?}:\n{text}"
    );
}

/// The numbers of the `line N` lines of a log file, in file order.
pub(crate) fn numbers(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.trim().parse().ok())
        .collect()
}

/// Whether `v` is 1, 2, 3, … with nothing missing, doubled or out of order.
pub(crate) fn in_order(v: &[u64]) -> bool {
    v.iter().enumerate().all(|(i, n)| *n == i as u64 + 1)
}

pub(crate) fn start_numbered(t: &TestHome, name: &str, with_child: bool) -> i32 {
    let dir = t.work.to_str().expect("utf8").to_string();
    let script = app("numbered.sh");
    let mut args = vec!["start", script.as_str(), "--name", name];
    if with_child {
        args.extend(["--", dir.as_str()]);
    }
    t.ok(&args);
    let row = t.wait_status(name, "online");
    int(&row, "pid") as i32
}

#[test]
fn an_app_printing_numbered_lines_outlives_a_sigkilled_daemon_and_loses_no_line() {
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", false);
    let log = t.home.join("logs/count-out.log");
    assert!(wait_for(DEADLINE, || numbers(&log).len() >= 10));
    let holder = t.holder_pid().expect("an fd holder");
    assert!(alive(holder));
    crash(&t);
    // While no daemon runs it keeps printing into its pipe, which still has a reader.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(alive(pid), "the app died with the daemon (SIGPIPE?)");
    let before = numbers(&log).len();

    // The next command starts a daemon that adopts it: one row, the same id and pid.
    let rows = t.list();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["name"], "count");
    assert_eq!(rows[0]["id"], 0);
    assert_eq!(int(&rows[0], "pid") as i32, pid);
    assert_eq!(rows[0]["status"], "online");
    // What it wrote while no daemon ran lands in the file, in order, none lost.
    assert!(wait_for(DEADLINE, || numbers(&log).len() > before + 50));
    let got = numbers(&log);
    assert!(
        in_order(&got),
        "lines lost or out of order: {:?}",
        &got[..got.len().min(400)]
    );
    daemon_log_says(&t, "adopted 1 apps, 1 processes; 0 gone since");
}

#[test]
fn an_adopted_app_is_stopped_with_its_whole_tree() {
    let t = TestHome::new();
    let (grandchild, setsid) = start_tree(&t, "tree");
    let pid = int(&t.row("tree"), "pid") as i32;
    crash(&t);
    assert_eq!(int(&t.row("tree"), "pid") as i32, pid);
    t.ok(&["stop", "tree"]);
    t.wait_status("tree", "stopped");
    assert!(wait_for(DEADLINE, || !alive(pid)), "main process left");
    assert!(wait_for(DEADLINE, || !alive(grandchild)), "grandchild left");
    assert!(
        wait_for(DEADLINE, || !alive(setsid)),
        "setsid'd grandchild left"
    );
}

#[test]
fn an_adopted_apps_later_exit_is_noticed_and_restarted_by_its_policy() {
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", true);
    assert!(wait_for(DEADLINE, || t.path("child").exists()));
    let child = read_pid(&t.path("child"));
    crash(&t);
    assert_eq!(int(&t.row("count"), "pid") as i32, pid);
    kill9(pid);
    let row = t.wait_row("count", "a new pid, online", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p as i32 != pid)
    });
    assert!(int(&row, "restarts") >= 1, "{row}");
    // The main process's leftover (its child, in its group) was stopped before the
    // replacement started.
    assert!(
        wait_for(DEADLINE, || !alive(child)),
        "child {child} left running"
    );
    daemon_log_says(&t, "exit status unknown (adopted)");
}

#[test]
fn an_app_that_exited_while_no_daemon_ran_is_restarted_by_its_policy() {
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", false);
    crash(&t);
    kill9(pid);
    assert!(wait_for(DEADLINE, || !alive(pid)));
    let row = t.wait_row("count", "a new pid, online", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p as i32 != pid)
    });
    assert_eq!(row["id"], 0);
    daemon_log_says(&t, "1 gone since");
}

#[test]
fn up_of_the_same_file_after_a_daemon_crash_starts_nothing_new() {
    let t = TestHome::new();
    let file = t.path("ecosystem.ron");
    std::fs::write(
        &file,
        format!(
            "Ecosystem(apps: [\n    App(name: \"a\", script: \"{}\"),\n    App(name: \"b\", script: \"{}\", instances: 2),\n])\n",
            app("sleeper.sh"),
            app("sleeper.sh")
        ),
    )
    .expect("write");
    t.ok(&["up", file.to_str().expect("utf8")]);
    let before: Vec<(String, i64, i64)> = t
        .list()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_string(),
                int(r, "id"),
                int(r, "pid"),
            )
        })
        .collect();
    assert_eq!(before.len(), 3);
    crash(&t);
    t.ok(&["up", file.to_str().expect("utf8")]);
    let after: Vec<(String, i64, i64)> = t
        .list()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_string(),
                int(r, "id"),
                int(r, "pid"),
            )
        })
        .collect();
    assert_eq!(before, after, "the same apps, ids and pids");
}

#[test]
fn kill_ends_the_fd_holder_and_leaves_nothing_behind() {
    let t = TestHome::new();
    start_numbered(&t, "count", false);
    let holder = t.holder_pid().expect("an fd holder");
    t.ok(&["kill"]);
    assert!(
        wait_for(DEADLINE, || !alive(holder)),
        "the holder outlived kill"
    );
    assert!(!t.home.join("fdholder.sock").exists());
    assert!(!t.home.join("fdholder.pid").exists());
}

#[test]
fn a_dead_fd_holder_is_replaced_while_the_daemon_lives() {
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", false);
    let holder = t.holder_pid().expect("an fd holder");
    kill9(holder);
    assert!(wait_for(DEADLINE, || t
        .holder_pid()
        .is_some_and(|p| p != holder && alive(p))));
    // The new holder got everything again: the app survives a crash as before.
    crash(&t);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid));
    assert_eq!(int(&t.row("count"), "pid") as i32, pid);
}

/// A request loop on another thread (a new connection per GET): how many answered 200,
/// how many failed, and the longest time between two answers (ms).
pub(crate) struct Loop {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64, u128)>,
}

impl Loop {
    pub(crate) fn start(port: u16) -> Loop {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut ok, mut failed, mut gap) = (0u64, 0u64, 0u128);
            let mut last = std::time::Instant::now();
            while !s.load(Ordering::Relaxed) {
                match crate::http::get(port) {
                    Some((status, _)) if status.contains(" 200") => {
                        ok += 1;
                        gap = gap.max(last.elapsed().as_millis());
                        last = std::time::Instant::now();
                    }
                    _ => failed += 1,
                }
            }
            (ok, failed, gap)
        });
        Loop { stop, thread }
    }

    /// (answered, failed, longest gap in ms).
    pub(crate) fn finish(self) -> (u64, u64, u128) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("loop")
    }
}

/// Every listed pid of `name`, by instance number, once `n` are online.
pub(crate) fn pids_of(t: &TestHome, name: &str, n: usize) -> Vec<i64> {
    let mut rows = crate::cluster::online_rows(t, name, n);
    rows.sort_by_key(|r| int(r, "instance"));
    rows.iter().map(|r| int(r, "pid")).collect()
}

#[test]
fn listen_sockets_survive_a_daemon_crash_and_are_held_again_after_adoption() {
    let t = TestHome::new();
    let (port, _) = crate::http::start_web(&t, "fd_http.py", &["-i", "2"]);
    let pids = pids_of(&t, "web", 2);
    assert_eq!(crate::http::answerers(port, 2).len(), 2);
    let client = Loop::start(port);
    std::thread::sleep(Duration::from_millis(300));
    crash(&t);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(pids_of(&t, "web", 2), pids, "adopted with the same pids");
    // A restart after the adoption lends the socket the new daemon holds again: no
    // second bind, no EADDRINUSE.
    t.ok(&["restart", "web"]);
    let new = pids_of(&t, "web", 2);
    assert!(new.iter().all(|p| !pids.contains(p)), "{new:?} vs {pids:?}");
    std::thread::sleep(Duration::from_millis(300));
    let (ok, failed, gap) = client.finish();
    eprintln!("listen sockets across a daemon SIGKILL: {ok} answered, {failed} failed, longest gap {gap} ms");
    assert_eq!(failed, 0, "requests failed ({ok} answered)");
}

#[test]
fn node_workers_keep_their_channel_and_port_across_a_daemon_crash() {
    if !std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: no `node` on PATH");
        return;
    }
    let t = TestHome::new();
    let port = crate::http::free_port();
    let script = app("node_http.js");
    let mut c = t.cmd(&["start", script.as_str(), "--name", "node", "-i", "2"]);
    c.env("PORT", port.to_string());
    expect_ok(&run_with_timeout(c, Duration::from_secs(120)), "start node");
    let pids = pids_of(&t, "node", 2);
    let first = crate::http::answering_pids(port, 2);
    assert_eq!(
        first.0.len(),
        2,
        "{first:?} {:?}\n{}",
        std::fs::read_dir(t.home.join("logs"))
            .map(|d| d
                .flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect::<Vec<_>>())
            .unwrap_or_default(),
        std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default()
    );
    let client = Loop::start(port);
    std::thread::sleep(Duration::from_millis(300));
    crash(&t);
    // With the daemon dead the workers' channel is still open (the holder keeps the
    // daemon's end): no `disconnect`, they serve on.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(pids.iter().all(|p| alive(*p as i32)), "a worker exited");
    assert_eq!(pids_of(&t, "node", 2), pids, "adopted with the same pids");
    let (_, bodies) = crate::http::answering_pids(port, 2);
    assert!(
        bodies.iter().all(|b| b.ends_with("true true")),
        "still cluster workers, still connected: {bodies:?}"
    );
    // A new worker after the adoption gets the socket the new daemon holds again (a
    // rolling reload: a plain restart kills workers with requests in flight).
    t.ok(&["reload", "node"]);
    let new = pids_of(&t, "node", 2);
    assert!(new.iter().all(|p| !pids.contains(p)), "{new:?} vs {pids:?}");
    assert_eq!(crate::http::answering_pids(port, 2).0.len(), 2);
    let (ok, failed, gap) = client.finish();
    eprintln!("node workers across a daemon SIGKILL: {ok} answered, {failed} failed, longest gap {gap} ms");
    assert_eq!(failed, 0, "requests failed ({ok} answered)");
}

#[test]
fn an_adopted_processs_exit_event_says_its_status_is_unknown() {
    use std::io::{BufRead, BufReader, Write};
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", false);
    crash(&t);
    assert_eq!(int(&t.row("count"), "pid") as i32, pid);
    let s = std::os::unix::net::UnixStream::connect(t.home.join("pmx.sock")).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    let hello = format!(
        "{{\"id\":0,\"type\":\"hello\",\"protocol_version\":1,\"version\":\"{}\"}}\n",
        env!("CARGO_PKG_VERSION")
    );
    w.write_all(hello.as_bytes()).expect("hello");
    w.write_all(b"{\"id\":1,\"type\":\"subscribe\",\"events\":[\"exit\"]}\n")
        .expect("subscribe");
    let mut line = String::new();
    for _ in 0..2 {
        line.clear();
        r.read_line(&mut line).expect("reply");
    }
    kill9(pid);
    line.clear();
    r.read_line(&mut line).expect("an exit event");
    let ev: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(ev["event"], "exit", "{ev}");
    assert_eq!(ev["reason"], "exit status unknown (adopted)", "{ev}");
    assert!(ev["code"].is_null() && ev["signal"].is_null(), "{ev}");
}
