//! What pmx refuses to read or run, with a line where there is one (issue 18, items 3, 9
//! and 10): nesting past 128 levels, bytes that are not UTF-8, a FIFO or a device given
//! as the file, durations past a day (in a file and on the socket), groups a file could
//! not declare sent over the socket.

use std::time::{Duration, Instant};

use pmx_protocol::{AppSpec, ErrorCode, Group, Request, StartRequest};

use crate::harness::*;

/// Run `pmx args…` expecting exit `code` within 10 s (a FIFO must never block it);
/// answers stderr.
fn fails_fast(t: &TestHome, args: &[&str], code: i32) -> String {
    let began = Instant::now();
    let out = run_with_timeout(t.cmd(args), Duration::from_secs(30));
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "pmx {args:?} took {:?}",
        began.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "pmx {args:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The first line of `text`.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[test]
fn a_deeply_nested_file_is_refused_at_its_line_and_column_not_a_crash() {
    let t = TestHome::new();
    std::fs::write(t.path("x.ron"), format!("{}\n", "[".repeat(20_000))).expect("write");
    let msg = "nested too deeply: more than 128 lists, maps or structs inside one another";
    for verb in [&["up", "--dry-run", "x.ron"][..], &["start", "x.ron"]] {
        let err = fails_fast(&t, verb, 2);
        assert_eq!(
            first_line(&err),
            format!("pmx: x.ron:1:129: {msg}"),
            "{verb:?}"
        );
    }
    // Deep, but inside the limit, a file reads on to its real mistakes.
    std::fs::write(
        t.path("y.ron"),
        format!(
            "Ecosystem(apps: [], deploy: {}{})\n",
            "[".repeat(100),
            "]".repeat(100)
        ),
    )
    .expect("write");
    let err = fails_fast(&t, &["up", "--dry-run", "y.ron"], 2);
    assert!(first_line(&err).starts_with("pmx: y.ron:1:"), "{err}");
    assert!(!err.contains("nested too deeply"), "{err}");
}

#[test]
fn a_deeply_nested_pm2_json_file_is_refused_at_its_line_and_column() {
    let t = TestHome::new();
    let deep = format!("{{\"apps\": {}{}}}", "[".repeat(20_000), "]".repeat(20_000));
    std::fs::write(t.path("deep.json"), deep).expect("write");
    let msg = "nested too deeply: more than 128 arrays or objects inside one another";
    for verb in [
        &["up", "--dry-run", "deep.json"][..],
        &["import", "deep.json"],
    ] {
        let err = fails_fast(&t, verb, 2);
        assert_eq!(
            first_line(&err),
            format!("pmx: deep.json:1:136: {msg}"),
            "{verb:?}"
        );
    }
    assert!(!t.path("ecosystem.ron").exists(), "import wrote nothing");
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_first_invalid_byte() {
    let t = TestHome::new();
    std::fs::write(
        t.path("bad.ron"),
        b"Ecosystem(apps: [\n  App(name: \"caf\xe9\", script: \"x\"),\n])\n",
    )
    .expect("write");
    let err = fails_fast(&t, &["up", "--dry-run", "bad.ron"], 2);
    assert_eq!(
        err,
        "pmx: bad.ron:2:17: byte 0xe9 is not UTF-8 (an ecosystem file is UTF-8 text)\n    \
         2 |   App(name: \"caf\u{fffd}\", script: \"x\"),\n      |                 ^\n"
    );
    std::fs::write(t.path("bad.json"), b"{\"apps\": [{\"name\": \"\xff\"}]}").expect("write");
    let err = fails_fast(&t, &["up", "--dry-run", "bad.json"], 2);
    assert!(
        err.starts_with(
            "pmx: bad.json:1:21: byte 0xff is not UTF-8 (an ecosystem file is UTF-8 text)"
        ),
        "{err}"
    );
}

#[test]
fn a_fifo_or_a_device_given_as_the_file_is_named_for_what_it_is_without_blocking() {
    let t = TestHome::new();
    for name in ["pipe.ron", "pipe.json", "pipe.config.js"] {
        let made = std::process::Command::new("mkfifo")
            .arg(t.path(name))
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
    }
    for name in ["pipe.ron", "pipe.json", "pipe.config.js"] {
        let err = fails_fast(&t, &["up", "--dry-run", name], 1);
        assert_eq!(
            err,
            format!("pmx: {name}: a named pipe (FIFO) is not an ecosystem file\n")
        );
        let err = fails_fast(&t, &["start", name], 1);
        assert_eq!(
            err,
            format!("pmx: {name} is a named pipe (FIFO), not a script or an ecosystem file\n")
        );
    }
    let err = fails_fast(&t, &["up", "--dry-run", "/dev/zero"], 1);
    assert_eq!(
        err,
        "pmx: /dev/zero: a character device is not an ecosystem file\n"
    );
    let err = fails_fast(&t, &["import", "pipe.config.js"], 1);
    assert_eq!(
        err,
        "pmx: pipe.config.js: a named pipe (FIFO) is not an ecosystem file\n"
    );
    let err = fails_fast(&t, &["up", "--dry-run", "missing.ron"], 1);
    assert_eq!(err, "pmx: ecosystem file missing.ron not found\n");
}

#[test]
fn a_duration_over_a_day_in_a_file_is_refused_at_its_line_and_column() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(\n  name: \"a\", script: \"{}\",\n  kill_timeout: 18446744073709551615,\n  restart: Restart(delay: \"2d\"),\n)])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    let err = fails_fast(&t, &["up", "eco.ron"], 2);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("pmx: ")).collect();
    assert_eq!(
        lines,
        [
            "pmx: eco.ron:3:17: kill_timeout: 18446744073709551615ms is more than the maximum of 1 day (86400000ms)",
            "pmx: eco.ron:4:27: delay: 172800000ms is more than the maximum of 1 day (86400000ms)",
        ]
    );
    assert!(
        t.daemon_pid().is_none(),
        "no daemon was started for a bad file"
    );
    std::fs::write(
        t.path("ok.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"a\", script: \"{}\", kill_timeout: \"1d\")])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    // A day itself is the maximum, not past it.
    t.ok(&["up", "ok.ron"]);
    t.wait_status("a", "online");
}

/// A spec of `sleeper.sh` named `name`, every field at its default, as the CLI resolves it.
fn sleeper_spec(t: &TestHome, name: &str) -> AppSpec {
    let script = app("sleeper.sh");
    let decl = pmx_config::App::new(name.into(), script.clone(), t.work.clone());
    AppSpec {
        app: (&decl).into(),
        program: script.into(),
        args: vec![],
        cwd: t.work.clone(),
        env: Default::default(),
        source: None,
        env_name: None,
    }
}

/// `start` with `apps` and `groups` over the socket: the error's code and message.
fn start_raw(t: &TestHome, apps: Vec<AppSpec>, groups: Vec<Group>) -> Option<(ErrorCode, String)> {
    t.ok(&["ping"]);
    let mut c = pmx::Client::connect_path(&t.home.join("pmx.sock")).expect("connect");
    match c.call(Request::Start(StartRequest {
        inherited: Default::default(),
        apps,
        force: false,
        restart_existing: false,
        groups,
    })) {
        Ok(_) => None,
        Err(pmx::ClientError::Api(e)) => Some((e.code, e.message)),
        Err(e) => panic!("start: {e}"),
    }
}

#[test]
fn a_duration_over_a_day_on_the_socket_is_refused_naming_the_app_and_field() {
    let t = TestHome::new();
    let mut spec = sleeper_spec(&t, "forever");
    spec.app.kill_timeout_ms = u64::MAX;
    assert_eq!(
        start_raw(&t, vec![spec], vec![]),
        Some((
            ErrorCode::InvalidConfig,
            "app \"forever\": kill_timeout: 18446744073709551615ms is more than the maximum of 1 day (86400000ms)".into()
        ))
    );
    let mut spec = sleeper_spec(&t, "slow");
    spec.app.restart.min_uptime_ms = 86_400_001;
    assert_eq!(
        start_raw(&t, vec![spec], vec![]),
        Some((
            ErrorCode::InvalidConfig,
            "app \"slow\": restart.min_uptime: 86400001ms is more than the maximum of 1 day (86400000ms)".into()
        ))
    );
    assert!(t.list().is_empty(), "nothing was started");
}

#[test]
fn groups_a_file_refuses_are_refused_on_the_socket_and_start_nothing() {
    let t = TestHome::new();
    let group = |name: &str, apps: &[&str]| Group {
        name: name.into(),
        strategy: Default::default(),
        intensity: Default::default(),
        apps: apps.iter().map(|a| a.to_string()).collect(),
    };
    let apps = || vec![sleeper_spec(&t, "a"), sleeper_spec(&t, "b")];
    let cases = [
        (
            vec![group("g", &["a", "ghost"])],
            "group \"g\" names unknown app \"ghost\"",
        ),
        (
            vec![group("g", &["a"]), group("h", &["a", "b"])],
            "app \"a\" is already in group \"g\" (an app is in at most one group)",
        ),
        (
            vec![group("all", &["a", "b"])],
            "group \"all\": invalid name \"all\": \"all\" means every app",
        ),
        (
            vec![group("g", &[])],
            "group \"g\": a group needs at least one app",
        ),
    ];
    for (groups, message) in cases {
        assert_eq!(
            start_raw(&t, apps(), groups),
            Some((ErrorCode::InvalidConfig, message.to_string()))
        );
        assert!(t.list().is_empty(), "{message}: nothing was started");
    }
    // The same apps with a group a file may declare start as usual.
    assert_eq!(start_raw(&t, apps(), vec![group("g", &["a", "b"])]), None);
    t.wait_status("a", "online");
    t.wait_status("b", "online");
}
