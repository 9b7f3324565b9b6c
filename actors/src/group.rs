//! Group supervisor actor: owns one OTP-style group of apps (`groups:` in the file) — its
//! members in declared order, its strategy, its intensity window. A member's exit that the
//! member's policy would restart reaches it as [`MemberFailed`]; the pure
//! `Intensity::record(now)` decides whether the group is over its intensity, and the pure
//! `Strategy::affected` which members restart. Within the intensity the affected members
//! other than the failed one are stopped in reverse order, each after the previous has
//! exited, then all affected members start in declared order, each after its own delay and
//! spawned before the next. Over it, every member is stopped in reverse order and the
//! group sends [`Escalate`] to its parent (OTP: the supervisor shuts its children down and
//! exits with `shutdown`). One sequence runs at a time (`AtomicResponse`): a failure that
//! happens during a sequence is handled after it, and recognised by its generation when
//! the sequence has already restarted that member (OTP drains the EXIT of a child it
//! terminated by matching the child, and does not count it).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use actix::prelude::*;

use crate::app::{Op, Supervise, Supervised};
use crate::protocol::ProcessInfo;
use crate::supervision::intensity::{Intensity, IntensityVerdict, RestartWindow};
use crate::supervision::strategy::Strategy;

/// A group went over its intensity and stopped its members: sent to its parent (the Root),
/// which marks every member `errored` with `reason`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Escalate {
    /// The group's name.
    pub group: String,
    /// Why (`more than 1 restarts within 5000 ms`).
    pub reason: String,
}

/// A member as its group knows it: the one message it sends it (an App supervisor's
/// `Addr` converts into it).
pub type Member = Recipient<Supervise>;

/// The Group supervisor actor.
pub struct GroupSup {
    name: String,
    strategy: Strategy,
    intensity: Intensity,
    /// (app name, supervisor) in declared order.
    members: Vec<(String, Member)>,
    window: RestartWindow,
    epoch: Instant,
    parent: Recipient<Escalate>,
    /// Over its intensity: members stay down until a manual restart of the group.
    escalated: bool,
    /// Per member (declared order): each instance's generation as the group's last step
    /// left it. A failure of an older generation was absorbed by that step.
    seen: Vec<BTreeMap<u32, u64>>,
}

impl GroupSup {
    /// A group over `members` (declared order).
    pub fn new(
        spec: &crate::protocol::Group,
        members: Vec<(String, impl Into<Member>)>,
        parent: Recipient<Escalate>,
    ) -> GroupSup {
        let members: Vec<(String, Member)> =
            members.into_iter().map(|(n, m)| (n, m.into())).collect();
        GroupSup {
            name: spec.name.clone(),
            strategy: match spec.strategy {
                pmx_config::Strategy::OneForOne => Strategy::OneForOne,
                pmx_config::Strategy::OneForAll => Strategy::OneForAll,
                pmx_config::Strategy::RestForOne => Strategy::RestForOne,
            },
            intensity: Intensity {
                max: spec.intensity.max,
                within_ms: spec.intensity.within_ms,
            },
            seen: vec![BTreeMap::new(); members.len()],
            members,
            window: RestartWindow::new(),
            epoch: Instant::now(),
            parent,
            escalated: false,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The group's members (declared order) with their index.
    fn addrs(&self) -> Vec<(usize, Member)> {
        self.members
            .iter()
            .enumerate()
            .map(|(k, (_, a))| (k, a.clone()))
            .collect()
    }

    /// Remember the generations a step left its members at.
    fn record(&mut self, steps: Vec<(usize, Supervised)>) -> Vec<ProcessInfo> {
        let mut rows = Vec::new();
        for (k, mut s) in steps {
            if let Some(seen) = self.seen.get_mut(k) {
                for (instance, generation) in s.generations {
                    let g = seen.entry(instance).or_insert(0);
                    *g = (*g).max(generation);
                }
            }
            rows.append(&mut s.rows);
        }
        rows
    }
}

/// A group step's future: each member's answer, in the order asked.
type Steps = Pin<Box<dyn Future<Output = Vec<(usize, Supervised)>>>>;

impl Actor for GroupSup {
    type Context = Context<Self>;
}

/// Send `op` to each of `addrs` in turn, each after the previous has answered; answers
/// what each answered.
async fn in_turn(addrs: Vec<(usize, Member)>, op: Op) -> Vec<(usize, Supervised)> {
    let mut out = Vec::new();
    for (k, a) in addrs {
        if let Ok(s) = a.send(Supervise(op.clone())).await {
            out.push((k, s));
        }
    }
    out
}

/// Start (or restart) the members in declared order, each `online` before the next (OTP's
/// `start_link` returns once the child is initialised; SPEC §5): a member's step is
/// answered once its instances are online — ready, with `wait_ready` or a readiness health
/// check. Meanwhile every later member's `describe` says what it waits for. A member that
/// is not online once its step is answered (it ended `errored`, stopped for good, or
/// failed before it was ready and waits for the group's decision) stops the start: the
/// members after it are not started, and their rows (still `stopped`) are in the answer,
/// so the client can say where the start stopped. `group` names the group in the log.
async fn start_in_order(
    group: String,
    members: Vec<(usize, String, Member)>,
    op: Op,
) -> Vec<(usize, Supervised)> {
    let mut out = Vec::new();
    for (n, (k, name, addr)) in members.iter().enumerate() {
        let wait = format!("waiting for {name} to be online");
        for (_, _, later) in &members[n + 1..] {
            let _ = later.send(Supervise(Op::Waiting(Some(wait.clone())))).await;
        }
        let _ = addr.send(Supervise(Op::Waiting(None))).await;
        let Ok(s) = addr.send(Supervise(op.clone())).await else {
            continue;
        };
        let down = s
            .rows
            .iter()
            .find(|r| r.status != crate::protocol::Status::Online)
            .map(|r| r.status.as_str());
        out.push((*k, s));
        if let Some(status) = down {
            let rest: Vec<&str> = members[n + 1..]
                .iter()
                .map(|(_, m, _)| m.as_str())
                .collect();
            tracing::warn!(
                "group {group}: {name} is {status}, not online: the group's start stops there{}",
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(" ({} not started)", rest.join(", "))
                }
            );
            for (j, _, later) in &members[n + 1..] {
                if let Ok(s) = later.send(Supervise(Op::Waiting(None))).await {
                    out.push((*j, s));
                }
            }
            return out;
        }
    }
    out
}

/// A member's exit that its policy would restart: a failure of that child of the group.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct MemberFailed {
    /// The member app's name.
    pub member: String,
    /// The instance number that failed.
    pub instance: u32,
    /// The generation of the process that failed: one older than what the group's last
    /// step left that instance at was absorbed into that step.
    pub generation: u64,
    /// Its own restart delay for this exit (its `delay`, or its backoff), ms.
    pub delay_ms: u64,
}

impl Handler<MemberFailed> for GroupSup {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, msg: MemberFailed, _: &mut Context<Self>) -> Self::Result {
        let Some(failed) = self.members.iter().position(|(n, _)| *n == msg.member) else {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        };
        // Failures queue behind a running sequence. A member instance that the sequence
        // has stopped or restarted meanwhile has a newer generation: its failure was
        // absorbed into that restart and is not counted.
        let seen = self.seen[failed].get(&msg.instance).copied().unwrap_or(0);
        if msg.generation < seen {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        let steps = self.decide(failed, msg.delay_ms);
        AtomicResponse::new(Box::pin(steps.into_actor(self).map(|steps, act, _| {
            act.record(steps);
        })))
    }
}

impl GroupSup {
    /// Member `failed` failed and waits: count it, then restart what the strategy says,
    /// or, over the intensity, stop every member and escalate. Answers the sequence.
    fn decide(&mut self, failed: usize, delay_ms: u64) -> Steps {
        let member = self.members[failed].0.clone();
        if self.escalated {
            // The group is down (escalated): a member started by hand since then and failing
            // again is left errored, not restarted.
            let addr = (failed, self.members[failed].1.clone());
            let reason = format!(
                "group {} is down after an escalation; `pmx restart {}` starts it again",
                self.name, self.name
            );
            return Box::pin(async move {
                in_turn(vec![addr.clone()], Op::Pause).await;
                in_turn(vec![addr], Op::MarkErrored(reason)).await
            });
        }
        let now = self.now_ms();
        if self.window.record(&self.intensity, now) == IntensityVerdict::Exceeded {
            self.escalated = true;
            let reason = format!(
                "group {}: more than {} restarts within {} ms (its intensity); last failure: {member}",
                self.name, self.intensity.max, self.intensity.within_ms
            );
            tracing::warn!("{reason}");
            let mut rev = self.addrs();
            rev.reverse();
            let (parent, group) = (self.parent.clone(), self.name.clone());
            return Box::pin(async move {
                let steps = in_turn(rev, Op::Pause).await;
                parent.do_send(Escalate { group, reason });
                steps
            });
        }
        let affected = self.strategy.affected(self.members.len(), failed);
        let others_rev: Vec<(usize, Member)> = affected
            .clone()
            .rev()
            .filter(|j| *j != failed)
            .map(|j| (j, self.members[j].1.clone()))
            .collect();
        let starts: Vec<(usize, Member, Option<u64>)> = affected
            .map(|j| {
                let delay = (j == failed).then_some(delay_ms);
                (j, self.members[j].1.clone(), delay)
            })
            .collect();
        Box::pin(async move {
            let mut steps = in_turn(others_rev, Op::Pause).await;
            // In declared order: an immediate start is awaited (spawned before the next);
            // a delayed one is scheduled and the sequence goes on, so a stop never waits
            // out a restart delay (the failed member after its own delay or backoff; the
            // others after their `restart.delay`, which StartAfter(None) reads).
            for (k, addr, delay) in starts {
                if let Ok(s) = addr.send(Supervise(Op::StartAfter(delay))).await {
                    steps.push((k, s));
                }
            }
            steps
        })
    }
}

/// What `describe` shows of a group.
#[derive(Message, Debug, Clone)]
#[rtype(result = "GroupState")]
pub struct GroupInfo;

/// A group's strategy, intensity and recent restarts.
#[derive(Debug, Clone)]
pub struct GroupState {
    /// `OneForOne`, `OneForAll` or `RestForOne`.
    pub strategy: String,
    /// `max N within M ms`.
    pub intensity: String,
    /// Restarts within the intensity window now.
    pub recent_restarts: usize,
}

impl Handler<GroupInfo> for GroupSup {
    type Result = MessageResult<GroupInfo>;
    fn handle(&mut self, _: GroupInfo, _: &mut Context<Self>) -> Self::Result {
        MessageResult(GroupState {
            strategy: format!("{:?}", self.strategy),
            intensity: format!(
                "max {} within {} ms",
                self.intensity.max, self.intensity.within_ms
            ),
            recent_restarts: self.window.recent(&self.intensity, self.now_ms()),
        })
    }
}

/// A manual command on the whole group (its name as a target), carried out in order:
/// start in declared order, stop in reverse order, restart = stop then start with a fresh
/// intensity window, delete = stop then forget. Answers the members' rows.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Vec<ProcessInfo>")]
pub struct GroupCommand(pub Op);

impl Handler<GroupCommand> for GroupSup {
    type Result = AtomicResponse<Self, Vec<ProcessInfo>>;
    fn handle(&mut self, GroupCommand(op): GroupCommand, ctx: &mut Context<Self>) -> Self::Result {
        let forward = self.addrs();
        let mut reverse = forward.clone();
        reverse.reverse();
        let _ = ctx;
        let named: Vec<(usize, String, Member)> = self
            .members
            .iter()
            .enumerate()
            .map(|(k, (n, a))| (k, n.clone(), a.clone()))
            .collect();
        let group = self.name.clone();
        let fut: Steps = match op {
            Op::Start => Box::pin(start_in_order(group, named, Op::Start)),
            Op::Stop => Box::pin(in_turn(reverse, Op::Stop)),
            Op::Restart => {
                self.window.clear();
                self.escalated = false;
                Box::pin(async move {
                    // Answered with the rows after the restart; the stop's generations
                    // are recorded all the same.
                    let mut steps = in_turn(reverse, Op::Stop).await;
                    for (_, s) in &mut steps {
                        s.rows.clear();
                    }
                    steps.extend(start_in_order(group, named, Op::Restart).await);
                    steps
                })
            }
            Op::Delete => Box::pin(async move {
                in_turn(reverse.clone(), Op::Stop).await;
                in_turn(reverse, Op::Delete).await
            }),
            other => Box::pin(in_turn(forward, other)),
        };
        AtomicResponse::new(Box::pin(
            fut.into_actor(self).map(|steps, act, _| act.record(steps)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A member that records the ops it is sent and answers with one instance whose
    /// generation goes up by one per op (as a stop or a start bumps it).
    struct Fake {
        name: &'static str,
        generation: u64,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Actor for Fake {
        type Context = Context<Self>;
    }

    impl Handler<Supervise> for Fake {
        type Result = MessageResult<Supervise>;
        fn handle(&mut self, Supervise(op): Supervise, _: &mut Context<Self>) -> Self::Result {
            self.generation += 1;
            self.log
                .lock()
                .expect("lock")
                .push(format!("{} {op:?}", self.name));
            MessageResult(Supervised {
                rows: vec![],
                generations: vec![(0, self.generation)],
            })
        }
    }

    #[derive(Default)]
    struct Parent(Arc<Mutex<Vec<String>>>);

    impl Actor for Parent {
        type Context = Context<Self>;
    }

    impl Handler<Escalate> for Parent {
        type Result = ();
        fn handle(&mut self, m: Escalate, _: &mut Context<Self>) {
            self.0.lock().expect("lock").push(m.reason);
        }
    }

    fn failed(member: &str, generation: u64) -> MemberFailed {
        MemberFailed {
            member: member.into(),
            instance: 0,
            generation,
            delay_ms: 0,
        }
    }

    #[actix::test]
    async fn a_failure_the_running_sequence_absorbed_is_recognised_by_its_generation() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let escalations = Arc::new(Mutex::new(Vec::new()));
        let member = |name| {
            Fake {
                name,
                generation: 1,
                log: log.clone(),
            }
            .start()
        };
        let (a, b) = (member("a"), member("b"));
        let spec = crate::protocol::Group {
            name: "g".into(),
            strategy: pmx_config::Strategy::OneForAll,
            intensity: pmx_config::Intensity {
                max: 1,
                within_ms: 60_000,
            },
            apps: vec!["a".into(), "b".into()],
        };
        let group = GroupSup::new(
            &spec,
            vec![("a".to_string(), a), ("b".to_string(), b)],
            Parent(escalations.clone()).start().recipient(),
        )
        .start();
        // Both fail at generation 1; a's failure is handled first: b is paused and both
        // start again (b's generation is now past 1).
        group.send(failed("a", 1)).await.expect("a");
        group.send(failed("b", 1)).await.expect("b");
        assert_eq!(
            *log.lock().expect("lock"),
            ["b Pause", "a StartAfter(Some(0))", "b StartAfter(None)"],
            "one sequence, b's failure absorbed"
        );
        assert!(escalations.lock().expect("lock").is_empty(), "counted once");
        // A failure of the process the sequence started is a new one: counted, and over
        // the intensity (1 within 60 s) the group escalates.
        group.send(failed("b", 3)).await.expect("b again");
        assert_eq!(escalations.lock().expect("lock").len(), 1);
    }
}
