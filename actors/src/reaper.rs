//! Reaper actor: owns the one SIGCHLD stream of the daemon. On each SIGCHLD it collects
//! every exited child with `waitid(P_ALL, WEXITED | WNOHANG)` — main processes and the
//! orphans the daemon adopted as a child subreaper — and dispatches each by pid: a
//! registered pid's exit goes to its Process actor as [`Reaped`]; any other pid is an
//! orphan, and every Process actor waiting for its tree to empty hears [`OrphanReaped`].
//!
//! Registration is a synchronous call on the shared [`PidTable`] made right after the
//! spawn, on the same thread, so an exit can never arrive before its registration.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use actix::prelude::*;
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::SignalStream;
use tokio_stream::StreamExt;

use crate::messages::{OrphanReaped, Reaped};
use crate::supervision::policy::Exit;

/// Who hears which exit: registered main pids, and the instances waiting for orphans.
#[derive(Default)]
pub struct PidTable {
    by_pid: HashMap<i32, Recipient<Reaped>>,
    orphan_watchers: HashMap<u64, Recipient<OrphanReaped>>,
}

/// The table shared by the Reaper and the Process actors (all on the supervision arbiter).
pub type SharedPids = Rc<RefCell<PidTable>>;

impl PidTable {
    /// Send `pid`'s exit to `to`.
    pub fn register(&mut self, pid: i32, to: Recipient<Reaped>) {
        self.by_pid.insert(pid, to);
    }
    /// Forget `pid` (its actor no longer cares).
    pub fn unregister(&mut self, pid: i32) {
        self.by_pid.remove(&pid);
    }
    /// While instance `id` waits for its tree to empty, tell it about every orphan exit.
    pub fn watch_orphans(&mut self, id: u64, to: Recipient<OrphanReaped>) {
        self.orphan_watchers.insert(id, to);
    }
    /// Stop telling instance `id` about orphan exits.
    pub fn unwatch_orphans(&mut self, id: u64) {
        self.orphan_watchers.remove(&id);
    }
    /// Whether `pid` is a registered main process.
    pub fn is_registered(&self, pid: i32) -> bool {
        self.by_pid.contains_key(&pid)
    }
}

/// The Reaper actor.
pub struct Reaper {
    pids: SharedPids,
}

impl Reaper {
    /// A Reaper dispatching through `pids`.
    pub fn new(pids: SharedPids) -> Reaper {
        Reaper { pids }
    }

    /// Collect every exited child now.
    fn reap_all(&mut self) {
        loop {
            let status = match waitid(Id::All, WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG) {
                Ok(s) => s,
                Err(_) => return, // ECHILD: no children at all
            };
            let (pid, exit) = match status {
                WaitStatus::Exited(pid, code) => (pid.as_raw(), Exit::code(code)),
                WaitStatus::Signaled(pid, sig, _) => (pid.as_raw(), Exit::signal(sig as i32)),
                WaitStatus::StillAlive => return,
                _ => continue,
            };
            let target = self.pids.borrow_mut().by_pid.remove(&pid);
            match target {
                Some(to) => to.do_send(Reaped { pid, exit }),
                None => {
                    for to in self.pids.borrow().orphan_watchers.values() {
                        to.do_send(OrphanReaped { pid });
                    }
                }
            }
        }
    }
}

impl Actor for Reaper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match signal(SignalKind::child()) {
            Ok(sig) => {
                ctx.add_stream(SignalStream::new(sig).map(|()| ChildSignal));
            }
            Err(e) => tracing::error!("cannot listen for SIGCHLD: {e}"),
        }
        // Children that exited before the stream existed.
        self.reap_all();
    }
}

/// One SIGCHLD (several may be merged into one).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChildSignal;

impl StreamHandler<ChildSignal> for Reaper {
    fn handle(&mut self, _: ChildSignal, _: &mut Context<Self>) {
        self.reap_all();
    }
    fn finished(&mut self, _: &mut Context<Self>) {}
}
