//! The targets PM2 accepts (SPEC §3, issue 19): `/regex/` over names, a script path, an
//! app file (with `--only`), several per command (in order, stopping at the first unknown
//! one, exit 1), `stop`/`restart`/`reload`/`delete all` with nothing to act on (exit 1),
//! and `start <name>` of an online app (a restart). Each test writes its own scripts and
//! files into its work directory.

use std::collections::BTreeMap;

use crate::harness::*;

/// Write `idle.sh` and `other.sh` (each sleeps until stopped) into the work directory.
fn scripts(t: &TestHome) {
    for name in ["idle.sh", "other.sh"] {
        let p = t.path(name);
        std::fs::write(&p, "#!/bin/sh\nexec sleep 600\n").expect("write script");
        let mut perm = std::fs::metadata(&p).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&p, perm).expect("chmod");
    }
}

/// Start each `(name, script)` and wait until all are online.
fn started(t: &TestHome, apps: &[(&str, &str)]) {
    for (name, script) in apps {
        t.ok(&["start", script, "--name", name]);
    }
    for (name, _) in apps {
        t.wait_status(name, "online");
    }
}

/// name → (status, pid, restarts) of every listed process.
fn states(t: &TestHome) -> BTreeMap<String, (String, Option<i64>, i64)> {
    t.list()
        .into_iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                (
                    r["status"].as_str().expect("status").to_string(),
                    r["pid"].as_i64(),
                    int(&r, "restarts"),
                ),
            )
        })
        .collect()
}

#[test]
fn a_regex_target_restarts_only_the_matching_apps() {
    let t = TestHome::new();
    scripts(&t);
    started(
        &t,
        &[
            ("api-1", "idle.sh"),
            ("api-2", "idle.sh"),
            ("web", "other.sh"),
        ],
    );
    let before = states(&t);
    let out = t.ok(&["restart", "/^api-/"]);
    assert!(out.contains("api-1") && out.contains("api-2"), "{out}");
    assert!(!out.contains("web"), "only the matches are listed: {out}");
    let after = states(&t);
    for name in ["api-1", "api-2"] {
        assert_eq!(after[name].2, before[name].2 + 1, "{name} restarted");
        assert_ne!(after[name].1, before[name].1, "{name} has a new pid");
    }
    assert_eq!(after["web"], before["web"], "web untouched");

    // No match: PM2's "No process found", exit 1; a bad pattern is a usage error.
    let err = t.fails(&["restart", "/^nope/"], 1);
    assert!(
        err.contains("no process found") && err.contains("/^nope/"),
        "{err}"
    );
    let err = t.fails(&["stop", "/(/"], 2);
    assert!(
        err.contains("/(/") && err.contains("regular expression"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(states(&t)["web"].0, "online");
}

#[test]
fn a_script_path_stops_the_apps_running_that_script() {
    let t = TestHome::new();
    scripts(&t);
    started(
        &t,
        &[
            ("idle", "idle.sh"),
            ("copy", "idle.sh"),
            ("other", "other.sh"),
        ],
    );
    // A bare file name no app has: the apps started from that file here (PM2 compares
    // `pm_exec_path` with the path resolved against the cwd).
    t.ok(&["stop", "idle.sh"]);
    let s = states(&t);
    assert_eq!(s["idle"].0, "stopped");
    assert_eq!(s["copy"].0, "stopped");
    assert_eq!(s["other"].0, "online", "another script's app runs on");

    // A path with a directory, from elsewhere: the same file.
    let sub = t.path("sub");
    std::fs::create_dir_all(&sub).expect("sub dir");
    let mut c = t.cmd(&["restart", "../idle.sh"]);
    c.current_dir(&sub);
    expect_ok(
        &run_with_timeout(c, std::time::Duration::from_secs(120)),
        "restart ../idle.sh",
    );
    t.wait_status("idle", "online");
    t.wait_status("copy", "online");

    // A script no app runs: exit 1, saying so.
    let err = t.fails(&["stop", "./other.sh", "./missing.sh"], 1);
    assert!(err.contains("missing.sh"), "{err}");
    assert_eq!(
        states(&t)["other"].0,
        "stopped",
        "the first target was acted on"
    );
}

#[test]
fn an_app_file_as_target_restarts_its_apps_and_only_those_of_only() {
    let t = TestHome::new();
    scripts(&t);
    started(&t, &[("outside", "other.sh")]);
    let file = t.path("apps.json");
    let write = |foo: &str| {
        std::fs::write(
            &file,
            format!(
                r#"{{"apps": [
                    {{"name": "a", "script": "idle.sh", "env": {{"FOO": "{foo}"}}}},
                    {{"name": "b", "script": "other.sh"}}
                ]}}"#
            ),
        )
        .expect("write apps.json")
    };
    write("1");
    t.ok(&["start", "apps.json"]);
    t.wait_status("a", "online");
    t.wait_status("b", "online");
    let before = states(&t);

    // --only: just `a`, with the file's new environment (PM2's `_startJson`).
    write("2");
    t.ok(&["restart", "apps.json", "--only", "a"]);
    let after = states(&t);
    assert_eq!(after["a"].2, before["a"].2 + 1, "a restarted");
    assert_eq!(after["b"], before["b"], "b left alone by --only");
    assert_eq!(
        after["outside"], before["outside"],
        "an app outside the file"
    );
    let env = t.ok(&["env", "a"]);
    assert!(
        env.lines().any(|l| l == "FOO=2"),
        "the file's change: {env}"
    );

    // Without --only: every app of the file; one deleted meanwhile starts again.
    t.ok(&["delete", "b"]);
    t.ok(&["restart", "apps.json"]);
    t.wait_status("b", "online");
    let again = states(&t);
    assert_eq!(again["a"].2, after["a"].2 + 1, "a restarted again");
    assert_eq!(again["outside"], before["outside"]);

    // `stop` of the file stops its apps (and none else).
    t.ok(&["stop", "apps.json"]);
    let s = states(&t);
    assert_eq!(
        (s["a"].0.as_str(), s["b"].0.as_str()),
        ("stopped", "stopped")
    );
    assert_eq!(s["outside"].0, "online");

    // --only naming no app of the file, or --env/--only without a file: usage errors.
    let err = t.fails(&["stop", "apps.json", "--only", "zz"], 2);
    assert!(err.contains("zz") && err.contains("apps.json"), "{err}");
    let err = t.fails(&["restart", "outside", "--env", "prod"], 2);
    assert!(err.contains("--env"), "{err}");
    // A missing app file: exit 1, saying so (PM2: "File nofile.json not found").
    let err = t.fails(&["stop", "nofile.json"], 1);
    assert!(err.contains("no app file nofile.json"), "{err}");
}

#[test]
fn several_targets_in_one_command_are_each_acted_on_until_an_unknown_one() {
    let t = TestHome::new();
    scripts(&t);
    started(
        &t,
        &[
            ("a", "idle.sh"),
            ("b", "idle.sh"),
            ("c", "other.sh"),
            ("d", "other.sh"),
        ],
    );
    let c_id = int(&t.row("c"), "id").to_string();
    let out = t.ok(&["stop", "a", "b", &c_id]);
    for name in ["a", "b", "c"] {
        assert!(out.contains(name), "{name} in the rows: {out}");
    }
    let s = states(&t);
    for name in ["a", "b", "c"] {
        assert_eq!(s[name].0, "stopped", "{name}");
    }
    assert_eq!(s["d"].0, "online");

    // PM2 acts in order and stops at the first unknown target, exit 1: `a` restarts,
    // `d` (after the unknown one) does not.
    let err = t.fails(&["restart", "a", "nope", "d"], 1);
    assert!(err.contains("\"nope\""), "{err}");
    let s = states(&t);
    assert_eq!(s["a"].0, "online", "before the unknown target");
    assert_eq!(s["d"].2, 0, "after the unknown target: not restarted");
}

#[test]
fn restart_all_with_no_apps_exits_1_with_a_message() {
    let t = TestHome::new();
    for verb in ["restart", "stop", "reload", "delete"] {
        let err = t.fails(&[verb, "all"], 1);
        assert!(err.contains("no process found"), "{verb} all: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // PM2's `reset all` of nothing succeeds.
    t.ok(&["reset", "all"]);
    // With an app, `all` acts.
    scripts(&t);
    started(&t, &[("idle", "idle.sh")]);
    t.ok(&["stop", "all"]);
    assert_eq!(states(&t)["idle"].0, "stopped");
}

#[test]
fn start_of_an_online_app_by_name_restarts_it_with_a_new_pid() {
    let t = TestHome::new();
    scripts(&t);
    started(&t, &[("idle", "idle.sh")]);
    let before = states(&t)["idle"].clone();
    t.ok(&["start", "idle"]);
    let after = t.wait_status("idle", "online");
    assert_ne!(after["pid"].as_i64(), before.1, "a new process");
    assert_eq!(int(&after, "restarts"), before.2 + 1);
    // A stopped one starts.
    t.ok(&["stop", "idle"]);
    t.ok(&["start", "idle"]);
    t.wait_status("idle", "online");
}

/// PM2's `pm2 start a.js b.js`: each script starts as its own app, named after it; a
/// name for them all, or an ecosystem file among them, is refused before anything starts.
#[test]
fn start_of_several_scripts_starts_an_app_each() {
    let t = TestHome::new();
    for n in ["one.sh", "two.sh"] {
        std::fs::copy(app("sleeper.sh"), t.work.join(n)).expect("copy");
    }
    t.ok(&["start", "one.sh", "two.sh"]);
    t.wait_status("one", "online");
    t.wait_status("two", "online");
    assert_eq!(t.list().len(), 2);
    let err = t.fails(&["start", "one.sh", "two.sh", "--name", "x"], 2);
    assert!(err.contains("--name"), "{err}");
    std::fs::write(t.work.join("eco.ron"), "Ecosystem(apps: [])\n").expect("eco");
    let err = t.fails(&["start", "one.sh", "eco.ron", "-f"], 2);
    assert!(err.contains("eco.ron"), "{err}");
    assert_eq!(t.list().len(), 2, "nothing more started");
    // The arguments after `--` go to each of them, as PM2 passes them.
    for n in ["d1.py", "d2.py"] {
        std::fs::copy(app("args_dump.py"), t.work.join(n)).expect("copy");
    }
    let out = t.path("args.json");
    let out = out.to_str().expect("utf8");
    t.ok(&["start", "d1.py", "d2.py", "-f", "--", out, "argv1", "x y"]);
    t.wait_status("d1", "online");
    t.wait_status("d2", "online");
    assert!(wait_for(DEADLINE, || std::fs::read_to_string(out)
        .is_ok_and(|s| s == r#"["argv1", "x y"]"#)));
}
