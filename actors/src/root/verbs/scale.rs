//! `scale` (PM2's `pm2 scale <name> <number>`): an app's instance count replaced, the
//! instance numbers kept 0..N-1 — growing starts the next numbers under new ids,
//! shrinking stops the highest — and the other instances left running, as `up` scales an
//! app whose only change is its count.

use std::sync::Arc;

use actix::prelude::*;

use crate::app::{Command, Op};
use crate::protocol::spec::Instances;
use crate::protocol::{ApiError, ErrorCode, ScaleRequest, Status};
use crate::root::{commanded, fail, gone, to_json, Answer, Root};

/// The count `req` asks of an app that runs `current` instances: its `instances`, or
/// `current + delta`.
///
/// Errors (`bad_request`, one line naming the app): neither or both of `instances` and
/// `delta`; a count below 1 (PM2 deletes the app at 0; pmx keeps `delete` for that and
/// says so); a count past `u32`.
pub fn target_count(req: &ScaleRequest, current: usize) -> Result<u32, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::BadRequest, m);
    let name = &req.name;
    let want: i128 = match (req.instances, req.delta) {
        (Some(n), None) => i128::from(n),
        (None, Some(d)) => current as i128 + i128::from(d),
        _ => {
            return Err(bad(format!(
                "scale {name}: give either instances (the new count) or delta (+N, -N)"
            )))
        }
    };
    if want < 1 {
        let asked = match req.delta {
            Some(d) => {
                let s = if current == 1 { "" } else { "s" };
                format!("{current} instance{s} {d:+} leaves {want}")
            }
            None => "0 instances".to_string(),
        };
        return Err(bad(format!(
            "scale {name}: {asked}; an app runs at least 1 instance (`pmx stop {name}` or `pmx delete {name}` to run none)"
        )));
    }
    u32::try_from(want).map_err(|_| bad(format!("scale {name}: {want} instances is too many")))
}

impl Root {
    /// `scale`: the app named `req.name` runs the count `req` asks from now on
    /// ([`target_count`]); answers the app's rows once the new instances are spawned and
    /// the removed ones have stopped and left `list`. The kept instances run on, but for
    /// a count going from one to several or back without `logs.merge`: their log files
    /// are renamed then, and those running restart once the others are up (a stopped one
    /// stays stopped). The same count answers the rows as
    /// they are (PM2 says "Nothing to do" and exits 1; a script that scales to a count
    /// should not fail because it is already there).
    ///
    /// Errors: `not_found` (no app of that name, or deleted meanwhile), `bad_request`
    /// (see [`target_count`]).
    pub(in crate::root) fn scale(&mut self, req: ScaleRequest) -> Answer {
        let Some(app) = self.reg.app(&req.name) else {
            return fail(ApiError::new(
                ErrorCode::NotFound,
                format!("no app named \"{}\"", req.name),
            ));
        };
        let current = app.ids.len();
        let want = match target_count(&req, current) {
            Ok(n) => n as usize,
            Err(e) => return fail(e),
        };
        let name = req.name;
        let handle = app.handle.clone();
        let rows_of = move |act: &mut Root, name: &str| {
            act.reg
                .list()
                .into_iter()
                .filter(|p| p.name == name)
                .collect::<Vec<_>>()
        };
        if want == current {
            return Box::pin(fut::ready(to_json(&rows_of(self, &name))));
        }
        let mut spec = (*app.spec).clone();
        spec.app.instances = Instances::Count(want as u32);
        let spec = Arc::new(spec);
        let ids = self.reg.replace_spec(&name, spec.clone());
        // From one instance to several (or back) without `merge`, the kept instances'
        // log files are renamed (`-0` added or dropped): they restart once, after the
        // others are up, so that their output goes where `describe` says (as `up`
        // reloads such an app rather than scaling it).
        let renamed = !spec.app.logs.merge && (current == 1) != (want == 1);
        // Only those that run: a restart would start one the user stopped.
        let kept: Vec<u32> = rows_of(self, &name)
            .iter()
            .filter(|r| (r.instance as usize) < current.min(want))
            .filter(|r| {
                !matches!(
                    r.status,
                    Status::Stopped | Status::Stopping | Status::Errored
                )
            })
            .map(|r| r.instance)
            .collect();
        // Only the new numbers start; a shrink stops the highest (the App supervisor's
        // resize); the instances kept are not touched, whatever their state.
        let started: Vec<u32> = (current as u32..want as u32).collect();
        let reply = handle.send(Command {
            op: Op::Start,
            instances: Some(started),
            replace: Some(spec),
            ids,
        });
        let work = async move {
            let scaled = commanded(reply.await).is_some();
            if scaled && renamed && !kept.is_empty() {
                let restart = Command {
                    op: Op::Restart,
                    instances: Some(kept),
                    replace: None,
                    ids: None,
                };
                let _ = commanded(handle.send(restart).await);
            }
            scaled
        };
        Box::pin(work.into_actor(self).map(move |scaled, act, _| {
            if !scaled {
                return Err(gone(&name));
            }
            to_json(&rows_of(act, &name))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(instances: Option<u32>, delta: Option<i64>) -> ScaleRequest {
        ScaleRequest {
            name: "web".into(),
            instances,
            delta,
        }
    }

    #[test]
    fn the_count_is_absolute_or_relative_and_at_least_one() {
        /// (instances, delta, the current count, the count or the start of the refusal).
        type Case = (Option<u32>, Option<i64>, usize, Result<u32, &'static str>);
        let cases: [Case; 9] = [
            (Some(4), None, 2, Ok(4)),
            (Some(1), None, 4, Ok(1)),
            (Some(2), None, 2, Ok(2)),
            (None, Some(2), 2, Ok(4)),
            (None, Some(-1), 2, Ok(1)),
            (
                Some(0),
                None,
                2,
                Err("scale web: 0 instances; an app runs at least 1"),
            ),
            (
                None,
                Some(-2),
                2,
                Err("scale web: 2 instances -2 leaves 0; an app runs"),
            ),
            (None, None, 2, Err("scale web: give either instances")),
            (Some(3), Some(1), 2, Err("scale web: give either instances")),
        ];
        for (instances, delta, current, want) in cases {
            let got = target_count(&req(instances, delta), current);
            match want {
                Ok(n) => assert_eq!(got, Ok(n), "{instances:?} {delta:?} {current}"),
                Err(prefix) => {
                    let e = got.expect_err("refused");
                    assert_eq!(e.code, ErrorCode::BadRequest);
                    assert!(e.message.starts_with(prefix), "{}", e.message);
                }
            }
        }
        let huge = target_count(&req(None, Some(i64::MAX)), 2).expect_err("too many");
        assert!(huge.message.contains("too many"), "{}", huge.message);
    }
}
