//! Log actors: one [`LogFile`] per file an app writes (`<name>-out.log`,
//! `<name>-error.log`, a combined `log_file`), and the pipe pumps that feed them.
//!
//! Both live on the log arbiter, a thread of their own, so a chatty app never delays a
//! restart decision on the supervision arbiter (SPEC §7). A pump reads one pipe
//! asynchronously in large chunks, cuts them at the last newline, and hands whole lines
//! to every file of its stream; each file writes a batch with one `write` in append mode,
//! so lines of different streams or instances sharing a file never interleave. The pump
//! awaits each write: a slow disk fills the app's pipe and blocks the app instead of
//! growing a buffer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::events::{EventBus, Publish};
use crate::protocol::Event;

/// The longest line written in one piece, in bytes (1 MiB); longer lines are written in
/// contiguous pieces of this size.
pub const MAX_LINE: usize = 1 << 20;

/// How long bytes without a newline wait before they are written as they are (1 s).
pub const PARTIAL_FLUSH: Duration = Duration::from_secs(1);

/// How much one read takes from a pipe at most, in bytes.
const READ_CHUNK: usize = 64 * 1024;

/// One log file: owns the open file (append mode), its size, its rotation rule and the
/// count of lines it could not write.
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    failed_writes: u64,
    /// Bytes in the file (for `rotate.max_size`).
    size: u64,
    rotate: Option<pmx_config::Rotate>,
}

impl LogFile {
    /// A log actor for `path` (opened when started; created with its directory if missing),
    /// rotated by `rotate.max_size` when set (SPEC §7; `/dev/null` never rotates).
    pub fn new(path: PathBuf, rotate: Option<pmx_config::Rotate>) -> LogFile {
        let rotate = rotate.filter(|_| path != Path::new("/dev/null"));
        LogFile {
            path,
            file: None,
            failed_writes: 0,
            size: 0,
            rotate,
        }
    }

    /// With `rotate.interval`, the next rotation at the next boundary of the local clock.
    fn schedule_interval(&mut self, ctx: &mut Context<Self>) {
        let Some(interval) = self.rotate.and_then(|r| r.interval_ms) else {
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
    fn rotate_now(&mut self) {
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
        self.open();
    }

    fn open(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(f) => {
                self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(f);
            }
            Err(e) => {
                tracing::warn!("cannot open log file {}: {e}", self.path.display());
                self.file = None;
            }
        }
    }
}

impl Actor for LogFile {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        // Whole lines are queued by awaiting pumps; a small mailbox is the backpressure.
        ctx.set_mailbox_capacity(4);
        self.open();
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
        if self.size > 0 {
            self.rotate_now();
        }
        self.schedule_interval(ctx);
    }
}

/// Append these bytes (whole lines, or a partial line's flushed piece) in one write.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Append(pub Arc<[u8]>);

impl Handler<Append> for LogFile {
    type Result = ();
    fn handle(&mut self, msg: Append, _: &mut Context<Self>) {
        if self.file.is_none() {
            self.open();
        }
        let result = match self.file.as_mut() {
            Some(f) => f.write_all(&msg.0),
            None => Err(std::io::Error::other("not open")),
        };
        match result {
            Ok(()) => {
                self.size += msg.0.len() as u64;
                let max = self.rotate.as_ref().and_then(|r| r.max_size);
                if max.is_some_and(|max| self.size >= max) {
                    self.rotate_now();
                }
                if self.failed_writes > 0 {
                    tracing::warn!(
                        "log file {} writable again after {} lines could not be written",
                        self.path.display(),
                        self.failed_writes
                    );
                    self.failed_writes = 0;
                }
            }
            Err(e) => {
                let lines = msg.0.iter().filter(|b| **b == b'\n').count().max(1) as u64;
                if self.failed_writes == 0 {
                    tracing::error!("cannot write log file {}: {e}", self.path.display());
                }
                self.failed_writes += lines;
                self.file = None;
            }
        }
    }
}

/// Close and reopen the file (after an external rotation, or `flush`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reopen;

impl Handler<Reopen> for LogFile {
    type Result = ();
    fn handle(&mut self, _: Reopen, _: &mut Context<Self>) {
        self.open();
    }
}

/// Empty the file (`pmx flush`); answers once it is empty.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Truncate;

impl Handler<Truncate> for LogFile {
    type Result = ();
    fn handle(&mut self, _: Truncate, _: &mut Context<Self>) {
        if self.file.is_none() {
            self.open();
        }
        // Append mode: the next write lands at the new end, so no gap is left.
        if let Some(f) = self.file.as_ref() {
            if let Err(e) = f.set_len(0) {
                tracing::warn!("cannot empty {}: {e}", self.path.display());
            }
            self.size = 0;
        }
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
    pub files: Vec<Addr<LogFile>>,
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
    /// The event bus and whether anyone subscribes (log events are only built then).
    pub events: Option<(Addr<EventBus>, Arc<AtomicBool>)>,
}

thread_local! {
    /// The one read buffer of the log thread: every pump reads into it (without holding it
    /// across an await), so an idle app costs no buffer at all.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; READ_CHUNK]);
}

/// Read what the pipe holds now into `pending`; Ok(0) at EOF, Err(WouldBlock) when empty.
fn read_into(
    pipe: &tokio::net::unix::pipe::Receiver,
    pending: &mut Vec<u8>,
) -> std::io::Result<usize> {
    READ_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let n = pipe.try_read(&mut buf)?;
        pending.extend_from_slice(&buf[..n]);
        Ok(n)
    })
}

/// Read `fd` until EOF, writing whole lines to `target`'s files. Runs on the log arbiter.
pub async fn pump(fd: OwnedFd, target: PumpTarget) {
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
    // Bytes read but not yet written: a partial line (empty most of the time).
    let mut pending: Vec<u8> = Vec::new();
    // Whether the next byte written starts a line (for the time prefix).
    let mut at_line_start = true;
    loop {
        let ready = if pending.is_empty() {
            pipe.readable().await.map(|()| true)
        } else {
            match tokio::time::timeout(PARTIAL_FLUSH, pipe.readable()).await {
                Ok(r) => r.map(|()| true),
                Err(_) => Ok(false),
            }
        };
        match ready {
            Err(_) => break,
            Ok(false) => {
                // A prompt or a progress bar: write what waited, the line goes on.
                let piece = std::mem::take(&mut pending);
                emit(&target, &piece, &mut at_line_start).await;
                continue;
            }
            Ok(true) => {}
        }
        let start = pending.len();
        match read_into(&pipe, &mut pending) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
        if let Some(pos) = pending[start..].iter().rposition(|b| *b == b'\n') {
            let rest = pending[start + pos + 1..].to_vec();
            pending.truncate(start + pos + 1);
            let lines = std::mem::replace(&mut pending, rest);
            emit(&target, &lines, &mut at_line_start).await;
        }
        while pending.len() >= MAX_LINE {
            let rest = pending.split_off(MAX_LINE);
            let piece = std::mem::replace(&mut pending, rest);
            emit(&target, &piece, &mut at_line_start).await;
        }
    }
    if !pending.is_empty() {
        if target.shared {
            pending.push(b'\n');
        }
        emit(&target, &pending, &mut at_line_start).await;
    }
}

/// Write `bytes` (whole lines, or a piece of one) to every file of `target`, prefixing
/// each line with the time when asked, and publish its lines to subscribers.
async fn emit(target: &PumpTarget, bytes: &[u8], at_line_start: &mut bool) {
    let data: Arc<[u8]> = match &target.time_format {
        None => Arc::from(bytes),
        Some(fmt) => {
            let stamp = chrono::Local::now().format(fmt).to_string();
            let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
            let mut start = *at_line_start;
            for piece in bytes.split_inclusive(|b| *b == b'\n') {
                if start {
                    out.extend_from_slice(stamp.as_bytes());
                    out.extend_from_slice(b": ");
                }
                out.extend_from_slice(piece);
                start = piece.last() == Some(&b'\n');
            }
            Arc::from(out)
        }
    };
    *at_line_start = bytes.last() == Some(&b'\n');
    for file in &target.files {
        // A closed file actor (the app is being deleted) just drops the bytes.
        let _ = file.send(Append(data.clone())).await;
    }
    if let Some((bus, subscribed)) = &target.events {
        if subscribed.load(Ordering::Relaxed) {
            let time = chrono::Local::now().to_rfc3339();
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                bus.do_send(Publish(Event {
                    event: "log".into(),
                    app: Some(target.app.clone()),
                    id: Some(target.id),
                    time: Some(time.clone()),
                    stream: Some(target.stream.into()),
                    message: Some(String::from_utf8_lossy(line).into_owned()),
                    ..Event::default()
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::until_boundary;

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
