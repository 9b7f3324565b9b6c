//! How many instances, and what each gets: `pmx scale` up and down (instance numbers
//! 0..N-1, ids, pids, the port still answering), `increment_var` (instance k gets base + k
//! through restart, reload, scale and `up`), and `exec_mode: Fork` (instances that bind
//! their own ports, listed as fork). The helpers here serve `any_language.rs` too.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::http::{answerers_200, free_port, start_web};

/// `n` consecutive ports nothing listens on now (for `increment_var: "PORT"`).
pub(crate) fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let base = free_port();
        if base > u16::MAX - n {
            continue;
        }
        let held: Vec<_> = (base..base + n)
            .map(|p| TcpListener::bind(("127.0.0.1", p)))
            .collect();
        if held.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// The rows of app `name`, once exactly `n` are listed and all online: (instance, id,
/// pid) in instance order.
pub(crate) fn online(t: &TestHome, name: &str, n: usize) -> Vec<(u32, i64, i64)> {
    let mut rows = Vec::new();
    assert!(
        wait_for(DEADLINE, || {
            rows = t.list().into_iter().filter(|r| r["name"] == name).collect();
            rows.len() == n && rows.iter().all(|r| r["status"] == "online")
        }),
        "{n} instances of {name} online: {rows:?}"
    );
    let mut out: Vec<(u32, i64, i64)> = rows
        .iter()
        .map(|r| (int(r, "instance") as u32, int(r, "id"), int(r, "pid")))
        .collect();
    out.sort();
    out
}

/// The environment process `pid` was exec'd with (`/proc/<pid>/environ`).
pub(crate) fn environ(pid: i64) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// `var` in the environment of each listed instance of `name` (in instance order).
pub(crate) fn vars(rows: &[(u32, i64, i64)], var: &str) -> Vec<String> {
    rows.iter()
        .map(|(_, _, pid)| environ(*pid).get(var).cloned().unwrap_or_default())
        .collect()
}

/// Whether perl is installed, saying why a test is skipped when not.
pub(crate) fn perl(test: &str) -> bool {
    let ok = Command::new("perl")
        .args(["-MIO::Socket::INET", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("{test}: SKIPPED, perl with IO::Socket is not installed (`.ci/run` installs it)");
    }
    ok
}

#[test]
fn scale_up_and_down_keeps_numbers_0_to_n_and_the_port_answering() {
    if !perl("scale_up_and_down") {
        return;
    }
    let t = TestHome::new();
    // One log file for all (merge): a shrink to one instance renames none, so the one
    // kept runs on (see the test below for the files renamed).
    let (port, _) = start_web(&t, "fd_http.pl", &["-i", "2", "--merge-logs"]);
    let before = online(&t, "web", 2);

    let out = t.ok(&["scale", "web", "4"]);
    assert!(out.contains("web"), "scale prints the app's rows: {out}");
    let grown = online(&t, "web", 4);
    assert_eq!(&grown[..2], &before[..], "the first two run on, untouched");
    assert_eq!(
        grown.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(0, 0), (1, 1), (2, 2), (3, 3)],
        "the next numbers under new ids"
    );
    assert_eq!(vars(&grown, "PMX_INSTANCE"), ["0", "1", "2", "3"]);
    let seen = answerers_200(port, 4);
    assert_eq!(seen.len(), 4, "all four answer: {seen:?}");

    t.ok(&["scale", "web", "-3"]);
    let shrunk = online(&t, "web", 1);
    assert_eq!(
        shrunk,
        &grown[..1],
        "the highest stopped, instance 0 runs on"
    );
    for (_, _, pid) in &grown[1..] {
        assert!(wait_for(DEADLINE, || !alive(*pid as i32)), "{pid} stopped");
    }
    assert_eq!(
        answerers_200(port, 1).keys().copied().collect::<Vec<_>>(),
        [0]
    );

    t.ok(&["scale", "web", "+1"]);
    let again = online(&t, "web", 2);
    assert_eq!(again[0], grown[0]);
    assert_eq!(
        (again[1].0, again[1].1),
        (1, 4),
        "a new id: ids are never reused"
    );
    assert_eq!(vars(&again, "NODE_APP_INSTANCE"), ["0", "1"]);
    assert_eq!(answerers_200(port, 2).len(), 2);
    let jlist: Value = serde_json::from_str(&t.ok(&["jlist"])).expect("jlist");
    let ids: Vec<i64> = jlist
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["pm_id"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(ids, [0, 4]);
}

/// The out log `describe` names for instance `n` of `name`.
fn out_log(t: &TestHome, name: &str, n: usize) -> String {
    let d: Value =
        serde_json::from_str(&t.ok(&["describe", name, "--json"])).expect("describe --json");
    d[n]["out_log"].as_str().expect("out_log").to_string()
}

#[test]
fn scaling_one_instance_to_several_and_back_moves_its_output_to_the_files_describe_names() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "s"]);
    let one = online(&t, "s", 1);
    assert!(out_log(&t, "s", 0).ends_with("/s-out.log"));
    t.ok(&["scale", "s", "3"]);
    let three = online(&t, "s", 3);
    assert_ne!(
        three[0].2, one[0].2,
        "instance 0 restarted onto its new file"
    );
    assert_eq!(three[0].1, one[0].1, "under its id");
    for (n, _, pid) in &three {
        let file = out_log(&t, "s", *n as usize);
        assert!(file.ends_with(&format!("/s-out-{n}.log")), "{file}");
        assert!(
            wait_for(DEADLINE, || lines(std::path::Path::new(&file))
                .contains(&format!("sleeper {pid}"))),
            "instance {n} writes to {file}"
        );
    }
    t.ok(&["scale", "s", "1"]);
    let back = online(&t, "s", 1);
    assert_ne!(back[0].2, three[0].2, "restarted onto the unnumbered file");
    let file = out_log(&t, "s", 0);
    assert!(file.ends_with("/s-out.log"), "{file}");
    assert!(wait_for(DEADLINE, || lines(std::path::Path::new(&file))
        .contains(&format!("sleeper {}", back[0].2))));
    // A stopped instance stays stopped: only the new numbers start.
    t.ok(&["stop", "s"]);
    t.ok(&["scale", "s", "2"]);
    let rows = t.list();
    let status: Vec<&str> = rows.iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(status, ["stopped", "online"], "{rows:?}");
}

#[test]
fn scale_refuses_less_than_one_instance_and_an_unknown_app() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "s", "-i", "2"]);
    let rows = online(&t, "s", 2);
    // Cluster by default (two instances), but nothing shared: listed as fork.
    assert!(t.list().iter().all(|r| r["mode"] == "fork"));
    let err = t.fails(&["scale", "s", "0"], 2);
    assert_eq!(
        err,
        "pmx: scale s: 0 instances; an app runs at least 1 instance (`pmx stop s` or `pmx delete s` to run none)\n"
    );
    let err = t.fails(&["scale", "s", "-2"], 2);
    assert!(
        err.starts_with("pmx: scale s: 2 instances -2 leaves 0;"),
        "{err}"
    );
    let err = t.fails(&["scale", "s", "two"], 2);
    assert!(err.contains("\"two\" is not a count"), "{err}");
    let err = t.fails(&["scale", "nope", "3"], 1);
    assert_eq!(err, "pmx: no app named \"nope\"\n");
    // The count it has: nothing changes, and that is no failure.
    t.ok(&["scale", "s", "2"]);
    assert_eq!(online(&t, "s", 2), rows, "nothing was touched");
}

/// An ecosystem file of one app running sleeper.sh with `increment_var: "PORT"`.
fn increment_file(t: &TestHome, instances: u32, env: &str) -> String {
    let file = t.path("eco.ron");
    std::fs::write(
        &file,
        format!(
            "Ecosystem(apps: [App(name: \"inc\", script: \"{}\", instances: {instances}, \
             increment_var: \"PORT\", env: {{{env}}})])\n",
            app("sleeper.sh")
        ),
    )
    .expect("write eco.ron");
    file.to_string_lossy().into_owned()
}

#[test]
fn increment_var_gives_instance_k_base_plus_k_through_restart_reload_scale_and_up() {
    let t = TestHome::new();
    let file = increment_file(&t, 3, "\"PORT\": 5000");
    t.ok(&["start", &file]);
    let rows = online(&t, "inc", 3);
    assert_eq!(vars(&rows, "PORT"), ["5000", "5001", "5002"]);
    assert_eq!(vars(&rows, "NODE_APP_INSTANCE"), ["0", "1", "2"]);

    t.ok(&["restart", "inc"]);
    let after = online(&t, "inc", 3);
    assert_ne!(after, rows, "new processes");
    assert_eq!(vars(&after, "PORT"), ["5000", "5001", "5002"], "restart");

    t.ok(&["reload", "inc"]);
    let after = online(&t, "inc", 3);
    assert_eq!(vars(&after, "PORT"), ["5000", "5001", "5002"], "reload");

    t.ok(&["scale", "inc", "5"]);
    let after = online(&t, "inc", 5);
    assert_eq!(
        vars(&after, "PORT"),
        ["5000", "5001", "5002", "5003", "5004"],
        "scale up"
    );
    t.ok(&["scale", "inc", "2"]);
    let after = online(&t, "inc", 2);
    assert_eq!(vars(&after, "PORT"), ["5000", "5001"], "scale down");

    // `up` with a new count scales; the kept instances keep their value.
    increment_file(&t, 4, "\"PORT\": 5000");
    let plan = t.ok(&["up", &file]);
    assert!(plan.contains("scale"), "{plan}");
    let grown = online(&t, "inc", 4);
    assert_eq!(&grown[..2], &after[..], "the kept instances run on");
    assert_eq!(vars(&grown, "PORT"), ["5000", "5001", "5002", "5003"], "up");

    // A new base reloads every instance with it.
    increment_file(&t, 4, "\"PORT\": 7000");
    t.ok(&["up", &file]);
    assert!(wait_for(DEADLINE, || {
        let rows = online(&t, "inc", 4);
        vars(&rows, "PORT") == ["7000", "7001", "7002", "7003"]
    }));
    let described: Value =
        serde_json::from_str(&t.ok(&["describe", "inc", "--json"])).expect("describe --json");
    let incs: Vec<(&str, &str)> = described
        .as_array()
        .expect("array")
        .iter()
        .map(|d| {
            (
                d["increment_var"].as_str().unwrap_or(""),
                d["increment_value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        incs,
        [
            ("PORT", "7000"),
            ("PORT", "7001"),
            ("PORT", "7002"),
            ("PORT", "7003")
        ]
    );
}

#[test]
fn increment_var_without_a_numeric_base_counts_from_0_as_pm2_does() {
    let t = TestHome::new();
    let file = increment_file(&t, 2, "");
    t.ok(&["start", &file]);
    assert_eq!(vars(&online(&t, "inc", 2), "PORT"), ["0", "1"], "unset");
    t.ok(&["delete", "inc"]);
    increment_file(&t, 2, "\"PORT\": \"abc\"");
    t.ok(&["start", &file]);
    assert_eq!(
        vars(&online(&t, "inc", 2), "PORT"),
        ["0", "1"],
        "not a number"
    );
    t.ok(&["delete", "inc"]);
    // From the caller's environment when the app's own layers do not set it.
    increment_file(&t, 2, "");
    let mut c = t.cmd(&["start", &file]);
    c.env("PORT", "6100");
    expect_ok(&run_with_timeout(c, Duration::from_secs(60)), "start");
    assert_eq!(vars(&online(&t, "inc", 2), "PORT"), ["6100", "6101"]);
}

#[test]
fn fork_mode_instances_bind_their_own_ports_and_list_as_fork() {
    if !perl("fork_mode_instances") {
        return;
    }
    let t = TestHome::new();
    let base = free_ports(3);
    let file = t.path("eco.ron");
    std::fs::write(
        &file,
        format!(
            "Ecosystem(apps: [App(name: \"forks\", script: \"{}\", instances: 3, \
             exec_mode: Fork, increment_var: \"PORT\", env: {{\"PORT\": {base}}})])\n",
            app("fd_http.pl")
        ),
    )
    .expect("write");
    let out = t.run(&["start", &file.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("warning"),
        "fork mode is no unbuilt cluster: {stderr}"
    );
    let rows = online(&t, "forks", 3);
    for (n, _, pid) in &rows {
        let port = base + *n as u16;
        let seen = answerers_200(port, 1);
        assert_eq!(
            seen.get(n),
            Some(&(*pid, format!("port:{port}"))),
            "instance {n} serves its own port {port}"
        );
        assert!(!environ(*pid).contains_key("LISTEN_FDS"), "no socket lent");
    }
    assert!(t.list().iter().all(|r| r["mode"] == "fork"));
    let jlist: Value = serde_json::from_str(&t.ok(&["jlist"])).expect("jlist");
    assert!(jlist
        .as_array()
        .expect("array")
        .iter()
        .all(|p| p["pm2_env"]["exec_mode"] == "fork_mode"));
    let text = t.ok(&["describe", "forks"]);
    assert!(
        text.contains("exec mode") && text.contains("fork"),
        "{text}"
    );
    assert!(text.contains(&format!("PORT={}", base + 2)), "{text}");
}

#[test]
fn fork_mode_refuses_listen_from_a_file_and_from_dash_x() {
    let t = TestHome::new();
    let file = t.path("eco.ron");
    std::fs::write(
        &file,
        "Ecosystem(apps: [App(\n  name: \"f\", script: \"a.sh\",\n  exec_mode: Fork,\n  listen: [\"tcp://127.0.0.1:1\"],\n)])\n",
    )
    .expect("write");
    let err = t.fails(&["start", &file.to_string_lossy()], 2);
    assert!(
        err.starts_with("pmx: ")
            && err.contains("eco.ron:4:3: listen shares sockets between instances, which exec_mode Fork does not do"),
        "{err}"
    );
    let err = t.fails(
        &[
            "start",
            &app("sleeper.sh"),
            "-x",
            "--listen",
            "tcp://127.0.0.1:1",
        ],
        2,
    );
    assert!(err.contains("-x (fork mode)"), "{err}");
    assert!(
        t.daemon_pid().is_none() || t.list().is_empty(),
        "nothing started"
    );
    // -x with several instances: fork mode, N independent instances.
    t.ok(&["start", &app("sleeper.sh"), "-x", "-i", "2", "--name", "s"]);
    online(&t, "s", 2);
    let described: Value =
        serde_json::from_str(&t.ok(&["describe", "s", "--json"])).expect("describe");
    assert!(described
        .as_array()
        .expect("array")
        .iter()
        .all(|d| d["exec_mode"] == "fork"));
}
