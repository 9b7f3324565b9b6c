//! `pmx monit` in a real terminal: a tmux server of its own (`tmux -S <socket in the
//! test's temp dir>`, killed at the end of each test), keys sent with `send-keys`, the screen read with
//! `capture-pane -p`. Skipped, with the reason printed, where tmux is not installed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A private tmux server, killed when dropped.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    /// A server with one 160×48 window running `command` (through `sh -c`); answers the
    /// server and the pid of the pane's process. None (a printed reason) without tmux.
    fn start(t: &TestHome, command: &str) -> Option<(Tmux, i32)> {
        let installed = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !tool_available(installed, "tmux is not installed (.ci/run installs it)") {
            return None;
        }
        let tmux = Tmux {
            socket: t.path("tmux.sock"),
        };
        let out = tmux
            .cmd()
            .args(["new-session", "-d", "-x", "160", "-y", "48"])
            .args(["-P", "-F", "#{pane_pid}", command])
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("tmux prints the pane's pid");
        Some((tmux, pid))
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S")
            .arg(&self.socket)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null());
        c
    }

    /// The pane's text now.
    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen satisfies `cond`; answers it.
    fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let seen = wait_for(DEADLINE, || {
            last = self.screen();
            cond(&last)
        });
        assert!(seen, "timed out waiting for {what}; the screen:\n{last}");
        last
    }

    /// Type `keys` (tmux key names: `j`, `Escape`, `C-c`).
    fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .arg("send-keys")
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// `pmx monit` in `t`'s home, followed by its exit code and the terminal's modes, then
/// a pause that keeps the pane open for the test to read it.
fn monit_then_report(t: &TestHome) -> String {
    format!(
        "env PMX_HOME='{}' '{PMX}' monit; echo MONIT-EXIT=$?; stty -a; exec sleep 600",
        t.home.display()
    )
}

/// The screen shows monit's exit status and all of `stty -a` after it (its last line
/// ends with the `extproc` mode), not only the first lines of it.
fn stty_shown(screen: &str) -> bool {
    screen
        .split_once("MONIT-EXIT=")
        .is_some_and(|(_, after)| after.contains("extproc"))
}

/// The cells of the table row of the app `name` (`│0 name status cpu mem ↺ uptime│`).
fn table_row(screen: &str, name: &str) -> Option<Vec<String>> {
    screen.lines().find_map(|l| {
        let cells: Vec<String> = l
            .split('│')
            .nth(1)?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        (cells.get(1).map(String::as_str) == Some(name)).then_some(cells)
    })
}

/// A cpu cell with a figure: `12%` (not `-`).
fn is_cpu(cell: &str) -> bool {
    cell.strip_suffix('%')
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// A memory cell with a figure: `512b`, `12.3kb`, `45.0mb`, `1.2gb` (not `-`: monit's
/// `list` keeps the daemon sampling, so figures come within a second or two).
fn is_memory(cell: &str) -> bool {
    let number = ["kb", "mb", "gb", "b"]
        .iter()
        .find_map(|u| cell.strip_suffix(u));
    number.is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
}

#[test]
fn monit_shows_every_app_with_its_figures_and_the_selected_ones_logs() {
    let t = TestHome::new();
    t.ok(&["start", &app("ticker.sh"), "--name", "ticker"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "sleepy"]);
    t.wait_status("ticker", "online");
    t.wait_status("sleepy", "online");
    let Some((tmux, _)) = Tmux::start(&t, &monit_then_report(&t)) else {
        return;
    };
    let screen = tmux.wait_screen("both apps online in the table, with figures", |s| {
        ["ticker", "sleepy"].iter().all(|n| {
            table_row(s, n).is_some_and(|c| {
                c.len() == 7 && c[2] == "online" && is_cpu(&c[3]) && is_memory(&c[4])
            })
        })
    });
    for name in ["ticker", "sleepy"] {
        let cells = table_row(&screen, name).expect("row");
        // id name status cpu mem ↺ uptime
        assert_eq!(cells.len(), 7, "{name}: {cells:?}");
        assert!(is_cpu(&cells[3]), "{name}'s cpu cell: {cells:?}");
        assert!(is_memory(&cells[4]), "{name}'s mem cell: {cells:?}");
    }
    assert!(screen.contains("load"), "host vitals:\n{screen}");
    // The first app is selected: its live lines come.
    tmux.wait_screen("ticker's log lines", |s| {
        s.contains("logs ticker (0)") && s.contains("tick ")
    });
    // `?` shows the keys; any key closes the help.
    tmux.keys(&["?"]);
    tmux.wait_screen("the help", |s| s.contains("restart the selected instance"));
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the help closed", |s| {
        !s.contains("restart the selected instance")
    });
    tmux.keys(&["q"]);
    let after = tmux.wait_screen("monit's exit", |s| s.contains("MONIT-EXIT="));
    assert!(after.contains("MONIT-EXIT=0"), "{after}");
}

#[test]
fn q_quits_monit_and_gives_the_terminal_back_as_it_was() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "sleepy"]);
    let Some((tmux, _)) = Tmux::start(&t, &monit_then_report(&t)) else {
        return;
    };
    tmux.wait_screen("the table", |s| table_row(s, "sleepy").is_some());
    tmux.keys(&["q"]);
    let after = tmux.wait_screen("monit's exit and stty -a", stty_shown);
    assert!(after.contains("MONIT-EXIT=0"), "{after}");
    // The alternate screen is left (the table is gone) and raw mode is off.
    assert!(!after.contains("processes"), "{after}");
    let modes: Vec<&str> = after.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig", "opost"] {
        assert!(modes.contains(&mode), "{mode} restored: {after}");
    }
}

#[test]
fn ctrl_c_quits_monit_and_restores_the_terminal() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "sleepy"]);
    let Some((tmux, _)) = Tmux::start(&t, &monit_then_report(&t)) else {
        return;
    };
    tmux.wait_screen("the table", |s| table_row(s, "sleepy").is_some());
    tmux.keys(&["C-c"]);
    let after = tmux.wait_screen("monit's exit and stty -a", stty_shown);
    assert!(after.contains("MONIT-EXIT=0"), "{after}");
    assert!(after.split_whitespace().any(|w| w == "icanon"), "{after}");
}

#[test]
fn r_in_monit_restarts_the_selected_app_only() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "first"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "second"]);
    t.wait_status("second", "online");
    let Some((tmux, _)) = Tmux::start(&t, &monit_then_report(&t)) else {
        return;
    };
    tmux.wait_screen("both rows", |s| {
        table_row(s, "first").is_some() && table_row(s, "second").is_some()
    });
    tmux.keys(&["j"]);
    tmux.wait_screen("second selected", |s| s.contains("logs second (1)"));
    tmux.keys(&["r"]);
    t.wait_row("second", "a restart", |r| r["restarts"] == 1);
    tmux.wait_screen("the restart shown", |s| {
        s.contains("restarted second (1)") && table_row(s, "second").is_some_and(|c| c[5] == "1")
    });
    assert_eq!(t.row("first")["restarts"], 0);
    tmux.keys(&["q"]);
    tmux.wait_screen("monit's exit", |s| s.contains("MONIT-EXIT=0"));
}

#[test]
fn monit_exits_within_2s_when_its_tmux_pane_is_killed() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "sleepy"]);
    // monit itself is the pane's process (exec: no shell between).
    let command = format!("exec env PMX_HOME='{}' '{PMX}' monit", t.home.display());
    let Some((tmux, pid)) = Tmux::start(&t, &command) else {
        return;
    };
    tmux.wait_screen("the table", |s| table_row(s, "sleepy").is_some());
    assert!(alive(pid), "monit runs as the pane's process {pid}");
    let killed = tmux
        .cmd()
        .arg("kill-pane")
        .status()
        .expect("tmux kill-pane");
    assert!(killed.success());
    let start = Instant::now();
    assert!(
        wait_for(Duration::from_secs(2), || !alive(pid)),
        "monit {pid} still runs 2 s after its pane was killed"
    );
    eprintln!(
        "monit exited {:?} after its pane was killed",
        start.elapsed()
    );
}

#[test]
fn monit_exits_within_2s_when_its_terminal_hangs_up_and_sighup_is_ignored() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "sleepy"]);
    // `nohup`-like: SIGHUP ignored, so only the read of the dead terminal (EIO) tells.
    let command = format!(
        "trap '' HUP; exec env PMX_HOME='{}' '{PMX}' monit",
        t.home.display()
    );
    let Some((tmux, pid)) = Tmux::start(&t, &command) else {
        return;
    };
    tmux.wait_screen("the table", |s| table_row(s, "sleepy").is_some());
    let killed = tmux
        .cmd()
        .arg("kill-pane")
        .status()
        .expect("tmux kill-pane");
    assert!(killed.success());
    assert!(
        wait_for(Duration::from_secs(2), || !alive(pid)),
        "monit {pid} still runs 2 s after its terminal hung up"
    );
}

#[test]
fn monit_says_so_and_exits_1_when_the_daemon_goes_away() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "sleepy"]);
    let Some((tmux, _)) = Tmux::start(&t, &monit_then_report(&t)) else {
        return;
    };
    tmux.wait_screen("the table", |s| table_row(s, "sleepy").is_some());
    t.ok(&["kill"]);
    let after = tmux.wait_screen("monit's exit and the terminal's modes", stty_shown);
    assert!(after.contains("MONIT-EXIT=1"), "{after}");
    assert!(after.contains("pmx: the daemon went away"), "{after}");
    assert!(after.split_whitespace().any(|w| w == "icanon"), "{after}");
}

#[test]
fn monit_without_a_terminal_fails_in_one_line_with_exit_2() {
    let t = TestHome::new();
    let err = t.fails(&["monit"], 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("monit needs a terminal"), "{err}");
}

#[test]
fn a_small_terminal_keeps_the_process_list_with_ids_and_names() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "sleepy"]);
    let Some((tmux, _)) = Tmux::start(&t, &monit_then_report(&t)) else {
        return;
    };
    tmux.wait_screen("the table", |s| table_row(s, "sleepy").is_some());
    let ok = tmux
        .cmd()
        .args(["resize-window", "-x", "40", "-y", "10"])
        .status()
        .expect("tmux resize-window");
    assert!(ok.success());
    // The charts and the log box give way; the row keeps its id, name and status.
    let screen = tmux.wait_screen("the row in a 40x10 window", |s| {
        s.lines().count() <= 10 && table_row(s, "sleepy").is_some_and(|c| c.len() >= 3)
    });
    let cells = table_row(&screen, "sleepy").expect("row");
    assert_eq!(cells[2], "online", "{screen}");
}
