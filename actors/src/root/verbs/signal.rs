//! `signal <SIG> <target>`: a signal to the main process of the target's instances
//! (PM2's `sendSignal`).

use actix::prelude::*;

use crate::app::SignalInstances;
use crate::os;
use crate::protocol::{ApiError, ErrorCode};
use crate::root::{fail, internal, to_json, Answer, Root};

impl Root {
    /// Send `signal` (a name, `SIGUSR1` or `USR1`) to the target's running instances;
    /// answers their rows. Errors: `bad_request` for an unknown signal, `conflict` when
    /// an instance is not running.
    pub(in crate::root) fn signal(&mut self, signal: &str, target: &str) -> Answer {
        let sig = match os::signal_from_name(signal) {
            Ok(s) => s,
            Err(e) => return fail(ApiError::new(ErrorCode::BadRequest, e)),
        };
        let sel = match self.reg.resolve(target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let requests: Vec<_> = sel
            .into_iter()
            .map(|(i, instances)| {
                self.reg.apps()[i].handle.send(SignalInstances {
                    signal: sig,
                    instances,
                })
            })
            .collect();
        Box::pin(
            async move {
                let mut rows = Vec::new();
                for r in requests {
                    match r.await.map_err(internal)? {
                        Ok(mut v) => rows.append(&mut v),
                        Err(e) => return Err(ApiError::new(ErrorCode::Conflict, e)),
                    }
                }
                to_json(&rows)
            }
            .into_actor(self),
        )
    }
}
