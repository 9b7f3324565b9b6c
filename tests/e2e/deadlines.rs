//! The CLI never waits for ever: a daemon that does not answer (SIGSTOPped here) makes a
//! quick verb fail within `PMX_TIMEOUT`, and a lifecycle verb once the daemon stops
//! answering pings; fd exhaustion in the daemon is logged rarely and outlived.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::harness::{app, run_with_timeout, wait_for, TestHome, DEADLINE};

/// Sends SIGCONT to the daemon when dropped, even after a failed assert (so it can be
/// killed).
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Stopped {
        // SAFETY: kill(2) with a pid this test started (through pmx).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0, "SIGSTOP");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::kill(self.0, libc::SIGCONT);
        }
    }
}

#[test]
fn a_stopped_daemon_makes_list_and_stop_fail_within_the_timeout() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let daemon = t.daemon_pid().expect("pmx.pid");
    let stopped = Stopped::new(daemon);
    for (args, said) in [
        (&["list"][..], "did not answer `list` within 1 s"),
        (
            &["describe", "all"][..],
            "did not answer `describe` within 1 s",
        ),
        (
            &["stop", "all"][..],
            "stopped answering while `stop` waited",
        ),
    ] {
        let started = Instant::now();
        let mut c = t.cmd(args);
        c.env("PMX_TIMEOUT", "1");
        let out = run_with_timeout(c, Duration::from_secs(60));
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "pmx {args:?}: {stderr}");
        assert!(took < Duration::from_secs(15), "pmx {args:?} took {took:?}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(said), "pmx {args:?}: {stderr}");
    }
    drop(stopped);
    t.ok(&["ping"]);
}

#[test]
fn a_stop_longer_than_the_timeout_waits_while_the_daemon_answers() {
    let t = TestHome::new();
    let pidfile = t.path("pid");
    t.ok(&[
        "start",
        &app("ignore_sigint.py"),
        "--name",
        "stubborn",
        "--kill-timeout",
        "3000",
        "--",
        pidfile.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || pidfile.exists()), "the app is up");
    // The stop lasts the app's kill_timeout (3 s), three times PMX_TIMEOUT.
    let started = Instant::now();
    let mut c = t.cmd(&["stop", "stubborn"]);
    c.env("PMX_TIMEOUT", "1");
    let out = run_with_timeout(c, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pmx stop: {stderr}");
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "it waited out the kill_timeout"
    );
    assert_eq!(t.row("stubborn")["status"], "stopped");
    // So does `kill`, which stops every app before the daemon ends.
    std::fs::remove_file(&pidfile).expect("remove the pid file");
    t.ok(&["restart", "stubborn"]);
    assert!(
        wait_for(DEADLINE, || pidfile.exists()),
        "the app ignores SIGINT again"
    );
    let started = Instant::now();
    let mut c = t.cmd(&["kill"]);
    c.env("PMX_TIMEOUT", "1");
    let out = run_with_timeout(c, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "pmx kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "kill waited out the kill_timeout"
    );
}

#[test]
fn a_pmx_timeout_that_is_not_a_number_is_a_clear_error() {
    let t = TestHome::new();
    let mut c = t.cmd(&["ping"]);
    c.env("PMX_TIMEOUT", "soon");
    let out = run_with_timeout(c, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("PMX_TIMEOUT=\"soon\" is not a positive number of seconds"),
        "{stderr}"
    );
}

/// `pmx.log`'s lines that say `what`.
fn log_lines(t: &TestHome, what: &str) -> usize {
    std::fs::read_to_string(t.home.join("pmx.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

#[test]
fn fd_exhaustion_is_logged_rarely_and_the_daemon_serves_again_once_fds_are_free() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let daemon = t.daemon_pid().expect("pmx.pid");
    let open = std::fs::read_dir(format!("/proc/{daemon}/fd"))
        .expect("the daemon's fds")
        .count() as u64;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let low = libc::rlimit {
        rlim_cur: open + 2,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on the daemon this test started; reads the old limit first.
    let got = unsafe { libc::prlimit(daemon, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(got, 0, "read the daemon's RLIMIT_NOFILE");
    let low = libc::rlimit {
        rlim_max: old.rlim_max,
        ..low
    };
    // SAFETY: as above; lowers the soft limit only.
    let set = unsafe { libc::prlimit(daemon, libc::RLIMIT_NOFILE, &low, std::ptr::null_mut()) };
    assert_eq!(set, 0, "lower the daemon's RLIMIT_NOFILE");
    let sock = t.home.join("pmx.sock");
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut s = UnixStream::connect(&sock).expect("connect (the backlog takes it)");
        let _ = s.write_all(b"");
        clients.push(s);
    }
    let failing = wait_for(DEADLINE, || log_lines(&t, "accept failed") > 0);
    // SAFETY: as above; the daemon gets its limit back whatever happens next.
    let restore =
        || unsafe { libc::prlimit(daemon, libc::RLIMIT_NOFILE, &old, std::ptr::null_mut()) };
    if !failing {
        restore();
        panic!(
            "the daemon never ran out of fds: {} open, limit {}",
            open,
            open + 2
        );
    }
    // Three seconds of failing accepts: with a back-off up to 1 s and one log line a
    // minute, one line (it was one every 50 ms: 60).
    std::thread::sleep(Duration::from_secs(3));
    let lines = log_lines(&t, "accept failed");
    restore();
    drop(clients);
    assert!(lines <= 2, "{lines} `accept failed` lines in 3 s");
    let out = run_with_timeout(t.cmd(&["ping"]), Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_for(DEADLINE, || log_lines(&t, "accepting connections again")
            >= 1),
        "the recovery is logged: {}",
        std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default()
    );
    assert_eq!(t.daemon_pid(), Some(daemon));
}
