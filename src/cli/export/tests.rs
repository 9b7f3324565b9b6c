//! Table tests of the pure parts of `pmx export`: the field tables, escaping, the cron
//! conversion, YAML quoting, argv and probe parsing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fields::{markdown, set_fields, FIELDS};
use super::systemd::{cron_to_calendar, env_assignment, exec_word, unit_name};
use super::*;

const ALL: [Target; 4] = [
    Target::Systemd,
    Target::Kubernetes,
    Target::Nomad,
    Target::Compose,
];

#[test]
fn every_target_table_lists_every_field_once_in_spec_order() {
    for t in ALL {
        let names: Vec<&str> = t.table().iter().map(|(f, _)| *f).collect();
        assert_eq!(names, FIELDS.to_vec(), "{}", t.name());
    }
}

#[test]
fn docs_export_md_holds_each_targets_table_as_the_code_has_it() {
    // Each table sits between `<!-- table:<target> -->` and `<!-- /table -->`;
    // PMX_BLESS=1 rewrites them from the code.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/export.md");
    let mut doc = std::fs::read_to_string(&path).expect("docs/export.md");
    let bless = std::env::var_os("PMX_BLESS").is_some_and(|v| v == "1");
    for t in ALL {
        let open = format!("<!-- table:{} -->\n", t.name());
        let start = doc.find(&open).expect("the table's opening marker") + open.len();
        let end = start
            + doc[start..]
                .find("<!-- /table -->")
                .expect("its closing marker");
        let table = markdown(t.table());
        if bless {
            doc.replace_range(start..end, &table);
        } else {
            assert_eq!(
                doc[start..end],
                table,
                "docs/export.md's table of {} is not the code's (PMX_BLESS=1 rewrites it)",
                t.name()
            );
        }
    }
    if bless {
        std::fs::write(&path, doc).expect("write docs/export.md");
    }
}

#[test]
fn an_app_at_its_defaults_sets_only_kill_signal() {
    let spec = spec_of(pmx_config::App::new(
        "a".into(),
        "a.sh".into(),
        PathBuf::from("/srv"),
    ));
    assert_eq!(set_fields(&spec), vec!["kill_signal"]);
}

#[test]
fn targets_parse_with_a_suggestion_for_a_typo() {
    assert_eq!(Target::parse("k8s"), Ok(Target::Kubernetes));
    assert_eq!(Target::parse("compose"), Ok(Target::Compose));
    let err = Target::parse("kubernets").unwrap_err();
    assert!(err.contains("did you mean \"kubernetes\"?"), "{err}");
    let err = Target::parse("helm").unwrap_err();
    assert_eq!(
        err,
        "unknown export target \"helm\" (systemd, kubernetes, nomad or compose)"
    );
}

#[test]
fn images_take_one_for_all_and_one_per_app() {
    let i = Images::parse(&["reg/all:1".into(), "api=reg/api:2".into()]).unwrap();
    assert_eq!(i.of("api"), Some("reg/api:2"));
    assert_eq!(i.of("worker"), Some("reg/all:1"));
    assert!(Images::parse(&["a".into(), "b".into()]).is_err());
    assert!(Images::parse(&["=x".into()]).is_err());
    assert_eq!(Images::parse(&[]).unwrap().of("x"), None);
}

#[test]
fn cron_patterns_become_on_calendar_or_none() {
    let cases = [
        ("0 3 * * *", Some("*-*-* 3:0:0")),
        ("*/15 * * * *", Some("*-*-* *:0/15:0")),
        ("30 */2 * * *", Some("*-*-* 0/2:30:0")),
        ("0 3 * * 1-5", Some("Mon..Fri *-*-* 3:0:0")),
        ("0 3 * * 5-7", Some("Fri..Sat,Sun *-*-* 3:0:0")),
        ("0 3 * * SUN,wed", Some("Sun,Wed *-*-* 3:0:0")),
        ("0 0 1 JAN-MAR *", Some("*-1..3-1 0:0:0")),
        ("10 0 3 1 * *", Some("*-*-1 3:0:10")),
        ("0 0 1,15 * *", Some("*-*-1,15 0:0:0")),
        ("@daily", Some("*-*-* 00:00:00")),
        ("@weekly", Some("Sun *-*-* 00:00:00")),
        ("0 3 1 * 1", None),   // cron: the 1st or a Monday; systemd: both
        ("0 3 L * *", None),   // last day of the month
        ("0 3 * * 1#2", None), // second Monday
        ("0 3 * * */2", None), // a step over weekdays
        ("@reboot", None),
    ];
    for (cron, want) in cases {
        assert_eq!(cron_to_calendar(cron).as_deref(), want, "{cron}");
    }
}

#[test]
fn command_words_and_environment_are_escaped_per_systemd_syntax() {
    let cases = [
        ("plain", "plain"),
        ("two words", "\"two words\""),
        ("100%", "100%%"),
        ("$HOME", "$$HOME"),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("", "\"\""),
        (";", "\";\""),
        ("a\nb", "\"a\\nb\""),
    ];
    for (word, want) in cases {
        assert_eq!(exec_word(word), want, "{word:?}");
    }
    assert_eq!(env_assignment("A", "x y", false), "\"A=x y\"");
    assert_eq!(env_assignment("A", "50%", false), "\"A=50%%\"");
    assert_eq!(env_assignment("A", "%i", true), "\"A=%i\"");
    assert_eq!(env_assignment("A", "%i", false), "\"A=%%i\"");
    assert_eq!(env_assignment("A", "q\"\\", false), "\"A=q\\\"\\\\\"");
    assert_eq!(unit_name("api-v2_x.y"), "api-v2_x.y");
    assert_eq!(unit_name(".hidden"), "\\x2ehidden");
}

#[test]
fn strings_yaml_1_1_would_misread_are_quoted() {
    let risky = [
        "on",
        "No",
        "y",
        "1:30",
        "1_000",
        "2001-12-14",
        "=",
        "<<",
        "007",
        "-1.5",
    ];
    let safe = ["-e", "hello", "node", "on-failure", "3000Mi", "a:b", "v1.2"];
    for s in risky {
        assert!(yaml11_risky(s), "{s}");
    }
    for s in safe {
        assert!(!yaml11_risky(s), "{s}");
    }
    let v = serde_json::json!({"on": ["on", "off", "ok", "1:30"], "k": "2001-12-14"});
    let y = to_yaml(&v).unwrap();
    assert_eq!(
        y,
        "k: \"2001-12-14\"\n\"on\":\n- \"on\"\n- \"off\"\n- ok\n- \"1:30\"\n"
    );
    let back: serde_json::Value = serde_yaml_ng::from_str(&y).unwrap();
    assert_eq!(back, v);
}

#[test]
fn container_commands_name_programs_on_path_and_paths_under_the_app_dir() {
    let mut app = pmx_config::App::new("a".into(), "bin/a.sh".into(), PathBuf::from("/srv/p"));
    app.args = vec!["--in".into(), "/srv/p/data".into(), "/etc/x".into()];
    let mut spec = spec_of(app);
    spec.program = PathBuf::from("/usr/bin/bash");
    spec.args = vec![
        "-e".into(),
        "/srv/p/bin/a.sh".into(),
        "--in".into(),
        "/srv/p/data".into(),
        "/etc/x".into(),
    ];
    let dirs = path_dirs(Some("/usr/local/bin:/usr/bin"));
    assert_eq!(
        container_argv(&spec, &dirs),
        ["bash", "-e", "./bin/a.sh", "--in", "./data", "/etc/x"]
    );
    spec.program = PathBuf::from("/srv/p/bin/a.sh");
    spec.args = vec![];
    assert_eq!(container_argv(&spec, &dirs), ["./bin/a.sh"]);
}

#[test]
fn probe_addresses_split_into_host_port_and_path() {
    let env: BTreeMap<String, String> = [("PORT".to_string(), "3000".to_string())].into();
    let cases = [
        (
            "http://127.0.0.1:${PORT}/health",
            Some(("127.0.0.1", 3000, "/health")),
        ),
        ("http://api.local/x?y=1", Some(("api.local", 80, "/x?y=1"))),
        ("https://h", Some(("h", 443, "/"))),
        ("127.0.0.1:6432", Some(("127.0.0.1", 6432, "/"))),
        ("[::1]:9000", Some(("[::1]", 9000, "/"))),
        ("http://h:${MISSING}/", None),
        ("nohost", None),
    ];
    for (url, want) in cases {
        let got = probe_parts(url, &env);
        let got = got
            .as_ref()
            .map(|(h, p, path)| (h.as_str(), *p, path.as_str()));
        assert_eq!(got, want, "{url}");
    }
    assert_eq!(
        substitute("a${X}b${Y}", &[("X".to_string(), "1".to_string())].into()),
        "a1b${Y}"
    );
}

#[test]
fn durations_and_sizes_in_each_engines_words() {
    let cases = [
        (0, "0s", "0"),
        (1600, "1600ms", "1600ms"),
        (3000, "3s", "3s"),
        (120_000, "2m", "2min"),
        (3_600_000, "1h", "1h"),
    ];
    for (ms, go, sd) in cases {
        assert_eq!(go_duration(ms), go);
        assert_eq!(systemd::duration(ms), sd);
    }
    assert_eq!(memory_quantity(300 << 20), "300Mi");
    assert_eq!(memory_quantity(2 << 30), "2Gi");
    assert_eq!(memory_quantity(1000), "1000");
    assert_eq!(ceil_secs(1600, 0), 2);
    assert_eq!(ceil_secs(0, 1), 1);
    assert_eq!(dns_label("My_App.v2"), "my-app-v2");
    assert_eq!(dns_label("__"), "app");
    assert_eq!(dns_label("1st-api"), "app-1st-api");
    assert_eq!(dns_label(&"x".repeat(70)).len(), 63);
}

#[test]
fn stock_images_by_interpreter() {
    assert_eq!(compose::stock_image("/usr/bin/node"), Some("node:lts-slim"));
    assert_eq!(compose::stock_image("python3"), Some("python:3-slim"));
    assert_eq!(compose::stock_image("/opt/custom/bin/runner"), None);
}

/// A spec of `app` as `pmx up` would resolve it, without reading anything.
fn spec_of(app: pmx_config::App) -> AppSpec {
    AppSpec {
        program: PathBuf::from("/usr/bin/bash"),
        args: vec![app.script.clone()],
        cwd: app.dir.clone(),
        env: Default::default(),
        source: None,
        env_name: None,
        app: app.into(),
    }
}

/// `spec` rendered for `target` alone (no groups, one image for every app).
fn render_one(target: Target, spec: AppSpec) -> Output {
    let apps = [spec];
    let images = Images::parse(&["registry.example/x:1".to_string()]).expect("image");
    let input = Input {
        apps: &apps,
        groups: &[],
        images: &images,
        file: Path::new("/srv/p/ecosystem.ron"),
        cpus: 2,
    };
    render(target, &input).expect("rendered")
}

#[test]
fn a_node_app_with_listen_gets_no_socket_unit_and_others_do() {
    // (program, a .socket unit written)
    let cases = [("/usr/bin/node", false), ("/usr/bin/python3", true)];
    for (program, socket) in cases {
        let mut app = pmx_config::App::new("web".into(), "server".into(), PathBuf::from("/srv/p"));
        app.listen = vec!["tcp://127.0.0.1:3000".into()];
        let mut spec = spec_of(app);
        spec.program = PathBuf::from(program);
        let out = render_one(Target::Systemd, spec);
        let names: Vec<&str> = out.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names.contains(&"web.socket"),
            socket,
            "{program}: {names:?}"
        );
        let service = &out.files[0].text;
        assert_eq!(service.contains("Sockets=web.socket"), socket, "{service}");
        assert_eq!(
            out.notes.iter().any(|n| n.field == "listen"),
            !socket,
            "{program}: {:?}",
            out.notes
        );
    }
}

#[test]
fn containers_warn_of_listen_without_a_socket_and_of_this_machines_paths() {
    let mut app = pmx_config::App::new("web".into(), "app.py".into(), PathBuf::from("/srv/p"));
    app.listen = vec!["tcp://127.0.0.1:8000".into()];
    let mut spec = spec_of(app);
    spec.program = PathBuf::from("/opt/venv/bin/gunicorn");
    spec.args = vec!["app:app".into()];
    for target in [Target::Kubernetes, Target::Compose, Target::Nomad] {
        let out = render_one(target, spec.clone());
        let said = |field: &str, words: &str| {
            out.notes
                .iter()
                .any(|n| n.field == field && n.why.contains(words))
        };
        assert!(
            said("listen", "LISTEN_FDS"),
            "{}: {:?}",
            target.name(),
            out.notes
        );
        assert!(
            said("script", "/opt/venv/bin/gunicorn is a path of this machine"),
            "{}: {:?}",
            target.name(),
            out.notes
        );
    }
    // A loopback listen stays on the host's loopback in Compose.
    let out = render_one(Target::Compose, spec);
    assert!(
        out.files[0].text.contains("127.0.0.1:8000:8000"),
        "{}",
        out.files[0].text
    );
}
