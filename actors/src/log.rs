//! Log files: one [`LogHandle`] (a [`Sink`] and its control) per file an app writes
//! (`<name>-out.log`, `<name>-error.log`, a combined `log_file`), a [`LogFile`] actor
//! only for a file rotated on an interval (its timer), and the pipe pumps that feed them.
//!
//! All live on the log arbiter, a thread of their own, so a chatty app never delays a
//! restart decision on the supervision arbiter (SPEC §7). A pump reads one pipe
//! asynchronously in large chunks, cuts them at the last newline, and hands whole lines
//! to every file of its stream; each file writes a batch with one `write` in append mode,
//! so lines of different streams or instances sharing a file never interleave. The pump
//! awaits each write: a slow disk fills the app's pipe and blocks the app instead of
//! growing a buffer.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;

use crate::events::{BusFlags, EventBus, Publish, PublishLogs, LOG_BATCH};
use crate::protocol::Event;

/// The longest line written in one piece, in bytes (1 MiB); longer lines are written in
/// contiguous pieces of this size.
pub const MAX_LINE: usize = 1 << 20;

/// How long bytes without a newline wait before they are written as they are (1 s).
pub const PARTIAL_FLUSH: Duration = Duration::from_secs(1);

/// How much one read takes from a pipe at most, in bytes (1 MiB: the size a chatty app's
/// pipe is grown to).
const READ_CHUNK: usize = 1 << 20;

/// A pipe's default capacity, in bytes: a read that takes this much found the pipe full.
const DEFAULT_PIPE: usize = 64 * 1024;

/// The most bytes of a partial line carried in front of the shared read buffer; a longer
/// partial line is read into its pump's own buffer instead, in bytes.
const CARRY: usize = 64 * 1024;

/// What `describe` shows of one log file: lines that could not be written and the fault
/// now in effect. Shared between the file's writer (log thread) and its App supervisor.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Lines that could not be written since the file was opened by this daemon.
    lost: AtomicU64,
    /// The write fault in effect (`cannot write <path>: <error>`), None once writable.
    fault: Mutex<Option<String>>,
}

impl LogStats {
    /// Lines that could not be written so far.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// The fault in effect, if any.
    pub fn fault(&self) -> Option<String> {
        self.fault.lock().map(|f| f.clone()).unwrap_or(None)
    }
}

/// The app a log file belongs to, for fault events.
#[derive(Clone)]
pub struct Owner {
    /// The app's name.
    pub app: String,
    /// Where `log_fault` / `log_recovered` events go.
    pub bus: Option<Addr<EventBus>>,
    /// The id of the first instance writing to the file: named in the events of faults
    /// met outside a write (opening, reopening, rotating on a timer).
    pub first_id: u64,
}

/// One open log file and its rules: written by the pumps of every stream and instance
/// that share it (whole lines, one `write` per batch, on the log thread) and managed by
/// its [`LogFile`] actor (rotation timer, reopen, truncate).
pub struct Sink {
    path: PathBuf,
    /// `/dev/null`: nothing is opened or written.
    null: bool,
    file: Option<File>,
    /// (device, inode) of the open file, to notice the path now names another file.
    ident: Option<(u64, u64)>,
    /// Bytes in the file (for `rotate.max_size`).
    size: u64,
    rotate: Option<pmx_config::Rotate>,
    /// Lines lost in the fault in effect (0 when none).
    lost_now: u64,
    faulty: bool,
    stats: Arc<LogStats>,
    owner: Owner,
}

impl Sink {
    fn new(path: PathBuf, rotate: Option<pmx_config::Rotate>, owner: Owner) -> Sink {
        let null = path == Path::new("/dev/null");
        Sink {
            rotate: rotate.filter(|_| !null),
            path,
            null,
            file: None,
            ident: None,
            size: 0,
            lost_now: 0,
            faulty: false,
            stats: Arc::default(),
            owner,
        }
    }

    /// Open the file in append mode (its directory created if missing). Ok(false): it could
    /// not be opened, and the fault is reported.
    /// `id`: the instance on whose behalf it is opened (named if it fails).
    fn open(&mut self, id: u64) -> bool {
        self.file = None;
        self.ident = None;
        if self.null {
            return true;
        }
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|f| f.metadata().map(|m| (f, m)));
        match opened {
            Ok((f, m)) => {
                self.size = m.len();
                self.ident = Some((m.dev(), m.ino()));
                self.file = Some(f);
                true
            }
            Err(e) => {
                self.fault(&e, id);
                false
            }
        }
    }

    /// Whether the path still names the open file: a deleted or moved file (a removed
    /// directory, an external logrotate, a file swapped for a link) is reopened at the next
    /// write, so no line goes into a file nobody can see.
    fn still_there(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(m) => self.ident == Some((m.dev(), m.ino())),
            Err(_) => false,
        }
    }

    /// Append whole lines (or a piece of a long one): one `write` per batch, cut at line
    /// boundaries where `rotate.max_size` says to rotate.
    /// `id` is the writing instance's, named in a fault event.
    fn append(&mut self, data: &[u8], id: u64) {
        if self.null || data.is_empty() {
            return;
        }
        if (self.file.is_none() || !self.still_there()) && !self.open(id) {
            self.lose(data);
            return;
        }
        let max = self.rotate.and_then(|r| r.max_size);
        let mut rest = data;
        while !rest.is_empty() {
            let n = match max {
                None => rest.len(),
                Some(max) => cut(rest, max.saturating_sub(self.size) as usize, self.size),
            };
            if n > 0 {
                self.write(&rest[..n], id);
                rest = &rest[n..];
            }
            if max.is_some_and(|m| self.size >= m) || (n == 0 && !rest.is_empty()) {
                self.rotate_now(id);
            }
        }
    }

    fn write(&mut self, data: &[u8], id: u64) {
        let result = match self.file.as_mut() {
            Some(f) => f.write_all(data),
            None => Err(std::io::Error::other("not open")),
        };
        match result {
            Ok(()) => {
                self.size += data.len() as u64;
                if self.faulty {
                    self.recovered(id);
                }
            }
            Err(e) => {
                self.fault(&e, id);
                self.lose(data);
                // Reopened at the next write: the fault may be gone by then.
                self.file = None;
            }
        }
    }

    /// Count the lines of `data` as lost (a piece without a newline counts as one).
    fn lose(&mut self, data: &[u8]) {
        let lines = (count_lines(data) as u64).max(1);
        self.lost_now += lines;
        self.stats.lost.fetch_add(lines, Ordering::Relaxed);
    }

    /// A write fault begins (reported once, however long it lasts).
    fn fault(&mut self, e: &std::io::Error, id: u64) {
        if self.faulty {
            return;
        }
        self.faulty = true;
        let reason = format!("cannot write {}: {e}", self.path.display());
        tracing::error!(
            "{reason} (app {}); counting the lines that cannot be written",
            self.owner.app
        );
        if let Ok(mut f) = self.stats.fault.lock() {
            *f = Some(reason.clone());
        }
        self.publish("log_fault", id, reason, None);
    }

    /// Writing works again: report how many lines the fault cost.
    fn recovered(&mut self, id: u64) {
        self.faulty = false;
        let lost = std::mem::take(&mut self.lost_now);
        let reason = format!(
            "{} is writable again; {lost} lines could not be written",
            self.path.display()
        );
        tracing::warn!("{reason} (app {})", self.owner.app);
        if let Ok(mut f) = self.stats.fault.lock() {
            *f = None;
        }
        self.publish("log_recovered", id, reason, Some(lost));
    }

    fn publish(&self, event: &str, id: u64, reason: String, dropped: Option<u64>) {
        if let Some(bus) = &self.owner.bus {
            bus.do_send(Publish(Event {
                event: event.into(),
                app: Some(self.owner.app.clone()),
                id: Some(id),
                time: Some(chrono::Local::now().to_rfc3339()),
                reason: Some(reason),
                dropped,
                ..Event::default()
            }));
        }
    }

    /// `<file>.<k>`, with `.gz` when rotated files are compressed.
    fn rotated(&self, k: u32, gz: bool) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{k}"));
        if gz {
            name.push(".gz");
        }
        PathBuf::from(name)
    }

    /// Rotate: `<file>.1` is the newest rotated file, `<file>.<keep>` the oldest kept, the
    /// one beyond is removed; the live file starts empty. The new `<file>.1` is gzipped
    /// here, on the log thread, before the next rotation can rename it (the apps' output
    /// waits meanwhile, as it waits for a slow disk; the supervision thread never does).
    fn rotate_now(&mut self, id: u64) {
        let Some(rule) = self.rotate else {
            return;
        };
        self.file = None;
        let gz = rule.compress;
        let keep = rule.keep.max(1);
        let _ = std::fs::remove_file(self.rotated(keep, gz));
        for k in (1..keep).rev() {
            let _ = std::fs::rename(self.rotated(k, gz), self.rotated(k + 1, gz));
        }
        let first = self.rotated(1, false);
        if let Err(e) = std::fs::rename(&self.path, &first) {
            tracing::warn!("cannot rotate {}: {e}", self.path.display());
        } else if gz {
            if let Err(e) = gzip(&first, &self.rotated(1, true)) {
                tracing::warn!("cannot compress {}: {e}", first.display());
            }
        }
        self.size = 0;
        self.open(id);
    }

    /// Empty the file (append mode: the next write lands at offset 0, leaving no gap).
    fn truncate(&mut self) {
        if self.null {
            return;
        }
        if (self.file.is_none() || !self.still_there()) && !self.open(self.owner.first_id) {
            return;
        }
        if let Some(f) = self.file.as_ref() {
            if let Err(e) = f.set_len(0) {
                tracing::warn!("cannot empty {}: {e}", self.path.display());
            }
            self.size = 0;
        }
    }
}

/// How many bytes of `data` to write before rotating, given `room` bytes left below
/// `max_size` in a file of `size` bytes: the whole lines that fit; none when not even the
/// first fits in a non-empty file (rotate first); a line longer than `max_size` alone.
fn cut(data: &[u8], room: usize, size: u64) -> usize {
    if data.len() <= room {
        return data.len();
    }
    match data[..room].iter().rposition(|b| *b == b'\n') {
        Some(p) => p + 1,
        None if size > 0 => 0,
        None => data
            .iter()
            .position(|b| *b == b'\n')
            .map_or(data.len(), |p| p + 1),
    }
}

fn count_lines(data: &[u8]) -> usize {
    data.iter().filter(|b| **b == b'\n').count()
}

/// A log file as the rest of the daemon sees it: its sink (the pumps' write path) and the
/// log thread its control runs on (open, reopen, truncate, in order with the writes).
/// Only a file rotated on an interval has a [`LogFile`] actor (its timer): an actor per
/// file was ~1 KiB per file of every app (its task, mailbox and addresses). Cheap to clone.
#[derive(Clone)]
pub struct LogHandle {
    /// The log thread.
    arbiter: ArbiterHandle,
    sink: Arc<Mutex<Sink>>,
    /// The rotation timer's actor (`rotate.interval` only); it lives as long as a handle.
    _timer: Option<Addr<LogFile>>,
    /// Lost lines and the fault in effect, for `describe`.
    pub stats: Arc<LogStats>,
}

impl PartialEq for LogHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.sink, &other.sink)
    }
}

impl LogHandle {
    /// A log file at `path` (opened on the log arbiter; created with its directory if
    /// missing; `/dev/null` is never opened), rotated by `rotate` when set (SPEC §7).
    pub fn start(
        arbiter: &ArbiterHandle,
        path: PathBuf,
        rotate: Option<pmx_config::Rotate>,
        owner: Owner,
    ) -> LogHandle {
        let timed = rotate.and_then(|r| r.interval_ms).is_some();
        let sink = Sink::new(path, rotate, owner);
        let stats = sink.stats.clone();
        let sink = Arc::new(Mutex::new(sink));
        let handle = LogHandle {
            arbiter: arbiter.clone(),
            sink: sink.clone(),
            _timer: None,
            stats,
        };
        if timed {
            // The actor opens the file when it starts, then arms its timer.
            let timer = LogFile::start_in_arbiter(arbiter, move |_| LogFile { sink });
            return LogHandle {
                _timer: Some(timer),
                ..handle
            };
        }
        // Opened on the log thread before any pump (spawned there later) writes to it;
        // not waited for (the work is queued when the future is made).
        drop(handle.on_log_thread(open_if_closed));
        handle
    }

    fn append(&self, data: &[u8], id: u64) {
        lock(&self.sink).append(data, id);
    }

    /// Close and reopen the file (after an external rotation, or SIGUSR2); resolves once
    /// done (at once if the log thread is gone).
    pub fn reopen(&self) -> impl std::future::Future<Output = ()> {
        self.on_log_thread(|sink| {
            let id = sink.owner.first_id;
            sink.open(id);
        })
    }

    /// Empty the file (`pmx flush`); resolves once it is empty.
    pub fn truncate(&self) -> impl std::future::Future<Output = ()> {
        self.on_log_thread(Sink::truncate)
    }

    /// Run `f` on the sink on the log thread, after the writes queued before it (queued
    /// now; the future resolves once it ran).
    fn on_log_thread(
        &self,
        f: impl FnOnce(&mut Sink) + Send + 'static,
    ) -> impl std::future::Future<Output = ()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = self.sink.clone();
        self.arbiter.spawn_fn(move || {
            f(&mut lock(&sink));
            let _ = tx.send(());
        });
        async move {
            let _ = rx.await;
        }
    }
}

/// Open the sink's file unless it is open (or `/dev/null`).
fn open_if_closed(sink: &mut Sink) {
    if sink.file.is_none() {
        let id = sink.owner.first_id;
        sink.open(id);
    }
}

/// The sink's lock: only the log thread takes it for writing, so it is never contended
/// in practice; a writer that panicked leaves a usable sink (its state is counters).
fn lock(sink: &Mutex<Sink>) -> MutexGuard<'_, Sink> {
    sink.lock().unwrap_or_else(|e| e.into_inner())
}

/// The rotation timer of a log file rotated on an interval (`rotate.interval`); the lines
/// themselves go through its [`Sink`], written by the pumps on the same thread.
pub struct LogFile {
    sink: Arc<Mutex<Sink>>,
}

impl LogFile {
    /// With `rotate.interval`, the next rotation at the next boundary of the local clock.
    fn schedule_interval(&mut self, ctx: &mut Context<Self>) {
        let Some(interval) = lock(&self.sink).rotate.and_then(|r| r.interval_ms) else {
            return;
        };
        let now = chrono::Local::now();
        let ms_of_day = u64::from(chrono::Timelike::num_seconds_from_midnight(&now)) * 1000
            + u64::from(chrono::Timelike::nanosecond(&now) / 1_000_000);
        ctx.notify_later(
            RotateTick,
            Duration::from_millis(until_boundary(ms_of_day, interval)),
        );
    }
}

impl Actor for LogFile {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        open_if_closed(&mut lock(&self.sink));
        self.schedule_interval(ctx);
    }
}

/// The ms from `now_ms_of_day` (ms since local midnight) to the next multiple of
/// `interval_ms` counted from local midnight: `1d` rotates at midnight, `1h` on the hour.
pub fn until_boundary(now_ms_of_day: u64, interval_ms: u64) -> u64 {
    let interval = interval_ms.max(1000);
    interval - now_ms_of_day % interval
}

/// Interval timer: rotate now (if anything was written) and set the next one.
#[derive(Message)]
#[rtype(result = "()")]
struct RotateTick;

impl Handler<RotateTick> for LogFile {
    type Result = ();
    fn handle(&mut self, _: RotateTick, ctx: &mut Context<Self>) {
        {
            let mut sink = lock(&self.sink);
            if sink.size > 0 {
                let id = sink.owner.first_id;
                sink.rotate_now(id);
            }
        }
        self.schedule_interval(ctx);
    }
}

/// gzip `from` into `to` (written beside it, then `from` removed).
fn gzip(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut input = File::open(from)?;
    let tmp = to.with_extension("gz.tmp");
    let mut enc =
        flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::default());
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?.sync_all()?;
    std::fs::rename(&tmp, to)?;
    std::fs::remove_file(from)
}

/// Where one pipe's lines go.
#[derive(Clone)]
pub struct PumpTarget {
    /// Every file of this stream (its own, and the combined `log_file` if any).
    pub files: Vec<LogHandle>,
    /// Whether a file is shared with another stream or instance: a partial last line then
    /// gets a newline so the next writer starts on a line of its own.
    pub shared: bool,
    /// With `logs.time`: the strftime format of the `<timestamp>: ` prefix.
    pub time_format: Option<String>,
    /// The app's name, for log events.
    pub app: String,
    /// The instance's id, for log events.
    pub id: u64,
    /// `"out"` or `"err"`.
    pub stream: &'static str,
    /// The event bus and its flags: whether anyone subscribes to log lines (events are
    /// only built then) and the count of lines it could not take.
    pub events: Option<(Addr<EventBus>, BusFlags)>,
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
        let now = (subscribed || self.target.time_format.is_some()).then(chrono::Local::now);
        match self.target.time_format.as_deref() {
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

/// Whether a strftime format shows fractions of a second (`%f`, `%.f`, `%3f`, `%.6f`).
fn shows_subseconds(fmt: &str) -> bool {
    fmt.split('%').skip(1).any(|spec| {
        let spec = spec.strip_prefix('.').unwrap_or(spec);
        let spec = spec.trim_start_matches(|c: char| c.is_ascii_digit());
        spec.starts_with('f')
    })
}

/// Read `fd` until EOF, writing whole lines to `target`'s files. Runs on the log arbiter.
pub async fn pump(fd: OwnedFd, target: Arc<PumpTarget>) {
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
    use super::{cut, until_boundary};

    #[test]
    fn subsecond_formats_are_recognised() {
        for f in ["%H:%M:%S%.3f", "%f", "%.f", "%6f x"] {
            assert!(super::shows_subseconds(f), "{f}");
        }
        for f in ["%Y-%m-%dT%H:%M:%S", "%d/%m %H:%M", "f %F"] {
            assert!(!super::shows_subseconds(f), "{f}");
        }
    }

    #[test]
    fn rotation_cuts_batches_at_line_boundaries() {
        // (data, room left, file size, bytes written before rotating)
        let cases: [(&[u8], usize, u64, usize); 6] = [
            (b"aa\nbb\n", 10, 0, 6),    // everything fits
            (b"aa\nbb\ncc\n", 7, 3, 6), // the lines that fit
            (b"aaaa\nbb\n", 2, 8, 0),   // not even the first: rotate first
            (b"aaaa\nbb\n", 2, 0, 5),   // an empty file takes one long line alone
            (b"aaaaaa", 2, 0, 6),       // a piece without newline, alone
            (b"aa\nbb\n", 0, 10, 0),    // a full file: rotate first
        ];
        for (data, room, size, want) in cases {
            assert_eq!(cut(data, room, size), want, "{:?} room {room}", data);
        }
    }

    #[test]
    fn interval_rotation_is_aligned_to_the_local_clock() {
        const H: u64 = 3_600_000;
        const D: u64 = 24 * H;
        let cases = [
            (0, D, D),              // at midnight: the next midnight
            (23 * H, D, H),         // 23:00 with 1d: one hour to midnight
            (10 * H + 1, H, H - 1), // just past 10:00 with 1h: on the hour
            (10 * H + 30 * 60_000, H, 30 * 60_000),
            (1_500, 2_000, 500), // 2 s: the next even second
            (0, 10, 1_000),      // below a second: one second
        ];
        for (now, interval, want) in cases {
            assert_eq!(
                until_boundary(now, interval),
                want,
                "now {now} interval {interval}"
            );
        }
    }
}
