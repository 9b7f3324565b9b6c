//! `pmx run` (pm2-runtime): the daemon's actor tree in the foreground, every app's lines on
//! stdout/stderr with prefixes, a graceful stop on SIGTERM, an exit when every app is gone
//! with Pebble's exit codes (0 when every app ended cleanly, 1 otherwise), PID 1 of a
//! new PID namespace.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::*;

/// A foreground `pmx run`/`pmx dev` (or a command wrapping one) with its output read
/// line by line as it comes. Its `Drop` kills it and whatever carries its home, by pid.
pub struct Fg {
    child: Option<Child>,
    /// The pid of the spawned command.
    pub pid: i32,
    /// Lines read from its stdout, in order.
    pub out: Arc<Mutex<Vec<String>>>,
    /// Lines read from its stderr, in order.
    pub err: Arc<Mutex<Vec<String>>>,
    /// The exit code once known.
    code: Option<Option<i32>>,
    /// `PMX_HOME=…` of its apps, for the cleanup.
    home_env: String,
}

impl Fg {
    /// Spawn `c` (its stdout and stderr piped and read on threads).
    pub fn spawn(mut c: Command, home_env: String) -> Fg {
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = c.spawn().expect("spawn");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let read = |pipe: Box<dyn std::io::Read + Send>, into: Arc<Mutex<Vec<String>>>| {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    into.lock().expect("lock").push(line);
                }
            });
        };
        read(Box::new(child.stdout.take().expect("stdout")), out.clone());
        read(Box::new(child.stderr.take().expect("stderr")), err.clone());
        Fg {
            pid: child.id() as i32,
            child: Some(child),
            out,
            err,
            code: None,
            home_env,
        }
    }

    /// `pmx run args…` in `t`'s home and work directory.
    pub fn run(t: &TestHome, args: &[&str]) -> Fg {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        Fg::spawn(t.cmd(&all), format!("PMX_HOME={}", t.home.display()))
    }

    /// Whether a stdout (`err`: stderr) line satisfies `f`, waiting up to the deadline.
    pub fn wait_line(&self, err: bool, what: &str, f: impl Fn(&str) -> bool) {
        let lines = if err { &self.err } else { &self.out };
        let found = wait_for(DEADLINE, || {
            lines.lock().expect("lock").iter().any(|l| f(l))
        });
        assert!(
            found,
            "timed out waiting for {what}\nstdout: {:?}\nstderr: {:?}",
            self.out.lock().expect("lock"),
            self.err.lock().expect("lock")
        );
    }

    /// Send `sig` to the spawned command.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) of our own child's pid.
        unsafe {
            libc::kill(self.pid, sig);
        }
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.poll();
        self.code.is_none()
    }

    fn poll(&mut self) {
        if self.code.is_none() {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.code = Some(status.code());
                }
            }
        }
    }

    /// Its exit code, waiting up to `limit` for it to end.
    pub fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let ended = wait_for(limit, || !self.running());
        assert!(
            ended,
            "still running after {limit:?}\nstdout: {:?}\nstderr: {:?}",
            self.out.lock().expect("lock"),
            self.err.lock().expect("lock")
        );
        // The readers may still be draining the pipes.
        std::thread::sleep(Duration::from_millis(50));
        self.code.flatten()
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.out.lock().expect("lock").clone()
    }

    /// Every stderr line so far.
    pub fn stderr(&self) -> Vec<String> {
        self.err.lock().expect("lock").clone()
    }
}

impl Drop for Fg {
    fn drop(&mut self) {
        if self.running() {
            kill9(self.pid);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        for pid in processes_with_env(&self.home_env) {
            kill9(pid);
        }
    }
}

/// A shell script in `t`'s work directory, made executable; answers its path.
pub fn script(t: &TestHome, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = t.path(name);
    std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_string_lossy().into_owned()
}

/// An app that says `out` on stdout and `err` on stderr, writes its pid to `pid`, and on
/// SIGINT/SIGTERM says "graceful stop" and exits 0.
const POLITE: &str = r#"trap 'echo "graceful stop"; exit 0' INT TERM
echo $$ > pid
echo "to-out"
echo "to-err" >&2
while true; do sleep 0.2 & wait $!; done
"#;

#[test]
fn run_prints_out_lines_on_stdout_and_err_lines_on_stderr_with_prefixes() {
    let t = TestHome::new();
    let s = script(&t, "polite.sh", POLITE);
    let mut fg = Fg::run(&t, &[&s, "--name", "web"]);
    fg.wait_line(false, "the out line", |l| l == "0|web | to-out");
    fg.wait_line(true, "the err line", |l| l == "0|web | to-err");
    assert!(!fg.stdout().iter().any(|l| l.contains("to-err")));
    assert!(!fg.stderr().iter().any(|l| l.contains("to-out")));
    // `pmx list` against the run's home shows its app (it serves the admin socket).
    let row = t.wait_status("web", "online");
    assert_eq!(int(&row, "pid"), i64::from(read_pid(&t.path("pid"))));
    // The lines also reach the app's log files, as under the daemon, and `pmx logs`
    // shows them.
    assert!(lines(&t.home.join("logs/web-out.log")).contains(&"to-out".to_string()));
    let logs = t.ok(&["logs", "web", "--nostream"]);
    assert!(logs.contains("0|web | to-out"), "{logs}");
    fg.signal(libc::SIGTERM);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
}

#[test]
fn run_json_prints_one_logs_json_object_per_line_and_raw_prints_bare_lines() {
    let t = TestHome::new();
    let s = script(&t, "polite.sh", POLITE);
    let mut fg = Fg::run(&t, &[&s, "--name", "web", "--json"]);
    fg.wait_line(false, "a JSON out line", |l| l.contains("to-out"));
    let line = fg
        .stdout()
        .into_iter()
        .find(|l| l.contains("to-out"))
        .expect("line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    assert_eq!(v["app"], "web");
    assert_eq!(v["id"], 0);
    assert_eq!(v["stream"], "out");
    assert_eq!(v["message"], "to-out");
    assert!(v["time"].as_str().is_some_and(|t| t.contains('T')));
    fg.signal(libc::SIGINT);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));

    let t = TestHome::new();
    let s = script(&t, "polite.sh", POLITE);
    let mut fg = Fg::run(&t, &["--raw", &s]);
    fg.wait_line(false, "a bare out line", |l| l == "to-out");
    fg.wait_line(true, "a bare err line", |l| l == "to-err");
    fg.signal(libc::SIGTERM);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
}

#[test]
fn sigterm_stops_every_app_gracefully_and_run_exits_0() {
    let t = TestHome::new();
    let s = script(&t, "polite.sh", POLITE);
    let mut fg = Fg::run(&t, &[&s, "--name", "web"]);
    fg.wait_line(false, "the app's start", |l| l.ends_with("to-out"));
    let pid = read_pid(&t.path("pid"));
    fg.signal(libc::SIGTERM);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    // Its handler ran (kill_signal SIGINT reached it) and it is gone.
    assert!(fg.stdout().contains(&"0|web | graceful stop".to_string()));
    assert!(!alive(pid), "the app still runs");
    assert!(!t.home.join("pmx.sock").exists(), "the socket is removed");
}

#[test]
fn an_app_that_exits_0_with_policy_never_ends_run_with_0() {
    let t = TestHome::new();
    let mut fg = Fg::run(
        &t,
        &[
            "bash -c 'echo done; exit 0'",
            "--name",
            "job",
            "--no-autorestart",
        ],
    );
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert!(fg.stdout().contains(&"0|job | done".to_string()));
}

#[test]
fn an_app_that_ends_with_a_failure_and_policy_never_ends_run_with_1() {
    let t = TestHome::new();
    let mut fg = Fg::run(
        &t,
        &["bash -c 'exit 4'", "--name", "job", "--no-autorestart"],
    );
    assert_eq!(fg.exit_code(DEADLINE), Some(1));
    let err = fg.stderr().join("\n");
    assert!(err.contains("0|job | exited with code 4"), "{err}");
    assert!(err.contains("pmx: not every app ended cleanly"), "{err}");
}

#[test]
fn an_app_that_exits_with_one_of_its_stop_exit_codes_ends_run_with_0() {
    // PM2's stop_exit_codes mark an exit as deliberate: not restarted, and not a failure
    // of the container either.
    let t = TestHome::new();
    let mut fg = Fg::run(
        &t,
        &[
            "bash -c 'exit 3'",
            "--name",
            "job",
            "--stop-exit-codes",
            "3",
        ],
    );
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    let err = fg.stderr().join("\n");
    assert!(err.contains("0|job | exited with code 3"), "{err}");
    assert!(!err.contains("not every app ended cleanly"), "{err}");
}

#[test]
fn an_app_that_crash_loops_to_errored_ends_run_with_1() {
    let t = TestHome::new();
    let mut fg = Fg::run(
        &t,
        &[
            "bash -c 'echo crash; exit 3'",
            "--name",
            "loop",
            "--max-restarts",
            "3",
        ],
    );
    assert_eq!(fg.exit_code(DEADLINE), Some(1));
    let err = fg.stderr().join("\n");
    assert!(err.contains("0|loop | errored"), "{err}");
    assert!(
        fg.stdout()
            .iter()
            .filter(|l| *l == "0|loop | crash")
            .count()
            >= 3,
        "{:?}",
        fg.stdout()
    );
}

#[test]
fn run_stays_up_during_a_restart_delay_and_exits_once_the_app_is_really_gone() {
    let t = TestHome::new();
    // Fails the first time, then ends well; not restarted after exit 0.
    let s = script(
        &t,
        "twice.sh",
        "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count\necho \"run $n\"\n[ $n -ge 2 ] && exit 0\nexit 1\n",
    );
    let mut fg = Fg::run(
        &t,
        &[
            &s,
            "--name",
            "twice",
            "--restart-delay",
            "3000",
            "--stop-exit-codes",
            "0",
        ],
    );
    // (A `pmx list` before run serves its socket would start a daemon of its own.)
    fg.wait_line(false, "the first run", |l| l == "0|twice | run 1");
    // While the restart waits, run is up and `pmx list` (its socket) says so.
    t.wait_status("twice", "waiting restart");
    assert!(fg.running(), "run ended during the restart delay");
    fg.wait_line(false, "the second run", |l| l == "0|twice | run 2");
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert_eq!(lines(&t.path("count")), ["2"]);
}

#[test]
fn an_ecosystem_group_stops_in_reverse_order_on_sigterm() {
    let t = TestHome::new();
    let rec = t.path("rec");
    let member = |n: &str| {
        format!(
            "App(name: \"{n}\", script: \"{}\", args: [\"{n}\", \"{}\"], kill_timeout: \"5s\")",
            app("member.sh"),
            rec.display()
        )
    };
    let eco = t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [{}, {}, {}], groups: [Group(name: \"g\", apps: [\"a\", \"b\", \"c\"])])\n",
            member("a"),
            member("b"),
            member("c")
        ),
    )
    .expect("write eco");
    let mut fg = Fg::run(&t, &[eco.to_str().expect("utf8")]);
    assert!(
        wait_for(DEADLINE, || lines(&rec).len() == 3),
        "{:?}",
        lines(&rec)
    );
    fg.signal(libc::SIGTERM);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    let stops: Vec<String> = lines(&rec)
        .iter()
        .filter(|l| l.starts_with("stop "))
        .map(|l| l.split(' ').nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(stops, ["c", "b", "a"], "{:?}", lines(&rec));
}

#[test]
fn a_daemon_already_on_the_home_makes_run_fail_with_one_line_naming_it() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let out = t.run(&["run", "bash -c 'sleep 30'"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("already runs"), "{err}");
    assert!(err.contains(&t.home.display().to_string()), "{err}");
    assert!(t.list().is_empty(), "nothing was started");
}

#[test]
fn a_bad_file_or_a_missing_script_starts_nothing_and_exits_as_start_would() {
    let t = TestHome::new();
    let bad = t.path("bad.ron");
    std::fs::write(&bad, "Ecosystem(apps: [App(name: \"x\", scrpt: \"y\")])\n").expect("write");
    let out = t.run(&["run", bad.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"script\""));
    let out = t.run(&["run", "./missing.js"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!t.home.join("pmx.sock").exists());
}

/// The pid of `parent`'s first child (from `/proc/<parent>/task/*/children`).
fn child_of(parent: i32) -> Option<i32> {
    let tasks = std::fs::read_dir(format!("/proc/{parent}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        std::fs::read_to_string(t.path().join("children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// `pmx run args…` as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`),
/// or None (with the reason printed) where unshare cannot make one.
fn as_pid_1(t: &TestHome, args: &[&str]) -> Option<Fg> {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: unshare --pid --fork --mount-proc fails here (needs root)");
        return None;
    }
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", PMX, "run"])
        .args(args)
        .env("PMX_HOME", &t.home)
        .current_dir(&t.work);
    Some(Fg::spawn(c, format!("PMX_HOME={}", t.home.display())))
}

#[test]
fn as_pid_1_run_forwards_sigterm_reaps_orphans_and_exits_0() {
    let t = TestHome::new();
    // A grandchild that outlives its parent (a double fork): an orphan for PID 1.
    let s = script(
        &t,
        "orphans.sh",
        r#"trap 'echo "graceful stop"; exit 0' INT TERM
echo "pid1=$(cat /proc/1/comm)"
( sleep 0.3 & echo $! > gc ) ; gc=$(cat gc)
for i in $(seq 200); do
  [ -e /proc/$gc ] || break
  sleep 0.05
done
if [ -e /proc/$gc ]; then echo "orphan $gc: $(cut -d' ' -f3 /proc/$gc/stat)"; else echo "orphan reaped"; fi
while true; do sleep 0.2 & wait $!; done
"#,
    );
    let Some(mut fg) = as_pid_1(&t, &[&s, "--name", "orph"]) else {
        return;
    };
    fg.wait_line(false, "the app's orphan check", |l| l.contains("orphan"));
    let out = fg.stdout();
    assert!(out.contains(&"0|orph | pid1=pmx".to_string()), "{out:?}");
    assert!(
        out.contains(&"0|orph | orphan reaped".to_string()),
        "{out:?}"
    );
    // SIGTERM to pmx run itself (the unshare's child, PID 1 inside).
    let run = child_of(fg.pid).expect("pmx run under unshare");
    // SAFETY: kill(2) of a pid we found as our child's child.
    unsafe {
        libc::kill(run, libc::SIGTERM);
    }
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert!(fg.stdout().contains(&"0|orph | graceful stop".to_string()));
}

#[test]
fn as_pid_1_run_exits_1_when_its_app_ends_errored() {
    let t = TestHome::new();
    let Some(mut fg) = as_pid_1(
        &t,
        &["bash -c 'exit 2'", "--name", "bad", "--max-restarts", "2"],
    ) else {
        return;
    };
    assert_eq!(fg.exit_code(DEADLINE), Some(1));
}

#[test]
fn pmx_kill_and_pmx_stop_against_the_run_s_home_end_it_cleanly() {
    let t = TestHome::new();
    let s = script(&t, "polite.sh", POLITE);
    let mut fg = Fg::run(&t, &[&s, "--name", "web"]);
    fg.wait_line(false, "the app's start", |l| l.ends_with("to-out"));
    t.wait_status("web", "online");
    // Stopped on request: a clean end, and run ends with its last app.
    t.ok(&["stop", "web"]);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));

    let t = TestHome::new();
    let s = script(&t, "polite.sh", POLITE);
    let mut fg = Fg::run(&t, &[&s, "--name", "web"]);
    fg.wait_line(false, "the app's start", |l| l.ends_with("to-out"));
    t.wait_status("web", "online");
    t.ok(&["kill"]);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert!(fg.stdout().contains(&"0|web | graceful stop".to_string()));
}
