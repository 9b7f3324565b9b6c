//! `pmx up` over apps that are down: one declared `autostart: false` (never started, or
//! stopped) takes a changed declaration and stays down, its plan line saying so; one
//! declared to start that was stopped by hand is started again under its new spec
//! (pmx's rule, as `pm2 start ecosystem.config.js` restarts a stopped app). And the plan
//! names a change under `--env NAME` as the file spells it.

use std::path::Path;

use serde_json::Value;

use crate::harness::*;

/// Write an ecosystem file of sleeper apps, each `(name, extra fields)`.
fn write_eco(path: &Path, apps: &[(&str, &str)]) {
    let apps: Vec<String> = apps
        .iter()
        .map(|(name, extra)| {
            format!(
                "App(name: \"{name}\", script: \"{}\", {extra})",
                app("sleeper.sh")
            )
        })
        .collect();
    std::fs::write(path, format!("Ecosystem(apps: [{}])", apps.join(", "))).expect("write");
}

/// The plan line of `name` in `up`'s output.
fn plan_line(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.len() > 2 && l[2..].split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no plan line for {name}: {out}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn described(t: &TestHome, name: &str) -> Value {
    let v: Value = serde_json::from_str(&t.ok(&["describe", name, "--json"])).expect("json");
    v[0].clone()
}

#[test]
fn up_gives_a_down_autostart_false_app_its_new_spec_and_leaves_it_stopped() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    let f = eco.to_str().expect("utf-8");
    write_eco(&eco, &[("c", "autostart: false, kill_timeout: \"2s\"")]);
    t.ok(&["up", f]);
    assert_eq!(t.row("c")["status"], "stopped");

    // Never started: a changed field is taken, the app stays down.
    write_eco(&eco, &[("c", "autostart: false, kill_timeout: \"3s\"")]);
    let out = t.ok(&["up", f]);
    assert_eq!(
        plan_line(&out, "c"),
        "~ c update (kill_timeout), stays stopped"
    );
    let d = described(&t, "c");
    assert_eq!(
        (d["status"].clone(), d["kill_timeout"].clone()),
        ("stopped".into(), 3000.into())
    );

    // Started by hand, then stopped by hand: the same.
    t.ok(&["start", "c"]);
    t.wait_status("c", "online");
    t.ok(&["stop", "c"]);
    write_eco(&eco, &[("c", "autostart: false, kill_timeout: \"4s\"")]);
    let out = t.ok(&["up", f]);
    assert_eq!(
        plan_line(&out, "c"),
        "~ c update (kill_timeout), stays stopped"
    );
    let d = described(&t, "c");
    assert_eq!(
        (d["status"].clone(), d["kill_timeout"].clone()),
        ("stopped".into(), 4000.into())
    );

    // startOrReload leaves it down too.
    write_eco(&eco, &[("c", "autostart: false, kill_timeout: \"5s\"")]);
    let out = t.ok(&["startOrReload", f]);
    assert_eq!(
        plan_line(&out, "c"),
        "~ c update (kill_timeout), stays stopped"
    );
    let d = described(&t, "c");
    assert_eq!(
        (d["status"].clone(), d["kill_timeout"].clone()),
        ("stopped".into(), 5000.into())
    );
    assert!(d["pid"].is_null() || d["pid"] == 0, "{d}");
}

#[test]
fn up_starts_a_hand_stopped_app_declared_to_start_under_its_new_spec() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    let f = eco.to_str().expect("utf-8");
    write_eco(&eco, &[("w", "kill_timeout: \"2s\"")]);
    t.ok(&["up", f]);
    t.wait_status("w", "online");
    t.ok(&["stop", "w"]);
    write_eco(&eco, &[("w", "kill_timeout: \"3s\"")]);
    let out = t.ok(&["up", f]);
    assert_eq!(plan_line(&out, "w"), "~ w reload (kill_timeout)");
    t.wait_status("w", "online");
    assert_eq!(described(&t, "w")["kill_timeout"], 3000);
}

#[test]
fn up_names_a_change_under_env_name_as_the_file_spells_it() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    let f = eco.to_str().expect("utf-8");
    write_eco(&eco, &[("w", "envs: {\"production\": {\"PORT\": \"80\"}}")]);
    t.ok(&["up", f, "--env", "production"]);
    write_eco(&eco, &[("w", "envs: {\"production\": {\"PORT\": \"81\"}}")]);
    let dry = t.ok(&["up", f, "--env", "production", "--dry-run"]);
    assert_eq!(plan_line(&dry, "w"), "~ w reload (envs.production.PORT)");
}
