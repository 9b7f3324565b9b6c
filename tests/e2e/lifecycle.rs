//! Fork-mode lifecycle: start, list, stop, restart, delete, kill, and the process tree.

use crate::harness::*;

#[test]
fn start_list_stop_delete_by_name() {
    let t = TestHome::new();
    let out = t.ok(&["start", &app("sleeper.sh"), "--name", "sl"]);
    assert!(out.contains("sl"), "the start table names the app: {out}");
    let row = t.wait_status("sl", "online");
    let pid = int(&row, "pid") as i32;
    assert!(alive(pid));
    assert_eq!(row["mode"], "fork");
    assert_eq!(row["restarts"], 0);
    t.ok(&["stop", "sl"]);
    let row = t.row("sl");
    assert_eq!(row["status"], "stopped", "stopped once stop returns");
    assert!(row["pid"].is_null());
    assert!(!alive(pid), "the process is gone once stop returns");
    t.ok(&["delete", "sl"]);
    assert!(t.list().is_empty(), "deleted apps are no longer listed");
}

#[test]
fn kill_stops_every_app_and_the_daemon() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    t.ok(&[
        "start",
        &app("tree.py"),
        "--name",
        "b",
        "--",
        t.work.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || t.path("setsid").exists()));
    let daemon = t.daemon_pid().expect("pid file");
    let setsid: i32 = std::fs::read_to_string(t.path("setsid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("int");
    t.ok(&["kill"]);
    assert!(!alive(daemon), "the daemon is gone once kill returns");
    assert!(!alive(setsid), "a setsid'd grandchild is gone too");
    assert!(
        t.processes().is_empty(),
        "nothing of this home runs: {:?}",
        t.processes()
    );
}
