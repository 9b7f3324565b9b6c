//! One decision for an exit pmx did not ask for: who decides what follows it, and what.
//!
//! Three supervisors can own an instance's failure (SPEC §5):
//! - **PM2's rules** ([`RestartState::on_exit`]): restart after a delay or a backoff, leave
//!   it `stopped`, or `errored` after `max_restarts` unstable exits in a row;
//! - **the app itself**, when it supervises its instances OTP-style (its own `intensity`,
//!   or a `strategy` other than OneForOne over several instances): its window and strategy
//!   decide, one level below a group;
//! - **its group**, when the app is a member of one: the group's strategy and intensity.
//!
//! In the last two cases the exit is a *failure* handed upwards when the policy would
//! restart it; the instance's own delay (its `delay` or backoff) still applies to its own
//! restart, and the upward supervisor's intensity replaces `max_restarts`. An exit the
//! policy would not restart (`stop_exit_codes`, `Never`, 0 under `OnFailure`) stays the
//! instance's own business: it is `stopped`, whoever supervises. Pure: no actix, no clock.
//!
//! [`plan_instances`] is the app-level half (OTP's `add_restart` + strategy, one level
//! below a group): what an app that supervises its instances does with a failure.

use std::ops::Range;

use super::intensity::{Intensity, IntensityVerdict, RestartWindow};
use super::policy::{Exit, RestartRules, RestartState, Verdict};
use super::strategy::Strategy;

/// Who decides what follows an instance's unrequested exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervisor {
    /// PM2's rules alone (the default: an app outside a group, no intensity of its own).
    Pm2,
    /// The app's own intensity and strategy over its instances.
    Instances,
    /// The app's group.
    Group,
}

/// What follows an unrequested exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start a new process after `delay_ms` ms (0: at once).
    Restart {
        /// The wait, in ms.
        delay_ms: u64,
    },
    /// Leave the instance `stopped`: the policy does not restart this exit.
    Stop,
    /// Leave the instance `errored`, with this reason (PM2's max_restarts).
    Errored(String),
    /// A failure for `to` to decide on; the instance waits (`waiting restart`). `delay_ms`
    /// is its own delay for its own restart, should the upper supervisor restart it.
    Escalate {
        /// The supervisor that decides.
        to: Supervisor,
        /// The instance's own restart delay for this exit, in ms.
        delay_ms: u64,
    },
}

/// What follows an exit pmx did not ask for, under `who`; `exit` None (the Process
/// actor panicked) counts as a failure (exit code -1). `state` is the instance's chain of
/// recent exits, updated. `uptime_ms`: how long the process ran, in ms.
pub fn decide(
    rules: &RestartRules,
    state: &mut RestartState,
    who: Supervisor,
    exit: Option<Exit>,
    uptime_ms: u64,
) -> Decision {
    let exit = exit.unwrap_or(Exit::code(-1));
    if who != Supervisor::Pm2 && rules.wants_restart(&exit) {
        // The upper supervisor's intensity replaces max_restarts: only the delay is ours.
        let upward = RestartRules {
            max_restarts: u32::MAX,
            ..rules.clone()
        };
        let delay_ms = match state.on_exit(&upward, &exit, uptime_ms) {
            Verdict::Restart { delay_ms } => delay_ms,
            _ => 0,
        };
        return Decision::Escalate { to: who, delay_ms };
    }
    match state.on_exit(rules, &exit, uptime_ms) {
        Verdict::Restart { delay_ms } => Decision::Restart { delay_ms },
        Verdict::Stop => Decision::Stop,
        Verdict::Errored => Decision::Errored(format!(
            "{} unstable exits in a row (max_restarts), each before min_uptime",
            rules.max_restarts
        )),
    }
}

/// What an app that supervises its instances does with the failure of instance `failed`
/// of `count`, at `now_ms` (a monotonic clock, ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstancesPlan {
    /// Within its intensity: stop `stop` (reverse start order, the failed one excluded),
    /// then start `start` (start order; the failed one after its own delay).
    Restart {
        /// Instances to stop first, in this order.
        stop: Vec<usize>,
        /// Instances to start then, in this order.
        start: Range<usize>,
    },
    /// Over its intensity: every instance stops (reverse order) and the app escalates
    /// (to its group, or by marking its instances `errored`), with this reason.
    Exceeded(String),
}

/// The app-level decision: OTP's `add_restart(now)` against `intensity` (None: no
/// intensity of its own, never exceeded), then `strategy.affected`. `app` names the app
/// in the reason.
pub fn plan_instances(
    window: &mut RestartWindow,
    intensity: Option<Intensity>,
    strategy: Strategy,
    count: usize,
    failed: usize,
    now_ms: u64,
    app: &str,
) -> InstancesPlan {
    if let Some(int) = intensity {
        if window.record(&int, now_ms) == IntensityVerdict::Exceeded {
            return InstancesPlan::Exceeded(format!(
                "app {app}: more than {} restarts within {} ms (its intensity)",
                int.max, int.within_ms
            ));
        }
    }
    let start = strategy.affected(count, failed);
    let stop = start.clone().rev().filter(|j| *j != failed).collect();
    InstancesPlan::Restart { stop, start }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::policy::Policy;

    fn rules() -> RestartRules {
        RestartRules {
            delay_ms: 200,
            ..RestartRules::default()
        }
    }

    #[test]
    fn each_supervisor_decides_its_own_part() {
        use Decision::*;
        use Supervisor::*;
        let crash = Some(Exit::code(1));
        let clean = Some(Exit::code(0));
        let on_failure = RestartRules {
            policy: Policy::OnFailure,
            ..rules()
        };
        // (rules, who, exit, uptime, decision)
        let cases = [
            (rules(), Pm2, crash, 5_000, Restart { delay_ms: 200 }),
            (
                rules(),
                Instances,
                crash,
                5_000,
                Escalate {
                    to: Instances,
                    delay_ms: 200,
                },
            ),
            (
                rules(),
                Group,
                crash,
                5_000,
                Escalate {
                    to: Group,
                    delay_ms: 200,
                },
            ),
            // A panic of the Process actor counts as a failure.
            (
                rules(),
                Group,
                None,
                0,
                Escalate {
                    to: Group,
                    delay_ms: 200,
                },
            ),
            (rules(), Pm2, None, 0, Restart { delay_ms: 200 }),
            // What the policy does not restart is the instance's own: stopped.
            (on_failure.clone(), Pm2, clean, 5_000, Stop),
            (on_failure.clone(), Group, clean, 5_000, Stop),
            (on_failure, Instances, clean, 5_000, Stop),
        ];
        for (rules, who, exit, up, want) in cases {
            let mut st = RestartState::default();
            assert_eq!(
                decide(&rules, &mut st, who, exit, up),
                want,
                "{who:?} {exit:?}"
            );
        }
    }

    #[test]
    fn max_restarts_errors_under_pm2_only() {
        let r = RestartRules {
            max_restarts: 2,
            ..rules()
        };
        let mut pm2 = RestartState::default();
        let mut group = RestartState::default();
        let quick = Some(Exit::code(1));
        assert_eq!(
            decide(&r, &mut pm2, Supervisor::Pm2, quick, 10),
            Decision::Restart { delay_ms: 200 }
        );
        assert!(matches!(
            decide(&r, &mut pm2, Supervisor::Pm2, quick, 10),
            Decision::Errored(reason) if reason.starts_with("2 unstable exits")
        ));
        for _ in 0..10 {
            assert!(matches!(
                decide(&r, &mut group, Supervisor::Group, quick, 10),
                Decision::Escalate { .. }
            ));
        }
    }

    #[test]
    fn the_backoff_stays_the_instances_own_under_a_group() {
        let r = RestartRules {
            backoff_ms: Some(100),
            ..rules()
        };
        let mut st = RestartState::default();
        let delays: Vec<_> = (0..3)
            .map(|_| decide(&r, &mut st, Supervisor::Group, Some(Exit::code(1)), 10))
            .collect();
        let want: Vec<_> = [100, 150, 225]
            .map(|delay_ms| Decision::Escalate {
                to: Supervisor::Group,
                delay_ms,
            })
            .to_vec();
        assert_eq!(delays, want);
    }

    #[test]
    fn instances_plan_follows_strategy_then_intensity() {
        let int = Some(Intensity {
            max: 1,
            within_ms: 1_000,
        });
        let mut w = RestartWindow::new();
        assert_eq!(
            plan_instances(&mut w, int, Strategy::RestForOne, 4, 1, 0, "a"),
            InstancesPlan::Restart {
                stop: vec![3, 2],
                start: 1..4
            }
        );
        assert!(matches!(
            plan_instances(&mut w, int, Strategy::RestForOne, 4, 1, 10, "a"),
            InstancesPlan::Exceeded(r) if r.contains("more than 1 restarts within 1000 ms")
        ));
        // No intensity of its own: never exceeded.
        let mut w = RestartWindow::new();
        for now in 0..50 {
            assert!(matches!(
                plan_instances(&mut w, None, Strategy::OneForAll, 2, 0, now, "a"),
                InstancesPlan::Restart { .. }
            ));
        }
    }
}
