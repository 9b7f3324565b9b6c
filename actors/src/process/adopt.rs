//! A Process actor taking over a process an earlier daemon spawned (`crate::adopt`): its
//! pipes and channel come back from the fd holder, its pid and start time from the label
//! they were stored under. A process that is still the daemon's child (`pmx update`
//! exec'd the daemon in place) is reaped as any other, with its exit code; one that is
//! not (the daemon before this one died) is watched through a pidfd, and its exit code is
//! unknown: it is reported as an exit with no status, which the policy treats as a crash.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use nix::sys::signal::Signal;

use super::{Process, Routes};
use crate::log::pump_then_forget;
use crate::messages::Spawned;
use crate::os;

/// Take over the process `pid` of `generation` (answered by `Spawned`, as a spawn is).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt {
    /// Its generation (its marker's).
    pub generation: u64,
    /// Its pid (and process group).
    pub pid: i32,
    /// Its start time (clock ticks after boot) when it was spawned: a live pid with
    /// another start time is another process (pid reuse), and the instance's is gone.
    pub ticks: u64,
    /// The instance's restart count stored with it (part of its label).
    pub restarts: u64,
    /// Its stdout pipe's read end, if stored.
    pub out: Option<OwnedFd>,
    /// Its stderr pipe's read end, if stored.
    pub err: Option<OwnedFd>,
    /// The daemon's end of its Node IPC channel, if stored.
    pub chan: Option<OwnedFd>,
    /// `kill_signal`.
    pub kill_signal: Signal,
    /// `kill_timeout`.
    pub kill_timeout: Duration,
    /// Where its output goes.
    pub routes: Arc<Routes>,
}

fn nonblocking(fd: &OwnedFd) {
    use std::os::fd::AsRawFd;
    if let Ok(flags) = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL) {
        let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags));
    }
}

impl Handler<Adopt> for Process {
    type Result = ();
    fn handle(&mut self, msg: Adopt, ctx: &mut Context<Self>) {
        self.generation = msg.generation;
        self.kill_signal = msg.kill_signal;
        self.kill_timeout = msg.kill_timeout;
        let pid = msg.pid;
        self.restarts = msg.restarts;
        let label = crate::adopt::label(self.id, msg.generation, pid, msg.ticks, msg.restarts);
        // What it wrote while no daemon ran is read first, in order.
        for (fd, target, stream) in [
            (msg.out, msg.routes.out.clone(), "out"),
            (msg.err, msg.routes.err.clone(), "err"),
        ] {
            if let Some(fd) = fd {
                nonblocking(&fd);
                self.log_arbiter.spawn(pump_then_forget(
                    fd,
                    target,
                    Some(format!("{label}:{stream}")),
                ));
            }
        }
        self.label = Some(label.clone());
        self.adopted = true;
        let stat = os::stat_of(pid);
        let alive = stat.filter(|(_, t)| *t == msg.ticks);
        let Some((ppid, _)) = alive else {
            // Gone while no daemon ran, or its pid now names another process (then its
            // group is gone too: the kernel reuses no pid still naming a group).
            crate::fdstore::forget(&format!("{label}:chan"));
            self.pid = Some(pid);
            self.pgid = stat.is_none().then_some(pid);
            self.started = Instant::now().checked_sub(Duration::from_secs(3600));
            self.parent_spawned.do_send(Spawned {
                instance: self.instance,
                generation: self.generation,
                result: Ok(pid as u32),
            });
            tracing::warn!(
                "id {}: pid {pid} exited while no daemon ran; exit status unknown (adopted)",
                self.id
            );
            self.main_gone(pid, None, ctx);
            return;
        };
        self.pid = Some(pid);
        self.pgid = Some(pid);
        self.started = os::age_ms(msg.ticks)
            .and_then(|age| Instant::now().checked_sub(Duration::from_millis(age)))
            .or(Some(Instant::now()));
        if ppid == std::process::id() as i32 {
            // Still this daemon's child (exec'd in place): the Reaper hears its exit.
            self.adopted = false;
            self.pids
                .borrow_mut()
                .register(pid, ctx.address().recipient());
        } else if let Some(exited) = os::exit_of(pid) {
            let id = self.id;
            ctx.spawn(exited.into_actor(self).map(move |(), act, ctx| {
                tracing::warn!("id {id}: pid {pid} exited; exit status unknown (adopted)");
                act.main_gone(pid, None, ctx);
            }));
        }
        if let (Some(link), Some(fd)) = (self.node.as_ref(), msg.chan) {
            let (channel, outbox) = crate::node::channel::adopt(link, self.id, fd);
            self.outbox = Some(outbox);
            let (instance, generation) = (self.instance, self.generation);
            ctx.spawn(channel.serve(instance, generation).into_actor(self));
        }
        self.write_pid_file(pid);
        self.parent_spawned.do_send(Spawned {
            instance: self.instance,
            generation: self.generation,
            result: Ok(pid as u32),
        });
    }
}
