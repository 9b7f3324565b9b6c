//! An app's log routes: which files each instance's stdout and stderr go to, with which
//! `time` prefix. Built when the app starts and rebuilt whenever a changed spec changes
//! them (files, `time`, `date_format`, `merge`, rotation, the instance count); each
//! spawn takes the routes in force, so a process spawned after `up` writes where the new
//! spec says, and `describe` never shows a file that is not written.

use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;

use super::rows::log_paths;
use super::AppSup;
use crate::log::{LogHandle, Owner, PumpTarget};
use crate::process::Routes;
use crate::protocol::{AppSpec, ProcessInfo};

/// Whether two specs route logs alike (so the routes built for one serve the other).
pub(super) fn same_logs(a: &AppSpec, b: &AppSpec) -> bool {
    a.app.logs == b.app.logs && a.app.name == b.app.name
}

impl AppSup {
    /// Build the routes of every slot from the spec in force: one file actor per distinct
    /// path (instances share them under `merge`). `reuse`: the logs settings are those the
    /// current routes were built with, for this instance count; a file already open at a
    /// path still wanted is kept (a second Sink on one file would count its size apart).
    pub(super) fn build_routes(&mut self, reuse: Option<usize>) {
        let opened = self.open_files(reuse);
        self.build_routes_from(opened);
    }

    /// The files the current routes hold, by the path each was opened for, when the logs
    /// settings are those they were built with for `reuse` instances (None: none kept).
    pub(super) fn open_files(&self, reuse: Option<usize>) -> Vec<(PathBuf, LogHandle)> {
        let spec = self.parts.spec.clone();
        let mut opened: Vec<(PathBuf, LogHandle)> = Vec::new();
        if let Some(old_count) = reuse {
            for s in &self.slots {
                let Some(r) = &s.routes else { continue };
                let (out, err, combined) =
                    log_paths(&self.parts.shared.home, &spec, s.idx, old_count);
                let (Some(o), Some(e)) = (r.out.files.first(), r.err.files.first()) else {
                    continue;
                };
                // A combined file is the stream's second file, or its own when named alike.
                let c = r.out.files.get(1).unwrap_or(o);
                let wanted = [(out, o), (err, e)]
                    .into_iter()
                    .chain(combined.map(|path| (path, c)));
                for (path, h) in wanted {
                    if !opened.iter().any(|(p, _)| *p == path) {
                        opened.push((path, h.clone()));
                    }
                }
            }
        }
        opened
    }

    /// Build the routes of every slot from the spec in force, keeping the files of
    /// `opened` (path, file) where a path is still wanted.
    pub(super) fn build_routes_from(&mut self, mut opened: Vec<(PathBuf, LogHandle)>) {
        let spec = self.parts.spec.clone();
        let logs = &spec.app.logs;
        let owner = Owner {
            app: spec.app.name.clone(),
            bus: Some(self.parts.shared.bus.clone()),
            first_id: self.slots.first().map(|s| s.id).unwrap_or(0),
        };
        let arbiter = self.parts.shared.log_arbiter.clone();
        let mut open = |path: PathBuf| -> LogHandle {
            if let Some((_, h)) = opened.iter().find(|(p, _)| *p == path) {
                return h.clone();
            }
            let h = LogHandle::start(&arbiter, path.clone(), logs.rotate, owner.clone());
            opened.push((path, h.clone()));
            h
        };
        let count = self.live();
        let time_format = logs.time.then(|| logs.date_format.clone());
        for s in &mut self.slots {
            let (out_path, err_path, combined) =
                log_paths(&self.parts.shared.home, &spec, s.idx, count);
            let shared_err_out = out_path == err_path;
            let out_file = open(out_path);
            let err_file = open(err_path);
            let combined_file = combined.map(&mut open);
            let shared = combined_file.is_some() || shared_err_out || (count > 1 && logs.merge);
            let target = |file: &LogHandle, stream: &'static str| PumpTarget {
                // A log_file named like a stream's own file gets each line once.
                files: std::iter::once(file.clone())
                    .chain(combined_file.clone().filter(|c| c != file))
                    .collect(),
                shared,
                time_format: time_format.clone(),
                json: logs.format == pmx_config::LogFormat::Json,
                app: spec.app.name.clone(),
                id: s.id,
                stream,
                events: Some((
                    self.parts.shared.bus.clone(),
                    self.parts.shared.bus_flags.clone(),
                )),
                console: self.parts.shared.console.clone(),
            };
            s.routes = Some(Arc::new(Routes {
                out: Arc::new(target(&out_file, "out")),
                err: Arc::new(target(&err_file, "err")),
            }));
        }
    }

    /// The distinct log files of the instances numbered in `only` (None: all): a file
    /// shared by streams or instances once.
    pub(super) fn log_files(&self, only: &Option<Vec<u32>>) -> Vec<&LogHandle> {
        let mut files: Vec<&LogHandle> = Vec::new();
        let routes = self
            .slots
            .iter()
            .filter(|s| only.as_ref().is_none_or(|l| l.contains(&s.idx)))
            .filter_map(|s| s.routes.as_deref());
        for r in routes {
            for f in r.out.files.iter().chain(r.err.files.iter()) {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
        files
    }
}

/// What to do to the log files of the app; answers the rows of the instances concerned.
#[derive(Message, Clone)]
#[rtype(result = "Vec<ProcessInfo>")]
pub enum Logs {
    /// Empty the files of these instance numbers (None: all) (`pmx flush`); a file
    /// shared under `merge` is emptied for all.
    Flush(Option<Vec<u32>>),
    /// Reopen every file (`pmx reloadLogs`, SIGUSR2).
    Reopen,
}

impl Handler<Logs> for AppSup {
    type Result = ResponseActFuture<Self, Vec<ProcessInfo>>;
    fn handle(&mut self, msg: Logs, _: &mut Context<Self>) -> Self::Result {
        let only = match &msg {
            Logs::Flush(only) => only.clone(),
            Logs::Reopen => None,
        };
        let files: Vec<LogHandle> = self.log_files(&only).into_iter().cloned().collect();
        Box::pin(
            async move {
                for f in files {
                    match msg {
                        Logs::Flush(_) => f.truncate().await,
                        Logs::Reopen => f.reopen().await,
                    }
                }
            }
            .into_actor(self)
            .map(move |(), act, _| act.infos_of(&only)),
        )
    }
}
