//! `cron_restart` (SPEC §3 `--cron-restart`, §4): a running app restarted at each tick, a
//! finished `policy: Never` app rerun (PM2's "cron job"), a stopped one started (as PM2's
//! tick does), bad patterns refused, the next fire time in `describe`.

use std::path::Path;

use serde_json::Value;

use crate::harness::{app, expect_ok, wait_for, TestHome, DEADLINE};

/// A script that appends the time (seconds, fractional) of each of its runs to `record`,
/// then sleeps until stopped (`hold`) or exits at once.
fn recorder(t: &TestHome, record: &Path, hold: bool) -> String {
    let script = t.path(if hold { "hold.sh" } else { "once.sh" });
    let tail = if hold { "exec sleep infinity\n" } else { "" };
    std::fs::write(
        &script,
        format!("#!/bin/sh\ndate +%s.%N >> '{}'\n{tail}", record.display()),
    )
    .expect("write script");
    let _ = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status();
    script.to_string_lossy().into_owned()
}

/// The run times recorded in `record`, in seconds.
fn runs(record: &Path) -> Vec<f64> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn describe(t: &TestHome, name: &str) -> Value {
    let text = t.ok(&["describe", name, "--json"]);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v[0].clone()
}

#[test]
fn a_six_field_pattern_every_2s_restarts_a_running_app_never_closer_than_2s() {
    let t = TestHome::new();
    let record = t.path("runs");
    let script = recorder(&t, &record, true);
    t.ok(&[
        "start",
        &script,
        "--name",
        "c",
        "--cron-restart",
        "*/2 * * * * *",
    ]);
    assert!(
        wait_for(DEADLINE, || runs(&record).len() >= 4),
        "4 runs (3 cron restarts): {:?}",
        runs(&record)
    );
    // The first run is the start's; the ticks come every 2 s from then on.
    let r = runs(&record);
    for w in r[1..].windows(2) {
        assert!(
            w[1] - w[0] >= 1.8,
            "two runs {:.3} s apart (every 2 s wanted): {r:?}",
            w[1] - w[0]
        );
    }
    let d = describe(&t, "c");
    assert_eq!(d["last_restart_reason"], "cron", "{d}");
    assert!(
        d["info"]["restarts"].as_i64().unwrap_or(0) >= 3
            || d["restarts"].as_i64().unwrap_or(0) >= 3,
        "{d}"
    );
    let log = std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
    assert!(log.contains("cron_restart tick"), "{log}");
}

#[test]
fn a_never_app_that_exits_at_once_is_rerun_by_its_cron_tick() {
    let t = TestHome::new();
    let record = t.path("runs");
    let script = recorder(&t, &record, false);
    t.ok(&[
        "start",
        &script,
        "--name",
        "job",
        "--no-autorestart",
        "--cron",
        "*/2 * * * * *",
    ]);
    assert!(
        wait_for(DEADLINE, || runs(&record).len() >= 4),
        "4 runs of the job: {:?}",
        runs(&record)
    );
    // The first run is the start's; the ticks rerun it every 2 s from then on.
    let r = runs(&record);
    for w in r[1..].windows(2) {
        assert!(w[1] - w[0] >= 1.8, "runs too close: {r:?}");
    }
}

#[test]
fn an_app_stopped_by_hand_is_started_by_its_next_cron_tick_as_pm2_does() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "s",
        "--cron-restart",
        "*/2 * * * * *",
    ]);
    t.wait_status("s", "online");
    t.ok(&["stop", "s"]);
    t.wait_status("s", "online");
}

#[test]
fn describe_shows_the_next_cron_fire_time_with_its_zone() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "n",
        "--cron",
        "0 3 * * *",
    ]);
    t.wait_status("n", "online");
    let d = describe(&t, "n");
    assert_eq!(d["cron_restart"], "0 3 * * *", "{d}");
    let next = d["cron_next"].as_str().unwrap_or_default().to_string();
    assert!(
        next.contains(" 03:00:00 ") && next.ends_with("(local)"),
        "{next}"
    );
    let text = t.ok(&["describe", "n"]);
    assert!(
        text.lines()
            .any(|l| l.contains("next cron restart") && l.contains("03:00:00")),
        "{text}"
    );
    // Without a pattern: nothing armed, nothing shown.
    t.ok(&["start", &app("sleeper.sh"), "--name", "plain"]);
    assert_eq!(describe(&t, "plain")["cron_next"], Value::Null);
}

#[test]
fn an_invalid_cron_pattern_is_refused_naming_the_field_and_position() {
    let t = TestHome::new();
    let err = t.fails(&["start", &app("sleeper.sh"), "--cron-restart", "* * *"], 2);
    assert!(
        err.contains("--cron-restart") && err.contains("expected 5 fields"),
        "{err}"
    );
    let err = t.fails(&["start", &app("sleeper.sh"), "--cron", "61 * * * *"], 2);
    assert!(err.contains("--cron"), "{err}");
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(\n  name: \"a\", script: \"{}\",\n  cron_restart: \"61 * * * *\",\n)])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    let err = t.fails(&["up", "eco.ron"], 2);
    assert!(
        err.lines()
            .any(|l| l.starts_with("pmx: eco.ron:3:17: ") && l.contains("cron")),
        "{err}"
    );
    assert!(t.daemon_pid().is_none(), "no daemon for a bad file");
}

#[test]
fn cron_timezone_reads_the_pattern_at_that_zones_wall_clock() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [\n  App(name: \"tokyo\", script: \"{s}\", cron_restart: \"0 3 * * *\", cron_timezone: \"Asia/Tokyo\"),\n  App(name: \"here\", script: \"{s}\", cron_restart: \"0 3 * * *\"),\n])\n",
            s = app("sleeper.sh")
        ),
    )
    .expect("write");
    // The daemon runs in UTC (it is started by this first command, with its environment).
    let mut c = t.cmd(&["up", "eco.ron"]);
    c.env("TZ", "UTC");
    expect_ok(&c.output().expect("run pmx"), "up");
    t.wait_status("tokyo", "online");
    let next = describe(&t, "tokyo")["cron_next"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(next.ends_with(" 03:00:00 +09:00 (Asia/Tokyo)"), "{next}");
    let next = describe(&t, "here")["cron_next"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(next.ends_with(" 03:00:00 +00:00 (local)"), "{next}");
}

#[test]
fn an_unknown_cron_timezone_is_refused_at_its_line_and_column() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(\n  name: \"a\", script: \"{}\",\n  cron_restart: \"0 3 * * *\",\n  cron_timezone: \"Mars/Olympus\",\n)])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    let err = t.fails(&["up", "eco.ron"], 2);
    assert!(
        err.lines().any(|l| l.starts_with("pmx: eco.ron:4:18: ")
            && l.contains("unknown time zone \"Mars/Olympus\"")),
        "{err}"
    );
    assert!(t.daemon_pid().is_none(), "no daemon for a bad file");
}

#[test]
fn in_cluster_mode_every_instance_is_replaced_rolling_at_a_tick() {
    let t = TestHome::new();
    let record = t.path("runs");
    let script = recorder(&t, &record, true);
    t.ok(&[
        "start",
        &script,
        "--name",
        "k",
        "-i",
        "2",
        "--cron-restart",
        "*/2 * * * * *",
    ]);
    // 2 starts, then both instances replaced at each tick.
    assert!(
        wait_for(DEADLINE, || runs(&record).len() >= 6),
        "6 runs: {:?}",
        runs(&record)
    );
    let rows = t.ok(&["describe", "k", "--json"]);
    let rows: Value = serde_json::from_str(&rows).expect("describe json");
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r["last_restart_reason"], "cron", "{r}");
    }
}

#[test]
fn a_tick_that_finds_a_restart_under_way_is_skipped() {
    let t = TestHome::new();
    let pid = t.path("pid");
    // Its stop takes the whole kill_timeout (it ignores SIGINT): 3 s, past the next tick.
    t.ok(&[
        "start",
        &app("ignore_sigint.py"),
        "--name",
        "slow",
        "--kill-timeout",
        "3000",
        "--cron-restart",
        "*/2 * * * * *",
        "--",
        &pid.to_string_lossy(),
    ]);
    let log = t.home.join("pmx.log");
    assert!(
        wait_for(DEADLINE, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("cron tick skipped, a restart is still under way")),
        "a skipped tick is logged"
    );
    t.wait_row("slow", "a cron restart", |r| {
        r["restarts"].as_i64().unwrap_or(0) >= 1 && r["status"] == "online"
    });
}
