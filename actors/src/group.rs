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
//! happens during a sequence is handled after it.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use actix::prelude::*;

use crate::app::{AppSup, Command, Op};
use crate::protocol::{ProcessInfo, Status};
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

/// The Group supervisor actor.
pub struct GroupSup {
    name: String,
    strategy: Strategy,
    intensity: Intensity,
    /// (app name, supervisor) in declared order.
    members: Vec<(String, Addr<AppSup>)>,
    window: RestartWindow,
    epoch: Instant,
    parent: Recipient<Escalate>,
    /// Over its intensity: members stay down until a manual restart of the group.
    escalated: bool,
}

impl GroupSup {
    /// A group over `members` (declared order).
    pub fn new(
        spec: &crate::protocol::Group,
        members: Vec<(String, Addr<AppSup>)>,
        parent: Recipient<Escalate>,
    ) -> GroupSup {
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

    /// The group's members' supervisors, declared order.
    fn addrs(&self) -> Vec<Addr<AppSup>> {
        self.members.iter().map(|(_, a)| a.clone()).collect()
    }
}

impl Actor for GroupSup {
    type Context = Context<Self>;
}

/// Send `op` to each of `addrs` in turn, each after the previous has answered; answers
/// the rows they answered.
async fn in_turn(addrs: Vec<Addr<AppSup>>, op: Op) -> Vec<ProcessInfo> {
    let mut rows = Vec::new();
    for a in addrs {
        if let Ok(mut r) = a
            .send(Command {
                op: op.clone(),
                instances: None,
                replace: None,
                ids: None,
            })
            .await
        {
            rows.append(&mut r);
        }
    }
    rows
}

/// A member's exit that its policy would restart: a failure of that child of the group.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct MemberFailed {
    /// The member app's name.
    pub member: String,
    /// Its own restart delay for this exit (its `delay`, or its backoff), ms.
    pub delay_ms: u64,
}

impl Handler<MemberFailed> for GroupSup {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, msg: MemberFailed, _: &mut Context<Self>) -> Self::Result {
        let Some(failed) = self.members.iter().position(|(n, _)| *n == msg.member) else {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        };
        let addr = self.members[failed].1.clone();
        // Failures queue behind a running sequence. A member that the sequence has restarted
        // meanwhile no longer waits for a decision: its failure was absorbed into that
        // restart (OTP drains a child's EXIT when it terminates it) and is not counted.
        let peek = async move {
            addr.send(Command {
                op: Op::Peek,
                instances: None,
                replace: None,
                ids: None,
            })
            .await
            .map(|rows| rows.iter().any(|r| r.status == Status::WaitingRestart))
            .unwrap_or(false)
        };
        AtomicResponse::new(Box::pin(peek.into_actor(self).then(
            move |waiting, act, _| -> Pin<Box<dyn ActorFuture<Self, Output = ()>>> {
                if !waiting {
                    return Box::pin(fut::ready(()));
                }
                Box::pin(act.decide(failed, msg.delay_ms).into_actor(act))
            },
        )))
    }
}

impl GroupSup {
    /// Member `failed` failed and waits: count it, then restart what the strategy says,
    /// or, over the intensity, stop every member and escalate. Answers the sequence.
    fn decide(&mut self, failed: usize, delay_ms: u64) -> Pin<Box<dyn Future<Output = ()>>> {
        let member = self.members[failed].0.clone();
        if self.escalated {
            // The group is down (escalated): a member started by hand since then and failing
            // again is left errored, not restarted.
            let addr = self.members[failed].1.clone();
            let reason = format!(
                "group {} is down after an escalation; `pmx restart {}` starts it again",
                self.name, self.name
            );
            return Box::pin(async move {
                in_turn(vec![addr.clone()], Op::Pause).await;
                in_turn(vec![addr], Op::MarkErrored(reason)).await;
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
                in_turn(rev, Op::Pause).await;
                parent.do_send(Escalate { group, reason });
            });
        }
        let affected = self.strategy.affected(self.members.len(), failed);
        let others_rev: Vec<Addr<AppSup>> = affected
            .clone()
            .rev()
            .filter(|j| *j != failed)
            .map(|j| self.members[j].1.clone())
            .collect();
        let starts: Vec<(Addr<AppSup>, Option<u64>)> = affected
            .map(|j| {
                let delay = (j == failed).then_some(delay_ms);
                (self.members[j].1.clone(), delay)
            })
            .collect();
        Box::pin(async move {
            in_turn(others_rev, Op::Pause).await;
            // In declared order: an immediate start is awaited (spawned before the next);
            // a delayed one is scheduled and the sequence goes on, so a stop never waits
            // out a restart delay (the failed member after its own delay or backoff; the
            // others after their `restart.delay`, which StartAfter(None) reads).
            for (addr, delay) in starts {
                let _ = addr
                    .send(Command {
                        op: Op::StartAfter(delay),
                        instances: None,
                        replace: None,
                        ids: None,
                    })
                    .await;
            }
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
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = Vec<ProcessInfo>>>> = match op {
            Op::Start => Box::pin(in_turn(forward, Op::Start)),
            Op::Stop => Box::pin(in_turn(reverse, Op::Stop)),
            Op::Restart => {
                self.window.clear();
                self.escalated = false;
                Box::pin(async move {
                    in_turn(reverse, Op::Stop).await;
                    in_turn(forward, Op::Restart).await
                })
            }
            Op::Delete => Box::pin(async move {
                in_turn(reverse.clone(), Op::Stop).await;
                in_turn(reverse, Op::Delete).await
            }),
            other => Box::pin(in_turn(forward, other)),
        };
        AtomicResponse::new(Box::pin(fut.into_actor(self)))
    }
}
