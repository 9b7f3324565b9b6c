//! An App supervisor's instance table: one slot per instance number 0..N-1, each with its
//! id (granted by the Root), its state machine, its process side, its prepared spawn and
//! its log routes. A changed instance count grows the table with the next numbers or
//! shrinks it from the highest, as `scale` will.

use std::sync::Arc;

use actix::prelude::*;

use super::spawn::ProcessPort;
use super::AppSup;
use crate::os::SpawnSpec;
use crate::process::Routes;
use crate::supervision::instance::{Event, Instance};

/// One instance.
pub(super) struct Slot {
    /// Its id (as listed), granted by the Root.
    pub id: u64,
    /// Its number within the app (0..N-1).
    pub idx: u32,
    /// Its life.
    pub fsm: Instance,
    /// The process side of its current generation (None before the first spawn). An
    /// older one lives on until its tree is gone and reported, then stops.
    pub process: Option<Box<dyn ProcessPort>>,
    /// The prepared spawn (None until the first start, and after a spec change).
    pub spawn: Option<Arc<SpawnSpec>>,
    /// Where its output goes (built once the table is complete).
    pub routes: Option<Arc<Routes>>,
    /// Its row changed since the last report to the Root.
    pub changed: bool,
}

impl AppSup {
    /// The slot of instance number `instance`.
    pub(super) fn index_of(&self, instance: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.idx == instance)
    }

    /// Add a slot with the next instance number and id `id`, stopped.
    pub(super) fn push_slot(&mut self, id: u64) {
        let idx = self.slots.len() as u32;
        self.slots.push(Slot {
            id,
            idx,
            fsm: Instance::new(),
            process: None,
            spawn: None,
            routes: None,
            changed: true,
        });
    }

    /// Make the table hold one instance per id of `ids` (instance numbers 0..N-1): new
    /// slots are added stopped (the command that follows starts them), extra ones are
    /// stopped, highest first, and dropped once their tree has exited. Answers the
    /// receivers of those stops.
    pub(super) fn resize(
        &mut self,
        ids: &[u64],
        ctx: &mut Context<Self>,
    ) -> Vec<tokio::sync::oneshot::Receiver<()>> {
        let keep = ids.len().max(1);
        let mut waits = Vec::new();
        // Shrink: stop the highest first; their slots are removed once stopped (their
        // exits still need a slot to land in).
        for i in (keep..self.slots.len()).rev() {
            let (token, rx) = self.waiter();
            self.feed(
                i,
                Event::Stop {
                    hold: true,
                    waiter: Some(token),
                },
                ctx,
            );
            waits.push(rx);
        }
        self.retire_from = Some(keep);
        // A slot still being retired by an earlier shrink comes back under the id granted
        // now (its old process reports by generation, as any other).
        for (s, &id) in self.slots.iter_mut().zip(ids) {
            if s.id != id {
                s.id = id;
                s.changed = true;
                s.spawn = None;
                s.routes = None;
            }
        }
        for &id in ids.iter().skip(self.slots.len()) {
            self.push_slot(id);
        }
        waits
    }

    /// Drop the slots past the instance count once they are down (after a shrink).
    pub(super) fn retire(&mut self) {
        let Some(keep) = self.retire_from else {
            return;
        };
        if self.slots[keep.min(self.slots.len())..]
            .iter()
            .all(|s| !s.fsm.running())
        {
            self.slots.truncate(keep);
            self.retire_from = None;
            self.dirty = true;
        }
    }
}
