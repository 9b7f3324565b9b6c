//! Lifecycle actor: owns the end of the runtime, the one place that decides it stops.
//! Whoever wants the daemon (or, later, `pmx run`) gone sends it [`Shutdown`] with a
//! [`Reason`]: the SIGTERM/SIGINT listener, a session's `kill`, and later `pmx run` when
//! every app is gone. It stops every app through the Root's `StopAll`, answers every
//! [`Shutdown`] once they have stopped, waits (a bounded time) for the clients that asked
//! to have read their answer, then stops the actix system; the entry point's
//! `System::run` returns and cleans up.
//!
//! Nothing else stops the system, and no global flag says that it is stopping: actors
//! dropped with it run their `stopped()` (actix stops a context whose future is dropped),
//! which is how the Process actor tells that drop from a panic.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::root::StopAll;

/// The longest the system waits, after every app has stopped, for the clients that asked
/// for the stop to have their answer written: a client that never reads cannot keep the
/// daemon alive.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(2);

/// How long an ending runtime waits for the log pumps to read what the stopped apps left
/// in their pipes (see [`crate::log::drained`]).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// Why the runtime stops (written to the daemon's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// SIGTERM or SIGINT, by name.
    Signal(&'static str),
    /// A client's `kill` request.
    Kill,
    /// Every app is gone (`pmx run`, the foreground runtime).
    AppsGone,
    /// The foreground runtime's start failed (nothing runs).
    StartFailed,
}

/// Stop every app, then the runtime. Answered once every app has stopped (not when the
/// runtime has ended: the asker may still have an answer to write). Any number may come;
/// the first starts the stop, the others join it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown {
    /// Why (logged for the first only).
    pub reason: Reason,
    /// The system does not stop before this resolves (a value sent, or its sender
    /// dropped) or [`ANSWER_LIMIT`] has passed since every app stopped: a session hands
    /// the receiver and drops the sender once its `kill` answer is flushed.
    pub until: Option<oneshot::Receiver<()>>,
}

/// Where the stop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Serving.
    Running,
    /// `StopAll` sent to the Root; waiting for every app to stop.
    StoppingApps,
    /// Every app stopped; waiting for the askers' answers to be written.
    Ending,
}

/// The Lifecycle actor.
pub struct Lifecycle {
    /// The Root's `StopAll`: every app stopped, answered once they all have.
    stop_all: Recipient<StopAll>,
    phase: Phase,
    /// The [`Shutdown`]s to answer once every app has stopped.
    waiters: Vec<oneshot::Sender<()>>,
    /// The `until`s not yet resolved.
    pending: usize,
    /// The system was asked to stop (once).
    stopped_system: bool,
}

impl Lifecycle {
    /// A Lifecycle that stops the apps through `stop_all`.
    pub fn new(stop_all: Recipient<StopAll>) -> Lifecycle {
        Lifecycle {
            stop_all,
            phase: Phase::Running,
            waiters: Vec::new(),
            pending: 0,
            stopped_system: false,
        }
    }
}

impl Actor for Lifecycle {
    type Context = Context<Self>;
}

impl Handler<Shutdown> for Lifecycle {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(until) = msg.until {
            self.pending += 1;
            ctx.spawn(
                async move { until.await.ok() }
                    .into_actor(self)
                    .map(|_, act, ctx| {
                        act.pending -= 1;
                        act.end_if_answered(ctx);
                    }),
            );
        }
        if self.phase == Phase::Running {
            tracing::info!("{}: stopping every app", describe(msg.reason));
            self.phase = Phase::StoppingApps;
            ctx.spawn(
                self.stop_all
                    .send(StopAll)
                    .into_actor(self)
                    .map(|_, act, ctx| act.apps_stopped(ctx)),
            );
        }
        if self.phase == Phase::Ending {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Lifecycle {
    /// Every app has stopped: answer the askers, and end once they have their answers.
    fn apps_stopped(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::Ending;
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
        self.end_if_answered(ctx);
        // A client that never reads its answer does not hold the daemon.
        ctx.run_later(ANSWER_LIMIT, |act, _| act.end());
    }

    /// End now if every app has stopped and every asker has its answer.
    fn end_if_answered(&mut self, _: &mut Context<Self>) {
        if self.phase == Phase::Ending && self.pending == 0 {
            self.end();
        }
    }

    /// Stop the actix system once the log pumps have read the apps' pipes to the end (at
    /// most [`DRAIN_LIMIT`]): the entry point's `System::run` returns.
    fn end(&mut self) {
        if !self.stopped_system {
            self.stopped_system = true;
            tracing::info!("every app stopped: ending");
            actix_rt::spawn(async {
                if !crate::log::drained(DRAIN_LIMIT).await {
                    tracing::warn!(
                        "an app's output pipe was still open {DRAIN_LIMIT:?} after every app stopped: ending without its last lines"
                    );
                }
                System::current().stop();
            });
        }
    }
}

/// `reason` as the log says it.
fn describe(reason: Reason) -> String {
    match reason {
        Reason::Signal(name) => format!("{name} received"),
        Reason::Kill => "kill requested".into(),
        Reason::AppsGone => "every app is gone".into(),
        Reason::StartFailed => "the start failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Stands in for the Root: records each StopAll, answers after `delay`.
    struct FakeRoot {
        calls: Arc<Mutex<u32>>,
        delay: Duration,
    }
    impl Actor for FakeRoot {
        type Context = Context<Self>;
    }
    impl Handler<StopAll> for FakeRoot {
        type Result = ResponseFuture<()>;
        fn handle(&mut self, _: StopAll, _: &mut Context<Self>) -> Self::Result {
            *self.calls.lock().expect("lock") += 1;
            let delay = self.delay;
            Box::pin(async move { tokio::time::sleep(delay).await })
        }
    }

    /// Runs `f` in a fresh actix system and returns whether the system was stopped by
    /// the Lifecycle (`System::run` returned) and how many StopAll the Root heard.
    fn run_system(
        delay: Duration,
        f: impl FnOnce(Addr<Lifecycle>) + 'static,
    ) -> (std::time::Duration, u32) {
        let calls = Arc::new(Mutex::new(0));
        let sys = System::new();
        let calls2 = calls.clone();
        let started = std::time::Instant::now();
        sys.block_on(async move {
            let root = FakeRoot {
                calls: calls2,
                delay,
            }
            .start();
            let lifecycle = Lifecycle::new(root.recipient()).start();
            f(lifecycle);
        });
        sys.run().expect("system ran");
        let n = *calls.lock().expect("lock");
        (started.elapsed(), n)
    }

    #[test]
    fn shutdowns_from_every_source_stop_the_apps_once_then_the_system() {
        let answered = Arc::new(Mutex::new(Vec::new()));
        let a = answered.clone();
        let (elapsed, calls) = run_system(Duration::from_millis(50), move |lc| {
            for reason in [
                Reason::Signal("SIGTERM"),
                Reason::Kill,
                Reason::Signal("SIGINT"),
            ] {
                let a = a.clone();
                let req = lc.send(Shutdown {
                    reason,
                    until: None,
                });
                actix_rt::spawn(async move {
                    req.await.expect("answered");
                    a.lock().expect("lock").push(reason);
                });
            }
        });
        assert_eq!(calls, 1, "the apps are stopped once");
        assert_eq!(
            answered.lock().expect("lock").len(),
            3,
            "every asker answered"
        );
        assert!(
            elapsed < ANSWER_LIMIT,
            "no wait without an until: {elapsed:?}"
        );
    }

    #[test]
    fn the_system_waits_for_the_asker_to_have_written_its_answer() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let (elapsed, _) = run_system(Duration::from_millis(10), move |lc| {
            let (flushed, until) = oneshot::channel::<()>();
            let req = lc.send(Shutdown {
                reason: Reason::Kill,
                until: Some(until),
            });
            actix_rt::spawn(async move {
                req.await.expect("answered");
                o.lock().expect("lock").push("apps stopped");
                // The session writes its answer: the system is still running.
                tokio::time::sleep(Duration::from_millis(100)).await;
                o.lock().expect("lock").push("answer written");
                drop(flushed);
            });
        });
        assert_eq!(
            *order.lock().expect("lock"),
            ["apps stopped", "answer written"]
        );
        assert!(elapsed >= Duration::from_millis(100) && elapsed < ANSWER_LIMIT);
    }

    #[test]
    fn an_asker_that_never_answers_holds_the_system_at_most_the_limit() {
        let (elapsed, calls) = run_system(Duration::from_millis(10), move |lc| {
            let (never, until) = oneshot::channel::<()>();
            // Kept alive past the end: the system stops anyway.
            std::mem::forget(never);
            lc.do_send(Shutdown {
                reason: Reason::Kill,
                until: Some(until),
            });
        });
        assert_eq!(calls, 1);
        assert!(elapsed >= ANSWER_LIMIT, "{elapsed:?}");
    }
}
