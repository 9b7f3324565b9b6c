//! `flush [target]` and `reloadLogs` (also SIGUSR2): empty or reopen the apps' log files.

use actix::prelude::*;

use crate::app::Logs;
use crate::root::{fail, to_value, Answer, Root};

impl Root {
    /// Empty the log files of the target's apps (every app's with no target); answers
    /// their rows once the files are empty.
    pub(in crate::root) fn flush(&mut self, target: Option<&str>) -> Answer {
        let sel = match self.reg.resolve(target.unwrap_or("all")) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let ops = sel
            .into_iter()
            .map(|(i, only)| (i, Logs::Flush(only)))
            .collect();
        self.logs(ops)
    }

    /// Reopen every app's log files (after an external logrotate moved them).
    pub(in crate::root) fn reload_logs(&mut self) -> Answer {
        let ops = (0..self.reg.apps().len())
            .map(|i| (i, Logs::Reopen))
            .collect();
        self.logs(ops)
    }

    /// Send each app its `Logs` operation; answers the apps' rows once every file is done.
    fn logs(&mut self, ops: Vec<(usize, Logs)>) -> Answer {
        let requests: Vec<_> = ops
            .into_iter()
            .map(|(i, op)| self.reg.apps()[i].handle.send(op))
            .collect();
        Box::pin(
            async move {
                let mut rows = Vec::new();
                for r in requests {
                    if let Ok(mut v) = r.await {
                        rows.append(&mut v);
                    }
                }
                to_value(&rows)
            }
            .into_actor(self),
        )
    }
}
