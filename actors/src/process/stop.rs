//! The stopping of a Process actor's tree: [`Terminate`] (the signal to the group, or
//! `'shutdown'` over a Node app's IPC channel), the kill timer (SIGKILL after
//! `kill_timeout`, then re-checks), the scan for marked orphans, and the exit report once
//! the tree is gone.

use std::time::Duration;

use actix::prelude::*;
use nix::sys::signal::Signal;

use super::Process;
use crate::messages::ChildExited;
use crate::os;

/// How often the tree is re-checked after SIGKILL, in case a descendant's exit reached no
/// one (its parent reaped it). Only while a stop has escalated; never on the normal path.
const RECHECK_AFTER_KILL: Duration = Duration::from_millis(50);

/// A stop in progress.
pub(super) struct Stopping {
    /// pmx asked for it (a stop, restart or delete); false when the main process exited
    /// on its own and its leftovers are being stopped.
    pub(super) requested: bool,
    pub(super) signal: Signal,
    /// SIGKILL was sent (after `kill_timeout`).
    pub(super) killed: bool,
    /// Orphans already sent `signal`.
    pub(super) signaled: Vec<i32>,
    /// The main process was asked by the IPC message `'shutdown'` and its group not yet
    /// signaled: once the main process is gone, what is left gets `signal`.
    pub(super) by_message: bool,
}

/// Stop the tree of `generation`: `signal` to the group, SIGKILL to every descendant
/// after `timeout`. Answered by [`ChildExited`] with `requested: true` once it is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Terminate {
    /// The run to stop; a stale generation is ignored.
    pub generation: u64,
    /// `kill_signal` (default SIGINT).
    pub signal: Signal,
    /// `kill_timeout` (default 1600 ms).
    pub timeout: Duration,
    /// `shutdown_with_message`: ask the main process with the IPC message `'shutdown'`
    /// instead of `signal` (PM2's `proc.send('shutdown')`); a process with no channel left
    /// gets `signal`. SIGKILL after `timeout` either way.
    pub by_message: bool,
}

impl Handler<Terminate> for Process {
    type Result = ();
    fn handle(&mut self, msg: Terminate, ctx: &mut Context<Self>) {
        if msg.generation != self.generation {
            return;
        }
        match self.stopping.as_mut() {
            // Already stopping its leftovers after a crash: now pmx asked for it.
            Some(s) => s.requested = true,
            None => {
                let by_message = msg.by_message && self.send_shutdown();
                self.begin_stop(true, msg.signal, msg.timeout, by_message, ctx);
            }
        }
        self.finish_if_gone(ctx);
    }
}

/// Kill timer: SIGKILL what is left of the tree of `generation`.
#[derive(Message)]
#[rtype(result = "()")]
struct KillTimeout {
    generation: u64,
}

impl Handler<KillTimeout> for Process {
    type Result = ();
    fn handle(&mut self, msg: KillTimeout, ctx: &mut Context<Self>) {
        if msg.generation != self.generation {
            return;
        }
        let Some(stop) = self.stopping.as_mut() else {
            return;
        };
        if !stop.killed {
            tracing::info!(
                "id {}: tree still running after kill_timeout, sending SIGKILL",
                self.id
            );
        }
        stop.killed = true;
        if let Some(pgid) = self.pgid {
            os::signal_group(pgid, Signal::SIGKILL);
        }
        if let Some(pid) = self.pid {
            os::signal_pid(pid, Signal::SIGKILL);
        }
        for pid in os::marked_processes(&self.marker) {
            os::signal_pid(pid, Signal::SIGKILL);
        }
        self.finish_if_gone(ctx);
        if self.stopping.is_some() {
            ctx.notify_later(
                KillTimeout {
                    generation: msg.generation,
                },
                RECHECK_AFTER_KILL,
            );
        }
    }
}

/// Re-check the tree of an adopted process being stopped (see `begin_stop`).
#[derive(Message)]
#[rtype(result = "()")]
struct Recheck {
    generation: u64,
}

impl Handler<Recheck> for Process {
    type Result = ();
    fn handle(&mut self, msg: Recheck, ctx: &mut Context<Self>) {
        if msg.generation != self.generation || self.stopping.is_none() {
            return;
        }
        self.finish_if_gone(ctx);
        if self.stopping.is_some() {
            ctx.notify_later(msg, RECHECK_AFTER_KILL);
        }
    }
}

impl Process {
    /// Send the running process `'shutdown'` over its IPC channel; false when it has no
    /// channel (not a Node app, or it closed its end), so the signal is sent instead.
    fn send_shutdown(&mut self) -> bool {
        if self.pid.is_none() {
            return false;
        }
        let Some(outbox) = self.outbox.take() else {
            tracing::warn!(
                "id {}: shutdown_with_message, but the process has no IPC channel: \
                 stopped with kill_signal",
                self.id
            );
            return false;
        };
        match outbox.send(crate::node::wire::shutdown()) {
            Ok(()) => true,
            Err(_) => {
                tracing::warn!(
                    "id {}: shutdown_with_message, but the process closed its IPC channel: \
                     stopped with kill_signal",
                    self.id
                );
                false
            }
        }
    }

    /// Start stopping the tree: the signal to the group and to the marked orphans (or,
    /// `by_message`, nothing yet: the main process was sent `'shutdown'`), the kill timer,
    /// and orphan exits watched.
    pub(super) fn begin_stop(
        &mut self,
        requested: bool,
        signal: Signal,
        timeout: Duration,
        by_message: bool,
        ctx: &mut Context<Self>,
    ) {
        self.stopping = Some(Stopping {
            requested,
            signal,
            killed: false,
            signaled: Vec::new(),
            by_message,
        });
        self.pids
            .borrow_mut()
            .watch_orphans(self.watch_key(), ctx.address().recipient());
        if !by_message {
            if let Some(pgid) = self.pgid {
                os::signal_group(pgid, signal);
            }
            if let Some(pid) = self.pid {
                // The main process may have moved to another group.
                os::signal_pid(pid, signal);
            }
        }
        ctx.notify_later(
            KillTimeout {
                generation: self.generation,
            },
            timeout,
        );
        if self.adopted {
            // Its tree is not this daemon's to reap: no exit reaches it, so the tree is
            // re-checked while this stop lasts.
            ctx.notify_later(
                Recheck {
                    generation: self.generation,
                },
                RECHECK_AFTER_KILL,
            );
        }
    }

    /// The daemon's children that are not registered main processes and carry this
    /// instance's marker: orphans of this tree adopted by the daemon.
    fn orphans(&self) -> Vec<i32> {
        let pids = self.pids.borrow();
        if self.adopted {
            // Not this daemon's tree: its setsid'd members are found by their marker.
            let me = self.pid;
            return os::marked_processes(&self.marker)
                .into_iter()
                .filter(|p| Some(*p) != me && !pids.is_registered(*p))
                .collect();
        }
        os::own_children()
            .into_iter()
            .filter(|p| !pids.is_registered(*p) && os::has_marker(*p, &self.marker))
            .collect()
    }

    /// Whether anything of the tree still runs (once the main process is gone).
    pub(super) fn tree_alive(&self) -> bool {
        self.pgid.is_some_and(os::group_alive) || !self.orphans().is_empty()
    }

    /// Report the exit once the main process and its whole tree are gone; meanwhile
    /// signal newly adopted orphans of a tree being stopped.
    pub(super) fn finish_if_gone(&mut self, ctx: &mut Context<Self>) {
        if self.pid.is_some() {
            return;
        }
        let group = self.pgid.is_some_and(os::group_alive);
        let orphans = self.orphans();
        if let Some(stop) = self.stopping.as_mut() {
            for pid in &orphans {
                if !stop.signaled.contains(pid) {
                    let sig = if stop.killed {
                        Signal::SIGKILL
                    } else {
                        stop.signal
                    };
                    os::signal_pid(*pid, sig);
                    stop.signaled.push(*pid);
                }
            }
        }
        if group || !orphans.is_empty() {
            return;
        }
        let requested = self.stopping.take().map(|s| s.requested).unwrap_or(false);
        self.pids.borrow_mut().unwatch_orphans(self.watch_key());
        self.report_exit(requested, ctx);
    }

    /// The tree is gone: tell the supervisor, and stop (this actor served one process).
    pub(super) fn report_exit(&mut self, requested: bool, ctx: &mut Context<Self>) {
        self.pgid = None;
        // Its pipes are forgotten by their pumps once drained; the channel now.
        if let Some(label) = &self.label {
            crate::fdstore::forget(&format!("{label}:chan"));
        }
        self.parent_exit.do_send(ChildExited {
            instance: self.instance,
            generation: self.generation,
            exit: self.main_exit,
            uptime_ms: self.uptime_ms,
            requested,
        });
        ctx.stop();
    }

    /// The key of this process among the Reaper's orphan watchers: one per (instance id,
    /// generation), so two processes of one instance both hear orphan exits.
    fn watch_key(&self) -> u64 {
        (self.id << 32) | (self.generation & u64::from(u32::MAX))
    }
}
