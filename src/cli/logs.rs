//! `pmx logs`: the last lines of each selected app's log files, then new lines as they
//! come (through the socket's `subscribe`), each written and flushed on its own.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use pmx::{Client, Home};
use pmx_actors::protocol::{Description, Event, Request};

use super::{Failure, LogsArgs};

/// One log file to show: whose it is and which stream.
struct Source {
    app: String,
    id: Option<u64>,
    stream: &'static str,
    path: PathBuf,
}

/// The last `n` lines of `path` (reading backwards in chunks, so a large file costs only
/// its end). Missing files have no lines.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(len) = f.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    const CHUNK: u64 = 64 * 1024;
    while start > 0 {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        if f.seek(SeekFrom::Start(from)).is_err() || f.read_exact(&mut chunk).is_err() {
            break;
        }
        chunk.extend_from_slice(&buf);
        buf = chunk;
        start = from;
        // n lines need n+1 newlines before them (or the file's start).
        if buf.iter().filter(|b| **b == b'\n').count() > n {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

/// A file's modification time, RFC 3339 (the time of lines that carry none).
fn mtime(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| chrono::DateTime::<chrono::Local>::from(t).to_rfc3339())
        .unwrap_or_default()
}

/// How lines are written: prefixed and coloured, bare, or JSON.
struct Printer {
    json: bool,
    /// `--timestamp`: the strftime format of the time put before each line.
    stamp: Option<String>,
    raw: bool,
    colour: bool,
    width: usize,
    colours: BTreeMap<String, usize>,
}

const COLOURS: [&str; 6] = ["36", "32", "35", "33", "34", "31"];

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
                Some(id) => format!("{id}|{app:<w$} |", w = self.width),
                // The daemon's own log (SPEC §3: `pmx |`).
                None => format!("{app} |"),
            };
            if self.colour {
                let k = self.colours.len();
                let c = *self
                    .colours
                    .entry(app.to_string())
                    .or_insert(k % COLOURS.len());
                format!(
                    "\x1b[{}m{label}\x1b[0m {}{message}\n",
                    COLOURS[c],
                    self.stamp_of(time)
                )
            } else {
                format!("{label} {}{message}\n", self.stamp_of(time))
            }
        };
        // One line at a time, flushed: also into a pipe (SPEC §3); a closed pipe ends us.
        super::out(&text);
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
    }) {
        Ok(d) => d,
        // No app at all: only the daemon's own log.
        Err(pmx::ClientError::Api(e))
            if a.target.is_none() && e.code == pmx_actors::protocol::ErrorCode::NotFound =>
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
        colours: BTreeMap::new(),
    };
    let lines = a.lines.unwrap_or(15);
    for s in &sources {
        let time = mtime(&s.path);
        for l in tail(&s.path, lines) {
            printer.line(&s.app, s.id, s.stream, &time, &l);
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
    conn.subscribe(apps, Some(vec!["log".into()]), |e: Event| {
        let stream = e.stream.as_deref().unwrap_or("out");
        if only.is_some_and(|o| o != stream) {
            return true;
        }
        printer.line(
            e.app.as_deref().unwrap_or(""),
            e.id,
            stream,
            e.time.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or(""),
        );
        true
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
