//! `pmx dev` (pm2-dev, nodemon): the foreground runtime under a private temporary
//! `PMX_HOME`, watch on, an app that ends waits for the next change, Ctrl-C ends
//! everything.

use std::path::PathBuf;

use crate::harness::*;
use crate::run::{script, Fg};

/// `pmx dev args…` from `t`'s work directory, its private home made under `t`'s temp
/// directory (beside the work directory, not inside the watched tree).
fn dev(t: &TestHome, args: &[&str]) -> (Fg, PathBuf) {
    let mut all = vec!["dev"];
    all.extend_from_slice(args);
    let tmp = t.home.parent().expect("temp dir").to_path_buf();
    let mut c = t.cmd(&all);
    c.env("TMPDIR", &tmp);
    let fg = Fg::spawn(c, format!("PMX_HOME={}", t.home.display()));
    let home = tmp.join(format!("pmx-dev-{}", fg.pid));
    (fg, home)
}

/// `pmx list --json` against the dev runtime's private home.
fn list(home: &std::path::Path) -> Vec<serde_json::Value> {
    let out = run_with_timeout(
        {
            let mut c = std::process::Command::new(PMX);
            c.args(["list", "--json"]).env("PMX_HOME", home);
            c
        },
        DEADLINE,
    );
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// An app that says "dev start N" (N counting its starts, in `REC/count`), writes its pid
/// to `REC/pid`, crashes when `REC/crash` exists, and says "bye" on SIGINT/SIGTERM. REC,
/// its first argument, is outside the watched tree (its own writes restart nothing).
const DEV_APP: &str = r#"trap 'echo bye; exit 0' INT TERM
r="$1"
n=$(cat "$r/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$r/count"
echo $$ > "$r/pid"
echo "dev start $n"
if [ -e "$r/crash" ]; then echo "boom" >&2; exit 1; fi
while true; do sleep 0.2 & wait $!; done
"#;

/// The records directory of [`DEV_APP`]: beside the work directory, not watched.
fn rec(t: &TestHome) -> PathBuf {
    let r = t.home.parent().expect("temp dir").join("rec");
    std::fs::create_dir_all(&r).expect("rec dir");
    r
}

/// How many stdout (`err`: stderr) lines of `fg` are `line`.
fn count(fg: &Fg, err: bool, line: &str) -> usize {
    let lines = if err { fg.stderr() } else { fg.stdout() };
    lines.iter().filter(|l| *l == line).count()
}

const WAITING: &str = "0|app | exited with code 1; waiting for file changes before restart";

#[test]
fn dev_prints_the_app_s_lines_and_exits_0_on_sigint_leaving_no_process_nor_home() {
    let t = TestHome::new();
    let s = script(&t, "app.sh", DEV_APP);
    let r = rec(&t);
    let (mut fg, home) = dev(&t, &[&s, "--name", "app", "--", r.to_str().expect("utf8")]);
    fg.wait_line(false, "the app's line", |l| l == "0|app | dev start 1");
    assert!(
        home.join("pmx.sock").exists(),
        "its own home: {}",
        home.display()
    );
    assert!(!t.home.exists(), "the caller's PMX_HOME is never touched");
    let row = &list(&home)[0];
    assert_eq!(row["watching"], true, "{row}");
    let pid = read_pid(&r.join("pid"));
    fg.signal(libc::SIGINT);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert!(!alive(pid), "the app still runs");
    assert!(!home.exists(), "the private home is left behind");
    let err = fg.stderr().join("\n");
    assert!(!err.contains("pmx:"), "nothing alarming: {err}");
}

#[test]
fn dev_restarts_the_app_on_a_touch_of_a_watched_file() {
    let t = TestHome::new();
    let s = script(&t, "app.sh", DEV_APP);
    let r = rec(&t);
    let (mut fg, _home) = dev(&t, &[&s, "--name", "app", "--", r.to_str().expect("utf8")]);
    fg.wait_line(false, "the first start", |l| l == "0|app | dev start 1");
    std::fs::write(t.path("lib.sh"), "changed\n").expect("touch");
    fg.wait_line(false, "the restart", |l| l == "0|app | dev start 2");
    // The first process was stopped gracefully (its last line comes through its own pipe,
    // so it may be printed after the new process's first line).
    fg.wait_line(false, "the first process's goodbye", |l| l == "0|app | bye");
    assert_eq!(count(&fg, false, "0|app | bye"), 1, "{:?}", fg.stdout());
    fg.signal(libc::SIGINT);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert_eq!(count(&fg, false, "0|app | bye"), 2, "{:?}", fg.stdout());
}

#[test]
fn a_crashed_app_waits_for_a_change_then_a_change_starts_it_once() {
    let t = TestHome::new();
    let r = rec(&t);
    std::fs::write(r.join("crash"), "").expect("crash flag");
    let s = script(&t, "app.sh", DEV_APP);
    let (mut fg, home) = dev(&t, &[&s, "--name", "app", "--", r.to_str().expect("utf8")]);
    fg.wait_line(true, "the waiting notice", |l| l == WAITING);
    fg.wait_line(true, "the app's err line", |l| l == "0|app | boom");
    // Down, not restarted: its policy is Never.
    let row = &list(&home)[0];
    assert_eq!(row["status"], "stopped", "{row}");
    assert_eq!(row["restarts"], 0, "{row}");
    assert_eq!(lines(&r.join("count")), ["1"]);
    assert!(fg.running(), "dev ended with its app");
    // A change starts it once: it crashes again and waits again.
    std::fs::write(t.path("fix.sh"), "still broken\n").expect("touch");
    assert!(
        wait_for(DEADLINE, || count(&fg, true, WAITING) == 2),
        "{:?}",
        fg.stderr()
    );
    assert_eq!(lines(&r.join("count")), ["2"]);
    assert_eq!(count(&fg, false, "0|app | dev start 2"), 1);
    assert_eq!(list(&home)[0]["status"], "stopped");
    fg.signal(libc::SIGTERM);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert!(!home.exists());
}
