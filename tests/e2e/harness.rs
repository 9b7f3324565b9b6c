//! The e2e harness: a [`TestHome`] per test (a private `PMX_HOME` in a temp dir), the real
//! `pmx` binary, and waits with deadlines. Its `Drop` runs `pmx kill`, then kills the
//! daemon by pid and anything still carrying this home in its environment, so a failed
//! assert never leaves a process behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `pmx` binary under test.
pub const PMX: &str = env!("CARGO_BIN_EXE_pmx");

/// Generous deadline for a condition on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The repository's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture app's absolute path.
pub fn app(name: &str) -> String {
    fixtures()
        .join("apps")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A private `PMX_HOME` and the helpers to drive pmx in it.
pub struct TestHome {
    tmp: tempfile::TempDir,
    /// `$PMX_HOME`.
    pub home: PathBuf,
    /// A scratch directory for the test's own files.
    pub work: PathBuf,
}

impl TestHome {
    /// A fresh home (short path: the socket path limit is 107 bytes).
    pub fn new() -> TestHome {
        let tmp = tempfile::Builder::new()
            .prefix("pmx-e2e-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let home = tmp.path().join("h");
        let work = tmp.path().join("w");
        std::fs::create_dir_all(&work).expect("work dir");
        TestHome { tmp, home, work }
    }

    /// A `pmx` command in this home, run from the work directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(PMX);
        c.args(args)
            .env("PMX_HOME", &self.home)
            .current_dir(&self.work)
            .stdin(Stdio::null());
        c
    }

    /// Run `pmx args…` to completion (killed after 120 s).
    pub fn run(&self, args: &[&str]) -> Output {
        run_with_timeout(self.cmd(args), Duration::from_secs(120))
    }

    /// Run `pmx args…`, assert exit 0, answer stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok(&self.run(args), &format!("pmx {args:?}"))
    }

    /// Run `pmx args…`, assert exit `code`, answer stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "pmx {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `pmx list --json`.
    pub fn list(&self) -> Vec<Value> {
        let text = self.ok(&["list", "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("list --json: {e}: {text}"))
    }

    /// The row of the process named `name` (first instance).
    pub fn row(&self, name: &str) -> Value {
        self.list()
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no process named {name}"))
    }

    /// Wait until `name`'s row satisfies `cond`; answers that row.
    pub fn wait_row(&self, name: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let found = wait_for(DEADLINE, || {
            last = self
                .list()
                .into_iter()
                .find(|p| p["name"] == name)
                .unwrap_or(Value::Null);
            cond(&last)
        });
        assert!(
            found,
            "{name}: timed out waiting for {what}; last row: {last}"
        );
        last
    }

    /// Wait for `name`'s status to be `status`.
    pub fn wait_status(&self, name: &str, status: &str) -> Value {
        self.wait_row(name, &format!("status {status}"), |r| r["status"] == status)
    }

    /// The daemon's pid, from `pmx.pid`.
    pub fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home.join("pmx.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// The fd holder's pid, from `fdholder.pid` (the daemon starts it: the process that
    /// keeps the apps' pipes and sockets open while no daemon runs).
    pub fn holder_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home.join("fdholder.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// A path in the work directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// Every live process whose environment carries this home (the daemon and the apps).
    pub fn processes(&self) -> Vec<i32> {
        processes_with_env(&format!("PMX_HOME={}", self.home.display()))
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        let daemon = self.daemon_pid();
        let holder = self.holder_pid();
        let _ = run_with_timeout(self.cmd(&["kill"]), Duration::from_secs(60));
        for pid in [daemon, holder, self.holder_pid()].into_iter().flatten() {
            if alive(pid) {
                kill9(pid);
            }
        }
        for pid in self.processes() {
            kill9(pid);
        }
    }
}

/// Assert that `out` is a success, showing its output otherwise; answer its stdout.
pub fn expect_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Start `fixtures/apps/tree.py` as `name` and wait for its two grandchildren; answers
/// (grandchild in its group, setsid'd grandchild).
pub fn start_tree(t: &TestHome, name: &str) -> (i32, i32) {
    t.ok(&[
        "start",
        &app("tree.py"),
        "--name",
        name,
        "--",
        t.work.to_str().expect("utf8"),
    ]);
    assert!(wait_for(DEADLINE, || t.path("setsid").exists()
        && t.path("grandchild").exists()));
    (read_pid(&t.path("grandchild")), read_pid(&t.path("setsid")))
}

/// The pid written in a file.
pub fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Poll `cond` until it holds or `deadline` passes (pauses grow to 50 ms).
pub fn wait_for(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    let mut pause = Duration::from_millis(5);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Run a command with a kill timer.
pub fn run_with_timeout(mut c: Command, limit: Duration) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().expect("spawn pmx");
    let pid = child.id() as i32;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !flag.load(std::sync::atomic::Ordering::Relaxed) {
            kill9(pid);
        }
    });
    let out = child.wait_with_output().expect("wait pmx");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    out
}

/// Whether `pid` is a live process (not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// SIGKILL `pid`.
pub fn kill9(pid: i32) {
    // SAFETY: kill(2) with a pid we know.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Live processes whose environment holds exactly `kv` (`KEY=value`).
pub fn processes_with_env(kv: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| *pid != me && alive(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|x| x == kv.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// The lines of a file (empty when missing).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Integer field of a row.
pub fn int(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

/// Whether a test that needs an outside tool (sshd, chromium, a validator, …) may run:
/// true when `available`; otherwise it prints `skipped: <what>` and returns false, so the
/// test can return early on a developer's machine. Under `PMX_TEST_REQUIRE_TOOLS=1`
/// (`.ci/run` sets it, having installed every tool) a missing tool fails the test
/// instead, so CI never passes a test that did not run.
pub fn tool_available(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("PMX_TEST_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("{what}, and PMX_TEST_REQUIRE_TOOLS=1 says every tool must be here");
    }
    eprintln!("skipped: {what}");
    false
}

/// The python that imports `module`: `PMX_TEST_PYTHON` (`.ci/run`'s venv), else the CI
/// venv's under `~/.cache/pmx-ci`, else python3; None when none does (see
/// [`tool_available`]).
pub fn python_with(module: &str) -> Option<String> {
    let venv = std::env::var("HOME")
        .map(|h| format!("{h}/.cache/pmx-ci/venv/bin/python3"))
        .unwrap_or_default();
    [
        std::env::var("PMX_TEST_PYTHON").unwrap_or_default(),
        venv,
        "python3".into(),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .find(|p| {
        Command::new(p)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}
