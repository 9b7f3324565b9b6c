//! Each process of an instance is its own generation: its own tree marker (so an old
//! tree's stop never reaches its replacement's), and the pid file, under PM2's name
//! `pids/<name>-<id>.pid`, names the instance's current process.

use crate::harness::*;

/// The `PMX_TREE` value in `pid`'s environment.
fn marker_of(pid: i64) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("PMX_TREE=").map(str::to_string))
        .expect("PMX_TREE set")
}

fn pid_file(t: &TestHome, name: &str, id: i64) -> Option<i64> {
    std::fs::read_to_string(t.home.join(format!("pids/{name}-{id}.pid")))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

#[test]
fn each_process_of_an_instance_has_its_own_marker_and_the_pid_file_names_the_current_one() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "gen"]);
    let row = t.wait_status("gen", "online");
    let (id, first) = (int(&row, "id"), int(&row, "pid"));
    assert!(wait_for(DEADLINE, || pid_file(&t, "gen", id) == Some(first)));
    let m1 = marker_of(first);
    let (tag_id, generation) = m1.rsplit_once(':').expect("<tag>:<id>:<generation>");
    assert!(tag_id.ends_with(&format!(":{id}")), "{m1}");
    assert!(generation.parse::<u64>().is_ok(), "{m1}");

    t.ok(&["restart", "gen"]);
    let second = int(
        &t.wait_row("gen", "a new process", |r| {
            r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p != first)
        }),
        "pid",
    );
    let m2 = marker_of(second);
    assert_ne!(m2, m1, "the replacement's tree has its own marker");
    assert!(m2.starts_with(&format!("{tag_id}:")), "{m1} then {m2}");
    assert!(
        wait_for(DEADLINE, || pid_file(&t, "gen", id) == Some(second)),
        "the pid file names the current process"
    );
    // `pmx env` shows the marker the process has.
    let shown = t.ok(&["env", &id.to_string()]);
    assert!(
        shown.lines().any(|l| l == format!("PMX_TREE={m2}")),
        "{shown}"
    );

    t.ok(&["stop", "gen"]);
    assert!(
        wait_for(DEADLINE, || pid_file(&t, "gen", id).is_none()),
        "removed once its process is gone"
    );
}
