//! Restart policies with PM2's defaults, checked from the app's side: what the fixtures
//! record about their own starts.

use std::path::Path;

use crate::harness::*;

/// The start times (seconds since the epoch) a crash.sh record file holds.
fn starts(record: &Path) -> Vec<f64> {
    lines(record)
        .iter()
        .filter_map(|l| l.split_whitespace().nth(2).and_then(|t| t.parse().ok()))
        .collect()
}

fn gaps_ms(times: &[f64]) -> Vec<f64> {
    times.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect()
}

#[test]
fn crash_loop_is_errored_after_16_starts() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    let row = t.wait_status("c", "errored");
    assert_eq!(starts(&rec).len(), 16, "PM2's max_restarts 16 = 16 starts");
    assert_eq!(row["restarts"], 15);
    assert!(row["pid"].is_null());
    // Left down: nothing starts it again.
    assert!(!wait_for(
        std::time::Duration::from_millis(1500),
        || starts(&rec).len() > 16
    ));
}

#[test]
fn unstable_exits_count_at_any_age_and_max_restarts_is_honoured() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--max-restarts",
        "3",
        "--min-uptime",
        "500",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    t.wait_status("c", "errored");
    assert_eq!(starts(&rec).len(), 3);
}

#[test]
fn stable_exits_reset_the_unstable_count() {
    let t = TestHome::new();
    let rec = t.path("rec");
    // Runs 0.3 s, longer than min_uptime 100 ms: every exit is stable, so it never errors.
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--max-restarts",
        "2",
        "--min-uptime",
        "100",
        "--",
        rec.to_str().expect("utf8"),
        "0.3",
    ]);
    assert!(
        wait_for(DEADLINE, || starts(&rec).len() >= 4),
        "keeps restarting"
    );
    assert_ne!(t.row("c")["status"], "errored");
}

#[test]
fn restart_delay_spaces_the_starts() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--restart-delay",
        "400",
        "--max-restarts",
        "100",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    t.wait_row("c", "waiting restart seen", |r| {
        r["status"] == "waiting restart"
    });
    assert!(wait_for(DEADLINE, || starts(&rec).len() >= 4));
    t.ok(&["stop", "c"]);
    for gap in gaps_ms(&starts(&rec)) {
        assert!(
            gap >= 400.0,
            "a start came {gap} ms after the previous one, under the 400 ms delay"
        );
    }
}

#[test]
fn exponential_backoff_grows_by_half() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--exp-backoff-restart-delay",
        "100",
        "--max-restarts",
        "100",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || starts(&rec).len() >= 6));
    t.ok(&["stop", "c"]);
    let gaps = gaps_ms(&starts(&rec));
    let mut want = 100.0;
    for gap in gaps.iter().take(5) {
        assert!(
            *gap >= want,
            "gap {gap} ms is under the backoff {want} ms (gaps {gaps:?})"
        );
        want *= 1.5;
    }
}

#[test]
fn no_autorestart_leaves_it_stopped() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--no-autorestart",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    let row = t.wait_status("c", "stopped");
    assert_eq!(row["restarts"], 0);
    assert_eq!(starts(&rec).len(), 1);
}

#[test]
fn stop_exit_codes_are_never_restarted() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--stop-exit-codes",
        "0,3",
        "--",
        rec.to_str().expect("utf8"),
        "0",
        "3",
    ]);
    t.wait_status("c", "stopped");
    assert_eq!(starts(&rec).len(), 1);
    let d = t.ok(&["describe", "c", "--json"]);
    assert!(d.contains("\"last_exit_code\": 3"), "{d}");
}

#[test]
fn on_failure_restarts_failures_only() {
    let t = TestHome::new();
    let (ok_rec, bad_rec) = (t.path("ok"), t.path("bad"));
    let eco = t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            r#"Ecosystem(apps: [
    App(name: "fine", script: "{crash}", args: ["{ok}", "0", "0"], restart: (policy: OnFailure)),
    App(name: "fails", script: "{crash}", args: ["{bad}", "0", "2"], restart: (policy: OnFailure, max_restarts: 3)),
])"#,
            crash = app("crash.sh"),
            ok = ok_rec.display(),
            bad = bad_rec.display()
        ),
    )
    .expect("write");
    t.ok(&["start", eco.to_str().expect("utf8")]);
    t.wait_status("fine", "stopped");
    t.wait_status("fails", "errored");
    assert_eq!(
        starts(&ok_rec).len(),
        1,
        "exit 0 is not restarted under OnFailure"
    );
    assert_eq!(starts(&bad_rec).len(), 3, "exit 2 is");
}

#[test]
fn manual_restart_zeroes_the_unstable_count_and_counts() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "c",
        "--max-restarts",
        "3",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    t.wait_status("c", "errored");
    t.ok(&["restart", "c"]);
    t.wait_status("c", "errored");
    assert_eq!(
        starts(&rec).len(),
        6,
        "a restart gives a fresh run of 3 starts"
    );
    t.ok(&["reset", "c"]);
    assert_eq!(t.row("c")["restarts"], 0, "reset zeroes the counter");
}

#[test]
fn kill_timeout_escalates_to_sigkill() {
    let t = TestHome::new();
    let pidfile = t.path("pid");
    t.ok(&[
        "start",
        &app("ignore_sigint.py"),
        "--name",
        "stubborn",
        "--kill-timeout",
        "300",
        "--",
        pidfile.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || pidfile.exists()));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("int");
    t.ok(&["stop", "stubborn"]);
    assert!(!alive(pid), "SIGKILL after kill_timeout stopped it");
    let d = t.ok(&["describe", "stubborn", "--json"]);
    assert!(d.contains("\"last_exit_signal\": \"SIGKILL\""), "{d}");
}

#[test]
fn stop_kills_grandchildren_and_setsid_ones() {
    let t = TestHome::new();
    let (gc, ss) = start_tree(&t, "tree");
    assert!(alive(gc) && alive(ss));
    t.ok(&["stop", "tree"]);
    assert!(!alive(gc), "the grandchild is stopped with its parent");
    assert!(!alive(ss), "the setsid'd grandchild is stopped too");
}

#[test]
fn a_crashed_parents_worker_is_gone_before_the_replacement_binds() {
    let t = TestHome::new();
    let rec = t.path("rec");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    t.ok(&[
        "start",
        &app("port_parent.py"),
        "--name",
        "pp",
        "--max-restarts",
        "100",
        "--min-uptime",
        "10",
        "--",
        &port.to_string(),
        "0.3",
        rec.to_str().expect("utf8"),
    ]);
    assert!(
        wait_for(DEADLINE, || lines(&rec).len() >= 4),
        "several generations ran"
    );
    t.ok(&["stop", "pp"]);
    let rec = lines(&rec);
    assert!(
        rec.iter().all(|l| l.starts_with("bound")),
        "a replacement found the port still held: {rec:?}"
    );
}

#[test]
fn racing_restarts_leave_exactly_one_copy() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("count_starts.sh"),
        "--name",
        "one",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    t.wait_status("one", "online");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let c = t.cmd(&["restart", "one", "-s"]);
            std::thread::spawn(move || run_with_timeout(c, std::time::Duration::from_secs(60)))
        })
        .collect();
    for h in handles {
        assert!(h.join().expect("thread").status.success());
    }
    t.wait_status("one", "online");
    let copies = processes_with_env("PMX_APP_NAME=one")
        .into_iter()
        .filter(|p| processes_with_env(&format!("PMX_HOME={}", t.home.display())).contains(p))
        .count();
    assert_eq!(copies, 1, "exactly one copy runs after racing restarts");
}

#[test]
fn restart_starts_stopped_apps_and_all_includes_them() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "b"]);
    t.ok(&["stop", "a"]);
    t.ok(&["restart", "all"]);
    // As PM2 7 counts them: restarting a stopped app starts it (restart_time unchanged);
    // restarting a running one counts.
    for (name, restarts) in [("a", 0), ("b", 1)] {
        let r = t.row(name);
        assert_eq!(r["status"], "online", "{name} runs after restart all");
        assert_eq!(r["restarts"], restarts, "{name}");
    }
}

#[test]
fn targets_by_id_namespace_and_all() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "a",
        "--namespace",
        "blue",
    ]);
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "b",
        "--namespace",
        "blue",
    ]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "c"]);
    let id_c = int(&t.row("c"), "id").to_string();
    t.ok(&["stop", &id_c]);
    assert_eq!(t.row("c")["status"], "stopped");
    t.ok(&["stop", "blue"]);
    assert_eq!(t.row("a")["status"], "stopped");
    assert_eq!(t.row("b")["status"], "stopped");
    t.ok(&["restart", "blue"]);
    assert_eq!(t.row("a")["status"], "online");
    assert_eq!(
        t.row("c")["status"],
        "stopped",
        "another namespace is untouched"
    );
    t.ok(&["delete", "all"]);
    assert!(t.list().is_empty());
    let e = t.fails(&["stop", "nope"], 1);
    assert!(e.starts_with("pmx: ") && e.contains("nope"), "{e}");
}

#[test]
fn signal_reaches_the_main_process() {
    let t = TestHome::new();
    let rec = t.path("rec");
    t.ok(&[
        "start",
        &app("signals.py"),
        "--name",
        "sig",
        "--",
        rec.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || lines(&rec).contains(&"ready".to_string())));
    t.ok(&["signal", "SIGUSR2", "sig"]);
    t.ok(&["signal", "USR1", "sig"]);
    assert!(wait_for(DEADLINE, || {
        let l = lines(&rec);
        l.contains(&"SIGUSR2".to_string()) && l.contains(&"SIGUSR1".to_string())
    }));
    t.fails(&["signal", "SIGNOPE", "sig"], 2);
}
