//! The typed model of an ecosystem file (SPEC §4), with every default filled in.
//! Durations are milliseconds (`_ms` fields), sizes are bytes, paths are absolute.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// Default `instance_var`: the variable holding the instance number (PM2's name).
pub const DEFAULT_INSTANCE_VAR: &str = "NODE_APP_INSTANCE";
/// Default `namespace` (PM2's).
pub const DEFAULT_NAMESPACE: &str = "default";
/// Default `kill_signal` (PM2's).
pub const DEFAULT_KILL_SIGNAL: &str = "SIGINT";
/// Default `kill_timeout`, ms (PM2's 1600 ms).
pub const DEFAULT_KILL_TIMEOUT_MS: u64 = 1600;
/// Default `listen_timeout`, ms (PM2's 3000 ms).
pub const DEFAULT_LISTEN_TIMEOUT_MS: u64 = 3000;
/// Default `watch_delay`, ms: how long the tree must be quiet before a watch restart.
pub const DEFAULT_WATCH_DELAY_MS: u64 = 500;
/// Default `restart.min_uptime`, ms (PM2's 1 s): an exit sooner is unstable.
pub const DEFAULT_MIN_UPTIME_MS: u64 = 1000;
/// Default `restart.max_restarts` (PM2's 16 unstable restarts in a row).
pub const DEFAULT_MAX_RESTARTS: u32 = 16;
/// Default `logs.date_format` (strftime).
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";
/// Default `logs.rotate.keep`: rotated files kept.
pub const DEFAULT_ROTATE_KEEP: u32 = 5;
/// Default `health.interval`, ms: the wait between the end of a probe and the next
/// (Kubernetes' `periodSeconds`, 10 s).
pub const DEFAULT_HEALTH_INTERVAL_MS: u64 = 10_000;
/// Default `health.timeout`, ms: a probe not answered by then fails.
pub const DEFAULT_HEALTH_TIMEOUT_MS: u64 = 3_000;
/// Default `health.failures`: consecutive failures that make an `online` instance a
/// failure (Kubernetes' `failureThreshold`, 3).
pub const DEFAULT_HEALTH_FAILURES: u32 = 3;

/// A whole ecosystem file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ecosystem {
    /// The file, absolute (what `pmx up --prune` compares apps' origin by).
    pub file: PathBuf,
    /// The file's directory, absolute: every relative path in the file resolves against it.
    pub dir: PathBuf,
    /// The apps, in file order.
    pub apps: Vec<App>,
    /// The groups (default: none).
    pub groups: Vec<Group>,
    /// Deploy targets by name (`"production"`), PM2's `deploy` section (default: none).
    pub deploy: BTreeMap<String, Deploy>,
}

impl Ecosystem {
    /// Every name some app defines in `envs` (for `--env NAME` checks).
    pub fn env_names(&self) -> BTreeSet<String> {
        self.apps
            .iter()
            .flat_map(|a| a.envs.keys().cloned())
            .collect()
    }

    /// The app named `name`.
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The group that holds the app named `app`, if any (an app is in at most one group).
    pub fn group_of(&self, app: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.apps.iter().any(|a| a == app))
    }
}

/// One app (`App(…)`): a program and how to run and supervise it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// The app's name (SPEC §3 "Names"). Required in a file.
    pub name: String,
    /// The script, command or file as written (the CLI resolves it against `dir`, SPEC §3
    /// "start target"). Required in a file.
    pub script: String,
    /// Absolute directory that relative paths resolve against (the file's directory).
    pub dir: PathBuf,
    /// Arguments for the app (default none).
    pub args: Vec<String>,
    /// Working directory, absolute when given; `None` = `dir` for a file, the caller's for a script.
    pub cwd: Option<PathBuf>,
    /// Interpreter; `None` = by extension (SPEC §3), `Some("none")` = exec the script.
    pub interpreter: Option<String>,
    /// Arguments for the interpreter (PM2's `node_args`/`interpreter_args`; default none).
    pub interpreter_args: Vec<String>,
    /// How many instances (default `Count(1)`); more than one, or `listen`, is cluster mode.
    pub instances: Instances,
    /// The variable that holds the instance number (default `"NODE_APP_INSTANCE"`).
    pub instance_var: String,
    /// How the instances run (SPEC §6); `None` (the default): Cluster when `instances`
    /// is more than one or `listen` is set, else Fork (see [`App::exec_mode`]).
    pub exec_mode: Option<ExecMode>,
    /// A variable instance k gets as its base value + k (PM2's `increment_var`: the base
    /// from the app's environment, 0 when unset or not an integer); default none.
    pub increment_var: Option<String>,
    /// Sockets pmx binds and shares with every instance: `tcp://host:port` or `unix:/path`.
    pub listen: Vec<String>,
    /// Environment laid over the inherited one and `env_file` (numbers and booleans written
    /// in the file are already strings here). `Debug` shows the keys only.
    pub env: BTreeMap<String, String>,
    /// Named environments laid over `env` by `--env NAME`. `Debug` shows the keys only.
    pub envs: BTreeMap<String, BTreeMap<String, String>>,
    /// A dotenv file read at start (absolute); default none.
    pub env_file: Option<PathBuf>,
    /// Start with the file (default `true`); `false` registers the app stopped.
    pub autostart: bool,
    /// Namespace, also a target (default `"default"`, as in PM2).
    pub namespace: String,
    /// User to run as (root only); default none.
    pub uid: Option<String>,
    /// Group to run as (root only); default none.
    pub gid: Option<String>,
    /// Process-level restart policy (PM2's rules).
    pub restart: Restart,
    /// Supervision strategy over this app's instances (default `OneForOne`).
    pub strategy: Strategy,
    /// Restart intensity of this app's supervisor (default none: `max_restarts` governs).
    pub intensity: Option<Intensity>,
    /// Exit codes never restarted, whatever the policy (PM2's `stop_exit_codes`; default none).
    pub stop_exit_codes: Vec<i32>,
    /// Signal that asks the app to stop, canonical (`"SIGINT"`, the default).
    pub kill_signal: String,
    /// ms between `kill_signal` and SIGKILL (default 1600, PM2's).
    pub kill_timeout_ms: u64,
    /// Stop a Node app by sending it the IPC message `'shutdown'` (`process.on('message')`)
    /// instead of `kill_signal`; SIGKILL still follows after `kill_timeout` (PM2's
    /// `shutdown_with_message`; default `false`). Only a Node app has the channel: the
    /// daemon refuses the field for any other program.
    pub shutdown_with_message: bool,
    /// Wait for READY=1 / `process.send('ready')` before `online` (default `false`).
    pub wait_ready: bool,
    /// ms to wait for readiness before `online` anyway (default 3000, PM2's).
    pub listen_timeout_ms: u64,
    /// Restart when the process tree's resident memory passes this many bytes; default none.
    pub max_memory_restart: Option<u64>,
    /// Cron pattern that restarts the app (5 fields, or 6 with seconds first); default none.
    pub cron_restart: Option<String>,
    /// The IANA zone (`Asia/Tokyo`, `UTC`) `cron_restart`'s times are read in; default
    /// none: the daemon's local zone.
    #[serde(default)]
    pub cron_timezone: Option<String>,
    /// A health check run on every instance (SPEC §4, §5); default none: no probe, no
    /// timer. Absent in a serialized app means none (a client older than the field).
    #[serde(default)]
    pub health: Option<Health>,
    /// Restart on file changes (default `Off`).
    pub watch: Watch,
    /// Globs ignored by the watcher (SPEC §4); default none.
    pub ignore_watch: Vec<String>,
    /// ms of quiet before a watch restart (default 500).
    pub watch_delay_ms: u64,
    /// Log files and their format.
    pub logs: Logs,
    /// Line of `App(` in the file (0 for apps not from a file).
    pub line: usize,
}

impl App {
    /// An app with every field but `name`, `script` and `dir` at its SPEC default (used by
    /// `pmx start script` before applying CLI flags).
    pub fn new(name: String, script: String, dir: PathBuf) -> App {
        App {
            name,
            script,
            dir,
            args: Vec::new(),
            cwd: None,
            interpreter: None,
            interpreter_args: Vec::new(),
            instances: Instances::default(),
            instance_var: DEFAULT_INSTANCE_VAR.to_string(),
            exec_mode: None,
            increment_var: None,
            listen: Vec::new(),
            env: BTreeMap::new(),
            envs: BTreeMap::new(),
            env_file: None,
            autostart: true,
            namespace: DEFAULT_NAMESPACE.to_string(),
            uid: None,
            gid: None,
            restart: Restart::default(),
            strategy: Strategy::default(),
            intensity: None,
            stop_exit_codes: Vec::new(),
            kill_signal: DEFAULT_KILL_SIGNAL.to_string(),
            kill_timeout_ms: DEFAULT_KILL_TIMEOUT_MS,
            shutdown_with_message: false,
            wait_ready: false,
            listen_timeout_ms: DEFAULT_LISTEN_TIMEOUT_MS,
            max_memory_restart: None,
            cron_restart: None,
            cron_timezone: None,
            health: None,
            watch: Watch::default(),
            ignore_watch: Vec::new(),
            watch_delay_ms: DEFAULT_WATCH_DELAY_MS,
            logs: Logs::default(),
            line: 0,
        }
    }

    /// True in cluster mode: see [`App::exec_mode`].
    pub fn is_cluster(&self) -> bool {
        self.exec_mode() == ExecMode::Cluster
    }

    /// The mode in force: the declared `exec_mode`, else Cluster when there is more than
    /// one instance (or `Max`/`MaxMinus`) or `listen` is set, else Fork (SPEC §4).
    pub fn exec_mode(&self) -> ExecMode {
        self.exec_mode
            .unwrap_or_else(|| ExecMode::default_for(&self.instances, &self.listen))
    }
}

/// Keys only: env values may be secrets, and a `Debug` print can reach a log.
struct Keys<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl fmt::Debug for App {
    /// Every field, but `env` and `envs` show their keys only (secrets never reach a log).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let envs: BTreeMap<&String, Keys<'_>> =
            self.envs.iter().map(|(k, v)| (k, Keys(v))).collect();
        f.debug_struct("App")
            .field("name", &self.name)
            .field("script", &self.script)
            .field("dir", &self.dir)
            .field("args", &self.args)
            .field("cwd", &self.cwd)
            .field("interpreter", &self.interpreter)
            .field("interpreter_args", &self.interpreter_args)
            .field("instances", &self.instances)
            .field("instance_var", &self.instance_var)
            .field("exec_mode", &self.exec_mode)
            .field("increment_var", &self.increment_var)
            .field("listen", &self.listen)
            .field("env", &Keys(&self.env))
            .field("envs", &envs)
            .field("env_file", &self.env_file)
            .field("autostart", &self.autostart)
            .field("namespace", &self.namespace)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("restart", &self.restart)
            .field("strategy", &self.strategy)
            .field("intensity", &self.intensity)
            .field("stop_exit_codes", &self.stop_exit_codes)
            .field("kill_signal", &self.kill_signal)
            .field("kill_timeout_ms", &self.kill_timeout_ms)
            .field("shutdown_with_message", &self.shutdown_with_message)
            .field("wait_ready", &self.wait_ready)
            .field("listen_timeout_ms", &self.listen_timeout_ms)
            .field("max_memory_restart", &self.max_memory_restart)
            .field("cron_restart", &self.cron_restart)
            .field("cron_timezone", &self.cron_timezone)
            .field("health", &self.health)
            .field("watch", &self.watch)
            .field("ignore_watch", &self.ignore_watch)
            .field("watch_delay_ms", &self.watch_delay_ms)
            .field("logs", &self.logs)
            .field("line", &self.line)
            .finish()
    }
}

/// How many instances an app runs (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Instances {
    /// Exactly n (at least 1). Written `Count(n)` or a bare `n`.
    Count(u32),
    /// One per CPU available to pmx (PM2's `max`, `0`).
    Max,
    /// CPUs − k, at least 1 (PM2's `-k`).
    MaxMinus(u32),
}

impl Default for Instances {
    /// `Count(1)`.
    fn default() -> Self {
        Instances::Count(1)
    }
}

/// How an app's instances run (`exec_mode`, SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecMode {
    /// The instances share the app's sockets: `listen`, and for Node apps the ports they
    /// listen on (PM2's cluster mode, for any language).
    Cluster,
    /// N independent instances, no shared socket: each binds its own port (PM2's fork
    /// mode; `increment_var` gives each its own). `listen` is refused.
    Fork,
}

impl ExecMode {
    /// The mode of an app that declares none: Cluster when `instances` is more than one
    /// (or `Max`/`MaxMinus`) or `listen` is set, else Fork.
    pub fn default_for(instances: &Instances, listen: &[String]) -> ExecMode {
        if *instances != Instances::Count(1) || !listen.is_empty() {
            ExecMode::Cluster
        } else {
            ExecMode::Fork
        }
    }

    /// `"cluster"` or `"fork"`, the word `list` and `describe` use.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecMode::Cluster => "cluster",
            ExecMode::Fork => "fork",
        }
    }
}

/// Process-level restart rules (`restart: (…)`), PM2's semantics (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// When to restart (default `Always`).
    pub policy: Policy,
    /// ms before a restart (PM2's `restart_delay`; default 0).
    pub delay_ms: u64,
    /// `Exp(initial)`: initial ms of PM2's `exp_backoff_restart_delay` (×1.5 per crash, up
    /// to 15 s); wins over `delay` when both are set. Default none.
    pub backoff_ms: Option<u64>,
    /// ms an instance must stay up for its exit to count as stable (PM2's `min_uptime`; default 1000).
    pub min_uptime_ms: u64,
    /// Unstable exits in a row before `errored` (PM2's `max_restarts`; default 16).
    pub max_restarts: u32,
}

impl Default for Restart {
    fn default() -> Self {
        Restart {
            policy: Policy::Always,
            delay_ms: 0,
            backoff_ms: None,
            min_uptime_ms: DEFAULT_MIN_UPTIME_MS,
            max_restarts: DEFAULT_MAX_RESTARTS,
        }
    }
}

/// When a process that exited is restarted (OTP's child restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Policy {
    /// Always (OTP `permanent`, PM2 `autorestart: true`). The default.
    #[default]
    Always,
    /// After a non-zero exit or a signal pmx did not send (OTP `transient`).
    OnFailure,
    /// Never (OTP `temporary`, PM2 `autorestart: false`).
    Never,
}

/// Which children a supervisor restarts when one fails (OTP's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Strategy {
    /// Restart the failed child only. The default.
    #[default]
    OneForOne,
    /// Restart every child.
    OneForAll,
    /// Restart the failed child and those started after it.
    RestForOne,
}

/// OTP's restart intensity: more than `max` restarts within `within_ms` makes the
/// supervisor stop its children and escalate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intensity {
    /// Restarts allowed in the window (OTP's `intensity`; default 1).
    pub max: u32,
    /// The window, ms (OTP's `period`; default 5000).
    pub within_ms: u64,
}

impl Default for Intensity {
    /// OTP's default: 1 restart within 5 s.
    fn default() -> Self {
        Intensity {
            max: 1,
            within_ms: 5000,
        }
    }
}

/// File watching (`watch`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Watch {
    /// No watching (`false`, the default).
    #[default]
    Off,
    /// Watch the app's cwd (`true`).
    On,
    /// Watch these paths (absolute).
    Paths(Vec<PathBuf>),
}

/// Log files and their format (`logs: (…)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    /// Prefix each line with a timestamp (PM2's `time`; default `false`).
    pub time: bool,
    /// strftime format of that timestamp (default `"%Y-%m-%dT%H:%M:%S"`).
    pub date_format: String,
    /// One file for every instance instead of `-<instance>` files (PM2's `merge_logs`; default `false`).
    pub merge: bool,
    /// stdout file (absolute; default `$PMX_HOME/logs/<name>-out.log`).
    pub out_file: Option<PathBuf>,
    /// stderr file (absolute; default `$PMX_HOME/logs/<name>-error.log`).
    pub error_file: Option<PathBuf>,
    /// Combined stdout+stderr file (absolute; default none).
    pub log_file: Option<PathBuf>,
    /// Built-in rotation (default none).
    pub rotate: Option<Rotate>,
    /// How each line is written (default `Text`: as the app wrote it; PM2's `log_type`).
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            time: false,
            date_format: DEFAULT_DATE_FORMAT.to_string(),
            merge: false,
            out_file: None,
            error_file: None,
            log_file: None,
            rotate: None,
            format: LogFormat::Text,
        }
    }
}

/// How a log file holds the app's lines (`logs: (format: …)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LogFormat {
    /// Each line as the app wrote it (after the `time` prefix, if any). The default.
    #[default]
    Text,
    /// Each line as one JSON object, PM2's `log_type: "json"`:
    /// `{"message":"<the line and its newline>","timestamp":"…","type":"out"|"err",
    /// "process_id":<id>,"app_name":"<name>"}`; the timestamp in `date_format` (local
    /// time) with `time`, else UTC as JavaScript's `toISOString` writes it
    /// (`2024-05-01T12:00:00.000Z`). Bytes that are not UTF-8 become U+FFFD.
    Json,
}

/// Built-in log rotation (`rotate: (…)`): by size and/or by a clock-aligned interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// Rotate when a file passes this many bytes; default none.
    pub max_size: Option<u64>,
    /// Rotate every this many ms, aligned to the local clock (`1d` at midnight); default none.
    pub interval_ms: Option<u64>,
    /// Rotated files kept (default 5).
    pub keep: u32,
    /// gzip rotated files (default `false`).
    pub compress: bool,
}

impl Default for Rotate {
    fn default() -> Self {
        Rotate {
            max_size: None,
            interval_ms: None,
            keep: DEFAULT_ROTATE_KEEP,
            compress: false,
        }
    }
}

/// An app's health check (`health: (…)`, SPEC §4 and §5): one probe per instance, run by
/// the daemon every `interval_ms` (counted from the end of the previous probe, so probes
/// never pile up), each given `timeout_ms`, the first `start_period_ms` after the spawn.
/// Kubernetes' and Pebble's probes; PM2 has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// What is probed. Required: exactly one of `http`, `tcp`, `exec`.
    pub probe: Probe,
    /// ms between the end of one probe and the start of the next (default 10 000).
    pub interval_ms: u64,
    /// ms a probe may take before it fails (default 3000).
    pub timeout_ms: u64,
    /// Consecutive failures that make an `online` instance a failure (default 3).
    pub failures: u32,
    /// ms after the spawn before the first probe (default 0).
    pub start_period_ms: u64,
    /// The first pass makes a `launching` instance `online` (readiness, as READY=1);
    /// default `false`.
    pub ready: bool,
}

impl Health {
    /// A check of `probe` with every other field at its default.
    pub fn new(probe: Probe) -> Health {
        Health {
            probe,
            interval_ms: DEFAULT_HEALTH_INTERVAL_MS,
            timeout_ms: DEFAULT_HEALTH_TIMEOUT_MS,
            failures: DEFAULT_HEALTH_FAILURES,
            start_period_ms: 0,
            ready: false,
        }
    }
}

/// What a health check probes. `${NAME}` in a URL or an address is replaced by the
/// instance's environment variable `NAME` (an `increment_var` gives each instance its
/// own port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// `http: "http://host:port/path"`: a GET; a 2xx or 3xx status passes.
    Http(String),
    /// `tcp: "host:port"`: a connect passes.
    Tcp(String),
    /// `exec: ["cmd", "arg"…]`: a command; exit 0 passes. Run in the app's `cwd` with the
    /// instance's environment; killed with its process group at the timeout.
    Exec(Vec<String>),
}

/// A group supervisor (`Group(…)`) over some apps (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name (SPEC §3 "Names"; not an app's name). Required.
    pub name: String,
    /// Which members restart when one fails (default `OneForOne`).
    pub strategy: Strategy,
    /// Restart intensity (default OTP's: 1 within 5000 ms).
    pub intensity: Intensity,
    /// Member app names, in start order. Required.
    pub apps: Vec<String>,
    /// Line of `Group(` in the file.
    pub line: usize,
}

/// A deploy target (`Deploy(…)`), PM2's fields with underscores. Every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// SSH user.
    pub user: Option<String>,
    /// Hosts (a string or a list in the file).
    pub host: Vec<String>,
    /// Git ref to deploy (`origin/main`).
    pub r#ref: Option<String>,
    /// Git repository URL.
    pub repo: Option<String>,
    /// Directory on the hosts.
    pub path: Option<String>,
    /// SSH key file (`ssh -i`; `~/` is the caller's home, a relative path is against the
    /// file's directory).
    pub key: Option<String>,
    /// SSH port (`ssh -p`; PM2's deploy script reads `port` too). Default: ssh's own.
    pub port: Option<u16>,
    /// SSH options (a string or a list in the file): each one `ssh -o <option>`, as PM2
    /// passes them; one that starts with `-` is given to ssh as its own words.
    pub ssh_options: Vec<String>,
    /// Command run on the host before setup.
    pub pre_setup: Option<String>,
    /// Command run on the host after setup.
    pub post_setup: Option<String>,
    /// Command run on the host before deploy.
    pub pre_deploy: Option<String>,
    /// Command run locally before deploy.
    pub pre_deploy_local: Option<String>,
    /// Command run on the host after deploy.
    pub post_deploy: Option<String>,
    /// How many release directories `pmx deploy … update` keeps on each host (pmx's own:
    /// PM2 deploys into one checkout and keeps none). `None`: the default, 5.
    pub keep_releases: Option<u32>,
    /// Line of `Deploy(` in the file (0 when not read from a file).
    #[serde(default)]
    pub line: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_new_has_spec_defaults() {
        let a = App::new("api".into(), "server.js".into(), PathBuf::from("/srv"));
        assert_eq!(a.instances, Instances::Count(1));
        assert_eq!(a.instance_var, "NODE_APP_INSTANCE");
        assert!(a.autostart);
        assert_eq!(a.namespace, "default");
        assert_eq!(
            a.restart,
            Restart {
                policy: Policy::Always,
                delay_ms: 0,
                backoff_ms: None,
                min_uptime_ms: 1000,
                max_restarts: 16
            }
        );
        assert_eq!(a.strategy, Strategy::OneForOne);
        assert_eq!(a.intensity, None);
        assert_eq!(a.kill_signal, "SIGINT");
        assert_eq!(a.kill_timeout_ms, 1600);
        assert!(!a.wait_ready);
        assert_eq!(a.listen_timeout_ms, 3000);
        assert_eq!(a.watch, Watch::Off);
        assert_eq!(a.watch_delay_ms, 500);
        assert_eq!(a.logs.date_format, "%Y-%m-%dT%H:%M:%S");
        assert_eq!(
            Intensity::default(),
            Intensity {
                max: 1,
                within_ms: 5000
            }
        );
        assert_eq!(Rotate::default().keep, 5);
        assert!(!a.is_cluster());
        assert_eq!(a.exec_mode, None);
        assert_eq!(a.increment_var, None);
    }

    #[test]
    fn exec_mode_defaults_to_cluster_with_instances_or_listen() {
        let listen = vec!["tcp://127.0.0.1:3000".to_string()];
        let cases = [
            (Instances::Count(1), vec![], None, ExecMode::Fork),
            (Instances::Count(2), vec![], None, ExecMode::Cluster),
            (Instances::Max, vec![], None, ExecMode::Cluster),
            (Instances::MaxMinus(1), vec![], None, ExecMode::Cluster),
            (Instances::Count(1), listen.clone(), None, ExecMode::Cluster),
            (
                Instances::Count(4),
                vec![],
                Some(ExecMode::Fork),
                ExecMode::Fork,
            ),
            (
                Instances::Count(1),
                vec![],
                Some(ExecMode::Cluster),
                ExecMode::Cluster,
            ),
        ];
        for (instances, listen, declared, want) in cases {
            let mut a = App::new("a".into(), "a.js".into(), PathBuf::from("/"));
            a.instances = instances;
            a.listen = listen;
            a.exec_mode = declared;
            assert_eq!(a.exec_mode(), want, "{instances:?} {declared:?}");
            assert_eq!(a.is_cluster(), want == ExecMode::Cluster);
        }
    }

    #[test]
    fn debug_hides_env_values() {
        let mut a = App::new("api".into(), "server.js".into(), PathBuf::from("/srv"));
        a.env.insert("DB_PASSWORD".into(), "hunter2".into());
        a.envs
            .entry("production".into())
            .or_default()
            .insert("TOKEN".into(), "s3cret".into());
        let d = format!("{a:?}");
        assert!(
            d.contains("DB_PASSWORD") && d.contains("TOKEN") && d.contains("production"),
            "{d}"
        );
        assert!(!d.contains("hunter2") && !d.contains("s3cret"), "{d}");
        let d = format!("{a:#?}");
        assert!(!d.contains("hunter2") && !d.contains("s3cret"), "{d}");
    }
}
