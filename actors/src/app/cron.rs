//! The App supervisor's `cron_restart` (SPEC §4): one actix timer, not a loop or a thread.
//! The next fire time is computed with `croner` (5 fields, or 6 with seconds first, as
//! `pmx_config::validate_cron` accepts) in the app's `cron_timezone` (an IANA zone, with
//! `chrono-tz`; default the daemon's local zone, read once per arm); the timer carries a
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
use chrono::{DateTime, Local, TimeZone, Utc};

use super::AppSup;
use crate::supervision::instance::{Event, Phase, Reason};

/// The armed timer of an app's `cron_restart`.
#[derive(Default)]
pub(super) struct CronState {
    /// Bumped at every arm or cancel: a timer with an older one does nothing.
    generation: u64,
    /// The armed timer and the tick it fires for.
    armed: Option<(SpawnHandle, DateTime<Utc>)>,
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

    fn arm_cron_after(&mut self, last: Option<DateTime<Utc>>, ctx: &mut Context<Self>) {
        self.disarm_cron(ctx);
        if self.deleting {
            return;
        }
        let Some(pattern) = self.parts.spec.app.cron_restart.clone() else {
            return;
        };
        let now = Utc::now();
        let from = match last {
            Some(l) if l > now => l,
            _ => now,
        };
        let next = match self.cron_zone() {
            Some(tz) => next_fire(&pattern, &from.with_timezone(&tz)).map(|t| t.to_utc()),
            None => next_fire(&pattern, &from.with_timezone(&Local)).map(|t| t.to_utc()),
        };
        let next = match next {
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

    /// The app's `cron_timezone` (None: the daemon's local zone; a name the daemon's
    /// validation let through is always known).
    fn cron_zone(&self) -> Option<chrono_tz::Tz> {
        let zone = self.parts.spec.app.cron_timezone.as_deref()?;
        pmx_config::parse_timezone(zone).ok()
    }

    /// The next fire time as `describe` shows it, in its zone and naming it:
    /// `2026-12-07 03:00:00 +09:00 (Asia/Tokyo)`, or `… (local)` without
    /// `cron_timezone`; None without `cron_restart`.
    pub(super) fn cron_next(&self) -> Option<String> {
        let (_, t) = self.cron.armed.as_ref()?;
        const FMT: &str = "%Y-%m-%d %H:%M:%S %:z";
        Some(match self.cron_zone() {
            Some(tz) => format!("{} ({tz})", t.with_timezone(&tz).format(FMT)),
            None => format!("{} (local)", t.with_timezone(&Local).format(FMT)),
        })
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
    use chrono_tz::{America::New_York, Asia::Tokyo, Europe::Paris};

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
        let tokyo = FixedOffset::east_opt(9 * 3600).expect("+09:00");
        let got = next_fire("0 3 * * *", &t.with_timezone(&tokyo)).expect("next fire");
        assert_eq!(got, Utc.with_ymd_and_hms(2026, 12, 6, 18, 0, 0).unwrap());
        // IANA zones, daylight saving time included: "0 3 * * *" read in each zone, from
        // 2026-12-06 16:20:30 UTC (winter), and from 2026-07-01 12:00:00 UTC (summer).
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        let zones = [
            (
                t,
                Tokyo,
                Utc.with_ymd_and_hms(2026, 12, 6, 18, 0, 0).unwrap(),
            ),
            (
                t,
                Paris,
                Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).unwrap(),
            ),
            (
                t,
                New_York,
                Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap(),
            ),
            (
                summer,
                Paris,
                Utc.with_ymd_and_hms(2026, 7, 2, 1, 0, 0).unwrap(),
            ),
            (
                summer,
                New_York,
                Utc.with_ymd_and_hms(2026, 7, 2, 7, 0, 0).unwrap(),
            ),
            (
                summer,
                Tokyo,
                Utc.with_ymd_and_hms(2026, 7, 1, 18, 0, 0).unwrap(),
            ),
        ];
        for (from, tz, want) in zones {
            let got = next_fire("0 3 * * *", &from.with_timezone(&tz)).expect("next fire");
            assert_eq!(got.to_utc(), want, "{tz} from {from}");
        }
        assert!(next_fire("nope", &t).is_err());
    }
}
