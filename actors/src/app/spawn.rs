//! How an App supervisor gets processes: the spawner seam (what it asks of a Process
//! actor, so tests can record it instead of spawning), the environment an instance gets,
//! and the prepared `SpawnSpec` cache that keeps the respawn path free of rebuilding it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use nix::sys::signal::Signal;

use super::AppSup;
use crate::home::HomeTag;
use crate::os::{SpawnSpec, MARKER_VAR};
use crate::process::{Process, ProcessParts, SendSignal, Spawn, Terminate};

/// What the App supervisor asks of one instance's process. The Process actor
/// (`Addr<Process>`) is the real one; a test records the calls and answers with
/// `Spawned`/`ChildExited` messages of its own.
pub trait ProcessPort {
    /// Spawn a main process (answered by `Spawned` to the supervisor).
    fn spawn(&self, msg: Spawn);
    /// Stop a tree (answered by `ChildExited` once it is gone).
    fn terminate(&self, msg: Terminate);
    /// Send a signal to the main process; errors say why it could not be sent.
    fn signal(&self, sig: Signal) -> Pin<Box<dyn Future<Output = Result<(), String>>>>;
}

/// Where an App supervisor's processes come from.
pub trait Spawner {
    /// A process side for one instance, reporting to the parents named in `parts`.
    fn process(&self, parts: ProcessParts) -> Box<dyn ProcessPort>;
}

/// The real spawner: a Process actor per spawn (per generation of an instance).
pub struct Actors;

impl Spawner for Actors {
    fn process(&self, parts: ProcessParts) -> Box<dyn ProcessPort> {
        Box::new(Process::new(parts).start())
    }
}

impl ProcessPort for Addr<Process> {
    fn spawn(&self, msg: Spawn) {
        self.do_send(msg);
    }
    fn terminate(&self, msg: Terminate) {
        self.do_send(msg);
    }
    fn signal(&self, sig: Signal) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
        let reply = self.send(SendSignal(sig));
        Box::pin(async move { reply.await.map_err(|e| e.to_string())? })
    }
}

/// uid/gid for `uid`/`gid` names or numbers; None when unset or unknown (refused earlier
/// by validation when not root).
fn resolve_user(uid: Option<&str>, gid: Option<&str>) -> (Option<u32>, Option<u32>) {
    let user = uid.and_then(|u| {
        u.parse::<u32>().ok().or_else(|| {
            nix::unistd::User::from_name(u)
                .ok()
                .flatten()
                .map(|u| u.uid.as_raw())
        })
    });
    let group = gid.and_then(|g| {
        g.parse::<u32>().ok().or_else(|| {
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .map(|g| g.gid.as_raw())
        })
    });
    (user, group)
}

impl AppSup {
    /// The tree marker of the process `generation` of instance id `id`
    /// (`<home tag>:<id>:<generation>`), in its environment.
    pub(super) fn marker(&self, id: u64, generation: u64) -> String {
        format!("{}:{id}:{generation}", self.parts.home.tag())
    }

    /// The environment the instance at slot `i` gets: the layers merged, then what pmx
    /// injects (`PMX_ID` and PM2's `pm_id`, the name, the instance number, the marker of
    /// its current generation; the prepared spawn's marker is swapped per process).
    pub(super) fn env_for(&self, i: usize) -> BTreeMap<String, String> {
        let s = &self.slots[i];
        let app = &self.parts.spec.app;
        let mut env = self.parts.spec.env.merged();
        env.insert("PMX_ID".into(), s.id.to_string());
        // Apps written for PM2 read their id from `pm_id`.
        env.insert("pm_id".into(), s.id.to_string());
        env.insert("PMX_APP_NAME".into(), app.name.clone());
        env.insert("PMX_INSTANCE".into(), s.idx.to_string());
        env.insert(app.instance_var.clone(), s.idx.to_string());
        env.insert(MARKER_VAR.into(), self.marker(s.id, s.fsm.generation));
        env
    }

    /// Slot `i`'s prepared spawn: built on its first start and after a spec change,
    /// reused by every restart in between (no environment rebuilt on the respawn path).
    pub(super) fn spawn_spec(&mut self, i: usize) -> std::io::Result<Arc<SpawnSpec>> {
        if let Some(s) = &self.slots[i].spawn {
            return Ok(s.clone());
        }
        let env = self.env_for(i);
        let spec = &self.parts.spec;
        let (uid, gid) = resolve_user(spec.app.uid.as_deref(), spec.app.gid.as_deref());
        let s = Arc::new(SpawnSpec::new(
            &spec.program,
            &spec.args,
            &spec.cwd,
            &env,
            self.parts.nofile,
            uid,
            gid,
        )?);
        self.slots[i].spawn = Some(s.clone());
        Ok(s)
    }

    /// A process side for the process `generation` of slot `idx` (instance id `id`),
    /// reporting to this actor: one per spawn.
    pub(super) fn new_process(
        &self,
        idx: u32,
        id: u64,
        generation: u64,
        ctx: &mut Context<Self>,
    ) -> Box<dyn ProcessPort> {
        self.spawner.process(ProcessParts {
            id,
            instance: idx,
            generation,
            marker: self.marker(id, generation),
            pid_file: self
                .parts
                .home
                .pids()
                .join(format!("{}-{id}.pid", self.parts.spec.app.name)),
            parent_exit: ctx.address().recipient(),
            parent_spawned: ctx.address().recipient(),
            parent_main_exited: ctx.address().recipient(),
            pids: self.parts.pids.clone(),
            log_arbiter: self.parts.log_arbiter.clone(),
        })
    }
}
