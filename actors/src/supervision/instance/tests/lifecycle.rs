//! One story per test of exits, restarts and stops: a requested exit against an
//! unrequested one, restarts of a down or stopping instance, delays and their stale
//! timers, `max_restarts`, group members, the main process's exit, and the spawn retry
//! of a machine short of resources. Helpers (`drive`, `set`, `in_phase`, …) are in
//! `tests/mod.rs`.

use super::*;

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
    let mut i = spawned_under(set(&r));
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
    let mut j = spawned_under(set(&r));
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
    let mut i = spawned_under(set(&r));
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
        replacement_timeout_ms: None,
    };
    let mut i = spawned_under(g);
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
