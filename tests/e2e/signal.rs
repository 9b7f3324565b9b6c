//! `pmx signal` to a process that has only just started: the signal waits (up to a
//! second of the process's life) until the process catches or ignores it, so it reaches
//! the handler the app installs at boot instead of killing the app; a process that never
//! handles it still gets it.

use std::time::Duration;

use crate::harness::*;

#[test]
fn a_signal_sent_right_after_start_reaches_the_handler_installed_at_boot() {
    let t = TestHome::new();
    // Installs its USR2 handler 300 ms after it starts (node takes some 50 ms).
    std::fs::write(
        t.path("late.sh"),
        "sleep 0.3\ntrap 'echo got-usr2' USR2\nwhile :; do sleep 0.05; done\n",
    )
    .expect("write script");
    t.ok(&["start", "late.sh"]);
    let before = t.wait_status("late", "online");
    t.ok(&["signal", "SIGUSR2", "late"]);
    let out = t.home.join("logs/late-out.log");
    assert!(
        wait_for(Duration::from_secs(5), || lines(&out)
            .iter()
            .any(|l| l == "got-usr2")),
        "the handler ran: {:?}",
        lines(&out)
    );
    let after = t.row("late");
    assert_eq!(after["pid"], before["pid"], "not killed");
    assert_eq!(int(&after, "restarts"), 0);
}

#[test]
fn a_young_process_that_never_handles_the_signal_still_gets_it() {
    let t = TestHome::new();
    t.ok(&["start", "sleep 600", "--name", "plain"]);
    let before = t.wait_status("plain", "online");
    t.ok(&["signal", "USR2", "plain"]);
    // Its default action ends it; pmx starts it again.
    t.wait_row("plain", "a restart", |r| {
        int(r, "restarts") == 1 && r["pid"] != before["pid"]
    });
}

#[test]
fn several_targets_are_each_signalled_in_order() {
    let t = TestHome::new();
    std::fs::write(
        t.path("catch.sh"),
        "trap 'echo got-usr2' USR2\nwhile :; do sleep 0.05; done\n",
    )
    .expect("write script");
    t.ok(&["start", "catch.sh", "-i", "2"]);
    assert!(
        wait_for(DEADLINE, || {
            let rows = t.list();
            rows.len() == 2 && rows.iter().all(|r| r["status"] == "online")
        }),
        "two instances online"
    );
    let rows = t.list();
    // PM2 scripts pass `$(pm2 prettylist | grep pm_id)`: one id per process.
    let ids: Vec<String> = rows.iter().map(|r| int(r, "id").to_string()).collect();
    // Each id twice, as `grep pm_id:` finds them: each process gets it once.
    t.ok(&["signal", "SIGUSR2", &ids[0], &ids[0], &ids[1], &ids[1]]);
    for n in 0..2 {
        let log = t.home.join(format!("logs/catch-out-{n}.log"));
        assert!(
            wait_for(Duration::from_secs(5), || lines(&log)
                .iter()
                .any(|l| l == "got-usr2")),
            "instance {n} got it: {:?}",
            lines(&log)
        );
    }
    // A second signal would have been handled by now (each handler echoes at once).
    t.ok(&["signal", "SIGUSR2", &ids[0]]);
    let log = t.home.join("logs/catch-out-0.log");
    assert!(wait_for(Duration::from_secs(5), || lines(&log)
        .iter()
        .filter(|l| *l == "got-usr2")
        .count()
        >= 2));
    for n in 0..2 {
        let log = t.home.join(format!("logs/catch-out-{n}.log"));
        let got = lines(&log).iter().filter(|l| *l == "got-usr2").count();
        assert_eq!(got, 2 - n, "instance {n}: {:?}", lines(&log));
    }
    // An unknown one after them: exit 1, the earlier ones were signalled.
    let err = t.fails(&["signal", "USR2", &ids[0], "ghost"], 1);
    assert!(err.contains("ghost"), "{err}");
}
