//! Table tests of the PM2 file conversion.
use super::*;

#[test]
fn a_value_that_is_no_form_pm2_takes_is_named_for_what_it_is() {
    let cases: &[(&str, Option<&str>)] = &[
        (r#"{"apps": []}"#, None),
        (r#"{"pm2": [{"script": "a"}]}"#, None),
        (r#"[{"script": "a"}, {"name": "b"}]"#, None),
        (r#"{"script": "a"}"#, None),
        (r#"{"exec": "a"}"#, None),
        // A name without a script: the missing script is the error, as in PM2.
        (r#"{"name": "a"}"#, None),
        ("[]", None),
        ("[1, 2]", Some("a list holding a number at [0]")),
        (
            r#"[{"script": "a"}, "b"]"#,
            Some("a list holding a string at [1]"),
        ),
        (r#"{"foo": 1}"#, Some("an object with keys foo")),
        (
            r#"{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1}"#,
            Some("an object with keys a, b, c, d, e, …"),
        ),
        ("{}", Some("an empty object")),
        (
            r#"{"static": [{"path": ".", "port": 8081}]}"#,
            Some("only \"static\" (the file servers of `pm2 serve`, which pmx does not have)"),
        ),
        ("\"x\"", Some("a string")),
        ("null", Some("null")),
        ("3", Some("a number")),
    ];
    for (json, want) in cases {
        let v: Value = serde_json::from_str(json).expect(json);
        assert_eq!(not_apps(&v).as_deref(), *want, "{json}");
    }
}

#[test]
fn args_are_split_as_pm2_splits_them() {
    // The table of PM2 7's Config._valid, observed with PM2 itself.
    let cases: [(&str, &[&str]); 8] = [
        (
            "--a 'b c' d \"e f\" --g=\"h i\" j'k l'",
            &["--a", "b c", "d", "e f", "--g=\"h i\"", "j'k", "l'"],
        ),
        (
            "--port=3000 --name \"my app\"",
            &["--port=3000", "--name", "my app"],
        ),
        ("--msg='x y'", &["--msg='x y'"]),
        ("a\\ b", &["a\\", "b"]),
        ("\"\" x", &["x"]),
        ("it's ok", &["it's", "ok"]),
        ("a \"b c\"d e", &["a", "b c", "d", "e"]),
        ("\"unterminated x", &["\"unterminated", "x"]),
    ];
    for (input, want) in cases {
        assert_eq!(split_args(input), want, "{input:?}");
    }
}

#[test]
fn names_and_strings() {
    assert_eq!(render_name("app/server.js"), "server");
    assert_eq!(render_name("python3 app/p.py --x"), "p");
    assert_eq!(
        render_name("sleep 1000 && echo hi"),
        "sleep 1000 && echo hi"
    );
    assert_eq!(render_name(".hidden"), ".hidden");
    assert_eq!(ron_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u{1}\"");
    assert_eq!(file_name("l4 weird/name!"), "l4-weird-name-");
}

fn ctx(dir: &Path) -> Context {
    Context {
        scripts_optional: false,
        caller_cwd: dir.to_path_buf(),
        file_dir: dir.to_path_buf(),
        out_dir: dir.to_path_buf(),
        source_name: "ecosystem.config.js".into(),
        path_var: std::env::var("PATH").ok(),
        home_dir: Some("/home/u".into()),
        logs_dir: "/h/logs".into(),
    }
}

#[test]
fn a_pm2_app_becomes_a_valid_ron_app() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("app")).expect("mkdir");
    std::fs::write(dir.path().join("app/server.js"), "x").expect("write");
    let config = serde_json::json!({
        "apps": [{
            "name": "api", "script": "server.js", "cwd": "app",
            "args": "--port 3000", "env": {"N": 1, "B": true, "S": "s"},
            "env_production": {"NODE_ENV": "production"},
            "autorestart": false, "min_uptime": "2s", "max_restarts": 3,
            "instances": "max", "exec_mode": "cluster",
            "log_date_format": "YYYY-MM-DD HH:mm", "merge_logs": true,
            "out_file": "~/out.log", "error": "NULL",
            "vizion": false, "kill_timeout": 3000, "cron": "0 3 * * *",
            "watch": ["src"], "ignore_watch": "node_modules logs",
            "shutdownWithMessage": true,
        }],
        "deploy": {"production": {"user": "app", "host": ["a", "b"], "ref": "origin/main",
            "repo": "git@x:y.git", "path": "/srv", "post-deploy": "pmx up", "env": {"D": "1"},
            "port": 2222}},
    });
    let c = convert(&config, &[], &ctx(dir.path())).expect("converts");
    let eco = pmx_config::parse(&c.ron, &dir.path().join("ecosystem.ron"))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.ron));
    let app = &eco.apps[0];
    assert_eq!(app.name, "api");
    assert_eq!(app.script, "app/server.js");
    assert_eq!(app.cwd.as_deref(), Some(dir.path().join("app").as_path()));
    assert_eq!(app.args, ["--port", "3000"]);
    assert_eq!(app.env["N"], "1");
    assert_eq!(app.env["B"], "true");
    assert_eq!(app.envs["production"]["NODE_ENV"], "production");
    assert_eq!(
        app.envs["production"]["D"], "1",
        "deploy env under env_production"
    );
    assert_eq!(app.restart.policy, pmx_config::Policy::Never);
    assert_eq!(app.restart.min_uptime_ms, 2000);
    assert_eq!(app.restart.max_restarts, 3);
    assert_eq!(app.instances, pmx_config::Instances::Max);
    assert!(app.logs.time);
    assert_eq!(app.logs.date_format, "%Y-%m-%d %H:%M");
    assert!(app.logs.merge);
    assert_eq!(
        app.logs.out_file.as_deref(),
        Some(Path::new("/home/u/out.log"))
    );
    assert_eq!(app.logs.error_file.as_deref(), Some(Path::new("/dev/null")));
    assert_eq!(app.kill_timeout_ms, 3000);
    assert!(app.shutdown_with_message, "PM2's camelCase alias");
    assert_eq!(app.cron_restart.as_deref(), Some("0 3 * * *"));
    assert_eq!(app.ignore_watch, ["node_modules", "logs"]);
    assert_eq!(
        eco.deploy["production"].post_deploy.as_deref(),
        Some("pmx up")
    );
    assert_eq!(eco.deploy["production"].host, ["a", "b"]);
    assert_eq!(
        eco.deploy["production"].port,
        Some(2222),
        "PM2's port, as ssh -p"
    );
    assert!(
        c.warnings.iter().any(|w| w.contains("vizion")),
        "{:?}",
        c.warnings
    );
    // The same input gives the same file.
    let again = convert(&config, &[], &ctx(dir.path())).expect("converts");
    assert_eq!(again.ron, c.ron);
}

#[test]
fn exec_mode_and_increment_var_keep_pm2s_meaning() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("a.js"), "x").expect("write");
    let config = serde_json::json!([
        {"name": "forks", "script": "a.js", "instances": 3, "exec_mode": "fork",
         "increment_var": "PORT", "env": {"PORT": 3000}},
        {"name": "one", "script": "a.js", "exec_mode": "cluster_mode"},
        {"name": "many", "script": "a.js", "instances": 2, "exec_mode": "cluster"},
        {"name": "single", "script": "a.js", "exec_mode": "fork"},
    ]);
    let c = convert(&config, &[], &ctx(dir.path())).expect("converts");
    let eco = pmx_config::parse(&c.ron, &dir.path().join("ecosystem.ron"))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.ron));
    use pmx_config::ExecMode::{Cluster, Fork};
    let got: Vec<_> = eco
        .apps
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.exec_mode,
                a.exec_mode(),
                a.increment_var.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("forks", Some(Fork), Fork, Some("PORT".to_string())),
            ("one", Some(Cluster), Cluster, None),
            ("many", None, Cluster, None),
            ("single", None, Fork, None),
        ],
        "{}",
        c.ron
    );
}

#[test]
fn what_pmx_cannot_express_is_an_error_naming_app_and_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = serde_json::json!([
        {"name": "a", "script": "missing.js"},
        {"name": "b", "script": "bash", "args": 5, "increment_var": 3},
    ]);
    let errors = convert(&config, &[], &ctx(dir.path())).expect_err("fails");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("app \"a\": script") && e.contains("not found")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("app \"b\": args")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("app \"b\": increment_var")),
        "{errors:?}"
    );
}

#[test]
fn numbers_reach_the_app_as_javascript_prints_them() {
    // Found by the differential test against PM2 (fixtures/pm2/json): `1.0` in a
    // .json or .yaml file is the number 1 to PM2, so the app gets "1", not "1.0".
    let cases: [(Value, &str); 10] = [
        (serde_json::json!(1.0), "1"),
        (serde_json::json!(0.25), "0.25"),
        (serde_json::json!(-3), "-3"),
        (serde_json::json!(3000), "3000"),
        (serde_json::json!(-0.0), "0"),
        (serde_json::json!(1e21), "1e+21"),
        (serde_json::json!(1.5e-7), "1.5e-7"),
        (serde_json::json!(0.000001), "0.000001"),
        (serde_json::json!(0.1 + 0.2), "0.30000000000000004"),
        (
            serde_json::json!(12345678901234567890u64),
            "12345678901234567000",
        ),
    ];
    for (v, want) in cases {
        assert_eq!(env_value(&v), want, "{v}");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let config = serde_json::json!({"apps": [{"name": "n", "script": "bash",
        "args": ["-c", 2.0, true], "env": {"RATE": 1.0, "ON": false}}]});
    let c = convert(&config, &[], &ctx(dir.path())).expect("converts");
    let eco =
        pmx_config::parse(&c.ron, &dir.path().join("e.ron")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eco.apps[0].args, ["-c", "2", "true"]);
    assert_eq!(eco.apps[0].env["RATE"], "1");
    assert_eq!(eco.apps[0].env["ON"], "false");
}

#[test]
fn a_missing_script_names_the_app_by_its_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = serde_json::json!([{"name": "no-script", "args": ["x"]}, {"args": "y"}]);
    let errors = convert(&config, &[], &ctx(dir.path())).expect_err("fails");
    assert_eq!(
        errors,
        [
            "ecosystem.config.js: app \"no-script\": script: missing (PM2: \"No script path\")",
            "ecosystem.config.js: apps[1]: script: missing (PM2: \"No script path\")",
        ]
    );
}

#[test]
fn a_script_with_a_space_runs_through_bash_c() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = serde_json::json!({"apps": [{"script": "sleep 100 && echo hi", "args": ["x"]}]});
    let c = convert(&config, &[], &ctx(dir.path())).expect("converts");
    let eco =
        pmx_config::parse(&c.ron, &dir.path().join("e.ron")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eco.apps[0].name, "sleep 100 && echo hi");
    assert_eq!(eco.apps[0].script, "bash");
    assert_eq!(eco.apps[0].args, ["-c", "sleep 100 && echo hi"]);
    assert!(c.warnings.iter().any(|w| w.contains("drops its args")));
}
