//! PM2 app files in every form PM2 takes (`API._startJson`): a bare list of apps, one app
//! object, `{apps}`, as JSON, YAML or a `*.config.js`, for `start`, `up`,
//! `startOrRestart`/`startOrReload` and `import`; `pmx start -` reading JSON from standard
//! input; and a malformed file refused with what is wrong and where (SPEC §3). The files
//! are written by each test into its own work directory.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// Whether `node` runs here (a `*.config.js` file needs it); else say why the test skips.
fn node_or_skip(test: &str) -> bool {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("{test}: skipped: no node on PATH to load a *.config.js file");
    }
    ok
}

/// Write `text` to `name` in the work directory.
fn write(t: &TestHome, name: &str, text: &str) {
    std::fs::write(t.path(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

/// The names in `pmx list --json`, in list order.
fn names(t: &TestHome) -> Vec<String> {
    t.list()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A list of two apps, in JSON, running the sleeper fixture.
fn two_apps_json() -> String {
    format!(
        r#"[
  {{"name": "web", "script": "{s}"}},
  {{"name": "jobs", "script": "{s}", "instances": 2}}
]
"#,
        s = app("sleeper.sh")
    )
}

/// One app, in YAML, running the sleeper fixture.
fn one_app_yaml(name: &str) -> String {
    format!("name: {name}\nscript: {}\n", app("sleeper.sh"))
}

/// `pmx args…` in `t` with `input` (written to a file first) on its standard input.
fn run_with_stdin(t: &TestHome, args: &[&str], input: &str) -> std::process::Output {
    let file = t.path(".stdin");
    std::fs::write(&file, input).expect("write stdin");
    let mut c = t.cmd(args);
    c.stdin(std::fs::File::open(&file).expect("open stdin"));
    run_with_timeout(c, Duration::from_secs(120))
}

#[test]
fn a_bare_array_json_file_starts_all_its_apps() {
    let t = TestHome::new();
    write(&t, "all.json", &two_apps_json());
    t.ok(&["start", "all.json"]);
    for name in ["web", "jobs"] {
        t.wait_status(name, "online");
    }
    let rows = t.list();
    assert_eq!(rows.len(), 3, "web and two jobs: {rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "online"), "{rows:?}");
}

#[test]
fn a_single_object_yaml_file_starts() {
    let t = TestHome::new();
    write(&t, "one.yaml", &one_app_yaml("solo"));
    write(&t, "other.yml", &one_app_yaml("duo"));
    t.ok(&["start", "one.yaml"]);
    t.ok(&["start", "other.yml"]);
    t.wait_status("solo", "online");
    t.wait_status("duo", "online");
    let described: Value =
        serde_json::from_str(&t.ok(&["describe", "solo", "--json"])).expect("describe --json");
    // The app's directory is the file's, as for any ecosystem file.
    assert_eq!(
        described[0]["cwd"],
        t.work.canonicalize().expect("work").display().to_string(),
        "{described}"
    );
}

#[test]
fn a_config_js_exporting_a_single_object_starts() {
    if !node_or_skip("a_config_js_exporting_a_single_object_starts") {
        return;
    }
    let t = TestHome::new();
    write(
        &t,
        "solo.config.js",
        &format!(
            "module.exports = {{ name: 'from-js', script: {:?} }};\n",
            app("sleeper.sh")
        ),
    );
    t.ok(&["start", "solo.config.js"]);
    t.wait_status("from-js", "online");
    assert_eq!(names(&t), ["from-js"]);
}

#[test]
fn up_and_start_or_restart_accept_a_bare_array_and_a_single_object() {
    let t = TestHome::new();
    write(&t, "all.json", &two_apps_json());
    write(&t, "one.yml", &one_app_yaml("solo"));
    t.ok(&["up", "all.json"]);
    t.ok(&["startOrRestart", "one.yml"]);
    for name in ["web", "jobs", "solo"] {
        t.wait_status(name, "online");
    }
    let solo = int(&t.row("solo"), "pid");
    // A second startOrRestart restarts it; a second up of an unchanged file leaves all be.
    t.ok(&["startOrRestart", "one.yml"]);
    let row = t.wait_row("solo", "a restart", |r| {
        r["restarts"] == 1 && r["status"] == "online"
    });
    assert_ne!(int(&row, "pid"), solo, "solo has a new pid");
    let web = int(&t.row("web"), "pid");
    t.ok(&["up", "all.json"]);
    assert_eq!(int(&t.row("web"), "pid"), web, "up of an unchanged file");
    t.ok(&["startOrReload", "all.json"]);
    t.wait_row("web", "a reload", |r| {
        r["restarts"] == 1 && r["status"] == "online"
    });
}

#[test]
fn import_still_converts_a_bare_array_and_a_single_object() {
    let t = TestHome::new();
    write(&t, "all.json", &two_apps_json());
    write(&t, "one.yml", &one_app_yaml("solo"));
    let all = t.ok(&["import", "all.json", "-o", "-"]);
    assert!(
        all.contains("name: \"web\"") && all.contains("name: \"jobs\""),
        "{all}"
    );
    t.ok(&["import", "one.yml", "-o", "solo.ron"]);
    let solo = std::fs::read_to_string(t.path("solo.ron")).expect("solo.ron");
    assert!(solo.contains("name: \"solo\""), "{solo}");
    t.ok(&["up", "solo.ron"]);
    t.wait_status("solo", "online");
}

#[test]
fn start_dash_starts_the_apps_of_json_on_stdin_with_paths_from_the_callers_directory() {
    let t = TestHome::new();
    std::fs::create_dir(t.path("bin")).expect("mkdir bin");
    std::fs::copy(app("sleeper.sh"), t.path("bin/sleeper.sh")).expect("copy sleeper");
    // Each form PM2 pipes: a list, one app, {apps}; the script relative to the caller.
    let inputs = [
        r#"[{"name": "piped-a", "script": "bin/sleeper.sh"}, {"name": "piped-b", "script": "bin/sleeper.sh"}]"#,
        r#"{"name": "piped-c", "script": "./bin/sleeper.sh"}"#,
        r#"{"apps": [{"name": "piped-d", "script": "bin/sleeper.sh"}]}"#,
    ];
    for input in inputs {
        let out = run_with_stdin(&t, &["start", "-"], input);
        expect_ok(&out, &format!("pmx start - < {input}"));
    }
    for name in ["piped-a", "piped-b", "piped-c", "piped-d"] {
        t.wait_status(name, "online");
    }
    let described: Value =
        serde_json::from_str(&t.ok(&["describe", "piped-a", "--json"])).expect("describe --json");
    let script = t.work.canonicalize().expect("work").join("bin/sleeper.sh");
    let runs = described[0].to_string();
    assert!(
        runs.contains(&script.display().to_string()),
        "runs {}: {described}",
        script.display()
    );
    // Options go before or after `-`.
    let out = run_with_stdin(
        &t,
        &["start", "-s", "-"],
        r#"{"name": "quiet", "script": "bin/sleeper.sh"}"#,
    );
    assert_eq!(expect_ok(&out, "pmx start -s -"), "");
    t.wait_status("quiet", "online");
}

#[test]
fn start_dash_reads_javascript_flavoured_json_as_pm2_evaluates_it() {
    if !node_or_skip("start_dash_reads_javascript_flavoured_json_as_pm2_evaluates_it") {
        return;
    }
    let t = TestHome::new();
    // Comments, unquoted keys and a trailing comma: PM2 evaluates piped JSON as JavaScript.
    let input = format!(
        "// the apps\n[{{ name: 'loose', script: {:?}, }}] // done",
        app("sleeper.sh")
    );
    expect_ok(&run_with_stdin(&t, &["start", "-"], &input), "pmx start -");
    t.wait_status("loose", "online");
}

#[test]
fn start_dash_with_bad_json_or_nothing_on_stdin_is_refused_at_its_position() {
    let t = TestHome::new();
    let out = run_with_stdin(&t, &["start", "-"], "{\"name\": \"x\",\n \"script\": }\n");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pmx: standard input:2:"), "{err}");
    let out = run_with_stdin(&t, &["start", "-"], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("pmx: standard input is empty"), "{err}");
    assert!(t.daemon_pid().is_none(), "no daemon was started");
}

/// `pmx` refuses `args` with exit 2 and a first stderr line starting `want`, and the
/// daemon's list is still `before`.
fn refused(t: &TestHome, args: &[&str], want: &str, before: &[Value]) {
    let err = t.fails(args, 2);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(want),
        "pmx {args:?}: want {want:?}…, got {err:?}"
    );
    assert!(!err.contains("not executable"), "{err}");
    let after = t.list();
    let key = |rows: &[Value]| {
        rows.iter()
            .map(|r| (r["name"].clone(), r["pid"].clone(), r["restarts"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&after), key(before), "pmx {args:?} changed nothing");
}

#[test]
fn a_malformed_json_or_yaml_file_is_refused_at_its_line_and_column_and_changes_nothing() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "keep"]);
    t.wait_status("keep", "online");
    let before = t.list();
    // The second comma of line 2, column 17 (strict JSON and node agree).
    write(
        &t,
        "bad.json",
        "{\"name\": \"keep\",\n  \"script\": \"x\",,\n}\n",
    );
    // The flow list of line 2 is not closed: YAML stops at line 3, column 6.
    write(&t, "bad.yml", "name: keep\nscript: [x\n  foo: : bar\n");
    for verb in [&["start"][..], &["up"], &["startOrRestart"], &["import"]] {
        for (file, at) in [
            ("bad.json", "bad.json:2:17: "),
            ("bad.yml", "bad.yml:3:6: "),
        ] {
            let mut args = verb.to_vec();
            args.push(file);
            refused(&t, &args, &format!("pmx: {at}"), &before);
        }
    }
    assert!(!t.path("ecosystem.ron").exists(), "import wrote nothing");
}

#[test]
fn a_json_or_yaml_file_that_is_not_an_app_description_says_so() {
    let t = TestHome::new();
    write(&t, "numbers.json", "[1, 2]\n");
    write(&t, "other.json", "{\"foo\": 1}\n");
    write(&t, "list.yaml", "- just\n- words\n");
    let cases = [
        ("numbers.json", "found a list holding a number at [0]"),
        ("other.json", "found an object with keys foo"),
        ("list.yaml", "found a list holding a string at [0]"),
    ];
    for (file, found) in cases {
        for verb in ["start", "up", "import"] {
            let err = t.fails(&[verb, file], 2);
            assert_eq!(
                err,
                format!(
                    "pmx: {file}: not a PM2 app description: expected an object with \"apps\", a list of apps or one app with a \"script\", {found}\n"
                ),
                "pmx {verb} {file}"
            );
        }
    }
    write(&t, "blank.json", "\n");
    write(&t, "blank.yml", "");
    for file in ["blank.json", "blank.yml"] {
        let err = t.fails(&["start", file], 2);
        assert_eq!(
            err,
            format!("pmx: {file} is empty: expected a PM2 app description (an object with \"apps\", a list of apps or one app)\n")
        );
    }
    assert!(t.daemon_pid().is_none(), "no daemon was started");
}

#[test]
fn a_config_js_that_throws_is_refused_with_the_first_line_of_nodes_error() {
    if !node_or_skip("a_config_js_that_throws_is_refused_with_the_first_line_of_nodes_error") {
        return;
    }
    let t = TestHome::new();
    write(
        &t,
        "throws.config.js",
        "throw new Error('no apps today\\nsecond line');\n",
    );
    write(
        &t,
        "syntax.config.js",
        "module.exports = {\n  name: 'x',,\n};\n",
    );
    let err = t.fails(&["start", "throws.config.js"], 2);
    assert_eq!(
        err,
        "pmx: throws.config.js: node cannot load it: Error: no apps today\n"
    );
    let err = t.fails(&["up", "syntax.config.js"], 2);
    assert_eq!(
        err,
        "pmx: syntax.config.js:2:13: SyntaxError: Unexpected token ','\n"
    );
    assert!(t.daemon_pid().is_none(), "no daemon was started");
    assert!(!Path::new(&t.path("ecosystem.ron")).exists());
}

/// PM2's `cat all.json | pm2 delete -` (and stop, restart…): the verb acts on the apps of
/// the JSON on standard input, by name, and leaves the others alone.
#[test]
fn stop_and_delete_dash_act_on_the_apps_of_json_on_stdin() {
    let t = TestHome::new();
    std::fs::create_dir(t.path("bin")).expect("mkdir bin");
    std::fs::copy(app("sleeper.sh"), t.path("bin/sleeper.sh")).expect("copy sleeper");
    let piped = r#"[{"name": "p1", "script": "bin/sleeper.sh"}, {"name": "p2", "script": "bin/sleeper.sh"}]"#;
    expect_ok(&run_with_stdin(&t, &["start", "-"], piped), "start -");
    t.ok(&["start", "bin/sleeper.sh", "--name", "other"]);
    for name in ["p1", "p2", "other"] {
        t.wait_status(name, "online");
    }
    expect_ok(&run_with_stdin(&t, &["stop", "-"], piped), "stop -");
    for name in ["p1", "p2"] {
        assert_eq!(t.row(name)["status"], "stopped", "{name}");
    }
    expect_ok(&run_with_stdin(&t, &["delete", "-"], piped), "delete -");
    let names: Vec<String> = t
        .list()
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names, ["other"], "only the piped apps are gone");
}

#[test]
fn starting_a_missing_app_file_says_the_file_is_not_found_and_starts_nothing() {
    let t = TestHome::new();
    // PM2: "File non-existent.yaml not found", exit 1.
    for missing in ["non-existent.yaml", "gone.json", "eco.config.js", "eco.ron"] {
        let err = t.fails(&["start", missing], 1);
        assert!(
            err.contains(&format!("app file {missing} not found")),
            "{missing}: {err}"
        );
        assert!(!err.contains("command"), "not read as a command: {err}");
    }
    // A plain name still reads as a script or a command.
    let err = t.fails(&["start", "no-such-tool"], 1);
    assert!(err.contains("script or command not found"), "{err}");
    assert!(t.list().is_empty());
}
