//! What an App supervisor shows of its instances: the rows of `list` (reported to the
//! Root), `describe`, and the log file names PM2 gives them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use actix::prelude::*;

use super::AppSup;
use crate::foreground::Outcome;
use crate::home::Home;
use crate::os;
use crate::protocol::{AppSpec, Description, ListenSocket, ProcessInfo, Status};
use crate::supervision::instance::Phase;

/// What the Root keeps of an instance for `list`: its row and when its process started.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row, `uptime` left to be computed from `started`.
    pub info: ProcessInfo,
    /// When the current process started (None when down).
    pub started: Option<Instant>,
    /// Whether it is alive or how it ended, for a foreground runtime (`pmx run`).
    pub outcome: Outcome,
    /// The instance's generation (each spawn takes a new one): two ends of one instance
    /// are told apart by it even when nobody looked in between.
    pub generation: u64,
}

/// `fsm`'s [`Outcome`]: a `stopped` instance stopped by hand (or never started) is
/// `Stopped`, one stopped after its own exit is `Ended` with that exit, `expected` when
/// its code is one of `stop_exit_codes`.
pub fn outcome_of(
    fsm: &crate::supervision::instance::Instance,
    stop_exit_codes: &[i32],
) -> Outcome {
    match fsm.phase {
        Phase::Errored => Outcome::Errored,
        Phase::Stopped => match fsm.last_exit {
            Some(exit) if !fsm.held => Outcome::Ended {
                code: exit.code,
                signal: exit.signal,
                expected: exit.code.is_some_and(|c| stop_exit_codes.contains(&c)),
            },
            _ => Outcome::Stopped,
        },
        Phase::Launching | Phase::Online | Phase::Stopping | Phase::WaitingRestart => {
            Outcome::Alive
        }
    }
}

/// Some of an App supervisor's rows changed: sent to the Root, which serves `list` from
/// them. Only the changed rows travel (the Root merges them by instance number), so an
/// app of N instances that all change state costs the Root N rows, not N × N.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Report {
    /// The app's name.
    pub app: String,
    /// How many instances the app has now (numbers 0..count): rows past it are gone.
    pub count: usize,
    /// The rows that changed since the last report (every row in the first report).
    pub rows: Vec<Row>,
}

/// `info` with `uptime` computed from `started`.
pub fn with_uptime(mut info: ProcessInfo, started: Option<Instant>) -> ProcessInfo {
    info.uptime = started.map(|s| s.elapsed().as_millis() as u64);
    info
}

/// The status word of a phase of the instance state machine.
pub fn status_of(p: Phase) -> Status {
    match p {
        Phase::Launching => Status::Launching,
        Phase::Online => Status::Online,
        Phase::Stopping => Status::Stopping,
        Phase::Stopped => Status::Stopped,
        Phase::WaitingRestart => Status::WaitingRestart,
        Phase::Errored => Status::Errored,
    }
}

/// The number of instances `instances` means on this machine: `Max` = the CPUs available,
/// `MaxMinus(k)` = CPUs − k, at least 1.
pub fn instance_count(i: &pmx_config::Instances) -> u32 {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    match i {
        pmx_config::Instances::Count(n) => (*n).max(1),
        pmx_config::Instances::Max => cpus,
        pmx_config::Instances::MaxMinus(k) => cpus.saturating_sub(*k).max(1),
    }
}

/// The log files of an app: (stdout file, stderr file, combined file), absolute. PM2's
/// names under `$PMX_HOME/logs` unless the spec sets them.
///
/// With several instances (`count` > 1) and no `merge`, each instance `instance` has its
/// own files: `-<instance>` goes before the extension (`<name>-out-1.log`,
/// `/var/log/api-1.log`), as PM2 does without `merge_logs`; `/dev/null` stays itself.
pub fn log_paths(
    home: &Home,
    spec: &AppSpec,
    instance: u32,
    count: usize,
) -> (PathBuf, PathBuf, Option<PathBuf>) {
    let logs = &spec.app.logs;
    let name = &spec.app.name;
    let out = logs
        .out_file
        .clone()
        .unwrap_or_else(|| home.logs().join(format!("{name}-out.log")));
    let err = logs
        .error_file
        .clone()
        .unwrap_or_else(|| home.logs().join(format!("{name}-error.log")));
    let combined = logs.log_file.clone();
    if count <= 1 || logs.merge {
        return (out, err, combined);
    }
    let own = |p: PathBuf| instance_path(p, instance);
    (own(out), own(err), combined.map(own))
}

/// `path` with `-<instance>` before its extension (`a/api.log` → `a/api-1.log`, `a/api` →
/// `a/api-1`); `/dev/null` unchanged.
fn instance_path(path: PathBuf, instance: u32) -> PathBuf {
    if path == Path::new("/dev/null") {
        return path;
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    let mut name = stem;
    name.push(format!("-{instance}"));
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

impl AppSup {
    /// The mode in force: `cluster` once the app's `listen` sockets are bound and lent
    /// to its instances, or for a Node app in cluster mode, whose instances are Node
    /// cluster workers with pmx as their primary (every port they listen on is shared,
    /// SPEC §6), else `fork` — several instances that share nothing run as independent
    /// forks, and `list` never shows a mode that is not so.
    fn mode(&self) -> &'static str {
        if self.listen.is_some() || !self.node_sockets.is_empty() || self.node_workers() {
            "cluster"
        } else {
            "fork"
        }
    }

    /// Every instance's row.
    pub fn rows(&self) -> Vec<Row> {
        self.rows_where(|_| true)
    }

    /// The rows of the slots `pick` selects.
    fn rows_where(&self, pick: impl Fn(&super::instances::Slot) -> bool) -> Vec<Row> {
        let mode = self.mode();
        let app = &self.parts.spec.app;
        self.slots
            .iter()
            .filter(|s| pick(s))
            .map(|s| Row {
                info: ProcessInfo {
                    id: s.id,
                    name: app.name.clone(),
                    instance: s.idx,
                    pid: s.fsm.pid,
                    status: status_of(s.fsm.phase),
                    restarts: s.fsm.restarts,
                    mode: mode.into(),
                    cpu: None,
                    memory: None,
                    uptime: None,
                    // Whom the app runs as, not the daemon's user.
                    user: app
                        .uid
                        .as_deref()
                        .map_or_else(|| self.parts.shared.user.clone(), super::spawn::shown_user),
                    // Only while the Watch actor watches for it (see `watching.rs`).
                    watching: self.watch.active,
                    namespace: app.namespace.clone(),
                    group: self.group.as_ref().map(|(g, _)| g.clone()),
                },
                started: s.fsm.started_ms.map(|ms| {
                    let at = self.instant_of(ms);
                    at.checked_sub(std::time::Duration::from_millis(s.age_before()))
                        .unwrap_or(at)
                }),
                outcome: outcome_of(&s.fsm, &app.stop_exit_codes),
                generation: s.fsm.generation,
            })
            .collect()
    }

    /// Every instance's row, uptime computed.
    pub(super) fn infos(&self) -> Vec<ProcessInfo> {
        self.rows()
            .into_iter()
            .map(|r| with_uptime(r.info, r.started))
            .collect()
    }

    /// The rows of the instance numbers in `only` (None: all).
    pub(super) fn infos_of(&self, only: &Option<Vec<u32>>) -> Vec<ProcessInfo> {
        self.infos()
            .into_iter()
            .filter(|r| only.as_ref().is_none_or(|l| l.contains(&r.instance)))
            .collect()
    }

    /// Send the changed rows to the Root (every row when `dirty`: something all rows
    /// show changed), not once its delete is done (the Root forgets the app then; while
    /// it runs, its instances show `stopping`). Called at the
    /// end of each handler, and before a command's reply, so that the reply never
    /// overtakes the report of its effect in the Root's mailbox.
    pub(super) fn report(&mut self) {
        let all = std::mem::take(&mut self.dirty);
        let any = all || self.slots.iter().any(|s| s.changed);
        if any && !self.deleted {
            let rows = self.rows_where(|s| all || s.changed);
            self.parts.shared.root.do_send(Report {
                app: self.parts.spec.app.name.clone(),
                count: self.slots.len(),
                rows,
            });
        }
        for s in &mut self.slots {
            s.changed = false;
        }
    }
}

/// Everything about some instances (`describe`).
#[derive(Message)]
#[rtype(result = "Vec<Description>")]
pub struct Describe {
    /// Which instance numbers (None: all).
    pub instances: Option<Vec<u32>>,
    /// Also each instance's whole environment (`pmx jlist`).
    pub env: bool,
}

impl Handler<Describe> for AppSup {
    type Result = MessageResult<Describe>;
    fn handle(&mut self, msg: Describe, _: &mut Context<Self>) -> Self::Result {
        // Described from the spec in force: the routes and rules are rebuilt whenever it
        // changes, so what is shown is what the next line and the next exit get.
        let spec = &self.parts.spec;
        let count = self.live();
        let rows = self.rows();
        let watch = self.watch_shown();
        let out = rows
            .into_iter()
            .zip(self.slots.iter().enumerate())
            .filter(|(_, (_, s))| msg.instances.as_ref().is_none_or(|l| l.contains(&s.idx)))
            .map(|(row, (slot, s))| {
                let (out, err, combined) = log_paths(&self.parts.shared.home, spec, s.idx, count);
                let files = self.log_files(&Some(vec![s.idx]));
                Description {
                    info: with_uptime(row.info, row.started),
                    script: spec.app.script.clone(),
                    program: spec.program.clone(),
                    args: spec.args.clone(),
                    interpreter_args: spec.app.interpreter_args.clone(),
                    app_args: spec.app.args.clone(),
                    interpreter: spec.app.interpreter.clone(),
                    cwd: spec.cwd.clone(),
                    out_log: out,
                    error_log: err,
                    log_file: combined,
                    log_utc_offset: chrono::Local::now().offset().local_minus_utc(),
                    log_date_format: spec
                        .app
                        .logs
                        .time
                        .then(|| spec.app.logs.date_format.clone()),
                    log_lost_lines: files.iter().map(|f| f.stats.lost()).sum(),
                    log_written_lines: files.iter().map(|f| f.stats.written()).sum(),
                    log_fault: files.iter().find_map(|f| f.stats.fault()),
                    policy: format!("{:?}", spec.app.restart.policy),
                    unstable_restarts: s.fsm.chain.unstable,
                    last_exit_code: s.fsm.last_exit.and_then(|e| e.code),
                    last_exit_signal: s.fsm.last_exit.and_then(|e| e.signal).map(os::signal_name),
                    source: spec.source.clone(),
                    created_at: self.created_at,
                    started_at: s
                        .fsm
                        .started_ms
                        .map(|ms| (self.created_at + ms).saturating_sub(s.age_before())),
                    kill_signal: spec.app.kill_signal.clone(),
                    kill_timeout: spec.app.kill_timeout_ms,
                    last_error: s.fsm.last_error.clone(),
                    wait_ready: self.ready_timeout_ms(),
                    group_strategy: None,
                    group_intensity: None,
                    group_restarts: None,
                    exec_mode: spec.app.exec_mode().as_str().into(),
                    listen: spec
                        .app
                        .listen
                        .iter()
                        .map(|address| ListenSocket {
                            address: address.clone(),
                            bound: self.listen.is_some(),
                        })
                        // And those bound at a Node worker's `listen()` (`cluster.rs`).
                        .chain(self.node_sockets.iter().map(|h| ListenSocket {
                            address: h.shown.clone(),
                            bound: true,
                        }))
                        .collect(),
                    instance_var: spec.app.instance_var.clone(),
                    increment_var: spec.app.increment_var.clone(),
                    increment_value: self.incremented(slot).map(|(_, v)| v),
                    max_memory_restart: spec.app.max_memory_restart,
                    last_restart_reason: s.fsm.last_restart.map(|r| r.as_str().to_string()),
                    cron_restart: spec.app.cron_restart.clone(),
                    cron_next: self.cron_next(),
                    watch_paths: watch.as_ref().map(|w| w.roots.clone()).unwrap_or_default(),
                    ignore_watch: spec.app.ignore_watch.clone(),
                    watch_delay: watch.as_ref().map(|w| w.delay_ms),
                    watch_error: self.watch.error.clone(),
                    last_watch_restart: self.watch.last.as_ref().map(|(t, _)| *t),
                    last_watch_path: self.watch.last.as_ref().map(|(_, p)| p.clone()),
                    last_watch_repeats: self.watch.repeats,
                    history: Vec::new(),
                    env: msg.env.then(|| self.env_for(slot)),
                    health: self.health_state(slot),
                    waiting_for: self.waiting_for.clone(),
                }
            })
            .collect();
        MessageResult(out)
    }
}

#[cfg(test)]
mod tests {
    use super::instance_path;
    use std::path::PathBuf;

    #[test]
    fn instance_files_get_the_instance_before_the_extension() {
        let cases = [
            ("/h/logs/api-out.log", "/h/logs/api-out-1.log"),
            ("/var/log/api", "/var/log/api-1"),
            ("/var/log/api.out.txt", "/var/log/api.out-1.txt"),
            ("/dev/null", "/dev/null"),
        ];
        for (path, want) in cases {
            assert_eq!(instance_path(PathBuf::from(path), 1), PathBuf::from(want));
        }
    }
}
