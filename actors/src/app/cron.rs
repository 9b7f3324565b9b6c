//! The App supervisor's `cron_restart` (SPEC §4): one actix timer, not a loop or a thread.
//! The next fire time is computed with `croner` (5 fields, or 6 with seconds first, as
//! `pmx_config::validate_cron` accepts) in the daemon's local zone; the timer carries a
//! generation, so a spec change or a delete (which re-arm or cancel it) never lets an old
//! timer act. On a fire the app is restarted with reason `cron`: in cluster mode every
//! instance replaced the rolling way (as `reload`), in fork mode restarted; an instance
//! that is down (stopped by hand, or finished with `restart.policy: Never`: PM2's "cron
//! job") is started. This is PM2 7's behaviour: its tick calls `restartProcessId`, and
//! `pm2 stop` does not deregister the job (only delete does), so a stopped app is started
//! by the next tick. A tick that finds a restart or reload still under way is skipped
//! (logged), and each tick acts at most once.

use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Local, TimeZone};

use super::AppSup;
use crate::supervision::instance::{Event, Phase, Reason};

/// The armed timer of an app's `cron_restart`.
#[derive(Default)]
pub(super) struct CronState {
    /// Bumped at every arm or cancel: a timer with an older one does nothing.
    generation: u64,
    /// The armed timer and the tick it fires for.
    armed: Option<(SpawnHandle, DateTime<Local>)>,
}

/// The first tick of `pattern` strictly after `after`, in `after`'s zone.
///
/// Errors: the pattern's parse error (validated before it gets here), or no next tick.
pub fn next_fire<Tz: TimeZone>(pattern: &str, after: &DateTime<Tz>) -> Result<DateTime<Tz>, String>
where
    DateTime<Tz>: croner::CronDateTime,
{
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    cron.find_next_occurrence(after, false)
        .map_err(|e| e.to_string())
}

impl AppSup {
    /// Cancel the armed cron timer, if any.
    pub(super) fn disarm_cron(&mut self, ctx: &mut Context<Self>) {
        self.cron.generation += 1;
        if let Some((handle, _)) = self.cron.armed.take() {
            ctx.cancel_future(handle);
        }
    }

    /// (Re-)arm the cron timer for the first tick after now (or after `last`, the tick
    /// just fired, so that a timer waking a little early never fires one tick twice).
    pub(super) fn arm_cron(&mut self, ctx: &mut Context<Self>) {
        self.arm_cron_after(None, ctx);
    }

    fn arm_cron_after(&mut self, last: Option<DateTime<Local>>, ctx: &mut Context<Self>) {
        self.disarm_cron(ctx);
        if self.deleting {
            return;
        }
        let Some(pattern) = self.parts.spec.app.cron_restart.clone() else {
            return;
        };
        let now = Local::now();
        let from = match last {
            Some(l) if l > now => l,
            _ => now,
        };
        let next = match next_fire(&pattern, &from) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(
                    "app {}: cron_restart \"{pattern}\" has no next time: {e}",
                    self.name()
                );
                return;
            }
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        let generation = self.cron.generation;
        let handle = ctx.run_later(wait, move |act, ctx| act.cron_fired(generation, ctx));
        self.cron.armed = Some((handle, next));
    }

    /// The next fire time as `describe` shows it, with its zone: `2026-12-06 16:30:00
    /// +00:00 (local)`; None without `cron_restart`.
    pub(super) fn cron_next(&self) -> Option<String> {
        self.cron
            .armed
            .as_ref()
            .map(|(_, t)| format!("{} (local)", t.format("%Y-%m-%d %H:%M:%S %:z")))
    }

    fn cron_fired(&mut self, generation: u64, ctx: &mut Context<Self>) {
        if generation != self.cron.generation || self.deleting {
            return;
        }
        let tick = self.cron.armed.take().map(|(_, t)| t);
        self.arm_cron_after(tick, ctx);
        let busy = self.slots[..self.live()].iter().any(|s| {
            matches!(
                s.fsm.phase,
                Phase::Launching | Phase::Stopping | Phase::WaitingRestart
            )
        }) || self.reload_lock.try_lock().is_err();
        if busy {
            tracing::info!(
                "app {}: cron tick skipped, a restart is still under way",
                self.name()
            );
            return;
        }
        tracing::info!("app {}: cron_restart tick, restarting", self.name());
        if Self::reloads_rolling(&self.parts.spec, self.live()) {
            let done = self.reload_after(Vec::new(), None, Reason::Cron, ctx);
            ctx.spawn(done.into_actor(self).map(|_, act, _| act.flush()));
        } else {
            for i in 0..self.live() {
                self.feed(
                    i,
                    Event::Restart {
                        reason: Reason::Cron,
                        waiter: None,
                    },
                    ctx,
                );
            }
            self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::next_fire;
    use chrono::{FixedOffset, TimeZone, Utc};

    #[test]
    fn next_fire_times() {
        let t = Utc.with_ymd_and_hms(2026, 12, 6, 16, 20, 30).unwrap();
        let cases = [
            (
                "*/2 * * * * *",
                Utc.with_ymd_and_hms(2026, 12, 6, 16, 20, 32).unwrap(),
            ),
            (
                "* * * * *",
                Utc.with_ymd_and_hms(2026, 12, 6, 16, 21, 0).unwrap(),
            ),
            (
                "0 3 * * *",
                Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap(),
            ),
            (
                "30 20 16 * * *",
                Utc.with_ymd_and_hms(2026, 12, 7, 16, 20, 30).unwrap(),
            ),
            (
                "@hourly",
                Utc.with_ymd_and_hms(2026, 12, 6, 17, 0, 0).unwrap(),
            ),
        ];
        for (p, want) in cases {
            assert_eq!(next_fire(p, &t), Ok(want), "{p}");
        }
        // The wall clock of the given zone: 03:00 at +09:00 is 18:00 UTC.
        let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
        let got = next_fire("0 3 * * *", &t.with_timezone(&tokyo)).unwrap();
        assert_eq!(got, Utc.with_ymd_and_hms(2026, 12, 6, 18, 0, 0).unwrap());
        assert!(next_fire("nope", &t).is_err());
    }
}
