//! App supervisor actor: owns one app — its spec, its instances (one Process actor each),
//! their log actors, and each instance's restart state. It turns an instance's
//! [`ChildExited`] into a decision with the pure policy of `supervision::policy` (PM2's
//! rules) and acts on it: [`StartChild`] at once or after the delay (a timer message with
//! a generation), `stopped`, or `errored`. Manual commands (start, stop, restart, reset,
//! delete, signal) arrive as [`Command`] from the Root supervisor and are answered once
//! their effect is visible.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;

use crate::events::{BusFlags, EventBus, Publish};
use crate::group::MemberFailed;
use crate::home::{Home, HomeTag};
use crate::log::{LogHandle, Owner, PumpTarget, Reopen, Truncate};
use crate::messages::{ChildExited, MainExited, Spawned, StartChild};
use crate::os::{self, SpawnSpec, MARKER_VAR};
use crate::process::{Process, ProcessParts, SendSignal, Spawn, Terminate};
use crate::protocol::{AppSpec, Description, Event, ProcessInfo, Status};
use crate::reaper::SharedPids;
use crate::supervision::intensity::{Intensity, IntensityVerdict, RestartWindow};
use crate::supervision::policy::{Exit, Policy, RestartRules, RestartState, Verdict};
use crate::supervision::strategy::Strategy;

/// What the Root keeps of an instance for `list`: its row and when its process started.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row, `uptime` left to be computed from `started`.
    pub info: ProcessInfo,
    /// When the current process started (None when down).
    pub started: Option<Instant>,
}

/// An App supervisor's rows changed: sent to the Root, which serves `list` from them.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Report {
    /// The app's name.
    pub app: String,
    /// Every instance's row.
    pub rows: Vec<Row>,
}

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
    /// Whether some instance waits for its group's decision after a failure (answered in
    /// the rows: nothing changes).
    Peek,
}

/// A manual command on some instances of this app; answers their rows once done.
#[derive(Message)]
#[rtype(result = "Vec<ProcessInfo>")]
pub struct Command {
    /// What to do.
    pub op: Op,
    /// Which instance numbers (None: all).
    pub instances: Option<Vec<u32>>,
    /// A new spec to run from now on (`--update-env`, `up` reload); applied before `op`.
    pub replace: Option<Arc<AppSpec>>,
    /// The app's ids after the change, one per instance number 0..N-1; Some only when
    /// `replace` changes the instance count (the Root grants ids: growth takes the next
    /// ids for the next instance numbers, a shrink drops the highest numbers' ids).
    pub ids: Option<Vec<u64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    None,
    Stop,
    Restart,
}

struct Inst {
    id: u64,
    idx: u32,
    addr: Addr<Process>,
    status: Status,
    restarts: u64,
    state: RestartState,
    generation: u64,
    /// A tree exists for `generation` (spawned, its exit not yet reported).
    running: bool,
    pid: Option<u32>,
    started: Option<Instant>,
    last_exit: Option<Exit>,
    intent: Intent,
    waiters: Vec<oneshot::Sender<()>>,
    /// The prepared spawn (None until the first start, and after a spec change).
    spawn: Option<Arc<SpawnSpec>>,
    /// Why the last spawn failed (or why a group gave up on it), until a spawn succeeds.
    last_error: Option<String>,
    /// Stopped by hand: a group's restart sequence leaves it down.
    held: bool,
    /// The generation whose exit event was already published.
    exit_published: u64,
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

/// Everything an App supervisor is built from.
pub struct AppParts {
    /// The app (shared with the Root's registry).
    pub spec: Arc<AppSpec>,
    /// One id per instance, allocated by the Root.
    pub ids: Vec<u64>,
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
}

/// The App supervisor actor.
pub struct AppSup {
    parts: AppParts,
    insts: Vec<Inst>,
    /// The group this app belongs to, if any.
    group: Option<(String, Recipient<MemberFailed>)>,
    /// Timers asked for while applying a command: (instance, generation, delay ms).
    timers: Vec<(u32, u64, u64)>,
    /// Each instance's (stdout, stderr) log routes, to rebuild a Process actor.
    routes: Vec<(PumpTarget, PumpTarget)>,
    rules: RestartRules,
    /// The app's own restart intensity over its instances (None: PM2's max_restarts).
    window: RestartWindow,
    /// When the window's clock started.
    epoch: Instant,
    kill_signal: Signal,
    kill_timeout: Duration,
    created_at: u64,
    deleted: bool,
}

/// The number of instances `instances` means on this machine: `Max` = the CPUs available,
/// `MaxMinus(k)` = CPUs − k, at least 1.
pub fn instance_count(i: &pmx_config::Instances) -> u32 {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    match i {
        pmx_config::Instances::Count(n) => (*n).max(1),
        pmx_config::Instances::Max => cpus,
        pmx_config::Instances::MaxMinus(k) => cpus.saturating_sub(*k).max(1),
    }
}

/// The log files of an app: (stdout file, stderr file, combined file), absolute. PM2's
/// names under `$PMX_HOME/logs` unless the spec sets them.
///
/// With several instances (`count` > 1) and no `merge`, each instance `instance` has its
/// own files: `-<instance>` goes before the extension (`<name>-out-1.log`,
/// `/var/log/api-1.log`), as PM2 does without `merge_logs`; `/dev/null` stays itself.
pub fn log_paths(
    home: &Home,
    spec: &AppSpec,
    instance: u32,
    count: usize,
) -> (PathBuf, PathBuf, Option<PathBuf>) {
    let logs = &spec.app.logs;
    let name = &spec.app.name;
    let out = logs
        .out_file
        .clone()
        .unwrap_or_else(|| home.logs().join(format!("{name}-out.log")));
    let err = logs
        .error_file
        .clone()
        .unwrap_or_else(|| home.logs().join(format!("{name}-error.log")));
    let combined = logs.log_file.clone();
    if count <= 1 || logs.merge {
        return (out, err, combined);
    }
    let own = |p: PathBuf| instance_path(p, instance);
    (own(out), own(err), combined.map(own))
}

/// `path` with `-<instance>` before its extension (`a/api.log` → `a/api-1.log`, `a/api` →
/// `a/api-1`); `/dev/null` unchanged.
fn instance_path(path: PathBuf, instance: u32) -> PathBuf {
    if path == Path::new("/dev/null") {
        return path;
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    let mut name = stem;
    name.push(format!("-{instance}"));
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl AppSup {
    /// An App supervisor for `parts.spec`; its instances start when the actor starts
    /// (unless `autostart` is off).
    pub fn new(parts: AppParts) -> AppSup {
        let rules = rules_of(&parts.spec.app);
        let kill_signal =
            os::signal_from_name(&parts.spec.app.kill_signal).unwrap_or(Signal::SIGINT);
        let kill_timeout = Duration::from_millis(parts.spec.app.kill_timeout_ms);
        AppSup {
            parts,
            insts: Vec::new(),
            group: None,
            timers: Vec::new(),
            routes: Vec::new(),
            rules,
            window: RestartWindow::new(),
            epoch: Instant::now(),
            kill_signal,
            kill_timeout,
            created_at: now_ms(),
            deleted: false,
        }
    }

    fn name(&self) -> &str {
        &self.parts.spec.app.name
    }

    fn mode(&self) -> &'static str {
        if self.insts.len() > 1 || !self.parts.spec.app.listen.is_empty() {
            "cluster"
        } else {
            "fork"
        }
    }

    /// Build one Process actor per instance, with its log routes.
    fn build_instances(&mut self, ctx: &mut Context<Self>) {
        let arbiter = self.parts.log_arbiter.clone();
        let rotate = self.parts.spec.app.logs.rotate;
        let owner = Owner {
            app: self.parts.spec.app.name.clone(),
            bus: Some(self.parts.bus.clone()),
            first_id: self.parts.ids.first().copied().unwrap_or(0),
        };
        // One file actor per distinct path: instances share them under `merge`.
        let mut opened: Vec<(PathBuf, LogHandle)> = Vec::new();
        let mut open = |path: PathBuf| -> LogHandle {
            if let Some((_, h)) = opened.iter().find(|(p, _)| *p == path) {
                return h.clone();
            }
            let h = LogHandle::start(&arbiter, path.clone(), rotate, owner.clone());
            opened.push((path, h.clone()));
            h
        };
        let count = self.parts.ids.len();
        let logs = &self.parts.spec.app.logs;
        let time_format = logs.time.then(|| logs.date_format.clone());
        for (idx, id) in self.parts.ids.clone().into_iter().enumerate() {
            let (out_path, err_path, combined) =
                log_paths(&self.parts.home, &self.parts.spec, idx as u32, count);
            let shared_err_out = out_path == err_path;
            let out_file = open(out_path);
            let err_file = open(err_path);
            let combined_file = combined.map(&mut open);
            let shared = combined_file.is_some()
                || shared_err_out
                || (count > 1 && self.parts.spec.app.logs.merge);
            let target = |file: &LogHandle, stream: &'static str| PumpTarget {
                // A log_file named like a stream's own file gets each line once.
                files: std::iter::once(file.clone())
                    .chain(combined_file.clone().filter(|c| c != file))
                    .collect(),
                shared,
                time_format: time_format.clone(),
                app: self.parts.spec.app.name.clone(),
                id,
                stream,
                events: Some((self.parts.bus.clone(), self.parts.bus_flags.clone())),
            };
            let routes = (target(&out_file, "out"), target(&err_file, "err"));
            let process = self.new_process(idx as u32, id, &routes, ctx);
            self.routes.push(routes);
            self.insts.push(Inst {
                id,
                idx: idx as u32,
                addr: process,
                status: Status::Stopped,
                restarts: 0,
                state: RestartState::default(),
                generation: 0,
                running: false,
                pid: None,
                started: None,
                last_exit: None,
                intent: Intent::None,
                waiters: Vec::new(),
                spawn: None,
                last_error: None,
                held: false,
                exit_published: 0,
            });
        }
    }

    /// A Process actor for instance `idx` (id `id`) writing to `routes`.
    fn new_process(
        &self,
        idx: u32,
        id: u64,
        routes: &(PumpTarget, PumpTarget),
        ctx: &mut Context<Self>,
    ) -> Addr<Process> {
        Process::new(ProcessParts {
            id,
            instance: idx,
            marker: format!("{}:{id}", self.parts.home.tag()),
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
            out: routes.0.clone(),
            err: routes.1.clone(),
        })
        .start()
    }

    /// The environment instance `i` gets: the layers merged, then what pmx injects.
    fn env_for(&self, i: usize) -> BTreeMap<String, String> {
        let inst = &self.insts[i];
        let mut env = self.parts.spec.env.merged();
        env.insert("PMX_ID".into(), inst.id.to_string());
        env.insert("PMX_APP_NAME".into(), self.name().to_string());
        env.insert("PMX_INSTANCE".into(), inst.idx.to_string());
        env.insert(
            self.parts.spec.app.instance_var.clone(),
            inst.idx.to_string(),
        );
        env.insert(
            MARKER_VAR.into(),
            format!("{}:{}", self.parts.home.tag(), inst.id),
        );
        env
    }

    /// Spawn instance `i` now (a new generation).
    fn start(&mut self, i: usize) {
        let spawn = match self.spawn_spec(i) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("cannot start {}: {e}", self.parts.spec.program.display());
                tracing::error!("app {}: {reason}", self.name());
                let inst = &mut self.insts[i];
                inst.status = Status::Errored;
                inst.running = false;
                inst.last_error = Some(reason.clone());
                self.settle(i);
                self.publish(i, "errored", |e| e.reason = Some(reason));
                return;
            }
        };
        let inst = &mut self.insts[i];
        inst.generation += 1;
        inst.status = Status::Launching;
        inst.running = true;
        inst.intent = Intent::None;
        inst.addr.do_send(Spawn {
            generation: inst.generation,
            spec: spawn,
            kill_signal: self.kill_signal,
            kill_timeout: self.kill_timeout,
        });
    }

    /// Whether the app supervises its instances OTP-style: its own `intensity` is set, or
    /// a `strategy` other than OneForOne over several instances (SPEC §5: an app
    /// supervisor has no intensity by default; PM2's max_restarts rule governs).
    fn supervises_instances(&self) -> bool {
        let app = &self.parts.spec.app;
        app.intensity.is_some()
            || (self.insts.len() > 1 && app.strategy != pmx_config::Strategy::OneForOne)
    }

    fn strategy(&self) -> Strategy {
        match self.parts.spec.app.strategy {
            pmx_config::Strategy::OneForOne => Strategy::OneForOne,
            pmx_config::Strategy::OneForAll => Strategy::OneForAll,
            pmx_config::Strategy::RestForOne => Strategy::RestForOne,
        }
    }

    /// Instance `i` failed and the app supervises its instances: the same pure
    /// `RestartWindow::record(now)` and `Strategy::affected` as a group, one level down.
    /// Within the intensity, the other affected instances are stopped, then the affected
    /// ones start in order (the failed one after its own delay or backoff). Over it, every
    /// instance is stopped and the app escalates: to its group as a failure of this
    /// member, or, outside a group, by marking its instances `errored`.
    fn instance_failed(&mut self, i: usize, exit: &Exit, uptime_ms: u64, ctx: &mut Context<Self>) {
        let rules = RestartRules {
            max_restarts: u32::MAX,
            ..self.rules.clone()
        };
        let delay_ms = match self.insts[i].state.on_exit(&rules, exit, uptime_ms) {
            Verdict::Restart { delay_ms } => delay_ms,
            _ => 0,
        };
        self.insts[i].status = Status::WaitingRestart;
        let now = self.epoch.elapsed().as_millis() as u64;
        let exceeded = self.parts.spec.app.intensity.as_ref().is_some_and(|int| {
            let int = Intensity {
                max: int.max,
                within_ms: int.within_ms,
            };
            self.window.record(&int, now) == IntensityVerdict::Exceeded
        });
        if exceeded {
            let reason = match &self.parts.spec.app.intensity {
                Some(int) => format!(
                    "app {}: more than {} restarts within {} ms (its intensity)",
                    self.name(),
                    int.max,
                    int.within_ms
                ),
                None => String::new(),
            };
            tracing::warn!("{reason}");
            let all: Vec<usize> = (0..self.insts.len()).rev().collect();
            self.stop_then(all, ctx, move |act, _| {
                act.window.clear();
                match &act.group {
                    Some((_, group)) => group.do_send(MemberFailed {
                        member: act.name().to_string(),
                        delay_ms,
                    }),
                    None => {
                        for j in 0..act.insts.len() {
                            act.apply(&Op::MarkErrored(reason.clone()), j);
                        }
                    }
                }
                act.report();
            });
            return;
        }
        let affected = self.strategy().affected(self.insts.len(), i);
        let others: Vec<usize> = affected.clone().rev().filter(|j| *j != i).collect();
        self.stop_then(others, ctx, move |act, ctx| {
            for j in affected {
                let delay = (j == i).then_some(delay_ms);
                act.apply(&Op::StartAfter(delay), j);
            }
            act.arm_timers(ctx);
            act.report();
        });
    }

    /// Set the `StartChild` timers that applying commands asked for.
    fn arm_timers(&mut self, ctx: &mut Context<Self>) {
        for (instance, generation, delay) in self.timers.drain(..) {
            ctx.notify_later(
                StartChild {
                    instance,
                    generation,
                },
                Duration::from_millis(delay),
            );
        }
    }

    /// Stop instances `js` (in that order) and, once all have stopped, run `then`.
    fn stop_then(
        &mut self,
        js: Vec<usize>,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let stops: Vec<_> = js
            .into_iter()
            .filter_map(|j| self.apply(&Op::Pause, j))
            .collect();
        ctx.spawn(
            async move {
                for s in stops {
                    let _ = s.await;
                }
            }
            .into_actor(self)
            .map(move |(), act, ctx| then(act, ctx)),
        );
    }

    /// Instance `i`'s prepared spawn: built on its first start and after a spec change,
    /// reused by every restart in between (no environment rebuilt on the respawn path).
    fn spawn_spec(&mut self, i: usize) -> std::io::Result<Arc<SpawnSpec>> {
        if let Some(s) = &self.insts[i].spawn {
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
        self.insts[i].spawn = Some(s.clone());
        Ok(s)
    }

    /// Ask instance `i`'s tree to stop.
    fn terminate(&mut self, i: usize) {
        let inst = &mut self.insts[i];
        inst.status = Status::Stopping;
        inst.addr.do_send(Terminate {
            generation: inst.generation,
            signal: self.kill_signal,
            timeout: self.kill_timeout,
        });
    }

    /// Apply `op` to instance `i`; returns a receiver when the effect is not yet visible.
    fn apply(&mut self, op: &Op, i: usize) -> Option<oneshot::Receiver<()>> {
        let status = self.insts[i].status;
        let running = self.insts[i].running;
        match op {
            Op::Reset => {
                let inst = &mut self.insts[i];
                inst.restarts = 0;
                inst.state.reset();
                None
            }
            Op::Peek => None,
            Op::Start | Op::StartAfter(_) if running => None,
            Op::Start if status == Status::WaitingRestart => None,
            // OTP: a temporary child is never restarted, even when a sibling's failure made
            // the strategy stop it.
            Op::StartAfter(_) if self.rules.policy == Policy::Never => None,
            Op::StartAfter(_) if self.insts[i].held => None,
            Op::StartAfter(delay) => {
                let delay = delay.unwrap_or(self.parts.spec.app.restart.delay_ms);
                if delay == 0 {
                    let done = self.wait(i);
                    self.insts[i].restarts += 1;
                    self.publish(i, "restart", |e| e.reason = Some("group".into()));
                    self.start(i);
                    Some(done)
                } else {
                    // Answered at once: the supervisor does not wait out the delay (a stop
                    // meanwhile makes the timer stale with a new generation).
                    let inst = &mut self.insts[i];
                    inst.generation += 1;
                    inst.status = Status::WaitingRestart;
                    self.timers.push((inst.idx, inst.generation, delay));
                    None
                }
            }
            Op::MarkErrored(reason) => {
                if !running {
                    self.insts[i].status = Status::Errored;
                    self.insts[i].last_error = Some(reason.clone());
                    let reason = reason.clone();
                    self.publish(i, "errored", |e| e.reason = Some(reason));
                }
                None
            }
            Op::Start => {
                self.insts[i].held = false;
                self.insts[i].state.reset();
                // Wait first: a start that fails at once settles its waiters at once.
                let done = self.wait(i);
                self.start(i);
                Some(done)
            }
            Op::Stop | Op::Delete | Op::Pause => {
                // A stop asked by hand holds the instance down: a group's pending restart
                // sequence does not start it again (OTP serialises terminate_child).
                if !matches!(op, Op::Pause) {
                    self.insts[i].held = true;
                }
                if running {
                    self.insts[i].intent = Intent::Stop;
                    if status != Status::Stopping {
                        self.terminate(i);
                    }
                    Some(self.wait(i))
                } else {
                    let inst = &mut self.insts[i];
                    if inst.status != Status::Stopped {
                        // A pending restart timer becomes stale with the new generation,
                        // and whoever waited for that start is answered now.
                        inst.generation += 1;
                        inst.status = Status::Stopped;
                        self.settle(i);
                        self.publish(i, "stop", |_| {});
                    }
                    None
                }
            }
            Op::Restart => {
                self.insts[i].held = false;
                self.insts[i].state.reset();
                let done = self.wait(i);
                if running {
                    self.insts[i].intent = Intent::Restart;
                    if status != Status::Stopping {
                        self.terminate(i);
                    }
                } else {
                    self.insts[i].restarts += 1;
                    self.publish(i, "restart", |e| e.reason = Some("restart".into()));
                    self.start(i);
                }
                Some(done)
            }
        }
    }

    fn wait(&mut self, i: usize) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.insts[i].waiters.push(tx);
        rx
    }

    fn settle(&mut self, i: usize) {
        for w in self.insts[i].waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn publish_exit(&self, i: usize, exit: Option<Exit>) {
        let (code, signal) = (
            exit.and_then(|e| e.code),
            exit.and_then(|e| e.signal).map(os::signal_name),
        );
        self.publish(i, "exit", |e| {
            e.code = Some(code);
            e.signal = Some(signal);
        });
    }

    fn publish(&self, i: usize, event: &str, fill: impl FnOnce(&mut Event)) {
        if !self.parts.bus_flags.any() {
            return;
        }
        let mut e = Event {
            event: event.into(),
            app: Some(self.name().to_string()),
            id: Some(self.insts[i].id),
            time: Some(chrono::Local::now().to_rfc3339()),
            ..Event::default()
        };
        fill(&mut e);
        self.parts.bus.do_send(Publish(e));
    }

    /// Every instance's row.
    pub fn rows(&self) -> Vec<Row> {
        let mode = self.mode();
        self.insts
            .iter()
            .map(|inst| Row {
                info: ProcessInfo {
                    id: inst.id,
                    name: self.name().to_string(),
                    instance: inst.idx,
                    pid: inst.pid,
                    status: inst.status,
                    restarts: inst.restarts,
                    mode: mode.into(),
                    cpu: None,
                    memory: None,
                    uptime: None,
                    user: self.parts.user.clone(),
                    watching: !matches!(self.parts.spec.app.watch, pmx_config::Watch::Off),
                    namespace: self.parts.spec.app.namespace.clone(),
                    group: self.group.as_ref().map(|(g, _)| g.clone()),
                },
                started: inst.started,
            })
            .collect()
    }

    fn infos(&self) -> Vec<ProcessInfo> {
        self.rows()
            .into_iter()
            .map(|r| with_uptime(r.info, r.started))
            .collect()
    }

    fn report(&self) {
        if !self.deleted {
            self.parts.root.do_send(Report {
                app: self.name().to_string(),
                rows: self.rows(),
            });
        }
    }

    fn index_of(&self, instance: u32) -> Option<usize> {
        self.insts.iter().position(|i| i.idx == instance)
    }
}

/// `info` with `uptime` computed from `started`.
pub fn with_uptime(mut info: ProcessInfo, started: Option<Instant>) -> ProcessInfo {
    info.uptime = started.map(|s| s.elapsed().as_millis() as u64);
    info
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

impl Actor for AppSup {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        // Instances start on the Root's `Command { op: Start }`, so that it can wait for
        // them; `autostart: false` apps are registered and left stopped.
        self.build_instances(ctx);
        self.report();
    }
}

impl Handler<Command> for AppSup {
    type Result = ResponseActFuture<Self, Vec<ProcessInfo>>;
    fn handle(&mut self, msg: Command, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(spec) = msg.replace {
            self.parts.spec = spec;
            for inst in &mut self.insts {
                inst.spawn = None;
            }
            self.rules = rules_of(&self.parts.spec.app);
            self.kill_signal =
                os::signal_from_name(&self.parts.spec.app.kill_signal).unwrap_or(Signal::SIGINT);
            self.kill_timeout = Duration::from_millis(self.parts.spec.app.kill_timeout_ms);
        }
        let selected: Vec<usize> = match &msg.instances {
            None => (0..self.insts.len()).collect(),
            Some(list) => list.iter().filter_map(|n| self.index_of(*n)).collect(),
        };
        if matches!(msg.op, Op::Delete) {
            self.deleted = true;
        }
        if matches!(msg.op, Op::Restart) && msg.instances.is_none() {
            // A manual restart of the whole app starts it with a fresh intensity window.
            self.window.clear();
        }
        let waits: Vec<_> = selected
            .iter()
            .filter_map(|i| self.apply(&msg.op, *i))
            .collect();
        self.arm_timers(ctx);
        self.report();
        let delete = matches!(msg.op, Op::Delete);
        Box::pin(
            async move {
                for w in waits {
                    let _ = w.await;
                }
            }
            .into_actor(self)
            .map(move |(), act, ctx| {
                let infos = act.infos();
                if delete {
                    ctx.stop();
                }
                infos
            }),
        )
    }
}

impl Handler<JoinGroup> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: JoinGroup, _: &mut Context<Self>) {
        self.group = Some((msg.name, msg.parent));
        self.report();
    }
}

/// This app leaves its group (the group was rebuilt or dissolved by `up`): its failures
/// are its own again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaveGroup;

impl Handler<LeaveGroup> for AppSup {
    type Result = ();
    fn handle(&mut self, _: LeaveGroup, _: &mut Context<Self>) {
        self.group = None;
        self.report();
    }
}

impl AppSup {
    /// The distinct log files of the instances numbered in `only` (None: all): a file
    /// shared by streams or instances once.
    fn log_files(&self, only: &Option<Vec<u32>>) -> Vec<&LogHandle> {
        let mut files: Vec<&LogHandle> = Vec::new();
        for (_, (out, err)) in self
            .routes
            .iter()
            .enumerate()
            .filter(|(i, _)| selected(only, *i))
        {
            for f in out.files.iter().chain(err.files.iter()) {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
        files
    }
}

/// Whether instance number `idx` is among `only` (None: all are).
fn selected(only: &Option<Vec<u32>>, idx: usize) -> bool {
    only.as_ref().is_none_or(|l| l.contains(&(idx as u32)))
}

/// What to do to the log files of the app; answers the rows of the instances concerned.
#[derive(Message, Clone)]
#[rtype(result = "Vec<ProcessInfo>")]
pub enum Logs {
    /// Empty the files of these instance numbers (None: all) (`pmx flush`); a file
    /// shared under `merge` is emptied for all.
    Flush(Option<Vec<u32>>),
    /// Reopen every file (`pmx reloadLogs`, SIGUSR2).
    Reopen,
}

impl Handler<Logs> for AppSup {
    type Result = ResponseActFuture<Self, Vec<ProcessInfo>>;
    fn handle(&mut self, msg: Logs, _: &mut Context<Self>) -> Self::Result {
        let only = match &msg {
            Logs::Flush(only) => only.clone(),
            Logs::Reopen => None,
        };
        let files: Vec<LogHandle> = self.log_files(&only).into_iter().cloned().collect();
        Box::pin(
            async move {
                for f in files {
                    let _ = match msg {
                        Logs::Flush(_) => f.addr.send(Truncate).await,
                        Logs::Reopen => f.addr.send(Reopen).await,
                    };
                }
            }
            .into_actor(self)
            .map(move |(), act, _| {
                let insts = act.insts.iter().map(|i| i.idx as usize);
                act.infos()
                    .into_iter()
                    .zip(insts)
                    .filter(|(_, idx)| selected(&only, *idx))
                    .map(|(row, _)| row)
                    .collect()
            }),
        )
    }
}

/// Send a signal to the main process of some instances.
#[derive(Message)]
#[rtype(result = "Result<Vec<ProcessInfo>, String>")]
pub struct SignalInstances {
    /// The signal.
    pub signal: Signal,
    /// Which instance numbers (None: all).
    pub instances: Option<Vec<u32>>,
}

impl Handler<SignalInstances> for AppSup {
    type Result = ResponseActFuture<Self, Result<Vec<ProcessInfo>, String>>;
    fn handle(&mut self, msg: SignalInstances, _: &mut Context<Self>) -> Self::Result {
        // Only running instances are signalled; none running is the error.
        let addrs: Vec<_> = self
            .insts
            .iter()
            .filter(|i| msg.instances.as_ref().is_none_or(|l| l.contains(&i.idx)))
            .filter(|i| i.pid.is_some())
            .map(|i| i.addr.clone())
            .collect();
        if addrs.is_empty() {
            let name = self.name().to_string();
            return Box::pin(fut::ready(Err(format!(
                "{name} has no running process to signal"
            ))));
        }
        let sig = msg.signal;
        Box::pin(
            async move {
                let mut errors = Vec::new();
                for a in addrs {
                    match a.send(SendSignal(sig)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => errors.push(e),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                errors
            }
            .into_actor(self)
            .map(|errors, act, _| {
                if errors.is_empty() {
                    Ok(act.infos())
                } else {
                    Err(errors.join("; "))
                }
            }),
        )
    }
}

/// Everything about some instances (`describe`).
#[derive(Message)]
#[rtype(result = "Vec<Description>")]
pub struct Describe {
    /// Which instance numbers (None: all).
    pub instances: Option<Vec<u32>>,
}

impl Handler<Describe> for AppSup {
    type Result = MessageResult<Describe>;
    fn handle(&mut self, msg: Describe, _: &mut Context<Self>) -> Self::Result {
        let spec = &self.parts.spec;
        let count = self.parts.ids.len();
        let rows = self.rows();
        let out = rows
            .into_iter()
            .zip(self.insts.iter())
            .filter(|(_, i)| msg.instances.as_ref().is_none_or(|l| l.contains(&i.idx)))
            .map(|(row, inst)| {
                let (out, err, combined) = log_paths(&self.parts.home, spec, inst.idx, count);
                let files = self.log_files(&Some(vec![inst.idx]));
                (row, inst, out, err, combined, files)
            })
            .map(|(row, inst, out, err, combined, files)| Description {
                info: with_uptime(row.info, row.started),
                script: spec.app.script.clone(),
                program: spec.program.clone(),
                args: spec.args.clone(),
                interpreter: spec.app.interpreter.clone(),
                cwd: spec.cwd.clone(),
                out_log: out,
                error_log: err,
                log_file: combined,
                log_utc_offset: chrono::Local::now().offset().local_minus_utc(),
                log_date_format: spec
                    .app
                    .logs
                    .time
                    .then(|| spec.app.logs.date_format.clone()),
                log_lost_lines: files.iter().map(|f| f.stats.lost()).sum(),
                log_fault: files.iter().find_map(|f| f.stats.fault()),
                policy: format!("{:?}", spec.app.restart.policy),
                unstable_restarts: inst.state.unstable,
                last_exit_code: inst.last_exit.and_then(|e| e.code),
                last_exit_signal: inst.last_exit.and_then(|e| e.signal).map(os::signal_name),
                source: spec.source.clone(),
                created_at: self.created_at,
                kill_signal: spec.app.kill_signal.clone(),
                kill_timeout: spec.app.kill_timeout_ms,
                last_error: inst.last_error.clone(),
                group_strategy: None,
                group_intensity: None,
                group_restarts: None,
            })
            .collect();
        MessageResult(out)
    }
}

/// The environment instance `instance` got at its last spawn (`pmx env`).
#[derive(Message)]
#[rtype(result = "BTreeMap<String, String>")]
pub struct EnvOf {
    /// The instance number.
    pub instance: u32,
}

impl Handler<EnvOf> for AppSup {
    type Result = MessageResult<EnvOf>;
    fn handle(&mut self, msg: EnvOf, _: &mut Context<Self>) -> Self::Result {
        // The environment is rebuilt from the stored layers rather than kept per instance:
        // it is what the last spawn got, as long as the spec has not been replaced since.
        let env = match self.index_of(msg.instance) {
            Some(i) => self.env_for(i),
            None => BTreeMap::new(),
        };
        MessageResult(env)
    }
}

/// Why instances could not be spawned (their last spawn failed): one message each.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct SpawnErrors;

impl Handler<SpawnErrors> for AppSup {
    type Result = MessageResult<SpawnErrors>;
    fn handle(&mut self, _: SpawnErrors, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.insts
                .iter()
                .filter(|i| i.status == Status::Errored)
                .filter_map(|i| i.last_error.clone())
                .collect(),
        )
    }
}

impl Handler<Spawned> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: Spawned, _: &mut Context<Self>) {
        let Some(i) = self.index_of(msg.instance) else {
            return;
        };
        if self.insts[i].generation != msg.generation {
            return;
        }
        match msg.result {
            Ok(pid) => {
                let inst = &mut self.insts[i];
                inst.last_error = None;
                inst.pid = Some(pid);
                inst.started = Some(Instant::now());
                if inst.status == Status::Launching {
                    inst.status = Status::Online;
                }
                if inst.intent == Intent::None {
                    self.settle(i);
                }
                self.publish(i, "online", |_| {});
            }
            Err(reason) => {
                tracing::error!("app {}: {reason}", self.name());
                let inst = &mut self.insts[i];
                inst.last_error = Some(reason.clone());
                inst.running = false;
                inst.pid = None;
                inst.status = Status::Errored;
                inst.intent = Intent::None;
                self.settle(i);
                self.publish(i, "errored", |e| e.reason = Some(reason));
            }
        }
        self.report();
    }
}

impl Handler<ChildExited> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        let Some(i) = self.index_of(msg.instance) else {
            return;
        };
        if !self.insts[i].addr.connected() {
            // The Process actor panicked (its Drop killed the tree and reported this
            // exit): a fresh one takes its place.
            let (idx, id) = (self.insts[i].idx, self.insts[i].id);
            let routes = self.routes[i].clone();
            self.insts[i].addr = self.new_process(idx, id, &routes, ctx);
        }
        let inst = &mut self.insts[i];
        if inst.generation != msg.generation || !inst.running {
            return;
        }
        inst.running = false;
        inst.pid = None;
        inst.started = None;
        inst.last_exit = msg.exit;
        // The exit event is published when the main process exits (at MainExited when the
        // rest of its tree had to be stopped first).
        if inst.exit_published != inst.generation {
            self.publish_exit(i, msg.exit);
        }
        let intent = self.insts[i].intent;
        if msg.requested || intent != Intent::None {
            if intent == Intent::Restart && !self.deleted {
                self.insts[i].restarts += 1;
                self.publish(i, "restart", |e| e.reason = Some("restart".into()));
                self.start(i);
            } else {
                self.insts[i].status = Status::Stopped;
                self.insts[i].intent = Intent::None;
                self.publish(i, "stop", |_| {});
                self.settle(i);
            }
            self.report();
            return;
        }
        // An exit pmx did not ask for: the policy decides. An actor panic (no exit) counts
        // as a failure.
        let exit = msg.exit.unwrap_or(Exit::code(-1));
        if self.supervises_instances() && self.rules.wants_restart(&exit) {
            self.instance_failed(i, &exit, msg.uptime_ms, ctx);
            self.report();
            return;
        }
        if let Some((_, group)) = &self.group {
            if self.rules.wants_restart(&exit) {
                // A failure of this child of the group: the group's strategy and intensity
                // decide (its intensity replaces max_restarts); the delay stays ours.
                let rules = RestartRules {
                    max_restarts: u32::MAX,
                    ..self.rules.clone()
                };
                let delay_ms = match self.insts[i].state.on_exit(&rules, &exit, msg.uptime_ms) {
                    Verdict::Restart { delay_ms } => delay_ms,
                    _ => 0,
                };
                self.insts[i].status = Status::WaitingRestart;
                group.do_send(MemberFailed {
                    member: self.name().to_string(),
                    delay_ms,
                });
                self.report();
                return;
            }
        }
        let verdict = self.insts[i]
            .state
            .on_exit(&self.rules, &exit, msg.uptime_ms);
        match verdict {
            Verdict::Restart { delay_ms: 0 } => {
                self.insts[i].restarts += 1;
                self.publish(i, "restart", |e| e.reason = Some("exited".into()));
                self.start(i);
            }
            Verdict::Restart { delay_ms } => {
                let inst = &mut self.insts[i];
                inst.status = Status::WaitingRestart;
                ctx.notify_later(
                    StartChild {
                        instance: inst.idx,
                        generation: inst.generation,
                    },
                    Duration::from_millis(delay_ms),
                );
            }
            Verdict::Stop => {
                self.insts[i].status = Status::Stopped;
                self.publish(i, "stop", |_| {});
            }
            Verdict::Errored => {
                self.insts[i].status = Status::Errored;
                let max = self.rules.max_restarts;
                self.publish(i, "errored", |e| {
                    e.reason = Some(format!(
                        "{max} unstable exits in a row (max_restarts), each before min_uptime"
                    ))
                });
            }
        }
        self.report();
    }
}

impl Handler<MainExited> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: MainExited, _: &mut Context<Self>) {
        let Some(i) = self.index_of(msg.instance) else {
            return;
        };
        let inst = &mut self.insts[i];
        if inst.generation == msg.generation && inst.running {
            inst.pid = None;
            inst.started = None;
            inst.last_exit = Some(msg.exit);
            inst.exit_published = inst.generation;
            if inst.status != Status::Stopping {
                // Its leftovers are being stopped before anything replaces it.
                inst.status = Status::Stopping;
            }
            self.publish_exit(i, Some(msg.exit));
            self.report();
        }
    }
}

impl Handler<StartChild> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: StartChild, _: &mut Context<Self>) {
        let Some(i) = self.index_of(msg.instance) else {
            return;
        };
        let inst = &mut self.insts[i];
        if inst.generation != msg.generation || inst.status != Status::WaitingRestart {
            return;
        }
        inst.restarts += 1;
        self.publish(i, "restart", |e| e.reason = Some("exited".into()));
        self.start(i);
        self.report();
    }
}

#[cfg(test)]
mod tests {
    use super::instance_path;
    use std::path::PathBuf;

    #[test]
    fn instance_files_get_the_instance_before_the_extension() {
        let cases = [
            ("/h/logs/api-out.log", "/h/logs/api-out-1.log"),
            ("/var/log/api", "/var/log/api-1"),
            ("/var/log/api.out.txt", "/var/log/api.out-1.txt"),
            ("/dev/null", "/dev/null"),
        ];
        for (path, want) in cases {
            assert_eq!(instance_path(PathBuf::from(path), 1), PathBuf::from(want));
        }
    }
}
