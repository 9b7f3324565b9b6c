//! App supervisor actor: owns one app — its spec, its instance table (one state machine,
//! process side and log routes per instance number), and the app's own restart window.
//!
//! A thin shell around the pure instance state machine (`supervision::instance`): each
//! message becomes an [`Event`] for one instance, and the [`Effect`]s that come back are
//! carried out here (a `Spawn` or `Terminate` to the process side, a [`StartChild`]
//! timer, a bus event, a row report, a failure to the group). The one decision on an
//! unrequested exit is `supervision::decide`. Manual commands (start, stop, restart,
//! reset, delete) arrive as [`Command`] from the Root supervisor and are answered once
//! their effect is visible; a changed spec rebuilds what it changes (rules, the prepared
//! spawns, the log routes, the instance table).
//!
//! Files: `instances.rs` (the table, growing and shrinking), `spawn.rs` (the spawner seam,
//! the environment, the prepared spawns), `routes.rs` (log routes, flush and reopen),
//! `rows.rs` (list rows and `describe`), `reload.rs` (the rolling reload's sequence),
//! `cron.rs` (`cron_restart`'s timer), `watching.rs` (`watch`: registration with the Watch
//! actor, the restart on a change).

mod adopt;
mod cluster;
mod cron;
mod effects;
mod health;
mod instances;
mod memory;
mod queries;
mod reload;
mod routes;
mod rows;
mod spawn;
#[cfg(test)]
mod tests;
mod watching;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;

pub use self::adopt::TakeBack;
pub use self::cluster::held_app;
pub use self::health::ProbeDue;
use self::instances::Slot;
pub use self::queries::{EnvOf, SignalInstances, SpawnErrors};
pub use self::reload::{Reload, ReloadError};
pub use self::routes::Logs;
pub use self::rows::{instance_count, log_paths, with_uptime, Describe, Report, Row};
pub use self::spawn::{resolve_user, short_of_resources, Actors, ProcessPort, RunAs, Spawner};
use crate::events::{BusFlags, EventBus};
use crate::group::MemberFailed;
use crate::home::Home;
use crate::messages::{ChildExited, MainExited, Ready, ReadyTimeout, Spawned, StartChild};
use crate::os;
use crate::protocol::{AppSpec, ProcessInfo};
use crate::readiness::Notified;
use crate::reaper::SharedPids;
use crate::supervision::decide::Supervisor;
use crate::supervision::instance::{Event, Reason, Token};
use crate::supervision::intensity::RestartWindow;
use crate::supervision::policy::{Policy, RestartRules};
use crate::supervision::strategy::Strategy;

/// What a command does to each instance it selects.
#[derive(Debug, Clone)]
pub enum Op {
    /// Start instances that are down (stopped or errored).
    Start,
    /// Stop: `stopped` once each tree has exited.
    Stop,
    /// Restart (a stopped or errored instance starts); zeroes the unstable count.
    Restart,
    /// Zero the restart counters.
    Reset,
    /// Stop, then forget: the actor stops once every instance has stopped.
    Delete,
    /// Start instances that are down after a delay (ms; None: the app's own
    /// `restart.delay`), counted as a restart: a group restarting its members.
    StartAfter(Option<u64>),
    /// Mark instances that are down `errored` with this reason (a group's escalation).
    MarkErrored(String),
    /// Stop as a supervisor's step (a group restarting or escalating): unlike a manual
    /// `Stop`, it does not hold the instance down.
    Pause,
    /// Its group's start waits for an earlier member (`waiting for db to be online`,
    /// shown by `describe`), or no longer (None). Touches no instance.
    Waiting(Option<String>),
}

/// A manual command on some instances of this app; answers their rows once done, or
/// [`Deleted`] when the app is being deleted (a command racing a `delete` of the app).
///
/// `Delete` of some instances (`instances` not None, with `ids`) deletes those instances
/// only: the app keeps its others (see `remove` in `instances.rs`); of all of them, the
/// app: every slot stops and the actor stops once they have.
#[derive(Message)]
#[rtype(result = "Result<Vec<ProcessInfo>, Deleted>")]
pub struct Command {
    /// What to do.
    pub op: Op,
    /// Which instance numbers (None: all).
    pub instances: Option<Vec<u32>>,
    /// A new spec to run from now on (`--update-env`, `up` reload); applied before `op`:
    /// the restart rules, the prepared spawns and the log routes are rebuilt from it.
    pub replace: Option<Arc<AppSpec>>,
    /// The app's ids after the change, one per instance number 0..N-1; Some only when the
    /// count changes (granted by the Root). The table grows with the next numbers or
    /// shrinks from the highest (stopped, then dropped).
    pub ids: Option<Vec<u64>>,
}

impl Command {
    /// `op` on every instance, nothing replaced.
    pub fn all(op: Op) -> Command {
        Command {
            op,
            instances: None,
            replace: None,
            ids: None,
        }
    }
}

/// The answer to a [`Command`] that would start something (start, restart, a delayed
/// start) or delete again, sent to an app being deleted: nothing was done (a restart
/// racing the delete could otherwise spawn a process the delete never stops); the Root
/// answers `not_found`, as it does when the actor is already gone. A stop is carried out
/// (it waits for the trees the delete is stopping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted;

/// A supervisor's step on every instance (a group's restart sequence): answered, once
/// done, with the rows and each instance's generation, by which the group recognises a
/// failure its sequence has absorbed (OTP matches a child's EXIT to the child it holds).
#[derive(Message)]
#[rtype(result = "Supervised")]
pub struct Supervise(pub Op);

/// The answer to [`Supervise`].
#[derive(Debug, Default)]
pub struct Supervised {
    /// The rows after the step.
    pub rows: Vec<ProcessInfo>,
    /// (instance number, generation) of every instance after the step.
    pub generations: Vec<(u32, u64)>,
}

/// This app is a member of a group: its failures go to the Group supervisor, which
/// decides what restarts (and its intensity replaces `max_restarts`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct JoinGroup {
    /// The group's name (shown in `list`).
    pub name: String,
    /// Where failures go.
    pub parent: Recipient<MemberFailed>,
}

/// This app leaves its group (the group was rebuilt or dissolved by `up`): its failures
/// are its own again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaveGroup;

/// Everything an App supervisor is built from.
pub struct AppParts {
    /// The app (shared with the Root's registry).
    pub spec: Arc<AppSpec>,
    /// One id per instance, allocated by the Root.
    pub ids: Vec<u64>,
    /// What every App supervisor of the daemon shares, held once.
    pub shared: Rc<Shared>,
}

/// What every App supervisor of the daemon needs of it: one copy for all apps (a copy
/// per app was ~350 bytes: a path, a name, two addresses and their allocations).
pub struct Shared {
    /// `$PMX_HOME`.
    pub home: Home,
    /// Where rows go.
    pub root: Recipient<Report>,
    /// The event bus.
    pub bus: Addr<EventBus>,
    /// The Reaper's table.
    pub pids: SharedPids,
    /// Where log actors and pumps run.
    pub log_arbiter: ArbiterHandle,
    /// The daemon's original open-file limit, restored in children.
    pub nofile: Option<(u64, u64)>,
    /// The user name shown in `list`.
    pub user: String,
    /// The event bus's "someone wants log lines" flag.
    pub bus_flags: BusFlags,
    /// The Metrics actor, told of every tree (None: nothing measured, in tests).
    pub metrics: Option<Addr<crate::metrics::Metrics>>,
    /// A foreground runtime's terminal, where every line also goes (None: the daemon).
    pub console: Option<Arc<dyn crate::foreground::Console>>,
    /// The Watch actor, where an app with `watch` registers its paths (None: nothing
    /// watched, in tests).
    pub watch: Option<Addr<crate::watch::Watch>>,
}

/// The App supervisor actor.
pub struct AppSup {
    parts: AppParts,
    slots: Vec<Slot>,
    /// The key the next slot gets (see `Slot::key`).
    next_key: u32,
    /// After a shrink: the instance count; the slots past it are dropped once down.
    retire_from: Option<usize>,
    spawner: Rc<dyn Spawner>,
    /// The group this app belongs to, if any.
    group: Option<(String, Recipient<MemberFailed>)>,
    rules: RestartRules,
    /// The app's own restart intensity over its instances (None: PM2's max_restarts).
    window: RestartWindow,
    /// The shell's clock: the state machine's `now_ms` counts from here.
    epoch: Instant,
    kill_signal: Signal,
    kill_timeout: Duration,
    created_at: u64,
    /// Its delete has begun: nothing starts again (see [`Deleted`]).
    deleting: bool,
    /// Its delete is done (the Root forgets it with the answer): no more reports.
    deleted: bool,
    /// Who waits for which token of the state machine.
    waiters: Vec<(Token, oneshot::Sender<()>)>,
    next_token: Token,
    /// Something every row shows changed since the last report (the instance count, the
    /// spec, the group): the next report carries every row. A single instance's change
    /// marks its slot instead (`Slot::changed`).
    dirty: bool,
    /// The app's `listen` sockets, bound at its first spawn and lent to every spawn of
    /// every instance (SPEC §6); None before, or when it has none. Closed when the app
    /// goes or its `listen` changes.
    listen: Option<Arc<os::listen::ListenSockets>>,
    /// The sockets bound at a Node cluster worker's request (`cluster.rs`), held for the
    /// app's life.
    node_sockets: Vec<cluster::Held>,
    /// Held by the rolling reload under way: a second one waits for it (see `reload.rs`).
    reload_lock: Arc<tokio::sync::Mutex<()>>,
    /// The slot keys whose rolling replacement for a memory limit or a failed health check
    /// is queued or under way (see `memory.rs`, `health.rs`).
    memory_reloads: Vec<u32>,
    /// The armed `cron_restart` timer, if any (see `cron.rs`).
    cron: cron::CronState,
    /// Its registration with the Watch actor (see `watching.rs`).
    watch: watching::WatchState,
    /// While its group starts: what it waits for (`waiting for db to be online`), shown
    /// by `describe` (SPEC §5).
    waiting_for: Option<String>,
    /// (slot key, generation) of the processes being taken over (`adopt.rs`).
    adopting: Vec<(u32, u64)>,
}

fn rules_of(app: &crate::protocol::App) -> RestartRules {
    RestartRules {
        policy: match app.restart.policy {
            pmx_config::Policy::Always => Policy::Always,
            pmx_config::Policy::OnFailure => Policy::OnFailure,
            pmx_config::Policy::Never => Policy::Never,
        },
        delay_ms: app.restart.delay_ms,
        backoff_ms: app.restart.backoff_ms,
        min_uptime_ms: app.restart.min_uptime_ms,
        max_restarts: app.restart.max_restarts,
        stop_exit_codes: app.stop_exit_codes.clone(),
    }
}

fn strategy_of(s: pmx_config::Strategy) -> Strategy {
    match s {
        pmx_config::Strategy::OneForOne => Strategy::OneForOne,
        pmx_config::Strategy::OneForAll => Strategy::OneForAll,
        pmx_config::Strategy::RestForOne => Strategy::RestForOne,
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl AppSup {
    /// An App supervisor for `parts.spec`, with a Process actor per instance; its
    /// instances start on the Root's `Command { op: Start }` (unless `autostart` is off).
    pub fn new(parts: AppParts) -> AppSup {
        AppSup::with_spawner(parts, Rc::new(Actors))
    }

    /// An App supervisor whose process sides come from `spawner` (tests record them).
    pub fn with_spawner(parts: AppParts, spawner: Rc<dyn Spawner>) -> AppSup {
        let rules = rules_of(&parts.spec.app);
        let kill_signal =
            os::signal_from_name(&parts.spec.app.kill_signal).unwrap_or(Signal::SIGINT);
        let kill_timeout = Duration::from_millis(parts.spec.app.kill_timeout_ms);
        AppSup {
            parts,
            slots: Vec::new(),
            next_key: 0,
            retire_from: None,
            spawner,
            group: None,
            rules,
            window: RestartWindow::new(),
            epoch: Instant::now(),
            kill_signal,
            kill_timeout,
            created_at: wall_ms(),
            deleting: false,
            deleted: false,
            waiters: Vec::new(),
            next_token: 0,
            dirty: false,
            listen: None,
            node_sockets: Vec::new(),
            reload_lock: Arc::new(tokio::sync::Mutex::new(())),
            memory_reloads: Vec::new(),
            cron: cron::CronState::default(),
            watch: watching::WatchState::default(),
            waiting_for: None,
            adopting: Vec::new(),
        }
    }

    fn name(&self) -> &str {
        &self.parts.spec.app.name
    }

    /// `wait_ready`: the `listen_timeout` (ms) a spawned process has to say READY before
    /// it is `online` all the same; None: `online` once spawned (SPEC §5).
    /// A readiness health check (`health: (ready: true)`) waits the same way: its first
    /// pass is the READY.
    fn ready_timeout_ms(&self) -> Option<u64> {
        let app = &self.parts.spec.app;
        let probe_ready = app.health.as_ref().is_some_and(|h| h.ready);
        (app.wait_ready || probe_ready).then_some(app.listen_timeout_ms)
    }

    /// A rolling replacement's wait without `wait_ready`: a Node cluster worker is ready
    /// once it listens, or after `listen_timeout` (PM2's cluster reload); any other
    /// program once spawned (see `Setting::replacement_timeout_ms`).
    fn replacement_timeout_ms(&self) -> Option<u64> {
        self.node_workers()
            .then_some(self.parts.spec.app.listen_timeout_ms)
    }

    /// The shell's clock, ms since the actor was built.
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The instant `ms` on the shell's clock.
    fn instant_of(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// The number of instances in force (slots being retired after a shrink excluded).
    fn live(&self) -> usize {
        self.retire_from
            .unwrap_or(self.slots.len())
            .min(self.slots.len())
    }

    /// Whether the app supervises its instances OTP-style: its own `intensity` is set, or
    /// a `strategy` other than OneForOne over several instances (SPEC §5: an app
    /// supervisor has no intensity by default; PM2's max_restarts rule governs).
    fn supervisor(&self) -> Supervisor {
        let app = &self.parts.spec.app;
        if app.intensity.is_some()
            || (self.live() > 1 && app.strategy != pmx_config::Strategy::OneForOne)
        {
            Supervisor::Instances
        } else if self.group.is_some() {
            Supervisor::Group
        } else {
            Supervisor::Pm2
        }
    }

    /// A new waiter token and the receiver settled with it.
    fn waiter(&mut self) -> (Token, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        self.next_token += 1;
        self.waiters.push((self.next_token, tx));
        (self.next_token, rx)
    }

    /// Feed `ev` to the slot whose process key is `key` (a report of one of its Process
    /// actors or timers), then flush; nothing when the slot is gone (deleted, retired).
    fn feed_key(&mut self, key: u32, ev: Event, ctx: &mut Context<Self>) {
        if let Some(i) = self.index_of_key(key) {
            self.feed(i, ev, ctx);
            self.flush();
        }
    }

    /// Stop slot `i` and hold it down (a shrink or a delete by id takes it away once
    /// stopped); answers the receiver that resolves once it is down.
    fn stop_for_good(&mut self, i: usize, ctx: &mut Context<Self>) -> oneshot::Receiver<()> {
        let (token, rx) = self.waiter();
        self.feed(
            i,
            Event::Stop {
                hold: true,
                waiter: Some(token),
            },
            ctx,
        );
        rx
    }

    /// Drop the slots a shrink retired, and report the rows that changed.
    fn flush(&mut self) {
        self.retire();
        self.release_sockets_if_down();
        self.report();
    }

    /// Take `spec` from now on: the restart rules, the signals, the prepared spawns, the
    /// log routes (when the logs or the instance count change) and, with `ids`, the
    /// instance table. Answers the receivers of the stops a shrink asked for.
    fn replace(
        &mut self,
        spec: Arc<AppSpec>,
        ids: Option<Vec<u64>>,
        ctx: &mut Context<Self>,
    ) -> Vec<oneshot::Receiver<()>> {
        let logs_changed = !routes::same_logs(&self.parts.spec, &spec);
        if self.parts.spec.app.listen != spec.app.listen {
            // Bound again for the new list at the next spawn; running instances keep the
            // sockets they were given until they are replaced.
            self.listen = None;
            crate::fdstore::forget(&format!("l:{}", self.name()));
        }
        let cron_changed = self.parts.spec.app.cron_restart != spec.app.cron_restart
            || self.parts.spec.app.cron_timezone != spec.app.cron_timezone;
        self.parts.spec = spec;
        if cron_changed {
            self.arm_cron(ctx);
        }
        for s in &mut self.slots {
            s.spawn = None;
        }
        self.rules = rules_of(&self.parts.spec.app);
        self.kill_signal =
            os::signal_from_name(&self.parts.spec.app.kill_signal).unwrap_or(Signal::SIGINT);
        self.kill_timeout = Duration::from_millis(self.parts.spec.app.kill_timeout_ms);
        let mut waits = Vec::new();
        let before = self.live();
        let resized = ids.as_ref().is_some_and(|ids| ids.len() != before);
        if let Some(ids) = ids {
            waits = self.resize(&ids, ctx);
            self.parts.ids = ids;
        }
        if logs_changed || resized {
            self.tell_log_files();
        }
        if logs_changed {
            self.build_routes(None);
        } else if resized {
            // Same files where the count leaves the names alone (merged, or still several).
            self.build_routes(Some(before));
        }
        self.dirty = true;
        waits
    }

    /// Apply `op` to the slots numbered in `instances` (None: all in force); answers the
    /// receivers of the effects not yet visible.
    fn apply(
        &mut self,
        op: &Op,
        instances: &Option<Vec<u32>>,
        ctx: &mut Context<Self>,
    ) -> Vec<oneshot::Receiver<()>> {
        // A delete that reaches here is the whole app's (the actor stops once it is
        // done): it never leaves an instance running unsupervised, whatever it names.
        if let Op::Waiting(w) = op {
            self.waiting_for = w.clone();
            self.dirty = true;
            return Vec::new();
        }
        let instances = if matches!(op, Op::Delete) {
            &None
        } else {
            instances
        };
        let selected: Vec<usize> = match instances {
            // A stop of the whole app also waits for the slots a shrink or an instance's
            // delete is still retiring, so that nothing runs on once it answers (`kill`,
            // `delete`: the actor stops then).
            None if matches!(op, Op::Stop | Op::Delete | Op::Pause) => {
                (0..self.slots.len()).collect()
            }
            None => (0..self.live()).collect(),
            Some(list) => list.iter().filter_map(|n| self.index_of(*n)).collect(),
        };
        if matches!(op, Op::Delete) {
            self.deleting = true;
            self.disarm_cron(ctx);
        }
        if matches!(op, Op::Restart) && instances.is_none() {
            // A manual restart of the whole app starts it with a fresh intensity window.
            self.window.clear();
        }
        let mut waits = Vec::new();
        for i in selected {
            // Every op but Reset and MarkErrored is answered once its effect is visible.
            let mut waiter = None;
            if !matches!(op, Op::Reset | Op::MarkErrored(_)) {
                let (token, rx) = self.waiter();
                waiter = Some(token);
                waits.push(rx);
            }
            let ev = match op {
                Op::Start => Event::Start { waiter },
                Op::Stop | Op::Delete => Event::Stop { hold: true, waiter },
                Op::Pause => Event::Stop {
                    hold: false,
                    waiter,
                },
                Op::Restart => Event::Restart {
                    reason: Reason::Manual,
                    waiter,
                },
                Op::StartAfter(delay) => Event::StartAfter {
                    delay_ms: delay.unwrap_or(self.parts.spec.app.restart.delay_ms),
                    waiter,
                },
                Op::Reset => Event::Reset,
                Op::MarkErrored(r) => Event::MarkErrored(r.clone()),
                Op::Waiting(_) => continue,
            };
            self.feed(i, ev, ctx);
        }
        waits
    }
}

impl Actor for AppSup {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        // Deleted: its sockets close with it (a rename keeps them under the old label
        // until then).
        if self.listen.is_some() {
            crate::fdstore::forget(&format!("l:{}", self.name()));
        }
        self.store_node_sockets(true);
        self.forget_watch();
    }

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Instances start on the Root's `Command { op: Start }`, so that it can wait for
        // them; `autostart: false` apps are registered and left stopped.
        // Exactly one slot per instance: a Vec grown by pushes would keep room for four.
        self.slots = Vec::with_capacity(self.parts.ids.len());
        for id in self.parts.ids.clone() {
            self.push_slot(id);
        }
        self.build_routes(None);
        self.dirty = true;
        self.report();
        self.arm_cron(ctx);
        self.tell_log_files();
    }
}

impl Handler<Command> for AppSup {
    type Result = ResponseActFuture<Self, Result<Vec<ProcessInfo>, Deleted>>;
    fn handle(&mut self, msg: Command, ctx: &mut Context<Self>) -> Self::Result {
        // Once the app's delete has begun, nothing may start again (the delete would stop
        // the actor with it running); a stop still waits for every tree to be gone, so
        // `kill` racing a delete never answers while a process of the app runs.
        if self.deleting
            && matches!(
                msg.op,
                Op::Start | Op::Restart | Op::StartAfter(_) | Op::Delete
            )
        {
            return Box::pin(fut::ready(Err(Deleted)));
        }
        let delete = matches!(msg.op, Op::Delete);
        let rebuild = matches!(msg.op, Op::Start | Op::Restart);
        // Some instances deleted (never all: the Root sends that as the app's delete).
        let some = match (&msg.op, &msg.instances, &msg.ids) {
            (Op::Delete, Some(numbers), Some(_)) => Some(numbers.clone()),
            _ => None,
        };
        let (waits, removed) = match (some, msg.ids) {
            (Some(numbers), Some(ids)) => {
                // Their rows as they will be once stopped: they leave the table the moment
                // their trees are gone, before this command's answer is built.
                let removed: Vec<ProcessInfo> = self
                    .infos_of(&Some(numbers.clone()))
                    .into_iter()
                    .map(|mut r| {
                        r.status = crate::protocol::Status::Stopped;
                        r.pid = None;
                        r.uptime = None;
                        r
                    })
                    .collect();
                (self.remove(&numbers, msg.replace, ids, ctx), Some(removed))
            }
            (_, ids) => {
                let mut waits = match msg.replace {
                    Some(spec) => self.replace(spec, ids, ctx),
                    None => Vec::new(),
                };
                waits.extend(self.apply(&msg.op, &msg.instances, ctx));
                (waits, None)
            }
        };
        let mut waits = waits;
        waits.extend(self.sync_watch(rebuild, ctx));
        self.flush();
        Box::pin(
            async move {
                for w in waits {
                    let _ = w.await;
                }
            }
            .into_actor(self)
            .map(move |(), act, ctx| {
                // Held flags a stop's completion changed (nothing to wait for then).
                let _ = act.sync_watch(false, ctx);
                act.flush();
                if let Some(rows) = removed {
                    return Ok(rows);
                }
                let infos = act.infos();
                if delete {
                    act.deleted = true;
                    ctx.stop();
                }
                Ok(infos)
            }),
        )
    }
}

impl Handler<Supervise> for AppSup {
    type Result = ResponseActFuture<Self, Supervised>;
    fn handle(&mut self, Supervise(op): Supervise, ctx: &mut Context<Self>) -> Self::Result {
        let delete = matches!(op, Op::Delete);
        let mut waits = self.apply(&op, &None, ctx);
        waits.extend(self.sync_watch(false, ctx));
        self.flush();
        Box::pin(
            async move {
                for w in waits {
                    let _ = w.await;
                }
            }
            .into_actor(self)
            .map(move |(), act, ctx| {
                let _ = act.sync_watch(false, ctx);
                act.flush();
                let answer = Supervised {
                    rows: act.infos(),
                    generations: act
                        .slots
                        .iter()
                        .map(|s| (s.idx, s.fsm.generation))
                        .collect(),
                };
                if delete {
                    // Its group forgets it with this answer: no report after it, and the
                    // actor stops, closing what it holds (the `listen` sockets, the
                    // sockets bound for Node workers, the log files), as a deleted app
                    // outside a group does.
                    act.deleted = true;
                    ctx.stop();
                }
                answer
            }),
        )
    }
}

impl Handler<JoinGroup> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: JoinGroup, _: &mut Context<Self>) {
        self.group = Some((msg.name, msg.parent));
        self.dirty = true;
        self.report();
    }
}

impl Handler<LeaveGroup> for AppSup {
    type Result = ();
    fn handle(&mut self, _: LeaveGroup, _: &mut Context<Self>) {
        self.group = None;
        self.dirty = true;
        self.report();
    }
}

impl Handler<Spawned> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: Spawned, ctx: &mut Context<Self>) {
        let Some(i) = self.index_of_key(msg.instance) else {
            return;
        };
        let generation = msg.generation;
        let ev = match msg.result {
            Ok(pid) => {
                self.track(i, generation, pid, ctx);
                self.start_probing(i, generation, pid, ctx);
                if let Some(k) = self
                    .adopting
                    .iter()
                    .position(|g| *g == (msg.instance, generation))
                {
                    // Taken over online: it said READY (or listened) long ago.
                    self.adopting.swap_remove(k);
                    self.feed(i, Event::Spawned { generation, pid }, ctx);
                    Event::Ready { generation }
                } else {
                    Event::Spawned { generation, pid }
                }
            }
            Err(failure) => {
                let transient = short_of_resources(failure.errno);
                if generation == self.slots[i].fsm.generation {
                    let then = if transient {
                        "; tried again shortly"
                    } else {
                        ""
                    };
                    tracing::error!("app {}: {}{then}", self.name(), failure.reason);
                }
                Event::SpawnFailed {
                    generation,
                    reason: failure.reason,
                    transient,
                }
            }
        };
        self.feed(i, ev, ctx);
        self.flush();
    }
}

impl Handler<ChildExited> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        // A Process actor that panicked reports here too (its Drop killed the tree): the
        // next spawn gets a new actor, as every spawn does.
        self.untrack(msg.instance, msg.generation);
        self.stop_probing(msg.instance, msg.generation, ctx);
        let ev = Event::Exited {
            generation: msg.generation,
            exit: msg.exit,
            uptime_ms: msg.uptime_ms,
            requested: msg.requested,
        };
        self.feed_key(msg.instance, ev, ctx);
    }
}

impl Handler<MainExited> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: MainExited, ctx: &mut Context<Self>) {
        let ev = Event::MainExited {
            generation: msg.generation,
            exit: msg.exit,
        };
        self.feed_key(msg.instance, ev, ctx);
    }
}

impl Handler<StartChild> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: StartChild, ctx: &mut Context<Self>) {
        let ev = Event::TimerFired {
            generation: msg.generation,
        };
        self.feed_key(msg.instance, ev, ctx);
    }
}

impl Handler<Ready> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: Ready, ctx: &mut Context<Self>) {
        let ev = Event::Ready {
            generation: msg.generation,
        };
        self.feed_key(msg.instance, ev, ctx);
    }
}

impl Handler<ReadyTimeout> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: ReadyTimeout, ctx: &mut Context<Self>) {
        let ev = Event::ReadyTimeout {
            generation: msg.generation,
        };
        let Some(i) = self.index_of_key(msg.instance) else {
            return;
        };
        let before = (self.slots[i].fsm.phase, self.slots[i].fsm.generation);
        self.feed(i, ev, ctx);
        self.flush();
        let fsm = &self.slots[i].fsm;
        if (fsm.phase, fsm.generation) != before && fsm.generation == msg.generation {
            // PM2's rule made it online: say so, as the app never said it was ready.
            tracing::warn!(
                "app {} id {}: no READY within listen_timeout ({} ms); online all the same",
                self.name(),
                self.slots[i].id,
                self.parts.spec.app.listen_timeout_ms
            );
        }
    }
}

impl Handler<Notified> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: Notified, ctx: &mut Context<Self>) {
        // READY=1 on the notify socket, checked there to come from this instance's tree.
        let Some(key) = self.slots.iter().find(|s| s.id == msg.id).map(|s| s.key) else {
            return;
        };
        let ev = Event::Ready {
            generation: msg.generation,
        };
        self.feed_key(key, ev, ctx);
    }
}
