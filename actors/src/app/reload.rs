//! The rolling reload of a cluster-mode app (SPEC §6): one instance at a time, a
//! replacement (the next generation of the same slot: same instance number, same id, the
//! same listening sockets lent) is spawned beside the running process; once it is online
//! (spawned, and ready with `wait_ready`) the old process is stopped gracefully
//! (`kill_signal`, then SIGKILL after `kill_timeout`), and the next instance's step begins
//! once the old one is gone. Each step is `Event::Reload` in the instance's state
//! machine; this file only sequences them.
//!
//! - A replacement that exits (or cannot be spawned) before it is ready stops the reload:
//!   it is not retried by the reload, the old processes keep serving, and the reload
//!   answers [`ReloadError::Failed`] naming the instance and the exit.
//! - One reload of an app at a time: a second one waits for the first to end (a lock
//!   taken before its first step), then runs through every instance again; its
//!   `--update-env` spec is applied when it arrives, so the first's remaining steps
//!   already spawn with it. They never interleave.
//! - The reload runs in the App supervisor's own context: the client going away (or the
//!   Root's request being dropped) does not stop it.
//! - Instances that are not online when the reload begins (stopped, errored, waiting to
//!   restart, launching) are restarted at once, as `restart` does (SPEC §3: a reload of a
//!   stopped app starts it). An instance stopped while the reload runs is left down: its
//!   step does nothing.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::{oneshot, OwnedMutexGuard};

use super::AppSup;
use crate::protocol::{AppSpec, ProcessInfo};
use crate::supervision::instance::{Event, Phase, Reason};

/// Reload this app rolling (SPEC §6); answers its rows once every instance has been
/// replaced, or why it stopped.
#[derive(Message)]
#[rtype(result = "Result<Vec<ProcessInfo>, ReloadError>")]
pub struct Reload {
    /// Which instance numbers (None: all), as [`super::Command::instances`] (`pmx reload
    /// <id>` replaces that instance only).
    pub instances: Option<Vec<u32>>,
    /// A new spec to run from now on (`reload --update-env`, `up`), applied at once: every
    /// replacement spawned from then on uses it.
    pub replace: Option<Arc<AppSpec>>,
    /// The app's ids after the change (see [`super::Command::ids`]).
    pub ids: Option<Vec<u64>>,
}

/// Why a [`Reload`] did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    /// The app is being deleted (see [`super::Deleted`]).
    Deleted,
    /// A replacement exited before it was ready (or the instance was stopped or restarted
    /// meanwhile): one line naming the instance and why; the old processes keep serving.
    Failed(String),
}

/// The end of a reload, sent to whoever asked.
type Done = oneshot::Sender<Result<(), ReloadError>>;

impl AppSup {
    /// Whether a reload of this app is rolling: cluster mode with several instances,
    /// `listen` sockets, or `exec_mode: Cluster` declared (a Node app's single worker
    /// shares its port through pmx too). Otherwise it is a restart: fork mode, where each
    /// instance binds its own port and a replacement beside it could not (PM2's `reload`
    /// is a restart in fork mode too).
    pub fn reloads_rolling(spec: &AppSpec, instances: usize) -> bool {
        use pmx_config::ExecMode;
        spec.app.exec_mode() == ExecMode::Cluster
            && (instances > 1
                || !spec.app.listen.is_empty()
                || spec.app.exec_mode == Some(ExecMode::Cluster))
    }

    /// The reload's lock is held: restart what is down, then replace the online instances
    /// one by one.
    fn reload_begin(
        &mut self,
        instances: Option<Vec<u32>>,
        reason: Reason,
        guard: OwnedMutexGuard<()>,
        done: Done,
        ctx: &mut Context<Self>,
    ) {
        if self.deleting {
            let _ = done.send(Err(ReloadError::Deleted));
            return;
        }
        let mut restarts = Vec::new();
        let mut rolling = VecDeque::new();
        let selected = (0..self.live()).filter(|i| {
            instances
                .as_ref()
                .is_none_or(|l| l.contains(&self.slots[*i].idx))
        });
        for i in selected.collect::<Vec<_>>() {
            if self.slots[i].fsm.phase == Phase::Online {
                rolling.push_back(self.slots[i].key);
            } else {
                let (token, rx) = self.waiter();
                self.feed(
                    i,
                    Event::Restart {
                        reason,
                        waiter: Some(token),
                    },
                    ctx,
                );
                restarts.push(rx);
            }
        }
        self.flush();
        self.reload_step(rolling, reason, restarts, guard, done, ctx);
    }

    /// The next instance's step, or the end once every step is over.
    fn reload_step(
        &mut self,
        mut rolling: VecDeque<u32>,
        reason: Reason,
        restarts: Vec<oneshot::Receiver<()>>,
        guard: OwnedMutexGuard<()>,
        done: Done,
        ctx: &mut Context<Self>,
    ) {
        let next = loop {
            match rolling.pop_front() {
                // A slot deleted meanwhile is skipped.
                Some(key) => {
                    if let Some(i) = self.index_of_key(key) {
                        break Some((key, i));
                    }
                }
                None => break None,
            }
        };
        let Some((key, i)) = next.filter(|_| !self.deleting) else {
            ctx.spawn(
                async move {
                    for r in restarts {
                        let _ = r.await;
                    }
                }
                .into_actor(self)
                .map(move |(), act, _| {
                    drop(guard);
                    let _ = done.send(if act.deleting {
                        Err(ReloadError::Deleted)
                    } else {
                        Ok(())
                    });
                }),
            );
            return;
        };
        let (token, rx) = self.waiter();
        self.feed(
            i,
            Event::Reload {
                reason,
                waiter: Some(token),
            },
            ctx,
        );
        self.flush();
        ctx.spawn(rx.into_actor(self).map(move |_, act, ctx| {
            let failed = act.index_of_key(key).and_then(|i| {
                let s = &act.slots[i];
                s.fsm.reload_error.as_ref().map(|why| {
                    // Said only when so: a stop or `kill` that cut the reload short
                    // stopped the old process too.
                    let serving = if s.fsm.phase == crate::supervision::instance::Phase::Online {
                        "; the old processes keep serving"
                    } else {
                        ""
                    };
                    format!(
                        "reload of {} stopped at instance {} (id {}): {why}{serving}",
                        act.name(),
                        s.idx,
                        s.id
                    )
                })
            });
            if act.deleting {
                drop(guard);
                let _ = done.send(Err(ReloadError::Deleted));
                return;
            }
            if let Some(why) = failed {
                tracing::warn!("{why}");
                drop(guard);
                let _ = done.send(Err(ReloadError::Failed(why)));
                return;
            }
            act.reload_step(rolling, reason, restarts, guard, done, ctx);
        }));
    }
}

impl AppSup {
    /// Run a rolling reload of `instances` (None: all) once `waits` are done and the
    /// reload lock is free, in the actor's own context; the receiver gets its end.
    pub(super) fn reload_after(
        &mut self,
        waits: Vec<oneshot::Receiver<()>>,
        instances: Option<Vec<u32>>,
        reason: Reason,
        ctx: &mut Context<Self>,
    ) -> oneshot::Receiver<Result<(), ReloadError>> {
        let lock = self.reload_lock.clone();
        let (done, result) = oneshot::channel();
        // Spawned in the actor's own context: it goes on when the asker goes away.
        ctx.spawn(
            async move {
                for w in waits {
                    let _ = w.await;
                }
                lock.lock_owned().await
            }
            .into_actor(self)
            .map(move |guard, act, ctx| act.reload_begin(instances, reason, guard, done, ctx)),
        );
        result
    }
}

impl Handler<Reload> for AppSup {
    type Result = ResponseActFuture<Self, Result<Vec<ProcessInfo>, ReloadError>>;
    fn handle(&mut self, msg: Reload, ctx: &mut Context<Self>) -> Self::Result {
        if self.deleting {
            return Box::pin(fut::ready(Err(ReloadError::Deleted)));
        }
        let waits = match msg.replace {
            Some(spec) => self.replace(spec, msg.ids, ctx),
            None => Vec::new(),
        };
        self.flush();
        let result = self.reload_after(waits, msg.instances, Reason::Manual, ctx);
        Box::pin(
            async move { result.await.unwrap_or(Err(ReloadError::Deleted)) }
                .into_actor(self)
                .map(|r, act, _| {
                    act.flush();
                    r.map(|()| act.infos())
                }),
        )
    }
}
