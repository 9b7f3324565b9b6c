//! `signal <SIG> <target>`: a signal to the main process of the target's instances
//! (PM2's `sendSignal`).

use actix::prelude::*;

use crate::app::SignalInstances;
use crate::os;
use crate::protocol::{ApiError, ErrorCode};
use crate::root::{answered, fail, gone, to_json, Answer, Root};

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
        let asked = requests.len();
        let target = target.to_string();
        Box::pin(
            async move {
                // An app deleted meanwhile is left out; all of them: `not_found`.
                let mut rows = Vec::new();
                let mut reached = 0;
                for r in requests {
                    match answered(r.await) {
                        Some(Ok(mut v)) => rows.append(&mut v),
                        Some(Err(Some(e))) => return Err(ApiError::new(ErrorCode::Conflict, e)),
                        // Being deleted, or gone.
                        Some(Err(None)) | None => continue,
                    }
                    reached += 1;
                }
                if reached == 0 && asked > 0 {
                    return Err(gone(&target));
                }
                to_json(&rows)
            }
            .into_actor(self),
        )
    }
}
