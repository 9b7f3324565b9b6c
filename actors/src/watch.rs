//! The Watch actor: ONE inotify watcher (`notify::RecommendedWatcher`, one thread) for the
//! whole daemon, on the log arbiter, fanning file changes out to the apps that watch
//! (SPEC §4 `watch`, `ignore_watch`, `watch_delay`). notify starts a thread per watcher,
//! so a watcher per app would cost a thread each; the one watcher is made at the first
//! registration, so a daemon where nothing watches has no thread for it.
//!
//! An app registers ([`Register`]) its roots (absolute: the app's cwd for `watch: true`,
//! the resolved `Paths([...])`), its `ignore_watch` globs and its `watch_delay`, with a
//! [`Recipient`] of [`Changed`]; a registration under a key already held replaces it
//! (PM2 #514: `restart --watch` never adds a second watcher). Every directory below a root
//! gets a non-recursive inotify watch, except those ignored (`node_modules`, `.git`,
//! `ignore_watch`) and `$PMX_HOME`, so a big ignored tree costs nothing; a directory
//! created (or moved in) later is added as it appears. A watch is shared by every app
//! that needs its directory (counted).
//!
//! An event counts when something was created, removed, renamed, written or had its
//! metadata changed (a read or an open does not: an app loading its own files would
//! restart itself). It is dropped when it is under `$PMX_HOME` (pmx's own files: the
//! default log directory, pid files, dumps) or is a log file pmx writes for any app
//! ([`LogFiles`]: `out_file`/`error_file`/`log_file` and their rotated siblings
//! `<file>.<k>[.gz]`), so an app whose log sits in its watched tree does not restart
//! itself forever (PM2 #1653); else each app whose root holds it and whose
//! `ignore_watch` lets it through (see [`Ignore`]) has its timer reset: one actix timer
//! per app, fired once the tree has been quiet for `watch_delay`, sends one [`Changed`].
//!
//! The inotify limits (`fs.inotify.max_user_watches`: ENOSPC from `inotify_add_watch`;
//! `fs.inotify.max_user_instances`: EMFILE from `inotify_init`) fail the registration, not
//! the app nor the daemon: the app's watches are given back (a half-watched tree would
//! miss changes silently), it runs unwatched, its registration answers the reason naming
//! the sysctl (shown by `describe`), and pmx.log says it once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};

/// An app's compiled `ignore_watch` (SPEC §4), PM2's defaults included.
pub use pmx_config::WatchIgnore as Ignore;

/// A fresh registration key (unique in the process): one per App supervisor.
pub fn next_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Files changed under an app's watched paths, and the tree has been quiet for its
/// `watch_delay` since: sent once per burst to the registration's recipient.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Changed {
    /// The registration key it is for (a stale one is ignored by the app).
    pub key: u64,
    /// The last path that changed in the burst.
    pub path: PathBuf,
}

/// Watch `roots` for the app holding `key` (replacing what it had): answers how many
/// directories are watched, or why nothing is (an inotify limit, with the sysctl to
/// raise; a bad glob; no root exists).
#[derive(Message)]
#[rtype(result = "Result<Watching, String>")]
pub struct Register {
    /// The app's key ([`next_key`]).
    pub key: u64,
    /// Absolute files or directories; a directory is watched recursively.
    pub roots: Vec<PathBuf>,
    /// `ignore_watch` (see [`Ignore`]).
    pub ignore: Vec<String>,
    /// `watch_delay`, ms.
    pub delay_ms: u64,
    /// Where [`Changed`] goes.
    pub to: Recipient<Changed>,
}

/// What a [`Register`] watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watching {
    /// Directories with an inotify watch for this app.
    pub dirs: usize,
}

/// Stop watching for `key` (a stop by hand, a delete, watch turned off); its pending
/// timer is dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister(pub u64);

/// The log files an app writes outside `$PMX_HOME` (empty: none, or the app is gone);
/// every watcher ignores them and their rotated siblings.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LogFiles {
    /// The app's key.
    pub key: u64,
    /// Absolute paths.
    pub files: Vec<PathBuf>,
}

/// One event from the notify thread.
#[derive(Message)]
#[rtype(result = "()")]
struct Fs(notify::Result<notify::Event>);

/// One app's registration.
struct Reg {
    roots: Vec<PathBuf>,
    ignore: Ignore,
    delay: Duration,
    to: Recipient<Changed>,
    /// The directories watched for it.
    dirs: HashSet<PathBuf>,
    timer: Option<SpawnHandle>,
    last: Option<PathBuf>,
}

impl Reg {
    /// `path` relative to the root holding it, if one does (a file root: itself only).
    fn rel<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        self.roots.iter().find_map(|r| path.strip_prefix(r).ok())
    }
}

/// The Watch actor (see the module's doc).
pub struct Watch {
    home: PathBuf,
    watcher: Option<notify::RecommendedWatcher>,
    regs: HashMap<u64, Reg>,
    /// Every directory with an inotify watch, and how many registrations need it.
    dirs: HashMap<PathBuf, u32>,
    /// Log files by directory: their names.
    logs: HashMap<u64, Vec<PathBuf>>,
    /// An inotify limit was reported in pmx.log already.
    limit_said: bool,
}

/// What an inotify error means for a user, naming the sysctl to raise; None when it is
/// not a limit. ENOSPC from `inotify_add_watch` (notify's `MaxFilesWatch`) is
/// `fs.inotify.max_user_watches`; EMFILE from `inotify_init` is
/// `fs.inotify.max_user_instances`.
pub fn limit_message(e: &notify::Error) -> Option<String> {
    let watches = "the inotify watch limit is reached: raise the sysctl fs.inotify.max_user_watches (sysctl -w fs.inotify.max_user_watches=524288)";
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => Some(watches.to_string()),
        notify::ErrorKind::Io(io) => match io.raw_os_error() {
            Some(libc::ENOSPC) => Some(watches.to_string()),
            Some(libc::EMFILE) => Some(
                "too many inotify instances: raise the sysctl fs.inotify.max_user_instances (sysctl -w fs.inotify.max_user_instances=512)"
                    .to_string(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// Every directory below `root` to watch (`root` first), skipping what `ignore` ignores,
/// `home` and symbolic links (not followed: a link out of the tree would watch elsewhere).
fn walk(root: &Path, under: &Path, ignore: &Ignore, home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![under.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        out.push(d);
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if p.starts_with(home) {
                continue;
            }
            if p.strip_prefix(root).is_ok_and(|rel| ignore.ignored(rel)) {
                continue;
            }
            stack.push(p);
        }
    }
    out
}

/// Whether the event says the tree changed (not a read or an open).
fn counts(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

impl Watch {
    /// The Watch actor of the daemon under `home` (`$PMX_HOME`, never watched).
    pub fn new(home: PathBuf) -> Watch {
        Watch {
            home,
            watcher: None,
            regs: HashMap::new(),
            dirs: HashMap::new(),
            logs: HashMap::new(),
            limit_said: false,
        }
    }

    /// Say a limit once in pmx.log.
    fn say_limit(&mut self, why: &str) {
        if !self.limit_said {
            self.limit_said = true;
            tracing::error!("file watching: {why}; apps past the limit run unwatched");
        }
    }

    /// The watcher, made at the first need. Errors: why it cannot be made.
    fn watcher(
        &mut self,
        ctx: &mut Context<Self>,
    ) -> Result<&mut notify::RecommendedWatcher, String> {
        if self.watcher.is_none() {
            let me = ctx.address();
            let made = notify::recommended_watcher(move |ev| me.do_send(Fs(ev)));
            match made {
                Ok(w) => self.watcher = Some(w),
                Err(e) => {
                    let why = limit_message(&e)
                        .unwrap_or_else(|| format!("cannot start the file watcher: {e}"));
                    self.say_limit(&why);
                    return Err(why);
                }
            }
        }
        self.watcher
            .as_mut()
            .ok_or_else(|| "no file watcher".to_string())
    }

    /// Add `dirs` for `key`. Errors: a limit (the message), the ones added kept (the
    /// caller gives them back).
    fn add_dirs(
        &mut self,
        key: u64,
        dirs: Vec<PathBuf>,
        ctx: &mut Context<Self>,
    ) -> Result<(), String> {
        for d in dirs {
            if self.regs.get(&key).is_some_and(|r| r.dirs.contains(&d)) {
                continue;
            }
            let count = self.dirs.get(&d).copied().unwrap_or(0);
            if count == 0 {
                let w = self.watcher(ctx)?;
                if let Err(e) = w.watch(&d, RecursiveMode::NonRecursive) {
                    if let Some(why) = limit_message(&e) {
                        self.say_limit(&why);
                        return Err(why);
                    }
                    // Gone meanwhile, unreadable: nothing to watch there.
                    tracing::debug!("watch {}: {e}", d.display());
                    continue;
                }
            }
            self.dirs.insert(d.clone(), count + 1);
            if let Some(r) = self.regs.get_mut(&key) {
                r.dirs.insert(d);
            }
        }
        Ok(())
    }

    /// Give back `key`'s watch of `d` (the inotify watch goes with the last user).
    fn release(&mut self, d: &Path) {
        let Some(n) = self.dirs.get_mut(d) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.dirs.remove(d);
            if let Some(w) = self.watcher.as_mut() {
                let _ = w.unwatch(d);
            }
        }
    }

    /// Forget `key`'s registration: its watches and its timer.
    fn drop_reg(&mut self, key: u64, ctx: &mut Context<Self>) {
        let Some(reg) = self.regs.remove(&key) else {
            return;
        };
        if let Some(h) = reg.timer {
            ctx.cancel_future(h);
        }
        for d in &reg.dirs {
            self.release(d);
        }
    }

    /// Whether `path` is a log file of an app, or one of its rotated siblings.
    fn is_log(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        self.logs.values().flatten().any(|l| {
            l.parent() == path.parent()
                && l.file_name().and_then(|n| n.to_str()).is_some_and(|ln| {
                    name == ln || name.strip_prefix(ln).is_some_and(|r| r.starts_with('.'))
                })
        })
    }

    /// Reset `key`'s quiet timer for `path`.
    fn bump(&mut self, key: u64, path: &Path, ctx: &mut Context<Self>) {
        let Some(reg) = self.regs.get_mut(&key) else {
            return;
        };
        if let Some(h) = reg.timer.take() {
            ctx.cancel_future(h);
        }
        reg.last = Some(path.to_path_buf());
        reg.timer = Some(ctx.run_later(reg.delay, move |act, _| act.fire(key)));
    }

    fn fire(&mut self, key: u64) {
        let Some(reg) = self.regs.get_mut(&key) else {
            return;
        };
        reg.timer = None;
        let path = reg.last.take().unwrap_or_default();
        reg.to.do_send(Changed { key, path });
    }

    fn on_event(&mut self, ev: notify::Event, ctx: &mut Context<Self>) {
        if ev.need_rescan() {
            // The kernel's queue overflowed: something changed, where is unknown.
            let all: Vec<(u64, PathBuf)> = self
                .regs
                .iter()
                .filter_map(|(k, r)| r.roots.first().map(|p| (*k, p.clone())))
                .collect();
            for (k, p) in all {
                self.bump(k, &p, ctx);
            }
            return;
        }
        if !counts(&ev.kind) {
            return;
        }
        let appeared = matches!(
            ev.kind,
            EventKind::Create(CreateKind::Folder | CreateKind::Any)
                | EventKind::Modify(ModifyKind::Name(
                    RenameMode::To | RenameMode::Any | RenameMode::Both
                ))
        );
        let left = matches!(
            ev.kind,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From))
        );
        for path in &ev.paths {
            if path.starts_with(&self.home) || self.is_log(path) {
                continue;
            }
            let hit: Vec<u64> = self
                .regs
                .iter()
                .filter(|(_, r)| r.rel(path).is_some_and(|rel| !r.ignore.ignored(rel)))
                .map(|(k, _)| *k)
                .collect();
            if hit.is_empty() {
                continue;
            }
            let is_dir = appeared && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            for key in hit {
                self.bump(key, path, ctx);
                if is_dir {
                    let Some(reg) = self.regs.get(&key) else {
                        continue;
                    };
                    let Some(root) = reg.roots.iter().find(|r| path.starts_with(r)).cloned() else {
                        continue;
                    };
                    let dirs = walk(&root, path, &reg.ignore, &self.home);
                    // A limit here is said once; the tree stays watched as it was.
                    let _ = self.add_dirs(key, dirs, ctx);
                }
                if left {
                    let gone: Vec<PathBuf> = self.regs.get(&key).map_or_else(Vec::new, |r| {
                        r.dirs
                            .iter()
                            .filter(|d| d.starts_with(path))
                            .cloned()
                            .collect()
                    });
                    for d in gone {
                        if let Some(r) = self.regs.get_mut(&key) {
                            r.dirs.remove(&d);
                        }
                        self.release(&d);
                    }
                }
            }
        }
    }
}

impl Actor for Watch {
    type Context = Context<Self>;
}

impl Handler<Register> for Watch {
    type Result = Result<Watching, String>;
    fn handle(&mut self, msg: Register, ctx: &mut Context<Self>) -> Self::Result {
        self.drop_reg(msg.key, ctx);
        let ignore = Ignore::new(&msg.ignore)?;
        let mut roots = Vec::new();
        let mut dirs = Vec::new();
        for r in msg.roots {
            match std::fs::metadata(&r) {
                Ok(m) if m.is_dir() => {
                    dirs.extend(walk(&r, &r, &ignore, &self.home));
                    roots.push(r);
                }
                Ok(_) => {
                    // A file: its directory is watched (an editor that saves by renaming
                    // a new file over it would leave a watch of the file itself behind).
                    if let Some(p) = r.parent() {
                        dirs.push(p.to_path_buf());
                    }
                    roots.push(r);
                }
                Err(e) => tracing::warn!("watch {}: {e}; not watched", r.display()),
            }
        }
        if roots.is_empty() {
            return Err("no watched path exists".to_string());
        }
        self.regs.insert(
            msg.key,
            Reg {
                roots,
                ignore,
                delay: Duration::from_millis(msg.delay_ms),
                to: msg.to,
                dirs: HashSet::new(),
                timer: None,
                last: None,
            },
        );
        if let Err(why) = self.add_dirs(msg.key, dirs, ctx) {
            self.drop_reg(msg.key, ctx);
            return Err(why);
        }
        let n = self.regs.get(&msg.key).map_or(0, |r| r.dirs.len());
        Ok(Watching { dirs: n })
    }
}

impl Handler<Unregister> for Watch {
    type Result = ();
    fn handle(&mut self, Unregister(key): Unregister, ctx: &mut Context<Self>) {
        self.drop_reg(key, ctx);
        if self.regs.is_empty() {
            // Nothing watches: the watcher and its thread go (made again when needed).
            self.watcher = None;
            self.dirs.clear();
        }
    }
}

impl Handler<LogFiles> for Watch {
    type Result = ();
    fn handle(&mut self, msg: LogFiles, _: &mut Context<Self>) {
        if msg.files.is_empty() {
            self.logs.remove(&msg.key);
        } else {
            self.logs.insert(msg.key, msg.files);
        }
    }
}

impl Handler<Fs> for Watch {
    type Result = ();
    fn handle(&mut self, Fs(ev): Fs, ctx: &mut Context<Self>) {
        match ev {
            Ok(ev) => self.on_event(ev, ctx),
            Err(e) => match limit_message(&e) {
                Some(why) => self.say_limit(&why),
                None => tracing::debug!("file watcher: {e}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inotify_limits_name_their_sysctl() {
        let cases = [
            (
                notify::Error::new(notify::ErrorKind::MaxFilesWatch),
                Some("fs.inotify.max_user_watches"),
            ),
            (
                notify::Error::io(std::io::Error::from_raw_os_error(libc::ENOSPC)),
                Some("fs.inotify.max_user_watches"),
            ),
            (
                notify::Error::io(std::io::Error::from_raw_os_error(libc::EMFILE)),
                Some("fs.inotify.max_user_instances"),
            ),
            (
                notify::Error::io(std::io::Error::from_raw_os_error(libc::EACCES)),
                None,
            ),
            (notify::Error::new(notify::ErrorKind::PathNotFound), None),
        ];
        for (e, want) in cases {
            let got = limit_message(&e);
            match want {
                Some(sysctl) => {
                    let got = got.unwrap_or_default();
                    assert!(got.contains(sysctl), "{e:?}: {got}");
                }
                None => assert_eq!(got, None, "{e:?}"),
            }
        }
    }

    #[test]
    fn log_files_and_their_rotated_siblings_are_pmx_s_own() {
        let mut w = Watch::new("/h".into());
        w.logs.insert(
            1,
            vec!["/srv/app/out.log".into(), "/srv/app/logs/err".into()],
        );
        let cases = [
            ("/srv/app/out.log", true),
            ("/srv/app/out.log.1", true),
            ("/srv/app/out.log.3.gz", true),
            ("/srv/app/logs/err", true),
            ("/srv/app/logs/err.2", true),
            ("/srv/app/out.logger", false),
            ("/srv/app/sub/out.log", false),
            ("/srv/app/server.js", false),
            ("/srv/app/logs/error", false),
        ];
        for (p, want) in cases {
            assert_eq!(w.is_log(Path::new(p)), want, "{p}");
        }
    }

    #[test]
    fn only_changes_count() {
        use notify::event::{DataChange, MetadataKind, RemoveKind};
        let cases = [
            (EventKind::Create(CreateKind::File), true),
            (EventKind::Remove(RemoveKind::File), true),
            (EventKind::Modify(ModifyKind::Data(DataChange::Any)), true),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                true,
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                true,
            ),
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                false,
            ),
            (EventKind::Other, false),
        ];
        for (k, want) in cases {
            assert_eq!(counts(&k), want, "{k:?}");
        }
    }
}
