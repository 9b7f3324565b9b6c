//! `watch` (SPEC §3 `--watch`, `--watch-path`, `--ignore-watch`; §4 `watch`,
//! `ignore_watch`, `watch_delay`): a change under a watched path restarts the app once the
//! tree has been quiet for `watch_delay`; ignored paths, PM2's defaults and the app's own
//! log files do not; the setting survives stop/start and `restart --watch` never adds a
//! second watcher; `stop --watch` turns it off; a finished `Never` app is rerun; a cluster
//! app is reloaded the rolling way; `list`'s `watching` is true only while watched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{wait_for, TestHome, DEADLINE};

/// The quiet a negative check waits: several `watch_delay`s (500 ms) of nothing.
const QUIET: Duration = Duration::from_millis(2500);

/// The test's app: a script outside the watched work directory that prints a start line,
/// appends its pid to `runs` (outside the work directory too), then sleeps (`hold`) or
/// exits 0 at once.
struct Fixture {
    t: TestHome,
    runs: PathBuf,
    script: String,
}

impl Fixture {
    fn new(hold: bool) -> Fixture {
        let t = TestHome::new();
        let outside = t.home.with_file_name("s");
        std::fs::create_dir_all(&outside).expect("script dir");
        let runs = outside.join("runs");
        let script = outside.join("app.sh");
        let tail = if hold {
            "exec sleep 100000\n"
        } else {
            "exit 0\n"
        };
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"start $$\"\necho $$ >> '{}'\n{tail}",
                runs.display()
            ),
        )
        .expect("write script");
        chmod_x(&script);
        // A file to touch, there before the start.
        std::fs::write(t.path("a.txt"), "a").expect("a.txt");
        Fixture {
            t,
            runs,
            script: script.to_string_lossy().into_owned(),
        }
    }

    /// How many times the app started.
    fn runs(&self) -> usize {
        std::fs::read_to_string(&self.runs)
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// `pmx start <script> --name <name> extra…`, then wait until it runs `runs` times
    /// and is watched.
    fn start(&self, name: &str, extra: &[&str]) {
        let mut args = vec!["start", self.script.as_str(), "--name", name];
        args.extend_from_slice(extra);
        self.t.ok(&args);
        self.wait_watching(name, true);
    }

    fn wait_watching(&self, name: &str, on: bool) -> Value {
        self.t
            .wait_row(name, &format!("watching {on}"), |r| r["watching"] == on)
    }

    fn wait_runs(&self, n: usize) {
        assert!(
            wait_for(DEADLINE, || self.runs() >= n),
            "{n} runs wanted, {} seen",
            self.runs()
        );
    }

    /// `row`'s restarts stay `n` (and the runs `runs`) for [`QUIET`].
    fn stays(&self, name: &str, restarts: i64, runs: usize) {
        let end = Instant::now() + QUIET;
        while Instant::now() < end {
            let r = self.t.row(name);
            assert_eq!(r["restarts"], restarts, "restarts moved: {r}");
            assert_eq!(self.runs(), runs, "runs moved: {r}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn describe(&self, name: &str) -> Vec<Value> {
        let text = self.t.ok(&["describe", name, "--json"]);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        v.as_array().cloned().unwrap_or_default()
    }
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn touch(path: &Path) {
    std::fs::write(path, format!("{:?}", Instant::now())).expect("touch");
}

#[test]
fn touching_a_watched_file_restarts_the_app_once() {
    let f = Fixture::new(true);
    f.start("w", &["--watch"]);
    f.wait_runs(1);
    let pid = f.t.row("w")["pid"].clone();
    touch(&f.t.path("a.txt"));
    let r = f.t.wait_row("w", "a watch restart", |r| {
        r["restarts"] == 1 && r["status"] == "online" && r["pid"] != pid
    });
    assert_ne!(r["pid"], pid, "a new process");
    f.stays("w", 1, 2);
    let d = &f.describe("w")[0];
    assert_eq!(d["last_restart_reason"], "watch", "{d}");
    assert_eq!(d["watch_delay"], 500, "{d}");
    assert_eq!(
        d["watch_paths"][0],
        f.t.work.to_string_lossy().as_ref(),
        "{d}"
    );
    assert!(d["last_watch_restart"].is_u64(), "{d}");
    let changed = d["last_watch_path"].as_str().unwrap_or_default();
    assert!(changed.ends_with("a.txt"), "{d}");
    // The start line of each run is in its log.
    let log = std::fs::read_to_string(f.t.home.join("logs/w-out.log")).unwrap_or_default();
    assert_eq!(log.matches("start ").count(), 2, "{log}");
    // describe's table says it too.
    let table = f.t.ok(&["describe", "w"]);
    assert!(table.contains("last watch restart"), "{table}");
    assert!(table.contains("a.txt changed"), "{table}");
}

#[test]
fn fifty_files_written_in_a_burst_restart_it_once() {
    let f = Fixture::new(true);
    f.start("w", &["--watch"]);
    f.wait_runs(1);
    std::fs::create_dir_all(f.t.path("gen")).expect("gen dir");
    for i in 0..50 {
        touch(&f.t.path(&format!("gen/f{i}.js")));
    }
    f.t.wait_row("w", "a watch restart", |r| {
        r["restarts"] == 1 && r["status"] == "online"
    });
    f.wait_runs(2);
    f.stays("w", 1, 2);
}

#[test]
fn changes_under_ignored_paths_do_not_restart_it() {
    let f = Fixture::new(true);
    for d in ["build/out", "node_modules/m", ".git", "src/cache"] {
        std::fs::create_dir_all(f.t.path(d)).expect("dirs");
    }
    f.start(
        "w",
        &[
            "--watch",
            "--ignore-watch",
            "*.tmp",
            "--ignore-watch",
            "cache",
            "--ignore-watch",
            "build/out",
        ],
    );
    f.wait_runs(1);
    for p in [
        "x.tmp",
        "src/y.tmp",
        "src/cache/c.js",
        "build/out/z.js",
        "node_modules/m/index.js",
        ".git/HEAD",
    ] {
        touch(&f.t.path(p));
    }
    // A directory made under an ignored one, and a file in it.
    std::fs::create_dir_all(f.t.path("node_modules/new")).expect("dir");
    touch(&f.t.path("node_modules/new/n.js"));
    f.stays("w", 0, 1);
    // `build/out` is relative to the watched path: `build/other` is watched.
    std::fs::create_dir_all(f.t.path("build/other")).expect("dir");
    touch(&f.t.path("build/other/o.js"));
    f.t.wait_row("w", "a watch restart", |r| r["restarts"] == 1);
    let d = &f.describe("w")[0];
    assert_eq!(
        d["ignore_watch"],
        serde_json::json!(["*.tmp", "cache", "build/out"]),
        "{d}"
    );
}

#[test]
fn a_dir_glob_ignores_making_the_directory_as_well_as_its_files() {
    let f = Fixture::new(true);
    f.start("w", &["--watch", "--ignore-watch", "cache/**"]);
    f.wait_runs(1);
    // `cache/**`: making `cache` is no change, nor is a file in it.
    std::fs::create_dir_all(f.t.path("cache/deep")).expect("dirs");
    touch(&f.t.path("cache/deep/c.bin"));
    touch(&f.t.path("cache/c.bin"));
    f.stays("w", 0, 1);
    // Anything else still is.
    touch(&f.t.path("app.js"));
    f.t.wait_row("w", "a watch restart", |r| r["restarts"] == 1);
}

#[test]
fn an_app_that_writes_a_file_it_watches_is_named_as_a_loop() {
    // PM2 restarts such an app forever without a word; pmx too, but says which file.
    let f = Fixture::new(true);
    let script = f.t.home.with_file_name("s").join("writer.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho $$ >> state.txt\nexec sleep 100000\n",
    )
    .expect("write script");
    chmod_x(&script);
    let script = script.to_string_lossy().into_owned();
    f.t.ok(&["start", &script, "--name", "w", "--watch"]);
    f.t.wait_row("w", "5 watch restarts", |r| {
        r["restarts"].as_i64().is_some_and(|n| n >= 5)
    });
    let mut shown = String::new();
    assert!(
        wait_for(DEADLINE, || {
            shown = f.t.ok(&["describe", "w"]);
            shown.contains("restarts in a row by it: if the app writes it, add it")
        }),
        "describe names the loop: {shown}"
    );
    assert!(shown.contains("state.txt changed"), "{shown}");
    let log = std::fs::read_to_string(f.t.home.join("pmx.log")).unwrap_or_default();
    assert!(
        log.contains("watch restarts in a row were caused by")
            && log.contains("state.txt: if the app writes it, add it to ignore_watch"),
        "the daemon's log says it once: {log}"
    );
    f.t.ok(&["stop", "w"]);
}

#[test]
fn the_apps_own_log_files_in_the_watched_directory_do_not_restart_it() {
    let t = TestHome::new();
    let script = t.home.with_file_name("talk.sh");
    // A line every 50 ms on stdout and stderr, for ever.
    std::fs::write(
        &script,
        "#!/bin/sh\nwhile :; do echo tick; echo tock >&2; sleep 0.05; done\n",
    )
    .expect("script");
    chmod_x(&script);
    t.ok(&[
        "start",
        &script.to_string_lossy(),
        "--name",
        "talk",
        "--watch",
        "-o",
        "out.log",
        "-e",
        "err.log",
        "-l",
        "all.log",
    ]);
    t.wait_row("talk", "watching", |r| r["watching"] == true);
    let out = t.path("out.log");
    assert!(
        wait_for(DEADLINE, || std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            >= 5),
        "the log file inside the watched directory is written"
    );
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        let r = t.row("talk");
        assert_eq!(r["restarts"], 0, "restarted by its own log: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let lines = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(lines.lines().count() >= 20, "lines were written: {lines}");
    assert!(t.path("all.log").exists() && t.path("err.log").exists());
}

#[test]
fn restart_with_watch_three_times_then_one_touch_gives_one_restart() {
    let f = Fixture::new(true);
    f.start("w", &["--watch"]);
    for _ in 0..3 {
        f.t.ok(&["restart", "w", "--watch"]);
    }
    let r = f.wait_watching("w", true);
    assert_eq!(r["restarts"], 3, "{r}");
    f.wait_runs(4);
    touch(&f.t.path("a.txt"));
    f.t.wait_row("w", "one watch restart", |r| {
        r["restarts"] == 4 && r["status"] == "online"
    });
    f.stays("w", 4, 5);
}

#[test]
fn restart_with_watch_turns_watching_on_and_stays_on() {
    let f = Fixture::new(true);
    f.t.ok(&["start", &f.script, "--name", "w"]);
    f.wait_runs(1);
    assert_eq!(f.t.row("w")["watching"], false);
    f.t.ok(&["restart", "w", "--watch"]);
    f.wait_watching("w", true);
    // PM2 7 toggles it off at the second one; pmx keeps it on.
    f.t.ok(&["restart", "w", "--watch"]);
    f.wait_watching("w", true);
    let before = f.t.row("w")["restarts"].as_i64().unwrap_or(0);
    touch(&f.t.path("a.txt"));
    f.t.wait_row("w", "a watch restart", |r| r["restarts"] == before + 1);
}

#[test]
fn watch_survives_stop_and_start_and_a_change_while_stopped_starts_nothing() {
    let f = Fixture::new(true);
    f.start("w", &["--watch"]);
    f.wait_runs(1);
    f.t.ok(&["stop", "w"]);
    let r = f.t.wait_status("w", "stopped");
    assert_eq!(r["watching"], false, "not watched while stopped: {r}");
    touch(&f.t.path("a.txt"));
    let end = Instant::now() + QUIET;
    while Instant::now() < end {
        assert_eq!(f.t.row("w")["status"], "stopped");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(f.runs(), 1);
    // The setting is kept: watched again once started.
    f.t.ok(&["start", "w"]);
    f.wait_watching("w", true);
    f.wait_runs(2);
    let before = f.t.row("w")["restarts"].clone();
    touch(&f.t.path("a.txt"));
    f.t.wait_row("w", "a watch restart after start", |r| {
        r["restarts"].as_i64() == before.as_i64().map(|n| n + 1)
    });
    f.wait_runs(3);
}

#[test]
fn stop_with_watch_stops_the_app_and_its_watching() {
    let f = Fixture::new(true);
    f.start("w", &["--watch"]);
    f.wait_runs(1);
    f.t.ok(&["stop", "w", "--watch"]);
    let r = f.t.wait_status("w", "stopped");
    assert_eq!(r["watching"], false, "{r}");
    touch(&f.t.path("a.txt"));
    f.stays("w", 0, 1);
    // As PM2 7: watching stays off after a start.
    f.t.ok(&["start", "w"]);
    f.wait_runs(2);
    let r = f.t.wait_status("w", "online");
    assert_eq!(r["watching"], false, "{r}");
    touch(&f.t.path("a.txt"));
    f.stays("w", 0, 2);
    let d = &f.describe("w")[0];
    assert_eq!(d["watch_paths"], serde_json::json!([]), "{d}");
}

#[test]
fn a_finished_never_app_is_rerun_by_a_change() {
    let f = Fixture::new(false);
    f.t.ok(&[
        "start",
        &f.script,
        "--name",
        "job",
        "--no-autorestart",
        "--watch",
    ]);
    f.wait_runs(1);
    // A finished app waits for changes.
    f.t.wait_row("job", "stopped and watched", |r| {
        r["status"] == "stopped" && r["watching"] == true
    });
    touch(&f.t.path("a.txt"));
    f.wait_runs(2);
    f.t.wait_status("job", "stopped");
    let d = &f.describe("job")[0];
    assert!(d["last_watch_restart"].is_u64(), "{d}");
}

#[test]
fn a_cluster_app_is_reloaded_the_rolling_way_by_a_change() {
    let f = Fixture::new(true);
    f.start("k", &["-i", "2", "--watch"]);
    f.wait_runs(2);
    let before: Vec<Value> =
        f.t.list()
            .into_iter()
            .filter(|r| r["name"] == "k")
            .map(|r| r["pid"].clone())
            .collect();
    touch(&f.t.path("a.txt"));
    f.wait_runs(4);
    assert!(
        wait_for(DEADLINE, || {
            let rows: Vec<Value> =
                f.t.list()
                    .into_iter()
                    .filter(|r| r["name"] == "k")
                    .collect();
            rows.len() == 2
                && rows
                    .iter()
                    .all(|r| r["status"] == "online" && !before.contains(&r["pid"]))
        }),
        "both instances replaced"
    );
    for d in f.describe("k") {
        assert_eq!(d["last_restart_reason"], "watch", "{d}");
    }
    f.stays("k", 1, 4);
}

#[test]
fn an_app_without_watch_lists_watching_false() {
    let f = Fixture::new(true);
    f.t.ok(&["start", &f.script, "--name", "plain"]);
    f.t.wait_status("plain", "online");
    assert_eq!(f.t.row("plain")["watching"], false);
    let d = &f.describe("plain")[0];
    assert_eq!(d["watch_delay"], Value::Null, "{d}");
    let table = f.t.ok(&["list"]);
    assert!(table.contains("disabled"), "{table}");
}

#[test]
fn watch_path_watches_only_that_path() {
    let f = Fixture::new(true);
    std::fs::create_dir_all(f.t.path("src/deep")).expect("src");
    f.start("w", &["--watch-path", "src"]);
    f.wait_runs(1);
    touch(&f.t.path("a.txt"));
    f.stays("w", 0, 1);
    touch(&f.t.path("src/deep/b.js"));
    f.t.wait_row("w", "a watch restart", |r| r["restarts"] == 1);
    let d = &f.describe("w")[0];
    let want = f.t.path("src");
    assert_eq!(d["watch_paths"][0], want.to_string_lossy().as_ref(), "{d}");
}

#[test]
fn up_applies_a_changed_watch_field() {
    let f = Fixture::new(true);
    let eco = f.t.path("eco.ron");
    let write = |watch: &str| {
        std::fs::write(
            &eco,
            format!(
                "Ecosystem(apps: [App(name: \"u\", script: \"{}\", watch: {watch}, watch_delay: \"300ms\", ignore_watch: [\"*.ron\"])])\n",
                f.script
            ),
        )
        .expect("eco")
    };
    write("false");
    f.t.ok(&["up", &eco.to_string_lossy()]);
    f.t.wait_status("u", "online");
    assert_eq!(f.t.row("u")["watching"], false);
    write("true");
    f.t.ok(&["up", &eco.to_string_lossy()]);
    f.wait_watching("u", true);
    let d = &f.describe("u")[0];
    assert_eq!(d["watch_delay"], 300, "{d}");
    let restarts = f.t.row("u")["restarts"].as_i64().unwrap_or(0);
    touch(&f.t.path("a.txt"));
    f.t.wait_row("u", "a watch restart", |r| r["restarts"] == restarts + 1);
    write("false");
    f.t.ok(&["up", &eco.to_string_lossy()]);
    f.wait_watching("u", false);
}

#[test]
fn a_bad_ignore_glob_is_refused_naming_it() {
    let f = Fixture::new(true);
    let err = f.t.fails(
        &[
            "start",
            &f.script,
            "--name",
            "w",
            "--watch",
            "--ignore-watch",
            "src/[a",
        ],
        2,
    );
    assert!(err.contains("ignore_watch \"src/[a\""), "{err}");
}

#[test]
fn a_bad_ignore_glob_in_a_file_is_refused_at_its_line_and_column() {
    let f = Fixture::new(true);
    let eco = f.t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [App(\n  name: \"a\", script: \"{}\",\n  watch: true,\n  ignore_watch: [\"ok/*.js\", \"src/[a\"],\n)])\n",
            f.script
        ),
    )
    .expect("eco");
    let err = f.t.fails(&["start", "eco.ron"], 2);
    assert!(
        err.lines()
            .any(|l| l.starts_with("pmx: eco.ron:4:29: ") && l.contains("src/[a")),
        "{err}"
    );
    assert!(f.t.daemon_pid().is_none(), "no daemon for a bad file");
}

#[test]
fn an_app_errored_after_crashes_is_started_again_by_a_change() {
    let f = Fixture::new(false);
    // The app exits at once, so `start` may already see it errored (and then exits 1).
    let out = f.t.run(&[
        "start",
        &f.script,
        "--name",
        "crash",
        "--watch",
        "--max-restarts",
        "1",
        "--min-uptime",
        "5000",
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An errored app waits for changes.
    f.t.wait_row("crash", "errored and watched", |r| {
        r["status"] == "errored" && r["watching"] == true
    });
    let runs = f.runs();
    touch(&f.t.path("a.txt"));
    f.wait_runs(runs + 1);
}

/// Run `pmx args…` in a new user namespace whose inotify watch limit is `limit` (set in
/// `/proc/sys/user/max_inotify_watches` of that namespace only: the host's sysctls, which
/// other tests share, are untouched); the daemon it starts lives there. None (with the
/// reason printed) when user namespaces are not available.
fn in_small_inotify_namespace(t: &TestHome, limit: u32, args: &[&str]) -> Option<String> {
    let probe = std::process::Command::new("unshare")
        .args(["-U", "-r", "sh", "-c"])
        .arg("echo 1 > /proc/sys/user/max_inotify_watches")
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no user namespace with its own inotify limit here (unshare -U -r)");
        return None;
    }
    let mut c = std::process::Command::new("unshare");
    c.args(["-U", "-r", "sh", "-c"])
        .arg(format!(
            "echo {limit} > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\""
        ))
        .arg(crate::harness::PMX)
        .args(args)
        .env("PMX_HOME", &t.home)
        .current_dir(&t.work)
        .stdin(std::process::Stdio::null());
    let out = crate::harness::run_with_timeout(c, Duration::from_secs(120));
    Some(crate::harness::expect_ok(
        &out,
        &format!("pmx {args:?} (namespaced)"),
    ))
}

#[test]
fn the_inotify_limit_is_said_once_and_the_app_runs_unwatched() {
    let f = Fixture::new(true);
    for i in 0..30 {
        std::fs::create_dir_all(f.t.path(&format!("big/d{i}"))).expect("dirs");
    }
    std::fs::create_dir_all(f.t.path("small")).expect("small");
    let Some(_) = in_small_inotify_namespace(
        &f.t,
        10,
        &["start", &f.script, "--name", "big", "--watch-path", "big"],
    ) else {
        return;
    };
    let r = f.t.wait_status("big", "online");
    assert_eq!(r["watching"], false, "{r}");
    let d = &f.describe("big")[0];
    let why = d["watch_error"].as_str().unwrap_or_default();
    assert!(why.contains("fs.inotify.max_user_watches"), "{d}");
    // A second one past the limit: said once in pmx.log all the same.
    f.t.ok(&["start", &f.script, "--name", "big2", "--watch-path", "big"]);
    f.t.wait_status("big2", "online");
    let log = std::fs::read_to_string(f.t.home.join("pmx.log")).unwrap_or_default();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("fs.inotify.max_user_watches"))
            .count(),
        1,
        "said once: {log}"
    );
    // The watches of the apps past the limit were given back: a small tree is watched.
    f.start("small", &["--watch-path", "small"]);
    touch(&f.t.path("small/s.txt"));
    f.t.wait_row("small", "a watch restart", |r| r["restarts"] == 1);
    // The table says why too.
    let table = f.t.ok(&["describe", "big"]);
    assert!(
        table.contains("disabled: the inotify watch limit"),
        "{table}"
    );
}

#[test]
fn a_watch_restart_is_published_with_reason_watch() {
    use std::io::{BufRead, BufReader, Write};
    let f = Fixture::new(true);
    f.t.ok(&["ping"]);
    let sock = std::os::unix::net::UnixStream::connect(f.t.home.join("pmx.sock")).expect("connect");
    sock.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut writer = sock.try_clone().expect("clone");
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    for req in [
        r#"{"id":0,"type":"hello","protocol_version":1,"version":"x"}"#,
        r#"{"id":1,"type":"subscribe","events":["restart"],"apps":["w"]}"#,
    ] {
        writer
            .write_all(format!("{req}\n").as_bytes())
            .expect("write");
        line.clear();
        reader.read_line(&mut line).expect("reply");
        assert!(line.contains("\"result\""), "{line}");
    }
    f.start("w", &["--watch"]);
    touch(&f.t.path("a.txt"));
    line.clear();
    reader.read_line(&mut line).expect("a restart event");
    let ev: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(ev["event"], "restart", "{ev}");
    assert_eq!(ev["app"], "w", "{ev}");
    assert_eq!(ev["reason"], "watch", "{ev}");
}

#[test]
fn a_watched_directory_deleted_and_recreated_is_watched_again() {
    let f = Fixture::new(true);
    let conf = f.t.path("conf");
    std::fs::create_dir_all(conf.join("sub")).expect("conf");
    f.start("w", &["--watch-path", "conf"]);
    f.wait_runs(1);
    touch(&conf.join("a"));
    f.t.wait_row("w", "a watch restart", |r| r["restarts"] == 1);
    // The watched directory goes: a change, and it is not watched meanwhile.
    std::fs::remove_dir_all(&conf).expect("rm conf");
    f.t.wait_row("w", "a restart for the removal", |r| r["restarts"] == 2);
    f.wait_watching("w", false);
    let d = &f.describe("w")[0];
    let why = d["watch_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("conf") && why.contains("does not exist"),
        "{d}"
    );
    // It comes back: its re-creation is a change, and it is watched again.
    std::fs::create_dir(&conf).expect("mkdir conf");
    touch(&conf.join("b"));
    f.t.wait_row("w", "a restart for the re-creation", |r| r["restarts"] == 3);
    f.wait_watching("w", true);
    touch(&conf.join("c"));
    f.t.wait_row("w", "a restart in the new directory", |r| {
        r["restarts"] == 4
    });
    // A directory below it removed and re-created is watched again too.
    std::fs::create_dir(conf.join("sub")).expect("mkdir sub");
    f.t.wait_row("w", "a restart for sub", |r| r["restarts"] == 5);
    std::fs::remove_dir(conf.join("sub")).expect("rm sub");
    f.t.wait_row("w", "a restart for sub's removal", |r| r["restarts"] == 6);
    std::fs::create_dir(conf.join("sub")).expect("mkdir sub again");
    f.t.wait_row("w", "a restart for sub again", |r| r["restarts"] == 7);
    touch(&conf.join("sub/d"));
    f.t.wait_row("w", "a restart in the new sub", |r| r["restarts"] == 8);
    // A restart builds the watches again from the paths as they are now.
    f.t.ok(&["restart", "w"]);
    f.t.wait_row("w", "the manual restart", |r| {
        r["restarts"] == 9 && r["status"] == "online"
    });
    f.wait_watching("w", true);
    touch(&conf.join("e"));
    f.t.wait_row("w", "a restart after the manual one", |r| {
        r["restarts"] == 10
    });
    // Moved away and back: the same.
    let away = f.t.path("conf.old");
    std::fs::rename(&conf, &away).expect("mv conf away");
    f.t.wait_row("w", "a restart for the move", |r| r["restarts"] == 11);
    f.wait_watching("w", false);
    touch(&away.join("f"));
    f.stays("w", 11, 12);
    std::fs::rename(&away, &conf).expect("mv conf back");
    f.t.wait_row("w", "a restart for its return", |r| r["restarts"] == 12);
    f.wait_watching("w", true);
    touch(&conf.join("sub/g"));
    f.t.wait_row("w", "a restart in the returned tree", |r| {
        r["restarts"] == 13
    });
    f.stays("w", 13, 14);
}

#[test]
fn a_watch_path_created_after_start_is_watched_once_it_appears() {
    let f = Fixture::new(true);
    let later = f.t.path("later");
    let deep = later.join("deep");
    let out = f.t.run(&[
        "start",
        &f.script,
        "--name",
        "w",
        "--watch-path",
        "later/deep",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the app runs: {stderr}");
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("pmx: warning:"))
        .collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains(&deep.to_string_lossy().into_owned())
            && warned[0].contains("does not exist"),
        "{stderr}"
    );
    f.t.wait_status("w", "online");
    f.wait_runs(1);
    // Nothing is watched yet, and `describe` says which path is waited for.
    assert_eq!(f.t.row("w")["watching"], false);
    let table = f.t.ok(&["describe", "w"]);
    assert!(table.contains("disabled: "), "{table}");
    assert!(table.contains("does not exist"), "{table}");
    // Its parent appearing is no change of the app's path.
    std::fs::create_dir(&later).expect("mkdir later");
    touch(&later.join("x"));
    f.stays("w", 0, 1);
    // It appears: a change, then watched.
    std::fs::create_dir(&deep).expect("mkdir deep");
    f.t.wait_row("w", "a restart for its appearance", |r| r["restarts"] == 1);
    f.wait_watching("w", true);
    touch(&deep.join("f"));
    f.t.wait_row("w", "a restart for a change in it", |r| r["restarts"] == 2);
    let d = &f.describe("w")[0];
    assert!(d["watch_error"].is_null(), "{d}");
    // A path from a file, relative to it, and one that exists: watched meanwhile, the
    // missing one named.
    std::fs::create_dir(f.t.path("there")).expect("there");
    let eco = f.t.path("eco.ron");
    std::fs::write(
        &eco,
        format!(
            "Ecosystem(apps: [App(name: \"e\", script: \"{}\", watch: [\"sub\", \"there\"])])\n",
            f.script
        ),
    )
    .expect("eco");
    let out = f.t.run(&["start", &eco.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("{}", f.t.path("sub").display())),
        "{stderr}"
    );
    assert!(!stderr.contains("there does not exist"), "{stderr}");
    f.wait_watching("e", true);
    let d = &f.describe("e")[0];
    let why = d["watch_error"].as_str().unwrap_or_default();
    assert!(why.contains("sub") && !why.contains("there"), "{d}");
    let table = f.t.ok(&["describe", "e"]);
    assert!(table.contains("enabled ("), "{table}");
    std::fs::create_dir(f.t.path("sub")).expect("sub");
    f.t.wait_row("e", "a restart for sub", |r| r["restarts"] == 1);
    touch(&f.t.path("sub/s"));
    f.t.wait_row("e", "a restart in sub", |r| r["restarts"] == 2);
}
