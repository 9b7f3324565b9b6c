//! The pipe pumps: read a pipe in large chunks, cut at the last newline, write whole
//! lines to every file of the stream, hand them to the bus while someone subscribes.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::prelude::*;

use crate::events::{BusFlags, EventBus, PublishLogs, LOG_BATCH};
use crate::protocol::Event;

use super::*;

/// Where one pipe's lines go.
#[derive(Clone)]
pub struct PumpTarget {
    /// Every file of this stream (its own, and the combined `log_file` if any).
    pub files: Vec<LogHandle>,
    /// Whether a file is shared with another stream or instance: a partial last line then
    /// gets a newline so the next writer starts on a line of its own.
    pub shared: bool,
    /// With `logs.time`: the strftime format of the `<timestamp>: ` prefix (with `json`,
    /// of each object's `timestamp`).
    pub time_format: Option<String>,
    /// `logs.format: Json`: each line written as PM2's JSON object (see [`json_lines`]).
    pub json: bool,
    /// The app's name, for log events.
    pub app: String,
    /// The instance's id, for log events.
    pub id: u64,
    /// `"out"` or `"err"`.
    pub stream: &'static str,
    /// The event bus and its flags: whether anyone subscribes to log lines (events are
    /// only built then) and the count of lines it could not take.
    pub events: Option<(Addr<EventBus>, BusFlags)>,
    /// A foreground runtime's terminal (`pmx run`, `pmx dev`): every line also goes
    /// there, written before the next read, so a slow terminal slows the app as a slow
    /// disk does and no line is lost. None in the daemon.
    pub console: Option<Arc<dyn crate::foreground::Console>>,
}

thread_local! {
    /// The one read buffer of the log thread: a partial line carried over (up to
    /// [`CARRY`] bytes), then what one read takes. Every pump uses it between two awaits
    /// and writes straight from it, so an idle app costs no buffer and a busy one no copy.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; CARRY + READ_CHUNK]);
    /// Where lines get their `time` prefix, reused by every pump.
    static STAMPED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What one pump keeps between reads.
struct PumpState {
    /// Shared with the instance's routes: a pump copies nothing of it (a copy per
    /// process was a Vec, a String and an address clone per file, per pipe).
    target: Arc<PumpTarget>,
    /// Bytes read but not yet written: a partial line (empty most of the time).
    pending: Vec<u8>,
    /// Whether the next byte written starts a line (for the time prefix).
    at_line_start: bool,
    /// The cached `time` prefix and the second it was made for.
    stamp: (i64, String),
    /// Whether the format shows fractions of a second (`%f`, `%.3f`…): then no caching.
    subsecond: bool,
    /// When the oldest byte of `pending` arrived (None when nothing waits): bytes that
    /// waited [`PARTIAL_FLUSH`] are written, however often more bytes without a newline
    /// arrive (a progress bar redrawn every 100 ms).
    waiting_since: Option<std::time::Instant>,
    /// Batches written so far (tells `read` whether what waits is new).
    emits: u64,
}

impl PumpState {
    /// Read once from `pipe`; write the whole lines read. Ok(0) at EOF.
    fn read(&mut self, pipe: &tokio::net::unix::pipe::Receiver) -> std::io::Result<usize> {
        let (was_empty, emits) = (self.pending.is_empty(), self.emits);
        let n = self.read_lines(pipe)?;
        self.waiting_since = if self.pending.is_empty() {
            None
        } else if was_empty || self.emits != emits {
            // What waits now arrived with this read.
            Some(std::time::Instant::now())
        } else {
            self.waiting_since
        };
        Ok(n)
    }

    fn read_lines(&mut self, pipe: &tokio::net::unix::pipe::Receiver) -> std::io::Result<usize> {
        let n = if self.pending.len() <= CARRY {
            READ_BUF.with(|buf| {
                let mut buf = buf.borrow_mut();
                let carry = self.pending.len();
                buf[..carry].copy_from_slice(&self.pending);
                let n = pipe.try_read(&mut buf[carry..])?;
                let data = &buf[..carry + n];
                match data[carry..].iter().rposition(|b| *b == b'\n') {
                    Some(p) => {
                        let end = carry + p + 1;
                        self.emit(&data[..end]);
                        self.pending.clear();
                        self.pending.extend_from_slice(&data[end..]);
                    }
                    None => {
                        self.pending.clear();
                        self.pending.extend_from_slice(data);
                    }
                }
                Ok::<_, std::io::Error>(n)
            })?
        } else {
            // A long line: read into this pump's own buffer, no copy to and fro.
            let start = self.pending.len();
            self.pending.reserve(READ_CHUNK);
            let n = pipe.try_read_buf(&mut self.pending)?;
            if let Some(p) = self.pending[start..].iter().rposition(|b| *b == b'\n') {
                let end = start + p + 1;
                let lines = std::mem::take(&mut self.pending);
                self.emit(&lines[..end]);
                self.pending = lines;
                self.pending.drain(..end);
            }
            n
        };
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            let piece = std::mem::replace(&mut self.pending, rest);
            self.emit(&piece);
        }
        if self.pending.capacity() > 2 * CARRY && self.pending.len() <= CARRY {
            self.pending.shrink_to(CARRY);
        }
        Ok(n)
    }

    /// Write `bytes` (whole lines, or a piece of one) to every file of the target,
    /// prefixing each line with the time when asked, and publish its lines to subscribers.
    fn emit(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.emits += 1;
        let subscribed = self
            .target
            .events
            .as_ref()
            .is_some_and(|(_, flags)| flags.logs());
        // One clock read for the prefix and the events: a followed line shows the time
        // its file line has.
        let now = (subscribed || self.target.time_format.is_some() || self.target.json)
            .then(chrono::Local::now);
        match self.target.time_format.as_deref() {
            _ if self.target.json => {
                let now = now.unwrap_or_else(chrono::Local::now);
                STAMPED.with(|out| {
                    let mut out = out.borrow_mut();
                    out.clear();
                    json_lines(&mut out, bytes, &self.target, now);
                    for file in &self.target.files {
                        file.append(&out, self.target.id);
                    }
                    if out.capacity() > 4 * READ_CHUNK {
                        *out = Vec::new();
                    }
                });
            }
            None => {
                for file in &self.target.files {
                    file.append(bytes, self.target.id);
                }
            }
            Some(fmt) => {
                let now = now.unwrap_or_else(chrono::Local::now);
                let key = match self.subsecond {
                    true => now.timestamp_nanos_opt().unwrap_or(0),
                    false => now.timestamp(),
                };
                if self.stamp.0 != key || self.stamp.1.is_empty() {
                    self.stamp = (key, format!("{}: ", now.format(fmt)));
                }
                let stamp = self.stamp.1.as_bytes();
                STAMPED.with(|out| {
                    let mut out = out.borrow_mut();
                    out.clear();
                    let mut start = self.at_line_start;
                    for piece in bytes.split_inclusive(|b| *b == b'\n') {
                        if start {
                            out.extend_from_slice(stamp);
                        }
                        out.extend_from_slice(piece);
                        start = piece.last() == Some(&b'\n');
                    }
                    for file in &self.target.files {
                        file.append(&out, self.target.id);
                    }
                    if out.capacity() > 4 * READ_CHUNK {
                        *out = Vec::new();
                    }
                });
            }
        }
        if let Some(console) = &self.target.console {
            console.output(
                &self.target.app,
                self.target.id,
                self.target.stream,
                bytes,
                self.at_line_start,
            );
        }
        self.at_line_start = bytes.last() == Some(&b'\n');
        if let (Some((bus, flags)), true) = (&self.target.events, subscribed) {
            // One bounded batch per write, sent only if the bus has room: a subscriber
            // that cannot keep up loses lines (and hears `lagged`), the daemon never
            // queues them without limit.
            let time = now.unwrap_or_else(chrono::Local::now).to_rfc3339();
            let mut lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
            let events: Vec<Event> = lines
                .by_ref()
                .take(LOG_BATCH)
                .map(|line| Event {
                    event: "log".into(),
                    app: Some(self.target.app.clone()),
                    id: Some(self.target.id),
                    time: Some(time.clone()),
                    stream: Some(self.target.stream.into()),
                    message: Some(String::from_utf8_lossy(line).into_owned()),
                    ..Event::default()
                })
                .collect();
            let mut lost = lines.count() as u64;
            if let Err(e) = bus.try_send(PublishLogs(events)) {
                let PublishLogs(events) = match e {
                    SendError::Full(m) | SendError::Closed(m) => m,
                };
                lost += events.len() as u64;
            }
            flags.lost_logs(lost, bus);
        }
    }
}

/// Append to `out` each line of `bytes` (a last piece without its newline too) as PM2's
/// `log_type: "json"` writes a chunk: `{"message":…,"timestamp":…,"type":"out"|"err",
/// "process_id":<id>,"app_name":…}` and a newline; the message keeps its newline, so the
/// lines joined are what the app wrote (bytes that are not UTF-8 become U+FFFD). The
/// timestamp is `now` in the target's `time_format`, or UTC as JavaScript's `toISOString`.
pub fn json_lines(
    out: &mut Vec<u8>,
    bytes: &[u8],
    target: &PumpTarget,
    now: chrono::DateTime<chrono::Local>,
) {
    let stamp = match target.time_format.as_deref() {
        Some(fmt) => now.format(fmt).to_string(),
        None => now
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
    };
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    // The same for every line of the batch.
    let tail = format!(
        ",\"timestamp\":{},\"type\":\"{}\",\"process_id\":{},\"app_name\":{}}}\n",
        quoted(&stamp),
        target.stream,
        target.id,
        quoted(&target.app)
    );
    for piece in bytes.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(b"{\"message\":");
        if serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(piece)).is_err() {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(tail.as_bytes());
    }
}

/// Whether a strftime format shows fractions of a second (`%f`, `%.f`, `%3f`, `%.6f`).
fn shows_subseconds(fmt: &str) -> bool {
    fmt.split('%').skip(1).any(|spec| {
        let spec = spec.strip_prefix('.').unwrap_or(spec);
        let spec = spec.trim_start_matches(|c: char| c.is_ascii_digit());
        spec.starts_with('f')
    })
}

/// Pumps still reading, process-wide: a runtime that ends waits for them ([`drained`]).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Woken when the last live pump ends.
fn all_done() -> &'static tokio::sync::Notify {
    static DONE: OnceLock<tokio::sync::Notify> = OnceLock::new();
    DONE.get_or_init(tokio::sync::Notify::new)
}

/// One live pump, counted in [`LIVE`] while it exists.
struct Live;

impl Live {
    fn new() -> Live {
        LIVE.fetch_add(1, Ordering::AcqRel);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if LIVE.fetch_sub(1, Ordering::AcqRel) == 1 {
            all_done().notify_waiters();
        }
    }
}

/// Wait until every pump has read its pipe to the end (the apps are gone, so their
/// write ends close), at most `limit`: a runtime that ends after its apps exited must
/// not drop the lines still in their pipes (`pmx run`'s last line, `pmx kill`'s tail).
/// True when every pump ended, false when `limit` passed first (a pipe still held open,
/// e.g. by a process that escaped its tree).
pub async fn drained(limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let done = all_done().notified();
        tokio::pin!(done);
        done.as_mut().enable();
        if LIVE.load(Ordering::Acquire) == 0 {
            return true;
        }
        if tokio::time::timeout_at(deadline, done).await.is_err() {
            return false;
        }
    }
}

/// [`pump`], then forget `label` in the fd holder: the pipe is drained and its writers are
/// gone, so nothing is left for a next daemon to read. Counted live from this call, as
/// [`pump`].
pub fn pump_then_forget(
    fd: OwnedFd,
    target: Arc<PumpTarget>,
    label: Option<String>,
) -> impl std::future::Future<Output = ()> {
    let pumping = pump(fd, target);
    async move {
        pumping.await;
        if let Some(label) = label {
            crate::fdstore::forget(&label);
        }
    }
}

/// Read `fd` until EOF, writing whole lines to `target`'s files. Runs on the log arbiter.
/// Counted live (see [`drained`]) from this call, before it is first polled.
pub fn pump(fd: OwnedFd, target: Arc<PumpTarget>) -> impl std::future::Future<Output = ()> {
    let live = Live::new();
    async move {
        let _live = live;
        read_to_end(fd, target).await
    }
}

/// [`pump`]'s loop.
async fn read_to_end(fd: OwnedFd, target: Arc<PumpTarget>) {
    let pipe = match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(
                "cannot read the {} pipe of {}: {e}",
                target.stream,
                target.app
            );
            return;
        }
    };
    let subsecond = target.time_format.as_deref().is_some_and(shows_subseconds);
    let mut state = PumpState {
        target,
        pending: Vec::new(),
        at_line_start: true,
        stamp: (0, String::new()),
        subsecond,
        waiting_since: None,
        emits: 0,
    };
    let mut grown = false;
    loop {
        let ready = match state.waiting_since {
            None => pipe.readable().await.map(|()| true),
            Some(since) if since.elapsed() >= PARTIAL_FLUSH => Ok(false),
            Some(since) => {
                let deadline = tokio::time::Instant::from_std(since + PARTIAL_FLUSH);
                // Boxed: a timer entry held inline would size every pump's future (two
                // per process, kept for its whole life) for this rare wait on a partial
                // line; the box lives only while such a line waits.
                match Box::pin(tokio::time::timeout_at(deadline, pipe.readable())).await {
                    Ok(r) => r.map(|()| true),
                    Err(_) => Ok(false),
                }
            }
        };
        match ready {
            Err(_) => break,
            Ok(false) => {
                // A prompt or a progress bar: write what waited, the line goes on.
                let piece = std::mem::take(&mut state.pending);
                state.emit(&piece);
                state.waiting_since = None;
                continue;
            }
            Ok(true) => {}
        }
        let result = state.read(&pipe);
        // A pipe that is always readable never makes `readable()` wait, and the writes are
        // synchronous: a flat-out writer would keep the log thread from every other app.
        // After a big read the pump goes to the back of the queue; small reads count
        // against tokio's budget (a yield every 128).
        match result {
            Ok(n) if n >= DEFAULT_PIPE => tokio::task::yield_now().await,
            _ => tokio::task::consume_budget().await,
        }
        match result {
            Ok(0) => break,
            Ok(n) if n >= DEFAULT_PIPE && !grown => {
                // The pipe was full: a chatty app. A bigger pipe (1 MiB, Linux's default
                // limit for unprivileged users) halves the wakeups and the lock handovers
                // per byte; quiet apps keep the default so the user's pipe budget is spared.
                grown = true;
                let _ = nix::fcntl::fcntl(
                    pipe.as_raw_fd(),
                    nix::fcntl::FcntlArg::F_SETPIPE_SZ(READ_CHUNK as i32),
                );
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
    }
    // A partial last line is written at exit; in a shared file it gets its newline (also
    // when its start was already written after waiting 1 s), so the next writer starts on
    // a line of its own.
    let mut last = std::mem::take(&mut state.pending);
    let open_line = !last.is_empty() || !state.at_line_start;
    if state.target.shared && open_line {
        last.push(b'\n');
    }
    state.emit(&last);
}

#[cfg(test)]
mod tests {

    #[test]
    fn json_lines_are_pm2s_objects_one_per_line_and_lossless() {
        use chrono::TimeZone;
        let target = |time_format: Option<&str>| super::PumpTarget {
            files: vec![],
            shared: false,
            time_format: time_format.map(str::to_string),
            json: true,
            app: "a\"pp".into(),
            id: 7,
            stream: "err",
            events: None,
            console: None,
        };
        let now = chrono::Local
            .timestamp_millis_opt(1_714_564_800_123)
            .single()
            .expect("a time");
        let year = now.format("%Y").to_string();
        // (bytes, time_format, the messages, the timestamp)
        type Case<'a> = (&'a [u8], Option<&'a str>, &'a [&'a str], &'a str);
        let cases: [Case; 4] = [
            (b"one\n", None, &["one\n"], "2024-05-01T12:00:00.123Z"),
            (
                b"a \"q\"\t\\\nb\n",
                None,
                &["a \"q\"\t\\\n", "b\n"],
                "2024-05-01T12:00:00.123Z",
            ),
            (b"partial", Some("%Y"), &["partial"], &year),
            (b"\xffbad\n", Some("%Y"), &["\u{fffd}bad\n"], &year),
        ];
        for (bytes, fmt, messages, stamp) in cases {
            let mut out = Vec::new();
            super::json_lines(&mut out, bytes, &target(fmt), now);
            let text = String::from_utf8(out).expect("utf-8");
            assert!(text.ends_with('\n'), "{text:?}");
            let objects: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
                .collect();
            assert_eq!(objects.len(), messages.len(), "{text:?}");
            for (o, m) in objects.iter().zip(messages) {
                assert_eq!(o["message"], *m);
                assert_eq!(o["timestamp"], *stamp);
                assert_eq!(o["type"], "err");
                assert_eq!(o["process_id"], 7);
                assert_eq!(o["app_name"], "a\"pp");
            }
        }
    }

    #[test]
    fn subsecond_formats_are_recognised() {
        for f in ["%H:%M:%S%.3f", "%f", "%.f", "%6f x"] {
            assert!(super::shows_subseconds(f), "{f}");
        }
        for f in ["%Y-%m-%dT%H:%M:%S", "%d/%m %H:%M", "f %F"] {
            assert!(!super::shows_subseconds(f), "{f}");
        }
    }
}
