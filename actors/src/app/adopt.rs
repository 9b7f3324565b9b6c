//! An App supervisor taking back what an earlier daemon of this home ran (`crate::adopt`):
//! [`TakeBack`] arrives from the Root right after the actor starts, before the `Start` of
//! the adopted instances. Each adopted slot's next generation is set to the stored one
//! (its marker is unchanged, so its tree is still found), and its `Spawn` effect becomes
//! a `process::Adopt` instead of a spawn; the instance is online once the Process actor
//! answers. Pipes of older generations are drained into the log files; the `listen`
//! sockets are held again, so no address is bound twice.

use std::sync::Arc;

use actix::prelude::*;

use super::AppSup;
use crate::adopt::Stored;
use crate::log::pump_then_forget;
use crate::process::Adopt;

/// What an App supervisor takes back, by instance number.
#[derive(Message, Default)]
#[rtype(result = "()")]
pub struct TakeBack {
    /// The instance's process (the highest stored generation), by instance number.
    pub current: Vec<(u32, Stored)>,
    /// Older processes of its instances, whose pipes are only drained.
    pub drains: Vec<(u32, Stored)>,
    /// The `listen` sockets, in `listen` order.
    pub listen: Vec<std::os::fd::OwnedFd>,
    /// The sockets held for its Node workers, with their labels.
    pub node_sockets: Vec<(String, std::os::fd::OwnedFd)>,
}

impl Handler<TakeBack> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: TakeBack, _: &mut Context<Self>) {
        if !msg.listen.is_empty() {
            let app = &self.parts.spec.app;
            match crate::os::listen::ListenSockets::from_fds(msg.listen, &app.name) {
                Ok(l) => self.listen = Some(Arc::new(l)),
                Err(e) => tracing::error!("app {}: cannot hold its sockets again: {e}", app.name),
            }
        }
        for (label, fd) in msg.node_sockets {
            match super::cluster::Held::from_label(&label, fd) {
                Some(h) => self.node_sockets.push(h),
                None => crate::fdstore::forget(&label),
            }
        }
        if !self.node_sockets.is_empty() {
            self.dirty = true;
        }
        for (number, stored) in msg.drains {
            let Some(i) = self.index_of(number) else {
                continue;
            };
            let Some(routes) = self.slots[i].routes.clone() else {
                continue;
            };
            let label = crate::adopt::label(
                self.slots[i].id,
                stored.generation,
                stored.pid,
                stored.ticks,
                stored.restarts,
            );
            for (fd, target, stream) in [
                (stored.out, routes.out.clone(), "out"),
                (stored.err, routes.err.clone(), "err"),
            ] {
                if let Some(fd) = fd {
                    self.parts.shared.log_arbiter.spawn(pump_then_forget(
                        fd,
                        target,
                        Some(format!("{label}:{stream}")),
                    ));
                }
            }
            crate::fdstore::forget(&format!("{label}:chan"));
        }
        for (number, stored) in msg.current {
            let Some(i) = self.index_of(number) else {
                continue;
            };
            let slot = &mut self.slots[i];
            // The Start that follows issues exactly this generation.
            slot.fsm.generation = stored.generation.saturating_sub(1);
            slot.fsm.restarts = stored.restarts;
            slot.adopted_age = crate::os::age_ms(stored.ticks).map(|a| (stored.generation, a));
            self.adopting.push((slot.key, stored.generation));
            slot.adopt = Some(stored);
        }
    }
}

impl AppSup {
    /// Slot `i`'s `Spawn` effect for the generation it adopts: a Process actor that takes
    /// the stored process over.
    pub(super) fn adopt_into(&mut self, i: usize, generation: u64, ctx: &mut Context<Self>) {
        let Some(stored) = self.slots[i].adopt.take() else {
            return;
        };
        if self.slots[i].routes.is_none() {
            let live = self.live();
            self.build_routes(Some(live));
        }
        let Some(routes) = self.slots[i].routes.clone() else {
            return;
        };
        let (key, id) = (self.slots[i].key, self.slots[i].id);
        let process = self.new_process(key, id, generation, ctx);
        process.adopt(Adopt {
            generation,
            pid: stored.pid,
            ticks: stored.ticks,
            restarts: stored.restarts,
            out: stored.out,
            err: stored.err,
            chan: stored.chan,
            kill_signal: self.kill_signal,
            kill_timeout: self.kill_timeout,
            routes,
        });
        self.slots[i].processes.push((generation, process));
    }
}
