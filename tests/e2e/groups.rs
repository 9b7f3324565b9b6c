//! OTP supervision groups: strategies, intensity and escalation, start and stop order,
//! checked from the apps' own records and their pids.

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::*;

/// Write an ecosystem with members a, b, c in one group and `outside` alone.
fn group_file(t: &TestHome, strategy: &str, intensity: &str) -> String {
    let rec = t.path("rec");
    let member = |n: &str| {
        format!(
            "App(name: \"{n}\", script: \"{}\", args: [\"{n}\", \"{}\"], kill_timeout: \"5s\")",
            app("member.sh"),
            rec.display()
        )
    };
    let eco = t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(\n  apps: [{}, {}, {}, {}],\n  groups: [Group(name: \"trio\", strategy: {strategy}, {intensity} apps: [\"a\", \"b\", \"c\"])],\n)\n",
            member("a"),
            member("b"),
            member("c"),
            member("outside"),
        ),
    )
    .expect("write eco");
    eco.to_string_lossy().into_owned()
}

/// The pids of a, b, c and outside once all are online and each has said so itself (its
/// "start NAME PID" line: its stop handler is set by then). "Online" only means spawned.
fn pids(t: &TestHome) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let rec = t.path("rec");
    assert!(
        wait_for(DEADLINE, || {
            out.clear();
            for r in t.list() {
                if r["status"] == "online" {
                    out.insert(
                        r["name"].as_str().unwrap_or_default().to_string(),
                        int(&r, "pid"),
                    );
                }
            }
            let said = lines(&rec);
            out.len() == 4
                && out
                    .iter()
                    .all(|(n, pid)| said.contains(&format!("start {n} {pid}")))
        }),
        "all four online: {:?}",
        t.list()
    );
    out
}

/// Lines of the record that start with `what` (`start` or `stop`), as "name".
fn events(rec: &Path, what: &str) -> Vec<String> {
    lines(rec)
        .into_iter()
        .filter(|l| l.starts_with(what))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

fn crash(t: &TestHome, name: &str) {
    std::fs::write(t.path(&format!("rec.crash-{name}")), "").expect("crash file");
}

/// Wait until the set of restarted members settles: their pids differ from `before`.
fn after_crash(
    t: &TestHome,
    before: &BTreeMap<String, i64>,
    changed: &[&str],
) -> BTreeMap<String, i64> {
    let mut now = BTreeMap::new();
    assert!(
        wait_for(DEADLINE, || {
            now = pids(t);
            changed.iter().all(|n| now.get(*n) != before.get(*n))
        }),
        "{changed:?} restarted: before {before:?}, now {now:?}"
    );
    now
}

#[test]
fn members_start_in_declared_order_and_show_their_group() {
    let t = TestHome::new();
    let eco = group_file(&t, "OneForOne", "");
    t.ok(&["start", &eco]);
    let p = pids(&t);
    // Each member is spawned before the next: pids are handed out in spawn order (the
    // apps' own records may interleave, as their shells start at their own pace).
    assert!(
        p["a"] < p["b"] && p["b"] < p["c"],
        "spawned in declared order: {p:?}"
    );
    assert_eq!(t.row("b")["group"], "trio");
    assert!(t.row("outside")["group"].is_null());
}

#[test]
fn one_for_one_restarts_only_the_failed_member() {
    let t = TestHome::new();
    t.ok(&["start", &group_file(&t, "OneForOne", "")]);
    let before = pids(&t);
    crash(&t, "b");
    let now = after_crash(&t, &before, &["b"]);
    for keep in ["a", "c", "outside"] {
        assert_eq!(now[keep], before[keep], "{keep} kept its pid");
    }
    let d: serde_json::Value =
        serde_json::from_str(&t.ok(&["describe", "a", "--json"])).expect("json");
    assert_eq!(d[0]["group"], "trio");
    assert_eq!(d[0]["group_strategy"], "OneForOne");
    assert_eq!(
        d[0]["group_intensity"], "max 1 within 5000 ms",
        "OTP's default"
    );
    assert_eq!(d[0]["group_restarts"], 1, "b's failure is in the window");
}

#[test]
fn one_for_all_restarts_every_member() {
    let t = TestHome::new();
    t.ok(&["start", &group_file(&t, "OneForAll", "")]);
    let before = pids(&t);
    crash(&t, "b");
    let now = after_crash(&t, &before, &["a", "b", "c"]);
    assert_eq!(
        now["outside"], before["outside"],
        "outside the group: untouched"
    );
    // The others stopped in reverse order before the restart.
    assert_eq!(events(&t.path("rec"), "stop"), ["c", "a"]);
}

#[test]
fn rest_for_one_restarts_the_failed_member_and_those_after_it() {
    let t = TestHome::new();
    t.ok(&["start", &group_file(&t, "RestForOne", "")]);
    let before = pids(&t);
    crash(&t, "b");
    let now = after_crash(&t, &before, &["b", "c"]);
    assert_eq!(now["a"], before["a"], "a, declared before b, kept its pid");
    assert_eq!(now["outside"], before["outside"]);
    assert!(now["b"] < now["c"], "restarted in declared order: {now:?}");
}

#[test]
fn over_its_intensity_the_group_is_errored_and_the_rest_untouched() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &group_file(&t, "OneForOne", "intensity: (max: 1, within: \"60s\"),"),
    ]);
    let before = pids(&t);
    crash(&t, "a");
    let mid = after_crash(&t, &before, &["a"]);
    crash(&t, "a");
    for name in ["a", "b", "c"] {
        let row = t.wait_status(name, "errored");
        assert!(row["pid"].is_null());
    }
    let outside = t.row("outside");
    assert_eq!(outside["status"], "online");
    assert_eq!(int(&outside, "pid"), mid["outside"]);
    t.ok(&["ping"]);
    // Members stopped in reverse order (a had crashed already).
    let stops = events(&t.path("rec"), "stop");
    assert_eq!(stops, ["c", "b"], "stopped in reverse order");
    // A manual restart of the group brings it back with a fresh window.
    t.ok(&["restart", "trio"]);
    for name in ["a", "b", "c"] {
        t.wait_status(name, "online");
    }
}

#[test]
fn stopping_a_group_stops_members_in_reverse_order() {
    let t = TestHome::new();
    t.ok(&["start", &group_file(&t, "OneForOne", "")]);
    pids(&t);
    t.ok(&["stop", "trio"]);
    assert_eq!(events(&t.path("rec"), "stop"), ["c", "b", "a"]);
    for name in ["a", "b", "c"] {
        assert_eq!(t.row(name)["status"], "stopped");
    }
    assert_eq!(t.row("outside")["status"], "online");
}

#[test]
fn a_manual_stop_of_a_member_restarts_nobody() {
    let t = TestHome::new();
    t.ok(&["start", &group_file(&t, "OneForAll", "")]);
    let before = pids(&t);
    t.ok(&["stop", "b"]);
    assert_eq!(t.row("b")["status"], "stopped");
    // Nothing else moves: give a restart every chance to show up.
    assert!(!wait_for(std::time::Duration::from_millis(1500), || {
        ["a", "c"]
            .iter()
            .any(|n| int(&t.row(n), "pid") != before[*n])
    }));
    assert_eq!(events(&t.path("rec"), "start").len(), 4, "no new start");
}

/// Two groups, g1 over a and b, g2 over c and d, with g1's strategy given.
fn two_groups(t: &TestHome, g1_strategy: &str) {
    let rec = t.path("rec");
    let member = |n: &str| {
        format!(
            "App(name: \"{n}\", script: \"{}\", args: [\"{n}\", \"{}\"])",
            app("member.sh"),
            rec.display()
        )
    };
    std::fs::write(
        t.path("ecosystem.ron"),
        format!(
            "Ecosystem(apps: [{}, {}, {}, {}], groups: [\n  Group(name: \"g1\", strategy: {g1_strategy}, apps: [\"a\", \"b\"]),\n  Group(name: \"g2\", apps: [\"c\", \"d\"]),\n])\n",
            member("a"),
            member("b"),
            member("c"),
            member("d")
        ),
    )
    .expect("write eco");
}

fn online_pids(t: &TestHome, names: &[&str]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    assert!(wait_for(DEADLINE, || {
        out.clear();
        for r in t.list() {
            if r["status"] == "online" {
                out.insert(
                    r["name"].as_str().unwrap_or_default().to_string(),
                    int(&r, "pid"),
                );
            }
        }
        // Each has said it is ready itself ("online" only means spawned).
        let said = lines(&t.path("rec"));
        names.iter().all(|n| {
            out.get(*n)
                .is_some_and(|pid| said.contains(&format!("start {n} {pid}")))
        })
    }));
    out
}

#[test]
fn up_rebuilds_only_the_group_that_changed() {
    let t = TestHome::new();
    two_groups(&t, "OneForOne");
    let out = t.ok(&["up"]);
    assert!(
        out.contains("+ group g1") && out.contains("+ group g2"),
        "{out}"
    );
    let before = online_pids(&t, &["a", "b", "c", "d"]);
    let out = t.ok(&["up"]);
    assert!(
        !out.contains("group"),
        "nothing about groups when nothing changed: {out}"
    );
    two_groups(&t, "OneForAll");
    let out = t.ok(&["up", "--dry-run"]);
    assert!(out.contains("~ group g1  rebuild (strategy)"), "{out}");
    assert_eq!(
        online_pids(&t, &["a", "b", "c", "d"]),
        before,
        "dry run changes nothing"
    );
    t.ok(&["up"]);
    let after = online_pids(&t, &["a", "b", "c", "d"]);
    assert_ne!(after["a"], before["a"], "g1 rebuilt: {after:?}");
    assert_ne!(after["b"], before["b"]);
    assert_eq!(after["c"], before["c"], "g2 untouched");
    assert_eq!(after["d"], before["d"]);
    // The rebuilt group supervises with its new strategy: a crash of b restarts a too.
    std::fs::write(t.path("rec.crash-b"), "").expect("crash");
    let mut now = BTreeMap::new();
    assert!(
        wait_for(DEADLINE, || {
            now = online_pids(&t, &["a", "b"]);
            now["a"] != after["a"] && now["b"] != after["b"]
        }),
        "OneForAll after the rebuild: {now:?}"
    );
}

#[test]
fn kill_stops_group_members_in_reverse_order() {
    let t = TestHome::new();
    t.ok(&["start", &group_file(&t, "OneForOne", "")]);
    pids(&t);
    t.ok(&["kill"]);
    let stops: Vec<String> = events(&t.path("rec"), "stop")
        .into_iter()
        .filter(|n| n != "outside")
        .collect();
    assert_eq!(stops, ["c", "b", "a"]);
}

/// An app of three instances with its own `strategy` and `intensity`.
fn instances_app(t: &TestHome, strategy: &str, intensity: &str) -> String {
    let eco = t.path("inst.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [App(name: \"trio\", script: \"{}\", args: [\"{}\"], instances: 3, strategy: {strategy}, {intensity})])",
            app("instance.sh"),
            t.path("rec").display()
        ),
    )
    .expect("write");
    eco.to_string_lossy().into_owned()
}

/// pids by instance number once all three are online.
fn instance_pids(t: &TestHome) -> Vec<i64> {
    let mut out = vec![];
    assert!(wait_for(DEADLINE, || {
        let rows = t.list();
        out = rows
            .iter()
            .filter(|r| r["status"] == "online")
            .map(|r| int(r, "pid"))
            .collect();
        let ordered: Vec<i64> = rows.iter().map(|r| int(r, "instance")).collect();
        out.len() == 3 && ordered == [0, 1, 2]
    }));
    out
}

#[test]
fn an_apps_strategy_governs_its_instances() {
    let t = TestHome::new();
    t.ok(&["start", &instances_app(&t, "RestForOne", "")]);
    let before = instance_pids(&t);
    std::fs::write(t.path("rec.crash-1"), "").expect("crash");
    let mut now = vec![];
    assert!(
        wait_for(DEADLINE, || {
            now = instance_pids(&t);
            now[1] != before[1] && now[2] != before[2]
        }),
        "instances 1 and 2 restarted: {before:?} -> {now:?}"
    );
    assert_eq!(
        now[0], before[0],
        "instance 0, before the failed one, kept its pid"
    );
}

#[test]
fn an_apps_intensity_replaces_max_restarts_and_errors_it() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        &instances_app(&t, "OneForOne", "intensity: (max: 1, within: \"60s\")"),
    ]);
    let before = instance_pids(&t);
    std::fs::write(t.path("rec.crash-0"), "").expect("crash");
    let mut now = vec![];
    assert!(wait_for(DEADLINE, || {
        now = instance_pids(&t);
        now[0] != before[0]
    }));
    assert_eq!(
        &now[1..],
        &before[1..],
        "OneForOne: only instance 0 restarted"
    );
    std::fs::write(t.path("rec.crash-2"), "").expect("crash");
    assert!(
        wait_for(DEADLINE, || t
            .list()
            .iter()
            .all(|r| r["status"] == "errored")),
        "{:?}",
        t.list()
    );
    t.ok(&["restart", "trio"]);
    instance_pids(&t);
}

#[test]
fn a_temporary_member_stopped_by_its_group_is_not_restarted() {
    let t = TestHome::new();
    let rec = t.path("rec");
    let member = |n: &str, extra: &str| {
        format!(
            "App(name: \"{n}\", script: \"{}\", args: [\"{n}\", \"{}\"]{extra})",
            app("member.sh"),
            rec.display()
        )
    };
    std::fs::write(
        t.path("ecosystem.ron"),
        format!(
            "Ecosystem(apps: [{}, {}], groups: [Group(name: \"g\", strategy: OneForAll, apps: [\"a\", \"temp\"])])",
            member("a", ""),
            member("temp", ", restart: (policy: Never)")
        ),
    )
    .expect("write");
    t.ok(&["up"]);
    let a = int(&t.wait_status("a", "online"), "pid");
    t.wait_status("temp", "online");
    std::fs::write(t.path("rec.crash-a"), "").expect("crash");
    t.wait_row("a", "a restarted", |r| {
        r["status"] == "online" && r["pid"].as_i64() != Some(a)
    });
    assert_eq!(
        t.row("temp")["status"],
        "stopped",
        "OTP: temporary children are not restarted"
    );
}

/// Write `ecosystem.ron`: members (name, extra fields) of group `g` declared as `group`
/// (e.g. `strategy: OneForAll,`), plus `other` outside the group.
fn custom(t: &TestHome, members: &[(&str, &str)], group: &str) {
    let rec = t.path("rec");
    let app_of = |n: &str, extra: &str| {
        format!(
            "App(name: \"{n}\", script: \"{}\", args: [\"{n}\", \"{}\"]{extra})",
            app("member.sh"),
            rec.display()
        )
    };
    let mut apps: Vec<String> = members.iter().map(|(n, e)| app_of(n, e)).collect();
    apps.push(app_of("other", ""));
    let names: Vec<String> = members.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    std::fs::write(
        t.path("ecosystem.ron"),
        format!(
            "Ecosystem(apps: [{}], groups: [Group(name: \"g\", {group} apps: [{}])])",
            apps.join(", "),
            names.join(", ")
        ),
    )
    .expect("write eco");
}

fn pid_of(t: &TestHome, name: &str) -> i64 {
    int(&t.wait_status(name, "online"), "pid")
}

#[test]
fn stopping_a_member_during_its_restart_delay_leaves_the_group_working() {
    let t = TestHome::new();
    custom(
        &t,
        &[("a", ", restart: (delay: \"1s\")"), ("b", "")],
        "intensity: (max: 5, within: \"30s\"),",
    );
    t.ok(&["up"]);
    pid_of(&t, "a");
    let b = pid_of(&t, "b");
    crash(&t, "a");
    t.wait_status("a", "waiting restart");
    t.ok(&["stop", "a"]);
    crash(&t, "b");
    t.wait_row("b", "b restarted", |r| {
        r["status"] == "online" && r["pid"].as_i64() != Some(b)
    });
    assert_eq!(
        t.row("a")["status"],
        "stopped",
        "a, stopped by hand, stays stopped"
    );
    t.ok(&["stop", "g"]);
}

#[test]
fn kill_does_not_wait_out_a_members_restart_delay() {
    let t = TestHome::new();
    custom(&t, &[("a", ", restart: (delay: \"30s\")"), ("b", "")], "");
    t.ok(&["up"]);
    pid_of(&t, "a");
    pid_of(&t, "b");
    crash(&t, "a");
    t.wait_status("a", "waiting restart");
    let started = std::time::Instant::now();
    t.ok(&["kill"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "kill waited out the delay"
    );
    assert_eq!(
        events(&t.path("rec"), "start")
            .iter()
            .filter(|n| *n == "a")
            .count(),
        1,
        "a never spawned again"
    );
}

#[test]
fn a_member_stopped_by_hand_during_a_group_restart_stays_stopped() {
    let t = TestHome::new();
    custom(
        &t,
        &[
            ("a", ""),
            ("b", ""),
            ("c", ", kill_signal: \"SIGCONT\", kill_timeout: \"2s\""),
        ],
        "strategy: OneForAll, intensity: (max: 5, within: \"30s\"),",
    );
    t.ok(&["up"]);
    for n in ["a", "b", "c"] {
        pid_of(&t, n);
    }
    crash(&t, "a");
    // c takes 2 s to stop (it ignores SIGCONT): the group's restart is under way.
    t.wait_status("c", "stopping");
    t.ok(&["stop", "b"]);
    for n in ["a", "c"] {
        t.wait_status(n, "online");
    }
    assert_eq!(
        t.row("b")["status"],
        "stopped",
        "the user's stop wins over the running restart"
    );
}

#[test]
fn a_failure_during_a_group_restart_is_absorbed_into_it() {
    let t = TestHome::new();
    custom(
        &t,
        &[
            ("a", ""),
            ("b", ""),
            ("c", ", kill_signal: \"SIGCONT\", kill_timeout: \"2s\""),
        ],
        "strategy: OneForAll,",
    );
    t.ok(&["up"]);
    for n in ["a", "b", "c"] {
        pid_of(&t, n);
    }
    crash(&t, "a");
    t.wait_status("c", "stopping");
    // b dies while the group is restarting everyone: OTP counts one failure, not two
    // (the default intensity, 1 within 5 s, would escalate on a second).
    crash(&t, "b");
    for n in ["a", "b", "c"] {
        t.wait_status(n, "online");
    }
    assert!(
        t.list().iter().all(|r| r["status"] == "online"),
        "{:?}",
        t.list()
    );
}

#[test]
fn after_an_escalation_a_member_started_by_hand_that_fails_is_errored_not_stuck() {
    let t = TestHome::new();
    custom(
        &t,
        &[("a", ""), ("b", "")],
        "intensity: (max: 0, within: \"5s\"),",
    );
    t.ok(&["up"]);
    pid_of(&t, "a");
    pid_of(&t, "b");
    crash(&t, "a");
    t.wait_status("a", "errored");
    t.wait_status("b", "errored");
    t.ok(&["restart", "b"]);
    pid_of(&t, "b");
    crash(&t, "b");
    let row = t.wait_status("b", "errored");
    assert!(row["pid"].is_null());
    let d = t.ok(&["describe", "b", "--json"]);
    assert!(
        d.contains("restart g"),
        "the reason says how to bring the group back: {d}"
    );
}

#[test]
fn up_with_only_leaves_groups_alone() {
    let t = TestHome::new();
    custom(&t, &[("a", ""), ("b", "")], "strategy: OneForAll,");
    t.ok(&["up"]);
    let out = t.ok(&["up", "--only", "other"]);
    assert!(!out.contains("group"), "{out}");
    assert_eq!(t.row("a")["group"], "g");
}

#[test]
fn a_deleted_member_comes_back_into_its_group_with_up() {
    let t = TestHome::new();
    custom(
        &t,
        &[("a", ""), ("b", ""), ("c", "")],
        "strategy: OneForAll,",
    );
    t.ok(&["up"]);
    pid_of(&t, "b");
    t.ok(&["delete", "b"]);
    let out = t.ok(&["up"]);
    assert!(
        out.contains("+ b") && out.contains("group g  rebuild"),
        "{out}"
    );
    let row = t.wait_status("b", "online");
    assert_eq!(row["group"], "g");
}

#[test]
fn two_members_of_a_one_for_all_group_failing_at_the_same_instant_count_once() {
    let t = TestHome::new();
    custom(
        &t,
        &[
            ("a", ""),
            ("b", ""),
            ("c", ", kill_signal: \"SIGCONT\", kill_timeout: \"2s\""),
        ],
        // The default intensity: 1 restart within 5 s. A second failure counted would
        // stop the whole group (over its intensity).
        "strategy: OneForAll,",
    );
    t.ok(&["up"]);
    let before: BTreeMap<String, i64> = ["a", "b", "c"]
        .iter()
        .map(|n| (n.to_string(), pid_of(&t, n)))
        .collect();
    // Both crash within one poll of member.sh (50 ms); c takes 2 s to stop, so both
    // failures reach the group before its restart sequence touches a or b.
    crash(&t, "a");
    crash(&t, "b");
    for n in ["a", "b", "c"] {
        t.wait_row(n, "restarted by the group", |r| {
            r["status"] == "online" && r["pid"].as_i64() != before.get(n).copied()
        });
    }
    let stops = events(&t.path("rec"), "stop");
    assert!(
        !stops.contains(&"a".to_string()) && !stops.contains(&"b".to_string()),
        "a and b crashed on their own (not stopped by the group): {stops:?}"
    );
    // Asked after the second failure was handled (it reached the group first): one
    // restart in the window, the group up.
    let d = t.ok(&["describe", "a", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&d).expect("describe json");
    let d = v.as_array().and_then(|a| a.first()).cloned().unwrap_or(v);
    assert_eq!(d["group_restarts"], 1, "{d}");
    assert!(
        t.list().iter().all(|r| r["status"] == "online"),
        "{:?}",
        t.list()
    );
}
