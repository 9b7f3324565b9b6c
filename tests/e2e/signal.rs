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
