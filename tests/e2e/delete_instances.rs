//! Verbs given one instance's id (issue 18, item 1): `pmx delete <id>` deletes that
//! instance only, as PM2 7's `pm2 delete <id>` does (the app keeps its other instances,
//! listed under their ids); the id of an app's last instance deletes the app. Nothing ever
//! runs unlisted, and `pmx kill` afterwards leaves no process. `stop`, `restart`, `reset`
//! and `signal` of an id touch that instance only.

use crate::harness::*;

/// The rows of app `name`, by id: (id, instance, pid, status).
fn rows(t: &TestHome, name: &str) -> Vec<(i64, i64, Option<i32>, String)> {
    let mut out: Vec<_> = t
        .list()
        .into_iter()
        .filter(|r| r["name"] == name)
        .map(|r| {
            (
                int(&r, "id"),
                int(&r, "instance"),
                r["pid"].as_i64().map(|p| p as i32),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Start `sleeper.sh` as `name` with `n` instances, all online; answers their pids by id.
fn start_sleepers(t: &TestHome, name: &str, n: u32) -> Vec<i32> {
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        name,
        "-i",
        &n.to_string(),
    ]);
    let mut last = Vec::new();
    let all_online = wait_for(DEADLINE, || {
        last = rows(t, name);
        last.len() == n as usize && last.iter().all(|r| r.3 == "online" && r.2.is_some())
    });
    assert!(all_online, "{n} instances online: {last:?}");
    last.iter().filter_map(|r| r.2).collect()
}

/// `pmx kill`, then: the daemon and every pid in `pids` are gone, nothing of the home runs.
fn kill_leaves_nothing(t: &TestHome, pids: &[i32]) {
    let daemon = t.daemon_pid().expect("pid file");
    t.ok(&["kill"]);
    assert!(!alive(daemon), "the daemon is gone once kill returns");
    for &pid in pids {
        assert!(!alive(pid), "pid {pid} is gone after kill");
    }
    assert!(
        t.processes().is_empty(),
        "nothing of this home runs: {:?}",
        t.processes()
    );
}

#[test]
fn deleting_one_instance_by_id_keeps_its_siblings() {
    let t = TestHome::new();
    let pids = start_sleepers(&t, "two", 2);
    t.ok(&["delete", "0"]);
    assert!(!alive(pids[0]), "the deleted instance's process is gone");
    // The sibling runs on, listed under its own id, renumbered instance 0.
    assert_eq!(
        rows(&t, "two"),
        vec![(1, 0, Some(pids[1]), "online".to_string())]
    );
    assert!(alive(pids[1]));
    // It is still the app's: a restart of the app restarts it, an id that is gone is not
    // found, and the app's own delete stops it.
    t.ok(&["restart", "two"]);
    let after = rows(&t, "two");
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(
        !alive(pids[1]),
        "the restart replaced the sibling's process"
    );
    let err = t.fails(&["stop", "0"], 1);
    assert!(err.contains("0"), "{err}");
    let new_pid = after[0].2.expect("a pid");
    kill_leaves_nothing(&t, &[pids[0], pids[1], new_pid]);
}

#[test]
fn deleting_one_instance_by_id_then_kill_leaves_no_process() {
    let t = TestHome::new();
    let pids = start_sleepers(&t, "three", 3);
    t.ok(&["delete", "1"]);
    assert_eq!(
        rows(&t, "three"),
        vec![
            (0, 0, Some(pids[0]), "online".to_string()),
            (2, 1, Some(pids[2]), "online".to_string()),
        ]
    );
    assert!(!alive(pids[1]));
    kill_leaves_nothing(&t, &pids);
}

#[test]
fn deleting_every_instance_by_id_deletes_the_app() {
    let t = TestHome::new();
    let pids = start_sleepers(&t, "two", 2);
    t.ok(&["delete", "1"]);
    t.ok(&["delete", "0"]);
    assert!(t.list().is_empty(), "{:?}", t.list());
    for pid in &pids {
        assert!(!alive(*pid));
    }
    // The name is free again: the app was deleted, not left without instances.
    start_sleepers(&t, "two", 1);
    let daemon = t.daemon_pid().expect("pid file");
    t.ok(&["kill"]);
    assert!(!alive(daemon));
    assert!(t.processes().is_empty(), "{:?}", t.processes());
}

#[test]
fn stop_restart_reset_and_signal_by_id_touch_that_instance_only() {
    let t = TestHome::new();
    let pids = start_sleepers(&t, "pair", 2);
    t.ok(&["stop", "1"]);
    assert_eq!(
        rows(&t, "pair"),
        vec![
            (0, 0, Some(pids[0]), "online".to_string()),
            (1, 1, None, "stopped".to_string()),
        ]
    );
    assert!(!alive(pids[1]));
    t.ok(&["restart", "1"]);
    let now = rows(&t, "pair");
    assert_eq!(now[0], (0, 0, Some(pids[0]), "online".to_string()));
    assert_eq!(now[1].3, "online");
    let second = now[1].2.expect("restarted pid");
    t.ok(&["reset", "0"]);
    // SIGTERM to id 0's main process: it dies and is restarted; id 1 is untouched.
    t.ok(&["signal", "SIGTERM", "0"]);
    let restarted = wait_for(DEADLINE, || {
        rows(&t, "pair")
            .first()
            .is_some_and(|r| r.3 == "online" && r.2.is_some_and(|p| p != pids[0]))
    });
    assert!(restarted, "id 0 restarted: {:?}", rows(&t, "pair"));
    let now = rows(&t, "pair");
    assert_eq!(now[1], (1, 1, Some(second), "online".to_string()));
    let first = now[0].2.expect("pid");
    kill_leaves_nothing(&t, &[pids[0], pids[1], first, second]);
}
