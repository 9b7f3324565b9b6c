//! Readiness (SPEC §5): with `wait_ready` an instance is `launching` until it says
//! READY=1 on `$NOTIFY_SOCKET` (sd_notify, any language) or its `listen_timeout` passes;
//! a READY from outside the instance's tree is ignored; an instance that dies before it is
//! ready is never `online` and ends `errored`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// `pmx start notify_ready.py --name NAME --wait-ready --listen-timeout MS -- MODE…`,
/// run in the background (it returns only once the app is online).
fn start_bg(t: &TestHome, name: &str, listen_timeout_ms: u64, mode: &[&str]) -> Child {
    let timeout = listen_timeout_ms.to_string();
    let mut args = vec![
        "start",
        "notify_ready.py",
        "--name",
        name,
        "--wait-ready",
        "--listen-timeout",
        &timeout,
        "--",
    ];
    args.extend_from_slice(mode);
    let script = app("notify_ready.py");
    args[1] = &script;
    t.cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pmx start")
}

/// Wait (with the deadline) for the background `child` to end; its output.
fn finish(mut child: Child) -> std::process::Output {
    assert!(
        wait_for(DEADLINE, || child.try_wait().ok().flatten().is_some()),
        "the start did not return"
    );
    child.wait_with_output().expect("output")
}

/// A value of `pmx env <id>` (`KEY=value` lines).
fn env_value(t: &TestHome, id: i64, key: &str) -> String {
    let out = t.ok(&["env", &id.to_string()]);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in the env of id {id}: {out}"))
        .to_string()
}

/// The status of `name`'s row stays `status` for `window` (a negative check needs one).
fn stays(t: &TestHome, name: &str, status: &str, window: Duration) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        let row = t.row(name);
        assert_eq!(row["status"], status, "{name} left {status}: {row}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wait_ready_holds_launching_until_ready_and_the_start_returns_after() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let begun = Instant::now();
    let child = start_bg(&t, "r", 60_000, &["ready", "2"]);
    // Spawned, listed with its pid, not online: it has not said READY=1 yet.
    let row = t.wait_row("r", "launching with a pid", |r| {
        r["status"] == "launching" && r["pid"].is_i64()
    });
    let out = finish(child);
    let waited = begun.elapsed();
    expect_ok(&out, "pmx start --wait-ready");
    assert!(
        waited >= Duration::from_millis(1900),
        "the start returned after {waited:?}, before READY=1"
    );
    assert!(
        waited < Duration::from_secs(50),
        "the start waited for the listen_timeout ({waited:?}): READY=1 was not heard"
    );
    // Online at once, the same process (one READY is enough; it sent two).
    let now = t.row("r");
    assert_eq!(now["status"], "online", "{now}");
    assert_eq!(now["pid"], row["pid"]);
    assert_eq!(int(&now, "restarts"), 0);
    let describe = t.ok(&["describe", "r"]);
    assert!(
        describe.contains("wait_ready (listen_timeout 60000 ms)"),
        "{describe}"
    );
}

#[test]
fn ready_from_outside_the_tree_is_ignored_and_from_a_descendant_accepted() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let child = start_bg(&t, "s", 60_000, &["signal"]);
    let row = t.wait_row("s", "launching with a pid", |r| {
        r["status"] == "launching" && r["pid"].is_i64()
    });
    let id = int(&row, "id");
    let marker = env_value(&t, id, "PMX_TREE");
    let socket = env_value(&t, id, "NOTIFY_SOCKET");
    assert!(socket.starts_with("@pmx-"), "{socket}");
    // A process of the test's own tree, with the instance's marker forged into its
    // environment, says READY=1 on the same socket (and stays alive while it is checked).
    let forged = Command::new("python3")
        .args([
            "-c",
            "import os,socket,time\n\
             a=os.environ['NOTIFY_SOCKET']\n\
             a='\\0'+a[1:]\n\
             s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n\
             s.sendto(b'READY=1',a)\n\
             time.sleep(1)\n",
        ])
        .env("PMX_TREE", &marker)
        .env("NOTIFY_SOCKET", &socket)
        .status()
        .expect("python3");
    assert!(forged.success());
    stays(&t, "s", "launching", Duration::from_millis(1500));
    // A descendant of the instance (a forked child that left the session) is of its tree.
    t.ok(&["signal", "SIGUSR1", "s"]);
    expect_ok(&finish(child), "pmx start --wait-ready");
    let now = t.row("s");
    assert_eq!(now["status"], "online", "{now}");
    assert_eq!(now["pid"], row["pid"]);
}

#[test]
fn listen_timeout_without_ready_makes_it_online() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    let begun = Instant::now();
    let out = finish(start_bg(&t, "n", 1500, &["never"]));
    let waited = begun.elapsed();
    expect_ok(&out, "pmx start --wait-ready --listen-timeout 1500");
    assert!(
        waited >= Duration::from_millis(1400),
        "online before the listen_timeout: {waited:?}"
    );
    let row = t.row("n");
    assert_eq!(row["status"], "online", "{row}");
    assert_eq!(int(&row, "restarts"), 0);
    // The daemon's log says the app never said it was ready (written by the log
    // thread: waited for).
    let said = "app n id 0: no READY within listen_timeout (1500 ms); online all the same";
    let log = || std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
    assert!(wait_for(DEADLINE, || log().contains(said)), "{}", log());
}

/// A subscriber on the admin socket: every event line read on a thread.
struct Events {
    rx: std::sync::mpsc::Receiver<Value>,
}

impl Events {
    fn subscribe(t: &TestHome) -> Events {
        t.ok(&["ping"]);
        let stream = UnixStream::connect(t.home.join("pmx.sock")).expect("connect");
        let mut w = stream.try_clone().expect("clone");
        w.write_all(
            b"{\"id\":0,\"type\":\"hello\",\"protocol_version\":1,\"version\":\"x\"}\n\
              {\"id\":1,\"type\":\"subscribe\"}\n",
        )
        .expect("write");
        let (tx, rx) = std::sync::mpsc::channel();
        let (subscribed, answered) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _keep = w;
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["id"] == 1 {
                        let _ = subscribed.send(());
                    }
                    if v.get("event").is_some() && tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        answered
            .recv_timeout(DEADLINE)
            .expect("the subscription is answered");
        Events { rx }
    }

    /// Events until one satisfies `last` (within the deadline), that one included.
    fn until(&self, what: &str, last: impl Fn(&Value) -> bool) -> Vec<Value> {
        let end = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) => {
                    let done = last(&e);
                    seen.push(e);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("timed out waiting for {what}; events: {seen:#?}"),
            }
        }
    }
}

#[test]
fn an_app_that_dies_before_ready_is_never_online_and_ends_errored() {
    let t = TestHome::new();
    let events = Events::subscribe(&t);
    // Each run lasts 0.5 s, over min_uptime (100 ms): unstable all the same, as it never
    // became ready.
    let script = app("notify_ready.py");
    let out = t.run(&[
        "start",
        &script,
        "--name",
        "d",
        "--wait-ready",
        "--listen-timeout",
        "60000",
        "--min-uptime",
        "100",
        "--max-restarts",
        "3",
        "--",
        "die",
        "0.5",
    ]);
    let seen = events.until("errored of d", |e| {
        e["event"] == "errored" && e["app"] == "d"
    });
    let ours: Vec<&Value> = seen.iter().filter(|e| e["app"] == "d").collect();
    assert!(
        !ours.iter().any(|e| e["event"] == "online"),
        "listed online before ready: {ours:#?}"
    );
    assert_eq!(
        ours.iter().filter(|e| e["event"] == "exit").count(),
        3,
        "{ours:#?}"
    );
    // The start answered once the app ended errored, and failed: a `pmx start … &&
    // next-step` must not carry on.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"d\" (id 0) errored before it was online"),
        "{stderr}"
    );
    let row = t.wait_status("d", "errored");
    assert!(row["pid"].is_null(), "{row}");
}

#[test]
fn a_group_starts_its_next_member_only_once_the_previous_is_ready() {
    let t = TestHome::new();
    let eco = t.path("eco.ron");
    let script = app("notify_ready.py");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [\
             App(name: \"first\", script: \"{script}\", args: [\"ready\", \"1.5\"], \
             wait_ready: true, listen_timeout: \"60s\"), \
             App(name: \"second\", script: \"{script}\", args: [\"never\"])], \
             groups: [Group(name: \"g\", apps: [\"first\", \"second\"])])\n"
        ),
    )
    .expect("write ecosystem");
    t.ok(&["up", &eco.to_string_lossy()]);
    let jl: Value = serde_json::from_str(&t.ok(&["jlist"])).expect("jlist");
    let started = |name: &str| {
        jl.as_array()
            .expect("array")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["pm2_env"]["pm_uptime"].as_i64())
            .unwrap_or_else(|| panic!("no start time of {name}: {jl}"))
    };
    let gap = started("second") - started("first");
    assert!(
        gap >= 1400,
        "second started {gap} ms after first, before first was ready (1.5 s)"
    );
    assert_eq!(t.row("first")["status"], "online");
}
