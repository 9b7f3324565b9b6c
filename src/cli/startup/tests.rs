//! Every template rendered for one user, compared with its golden file in
//! `fixtures/startup/` (`PMX_UPDATE_GOLDEN=1 cargo test startup` rewrites them), and the
//! escaping of odd values.

use super::*;

fn unit() -> Unit {
    let pmx = PathBuf::from("/opt/pmx/bin/pmx");
    Unit {
        user: "app".into(),
        path: minimal_path(&pmx),
        pmx,
        pmx_home: "/home/app/.pmx".into(),
    }
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/startup")
        .join(name)
}

#[test]
fn every_template_renders_as_its_golden_file() {
    for (name, p) in PLATFORMS {
        let text = p.render(&unit());
        let file = golden(name);
        if std::env::var_os("PMX_UPDATE_GOLDEN").is_some() {
            std::fs::write(&file, &text).expect("golden written");
        }
        let want =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(
            text,
            want,
            "{name}: the rendered unit differs from {}",
            file.display()
        );
        assert!(
            !text.contains('%') || *p == Platform::Systemd,
            "{name}: a placeholder left"
        );
        assert!(text.contains("/opt/pmx/bin/pmx"), "{name}");
        assert!(text.contains("/home/app/.pmx"), "{name}");
    }
}

#[test]
fn the_path_is_pmx_s_directory_then_the_system_s() {
    assert_eq!(
        minimal_path(Path::new("/home/u/.cargo/bin/pmx")),
        "/home/u/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(
        minimal_path(Path::new("/usr/bin/pmx")),
        "/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin"
    );
}

#[test]
fn odd_paths_are_escaped_for_each_format() {
    let u = Unit {
        user: "app".into(),
        pmx: "/opt/my pmx/it's/100%/pmx".into(),
        pmx_home: "/home/a \"b\"/.pmx".into(),
        path: "/x".into(),
    };
    let cases = [
        (
            Platform::Systemd,
            "ExecStart=\"/opt/my pmx/it's/100%%/pmx\" resurrect",
        ),
        (
            Platform::Systemd,
            "Environment=\"PMX_HOME=/home/a \\\"b\\\"/.pmx\"",
        ),
        (Platform::Systemv, "pmx_bin='/opt/my pmx/it'\\''s/100%/pmx'"),
        (Platform::Openrc, "export PMX_HOME='/home/a \"b\"/.pmx'"),
        (
            Platform::Launchd,
            "<string>/home/a &quot;b&quot;/.pmx</string>",
        ),
        (
            Platform::Launchd,
            "<string>/opt/my pmx/it&apos;s/100%/pmx</string>",
        ),
        (Platform::Upstart, "env PMX_HOME=\"/home/a \\\"b\\\"/.pmx\""),
        (
            Platform::Upstart,
            "pre-start exec '/opt/my pmx/it'\\''s/100%/pmx' resurrect",
        ),
    ];
    for (p, line) in cases {
        let text = p.render(&u);
        assert!(text.contains(line), "{}: no {line:?} in\n{text}", p.name());
    }
}

#[test]
fn platforms_parse_by_name_and_alias_and_are_detected_from_the_machine() {
    for (name, p) in PLATFORMS {
        assert_eq!(Platform::parse(name), Ok(*p));
        assert_eq!(p.name(), *name);
    }
    assert_eq!(Platform::parse("ubuntu"), Ok(Platform::Systemd));
    assert_eq!(Platform::parse("darwin"), Ok(Platform::Launchd));
    let e = Platform::parse("runit").expect_err("unknown");
    assert!(
        e.contains("\"runit\"") && e.contains("systemd, openrc"),
        "{e}"
    );
    if cfg!(target_os = "linux") {
        let tmp = tempfile::tempdir().expect("tmp");
        assert_eq!(Platform::detect_in(tmp.path()), None);
        let cases = [
            ("etc/init.d", Platform::Systemv),
            ("sbin/openrc-run", Platform::Openrc),
            ("run/systemd/system", Platform::Systemd),
        ];
        for (dir, p) in cases {
            std::fs::create_dir_all(tmp.path().join(dir)).expect("dir");
            assert_eq!(Platform::detect_in(tmp.path()), Some(p), "{dir}");
        }
    }
}

#[test]
fn only_plain_user_names_go_into_a_unit() {
    for ok in ["app", "www-data", "a.b_c1"] {
        assert_eq!(check_user(ok), Ok(()), "{ok}");
    }
    for bad in ["", "-x", "a b", "a$", "a/b", "é"] {
        assert!(check_user(bad).is_err(), "{bad:?} accepted");
    }
}
