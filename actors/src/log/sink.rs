//! A log file's writer (`Sink`: one open file in append mode, size rotation, faults) and
//! its handle, whose control runs as closures on the log thread in order with the writes.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;

use crate::events::{EventBus, Publish};
use crate::os::safe_path;
use crate::protocol::Event;

use super::*;

/// What `describe` shows of one log file: lines that could not be written and the fault
/// now in effect. Shared between the file's writer (log thread) and its App supervisor.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Lines that could not be written since the file was opened by this daemon.
    lost: AtomicU64,
    /// Lines written since then (newlines: a line's last piece counts it).
    written: AtomicU64,
    /// The write fault in effect (`cannot write <path>: <error>`), None once writable.
    fault: Mutex<Option<String>>,
}

impl LogStats {
    /// Lines that could not be written so far.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
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
    /// (device, inode) of the link the path is, when the file was opened through one that
    /// the rule for links allowed (`os::safe_path`).
    link: Option<(u64, u64)>,
    /// The mode a new file is created with: 0600 at first, then the mode of the file last
    /// opened or rotated, so a file recreated after a rotation keeps the mode its user gave
    /// the old one (logrotate's `create` without a mode does the same).
    mode: u32,
    /// Bytes in the file (for `rotate.max_size`).
    pub(super) size: u64,
    pub(super) rotate: Option<pmx_config::Rotate>,
    /// Lines lost in the fault in effect (0 when none).
    lost_now: u64,
    faulty: bool,
    stats: Arc<LogStats>,
    pub(super) owner: Owner,
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
            link: None,
            mode: safe_path::PRIVATE_FILE,
            size: 0,
            lost_now: 0,
            faulty: false,
            stats: Arc::default(),
            owner,
        }
    }

    /// Open the file in append mode (its missing directories created 0700, the file 0600
    /// if new), never through a link another user could have planted: the last component
    /// is opened with `O_NOFOLLOW`, and a link anywhere in the path is followed only when
    /// its owner is pmx's user or root and its directory is one only they control
    /// (`os::safe_path`: the kernel's protected_symlinks, systemd's unsafe transition,
    /// logrotate's insecure parent). Ok(false): it could not be opened, and the fault is
    /// reported (`log_fault`, `describe`'s log fault).
    /// `id`: the instance on whose behalf it is opened (named if it fails).
    fn open(&mut self, id: u64) -> bool {
        self.file = None;
        self.ident = None;
        self.link = None;
        if self.null {
            return true;
        }
        let opened = safe_path::open_append(&self.path, self.mode)
            .and_then(|o| o.file.metadata().map(|m| (o, m)));
        match opened {
            Ok((o, m)) => {
                self.size = m.len();
                self.ident = Some((m.dev(), m.ino()));
                self.link = o.link;
                self.mode = m.mode() & 0o7777;
                self.file = Some(o.file);
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
    /// write, so no line goes into a file nobody can see, and a link swapped in after the
    /// open goes through the rule for links again. One `lstat` (two when the path is a
    /// link that was allowed).
    fn still_there(&self) -> bool {
        let Ok(l) = std::fs::symlink_metadata(&self.path) else {
            return false;
        };
        if !l.file_type().is_symlink() {
            return self.link.is_none() && self.ident == Some((l.dev(), l.ino()));
        }
        self.link == Some((l.dev(), l.ino()))
            && std::fs::metadata(&self.path).is_ok_and(|m| self.ident == Some((m.dev(), m.ino())))
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
                // One vectorised count and one add per write (a batch of lines), as a
                // loss is counted: nothing per line.
                let lines = memchr::memchr_iter(b'\n', data).count() as u64;
                self.stats.written.fetch_add(lines, Ordering::Relaxed);
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
    pub(super) fn rotate_now(&mut self, id: u64) {
        let Some(rule) = self.rotate else {
            return;
        };
        // The new file and the compressed copy get the mode the file has now (a user's
        // chmod since the open included), as logrotate's `create` without a mode.
        if let Some(m) = self.file.as_ref().and_then(|f| f.metadata().ok()) {
            self.mode = m.mode() & 0o7777;
        }
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
            if let Err(e) = gzip(&first, &self.rotated(1, true), self.mode) {
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

    pub(super) fn append(&self, data: &[u8], id: u64) {
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
pub(super) fn open_if_closed(sink: &mut Sink) {
    if sink.file.is_none() {
        let id = sink.owner.first_id;
        sink.open(id);
    }
}

/// The sink's lock: only the log thread takes it for writing, so it is never contended
/// in practice; a writer that panicked leaves a usable sink (its state is counters).
pub(super) fn lock(sink: &Mutex<Sink>) -> MutexGuard<'_, Sink> {
    sink.lock().unwrap_or_else(|e| e.into_inner())
}

/// gzip `from` into `to` (written beside it with `mode`, then `from` removed). Neither
/// is opened through a link: the rotated file is read with `O_NOFOLLOW`, and the
/// temporary file is created anew (`O_EXCL`, `O_NOFOLLOW`), so a link planted under either
/// name in a shared directory makes the compression fail instead of reading or
/// overwriting its target.
fn gzip(from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
    let mut input = safe_path::open_read_nofollow(from)?;
    if !input.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let tmp = to.with_extension("gz.tmp");
    let mut enc = flate2::write::GzEncoder::new(
        safe_path::create_new(&tmp, mode)?,
        flate2::Compression::default(),
    );
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?.sync_all()?;
    std::fs::rename(&tmp, to)?;
    std::fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::{cut, Owner, Sink};
    use std::path::PathBuf;

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
    fn the_reopen_check_accepts_an_allowed_link_and_notices_one_swapped_in() {
        let dir = std::env::temp_dir().join(format!("pmx-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("dir");
        let owner = || Owner {
            app: "a".into(),
            bus: None,
            first_id: 0,
        };
        // A plain file: still there until it is swapped for a link.
        let plain = dir.join("plain.log");
        let mut sink = Sink::new(plain.clone(), None, owner());
        assert!(sink.open(0));
        assert!(sink.still_there());
        std::fs::remove_file(&plain).expect("rm");
        std::os::unix::fs::symlink(dir.join("elsewhere"), &plain).expect("link");
        assert!(!sink.still_there(), "a link swapped in is noticed");
        // A link of pmx's own user: opened through it, and not reopened at every batch.
        let linked: PathBuf = dir.join("linked.log");
        std::os::unix::fs::symlink(dir.join("target.log"), &linked).expect("link");
        let mut sink = Sink::new(linked.clone(), None, owner());
        assert!(sink.open(0));
        assert!(
            sink.still_there(),
            "the allowed link is the file it was opened as"
        );
        std::fs::remove_file(dir.join("target.log")).expect("rm");
        assert!(!sink.still_there(), "its target removed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
