//! `uid`/`gid` (`--uid`/`--gid`): an app runs as the user it names, with that user's
//! groups as `su`/`runuser` give them, and a user or group that does not exist refuses
//! the start instead of leaving the app to run as the daemon's user (root). These tests
//! need root (the daemon's setuid); as another user they check nothing and say so.

use std::path::Path;

use crate::harness::*;

/// `nobody`, the unprivileged user every Linux has (uid 65534).
const NOBODY: u32 = 65534;

/// True when the tests run as root (as here and in CI); otherwise they return early.
fn root() -> bool {
    let is_root = nix::unistd::geteuid().is_root();
    if !is_root {
        eprintln!("not root: --uid/--gid cannot be tested");
    }
    is_root
}

/// The numbers of the `Uid:`, `Gid:` and `Groups:` lines of `/proc/<pid>/status`.
fn ids(pid: i64) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {status}"))
            .split_whitespace()
            .map(|n| n.parse().expect("a number"))
            .collect()
    };
    (line("Uid:"), line("Gid:"), line("Groups:"))
}

/// nobody's primary gid and supplementary groups, as `id` reports them.
fn nobody_groups() -> (u32, Vec<u32>) {
    let out = std::process::Command::new("id")
        .args(["-G", "nobody"])
        .output()
        .expect("id");
    let all: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().expect("a gid"))
        .collect();
    (all[0], all)
}

#[test]
fn an_app_started_with_uid_runs_as_that_user_with_its_groups_and_is_listed_so() {
    if !root() {
        return;
    }
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "nb",
        "--uid",
        "nobody",
    ]);
    let row = t.wait_status("nb", "online");
    let pid = row["pid"].as_i64().expect("pid");
    let (uid, gid, groups) = ids(pid);
    let (primary, mut want) = nobody_groups();
    assert_eq!(uid, vec![NOBODY; 4], "uid of {pid}");
    // With a uid and no gid: the user's primary group, never the daemon's gid 0.
    assert_eq!(gid, vec![primary; 4], "gid of {pid}");
    let mut got = groups;
    got.sort_unstable();
    want.sort_unstable();
    want.dedup();
    assert_eq!(got, want, "supplementary groups of {pid}");
    assert!(!got.contains(&0), "root's group kept: {got:?}");
    // list and describe show whom the app runs as, not the daemon's user.
    assert_eq!(row["user"], "nobody", "{row}");
    let d: serde_json::Value =
        serde_json::from_str(&t.ok(&["describe", "nb", "--json"])).expect("json");
    assert_eq!(d[0]["user"], "nobody", "{d}");
}

#[test]
fn a_numeric_uid_is_shown_by_its_name_and_an_explicit_gid_wins() {
    if !root() {
        return;
    }
    let t = TestHome::new();
    let root_gid = "0";
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "n",
        "--uid",
        &NOBODY.to_string(),
        "--gid",
        root_gid,
    ]);
    let row = t.wait_status("n", "online");
    let (uid, gid, _) = ids(row["pid"].as_i64().expect("pid"));
    assert_eq!((uid[0], gid[0]), (NOBODY, 0));
    assert_eq!(row["user"], "nobody", "{row}");
}

/// Start `args` and expect a refusal naming `field` and `who`; nothing is registered.
fn refused(t: &TestHome, args: &[&str], field: &str, who: &str) {
    let err = t.fails(args, 2);
    assert!(
        err.contains("app \"")
            && err.contains(&format!("{field}: "))
            && err.contains(who)
            && err.contains("cannot be found"),
        "{args:?}: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    if t.daemon_pid().is_some() {
        assert!(t.list().is_empty(), "{args:?} started something");
    }
}

#[test]
fn an_unknown_uid_or_gid_refuses_the_start_from_flags_and_from_a_file() {
    if !root() {
        return;
    }
    let t = TestHome::new();
    let s = app("sleeper.sh");
    refused(
        &t,
        &["start", &s, "--uid", "nosuchuser"],
        "uid",
        "\"nosuchuser\"",
    );
    refused(
        &t,
        &["start", &s, "--gid", "nosuchgroup"],
        "gid",
        "\"nosuchgroup\"",
    );
    refused(
        &t,
        &["start", &s, "--uid", "nobody", "--gid", "nosuchgroup"],
        "gid",
        "\"nosuchgroup\"",
    );
    let eco = t.path("eco.ron");
    for (field, value) in [("uid", "nosuchuser"), ("gid", "nosuchgroup")] {
        write(
            &eco,
            &format!(
                "Ecosystem(apps: [App(name: \"x\", script: \"{s}\"), \
                 App(name: \"bad\", script: \"{s}\", {field}: \"{value}\")])"
            ),
        );
        let eco = eco.to_str().expect("utf-8");
        refused(&t, &["start", eco], field, value);
        refused(&t, &["up", eco], field, value);
    }
    // The whole start failed: not even the good app of the file runs.
    assert!(t.processes().len() <= 1, "{:?}", t.processes());
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}
