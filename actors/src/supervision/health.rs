//! A health check's bookkeeping for one process: the last result and the failures in a
//! row, and what a new result means (a change of state to announce, a failure of the
//! instance). Pure: no actix, no clock (`at_ms` is an argument).
//!
//! Failures count only while the instance is `online` (Kubernetes: a liveness probe
//! starts once the container has started; a readiness check's failures before the first
//! pass are "not ready yet", never a failure). A pass resets the count.

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// It passed.
    pub pass: bool,
    /// What it saw: `HTTP 200`, `connection refused`, `timed out after 3000 ms`, `exit 1`.
    pub detail: String,
}

/// What a new result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// The state changed (the first result, or pass ↔ fail): announce a `health` event.
    pub changed: bool,
    /// `failures` failures in a row while online: the instance is a failure.
    pub failed: bool,
}

/// The bookkeeping of one process's probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// The last result, and when it came (the shell's wall clock, ms since the epoch).
    pub last: Option<(ProbeResult, u64)>,
    /// Failures in a row while online.
    pub consecutive_failures: u32,
}

impl Tally {
    /// Record `result` at `at_ms`; `online`: the instance is online (failures count);
    /// `failures`: the threshold (at least 1).
    pub fn record(
        &mut self,
        result: ProbeResult,
        at_ms: u64,
        online: bool,
        failures: u32,
    ) -> Verdict {
        let changed = self
            .last
            .as_ref()
            .is_none_or(|(r, _)| r.pass != result.pass);
        let mut failed = false;
        if result.pass {
            self.consecutive_failures = 0;
        } else if online {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            failed = self.consecutive_failures >= failures.max(1);
        }
        self.last = Some((result, at_ms));
        Verdict { changed, failed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pass: bool) -> ProbeResult {
        ProbeResult {
            pass,
            detail: if pass { "HTTP 200" } else { "HTTP 503" }.into(),
        }
    }

    /// Each step: (pass, online) → (changed, failed, failures in a row), failures: 3.
    #[test]
    fn failures_count_in_a_row_while_online_and_a_pass_resets_them() {
        type Step = ((bool, bool), (bool, bool, u32));
        let story: &[Step] = &[
            ((false, false), (true, false, 0)), // launching: not counted, first result
            ((false, false), (false, false, 0)),
            ((true, false), (true, false, 0)), // ready
            ((false, true), (true, false, 1)),
            ((false, true), (false, false, 2)),
            ((true, true), (true, false, 0)), // a pass resets
            ((false, true), (true, false, 1)),
            ((false, true), (false, false, 2)),
            ((false, true), (false, true, 3)), // the third in a row: a failure
            ((false, true), (false, true, 4)),
        ];
        let mut t = Tally::default();
        for (k, ((pass, online), (changed, failed, count))) in story.iter().enumerate() {
            let v = t.record(r(*pass), k as u64, *online, 3);
            assert_eq!(
                (v.changed, v.failed, t.consecutive_failures),
                (*changed, *failed, *count),
                "step {k}"
            );
            assert_eq!(t.last.as_ref().map(|(_, at)| *at), Some(k as u64));
        }
    }

    #[test]
    fn one_failure_is_enough_with_a_threshold_of_one() {
        let mut t = Tally::default();
        assert!(t.record(r(false), 0, true, 1).failed);
        let mut t = Tally::default();
        assert!(t.record(r(false), 0, true, 0).failed, "0 is read as 1");
    }
}
