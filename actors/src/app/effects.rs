//! Carrying out the state machine's effects: one event fed to one instance, each effect
//! it returns turned into a message (a `Spawn` to a new Process actor, a `Terminate`, a
//! `StartChild` timer, a bus event, a failure to the group), and the app-level strategy
//! when the app supervises its instances itself.

use std::time::Duration;

use actix::prelude::*;

use super::{strategy_of, AppSup};
use crate::events::Publish;
use crate::group::MemberFailed;
use crate::messages::{ReadyTimeout, StartChild};
use crate::os;
use crate::process::{Spawn, Terminate};
use crate::protocol::Event as BusEvent;
use crate::supervision::decide::{plan_instances, InstancesPlan, Supervisor};
use crate::supervision::instance::{Effect, Event, Notice, Setting};
use crate::supervision::intensity::Intensity;

impl AppSup {
    /// Feed `ev` to slot `i`'s state machine and carry out what it asks.
    pub(super) fn feed(&mut self, i: usize, ev: Event, ctx: &mut Context<Self>) {
        let set = Setting {
            rules: &self.rules,
            supervisor: self.supervisor(),
            ready_timeout_ms: self.ready_timeout_ms(),
            replacement_timeout_ms: self.replacement_timeout_ms(),
        };
        let now = self.now_ms();
        let fx = self.slots[i].fsm.on(ev, set, now);
        for e in fx {
            self.carry_out(i, e, ctx);
        }
    }

    /// Carry out one effect of slot `i`'s state machine.
    fn carry_out(&mut self, i: usize, e: Effect, ctx: &mut Context<Self>) {
        match e {
            Effect::Spawn { generation } => self.spawn(i, generation, ctx),
            Effect::Terminate { generation } => {
                if let Some(p) = self.slots[i].port(generation) {
                    p.terminate(Terminate {
                        generation,
                        signal: self.kill_signal,
                        timeout: self.kill_timeout,
                        by_message: self.parts.spec.app.shutdown_with_message,
                    });
                }
            }
            Effect::Arm {
                generation,
                delay_ms,
            } => {
                ctx.notify_later(
                    StartChild {
                        instance: self.slots[i].key,
                        generation,
                    },
                    Duration::from_millis(delay_ms),
                );
            }
            Effect::ArmReady {
                generation,
                delay_ms,
            } => {
                ctx.notify_later(
                    ReadyTimeout {
                        instance: self.slots[i].key,
                        generation,
                    },
                    Duration::from_millis(delay_ms),
                );
            }
            Effect::Promote { generation } => {
                if let Some(p) = self.slots[i].port(generation) {
                    p.promote();
                }
            }
            Effect::Publish(n) => self.publish(i, n),
            Effect::Settle(tokens) => {
                for t in tokens {
                    if let Some(k) = self.waiters.iter().position(|(w, _)| *w == t) {
                        let (_, tx) = self.waiters.swap_remove(k);
                        let _ = tx.send(());
                    }
                }
                if self.waiters.is_empty() {
                    // Most of an app's life nobody waits: keep no room for it.
                    self.waiters = Vec::new();
                }
            }
            Effect::Report => self.slots[i].changed = true,
            Effect::Escalate {
                to: Supervisor::Instances,
                generation,
                delay_ms,
            } => self.instance_failed(i, generation, delay_ms, ctx),
            Effect::Escalate {
                generation,
                delay_ms,
                ..
            } => {
                if let Some((_, group)) = &self.group {
                    group.do_send(MemberFailed {
                        member: self.name().to_string(),
                        instance: self.slots[i].idx,
                        generation,
                        delay_ms,
                    });
                }
            }
        }
    }

    /// Spawn slot `i`'s process of `generation`, with the prepared spawn and the routes
    /// in force; a spawn that cannot even be prepared is a failed spawn.
    fn spawn(&mut self, i: usize, generation: u64, ctx: &mut Context<Self>) {
        if self.slots[i].routes.is_none() {
            let live = self.live();
            self.build_routes(Some(live));
        }
        if self.slots[i]
            .adopt
            .as_ref()
            .is_some_and(|a| a.generation == generation)
        {
            return self.adopt_into(i, generation, ctx);
        }
        let prepared = self
            .spawn_spec(i)
            .and_then(|spec| Ok((spec, self.listen_sockets()?)));
        let routes = self.slots[i].routes.clone();
        match (prepared, routes) {
            (Ok((spec, listen)), Some(routes)) => {
                let (key, id) = (self.slots[i].key, self.slots[i].id);
                let process = self.new_process(key, id, generation, ctx);
                // A reload's replacement (not the current generation) writes the pid
                // file only when it takes the instance over.
                let pid_file = generation == self.slots[i].fsm.generation;
                process.spawn(Spawn {
                    pid_file,
                    generation,
                    spec,
                    kill_signal: self.kill_signal,
                    kill_timeout: self.kill_timeout,
                    routes,
                    listen,
                    restarts: self.slots[i].fsm.restarts,
                });
                let slot = &mut self.slots[i];
                let live = slot.fsm.live_generations();
                slot.processes.retain(|(g, _)| live.contains(g));
                slot.processes.push((generation, process));
            }
            (prepared, _) => {
                let why = prepared
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "no log routes".into());
                let reason = format!("cannot start {}: {why}", self.parts.spec.program.display());
                tracing::error!("app {}: {reason}", self.name());
                let ev = Event::SpawnFailed {
                    generation,
                    reason,
                    transient: false,
                };
                self.feed(i, ev, ctx);
            }
        }
    }

    /// Instance `i` failed and the app supervises its instances: the same pure window and
    /// strategy as a group, one level down (`decide::plan_instances`). Within the
    /// intensity, the other affected instances are stopped, then the affected ones start
    /// in order (the failed one after its own delay or backoff). Over it, every instance
    /// is stopped and the app escalates: to its group as a failure of this member, or,
    /// outside a group, by marking its instances `errored`.
    fn instance_failed(
        &mut self,
        i: usize,
        generation: u64,
        delay_ms: u64,
        ctx: &mut Context<Self>,
    ) {
        let intensity = self.parts.spec.app.intensity.as_ref().map(|int| Intensity {
            max: int.max,
            within_ms: int.within_ms,
        });
        let now = self.now_ms();
        let live = self.live();
        let plan = plan_instances(
            &mut self.window,
            intensity,
            strategy_of(self.parts.spec.app.strategy),
            live,
            i,
            now,
            &self.parts.spec.app.name,
        );
        match plan {
            InstancesPlan::Exceeded(reason) => {
                tracing::warn!("{reason}");
                let all: Vec<usize> = (0..self.live()).rev().collect();
                let idx = self.slots[i].idx;
                self.stop_then(all, ctx, move |act, ctx| {
                    act.window.clear();
                    match &act.group {
                        Some((_, group)) => group.do_send(MemberFailed {
                            member: act.name().to_string(),
                            instance: idx,
                            generation,
                            delay_ms,
                        }),
                        None => {
                            for j in 0..act.live() {
                                act.feed(j, Event::MarkErrored(reason.clone()), ctx);
                            }
                        }
                    }
                });
            }
            InstancesPlan::Restart { stop, start } => {
                self.stop_then(stop, ctx, move |act, ctx| {
                    let own = act.parts.spec.app.restart.delay_ms;
                    for j in start {
                        let delay_ms = if j == i { delay_ms } else { own };
                        act.feed(
                            j,
                            Event::StartAfter {
                                delay_ms,
                                waiter: None,
                            },
                            ctx,
                        );
                    }
                });
            }
        }
    }

    /// Stop slots `js` (a supervisor's step: no hold) and, once all have stopped, run
    /// `then` and report.
    fn stop_then(
        &mut self,
        js: Vec<usize>,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let mut stops = Vec::new();
        for j in js {
            let (token, rx) = self.waiter();
            self.feed(
                j,
                Event::Stop {
                    hold: false,
                    waiter: Some(token),
                },
                ctx,
            );
            stops.push(rx);
        }
        ctx.spawn(
            async move {
                for s in stops {
                    let _ = s.await;
                }
            }
            .into_actor(self)
            .map(move |(), act, ctx| {
                then(act, ctx);
                act.report();
            }),
        );
    }

    /// Announce `n` of slot `i` on the bus (only built when someone listens).
    fn publish(&self, i: usize, n: Notice) {
        if !self.parts.shared.bus_flags.any() {
            return;
        }
        let mut e = BusEvent {
            app: Some(self.name().to_string()),
            id: Some(self.slots[i].id),
            time: Some(chrono::Local::now().to_rfc3339()),
            ..BusEvent::default()
        };
        match n {
            Notice::Online => e.event = "online".into(),
            Notice::Stop => e.event = "stop".into(),
            Notice::Restart(r) => {
                e.event = "restart".into();
                e.reason = Some(r.as_str().into());
            }
            Notice::Errored(r) => {
                e.event = "errored".into();
                e.reason = Some(r);
            }
            Notice::Exit(exit) => {
                e.event = "exit".into();
                if exit.is_none() {
                    // An adopted process that is not this daemon's child (`process/adopt.rs`;
                    // or a Process actor that panicked): nobody here could wait for it.
                    e.reason = Some("exit status unknown (adopted)".into());
                }
                e.code = Some(exit.and_then(|e| e.code));
                e.signal = Some(exit.and_then(|e| e.signal).map(os::signal_name));
            }
        }
        self.parts.shared.bus.do_send(Publish(e));
    }
}
