//! `env <id>`: the whole environment one instance got, `KEY=value` in full.

use actix::prelude::*;

use crate::app::EnvOf;
use crate::protocol::{ApiError, EnvReply, ErrorCode};
use crate::root::registry::not_found;
use crate::root::{answered, fail, gone, to_json, Answer, Root};

impl Root {
    /// The environment of the one instance `target` selects (an id, or an app's first
    /// instance). Errors: `bad_request` when it selects several apps.
    pub(in crate::root) fn env(&mut self, target: &str) -> Answer {
        let sel = match self.reg.resolve(target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        if sel.len() != 1 {
            return fail(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "env shows one process: \"{target}\" selects {} apps; give an id or a name",
                    sel.len()
                ),
            ));
        }
        let Some((i, instances)) = sel.into_iter().next() else {
            return fail(not_found(target));
        };
        let instance = instances.and_then(|v| v.first().copied()).unwrap_or(0);
        let app = &self.reg.apps()[i];
        let id = app.ids.get(instance as usize).copied().unwrap_or(0);
        let req = app.handle.send(EnvOf { instance });
        let target = target.to_string();
        Box::pin(
            async move {
                let env = answered(req.await).ok_or_else(|| gone(&target))?;
                to_json(&EnvReply { id, env })
            }
            .into_actor(self),
        )
    }
}
