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
//! A root that does not exist (not yet, or no longer: removed, moved away) is waited for
//! the way watchexec and notify users do it, without polling: its nearest existing
//! ancestor gets a non-recursive watch, moved nearer as the ancestors appear; when the
//! root appears its tree is watched and its appearance counts as a change. A directory
//! that goes away takes its watches with it (the kernel ends them, notify forgets them),
//! so every hold on them is forgotten then, and each registration is told ([`Status`])
//! whether some root is really watched (`list`'s `watching`) and which are missing. A
//! registration (every `start`/`restart` sends one) builds its watches again from the
//! paths as they are now.
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
mod tree;
use tree::{walk, Root};

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

/// Watch `roots` for the app holding `key` (replacing what it had, built again from the
/// paths as they are now): answers what is watched (a path that does not exist is
/// waited for), or why nothing is (an inotify limit, with the sysctl to raise; a bad
/// glob).
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
    /// Where [`Status`] goes.
    pub status: Recipient<Status>,
}

/// What a [`Register`] watches: its answer, and what a [`Status`] says when it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watching {
    /// Directories with an inotify watch for the app's paths (their trees; a watched
    /// file's directory); the ancestors waited on are not counted.
    pub dirs: usize,
    /// Some watched path exists and has its watches in place (`list`'s `watching`).
    pub watching: bool,
    /// The watched paths that do not exist (yet), in the order given: each one's nearest
    /// existing ancestor is watched (non-recursively) until it appears.
    pub missing: Vec<PathBuf>,
}

/// What a registration watches changed (a watched path went away, or appeared): sent to
/// the registration's status recipient.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Status {
    /// The registration key it is for (a stale one is ignored by the app).
    pub key: u64,
    /// What is watched now.
    pub now: Watching,
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
    roots: Vec<Root>,
    ignore: Ignore,
    delay: Duration,
    to: Recipient<Changed>,
    status: Recipient<Status>,
    /// What the app was last told (the answer, then each [`Status`]).
    said: Watching,
    timer: Option<SpawnHandle>,
    last: Option<PathBuf>,
}

impl Reg {
    /// `path` relative to the root holding it, if one does (a file root: itself only).
    fn rel<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        self.roots
            .iter()
            .find_map(|r| path.strip_prefix(&r.path).ok())
    }

    /// What it watches now.
    fn now(&self) -> Watching {
        let dirs: HashSet<&PathBuf> = self.roots.iter().flat_map(|r| &r.dirs).collect();
        Watching {
            dirs: dirs.len(),
            watching: self
                .roots
                .iter()
                .any(|r| r.anchor.is_none() && !r.dirs.is_empty()),
            missing: self
                .roots
                .iter()
                .filter(|r| r.anchor.is_some())
                .map(|r| r.path.clone())
                .collect(),
        }
    }
}

/// The Watch actor (see the module's doc).
pub struct Watch {
    home: PathBuf,
    watcher: Option<notify::RecommendedWatcher>,
    regs: HashMap<u64, Reg>,
    /// Every directory with an inotify watch, and how many holds it has (a root's tree
    /// or an anchor of a registration).
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
            // The kernel's queue overflowed: something changed, where is unknown; every
            // root is brought in line with the disk.
            let keys: Vec<u64> = self.regs.keys().copied().collect();
            for k in keys {
                let n = self.regs.get(&k).map_or(0, |r| r.roots.len());
                for i in 0..n {
                    let _ = self.settle(k, i, ctx);
                }
                self.tell(k);
                if let Some(p) = self.regs.get(&k).and_then(|r| r.roots.first()) {
                    let p = p.path.clone();
                    self.bump(k, &p, ctx);
                }
            }
            return;
        }
        if !counts(&ev.kind) {
            return;
        }
        let created = matches!(
            ev.kind,
            EventKind::Create(_)
                | EventKind::Modify(ModifyKind::Name(
                    RenameMode::To | RenameMode::Any | RenameMode::Both
                ))
        );
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
            if left {
                self.forget_under(path);
            }
            if left || created {
                // A watched path (or an ancestor) went away, or one waited for (or an
                // ancestor of it) appeared.
                self.settle_under(path, left, ctx);
            }
            let hit: Vec<u64> = self
                .regs
                .iter()
                .filter(|(_, r)| r.rel(path).is_some_and(|rel| !r.ignore.ignored(rel)))
                .map(|(k, _)| *k)
                .collect();
            let is_dir = appeared && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            for key in hit {
                self.bump(key, path, ctx);
                if !is_dir {
                    continue;
                }
                let Some(reg) = self.regs.get(&key) else {
                    continue;
                };
                let Some(idx) = reg
                    .roots
                    .iter()
                    .position(|r| r.anchor.is_none() && path.starts_with(&r.path))
                else {
                    continue;
                };
                let dirs = walk(&reg.roots[idx].path, path, &reg.ignore, &self.home);
                // A limit here is said once; the tree stays watched as it was.
                let _ = self.add_dirs(key, idx, dirs, ctx);
                self.tell(key);
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
        // Built again from the paths as they are now (a restart re-registers).
        self.drop_reg(msg.key, ctx);
        let ignore = Ignore::new(&msg.ignore)?;
        let key = msg.key;
        let roots: Vec<Root> = msg
            .roots
            .into_iter()
            .map(|path| Root {
                path,
                dirs: HashSet::new(),
                anchor: None,
            })
            .collect();
        let n = roots.len();
        self.regs.insert(
            key,
            Reg {
                roots,
                ignore,
                delay: Duration::from_millis(msg.delay_ms),
                to: msg.to,
                status: msg.status,
                said: Watching::default(),
                timer: None,
                last: None,
            },
        );
        for i in 0..n {
            if let Err(why) = self.settle(key, i, ctx) {
                self.drop_reg(key, ctx);
                return Err(why);
            }
        }
        let Some(reg) = self.regs.get_mut(&key) else {
            return Err("no file watcher".into());
        };
        let now = reg.now();
        reg.said = now.clone();
        for m in &now.missing {
            tracing::warn!(
                "watch {}: does not exist; watched once it appears",
                m.display()
            );
        }
        Ok(now)
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
mod tests;
