//! The instance state machine's tables: every phase, every event, late events; the
//! shared helpers. One story per test of exits, restarts and stops is in
//! `tests/lifecycle.rs`; readiness and the rolling reload in `tests/ready.rs`.

use super::*;
use crate::supervision::decide::Supervisor;
use crate::supervision::policy::RestartRules;
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
        replacement_timeout_ms: None,
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

/// A new instance after a start and the spawn of generation 1 (pid 101) under `set`:
/// online, or launching under `wait_ready`.
fn spawned_under(set: Setting<'_>) -> Instance {
    let mut i = Instance::new();
    let _ = i.on(start(), set, NOW);
    let _ = i.on(spawned(1), set, NOW);
    i
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

mod health;
mod lifecycle;
mod ready;
