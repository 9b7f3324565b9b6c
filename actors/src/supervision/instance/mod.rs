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
//!  online ──HealthFailed──▶ stopping ──Exited──▶ decide() as an unrequested exit (reason health)
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
//! The types a transition speaks ([`Phase`], [`Event`], [`Effect`], [`Notice`], [`Reason`],
//! [`Setting`], [`Token`]) live in `instance/types.rs`, re-exported here; the rolling
//! reload's replacement bookkeeping in `instance/rolling.rs`.
//!
//! Health (SPEC §5): [`Event::HealthFailed`] of an `online` instance stops it
//! (`Effect::Terminate`, as any stop) and, once its tree is gone, decides its exit as an
//! unrequested one (`decide`, counted as a failure whatever the exit said); the restart
//! that follows — at once, after a delay, or a group's `StartAfter` — is announced with
//! reason `health`, and none is announced when the decision is `stopped` or `errored`.
//! With a readiness check (`ready: true`) the shell feeds a probe's first pass as
//! [`Event::Ready`]. Room left for what comes next (not built): restarts for watch are
//! `Event::Restart{reason}` with their [`Reason`] (a rolling one in cluster mode is
//! `Event::Reload`).

use super::backoff::next_backoff;
use super::decide::{decide, Decision};
use super::policy::{Exit, Policy, RestartState};

mod rolling;
mod types;

use self::rolling::Next;
pub use self::types::{Effect, Event, Notice, Phase, Reason, Setting, Token};

/// The first wait, in ms, before a spawn that failed for want of resources is tried again;
/// each following wait grows by half up to [`super::backoff::BACKOFF_CAP_MS`] (PM2's
/// `exp_backoff_restart_delay` numbers: 100, 150, 225, … 15 000 ms). There is no limit on
/// the attempts, as PM2's exponential backoff never gives up: a full descriptor table or
/// process table is the machine's state, not the app's fault, and the instance comes
/// online by itself once the resources are back (at most one attempt per 15 s then).
pub const SPAWN_RETRY_INITIAL_MS: u64 = 100;

/// What is asked of a running instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    None,
    Stop,
    Restart(Reason),
    /// Stopped because it failed while running (its health check): once its tree is gone
    /// the exit is decided as an unrequested one, restarts announced with this reason.
    Fail(Reason),
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
    /// Why it was last restarted (None: never).
    pub last_restart: Option<Reason>,
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
    /// The reason of the failure being decided on (a health check's), given to the
    /// restart that follows it, however late (a delay, a group's decision); None: an exit.
    failure: Option<Reason>,
    waiters: Vec<Token>,
    /// The highest generation given out: every spawn (a replacement's included) and every
    /// change that makes a timer stale takes the next, so no two processes share one.
    issued: u64,
    /// A rolling reload's replacement, launching beside the running process.
    next: Option<Next>,
    /// After a swap: the generation of the replaced process, being stopped.
    retiring: Option<u64>,
    /// Replacements given up on (a stop or restart during their reload), being stopped.
    dropped: Vec<u64>,
    /// Whoever waits for the reload step under way.
    reload_waiters: Vec<Token>,
    /// Why the last reload step failed (its replacement exited before it was ready, or
    /// the instance was stopped or restarted meanwhile); cleared when a step begins.
    pub reload_error: Option<String>,
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
            last_restart: None,
            chain: RestartState::default(),
            pid: None,
            started_ms: None,
            last_exit: None,
            last_error: None,
            exit_published: 0,
            spawn_retry_ms: None,
            was_online: false,
            ready_early: false,
            failure: None,
            waiters: Vec::new(),
            issued: 0,
            next: None,
            retiring: None,
            dropped: Vec::new(),
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
        self.next.is_some() || self.retiring.is_some() || !self.dropped.is_empty()
    }

    /// The generations whose processes may still run: the current, a replacement, a
    /// replaced one, replacements given up on (the shell keeps a process side for each).
    pub fn live_generations(&self) -> Vec<u64> {
        let mut live = vec![self.generation];
        live.extend(self.next.as_ref().map(|n| n.generation));
        live.extend(self.retiring);
        live.extend(&self.dropped);
        live
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
        // A report of a reload's replacement or of the process it replaced.
        if self.on_other(&ev, set, now_ms, &mut fx) {
            return fx;
        }
        match ev {
            Event::Start { waiter } => {
                if self.running || self.phase == Phase::WaitingRestart {
                    settle_now(&mut fx, waiter);
                } else {
                    self.held = false;
                    self.chain.reset();
                    self.spawn_retry_ms = None;
                    self.failure = None;
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
                    let reason = self.failure.take().unwrap_or(Reason::Group);
                    self.restart_now(reason, &mut fx);
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
                self.failure = None;
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
                self.failure = None;
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
            Event::Reload { reason, waiter } => self.reload_step(reason, waiter, &mut fx),
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
                if self.intent == Intent::None && self.next.is_some() {
                    // It ended during its reload: the replacement takes its place now.
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
                    Intent::Fail(reason) => {
                        // Killed for failing: a failure whatever its exit said (a graceful
                        // exit 0 on SIGINT included), as a crash of the same uptime.
                        self.intent = Intent::None;
                        self.failure = Some(reason);
                        let d = decide(set.rules, &mut self.chain, set.supervisor, None, uptime_ms);
                        self.follow(d, &mut fx);
                    }
                }
            }
            Event::HealthFailed { generation } => {
                if generation == self.generation
                    && self.running
                    && self.phase == Phase::Online
                    && self.intent == Intent::None
                {
                    self.intent = Intent::Fail(Reason::Health);
                    self.terminate(&mut fx);
                }
            }
            Event::TimerFired { generation } => {
                if generation == self.generation && self.phase == Phase::WaitingRestart {
                    if self.spawn_retry_ms.is_some() {
                        // The same launch tried again: not one more restart.
                        self.start(&mut fx);
                    } else {
                        let reason = self.failure.take().unwrap_or(Reason::Exited);
                        self.restart_now(reason, &mut fx);
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
        if !matches!(d, Decision::Restart { .. } | Decision::Escalate { .. }) {
            // Nothing restarts it: no restart is announced for this failure later.
            self.failure = None;
        }
        match d {
            Decision::Restart { delay_ms: 0 } => {
                let reason = self.failure.take().unwrap_or(Reason::Exited);
                self.restart_now(reason, fx)
            }
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
        self.last_restart = Some(reason);
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

fn settle_now(fx: &mut Vec<Effect>, waiter: Option<Token>) {
    if let Some(w) = waiter {
        fx.push(Effect::Settle(vec![w]));
    }
}

#[cfg(test)]
mod tests;
