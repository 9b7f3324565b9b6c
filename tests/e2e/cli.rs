//! The command line itself: mistyped verbs and options get "did you mean", bad numbers
//! name their option and what it expected, PM2's spellings keep working, and `describe`
//! shows the interpreter in force.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::harness::*;
use crate::pm2_import::Pm2;

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

/// The processes of `jlist` (PM2) or `list --json` (pmx) as (name, status, script file
/// name), sorted: what both managers must agree on after the same commands.
fn named_rows(
    rows: &[Value],
    script_key: &dyn Fn(&Value) -> Value,
) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let script = script_key(r);
            let file = script
                .as_str()
                .and_then(|s| s.rsplit('/').next())
                .unwrap_or("")
                .to_string();
            let status = r["pm2_env"]["status"]
                .as_str()
                .or(r["status"].as_str())
                .unwrap_or("")
                .to_string();
            (r["name"].as_str().unwrap_or("").to_string(), status, file)
        })
        .collect();
    out.sort();
    out
}

/// `pm2 <args>` lines run in a private PM2 home from `dir`, answering `jlist` after them;
/// None when PM2 is not installed (the caller then checks pmx alone and says so).
fn pm2_after(dir: &std::path::Path, lines: &[&[&str]]) -> Option<Vec<Value>> {
    if !Pm2::installed() {
        eprintln!("PM2 comparison SKIPPED: `pm2` is not installed (`.ci/run` installs PM2 7)");
        return None;
    }
    let pm2 = Pm2::new();
    for args in lines {
        pm2.ok(dir, args);
    }
    Some(pm2.jlist(dir))
}

/// `pmx start <name>` of a stopped app whose name is also a command on PATH (`sleep`)
/// starts that app, as PM2 7 does, instead of refusing the name as taken; of an online
/// one, restarts it (a new pid). A path to an existing file stays a script.
#[test]
fn start_of_an_app_named_like_a_command_on_path_starts_the_app_as_pm2() {
    let t = TestHome::new();
    std::fs::copy(app("sleeper.sh"), t.path("sleeper.sh")).expect("copy");
    let lines: &[&[&str]] = &[
        &["start", "sleeper.sh", "--name", "sleep"],
        &["stop", "all"],
        &["start", "sleep"],
    ];
    for args in lines {
        t.ok(args);
    }
    let row = t.wait_status("sleep", "online");
    let described_all: Vec<Value> =
        serde_json::from_str(&t.ok(&["describe", "all", "--json"])).expect("json");
    assert_eq!(described_all.len(), 1, "no new app: {described_all:?}");
    assert!(
        described_all[0]["script"]
            .as_str()
            .is_some_and(|s| s.ends_with("/sleeper.sh")),
        "the app, not the command: {described_all:?}"
    );
    let pmx_rows = named_rows(&described_all, &|r| r["script"].clone());
    if let Some(jlist) = pm2_after(&t.work, lines) {
        let pm2_rows = named_rows(&jlist, &|r| r["pm2_env"]["pm_exec_path"].clone());
        assert_eq!(pmx_rows, pm2_rows, "pmx and PM2 after {lines:?}");
    }
    // Online: a restart (PM2 too), still one app.
    let pid = int(&row, "pid");
    t.ok(&["start", "sleep"]);
    t.wait_row("sleep", "a new pid", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != pid)
    });
    assert_eq!(t.list().len(), 1);
    // More than a name (an option for a new app) is a new start: refused, the name is taken.
    let err = t.fails(&["start", "sleep", "--kill-timeout", "100"], 1);
    assert!(err.contains("already exists"), "{err}");
    // An existing file named like the app is a script (SPEC §3): a new start, refused too.
    std::fs::copy(app("sleeper.sh"), t.path("sleep")).expect("copy");
    let err = t.fails(&["start", "sleep"], 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(t.list().len(), 1);
}

/// `--opt=value` works for every option taking a value, and an option given twice keeps
/// its last value, as in PM2 (commander); a switch given a value is a usage error.
#[test]
fn options_take_the_equals_form_and_the_last_of_a_repeat_as_pm2() {
    let t = TestHome::new();
    std::fs::copy(app("sleeper.sh"), t.path("sleeper.sh")).expect("copy");
    let line: &[&str] = &[
        "start",
        "sleeper.sh",
        "--name=first",
        "--kill-timeout=700",
        "--name",
        "second",
        "--name=eq",
    ];
    t.ok(line);
    let row = t.wait_status("eq", "online");
    assert_eq!(t.list().len(), 1);
    let d = described(&t, "eq");
    assert_eq!(d["kill_timeout"], 700, "{d}");
    if let Some(jlist) = pm2_after(&t.work, &[line]) {
        assert_eq!(jlist.len(), 1, "{jlist:?}");
        assert_eq!(jlist[0]["name"], row["name"], "the name PM2 kept");
        assert_eq!(jlist[0]["pm2_env"]["kill_timeout"], 700);
    }
    // Every value-taking option of start, in the = form: each reaches the spec.
    let logs = t.path("eq2.log");
    t.ok(&[
        "start",
        "sleeper.sh",
        "--name=eq2",
        "--interpreter=bash",
        "--interpreter-args=--norc",
        &format!("--cwd={}", t.work.display()),
        "--restart-delay=10",
        "--max-restarts=3",
        "--min-uptime=500",
        "--kill-signal=SIGTERM",
        "--stop-exit-codes=0,3",
        "--instances=1",
        &format!("--log={}", logs.display()),
        "--log-date-format=%H",
        "--namespace=ns",
    ]);
    t.wait_status("eq2", "online");
    let d = described(&t, "eq2");
    assert_eq!(d["kill_signal"], "SIGTERM", "{d}");
    assert_eq!(d["namespace"], "ns", "{d}");
    assert_eq!(d["args"][0], "--norc", "{d}");
    assert_eq!(d["log_file"], logs.display().to_string(), "{d}");
    assert_eq!(d["log_date_format"], "%H", "{d}");
    assert_eq!(
        usage_error(&t, &["stop", "all", "--silent=yes"]),
        "pmx: --silent of pmx stop is a switch and takes no value (got \"--silent=yes\")"
    );
}

/// A missing or extra positional argument is one pmx line naming the verb, what is
/// missing or extra, and `pmx <verb> --help`; never argh's text. Nothing starts.
#[test]
fn missing_and_extra_arguments_name_the_verb_and_its_help() {
    let t = TestHome::new();
    let target = "a name, an id, a group, a namespace or all";
    let cases: &[(&[&str], String)] = &[
        (
            &["restart"],
            format!("pmx: missing <target> for pmx restart: {target}; see `pmx restart --help`"),
        ),
        (
            &["start"],
            "pmx: missing <target> for pmx start: a script, \"a command line\" or an ecosystem file; see `pmx start --help`".into(),
        ),
        (
            &["signal", "SIGUSR2"],
            format!("pmx: missing <target> for pmx signal: {target}; see `pmx signal --help`"),
        ),
        (
            &["sendSignal"],
            "pmx: missing <signal> for pmx signal: the signal (SIGUSR2 or USR2); see `pmx signal --help`".into(),
        ),
        (
            &["startOrReload"],
            "pmx: missing <file> for pmx startOrReload: the ecosystem file; see `pmx startOrReload --help`".into(),
        ),
        (
            &["startOrReload", "f.ron", "extra"],
            "pmx: unexpected argument \"extra\" for pmx startOrReload (it takes <file>); see `pmx startOrReload --help`".into(),
        ),
        (
            &["list", "web"],
            "pmx: unexpected argument \"web\" for pmx list (it takes no arguments); see `pmx list --help`".into(),
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

/// `pmx help` and `pmx help <verb>` print what `--help` prints, exit 0.
#[test]
fn help_verb_prints_the_help() {
    let t = TestHome::new();
    for (help, flag) in [
        (&["help"][..], &["--help"][..]),
        (&["help", "start"], &["start", "--help"]),
        (&["help", "ls"], &["list", "--help"]),
    ] {
        let printed = t.ok(help);
        assert!(printed.starts_with("Usage: pmx"), "pmx {help:?}: {printed}");
        assert_eq!(printed, t.ok(flag), "pmx {help:?}");
    }
    assert_eq!(
        usage_error(&t, &["help", "strat"]),
        "pmx: unknown command \"strat\", did you mean \"start\"?"
    );
    assert_eq!(t.daemon_pid(), None);
}

/// `--stop-exit-codes` takes exit codes (0..=255): 256 and -1 are refused in the numeric
/// options' words, and start nothing.
#[test]
fn stop_exit_codes_outside_0_to_255_are_refused() {
    let t = TestHome::new();
    let sleeper = app("sleeper.sh");
    for bad in ["256", "-1", "0,x"] {
        assert_eq!(
            usage_error(&t, &["start", &sleeper, "--stop-exit-codes", bad]),
            format!("pmx: --stop-exit-codes: expected exit codes from 0 to 255, comma-separated (0,3), got {bad:?}")
        );
    }
    assert_eq!(t.daemon_pid(), None);
    t.ok(&["start", &sleeper, "--stop-exit-codes", "0,255"]);
    t.wait_status("sleeper", "online");
}

/// `--interpreter none` on a script that is not executable says the user asked to exec
/// it and how to fix that (chmod +x, or an interpreter), not that its extension names
/// none (`.py` names python3).
#[test]
fn interpreter_none_on_a_file_that_is_not_executable_says_so() {
    let t = TestHome::new();
    let script = t.path("job.py");
    std::fs::write(&script, "import time\ntime.sleep(1000)\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = t.fails(&["start", "job.py", "--interpreter", "none"], 1);
    let shown = script.display();
    assert_eq!(
        err.trim_end(),
        format!("pmx: interpreter \"none\" execs {shown}, which is not executable: chmod +x {shown} (with a #! line), or run it with an interpreter (--interpreter python3, or no --interpreter: python3 by its extension)")
    );
    assert!(t.list().is_empty(), "nothing added");
}
