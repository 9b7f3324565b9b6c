//! `pmx startup` / `pmx unstartup`: the printed units name pmx's own absolute path and
//! a minimal PATH (never the caller's), take a user's home from the passwd database
//! (`-u` without `--hp`), pass `systemd-analyze verify`, and `--install` (as root, under
//! `PMX_STARTUP_ROOT`) writes exactly what `unstartup` removes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// pmx's absolute path as the unit names it.
fn pmx_path() -> PathBuf {
    std::fs::canonicalize(PMX).expect("pmx path")
}

/// The caller's PATH with a directory no unit may carry.
const CALLER_DIR: &str = "/opt/caller-only/nvm/v20/bin";

fn startup(t: &TestHome, args: &[&str]) -> std::process::Output {
    let mut c = t.cmd(args);
    c.env(
        "PATH",
        format!("{CALLER_DIR}:{}", std::env::var("PATH").unwrap_or_default()),
    );
    run_with_timeout(c, std::time::Duration::from_secs(60))
}

/// The home of `user` in /etc/passwd.
fn passwd_home(user: &str) -> Option<String> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 5 && f[0] == user).then(|| f[5].to_string())
        })
}

#[test]
fn each_unit_names_pmx_s_absolute_path_the_passwd_home_and_never_the_caller_s_path() {
    let t = TestHome::new();
    let Some(home) = passwd_home("daemon") else {
        eprintln!("skipped: no user \"daemon\" in /etc/passwd");
        return;
    };
    let pmx = pmx_path();
    for platform in ["systemd", "openrc", "launchd", "rcd", "systemv", "upstart"] {
        let out = startup(&t, &["startup", platform, "-u", "daemon"]);
        let text = expect_ok(&out, platform);
        assert!(
            text.contains(&*pmx.to_string_lossy()),
            "{platform}: pmx's path missing:\n{text}"
        );
        assert!(
            text.contains(&format!("{home}/.pmx")),
            "{platform}: not the passwd home {home}:\n{text}"
        );
        assert!(text.contains("daemon"), "{platform}");
        assert!(
            !text.contains(CALLER_DIR),
            "{platform}: the caller's PATH:\n{text}"
        );
        assert!(
            !text.contains("%PMX") && !text.contains("%USER%"),
            "{platform}"
        );
        let hint = String::from_utf8_lossy(&out.stderr);
        assert!(hint.contains("--install"), "{platform}: {hint}");
    }
    // --hp wins over the passwd home.
    let text = t.ok(&["startup", "systemd", "-u", "daemon", "--hp", "/srv/d"]);
    assert!(text.contains("PMX_HOME=/srv/d/.pmx"), "{text}");
    // An unknown user and an unknown init system are refused.
    let e = t.fails(&["startup", "systemd", "-u", "no-such-user-pmx"], 1);
    assert!(e.contains("unknown user \"no-such-user-pmx\""), "{e}");
    let e = t.fails(&["startup", "runit"], 2);
    assert!(e.contains("unknown init system \"runit\""), "{e}");
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("skipped: /usr/bin/systemd-analyze is not installed");
        return;
    }
    let t = TestHome::new();
    let text = t.ok(&["startup", "systemd", "-u", "daemon"]);
    let unit = t.path("pmx-daemon.service");
    std::fs::write(&unit, &text).expect("unit");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("Failed to initialize") {
        eprintln!("skipped: systemd-analyze cannot run in this container: {err}");
        return;
    }
    assert!(out.status.success(), "verify failed: {err}");
    assert!(err.trim().is_empty(), "verify warned: {err}");
}

#[test]
fn install_writes_and_records_the_unit_and_unstartup_removes_exactly_it() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: --install needs root");
        return;
    }
    let t = TestHome::new();
    let root = t.path("root");
    let mut c = t.cmd(&["startup", "systemd", "-u", "daemon", "--install"]);
    c.env("PMX_STARTUP_ROOT", &root);
    let out = expect_ok(
        &run_with_timeout(c, std::time::Duration::from_secs(60)),
        "install",
    );
    let unit = root.join("etc/systemd/system/pmx-daemon.service");
    let record = root.join("etc/pmx/startup-daemon.json");
    assert!(out.contains(&*unit.to_string_lossy()), "{out}");
    assert!(out.contains("systemctl enable pmx-daemon"), "{out}");
    let text = std::fs::read_to_string(&unit).expect("unit written");
    assert!(
        text.contains("ExecStart=") && text.contains("User=daemon"),
        "{text}"
    );
    assert!(record.exists());
    // A record pointing elsewhere is refused, nothing removed.
    let good = std::fs::read_to_string(&record).expect("record");
    let other_target = t.path("precious");
    std::fs::write(&other_target, "keep").expect("precious");
    std::fs::write(
        &record,
        good.replace(&*unit.to_string_lossy(), &other_target.to_string_lossy()),
    )
    .expect("tampered record");
    let mut c = t.cmd(&["unstartup", "-u", "daemon"]);
    c.env("PMX_STARTUP_ROOT", &root);
    let out = run_with_timeout(c, std::time::Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1));
    assert!(other_target.exists() && unit.exists());
    std::fs::write(&record, good).expect("record back");
    // A file beside it is not touched by unstartup.
    let other = root.join("etc/systemd/system/other.service");
    std::fs::write(&other, "[Unit]\n").expect("other");
    let mut c = t.cmd(&["unstartup", "-u", "daemon"]);
    c.env("PMX_STARTUP_ROOT", &root);
    let out = expect_ok(
        &run_with_timeout(c, std::time::Duration::from_secs(60)),
        "unstartup",
    );
    assert!(out.contains("removed"), "{out}");
    assert!(!unit.exists() && !record.exists());
    assert!(other.exists());
    // Nothing left to remove: one line saying so.
    let mut c = t.cmd(&["unstartup", "-u", "daemon"]);
    c.env("PMX_STARTUP_ROOT", &root);
    let out = run_with_timeout(c, std::time::Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to remove"));
}
