//! The dump's format (round trip, version, damaged text) and its atomic write.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::protocol::spec::{Instances, Strategy, Watch};
use crate::protocol::{App, EnvLayers};

/// A spec with every kind of value a dump must carry back unchanged.
fn odd_spec(name: &str) -> AppSpec {
    let mut app = App::new(name.into(), "srv.py".into(), "/srv/x y".into());
    app.args = vec!["line one\nline two".into(), "tab\there".into(), "".into()];
    app.instances = Instances::MaxMinus(1);
    app.watch = Watch::Paths(vec![PathBuf::from("/srv/x y/src")]);
    app.ignore_watch = vec!["*.log".into(), "node_modules".into()];
    app.cron_restart = Some("0 3 * * *".into());
    app.cron_timezone = Some("Europe/Paris".into());
    app.listen = vec!["tcp://127.0.0.1:3000".into()];
    app.namespace = "ns é".into();
    app.env = BTreeMap::from([("QUOTE".into(), "a\"b\\c\nd".into())]);
    app.envs = BTreeMap::from([(
        "production".into(),
        BTreeMap::from([("MODE".into(), "prod".into())]),
    )]);
    AppSpec {
        app,
        program: "/usr/bin/python3".into(),
        args: vec!["/srv/x y/srv.py".into(), "line one\nline two".into()],
        cwd: "/srv/x y".into(),
        env: EnvLayers {
            inherited: Default::default(),
            env_file: BTreeMap::from([("FROM_FILE".into(), "1".into())]),
            env: BTreeMap::from([("QUOTE".into(), "a\"b\\c\nd".into())]),
            envs: BTreeMap::from([("MODE".into(), "prod".into())]),
        },
        source: Some("/srv/x y/ecosystem.ron".into()),
        env_name: Some("production".into()),
    }
}

fn dump() -> Dump {
    Dump {
        version: DUMP_VERSION,
        pmx: "0.1.0".into(),
        environments: vec![BTreeMap::from([
            ("PATH".into(), "/bin:/usr/bin".into()),
            ("ODD".into(), "x\ny=z".into()),
        ])],
        apps: vec![
            SavedApp {
                spec: odd_spec("web api ☃"),
                inherited: 0,
                ids: vec![3, 4],
                status: vec![SavedStatus::Running, SavedStatus::Stopped],
            },
            SavedApp {
                spec: odd_spec("worker"),
                inherited: 0,
                ids: vec![7],
                status: vec![SavedStatus::Errored],
            },
        ],
        groups: vec![SavedGroup {
            group: Group {
                name: "backend".into(),
                strategy: Strategy::RestForOne,
                intensity: Default::default(),
                apps: vec!["worker".into(), "web api ☃".into()],
            },
            source: Some("/srv/x y/ecosystem.ron".into()),
        }],
        web: Some(crate::web::WebSetting {
            listen: "0.0.0.0:9615".into(),
            token: true,
        }),
    }
}

#[test]
fn a_dump_without_web_reads_as_web_off_and_web_reads_back() {
    let mut d = dump();
    let with = d.encode().expect("encodes");
    assert!(with.contains("web: Some("), "{with}");
    assert_eq!(Dump::decode(&with).expect("decodes").web, d.web);
    d.web = None;
    let without = d.encode().expect("encodes");
    // A dump written before `pmx web` existed has no `web` field at all.
    assert!(!without.contains("web:"), "{without}");
    assert_eq!(Dump::decode(&without).expect("decodes").web, None);
}

#[test]
fn a_dump_reads_back_as_it_was_written() {
    let d = dump();
    let text = d.encode().expect("encodes");
    assert!(text.starts_with("Dump("), "{text}");
    assert!(text.contains("version: 1"), "{text}");
    let back = Dump::decode(&text).expect("decodes");
    assert_eq!(back, d);
    assert_eq!(back.digest(), d.digest());
    // Instances keep their symbolic form: resurrect resolves them on its machine.
    assert_eq!(back.apps[0].spec.app.instances, Instances::MaxMinus(1));
}

#[test]
fn a_newer_version_is_refused_by_name_and_damage_is_reported_with_its_place() {
    let text = dump().encode().expect("encodes").replacen(
        &format!("version: {DUMP_VERSION}"),
        "version: 9",
        1,
    );
    let e = Dump::decode(&text).expect_err("newer");
    assert!(e.contains("format version 9 is newer"), "{e}");
    let cases = [
        ("", "no dump at all"),
        ("Dump(version: 1, pmx: \"0.1.0\"", "cut short"),
        ("Dump(pmx: \"0.1.0\")", "no version"),
        ("\u{0}\u{1}garbage", "not RON"),
    ];
    for (text, what) in cases {
        assert!(Dump::decode(text).is_err(), "{what} decoded");
    }
    let mut bad = dump();
    bad.apps[1].inherited = 5;
    let text = bad.encode().expect("encodes");
    let e = Dump::decode(&text).expect_err("dangling environment");
    assert!(e.contains("\"worker\": environment 5"), "{e}");
}

#[test]
fn the_digest_ignores_order_and_ids_but_not_status_env_or_groups() {
    let d = dump();
    let mut swapped = d.clone();
    swapped.apps.reverse();
    swapped.apps[0].ids = vec![100];
    assert_eq!(swapped.digest(), d.digest());
    type Change = (&'static str, fn(&mut Dump));
    let changes: [Change; 4] = [
        ("status", |d| d.apps[0].status[1] = SavedStatus::Running),
        ("inherited", |d| {
            d.environments[0].insert("NEW".into(), "1".into());
        }),
        ("env layer", |d| {
            d.apps[1].spec.env.env_file.insert("K".into(), "v".into());
        }),
        ("group order", |d| d.groups[0].group.apps.reverse()),
    ];
    for (what, change) in changes {
        let mut other = d.clone();
        change(&mut other);
        assert_ne!(other.digest(), d.digest(), "{what} left the digest alone");
    }
}

fn home() -> (tempfile::TempDir, Home) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = Home {
        dir: tmp.path().to_path_buf(),
    };
    (tmp, home)
}

#[test]
fn a_save_keeps_the_previous_dump_as_bak() {
    let (_tmp, home) = home();
    let first = dump();
    write(&home, &first, false).expect("first save");
    assert!(!home.dump_bak().exists());
    let mut second = dump();
    second.apps.pop();
    write(&home, &second, false).expect("second save");
    let loaded = load(&home).expect("loads");
    assert_eq!(loaded.dump, second);
    assert_eq!(loaded.file, home.dump());
    assert!(loaded.warning.is_none());
    let bak = Dump::decode(&fs::read_to_string(home.dump_bak()).expect("bak")).expect("bak");
    assert_eq!(bak, first);
    let mode = fs::metadata(home.dump()).expect("dump").mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!home.dir.join("dump.ron.tmp").exists());
}

#[test]
fn an_empty_list_replaces_a_non_empty_dump_only_with_force() {
    let (_tmp, home) = home();
    write(&home, &dump(), false).expect("save");
    let mut empty = dump();
    empty.apps.clear();
    empty.groups.clear();
    let e = write(&home, &empty, false).expect_err("refused");
    assert!(
        matches!(&e, WriteError::WouldEmpty(m) if m.contains("--force")),
        "{e}"
    );
    assert_eq!(load(&home).expect("loads").dump, dump());
    write(&home, &empty, true).expect("forced");
    assert!(load(&home).expect("loads").dump.apps.is_empty());
    // Empty over empty needs nothing.
    write(&home, &empty, false).expect("empty over empty");
}

#[test]
fn a_failed_write_leaves_both_files_as_they_were() {
    let (_tmp, home) = home();
    write(&home, &dump(), false).expect("first");
    let mut second = dump();
    second.apps.pop();
    write(&home, &second, false).expect("second");
    let (main, bak) = (
        fs::read(home.dump()).expect("main"),
        fs::read(home.dump_bak()).expect("bak"),
    );
    // The temporary cannot be created: a directory holds its name.
    fs::create_dir(home.dir.join("dump.ron.tmp")).expect("blocker");
    let e = write(&home, &dump(), false).expect_err("fails");
    assert!(
        matches!(&e, WriteError::Io(m) if m.starts_with("cannot write")),
        "{e}"
    );
    assert_eq!(fs::read(home.dump()).expect("main"), main);
    assert_eq!(fs::read(home.dump_bak()).expect("bak"), bak);
}

#[test]
fn a_damaged_dump_falls_back_to_bak_naming_it_and_is_not_kept_over_it() {
    let (_tmp, home) = home();
    assert_eq!(load(&home).expect_err("nothing"), LoadError::Missing);
    write(&home, &dump(), false).expect("first");
    let mut second = dump();
    second.apps.pop();
    write(&home, &second, false).expect("second");
    fs::write(home.dump(), "Dump(version: 1, apps: [").expect("damage");
    let loaded = load(&home).expect("falls back");
    assert_eq!(loaded.file, home.dump_bak());
    assert_eq!(loaded.dump, dump());
    let w = loaded.warning.expect("a warning");
    assert!(w.contains("dump.ron.bak") && w.contains("dump.ron:"), "{w}");
    // Saving over a damaged dump keeps the good .bak.
    write(&home, &second, false).expect("third");
    let bak = Dump::decode(&fs::read_to_string(home.dump_bak()).expect("bak")).expect("bak");
    assert_eq!(bak, dump());
    // Both damaged: both named.
    fs::write(home.dump(), "x").expect("damage");
    fs::write(home.dump_bak(), "y").expect("damage");
    let LoadError::Unreadable(e) = load(&home).expect_err("both bad") else {
        panic!("not unreadable");
    };
    assert!(
        e.contains("dump.ron:") && e.contains("dump.ron.bak:"),
        "{e}"
    );
}
