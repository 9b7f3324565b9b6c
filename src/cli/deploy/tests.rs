//! Table tests of the plan: the commands, the checks of an environment, the ssh words and
//! the quoting of every value the script carries (each run through a real `sh`).

use super::*;

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

#[test]
fn commands_read_as_pm2_spells_them() {
    let cases: &[(&[&str], Action)] = &[
        (&[], Action::Update { r#ref: None }),
        (&["update"], Action::Update { r#ref: None }),
        (&["setup"], Action::Setup),
        (&["revert"], Action::Revert(1)),
        (&["revert", "3"], Action::Revert(3)),
        (&["curr"], Action::Current),
        (&["current"], Action::Current),
        (&["prev"], Action::Previous),
        (&["previous"], Action::Previous),
        (&["list"], Action::List),
        (
            &["exec", "pmx reload all"],
            Action::Exec("pmx reload all".into()),
        ),
        (&["run", "ls", "x"], Action::Exec("ls x".into())),
        (
            &["ref", "origin/fix-1"],
            Action::Update {
                r#ref: Some("origin/fix-1".into()),
            },
        ),
    ];
    for (w, want) in cases {
        assert_eq!(parse_action(&words(w)).as_ref(), Ok(want), "{w:?}");
    }
}

#[test]
fn bad_commands_say_what_was_expected() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["stup"],
            "unknown deploy command \"stup\", did you mean \"setup\"?",
        ),
        (
            &["revert", "0"],
            "revert takes a number of releases (1 or more), found \"0\"",
        ),
        (
            &["revert", "x"],
            "revert takes a number of releases (1 or more), found \"x\"",
        ),
        (&["revert", "1", "2"], "unexpected \"2\" after `revert`"),
        (&["exec"], "exec needs a command: exec \"<cmd>\""),
        (&["ref"], "ref needs a git ref: ref <ref>"),
        (&["setup", "now"], "unexpected \"now\" after `setup`"),
    ];
    for (w, want) in cases {
        assert_eq!(parse_action(&words(w)), Err(want.to_string()), "{w:?}");
    }
}

fn deploy() -> pmx_config::Deploy {
    pmx_config::Deploy {
        user: Some("app".into()),
        host: vec!["web1".into(), "web2".into()],
        repo: Some("git@example.com:org/app.git".into()),
        path: Some("/srv/app".into()),
        line: 12,
        ..Default::default()
    }
}

/// A change to a valid deploy environment.
type Change = fn(&mut pmx_config::Deploy);

#[test]
fn a_missing_field_names_itself_its_env_and_its_line() {
    let cases: &[(Change, &str)] = &[
        (
            |d| d.repo = None,
            "eco.ron:12: deploy \"prod\" has no \"repo\" (the git repository the hosts clone)",
        ),
        (
            |d| d.path = Some(" ".into()),
            "eco.ron:12: deploy \"prod\" has no \"path\" (the directory on the hosts)",
        ),
        (
            |d| d.host.clear(),
            "eco.ron:12: deploy \"prod\" has no \"host\" (a host name or a list of them)",
        ),
        (
            |d| d.post_deploy = Some("a\0b".into()),
            "eco.ron:12: deploy \"prod\": \"post_deploy\" holds a NUL byte, which no shell can carry",
        ),
    ];
    for (change, want) in cases {
        let mut d = deploy();
        change(&mut d);
        let got = target("prod", &d, "eco.ron", Path::new("/d"), None);
        assert_eq!(got, Err(vec![want.to_string()]));
    }
}

#[test]
fn ssh_words_follow_pm2_options_port_and_key() {
    let mut d = deploy();
    d.ssh_options = vec![
        "StrictHostKeyChecking=no".into(),
        "-o UserKnownHostsFile=/dev/null -A".into(),
    ];
    d.port = Some(2222);
    d.key = Some("~/.ssh/deploy key".into());
    let t = target(
        "prod",
        &d,
        "eco.ron",
        Path::new("/d"),
        Some(Path::new("/home/u")),
    )
    .expect("valid");
    assert_eq!(
        ssh_args(&t, "web1"),
        words(&[
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-A",
            "-p",
            "2222",
            "-i",
            "/home/u/.ssh/deploy key",
            "--",
            "app@web1",
            "sh",
            "-s"
        ])
    );
    // A host naming its own user keeps it; a relative key is against the file's directory.
    d.key = Some("keys/id".into());
    d.port = None;
    d.ssh_options.clear();
    let t = target("prod", &d, "eco.ron", Path::new("/d"), None).expect("valid");
    assert_eq!(
        ssh_args(&t, "root@web9"),
        words(&["-i", "/d/keys/id", "--", "root@web9", "sh", "-s"])
    );
    assert_eq!(t.r#ref, "HEAD", "no ref: the repository's default branch");
    assert_eq!(t.keep, DEFAULT_KEEP_RELEASES);
}

/// Run `sh -c` on `text` and answer its standard output.
fn sh(text: &str) -> String {
    let o = std::process::Command::new("sh")
        .args(["-c", text])
        .output()
        .expect("sh runs");
    assert!(o.status.success(), "{text}: {o:?}");
    String::from_utf8(o.stdout).expect("utf-8")
}

#[test]
fn quoting_keeps_every_value_as_one_word() {
    let cases = [
        "",
        "plain",
        "/srv/my app",
        "it's",
        "''",
        "a\"b",
        "$HOME `id` $(id)",
        "back\\slash",
        "semi; rm -rf /",
        "*",
        "line\nbreak",
        "tab\there",
        "origin/feat#1~^{}@!",
        "ünïcødé ✓",
        "-n",
    ];
    for v in cases {
        assert_eq!(sh(&format!("printf '%s' {}", quote(v))), v, "{v:?}");
    }
}

#[test]
fn the_script_carries_values_unchanged_and_runs_main_without_stdin() {
    let mut d = deploy();
    d.path = Some("/srv/my app's".into());
    d.r#ref = Some("origin/x$y".into());
    d.post_deploy = Some("echo \"done\" && pmx up 'eco.ron'".into());
    let t = target("prod", &d, "eco.ron", Path::new("/d"), None).expect("valid");
    let s = script(
        &t,
        &Action::Exec("echo $PWD; ls".into()),
        "20260101T000000000Z",
    );
    assert!(s.ends_with("main </dev/null\n"));
    // Everything but the call of main: the assignments and functions, then print them.
    let body = s.trim_end_matches("main </dev/null\n");
    let shown = sh(&format!(
        "{body}\nprintf '%s|%s|%s|%s|%s|%s' \"$P\" \"$REF\" \"$CMD\" \"$POST_DEPLOY\" \"$ACTION\" \"$KEEP\""
    ));
    assert_eq!(
        shown,
        "/srv/my app's|origin/x$y|echo $PWD; ls|echo \"done\" && pmx up 'eco.ron'|exec|5"
    );
    let s = script(
        &t,
        &Action::Update {
            r#ref: Some("v1.2'3".into()),
        },
        "R",
    );
    assert!(s.contains("REF='v1.2'\\''3'\n"), "{s}");
    assert!(s.contains("REL='R'\n"));
}

#[test]
fn release_names_sort_by_time() {
    use chrono::TimeZone;
    let a = chrono::Utc
        .with_ymd_and_hms(2026, 12, 6, 9, 5, 1)
        .single()
        .expect("date");
    let b = a + chrono::Duration::milliseconds(7);
    assert_eq!(release_name(a), "20261206T090501000Z");
    assert_eq!(release_name(b), "20261206T090501007Z");
    assert!(release_name(a) < release_name(b));
}

#[test]
fn the_default_post_deploy_is_pm2s_start_or_restart_in_pmx_words() {
    assert_eq!(
        default_post_deploy("ecosystem.ron", "production", true),
        "pmx startOrRestart 'ecosystem.ron' --env 'production'"
    );
    assert_eq!(
        default_post_deploy("deploy/my eco.ron", "production", false),
        "pmx startOrRestart 'deploy/my eco.ron'"
    );
}
