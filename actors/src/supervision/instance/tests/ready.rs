//! Readiness and the rolling reload's steps.

use super::*;

fn waiting(rules: &RestartRules) -> Setting<'_> {
    Setting {
        rules,
        supervisor: Supervisor::Pm2,
        ready_timeout_ms: Some(3_000),
        replacement_timeout_ms: None,
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
    let mut i = spawned_under(waiting(&r));
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
    let mut j = spawned_under(waiting(&r));
    let _ = j.on(Event::Ready { generation: 1 }, waiting(&r), NOW);
    let _ = j.on(exited(1, 1, false), waiting(&r), NOW);
    assert_eq!((j.phase, j.chain.unstable), (Phase::Launching, 0));
}

fn reload(waiter: Token) -> Event {
    Event::Reload {
        reason: Reason::Manual,
        waiter: Some(waiter),
    }
}

/// Online at generation 1 (pid 101), under `set`.
fn online_under(set: Setting<'_>) -> Instance {
    let mut i = spawned_under(set);
    let _ = i.on(Event::Ready { generation: 1 }, set, NOW);
    assert_eq!(i.phase, Phase::Online);
    i
}

/// [`online_under`], then a reload step for `waiter` whose replacement (generation 2,
/// pid 102) is spawned, not ready yet.
fn reloading(set: Setting<'_>, waiter: Token) -> Instance {
    let mut i = online_under(set);
    let _ = i.on(reload(waiter), set, NOW);
    let _ = i.on(spawned(2), set, NOW);
    i
}

#[test]
fn a_reload_spawns_beside_swaps_once_ready_then_stops_the_old_one() {
    let r = rules();
    // A Node cluster worker without wait_ready: online once spawned, but its replacement
    // waits for its `listening` (a Ready) or the listen_timeout, as PM2's reload does.
    let listening = Setting {
        replacement_timeout_ms: Some(3_000),
        ..set(&r)
    };
    for (wait, set) in [(false, set(&r)), (true, waiting(&r)), (true, listening)] {
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
                Promote { generation: 2 },
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
    let mut i = reloading(set, 5);
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
    let mut i = reloading(set, 5);
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
    let mut j = reloading(set, 5);
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
    let mut i = reloading(set, 5);
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

#[test]
fn a_replacement_ready_while_the_old_one_stops_its_leftovers_is_online() {
    let r = rules();
    let set = waiting(&r);
    let mut i = reloading(set, 5);
    // The old main process died; its leftovers are being stopped.
    let _ = i.on(
        Event::MainExited {
            generation: 1,
            exit: Exit::code(1),
        },
        set,
        NOW,
    );
    assert_eq!(i.phase, Phase::Stopping);
    let fx = i.on(Event::Ready { generation: 2 }, set, NOW);
    assert!(fx.contains(&Terminate { generation: 1 }), "{fx:?}");
    assert_eq!(
        (i.phase, i.pid, i.generation),
        (Phase::Online, Some(102), 2)
    );
    let fx = i.on(exited(1, 1, false), set, NOW);
    assert_eq!(fx, vec![Settle(vec![5])]);
    assert_eq!(i.phase, Phase::Online);
}

#[test]
fn a_restart_during_a_reload_drops_the_replacement_and_a_next_reload_starts_afresh() {
    let r = rules();
    let set = waiting(&r);
    let mut i = reloading(set, 5);
    let fx = i.on(
        Event::Restart {
            reason: Reason::Manual,
            waiter: Some(6),
        },
        set,
        NOW,
    );
    assert!(fx.contains(&Terminate { generation: 2 }), "{fx:?}");
    assert!(fx.contains(&Settle(vec![5])), "{fx:?}");
    assert_eq!(
        i.reload_error.as_deref(),
        Some("it was restarted during its reload")
    );
    // The current one exits: restarted as generation 3 while 2 is still being stopped.
    let fx = i.on(exited(1, 0, true), set, NOW);
    assert!(fx.contains(&Spawn { generation: 3 }), "{fx:?}");
    let _ = i.on(spawned(3), set, NOW);
    let fx = i.on(Event::Ready { generation: 3 }, set, NOW);
    assert!(fx.contains(&Settle(vec![6])), "{fx:?}");
    assert_eq!(i.live_generations(), vec![3, 2]);
    // A new reload step while the dropped replacement still exits: a fresh replacement.
    let fx = i.on(reload(7), set, NOW);
    assert_eq!(fx, vec![Spawn { generation: 4 }]);
    assert!(i.reload_error.is_none());
    // The dropped one's late reports change nothing but its own end.
    assert!(i.on(Event::Ready { generation: 2 }, set, NOW).is_empty());
    assert!(i.on(exited(2, 0, true), set, NOW).is_empty());
    assert_eq!(i.live_generations(), vec![3, 4]);
    let _ = i.on(spawned(4), set, NOW);
    let _ = i.on(Event::Ready { generation: 4 }, set, NOW);
    let fx = i.on(exited(3, 0, true), set, NOW);
    assert_eq!(fx, vec![Settle(vec![7])]);
    assert_eq!((i.phase, i.generation, i.restarts), (Phase::Online, 4, 2));
}
