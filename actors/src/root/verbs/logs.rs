//! `flush [target]` and `reloadLogs` (also SIGUSR2): empty or reopen the apps' log files.
//! `flush` with no target also empties the daemon's own `pmx.log`, as PM2's empties
//! `pm2.log`.

use std::path::{Path, PathBuf};

use actix::prelude::*;

use crate::app::Logs;
use crate::root::{fail, to_json, Answer, Root};

impl Root {
    /// Empty the log files of the target's apps (every app's and `pmx.log` with no
    /// target); answers their rows once the files are empty.
    pub(in crate::root) fn flush(&mut self, target: Option<&str>) -> Answer {
        let sel = match self.reg.resolve(target.unwrap_or("all")) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let ops = sel
            .into_iter()
            .map(|(i, only)| (i, Logs::Flush(only)))
            .collect();
        let daemon_log = target.is_none().then(|| self.parts.home.log_file());
        self.logs(ops, daemon_log)
    }

    /// Reopen every app's log files (after an external logrotate moved them).
    pub(in crate::root) fn reload_logs(&mut self) -> Answer {
        let ops = (0..self.reg.apps().len())
            .map(|i| (i, Logs::Reopen))
            .collect();
        self.logs(ops, None)
    }

    /// Send each app its `Logs` operation, and empty `daemon_log` if given; answers the
    /// apps' rows once every file is done.
    fn logs(&mut self, ops: Vec<(usize, Logs)>, daemon_log: Option<PathBuf>) -> Answer {
        let requests: Vec<_> = ops
            .into_iter()
            .map(|(i, op)| self.reg.apps()[i].handle.send(op))
            .collect();
        let arbiter = self.parts.log_arbiter.clone();
        Box::pin(
            async move {
                let mut rows = Vec::new();
                for r in requests {
                    if let Ok(mut v) = r.await {
                        rows.append(&mut v);
                    }
                }
                if let Some(path) = daemon_log {
                    empty_daemon_log(&arbiter, path).await;
                }
                to_json(&rows)
            }
            .into_actor(self),
        )
    }
}

/// Empty `pmx.log` on the log arbiter (a truncation frees blocks: file work stays off
/// the supervision thread) and wait for it; a failure is logged, not answered, since the
/// apps' files are done.
async fn empty_daemon_log(arbiter: &ArbiterHandle, path: PathBuf) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = async move {
        let _ = tx.send(truncate(&path).map_err(|e| format!("{}: {e}", path.display())));
    };
    if !arbiter.spawn(job) {
        tracing::warn!("cannot empty pmx.log: the log arbiter is gone");
        return;
    }
    if let Ok(Err(e)) = rx.await {
        tracing::warn!("cannot empty {e}");
    }
}

/// Truncate the file at `path` to 0 bytes. pmx.log's writer holds it in append mode
/// (`daemon::run`), so its next line lands at offset 0: no hole of NUL bytes before it,
/// and a line being written during the truncation is either gone whole or first.
fn truncate(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .set_len(0)
}
