//! Bad input, seen from the command line: invalid ecosystem files (exit 2, every error at
//! its `file:line:col`, nothing started), missing files and scripts (exit 1, naming the
//! path), usage errors (exit 2, one `pmx: ` line), help, name conflicts, and relative paths
//! in an ecosystem file resolving against the file's directory.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::harness::*;

/// `pmx args…` run from `dir` (instead of the work directory).
fn run_in(t: &TestHome, dir: &Path, args: &[&str]) -> Output {
    let mut c = t.cmd(args);
    c.current_dir(dir);
    run_with_timeout(c, Duration::from_secs(120))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ecosystems() -> PathBuf {
    fixtures().join("ecosystems")
}

/// Every `bad-*.ron` fixture, sorted.
fn bad_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(ecosystems())
        .expect("fixtures/ecosystems")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "ron")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("bad-"))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no bad-*.ron fixtures");
    v
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).expect("utf8 name")
}

/// A `pmx start` exit-code check that names the command in the failure.
fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

#[test]
fn invalid_file_shows_position_line_caret_and_suggestion() {
    let t = TestHome::new();
    let out = run_in(&t, &ecosystems(), &["start", "bad-unknown-fields.ron"]);
    assert_code(&out, 2, "start bad-unknown-fields.ron");
    let err = stderr(&out);
    assert!(
        err.contains(
            "bad-unknown-fields.ron:6:13: unknown field \"instanses\", did you mean \"instances\"?"
        ),
        "file:line:col and a suggestion: {err}"
    );
    assert!(
        err.contains("    6 |             instanses: 4,\n      |             ^\n"),
        "the offending line and a caret under its column: {err}"
    );
    assert!(
        err.contains("did you mean \"policy\"?"),
        "a nested struct's typo gets its suggestion too: {err}"
    );
    assert!(t.list().is_empty(), "nothing started");
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let t = TestHome::new();
    let out = run_in(&t, &ecosystems(), &["start", "bad-several.ron"]);
    assert_code(&out, 2, "start bad-several.ron");
    let err = stderr(&out);
    let headers: Vec<&str> = err.lines().filter(|l| l.starts_with("pmx: ")).collect();
    assert_eq!(headers.len(), 8, "eight mistakes, eight errors: {err}");
    for pos in [
        ":7:13:", ":8:27:", ":9:33:", ":12:19:", ":14:26:", ":15:27:", ":16:33:", ":20:46:",
    ] {
        assert!(err.contains(pos), "an error at {pos}: {err}");
    }
    assert!(t.list().is_empty(), "nothing started");
}

/// Each bad fixture through the real binary gives its `.stderr` (the directory the
/// binary prints before the file name, if any, aside: see the next test).
#[test]
fn every_bad_fixture_gives_its_expected_stderr() {
    let t = TestHome::new();
    let dir = ecosystems();
    let prefix = format!("{}/", dir.display());
    let mut wrong = Vec::new();
    for f in bad_fixtures() {
        let name = file_name(&f);
        let expected =
            std::fs::read_to_string(f.with_extension("stderr")).expect("a .stderr beside it");
        let out = run_in(&t, &dir, &["start", name]);
        let got = stderr(&out).replace(&prefix, "");
        if out.status.code() != Some(2) || got != expected {
            wrong.push(format!(
                "{name}: exit {:?}\n--- expected\n{expected}--- got\n{got}",
                out.status.code()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(t.list().is_empty(), "nothing started");
}

/// `pmx start bad-x.ron` names the file as the user typed it (STYLE.md's
/// `ecosystem.ron:12:5: …`), exactly as the `.stderr` fixtures hold it.
#[test]
fn config_errors_name_the_file_as_typed() {
    let t = TestHome::new();
    let expected = std::fs::read_to_string(ecosystems().join("bad-syntax.stderr")).expect("read");
    let out = run_in(&t, &ecosystems(), &["start", "bad-syntax.ron"]);
    assert_code(&out, 2, "start bad-syntax.ron");
    assert_eq!(stderr(&out), expected);
    let out = run_in(&t, &ecosystems(), &["up", "bad-syntax.ron"]);
    assert_code(&out, 2, "up bad-syntax.ron");
    assert_eq!(stderr(&out), expected);
}

#[test]
fn one_invalid_app_starts_nothing_of_the_file() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [\n    App(name: \"good\", script: \"{}\"),\n    App(name: \"bad\", script: \"{}\", instanses: 2),\n])\n",
            app("sleeper.sh"),
            app("sleeper.sh")
        ),
    )
    .expect("write");
    let err = t.fails(&["start", "eco.ron"], 2);
    assert!(
        err.contains("eco.ron:3:") && err.contains("did you mean \"instances\"?"),
        "{err}"
    );
    assert!(t.list().is_empty(), "the valid app is not started either");
    let err = t.fails(&["up", "eco.ron"], 2);
    assert!(err.contains("eco.ron:3:"), "{err}");
    assert!(t.list().is_empty(), "up starts nothing either");
}

#[test]
fn an_app_with_a_missing_script_starts_nothing_of_the_file() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [\n    App(name: \"good\", script: \"{}\"),\n    App(name: \"gone\", script: \"not-here.sh\"),\n])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    let err = t.fails(&["start", "eco.ron"], 1);
    assert!(
        err.contains("not-here.sh"),
        "names the missing script: {err}"
    );
    assert!(t.list().is_empty(), "the valid app is not started either");
}

#[test]
fn a_missing_ecosystem_file_fails_naming_it() {
    let t = TestHome::new();
    let err = t.fails(&["start", "missing-eco.ron"], 1);
    assert!(err.starts_with("pmx: "), "{err}");
    assert!(err.contains("missing-eco.ron"), "names the path: {err}");
    let err = t.fails(&["up", "missing-eco.ron"], 1);
    assert!(err.contains("missing-eco.ron"), "names the path: {err}");
    assert!(t.list().is_empty());
}

#[test]
fn start_without_a_target_is_a_usage_error() {
    let t = TestHome::new();
    let err = t.fails(&["start"], 2);
    assert!(err.starts_with("pmx: "), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn an_unknown_verb_is_a_usage_error_on_one_line() {
    let t = TestHome::new();
    let err = t.fails(&["frobnicate"], 2);
    assert!(err.starts_with("pmx: "), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("frobnicate"), "names the word: {err}");
}

#[test]
fn an_unknown_flag_is_a_usage_error_on_one_line() {
    let t = TestHome::new();
    for args in [
        vec!["list", "--bogus"],
        vec!["start", &app("sleeper.sh"), "--bogus"],
    ] {
        let err = t.fails(&args, 2);
        assert!(err.starts_with("pmx: "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains("--bogus"), "{args:?}: names the flag: {err}");
    }
    assert!(t.list().is_empty(), "nothing started");
}

#[test]
fn an_env_the_file_does_not_define_is_a_usage_error() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"w\", script: \"{}\", envs: {{\"production\": {{\"A\": \"1\"}}}})])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write");
    let err = t.fails(&["start", "eco.ron", "--env", "staging"], 2);
    assert!(err.starts_with("pmx: ") && err.contains("staging"), "{err}");
    let err = t.fails(&["up", "eco.ron", "--env", "staging"], 2);
    assert!(err.contains("staging"), "{err}");
    assert!(t.list().is_empty(), "nothing started");
}

#[test]
fn a_missing_script_fails_naming_the_path_and_adds_nothing() {
    let t = TestHome::new();
    let err = t.fails(&["start", "nope.js"], 1);
    // The path as typed, and where it was looked for.
    assert!(err.contains("nope.js"), "names nope.js: {err}");
    assert!(
        err.contains(&t.work.display().to_string()),
        "names the directory: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(t.list().is_empty(), "nothing added");
}

#[test]
fn a_missing_interpreter_fails_and_adds_nothing() {
    let t = TestHome::new();
    let err = t.fails(
        &[
            "start",
            &app("sleeper.sh"),
            "--interpreter",
            "no-such-interp",
        ],
        1,
    );
    assert!(
        err.contains("no-such-interp"),
        "names the interpreter: {err}"
    );
    assert!(t.list().is_empty(), "nothing added");
}

#[test]
fn a_file_that_cannot_be_execd_names_the_interpreter_flag() {
    let t = TestHome::new();
    // No extension, not executable: nothing to run it with.
    std::fs::write(t.path("plain"), "just text\n").expect("write");
    let err = t.fails(&["start", "plain"], 1);
    assert!(err.contains("--interpreter"), "{err}");
    assert!(t.list().is_empty(), "nothing added");
}

#[test]
fn dash_h_prints_help_and_succeeds() {
    let t = TestHome::new();
    let out = t.ok(&["-h"]);
    assert!(out.contains("Usage: pmx"), "help on stdout: {out}");
    let out = t.ok(&["start", "-h"]);
    assert!(out.contains("Usage: pmx start"), "help on stdout: {out}");
}

#[test]
fn help_flags_print_help_on_stdout() {
    let t = TestHome::new();
    let out = t.ok(&["--help"]);
    assert!(out.contains("Usage: pmx"), "{out}");
    assert!(out.contains("start"), "lists the verbs: {out}");
    let out = t.ok(&["start", "--help"]);
    assert!(out.contains("Usage: pmx start"), "{out}");
    assert!(out.contains("--name"), "lists the start options: {out}");
    assert!(t.list().is_empty(), "help starts nothing");
}

#[test]
fn starting_an_existing_name_fails_naming_it() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "dup"]);
    let pid = int(&t.wait_status("dup", "online"), "pid");
    let err = t.fails(&["start", &app("sleeper.sh"), "--name", "dup"], 1);
    assert!(err.contains("\"dup\""), "names it: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let list = t.list();
    assert_eq!(list.len(), 1, "nothing added: {list:?}");
    assert_eq!(int(&list[0], "pid"), pid, "the running one is untouched");
}

#[test]
fn force_starts_a_second_copy_as_name_1() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "dup"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "dup", "-f"]);
    let a = t.wait_status("dup", "online");
    let b = t.wait_status("dup-1", "online");
    assert_ne!(int(&a, "pid"), int(&b, "pid"));
    assert_eq!(t.list().len(), 2);
    // The default name too: the script's file name without extension.
    t.ok(&["start", &app("sleeper.sh")]);
    t.ok(&["start", &app("sleeper.sh"), "-f"]);
    t.wait_status("sleeper", "online");
    t.wait_status("sleeper-1", "online");
}

#[test]
fn relative_paths_resolve_against_the_files_directory() {
    let t = TestHome::new();
    let proj = t.path("proj");
    let elsewhere = t.path("elsewhere");
    for d in ["bin", "run", "logs"] {
        std::fs::create_dir_all(proj.join(d)).expect("mkdir");
    }
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::copy(app("env_dump.sh"), proj.join("bin/env_dump.sh")).expect("copy");
    std::fs::copy(app("sleeper.sh"), proj.join("bin/sleeper.sh")).expect("copy");
    std::fs::write(proj.join("rel.env"), "FROM_REL_ENV_FILE=yes\n").expect("write");
    std::fs::write(
        proj.join("eco.ron"),
        r#"Ecosystem(apps: [
    App(name: "rel", script: "bin/env_dump.sh", args: ["dump"], cwd: "run",
        env_file: "rel.env"),
    App(name: "logged", script: "bin/sleeper.sh",
        logs: (out_file: "logs/o.log", error_file: "logs/e.log")),
])
"#,
    )
    .expect("write");
    let out = run_in(&t, &elsewhere, &["start", "../proj/eco.ron"]);
    assert_code(&out, 0, "start ../proj/eco.ron from elsewhere");

    let row = t.wait_status("rel", "online");
    // `args: ["dump"]` is relative to the app's cwd, proj/run.
    let dump = proj.join("run/dump");
    assert!(
        wait_for(DEADLINE, || dump.exists()),
        "the app ran in proj/run (cwd relative to the file)"
    );
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", int(&row, "pid"))).expect("cwd");
    assert_eq!(
        std::fs::canonicalize(cwd).expect("canon"),
        std::fs::canonicalize(proj.join("run")).expect("canon")
    );
    let env = std::fs::read(&dump).expect("dump");
    assert!(
        env.split(|b| *b == 0)
            .any(|kv| kv == b"FROM_REL_ENV_FILE=yes"),
        "env_file relative to the file's directory"
    );
    assert!(!elsewhere.join("dump").exists() && !elsewhere.join("run").exists());

    t.wait_status("logged", "online");
    let log = proj.join("logs/o.log");
    assert!(
        wait_for(DEADLINE, || lines(&log)
            .iter()
            .any(|l| l.contains("sleeper"))),
        "out_file relative to the file's directory: {:?}",
        lines(&log)
    );
    assert!(proj.join("logs/e.log").exists(), "error_file too");
    assert!(!elsewhere.join("logs").exists());
}
