//! The instance state machine: one instance's life as one type and one transition
//! function, pure (no actix, no OS, no clock: `now_ms` is an argument).
//!
//! ```text
//!  stopped / errored / waiting restart ──Start·Restart·StartAfter(0)·TimerFired──▶ launching
//!  launching ──Spawned──▶ online            launching ──SpawnFailed──▶ errored
//!  with wait_ready: launching ──Spawned (ArmReady)──▶ launching ──Ready·ReadyTimeout──▶ online
//!  launching ──SpawnFailed, transient (EMFILE, ENFILE, EAGAIN)──▶ waiting restart (retry timer)
//!  launching / online ──Stop·Restart──▶ stopping ──Exited──▶ stopped | launching (a restart)
//!  online ──MainExited (its leftovers)──▶ stopping
//!  launching / online / stopping after MainExited ──Exited, unrequested──▶ decide():
//!      Restart{0} ▶ launching · Restart{d} ▶ waiting restart (timer) · Stop ▶ stopped
//!      Errored ▶ errored · Escalate (group / app decides) ▶ waiting restart
//!  online ──Reload──▶ online + next launching ──next online──▶ online (next swapped in,
//!      the old one terminated)      ──next exits before ready──▶ online (old kept)
//!  waiting restart / errored ──Stop──▶ stopped (generation bumped: the timer is stale)
//!  down, not held ──StartAfter(d>0)──▶ waiting restart      down ──MarkErrored──▶ errored
//! ```
//!
//! The App supervisor (`app/mod.rs`) is the shell: it turns messages into [`Event`]s,
//! calls [`Instance::on`], and carries out the [`Effect`]s (a `Spawn` to the Process
//! actor, a `StartChild` timer, a bus event, a row report, a failure to the group). As
//! zincati's update agent splits its logic from its actor, and OTP's `supervisor.erl`
//! keeps its decisions in plain functions of the state and `Now`.
//!
//! Every event naming a process carries its `generation`; one for a generation other
//! than the current one is a late message of a replaced process and changes nothing.
//!
//! Readiness (SPEC §5): under a [`Setting`] with `ready_timeout_ms` (`wait_ready`),
//! `Spawned` keeps the instance `launching` and arms the `listen_timeout`
//! ([`Effect::ArmReady`]); [`Event::Ready`] of the current generation or the timer's
//! [`Event::ReadyTimeout`] makes it `online`, and only then are the waiters of its start
//! answered. An exit before it was online counts as unstable whatever its uptime.
//!
//! Rolling reload (SPEC §6): [`Event::Reload`] of an `online` instance spawns a `next`
//! generation beside the running one; its `Spawned` (and `Ready`/`ReadyTimeout` with
//! `wait_ready`) makes it the instance (`swap`: the old generation becomes `retiring` and
//! gets `Terminate`; one restart counted), and the step's waiters are answered once the
//! retiring process is gone. A replacement that exits or fails to spawn before that is
//! dropped, `reload_error` says why, and the running process is untouched. The current
//! process exiting meanwhile hands the instance to the replacement (`launching`); a stop
//! or restart meanwhile abandons the replacement (terminated), and a stop ends `stopped`
//! only once every process of the instance is gone. Generations come from one counter
//! (`issued`), so a dead replacement's number is never reused.
//!
//! Room left for what comes next (not built): restarts for watch, cron, memory or health
//! are `Event::Restart{reason}` with their [`Reason`] (a rolling one in cluster mode is
//! `Event::Reload`).

use super::backoff::next_backoff;
use super::decide::{decide, Decision, Supervisor};
use super::policy::{Exit, Policy, RestartRules, RestartState};

/// The first wait, in ms, before a spawn that failed for want of resources is tried again;
/// each following wait grows by half up to [`super::backoff::BACKOFF_CAP_MS`] (PM2's
/// `exp_backoff_restart_delay` numbers: 100, 150, 225, … 15 000 ms). There is no limit on
/// the attempts, as PM2's exponential backoff never gives up: a full descriptor table or
/// process table is the machine's state, not the app's fault, and the instance comes
/// online by itself once the resources are back (at most one attempt per 15 s then).
pub const SPAWN_RETRY_INITIAL_MS: u64 = 100;

/// An opaque token for whoever waits for a command's effect; the shell maps it to its
/// reply channel. Settled once the effect is visible (spawned, stopped, or errored).
pub type Token = u64;

/// Where an instance is in its life (the status words of `list`, SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Spawn asked, not yet confirmed, or (with `wait_ready`) spawned and not yet ready.
    Launching,
    /// Running.
    Online,
    /// A stop asked (or the main process gone and its leftovers being stopped), until the
    /// whole tree has exited.
    Stopping,
    /// Down: stopped by hand, or an exit the policy does not restart.
    Stopped,
    /// Down, a restart scheduled (a delay) or a supervisor's decision awaited.
    WaitingRestart,
    /// Down: too many unstable exits, a failed spawn, or an escalation.
    Errored,
}

/// Why an instance is restarted (the `reason` of the `restart` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A user's `restart`/`reload` (published as `restart`).
    Manual,
    /// Its process exited and the policy restarts it.
    Exited,
    /// A supervisor (its group or its app's strategy) restarts it.
    Group,
}

impl Reason {
    /// The word published in the `restart` event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Manual => "restart",
            Reason::Exited => "exited",
            Reason::Group => "group",
        }
    }
}

/// Something that happens to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start it if it is down (a user's `start`): a fresh chain of exits, the hold lifted.
    Start {
        /// Settled once spawned (or at once when nothing is to be done).
        waiter: Option<Token>,
    },
    /// Stop it. `hold`: a stop asked by hand, which a group's restart sequence respects
    /// (OTP serialises `terminate_child`); a supervisor's own step does not hold.
    Stop {
        /// Hold the instance down.
        hold: bool,
        /// Settled once the tree has exited.
        waiter: Option<Token>,
    },
    /// Stop it if running, then start it (a down one starts at once); a fresh chain.
    Restart {
        /// Why.
        reason: Reason,
        /// Settled once the new process is spawned.
        waiter: Option<Token>,
    },
    /// A rolling reload's step (SPEC §6): if it is `online`, spawn a replacement (the next
    /// generation) beside the running process; once the replacement is online (spawned,
    /// and ready with `wait_ready`) the old process is stopped gracefully and the
    /// replacement takes its place. The waiter is answered once the old process is gone,
    /// or when the replacement exited before it was ready (`reload_error` says why; the
    /// old one keeps running). An instance that is not online is left alone (answered at
    /// once): the shell restarts down instances itself.
    Reload {
        /// Settled once the step is over.
        waiter: Option<Token>,
    },
    /// A supervisor restarts it after `delay_ms` (0: at once) if it is down and neither
    /// held nor temporary (OTP: a temporary child is never restarted).
    StartAfter {
        /// The wait, in ms.
        delay_ms: u64,
        /// Settled once spawned when the start is immediate, at once otherwise.
        waiter: Option<Token>,
    },
    /// Zero its restart counters.
    Reset,
    /// A supervisor gave up on it: if down, `errored` with this reason.
    MarkErrored(String),
    /// Its process `generation` was spawned with this pid.
    Spawned {
        /// The generation.
        generation: u64,
        /// The main process's pid.
        pid: u32,
    },
    /// Its process `generation` could not be spawned.
    SpawnFailed {
        /// The generation.
        generation: u64,
        /// Why.
        reason: String,
        /// For want of resources that may come back (EMFILE, ENFILE, EAGAIN): the spawn
        /// is tried again after a backoff ([`SPAWN_RETRY_INITIAL_MS`]) and the instance
        /// waits in `waiting restart`; otherwise it is `errored` for good.
        transient: bool,
    },
    /// The main process of `generation` exited, leftovers of its tree are being stopped.
    MainExited {
        /// The generation.
        generation: u64,
        /// How it ended.
        exit: Exit,
    },
    /// The whole tree of `generation` is gone.
    Exited {
        /// The generation.
        generation: u64,
        /// How the main process ended (None: its Process actor panicked).
        exit: Option<Exit>,
        /// How long it ran, in ms.
        uptime_ms: u64,
        /// pmx asked for the stop.
        requested: bool,
    },
    /// The restart timer armed for `generation` fired.
    TimerFired {
        /// The generation it was armed for.
        generation: u64,
    },
    /// The process `generation` said it is ready (READY=1 on `$NOTIFY_SOCKET`, a Node
    /// app's `process.send('ready')`): with `wait_ready`, `launching` → `online`. One is
    /// enough; a late one (another generation, or once online) changes nothing.
    Ready {
        /// The generation of the process that said it.
        generation: u64,
    },
    /// The `listen_timeout` armed at the spawn of `generation` passed without a READY:
    /// `online` all the same (PM2's rule).
    ReadyTimeout {
        /// The generation it was armed for.
        generation: u64,
    },
}

/// What an event announces on the event bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `online`.
    Online,
    /// `exit`, with how the main process ended.
    Exit(Option<Exit>),
    /// `restart`, with why.
    Restart(Reason),
    /// `stop`.
    Stop,
    /// `errored`, with why.
    Errored(String),
}

/// What the shell carries out after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Spawn a process for `generation` (a failure comes back as `SpawnFailed`).
    Spawn {
        /// Its generation.
        generation: u64,
    },
    /// Stop the tree of `generation` (`kill_signal`, then SIGKILL after `kill_timeout`).
    Terminate {
        /// Its generation.
        generation: u64,
    },
    /// Feed `ReadyTimeout{generation}` back after `delay_ms` ms (the `listen_timeout` of
    /// an app that waits for readiness).
    ArmReady {
        /// The generation the timer is for.
        generation: u64,
        /// The delay, ms.
        delay_ms: u64,
    },
    /// Feed `TimerFired{generation}` back after `delay_ms` ms.
    Arm {
        /// The generation the timer is for.
        generation: u64,
        /// The delay, ms.
        delay_ms: u64,
    },
    /// Publish an event on the bus.
    Publish(Notice),
    /// Answer these waiters.
    Settle(Vec<Token>),
    /// The row changed: report it to the Root.
    Report,
    /// A failure for `to` (the app's strategy, or its group) to decide on; the instance
    /// waits in `WaitingRestart` until a `StartAfter`, `Stop` or `MarkErrored` comes.
    Escalate {
        /// The supervisor that decides.
        to: Supervisor,
        /// The generation that failed (a group recognises a failure it absorbed by it).
        generation: u64,
        /// The instance's own delay for its own restart, ms.
        delay_ms: u64,
    },
}

/// What a transition needs to know of the app: its rules and who supervises it.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    /// PM2's restart rules.
    pub rules: &'a RestartRules,
    /// Who decides on an unrequested exit.
    pub supervisor: Supervisor,
    /// `wait_ready`: Some(`listen_timeout` in ms): a spawned process stays `launching`
    /// until it says READY (or the timeout passes); None: `online` once spawned.
    pub ready_timeout_ms: Option<u64>,
}

/// What is asked of a running instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    None,
    Stop,
    Restart(Reason),
}

/// One instance's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Where it is.
    pub phase: Phase,
    /// The current generation: bumped by every spawn, and by every change that makes a
    /// pending timer stale.
    pub generation: u64,
    /// A tree exists for `generation` (spawned, its exit not yet heard).
    running: bool,
    intent: Intent,
    /// Stopped by hand: a supervisor's restart leaves it down.
    pub held: bool,
    /// Restarts since the app started (or the last `reset`).
    pub restarts: u64,
    /// The chain of recent exits (PM2's unstable count, the backoff).
    pub chain: RestartState,
    /// The main process's pid while it runs.
    pub pid: Option<u32>,
    /// When the main process was spawned, on the shell's clock (ms).
    pub started_ms: Option<u64>,
    /// How the last process ended.
    pub last_exit: Option<Exit>,
    /// Why the last spawn failed, or why a supervisor gave up on it; cleared by a spawn.
    pub last_error: Option<String>,
    /// The generation whose `exit` was already published (at `MainExited`).
    exit_published: u64,
    /// The wait before the pending retry of a spawn that failed for want of resources
    /// (None: no such retry pending); the next wait grows from it.
    pub spawn_retry_ms: Option<u64>,
    /// The current generation has been `online` (its exit is judged by its uptime; an
    /// exit before it is online, or ready, is unstable whatever its uptime).
    was_online: bool,
    /// A READY of the current generation came before its `Spawned` (the process spoke
    /// before its spawn was confirmed): `online` at the `Spawned`.
    ready_early: bool,
    waiters: Vec<Token>,
    /// The highest generation given out: every spawn (a replacement's included) and every
    /// change that makes a timer stale takes the next, so no two processes share one.
    issued: u64,
    /// A rolling reload's replacement, launching beside the running process.
    next: Option<Next>,
    /// After a swap: the generation of the replaced process, being stopped.
    retiring: Option<u64>,
    /// Whoever waits for the reload step under way.
    reload_waiters: Vec<Token>,
    /// Why the last reload step failed (its replacement exited before it was ready, or
    /// the instance was stopped or restarted meanwhile); cleared when a step begins.
    pub reload_error: Option<String>,
}

/// A replacement spawned beside the running process by a rolling reload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Next {
    generation: u64,
    pid: Option<u32>,
    started_ms: Option<u64>,
    /// It said READY before its `Spawned`.
    ready_early: bool,
    /// How its main process ended (it exited before it was ready).
    exit: Option<Exit>,
    /// A stop or restart of the instance gave up on it: it is being stopped.
    abandoned: bool,
}

impl Default for Instance {
    fn default() -> Self {
        Self::new()
    }
}

impl Instance {
    /// A new instance: stopped, generation 0.
    pub fn new() -> Instance {
        Instance {
            phase: Phase::Stopped,
            generation: 0,
            running: false,
            intent: Intent::None,
            held: false,
            restarts: 0,
            chain: RestartState::default(),
            pid: None,
            started_ms: None,
            last_exit: None,
            last_error: None,
            exit_published: 0,
            spawn_retry_ms: None,
            was_online: false,
            ready_early: false,
            waiters: Vec::new(),
            issued: 0,
            next: None,
            retiring: None,
            reload_waiters: Vec::new(),
            reload_error: None,
        }
    }

    /// Whether any tree of the instance exists: the current generation's, a reload's
    /// replacement or a replaced process still being stopped.
    pub fn running(&self) -> bool {
        self.running || self.others()
    }

    /// Whether a process other than the current one runs (a replacement, a replaced one).
    fn others(&self) -> bool {
        self.next.is_some() || self.retiring.is_some()
    }

    /// The generations whose processes may still run: the current, a replacement, a
    /// replaced one (the shell keeps a process side for each).
    pub fn live_generations(&self) -> [Option<u64>; 3] {
        [
            Some(self.generation),
            self.next.as_ref().map(|n| n.generation),
            self.retiring,
        ]
    }

    /// The next generation (see `issued`).
    fn bump(&mut self) -> u64 {
        self.issued = self.issued.max(self.generation) + 1;
        self.issued
    }

    /// The one transition function: `ev` at `now_ms` (the shell's monotonic clock, ms),
    /// under the app's `set`ting; returns what the shell must do, in order.
    pub fn on(&mut self, ev: Event, set: Setting<'_>, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            Event::Start { waiter } => {
                if self.running || self.phase == Phase::WaitingRestart {
                    settle_now(&mut fx, waiter);
                } else {
                    self.held = false;
                    self.chain.reset();
                    self.spawn_retry_ms = None;
                    self.waiters.extend(waiter);
                    self.start(&mut fx);
                }
            }
            Event::StartAfter { delay_ms, waiter } => {
                // OTP: a temporary child is never restarted, even when a sibling's failure
                // made the strategy stop it; a held one stays down.
                if self.running || set.rules.policy == Policy::Never || self.held {
                    settle_now(&mut fx, waiter);
                } else if delay_ms == 0 {
                    self.spawn_retry_ms = None;
                    self.waiters.extend(waiter);
                    self.restart_now(Reason::Group, &mut fx);
                } else {
                    // Answered at once: a supervisor never waits out a delay (a stop
                    // meanwhile makes the timer stale with a new generation).
                    self.spawn_retry_ms = None;
                    self.generation = self.bump();
                    self.phase = Phase::WaitingRestart;
                    fx.push(Effect::Arm {
                        generation: self.generation,
                        delay_ms,
                    });
                    settle_now(&mut fx, waiter);
                    fx.push(Effect::Report);
                }
            }
            Event::Stop { hold, waiter } => {
                // A pending retry's timer becomes stale (see below).
                self.spawn_retry_ms = None;
                if hold {
                    self.held = true;
                }
                self.abandon_next("stopped", &mut fx);
                if self.running {
                    self.intent = Intent::Stop;
                    self.waiters.extend(waiter);
                    self.terminate(&mut fx);
                } else if self.others() {
                    // A replaced process is still being stopped: stopped once it is gone.
                    self.intent = Intent::Stop;
                    self.waiters.extend(waiter);
                    self.phase = Phase::Stopping;
                    fx.push(Effect::Report);
                } else {
                    if self.phase != Phase::Stopped {
                        // A pending restart timer becomes stale with the new generation,
                        // and whoever waited for that start is answered now.
                        self.generation = self.bump();
                        self.phase = Phase::Stopped;
                        self.settle(&mut fx);
                        fx.push(Effect::Publish(Notice::Stop));
                        fx.push(Effect::Report);
                    }
                    settle_now(&mut fx, waiter);
                }
            }
            Event::Restart { reason, waiter } => {
                self.held = false;
                self.chain.reset();
                self.spawn_retry_ms = None;
                self.waiters.extend(waiter);
                self.abandon_next("restarted", &mut fx);
                if self.running {
                    self.intent = Intent::Restart(reason);
                    self.terminate(&mut fx);
                } else {
                    // Down (stopped, errored, waiting, or never spawned): a restart asked
                    // now is a start, not counted, as PM2's restartProcessId starts a
                    // process that is not online (`restart_time` unchanged).
                    self.start(&mut fx);
                }
            }
            Event::Reload { waiter } => {
                if self.next.is_none() {
                    self.reload_error = None;
                }
                if self.next.is_some() {
                    // One step under way: this waiter joins it.
                    self.reload_waiters.extend(waiter);
                } else if self.running && self.phase == Phase::Online && self.intent == Intent::None
                {
                    self.held = false;
                    self.chain.reset();
                    self.spawn_retry_ms = None;
                    let generation = self.bump();
                    self.next = Some(Next {
                        generation,
                        pid: None,
                        started_ms: None,
                        ready_early: false,
                        exit: None,
                        abandoned: false,
                    });
                    self.reload_waiters.extend(waiter);
                    fx.push(Effect::Spawn { generation });
                } else {
                    settle_now(&mut fx, waiter);
                }
            }
            Event::Reset => {
                self.restarts = 0;
                self.chain.reset();
                fx.push(Effect::Report);
            }
            Event::MarkErrored(reason) => {
                if !self.running {
                    self.spawn_retry_ms = None;
                    self.errored(reason, &mut fx);
                }
            }
            Event::Spawned { generation, pid } => {
                if let Some(n) = self.next.as_mut().filter(|n| n.generation == generation) {
                    n.pid = Some(pid);
                    n.started_ms = Some(now_ms);
                    if n.abandoned {
                        return fx;
                    }
                    match set.ready_timeout_ms {
                        Some(delay_ms) if !n.ready_early => fx.push(Effect::ArmReady {
                            generation,
                            delay_ms,
                        }),
                        _ => self.swap(&mut fx),
                    }
                    return fx;
                }
                if generation != self.generation || !self.running {
                    return fx;
                }
                self.last_error = None;
                self.spawn_retry_ms = None;
                self.pid = Some(pid);
                self.started_ms = Some(now_ms);
                match set.ready_timeout_ms {
                    // It waits for readiness: `launching` until READY or the timeout.
                    Some(delay_ms) if self.phase == Phase::Launching && !self.ready_early => {
                        fx.push(Effect::ArmReady {
                            generation,
                            delay_ms,
                        });
                        fx.push(Effect::Report);
                    }
                    // Being stopped already: no `online` to announce.
                    Some(_) if self.phase != Phase::Launching => fx.push(Effect::Report),
                    _ => self.online(&mut fx),
                }
            }
            Event::Ready { generation } | Event::ReadyTimeout { generation } => {
                if let Some(n) = self.next.as_mut().filter(|n| n.generation == generation) {
                    if n.abandoned {
                        return fx;
                    }
                    if n.pid.is_some() {
                        self.swap(&mut fx);
                    } else {
                        n.ready_early = true;
                    }
                    return fx;
                }
                if generation != self.generation || !self.running || self.phase != Phase::Launching
                {
                    return fx;
                }
                if self.pid.is_some() {
                    self.online(&mut fx);
                } else {
                    // Only a READY can come before the `Spawned` (the timer is armed by
                    // it): remembered for it.
                    self.ready_early = true;
                }
            }
            Event::SpawnFailed {
                generation,
                reason,
                transient,
            } => {
                if self
                    .next
                    .as_ref()
                    .is_some_and(|n| n.generation == generation)
                {
                    let abandoned = self.next.take().is_some_and(|n| n.abandoned);
                    if !abandoned {
                        self.fail_reload(
                            format!("its replacement could not start: {reason}"),
                            &mut fx,
                        );
                    }
                    self.finish_stop(&mut fx);
                    return fx;
                }
                if generation != self.generation || !self.running {
                    return fx;
                }
                self.running = false;
                self.pid = None;
                self.started_ms = None;
                let intent = std::mem::replace(&mut self.intent, Intent::None);
                if !transient {
                    self.errored(reason, &mut fx);
                } else if intent == Intent::Stop {
                    // A stop came while it launched: nothing runs, which is what it asked.
                    self.last_error = Some(reason);
                    self.stopped(&mut fx);
                } else {
                    // Tried again after a backoff; whoever waits for the start is answered
                    // now (the row says `waiting restart`, `describe` says why).
                    let delay_ms = next_backoff(self.spawn_retry_ms, SPAWN_RETRY_INITIAL_MS);
                    self.spawn_retry_ms = Some(delay_ms);
                    self.last_error = Some(reason);
                    self.phase = Phase::WaitingRestart;
                    self.settle(&mut fx);
                    fx.push(Effect::Arm {
                        generation: self.generation,
                        delay_ms,
                    });
                    fx.push(Effect::Report);
                }
            }
            Event::MainExited { generation, exit } => {
                if let Some(n) = self.next.as_mut().filter(|n| n.generation == generation) {
                    // Its leftovers are being stopped; the failure is told at `Exited`.
                    n.exit = Some(exit);
                    return fx;
                }
                if generation != self.generation || !self.running {
                    return fx;
                }
                self.pid = None;
                self.started_ms = None;
                self.last_exit = Some(exit);
                self.exit_published = generation;
                // Its leftovers are being stopped before anything replaces it.
                self.phase = Phase::Stopping;
                fx.push(Effect::Publish(Notice::Exit(Some(exit))));
                fx.push(Effect::Report);
            }
            Event::Exited {
                generation,
                exit,
                uptime_ms,
                requested,
            } => {
                if self
                    .next
                    .as_ref()
                    .is_some_and(|n| n.generation == generation)
                {
                    if let Some(n) = self.next.take().filter(|n| !n.abandoned) {
                        let pid = n.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                        let how = describe_exit(n.exit.or(exit));
                        self.fail_reload(
                            format!("its replacement{pid} {how} before it was ready"),
                            &mut fx,
                        );
                    }
                    self.finish_stop(&mut fx);
                    return fx;
                }
                if self.retiring == Some(generation) {
                    // The swap is complete: the replaced process is gone.
                    self.retiring = None;
                    self.settle_reload(&mut fx);
                    self.finish_stop(&mut fx);
                    return fx;
                }
                if generation != self.generation || !self.running {
                    return fx;
                }
                self.running = false;
                self.pid = None;
                self.started_ms = None;
                self.last_exit = exit;
                if self.exit_published != generation {
                    fx.push(Effect::Publish(Notice::Exit(exit)));
                }
                if self.intent == Intent::None && !requested && self.next.is_some() {
                    // It died during its reload: the replacement takes its place now.
                    self.replaced_by_next(&mut fx);
                    return fx;
                }
                match self.intent {
                    Intent::Restart(reason) => {
                        self.intent = Intent::None;
                        self.restart_now(reason, &mut fx);
                    }
                    // Stopped once every process of the instance is gone.
                    Intent::Stop if self.others() => fx.push(Effect::Report),
                    Intent::None if requested && self.others() => {
                        self.intent = Intent::Stop;
                        self.phase = Phase::Stopping;
                        fx.push(Effect::Report);
                    }
                    Intent::Stop => self.stopped(&mut fx),
                    // Asked by someone else (a Process actor's own stop): still requested.
                    Intent::None if requested => self.stopped(&mut fx),
                    Intent::None => {
                        // An exit before it was online (ready) is unstable, whatever its
                        // uptime: a process that never became ready never ran well.
                        let uptime_ms = if self.was_online { uptime_ms } else { 0 };
                        let d = decide(set.rules, &mut self.chain, set.supervisor, exit, uptime_ms);
                        self.follow(d, &mut fx);
                    }
                }
            }
            Event::TimerFired { generation } => {
                if generation == self.generation && self.phase == Phase::WaitingRestart {
                    if self.spawn_retry_ms.is_some() {
                        // The same launch tried again: not one more restart.
                        self.start(&mut fx);
                    } else {
                        self.restart_now(Reason::Exited, &mut fx);
                    }
                }
            }
        }
        fx
    }

    /// Carry out the decision on an unrequested exit.
    ///
    /// Whoever still waits for its start (it died before it was ready) is answered unless
    /// it is launched again at once: the row then says where it is.
    fn follow(&mut self, d: Decision, fx: &mut Vec<Effect>) {
        if !matches!(d, Decision::Restart { delay_ms: 0 }) {
            self.settle(fx);
        }
        match d {
            Decision::Restart { delay_ms: 0 } => self.restart_now(Reason::Exited, fx),
            Decision::Restart { delay_ms } => {
                self.phase = Phase::WaitingRestart;
                fx.push(Effect::Arm {
                    generation: self.generation,
                    delay_ms,
                });
                fx.push(Effect::Report);
            }
            Decision::Stop => {
                self.phase = Phase::Stopped;
                fx.push(Effect::Publish(Notice::Stop));
                fx.push(Effect::Report);
            }
            Decision::Errored(reason) => {
                // PM2's max_restarts: the reason is published, not kept as `last_error`.
                self.phase = Phase::Errored;
                fx.push(Effect::Publish(Notice::Errored(reason)));
                fx.push(Effect::Report);
            }
            Decision::Escalate { to, delay_ms } => {
                self.phase = Phase::WaitingRestart;
                fx.push(Effect::Escalate {
                    to,
                    generation: self.generation,
                    delay_ms,
                });
                fx.push(Effect::Report);
            }
        }
    }

    /// Count a restart, announce it and spawn.
    fn restart_now(&mut self, reason: Reason, fx: &mut Vec<Effect>) {
        self.restarts += 1;
        fx.push(Effect::Publish(Notice::Restart(reason)));
        self.start(fx);
    }

    /// The current generation is `online` (spawned, and ready when it waits for
    /// readiness): whoever waits for its start is answered.
    fn online(&mut self, fx: &mut Vec<Effect>) {
        if self.phase == Phase::Launching {
            self.phase = Phase::Online;
            self.was_online = true;
        }
        if self.intent == Intent::None {
            self.settle(fx);
        }
        fx.push(Effect::Publish(Notice::Online));
        fx.push(Effect::Report);
    }

    /// Spawn a new generation.
    fn start(&mut self, fx: &mut Vec<Effect>) {
        self.generation = self.bump();
        self.phase = Phase::Launching;
        self.running = true;
        self.was_online = false;
        self.ready_early = false;
        self.intent = Intent::None;
        fx.push(Effect::Spawn {
            generation: self.generation,
        });
        fx.push(Effect::Report);
    }

    /// Ask the running tree to stop (once).
    fn terminate(&mut self, fx: &mut Vec<Effect>) {
        if self.phase != Phase::Stopping {
            self.phase = Phase::Stopping;
            fx.push(Effect::Terminate {
                generation: self.generation,
            });
            fx.push(Effect::Report);
        }
    }

    /// The replacement is online: the old process is stopped gracefully and the
    /// replacement becomes the instance (counted as a restart, as PM2's reload counts).
    fn swap(&mut self, fx: &mut Vec<Effect>) {
        let Some(n) = self.next.take() else {
            return;
        };
        fx.push(Effect::Terminate {
            generation: self.generation,
        });
        self.retiring = Some(self.generation);
        self.generation = n.generation;
        self.pid = n.pid;
        self.started_ms = n.started_ms;
        self.was_online = true;
        self.last_error = None;
        self.restarts += 1;
        fx.push(Effect::Publish(Notice::Restart(Reason::Manual)));
        fx.push(Effect::Publish(Notice::Online));
        fx.push(Effect::Report);
    }

    /// The current process exited on its own while its replacement launched: the
    /// replacement is the instance from now on, `launching` until it is online; whoever
    /// waited for the reload waits for that.
    fn replaced_by_next(&mut self, fx: &mut Vec<Effect>) {
        let Some(n) = self.next.take() else {
            return;
        };
        self.generation = n.generation;
        self.running = true;
        self.pid = n.pid;
        self.started_ms = n.started_ms;
        self.phase = Phase::Launching;
        self.was_online = false;
        self.ready_early = n.ready_early;
        self.restarts += 1;
        self.waiters.append(&mut self.reload_waiters);
        fx.push(Effect::Publish(Notice::Restart(Reason::Exited)));
        fx.push(Effect::Report);
    }

    /// A stop or restart of the instance gives up on a replacement under way: it is
    /// stopped, and the reload step answered with why.
    fn abandon_next(&mut self, what: &str, fx: &mut Vec<Effect>) {
        let Some(n) = self.next.as_mut().filter(|n| !n.abandoned) else {
            return;
        };
        n.abandoned = true;
        let generation = n.generation;
        fx.push(Effect::Terminate { generation });
        self.fail_reload(format!("it was {what} during its reload"), fx);
    }

    /// The reload step failed: `why` is kept for the shell and its waiters answered.
    fn fail_reload(&mut self, why: String, fx: &mut Vec<Effect>) {
        self.reload_error = Some(why);
        self.settle_reload(fx);
    }

    fn settle_reload(&mut self, fx: &mut Vec<Effect>) {
        if !self.reload_waiters.is_empty() {
            fx.push(Effect::Settle(std::mem::take(&mut self.reload_waiters)));
        }
    }

    /// A stop waiting for the other processes of the instance ends once they are gone.
    fn finish_stop(&mut self, fx: &mut Vec<Effect>) {
        if !self.running && !self.others() && self.intent == Intent::Stop {
            self.stopped(fx);
        }
    }

    fn stopped(&mut self, fx: &mut Vec<Effect>) {
        self.phase = Phase::Stopped;
        self.intent = Intent::None;
        fx.push(Effect::Publish(Notice::Stop));
        self.settle(fx);
        fx.push(Effect::Report);
    }

    fn errored(&mut self, reason: String, fx: &mut Vec<Effect>) {
        self.phase = Phase::Errored;
        self.last_error = Some(reason.clone());
        self.settle(fx);
        fx.push(Effect::Publish(Notice::Errored(reason)));
        fx.push(Effect::Report);
    }

    fn settle(&mut self, fx: &mut Vec<Effect>) {
        if !self.waiters.is_empty() {
            fx.push(Effect::Settle(std::mem::take(&mut self.waiters)));
        }
    }
}

/// How a process ended, for a message: `exited with code 1`, `was killed by signal 9`.
fn describe_exit(exit: Option<Exit>) -> String {
    match exit {
        Some(Exit {
            code: Some(code), ..
        }) => format!("exited with code {code}"),
        Some(Exit {
            signal: Some(sig), ..
        }) => format!("was killed by signal {sig}"),
        _ => "exited".to_string(),
    }
}

fn settle_now(fx: &mut Vec<Effect>, waiter: Option<Token>) {
    if let Some(w) = waiter {
        fx.push(Effect::Settle(vec![w]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Effect::*;

    const NOW: u64 = 1_000;

    fn rules() -> RestartRules {
        RestartRules::default()
    }

    fn set(rules: &RestartRules) -> Setting<'_> {
        Setting {
            rules,
            supervisor: Supervisor::Pm2,
            ready_timeout_ms: None,
        }
    }

    /// Drive `inst` through `evs` under PM2's default rules; the effects of the last.
    fn drive(inst: &mut Instance, evs: Vec<Event>) -> Vec<Effect> {
        let r = rules();
        let mut last = Vec::new();
        for e in evs {
            last = inst.on(e, set(&r), NOW);
        }
        last
    }

    fn start() -> Event {
        Event::Start { waiter: Some(1) }
    }
    fn spawned(generation: u64) -> Event {
        Event::Spawned {
            generation,
            pid: 100 + generation as u32,
        }
    }
    fn exited(generation: u64, code: i32, requested: bool) -> Event {
        Event::Exited {
            generation,
            exit: Some(Exit::code(code)),
            uptime_ms: 5_000,
            requested,
        }
    }
    fn stop() -> Event {
        Event::Stop {
            hold: true,
            waiter: Some(2),
        }
    }

    /// An instance in each phase, by a path from a new one.
    fn in_phase(p: Phase) -> Instance {
        let mut i = Instance::new();
        let never = RestartRules {
            max_restarts: 1,
            delay_ms: 500,
            ..rules()
        };
        let evs = match p {
            Phase::Stopped => vec![],
            Phase::Launching => vec![start()],
            Phase::Online => vec![start(), spawned(1)],
            Phase::Stopping => vec![start(), spawned(1), stop()],
            Phase::WaitingRestart => {
                let _ = i.on(start(), set(&never), NOW);
                let _ = i.on(spawned(1), set(&never), NOW);
                let _ = i.on(exited(1, 1, false), set(&never), NOW);
                return i;
            }
            Phase::Errored => vec![
                start(),
                Event::SpawnFailed {
                    generation: 1,
                    reason: "nope".into(),
                    transient: false,
                },
            ],
        };
        drive(&mut i, evs);
        assert_eq!(i.phase, p, "the path reaches {p:?}");
        i
    }

    const PHASES: [Phase; 6] = [
        Phase::Launching,
        Phase::Online,
        Phase::Stopping,
        Phase::Stopped,
        Phase::WaitingRestart,
        Phase::Errored,
    ];

    fn every_event(generation: u64) -> Vec<Event> {
        vec![
            Event::Start { waiter: Some(9) },
            Event::Stop {
                hold: true,
                waiter: Some(9),
            },
            Event::Stop {
                hold: false,
                waiter: None,
            },
            Event::Restart {
                reason: Reason::Manual,
                waiter: Some(9),
            },
            Event::StartAfter {
                delay_ms: 0,
                waiter: Some(9),
            },
            Event::StartAfter {
                delay_ms: 300,
                waiter: None,
            },
            Event::Reset,
            Event::MarkErrored("group gave up".into()),
            spawned(generation),
            Event::SpawnFailed {
                generation,
                reason: "x".into(),
                transient: false,
            },
            Event::SpawnFailed {
                generation,
                reason: "too many open files".into(),
                transient: true,
            },
            Event::MainExited {
                generation,
                exit: Exit::code(3),
            },
            exited(generation, 1, false),
            exited(generation, 0, true),
            Event::TimerFired { generation },
        ]
    }

    #[test]
    fn every_status_word_is_reached() {
        for p in PHASES {
            assert_eq!(in_phase(p).phase, p);
        }
    }

    /// Every event in every phase: the expected phase after it, and a waiter is never
    /// lost (settled now, or kept until the instance settles it).
    #[test]
    fn every_event_in_every_phase() {
        use Phase::*;
        // Rows: phase; columns in `every_event` order.
        let table: [(Phase, [Phase; 15]); 6] = [
            (
                Launching,
                [
                    Launching,
                    Stopping,
                    Stopping,
                    Stopping,
                    Launching,
                    Launching,
                    Launching,
                    Launching,
                    Online,
                    Errored,
                    WaitingRestart,
                    Stopping,
                    Launching,
                    Stopped,
                    Launching,
                ],
            ),
            (
                Online,
                [
                    Online,
                    Stopping,
                    Stopping,
                    Stopping,
                    Online,
                    Online,
                    Online,
                    Online,
                    Online,
                    Errored,
                    WaitingRestart,
                    Stopping,
                    Launching,
                    Stopped,
                    Online,
                ],
            ),
            (
                Stopping,
                [
                    Stopping, Stopping, Stopping, Stopping, Stopping, Stopping, Stopping, Stopping,
                    Stopping, Errored, Stopped, Stopping, Stopped, Stopped, Stopping,
                ],
            ),
            (
                Stopped,
                [
                    Launching,
                    Stopped,
                    Stopped,
                    Launching,
                    Launching,
                    WaitingRestart,
                    Stopped,
                    Errored,
                    Stopped,
                    Stopped,
                    Stopped,
                    Stopped,
                    Stopped,
                    Stopped,
                    Stopped,
                ],
            ),
            (
                WaitingRestart,
                [
                    WaitingRestart,
                    Stopped,
                    Stopped,
                    Launching,
                    Launching,
                    WaitingRestart,
                    WaitingRestart,
                    Errored,
                    WaitingRestart,
                    WaitingRestart,
                    WaitingRestart,
                    WaitingRestart,
                    WaitingRestart,
                    WaitingRestart,
                    Launching,
                ],
            ),
            (
                Errored,
                [
                    Launching,
                    Stopped,
                    Stopped,
                    Launching,
                    Launching,
                    WaitingRestart,
                    Errored,
                    Errored,
                    Errored,
                    Errored,
                    Errored,
                    Errored,
                    Errored,
                    Errored,
                    Errored,
                ],
            ),
        ];
        for (from, after) in table {
            let generation = in_phase(from).generation;
            for (ev, want) in every_event(generation).into_iter().zip(after) {
                let mut i = in_phase(from);
                let fx = drive(&mut i, vec![ev.clone()]);
                assert_eq!(i.phase, want, "{from:?} + {ev:?}: {fx:?}");
                if let Event::Start { waiter: Some(w) }
                | Event::Restart {
                    waiter: Some(w), ..
                }
                | Event::Stop {
                    waiter: Some(w), ..
                }
                | Event::StartAfter {
                    waiter: Some(w), ..
                } = ev
                {
                    let settled = fx
                        .iter()
                        .any(|e| matches!(e, Settle(ws) if ws.contains(&w)));
                    assert!(
                        settled || i.waiters.contains(&w),
                        "{from:?} + {ev:?}: the waiter is lost"
                    );
                }
            }
        }
    }

    #[test]
    fn a_late_event_of_an_old_generation_changes_nothing() {
        for p in PHASES {
            let before = in_phase(p);
            let old = before.generation.saturating_sub(1);
            let ready = |g| {
                [
                    Event::Ready { generation: g },
                    Event::ReadyTimeout { generation: g },
                ]
            };
            for ev in every_event(old + 100)
                .into_iter()
                .chain(ready(old + 100))
                .chain(ready(old).into_iter().filter(|_| old != before.generation))
                .chain(
                    every_event(old)
                        .into_iter()
                        .filter(|_| old != before.generation),
                )
                .filter(|e| {
                    matches!(
                        e,
                        Event::Spawned { .. }
                            | Event::SpawnFailed { .. }
                            | Event::MainExited { .. }
                            | Event::Exited { .. }
                            | Event::TimerFired { .. }
                            | Event::Ready { .. }
                            | Event::ReadyTimeout { .. }
                    )
                })
            {
                let mut i = before.clone();
                let fx = drive(&mut i, vec![ev.clone()]);
                assert!(fx.is_empty(), "{p:?} + {ev:?}: {fx:?}");
                assert_eq!(i, before, "{p:?} + {ev:?}");
            }
        }
    }

    #[test]
    fn a_requested_exit_stops_an_unrequested_one_restarts() {
        let mut i = in_phase(Phase::Online);
        let fx = drive(&mut i, vec![exited(1, 1, false)]);
        assert_eq!(
            fx,
            vec![
                Publish(Notice::Exit(Some(Exit::code(1)))),
                Publish(Notice::Restart(Reason::Exited)),
                Spawn { generation: 2 },
                Report
            ]
        );
        assert_eq!((i.phase, i.restarts), (Phase::Launching, 1));

        let mut i = in_phase(Phase::Online);
        drive(&mut i, vec![exited(1, 1, true)]);
        assert_eq!((i.phase, i.restarts), (Phase::Stopped, 0));
    }

    #[test]
    fn a_restart_of_an_instance_that_is_down_is_a_start_not_counted() {
        let restart = || Event::Restart {
            reason: Reason::Manual,
            waiter: None,
        };
        let mut i = Instance::new();
        let fx = drive(&mut i, vec![restart()]);
        assert_eq!(fx, vec![Spawn { generation: 1 }, Report]);
        assert_eq!((i.phase, i.restarts), (Phase::Launching, 0));
        // Once it has run and stopped, a restart is a start too (PM2's restartProcessId
        // starts a process that is not online; its restart_time stays).
        let mut i = in_phase(Phase::Stopping);
        drive(&mut i, vec![exited(1, 1, true)]);
        assert_eq!(i.phase, Phase::Stopped);
        let fx = drive(&mut i, vec![restart()]);
        assert_eq!(fx, vec![Spawn { generation: 2 }, Report]);
        assert_eq!((i.phase, i.restarts), (Phase::Launching, 0));
        // A restart of a running one is counted and announced.
        drive(&mut i, vec![spawned(2)]);
        let fx = drive(&mut i, vec![restart()]);
        assert!(fx.iter().any(|e| matches!(e, Terminate { .. })), "{fx:?}");
        drive(&mut i, vec![exited(2, 2, true)]);
        assert_eq!(i.restarts, 1);
    }

    #[test]
    fn a_stop_waits_for_the_exit_then_answers() {
        let mut i = in_phase(Phase::Online);
        let fx = drive(&mut i, vec![stop()]);
        assert_eq!(fx, vec![Terminate { generation: 1 }, Report]);
        // The process may report its exit as unrequested (it crashed meanwhile): still a stop.
        let fx = drive(&mut i, vec![exited(1, 1, false)]);
        assert!(fx.contains(&Settle(vec![2])), "{fx:?}");
        assert!(!fx.iter().any(|e| matches!(e, Spawn { .. })));
        assert_eq!(i.phase, Phase::Stopped);
    }

    #[test]
    fn a_delay_arms_a_timer_and_a_stop_meanwhile_makes_it_stale() {
        let r = RestartRules {
            delay_ms: 700,
            ..rules()
        };
        let mut i = Instance::new();
        let _ = i.on(start(), set(&r), NOW);
        let _ = i.on(spawned(1), set(&r), NOW);
        let fx = i.on(exited(1, 1, false), set(&r), NOW);
        assert!(fx.contains(&Arm {
            generation: 1,
            delay_ms: 700
        }));
        assert_eq!(i.phase, Phase::WaitingRestart);
        let fx = i.on(stop(), set(&r), NOW);
        assert!(fx.contains(&Publish(Notice::Stop)) && fx.contains(&Settle(vec![2])));
        assert_eq!(i.phase, Phase::Stopped);
        assert!(i
            .on(Event::TimerFired { generation: 1 }, set(&r), NOW)
            .is_empty());
        assert_eq!(i.phase, Phase::Stopped);
        // Without the stop the timer restarts it.
        let mut j = Instance::new();
        let _ = j.on(start(), set(&r), NOW);
        let _ = j.on(spawned(1), set(&r), NOW);
        let _ = j.on(exited(1, 1, false), set(&r), NOW);
        let fx = j.on(Event::TimerFired { generation: 1 }, set(&r), NOW);
        assert!(fx.contains(&Spawn { generation: 2 }));
        assert_eq!((j.phase, j.restarts), (Phase::Launching, 1));
    }

    #[test]
    fn a_restart_during_stopping_starts_it_once_stopped() {
        let mut i = in_phase(Phase::Stopping);
        let fx = drive(
            &mut i,
            vec![Event::Restart {
                reason: Reason::Manual,
                waiter: Some(3),
            }],
        );
        assert!(
            !fx.iter().any(|e| matches!(e, Terminate { .. })),
            "one terminate"
        );
        let fx = drive(&mut i, vec![exited(1, 0, true)]);
        assert!(fx.contains(&Publish(Notice::Restart(Reason::Manual))));
        assert!(fx.contains(&Spawn { generation: 2 }));
        assert!(!fx.contains(&Publish(Notice::Stop)));
        assert_eq!(i.phase, Phase::Launching);
        let fx = drive(&mut i, vec![spawned(2)]);
        assert!(fx.contains(&Settle(vec![2, 3])), "{fx:?}");
        assert_eq!(i.phase, Phase::Online);
    }

    #[test]
    fn max_restarts_errors_and_publishes_why() {
        let r = RestartRules {
            max_restarts: 1,
            ..rules()
        };
        let mut i = Instance::new();
        let _ = i.on(start(), set(&r), NOW);
        let _ = i.on(spawned(1), set(&r), NOW);
        let quick = Event::Exited {
            generation: 1,
            exit: Some(Exit::code(1)),
            uptime_ms: 10,
            requested: false,
        };
        let fx = i.on(quick, set(&r), NOW);
        assert_eq!(i.phase, Phase::Errored);
        assert!(fx
            .iter()
            .any(|e| matches!(e, Publish(Notice::Errored(r)) if r.contains("max_restarts"))));
    }

    #[test]
    fn a_group_member_waits_for_its_group_and_a_held_one_stays_down() {
        let r = rules();
        let g = Setting {
            rules: &r,
            supervisor: Supervisor::Group,
            ready_timeout_ms: None,
        };
        let mut i = Instance::new();
        let _ = i.on(start(), g, NOW);
        let _ = i.on(spawned(1), g, NOW);
        let fx = i.on(exited(1, 1, false), g, NOW);
        assert!(fx.contains(&Escalate {
            to: Supervisor::Group,
            generation: 1,
            delay_ms: 0
        }));
        assert_eq!(i.phase, Phase::WaitingRestart);
        // The user stops it while the group decides: the group's restart leaves it down.
        let _ = i.on(stop(), g, NOW);
        let fx = i.on(
            Event::StartAfter {
                delay_ms: 0,
                waiter: Some(5),
            },
            g,
            NOW,
        );
        assert_eq!(fx, vec![Settle(vec![5])]);
        assert_eq!(i.phase, Phase::Stopped);
        // A temporary member is never restarted by its group.
        let never = RestartRules {
            policy: Policy::Never,
            ..rules()
        };
        let mut t = Instance::new();
        let _ = t.on(
            Event::StartAfter {
                delay_ms: 0,
                waiter: None,
            },
            set(&never),
            NOW,
        );
        assert_eq!(t.phase, Phase::Stopped);
    }

    #[test]
    fn main_exit_publishes_once_and_records_uptime_clock() {
        let mut i = Instance::new();
        let r = rules();
        let _ = i.on(start(), set(&r), 10);
        let _ = i.on(spawned(1), set(&r), 42);
        assert_eq!(i.started_ms, Some(42));
        let fx = i.on(
            Event::MainExited {
                generation: 1,
                exit: Exit::code(2),
            },
            set(&r),
            50,
        );
        assert!(fx.contains(&Publish(Notice::Exit(Some(Exit::code(2))))));
        assert_eq!((i.phase, i.pid), (Phase::Stopping, None));
        let fx = i.on(exited(1, 2, false), set(&r), 60);
        assert!(!fx.iter().any(|e| matches!(e, Publish(Notice::Exit(_)))));
        assert_eq!(i.phase, Phase::Launching);
    }

    #[test]
    fn a_spawn_short_of_resources_is_retried_with_backoff_until_it_succeeds() {
        let r = rules();
        let short = |generation| Event::SpawnFailed {
            generation,
            reason: "cannot start: Too many open files (os error 24)".into(),
            transient: true,
        };
        let mut i = in_phase(Phase::Online);
        // A manual restart whose spawn fails for want of descriptors, again and again.
        let fx = i.on(
            Event::Restart {
                reason: Reason::Manual,
                waiter: Some(7),
            },
            set(&r),
            NOW,
        );
        assert!(fx.contains(&Terminate { generation: 1 }));
        let _ = i.on(exited(1, 0, true), set(&r), NOW);
        assert_eq!(
            (i.phase, i.generation, i.restarts),
            (Phase::Launching, 2, 1)
        );
        // (generation failing, the wait armed): PM2's exp backoff numbers, capped at 15 s.
        let waits: Vec<(u64, u64)> = (0..12u64)
            .map(|k| {
                let generation = 2 + k;
                let fx = i.on(short(generation), set(&r), NOW);
                assert_eq!(i.phase, Phase::WaitingRestart, "after failure {k}");
                assert!(i.last_error.is_some());
                if k == 0 {
                    assert!(
                        fx.contains(&Settle(vec![7])),
                        "the restart is answered: {fx:?}"
                    );
                }
                assert!(
                    !fx.iter().any(|e| matches!(e, Publish(Notice::Errored(_)))),
                    "never errored: {fx:?}"
                );
                let delay = fx
                    .iter()
                    .find_map(|e| match e {
                        Arm {
                            generation: g,
                            delay_ms,
                        } if *g == generation => Some(*delay_ms),
                        _ => None,
                    })
                    .expect("a retry armed");
                // The timer tries the same launch again: a spawn, not one more restart.
                let fx = i.on(Event::TimerFired { generation }, set(&r), NOW);
                assert_eq!(
                    fx,
                    vec![
                        Spawn {
                            generation: generation + 1
                        },
                        Report
                    ]
                );
                (generation, delay)
            })
            .collect();
        let delays: Vec<u64> = waits.iter().map(|(_, d)| *d).collect();
        assert_eq!(
            delays,
            [100, 150, 225, 337, 505, 757, 1135, 1702, 2553, 3829, 5743, 8614]
        );
        assert_eq!(i.restarts, 1, "retries are not restarts");
        // Resources back: it comes online and the next shortage starts from 100 ms again.
        let _ = i.on(spawned(14), set(&r), NOW);
        assert_eq!(
            (i.phase, i.spawn_retry_ms, i.last_error.clone()),
            (Phase::Online, None, None)
        );
        // Long shortages are retried every 15 s at most, for ever.
        let mut j = Instance::new();
        let _ = j.on(start(), set(&r), NOW);
        let mut last = 0;
        for _ in 0..40 {
            let g = j.generation;
            let fx = j.on(short(g), set(&r), NOW);
            last = fx
                .iter()
                .find_map(|e| match e {
                    Arm { delay_ms, .. } => Some(*delay_ms),
                    _ => None,
                })
                .expect("armed");
            let _ = j.on(Event::TimerFired { generation: g }, set(&r), NOW);
        }
        assert_eq!((last, j.phase), (15_000, Phase::Launching));
    }

    #[test]
    fn a_stop_during_a_spawn_retry_stops_it_and_makes_the_timer_stale() {
        let r = rules();
        let mut i = Instance::new();
        let _ = i.on(start(), set(&r), NOW);
        let short = Event::SpawnFailed {
            generation: 1,
            reason: "Resource temporarily unavailable (os error 11)".into(),
            transient: true,
        };
        let _ = i.on(short.clone(), set(&r), NOW);
        assert_eq!(i.phase, Phase::WaitingRestart);
        let fx = i.on(stop(), set(&r), NOW);
        assert!(fx.contains(&Settle(vec![2])));
        assert_eq!((i.phase, i.spawn_retry_ms), (Phase::Stopped, None));
        assert!(i
            .on(Event::TimerFired { generation: 1 }, set(&r), NOW)
            .is_empty());
        // A stop asked while it launched ends stopped, not waiting for a retry.
        let mut j = Instance::new();
        let _ = j.on(start(), set(&r), NOW);
        let _ = j.on(stop(), set(&r), NOW);
        let fx = j.on(short, set(&r), NOW);
        assert!(fx.contains(&Settle(vec![1, 2])), "{fx:?}");
        assert_eq!(j.phase, Phase::Stopped);
        // The same failure, not transient (a missing program): errored for good.
        let mut k = Instance::new();
        let _ = k.on(start(), set(&r), NOW);
        let fx = k.on(
            Event::SpawnFailed {
                generation: 1,
                reason: "cannot exec: No such file or directory (os error 2)".into(),
                transient: false,
            },
            set(&r),
            NOW,
        );
        assert!(!fx.iter().any(|e| matches!(e, Arm { .. })));
        assert_eq!(k.phase, Phase::Errored);
    }

    fn waiting(rules: &RestartRules) -> Setting<'_> {
        Setting {
            rules,
            supervisor: Supervisor::Pm2,
            ready_timeout_ms: Some(3_000),
        }
    }

    /// (what happens after the spawn, the phase after it, the start answered, `online`
    /// published) with `wait_ready` and a listen_timeout of 3 s.
    #[test]
    fn wait_ready_holds_launching_until_ready_or_the_timeout() {
        let r = rules();
        type Case = (&'static str, Vec<Event>, Phase, bool);
        let cases: Vec<Case> = vec![
            ("spawned only", vec![], Phase::Launching, false),
            (
                "ready",
                vec![Event::Ready { generation: 1 }],
                Phase::Online,
                true,
            ),
            (
                "the timeout",
                vec![Event::ReadyTimeout { generation: 1 }],
                Phase::Online,
                true,
            ),
            (
                "a late ready of an old generation",
                vec![Event::Ready { generation: 0 }],
                Phase::Launching,
                false,
            ),
            (
                "ready twice: one is enough",
                vec![
                    Event::Ready { generation: 1 },
                    Event::Ready { generation: 1 },
                ],
                Phase::Online,
                true,
            ),
            (
                "a stop before ready, then ready",
                vec![stop(), Event::Ready { generation: 1 }],
                Phase::Stopping,
                false,
            ),
        ];
        for (what, evs, want, answered) in cases {
            let mut i = Instance::new();
            let _ = i.on(start(), waiting(&r), NOW);
            let fx = i.on(spawned(1), waiting(&r), NOW);
            assert_eq!(
                fx,
                vec![
                    ArmReady {
                        generation: 1,
                        delay_ms: 3_000
                    },
                    Report
                ],
                "{what}"
            );
            let mut all = Vec::new();
            for e in evs {
                all.extend(i.on(e, waiting(&r), NOW));
            }
            assert_eq!(i.phase, want, "{what}: {all:?}");
            let settled = all.iter().any(|e| matches!(e, Settle(w) if w.contains(&1)));
            assert_eq!(settled, answered, "{what}: {all:?}");
            assert_eq!(
                all.iter()
                    .filter(|e| **e == Publish(Notice::Online))
                    .count(),
                usize::from(answered),
                "{what}: {all:?}"
            );
            assert_eq!(
                i.pid,
                Some(101),
                "{what}: the pid is listed while launching"
            );
        }
        // Without wait_ready: online at the spawn, as before.
        let mut i = Instance::new();
        let _ = i.on(start(), set(&r), NOW);
        let fx = i.on(spawned(1), set(&r), NOW);
        assert!(fx.contains(&Settle(vec![1])) && i.phase == Phase::Online);
        // A READY before the `Spawned` is remembered: online at the spawn.
        let mut i = Instance::new();
        let _ = i.on(start(), waiting(&r), NOW);
        assert!(i
            .on(Event::Ready { generation: 1 }, waiting(&r), NOW)
            .is_empty());
        let fx = i.on(spawned(1), waiting(&r), NOW);
        assert_eq!(i.phase, Phase::Online, "{fx:?}");
        // A timer of an old generation does nothing to the next one.
        let mut i = Instance::new();
        let _ = i.on(start(), waiting(&r), NOW);
        let _ = i.on(spawned(1), waiting(&r), NOW);
        let _ = i.on(exited(1, 1, false), waiting(&r), NOW);
        let _ = i.on(spawned(2), waiting(&r), NOW);
        assert!(i
            .on(Event::ReadyTimeout { generation: 1 }, waiting(&r), NOW)
            .is_empty());
        assert_eq!(i.phase, Phase::Launching);
    }

    #[test]
    fn an_exit_before_ready_is_unstable_and_ends_errored_never_online() {
        let r = RestartRules {
            max_restarts: 3,
            ..rules()
        };
        let mut i = Instance::new();
        let _ = i.on(start(), waiting(&r), NOW);
        let mut all = Vec::new();
        for g in 1..=3 {
            all.extend(i.on(spawned(g), waiting(&r), NOW));
            assert_eq!(i.phase, Phase::Launching);
            // Up 10 s, far over min_uptime: still unstable, it never became ready.
            all.extend(i.on(
                Event::Exited {
                    generation: g,
                    exit: Some(Exit::code(1)),
                    uptime_ms: 10_000,
                    requested: false,
                },
                waiting(&r),
                NOW,
            ));
        }
        assert_eq!(i.phase, Phase::Errored);
        assert!(!all.contains(&Publish(Notice::Online)), "{all:?}");
        assert!(
            all.contains(&Settle(vec![1])),
            "the start is answered: {all:?}"
        );
        // Once ready, the uptime counts again: a long run is stable.
        let mut j = Instance::new();
        let _ = j.on(start(), waiting(&r), NOW);
        let _ = j.on(spawned(1), waiting(&r), NOW);
        let _ = j.on(Event::Ready { generation: 1 }, waiting(&r), NOW);
        let _ = j.on(exited(1, 1, false), waiting(&r), NOW);
        assert_eq!((j.phase, j.chain.unstable), (Phase::Launching, 0));
    }

    fn reload(waiter: Token) -> Event {
        Event::Reload {
            waiter: Some(waiter),
        }
    }

    /// Online at generation 1 (pid 101), under `set`.
    fn online_under(set: Setting<'_>) -> Instance {
        let mut i = Instance::new();
        let _ = i.on(start(), set, NOW);
        let _ = i.on(spawned(1), set, NOW);
        let _ = i.on(Event::Ready { generation: 1 }, set, NOW);
        assert_eq!(i.phase, Phase::Online);
        i
    }

    #[test]
    fn a_reload_spawns_beside_swaps_once_ready_then_stops_the_old_one() {
        let r = rules();
        for wait in [false, true] {
            let set = if wait { waiting(&r) } else { set(&r) };
            let mut i = online_under(set);
            let fx = i.on(reload(5), set, NOW);
            assert_eq!(fx, vec![Spawn { generation: 2 }], "wait_ready {wait}");
            // Listed as before: the old process serves.
            assert_eq!(
                (i.phase, i.pid, i.generation),
                (Phase::Online, Some(101), 1)
            );
            let mut fx = i.on(spawned(2), set, NOW);
            if wait {
                assert_eq!(
                    fx,
                    vec![ArmReady {
                        generation: 2,
                        delay_ms: 3_000
                    }]
                );
                assert_eq!(i.pid, Some(101), "not swapped before READY");
                fx = i.on(Event::Ready { generation: 2 }, set, NOW);
            }
            assert_eq!(
                fx,
                vec![
                    Terminate { generation: 1 },
                    Publish(Notice::Restart(Reason::Manual)),
                    Publish(Notice::Online),
                    Report
                ],
                "wait_ready {wait}"
            );
            assert_eq!(
                (i.phase, i.pid, i.generation, i.restarts),
                (Phase::Online, Some(102), 2, 1)
            );
            // The step is over once the old process is gone.
            let fx = i.on(exited(1, 0, true), set, NOW);
            assert_eq!(fx, vec![Settle(vec![5])]);
            assert!(i.running() && i.reload_error.is_none());
            // A late READY of the replaced generation changes nothing.
            assert!(i.on(Event::Ready { generation: 1 }, set, NOW).is_empty());
        }
    }

    #[test]
    fn a_replacement_that_dies_before_ready_leaves_the_old_one_serving() {
        let r = rules();
        let set = waiting(&r);
        let mut i = online_under(set);
        let _ = i.on(reload(5), set, NOW);
        let _ = i.on(spawned(2), set, NOW);
        let _ = i.on(
            Event::MainExited {
                generation: 2,
                exit: Exit::code(3),
            },
            set,
            NOW,
        );
        let fx = i.on(exited(2, 3, false), set, NOW);
        assert_eq!(fx, vec![Settle(vec![5])]);
        assert_eq!(
            i.reload_error.as_deref(),
            Some("its replacement (pid 102) exited with code 3 before it was ready")
        );
        assert_eq!(
            (i.phase, i.pid, i.generation, i.restarts),
            (Phase::Online, Some(101), 1, 0)
        );
        assert!(!fx.iter().any(|e| matches!(e, Terminate { .. })));
        // Its timer is stale; the next spawn never reuses the dead replacement's number.
        assert!(i
            .on(Event::ReadyTimeout { generation: 2 }, set, NOW)
            .is_empty());
        let _ = i.on(stop(), set, NOW);
        let _ = i.on(exited(1, 0, true), set, NOW);
        let fx = i.on(start(), set, NOW);
        assert_eq!(fx, vec![Spawn { generation: 3 }, Report]);
        // A replacement that cannot even be spawned fails the step the same way.
        let mut j = online_under(set);
        let _ = j.on(reload(6), set, NOW);
        let fx = j.on(
            Event::SpawnFailed {
                generation: 2,
                reason: "cannot exec".into(),
                transient: false,
            },
            set,
            NOW,
        );
        assert_eq!(fx, vec![Settle(vec![6])]);
        assert_eq!((j.phase, j.pid), (Phase::Online, Some(101)));
        assert!(j.reload_error.is_some());
    }

    #[test]
    fn a_stop_during_a_reload_stops_both_and_answers_once_both_are_gone() {
        let r = rules();
        let set = waiting(&r);
        let mut i = online_under(set);
        let _ = i.on(reload(5), set, NOW);
        let _ = i.on(spawned(2), set, NOW);
        let fx = i.on(stop(), set, NOW);
        assert!(fx.contains(&Terminate { generation: 2 }), "{fx:?}");
        assert!(fx.contains(&Terminate { generation: 1 }), "{fx:?}");
        assert!(
            fx.contains(&Settle(vec![5])),
            "the reload is answered: {fx:?}"
        );
        assert!(i.reload_error.is_some());
        let fx = i.on(exited(1, 0, true), set, NOW);
        assert!(!fx.iter().any(|e| matches!(e, Settle(_))), "{fx:?}");
        assert_eq!(i.phase, Phase::Stopping);
        // The replacement's READY, too late, changes nothing.
        assert!(i.on(Event::Ready { generation: 2 }, set, NOW).is_empty());
        let fx = i.on(exited(2, 0, true), set, NOW);
        assert!(fx.contains(&Settle(vec![2])), "{fx:?}");
        assert_eq!(i.phase, Phase::Stopped);
        assert!(!i.running());
        // A stop after the swap waits for the replaced process too.
        let mut j = online_under(set);
        let _ = j.on(reload(5), set, NOW);
        let _ = j.on(spawned(2), set, NOW);
        let _ = j.on(Event::Ready { generation: 2 }, set, NOW);
        let _ = j.on(stop(), set, NOW);
        let _ = j.on(exited(2, 0, true), set, NOW);
        assert_eq!(j.phase, Phase::Stopping, "the replaced one still runs");
        let fx = j.on(exited(1, 0, true), set, NOW);
        assert!(
            fx.contains(&Settle(vec![5])) && fx.contains(&Settle(vec![2])),
            "{fx:?}"
        );
        assert_eq!(j.phase, Phase::Stopped);
    }

    #[test]
    fn an_old_process_that_dies_during_its_reload_is_replaced_by_the_replacement() {
        let r = rules();
        let set = waiting(&r);
        let mut i = online_under(set);
        let _ = i.on(reload(5), set, NOW);
        let _ = i.on(spawned(2), set, NOW);
        let fx = i.on(exited(1, 1, false), set, NOW);
        assert!(!fx.iter().any(|e| matches!(e, Spawn { .. })), "{fx:?}");
        assert_eq!(
            (i.phase, i.pid, i.generation),
            (Phase::Launching, Some(102), 2)
        );
        let fx = i.on(Event::Ready { generation: 2 }, set, NOW);
        assert!(fx.contains(&Settle(vec![5])), "{fx:?}");
        assert_eq!(i.phase, Phase::Online);
        // A reload of an instance that is not online does nothing (answered at once).
        let mut d = Instance::new();
        assert_eq!(d.on(reload(7), set, NOW), vec![Settle(vec![7])]);
        assert_eq!(d.phase, Phase::Stopped);
    }

    /// A reload step in every phase: only an online instance gets a replacement; any
    /// other is left as it is and the step answered at once (the shell restarts down
    /// instances itself); a READY or timer in a phase without a launch changes nothing.
    #[test]
    fn a_reload_step_in_every_phase() {
        let r = rules();
        for p in PHASES {
            let mut i = in_phase(p);
            let before = i.clone();
            let fx = drive(&mut i, vec![reload(9)]);
            if p == Phase::Online {
                assert_eq!(fx, vec![Spawn { generation: 2 }], "{p:?}");
                assert!(i.running() && i.phase == Phase::Online);
            } else {
                assert_eq!(fx, vec![Settle(vec![9])], "{p:?}");
                assert_eq!(i, before, "{p:?}");
            }
            if p != Phase::Launching {
                let mut j = in_phase(p);
                let g = j.generation;
                for ev in [
                    Event::Ready { generation: g },
                    Event::ReadyTimeout { generation: g },
                ] {
                    assert!(j.on(ev, waiting(&r), NOW).is_empty(), "{p:?}");
                }
            }
        }
    }
}
