//! An App supervisor's instance table: one slot per instance number 0..N-1, each with its
//! id (granted by the Root), its state machine, its process side, its prepared spawn and
//! its log routes. A changed instance count grows the table with the next numbers or
//! shrinks it from the highest, as `scale` will; deleting chosen instances (`pmx delete
//! <id>`) stops them and renumbers the others 0..M-1, keeping their ids.

use std::sync::Arc;

use actix::prelude::*;

use super::spawn::ProcessPort;
use super::AppSup;
use crate::os::SpawnSpec;
use crate::process::Routes;
use crate::supervision::instance::Instance;

/// One instance.
pub(super) struct Slot {
    /// Its id (as listed), granted by the Root.
    pub id: u64,
    /// Its number within the app (0..N-1): what rows show, commands select and
    /// `PMX_INSTANCE` says; renumbered when a lower instance is deleted.
    pub idx: u32,
    /// Its own key, never reused within the app and never changed: what its processes
    /// and timers report under (the `instance` of `Spawned`, `ChildExited`, `MainExited`,
    /// `StartChild`), so a renumbering never misroutes a late report. A new app's slots
    /// get keys 0..N-1, equal to their numbers.
    pub key: u32,
    /// Its life.
    pub fsm: Instance,
    /// The process sides of its live generations, by generation: the current one, and
    /// during a rolling reload its replacement or the replaced one being stopped (empty
    /// before the first spawn). Pruned at each spawn to what the state machine still
    /// counts as live; a Process actor stops by itself once its tree is gone.
    pub processes: Vec<(u64, Box<dyn ProcessPort>)>,
    /// The prepared spawn (None until the first start, and after a spec change).
    pub spawn: Option<Arc<SpawnSpec>>,
    /// Where its output goes (built once the table is complete).
    pub routes: Option<Arc<Routes>>,
    /// Its row changed since the last report to the Root.
    pub changed: bool,
    /// The probe chains of its processes (empty without `health`; see `health.rs`).
    pub health: Vec<super::health::Probing>,
    /// A process an earlier daemon spawned, taken over at this slot's next `Spawn`
    /// effect instead of a spawn (see `app/adopt.rs`).
    pub adopt: Option<crate::adopt::Stored>,
    /// An adopted process's (generation, age in ms when taken over): it started that long
    /// before this daemon saw it, which its uptime shows.
    pub adopted_age: Option<(u64, u64)>,
}

impl Slot {
    /// How long before its `started_ms` (the shell's clock) the current process really
    /// started (ms): its age when adopted, 0 for a process this daemon spawned.
    pub fn age_before(&self) -> u64 {
        match self.adopted_age {
            Some((g, age)) if g == self.fsm.generation => age,
            _ => 0,
        }
    }

    /// The process side of `generation`, if it is still held.
    pub fn port(&self, generation: u64) -> Option<&dyn ProcessPort> {
        self.processes
            .iter()
            .find(|(g, _)| *g == generation)
            .map(|(_, p)| p.as_ref())
    }
}

impl AppSup {
    /// The slot of instance number `instance`.
    pub(super) fn index_of(&self, instance: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.idx == instance)
    }

    /// The slot whose key is `key` (what a process or a timer reports under).
    pub(super) fn index_of_key(&self, key: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.key == key)
    }

    /// Add a slot with the next instance number and id `id`, stopped.
    pub(super) fn push_slot(&mut self, id: u64) {
        let idx = self.slots.len() as u32;
        let key = self.next_key;
        self.next_key += 1;
        self.slots.push(Slot {
            id,
            idx,
            key,
            fsm: Instance::new(),
            processes: Vec::new(),
            spawn: None,
            routes: None,
            changed: true,
            health: Vec::new(),
            adopt: None,
            adopted_age: None,
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
            waits.push(self.stop_for_good(i, ctx));
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

    /// Delete the instances numbered in `numbers` (not all of them: deleting every
    /// instance deletes the app), as PM2 7's `pm2 delete <id>` does: each is stopped and
    /// held down, then leaves the table once its tree has exited, listed as `stopping`
    /// under its own id until then; the others keep running and keep their ids, renumbered
    /// 0..M-1 in their order (the next spawn of each gets its new `PMX_INSTANCE` and log
    /// files). `spec` (the count M) and `ids` (the survivors' ids, by their new numbers)
    /// come from the Root, which changed its registry the same way before sending the
    /// command, so a later command's numbers mean the same slots here. Answers the
    /// receivers of those stops.
    pub(super) fn remove(
        &mut self,
        numbers: &[u32],
        spec: Option<Arc<crate::protocol::AppSpec>>,
        ids: Vec<u64>,
        ctx: &mut Context<Self>,
    ) -> Vec<tokio::sync::oneshot::Receiver<()>> {
        let live = self.live();
        let gone: Vec<usize> = numbers
            .iter()
            .filter_map(|n| self.index_of(*n))
            .filter(|i| *i < live)
            .collect();
        let mut waits = Vec::new();
        for &i in &gone {
            waits.push(self.stop_for_good(i, ctx));
        }
        // The files open now, by the paths they were opened for, so that a survivor whose
        // new number names a file already open shares that file's Sink.
        let opened = self.open_files(Some(live));
        // Survivors first (in their order), then the deleted slots, then any slot an
        // earlier shrink is still retiring: everything past the survivors leaves once down.
        let slots = std::mem::take(&mut self.slots);
        let mut keep = Vec::new();
        let mut leave = Vec::new();
        for (i, slot) in slots.into_iter().enumerate() {
            if i < live && !gone.contains(&i) {
                keep.push(slot);
            } else {
                leave.push((i >= live, i, slot));
            }
        }
        leave.sort_by_key(|(retiring, i, _)| (*retiring, *i));
        let survivors = keep.len();
        keep.extend(leave.into_iter().map(|(_, _, s)| s));
        self.slots = keep;
        for (n, s) in self.slots.iter_mut().enumerate() {
            if s.idx != n as u32 {
                s.idx = n as u32;
                // Its environment names its number: prepared again at its next spawn.
                s.spawn = None;
            }
            s.changed = true;
        }
        for (s, &id) in self.slots.iter_mut().zip(&ids) {
            s.id = id;
        }
        self.retire_from = Some(survivors);
        if let Some(spec) = spec {
            self.parts.spec = spec;
        }
        self.parts.ids = ids;
        self.build_routes_from(opened);
        self.dirty = true;
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
