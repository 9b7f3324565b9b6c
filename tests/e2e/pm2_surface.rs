//! PM2's surface kept for the scripts and tools written against it (SPEC §3): `jlist` and
//! `prettylist` in PM2's shape, `-x`, `--node-args`, `pid`, `list --sort`, moment.js
//! `--log-date-format`, command lines with shell operators.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::{app, int, wait_for, TestHome, DEADLINE};

/// `pmx jlist` parsed.
fn jlist(t: &TestHome) -> Vec<Value> {
    let text = t.ok(&["jlist"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("jlist: {e}: {text}"))
}

/// The jlist entry of `name` (first instance) once `cond` holds.
fn wait_jlist(t: &TestHome, name: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_for(DEADLINE, || {
        last = jlist(t)
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or(Value::Null);
        cond(&last)
    });
    assert!(ok, "{name}: timed out waiting for {what}; last: {last:#}");
    last
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What a PM2 tool reads from `jlist` after a crash restart: `restart_time`, the exit
/// code, `exec_mode: "fork_mode"`, the real log file, `pm_uptime` as the epoch ms of the
/// current start, `monit`.
#[test]
fn jlist_shows_pm2s_fields_after_a_crash_restart() {
    let t = TestHome::new();
    let record = t.path("starts");
    let record = record.to_str().expect("utf-8");
    // Runs a second, exits 3, restarted (a stable run: min uptime 500 ms).
    t.ok(&[
        "start",
        &app("crash.sh"),
        "--name",
        "crashy",
        "--min-uptime",
        "500",
        "--",
        record,
        "1",
        "3",
    ]);
    let p = wait_jlist(&t, "crashy", "a crash restart, online", |p| {
        p["pm2_env"]["restart_time"].as_i64().unwrap_or(0) >= 1
            && p["pm2_env"]["status"] == "online"
    });
    let env = &p["pm2_env"];
    assert_eq!(env["exec_mode"], "fork_mode", "{p:#}");
    assert_eq!(env["exit_code"], 3, "{p:#}");
    assert_eq!(env["name"], "crashy");
    assert_eq!(env["exec_interpreter"], "bash");
    assert_eq!(env["instances"], 1);
    assert_eq!(env["NODE_APP_INSTANCE"], 0);
    assert_eq!(env["autorestart"], true);
    assert_eq!(env["watch"], false);
    assert_eq!(env["node_args"], Value::Array(vec![]));
    assert_eq!(env["args"], serde_json::json!([record, "1", "3"]));
    assert!(
        env["pm_exec_path"]
            .as_str()
            .is_some_and(|s| s.ends_with("/crash.sh")),
        "{p:#}"
    );
    assert_eq!(env["pm_cwd"], t.work.to_str().expect("utf-8"));
    assert_eq!(p["pm_id"], env["pm_id"]);
    // As PM2: the app's environment holds neither (they are pm2_env's own), so a script's
    // `grep pm_id:` finds one line per process.
    for own in ["pm_id", "NODE_APP_INSTANCE"] {
        assert!(env["env"].get(own).is_none(), "{own} in pm2_env.env: {p:#}");
    }
    assert!(
        env["env"]["PATH"].is_string(),
        "the app's environment: {p:#}"
    );
    // A running process's pid (it may have crashed again since: it runs a second).
    assert!(int(&p, "pid") > 0, "{p:#}");
    // pm_uptime: when the current process started, close to now.
    let started = env["pm_uptime"].as_i64().expect("pm_uptime");
    let now = now_ms();
    assert!(
        started <= now && now - started < 30_000,
        "pm_uptime {started}, now {now}"
    );
    assert!(env["created_at"].as_i64().expect("created_at") <= started);
    // monit: numbers, as PM2 gives them.
    assert!(p["monit"]["memory"].is_number() && p["monit"]["cpu"].is_number());
    // The out log is the real file, with the app's lines in it.
    let out_log = env["pm_out_log_path"].as_str().expect("pm_out_log_path");
    let ok = wait_for(DEADLINE, || {
        std::fs::read_to_string(out_log).is_ok_and(|s| s.contains("crash.sh running as"))
    });
    assert!(ok, "{out_log} holds the app's output");
    assert!(std::path::Path::new(env["pm_err_log_path"].as_str().expect("err")).exists());
    assert!(env.get("pm_log_path").is_none(), "no combined log asked");
    // The environment the app got, and PM2's copy of it on pm2_env itself.
    assert_eq!(env["env"]["PMX_APP_NAME"], "crashy");
    assert_eq!(env["PMX_APP_NAME"], "crashy");
    // pmx list --json keeps pmx's own shape.
    assert!(t.row("crashy").get("pm2_env").is_none());
}

/// A stopped app reads as PM2 shows one: pid 0, `monit` zeros, status `stopped`; with no
/// app at all, `[]`.
#[test]
fn jlist_of_a_stopped_app_and_of_none() {
    let t = TestHome::new();
    assert_eq!(t.ok(&["jlist"]).trim(), "[]");
    assert_eq!(t.ok(&["prettylist"]).trim(), "[]");
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "idle",
        "-l",
        "all.log",
    ]);
    t.wait_status("idle", "online");
    t.ok(&["stop", "idle"]);
    let p = &jlist(&t)[0];
    assert_eq!(p["pid"], 0);
    assert_eq!(p["pm2_env"]["status"], "stopped");
    assert_eq!(p["monit"], serde_json::json!({"memory": 0, "cpu": 0}));
    assert_eq!(
        p["pm2_env"]["pm_log_path"],
        t.path("all.log").to_str().expect("utf-8")
    );
    assert!(p["pm2_env"].get("pm_uptime").is_none(), "{p:#}");
}

/// `prettylist` is `jlist` as Node's util.inspect prints it: checked against node itself
/// when it is installed, else for the forms PM2's own scripts grep.
#[test]
fn prettylist_prints_what_jlist_says_as_node_would() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "one"]);
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "two words",
        "-i",
        "2",
        "--",
        "it's",
        "a \"quoted\"\nline",
        "x",
    ]);
    t.wait_status("one", "online");
    t.wait_row("two words", "both online", |_| {
        t.list().iter().all(|r| r["status"] == "online")
    });
    let json = t.ok(&["jlist"]);
    let pretty = t.ok(&["prettylist"]);
    for grepped in [
        "exec_mode: 'fork_mode'",
        "restart_time: 0",
        "status: 'online'",
        "watch: false",
        "node_args: []",
        "pm_id: 0",
    ] {
        assert!(pretty.contains(grepped), "{grepped:?} in:\n{pretty}");
    }
    assert_eq!(pretty.matches("status: 'online'").count(), 3, "{pretty}");
    let node = Command::new("node")
        .arg("-e")
        .arg(
            "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>\
             process.stdout.write(require('util').inspect(JSON.parse(s),false,null,false)+'\\n'))",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut node) = node else {
        eprintln!("node comparison SKIPPED: `node` is not installed");
        return;
    };
    use std::io::Write;
    node.stdin
        .take()
        .expect("stdin")
        .write_all(json.as_bytes())
        .expect("write");
    let out = node.wait_with_output().expect("node");
    assert!(out.status.success(), "node failed");
    // The two were asked a moment apart: only monit may differ (samples).
    let mask = |s: &str| -> String {
        s.lines()
            .map(|l| {
                let k = l.trim_start();
                if k.starts_with("memory: ") || k.starts_with("cpu: ") {
                    "<monit>".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        mask(&pretty),
        mask(&String::from_utf8_lossy(&out.stdout)),
        "pmx prettylist vs node util.inspect of pmx jlist"
    );
}

/// `-x` (PM2's `--execute-command`: fork mode) is accepted; the app runs as its own
/// process, shown as `fork_mode`.
#[test]
fn dash_x_starts_the_app_as_its_own_process_in_fork_mode() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "-x", "--name", "forked"]);
    let row = t.wait_status("forked", "online");
    let pid = int(&row, "pid");
    // The daemon's own child: no wrapper process between (sleeper.sh execs sleep).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse::<i32>().ok());
    assert_eq!(ppid, t.daemon_pid(), "{status}");
    let p = &jlist(&t)[0];
    assert_eq!(p["pm2_env"]["exec_mode"], "fork_mode");
    assert_eq!(p["pid"], pid);
}

/// `--node-args` (both `--node-args X` and `--node-args=X`) are the interpreter's
/// arguments: before the script on the command line, `node_args` in jlist.
#[test]
fn node_args_reach_the_interpreter_before_the_script() {
    let t = TestHome::new();
    let out = t.path("args.json");
    let out = out.to_str().expect("utf-8");
    t.ok(&[
        "start",
        &app("args_dump.py"),
        "--name",
        "py",
        "--node-args=-u -B",
        "--",
        out,
        "a",
    ]);
    let row = t.wait_status("py", "online");
    let pid = int(&row, "pid");
    let ok = wait_for(DEADLINE, || std::path::Path::new(out).exists());
    assert!(ok, "the app wrote its arguments");
    let cmdline: Vec<String> = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split('\0')
        .map(str::to_string)
        .collect();
    let script_at = cmdline
        .iter()
        .position(|a| a.ends_with("args_dump.py"))
        .unwrap_or_else(|| panic!("{cmdline:?}"));
    assert_eq!(&cmdline[1..script_at], ["-u", "-B"], "{cmdline:?}");
    let p = &jlist(&t)[0];
    assert_eq!(p["pm2_env"]["node_args"], serde_json::json!(["-u", "-B"]));
    assert_eq!(p["pm2_env"]["args"], serde_json::json!([out, "a"]));
    // The spaced form too.
    t.ok(&[
        "start",
        &app("sleeper.sh"),
        "--name",
        "sh",
        "--node-args",
        "--norc",
    ]);
    t.wait_status("sh", "online");
    let sh = jlist(&t)
        .into_iter()
        .find(|p| p["name"] == "sh")
        .expect("sh");
    assert_eq!(sh["pm2_env"]["node_args"], serde_json::json!(["--norc"]));
}

/// `pmx pid <name>` prints the app's pids one per line (0 for one not running), every
/// process's with no name, and for an unknown name an empty line with exit 0, as PM2.
#[test]
fn pid_prints_an_apps_pids_one_per_line_as_pm2() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "pair", "-i", "2"]);
    t.ok(&["start", &app("sleeper.sh"), "--name", "solo"]);
    t.wait_row("pair", "all online", |_| {
        let l = t.list();
        l.len() == 3 && l.iter().all(|r| r["status"] == "online")
    });
    let pids = |name: Option<&str>| -> Vec<i64> {
        t.list()
            .iter()
            .filter(|r| name.is_none_or(|n| r["name"] == n))
            .map(|r| r["pid"].as_i64().unwrap_or(0))
            .collect()
    };
    let shown = |out: String| -> Vec<i64> {
        out.lines()
            .map(|l| l.parse().unwrap_or_else(|_| panic!("{out:?}")))
            .collect()
    };
    assert_eq!(shown(t.ok(&["pid", "pair"])), pids(Some("pair")));
    assert_eq!(shown(t.ok(&["pid"])), pids(None));
    assert_eq!(t.ok(&["pid", "nope"]), "\n");
    t.ok(&["stop", "solo"]);
    assert_eq!(t.ok(&["pid", "solo"]), "0\n");
}

/// `list --sort field[:asc|:desc]` orders the table and the JSON; a field pmx does not
/// know is a usage error naming the ones it does.
#[test]
fn list_sort_orders_by_the_field_given() {
    let t = TestHome::new();
    for name in ["bravo", "alpha", "charlie"] {
        t.ok(&["start", &app("sleeper.sh"), "--name", name]);
    }
    t.wait_status("charlie", "online");
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["list", "--json"];
        a.extend_from_slice(args);
        let rows: Vec<Value> = serde_json::from_str(&t.ok(&a)).expect("json");
        rows.iter()
            .map(|r| r["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(&[]), ["bravo", "alpha", "charlie"], "by id");
    assert_eq!(names(&["--sort", "name"]), ["alpha", "bravo", "charlie"]);
    assert_eq!(
        names(&["--sort", "name:desc"]),
        ["charlie", "bravo", "alpha"]
    );
    assert_eq!(names(&["--sort=id:desc"]), ["charlie", "alpha", "bravo"]);
    let table = t.ok(&["ls", "--sort", "name"]);
    let (a, b) = (table.find("alpha"), table.find("bravo"));
    assert!(a < b, "{table}");
    let err = t.fails(&["list", "--sort", "size"], 2);
    assert!(
        err.starts_with("pmx: --sort: expected name, id, pid, cpu, memory"),
        "{err}"
    );
}

/// PM2's (moment.js tokens) `--log-date-format` is converted to strftime with a note, and
/// each log line gets the prefix PM2 would write: `2026-03-05 07:08:09 +00:00: tick 1`.
#[test]
fn a_pm2_log_date_format_prefixes_each_line_as_pm2_does() {
    let t = TestHome::new();
    let out = t.cmd(&[
        "start",
        &app("ticker.sh"),
        "--name",
        "tick",
        "--log-date-format",
        "YYYY-MM-DD HH:mm:ss Z",
    ]);
    let out = crate::harness::run_with_timeout(out, std::time::Duration::from_secs(120));
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("pmx: note: --log-date-format").count(),
        1,
        "one note: {err}"
    );
    assert!(err.contains("\"%Y-%m-%d %H:%M:%S %:z\""), "{err}");
    t.wait_status("tick", "online");
    let p = &jlist(&t)[0];
    let log = p["pm2_env"]["pm_out_log_path"]
        .as_str()
        .expect("out log")
        .to_string();
    let mut line = String::new();
    let ok = wait_for(DEADLINE, || {
        line = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        line.contains("tick")
    });
    assert!(ok, "a line in {log}: {line:?}");
    // `YYYY-MM-DD HH:mm:ss +hh:mm: tick 1`, checked character class by character class.
    let shape = "dddd-dd-dd dd:dd:dd sdd:dd: tick 1";
    assert_eq!(line.chars().count(), shape.chars().count(), "{line:?}");
    for (c, s) in line.chars().zip(shape.chars()) {
        let fits = match s {
            'd' => c.is_ascii_digit(),
            's' => c == '+' || c == '-',
            _ => c == s,
        };
        assert!(fits, "{line:?} has the shape {shape:?}");
    }
    assert_eq!(p["pm2_env"]["log_date_format"], "%Y-%m-%d %H:%M:%S %:z");
    // A token strftime cannot write is refused, naming it.
    let err = t.fails(
        &["start", &app("sleeper.sh"), "--log-date-format", "dd HH:mm"],
        2,
    );
    assert!(
        err.starts_with("pmx: --log-date-format: date token \"dd\""),
        "{err}"
    );
}

/// A command line with shell operators runs through `bash -c` (as PM2 runs it), so both
/// parts of `&&` run and `$VAR` expands; a plain command line is still exec'd directly
/// (the listed pid is the program's own).
#[test]
fn a_command_line_with_shell_operators_runs_both_parts_through_bash() {
    let t = TestHome::new();
    t.ok(&[
        "start",
        "echo first >> out.txt && echo \"second $PMX_APP_NAME\" >> out.txt; exec sleep 1000",
    ]);
    let row = t.wait_status("echo", "online");
    let ok = wait_for(DEADLINE, || {
        std::fs::read_to_string(t.path("out.txt")).is_ok_and(|s| s == "first\nsecond echo\n")
    });
    assert!(
        ok,
        "both parts ran: {:?}",
        std::fs::read_to_string(t.path("out.txt"))
    );
    let p = &jlist(&t)[0];
    assert!(
        p["pm2_env"]["pm_exec_path"]
            .as_str()
            .is_some_and(|s| s.ends_with("/bash")),
        "{p:#}"
    );
    assert_eq!(p["pid"], row["pid"]);
    // A plain line: the program itself, no shell between.
    t.ok(&["start", "sleep 1001", "--name", "plain"]);
    let pid = int(&t.wait_status("plain", "online"), "pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    assert!(exe.ends_with("sleep"), "{exe:?}");
}

#[test]
fn pm2s_switches_for_services_pmx_lacks_are_accepted_and_change_nothing() {
    let t = TestHome::new();
    std::fs::write(t.path("loop.sh"), "while :; do sleep 1; done\n").expect("write");
    t.ok(&[
        "start",
        "loop.sh",
        "--no-automation",
        "--no-vizion",
        "--no-pmx",
        "-l",
        "all.log",
        "--merge-logs",
    ]);
    t.wait_status("loop", "online");
    // With an app file too (PM2 takes them anywhere).
    std::fs::write(
        t.path("apps.json"),
        r#"{"apps":[{"name":"b","script":"loop.sh"}]}"#,
    )
    .expect("write");
    t.ok(&["start", "apps.json", "--no-automation"]);
    t.wait_status("b", "online");
}

#[test]
fn a_node_app_with_instances_is_in_cluster_mode_before_it_listens_and_with_x_in_fork_mode() {
    // PM2's cli/reload.sh: `pm2 start delayed_exit.js -i 2` is `cluster_mode` in jlist,
    // a Node app that listens on nothing. Its instances are Node cluster workers with
    // pmx as their primary from their first spawn: cluster mode is in force.
    let t = TestHome::new();
    let script = app("node_idle.js");
    t.ok(&["start", &script, "--name", "idle", "-i", "2"]);
    t.ok(&["start", &script, "--name", "forked", "-i", "2", "-x"]);
    for name in ["idle", "forked"] {
        wait_jlist(&t, name, "2 online", |p| p["pm2_env"]["status"] == "online");
    }
    let want = |name: &str| {
        if name == "idle" {
            ("cluster", "cluster_mode")
        } else {
            ("fork", "fork_mode")
        }
    };
    for row in t.list() {
        let name = row["name"].as_str().unwrap_or_default().to_string();
        assert_eq!(row["mode"], want(&name).0, "list: {row}");
    }
    for p in jlist(&t) {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        assert_eq!(p["pm2_env"]["exec_mode"], want(&name).1, "jlist: {p}");
    }
    let log = t.home.join("logs").join("idle-out-0.log");
    assert!(
        wait_for(DEADLINE, || std::fs::read_to_string(&log)
            .is_ok_and(|s| s.contains("worker:true"))),
        "a cluster-mode instance is a Node cluster worker: {:?}",
        std::fs::read_to_string(&log)
    );
}
