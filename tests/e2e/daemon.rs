//! The daemon itself: one per home, detached, its home's modes, SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::harness::*;

#[test]
fn racing_clis_start_exactly_one_daemon() {
    let t = TestHome::new();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let c = t.cmd(&["ping"]);
            std::thread::spawn(move || run_with_timeout(c, Duration::from_secs(60)))
        })
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for h in handles {
        let out = h.join().expect("thread");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let pid = text
            .split("pid ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .expect("pid")
            .to_string();
        pids.insert(pid);
    }
    assert_eq!(pids.len(), 1, "every CLI talked to one daemon: {pids:?}");
    // A daemon spawned by a losing CLI finds the lock taken and exits; under load it may
    // still be on its way out when the last ping is answered, so wait (bounded) for it.
    let daemons = || -> Vec<i32> {
        t.processes()
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.contains("daemon"))
            })
            .collect()
    };
    assert!(
        wait_for(DEADLINE, || daemons().len() == 1),
        "one daemon process: {:?}",
        daemons()
    );
}

#[test]
fn the_daemon_is_detached_from_the_cli() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let d = t.daemon_pid().expect("pid");
    for fd in 0..3 {
        let target = std::fs::read_link(format!("/proc/{d}/fd/{fd}")).expect("fd");
        assert_eq!(target.to_str(), Some("/dev/null"), "fd {fd} is /dev/null");
    }
    let cwd = std::fs::read_link(format!("/proc/{d}/cwd")).expect("cwd");
    assert_eq!(cwd.to_str(), Some("/"));
    let stat = std::fs::read_to_string(format!("/proc/{d}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .expect("stat")
        .split_whitespace()
        .collect();
    // fields[0] is the state; session id is field 6 of the full line, [3] here.
    assert_eq!(fields[3], d.to_string(), "the daemon leads its own session");
    let mode = std::fs::metadata(&t.home)
        .expect("home")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    let sock = std::fs::metadata(t.home.join("pmx.sock"))
        .expect("sock")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(sock, 0o600);
}

#[test]
fn a_loose_home_is_tightened_with_a_warning() {
    let t = TestHome::new();
    std::fs::create_dir_all(&t.home).expect("mkdir");
    std::fs::set_permissions(&t.home, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = t.run(&["ping"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("700"), "{err}");
    let mode = std::fs::metadata(&t.home)
        .expect("home")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_home_owned_by_another_user_is_refused() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let t = TestHome::new();
    std::fs::create_dir_all(&t.home).expect("mkdir");
    std::os::unix::fs::chown(&t.home, Some(65534), Some(65534)).expect("chown");
    let err = t.fails(&["ping"], 1);
    assert!(
        err.starts_with("pmx: ") && err.contains("owned by uid 65534"),
        "{err}"
    );
    assert!(t.daemon_pid().is_none(), "no daemon started");
}

#[test]
fn a_home_too_long_for_a_socket_is_an_error() {
    let t = TestHome::new();
    let long = t.work.join("x".repeat(120));
    let mut c = t.cmd(&["ping"]);
    c.env("PMX_HOME", &long);
    let out = run_with_timeout(c, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("pmx: ") && err.contains("too long"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_every_app_then_the_daemon() {
    let t = TestHome::new();
    let (_, setsid) = start_tree(&t, "tree");
    let d = t.daemon_pid().expect("pid");
    // SAFETY: kill(2) on the daemon this test started.
    unsafe {
        libc::kill(d, libc::SIGTERM);
    }
    assert!(
        wait_for(DEADLINE, || !alive(d)),
        "the daemon exits on SIGTERM"
    );
    assert!(
        !alive(setsid),
        "its apps are stopped first, setsid'd ones included"
    );
    assert!(
        t.processes().is_empty(),
        "nothing left: {:?}",
        t.processes()
    );
}

#[test]
fn the_cli_reports_a_bad_request_in_one_line() {
    let t = TestHome::new();
    let err = t.fails(&["describe", "nothing-here"], 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("pmx: "), "{err}");
}

/// The daemon's own log once it has written its last line.
fn daemon_log_after_exit(t: &TestHome, daemon: i32) -> String {
    assert!(wait_for(DEADLINE, || !alive(daemon)), "the daemon exits");
    std::fs::read_to_string(t.home.join("pmx.log")).expect("pmx.log")
}

/// The end of the daemon drops every actor: none of them may be reported as a panic
/// (the Process actor kills its tree on a panic), whether the apps ran or were stopped.
#[test]
fn a_daemon_ended_by_kill_or_sigterm_reports_no_actor_panic() {
    for how in ["kill", "SIGTERM"] {
        let t = TestHome::new();
        t.ok(&["start", &app("sleeper.sh"), "--name", "a", "-i", "2"]);
        t.ok(&["start", &app("sleeper.sh"), "--name", "b"]);
        t.wait_status("a", "online");
        t.ok(&["stop", "b"]);
        t.wait_status("b", "stopped");
        let d = t.daemon_pid().expect("pid");
        if how == "kill" {
            t.ok(&["kill"]);
        } else {
            // SAFETY: kill(2) on the daemon this test started.
            unsafe {
                libc::kill(d, libc::SIGTERM);
            }
        }
        let log = daemon_log_after_exit(&t, d);
        assert!(log.contains("daemon stopped"), "{how}: {log}");
        assert!(!log.contains("panic"), "{how}: a false panic report: {log}");
        assert!(t.processes().is_empty(), "{how}: {:?}", t.processes());
    }
}
