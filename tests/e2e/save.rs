//! `pmx save` / `pmx resurrect` / `dump.ron` (SPEC §2, §3, §7): what a save holds comes
//! back after `pmx kill` (names, arguments, every env layer, counts after `scale`, watch
//! and cron settings, groups, statuses), a second resurrect adds nothing, a damaged dump
//! falls back to `.bak`, an empty save needs `--force`, a full disk keeps the old dump,
//! and `pmx list` says when the running set is not the saved one.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const UNSYNCED: &str =
    "Current process list is not synchronized with saved list. Type 'pmx save' to synchronize.";

fn run(c: Command) -> std::process::Output {
    run_with_timeout(c, Duration::from_secs(120))
}

/// `pmx env <target>` as a map, without `PMX_TREE` (its generation part counts spawns).
fn env_of(t: &TestHome, target: &str) -> BTreeMap<String, String> {
    t.ok(&["env", target])
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .filter(|(k, _)| k != "PMX_TREE")
        .collect()
}

/// (id, name, status, group) of every row, by id.
fn rows(t: &TestHome) -> Vec<(i64, String, String, Value)> {
    t.list()
        .iter()
        .map(|r| {
            (
                int(r, "id"),
                r["name"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
                r["group"].clone(),
            )
        })
        .collect()
}

/// The rows with `launching` read as `online` (a restored app may still be spawning).
fn settled(t: &TestHome, want: usize) -> Vec<(i64, String, String, Value)> {
    let mut last = Vec::new();
    let ok = wait_for(DEADLINE, || {
        last = rows(t);
        last.len() == want && last.iter().all(|r| r.2 != "launching" && r.2 != "stopping")
    });
    assert!(ok, "rows never settled: {last:?}");
    last
}

/// An ecosystem with an odd name, arguments holding a newline, every env layer, a
/// watch and a cron setting, a group, and a plain app to stop.
fn write_eco(t: &TestHome) {
    std::fs::write(t.path("app.env"), "FROM_FILE=one\n").expect("env file");
    std::fs::create_dir_all(t.path("src")).expect("src");
    std::fs::write(
        t.path("eco.ron"),
        format!(
            r#"Ecosystem(
  apps: [
    App(name: "web api ☃", script: "{args}", args: ["{out}", "line one\nline two", "x y"],
        env: {{"K": "v"}}, envs: {{"prod": {{"MODE": "prod"}}}}, env_file: "app.env",
        cron_restart: "0 3 * * *", watch: Paths(["src"]), ignore_watch: ["*.log"]),
    App(name: "worker", script: "{sleeper}", instances: 2, exec_mode: Fork),
    App(name: "stop me", script: "{sleeper}"),
  ],
  groups: [Group(name: "backend", strategy: RestForOne, apps: ["worker", "web api ☃"])],
)
"#,
            args = app("args_dump.py"),
            sleeper = app("sleeper.sh"),
            out = t.path("args.json").display(),
        ),
    )
    .expect("eco");
}

#[test]
fn save_kill_resurrect_brings_back_names_args_env_layers_counts_watch_cron_groups_and_statuses() {
    let t = TestHome::new();
    write_eco(&t);
    let mut up = t.cmd(&["up", "eco.ron", "--env", "prod"]);
    up.env("PMX_E2E_CALLER", "saved caller");
    expect_ok(&run(up), "up");
    t.ok(&["scale", "worker", "3"]);
    t.ok(&["stop", "stop me"]);
    let saved = t.ok(&["save"]);
    assert!(
        saved.starts_with("saved 3 apps (5 instances) to ")
            && saved.trim_end().ends_with("dump.ron"),
        "{saved}"
    );
    let before = settled(&t, 5);
    let env_before: Vec<_> = before
        .iter()
        .map(|r| env_of(&t, &r.0.to_string()))
        .collect();
    let describe_before = t.ok(&["describe", "web api ☃"]);
    assert!(describe_before.contains("0 3 * * *"), "{describe_before}");
    let dump = std::fs::read_to_string(t.home.join("dump.ron")).expect("dump.ron");
    assert!(
        dump.contains("version: 1") && dump.contains("Paths("),
        "{dump}"
    );
    assert!(wait_for(DEADLINE, || t.path("args.json").exists()));
    std::fs::remove_file(t.path("args.json")).expect("args.json");

    t.ok(&["kill"]);
    // Another shell's environment does not replace the saved inherited layer.
    let mut res = t.cmd(&["resurrect"]);
    res.env("PMX_E2E_CALLER", "resurrecting shell");
    let out = expect_ok(&run(res), "resurrect");
    assert!(
        out.contains("resurrecting from ") && out.contains("dump.ron"),
        "{out}"
    );
    let after = settled(&t, 5);
    assert_eq!(after, before, "ids, names, statuses and groups");
    assert!(after.iter().any(|r| r.1 == "stop me" && r.2 == "stopped"));
    assert_eq!(after.iter().filter(|r| r.1 == "worker").count(), 3);
    assert_eq!(after[0].3, "backend");
    for (r, env) in after.iter().zip(&env_before) {
        let now = env_of(&t, &r.0.to_string());
        assert_eq!(&now, env, "the environment of id {}", r.0);
    }
    let web = env_of(&t, "web api ☃");
    for (k, v) in [
        ("PMX_E2E_CALLER", "saved caller"),
        ("FROM_FILE", "one"),
        ("K", "v"),
        ("MODE", "prod"),
    ] {
        assert_eq!(web.get(k).map(String::as_str), Some(v), "{k}");
    }
    // The arguments, newline included, reach the app unchanged.
    assert!(wait_for(DEADLINE, || t.path("args.json").exists()));
    let args: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(t.path("args.json")).expect("args"))
            .expect("json");
    assert_eq!(args, ["line one\nline two", "x y"]);
    let describe_after = t.ok(&["describe", "web api ☃"]);
    for line in ["0 3 * * *", "backend", "RestForOne", "eco.ron"] {
        assert!(describe_after.contains(line), "{line}: {describe_after}");
    }
    assert_eq!(t.row("web api ☃")["watching"], true);
    // The saved set is the running set again.
    assert!(!t.ok(&["list"]).contains(UNSYNCED));

    // A second resurrect adds nothing and says so.
    let again = t.ok(&["resurrect"]);
    assert!(again.contains("already registered"), "{again}");
    assert!(again.contains("\"web api ☃\""), "{again}");
    assert_eq!(settled(&t, 5), before);

    // `up --prune` still knows the file's apps (their source was saved).
    std::fs::write(
        t.path("eco.ron"),
        format!(
            r#"Ecosystem(apps: [App(name: "stop me", script: "{}")])"#,
            app("sleeper.sh")
        ),
    )
    .expect("eco");
    let plan = t.ok(&["up", "eco.ron", "--prune", "--dry-run"]);
    assert!(
        plan.contains("- worker") && plan.contains("- web api ☃"),
        "{plan}"
    );
}

#[test]
fn restart_update_env_then_save_keeps_the_new_env_and_resurrect_update_env_takes_the_shells() {
    let t = TestHome::new();
    std::fs::write(t.path("app.env"), "FROM_FILE=one\n").expect("env file");
    std::fs::write(
        t.path("eco.ron"),
        format!(
            r#"Ecosystem(apps: [App(name: "e", script: "{}", env_file: "app.env")])"#,
            app("sleeper.sh")
        ),
    )
    .expect("eco");
    let mut start = t.cmd(&["start", "eco.ron"]);
    start.env("PMX_E2E_LAYER", "first");
    expect_ok(&run(start), "start");
    std::fs::write(t.path("app.env"), "FROM_FILE=two\n").expect("env file");
    let mut restart = t.cmd(&["restart", "e", "--update-env"]);
    restart.env("PMX_E2E_LAYER", "second");
    expect_ok(&run(restart), "restart --update-env");
    t.ok(&["save"]);
    t.ok(&["kill"]);
    t.ok(&["resurrect"]);
    let env = env_of(&t, "e");
    assert_eq!(env.get("PMX_E2E_LAYER").map(String::as_str), Some("second"));
    assert_eq!(env.get("FROM_FILE").map(String::as_str), Some("two"));

    // `resurrect --update-env`: this shell's environment, the env_file read again.
    t.ok(&["kill"]);
    std::fs::write(t.path("app.env"), "FROM_FILE=three\n").expect("env file");
    let mut res = t.cmd(&["resurrect", "--update-env"]);
    res.env("PMX_E2E_LAYER", "third");
    expect_ok(&run(res), "resurrect --update-env");
    let env = env_of(&t, "e");
    assert_eq!(env.get("PMX_E2E_LAYER").map(String::as_str), Some("third"));
    assert_eq!(env.get("FROM_FILE").map(String::as_str), Some("three"));
    // Not what was saved: list says so.
    assert!(t.ok(&["list"]).contains(UNSYNCED));
}

#[test]
fn a_damaged_dump_falls_back_to_bak_with_a_warning_and_both_damaged_fail_naming_both() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "first"]);
    t.ok(&["save"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "second"]);
    t.ok(&["save"]);
    t.ok(&["kill"]);
    std::fs::write(t.home.join("dump.ron"), "Dump(version: 1, apps: [").expect("damage");
    let out = t.run(&["resurrect"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pmx: warning: ") && stderr.contains("dump.ron.bak instead"),
        "{stderr}"
    );
    let names: Vec<String> = rows(&t).into_iter().map(|r| r.1).collect();
    assert_eq!(names, ["first"], "the list saved before the last save");

    t.ok(&["kill"]);
    std::fs::write(t.home.join("dump.ron.bak"), "garbage").expect("damage");
    let e = t.fails(&["resurrect"], 1);
    assert!(
        e.contains("dump.ron:") && e.contains("dump.ron.bak:"),
        "both named: {e}"
    );
    assert!(t.list().is_empty(), "nothing restored");

    // No dump at all: one line saying so.
    std::fs::remove_file(t.home.join("dump.ron")).expect("rm");
    std::fs::remove_file(t.home.join("dump.ron.bak")).expect("rm");
    let e = t.fails(&["resurrect"], 1);
    assert!(
        e.contains("no saved process list") && e.contains("pmx save"),
        "{e}"
    );
}

#[test]
fn an_empty_save_over_a_saved_list_needs_force() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "kept"]);
    t.ok(&["save"]);
    t.ok(&["delete", "kept"]);
    let e = t.fails(&["save"], 1);
    assert!(e.contains("--force") && e.contains("holds 1 app"), "{e}");
    assert!(std::fs::read_to_string(t.home.join("dump.ron"))
        .expect("dump")
        .contains("\"kept\""));
    let out = t.ok(&["save", "--force"]);
    assert!(out.starts_with("saved 0 apps"), "{out}");
    assert!(!std::fs::read_to_string(t.home.join("dump.ron"))
        .expect("dump")
        .contains("\"kept\""));
}

#[test]
fn list_says_when_the_running_set_differs_from_the_saved_one() {
    let t = TestHome::new();
    // No dump and no app: nothing said; no dump with apps: nothing either (as PM2).
    assert!(!t.ok(&["list"]).contains(UNSYNCED));
    t.ok(&["start", &app("sleeper.sh"), "--name", "a"]);
    assert!(!t.ok(&["list"]).contains(UNSYNCED));
    t.ok(&["save"]);
    let l = t.ok(&["list"]);
    assert!(!l.contains(UNSYNCED), "{l}");
    for change in [
        &["stop", "a"][..],
        &["start", &app("sleeper.sh"), "--name", "b"][..],
        &["scale", "b", "2"][..],
    ] {
        t.ok(change);
        let l = t.ok(&["list"]);
        assert_eq!(l.lines().last(), Some(UNSYNCED), "after {change:?}: {l}");
        t.ok(&["save"]);
        assert!(
            !t.ok(&["list"]).contains(UNSYNCED),
            "after saving {change:?}"
        );
    }
    // A fresh daemon with nothing running differs from a dump that holds apps.
    t.ok(&["kill"]);
    assert!(t.ok(&["list"]).contains(UNSYNCED));
}

#[test]
fn an_errored_app_comes_back_errored_and_is_not_restarted() {
    let t = TestHome::new();
    let record = t.path("starts");
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "crasher",
        "--max-restarts",
        "1",
        "--",
        record.to_str().expect("utf8"),
    ]);
    t.wait_status("crasher", "errored");
    t.ok(&["save"]);
    t.ok(&["kill"]);
    let starts = lines(&record).len();
    t.ok(&["resurrect"]);
    let row = t.wait_status("crasher", "errored");
    assert_eq!(row["pid"], Value::Null);
    assert_eq!(int(&row, "restarts"), 0);
    assert_eq!(lines(&record).len(), starts, "not started again");
}

#[test]
fn a_save_on_a_full_disk_keeps_the_old_dump_and_fails_with_the_reason() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let t = TestHome::new();
    std::fs::create_dir_all(&t.home).expect("home");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"])
        .arg(&t.home)
        .status();
    if !matches!(mounted, Ok(s) if s.success()) {
        eprintln!("skipped: cannot mount a tmpfs here ({mounted:?})");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(t.home.clone());
    t.ok(&["start", &app("sleeper.sh"), "--name", "one"]);
    t.ok(&["save"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "two"]);
    t.ok(&["save"]);
    let (dump, bak) = (
        std::fs::read(t.home.join("dump.ron")).expect("dump"),
        std::fs::read(t.home.join("dump.ron.bak")).expect("bak"),
    );
    t.ok(&["start", &app("sleeper.sh"), "--name", "three"]);
    // Fill the file system.
    let fill = t.home.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", fill.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let e = t.fails(&["save"], 1);
    assert!(e.contains("No space left on device"), "{e}");
    assert_eq!(std::fs::read(t.home.join("dump.ron")).expect("dump"), dump);
    assert_eq!(
        std::fs::read(t.home.join("dump.ron.bak")).expect("bak"),
        bak
    );
    assert!(!t.home.join("dump.ron.tmp").exists());
    // Room again: the save goes through.
    std::fs::remove_file(&fill).expect("rm filler");
    assert!(t.ok(&["save"]).starts_with("saved 3 apps"));
    t.ok(&["kill"]);
}

#[test]
fn a_group_with_a_stopped_member_comes_back_with_that_member_stopped() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            r#"Ecosystem(
  apps: [App(name: "db", script: "{s}"), App(name: "api", script: "{s}")],
  groups: [Group(name: "stack", strategy: OneForAll, apps: ["db", "api"])],
)"#,
            s = app("sleeper.sh")
        ),
    )
    .expect("eco");
    t.ok(&["up", "eco.ron"]);
    t.ok(&["stop", "api"]);
    t.ok(&["save"]);
    t.ok(&["kill"]);
    t.ok(&["resurrect"]);
    let got = settled(&t, 2);
    let want = [
        (
            0,
            "db".to_string(),
            "online".to_string(),
            Value::from("stack"),
        ),
        (
            1,
            "api".to_string(),
            "stopped".to_string(),
            Value::from("stack"),
        ),
    ];
    assert_eq!(got, want);
    assert!(!t.ok(&["list"]).contains(UNSYNCED));
    // Held down as `pmx stop` left it: the group's restart after db fails skips it.
    let pid = int(&t.row("db"), "pid") as i32;
    kill9(pid);
    t.wait_row("db", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != i64::from(pid))
    });
    assert_eq!(t.row("api")["status"], "stopped");
}

#[test]
fn max_instances_are_saved_as_max_and_come_back_one_per_cpu() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "per-cpu",
        "-i",
        "max",
        "-x",
    ]);
    let n = t.list().len();
    t.ok(&["save"]);
    let dump = std::fs::read_to_string(t.home.join("dump.ron")).expect("dump");
    assert!(dump.contains("instances: Max,"), "{dump}");
    t.ok(&["kill"]);
    t.ok(&["resurrect"]);
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    assert_eq!(settled(&t, n).len(), cpus);
}

#[test]
fn an_app_whose_program_is_gone_comes_back_errored_with_a_warning_and_the_others_run() {
    let t = TestHome::new();
    let script = t.path("gone.sh");
    std::fs::copy(app("sleeper.sh"), &script).expect("copy");
    t.ok(&[
        "start",
        script.to_str().expect("utf8"),
        "--name",
        "gone",
        "--interpreter",
        "none",
    ]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "stays"]);
    t.ok(&["save"]);
    t.ok(&["kill"]);
    std::fs::remove_file(&script).expect("rm");
    let out = t.run(&["resurrect"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("pmx: warning: app \"gone\""), "{stderr}");
    assert_eq!(t.wait_status("gone", "errored")["pid"], Value::Null);
    t.wait_status("stays", "online");
}
