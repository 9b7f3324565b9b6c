//! Exponential restart backoff: PM2's `exp_backoff_restart_delay`, as a pure function.
//!
//! PM2 (`God.handleExit`) waits `initial` ms before the first restart, then
//! `floor(min(15000, prev * 1.5))` ms before each following one, and its worker forgets
//! the previous delay once a process has stayed up 30 s (`EXP_BACKOFF_RESET_TIMER`).
//! pmx keeps the same numbers; the caller passes the uptime, so no clock is read here.

/// Upper bound of a grown backoff delay, in ms (PM2: 15 000 ms).
pub const BACKOFF_CAP_MS: u64 = 15_000;

/// Uptime, in ms, after which the next delay starts again from `initial`
/// (PM2's `EXP_BACKOFF_RESET_TIMER`, 30 000 ms).
pub const BACKOFF_RESET_UPTIME_MS: u64 = 30_000;

/// Growth factor per consecutive crash, as a fraction (PM2: ×1.5), kept in integers so
/// that the rounding is exactly PM2's `Math.floor`.
pub const BACKOFF_FACTOR: (u64, u64) = (3, 2);

/// The delay, in ms, before the next restart, given the delay used before the previous
/// one (`prev`, `None` at the start of a chain of crashes) and the configured `initial`
/// delay in ms.
///
/// The first delay is `initial` as configured, even above the cap (PM2 does not cap it);
/// each following one is `floor(prev × 1.5)`, capped at [`BACKOFF_CAP_MS`]. Arithmetic
/// saturates, so no value of `prev` overflows.
pub fn next_backoff(prev: Option<u64>, initial: u64) -> u64 {
    match prev {
        None => initial,
        Some(prev) => {
            let (num, den) = BACKOFF_FACTOR;
            (prev.saturating_mul(num) / den).min(BACKOFF_CAP_MS)
        }
    }
}

/// A configured exponential backoff (ecosystem `backoff: Exp("100ms")`, PM2's
/// `exp_backoff_restart_delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay of a chain of crashes, in ms.
    pub initial_ms: u64,
}

impl Backoff {
    /// The delay, in ms, before restarting a process that ran `uptime_ms` ms and whose
    /// previous restart waited `prev_ms` (`None`: no previous restart in this chain).
    ///
    /// A run of at least [`BACKOFF_RESET_UPTIME_MS`] ends the chain, so the delay is
    /// `initial_ms` again (PM2 resets `prev_restart_delay` after 30 s up).
    pub fn next(&self, prev_ms: Option<u64>, uptime_ms: u64) -> u64 {
        let prev = if uptime_ms >= BACKOFF_RESET_UPTIME_MS {
            None
        } else {
            prev_ms
        };
        next_backoff(prev, self.initial_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delay before the `n`-th restart of a chain of quick crashes (n from 0).
    fn nth_delay(initial: u64, n: usize) -> u64 {
        let mut prev = None;
        let mut delay = 0;
        for _ in 0..=n {
            delay = next_backoff(prev, initial);
            prev = Some(delay);
        }
        delay
    }

    #[test]
    fn exp_backoff_grows_by_half_and_caps_at_15s() {
        let cases = [
            (0, 100),
            (1, 150),
            (2, 225),
            (3, 337), // floor(337.5), as PM2's Math.floor
            (4, 505),
            (5, 757),
            (10, 5_743),
            (12, 12_921),
            (13, 15_000),
            (20, 15_000),
        ];
        for (crash, expected) in cases {
            assert_eq!(nth_delay(100, crash), expected, "crash #{crash}");
        }
    }

    #[test]
    fn first_delay_is_initial_even_above_the_cap() {
        let cases = [(0, 0), (1, 1), (100, 100), (20_000, 20_000)];
        for (initial, expected) in cases {
            assert_eq!(next_backoff(None, initial), expected, "initial {initial}");
        }
        // Growth from an initial above the cap lands on the cap.
        assert_eq!(next_backoff(Some(20_000), 20_000), BACKOFF_CAP_MS);
    }

    #[test]
    fn zero_initial_stays_zero() {
        assert_eq!(nth_delay(0, 5), 0);
    }

    #[test]
    fn huge_previous_delay_saturates_to_the_cap() {
        assert_eq!(next_backoff(Some(u64::MAX), 100), BACKOFF_CAP_MS);
    }

    #[test]
    fn backoff_resets_after_30s_up() {
        let backoff = Backoff { initial_ms: 100 };
        // (previous delay, uptime of the run that just ended, expected delay)
        let cases = [
            (None, 0, 100),
            (Some(100), 0, 150),
            (Some(10_000), 29_999, 15_000),
            (Some(10_000), 30_000, 100),
            (Some(15_000), 3_600_000, 100),
        ];
        for (prev, uptime, expected) in cases {
            assert_eq!(
                backoff.next(prev, uptime),
                expected,
                "prev {prev:?}, uptime {uptime}"
            );
        }
    }
}
