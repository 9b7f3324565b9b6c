//! What follows an instance's exit: PM2's process-level restart rules (SPEC §5), pure.
//!
//! The App supervisor keeps one [`RestartState`] per instance and calls
//! [`RestartState::on_exit`] with the exit and how long the process ran; the [`Verdict`]
//! says whether to schedule a `StartChild` (and after how many ms), to leave the
//! instance `stopped`, or to mark it `errored`. No clock is read here: the uptime is an
//! argument, so every rule is tested as a table.

use super::backoff::Backoff;

/// How an instance's main process ended: exactly one of `code` and `signal` is `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, when the process called `exit`.
    pub code: Option<i32>,
    /// The number of the signal that killed the process, when it was killed.
    pub signal: Option<i32>,
}

impl Exit {
    /// An exit with status `code`.
    pub fn code(code: i32) -> Self {
        Self {
            code: Some(code),
            signal: None,
        }
    }

    /// A death by signal number `signal`.
    pub fn signal(signal: i32) -> Self {
        Self {
            code: None,
            signal: Some(signal),
        }
    }

    /// True for exit code 0 and nothing else: a death by a signal is never a success.
    pub fn is_success(&self) -> bool {
        self.code == Some(0) && self.signal.is_none()
    }
}

/// When an instance that exited on its own is restarted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// After every exit (OTP `permanent`, PM2 `autorestart: true`, the default).
    #[default]
    Always,
    /// After a non-zero exit code or a death by a signal pmx did not send, not after
    /// exit code 0 (OTP `transient`).
    OnFailure,
    /// Never (OTP `temporary`, PM2 `autorestart: false`).
    Never,
}

/// An app's restart rules (ecosystem `restart: (…)` and `stop_exit_codes`), with PM2's
/// defaults from [`RestartRules::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRules {
    /// When to restart (default [`Policy::Always`]).
    pub policy: Policy,
    /// Fixed delay before a restart, in ms (PM2 `restart_delay`, default 0). Ignored when
    /// `backoff_ms` is set.
    pub delay_ms: u64,
    /// `Some(initial)`: exponential backoff starting at `initial` ms (PM2
    /// `exp_backoff_restart_delay`, see [`super::backoff`]); wins over `delay_ms` as in PM2.
    pub backoff_ms: Option<u64>,
    /// A run shorter than this, in ms, is unstable (PM2 `min_uptime`, default 1000).
    pub min_uptime_ms: u64,
    /// The instance is `errored` at this many unstable exits in a row (PM2
    /// `max_restarts`, default 16). 0 behaves as 1: no unstable exit is restarted.
    pub max_restarts: u32,
    /// Exit codes never restarted, whatever the policy (PM2 `stop_exit_codes`).
    pub stop_exit_codes: Vec<i32>,
}

impl Default for RestartRules {
    /// PM2's defaults: always restart, no delay, no backoff, `min_uptime` 1000 ms,
    /// `max_restarts` 16, no stop exit codes.
    fn default() -> Self {
        Self {
            policy: Policy::Always,
            delay_ms: 0,
            backoff_ms: None,
            min_uptime_ms: 1_000,
            max_restarts: 16,
            stop_exit_codes: Vec::new(),
        }
    }
}

impl RestartRules {
    /// True when the policy (and `stop_exit_codes`) would restart after `exit`, before
    /// the unstable-exit count is considered. Inside a group, such an exit is a failure
    /// of that child of the group (SPEC §5).
    pub fn wants_restart(&self, exit: &Exit) -> bool {
        if exit
            .code
            .is_some_and(|code| self.stop_exit_codes.contains(&code))
        {
            return false;
        }
        match self.policy {
            Policy::Always => true,
            Policy::OnFailure => !exit.is_success(),
            Policy::Never => false,
        }
    }
}

/// What to do after an exit pmx did not ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Start a new process after `delay_ms` ms.
    Restart {
        /// Wait before the restart, in ms.
        delay_ms: u64,
    },
    /// Leave the instance down with status `stopped`: the policy does not restart this
    /// exit.
    Stop,
    /// Leave the instance down with status `errored`: too many unstable exits in a row
    /// (PM2's "too many unstable restarts").
    Errored,
}

/// One instance's memory of its recent exits: the chain of crashes it is in.
///
/// Counters only describe the current chain. A verdict that leaves the instance down
/// ([`Verdict::Stop`], [`Verdict::Errored`]) ends the chain and leaves the state as
/// [`RestartState::default`], as PM2 zeroes `unstable_restarts` when it marks a process
/// errored: whatever starts the instance again (a user's `start`/`restart`, a group's
/// strategy) starts a fresh chain, with 16 unstable exits allowed and the backoff back at
/// its initial delay, instead of erroring on the first quick exit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartState {
    /// Unstable exits in a row (uptime below `min_uptime_ms`) in the current chain.
    pub unstable: u32,
    /// The backoff delay used before the last restart, in ms; `None` at the start of a
    /// chain or when the rules have no backoff.
    pub last_backoff_ms: Option<u64>,
}

impl RestartState {
    /// Decides what follows an exit that pmx did not ask for (a crash, or a clean exit of
    /// the app's own accord). `uptime_ms`: how long the process ran, in ms.
    ///
    /// In order (SPEC §5, PM2):
    /// 1. An exit code in `stop_exit_codes`, [`Policy::Never`], or exit code 0 under
    ///    [`Policy::OnFailure`] → [`Verdict::Stop`].
    /// 2. A run shorter than `min_uptime_ms` is unstable: `unstable += 1`, and at the
    ///    `max_restarts`-th in a row → [`Verdict::Errored`]. A stable run sets
    ///    `unstable = 0`. Both at any age of the instance, unlike PM2, which counts only
    ///    in its first `min_uptime × max_restarts` ms.
    /// 3. Otherwise [`Verdict::Restart`] after the backoff delay when `backoff_ms` is set
    ///    (reset to its initial value after 30 s up), else after `delay_ms`.
    pub fn on_exit(&mut self, rules: &RestartRules, exit: &Exit, uptime_ms: u64) -> Verdict {
        if !rules.wants_restart(exit) {
            self.reset();
            return Verdict::Stop;
        }

        if uptime_ms < rules.min_uptime_ms {
            self.unstable = self.unstable.saturating_add(1);
            if self.unstable >= rules.max_restarts {
                self.reset();
                return Verdict::Errored;
            }
        } else {
            self.unstable = 0;
        }

        let delay_ms = match rules.backoff_ms {
            Some(initial_ms) => {
                let delay = Backoff { initial_ms }.next(self.last_backoff_ms, uptime_ms);
                self.last_backoff_ms = Some(delay);
                delay
            }
            None => rules.delay_ms,
        };
        Verdict::Restart { delay_ms }
    }

    /// A manual `restart`, `reload` or `reset`: zeroes the unstable count and the backoff
    /// (SPEC §5).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGKILL: i32 = 9;
    const SIGSEGV: i32 = 11;
    /// Long enough to be stable, short enough to keep the backoff chain.
    const STABLE: u64 = 5_000;
    const QUICK: u64 = 10;

    fn rules(policy: Policy) -> RestartRules {
        RestartRules {
            policy,
            ..RestartRules::default()
        }
    }

    fn restart(delay_ms: u64) -> Verdict {
        Verdict::Restart { delay_ms }
    }

    #[test]
    fn defaults_are_pm2s() {
        let r = RestartRules::default();
        assert_eq!(r.policy, Policy::Always);
        assert_eq!(r.delay_ms, 0);
        assert_eq!(r.backoff_ms, None);
        assert_eq!(r.min_uptime_ms, 1_000);
        assert_eq!(r.max_restarts, 16);
        assert!(r.stop_exit_codes.is_empty());
    }

    #[test]
    fn every_policy_by_every_exit_kind() {
        use Policy::*;
        let cases = [
            (Always, Exit::code(0), restart(0)),
            (Always, Exit::code(1), restart(0)),
            (Always, Exit::code(255), restart(0)),
            (Always, Exit::signal(SIGKILL), restart(0)),
            (OnFailure, Exit::code(0), Verdict::Stop),
            (OnFailure, Exit::code(1), restart(0)),
            (OnFailure, Exit::code(-1), restart(0)),
            (OnFailure, Exit::signal(SIGSEGV), restart(0)),
            (Never, Exit::code(0), Verdict::Stop),
            (Never, Exit::code(1), Verdict::Stop),
            (Never, Exit::signal(SIGKILL), Verdict::Stop),
        ];
        for (policy, exit, expected) in cases {
            for uptime in [QUICK, STABLE] {
                let mut state = RestartState::default();
                assert_eq!(
                    state.on_exit(&rules(policy), &exit, uptime),
                    expected,
                    "{policy:?} {exit:?} uptime {uptime}"
                );
            }
        }
    }

    #[test]
    fn stop_exit_codes_beat_every_policy() {
        let cases = [
            (Policy::Always, Exit::code(3), Verdict::Stop),
            (Policy::OnFailure, Exit::code(3), Verdict::Stop),
            (Policy::Always, Exit::code(0), Verdict::Stop),
            (Policy::Always, Exit::code(4), restart(0)),
            // A signal number is not an exit code.
            (Policy::Always, Exit::signal(3), restart(0)),
        ];
        for (policy, exit, expected) in cases {
            let r = RestartRules {
                stop_exit_codes: vec![0, 3],
                ..rules(policy)
            };
            let mut state = RestartState::default();
            assert_eq!(
                state.on_exit(&r, &exit, STABLE),
                expected,
                "{policy:?} {exit:?}"
            );
        }
    }

    #[test]
    fn errored_at_the_16th_unstable_exit_with_defaults() {
        let r = RestartRules::default();
        let mut state = RestartState::default();
        for n in 1..=15 {
            assert_eq!(
                state.on_exit(&r, &Exit::code(1), QUICK),
                restart(0),
                "unstable exit #{n}"
            );
            assert_eq!(state.unstable, n);
        }
        assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), Verdict::Errored);
    }

    #[test]
    fn errored_at_the_nth_unstable_exit() {
        // (max_restarts, unstable exits that are still restarted)
        let cases = [(0, 0), (1, 0), (2, 1), (3, 2), (16, 15)];
        for (max_restarts, restarted) in cases {
            let r = RestartRules {
                max_restarts,
                ..RestartRules::default()
            };
            let mut state = RestartState::default();
            for _ in 0..restarted {
                assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), restart(0));
            }
            assert_eq!(
                state.on_exit(&r, &Exit::code(1), QUICK),
                Verdict::Errored,
                "max_restarts {max_restarts}"
            );
        }
    }

    #[test]
    fn min_uptime_boundary_is_stable() {
        let r = RestartRules::default();
        // (uptime ms, unstable count after one exit)
        let cases = [(0, 1), (999, 1), (1_000, 0), (1_001, 0)];
        for (uptime, unstable) in cases {
            let mut state = RestartState::default();
            state.on_exit(&r, &Exit::code(1), uptime);
            assert_eq!(state.unstable, unstable, "uptime {uptime}");
        }
    }

    #[test]
    fn a_stable_exit_in_between_resets_the_unstable_count() {
        let r = RestartRules::default();
        let mut state = RestartState::default();
        for _ in 0..15 {
            state.on_exit(&r, &Exit::code(1), QUICK);
        }
        assert_eq!(state.on_exit(&r, &Exit::code(1), STABLE), restart(0));
        assert_eq!(state.unstable, 0);
        for _ in 0..15 {
            assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), restart(0));
        }
        assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), Verdict::Errored);
    }

    #[test]
    fn unstable_exits_count_at_any_age() {
        // An instance that has lived for days (many long runs) still errors after 16
        // quick exits in a row; PM2 would only count them in its first 16 s.
        let r = RestartRules::default();
        let mut state = RestartState::default();
        let day = 86_400_000;
        for _ in 0..10 {
            assert_eq!(state.on_exit(&r, &Exit::code(1), day), restart(0));
        }
        for _ in 0..15 {
            assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), restart(0));
        }
        assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), Verdict::Errored);
    }

    #[test]
    fn backoff_wins_over_delay_and_grows_per_consecutive_crash() {
        let r = RestartRules {
            delay_ms: 2_000,
            backoff_ms: Some(100),
            ..RestartRules::default()
        };
        let mut state = RestartState::default();
        // Stable runs below 30 s keep the chain; max_restarts is not in the way.
        let expected = [100, 150, 225, 337, 505];
        for (n, delay_ms) in expected.into_iter().enumerate() {
            assert_eq!(
                state.on_exit(&r, &Exit::code(1), STABLE),
                restart(delay_ms),
                "crash #{n}"
            );
        }
        assert_eq!(state.last_backoff_ms, Some(505));
    }

    #[test]
    fn fixed_delay_without_backoff() {
        let r = RestartRules {
            delay_ms: 2_000,
            ..RestartRules::default()
        };
        let mut state = RestartState::default();
        for _ in 0..3 {
            assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), restart(2_000));
        }
        assert_eq!(state.last_backoff_ms, None);
    }

    #[test]
    fn backoff_resets_after_30s_up() {
        let r = RestartRules {
            backoff_ms: Some(100),
            ..RestartRules::default()
        };
        let mut state = RestartState::default();
        // (uptime of the run that ended, expected delay)
        let cases = [
            (QUICK, 100),
            (QUICK, 150),
            (QUICK, 225),
            (29_999, 337),
            (30_000, 100),
            (QUICK, 150),
            (3_600_000, 100),
        ];
        for (uptime, delay_ms) in cases {
            assert_eq!(
                state.on_exit(&r, &Exit::signal(SIGSEGV), uptime),
                restart(delay_ms),
                "uptime {uptime}"
            );
        }
    }

    #[test]
    fn reset_zeroes_the_unstable_count_and_the_backoff() {
        let r = RestartRules {
            backoff_ms: Some(100),
            ..RestartRules::default()
        };
        let mut state = RestartState::default();
        for _ in 0..10 {
            state.on_exit(&r, &Exit::code(1), QUICK);
        }
        assert_eq!(state.unstable, 10);
        assert!(state.last_backoff_ms.is_some());
        state.reset();
        assert_eq!(state, RestartState::default());
        assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), restart(100));
        assert_eq!(state.unstable, 1);
    }

    #[test]
    fn verdicts_that_leave_the_instance_down_end_the_chain() {
        let r = RestartRules {
            policy: Policy::OnFailure,
            backoff_ms: Some(100),
            stop_exit_codes: vec![42],
            ..RestartRules::default()
        };
        let worn = RestartState {
            unstable: 7,
            last_backoff_ms: Some(5_000),
        };
        // Stop, whichever rule gives it, and for a quick run too.
        for exit in [Exit::code(0), Exit::code(42)] {
            let mut state = worn.clone();
            assert_eq!(state.on_exit(&r, &exit, QUICK), Verdict::Stop, "{exit:?}");
            assert_eq!(state, RestartState::default(), "{exit:?}");
        }
        // Errored: PM2 zeroes unstable_restarts when it gives up.
        let mut state = RestartState {
            unstable: 15,
            ..worn
        };
        assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), Verdict::Errored);
        assert_eq!(state, RestartState::default());
        // The next chain starts afresh: initial backoff, one unstable exit.
        assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), restart(100));
        assert_eq!(state.unstable, 1);
    }

    #[test]
    fn a_stopped_quick_exit_is_never_errored() {
        let r = RestartRules {
            max_restarts: 1,
            ..rules(Policy::Never)
        };
        let mut state = RestartState::default();
        assert_eq!(state.on_exit(&r, &Exit::code(1), QUICK), Verdict::Stop);
    }
}
