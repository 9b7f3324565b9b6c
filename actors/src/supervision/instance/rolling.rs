//! The rolling reload's half of the instance state machine (SPEC §6): a replacement (the
//! `next` generation) launching beside the running process, the swap once it is online,
//! the replaced (`retiring`) process stopped, and what a stop, a restart or an exit does
//! meanwhile. See the header of `instance/mod.rs`.

use super::{settle_now, Effect, Event, Instance, Intent, Notice, Phase, Reason, Setting, Token};
use crate::supervision::policy::Exit;

/// A replacement spawned beside the running process by a rolling reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Next {
    /// Its generation.
    pub(super) generation: u64,
    /// Its main process's pid, once spawned.
    pid: Option<u32>,
    /// When it was spawned, on the shell's clock (ms).
    started_ms: Option<u64>,
    /// It said READY before its `Spawned`.
    ready_early: bool,
    /// How its main process ended (it exited before it was ready).
    exit: Option<Exit>,
    /// Why the reload replaces the instance (`Manual`, or `Memory`).
    reason: Reason,
}

impl Instance {
    /// A reload step (`Event::Reload`): an `online` instance gets a replacement spawned
    /// beside it; a step under way takes this waiter too; any other instance is left as
    /// it is and the waiter answered at once.
    pub(super) fn reload_step(
        &mut self,
        reason: Reason,
        waiter: Option<Token>,
        fx: &mut Vec<Effect>,
    ) {
        if self.next.is_some() {
            // One step under way: this waiter joins it.
            self.reload_waiters.extend(waiter);
            return;
        }
        self.reload_error = None;
        if self.running && self.phase == Phase::Online && self.intent == Intent::None {
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
                reason,
            });
            self.reload_waiters.extend(waiter);
            fx.push(Effect::Spawn { generation });
        } else {
            settle_now(fx, waiter);
        }
    }

    /// `ev` when it reports on the replacement or the replaced process (true: handled
    /// here, nothing else to do); false for the current generation's and other events.
    pub(super) fn on_other(
        &mut self,
        ev: &Event,
        set: Setting<'_>,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let next = self.next.as_ref().map(|n| n.generation);
        match *ev {
            // A replacement given up on: stopped once its spawn is confirmed (its Process
            // actor takes the `Terminate` after the `Spawn`); only its end matters.
            Event::Exited { generation, .. } | Event::SpawnFailed { generation, .. }
                if self.dropped.contains(&generation) =>
            {
                self.dropped.retain(|g| *g != generation);
                self.finish_stop(fx);
            }
            Event::Spawned { generation, .. }
            | Event::Ready { generation }
            | Event::ReadyTimeout { generation }
            | Event::MainExited { generation, .. }
                if self.dropped.contains(&generation) => {}
            Event::Spawned { generation, pid } if Some(generation) == next => {
                let Some(n) = self.next.as_mut() else {
                    return true;
                };
                n.pid = Some(pid);
                n.started_ms = Some(now_ms);
                match set.ready_timeout_ms.or(set.replacement_timeout_ms) {
                    Some(delay_ms) if !n.ready_early => fx.push(Effect::ArmReady {
                        generation,
                        delay_ms,
                    }),
                    _ => self.swap(fx),
                }
            }
            Event::Ready { generation } | Event::ReadyTimeout { generation }
                if Some(generation) == next =>
            {
                let Some(n) = self.next.as_mut() else {
                    return true;
                };
                if n.pid.is_some() {
                    self.swap(fx);
                } else {
                    n.ready_early = true;
                }
            }
            Event::SpawnFailed {
                generation,
                ref reason,
                ..
            } if Some(generation) == next => {
                self.next = None;
                self.fail_reload(format!("its replacement could not start: {reason}"), fx);
            }
            Event::MainExited { generation, exit } if Some(generation) == next => {
                // Its leftovers are being stopped; the failure is told at `Exited`.
                if let Some(n) = self.next.as_mut() {
                    n.exit = Some(exit);
                }
            }
            Event::Exited {
                generation, exit, ..
            } if Some(generation) == next => {
                if let Some(n) = self.next.take() {
                    let pid = n.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                    let how = describe_exit(n.exit.or(exit));
                    self.fail_reload(
                        format!("its replacement{pid} {how} before it was ready"),
                        fx,
                    );
                }
            }
            Event::Exited { generation, .. } if self.retiring == Some(generation) => {
                // The swap is complete: the replaced process is gone.
                self.retiring = None;
                self.settle_reload(fx);
                self.finish_stop(fx);
            }
            _ => return false,
        }
        true
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
        // The old one may have been stopping its leftovers (its main process died): the
        // instance is the replacement now, online.
        self.phase = Phase::Online;
        self.running = true;
        self.pid = n.pid;
        self.started_ms = n.started_ms;
        self.was_online = true;
        self.last_error = None;
        self.restarts += 1;
        fx.push(Effect::Promote {
            generation: self.generation,
        });
        self.last_restart = Some(n.reason);
        fx.push(Effect::Publish(Notice::Restart(n.reason)));
        fx.push(Effect::Publish(Notice::Online));
        fx.push(Effect::Report);
    }

    /// The current process exited on its own while its replacement launched: the
    /// replacement is the instance from now on, `launching` until it is online; whoever
    /// waited for the reload waits for that.
    pub(super) fn replaced_by_next(&mut self, fx: &mut Vec<Effect>) {
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
        self.last_restart = Some(Reason::Exited);
        self.waiters.append(&mut self.reload_waiters);
        fx.push(Effect::Promote {
            generation: self.generation,
        });
        fx.push(Effect::Publish(Notice::Restart(Reason::Exited)));
        fx.push(Effect::Report);
    }

    /// A stop or restart of the instance gives up on a replacement under way: it is
    /// stopped, and the reload step answered with why.
    pub(super) fn abandon_next(&mut self, what: &str, fx: &mut Vec<Effect>) {
        let Some(n) = self.next.take() else {
            return;
        };
        self.dropped.push(n.generation);
        fx.push(Effect::Terminate {
            generation: n.generation,
        });
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
    pub(super) fn finish_stop(&mut self, fx: &mut Vec<Effect>) {
        if !self.running && !self.others() && self.intent == Intent::Stop {
            self.stopped(fx);
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
