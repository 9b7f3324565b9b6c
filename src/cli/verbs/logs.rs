//! `pmx logs`: the last lines of each selected app's log files, then new lines as they
//! come (through the socket's `subscribe`), each written and flushed on its own.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::TimeZone;

use pmx::{Client, Home};
use pmx_protocol::console::{prefix, Palette};
use pmx_protocol::{Description, Event, Request};

use crate::cli::{Failure, LogsArgs};

/// One log file to show: whose it is and which stream.
struct Source {
    app: String,
    id: Option<u64>,
    stream: &'static str,
    path: PathBuf,
    /// With the app's `time`: the format of each line's `<timestamp>: ` prefix.
    date_format: Option<String>,
    /// The daemon's zone, in which a prefix without an offset was written.
    zone: chrono::FixedOffset,
}

/// A line's own time and its message, when it starts with `<timestamp>: ` in `fmt` (the
/// app's `date_format`). A format without an offset is read in `zone` (the daemon's); a
/// format without a date takes `day`'s.
fn split_stamp<'a>(
    line: &'a str,
    fmt: &str,
    day: chrono::NaiveDate,
    zone: chrono::FixedOffset,
) -> Option<(chrono::DateTime<chrono::FixedOffset>, &'a str)> {
    let mut parsed = chrono::format::Parsed::new();
    let rest = chrono::format::parse_and_remainder(
        &mut parsed,
        line,
        chrono::format::StrftimeItems::new(fmt),
    )
    .ok()?;
    let message = rest.strip_prefix(": ")?;
    let time = match parsed.to_datetime() {
        Ok(t) => t,
        Err(_) => {
            let date = parsed.to_naive_date().or_else(|_| {
                // A format without the year (`%d/%m %H:%M:%S`): the file's year; without
                // any date part: the file's day.
                let mut with_year = parsed.clone();
                with_year.set_year(i64::from(chrono::Datelike::year(&day)))?;
                with_year.to_naive_date()
            });
            let date = date.unwrap_or(day);
            let naive = date.and_time(parsed.to_naive_time().ok()?);
            zone.from_local_datetime(&naive).earliest()?
        }
    };
    Some((time, message))
}

/// The last `n` lines of `path` (shared with the daemon's `GET /api/logs`).
pub use pmx_protocol::tail;

/// A file's modification time (the time of lines that carry none); now if unknown.
fn mtime(path: &Path) -> chrono::DateTime<chrono::Local> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(chrono::DateTime::<chrono::Local>::from)
        .unwrap_or_else(|_| chrono::Local::now())
}

/// How lines are written: prefixed and coloured, bare, or JSON.
struct Printer {
    json: bool,
    /// `--timestamp`: the strftime format of the time put before each line.
    stamp: Option<String>,
    raw: bool,
    colour: bool,
    width: usize,
    colours: Palette,
    /// App name → its `date_format`, for apps with `time`: a followed line gets the prefix
    /// its file line has.
    date_formats: BTreeMap<String, String>,
}

impl Printer {
    /// `<time>: ` in local time and the `--timestamp` format, or nothing.
    fn stamp_of(&self, rfc3339: &str) -> String {
        match &self.stamp {
            None => String::new(),
            Some(fmt) => chrono::DateTime::parse_from_rfc3339(rfc3339)
                .map(|t| format!("{}: ", t.with_timezone(&chrono::Local).format(fmt)))
                .unwrap_or_default(),
        }
    }

    fn line(&mut self, app: &str, id: Option<u64>, stream: &str, time: &str, message: &str) {
        let text = if self.json {
            let v = serde_json::json!({
                "app": app, "id": id, "stream": stream, "time": time, "message": message,
            });
            format!("{v}\n")
        } else if self.raw {
            format!("{}{message}\n", self.stamp_of(time))
        } else {
            let label = match id {
                Some(id) => prefix(id, app, self.width),
                // The daemon's own log (SPEC §3: `pmx |`).
                None => format!("{app} |"),
            };
            if self.colour {
                format!(
                    "{} {}{message}\n",
                    self.colours.paint(app, &label),
                    self.stamp_of(time)
                )
            } else {
                format!("{label} {}{message}\n", self.stamp_of(time))
            }
        };
        // One line at a time, flushed: also into a pipe (SPEC §3); a closed pipe ends us.
        crate::cli::out(&text);
    }
}

/// `pmx logs [target] [--lines N] [--nostream] [--err|--out] [--json] [--raw]`.
pub fn run(home: &Home, a: LogsArgs, client: Client) -> Result<(), Failure> {
    let mut client = client;
    if a.out && a.err {
        return Err(Failure::usage("--out and --err exclude each other"));
    }
    let target = a.target.clone().unwrap_or_else(|| "all".into());
    let described: Vec<Description> = match client.call_as(Request::Describe {
        target: target.clone(),
        env: false,
    }) {
        Ok(d) => d,
        // No app at all: only the daemon's own log.
        Err(pmx::ClientError::Api(e))
            if a.target.is_none() && e.code == pmx_protocol::ErrorCode::NotFound =>
        {
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    let mut sources = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for d in &described {
        let streams: Vec<(&'static str, &PathBuf)> = [("out", &d.out_log), ("err", &d.error_log)]
            .into_iter()
            .filter(|(s, _)| match *s {
                "out" => !a.err,
                _ => !a.out,
            })
            .collect();
        for (stream, path) in streams {
            if seen.insert(path.clone()) {
                sources.push(Source {
                    app: d.info.name.clone(),
                    id: Some(d.info.id),
                    stream,
                    path: path.clone(),
                    date_format: d.log_date_format.clone(),
                    zone: chrono::FixedOffset::east_opt(d.log_utc_offset)
                        .unwrap_or_else(|| chrono::Local::now().fixed_offset().timezone()),
                });
            }
        }
    }
    if a.target.is_none() {
        sources.insert(
            0,
            Source {
                app: "pmx".into(),
                id: None,
                stream: "out",
                path: home.log_file(),
                date_format: None,
                zone: chrono::Local::now().fixed_offset().timezone(),
            },
        );
    }
    let width = described
        .iter()
        .map(|d| d.info.name.chars().count())
        .max()
        .unwrap_or(3);
    let stamp = match (&a.timestamp_format, a.timestamp) {
        (Some(f), _) => {
            if let Some(s) = pmx_config::moment_to_strftime(f) {
                return Err(Failure::usage(format!(
                    "--timestamp-format {f:?} is a moment.js format; pmx uses strftime: {s:?}"
                )));
            }
            pmx_config::validate_date_format(f)
                .map_err(|e| Failure::usage(format!("--timestamp-format: {e}")))?;
            Some(f.clone())
        }
        (None, true) => Some("%Y-%m-%dT%H:%M:%S".to_string()),
        (None, false) => None,
    };
    let mut printer = Printer {
        json: a.json,
        stamp,
        raw: a.raw,
        colour: !a.raw && !a.json && std::io::stdout().is_terminal(),
        width,
        colours: Palette::default(),
        date_formats: described
            .iter()
            .filter_map(|d| Some((d.info.name.clone(), d.log_date_format.clone()?)))
            .collect(),
    };
    let lines = a.lines.unwrap_or(15);
    // Where following the daemon's own log starts: what the tail showed is not repeated.
    let daemon_log_offset = std::fs::metadata(home.log_file())
        .map(|m| m.len())
        .unwrap_or(0);
    for s in &sources {
        let modified = mtime(&s.path);
        for l in tail(&s.path, lines) {
            // `--json`: the line's own time when it carries one, else the file's.
            let own = s
                .date_format
                .as_deref()
                .filter(|_| printer.json)
                .and_then(|f| split_stamp(&l, f, modified.date_naive(), s.zone));
            match own {
                Some((t, message)) => {
                    printer.line(&s.app, s.id, s.stream, &t.to_rfc3339(), message)
                }
                // The daemon's own lines start with their RFC 3339 time.
                None if s.id.is_none() => {
                    let time = daemon_line_time(&l).unwrap_or_else(|| modified.to_rfc3339());
                    printer.line(&s.app, s.id, s.stream, &time, &l)
                }
                None => printer.line(&s.app, s.id, s.stream, &modified.to_rfc3339(), &l),
            }
        }
    }
    if a.nostream {
        return Ok(());
    }
    let apps: Option<Vec<String>> = a.target.as_ref().map(|_| {
        let mut names: Vec<String> = described.iter().map(|d| d.info.name.clone()).collect();
        names.dedup();
        names
    });
    let conn = Client::connect(home)?;
    let only = if a.out {
        Some("out")
    } else if a.err {
        Some("err")
    } else {
        None
    };
    let printer = Arc::new(Mutex::new(printer));
    if a.target.is_none() {
        follow_daemon_log(home.log_file(), daemon_log_offset, printer.clone());
    }
    // A target names instances (an id, an app, a namespace): only theirs are followed.
    let ids: Option<std::collections::BTreeSet<u64>> = a
        .target
        .as_ref()
        .filter(|t| t.as_str() != "all")
        .map(|_| described.iter().map(|d| d.info.id).collect());
    conn.subscribe(apps, Some(vec!["log".into()]), |e: Event| {
        if e.event == "lagged" {
            // Lines the daemon dropped for this follower (it fell behind a chatty app).
            let now = chrono::Local::now().to_rfc3339();
            let text = format!(
                "{} log lines not shown: this pmx logs fell behind",
                e.dropped.unwrap_or(0)
            );
            let mut printer = printer.lock().unwrap_or_else(|p| p.into_inner());
            printer.line("pmx", None, "err", &now, &text);
            return true;
        }
        let stream = e.stream.as_deref().unwrap_or("out");
        if only.is_some_and(|o| o != stream) {
            return true;
        }
        if let (Some(ids), Some(id)) = (&ids, e.id) {
            if !ids.contains(&id) {
                return true;
            }
        }
        let app = e.app.as_deref().unwrap_or("");
        let time = e.time.as_deref().unwrap_or("");
        let message = e.message.as_deref().unwrap_or("");
        let mut printer = printer.lock().unwrap_or_else(|p| p.into_inner());
        // As in the file: an app with `time` has its lines prefixed there.
        let prefixed = match printer.date_formats.get(app) {
            // In the daemon's zone, as its file line has it (the event carries its offset).
            Some(fmt) if !printer.json => chrono::DateTime::parse_from_rfc3339(time)
                .ok()
                .map(|t| format!("{}: {message}", t.format(fmt))),
            _ => None,
        };
        printer.line(
            app,
            e.id,
            stream,
            time,
            prefixed.as_deref().unwrap_or(message),
        );
        true
    })?;
    Ok(())
}

/// Follow the daemon's own log from `offset` on a thread of its own: new whole lines are
/// printed as `pmx |` lines as soon as inotify (the `notify` crate) says the file grew;
/// a file truncated or replaced is read again from its start.
fn follow_daemon_log(path: PathBuf, offset: u64, printer: Arc<Mutex<Printer>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let Ok(mut watcher) = notify::recommended_watcher(tx) else {
        return;
    };
    let Some(dir) = path.parent().map(Path::to_path_buf) else {
        return;
    };
    if notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::NonRecursive).is_err() {
        return;
    }
    std::thread::spawn(move || {
        let _watcher = watcher;
        let mut offset = offset;
        let mut partial: Vec<u8> = Vec::new();
        for event in rx {
            let Ok(event) = event else { continue };
            if !event.paths.iter().any(|p| p == &path) {
                continue;
            }
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0;
                partial.clear();
            }
            if f.seek(SeekFrom::Start(offset)).is_err() {
                continue;
            }
            let mut new = Vec::new();
            if let Ok(n) = f.read_to_end(&mut new) {
                offset += n as u64;
            }
            partial.extend_from_slice(&new);
            let Some(end) = partial.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            let rest = partial.split_off(end + 1);
            let text = String::from_utf8_lossy(&partial).into_owned();
            partial = rest;
            let mut printer = printer.lock().unwrap_or_else(|p| p.into_inner());
            for line in text.lines() {
                let time =
                    daemon_line_time(line).unwrap_or_else(|| chrono::Local::now().to_rfc3339());
                printer.line("pmx", None, "out", &time, line);
            }
        }
    });
}

/// A `pmx.log` line's own time (tracing's RFC 3339 stamp before the level:
/// `2026-11-29T15:14:30.123456Z  INFO …`), in local time.
fn daemon_line_time(line: &str) -> Option<String> {
    line.split_whitespace()
        .next()
        .and_then(|w| chrono::DateTime::parse_from_rfc3339(w).ok())
        .map(|t| t.with_timezone(&chrono::Local).to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_s_own_time_is_read_from_its_prefix() {
        use chrono::{Datelike, Timelike};
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 4).expect("date");
        let utc = chrono::FixedOffset::east_opt(0).expect("utc");
        // Written by a daemon nine hours east: the same instant whatever the CLI's zone.
        let tokyo = chrono::FixedOffset::east_opt(9 * 3600).expect("+9");
        let (t, _) = split_stamp("2026-11-29T15:14:30: x", "%Y-%m-%dT%H:%M:%S", day, tokyo)
            .expect("in the daemon's zone");
        assert_eq!(t.to_utc().hour(), 6);
        let (t, m) = split_stamp(
            "2026-11-29T15:14:30: hello: world",
            "%Y-%m-%dT%H:%M:%S",
            day,
            utc,
        )
        .expect("default format");
        assert_eq!((t.month(), t.day(), t.hour(), t.second()), (11, 29, 15, 30));
        assert_eq!(m, "hello: world");
        // No year in the format: the file's year.
        let (t, _) = split_stamp("29/11 15:14:30: x", "%d/%m %H:%M:%S", day, utc).expect("no year");
        assert_eq!((t.year(), t.month(), t.day()), (2026, 11, 29));
        let (t, m) = split_stamp("15:14:30: x", "%H:%M:%S", day, utc).expect("time only");
        assert_eq!((t.year(), t.month(), t.day(), t.minute()), (2026, 3, 4, 14));
        assert_eq!(m, "x");
        assert!(split_stamp("no stamp here", "%Y-%m-%dT%H:%M:%S", day, utc).is_none());
        assert!(split_stamp(
            "2026-11-29T15:14:30 no colon",
            "%Y-%m-%dT%H:%M:%S",
            day,
            utc
        )
        .is_none());
        assert_eq!(
            daemon_line_time("2026-11-29T15:18:20.391774Z  INFO daemon started")
                .map(|t| t.len() > 20),
            Some(true)
        );
        assert_eq!(daemon_line_time("garbage"), None);
    }

    #[test]
    fn tail_reads_the_last_lines_across_chunks() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("f.log");
        let lines: Vec<String> = (0..20_000).map(|i| format!("line {i:05}")).collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        assert_eq!(tail(&path, 3), ["line 19997", "line 19998", "line 19999"]);
        assert_eq!(
            tail(&path, 10_000).len(),
            10_000,
            "more than one 64 KiB chunk"
        );
        assert_eq!(tail(&path, 10_000)[0], "line 10000");
        assert!(tail(&path, 0).is_empty());
        std::fs::write(&path, "a\nb\nno newline").expect("write");
        assert_eq!(tail(&path, 2), ["b", "no newline"]);
        assert_eq!(tail(&path, 10), ["a", "b", "no newline"]);
        assert!(tail(&dir.path().join("missing"), 5).is_empty());
        // A 40 MiB file without a newline: only its end is read.
        std::fs::write(&path, vec![b'x'; 40 << 20]).expect("write");
        let last = tail(&path, 2);
        assert_eq!(last.len(), 1);
        assert!(last[0].len() <= 3 << 20, "{} bytes", last[0].len());
    }
}
