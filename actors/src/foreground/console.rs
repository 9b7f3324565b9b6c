//! The terminal of a foreground runtime: every app's lines on this process's stdout (the
//! `out` stream) and stderr (`err`), each prefixed `id|name |` as `pmx logs` prints them
//! (names padded to the widest, coloured per app on a terminal, plain when piped), bare
//! with `--raw`, or one JSON object per line with `--json` (`pmx logs --json`'s shape:
//! `{"app","id","stream","time","message"}`). Lines are written whole and flushed as they
//! come (SPEC §3), also into a pipe.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::protocol::console::{prefix, Palette};

/// Where a foreground runtime's lines go; the log pumps call it on the log arbiter, the
/// runtime's notices on the supervision thread.
pub trait Console: Send + Sync {
    /// Some output of instance `id` of `app` on `stream` (`"out"` or `"err"`): whole lines,
    /// or a piece of one (bytes that waited 1 s without a newline, a last partial line);
    /// `at_line_start`: whether the first byte starts a line.
    fn output(&self, app: &str, id: u64, stream: &'static str, bytes: &[u8], at_line_start: bool);
    /// A line of the runtime's own about instance `id` of `app` (an exit, `pmx dev`'s
    /// "waiting for file changes"), on stderr with the instance's prefix.
    fn notice(&self, app: &str, id: u64, text: &str);
}

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `id|name | line`, coloured per app when `colour`.
    Prefixed {
        /// ANSI colours on the prefix (stdout is a terminal).
        colour: bool,
    },
    /// The line alone (`--raw`).
    Raw,
    /// One JSON object per line (`--json`).
    Json,
}

/// The process's own stdout and stderr as a [`Console`].
pub struct Terminal {
    style: Style,
    /// The widest app name seen, in characters (names are padded to it).
    width: AtomicUsize,
    /// App name → its colour, in order of first appearance.
    colours: Mutex<Palette>,
    /// Set once a write to stdout (or stderr) failed (a closed pipe): nothing more is
    /// written there, and the apps run on.
    broken: [AtomicBool; 2],
}

impl Terminal {
    /// A terminal writing in `style`, names padded to at least those of `names`.
    pub fn new<'a>(style: Style, names: impl IntoIterator<Item = &'a str>) -> Terminal {
        let width = names
            .into_iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0);
        Terminal {
            style,
            width: AtomicUsize::new(width),
            colours: Mutex::new(Palette::default()),
            broken: [AtomicBool::new(false), AtomicBool::new(false)],
        }
    }

    /// `message` of `app`'s instance `id` as one line in this style (with its newline).
    fn line(&self, out: &mut String, app: &str, id: u64, stream: &str, message: &str) {
        match self.style {
            Style::Json => {
                let v = serde_json::json!({
                    "app": app, "id": id, "stream": stream,
                    "time": chrono::Local::now().to_rfc3339(), "message": message,
                });
                out.push_str(&v.to_string());
            }
            Style::Raw => out.push_str(message),
            Style::Prefixed { colour } => {
                let len = app.chars().count();
                let width = self.width.fetch_max(len, Ordering::Relaxed).max(len);
                let label = prefix(id, app, width);
                if colour {
                    let mut colours = self.colours.lock().unwrap_or_else(|p| p.into_inner());
                    out.push_str(&colours.paint(app, &label));
                } else {
                    out.push_str(&label);
                }
                out.push(' ');
                out.push_str(message);
            }
        }
        out.push('\n');
    }

    /// Write `text` to stdout (`err`: stderr) and flush it; a failure (a closed pipe)
    /// ends the writing there for good.
    fn write(&self, err: bool, text: &str) {
        let broken = &self.broken[usize::from(err)];
        if broken.load(Ordering::Relaxed) {
            return;
        }
        let done = if err {
            let mut e = std::io::stderr().lock();
            e.write_all(text.as_bytes()).and_then(|()| e.flush())
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|()| o.flush())
        };
        if done.is_err() {
            broken.store(true, Ordering::Relaxed);
        }
    }
}

/// The lines of `bytes` as a console shows them: each piece up to a newline, without it;
/// a newline that only ends a piece already shown (`at_line_start` false) is no line.
pub fn lines_of(bytes: &[u8], at_line_start: bool) -> Vec<std::borrow::Cow<'_, str>> {
    let mut lines = Vec::new();
    for (i, piece) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        if i == 0 && !at_line_start && piece == b"\n" {
            continue;
        }
        let piece = piece.strip_suffix(b"\n").unwrap_or(piece);
        lines.push(String::from_utf8_lossy(piece));
    }
    lines
}

impl Console for Terminal {
    fn output(&self, app: &str, id: u64, stream: &'static str, bytes: &[u8], at_line_start: bool) {
        let mut text = String::new();
        for line in lines_of(bytes, at_line_start) {
            self.line(&mut text, app, id, stream, &line);
        }
        if !text.is_empty() {
            self.write(stream == "err", &text);
        }
    }

    fn notice(&self, app: &str, id: u64, text: &str) {
        let mut out = String::new();
        match self.style {
            // Not an app's line: JSON readers get app lines only, with their shape.
            Style::Json => return,
            Style::Raw => out.push_str(&format!("pmx: {app} (id {id}): {text}\n")),
            Style::Prefixed { .. } => self.line(&mut out, app, id, "err", text),
        }
        self.write(true, &out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_become_lines_without_repeating_a_partial_line_s_end() {
        let cases: &[(&[u8], bool, &[&str])] = &[
            (b"a\nb\n", true, &["a", "b"]),
            (b"a\n\nb\n", true, &["a", "", "b"]),
            (b"partial", true, &["partial"]),
            (b"\n", false, &[]),
            (b"\nnext\n", false, &["next"]),
            (b"rest\n", false, &["rest"]),
            (b"\n", true, &[""]),
            (b"\xffx\n", true, &["\u{fffd}x"]),
        ];
        for (bytes, start, want) in cases {
            let got: Vec<String> = lines_of(bytes, *start)
                .into_iter()
                .map(|c| c.into_owned())
                .collect();
            assert_eq!(got, *want, "{bytes:?} at_line_start={start}");
        }
    }

    #[test]
    fn lines_are_prefixed_padded_bare_or_json() {
        let t = Terminal::new(Style::Prefixed { colour: false }, ["api", "worker"]);
        let mut out = String::new();
        t.line(&mut out, "api", 3, "out", "hello");
        assert_eq!(out, "3|api    | hello\n");
        let t = Terminal::new(Style::Raw, ["api"]);
        let mut out = String::new();
        t.line(&mut out, "api", 3, "out", "hello");
        assert_eq!(out, "hello\n");
        let t = Terminal::new(Style::Json, ["api"]);
        let mut out = String::new();
        t.line(&mut out, "a\"pi", 3, "err", "hi \"x\"");
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).expect("json");
        assert_eq!(v["app"], "a\"pi");
        assert_eq!(v["id"], 3);
        assert_eq!(v["stream"], "err");
        assert_eq!(v["message"], "hi \"x\"");
        assert!(v["time"].as_str().is_some_and(|t| t.len() > 18));
        // A longer name seen later widens the column from then on.
        let t = Terminal::new(Style::Prefixed { colour: false }, ["a"]);
        let mut out = String::new();
        t.line(&mut out, "longer", 1, "out", "x");
        t.line(&mut out, "a", 0, "out", "y");
        assert_eq!(out, "1|longer | x\n0|a      | y\n");
    }
}
