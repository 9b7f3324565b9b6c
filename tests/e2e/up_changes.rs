//! `pmx up` with a changed spec: what changed takes effect (the instance count, the log
//! routes), and `describe` shows only what is in force. The plan's wording is not asserted
//! here, only the effect (list, describe, files).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::harness::*;

fn write_eco(t: &TestHome, app_fields: &str) {
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"w\", script: \"{}\", {app_fields})])\n",
            app("ticker.sh")
        ),
    )
    .expect("write ecosystem");
}

/// instance number → (id, pid) of `w`, once exactly `n` rows are listed, all online.
fn instances(t: &TestHome, n: usize) -> BTreeMap<i64, (i64, i64)> {
    let mut rows = Vec::new();
    let ok = wait_for(DEADLINE, || {
        rows = t.list().into_iter().filter(|r| r["name"] == "w").collect();
        rows.len() == n && rows.iter().all(|r| r["status"] == "online")
    });
    assert!(ok, "{n} online instances of w: {rows:?}");
    rows.iter()
        .map(|r| (int(r, "instance"), (int(r, "id"), int(r, "pid"))))
        .collect()
}

fn describe(t: &TestHome) -> Vec<Value> {
    let out = t.ok(&["describe", "w", "--json"]);
    match serde_json::from_str(&out).expect("describe --json") {
        Value::Array(v) => v,
        v => vec![v],
    }
}

#[test]
fn up_changes_the_instance_count_both_ways() {
    let t = TestHome::new();
    write_eco(&t, "instances: 1");
    t.ok(&["up", "eco.ron"]);
    let one = instances(&t, 1);
    let first_id = one[&0].0;

    write_eco(&t, "instances: 3");
    t.ok(&["up", "eco.ron"]);
    let three = instances(&t, 3);
    assert_eq!(
        three.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2],
        "instance numbers stay 0..N-1"
    );
    assert_eq!(three[&0].0, first_id, "instance 0 keeps its id");
    let ids: std::collections::BTreeSet<i64> = three.values().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 3, "each instance has its own id: {three:?}");
    let pids: std::collections::BTreeSet<i64> = three.values().map(|(_, p)| *p).collect();
    assert_eq!(pids.len(), 3, "three processes: {three:?}");
    assert!(pids.iter().all(|p| alive(*p as i32)));
    assert_eq!(describe(&t).len(), 3);
    for row in t
        .list()
        .iter()
        .filter(|r| r["name"] == "w" && r["instance"] != 0)
    {
        assert_eq!(
            row["restarts"], 0,
            "an added instance's first start is no restart"
        );
    }
    for n in 0..3 {
        // PM2's names for several instances without `merge`: one file each.
        let file = t.home.join(format!("logs/w-out-{n}.log"));
        assert!(
            wait_for(DEADLINE, || read_lines(&file).len() >= 2),
            "instance {n} writes to {}",
            file.display()
        );
    }

    write_eco(&t, "instances: 2");
    t.ok(&["up", "eco.ron"]);
    let two = instances(&t, 2);
    assert_eq!(
        two.keys().copied().collect::<Vec<_>>(),
        [0, 1],
        "the highest goes"
    );
    assert_eq!(two[&0].0, three[&0].0);
    assert_eq!(two[&1].0, three[&1].0, "the kept instances keep their ids");
    assert_eq!(
        (two[&0].1, two[&1].1),
        (three[&0].1, three[&1].1),
        "a shrink that renames no file leaves the kept instances running (a scale)"
    );
    let gone = three[&2].1 as i32;
    assert!(
        wait_for(DEADLINE, || !alive(gone)),
        "the process of instance 2 was stopped"
    );
    assert_eq!(describe(&t).len(), 2);
}

/// The lines of `path`, empty when it does not exist.
fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether `line` is `<%Y-%m-%dT%H:%M:%S>: tick N` (the default `time` prefix).
fn stamped(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(stamp, rest)| {
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S").is_ok()
            && rest.starts_with("tick ")
    })
}

#[test]
fn up_moves_a_log_file_and_turns_time_on() {
    let t = TestHome::new();
    let old = t.path("old.log");
    let new = t.path("new.log");
    write_eco(
        &t,
        &format!("logs: (out_file: {:?})", old.display().to_string()),
    );
    t.ok(&["up", "eco.ron"]);
    let before = instances(&t, 1)[&0].1;
    assert!(wait_for(DEADLINE, || read_lines(&old).len() >= 2));
    assert!(read_lines(&old).iter().all(|l| l.starts_with("tick ")));

    write_eco(
        &t,
        &format!(
            "logs: (out_file: {:?}, time: true)",
            new.display().to_string()
        ),
    );
    t.ok(&["up", "eco.ron"]);
    let after = instances(&t, 1)[&0].1;
    assert_ne!(after, before, "the app was reloaded");
    assert!(
        wait_for(DEADLINE, || read_lines(&new).len() >= 3),
        "lines reach the new file"
    );
    // The old process is gone and its pipe drained: the old file is complete now.
    assert!(wait_for(DEADLINE, || !alive(before as i32)));
    let old_then = read_lines(&old);
    let seen = read_lines(&new).len();
    assert!(
        wait_for(DEADLINE, || read_lines(&new).len() >= seen + 3),
        "the new file keeps growing"
    );
    assert_eq!(read_lines(&old), old_then, "the old file gets no new line");
    let lines = read_lines(&new);
    assert!(
        lines.iter().all(|l| stamped(l)),
        "every line of the new file has the time prefix: {lines:?}"
    );
    let d = &describe(&t)[0];
    assert_eq!(d["out_log"], new.display().to_string());
    assert_eq!(d["log_date_format"], "%Y-%m-%dT%H:%M:%S");
}
