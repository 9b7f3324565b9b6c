//! `parse` over small inline files: defaults, `implicit_some`, partial nested structs,
//! path resolution, env values, every error kind and their positions.

use pmx_config::*;
use std::path::{Path, PathBuf};

const FILE: &str = "/srv/eco/ecosystem.ron";

fn ok(src: &str) -> Ecosystem {
    match parse(src, Path::new(FILE)) {
        Ok(e) => e,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn app(fields: &str) -> App {
    let src = format!("Ecosystem(apps: [App(name: \"a\", script: \"a.js\", {fields})])");
    ok(&src).apps.remove(0)
}

/// `(line, col, message)` of every error.
fn errs(src: &str) -> Vec<(usize, usize, String)> {
    match parse(src, Path::new("e.ron")) {
        Ok(_) => panic!("no error for {src}"),
        Err(e) => {
            e.0.into_iter()
                .map(|e| (e.line, e.col, e.message))
                .collect()
        }
    }
}

fn app_err(fields: &str) -> String {
    let src = format!("Ecosystem(apps: [App(name: \"a\", script: \"a.js\", {fields})])");
    let mut e = errs(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    e.remove(0).2
}

#[test]
fn defaults() {
    let a = app("");
    let mut want = App::new("a".into(), "a.js".into(), PathBuf::from("/srv/eco"));
    want.line = 1;
    assert_eq!(a, want);
    let e = ok("Ecosystem(apps: [])");
    assert_eq!(e.file, PathBuf::from(FILE));
    assert_eq!(e.dir, PathBuf::from("/srv/eco"));
    assert!(e.groups.is_empty() && e.deploy.is_empty());
    let g = ok(
        "(apps: [App(name: \"a\", script: \"a\")], groups: [Group(name: \"g\", apps: [\"a\"])])",
    )
    .groups;
    assert_eq!(
        g[0].intensity,
        Intensity {
            max: 1,
            within_ms: 5000
        }
    );
    assert_eq!(g[0].strategy, Strategy::OneForOne);
}

#[test]
fn implicit_some_both_spellings() {
    for v in ["\"300M\"", "Some(\"300M\")", "314572800", "Some(314572800)"] {
        assert_eq!(
            app(&format!("max_memory_restart: {v}")).max_memory_restart,
            Some(300 << 20),
            "{v}"
        );
    }
    assert_eq!(app("max_memory_restart: None").max_memory_restart, None);
    assert_eq!(
        app("cwd: Some(\"x\")").cwd,
        Some(PathBuf::from("/srv/eco/x"))
    );
    assert_eq!(
        app("uid: \"www\", gid: Some(33)").gid.as_deref(),
        Some("33")
    );
    let a = app("logs: (rotate: Some((max_size: \"10M\")))");
    assert_eq!(
        a.logs.rotate,
        Some(Rotate {
            max_size: Some(10 << 20),
            interval_ms: None,
            keep: 5,
            compress: false
        })
    );
    let a = app("logs: (rotate: (interval: \"1d\", keep: 2, compress: true))");
    assert_eq!(
        a.logs.rotate,
        Some(Rotate {
            max_size: None,
            interval_ms: Some(86_400_000),
            keep: 2,
            compress: true
        })
    );
}

#[test]
fn partial_nested_structs() {
    let a = app("restart: (policy: OnFailure)");
    assert_eq!(
        a.restart,
        Restart {
            policy: Policy::OnFailure,
            ..Restart::default()
        }
    );
    let a = app("restart: Restart(backoff: Exp(\"100ms\"), delay: 250)");
    assert_eq!(a.restart.backoff_ms, Some(100));
    assert_eq!(a.restart.delay_ms, 250);
    assert_eq!(a.restart.max_restarts, 16);
    assert_eq!(
        app("intensity: (within: \"10s\")").intensity,
        Some(Intensity {
            max: 1,
            within_ms: 10_000
        })
    );
    let a = app("logs: (time: true)");
    assert!(a.logs.time);
    assert_eq!(a.logs.date_format, "%Y-%m-%dT%H:%M:%S");
    assert_eq!(app("restart: ()").restart, Restart::default());
}

#[test]
fn every_field_parses() {
    let e = pmx_config::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ecosystems/ok-full.ron"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = e.dir.clone();
    let a = &e.apps[0];
    assert_eq!(a.script, "api/server.js");
    assert_eq!(a.args, ["--port", "3000"]);
    assert_eq!(a.cwd, Some(dir.join("api")));
    assert_eq!(a.interpreter.as_deref(), Some("node"));
    assert_eq!(a.instances, Instances::Count(4));
    assert_eq!(a.listen, ["tcp://0.0.0.0:3000"]);
    assert_eq!(a.exec_mode, Some(pmx_config::ExecMode::Cluster));
    assert_eq!(a.increment_var.as_deref(), Some("PORT"));
    assert_eq!(a.env.get("PORT").map(String::as_str), Some("3000"));
    assert_eq!(a.envs["production"]["NODE_ENV"], "production");
    assert_eq!(a.env_file, Some(dir.join(".env")));
    assert_eq!(a.kill_timeout_ms, 1600);
    assert_eq!(a.listen_timeout_ms, 3000);
    assert_eq!(a.max_memory_restart, Some(300 << 20));
    assert_eq!(a.cron_restart.as_deref(), Some("0 3 * * *"));
    assert_eq!(a.watch, Watch::Paths(vec![dir.join("src")]));
    assert_eq!(a.ignore_watch, ["node_modules", "*.log"]);
    assert_eq!(a.watch_delay_ms, 500);
    assert_eq!(a.logs.rotate.map(|r| r.max_size), Some(Some(10 << 20)));
    assert_eq!(a.line, 4);
    let g = &e.groups[0];
    assert_eq!(
        (g.name.as_str(), g.strategy, g.intensity),
        (
            "backend",
            Strategy::RestForOne,
            Intensity {
                max: 3,
                within_ms: 30_000
            }
        )
    );
    assert_eq!(g.apps, ["db-proxy", "api", "worker"]);
    let d = &e.deploy["production"];
    assert_eq!(d.host, ["web1"]);
    assert_eq!(d.r#ref.as_deref(), Some("origin/main"));
    assert_eq!(
        d.post_deploy.as_deref(),
        Some("pmx up ecosystem.ron --env production")
    );
    assert_eq!(
        e.env_names().into_iter().collect::<Vec<_>>(),
        ["production"]
    );
    assert_eq!(e.group_of("api").map(|g| g.name.as_str()), Some("backend"));
    assert!(e.app("worker").is_some());
}

#[test]
fn instances_forms() {
    let cases = [
        ("Count(4)", Instances::Count(4)),
        ("4", Instances::Count(4)),
        ("Max", Instances::Max),
        ("0", Instances::Max),
        ("\"max\"", Instances::Max),
        ("MaxMinus(1)", Instances::MaxMinus(1)),
        ("-1", Instances::MaxMinus(1)),
    ];
    for (v, want) in cases {
        assert_eq!(app(&format!("instances: {v}")).instances, want, "{v}");
    }
    assert_eq!(
        app_err("instances: Count(0)"),
        "instances must be at least 1 (Max for one per CPU)"
    );
    assert_eq!(
        app_err("instances: Mx"),
        "unknown instances \"Mx\", did you mean \"Max\"?"
    );
}

#[test]
fn watch_forms() {
    assert_eq!(app("watch: false").watch, Watch::Off);
    assert_eq!(app("watch: true").watch, Watch::On);
    assert_eq!(
        app("watch: Paths([\"src\", \"/abs\"])").watch,
        Watch::Paths(vec!["/srv/eco/src".into(), "/abs".into()])
    );
    assert_eq!(
        app("watch: [\"./lib\"]").watch,
        Watch::Paths(vec!["/srv/eco/lib".into()])
    );
}

#[test]
fn paths_resolve_against_the_file_dir() {
    let a = app("cwd: \"work\", env_file: \"../shared/.env\", logs: (out_file: \"logs/out.log\", error_file: \"/dev/null\", log_file: \"./all.log\")");
    assert_eq!(a.dir, PathBuf::from("/srv/eco"));
    assert_eq!(a.cwd, Some(PathBuf::from("/srv/eco/work")));
    assert_eq!(a.env_file, Some(PathBuf::from("/srv/eco/../shared/.env")));
    assert_eq!(
        a.logs.out_file,
        Some(PathBuf::from("/srv/eco/logs/out.log"))
    );
    assert_eq!(a.logs.error_file, Some(PathBuf::from("/dev/null")));
    assert_eq!(a.logs.log_file, Some(PathBuf::from("/srv/eco/all.log")));
    // The script stays as written; the CLI resolves it against `dir`, even with `cwd`.
    assert_eq!(a.script, "a.js");
    // A relative file path resolves against the current directory.
    let e = parse("(apps: [])", Path::new("sub/eco.ron")).unwrap_or_else(|e| panic!("{e}"));
    let cwd = std::env::current_dir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.dir, cwd.join("sub"));
}

#[test]
fn env_values_become_strings() {
    let a = app("env: {\"S\": \"x\", \"N\": 3000, \"F\": 1.5, \"B\": true, \"NEG\": -2}, envs: {\"prod\": {\"N\": 1}}");
    let got: Vec<(&str, &str)> = a
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("B", "true"),
            ("F", "1.5"),
            ("N", "3000"),
            ("NEG", "-2"),
            ("S", "x")
        ]
    );
    assert_eq!(a.envs["prod"]["N"], "1");
    assert_eq!(
        app_err("env: {\"A=B\": 1}"),
        "invalid variable name \"A=B\""
    );
    assert_eq!(
        app_err("env: [1]"),
        "expected a map {\"KEY\": \"value\"} for \"env\", found a list […]"
    );
}

#[test]
fn unicode_names_and_columns() {
    let e =
        ok("(apps: [App(name: \"服务 api\", script: \"s\"), App(name: \"café\", script: \"s\")])");
    assert_eq!(e.apps[0].name, "服务 api");
    // Columns count characters: the error on the second line is at column 17.
    let e = errs("(apps: [App(name: \"é\", script: \"s\"),\n App(name: \"é\", script: \"s\")])");
    assert_eq!(
        e,
        [(
            2,
            12,
            "duplicate app name \"é\" (first used on line 1)".to_string()
        )]
    );
    let e = errs("(apps: [App(name: \"éé\", script: \"s\", kill_signal: \"X\")])");
    assert_eq!(e[0].1, 51);
}

#[test]
fn unknown_fields_suggest() {
    assert_eq!(
        app_err("instanses: 4"),
        "unknown field \"instanses\", did you mean \"instances\"?"
    );
    assert_eq!(
        app_err("restart: (max_restart: 3)"),
        "unknown field \"max_restart\", did you mean \"max_restarts\"?"
    );
    assert_eq!(
        app_err("logs: (rotate: (kep: 3))"),
        "unknown field \"kep\", did you mean \"keep\"?"
    );
    assert_eq!(
        app_err("intensity: (period: 1)"),
        "unknown field \"period\", did you mean \"within\"?"
    );
    assert_eq!(
        app_err("restart_delay: 100"),
        "unknown field \"restart_delay\", did you mean \"restart: (delay: …)\"?"
    );
    assert!(app_err("zzzzzz: 1")
        .starts_with("unknown field \"zzzzzz\"; expected one of: name, script,"));
    let e = errs("(apps: [], deploy: {\"p\": Deploy(hots: \"x\")})");
    assert_eq!(e[0].2, "unknown field \"hots\", did you mean \"host\"?");
    assert_eq!(app_err("name: \"b\""), "field \"name\" is given twice");
}

#[test]
fn value_errors() {
    assert!(app_err("kill_timeout: \"1x\"").starts_with("invalid duration \"1x\""));
    assert!(app_err("kill_timeout: true").starts_with("expected a duration for \"kill_timeout\""));
    assert!(app_err("max_memory_restart: \"1Q\"").starts_with("invalid size \"1Q\""));
    assert_eq!(
        app_err("kill_signal: \"SIGKIL\""),
        "unknown signal \"SIGKIL\", did you mean \"SIGKILL\"?"
    );
    assert!(
        app_err("cron_restart: \"61 * * * *\"").starts_with("invalid cron pattern \"61 * * * *\"")
    );
    assert!(app_err("logs: (date_format: \"YYYY\")").contains("\"%Y\""));
    assert!(app_err("logs: (date_format: \"%Q\")").starts_with("invalid strftime format"));
    assert!(app_err("listen: [\"tcp://x\"]").starts_with("invalid listen address"));
    assert_eq!(
        app_err("restart: (policy: Sometimes)"),
        "unknown policy \"Sometimes\"; expected one of: Always, OnFailure, Never"
    );
    assert_eq!(
        app_err("restart: (backoff: \"1s\")"),
        "expected Exp(\"100ms\") or None for \"backoff\", found a string"
    );
    assert_eq!(
        app_err("stop_exit_codes: [1, \"2\"]"),
        "expected an integer in \"stop_exit_codes\", found a string"
    );
    assert_eq!(
        app_err("restart: (max_restarts: -1)"),
        "-1 is out of range for \"max_restarts\""
    );
    assert_eq!(
        app_err("namespace: \"all\""),
        "invalid name \"all\": \"all\" means every app"
    );
    assert_eq!(
        app_err("cwd: Some(1, 2)"),
        "Some(…) takes exactly one value"
    );
}

#[test]
fn semantic_errors_point_at_their_line() {
    let src = "Ecosystem(\n apps: [\n  App(name: \"a\", script: \"s\"),\n  App(name: \"b\", script: \"s\"),\n ],\n groups: [\n  Group(name: \"g\", apps: [\"a\", \"a\"]),\n  Group(name: \"h\", apps: [\"a\", \"c\"]),\n  Group(name: \"g\", apps: [\"b\"]),\n  Group(name: \"b\", apps: []),\n ],\n)";
    let e = errs(src);
    let want = [
        (
            7,
            32,
            "app \"a\" is listed twice in group \"g\"".to_string(),
        ),
        (
            8,
            27,
            "app \"a\" is already in group \"g\" (an app is in at most one group)".to_string(),
        ),
        (8, 32, "group \"h\" names unknown app \"c\"".to_string()),
        (
            9,
            15,
            "duplicate group name \"g\" (first used on line 7)".to_string(),
        ),
        (
            10,
            15,
            "group \"b\" has the same name as an app".to_string(),
        ),
        (10, 26, "a group needs at least one app".to_string()),
    ];
    assert_eq!(e, want);
}

#[test]
fn one_bad_app_fails_the_whole_load() {
    let e = errs(
        "(apps: [App(name: \"ok\", script: \"s\"), App(name: \"bad\", script: \"s\", watch: 1)])",
    );
    assert_eq!(e.len(), 1);
}

#[test]
fn a_syntax_error_ends_the_reading() {
    let e = errs("(apps: [App(name: \"a\", script: \"s\", instanses: 4)],\n junk: ,)");
    assert_eq!(e, [(2, 8, "expected a value, found \",\"".to_string())]);
}

#[test]
fn load_reports_a_missing_file() {
    let e = match load(Path::new("/nonexistent/eco.ron")) {
        Ok(_) => panic!("loaded a missing file"),
        Err(e) => e,
    };
    assert_eq!(e.len(), 1);
    assert_eq!((e.0[0].line, e.0[0].col), (0, 0));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/eco.ron: no such file"),
        "{e}"
    );
}

#[test]
fn debug_of_the_ecosystem_hides_env_values() {
    let src = "(apps: [App(name: \"a\", script: \"s\", env: {\"TOKEN\": \"s3cret\"}, envs: {\"p\": {\"PW\": \"hunter2\"}})])";
    let d = format!("{:?}", ok(src));
    assert!(d.contains("TOKEN") && d.contains("PW"));
    assert!(!d.contains("s3cret") && !d.contains("hunter2"), "{d}");
}

#[test]
fn model_round_trips_through_serde() {
    let e = ok(
        "(apps: [App(name: \"a\", script: \"s\", instances: MaxMinus(2), watch: Paths([\"x\"]))])",
    );
    let text = ron::to_string(&e).unwrap_or_else(|err| panic!("{err}"));
    let back: Ecosystem = ron::from_str(&text).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(back, e);
}

/// Each timer of an app is bounded by a day (a wait past it is a hang, and near
/// `u64::MAX` ms it overflows an `Instant`); log rotation's interval is not a wait.
#[test]
fn durations_past_a_day_are_refused_but_rotation_intervals() {
    let cases = [
        ("kill_timeout: 86400001", "kill_timeout"),
        ("kill_timeout: 18446744073709551615", "kill_timeout"),
        ("listen_timeout: \"2d\"", "listen_timeout"),
        ("watch_delay: \"25h\"", "watch_delay"),
        ("restart: (delay: \"2d\")", "delay"),
        ("restart: (backoff: Exp(\"2d\"))", "backoff"),
        ("restart: (min_uptime: \"2d\")", "min_uptime"),
        ("intensity: Some((max: 3, within: \"2d\"))", "within"),
    ];
    for (fields, field) in cases {
        let e = app_err(fields);
        assert!(
            e.starts_with(&format!("{field}: ")) && e.contains("maximum of 1 day"),
            "{fields}: {e}"
        );
    }
    assert_eq!(app("kill_timeout: \"1d\"").kill_timeout_ms, MAX_DURATION_MS);
    let a = app("logs: (rotate: Some((interval: \"7d\")))");
    assert_eq!(
        a.logs.rotate.and_then(|r| r.interval_ms),
        Some(7 * MAX_DURATION_MS)
    );
}

/// What the daemon checks on a client's durations (CLI flags are plain ms).
#[test]
fn check_duration_names_the_field() {
    assert_eq!(
        check_duration("kill_timeout", MAX_DURATION_MS),
        Ok(MAX_DURATION_MS)
    );
    assert_eq!(
        check_duration("restart.backoff", u64::MAX),
        Err(format!(
            "restart.backoff: {}ms is more than the maximum of 1 day (86400000ms)",
            u64::MAX
        ))
    );
}

#[test]
fn bytes_that_are_not_utf8_are_an_error_at_the_first_invalid_byte() {
    let cases: [(&[u8], usize, usize, u8); 4] = [
        (b"\xff", 1, 1, 0xff),
        (b"Ecosystem(apps: [App(name: \"a\xff\")])", 1, 30, 0xff),
        (b"// \xc3\xa9t\xc3\xa9\n  (\xc3(", 2, 4, 0xc3),
        (b"\r\n\xe9\xe9", 2, 1, 0xe9),
    ];
    for (bytes, line, col, byte) in cases {
        let e = match parse_bytes(bytes, Path::new("e.ron")) {
            Ok(_) => panic!("{bytes:?} parsed"),
            Err(e) => e,
        };
        assert_eq!(e.len(), 1);
        let e = &e.0[0];
        assert_eq!(
            (e.line, e.col, e.message.clone()),
            (
                line,
                col,
                format!("byte 0x{byte:02x} is not UTF-8 (an ecosystem file is UTF-8 text)")
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn load_says_what_a_file_that_is_not_regular_is() {
    let dir = std::env::temp_dir().join(format!("pmx-config-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.ron");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let big = dir.join("big.ron");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    let mut cases = vec![
        (
            dir.clone(),
            "a directory is not an ecosystem file".to_string(),
        ),
        (
            PathBuf::from("/dev/zero"),
            "a character device is not an ecosystem file".to_string(),
        ),
        (
            big.clone(),
            format!(
                "{} bytes is more than the 16 MiB an ecosystem file may hold",
                MAX_FILE_BYTES + 1
            ),
        ),
    ];
    if made {
        // Opened non-blocking: no writer, and still no hang.
        cases.push((
            fifo,
            "a named pipe (FIFO) is not an ecosystem file".to_string(),
        ));
    }
    for (path, why) in cases {
        let e = match load(&path) {
            Ok(_) => panic!("{} loaded", path.display()),
            Err(e) => e,
        };
        assert_eq!(e.to_string(), format!("{}: {why}", path.display()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn special_file_kind_names_pipes_and_devices_only() {
    assert_eq!(
        special_file_kind(Path::new("/dev/null")),
        Some("a character device")
    );
    assert_eq!(special_file_kind(Path::new("/")), None);
    assert_eq!(special_file_kind(Path::new("/nonexistent/x")), None);
    assert_eq!(
        special_file_kind(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("Cargo.toml")
                .as_path()
        ),
        None
    );
}

#[test]
fn health_checks_parse_with_their_defaults() {
    let h = app("health: (http: \"http://127.0.0.1:${PORT}/health\")")
        .health
        .expect("health");
    assert_eq!(
        h,
        Health::new(Probe::Http("http://127.0.0.1:${PORT}/health".into()))
    );
    let h = app(
        "health: Some((tcp: \"localhost:22\", interval: \"1s\", timeout: 500, failures: 2, start_period: \"2s\", ready: true))",
    )
    .health
    .expect("health");
    assert_eq!(
        h,
        Health {
            probe: Probe::Tcp("localhost:22".into()),
            interval_ms: 1000,
            timeout_ms: 500,
            failures: 2,
            start_period_ms: 2000,
            ready: true,
        }
    );
    let h = app("health: (exec: [\"test\", \"-f\", \"/tmp/ok\"])").health;
    assert_eq!(
        h.map(|h| h.probe),
        Some(Probe::Exec(vec![
            "test".into(),
            "-f".into(),
            "/tmp/ok".into()
        ]))
    );
    assert_eq!(app("health: None").health, None);
    assert_eq!(app("").health, None);
}

#[test]
fn bad_health_checks_point_at_their_value() {
    // (fields, the text the error points at, part of its message)
    let cases: &[(&str, &str, &str)] = &[
        (
            "health: (interval: \"1s\")",
            "(interval",
            "a health check needs a probe",
        ),
        (
            "health: (http: \"http://h\", tcp: \"h:1\")",
            "tcp",
            "only one of http, tcp or exec",
        ),
        (
            "health: (http: \"https://h/\")",
            "\"https",
            "https is not supported",
        ),
        ("health: (tcp: \"h\")", "\"h\"", "no port"),
        ("health: (exec: [])", "[]", "needs a command"),
        ("health: (exec: [\"\"])", "\"\"]", "must not be empty"),
        (
            "health: (http: 3)",
            "3)",
            "expected a URL \"http://…\" for health \"http\", found an integer",
        ),
        (
            "health: (tcp: \"h:1\", failures: 0)",
            "0)",
            "failures must be at least 1",
        ),
        (
            "health: (tcp: \"h:1\", interval: 0)",
            "0)",
            "interval must be more than 0",
        ),
        (
            "health: (tcp: \"h:1\", timeout: \"x\")",
            "\"x\"",
            "invalid duration",
        ),
        (
            "health: (tcp: \"h:1\", retries: 3)",
            "retries",
            "did you mean \"failures\"",
        ),
        (
            "health: (tcp: \"h:1\", ready: 1)",
            "1)",
            "expected true or false for \"ready\"",
        ),
    ];
    for (fields, at, frag) in cases {
        let src = format!("Ecosystem(apps: [App(name: \"a\", script: \"a.js\", {fields})])");
        let col = src.rfind(at).expect("marker") + 1;
        let e = errs(&src);
        assert_eq!(e.len(), 1, "{fields}: {e:?}");
        assert_eq!(e[0].0, 1, "{fields}");
        assert!(e[0].2.contains(frag), "{fields}: {}", e[0].2);
        assert_eq!(e[0].1, col, "{fields}: {}", e[0].2);
    }
}

#[test]
fn deploy_takes_pm2s_port_and_keep_releases_and_records_its_line() {
    let e = ok("Ecosystem(apps: [], deploy: {\n  \"p\": Deploy(host: \"h\", port: 2222, keep_releases: 3),\n  \"q\": Deploy(host: [\"a\", \"b\"], ssh_options: \"X=1\"),\n})");
    let p = &e.deploy["p"];
    assert_eq!((p.port, p.keep_releases, p.line), (Some(2222), Some(3), 2));
    let q = &e.deploy["q"];
    assert_eq!((q.port, q.keep_releases, q.line), (None, None, 3));
    assert_eq!(q.ssh_options, ["X=1"]);
    let cases = [
        ("port: 70000", "70000 is out of range for \"port\""),
        (
            "port: \"22\"",
            "expected a whole number for \"port\", found a string",
        ),
        (
            "keep_releases: 0",
            "\"keep_releases\" must be at least 1 (the current release)",
        ),
    ];
    for (field, want) in cases {
        let e = errs(&format!("(apps: [], deploy: {{\"p\": Deploy({field})}})"));
        assert_eq!(e.len(), 1, "{field}: {e:?}");
        assert!(e[0].2.starts_with(want), "{field}: {}", e[0].2);
    }
}
