//! `pmx up` (and PM2's `startOrReload` / `startOrRestart`): make the running set match an
//! ecosystem file, printing one plan line per app, and touch nothing that did not change.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::harness::*;

/// One `App(…)` running sleeper.sh, with `extra` fields.
fn sleeper(name: &str, extra: &str) -> String {
    format!(
        "App(name: \"{name}\", script: \"{}\"{}{extra})",
        app("sleeper.sh"),
        if extra.is_empty() { "" } else { ", " }
    )
}

/// Write an ecosystem file holding `apps`.
fn write_eco(path: &Path, apps: &[String]) {
    std::fs::write(
        path,
        format!("Ecosystem(apps: [\n    {},\n])\n", apps.join(",\n    ")),
    )
    .expect("write ecosystem");
}

/// The plan lines of `up`'s output (the table after them aside).
fn plan(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| ["+ ", "~ ", "= ", "- "].iter().any(|p| l.starts_with(p)))
        .map(str::to_string)
        .collect()
}

/// name → pid (None when not running) of every listed process.
fn pids(t: &TestHome) -> BTreeMap<String, Option<i64>> {
    t.list()
        .into_iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["pid"].as_i64(),
            )
        })
        .collect()
}

fn run_in(t: &TestHome, dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = t.cmd(args);
    c.current_dir(dir);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_with_timeout(c, Duration::from_secs(120))
}

/// Wait until every app in `names` is online; answers their pids.
fn online(t: &TestHome, names: &[&str]) -> BTreeMap<String, i64> {
    names
        .iter()
        .map(|n| (n.to_string(), int(&t.wait_status(n, "online"), "pid")))
        .collect()
}

#[test]
fn up_starts_every_app() {
    let t = TestHome::new();
    write_eco(
        &t.path("eco.ron"),
        &[sleeper("web", ""), sleeper("job", "")],
    );
    let out = t.ok(&["up", "eco.ron"]);
    assert_eq!(plan(&out), ["+ web  start", "+ job  start"], "{out}");
    let running = online(&t, &["web", "job"]);
    assert_ne!(running["web"], running["job"]);
    assert_eq!(t.list().len(), 2);
}

#[test]
fn up_twice_changes_nothing_the_second_time() {
    let t = TestHome::new();
    write_eco(
        &t.path("eco.ron"),
        &[sleeper("web", ""), sleeper("job", "")],
    );
    t.ok(&["up", "eco.ron"]);
    let before = online(&t, &["web", "job"]);
    let out = t.ok(&["up", "eco.ron"]);
    assert_eq!(
        plan(&out),
        ["= web  unchanged", "= job  unchanged"],
        "{out}"
    );
    let after = online(&t, &["web", "job"]);
    assert_eq!(before, after, "same pids");
    for r in t.list() {
        assert_eq!(r["restarts"], 0, "nothing restarted: {r}");
    }
}

#[test]
fn editing_one_apps_env_reloads_only_that_app() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    write_eco(
        &eco,
        &[
            sleeper("web", "env: {\"PORT\": 3000}"),
            sleeper("job", "env: {\"PORT\": 4000}"),
        ],
    );
    t.ok(&["up", "eco.ron"]);
    let before = online(&t, &["web", "job"]);
    write_eco(
        &eco,
        &[
            sleeper("web", "env: {\"PORT\": 3001}"),
            sleeper("job", "env: {\"PORT\": 4000}"),
        ],
    );
    let out = t.ok(&["up", "eco.ron"]);
    assert_eq!(
        plan(&out),
        ["~ web  reload (env.PORT)", "= job  unchanged"],
        "{out}"
    );
    let web = t.wait_row("web", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != before["web"])
    });
    assert_eq!(
        t.ok(&["env", "web"])
            .lines()
            .find(|l| l.starts_with("PORT=")),
        Some("PORT=3001"),
        "the reloaded app has the new env"
    );
    assert_eq!(int(&t.row("job"), "pid"), before["job"], "job untouched");
    assert_eq!(t.row("job")["restarts"], 0);
    assert!(alive(int(&web, "pid") as i32));
}

#[test]
fn editing_the_env_file_reloads_the_app() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    std::fs::write(t.path("web.env"), "TOKEN=one\n").expect("write");
    write_eco(
        &eco,
        &[sleeper("web", "env_file: \"web.env\""), sleeper("job", "")],
    );
    t.ok(&["up", "eco.ron"]);
    let before = online(&t, &["web", "job"]);
    std::fs::write(t.path("web.env"), "TOKEN=two\n").expect("write");
    let out = t.ok(&["up", "eco.ron"]);
    let lines = plan(&out);
    assert!(
        lines[0].starts_with("~ web  reload") && lines[0].contains("TOKEN"),
        "the env_file's contents are compared: {out}"
    );
    assert_eq!(lines[1], "= job  unchanged", "{out}");
    t.wait_row("web", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != before["web"])
    });
    assert_eq!(int(&t.row("job"), "pid"), before["job"]);
}

#[test]
fn prune_deletes_only_apps_removed_from_the_same_file() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    let other_dir = t.path("other");
    std::fs::create_dir_all(&other_dir).expect("mkdir");
    write_eco(&eco, &[sleeper("web", ""), sleeper("job", "")]);
    write_eco(&other_dir.join("eco.ron"), &[sleeper("elsewhere", "")]);
    t.ok(&["up", "eco.ron"]);
    t.ok(&["up", "other/eco.ron"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "manual"]);
    let before = online(&t, &["web", "job", "elsewhere", "manual"]);

    write_eco(&eco, &[sleeper("web", "")]);
    let out = t.ok(&["up", "eco.ron", "--prune"]);
    assert_eq!(plan(&out), ["= web  unchanged", "- job  delete"], "{out}");
    let after = pids(&t);
    assert!(!after.contains_key("job"), "job deleted: {after:?}");
    assert!(!alive(before["job"] as i32), "job's process is gone");
    for name in ["web", "elsewhere", "manual"] {
        assert_eq!(
            after.get(name).copied().flatten(),
            Some(before[name]),
            "{name} survives untouched: {after:?}"
        );
    }
}

#[test]
fn without_prune_a_removed_app_is_left_alone() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    write_eco(&eco, &[sleeper("web", ""), sleeper("job", "")]);
    t.ok(&["up", "eco.ron"]);
    let before = online(&t, &["web", "job"]);
    write_eco(&eco, &[sleeper("web", "")]);
    let out = t.ok(&["up", "eco.ron"]);
    assert_eq!(plan(&out), ["= web  unchanged"], "{out}");
    assert_eq!(online(&t, &["web", "job"]), before);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    // On an empty daemon: the plan, nothing started.
    write_eco(
        &eco,
        &[sleeper("web", "env: {\"PORT\": 1}"), sleeper("job", "")],
    );
    let out = t.ok(&["up", "eco.ron", "--dry-run"]);
    assert_eq!(plan(&out), ["+ web  start", "+ job  start"], "{out}");
    assert!(t.list().is_empty(), "nothing started");

    t.ok(&["up", "eco.ron"]);
    let before = online(&t, &["web", "job"]);
    write_eco(
        &eco,
        &[sleeper("web", "env: {\"PORT\": 2}"), sleeper("new", "")],
    );
    let out = t.ok(&["up", "eco.ron", "--dry-run", "--prune"]);
    assert_eq!(
        plan(&out),
        ["~ web  reload (env.PORT)", "+ new  start", "- job  delete"],
        "{out}"
    );
    assert!(!out.contains('│'), "the plan only, no table: {out}");
    let after = pids(&t);
    assert_eq!(
        after.len(),
        2,
        "new not started, job not deleted: {after:?}"
    );
    assert_eq!(after["web"], Some(before["web"]), "web not reloaded");
    assert_eq!(after["job"], Some(before["job"]), "job not deleted");
    assert!(
        pmx_env_port(&t, "web") == Some("PORT=1".into()),
        "web keeps its env"
    );
}

fn pmx_env_port(t: &TestHome, target: &str) -> Option<String> {
    t.ok(&["env", target])
        .lines()
        .find(|l| l.starts_with("PORT="))
        .map(str::to_string)
}

#[test]
fn an_invalid_file_changes_nothing() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    write_eco(
        &eco,
        &[sleeper("web", "env: {\"PORT\": 1}"), sleeper("job", "")],
    );
    t.ok(&["up", "eco.ron"]);
    let before = online(&t, &["web", "job"]);
    // web's env changes, a new app appears, job is gone, and one field is misspelt.
    write_eco(
        &eco,
        &[
            sleeper("web", "env: {\"PORT\": 2}"),
            sleeper("new", "instanses: 2"),
        ],
    );
    let err = t.fails(&["up", "eco.ron", "--prune"], 2);
    assert!(err.contains("did you mean \"instances\"?"), "{err}");
    let after = pids(&t);
    assert_eq!(after.len(), 2, "nothing added or deleted: {after:?}");
    assert_eq!(after["web"], Some(before["web"]));
    assert_eq!(after["job"], Some(before["job"]));
    assert_eq!(pmx_env_port(&t, "web"), Some("PORT=1".into()));
}

#[test]
fn up_from_another_directory_and_environment_changes_nothing() {
    let t = TestHome::new();
    let proj = t.path("proj");
    let elsewhere = t.path("elsewhere");
    std::fs::create_dir_all(&proj).expect("mkdir");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::write(proj.join("app.env"), "FROM_FILE=1\n").expect("write");
    write_eco(
        &proj.join("ecosystem.ron"),
        &[
            sleeper("web", "env_file: \"app.env\", env: {\"PORT\": 3000}"),
            sleeper("job", "envs: {\"production\": {\"MODE\": \"prod\"}}"),
        ],
    );
    let out = run_in(
        &t,
        &proj,
        &[("PMX_E2E_SHELL", "first")],
        &["up", "--env", "production"],
    );
    expect_ok(&out, "up in proj");
    let before = online(&t, &["web", "job"]);

    let out = run_in(
        &t,
        &elsewhere,
        &[
            ("PMX_E2E_SHELL", "second"),
            ("PMX_E2E_ANOTHER", "x"),
            ("LANG", "C"),
            ("HOME", "/nonexistent"),
        ],
        &[
            "up",
            proj.join("ecosystem.ron").to_str().expect("utf8"),
            "--env",
            "production",
        ],
    );
    let out = expect_ok(&out, "up from elsewhere");
    assert_eq!(
        plan(&out),
        ["= web  unchanged", "= job  unchanged"],
        "{out}"
    );
    assert_eq!(online(&t, &["web", "job"]), before, "same pids");
    let env = t.ok(&["env", "web"]);
    assert!(
        env.lines().any(|l| l == "PMX_E2E_SHELL=first"),
        "the first shell's layer is kept: {env}"
    );
}

#[test]
fn up_defaults_to_ecosystem_ron_in_the_cwd() {
    let t = TestHome::new();
    write_eco(&t.path("ecosystem.ron"), &[sleeper("web", "")]);
    let out = t.ok(&["up"]);
    assert_eq!(plan(&out), ["+ web  start"], "{out}");
    t.wait_status("web", "online");
    let out = t.ok(&["up", "--prune"]);
    assert_eq!(plan(&out), ["= web  unchanged"], "{out}");
}

#[test]
fn up_without_a_file_fails_naming_it() {
    let t = TestHome::new();
    let err = t.fails(&["up"], 1);
    assert!(err.contains("ecosystem.ron"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(t.list().is_empty());
}

/// `startOrReload` / `startOrRestart` (PM2's deploy verbs, run after `git pull`, when the
/// code changed and the file did not): start the file's missing apps, reload (restart)
/// every other app of the file, changed or not, apply the new spec as `up` would, and
/// never prune.
fn start_or_x(verb: &str, word: &str) {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    write_eco(
        &eco,
        &[
            sleeper("web", "env: {\"PORT\": 1}"),
            sleeper("job", ""),
            sleeper("old", ""),
        ],
    );
    let out = t.ok(&[verb, "eco.ron"]);
    assert_eq!(
        plan(&out),
        ["+ web  start", "+ job  start", "+ old  start"],
        "{out}"
    );
    let before = online(&t, &["web", "job", "old"]);
    write_eco(
        &eco,
        &[
            sleeper("web", "env: {\"PORT\": 2}"),
            sleeper("job", ""),
            sleeper("new", ""),
        ],
    );
    let out = t.ok(&[verb, "eco.ron"]);
    assert_eq!(
        plan(&out),
        [
            format!("~ web  {word} (env.PORT)"),
            format!("~ job  {word}"),
            "+ new  start".to_string(),
        ],
        "{out}"
    );
    for name in ["web", "job"] {
        let row = t.wait_row(name, "a new pid", |r| {
            r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != before[name])
        });
        assert_eq!(row["restarts"], 1, "{name}'s {word} is counted: {row}");
    }
    let after = online(&t, &["old", "new"]);
    assert_eq!(
        after["old"], before["old"],
        "no prune: old survives, untouched"
    );
    assert_eq!(t.row("old")["restarts"], 0);
    assert_eq!(pmx_env_port(&t, "web"), Some("PORT=2".into()));
    // `up` after it reloads only what changed: nothing.
    let out = t.ok(&["up", "eco.ron"]);
    assert_eq!(
        plan(&out),
        ["= web  unchanged", "= job  unchanged", "= new  unchanged"],
        "{out}"
    );
}

#[test]
fn start_or_reload_reloads_an_unchanged_app_and_starts_a_missing_one() {
    start_or_x("startOrReload", "reload");
}

#[test]
fn start_or_restart_restarts_an_unchanged_app_and_starts_a_missing_one() {
    start_or_x("startOrRestart", "restart");
}

/// The same file named through `..` is the same file: its apps' directory and env_file
/// paths are the same, so nothing changes.
#[test]
fn up_through_a_dotdot_path_is_the_same_file() {
    let t = TestHome::new();
    let proj = t.path("proj");
    let elsewhere = t.path("elsewhere");
    std::fs::create_dir_all(&proj).expect("mkdir");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::write(proj.join("app.env"), "FROM_FILE=1\n").expect("write");
    write_eco(
        &proj.join("ecosystem.ron"),
        &[sleeper("web", "env_file: \"app.env\""), sleeper("job", "")],
    );
    expect_ok(&run_in(&t, &proj, &[], &["up"]), "up in proj");
    let before = online(&t, &["web", "job"]);
    let out = run_in(&t, &elsewhere, &[], &["up", "../proj/ecosystem.ron"]);
    let out = expect_ok(&out, "up ../proj/ecosystem.ron");
    assert_eq!(
        plan(&out),
        ["= web  unchanged", "= job  unchanged"],
        "{out}"
    );
    assert_eq!(online(&t, &["web", "job"]), before, "same pids");
}

/// `--prune` knows the file by its absolute path, however the command names it.
#[test]
fn prune_knows_the_file_however_it_is_named() {
    let t = TestHome::new();
    let proj = t.path("proj");
    let elsewhere = t.path("elsewhere");
    std::fs::create_dir_all(&proj).expect("mkdir");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let eco = proj.join("ecosystem.ron");
    write_eco(&eco, &[sleeper("web", ""), sleeper("job", "")]);
    expect_ok(&run_in(&t, &proj, &[], &["up"]), "up in proj");
    let before = online(&t, &["web", "job"]);
    write_eco(&eco, &[sleeper("web", "")]);
    let out = run_in(
        &t,
        &elsewhere,
        &[],
        &["up", "../proj/ecosystem.ron", "--prune"],
    );
    let out = expect_ok(&out, "up ../proj/ecosystem.ron --prune");
    assert_eq!(plan(&out), ["= web  unchanged", "- job  delete"], "{out}");
    let after = pids(&t);
    assert!(!after.contains_key("job"), "job deleted: {after:?}");
    assert_eq!(after.get("web").copied().flatten(), Some(before["web"]));
}

/// A shell whose PATH finds the interpreter elsewhere (pyenv, nvm, another PATH order)
/// is still "another shell": the inherited environment is not compared.
#[test]
fn up_from_a_shell_with_another_path_changes_nothing() {
    let t = TestHome::new();
    let path = std::env::var("PATH").unwrap_or_default();
    let bash = std::env::split_paths(&path)
        .map(|d| d.join("bash"))
        .find(|p| p.is_file())
        .expect("bash on PATH");
    // Two PATH entries that each hold the same bash.
    for d in ["p1", "p2"] {
        std::fs::create_dir_all(t.path(d)).expect("mkdir");
        std::os::unix::fs::symlink(&bash, t.path(d).join("bash")).expect("symlink");
    }
    let path1 = format!("{}:{path}", t.path("p1").display());
    let path2 = format!("{}:{path}", t.path("p2").display());
    write_eco(&t.path("eco.ron"), &[sleeper("web", "")]);
    let out = run_in(&t, &t.work, &[("PATH", &path1)], &["up", "eco.ron"]);
    expect_ok(&out, "up with PATH p1");
    let before = online(&t, &["web"]);
    let out = run_in(&t, &t.work, &[("PATH", &path2)], &["up", "eco.ron"]);
    let out = expect_ok(&out, "up with PATH p2");
    assert_eq!(plan(&out), ["= web  unchanged"], "{out}");
    assert_eq!(online(&t, &["web"]), before, "same pid");
}

#[test]
fn up_starts_a_declared_app_that_is_down() {
    let t = TestHome::new();
    let eco = t.path("ecosystem.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [App(name: \"u1\", script: \"{}\")])",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    t.ok(&["up", "ecosystem.ron"]);
    t.ok(&["stop", "u1"]);
    let out = t.ok(&["up", "ecosystem.ron"]);
    assert!(out.contains("u1") && out.contains("was down"), "{out}");
    assert_eq!(t.row("u1")["status"], "online");
    let out = t.ok(&["up", "ecosystem.ron"]);
    assert!(out.contains("= u1") && out.contains("unchanged"), "{out}");
}

/// PM2's deploy verbs on a PM2 file in the bare-list form (`[{…}, {…}]`, which PM2's
/// `_startJson` takes as it takes `{apps: […]}`): the first `startOrRestart` starts every
/// process, each later `startOrRestart`/`startOrReload` restarts every one of them,
/// instances included, so each counts one more restart (PM2's own e2e `startOrX.sh`
/// checks the same counts).
#[test]
fn start_or_x_takes_a_pm2_file_in_the_list_form_and_restarts_every_process() {
    let t = TestHome::new();
    let file = t.path("all.json");
    std::fs::write(
        &file,
        format!(
            r#"[{{"name": "one", "script": "{s}"}},
  {{"name": "many", "script": "{s}", "instances": "3"}}]
"#,
            s = app("sleeper.sh")
        ),
    )
    .expect("write all.json");
    let all_online_with = |restarts: u64| {
        let mut rows = Vec::new();
        let ok = wait_for(DEADLINE, || {
            rows = t.list();
            rows.len() == 4
                && rows
                    .iter()
                    .all(|r| r["status"] == "online" && r["restarts"] == restarts)
        });
        assert!(ok, "4 processes online with {restarts} restarts: {rows:?}");
        rows.iter().map(|r| int(r, "pid")).collect::<Vec<_>>()
    };
    t.ok(&["startOrRestart", "all.json"]);
    let first = all_online_with(0);
    t.ok(&["startOrRestart", "all.json"]);
    let second = all_online_with(1);
    t.ok(&["startOrReload", "all.json"]);
    let third = all_online_with(2);
    for (a, b) in first.iter().zip(&second).chain(second.iter().zip(&third)) {
        assert_ne!(a, b, "every process got a new pid");
    }
}

#[test]
fn up_fails_naming_an_app_that_could_not_be_spawned_and_lists_it_errored() {
    // A deploy hook runs `pmx up`: its exit code must say when an app did not start.
    let t = TestHome::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let eco = t.path("eco.ron");
    write_eco(
        &eco,
        &[
            sleeper("web", &format!("listen: [\"tcp://127.0.0.1:{port}\"]")),
            sleeper("worker", ""),
        ],
    );
    let err = t.fails(&["up", "eco.ron"], 1);
    assert!(
        err.contains("app \"web\"") && err.contains("Address already in use"),
        "{err}"
    );
    assert_eq!(t.wait_status("web", "errored")["name"], "web");
    t.wait_status("worker", "online");
    // startOrRestart says it too.
    let err = t.fails(&["startOrRestart", "eco.ron"], 1);
    assert!(err.contains("app \"web\""), "{err}");
    drop(taken);
}
