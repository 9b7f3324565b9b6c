//! The App supervisor's side of the metrics: it tells the Metrics actor which trees exist
//! (a [`Track`] at each spawn, an [`Untrack`] at each tree's exit) and acts on
//! [`MemoryExceeded`]: that instance only is restarted with reason `memory` (in cluster
//! mode replaced rolling, as `reload <id>` does), its stop escalating to SIGKILL after
//! `kill_timeout` like any stop. A memory restart under way is never asked again: the
//! generation changes with the restart, and a rolling replacement is remembered by its
//! slot key until its reload ends.

use actix::prelude::*;

use super::AppSup;
use crate::metrics::{MemoryExceeded, Track, Untrack};
use crate::supervision::instance::{Event, Phase, Reason};

/// `n` bytes as `describe` and `pmx.log` write sizes: `312.4 MiB`.
pub fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

impl AppSup {
    /// The tree of slot `i`'s process `generation` (main pid `pid`) exists: measure it.
    pub(super) fn track(&self, i: usize, generation: u64, pid: u32, ctx: &Context<Self>) {
        let Some(m) = &self.parts.shared.metrics else {
            return;
        };
        let s = &self.slots[i];
        m.do_send(Track {
            pid,
            app: self.name().to_string(),
            id: s.id,
            instance: s.key,
            generation,
            limit: self.parts.spec.app.max_memory_restart,
            to: ctx.address().recipient(),
        });
    }

    /// The tree of the process `generation` of the slot keyed `key` is gone.
    pub(super) fn untrack(&self, key: u32, generation: u64) {
        let (Some(m), Some(i)) = (&self.parts.shared.metrics, self.index_of_key(key)) else {
            return;
        };
        m.do_send(Untrack {
            id: self.slots[i].id,
            generation,
        });
    }
}

impl Handler<MemoryExceeded> for AppSup {
    type Result = ();
    fn handle(&mut self, m: MemoryExceeded, ctx: &mut Context<Self>) {
        let Some(i) = self.index_of_key(m.instance) else {
            return;
        };
        let s = &self.slots[i];
        // Another generation (already restarted), or a restart or stop under way: the
        // process over the limit is on its way out.
        if self.deleting
            || s.fsm.generation != m.generation
            || !matches!(s.fsm.phase, Phase::Online | Phase::Launching)
            || self.memory_reloads.contains(&m.instance)
        {
            return;
        }
        let rolling = Self::reloads_rolling(&self.parts.spec, self.live());
        if rolling && s.fsm.phase != Phase::Online {
            // A replacement is only spawned beside an online process; the next sample
            // asks again.
            return;
        }
        tracing::warn!(
            "app {} instance {} (id {}): memory {} over its limit {} (max_memory_restart); \
             restarting it",
            self.name(),
            s.idx,
            s.id,
            mib(m.rss),
            mib(m.limit)
        );
        if rolling {
            let key = m.instance;
            let idx = s.idx;
            self.memory_reloads.push(key);
            let done = self.reload_after(Vec::new(), Some(vec![idx]), Reason::Memory, ctx);
            ctx.spawn(done.into_actor(self).map(move |_, act, _| {
                act.memory_reloads.retain(|k| *k != key);
                act.flush();
            }));
        } else {
            self.feed(
                i,
                Event::Restart {
                    reason: Reason::Memory,
                    waiter: None,
                },
                ctx,
            );
            self.flush();
        }
    }
}
