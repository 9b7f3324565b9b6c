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

/// An app that says "dev start N" (N counting its starts, in `count`), writes its pid to
/// `pid`, crashes when `crash` exists, and says "bye" on SIGINT/SIGTERM.
const DEV_APP: &str = r#"trap 'echo bye; exit 0' INT TERM
n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
echo $$ > pid
echo "dev start $n"
if [ -e crash ]; then echo "boom" >&2; exit 1; fi
while true; do sleep 0.2 & wait $!; done
"#;

#[test]
fn dev_prints_the_app_s_lines_and_exits_0_on_sigint_leaving_no_process_nor_home() {
    let t = TestHome::new();
    let s = script(&t, "app.sh", DEV_APP);
    let (mut fg, home) = dev(&t, &[&s, "--name", "app"]);
    fg.wait_line(false, "the app's line", |l| l == "0|app | dev start 1");
    assert!(
        home.join("pmx.sock").exists(),
        "its own home: {}",
        home.display()
    );
    assert!(!t.home.exists(), "the caller's PMX_HOME is never touched");
    let row = &list(&home)[0];
    assert_eq!(row["watching"], true, "{row}");
    let pid = read_pid(&t.path("pid"));
    fg.signal(libc::SIGINT);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert!(!alive(pid), "the app still runs");
    assert!(!home.exists(), "the private home is left behind");
    let err = fg.stderr().join("\n");
    assert!(!err.contains("pmx:"), "nothing alarming: {err}");
}

#[test]
fn a_crashed_app_waits_for_a_change_instead_of_restarting() {
    let t = TestHome::new();
    std::fs::write(t.path("crash"), "").expect("crash flag");
    let s = script(&t, "app.sh", DEV_APP);
    let (mut fg, home) = dev(&t, &[&s, "--name", "app"]);
    fg.wait_line(true, "the waiting notice", |l| {
        l == "0|app | exited with code 1; waiting for file changes before restart"
    });
    fg.wait_line(true, "the app's err line", |l| l == "0|app | boom");
    // Down, not restarted: its policy is Never.
    let row = &list(&home)[0];
    assert_eq!(row["status"], "stopped", "{row}");
    assert_eq!(row["restarts"], 0, "{row}");
    assert_eq!(lines(&t.path("count")), ["1"]);
    assert!(fg.running(), "dev ended with its app");
    fg.signal(libc::SIGTERM);
    assert_eq!(fg.exit_code(DEADLINE), Some(0));
    assert!(!home.exists());
}
