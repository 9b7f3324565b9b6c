//! The user-facing `pmx logs` and `pmx flush`: what the tail prints (prefixes, padding,
//! out then err, `--raw`, `--json` and its times), following into a pipe line by line, the
//! daemon's own log, and flush by app or for all.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// The prefix of a line of process `id`: `id|name |`, the name padded to `width`.
fn label(id: i64, name: &str, width: usize) -> String {
    format!("{id}|{name:<width$} |")
}

/// The id of the (first) process named `name`.
fn id_of(t: &TestHome, name: &str) -> i64 {
    int(&t.row(name), "id")
}

/// `$PMX_HOME/logs/<file>`.
fn log(t: &TestHome, file: &str) -> PathBuf {
    t.home.join("logs").join(file)
}

/// The last `n` lines of a file.
fn last(path: &Path, n: usize) -> Vec<String> {
    let all = lines(path);
    all[all.len().saturating_sub(n)..].to_vec()
}

/// Start `logcli_burst.sh` (`n` lines to each stream, then quiet) as `name` with `extra`
/// start options, and wait until both its files hold every line.
fn burst(t: &TestHome, name: &str, n: usize, extra: &[&str]) {
    let script = app("logcli_burst.sh");
    let count = n.to_string();
    let mut args = vec!["start", script.as_str(), "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", count.as_str()]);
    t.ok(&args);
    let out = log(t, &format!("{name}-out.log"));
    let err = log(t, &format!("{name}-error.log"));
    assert!(
        wait_for(DEADLINE, || lines(&out).len() == n
            && lines(&err).len() == n),
        "{name} wrote its {n} lines: {:?} {:?}",
        lines(&out),
        lines(&err)
    );
}

/// `logcli_say.sh` started as `name`: it writes `said N` when the test creates `N.out` (or
/// `N.err`) in its directory, so the test decides when each line is written.
struct Say {
    dir: PathBuf,
    name: String,
    /// Its out log file.
    out: PathBuf,
    next: u32,
}

impl Say {
    fn start(t: &TestHome, name: &str, extra: &[&str]) -> Say {
        let dir = t.path(&format!("say-{name}"));
        std::fs::create_dir_all(&dir).expect("say dir");
        let script = app("logcli_say.sh");
        let mut args = vec!["start", script.as_str(), "--name", name];
        args.extend_from_slice(extra);
        let d = dir.to_str().expect("utf8").to_string();
        args.extend_from_slice(&["--", d.as_str()]);
        t.ok(&args);
        Say {
            dir,
            name: name.to_string(),
            out: log(t, &format!("{name}-out.log")),
            next: 1,
        }
    }

    /// Tell the app to write its next line to `stream` ("out" or "err"); answers its N.
    fn say(&mut self, stream: &str) -> u32 {
        let n = self.next;
        self.next += 1;
        std::fs::write(self.dir.join(format!("{n}.{stream}")), b"").expect("poke");
        n
    }
}

/// A following `pmx logs …` whose stdout is a pipe read on a thread; killed by pid and
/// waited for when dropped, whatever happened.
struct Follower {
    child: Child,
    rx: Receiver<String>,
    /// Every line received so far (for failure messages).
    seen: Vec<String>,
}

impl Follower {
    fn spawn(t: &TestHome, args: &[&str]) -> Follower {
        let mut c = t.cmd(args);
        c.stdout(Stdio::piped());
        let mut child = c.spawn().expect("spawn pmx logs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    /// The first line (from now) that satisfies `cond`, within `limit`; other lines are
    /// skipped. None when the time is up.
    fn line_within(&mut self, limit: Duration, cond: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if cond(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("pmx logs ended; it printed {:?}", self.seen)
                }
            }
        }
    }

    /// The first line that satisfies `cond`, failing the test after [`DEADLINE`].
    fn line(&mut self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.line_within(DEADLINE, cond)
            .unwrap_or_else(|| panic!("no {what} from pmx logs; it printed {:?}", self.seen))
    }

    /// A line seen already or still to come that satisfies `cond` (for lines whose order
    /// between them is not fixed).
    fn any_line(&mut self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        match self.seen.iter().find(|l| cond(l)) {
            Some(l) => l.clone(),
            None => self.line(what, cond),
        }
    }

    /// Wait until this follower is subscribed: make `say` write lines until one of them
    /// shows up (a line written before the subscription is never shown, so one poke may
    /// not be enough).
    fn ready(&mut self, say: &mut Say) {
        let end = Instant::now() + DEADLINE;
        let out = say.out.clone();
        while Instant::now() < end {
            let n = say.say("out");
            // The line is in the file, so it was published (or not) by now.
            assert!(
                wait_for(DEADLINE, || lines(&out)
                    .iter()
                    .any(|l| l.ends_with(&format!("said {n}")))),
                "{} wrote said {n}",
                say.name
            );
            if self
                .line_within(Duration::from_millis(300), |l| l.contains("said "))
                .is_some()
            {
                return;
            }
        }
        panic!("pmx logs never showed a line; it printed {:?}", self.seen);
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        kill9(self.child.id() as i32);
        let _ = self.child.wait();
    }
}

#[test]
fn logs_nostream_prints_the_last_lines_of_out_then_err_prefixed_and_padded() {
    let t = TestHome::new();
    burst(&t, "b", 20, &[]);
    burst(&t, "longer", 20, &[]);
    let (b, longer) = (id_of(&t, "b"), id_of(&t, "longer"));
    let out = log(&t, "b-out.log");
    let err = log(&t, "b-error.log");

    // One app: its own width, out first then err, exactly the last 5 of each.
    let text = t.ok(&["logs", "b", "--lines", "5", "--nostream"]);
    assert!(!text.contains('\x1b'), "no colour in a pipe: {text:?}");
    let expected: Vec<String> = last(&out, 5)
        .into_iter()
        .chain(last(&err, 5))
        .map(|l| format!("{} {l}", label(b, "b", 1)))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    assert!(expected[0].ends_with("out 0 16") && expected[9].ends_with("err 0 20"));

    let only_out = t.ok(&["logs", "b", "--lines", "5", "--nostream", "--out"]);
    assert_eq!(only_out.lines().collect::<Vec<_>>(), expected[..5], "--out");
    let only_err = t.ok(&["logs", "b", "--lines", "5", "--nostream", "--err"]);
    assert_eq!(only_err.lines().collect::<Vec<_>>(), expected[5..], "--err");

    let usage = t.fails(&["logs", "b", "--nostream", "--out", "--err"], 2);
    assert_eq!(usage.lines().count(), 1, "one line: {usage}");
    assert!(usage.starts_with("pmx: "), "{usage}");

    let nothing = t.ok(&["logs", "b", "--lines", "0", "--nostream"]);
    assert_eq!(nothing, "", "--lines 0 --nostream prints nothing");

    // Two apps: each app's files, every name padded to the widest.
    let text = t.ok(&["logs", "all", "--lines", "2", "--nostream"]);
    assert!(!text.contains('\x1b'), "no colour in a pipe: {text:?}");
    let mut expected = Vec::new();
    for (id, name) in [(b, "b"), (longer, "longer")] {
        for file in ["out", "error"] {
            for l in last(&log(&t, &format!("{name}-{file}.log")), 2) {
                expected.push(format!("{} {l}", label(id, name, 6)));
            }
        }
    }
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
}

#[test]
fn logs_of_several_instances_show_each_instance_file_with_its_own_id() {
    let t = TestHome::new();
    // `pmx start -i 2` is not a start option yet: the instances come from a file.
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"duo\", script: \"{}\", args: [\"10\"], instances: 2)])",
            app("logcli_burst.sh")
        ),
    )
    .expect("write");
    t.ok(&["start", t.path("eco.ron").to_str().expect("utf8")]);
    let mut ids = Vec::new();
    for k in 0..2 {
        for file in ["out", "error"] {
            let path = log(&t, &format!("duo-{file}-{k}.log"));
            assert!(
                wait_for(DEADLINE, || lines(&path).len() == 10),
                "{}: {:?}",
                path.display(),
                lines(&path)
            );
        }
        let row = t
            .list()
            .into_iter()
            .find(|r| r["name"] == "duo" && r["instance"] == k)
            .expect("instance row");
        ids.push(int(&row, "id"));
    }
    let text = t.ok(&["logs", "duo", "--lines", "2", "--nostream"]);
    let shown: Vec<&str> = text.lines().collect();
    assert_eq!(shown.len(), 8, "2 lines of 2 files of 2 instances: {text}");
    for (k, id) in ids.iter().enumerate() {
        let mine: Vec<&str> = shown
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{} ", label(*id, "duo", 3))))
            .collect();
        assert_eq!(
            mine,
            [
                format!("out {k} 9"),
                format!("out {k} 10"),
                format!("err {k} 9"),
                format!("err {k} 10")
            ],
            "instance {k} (id {id}): its own files, out then err: {text}"
        );
    }
    // One instance by id: only its files.
    let one = t.ok(&["logs", &ids[1].to_string(), "--lines", "1", "--nostream"]);
    assert_eq!(
        one.lines().collect::<Vec<_>>(),
        [
            format!("{} out 1 10", label(ids[1], "duo", 3)),
            format!("{} err 1 10", label(ids[1], "duo", 3))
        ],
        "{one}"
    );
}

#[test]
fn logs_raw_prints_the_bare_lines() {
    let t = TestHome::new();
    burst(&t, "b", 6, &[]);
    burst(&t, "other", 6, &[]);
    let text = t.ok(&["logs", "b", "--lines", "3", "--nostream", "--raw"]);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["out 0 4", "out 0 5", "out 0 6", "err 0 4", "err 0 5", "err 0 6"],
        "{text:?}"
    );
    let both = t.ok(&["logs", "all", "--lines", "1", "--nostream", "--raw"]);
    assert_eq!(
        both.lines().collect::<Vec<_>>(),
        ["out 0 6", "err 0 6", "out 0 6", "err 0 6"],
        "{both:?}"
    );
}

/// The JSON objects `pmx logs args…` prints, each checked for exactly the five keys and
/// an RFC 3339 `time`.
fn json_lines(t: &TestHome, args: &[&str]) -> Vec<(Value, chrono::DateTime<chrono::FixedOffset>)> {
    let text = t.ok(args);
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let mut keys: Vec<&str> = v
                .as_object()
                .unwrap_or_else(|| panic!("an object: {l}"))
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, ["app", "id", "message", "stream", "time"], "{l}");
            let time = v["time"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .unwrap_or_else(|| panic!("time is RFC 3339, never null: {l}"));
            (v, time)
        })
        .collect()
}

#[test]
fn logs_json_gives_each_line_its_own_time_or_the_file_s() {
    let t = TestHome::new();
    burst(&t, "plain", 4, &[]);
    burst(&t, "stamped", 4, &["--time"]);
    burst(
        &t,
        "dated",
        4,
        &["--time", "--log-date-format", "%d/%m %H:%M:%S"],
    );

    // Verbatim lines: the file's modification time, to the second.
    let got = json_lines(
        &t,
        &["logs", "plain", "--lines", "2", "--nostream", "--json"],
    );
    assert_eq!(got.len(), 4);
    let plain = id_of(&t, "plain");
    for (i, (v, time)) in got.iter().enumerate() {
        let (stream, file) = if i < 2 {
            ("out", "out")
        } else {
            ("err", "error")
        };
        assert_eq!(v["app"], "plain");
        assert_eq!(v["id"], plain);
        assert_eq!(v["stream"], stream, "out first: {v}");
        assert_eq!(
            v["message"],
            format!("{stream} 0 {}", 3 + i % 2),
            "the line itself: {v}"
        );
        let mtime = std::fs::metadata(log(&t, &format!("plain-{file}.log")))
            .and_then(|m| m.modified())
            .expect("mtime")
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64;
        assert_eq!(time.timestamp(), mtime, "the file's mtime: {v}");
    }

    // `--time` lines: the line's own stamp, and the message without it.
    for (name, fmt) in [
        ("stamped", "%Y-%m-%dT%H:%M:%S"),
        ("dated", "%d/%m %H:%M:%S"),
    ] {
        let got = json_lines(&t, &["logs", name, "--lines", "2", "--nostream", "--json"]);
        let file_lines: Vec<String> = last(&log(&t, &format!("{name}-out.log")), 2)
            .into_iter()
            .chain(last(&log(&t, &format!("{name}-error.log")), 2))
            .collect();
        assert_eq!(got.len(), 4, "{name}: {got:?}");
        for ((v, time), line) in got.iter().zip(&file_lines) {
            let (stamp, message) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("{name}: a stamped line: {line:?}"));
            assert_eq!(v["app"], name);
            assert_eq!(v["message"], message, "without the stamp: {v} / {line:?}");
            assert_eq!(
                time.naive_local().format(fmt).to_string(),
                stamp,
                "{name}: the line's own time: {v} / {line:?}"
            );
            // A stamp of whole seconds: the time is that second, not the file's mtime.
            assert_eq!(time.timestamp_subsec_nanos(), 0, "{v}");
        }
    }
}

#[test]
fn a_following_logs_gets_each_line_as_it_is_written_also_into_a_pipe() {
    let t = TestHome::new();
    let mut say = Say::start(&t, "say", &[]);
    let id = id_of(&t, "say");
    let prefix = label(id, "say", 3);
    let mut f = Follower::spawn(&t, &["logs", "say", "--lines", "0"]);
    f.ready(&mut say);
    // Line N arrives before line N+1 is even written: the app writes the next line only
    // when told, and it is told only once the previous one came through the pipe.
    for stream in ["out", "err", "out", "err", "out"] {
        let n = say.say(stream);
        let want = format!("{prefix} said {n}");
        let got = f.line(&want, |l| {
            l.strip_prefix(&prefix)
                .and_then(|r| r.strip_prefix(" said "))
                .and_then(|k| k.parse::<u32>().ok())
                .is_some_and(|k| k >= n)
        });
        assert_eq!(got, want, "{stream} line {n}");
        assert_eq!(t.row("say")["status"], "online", "the app keeps running");
    }

    // `--json` while following: objects with a non-null RFC 3339 time.
    let mut j = Follower::spawn(&t, &["logs", "say", "--lines", "0", "--json"]);
    j.ready(&mut say);
    let n = say.say("err");
    let line = j.line("a JSON line", |l| l.contains(&format!("\"said {n}\"")));
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["app"], "say");
    assert_eq!(v["id"], id);
    assert_eq!(v["stream"], "err");
    assert_eq!(v["message"], format!("said {n}"));
    assert!(
        v["time"]
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "time never null: {v}"
    );
}

#[test]
fn logs_without_a_target_shows_and_follows_the_daemon_s_own_log() {
    let t = TestHome::new();
    let mut say = Say::start(&t, "say", &[]);
    // pmx.log is written by the daemon's logging thread: wait for the line to be there.
    let daemon_log = t.home.join("pmx.log");
    assert!(wait_for(DEADLINE, || std::fs::read_to_string(&daemon_log)
        .is_ok_and(|s| s.contains("app say added"))));
    let text = t.ok(&["logs", "--lines", "20", "--nostream"]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("pmx | ") && l.contains("app say added")),
        "pmx.log's tail, prefixed `pmx |`: {text}"
    );
    let mut f = Follower::spawn(&t, &["logs", "--lines", "0"]);
    f.ready(&mut say);
    t.ok(&["start", &app("sleeper.sh"), "--name", "late"]);
    // The daemon's line and the app's own, in either order.
    f.any_line("`pmx |` line of the new app", |l| {
        l.starts_with("pmx | ") && l.contains("app late added")
    });
    let late = id_of(&t, "late");
    f.any_line("the new app's own line", |l| {
        l.starts_with(&format!("{late}|late")) && l.contains("sleeper ")
    });
}

#[test]
fn flush_empties_the_named_app_s_files_or_every_app_s() {
    let t = TestHome::new();
    let mut say = Say::start(&t, "say", &[]);
    t.ok(&["start", &app("ticker.sh"), "--name", "tick"]);
    let (say_out, say_err) = (log(&t, "say-out.log"), log(&t, "say-error.log"));
    let (tick_out, tick_err) = (log(&t, "tick-out.log"), log(&t, "tick-error.log"));
    say.say("out");
    say.say("err");
    assert!(wait_for(DEADLINE, || lines(&say_out).len() == 1
        && lines(&say_err).len() == 1
        && !lines(&tick_err).is_empty()));
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);

    // One app: its files only; the other app's file keeps its content.
    t.ok(&["flush", "say"]);
    assert_eq!(size(&say_out), 0, "say's out file emptied");
    assert_eq!(size(&say_err), 0, "say's error file emptied");
    assert_eq!(lines(&tick_out)[0], "tick 1", "tick's file is untouched");
    assert_eq!(lines(&tick_err)[0], "err 10", "tick's file is untouched");

    // The next line lands at offset 0: the file is exactly that line.
    let n = say.say("out");
    assert!(wait_for(DEADLINE, || size(&say_out) > 0));
    assert_eq!(
        std::fs::read(&say_out).expect("read"),
        format!("said {n}\n").as_bytes(),
        "a whole line at offset 0, no NUL bytes"
    );

    // No target: every app's files, while tick keeps writing.
    let number = |l: &str| -> u64 {
        l.rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a numbered line: {l:?}"))
    };
    let before = number(lines(&tick_out).last().expect("a tick"));
    let before_err = number(lines(&tick_err).last().expect("an err"));
    t.ok(&["flush"]);
    assert_eq!(size(&say_out), 0, "say's out file emptied");
    assert_eq!(size(&say_err), 0, "say's error file emptied");
    assert!(
        wait_for(DEADLINE, || lines(&tick_out).len() >= 3),
        "tick goes on writing"
    );
    for (path, word, before) in [(&tick_out, "tick", before), (&tick_err, "err", before_err)] {
        let bytes = std::fs::read(path).expect("read");
        assert!(!bytes.contains(&0), "no NUL bytes: {bytes:?}");
        let text = String::from_utf8(bytes).expect("utf8");
        if let Some(first) = text.lines().next() {
            assert!(
                first.starts_with(&format!("{word} ")),
                "a whole line first: {text:?}"
            );
            assert!(
                number(first) > before,
                "every line written before the flush is gone: {first:?} after {before}"
            );
        }
    }

    let err = t.fails(&["flush", "ghost"], 1);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("pmx: ") && err.contains("ghost"), "{err}");
}

#[test]
fn flush_of_one_instance_by_id_empties_only_that_instance_s_files() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"duo\", script: \"{}\", args: [\"3\"], instances: 2)])",
            app("logcli_burst.sh")
        ),
    )
    .expect("write");
    t.ok(&["start", t.path("eco.ron").to_str().expect("utf8")]);
    let files = |k: u32| ["out", "error"].map(|f| log(&t, &format!("duo-{f}-{k}.log")));
    assert!(wait_for(DEADLINE, || (0..2)
        .all(|k| files(k).iter().all(|p| lines(p).len() == 3))));
    let second = t
        .list()
        .into_iter()
        .find(|r| r["name"] == "duo" && r["instance"] == 1)
        .map(|r| int(&r, "id"))
        .expect("instance 1");
    t.ok(&["flush", &second.to_string()]);
    for p in files(1) {
        assert!(lines(&p).is_empty(), "{} emptied", p.display());
    }
    for p in files(0) {
        assert_eq!(
            lines(&p).len(),
            3,
            "`pmx flush {second}` leaves the other instance's {} alone",
            p.display()
        );
    }
}

/// `pmx flush` with no target also empties the daemon's own `pmx.log` (PM2 empties
/// `pm2.log`); a flush of one app leaves it alone. pmx.log is written in append mode, so
/// the daemon's next line lands at offset 0: no hole of NUL bytes, no old line.
#[test]
fn flush_without_a_target_also_empties_pmx_log() {
    let t = TestHome::new();
    let daemon_log = t.home.join("pmx.log");
    let read = || std::fs::read(&daemon_log).unwrap_or_default();
    let has = |needle: &str| String::from_utf8_lossy(&read()).contains(needle);
    t.ok(&["start", &app("sleeper.sh"), "--name", "first"]);
    // pmx.log is written by the daemon's logging thread: wait for the line to be there.
    assert!(wait_for(DEADLINE, || has("app first added")));

    t.ok(&["flush", "first"]);
    assert!(has("app first added"), "a flush of one app keeps pmx.log");

    t.ok(&["flush"]);
    assert_eq!(read(), b"", "pmx.log is empty once flush returns");

    t.ok(&["start", &app("sleeper.sh"), "--name", "second"]);
    assert!(wait_for(DEADLINE, || has("app second added")));
    let bytes = read();
    assert!(!bytes.contains(&0), "no NUL bytes: {bytes:?}");
    let text = String::from_utf8(bytes).expect("utf8");
    assert!(!text.contains("app first added"), "old lines gone: {text}");
    assert!(
        text.starts_with(|c: char| c.is_ascii_digit()),
        "a whole line (its timestamp) at offset 0: {text:?}"
    );
}

#[test]
fn logs_of_an_unknown_app_fails_naming_it() {
    let t = TestHome::new();
    t.ok(&["ping"]);
    for args in [&["logs", "ghost"][..], &["logs", "ghost", "--nostream"][..]] {
        let err = t.fails(args, 1);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("pmx: ") && err.contains("ghost"), "{err}");
    }
}

#[test]
fn following_one_instance_by_id_shows_only_that_instance_s_lines() {
    let t = TestHome::new();
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"duo\", script: \"{}\", instances: 2)])",
            app("ticker.sh")
        ),
    )
    .expect("write");
    t.ok(&["start", t.path("eco.ron").to_str().expect("utf8")]);
    let second = t
        .list()
        .into_iter()
        .find(|r| r["name"] == "duo" && r["instance"] == 1)
        .map(|r| int(&r, "id"))
        .expect("instance 1");
    let mut f = Follower::spawn(&t, &["logs", &second.to_string(), "--lines", "0", "--out"]);
    // Both instances tick every 50 ms: twenty followed lines hold the other's if it leaks.
    for _ in 0..20 {
        f.line("a followed line", |_| true);
    }
    let prefix = format!("{second}|duo |");
    assert!(
        f.seen.iter().all(|l| l.starts_with(&prefix)),
        "`pmx logs {second}` follows only process {second}, as its tail shows only its files: {:?}",
        f.seen
    );
}

/// SPEC §7: the `time` prefix is the daemon's local time. A CLI in another zone reads a
/// line's time in the daemon's zone (`describe` gives its offset), so `--json` gives
/// the instant the line was written.
#[test]
fn json_times_are_read_in_the_daemon_s_zone() {
    let t = TestHome::new();
    // The first command starts the daemon: it inherits this zone (POSIX TZ, nine hours
    // east, no tz database needed).
    let mut start = t.cmd(&["start", &app("ticker.sh"), "--name", "tick", "--time", "-s"]);
    start.env("TZ", "JST-9");
    expect_ok(&start.output().expect("pmx start"), "pmx start");
    let out = t.home.join("logs/tick-out.log");
    assert!(wait_for(DEADLINE, || !lines(&out).is_empty()));
    let mut logs = t.cmd(&[
        "logs",
        "tick",
        "--json",
        "--nostream",
        "--lines",
        "1",
        "--out",
    ]);
    logs.env("TZ", "UTC");
    let text = expect_ok(&logs.output().expect("pmx logs"), "pmx logs --json");
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("json");
    let time = v["time"].as_str().expect("time");
    let at = chrono::DateTime::parse_from_rfc3339(time).expect("rfc3339");
    assert_eq!(at.offset().local_minus_utc(), 9 * 3600, "{time}");
    // The instant is now (give or take the run), not nine hours off.
    let skew = (chrono::Utc::now() - at.to_utc()).num_seconds().abs();
    assert!(skew < 600, "{time} is {skew} s from now");
}
