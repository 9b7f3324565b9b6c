//! Requests the daemon refuses rather than do something else than asked: a duration past
//! a day (`stop` would hang on an app that ignores its signal), and a start a shutdown
//! overtook (its apps were stopped before they came online: not a success).

use std::process::Stdio;
use std::time::Duration;

use crate::harness::*;

#[test]
fn a_kill_timeout_or_restart_delay_past_a_day_is_refused_and_starts_nothing() {
    let t = TestHome::new();
    let s = app("ignore_sigint.py");
    for (flag, field) in [
        ("--kill-timeout", "kill_timeout"),
        ("--restart-delay", "restart.delay"),
        ("--min-uptime", "restart.min_uptime"),
    ] {
        for value in ["18446744073709551615", "86400001"] {
            let err = t.fails(&["start", &s, "--name", "x", flag, value], 2);
            assert!(
                err.contains(&format!(
                    "app \"x\": {field}: {value}ms is more than the maximum of 1 day"
                )),
                "{flag} {value}: {err}"
            );
        }
    }
    assert!(t.list().is_empty());
    // The same in a file, with the position of the value.
    let eco = t.path("eco.ron");
    std::fs::write(
        &eco,
        format!("Ecosystem(apps: [App(name: \"x\", script: \"{s}\", kill_timeout: \"2d\")])"),
    )
    .expect("write");
    let err = t.fails(&["start", eco.to_str().expect("utf-8")], 2);
    assert!(
        err.contains("eco.ron:1:") && err.contains("kill_timeout: 172800000ms"),
        "{err}"
    );
    assert!(t.list().is_empty());
    // A day exactly is fine, and a stop with a short timeout still ends the app.
    t.ok(&["start", &s, "--name", "day", "--kill-timeout", "86400000"]);
    t.wait_status("day", "online");
    t.ok(&["start", &s, "--name", "short", "--kill-timeout", "200"]);
    t.wait_status("short", "online");
    let out = run_with_timeout(t.cmd(&["stop", "short"]), Duration::from_secs(30));
    expect_ok(&out, "stop short");
}

#[test]
fn a_start_overtaken_by_a_shutdown_fails_in_one_line() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let daemon = t.daemon_pid().expect("daemon pid");
    let mut start = t.cmd(&["start", &app("sleeper.sh"), "-i", "600"]);
    start.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = start.spawn().expect("spawn pmx start");
    // Mid-start: the first instance's pid file is written (a readdir, cheap enough to
    // catch the start's first instants; the 600 spawns take a good second).
    let pids = t.home.join("pids");
    assert!(
        wait_for(Duration::from_secs(30), || std::fs::read_dir(&pids)
            .is_ok_and(|mut d| d.next().is_some())),
        "no instance spawned"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM the daemon");
    let out = child.wait_with_output().expect("pmx start");
    let err = String::from_utf8_lossy(&out.stderr);
    let err: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("warning") && !l.starts_with("pmx: note:"))
        .collect();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {err:?}, stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(err, vec!["pmx: the daemon is shutting down"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("stopped"),
        "rows printed as if it had started"
    );
    assert!(
        wait_for(Duration::from_secs(60), || !alive(daemon)),
        "daemon still up"
    );
}
