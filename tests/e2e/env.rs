//! The app's environment and arguments as the app sees them: the caller's environment,
//! env_file < env < envs.<NAME> < what pmx injects (SPEC §4), `pmx env`, restart with and
//! without `--update-env`, and names and arguments that hold anything.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::*;

/// Variables bash itself sets or changes in env_dump.sh, which `pmx env` cannot know.
const SHELL_VARS: &[&str] = &["PWD", "OLDPWD", "SHLVL", "_"];

fn run(c: Command) -> Output {
    run_with_timeout(c, Duration::from_secs(120))
}

/// Wait for env_dump.sh's file at `path`, then read it.
fn dump(path: &Path) -> BTreeMap<String, String> {
    assert!(
        wait_for(DEADLINE, || path.exists()),
        "env_dump.sh never wrote {}",
        path.display()
    );
    let bytes = std::fs::read(path).expect("read dump");
    bytes
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// `pmx env <target>` as a map (KEY=value lines).
fn pmx_env(t: &TestHome, target: &str) -> BTreeMap<String, String> {
    t.ok(&["env", target])
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn without_shell_vars(mut m: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for k in SHELL_VARS {
        m.remove(*k);
    }
    m
}

/// A `pmx` command with only PATH, PMX_HOME and `vars` in its environment.
fn clean_cmd(t: &TestHome, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = t.cmd(args);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PMX_HOME", &t.home);
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
fn the_callers_environment_reaches_the_app() {
    let t = TestHome::new();
    // The daemon is started without the variable: the app must get it from `start`.
    t.ok(&["ping"]);
    let out = t.path("out");
    let mut c = t.cmd(&["start", &app("env_dump.sh"), "--name", "d", "--", s(&out)]);
    c.env("PMX_E2E_CALLER_MARK", "from the calling shell ✓");
    expect_ok(&run(c), "start with a caller variable");
    let env = dump(&out);
    assert_eq!(
        env.get("PMX_E2E_CALLER_MARK").map(String::as_str),
        Some("from the calling shell ✓")
    );
    assert_eq!(
        pmx_env(&t, "d")
            .get("PMX_E2E_CALLER_MARK")
            .map(String::as_str),
        Some("from the calling shell ✓")
    );
}

#[test]
fn env_layers_caller_env_file_env_envs_injected() {
    let t = TestHome::new();
    let out = t.path("out");
    std::fs::write(
        t.path("app.env"),
        "# a comment line\n\
         \n\
         L2=file\n\
         export L3=file\n\
         L4=file\n\
         EXPORTED_ONLY=exported\n\
         DQ=\"double quoted value\"\n\
         SQ='single # quoted'\n\
         L1_NOT_HERE_EITHER=file\n",
    )
    .expect("env file");
    std::fs::write(
        t.path("eco.ron"),
        format!(
            r#"Ecosystem(apps: [
    App(name: "layers", script: "{script}", args: ["{out}"], env_file: "app.env",
        env: {{"L3": "env", "L4": "env", "SPACED": "a value  with spaces", "PORT": 3000,
               "DEBUG": true, "PMX_APP_NAME": "overridden?"}},
        envs: {{"production": {{"L4": "prod"}}, "staging": {{"L4": "staging"}}}}),
])
"#,
            script = app("env_dump.sh"),
            out = s(&out),
        ),
    )
    .expect("eco");
    let c = clean_cmd(
        &t,
        &["start", "eco.ron", "--env", "production"],
        &[
            ("L1", "caller"),
            ("L2", "caller"),
            ("L3", "caller"),
            ("L4", "caller"),
            ("PMX_ID", "999"),
        ],
    );
    expect_ok(&run(c), "start eco.ron --env production");
    let row = t.wait_status("layers", "online");
    let id = int(&row, "id").to_string();
    let got = dump(&out);
    let shown = pmx_env(&t, &id);
    for env in [&got, &shown] {
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("L1"), Some("caller"), "the caller's layer");
        assert_eq!(get("L2"), Some("file"), "env_file over the caller");
        assert_eq!(get("L3"), Some("env"), "env over env_file");
        assert_eq!(get("L4"), Some("prod"), "envs.production over env");
        assert_eq!(get("EXPORTED_ONLY"), Some("exported"));
        assert_eq!(get("DQ"), Some("double quoted value"), "quotes removed");
        assert_eq!(get("SQ"), Some("single # quoted"), "quotes removed");
        assert_eq!(get("SPACED"), Some("a value  with spaces"), "in full");
        assert_eq!(get("PORT"), Some("3000"), "numbers become strings");
        assert_eq!(get("DEBUG"), Some("true"), "booleans become strings");
        assert_eq!(get("PMX_ID"), Some(id.as_str()), "injected over the caller");
        assert_eq!(get("PMX_APP_NAME"), Some("layers"), "injected over env");
        assert_eq!(get("PMX_INSTANCE"), Some("0"));
        assert_eq!(get("NODE_APP_INSTANCE"), Some("0"));
        assert!(!env.contains_key("# a comment line"), "comments skipped");
    }
    assert_eq!(
        without_shell_vars(shown),
        without_shell_vars(got),
        "`pmx env` shows the environment exactly as the app got it"
    );
}

#[test]
fn injected_variables_and_a_custom_instance_var() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "first"]);
    let out = t.path("out");
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"inst\", script: \"{}\", args: [\"{}\"], instance_var: \"WORKER_NO\")])\n",
            app("env_dump.sh"),
            s(&out)
        ),
    )
    .expect("eco");
    t.ok(&["start", "eco.ron"]);
    let row = t.wait_status("inst", "online");
    let id = int(&row, "id").to_string();
    assert_ne!(id, "0", "the second app has its own id");
    let got = dump(&out);
    let get = |k: &str| got.get(k).map(String::as_str);
    assert_eq!(get("PMX_ID"), Some(id.as_str()));
    assert_eq!(
        get("pm_id"),
        Some(id.as_str()),
        "PM2's variable, read by apps written for PM2"
    );
    assert_eq!(get("PMX_APP_NAME"), Some("inst"));
    assert_eq!(get("PMX_INSTANCE"), Some("0"));
    assert_eq!(
        get("WORKER_NO"),
        Some("0"),
        "instance_var names the variable"
    );
    assert_eq!(
        get("NODE_APP_INSTANCE"),
        None,
        "instance_var replaces NODE_APP_INSTANCE"
    );
    let shown = pmx_env(&t, &id);
    assert_eq!(shown.get("WORKER_NO").map(String::as_str), Some("0"));
    assert_eq!(shown.get("PMX_ID").map(String::as_str), Some(id.as_str()));
}

#[test]
fn restart_keeps_the_inherited_layer_and_update_env_refreshes_it() {
    let t = TestHome::new();
    let out = t.path("out");
    let env_file = t.path("app.env");
    std::fs::write(&env_file, "FROM_FILE=one\n").expect("write");
    let mut c = t.cmd(&[
        "start",
        &app("env_dump.sh"),
        "--name",
        "d",
        "--env-file",
        "app.env",
        "--",
        s(&out),
    ]);
    c.env("PMX_E2E_V", "first");
    expect_ok(&run(c), "start");
    let pid0 = int(&t.wait_status("d", "online"), "pid");
    let got = dump(&out);
    assert_eq!(got.get("PMX_E2E_V").map(String::as_str), Some("first"));
    assert_eq!(got.get("FROM_FILE").map(String::as_str), Some("one"));

    // A plain restart from a shell whose environment changed keeps the old layers.
    std::fs::write(&env_file, "FROM_FILE=two\n").expect("write");
    std::fs::remove_file(&out).expect("rm");
    let mut c = t.cmd(&["restart", "d"]);
    c.env("PMX_E2E_V", "second");
    expect_ok(&run(c), "restart");
    let pid1 = int(
        &t.wait_row("d", "a new pid", |r| {
            r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != pid0)
        }),
        "pid",
    );
    let got = dump(&out);
    assert_eq!(
        got.get("PMX_E2E_V").map(String::as_str),
        Some("first"),
        "restart keeps the inherited layer"
    );
    assert_eq!(
        got.get("FROM_FILE").map(String::as_str),
        Some("one"),
        "restart does not re-read env_file"
    );
    let shown = pmx_env(&t, "d");
    assert_eq!(shown.get("PMX_E2E_V").map(String::as_str), Some("first"));
    assert_eq!(shown.get("FROM_FILE").map(String::as_str), Some("one"));

    // --update-env takes this shell's environment and re-reads env_file.
    std::fs::remove_file(&out).expect("rm");
    let mut c = t.cmd(&["restart", "d", "--update-env"]);
    c.env("PMX_E2E_V", "third");
    expect_ok(&run(c), "restart --update-env");
    t.wait_row("d", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != pid1)
    });
    let got = dump(&out);
    assert_eq!(got.get("PMX_E2E_V").map(String::as_str), Some("third"));
    assert_eq!(got.get("FROM_FILE").map(String::as_str), Some("two"));
    let shown = pmx_env(&t, "d");
    assert_eq!(shown.get("PMX_E2E_V").map(String::as_str), Some("third"));
    assert_eq!(shown.get("FROM_FILE").map(String::as_str), Some("two"));
}

#[test]
fn a_name_with_spaces_and_unicode_starts_lists_and_stops_by_name() {
    let t = TestHome::new();
    let name = "my app ✓";
    let out = t.path("out");
    let table = t.ok(&["start", &app("env_dump.sh"), "--name", name, "--", s(&out)]);
    assert!(table.contains(name), "the table shows the name: {table}");
    let row = t.wait_status(name, "online");
    assert_eq!(
        dump(&out).get("PMX_APP_NAME").map(String::as_str),
        Some(name),
        "the app gets its name unchanged"
    );
    let pid0 = int(&row, "pid");
    std::fs::remove_file(&out).expect("rm");
    t.ok(&["restart", name]);
    t.wait_row(name, "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != pid0)
    });
    assert_eq!(
        dump(&out).get("PMX_APP_NAME").map(String::as_str),
        Some(name),
        "and keeps it through a restart"
    );
    t.ok(&["stop", name]);
    assert_eq!(t.row(name)["status"], "stopped");
    t.ok(&["delete", name]);
    assert!(t.list().is_empty());
}

#[test]
fn a_unicode_name_from_an_ecosystem_file() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"café worker ✓\", script: \"{}\")])\n",
            app("sleeper.sh")
        ),
    )
    .expect("eco");
    t.ok(&["up", "eco.ron"]);
    t.wait_status("café worker ✓", "online");
    t.ok(&["stop", "café worker ✓"]);
    assert_eq!(t.row("café worker ✓")["status"], "stopped");
}

/// Arguments no shell could pass through unquoted.
const TRICKY: &[&str] = &[
    "plain",
    "two words",
    "  padded  ",
    "it's",
    "a \"double\" quote",
    "line one\nline two",
    "",
    "$HOME `id` *",
    "--not-a-pmx-flag",
    "ünïcødé ✓",
];

fn args_of(path: &Path) -> Vec<String> {
    assert!(
        wait_for(DEADLINE, || path.exists()),
        "args_dump.py never wrote {}",
        path.display()
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

#[test]
fn arguments_reach_the_app_unchanged_also_after_restart() {
    let t = TestHome::new();
    let out = t.path("args.json");
    let script = app("args_dump.py");
    let mut argv = vec!["start", script.as_str(), "--name", "args", "--", s(&out)];
    argv.extend_from_slice(TRICKY);
    t.ok(&argv);
    let pid0 = int(&t.wait_status("args", "online"), "pid");
    assert_eq!(args_of(&out), TRICKY);
    std::fs::remove_file(&out).expect("rm");
    t.ok(&["restart", "args"]);
    t.wait_row("args", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != pid0)
    });
    assert_eq!(args_of(&out), TRICKY, "unchanged after a restart");
}

#[test]
fn arguments_from_an_ecosystem_file_reach_the_app_unchanged() {
    let t = TestHome::new();
    let out = t.path("args.json");
    let mut args = vec![s(&out).to_string()];
    args.extend(TRICKY.iter().map(|a| a.to_string()));
    // serde_json's string escapes are valid RON string escapes.
    let ron_args = serde_json::to_string(&args).expect("json");
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"args\", script: \"{}\", args: {ron_args})])\n",
            app("args_dump.py")
        ),
    )
    .expect("eco");
    t.ok(&["start", "eco.ron"]);
    let pid0 = int(&t.wait_status("args", "online"), "pid");
    assert_eq!(args_of(&out), TRICKY);
    std::fs::remove_file(&out).expect("rm");
    t.ok(&["restart", "args"]);
    t.wait_row("args", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != pid0)
    });
    assert_eq!(args_of(&out), TRICKY, "unchanged after a restart");
}
