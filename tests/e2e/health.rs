//! Health checks (SPEC §5): HTTP, TCP and exec probes; a hung app restarted with reason
//! `health`; a timed-out probe is a failure; readiness by the first pass; a failure
//! inside a OneForAll group; groups that start in readiness order; no probe without
//! `health`. Checked from `list`, `describe --json`, pids and the apps' own stamps.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::http::free_port;

/// `App(…)` of `health_http.py PORT ARGS…` named `name`, with `fields` (`health: …`).
fn http_app(name: &str, port: u16, args: &[&str], fields: &str) -> String {
    let mut all = vec![format!("\"{port}\"")];
    all.extend(args.iter().map(|a| format!("\"{a}\"")));
    format!(
        "App(name: \"{name}\", script: \"{}\", args: [{}], kill_timeout: \"1s\"{fields})",
        app("health_http.py"),
        all.join(", ")
    )
}

/// Write `ecosystem.ron` with `apps` and `groups` (a `groups: […]` entry or "").
fn eco(t: &TestHome, apps: &[String], groups: &str) {
    std::fs::write(
        t.path("ecosystem.ron"),
        format!("Ecosystem(apps: [{}], {groups})", apps.join(", ")),
    )
    .expect("write eco");
}

fn describe(t: &TestHome, name: &str) -> Value {
    let text = t.ok(&["describe", name, "--json"]);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v[0].clone()
}

/// Wait until `describe name` satisfies `cond` (an app not registered yet does not);
/// answers it.
fn wait_describe(t: &TestHome, name: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    assert!(
        wait_for(DEADLINE, || {
            let out = t.run(&["describe", name, "--json"]);
            last = serde_json::from_slice::<Value>(&out.stdout)
                .map(|v| v[0].clone())
                .unwrap_or(Value::Null);
            out.status.success() && cond(&last)
        }),
        "{name}: {what}: {last}"
    );
    last
}

fn signal(pid: i64, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig} {pid}");
}

/// The unix times of `start <pid> <time>` lines in `file`, by pid.
fn stamps(file: &std::path::Path) -> Vec<(i64, f64)> {
    lines(file)
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((w.get(1)?.parse().ok()?, w.get(2)?.parse().ok()?))
        })
        .collect()
}

#[test]
fn an_http_app_that_stops_answering_is_restarted_with_reason_health() {
    let t = TestHome::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    eco(
        &t,
        &[http_app(
            "web",
            port,
            &["--hang-after", "3"],
            &format!(
                ", health: (http: \"{url}\", interval: \"300ms\", timeout: \"300ms\", failures: 2, start_period: \"1s\")"
            ),
        )],
        "",
    );
    t.ok(&["up"]);
    let first = int(&t.wait_status("web", "online"), "pid");
    // Three answers, then it hangs: two timed-out probes later it is restarted.
    let row = t.wait_row("web", "restarted with a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != first)
    });
    assert!(int(&row, "restarts") >= 1, "{row}");
    let d = describe(&t, "web");
    assert_eq!(d["last_restart_reason"], "health", "{d}");
    assert_eq!(d["health"]["probe"], format!("http {url}"), "{d}");
    assert!(!alive(first as i32), "the hung process is gone");
    let text = t.ok(&["describe", "web"]);
    assert!(
        text.contains("health") && text.contains("every 300 ms"),
        "{text}"
    );
}

#[test]
fn a_probe_that_times_out_counts_as_a_failure_and_the_row_stays_online() {
    let t = TestHome::new();
    let port = free_port();
    eco(
        &t,
        &[http_app(
            "web",
            port,
            &[],
            &format!(
                ", health: (http: \"http://127.0.0.1:{port}/\", interval: \"200ms\", timeout: \"300ms\", failures: 1000, start_period: \"1s\")"
            ),
        )],
        "",
    );
    t.ok(&["up"]);
    let pid = int(&t.wait_status("web", "online"), "pid");
    let d = wait_describe(&t, "web", "a pass", |d| {
        d["health"]["last_result"] == "pass"
    });
    assert_eq!(d["health"]["last_detail"], "HTTP 200", "{d}");
    assert!(d["health"]["last_at"].is_u64(), "{d}");
    signal(pid, "-USR1");
    let d = wait_describe(&t, "web", "two timed-out probes in a row", |d| {
        d["health"]["consecutive_failures"].as_u64() >= Some(2)
    });
    assert_eq!(d["health"]["last_result"], "fail", "{d}");
    assert_eq!(d["health"]["last_detail"], "timed out after 300 ms", "{d}");
    // PM2's status words: unhealthy, still `online` until it is stopped.
    let row = t.row("web");
    assert_eq!(row["status"], "online", "{row}");
    assert_eq!(int(&row, "pid"), pid);
}

#[test]
fn a_tcp_probe_passes_on_connect_and_a_refused_one_restarts_the_app() {
    let t = TestHome::new();
    let port = free_port();
    let closed = free_port();
    eco(
        &t,
        &[
            http_app(
                "open",
                port,
                &[],
                &format!(
                    ", health: (tcp: \"127.0.0.1:{port}\", interval: \"200ms\", start_period: \"2s\")"
                ),
            ),
            format!(
                "App(name: \"down\", script: \"{}\", health: (tcp: \"127.0.0.1:{closed}\", interval: \"200ms\", timeout: \"1s\", failures: 2))",
                app("sleeper.sh")
            ),
        ],
        "",
    );
    t.ok(&["up"]);
    let d = wait_describe(&t, "open", "a pass", |d| {
        d["health"]["last_result"] == "pass"
    });
    assert_eq!(d["health"]["last_detail"], "connected", "{d}");
    let d = wait_describe(&t, "down", "restarted for its health", |d| {
        d["last_restart_reason"] == "health"
    });
    assert!(int(&d, "restarts") >= 1, "{d}");
    assert_eq!(t.row("open")["restarts"], 0);
}

#[test]
fn an_exec_probe_passes_on_exit_0_and_a_timed_out_one_is_killed_with_its_group() {
    let t = TestHome::new();
    let flag = t.path("healthy");
    std::fs::write(&flag, "").expect("flag");
    let pids = t.path("probe-pids");
    eco(
        &t,
        &[
            format!(
                "App(name: \"e\", script: \"{}\", health: (exec: [\"test\", \"-f\", \"{}\"], interval: \"200ms\", failures: 2))",
                app("sleeper.sh"),
                flag.display()
            ),
            format!(
                "App(name: \"slow\", script: \"{}\", health: (exec: [\"sh\", \"-c\", \"echo $$ >> {}; sleep 30 & sleep 30\"], interval: \"200ms\", timeout: \"300ms\", failures: 1000))",
                app("sleeper.sh"),
                pids.display()
            ),
        ],
        "",
    );
    t.ok(&["up"]);
    let d = wait_describe(&t, "e", "a pass", |d| d["health"]["last_result"] == "pass");
    assert_eq!(d["health"]["last_detail"], "exit 0", "{d}");
    let first = int(&t.row("e"), "pid");
    std::fs::remove_file(&flag).expect("rm flag");
    let d = wait_describe(&t, "e", "restarted for its health", |d| {
        d["last_restart_reason"] == "health"
    });
    assert_ne!(d["pid"].as_i64(), Some(first), "{d}");
    // The slow probe times out; its shell and the sleeps it started are killed.
    let d = wait_describe(&t, "slow", "a timed-out probe", |d| {
        d["health"]["last_detail"] == "timed out after 300 ms"
    });
    assert_eq!(d["status"], "online", "{d}");
    let shells: Vec<i32> = lines(&pids).iter().filter_map(|l| l.parse().ok()).collect();
    assert!(!shells.is_empty());
    for pid in &shells[..shells.len() - 1] {
        assert!(
            wait_for(DEADLINE, || !alive(*pid)),
            "probe shell {pid} left running"
        );
    }
    t.ok(&["delete", "all"]);
    let home = format!("PMX_HOME={}", t.home.display());
    assert!(
        wait_for(DEADLINE, || processes_with_env(&home)
            .iter()
            .all(|p| *p == t.daemon_pid().unwrap_or(0))),
        "something of a probe is left: {:?}",
        processes_with_env(&home)
    );
}

#[test]
fn ready_true_keeps_an_instance_launching_until_its_first_pass_and_a_reload_waits_for_it() {
    let t = TestHome::new();
    let port = free_port();
    eco(
        &t,
        &[http_app(
            "slow",
            port,
            &["--listen-after", "2"],
            &format!(
                ", listen_timeout: \"60s\", health: (http: \"http://127.0.0.1:{port}/\", interval: \"200ms\", ready: true)"
            ),
        )],
        "",
    );
    t.ok(&["ping"]);
    let begun = Instant::now();
    let mut up = t
        .cmd(&["up"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("up");
    let row = t.wait_row("slow", "launching with a pid", |r| {
        r["status"] == "launching" && r["pid"].is_i64()
    });
    assert!(
        wait_for(DEADLINE, || up.try_wait().ok().flatten().is_some()),
        "up returned"
    );
    assert!(
        begun.elapsed() >= Duration::from_millis(1800),
        "up returned before the first pass: {:?}",
        begun.elapsed()
    );
    let online = t.row("slow");
    assert_eq!(online["status"], "online", "{online}");
    assert_eq!(online["pid"], row["pid"]);
    // A reload answers once the new process passed its first probe.
    let begun = Instant::now();
    t.ok(&["reload", "slow"]);
    assert!(
        begun.elapsed() >= Duration::from_millis(1800),
        "the reload did not wait for readiness: {:?}",
        begun.elapsed()
    );
    let after = t.row("slow");
    assert_eq!(after["status"], "online", "{after}");
    assert_ne!(after["pid"], row["pid"]);
}

#[test]
fn a_health_failure_in_a_one_for_all_group_restarts_the_group_and_counts_toward_its_intensity() {
    let t = TestHome::new();
    let (pa, pb) = (free_port(), free_port());
    eco(
        &t,
        &[
            http_app(
                "a",
                pa,
                &["--hang-after", "3"],
                &format!(
                    ", health: (http: \"http://127.0.0.1:{pa}/\", interval: \"300ms\", timeout: \"300ms\", failures: 2, start_period: \"1s\")"
                ),
            ),
            http_app("b", pb, &[], ""),
        ],
        "groups: [Group(name: \"g\", strategy: OneForAll, intensity: (max: 1, within: \"60s\"), apps: [\"a\", \"b\"])]",
    );
    t.ok(&["up"]);
    let a1 = int(&t.wait_status("a", "online"), "pid");
    let b1 = int(&t.wait_status("b", "online"), "pid");
    // a hangs: the group restarts a and b (OneForAll).
    t.wait_row("b", "b restarted by the group", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != b1)
    });
    let d = describe(&t, "a");
    assert_eq!(d["last_restart_reason"], "health", "{d}");
    assert_ne!(d["pid"].as_i64(), Some(a1));
    // The new a hangs too: a second failure within 60 s is over the intensity.
    t.wait_status("a", "errored");
    t.wait_status("b", "errored");
}

#[test]
fn a_group_starts_its_second_member_only_once_the_first_is_ready() {
    // a listens only once the test opens its gate: b's wait is seen at leisure, however
    // loaded the machine (a fixed 5 s window was missed once under a full suite).
    let t = TestHome::new();
    let (pa, pb) = (free_port(), free_port());
    let stamp_a = t.path("a.stamp");
    let stamp_b = t.path("b.stamp");
    let gate = t.path("a.gate");
    let a_path = stamp_a.display().to_string();
    let b_path = stamp_b.display().to_string();
    let gate_path = gate.display().to_string();
    eco(
        &t,
        &[
            http_app(
                "a",
                pa,
                &["--listen-when", &gate_path, "--stamp", &a_path],
                &format!(
                    ", listen_timeout: \"60s\", health: (http: \"http://127.0.0.1:{pa}/\", interval: \"200ms\", ready: true)"
                ),
            ),
            http_app("b", pb, &["--stamp", &b_path], ""),
        ],
        "groups: [Group(name: \"g\", apps: [\"a\", \"b\"])]",
    );
    t.ok(&["ping"]);
    let mut up = t
        .cmd(&["up"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("up");
    // While a is not ready, b waits and says so.
    let d = wait_describe(&t, "b", "waiting for a", |d| {
        d["waiting_for"] == "waiting for a to be online"
    });
    assert_eq!(d["status"], "stopped", "{d}");
    assert!(
        stamps(&stamp_b).is_empty(),
        "b did not start before a was ready"
    );
    std::fs::write(&gate, "").expect("open a's gate");
    assert!(
        wait_for(DEADLINE, || up.try_wait().ok().flatten().is_some()),
        "up returned"
    );
    // b is online once spawned: its stamp comes once it listens.
    assert!(
        wait_for(DEADLINE, || !stamps(&stamp_b).is_empty()),
        "b listens"
    );
    let (a, b) = (stamps(&stamp_a), stamps(&stamp_b));
    assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
    assert!(
        b[0].1 >= a[0].1,
        "b started at {} before a listened at {}",
        b[0].1,
        a[0].1
    );
    let d = describe(&t, "b");
    assert!(d.get("waiting_for").is_none_or(Value::is_null), "{d}");
}

#[test]
fn a_member_that_crashes_before_it_is_ready_stops_the_group_start_naming_it() {
    let t = TestHome::new();
    let (pa, pb) = (free_port(), free_port());
    eco(
        &t,
        &[
            http_app(
                "a",
                pa,
                &["--crash"],
                &format!(
                    ", health: (http: \"http://127.0.0.1:{pa}/\", interval: \"200ms\", ready: true)"
                ),
            ),
            http_app("b", pb, &[], ""),
        ],
        "groups: [Group(name: \"g\", apps: [\"a\", \"b\"])]",
    );
    let err = t.fails(&["up"], 1);
    assert!(
        err.contains("group g") && err.contains("\"a\"") && err.contains("not started: b"),
        "{err}"
    );
    let b = t.row("b");
    assert!(b["pid"].is_null(), "b never started: {b}");
}

#[test]
fn an_app_without_health_runs_no_probe() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "plain"]);
    t.wait_status("plain", "online");
    let d = describe(&t, "plain");
    assert!(d.get("health").is_none(), "{d}");
    let text = t.ok(&["describe", "plain"]);
    let line = text
        .lines()
        .find(|l| l.trim_start_matches(['│', ' ']).starts_with("health "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("none"), "{line}");
}

#[test]
fn in_cluster_mode_a_failing_instance_alone_is_replaced_rolling_with_reason_health() {
    let t = TestHome::new();
    let flags = t.path("flags");
    std::fs::create_dir_all(&flags).expect("flags dir");
    eco(
        &t,
        &[format!(
            "App(name: \"c\", script: \"{}\", instances: 2, exec_mode: Cluster, health: (exec: [\"sh\", \"-c\", \"test ! -f {}/$PMX_INSTANCE\"], interval: \"200ms\", failures: 2))",
            app("sleeper.sh"),
            flags.display()
        )],
        "",
    );
    t.ok(&["up"]);
    let rows = t.wait_row("c", "two online", |_| {
        t.list().iter().filter(|r| r["status"] == "online").count() == 2
    });
    let _ = rows;
    let before: Vec<Value> = t.list();
    let pid_of = |rows: &[Value], inst: i64| {
        rows.iter()
            .find(|r| r["instance"] == inst)
            .map(|r| int(r, "pid"))
            .expect("instance row")
    };
    let (p0, p1) = (pid_of(&before, 0), pid_of(&before, 1));
    std::fs::write(flags.join("1"), "").expect("flag");
    assert!(
        wait_for(DEADLINE, || {
            let rows = t.list();
            rows.iter().any(|r| {
                r["instance"] == 1
                    && r["status"] == "online"
                    && r["pid"].as_i64().is_some_and(|p| p != p1)
            })
        }),
        "instance 1 replaced: {:?}",
        t.list()
    );
    std::fs::remove_file(flags.join("1")).expect("unflag");
    let text = t.ok(&["describe", "c", "--json"]);
    let all: Value = serde_json::from_str(&text).expect("json");
    let one = all
        .as_array()
        .and_then(|a| a.iter().find(|d| d["instance"] == 1))
        .cloned()
        .unwrap_or_default();
    assert_eq!(one["last_restart_reason"], "health", "{one}");
    let rows = t.list();
    assert_eq!(pid_of(&rows, 0), p0, "instance 0 untouched");
    assert_eq!(
        rows.iter()
            .find(|r| r["instance"] == 0)
            .map(|r| r["restarts"].clone()),
        Some(Value::from(0))
    );
}

#[test]
fn a_readiness_check_that_never_passes_goes_online_after_listen_timeout_then_fails_as_liveness() {
    let t = TestHome::new();
    let closed = free_port();
    eco(
        &t,
        &[format!(
            "App(name: \"deaf\", script: \"{}\", listen_timeout: \"1s\", health: (tcp: \"127.0.0.1:{closed}\", interval: \"200ms\", failures: 3, ready: true))",
            app("sleeper.sh")
        )],
        "",
    );
    let begun = Instant::now();
    t.ok(&["up"]);
    // PM2's rule, as with wait_ready: online once listen_timeout has passed.
    assert!(
        begun.elapsed() >= Duration::from_millis(900),
        "online before listen_timeout: {:?}",
        begun.elapsed()
    );
    let d = wait_describe(&t, "deaf", "restarted for its health", |d| {
        d["last_restart_reason"] == "health"
    });
    assert_eq!(d["health"]["ready"], true, "{d}");
}
