//! Interim: the App supervisor hears `Ready` (a Node app's `process.send('ready')`) and
//! only logs it. Helper "core" writes the real handler (the readiness state machine);
//! this file goes at the merge.

use actix::prelude::*;

use super::AppSup;
use crate::messages::Ready;

impl Handler<Ready> for AppSup {
    type Result = ();
    fn handle(&mut self, msg: Ready, _: &mut Context<Self>) {
        tracing::debug!(
            "app {}: instance key {} generation {} is ready",
            self.name(),
            msg.instance,
            msg.generation
        );
    }
}
