//! The instance state machine's vocabulary: the [`Phase`] an instance is in, the
//! [`Event`]s it takes, the [`Effect`]s and [`Notice`]s it asks of its shell, the
//! [`Reason`] of a restart, and the [`Setting`] a transition reads. The transition
//! function itself is [`Instance::on`](super::Instance::on) in `instance/mod.rs`; these
//! types are re-exported from there, so `crate::supervision::instance::Event` and the
//! like are the paths to use.

use crate::supervision::decide::Supervisor;
use crate::supervision::policy::{Exit, RestartRules};

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
    /// Its tree's resident memory went over `max_memory_restart`.
    Memory,
    /// Its app's `cron_restart` pattern fired (see `app/cron.rs`).
    Cron,
    /// Files changed under its app's watched paths (see `watch.rs`, `app/watching.rs`).
    Watch,
    /// Its health check failed `failures` times in a row while it was online (see
    /// `app/health.rs`): a failure, decided as a crash is.
    Health,
}

impl Reason {
    /// The word published in the `restart` event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Manual => "restart",
            Reason::Exited => "exited",
            Reason::Group => "group",
            Reason::Memory => "memory",
            Reason::Cron => "cron",
            Reason::Watch => "watch",
            Reason::Health => "health",
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
        /// Why (published in the `restart` event of the swap): `Manual` for `reload`,
        /// `Memory` for a memory limit.
        reason: Reason,
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
    /// The health check of the `online` process `generation` failed `failures` times in a
    /// row (SPEC §5): it is stopped like any stop, then its exit is a failure that its
    /// policy, its app's or group's strategy and intensity decide on, as an unrequested
    /// exit is (Kubernetes' liveness probe); its restart is announced with reason
    /// `health`. Ignored unless that generation is the current one and `online` with
    /// nothing else asked of it.
    HealthFailed {
        /// The generation whose probe failed.
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
    /// The process `generation` (a reload's replacement) took the instance over: the
    /// shell tells its process side (the pid file names it from now on).
    Promote {
        /// Its generation.
        generation: u64,
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
    /// A rolling replacement's wait when `ready_timeout_ms` is None: Some(`listen_timeout`
    /// in ms) for a Node cluster worker, ready once it listens (the channel's `listening`
    /// is its `Ready`: PM2's cluster reload waits for the new worker's `listening`, or
    /// `listen_timeout`); None: a replacement is ready once spawned.
    pub replacement_timeout_ms: Option<u64>,
}
