//! The command line itself: mistyped verbs and options get "did you mean", bad numbers
//! name their option and what it expected, PM2's spellings keep working, and `describe`
//! shows the interpreter in force.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::harness::*;

/// Run `args`, expect exit 2 and one line on stderr; answer that line.
fn usage_error(t: &TestHome, args: &[&str]) -> String {
    let err = t.fails(args, 2);
    assert_eq!(err.lines().count(), 1, "pmx {args:?}: one line: {err}");
    err.trim_end().to_string()
}

#[test]
fn a_mistyped_verb_gets_did_you_mean_and_starts_nothing() {
    let t = TestHome::new();
    let sleeper = app("sleeper.sh");
    let cases: &[(&[&str], &str)] = &[
        (
            &["strat", &sleeper],
            "pmx: unknown command \"strat\", did you mean \"start\"?",
        ),
        (
            &["lsit"],
            "pmx: unknown command \"lsit\", did you mean \"list\"?",
        ),
        (
            &["dlete", "all"],
            "pmx: unknown command \"dlete\", did you mean \"delete\"?",
        ),
        (
            &["xyzzy"],
            "pmx: unknown command \"xyzzy\"; `pmx --help` lists the commands",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(usage_error(&t, args), *want, "pmx {args:?}");
    }
    assert_eq!(
        t.daemon_pid(),
        None,
        "a usage error never starts the daemon"
    );
}

#[test]
fn a_mistyped_option_gets_did_you_mean_and_starts_nothing() {
    let t = TestHome::new();
    let sleeper = app("sleeper.sh");
    let cases: &[(&[&str], &str)] = &[
        (
            &["start", &sleeper, "--nmae", "x"],
            "pmx: unknown option \"--nmae\" for pmx start, did you mean \"--name\"?",
        ),
        (
            &["start", &sleeper, "--kill-timout", "100"],
            "pmx: unknown option \"--kill-timout\" for pmx start, did you mean \"--kill-timeout\"?",
        ),
        (
            &["logs", "--nostraem"],
            "pmx: unknown option \"--nostraem\" for pmx logs, did you mean \"--nostream\"?",
        ),
        // An alias verb is checked against the verb it stands for.
        (
            &["ls", "--jsno"],
            "pmx: unknown option \"--jsno\" for pmx list, did you mean \"--json\"?",
        ),
        (
            &["stop", "all", "--bogus"],
            "pmx: unknown option \"--bogus\" for pmx stop; `pmx stop --help` lists them",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(usage_error(&t, args), *want, "pmx {args:?}");
    }
    assert_eq!(
        t.daemon_pid(),
        None,
        "a usage error never starts the daemon"
    );
}

#[test]
fn a_bad_number_names_the_option_and_what_it_expected() {
    let t = TestHome::new();
    let sleeper = app("sleeper.sh");
    let ms = "expected a whole number of milliseconds";
    let cases: &[(&[&str], String)] = &[
        (
            &["start", &sleeper, "--kill-timeout", "5s"],
            format!("pmx: --kill-timeout: {ms}, got \"5s\""),
        ),
        (
            &["start", &sleeper, "--restart-delay", "1.5"],
            format!("pmx: --restart-delay: {ms}, got \"1.5\""),
        ),
        (
            &["start", &sleeper, "--exp-backoff-restart-delay", "-100"],
            format!("pmx: --exp-backoff-restart-delay: {ms}, got \"-100\""),
        ),
        (
            &["start", &sleeper, "--min-uptime", "1s"],
            format!("pmx: --min-uptime: {ms}, got \"1s\""),
        ),
        (
            &["start", &sleeper, "--max-restarts", "ten"],
            "pmx: --max-restarts: expected a whole number, got \"ten\"".into(),
        ),
        (
            &["start", &sleeper, "--max-restarts", "4294967296"],
            "pmx: --max-restarts: expected a whole number up to 4294967295, got \"4294967296\""
                .into(),
        ),
        (
            &["start", &sleeper, "-i", "two"],
            "pmx: -i: expected a number up to 4294967295, \"max\" or -k (every CPU but k), got \"two\"".into(),
        ),
        (
            &["start", &sleeper, "--instances", "1.5"],
            "pmx: --instances: expected a number up to 4294967295, \"max\" or -k (every CPU but k), got \"1.5\"".into(),
        ),
        (
            &["logs", "--lines", "x"],
            "pmx: --lines: expected a whole number of lines, got \"x\"".into(),
        ),
        (
            &["start", &sleeper, "--kill-timeout"],
            "pmx: --kill-timeout of pmx start needs a value".into(),
        ),
    ];
    for (args, want) in cases {
        assert_eq!(usage_error(&t, args), *want, "pmx {args:?}");
    }
    assert_eq!(
        t.daemon_pid(),
        None,
        "a usage error never starts the daemon"
    );
}

/// `describe --json` of the one instance named `name`.
fn described(t: &TestHome, name: &str) -> Value {
    let v: Value = serde_json::from_str(&t.ok(&["describe", name, "--json"])).expect("json");
    v[0].clone()
}

/// The `interpreter` row of `describe`'s table.
fn interpreter_row(t: &TestHome, name: &str) -> String {
    let out = t.ok(&["describe", name]);
    out.lines()
        .find(|l| l.contains(" interpreter "))
        .unwrap_or_else(|| panic!("no interpreter row: {out}"))
        .split('┆')
        .nth(1)
        .unwrap_or("")
        .trim_matches(|c: char| c.is_whitespace() || c == '│')
        .to_string()
}

#[test]
fn describe_shows_the_interpreter_chosen_by_extension_or_given() {
    let t = TestHome::new();
    let exec = t.path("tool");
    std::fs::write(&exec, "#!/bin/sh\nexec sleep 1000\n").expect("write");
    std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let sleeper = app("sleeper.sh");
    t.ok(&["start", &sleeper, "--name", "by-ext"]);
    t.ok(&["start", &sleeper, "--name", "given", "--interpreter", "sh"]);
    t.ok(&["start", "tool", "--name", "execd"]);
    t.ok(&["start", "sleep 1000", "--name", "command"]);
    for (name, want) in [
        ("by-ext", "bash"),
        ("given", "sh"),
        ("execd", "none"),
        ("command", "none"),
    ] {
        t.wait_status(name, "online");
        assert_eq!(described(&t, name)["interpreter"], want, "{name}");
        assert_eq!(interpreter_row(&t, name), want, "{name}");
    }
    // What describe says is what runs: sh, not bash, for the one given --interpreter sh.
    let given = described(&t, "given");
    assert!(
        given["program"]
            .as_str()
            .is_some_and(|p| p.ends_with("/sh")),
        "{given}"
    );
}

#[test]
fn up_twice_with_an_interpreter_by_extension_stays_unchanged() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"web\", script: \"{}\")])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    t.ok(&["up", "eco.ron"]);
    let pid = int(&t.wait_status("web", "online"), "pid");
    assert_eq!(described(&t, "web")["interpreter"], "bash");
    let out = t.ok(&["up", "eco.ron"]);
    assert!(out.starts_with("= web  unchanged"), "{out}");
    assert_eq!(int(&t.row("web"), "pid"), pid, "not restarted");
    assert_eq!(described(&t, "web")["interpreter"], "bash");
}

#[test]
fn pm2_spellings_of_verbs_and_options_still_work() {
    let t = TestHome::new();
    // -x (PM2's fork mode) and --node-args (--interpreter-args) are accepted.
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "web",
        "-x",
        "--node-args",
        "--norc",
    ]);
    t.wait_status("web", "online");
    let d = described(&t, "web");
    assert_eq!(d["args"][0], "--norc", "interpreter args first: {d}");
    for verb in ["ls", "status", "l", "ps"] {
        let out = t.ok(&[verb]);
        assert!(out.contains("web"), "pmx {verb}: {out}");
    }
    let rows: Value = serde_json::from_str(&t.ok(&["jlist"])).expect("jlist is json");
    assert_eq!(rows[0]["name"], "web");
    for verb in ["show", "info"] {
        let out = t.ok(&[verb, "web"]);
        assert!(out.contains("interpreter"), "pmx {verb}: {out}");
    }
    t.ok(&["del", "web"]);
    assert!(t.list().is_empty());
}
