//! What a foreground runtime (`pmx run`, `pmx dev`) knows of its apps: one [`Outcome`] per
//! instance, kept by the Root after every change ([`Census`], through a `watch` channel),
//! and the pure rules read from it: whether every app is gone and with which exit code
//! ([`verdict`], Pebble's rule), and which instances ended since the last look
//! ([`newly_ended`], for `pmx dev`'s "waiting for file changes").

use std::collections::BTreeMap;

/// Where an instance is, as the foreground runtime judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `launching`, `online`, `stopping` or `waiting restart`: it still counts as alive
    /// (SPEC §3: `waiting restart` keeps `pmx run` up).
    Alive,
    /// `stopped` on request (`pmx stop`, a shutdown), or never started (`autostart:
    /// false`): a clean end.
    Stopped,
    /// `stopped` after an exit its policy does not restart: how it exited (a code, or
    /// the number of the signal that ended it).
    Ended {
        /// The exit code, when it called `exit`.
        code: Option<i32>,
        /// The signal that ended it, when one did.
        signal: Option<i32>,
        /// Its code is one of the app's `stop_exit_codes`: an end the app declares
        /// deliberate (PM2's meaning: never restarted), so a clean one.
        expected: bool,
    },
    /// `errored`: `max_restarts` reached, a spawn that failed, an escalation.
    Errored,
}

impl Outcome {
    /// Whether the instance is gone and ended well: stopped on request, exit code 0, or
    /// a code of its `stop_exit_codes`.
    pub fn clean(self) -> bool {
        matches!(
            self,
            Outcome::Stopped
                | Outcome::Ended { code: Some(0), .. }
                | Outcome::Ended { expected: true, .. }
        )
    }
}

/// One instance as the census sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The app's name.
    pub app: String,
    /// Where it is.
    pub outcome: Outcome,
    /// Its generation (a new one per spawn).
    pub generation: u64,
}

/// Every instance of the runtime, by id, as of the Root's last change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// Instance id → its app and outcome.
    pub instances: BTreeMap<u64, Counted>,
}

/// `pmx run`'s exit code once every app is gone, None while one is alive: 0 when every
/// instance ended cleanly (exit code 0 or one of its `stop_exit_codes`, or stopped on
/// request), 1 when any ended
/// `errored` or with another exit (Pebble's rule for containers; pm2-runtime's exit codes
/// were PM2's #4730, #4828). No instance at all (every app deleted) is a clean end.
pub fn verdict(census: &Census) -> Option<u8> {
    let mut code = 0;
    for c in census.instances.values() {
        match c.outcome {
            Outcome::Alive => return None,
            o if o.clean() => {}
            _ => code = 1,
        }
    }
    Some(code)
}

/// `now` as the runtime judges it, knowing `before` (its last judgement): an instance that
/// ended badly (`Errored`, an exit other than 0) and is then only `Stopped` (a shutdown's
/// stop, `pmx stop`) keeps its bad end; one that came back (`Alive`) is judged afresh.
/// A shutdown stops every instance, an errored one too (its row says `stopped`), and
/// `pmx run` must still exit 1 for it.
pub fn settle(before: &Census, now: &Census) -> Census {
    let mut judged = now.clone();
    for (id, c) in &mut judged.instances {
        if c.outcome != Outcome::Stopped {
            continue;
        }
        if let Some(b) = before.instances.get(id) {
            if !matches!(b.outcome, Outcome::Alive | Outcome::Stopped) && !b.outcome.clean() {
                c.outcome = b.outcome;
            }
        }
    }
    judged
}

/// The instances that `now` shows ended by themselves (`Ended` or `Errored`, not stopped
/// on request) and `before` did not (alive, absent, or an end of an earlier generation:
/// it ran again meanwhile), by id: the ones `pmx dev` says are waiting for a change.
pub fn newly_ended(before: &Census, now: &Census) -> Vec<(u64, Counted)> {
    now.instances
        .iter()
        .filter(|(_, c)| matches!(c.outcome, Outcome::Ended { .. } | Outcome::Errored))
        .filter(|(id, c)| {
            before.instances.get(id).is_none_or(|b| {
                b.generation != c.generation
                    || (b.outcome != c.outcome && b.outcome == Outcome::Alive)
            })
        })
        .map(|(id, c)| (*id, c.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(outcomes: &[Outcome]) -> Census {
        Census {
            instances: outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    (
                        i as u64,
                        Counted {
                            app: format!("a{i}"),
                            outcome: *o,
                            generation: 1,
                        },
                    )
                })
                .collect(),
        }
    }

    const EXIT_0: Outcome = Outcome::Ended {
        code: Some(0),
        signal: None,
        expected: false,
    };
    const EXIT_1: Outcome = Outcome::Ended {
        code: Some(1),
        signal: None,
        expected: false,
    };
    /// Exit code 3, one of the app's `stop_exit_codes`.
    const EXIT_3_LISTED: Outcome = Outcome::Ended {
        code: Some(3),
        signal: None,
        expected: true,
    };
    const KILLED: Outcome = Outcome::Ended {
        code: None,
        signal: Some(9),
        expected: false,
    };

    #[test]
    fn run_exits_only_when_every_instance_is_gone_and_says_how() {
        use Outcome::*;
        let cases: &[(&[Outcome], Option<u8>)] = &[
            (&[], Some(0)),
            (&[Alive], None),
            (&[Alive, Errored], None),
            (&[Stopped], Some(0)),
            (&[EXIT_0], Some(0)),
            (&[EXIT_0, Stopped], Some(0)),
            (&[EXIT_1], Some(1)),
            (&[KILLED], Some(1)),
            (&[Errored], Some(1)),
            (&[Stopped, Errored], Some(1)),
            (&[EXIT_0, EXIT_1], Some(1)),
            (&[EXIT_3_LISTED], Some(0)),
            (&[EXIT_3_LISTED, EXIT_1], Some(1)),
        ];
        for (outcomes, want) in cases {
            assert_eq!(verdict(&census(outcomes)), *want, "{outcomes:?}");
        }
    }

    #[test]
    fn a_bad_end_survives_the_stop_that_follows_it_not_a_new_start() {
        use Outcome::*;
        // (before, now, judged)
        let cases: &[(&[Outcome], &[Outcome], &[Outcome])] = &[
            (&[Errored], &[Stopped], &[Errored]),
            (&[EXIT_1], &[Stopped], &[EXIT_1]),
            (&[KILLED], &[Stopped], &[KILLED]),
            (&[EXIT_0], &[Stopped], &[Stopped]),
            (&[Alive], &[Stopped], &[Stopped]),
            (&[Errored], &[Alive], &[Alive]),
            (&[Errored], &[EXIT_0], &[EXIT_0]),
            (&[], &[Stopped], &[Stopped]),
            (&[Errored, Alive], &[Stopped, Stopped], &[Errored, Stopped]),
        ];
        for (before, now, want) in cases {
            assert_eq!(
                settle(&census(before), &census(now)),
                census(want),
                "{before:?} -> {now:?}"
            );
        }
    }

    #[test]
    fn an_instance_is_said_ended_once_when_it_leaves_alive_by_itself() {
        use Outcome::*;
        // (before, now, the ids newly ended)
        let cases: &[(&[Outcome], &[Outcome], &[u64])] = &[
            (&[Alive], &[EXIT_1], &[0]),
            (&[Alive], &[Errored], &[0]),
            (&[Alive], &[EXIT_0], &[0]),
            (&[EXIT_1], &[EXIT_1], &[]),
            (&[Alive], &[Stopped], &[]),
            (&[Alive], &[Alive], &[]),
            (&[Stopped], &[EXIT_1], &[]),
            (&[], &[EXIT_1], &[0]),
            (&[Alive, Alive], &[Alive, KILLED], &[1]),
        ];
        for (before, now, want) in cases {
            let got: Vec<u64> = newly_ended(&census(before), &census(now))
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(got, *want, "{before:?} -> {now:?}");
        }
        // Ran again and ended again between two looks: a new end all the same.
        let mut again = census(&[EXIT_1]);
        if let Some(c) = again.instances.get_mut(&0) {
            c.generation = 2;
        }
        assert_eq!(newly_ended(&census(&[EXIT_1]), &again).len(), 1);
    }
}
