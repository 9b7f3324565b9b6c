//! Log files: flush, reopen after an external logrotate (pmx reloadLogs and SIGUSR2).

use crate::harness::*;

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn flush_empties_the_files_and_the_app_goes_on_writing() {
    let t = TestHome::new();
    t.ok(&["start", &app("ticker.sh"), "--name", "tick"]);
    let out = t.home.join("logs/tick-out.log");
    let err = t.home.join("logs/tick-error.log");
    assert!(wait_for(DEADLINE, || size(&out) > 100 && size(&err) > 0));
    t.ok(&["flush", "tick"]);
    // Empty once flush returns (a tick may already have landed after it: at most a line).
    assert!(lines(&out).len() <= 1, "out emptied: {:?}", lines(&out));
    assert!(lines(&err).len() <= 1, "err emptied");
    assert!(
        wait_for(DEADLINE, || lines(&out).len() >= 3),
        "new lines after the flush"
    );
    let first = lines(&out)[0].clone();
    assert!(
        first.starts_with("tick "),
        "no gap, no NUL bytes: {first:?}"
    );
    t.fails(&["flush", "ghost"], 1);
}

#[test]
fn reload_logs_and_sigusr2_reopen_files_moved_away() {
    let t = TestHome::new();
    t.ok(&["start", &app("ticker.sh"), "--name", "tick"]);
    let out = t.home.join("logs/tick-out.log");
    assert!(wait_for(DEADLINE, || size(&out) > 0));
    // An external logrotate moves the file away. pmx notices at its next write that the
    // path no longer names the file it has open and reopens it by itself; `reloadLogs`
    // (or SIGUSR2) reopens every file at once, and the moved file gets no more lines.
    let rotated = t.home.join("logs/tick-out.log.1");
    std::fs::rename(&out, &rotated).expect("rename");
    t.ok(&["reloadLogs"]);
    assert!(
        wait_for(DEADLINE, || size(&out) > 0),
        "a new file at the configured path"
    );
    let moved = size(&rotated);
    assert!(
        !wait_for(std::time::Duration::from_millis(300), || size(&rotated)
            != moved),
        "the rotated file gets no more lines"
    );
    // SIGUSR2 to the daemon does the same, and does not end it.
    std::fs::rename(&out, &rotated).expect("rename");
    let d = t.daemon_pid().expect("pid");
    // SAFETY: kill(2) on the daemon this test started.
    unsafe {
        libc::kill(d, libc::SIGUSR2);
    }
    assert!(
        wait_for(DEADLINE, || size(&out) > 0),
        "SIGUSR2 reopened the file"
    );
    assert!(alive(d), "SIGUSR2 does not end the daemon");
    t.ok(&["ping"]);
}

#[test]
fn logs_shows_the_last_lines_of_each_file_then_follows() {
    let t = TestHome::new();
    t.ok(&["start", &app("ticker.sh"), "--name", "tick"]);
    let out = t.home.join("logs/tick-out.log");
    let err = t.home.join("logs/tick-error.log");
    assert!(wait_for(DEADLINE, || lines(&out).len() >= 30
        && lines(&err).len() >= 3));
    let text = t.ok(&["logs", "tick", "--nostream", "--lines", "3"]);
    let shown: Vec<&str> = text.lines().collect();
    assert_eq!(shown.len(), 6, "3 of out, then 3 of err: {text}");
    assert!(
        shown[0].starts_with("0|tick | tick "),
        "prefixed id|name |, plain in a pipe: {text}"
    );
    assert!(
        shown[3].starts_with("0|tick | err "),
        "out first, then err: {text}"
    );
    let errs = t.ok(&[
        "logs",
        "tick",
        "--nostream",
        "--err",
        "--lines",
        "2",
        "--raw",
    ]);
    assert!(
        errs.lines().all(|l| l.starts_with("err ")),
        "--err --raw: {errs}"
    );
    let json = t.ok(&[
        "logs",
        "tick",
        "--nostream",
        "--out",
        "--lines",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON object");
    assert_eq!(v["app"], "tick");
    assert_eq!(v["stream"], "out");
    assert!(
        v["time"].as_str().is_some_and(|t| !t.is_empty()),
        "time is never null: {v}"
    );
    let all = t.ok(&["logs", "--nostream", "--lines", "2"]);
    assert!(
        all.lines().any(|l| l.starts_with("pmx | ")),
        "the daemon's own log: {all}"
    );
    // Following: new lines arrive through the socket, one per line, also into a pipe.
    let mut c = t.cmd(&["logs", "tick", "--lines", "0", "--out"]);
    c.stdout(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn logs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx.recv_timeout(DEADLINE).expect("a followed line");
    assert!(line.starts_with("0|tick | tick "), "{line}");
    kill9(child.id() as i32);
    let _ = child.wait();
}

#[test]
fn logs_timestamp_puts_the_time_before_each_line() {
    let t = TestHome::new();
    t.ok(&["start", &app("ticker.sh"), "--name", "tick"]);
    let out = t.home.join("logs/tick-out.log");
    assert!(wait_for(DEADLINE, || lines(&out).len() >= 3));
    let text = t.ok(&[
        "logs",
        "tick",
        "--nostream",
        "--out",
        "--lines",
        "2",
        "--raw",
        "--timestamp",
        "--timestamp-format",
        "%Y/%H",
    ]);
    for l in text.lines() {
        let (stamp, rest) = l.split_once(": ").expect("stamp: line");
        assert_eq!(stamp.len(), 7, "%Y/%H: {l}");
        assert!(rest.starts_with("tick "), "{l}");
    }
    let err = t.fails(
        &[
            "logs",
            "tick",
            "--nostream",
            "--timestamp-format",
            "YYYY-MM-DD",
        ],
        2,
    );
    assert!(err.contains("%Y-%m-%d"), "the strftime equivalent: {err}");
}

/// Start ticker.sh from a file with `logs: (rotate: …)`.
fn rotating(t: &TestHome, rotate: &str) -> std::path::PathBuf {
    std::fs::write(
        t.path("eco.ron"),
        format!(
            "Ecosystem(apps: [App(name: \"tick\", script: \"{}\", logs: (rotate: Some(({rotate}))))])",
            app("ticker.sh")
        ),
    )
    .expect("write");
    t.ok(&["start", t.path("eco.ron").to_str().expect("utf8")]);
    t.home.join("logs/tick-out.log")
}

fn numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("tick ").and_then(|n| n.parse().ok()))
        .collect()
}

#[test]
fn rotation_by_size_keeps_n_files_and_loses_no_line_between_them() {
    let t = TestHome::new();
    let out = rotating(&t, "max_size: \"300\", keep: 2");
    let one = t.home.join("logs/tick-out.log.1");
    let two = t.home.join("logs/tick-out.log.2");
    assert!(
        wait_for(DEADLINE, || two.exists() && size(&out) > 0),
        "rotated twice"
    );
    t.ok(&["stop", "tick"]);
    assert!(!t.home.join("logs/tick-out.log.3").exists(), "keep: 2");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    // Oldest kept first: the lines follow each other with no gap or repeat.
    let all = numbers(&(read(&two) + &read(&one) + &read(&out)));
    assert!(all.len() > 10, "{all:?}");
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {all:?}"
    );
    assert!(size(&one) < 300 + 20, "a rotated file is about max_size");
}

#[test]
fn rotated_files_are_gzipped_when_compress_is_on() {
    let t = TestHome::new();
    let out = rotating(&t, "max_size: \"200\", keep: 3, compress: true");
    let gz = t.home.join("logs/tick-out.log.1.gz");
    assert!(wait_for(DEADLINE, || gz.exists() && size(&out) > 0));
    t.ok(&["stop", "tick"]);
    let mut text = String::new();
    let f = std::fs::File::open(&gz).expect("gz");
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut text).expect("gunzip");
    assert!(!numbers(&text).is_empty(), "gzip of the lines: {text:?}");
    assert!(
        !t.home.join("logs/tick-out.log.1").exists(),
        "only the .gz is kept"
    );
}

#[test]
fn rotation_by_interval_follows_the_clock() {
    let t = TestHome::new();
    let out = rotating(&t, "interval: \"2s\", keep: 3");
    let one = t.home.join("logs/tick-out.log.1");
    assert!(
        wait_for(DEADLINE, || one.exists() && size(&out) > 0),
        "rotated on a 2 s boundary"
    );
    t.ok(&["stop", "tick"]);
    let all = numbers(
        &(std::fs::read_to_string(&one).unwrap_or_default()
            + &std::fs::read_to_string(&out).unwrap_or_default()),
    );
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "no line lost at the rotation: {all:?}"
    );
}
