//! A health check's failure: stopped like any stop, then decided as a crash, announced
//! with reason `health` only when a restart follows.

use super::*;

fn failed(generation: u64) -> Event {
    Event::HealthFailed { generation }
}

/// The notices of `fx`.
fn notices(fx: &[Effect]) -> Vec<Notice> {
    fx.iter()
        .filter_map(|e| match e {
            Publish(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failed_health_check_stops_the_instance_then_restarts_it_as_a_crash() {
    let r = rules();
    let mut i = spawned_under(set(&r));
    let fx = i.on(failed(1), set(&r), NOW);
    assert_eq!(i.phase, Phase::Stopping);
    assert!(fx.contains(&Terminate { generation: 1 }), "{fx:?}");
    // Its process exits 0 on SIGINT, as a graceful app does: still a failure.
    let fx = i.on(exited(1, 0, true), set(&r), NOW);
    assert_eq!(i.phase, Phase::Launching, "{fx:?}");
    assert_eq!(i.restarts, 1);
    assert_eq!(i.last_restart, Some(Reason::Health));
    assert!(
        notices(&fx).contains(&Notice::Restart(Reason::Health)),
        "{fx:?}"
    );
}

/// (what, rules, events after the failure's exit, phase, a `restart` announced)
#[test]
fn what_follows_a_failed_health_check_is_the_policys_decision() {
    let delayed = RestartRules {
        delay_ms: 500,
        ..rules()
    };
    let never = RestartRules {
        policy: Policy::Never,
        ..rules()
    };
    let once = RestartRules {
        max_restarts: 1,
        min_uptime_ms: 60_000,
        ..rules()
    };
    let on_failure = RestartRules {
        policy: Policy::OnFailure,
        stop_exit_codes: vec![0],
        ..rules()
    };
    type Case = (&'static str, RestartRules, Phase, bool);
    let cases: Vec<Case> = vec![
        (
            "a delay: waits, then restarts",
            delayed,
            Phase::WaitingRestart,
            false,
        ),
        (
            "policy Never: stopped, no restart",
            never,
            Phase::Stopped,
            false,
        ),
        ("max_restarts reached: errored", once, Phase::Errored, false),
        (
            "OnFailure, exit 0 listed: still a failure",
            on_failure,
            Phase::Launching,
            true,
        ),
    ];
    for (what, r, phase, restart) in cases {
        let mut i = spawned_under(set(&r));
        let _ = i.on(failed(1), set(&r), NOW);
        let fx = i.on(exited(1, 0, true), set(&r), NOW);
        assert_eq!(i.phase, phase, "{what}: {fx:?}");
        assert_eq!(
            notices(&fx).iter().any(|n| matches!(n, Notice::Restart(_))),
            restart,
            "{what}: {fx:?}"
        );
    }
    // The delayed restart, when it comes, says why.
    let r = RestartRules {
        delay_ms: 500,
        ..rules()
    };
    let mut i = spawned_under(set(&r));
    let _ = i.on(failed(1), set(&r), NOW);
    let _ = i.on(exited(1, 1, true), set(&r), NOW);
    let fx = i.on(
        Event::TimerFired {
            generation: i.generation,
        },
        set(&r),
        NOW,
    );
    assert!(
        notices(&fx).contains(&Notice::Restart(Reason::Health)),
        "{fx:?}"
    );
}

#[test]
fn in_a_group_a_failed_health_check_is_escalated_and_its_restart_says_health() {
    let r = rules();
    let group = Setting {
        supervisor: Supervisor::Group,
        ..set(&r)
    };
    let mut i = spawned_under(group);
    let _ = i.on(failed(1), group, NOW);
    let fx = i.on(exited(1, 0, true), group, NOW);
    assert_eq!(i.phase, Phase::WaitingRestart);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Escalate { generation: 1, .. })),
        "{fx:?}"
    );
    let fx = i.on(
        Event::StartAfter {
            delay_ms: 0,
            waiter: None,
        },
        group,
        NOW,
    );
    assert!(
        notices(&fx).contains(&Notice::Restart(Reason::Health)),
        "{fx:?}"
    );
    // A later sibling's restart by the group is the group's.
    let _ = i.on(spawned(i.generation), group, NOW);
    let _ = i.on(
        Event::Stop {
            hold: false,
            waiter: None,
        },
        group,
        NOW,
    );
    let _ = i.on(exited(i.generation, 0, true), group, NOW);
    let fx = i.on(
        Event::StartAfter {
            delay_ms: 0,
            waiter: None,
        },
        group,
        NOW,
    );
    assert!(
        notices(&fx).contains(&Notice::Restart(Reason::Group)),
        "{fx:?}"
    );
}

#[test]
fn a_health_failure_is_ignored_unless_the_current_generation_is_online_and_left_alone() {
    let r = rules();
    // Launching (waiting for readiness), another generation, being stopped.
    let waiting = Setting {
        ready_timeout_ms: Some(3_000),
        ..set(&r)
    };
    let mut i = spawned_under(waiting);
    assert!(i.on(failed(1), waiting, NOW).is_empty());
    let mut i = spawned_under(set(&r));
    assert!(i.on(failed(0), set(&r), NOW).is_empty());
    let _ = i.on(stop(), set(&r), NOW);
    assert!(i.on(failed(1), set(&r), NOW).is_empty());
    // A manual stop during the health stop wins: stopped, not restarted.
    let mut i = spawned_under(set(&r));
    let _ = i.on(failed(1), set(&r), NOW);
    let _ = i.on(stop(), set(&r), NOW);
    let _ = i.on(exited(1, 0, true), set(&r), NOW);
    assert_eq!(i.phase, Phase::Stopped);
    assert_eq!(i.restarts, 0);
}
