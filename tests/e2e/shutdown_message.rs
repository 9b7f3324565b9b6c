//! PM2's `shutdown_with_message`: a Node app is stopped by the IPC message `'shutdown'`
//! (`process.on('message')`) instead of `kill_signal`, and SIGKILLed after `kill_timeout`
//! if it stays; set by `--shutdown-with-message`, an ecosystem field, a PM2 file's field,
//! or `PM2_KILL_USE_MESSAGE=true` in the starting command's environment. A program that
//! is not Node has no channel for it: refused.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::reload::online_pids;

/// Everything `name`'s instances wrote to their out logs.
fn out_text(t: &TestHome, name: &str) -> String {
    let text = t.ok(&["describe", name, "--json"]);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("describe --json: {e}: {text}"));
    let files: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r["out_log"].as_str().map(str::to_string))
        .collect();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect()
}

/// How many lines of `name`'s out logs contain `needle`.
fn count(t: &TestHome, name: &str, needle: &str) -> usize {
    out_text(t, name)
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Wait until `name`'s out logs hold `n` lines with `needle`.
fn wait_count(t: &TestHome, name: &str, needle: &str, n: usize) {
    assert!(
        wait_for(DEADLINE, || count(t, name, needle) >= n),
        "{name}: {n} lines with {needle:?} expected; log:\n{}",
        out_text(t, name)
    );
}

/// `pmx start shutdown_msg.js --name NAME --shutdown-with-message <extra…>`, each
/// instance online and its 'started' line logged (its message handler is set).
fn start_msg_app(t: &TestHome, name: &str, extra: &[&str]) {
    let script = app("shutdown_msg.js");
    let mut args = vec![
        "start",
        script.as_str(),
        "--name",
        name,
        "--shutdown-with-message",
    ];
    args.extend_from_slice(extra);
    t.ok(&args);
    let n = extra
        .windows(2)
        .find(|w| w[0] == "-i")
        .map_or(1, |w| w[1].parse().unwrap_or(1));
    online_pids(t, name, n);
    wait_count(t, name, "started", n);
}

#[test]
fn stopping_a_node_app_with_shutdown_with_message_sends_it_shutdown_instead_of_the_signal() {
    let t = TestHome::new();
    // A long kill_timeout: a stop that ends well before it ended on the message.
    start_msg_app(&t, "sdstop", &["--kill-timeout", "30000"]);
    let pid = int(&t.row("sdstop"), "pid") as i32;
    let began = Instant::now();
    t.ok(&["stop", "sdstop"]);
    let took = began.elapsed();
    assert_eq!(t.row("sdstop")["status"], "stopped");
    assert!(!alive(pid), "the app is gone");
    assert!(
        took < Duration::from_secs(15),
        "it exited on the message, not at the SIGKILL: {took:?}"
    );
    let log = out_text(&t, "sdstop");
    assert_eq!(count(&t, "sdstop", "message: \"shutdown\""), 1, "{log}");
    assert_eq!(count(&t, "sdstop", "exiting on shutdown"), 1, "{log}");
    assert!(!log.contains("SIGINT"), "no signal was sent: {log}");
    assert!(log.contains("channel:function"), "{log}");
}

#[test]
fn reloading_one_instance_with_shutdown_with_message_sends_shutdown_once_and_starts_it_again() {
    let t = TestHome::new();
    start_msg_app(&t, "sdreload", &[]);
    let before = online_pids(&t, "sdreload", 1);
    t.ok(&["reload", "sdreload"]);
    let after = online_pids(&t, "sdreload", 1);
    assert_ne!(before, after, "a new process");
    let log = out_text(&t, "sdreload");
    assert_eq!(count(&t, "sdreload", "message: \"shutdown\""), 1, "{log}");
    assert!(!log.contains("SIGINT"), "{log}");
    // The new process still has its channel and is stopped the same way.
    t.ok(&["stop", "sdreload"]);
    assert_eq!(count(&t, "sdreload", "message: \"shutdown\""), 2);
}

#[test]
fn a_rolling_reload_of_two_instances_sends_each_old_worker_shutdown() {
    let t = TestHome::new();
    start_msg_app(&t, "sdroll", &["-i", "2"]);
    let before = online_pids(&t, "sdroll", 2);
    t.ok(&["reload", "sdroll"]);
    let after = online_pids(&t, "sdroll", 2);
    let old: BTreeSet<i64> = before.values().copied().collect();
    assert!(
        after.values().all(|p| !old.contains(p)),
        "both replaced: {before:?} -> {after:?}"
    );
    let log = out_text(&t, "sdroll");
    for pid in old {
        assert_eq!(
            log.lines()
                .filter(|l| *l == format!("message: \"shutdown\" from {pid}"))
                .count(),
            1,
            "old worker {pid} got 'shutdown' once: {log}"
        );
        assert!(
            !alive(pid as i32),
            "old worker {pid} is gone after the reload"
        );
    }
    assert!(!log.contains("SIGINT"), "{log}");
}

#[test]
fn pm2_kill_use_message_in_the_starts_environment_stops_node_apps_by_message_and_others_by_signal()
{
    let t = TestHome::new();
    let script = app("shutdown_msg.js");
    let mut c = t.cmd(&["start", &script, "--name", "sdenv"]);
    c.env("PM2_KILL_USE_MESSAGE", "true");
    expect_ok(
        &run_with_timeout(c, DEADLINE),
        "start under PM2_KILL_USE_MESSAGE",
    );
    online_pids(&t, "sdenv", 1);
    wait_count(&t, "sdenv", "started", 1);
    // A program that is not Node: started all the same, with a warning, and stopped by
    // its kill_signal (bash exits on SIGINT).
    let sleeper = app("sleeper.sh");
    let mut c = t.cmd(&["start", &sleeper, "--name", "sdenvsh"]);
    c.env("PM2_KILL_USE_MESSAGE", "true");
    let out = run_with_timeout(c, DEADLINE);
    expect_ok(&out, "start sleeper.sh under PM2_KILL_USE_MESSAGE");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PM2_KILL_USE_MESSAGE: app \"sdenvsh\" is not a Node app")
            && stderr.contains("kill_signal SIGINT"),
        "{stderr}"
    );
    online_pids(&t, "sdenvsh", 1);

    t.ok(&["reload", "sdenv"]);
    online_pids(&t, "sdenv", 1);
    let log = out_text(&t, "sdenv");
    assert_eq!(count(&t, "sdenv", "message: \"shutdown\""), 1, "{log}");
    assert!(!log.contains("SIGINT"), "{log}");

    let began = Instant::now();
    t.ok(&["stop", "sdenvsh"]);
    assert_eq!(t.row("sdenvsh")["status"], "stopped");
    assert!(
        began.elapsed() < Duration::from_millis(1500),
        "the shell script stopped on SIGINT, before the kill_timeout: {:?}",
        began.elapsed()
    );
}

#[test]
fn a_node_app_that_ignores_shutdown_is_killed_after_kill_timeout() {
    let t = TestHome::new();
    let script = app("shutdown_msg.js");
    let mut c = t.cmd(&[
        "start",
        &script,
        "--name",
        "sdignore",
        "--shutdown-with-message",
        "--kill-timeout",
        "1500",
    ]);
    c.env("IGNORE_SHUTDOWN", "1");
    expect_ok(&run_with_timeout(c, DEADLINE), "start IGNORE_SHUTDOWN=1");
    online_pids(&t, "sdignore", 1);
    wait_count(&t, "sdignore", "started", 1);
    let pid = int(&t.row("sdignore"), "pid") as i32;
    let began = Instant::now();
    t.ok(&["stop", "sdignore"]);
    let took = began.elapsed();
    assert!(!alive(pid), "SIGKILLed");
    assert_eq!(t.row("sdignore")["status"], "stopped");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(15),
        "killed at the kill_timeout: {took:?}"
    );
    let log = out_text(&t, "sdignore");
    assert_eq!(count(&t, "sdignore", "message: \"shutdown\""), 1, "{log}");
    assert!(
        !log.contains("SIGINT"),
        "no signal before the SIGKILL: {log}"
    );
    let daemon_log = std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
    assert!(
        daemon_log.contains("sending SIGKILL"),
        "the SIGKILL is logged: {daemon_log}"
    );
}

#[test]
fn shutdown_with_message_on_a_program_that_is_not_node_is_refused_at_start() {
    let t = TestHome::new();
    let sleeper = app("sleeper.sh");
    let err = t.fails(
        &[
            "start",
            &sleeper,
            "--name",
            "sdsh",
            "--shutdown-with-message",
        ],
        2,
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("app \"sdsh\": shutdown_with_message needs a Node app")
            && err.contains("bash, not node"),
        "{err}"
    );
    assert!(t.list().is_empty(), "nothing started");
    // From an ecosystem file: the same refusal.
    let file = t.path("eco.ron");
    std::fs::write(
        &file,
        format!("Ecosystem(apps: [App(name: \"sdsh\", script: {sleeper:?}, shutdown_with_message: true)])"),
    )
    .expect("write");
    let err = t.fails(&["start", "eco.ron"], 2);
    assert!(
        err.contains("shutdown_with_message needs a Node app"),
        "{err}"
    );
}

#[test]
fn shutdown_with_message_from_an_ecosystem_file_and_a_pm2_file_stops_by_message() {
    let t = TestHome::new();
    let script = app("shutdown_msg.js");
    std::fs::write(
        t.path("eco.ron"),
        format!("Ecosystem(apps: [App(name: \"sdron\", script: {script:?}, shutdown_with_message: true)])"),
    )
    .expect("write");
    std::fs::write(
        t.path("pm2.json"),
        serde_json::json!({"apps": [{"name": "sdpm2", "script": script, "shutdown_with_message": true}]})
            .to_string(),
    )
    .expect("write");
    t.ok(&["start", "eco.ron"]);
    t.ok(&["start", "pm2.json"]);
    for name in ["sdron", "sdpm2"] {
        online_pids(&t, name, 1);
        wait_count(&t, name, "started", 1);
        t.ok(&["stop", name]);
        let log = out_text(&t, name);
        assert_eq!(count(&t, name, "message: \"shutdown\""), 1, "{name}: {log}");
        assert!(!log.contains("SIGINT"), "{name}: {log}");
    }
    // `pmx import` writes the field into the ecosystem.ron it makes.
    let ron = t.ok(&["import", "pm2.json", "-o", "-"]);
    assert!(ron.contains("shutdown_with_message: true"), "{ron}");
}

#[test]
fn a_node_app_that_closed_its_channel_is_stopped_with_its_signal() {
    let t = TestHome::new();
    let script = app("shutdown_msg.js");
    let mut c = t.cmd(&[
        "start",
        &script,
        "--name",
        "sddisc",
        "--shutdown-with-message",
        "--kill-timeout",
        "30000",
    ]);
    c.env("DISCONNECT", "1");
    expect_ok(&run_with_timeout(c, DEADLINE), "start DISCONNECT=1");
    online_pids(&t, "sddisc", 1);
    wait_count(&t, "sddisc", "started", 1);
    // The app's end of the channel (fd 3) is closed before the stop.
    let pid = int(&t.row("sddisc"), "pid");
    assert!(
        wait_for(DEADLINE, || !std::path::Path::new(&format!(
            "/proc/{pid}/fd/3"
        ))
        .exists()),
        "the app closed its channel"
    );
    let began = Instant::now();
    t.ok(&["stop", "sddisc"]);
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "stopped by SIGINT, not at the SIGKILL: {:?}",
        began.elapsed()
    );
    let log = out_text(&t, "sddisc");
    assert_eq!(count(&t, "sddisc", "got SIGINT"), 1, "{log}");
    assert!(!log.contains("message:"), "{log}");
    let daemon_log = std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
    assert!(
        daemon_log.contains("closed its IPC channel: stopped with kill_signal"),
        "{daemon_log}"
    );
}
