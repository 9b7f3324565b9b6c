//! Fork-mode lifecycle: start, list, stop, restart, delete, kill, and the process tree.

use crate::harness::*;

#[test]
fn start_list_stop_delete_by_name() {
    let t = TestHome::new();
    let out = t.ok(&["start", &app("sleeper.sh"), "--name", "sl"]);
    assert!(out.contains("sl"), "the start table names the app: {out}");
    let row = t.wait_status("sl", "online");
    let pid = int(&row, "pid") as i32;
    assert!(alive(pid));
    assert_eq!(row["mode"], "fork");
    assert_eq!(row["restarts"], 0);
    t.ok(&["stop", "sl"]);
    let row = t.row("sl");
    assert_eq!(row["status"], "stopped", "stopped once stop returns");
    assert!(row["pid"].is_null());
    assert!(!alive(pid), "the process is gone once stop returns");
    t.ok(&["delete", "sl"]);
    assert!(t.list().is_empty(), "deleted apps are no longer listed");
}

#[test]
fn kill_stops_every_app_and_the_daemon() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    let (_, setsid) = start_tree(&t, "b");
    let daemon = t.daemon_pid().expect("pid file");
    t.ok(&["kill"]);
    assert!(!alive(daemon), "the daemon is gone once kill returns");
    assert!(!alive(setsid), "a setsid'd grandchild is gone too");
    assert!(
        t.processes().is_empty(),
        "nothing of this home runs: {:?}",
        t.processes()
    );
}

/// A field of `/proc/<pid>/status` (`SigIgn`, `Uid`, …).
fn status_field(pid: i32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// The soft "Max open files" of `pid`.
fn soft_nofile(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .expect("limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        .expect("Max open files")
}

#[test]
fn apps_get_default_signals_an_empty_mask_and_the_original_fd_limit() {
    let t = TestHome::new();
    // Start the daemon from a command whose soft open-file limit is low: the daemon raises
    // its own to the hard limit, the app must get 256 back.
    let mut cmd = t.cmd(&["start", &app("sleeper.sh"), "--name", "s"]);
    // SAFETY: setrlimit between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let mut lim: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            lim.rlim_cur = 256;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            Ok(())
        });
    }
    assert!(run_with_timeout(cmd, std::time::Duration::from_secs(60))
        .status
        .success());
    let pid = int(&t.wait_status("s", "online"), "pid") as i32;
    let daemon = t.daemon_pid().expect("daemon pid");
    let hard = std::fs::read_to_string(format!("/proc/{daemon}/limits"))
        .expect("limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_string))
        .expect("hard");
    assert_eq!(
        soft_nofile(daemon),
        hard,
        "the daemon raised its soft limit to the hard one"
    );
    // The daemon ignores SIGPIPE (as every Rust program does) and runs with its own signal
    // handlers; none of that reaches the app.
    assert_ne!(status_field(daemon, "SigIgn"), "0000000000000000");
    assert!(
        wait_for(DEADLINE, || status_field(pid, "Name") == "sleep"),
        "bash exec'd sleep"
    );
    assert_eq!(
        status_field(pid, "SigIgn"),
        "0000000000000000",
        "no ignored signal"
    );
    assert_eq!(
        status_field(pid, "SigBlk"),
        "0000000000000000",
        "an empty mask"
    );
    // The daemon raised its open-file limit; the app has the one pmx was started with.
    assert_eq!(
        soft_nofile(pid),
        "256",
        "the app gets the original soft limit back"
    );
}

#[test]
fn a_program_gone_at_restart_is_errored_and_the_daemon_goes_on() {
    let t = TestHome::new();
    let prog = t.path("prog");
    std::fs::copy(app("sleeper.sh"), &prog).expect("copy");
    t.ok(&["start", prog.to_str().expect("utf8"), "--name", "gone"]);
    t.wait_status("gone", "online");
    std::fs::remove_file(&prog).expect("rm");
    t.ok(&["restart", "gone"]);
    let row = t.wait_status("gone", "errored");
    assert!(row["pid"].is_null());
    t.ok(&["start", &app("sleeper.sh"), "--name", "other"]);
    t.wait_status("other", "online");
}

#[test]
fn uid_runs_the_app_as_another_user() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: --uid needs root");
        return;
    }
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "nob",
        "--uid",
        "nobody",
        "--gid",
        "nogroup",
    ]);
    let pid = int(&t.wait_status("nob", "online"), "pid") as i32;
    let uid = status_field(pid, "Uid");
    assert!(uid.starts_with("65534"), "runs as nobody: Uid {uid}");
}

#[test]
fn stopping_lasts_until_the_tree_is_gone_with_a_null_pid() {
    let t = TestHome::new();
    let child = t.path("child");
    t.ok(&[
        "start",
        &app("lingering_child.py"),
        "--name",
        "ling",
        "--kill-timeout",
        "4000",
        "--",
        child.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || child.exists()));
    let child_pid: i32 = std::fs::read_to_string(&child)
        .expect("pid")
        .trim()
        .parse()
        .expect("int");
    let stop = {
        let c = t.cmd(&["stop", "ling"]);
        std::thread::spawn(move || run_with_timeout(c, std::time::Duration::from_secs(60)))
    };
    let row = t.wait_row("ling", "stopping with the main process gone", |r| {
        r["status"] == "stopping" && r["pid"].is_null()
    });
    assert!(
        alive(child_pid),
        "the lingering child still runs while stopping: {row}"
    );
    assert!(stop.join().expect("thread").status.success());
    assert_eq!(t.row("ling")["status"], "stopped");
    assert!(
        !alive(child_pid),
        "SIGKILL after kill_timeout ended the child"
    );
}

#[test]
fn autostart_false_registers_the_app_stopped() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [App(name: \"later\", script: \"{}\", autostart: false)])",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    t.ok(&["start", eco.to_str().expect("utf8")]);
    let row = t.row("later");
    assert_eq!(row["status"], "stopped");
    assert!(row["pid"].is_null());
    t.ok(&["restart", "later"]);
    t.wait_status("later", "online");
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "held",
        "--no-autostart",
    ]);
    assert_eq!(t.row("held")["status"], "stopped");
    // PM2: `start <name>` starts an app the daemon knows.
    t.ok(&["start", "held"]);
    t.wait_status("held", "online");
}

#[test]
fn a_start_that_cannot_spawn_fails_and_adds_nothing() {
    let t = TestHome::new();
    let err = t.fails(
        &[
            "start",
            &app("sleeper.sh"),
            "--cwd",
            "/nonexistent-dir",
            "--name",
            "nowhere",
        ],
        1,
    );
    assert!(
        err.contains("nowhere") && err.contains("/nonexistent-dir"),
        "{err}"
    );
    assert!(t.list().is_empty(), "nothing added: {:?}", t.list());
}

#[test]
fn help_is_a_name_like_any_other_and_dash_names_are_refused() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "help"]);
    t.ok(&["stop", "help"]);
    assert_eq!(
        t.row("help")["status"],
        "stopped",
        "`pmx stop help` stopped the app named help"
    );
    let err = t.fails(&["start", &app("sleeper.sh"), "--name", "-x"], 2);
    assert!(err.contains("must not start with"), "{err}");
    let out = t.ok(&["stop", "-h"]);
    assert!(out.contains("Usage: pmx stop"), "-h is help: {out}");
}
