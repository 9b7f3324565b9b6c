//! Links another user plants and the modes of pmx's files (issue 18, items 4, 5, 11): a
//! log path or a `PMX_HOME` reached through another user's link is refused (a log fault,
//! a one-line error) and its target left alone; a link of pmx's own user keeps working;
//! every file pmx creates is 0600 and every directory 0700, whatever the umask. The tests
//! that plant another user's link need root (to act as `nobody` with `setpriv`); without
//! it they say so and check nothing.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

/// `nobody`, the unprivileged user every Linux has.
const NOBODY: u32 = 65534;

fn root(what: &str) -> bool {
    let is_root = nix::unistd::geteuid().is_root();
    if !is_root {
        eprintln!("not root: cannot act as another user, so {what} is not tested");
    }
    is_root
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Run `argv` as `nobody` (setpriv, no groups); assert it succeeded.
fn as_nobody(argv: &[&str]) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(argv)
        .output()
        .expect("setpriv");
    assert!(
        out.status.success(),
        "as nobody {argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh directory right under /tmp (whose ancestors `nobody` can cross, unlike the
/// harness's 0700 temp dir) with `mode`, owned by `uid`.
fn shared_dir(mode: u32, uid: u32) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pmx-sec-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid)).expect("chown");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
    dir
}

/// A root-owned file the attacker aims at, with one line in it.
fn victim(t: &TestHome) -> PathBuf {
    let p = t.path("victim");
    std::fs::write(&p, "root's own line\n").expect("victim");
    p
}

fn describe(t: &TestHome, name: &str) -> Value {
    let text = t.ok(&["describe", name, "--json"]);
    match serde_json::from_str(&text) {
        Ok(Value::Array(mut rows)) if !rows.is_empty() => rows.swap_remove(0),
        other => panic!("describe --json: {other:?}: {text}"),
    }
}

/// Wait until `describe name` shows a log fault containing `needle`; answers the fault.
fn wait_fault(t: &TestHome, name: &str, needle: &str) -> String {
    let mut last = Value::Null;
    let ok = wait_for(DEADLINE, || {
        last = describe(t, name);
        last["log_fault"]
            .as_str()
            .is_some_and(|f| f.contains(needle))
    });
    assert!(ok, "no log fault with {needle:?}; describe: {last:#}");
    last["log_fault"].as_str().unwrap_or_default().to_string()
}

fn start_ticker(t: &TestHome, out: &Path) {
    t.ok(&["start", &app("ticker.sh"), "--name", "tick", "-o", s(out)]);
    t.wait_status("tick", "online");
}

#[test]
fn a_log_link_another_user_planted_in_a_sticky_directory_is_refused_as_a_log_fault() {
    if !root("a planted log link") {
        return;
    }
    let t = TestHome::new();
    let victim = victim(&t);
    let shared = shared_dir(0o1777, 0);
    let out = shared.path().join("out.log");
    as_nobody(&["ln", "-s", s(&victim), s(&out)]);

    start_ticker(&t, &out);
    let fault = wait_fault(&t, "tick", "is a link owned by uid 65534");
    assert!(
        fault.starts_with(&format!("cannot write {}: ", out.display())),
        "{fault}"
    );
    // The error stream is unaffected; the target never got a line.
    let err = t.home.join("logs/tick-error.log");
    assert!(wait_for(DEADLINE, || lines(&err).len() >= 2), "err lines");
    t.ok(&["flush", "tick"]);
    t.ok(&["reloadLogs"]);
    assert!(wait_for(DEADLINE, || lines(&err).len() >= 2), "err lines");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "root's own line\n",
        "neither appended to nor truncated through the link"
    );
    let row = t.row("tick");
    assert_eq!(row["status"], "online", "the app runs on: {row}");
}

#[test]
fn a_regular_log_file_another_user_planted_in_a_sticky_directory_is_refused_as_a_log_fault() {
    if !root("a planted log file") {
        return;
    }
    let t = TestHome::new();
    let shared = shared_dir(0o1777, 0);
    let out = shared.path().join("out.log");
    // Another user creates the file first, readable by all, hoping root appends to it.
    as_nobody(&["sh", "-c", &format!("umask 0; : > {}", s(&out))]);
    start_ticker(&t, &out);
    let fault = wait_fault(
        &t,
        "tick",
        "a file of uid 65534 in a directory others can write",
    );
    assert!(fault.contains(s(&out)), "{fault}");
    let err = t.home.join("logs/tick-error.log");
    assert!(wait_for(DEADLINE, || lines(&err).len() >= 2), "err lines");
    assert_eq!(
        std::fs::read_to_string(&out).expect("planted"),
        "",
        "nothing of the app's reached the planted file"
    );
    assert_eq!(t.row("tick")["status"], "online", "the app runs on");
}

#[test]
fn a_log_file_swapped_for_another_users_link_after_opening_is_not_reopened_through_it() {
    if !root("a log file swapped for a link") {
        return;
    }
    let t = TestHome::new();
    let victim = victim(&t);
    // The app's user owns the directory its logs go to: it may replace what is in it.
    let dir = shared_dir(0o755, NOBODY);
    let out = dir.path().join("out.log");
    start_ticker(&t, &out);
    assert!(wait_for(DEADLINE, || lines(&out).len() >= 3), "lines land");
    let mode = std::fs::metadata(&out).expect("out").mode() & 0o7777;
    assert_eq!(mode, 0o600, "a new log file is 0600: {mode:o}");

    let tmp = dir.path().join("swap");
    as_nobody(&["ln", "-s", s(&victim), s(&tmp)]);
    as_nobody(&["mv", "-f", s(&tmp), s(&out)]);
    let fault = wait_fault(&t, "tick", "is a link owned by uid 65534");
    assert!(fault.contains(s(&out)), "{fault}");
    t.ok(&["reloadLogs"]);
    t.ok(&["flush", "tick"]);
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "root's own line\n",
        "the reopen check did not follow the link"
    );
    // The link removed, the file is created again and the fault clears.
    std::fs::remove_file(&out).expect("remove the link");
    let ok = wait_for(DEADLINE, || describe(&t, "tick")["log_fault"].is_null());
    assert!(ok, "the fault clears once the link is gone");
    assert!(
        wait_for(DEADLINE, || lines(&out).len() >= 2),
        "lines land again"
    );
}

#[test]
fn a_log_link_made_by_pmx_own_user_is_followed() {
    let t = TestHome::new();
    let real = t.path("real.log");
    let link = t.path("out.log");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    start_ticker(&t, &link);
    assert!(
        wait_for(DEADLINE, || lines(&real).len() >= 3),
        "lines land in the target"
    );
    assert!(describe(&t, "tick")["log_fault"].is_null());
    t.ok(&["reloadLogs"]);
    let have = lines(&real).len();
    assert!(
        wait_for(DEADLINE, || lines(&real).len() >= have + 3),
        "and keep landing"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
}

/// `pmx args…` with `PMX_HOME=home`.
fn pmx_in(home: &Path, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(PMX);
    c.args(args).env("PMX_HOME", home).current_dir("/");
    run_with_timeout(c, std::time::Duration::from_secs(60))
}

#[test]
fn a_pmx_home_linked_by_another_user_is_refused_and_its_target_left_alone() {
    if !root("a planted PMX_HOME link") {
        return;
    }
    let t = TestHome::new();
    let target = t.path("root-dir");
    std::fs::create_dir(&target).expect("target");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let ww = shared_dir(0o1777, 0);
    let home = ww.path().join("home");
    as_nobody(&["ln", "-s", s(&target), s(&home)]);

    for args in [&["list"][..], &["ping"], &["daemon"]] {
        let out = pmx_in(&home, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "pmx {args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("{} is a link owned by uid 65534", home.display())),
            "pmx {args:?}: {err}"
        );
    }
    let meta = std::fs::metadata(&target).expect("target");
    assert_eq!(meta.mode() & 0o7777, 0o755, "not chmodded");
    assert_eq!(
        std::fs::read_dir(&target).expect("read").count(),
        0,
        "nothing created in the target"
    );
}

#[test]
fn a_pmx_home_linked_by_its_own_user_keeps_working() {
    let t = TestHome::new();
    let real = t.path("real-home");
    std::fs::create_dir(&real).expect("real home");
    let link = t.path("home");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let out = pmx_in(&link, &["start", &app("sleeper.sh"), "--name", "s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        real.join("pmx.sock").exists(),
        "the socket is in the target"
    );
    let mode = std::fs::metadata(&real).expect("real").mode() & 0o7777;
    assert_eq!(mode, 0o700, "the target is made private");
    let out = pmx_in(&link, &["kill"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every entry under `dir` with its mode (permission bits), recursively.
fn modes(dir: &Path, into: &mut Vec<(PathBuf, bool, u32)>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let meta = std::fs::symlink_metadata(e.path()).expect("lstat");
        into.push((e.path(), meta.is_dir(), meta.mode() & 0o7777));
        if meta.is_dir() {
            modes(&e.path(), into);
        }
    }
}

#[test]
fn files_under_pmx_home_are_private_whatever_the_umask() {
    let t = TestHome::new();
    let outside = t.path("logs-outside/app.log");
    let made_by_app = t.path("made-by-app");
    // The CLI, and so the daemon it spawns, run under umask 000.
    let script = format!(
        "umask 000; exec {PMX} start {} --name tick -e {}",
        app("ticker.sh"),
        s(&outside)
    );
    let out = run_with_timeout(
        {
            let mut c = Command::new("sh");
            c.args(["-c", &script])
                .env("PMX_HOME", &t.home)
                .current_dir(&t.work);
            c
        },
        std::time::Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.wait_status("tick", "online");
    // An app keeps the umask it was started with: only pmx's own files are private.
    let touch = format!("touch {}; exec sleep 3600", s(&made_by_app));
    t.ok(&["start", "sh", "--name", "toucher", "--", "-c", &touch]);
    assert!(wait_for(DEADLINE, || made_by_app.exists()), "the app ran");
    assert!(
        wait_for(DEADLINE, || lines(&t.home.join("logs/tick-out.log")).len()
            >= 3
            && !lines(&outside).is_empty()),
        "log lines land"
    );
    let app_mode = std::fs::metadata(&made_by_app).expect("app file").mode() & 0o777;
    assert_eq!(
        app_mode, 0o666,
        "the app's own file follows its umask (000)"
    );

    let home_mode = std::fs::metadata(&t.home).expect("home").mode() & 0o7777;
    assert_eq!(home_mode, 0o700, "the home");
    let mut all = Vec::new();
    modes(&t.home, &mut all);
    for want in ["pmx.sock", "pmx.pid", "pmx.lock", "pmx.log", "logs", "pids"] {
        assert!(
            all.iter().any(|(p, _, _)| p.ends_with(want)),
            "{want} exists: {all:?}"
        );
    }
    assert!(all
        .iter()
        .any(|(p, _, _)| p.starts_with(t.home.join("pids"))
            && p.extension().is_some_and(|e| e == "pid")));
    for (path, dir, mode) in &all {
        let want = if *dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", path.display());
    }
    // A log file outside the home, and the directory made for it.
    let m = std::fs::metadata(&outside).expect("outside").mode() & 0o7777;
    assert_eq!(m, 0o600, "{} is {m:o}", outside.display());
    let parent = outside.parent().expect("parent");
    let m = std::fs::metadata(parent).expect("dir").mode() & 0o7777;
    assert_eq!(m, 0o700, "{} is {m:o}", parent.display());
}

/// A script writing 50-byte lines every 10 ms (5 KB/s) to stdout, in the work directory.
fn chatty(t: &TestHome) -> PathBuf {
    let p = t.path("chatty.sh");
    std::fs::write(
        &p,
        "#!/bin/sh\nwhile :; do echo 'a line of fifty bytes, give or take a few ones'; sleep 0.01; done\n",
    )
    .expect("script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// Start `chatty` with its stdout in `out`, rotated at 1 KiB, two files kept.
fn start_rotated(t: &TestHome, out: &Path, compress: bool) {
    let eco = t.path("eco.ron");
    let text = format!(
        "Ecosystem(apps: [App(name: \"chat\", script: {:?}, logs: (out_file: {:?}, \
         rotate: Some((max_size: \"1K\", interval: None, keep: 2, compress: {compress}))))])",
        s(&chatty(t)),
        s(out)
    );
    std::fs::write(&eco, text).expect("eco");
    t.ok(&["start", s(&eco)]);
    t.wait_status("chat", "online");
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).map(|m| m.mode() & 0o7777).unwrap_or(0)
}

#[test]
fn rotation_never_writes_through_a_link_planted_under_a_compressed_files_name() {
    if !root("a link planted under a rotated name") {
        return;
    }
    let t = TestHome::new();
    let victim = victim(&t);
    let shared = shared_dir(0o1777, 0);
    let out = shared.path().join("out.log");
    // Before the first rotation: the temporary name of the compressed copy.
    as_nobody(&[
        "ln",
        "-s",
        s(&victim),
        s(&shared.path().join("out.log.1.gz.tmp")),
    ]);
    start_rotated(&t, &out, true);
    let gz = shared.path().join("out.log.2.gz");
    assert!(
        wait_for(DEADLINE, || gz.exists()),
        "two rotations, compressed"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "root's own line\n",
        "the victim was not overwritten with gzip data"
    );
    // The app goes on writing, so rotations go on: a file may be between its rename and
    // its successor's creation at any one moment.
    let gz1 = shared.path().join("out.log.1.gz");
    assert!(
        wait_for(DEADLINE, || mode(&gz1) == 0o600),
        "out.log.1.gz: {:o}",
        mode(&gz1)
    );
    assert!(
        wait_for(DEADLINE, || mode(&out) == 0o600),
        "out.log: {:o}",
        mode(&out)
    );
}

#[test]
fn a_rotated_log_file_is_created_again_with_the_mode_its_user_gave_it() {
    let t = TestHome::new();
    let out = t.path("out.log");
    start_rotated(&t, &out, false);
    assert!(wait_for(DEADLINE, || out.exists()), "the log file");
    assert_eq!(mode(&out), 0o600, "a new log file is 0600");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let first = t.path("out.log.1");
    assert!(
        wait_for(DEADLINE, || mode(&first) == 0o640),
        "the chmodded file rotated: {:o}",
        mode(&first)
    );
    assert_eq!(
        mode(&out),
        0o640,
        "its successor has its mode (logrotate's create)"
    );
}
