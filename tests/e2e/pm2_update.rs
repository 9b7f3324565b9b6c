//! Start options given to `restart`, `reload` or `start <name|id>` update the running app
//! and stay (PM2 merges a restart's options into the app): `--node-args` /
//! `--interpreter-args` (`null` for none) and `--name`; `start <script>` of a stopped app
//! that runs it restarts it (PM2). Each test writes its own script.

use crate::harness::*;

/// Write `loop.sh` (a bash loop that stays the app's own process) into the work directory.
fn script(t: &TestHome) {
    std::fs::write(t.path("loop.sh"), "while :; do sleep 1; done\n").expect("write script");
}

/// The command line of the running process of `name` (its argv, from /proc).
fn cmdline(t: &TestHome, name: &str) -> Vec<String> {
    let row = t.wait_status(name, "online");
    let pid = int(&row, "pid");
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The app's `node_args` as `pmx jlist` (PM2's shape) shows them.
fn node_args(t: &TestHome, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&t.ok(&["jlist"])).expect("jlist json");
    v.as_array()
        .expect("array")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in jlist"))["pm2_env"]["node_args"]
        .clone()
}

#[test]
fn restart_with_node_args_reruns_the_app_with_them_and_keeps_them() {
    let t = TestHome::new();
    script(&t);
    t.ok(&["start", "loop.sh", "--name", "lp"]);
    assert_eq!(
        cmdline(&t, "lp")[1..],
        [t.path("loop.sh").display().to_string()]
    );
    assert_eq!(node_args(&t, "lp"), serde_json::json!([]));

    t.ok(&["restart", "lp", "--node-args=-e -u"]);
    let argv = cmdline(&t, "lp");
    assert_eq!(argv[1..3], ["-e", "-u"], "{argv:?}");
    assert_eq!(node_args(&t, "lp"), serde_json::json!(["-e", "-u"]));
    assert_eq!(int(&t.row("lp"), "restarts"), 1);

    // Kept: a plain restart runs them again.
    t.ok(&["restart", "lp"]);
    assert_eq!(cmdline(&t, "lp")[1..3], ["-e", "-u"]);

    // `reload` takes them too; PM2's `null` drops them.
    t.ok(&["reload", "lp", "--interpreter-args", "null"]);
    assert_eq!(
        cmdline(&t, "lp")[1..],
        [t.path("loop.sh").display().to_string()]
    );
    assert_eq!(node_args(&t, "lp"), serde_json::json!([]));
}

#[test]
fn start_of_a_known_name_with_node_args_restarts_it_with_them() {
    let t = TestHome::new();
    script(&t);
    // `echo` is also a command on PATH: the app of that name wins, as in PM2 7.
    t.ok(&["start", "loop.sh", "--name", "echo"]);
    t.wait_status("echo", "online");
    let out = t.ok(&["start", "echo", "--node-args", "-e"]);
    assert!(out.contains("echo"), "{out}");
    assert_eq!(cmdline(&t, "echo")[1], "-e");
    assert_eq!(t.list().len(), 1, "no second app");
    assert_eq!(int(&t.row("echo"), "restarts"), 1);
}

#[test]
fn restart_with_a_name_renames_the_app_by_id_or_name() {
    let t = TestHome::new();
    script(&t);
    t.ok(&["start", "loop.sh", "--name", "old"]);
    let id = int(&t.wait_status("old", "online"), "id");
    let out = t.ok(&["restart", &id.to_string(), "--name=new-name"]);
    assert!(out.contains("new-name"), "{out}");
    let row = t.wait_status("new-name", "online");
    assert_eq!(int(&row, "id"), id, "same id");
    assert!(t.list().iter().all(|r| r["name"] != "old"));
    t.fails(&["restart", "old"], 1);

    // The new name is the app's from now on; `start <id> --name` renames as well.
    t.ok(&["restart", "new-name"]);
    t.ok(&["start", &id.to_string(), "--name", "newer"]);
    let row = t.wait_status("newer", "online");
    assert_eq!(int(&row, "restarts"), 3);
    let d = t.ok(&["describe", "newer"]);
    assert!(d.contains("newer"), "{d}");
}

#[test]
fn an_update_an_app_cannot_take_changes_nothing() {
    let t = TestHome::new();
    script(&t);
    t.ok(&["start", "loop.sh", "--name", "a"]);
    t.ok(&["start", "loop.sh", "--name", "b"]);
    t.ok(&["start", "sleep 600", "--name", "plain"]);
    for n in ["a", "b", "plain"] {
        t.wait_status(n, "online");
    }
    let before = t.list();

    // A name is one app's; a taken name is refused; a bad name is a usage error.
    let err = t.fails(&["restart", "all", "--name", "x"], 2);
    assert!(err.contains("names one app"), "{err}");
    let err = t.fails(&["restart", "a", "--name", "b"], 1);
    assert!(err.contains("\"b\" already exists"), "{err}");
    let err = t.fails(&["restart", "a", "--name", "all"], 2);
    assert!(err.contains("--name"), "{err}");
    // An app exec'd without an interpreter has nowhere to put interpreter arguments.
    let err = t.fails(&["restart", "plain", "--node-args", "-e"], 2);
    assert!(err.contains("without an interpreter"), "{err}");
    // A file's apps take theirs from the file.
    std::fs::write(
        t.path("apps.json"),
        r#"{"apps":[{"name":"a","script":"loop.sh"}]}"#,
    )
    .expect("write");
    let err = t.fails(&["restart", "apps.json", "--node-args", "-e"], 2);
    assert!(err.contains("set them in the file"), "{err}");

    let after = t.list();
    let key = |v: &Vec<serde_json::Value>| {
        v.iter()
            .map(|r| (r["name"].clone(), r["pid"].clone(), r["restarts"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&before), key(&after), "nothing restarted or renamed");
}

#[test]
fn starting_the_script_of_a_stopped_app_again_restarts_it_and_an_online_one_is_refused() {
    let t = TestHome::new();
    script(&t);
    std::fs::write(t.path("other.sh"), "while :; do sleep 1; done\n").expect("write");
    t.ok(&["start", "loop.sh"]);
    let first = t.wait_status("loop", "online");
    // Online: PM2's "Script already launched"; pmx names the app and `-f`.
    let err = t.fails(&["start", "loop.sh"], 1);
    assert!(err.contains("already exists"), "{err}");

    t.ok(&["stop", "loop"]);
    t.wait_status("loop", "stopped");
    let out = t.ok(&["start", "loop.sh"]);
    assert!(out.contains("loop"), "{out}");
    let row = t.wait_status("loop", "online");
    assert_eq!(row["id"], first["id"], "the same app, not a copy");
    assert_eq!(t.list().len(), 1);

    // Another script under that name is another app: still refused, even stopped.
    t.ok(&["stop", "loop"]);
    t.wait_status("loop", "stopped");
    let err = t.fails(&["start", "other.sh", "--name", "loop"], 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(t.row("loop")["status"], "stopped");
}

#[test]
fn starting_a_stopped_apps_script_with_node_args_restarts_it_with_them_and_other_options_are_refused(
) {
    let t = TestHome::new();
    script(&t);
    t.ok(&["start", "loop.sh"]);
    t.wait_status("loop", "online");
    t.ok(&["stop", "loop"]);
    t.wait_status("loop", "stopped");
    // An option a restart cannot carry would be lost: the name's conflict is the answer.
    let err = t.fails(&["start", "loop.sh", "--kill-timeout", "5"], 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(t.row("loop")["status"], "stopped");
    t.ok(&["start", "loop.sh", "--node-args", "-e"]);
    assert_eq!(cmdline(&t, "loop")[1], "-e");
}
