//! The App supervisor's side of `watch` (SPEC §4): it registers its paths with the
//! daemon's one Watch actor (`crate::watch`) while it should be watched, and restarts on
//! a [`Changed`] with reason `watch`.
//!
//! Watched while: the spec's `watch` is on (`true`: the app's cwd; `Paths([...])`: those
//! paths, absolute, as the config resolved them against the file's directory or the
//! caller's cwd), the app is not being deleted, and some instance is not held down by a
//! user's `stop`. So `pmx stop` ends the watching and keeps the setting in the spec;
//! `start`/`restart` resume it (PM2 #2441), a crash does not end it (a change restarts a
//! crashed, errored or finished `policy: Never` app: `pmx dev`'s "waiting for file
//! changes"). [`AppSup::sync_watch`] runs after every command and spec change, and
//! registers again when the paths, globs or delay changed, and at a `start` or `restart`
//! (the watches built again from the paths as they are now); a registration replaces the
//! one before: however often the app is restarted with `--watch`, it has one (PM2 #514).
//! `list`'s `watching` is true only while the Watch actor says that some watched path has
//! its watches in place (it tells when a path goes away or appears: [`Status`]); a path
//! that does not exist is waited for, and `describe` names it.
//!
//! On a change: a fork-mode app restarts each instance not held down; a cluster-mode app
//! is reloaded the rolling way (as `cron` does); a change that comes while a stop or a
//! rolling reload is under way is taken again after `watch_delay`.

use std::path::PathBuf;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{wall_ms, AppSup};
use crate::protocol::AppSpec;
use crate::supervision::instance::{Event, Phase, Reason};
use crate::watch::{Changed, LogFiles, Register, Status, Unregister, Watching};

/// What an app registers: its roots, globs and delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wanted {
    pub roots: Vec<PathBuf>,
    pub ignore: Vec<String>,
    pub delay_ms: u64,
}

/// The roots, globs and delay `spec` asks to watch; None when `watch` is off.
pub(super) fn wanted(spec: &AppSpec) -> Option<Wanted> {
    let roots = match &spec.app.watch {
        pmx_config::Watch::Off => return None,
        pmx_config::Watch::On => vec![spec.cwd.clone()],
        pmx_config::Watch::Paths(p) => p.iter().map(|p| spec.cwd.join(p)).collect(),
    };
    Some(Wanted {
        roots,
        ignore: spec.app.ignore_watch.clone(),
        delay_ms: spec.app.watch_delay_ms,
    })
}

/// An app's watching.
pub(super) struct WatchState {
    /// Its key with the Watch actor.
    key: u64,
    /// What is registered (None: nothing).
    registered: Option<Wanted>,
    /// The Watch actor answered that it watches.
    pub(super) active: bool,
    /// Why it does not (an inotify limit, a path that does not exist).
    pub(super) error: Option<String>,
    /// Bumped at each (un)registration: an older answer is dropped.
    generation: u64,
    /// The last watch restart: (ms since the epoch, the path that changed).
    pub(super) last: Option<(u64, PathBuf)>,
    /// Watch restarts in a row caused by that same path.
    pub(super) repeats: u32,
    /// A change taken again once a restart under way is done.
    retry: Option<SpawnHandle>,
    /// Log files were told to the Watch actor (so an empty list is told when they go).
    logs_told: bool,
}

impl Default for WatchState {
    fn default() -> Self {
        WatchState {
            key: crate::watch::next_key(),
            registered: None,
            active: false,
            error: None,
            generation: 0,
            last: None,
            repeats: 0,
            retry: None,
            logs_told: false,
        }
    }
}

impl WatchState {
    /// What the Watch actor says it watches: `watching` only while some watched path
    /// has its watches in place; the missing paths are shown by `describe`.
    fn take(&mut self, now: &Watching) {
        self.active = now.watching;
        self.error = (!now.missing.is_empty()).then(|| missing_message(&now.missing));
    }
}

/// `describe`'s word on watched paths that do not exist: they are waited for.
fn missing_message(missing: &[PathBuf]) -> String {
    let shown: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
    format!(
        "{} does not exist (watched once it appears)",
        shown.join(", ")
    )
}

impl AppSup {
    /// Register or unregister with the Watch actor as the spec and the instances say
    /// (see the module's doc); nothing when that is what is registered already. Answers,
    /// for a registration, the receiver settled once the Watch actor answered it (a
    /// command waits for it, so that `start --watch` answers rows that say `watching`
    /// and a change right after it is seen).
    ///
    /// `rebuild` (a `start` or `restart`) registers again even when nothing changed: the
    /// Watch actor builds the watches again from the paths as they are now.
    pub(super) fn sync_watch(
        &mut self,
        rebuild: bool,
        ctx: &mut Context<Self>,
    ) -> Option<oneshot::Receiver<()>> {
        let held = self.slots[..self.live()].iter().all(|s| s.fsm.held);
        let want = if self.deleting || held {
            None
        } else {
            wanted(&self.parts.spec)
        };
        if want == self.watch.registered && !(rebuild && want.is_some()) {
            return None;
        }
        let addr = self.parts.shared.watch.clone()?;
        self.watch.generation += 1;
        self.watch.active = false;
        self.watch.error = None;
        self.dirty = true;
        if let Some(h) = self.watch.retry.take() {
            ctx.cancel_future(h);
        }
        let key = self.watch.key;
        self.watch.registered = want.clone();
        let Some(w) = want else {
            addr.do_send(Unregister(key));
            return None;
        };
        let (settled, answered) = oneshot::channel();
        let generation = self.watch.generation;
        let asked = addr.send(Register {
            key,
            roots: w.roots,
            ignore: w.ignore,
            delay_ms: w.delay_ms,
            to: ctx.address().recipient(),
            status: ctx.address().recipient(),
        });
        ctx.spawn(asked.into_actor(self).map(move |answer, act, _| {
            if act.watch.generation != generation {
                return;
            }
            match answer {
                Ok(Ok(now)) => act.watch.take(&now),
                Ok(Err(why)) => {
                    // The Watch actor said it in pmx.log (a limit once, not per app).
                    tracing::debug!("app {}: not watched: {why}", act.name());
                    act.watch.error = Some(why);
                }
                Err(_) => act.watch.error = Some("the file watcher is gone".into()),
            }
            act.dirty = true;
            act.report();
            let _ = settled.send(());
        }));
        Some(answered)
    }

    /// Tell the Watch actor the log files this app writes outside `$PMX_HOME` (those under
    /// it are never watched), so that no watcher restarts on them.
    pub(super) fn tell_log_files(&mut self) {
        let Some(addr) = self.parts.shared.watch.clone() else {
            return;
        };
        let home = &self.parts.shared.home.dir;
        let count = self.live();
        let mut files = Vec::new();
        for s in &self.slots[..count] {
            let (o, e, c) =
                super::log_paths(&self.parts.shared.home, &self.parts.spec, s.idx, count);
            for p in [Some(o), Some(e), c].into_iter().flatten() {
                if !p.starts_with(home)
                    && p != std::path::Path::new("/dev/null")
                    && !files.contains(&p)
                {
                    files.push(p);
                }
            }
        }
        if files.is_empty() && !self.watch.logs_told {
            return;
        }
        self.watch.logs_told = !files.is_empty();
        addr.do_send(LogFiles {
            key: self.watch.key,
            files,
        });
    }

    /// The actor stops: its registration and its log files go.
    pub(super) fn forget_watch(&mut self) {
        if let Some(addr) = &self.parts.shared.watch {
            if self.watch.registered.take().is_some() {
                addr.do_send(Unregister(self.watch.key));
            }
            if self.watch.logs_told {
                addr.do_send(LogFiles {
                    key: self.watch.key,
                    files: Vec::new(),
                });
            }
        }
    }

    /// What `describe` shows of the watch: (paths, ignores, delay ms) when it is on.
    pub(super) fn watch_shown(&self) -> Option<Wanted> {
        wanted(&self.parts.spec)
    }

    /// Files changed: restart (see the module's doc).
    fn watch_restart(&mut self, path: PathBuf, ctx: &mut Context<Self>) {
        self.watch.retry = None;
        if self.deleting || self.watch.registered.is_none() {
            return;
        }
        let live = self.live();
        let busy = self.slots[..live]
            .iter()
            .any(|s| s.fsm.phase == Phase::Stopping)
            || self.reload_lock.try_lock().is_err();
        if busy {
            let delay =
                std::time::Duration::from_millis(self.parts.spec.app.watch_delay_ms.max(100));
            let h = ctx.run_later(delay, move |act, ctx| act.watch_restart(path, ctx));
            self.watch.retry = Some(h);
            return;
        }
        let picked: Vec<usize> = (0..live).filter(|&i| !self.slots[i].fsm.held).collect();
        if picked.is_empty() {
            return;
        }
        tracing::info!(
            "app {}: {} changed, restarting (watch)",
            self.name(),
            path.display()
        );
        let same = self.watch.last.as_ref().is_some_and(|(_, p)| *p == path);
        self.watch.repeats = if same { self.watch.repeats + 1 } else { 1 };
        if self.watch.repeats == crate::protocol::WATCH_LOOP {
            tracing::warn!(
                "app {}: {} watch restarts in a row were caused by {}: if the app writes \
                 it, add it to ignore_watch",
                self.name(),
                self.watch.repeats,
                path.display()
            );
        }
        self.watch.last = Some((wall_ms(), path));
        if Self::reloads_rolling(&self.parts.spec, live) {
            let numbers = picked.iter().map(|&i| self.slots[i].idx).collect();
            let done = self.reload_after(Vec::new(), Some(numbers), Reason::Watch, ctx);
            ctx.spawn(done.into_actor(self).map(|_, act, _| act.flush()));
        } else {
            for i in picked {
                self.feed(
                    i,
                    Event::Restart {
                        reason: Reason::Watch,
                        waiter: None,
                    },
                    ctx,
                );
            }
            self.flush();
        }
    }
}

impl Handler<Changed> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: Changed, ctx: &mut Context<Self>) {
        if msg.key != self.watch.key {
            return;
        }
        if let Some(h) = self.watch.retry.take() {
            ctx.cancel_future(h);
        }
        self.watch_restart(msg.path, ctx);
    }
}

impl Handler<Status> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: Status, _: &mut Context<Self>) {
        if msg.key != self.watch.key || self.watch.registered.is_none() {
            return;
        }
        self.watch.take(&msg.now);
        self.dirty = true;
        self.report();
    }
}
