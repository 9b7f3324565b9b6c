//! What an App supervisor answers about its instances beyond their rows: signals sent to
//! them, the environment they got, why their spawn failed.

use std::collections::BTreeMap;

use actix::prelude::*;
use nix::sys::signal::Signal;

use super::{rows, AppSup};
use crate::protocol::{ProcessInfo, Status};

/// Send a signal to the main process of some instances. Errors: `Err(Some(why))` when
/// no selected instance runs or a signal could not be sent; `Err(None)` when the app is
/// being deleted (the Root answers `not_found`, as once it is gone).
#[derive(Message)]
#[rtype(result = "Result<Vec<ProcessInfo>, Option<String>>")]
pub struct SignalInstances {
    /// The signal.
    pub signal: Signal,
    /// Which instance numbers (None: all).
    pub instances: Option<Vec<u32>>,
}

impl Handler<SignalInstances> for AppSup {
    type Result = ResponseActFuture<Self, Result<Vec<ProcessInfo>, Option<String>>>;
    fn handle(&mut self, msg: SignalInstances, _: &mut Context<Self>) -> Self::Result {
        if self.deleting {
            return Box::pin(fut::ready(Err(None)));
        }
        // Only running instances are signalled; none running is the error.
        let sends: Vec<_> = self
            .slots
            .iter()
            .filter(|s| msg.instances.as_ref().is_none_or(|l| l.contains(&s.idx)))
            .filter(|s| s.fsm.pid.is_some())
            .filter_map(|s| s.port(s.fsm.generation).map(|p| p.signal(msg.signal)))
            .collect();
        if sends.is_empty() {
            let name = self.name().to_string();
            return Box::pin(fut::ready(Err(Some(format!(
                "{name} has no running process to signal"
            )))));
        }
        Box::pin(
            async move {
                let mut errors = Vec::new();
                for s in sends {
                    if let Err(e) = s.await {
                        errors.push(e);
                    }
                }
                errors
            }
            .into_actor(self)
            .map(|errors, act, _| {
                if errors.is_empty() {
                    Ok(act.infos())
                } else {
                    Err(Some(errors.join("; ")))
                }
            }),
        )
    }
}

/// The environment instance `instance` got at its last spawn (`pmx env`).
#[derive(Message)]
#[rtype(result = "BTreeMap<String, String>")]
pub struct EnvOf {
    /// The instance number.
    pub instance: u32,
}

impl Handler<EnvOf> for AppSup {
    type Result = MessageResult<EnvOf>;
    fn handle(&mut self, msg: EnvOf, _: &mut Context<Self>) -> Self::Result {
        // The environment is rebuilt from the stored layers rather than kept per instance:
        // it is what the last spawn got, as long as the spec has not been replaced since.
        let env = match self.index_of(msg.instance) {
            Some(i) => self.env_for(i),
            None => BTreeMap::new(),
        };
        MessageResult(env)
    }
}

/// Why instances could not be spawned (their last spawn failed): one message each.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct SpawnErrors;

impl Handler<SpawnErrors> for AppSup {
    type Result = MessageResult<SpawnErrors>;
    fn handle(&mut self, _: SpawnErrors, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.slots
                .iter()
                .filter(|s| rows::status_of(s.fsm.phase) == Status::Errored)
                .filter_map(|s| s.fsm.last_error.clone())
                .collect(),
        )
    }
}
