//! The replies' result types (`list`, `describe`, `env`, `up`, `ping`, `hello`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `ping`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingReply {
    /// Always true.
    pub pong: bool,
    /// The daemon's pid.
    pub pid: u32,
    /// The daemon's pmx semver.
    pub version: String,
}

/// `update`'s answer, sent just before the daemon execs the new binary in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateReply {
    /// The daemon's pid: the same before and after (it execs in place).
    pub pid: u32,
    /// The running daemon's pmx semver.
    pub from: String,
    /// The new binary's pmx semver (as its `__handover` check answered).
    pub to: String,
}

/// The hello's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloReply {
    /// The daemon's protocol version.
    pub protocol_version: u32,
    /// The daemon's pmx semver.
    pub version: String,
}

/// One process (one instance) as `list` and `pmx list --json` show it (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Unique per instance, never reused while the daemon lives (PM2's `pm_id`).
    pub id: u64,
    /// The app's name.
    pub name: String,
    /// 0..N-1.
    pub instance: u32,
    /// The main process's pid; null when not running.
    pub pid: Option<u32>,
    /// PM2's status words: `launching`, `online`, `stopping`, `stopped`,
    /// `waiting restart`, `errored`.
    pub status: Status,
    /// Every restart of the process: crash, watch, cron, memory limit, restart, reload.
    pub restarts: u64,
    /// `"fork"` or `"cluster"`.
    pub mode: String,
    /// Percent of one core (100 = one core busy); null before the first sample.
    pub cpu: Option<f64>,
    /// Resident bytes of the process and its descendants; null before the first sample.
    pub memory: Option<u64>,
    /// Ms since the current process started; null when down.
    pub uptime: Option<u64>,
    /// The user the process runs as.
    pub user: String,
    /// Whether a watcher restarts it on file changes.
    pub watching: bool,
    /// The app's namespace.
    pub namespace: String,
    /// The supervision group it belongs to; null outside a group.
    pub group: Option<String>,
}

/// PM2's status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Spawned, waiting for readiness.
    #[serde(rename = "launching")]
    Launching,
    /// Running.
    #[serde(rename = "online")]
    Online,
    /// Stop asked; until the whole tree has exited.
    #[serde(rename = "stopping")]
    Stopping,
    /// Stopped by `stop`, or after an exit the policy does not restart.
    #[serde(rename = "stopped")]
    Stopped,
    /// During a restart delay.
    #[serde(rename = "waiting restart")]
    WaitingRestart,
    /// More than `max_restarts` unstable restarts, or reached by an escalation.
    #[serde(rename = "errored")]
    Errored,
}

impl Status {
    /// Every status, in lifecycle order (`/metrics` lists `pmx_process_status` so).
    pub const ALL: [Status; 6] = [
        Status::Launching,
        Status::Online,
        Status::Stopping,
        Status::Stopped,
        Status::WaitingRestart,
        Status::Errored,
    ];

    /// The word as PM2 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Launching => "launching",
            Status::Online => "online",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::WaitingRestart => "waiting restart",
            Status::Errored => "errored",
        }
    }
}

/// `describe`'s answer for one instance: its [`ProcessInfo`] and the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// The list row.
    #[serde(flatten)]
    pub info: ProcessInfo,
    /// The script as declared.
    pub script: String,
    /// The program exec'd.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The interpreter's own arguments (`interpreter_args`, PM2's `node_args`), apart.
    #[serde(default)]
    pub interpreter_args: Vec<String>,
    /// The app's own arguments (`args` as declared, what followed `--`), apart.
    #[serde(default)]
    pub app_args: Vec<String>,
    /// The interpreter as declared (`null`: by extension).
    pub interpreter: Option<String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// The stdout log file.
    pub out_log: PathBuf,
    /// The stderr log file.
    pub error_log: PathBuf,
    /// The combined log file, if any.
    pub log_file: Option<PathBuf>,
    /// Lines of this instance's log files that could not be written (disk full, a
    /// directory that cannot be created…) since the daemon opened them; 0 when none.
    pub log_lost_lines: u64,
    /// Lines written to this instance's log files since the daemon opened them (a file
    /// shared by several instances counts for each).
    #[serde(default)]
    pub log_written_lines: u64,
    /// With `time`: the strftime format of the `<timestamp>: ` prefix of each line in its
    /// log files (the app's `date_format`); null when lines are written verbatim.
    pub log_date_format: Option<String>,
    /// The daemon's UTC offset now, in seconds east of UTC: the zone of `time` prefixes
    /// whose format has no offset of its own (SPEC §7: the daemon's local time).
    pub log_utc_offset: i32,
    /// The write fault in effect on one of its log files (`cannot write <path>: <error>`);
    /// null when every file is writable.
    pub log_fault: Option<String>,
    /// The restart policy: `Always`, `OnFailure` or `Never`.
    pub policy: String,
    /// Unstable exits in a row so far.
    pub unstable_restarts: u32,
    /// The last exit's code, if it exited by code.
    pub last_exit_code: Option<i32>,
    /// The last exit's signal name, if a signal killed it.
    pub last_exit_signal: Option<String>,
    /// The ecosystem file it came from.
    pub source: Option<PathBuf>,
    /// Ms since the epoch when the app was created.
    pub created_at: u64,
    /// Ms since the epoch when the current process started (PM2's `pm_uptime`): the
    /// app's `created_at` plus the monotonic time since, so it does not move between
    /// requests; null when it is not running.
    #[serde(default)]
    pub started_at: Option<u64>,
    /// The stop signal (`SIGINT`).
    pub kill_signal: String,
    /// Ms between the stop signal and SIGKILL.
    pub kill_timeout: u64,
    /// Why the last spawn failed (`cannot exec …: Permission denied`), until one succeeds.
    pub last_error: Option<String>,
    /// The readiness mode: with `wait_ready` (or a `ready: true` health check), the
    /// `listen_timeout` in ms (a spawned process is `launching` until it says READY, its
    /// health check first passes, or this passes); absent: `online` once spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ready: Option<u64>,
    /// The group's strategy (`OneForOne`, …); null outside a group.
    #[serde(default)]
    pub group_strategy: Option<String>,
    /// The group's intensity (`max 1 within 5000 ms`); null outside a group.
    #[serde(default)]
    pub group_intensity: Option<String>,
    /// The group's restarts within its intensity window now; null outside a group.
    #[serde(default)]
    pub group_restarts: Option<u64>,
    /// How the app's instances run, as declared or by default (SPEC §6): `cluster` or
    /// `fork`. The row's `mode` says `cluster` only once they share sockets.
    #[serde(default)]
    pub exec_mode: String,
    /// The app's `listen` sockets, each with whether pmx holds it bound now, then the
    /// sockets pmx bound at a Node cluster worker's `listen()` (always bound).
    #[serde(default)]
    pub listen: Vec<ListenSocket>,
    /// The variable that holds the instance number (`NODE_APP_INSTANCE`).
    #[serde(default)]
    pub instance_var: String,
    /// The app's `increment_var`, if any.
    #[serde(default)]
    pub increment_var: Option<String>,
    /// What this instance gets in `increment_var` (the base + its number); null without one.
    #[serde(default)]
    pub increment_value: Option<String>,
    /// `max_memory_restart` in bytes (SPEC §4); null without a limit.
    #[serde(default)]
    pub max_memory_restart: Option<u64>,
    /// Why the instance was last restarted (`restart`, `exited`, `group`, `memory`,
    /// `cron`); null when it never was.
    #[serde(default)]
    pub last_restart_reason: Option<String>,
    /// `cron_restart`'s pattern (SPEC §4); null without one.
    #[serde(default)]
    pub cron_restart: Option<String>,
    /// The next time `cron_restart` fires, with its zone (`2026-12-06 16:30:00 +00:00
    /// (local)`); null without a pattern.
    #[serde(default)]
    pub cron_next: Option<String>,
    /// The paths `watch` watches, absolute (the app's cwd for `watch: true`); empty when
    /// `watch` is off.
    #[serde(default)]
    pub watch_paths: Vec<PathBuf>,
    /// `ignore_watch`'s globs (PM2's `node_modules` and `.git`, and pmx's own log files,
    /// are ignored besides).
    #[serde(default)]
    pub ignore_watch: Vec<String>,
    /// `watch_delay` in ms: the quiet a burst of changes waits for; null when `watch` is
    /// off.
    #[serde(default)]
    pub watch_delay: Option<u64>,
    /// Why the app is not watched though `watch` is on (an inotify limit, naming the
    /// sysctl to raise), or which watched paths do not exist (each is watched once it
    /// appears; `info.watching` says whether another one is watched meanwhile); null
    /// otherwise.
    #[serde(default)]
    pub watch_error: Option<String>,
    /// When a file change last restarted the app (ms since the epoch); null when none did.
    #[serde(default)]
    pub last_watch_restart: Option<u64>,
    /// The file whose change caused `last_watch_restart`.
    #[serde(default)]
    pub last_watch_path: Option<PathBuf>,
    /// How many watch restarts in a row that same file caused (absent: fewer than 2). An
    /// app that writes a file in its own watched tree restarts forever (PM2 too):
    /// `describe` names the file once this reaches [`WATCH_LOOP`].
    #[serde(default, skip_serializing_if = "is_below_two")]
    pub last_watch_repeats: u32,
    /// The last minute of cpu and memory samples, oldest first (one a second while
    /// someone watches or a memory limit is set); empty before the first.
    #[serde(default)]
    pub history: Vec<MetricPoint>,
    /// The whole environment the instance was started with (as `env` answers it), only
    /// when the request asked for it (`"env":true`, what `pmx jlist` sends); absent else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// The app's health check and this instance's last probe (SPEC §5); absent without
    /// `health` (no probe runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthState>,
    /// While its group starts (SPEC §5: each member online before the next), what this
    /// instance waits for: `waiting for <member> to be online`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
}

/// `describe`'s view of an instance's health check (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    /// The probe as declared: `http http://127.0.0.1:3000/health`, `tcp 127.0.0.1:3000`,
    /// `exec check.sh --fast`.
    pub probe: String,
    /// ms between the end of a probe and the next.
    pub interval: u64,
    /// ms a probe may take.
    pub timeout: u64,
    /// Consecutive failures of an online instance that make it a failure.
    pub failures: u32,
    /// Whether the first pass makes a launching instance online (readiness).
    pub ready: bool,
    /// The last probe's result, `pass` or `fail`; null before the first.
    pub last_result: Option<String>,
    /// Why the last probe failed (`HTTP 503`, `connection refused`, `timed out after
    /// 3000 ms`, `exit 1`), or what passed (`HTTP 200`, `connected`, `exit 0`); null before
    /// the first.
    pub last_detail: Option<String>,
    /// When the last probe ended, ms since the Unix epoch; null before the first.
    pub last_at: Option<u64>,
    /// Failures in a row while online (reset by a pass and by a new process).
    pub consecutive_failures: u32,
}

/// `host`'s answer: the machine's cpu and memory (PM2's host line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReply {
    /// Percent of all cpus busy (100 = every cpu busy) since the daemon's previous reading
    /// (a sample or a `host` request at least half a second earlier); null at the first.
    pub cpu: Option<f64>,
    /// Online cpus.
    pub cpus: u32,
    /// Bytes of memory in use (total less available).
    pub memory_used: u64,
    /// Bytes of memory.
    pub memory_total: u64,
}

/// One sample of an instance's tree in `describe`'s `history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// When, ms since the epoch.
    pub time: u64,
    /// Percent of one core since the previous sample; null at the first.
    pub cpu: Option<f64>,
    /// Resident bytes of the tree.
    pub memory: u64,
}

/// One of an app's `listen` sockets, as `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenSocket {
    /// As declared: `tcp://host:port` or `unix:/path`.
    pub address: String,
    /// pmx holds it bound (from the app's first spawn until the app goes or its `listen`
    /// changes); false before.
    pub bound: bool,
}

/// `env`'s answer: the environment one instance got, every value in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvReply {
    /// The instance's id.
    pub id: u64,
    /// `KEY` → value, sorted by key.
    pub env: BTreeMap<String, String>,
}

/// One line of `up`'s plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanLine {
    /// The app's name.
    pub name: String,
    /// What happens to it.
    pub action: PlanAction,
    /// For `reload`: what changed (`env.PORT`, `args`).
    #[serde(default)]
    pub changes: Vec<String>,
    /// The line is about a supervision group, not an app (absent when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group: bool,
}

/// What `up` does to one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// New: started.
    Start,
    /// Changed: reloaded (or restarted).
    Reload,
    /// Changed, `startOrRestart`: restarted.
    Restart,
    /// Only `instances` changed: grown (the next instance numbers start) or shrunk (the
    /// highest stop), the other instances left running, as `pmx scale` does.
    Scale,
    /// Changed while down and declared `autostart: false`: takes its new spec and stays
    /// stopped (a reload would start an app the file says not to start).
    Update,
    /// Same as running: left alone.
    Unchanged,
    /// Not in the file any more, `--prune`: deleted (a group: dissolved, its apps stay).
    Delete,
    /// A group whose membership, order, strategy or intensity changed: its members
    /// stopped in reverse order and started again under the new group.
    Rebuild,
}

/// `up`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpReply {
    /// One line per app.
    pub plan: Vec<PlanLine>,
    /// The rows touched (empty with `dry_run`).
    pub processes: Vec<ProcessInfo>,
}

/// `save`'s answer: where the list went and how much it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaveReply {
    /// The file written (`$PMX_HOME/dump.ron`).
    pub file: PathBuf,
    /// Apps saved.
    pub apps: usize,
    /// Instances saved, over every app.
    pub instances: usize,
}

/// `resurrect`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResurrectReply {
    /// The file the list was read from: `dump.ron`, or `dump.ron.bak` when `dump.ron`
    /// is missing or damaged.
    pub file: PathBuf,
    /// What the client should show as warnings (the fallback to `dump.ron.bak` and why,
    /// a saved app or group that could not be restored and why).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The saved apps left alone because an app of that name is already registered.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// The rows of the apps restored, by id.
    pub processes: Vec<ProcessInfo>,
}

/// `saved`'s answer: does `dump.ron` hold the running set?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedReply {
    /// A readable saved list exists (`dump.ron`, or `dump.ron.bak` when `dump.ron` is
    /// missing or damaged).
    pub dump: bool,
    /// The running set (each app's spec, every environment layer, its instances'
    /// statuses as saved: running, stopped or errored, and the groups) is the saved one.
    /// Without a dump: true when no app is registered.
    pub synchronized: bool,
}

/// Watch restarts in a row by one file from which `describe` and the daemon's log say it
/// looks like a loop (the app writing a file it watches).
pub const WATCH_LOOP: u32 = 5;

fn is_below_two(n: &u32) -> bool {
    *n < 2
}
