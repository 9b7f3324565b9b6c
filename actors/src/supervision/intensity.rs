//! Supervisor restart intensity: OTP's `intensity`/`period`, as a pure window.
//!
//! OTP's `supervisor:add_restart/3` takes `Now` as an argument, adds the restart, drops
//! the restarts older than the period, and gives up when more than `intensity` remain.
//! [`RestartWindow::record`] does the same with a caller-supplied `now_ms` (a monotonic
//! clock in ms), so windows are tested as tables, with no sleeps.

use std::collections::VecDeque;

/// How many restarts a supervisor tolerates: at most `max` within `within_ms` ms
/// (ecosystem `intensity: (max: 3, within: "30s")`, OTP `intensity` and `period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed in one window; one more is [`IntensityVerdict::Exceeded`].
    pub max: u32,
    /// Length of the window, in ms.
    pub within_ms: u64,
}

impl Intensity {
    /// OTP's default, and a group's default in pmx: 1 restart within 5000 ms.
    pub const OTP_DEFAULT: Intensity = Intensity {
        max: 1,
        within_ms: 5_000,
    };
}

impl Default for Intensity {
    /// [`Intensity::OTP_DEFAULT`].
    fn default() -> Self {
        Self::OTP_DEFAULT
    }
}

/// Whether a supervisor may go on after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntensityVerdict {
    /// At most `max` restarts in the window: restart the affected children.
    Within,
    /// More than `max` restarts in the window: stop every child and escalate to the
    /// parent supervisor (OTP: the supervisor terminates with `shutdown`).
    Exceeded,
}

/// The times, in ms, of a supervisor's recent restarts (OTP's `#state.restarts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartWindow {
    /// Restart times in ms, oldest first.
    restarts: VecDeque<u64>,
}

impl RestartWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one restart at `now_ms` (ms on a monotonic clock) and says whether the
    /// supervisor is still within `intensity`.
    ///
    /// As OTP's `add_restart`: restarts more than `within_ms` ms before `now_ms` are
    /// dropped (one exactly `within_ms` ms old still counts), the new one is added, and
    /// the verdict is [`IntensityVerdict::Exceeded`] when more than `max` remain. A
    /// `max` of 0 allows no restart at all. An exceeded window keeps its restarts; call
    /// [`RestartWindow::clear`] when the supervisor is started again.
    pub fn record(&mut self, intensity: &Intensity, now_ms: u64) -> IntensityVerdict {
        // `retain` rather than popping from the front, so a `now_ms` that ever went
        // backwards cannot keep an old restart alive behind a newer one.
        self.restarts
            .retain(|&at| now_ms.saturating_sub(at) <= intensity.within_ms);
        self.restarts.push_back(now_ms);
        if self.restarts.len() > intensity.max as usize {
            IntensityVerdict::Exceeded
        } else {
            IntensityVerdict::Within
        }
    }

    /// Forgets every restart: a fresh window, for a supervisor started again by hand
    /// (`pmx restart <group>`, SPEC §5).
    pub fn clear(&mut self) {
        self.restarts.clear();
    }

    /// How many restarts the window holds, counting those that may since have expired
    /// (they are dropped on the next [`RestartWindow::record`]).
    pub fn len(&self) -> usize {
        self.restarts.len()
    }

    /// True when the window holds no restart.
    pub fn is_empty(&self) -> bool {
        self.restarts.is_empty()
    }

    /// How many restarts fall within `intensity.within_ms` of `now_ms` (what `describe`
    /// shows), without changing the window.
    pub fn recent(&self, intensity: &Intensity, now_ms: u64) -> usize {
        self.restarts
            .iter()
            .filter(|&&at| now_ms.saturating_sub(at) <= intensity.within_ms)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntensityVerdict::*;

    #[test]
    fn recent_counts_only_the_window() {
        let i = Intensity {
            max: 10,
            within_ms: 1000,
        };
        let mut w = RestartWindow::new();
        for at in [0, 500, 900] {
            w.record(&i, at);
        }
        let cases = [
            (900, 3),
            (1000, 3),
            (1001, 2),
            (1500, 2),
            (1501, 1),
            (1901, 0),
        ];
        for (now, want) in cases {
            assert_eq!(w.recent(&i, now), want, "at {now} ms");
        }
    }

    /// Records restarts at `times` (ms) and returns the last verdict.
    fn run(intensity: Intensity, times: &[u64]) -> Option<IntensityVerdict> {
        let mut window = RestartWindow::new();
        times.iter().map(|&t| window.record(&intensity, t)).last()
    }

    #[test]
    fn otp_default_is_one_restart_in_5s() {
        assert_eq!(
            Intensity::OTP_DEFAULT,
            Intensity {
                max: 1,
                within_ms: 5_000
            }
        );
        assert_eq!(Intensity::default(), Intensity::OTP_DEFAULT);
    }

    #[test]
    fn exceeded_only_above_max_within_the_period() {
        let three_in_30s = Intensity {
            max: 3,
            within_ms: 30_000,
        };
        let cases: [(Intensity, &[u64], IntensityVerdict); 12] = [
            // OTP default: one restart is fine, a second within 5 s is not.
            (Intensity::OTP_DEFAULT, &[0], Within),
            (Intensity::OTP_DEFAULT, &[0, 4_999], Exceeded),
            (Intensity::OTP_DEFAULT, &[0, 5_000], Exceeded), // OTP keeps R >= Now - Period
            (Intensity::OTP_DEFAULT, &[0, 5_001], Within),
            (Intensity::OTP_DEFAULT, &[1_000, 1_000], Exceeded),
            // Exactly max within → Within; max + 1 → Exceeded.
            (three_in_30s, &[0, 10, 20], Within),
            (three_in_30s, &[0, 10, 20, 30], Exceeded),
            // Old restarts expire.
            (three_in_30s, &[0, 10, 20, 30_011], Within),
            (
                three_in_30s,
                &[0, 10, 20, 100_000, 100_001, 100_002],
                Within,
            ),
            (three_in_30s, &[0, 40_000, 80_000, 120_000, 160_000], Within),
            // max 0: no restart allowed at all.
            (
                Intensity {
                    max: 0,
                    within_ms: 5_000,
                },
                &[0],
                Exceeded,
            ),
            // A zero period only counts restarts at the same ms.
            (
                Intensity {
                    max: 1,
                    within_ms: 0,
                },
                &[0, 1, 2, 3],
                Within,
            ),
        ];
        for (intensity, times, expected) in cases {
            assert_eq!(
                run(intensity, times),
                Some(expected),
                "{intensity:?} at {times:?}"
            );
        }
    }

    #[test]
    fn expired_restarts_are_dropped_on_record() {
        let intensity = Intensity {
            max: 3,
            within_ms: 1_000,
        };
        let mut window = RestartWindow::new();
        for t in [0, 100, 200] {
            assert_eq!(window.record(&intensity, t), Within);
        }
        assert_eq!(window.len(), 3);
        assert_eq!(window.record(&intensity, 1_150), Within);
        assert_eq!(window.len(), 2); // 200 and 1150
    }

    #[test]
    fn clear_gives_a_fresh_window() {
        let mut window = RestartWindow::new();
        let i = Intensity::OTP_DEFAULT;
        assert_eq!(window.record(&i, 0), Within);
        assert_eq!(window.record(&i, 1), Exceeded);
        window.clear();
        assert!(window.is_empty());
        assert_eq!(window.record(&i, 2), Within);
    }

    #[test]
    fn a_clock_going_backwards_keeps_the_restarts() {
        let mut window = RestartWindow::new();
        let i = Intensity::OTP_DEFAULT;
        assert_eq!(window.record(&i, 10_000), Within);
        assert_eq!(window.record(&i, 9_000), Exceeded);
    }
}
