//! The timer of a log file rotated on an interval, aligned to the local clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use super::sink::{lock, open_if_closed, Sink};

/// The rotation timer of a log file rotated on an interval (`rotate.interval`); the lines
/// themselves go through its `Sink`, written by the pumps on the same thread.
pub struct LogFile {
    pub(super) sink: Arc<Mutex<Sink>>,
}

impl LogFile {
    /// With `rotate.interval`, the next rotation at the next boundary of the local clock.
    fn schedule_interval(&mut self, ctx: &mut Context<Self>) {
        let Some(interval) = lock(&self.sink).rotate.and_then(|r| r.interval_ms) else {
            return;
        };
        let now = chrono::Local::now();
        let ms_of_day = u64::from(chrono::Timelike::num_seconds_from_midnight(&now)) * 1000
            + u64::from(chrono::Timelike::nanosecond(&now) / 1_000_000);
        ctx.notify_later(
            RotateTick,
            Duration::from_millis(until_boundary(ms_of_day, interval)),
        );
    }
}

impl Actor for LogFile {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        open_if_closed(&mut lock(&self.sink));
        self.schedule_interval(ctx);
    }
}

/// The ms from `now_ms_of_day` (ms since local midnight) to the next multiple of
/// `interval_ms` counted from local midnight: `1d` rotates at midnight, `1h` on the hour.
pub fn until_boundary(now_ms_of_day: u64, interval_ms: u64) -> u64 {
    let interval = interval_ms.max(1000);
    interval - now_ms_of_day % interval
}

/// Interval timer: rotate now (if anything was written) and set the next one.
#[derive(Message)]
#[rtype(result = "()")]
struct RotateTick;

impl Handler<RotateTick> for LogFile {
    type Result = ();
    fn handle(&mut self, _: RotateTick, ctx: &mut Context<Self>) {
        {
            let mut sink = lock(&self.sink);
            if sink.size > 0 {
                let id = sink.owner.first_id;
                sink.rotate_now(id);
            }
        }
        self.schedule_interval(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::until_boundary;

    #[test]
    fn interval_rotation_is_aligned_to_the_local_clock() {
        const H: u64 = 3_600_000;
        const D: u64 = 24 * H;
        let cases = [
            (0, D, D),              // at midnight: the next midnight
            (23 * H, D, H),         // 23:00 with 1d: one hour to midnight
            (10 * H + 1, H, H - 1), // just past 10:00 with 1h: on the hour
            (10 * H + 30 * 60_000, H, 30 * 60_000),
            (1_500, 2_000, 500), // 2 s: the next even second
            (0, 10, 1_000),      // below a second: one second
        ];
        for (now, interval, want) in cases {
            assert_eq!(
                until_boundary(now, interval),
                want,
                "now {now} interval {interval}"
            );
        }
    }
}
