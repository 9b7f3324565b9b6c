//! `pmx update` (SPEC §3): the running daemon execs the new binary in place and keeps
//! every app: the same daemon pid, the same app pids (still its children: exit codes
//! keep working), the cluster sockets never closed (no request fails), every line in the
//! logs. A refused binary changes nothing; an update interrupted at any point (its client
//! gone, the new daemon dying during the handover) loses no app.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::harness::*;
use crate::survive::{in_order, numbers, pids_of, start_numbered, Loop};

/// Send `update` of `binary` on a raw connection; answers the reply line, or None when
/// `wait` is false (the client leaves at once).
fn raw_update(t: &TestHome, binary: &str, wait: bool) -> Option<serde_json::Value> {
    raw_update_with(t, binary, wait, true)
}

/// [`raw_update`], with or without the hello first.
fn raw_update_with(
    t: &TestHome,
    binary: &str,
    wait: bool,
    hello: bool,
) -> Option<serde_json::Value> {
    t.ok(&["ping"]);
    let s = UnixStream::connect(t.home.join("pmx.sock")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    let hello_line = format!(
        "{{\"id\":0,\"type\":\"hello\",\"protocol_version\":1,\"version\":\"{}\"}}\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut line = String::new();
    if hello {
        w.write_all(hello_line.as_bytes()).expect("hello");
        r.read_line(&mut line).expect("hello reply");
    }
    let req = serde_json::json!({"id": 1, "type": "update", "binary": binary});
    w.write_all(format!("{req}\n").as_bytes()).expect("update");
    if !wait {
        return None;
    }
    line.clear();
    r.read_line(&mut line).expect("update reply");
    Some(serde_json::from_str(&line).expect("json reply"))
}

/// A script that answers `__handover` as this pmx does but dies as a daemon: a new
/// daemon killed during the handover.
fn dying_binary(t: &TestHome) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = t.path("pmx-dies");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nif [ \"$1\" = daemon ]; then exit 3; fi\nexec {PMX} \"$@\"\n"),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_string_lossy().into_owned()
}

#[test]
fn update_keeps_every_pid_and_no_request_fails_across_it_twice() {
    let t = TestHome::new();
    let (port, _) = crate::http::start_web(&t, "fd_http.py", &["-i", "2"]);
    let web = pids_of(&t, "web", 2);
    let count = start_numbered(&t, "count", false);
    let daemon = t.daemon_pid().expect("daemon");
    let holder = t.holder_pid().expect("holder");
    assert_eq!(crate::http::answerers(port, 2).len(), 2);
    let uptime = int(&t.row("count"), "uptime");
    let client = Loop::start(port);
    std::thread::sleep(Duration::from_millis(300));
    for round in 1..=2 {
        let out = t.ok(&["update"]);
        assert!(
            out.contains(&format!("pid {daemon} kept")),
            "round {round}: {out}"
        );
        assert_eq!(t.daemon_pid(), Some(daemon));
        assert_eq!(pids_of(&t, "web", 2), web, "round {round}");
        assert_eq!(int(&t.row("count"), "pid") as i32, count, "round {round}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ok, failed, gap) = client.finish();
    eprintln!("requests across two updates: {ok} answered, {failed} failed, longest gap {gap} ms");
    assert_eq!(
        failed, 0,
        "requests failed across the update ({ok} answered)"
    );
    assert_eq!(t.holder_pid(), Some(holder), "the same holder");
    let log = t.home.join("logs/count-out.log");
    let got = numbers(&log);
    assert!(
        got.len() > 20 && in_order(&got),
        "lines lost: {}",
        got.len()
    );
    assert_eq!(t.list().len(), 3, "nothing started twice");
    // Its uptime goes on from its real start, not from the update.
    let after = int(&t.row("count"), "uptime");
    assert!(
        after >= uptime + 600,
        "uptime {uptime} ms before, {after} ms after"
    );
}

#[test]
fn after_update_an_apps_exit_code_is_still_known() {
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", false);
    t.ok(&["update"]);
    kill9(pid);
    let row = t.wait_row("count", "a new pid, online", |r| {
        r["status"] == "online" && r["pid"].as_i64().is_some_and(|p| p as i32 != pid)
    });
    assert_eq!(int(&row, "restarts"), 1, "{row}");
    let d: serde_json::Value =
        serde_json::from_str(&t.ok(&["describe", "count", "--json"])).expect("json");
    let d = if d.is_array() { d[0].clone() } else { d };
    assert_eq!(d["last_exit_signal"], "SIGKILL", "{d}");
    // The restart count is kept by the next update (and a crash: the same labels).
    let new = int(&row, "pid");
    t.ok(&["update"]);
    let row = t.row("count");
    assert_eq!((int(&row, "pid"), int(&row, "restarts")), (new, 1), "{row}");
}

#[test]
fn an_update_to_a_binary_that_cannot_take_over_is_refused_and_changes_nothing() {
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", false);
    let daemon = t.daemon_pid();
    let not_pmx = t.path("not-pmx");
    std::fs::write(&not_pmx, "#!/bin/sh\necho nonsense\n").expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&not_pmx, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    for (binary, why) in [
        ("/nonexistent/pmx", "it is not an executable file"),
        ("relative/pmx", "not an absolute path"),
        (
            not_pmx.to_str().expect("utf8"),
            "not a pmx that can take a daemon over",
        ),
    ] {
        let reply = raw_update(&t, binary, true).expect("a reply");
        assert_eq!(reply["error"]["code"], "bad_request", "{reply}");
        let msg = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(binary) && msg.contains(why), "{binary}: {msg}");
    }
    // `update` needs no hello (a CLI of another protocol version sends it as is).
    let reply = raw_update_with(&t, "/nonexistent/pmx", true, false).expect("a reply");
    assert_eq!(reply["error"]["code"], "bad_request", "{reply}");
    assert_eq!(t.daemon_pid(), daemon);
    assert_eq!(int(&t.row("count"), "pid") as i32, pid);
}

#[test]
fn an_update_whose_client_leaves_at_once_still_loses_nothing() {
    let t = TestHome::new();
    let pid = start_numbered(&t, "count", false);
    let daemon = t.daemon_pid();
    raw_update(&t, PMX, false);
    let row = t.wait_status("count", "online");
    assert_eq!(int(&row, "pid") as i32, pid);
    assert_eq!(t.list().len(), 1);
    assert_eq!(t.daemon_pid(), daemon);
}

#[test]
fn an_update_whose_new_daemon_dies_during_the_handover_loses_nothing() {
    let t = TestHome::new();
    let (port, _) = crate::http::start_web(&t, "fd_http.py", &["-i", "2"]);
    let web = pids_of(&t, "web", 2);
    let count = start_numbered(&t, "count", false);
    let daemon = t.daemon_pid().expect("daemon");
    let reply = raw_update(&t, &dying_binary(&t), true).expect("a reply");
    assert_eq!(reply["result"]["pid"], daemon, "{reply}");
    // The exec'd "daemon" exits 3: the process is gone, its apps run on.
    assert!(wait_for(DEADLINE, || !alive(daemon)));
    assert!(web.iter().all(|p| alive(*p as i32)) && alive(count));
    // The next command's daemon re-adopts every app from the fd holder.
    assert_eq!(pids_of(&t, "web", 2), web);
    assert_eq!(int(&t.row("count"), "pid") as i32, count);
    assert_eq!(t.list().len(), 3);
    assert_eq!(crate::http::answerers(port, 2).len(), 2);
    let got = numbers(&t.home.join("logs/count-out.log"));
    assert!(in_order(&got), "lines lost");
}
