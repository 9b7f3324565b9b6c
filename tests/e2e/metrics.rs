//! cpu and memory of every instance's tree in `list --json`, and `max_memory_restart`
//! (SPEC §3, §5, §7).

use std::time::Duration;

use serde_json::Value;

use crate::harness::{app, expect_ok, run_with_timeout, wait_for, TestHome};

const MB: i64 = 1 << 20;

/// `describe --json` of `target`.
fn describe(t: &TestHome, target: &str) -> Vec<Value> {
    let text = t.ok(&["describe", target, "--json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("describe --json: {e}: {text}"))
}

/// The row of instance `n` of `name`.
fn instance(t: &TestHome, name: &str, n: i64) -> Value {
    t.list()
        .into_iter()
        .find(|p| p["name"] == name && p["instance"] == n)
        .unwrap_or(Value::Null)
}

/// Wait until `name`'s first instance has restarted at least once; answers that row.
fn wait_restarted(t: &TestHome, name: &str) -> Value {
    t.wait_row(name, "a restart", |r| {
        r["restarts"].as_i64().unwrap_or(0) >= 1 && r["status"] == "online"
    })
}

/// Every out log line of the app, joined.
fn out_log(t: &TestHome, name: &str) -> String {
    let d = describe(t, name);
    let path = d[0]["out_log"].as_str().unwrap_or_default().to_string();
    std::fs::read_to_string(path).unwrap_or_default()
}

fn assert_memory_restart(t: &TestHome, name: &str) {
    wait_restarted(t, name);
    let d = describe(t, name);
    assert_eq!(d[0]["last_restart_reason"], "memory", "{}", d[0]);
    assert_eq!(d[0]["max_memory_restart"], 100 * MB);
    assert!(
        !out_log(t, name).contains("REACHED 300MB"),
        "the leak reached 300 MB before a restart"
    );
    let log = std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
    assert!(
        log.contains("over its limit 100.0 MiB"),
        "pmx.log names the size and the limit:\n{log}"
    );
}

#[test]
fn a_leaking_app_over_its_limit_is_restarted_for_memory_before_300mb() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("leak.py"),
        "--name",
        "leak",
        "--max-memory-restart",
        "100M",
    ]);
    assert_memory_restart(&t, "leak");
}

#[test]
fn a_leak_in_a_child_of_a_launcher_counts_for_the_limit() {
    let t = TestHome::new();
    let line = format!("python3 {}; echo launcher done", app("leak.py"));
    t.ok(&[
        "start",
        &line,
        "--name",
        "leaksh",
        "--max-memory-restart",
        "100M",
    ]);
    assert_memory_restart(&t, "leaksh");
}

#[test]
fn an_app_under_its_limit_is_never_restarted() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("hold40.py"),
        "--name",
        "hold",
        "--max-memory-restart",
        "200M",
    ]);
    let row = t.wait_row("hold", "40 MB resident", |r| {
        r["memory"].as_i64().unwrap_or(0) > 35 * MB
    });
    let pid = row["pid"].clone();
    // A few sample periods (one a second while a limit is set).
    std::thread::sleep(Duration::from_secs(4));
    let row = t.row("hold");
    assert_eq!(row["restarts"], 0, "{row}");
    assert_eq!(row["pid"], pid);
    assert!(row["memory"].as_i64().unwrap_or(0) < 200 * MB);
}

#[test]
fn with_two_instances_only_the_leaking_one_restarts() {
    let t = TestHome::new();
    let mut c = t.cmd(&[
        "start",
        &app("leak.py"),
        "--name",
        "pair",
        "-i",
        "2",
        "-x",
        "--max-memory-restart",
        "100M",
    ]);
    c.env("LEAK_INSTANCE", "0");
    expect_ok(&run_with_timeout(c, Duration::from_secs(60)), "start pair");
    let first1 = instance(&t, "pair", 1)["pid"].clone();
    let found = wait_for(Duration::from_secs(60), || {
        instance(&t, "pair", 0)["restarts"].as_i64().unwrap_or(0) >= 1
    });
    assert!(found, "instance 0 was not restarted: {:?}", t.list());
    let one = instance(&t, "pair", 1);
    assert_eq!(one["restarts"], 0, "{one}");
    assert_eq!(one["pid"], first1);
    let d = describe(&t, "pair");
    assert_eq!(d[0]["last_restart_reason"], "memory");
    assert_eq!(d[1]["last_restart_reason"], Value::Null);
}

#[test]
fn a_leak_ignoring_sigint_is_killed_after_kill_timeout_and_comes_back() {
    let t = TestHome::new();
    let mut c = t.cmd(&[
        "start",
        &app("leak.py"),
        "--name",
        "stubborn",
        "--kill-timeout",
        "500",
        "--max-memory-restart",
        "100M",
    ]);
    c.env("LEAK_IGNORE_SIGINT", "1");
    expect_ok(&run_with_timeout(c, Duration::from_secs(60)), "start");
    let first = t.wait_status("stubborn", "online")["pid"].clone();
    let row = wait_restarted(&t, "stubborn");
    assert_ne!(row["pid"], first);
    let d = describe(&t, "stubborn");
    assert_eq!(d[0]["last_restart_reason"], "memory");
    assert_eq!(d[0]["last_exit_signal"], "SIGKILL", "{}", d[0]);
}

/// utime + stime of `pid` and its descendants (the test's own reading, to judge pmx's
/// figure on a loaded machine).
fn tree_ticks(pid: i64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|w| w.parse().ok())
        .collect();
    let own: u64 = f.iter().sum();
    let kids =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    own + kids
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .map(tree_ticks)
        .sum::<u64>()
}

/// Wait until pmx shows `name` near a core busy: above 60 %, or, when the machine is
/// too loaded for a busy loop to get 60 % of a core, above 60 % of what the test itself
/// measures of the tree over the same seconds.
fn assert_busy(t: &TestHome, name: &str) {
    let cpu = |r: &Value| r["cpu"].as_f64().unwrap_or(-1.0);
    let pid = t.wait_status(name, "online")["pid"].as_i64().unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (t0, c0) = (std::time::Instant::now(), tree_ticks(pid));
        let mut best: f64 = -1.0;
        while t0.elapsed() < Duration::from_secs(3) {
            best = best.max(cpu(&t.row(name)));
            std::thread::sleep(Duration::from_millis(250));
        }
        // Linux's USER_HZ is 100: a tick a second is 1 % of a core.
        let own = tree_ticks(pid).saturating_sub(c0) as f64 / t0.elapsed().as_secs_f64();
        if best > 60.0 || (own < 70.0 && best > 0.6 * own && own > 10.0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: pmx shows at best {best}% while the tree used {own:.0}% of a core"
        );
    }
}

#[test]
fn list_shows_memory_and_cpu_of_busy_and_idle_trees() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "idle"]);
    // The first list after a start already shows memory (it samples at once).
    let row = t.wait_status("idle", "online");
    assert!(row["memory"].as_i64().unwrap_or(0) > 0, "{row}");
    let cpu = |r: &Value| r["cpu"].as_f64().unwrap_or(-1.0);
    let idle = t.wait_row("idle", "a cpu figure", |r| cpu(r) >= 0.0);
    assert!(cpu(&idle) < 10.0, "{idle}");
    // One busy loop at a time: the machine may have few cores.
    t.ok(&["start", &app("busy.py"), "--name", "busy"]);
    assert_busy(&t, "busy");
    let busy = t.row("busy");
    assert!(busy["memory"].as_i64().unwrap_or(0) > 0, "{busy}");
    // The table shows them human-sized.
    let table = t.ok(&["list"]);
    assert!(table.contains("mb"), "{table}");
    assert!(table.contains('%'), "{table}");
    // And the host line under the table: cpu (two readings by now) and memory.
    let host = table
        .lines()
        .find(|l| l.starts_with("host: cpu "))
        .unwrap_or_else(|| panic!("no host line under the table:\n{table}"));
    assert!(
        host.contains('%') && (host.contains("gb") || host.contains("mb")),
        "{host}"
    );
    t.ok(&["delete", "busy"]);
    // The loop in a child of a launcher shell counts for the launcher's row.
    let line = format!("python3 {}; echo done", app("busy.py"));
    t.ok(&["start", &line, "--name", "busysh"]);
    assert_busy(&t, "busysh");
}

#[test]
fn in_cluster_mode_only_the_leaking_instance_is_replaced_for_memory() {
    let t = TestHome::new();
    let listen = format!("tcp://127.0.0.1:{}", crate::http::free_port());
    let mut c = t.cmd(&[
        "start",
        &app("leak.py"),
        "--name",
        "cl",
        "-i",
        "2",
        "--listen",
        &listen,
        "--max-memory-restart",
        "100M",
    ]);
    c.env("LEAK_INSTANCE", "0");
    expect_ok(&run_with_timeout(c, Duration::from_secs(60)), "start cl");
    assert_eq!(instance(&t, "cl", 0)["mode"], "cluster");
    let first1 = instance(&t, "cl", 1)["pid"].clone();
    let found = wait_for(Duration::from_secs(60), || {
        let r = instance(&t, "cl", 0);
        r["restarts"].as_i64().unwrap_or(0) >= 1 && r["status"] == "online"
    });
    assert!(found, "instance 0 was not replaced: {:?}", t.list());
    let one = instance(&t, "cl", 1);
    assert_eq!(one["restarts"], 0, "{one}");
    assert_eq!(one["pid"], first1);
    let d = describe(&t, "cl");
    assert_eq!(d[0]["last_restart_reason"], "memory");
    assert!(!out_log(&t, "cl").contains("REACHED 300MB"));
}

#[test]
fn a_memory_limit_of_zero_is_refused_on_the_command_line_and_in_a_file() {
    // 0 would restart the app at every check, for ever (PM2 does so).
    let t = TestHome::new();
    let err = t.fails(
        &["start", &app("sleeper.sh"), "--max-memory-restart", "0"],
        2,
    );
    assert!(err.contains("a memory limit of 0"), "{err}");
    std::fs::write(
        t.path("zero.ron"),
        format!(
            "(apps: [App(name: \"z\", script: {:?},\n  max_memory_restart: \"0M\")])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    let file = t.path("zero.ron");
    let err = t.fails(&["up", file.to_str().expect("utf-8")], 2);
    assert!(
        err.contains("zero.ron:2:23") && err.contains("a memory limit of 0"),
        "{err}"
    );
    assert!(t.daemon_pid().is_none() || t.list().is_empty());
}
