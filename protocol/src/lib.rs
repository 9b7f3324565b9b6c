//! The admin-socket protocol (SPEC §8): newline-delimited JSON over `$PMX_HOME/pmx.sock`.
//!
//! Every type a client and the daemon exchange lives here, as plain serde types with no
//! actix, so a client in any language can be written against `docs/protocol.md`, whose
//! every example is round-trip tested against these types.
//!
//! A request is `{"id":N,"type":"<verb>",…}`; its reply is `{"id":N,"result":…}` or
//! `{"id":N,"error":{"code":"…","message":"…"}}`. The daemon answers every JSON object
//! that carries an `id`, whatever else is wrong with it (see [`parse_request`]).
//!
//! This crate is what a client links (`pmx::Client`, the CLI): serde only, no actix, no
//! tokio, no pmx-actors; from pmx-config only the plain value types of an app spec,
//! re-exported on purpose in [`spec`] (tests/arch.rs holds it to that).
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod home;
pub mod spec;

pub use home::Home;
pub use spec::{App, Group};

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this build speaks; a hello with another one gets `version_mismatch`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the daemon reads, in bytes (1 MiB); longer lines get
/// `too_large` and the rest of the line is discarded.
pub const MAX_LINE: usize = 1 << 20;

/// The pmx version of this build (the workspace's semver).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A request, tagged by its `type` (the CLI's verb names). The `id` travels beside it in
/// [`Envelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The first message of every connection: `{"id":0,"type":"hello","protocol_version":1,"version":"0.1.0"}`.
    Hello {
        /// Must equal [`PROTOCOL_VERSION`].
        protocol_version: u32,
        /// The client's pmx semver (informative).
        version: String,
    },
    /// Is the daemon alive? Answers [`PingReply`].
    Ping,
    /// Every process, one [`ProcessInfo`] per instance.
    List,
    /// Everything about the apps a target selects: a list of [`Description`].
    Describe {
        /// A name, an id, a namespace or `all`.
        target: String,
    },
    /// The whole environment one instance got: [`EnvReply`].
    Env {
        /// An id (or a name selecting one instance).
        target: String,
    },
    /// Start new apps (or restart the named ones that exist, as PM2 does for a file).
    Start(StartRequest),
    /// Make the running set match an ecosystem file (`pmx up`).
    Up(UpRequest),
    /// Stop the target's instances; answers the [`ProcessInfo`]s touched.
    Stop {
        /// A name, an id, a namespace or `all`.
        target: String,
    },
    /// Restart the target (a stopped or errored app starts); answers the rows touched.
    Restart(RestartRequest),
    /// Reload the target: in fork mode a restart; answers the rows touched.
    Reload(RestartRequest),
    /// Stop and forget the target; answers the rows it had.
    Delete {
        /// A name, an id, a namespace or `all`.
        target: String,
    },
    /// Zero the restart counters of the target.
    Reset {
        /// A name, an id, a namespace or `all`.
        target: String,
    },
    /// Send a signal to the main process of each instance of the target (PM2's `sendSignal`).
    Signal {
        /// A signal name, `"SIGUSR2"` or `"USR2"`.
        signal: String,
        /// A name, an id, a namespace or `all`.
        target: String,
    },
    /// Stop every app, answer, then exit the daemon.
    Kill,
    /// Empty the log files of the target (every app when absent); answers once they are
    /// empty (the processes the target selects).
    Flush {
        /// A name, an id, a group, a namespace or `all` (default: all).
        #[serde(default)]
        target: Option<String>,
    },
    /// Reopen every log file (after an external logrotate moved them), as SIGUSR2 does.
    ReloadLogs,
    /// Turn the connection into an event stream ([`Event`]); it takes no more requests.
    Subscribe {
        /// Only these app names (all when absent).
        #[serde(default)]
        apps: Option<Vec<String>>,
        /// Only these event kinds (`online`, `exit`, `restart`, `errored`, `stop`, `log`).
        #[serde(default)]
        events: Option<Vec<String>>,
    },
}

impl Request {
    /// The verb, as spelled in `type`.
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Ping => "ping",
            Request::List => "list",
            Request::Describe { .. } => "describe",
            Request::Env { .. } => "env",
            Request::Start(_) => "start",
            Request::Up(_) => "up",
            Request::Stop { .. } => "stop",
            Request::Restart(_) => "restart",
            Request::Reload(_) => "reload",
            Request::Delete { .. } => "delete",
            Request::Reset { .. } => "reset",
            Request::Signal { .. } => "signal",
            Request::Kill => "kill",
            Request::Flush { .. } => "flush",
            Request::ReloadLogs => "reload_logs",
            Request::Subscribe { .. } => "subscribe",
        }
    }
}

/// Every verb [`Request`] knows, so a wrong field is told apart from an unknown verb.
pub const VERBS: &[&str] = &[
    "hello",
    "ping",
    "list",
    "describe",
    "env",
    "start",
    "up",
    "stop",
    "restart",
    "reload",
    "delete",
    "reset",
    "signal",
    "kill",
    "subscribe",
    "flush",
    "reload_logs",
];

/// `start`: apps fully resolved by the client (paths absolute, environment layers read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The apps to start, in order.
    pub apps: Vec<AppSpec>,
    /// `-f`: an app whose name exists starts as a second copy named `name-1`, `name-2`, …
    #[serde(default)]
    pub force: bool,
    /// From an ecosystem file: apps that exist are restarted (PM2) instead of refused.
    #[serde(default)]
    pub restart_existing: bool,
    /// The file's supervision groups over these apps (SPEC §4, §5).
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// `up`: the declared set of one ecosystem file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpRequest {
    /// The ecosystem file's absolute path (the scope of `prune`).
    pub file: PathBuf,
    /// Every app the file declares (after `--only`), resolved by the client.
    pub apps: Vec<AppSpec>,
    /// Delete running apps that came from `file` and are no longer in it.
    #[serde(default)]
    pub prune: bool,
    /// Answer the plan and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Changed apps are restarted (`startOrRestart`) instead of reloaded.
    #[serde(default)]
    pub restart: bool,
    /// Reload (with `restart`: restart) every app of the file that is already there,
    /// changed or not, as PM2's `startOrReload` / `startOrRestart` do: deploy scripts run
    /// them after `git pull`, when the code changed and the file did not. `up` (false)
    /// reloads only what changed. An app declared `autostart: false` that is down stays
    /// down either way.
    #[serde(default)]
    pub reload_all: bool,
    /// The file's supervision groups (SPEC §4, §5).
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// `restart` / `reload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartRequest {
    /// A name, an id, a namespace or `all` (which includes stopped apps).
    pub target: String,
    /// `--update-env`: take the inherited layer from `env` and re-read each app's `env_file`.
    #[serde(default)]
    pub update_env: bool,
    /// The asking command's environment (used with `update_env`).
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

/// One app as the daemon runs it: what was declared plus how it was resolved.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The app as declared (file or CLI flags), every field at its value or default.
    pub app: App,
    /// The program exec'd: the interpreter's absolute path, or the script/command itself.
    pub program: PathBuf,
    /// The arguments after the program: interpreter args, the script, then the app's args.
    pub args: Vec<String>,
    /// The working directory, absolute.
    pub cwd: PathBuf,
    /// The environment layers, kept apart (SPEC §4).
    pub env: EnvLayers,
    /// The ecosystem file it came from (absolute), if any: the scope of `up --prune`.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// The `--env NAME` chosen, if any.
    #[serde(default)]
    pub env_name: Option<String>,
}

impl fmt::Debug for AppSpec {
    // The environment holds secrets: only the keys reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSpec")
            .field("app", &self.app)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("cwd", &self.cwd)
            .field("env", &self.env)
            .field("source", &self.source)
            .field("env_name", &self.env_name)
            .finish()
    }
}

/// An app's environment, lowest to highest precedence (SPEC §4); what pmx injects
/// (`PMX_ID`, `PMX_APP_NAME`, `PMX_INSTANCE`, the instance var) is laid on top at spawn.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvLayers {
    /// The environment of the `pmx` command that started the app (as PM2 does). Shared:
    /// every app started by one command holds the same map once.
    #[serde(default)]
    pub inherited: Arc<BTreeMap<String, String>>,
    /// The contents of `env_file`, as read when the app was started (or `--update-env`).
    #[serde(default)]
    pub env_file: BTreeMap<String, String>,
    /// The app's `env`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `envs.<NAME>` chosen by `--env NAME`.
    #[serde(default)]
    pub envs: BTreeMap<String, String>,
}

impl EnvLayers {
    /// The layers merged, lowest precedence first.
    pub fn merged(&self) -> BTreeMap<String, String> {
        let mut out = (*self.inherited).clone();
        for layer in [&self.env_file, &self.env, &self.envs] {
            out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }
}

impl fmt::Debug for EnvLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
        f.debug_struct("EnvLayers")
            .field("inherited", &format_args!("{} vars", self.inherited.len()))
            .field("env_file", &keys(&self.env_file))
            .field("env", &keys(&self.env))
            .field("envs", &keys(&self.envs))
            .finish()
    }
}

/// A request as it arrives: the `id` beside the tagged request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Chosen by the client, echoed by the reply.
    pub id: u64,
    /// The request itself (`type` and its fields).
    #[serde(flatten)]
    pub request: Request,
}

/// A reply: `{"id":N,"result":…}` or `{"id":N,"error":{…}}`; `id` is null only when the
/// request had no usable id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's id, or null (`malformed`, `too_large`, an id that is not a u64).
    pub id: Option<u64>,
    /// The answer on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

impl Reply {
    /// A success reply.
    pub fn ok(id: u64, result: Value) -> Reply {
        Reply {
            id: Some(id),
            result: Some(result),
            error: None,
        }
    }

    /// An error reply.
    pub fn err(id: Option<u64>, error: ApiError) -> Reply {
        Reply {
            id,
            result: None,
            error: Some(error),
        }
    }
}

/// The typed error codes a client can branch on (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A request came before the connection's hello.
    HelloRequired,
    /// The hello named another protocol version.
    VersionMismatch,
    /// The line is not JSON (or not a JSON object).
    Malformed,
    /// The line is over [`MAX_LINE`] bytes.
    TooLarge,
    /// A known verb with wrong fields, or an id that is not a u64.
    BadRequest,
    /// No `type`, or a `type` that is not a verb.
    UnknownRequest,
    /// The target selects nothing.
    NotFound,
    /// The request clashes with the current state (a name that exists).
    Conflict,
    /// An app spec that does not validate.
    InvalidConfig,
    /// Anything else: the daemon failed.
    Internal,
}

/// An error reply's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// One line saying what and why.
    pub message: String,
}

impl ApiError {
    /// An error of `code` saying `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Parse one request line. `Err` carries the reply to send: it has the request's `id`
/// whenever the line is a JSON object with a u64 `id` (SPEC §8: such an object always
/// gets a reply with that id).
pub fn parse_request(line: &[u8]) -> Result<Envelope, Reply> {
    let text = std::str::from_utf8(line).map_err(|e| {
        Reply::err(
            None,
            ApiError::new(ErrorCode::Malformed, format!("request is not UTF-8: {e}")),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Reply::err(
            None,
            ApiError::new(ErrorCode::Malformed, format!("request is not JSON: {e}")),
        )
    })?;
    let Value::Object(mut map) = value else {
        return Err(Reply::err(
            None,
            ApiError::new(ErrorCode::Malformed, "request is not a JSON object"),
        ));
    };
    let id = match map.get("id") {
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        _ => {
            return Err(Reply::err(
                None,
                ApiError::new(
                    ErrorCode::BadRequest,
                    "request has no \"id\" that is an unsigned 64-bit integer",
                ),
            ))
        }
    };
    let id = id.unwrap_or_default();
    let verb = match map.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(Reply::err(
                Some(id),
                ApiError::new(ErrorCode::UnknownRequest, "\"type\" is not a string"),
            ))
        }
        None => {
            return Err(Reply::err(
                Some(id),
                ApiError::new(ErrorCode::UnknownRequest, "request has no \"type\""),
            ))
        }
    };
    if !VERBS.contains(&verb.as_str()) {
        return Err(Reply::err(
            Some(id),
            ApiError::new(
                ErrorCode::UnknownRequest,
                format!("unknown request type \"{verb}\""),
            ),
        ));
    }
    map.remove("id");
    let given: Vec<String> = map.keys().cloned().collect();
    match serde_json::from_value::<Request>(Value::Object(map)) {
        Ok(request) => {
            // serde ignores extra fields of the unit verbs (`ping`, `list`, `kill`); every
            // field a request may carry appears when it is serialized back.
            let known = serde_json::to_value(&request).unwrap_or(Value::Null);
            if let Some(extra) = given.iter().find(|k| known.get(k.as_str()).is_none()) {
                return Err(Reply::err(
                    Some(id),
                    ApiError::new(
                        ErrorCode::BadRequest,
                        format!("bad \"{verb}\" request: unknown field `{extra}`"),
                    ),
                ));
            }
            Ok(Envelope { id, request })
        }
        Err(e) => Err(Reply::err(
            Some(id),
            ApiError::new(
                ErrorCode::BadRequest,
                format!("bad \"{verb}\" request: {e}"),
            ),
        )),
    }
}

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
    /// The stop signal (`SIGINT`).
    pub kill_signal: String,
    /// Ms between the stop signal and SIGKILL.
    pub kill_timeout: u64,
    /// Why the last spawn failed (`cannot exec …: Permission denied`), until one succeeds.
    pub last_error: Option<String>,
    /// The group's strategy (`OneForOne`, …); null outside a group.
    #[serde(default)]
    pub group_strategy: Option<String>,
    /// The group's intensity (`max 1 within 5000 ms`); null outside a group.
    #[serde(default)]
    pub group_intensity: Option<String>,
    /// The group's restarts within its intensity window now; null outside a group.
    #[serde(default)]
    pub group_restarts: Option<u64>,
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

/// An event on a subscribed connection (SPEC §8).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `online`, `exit`, `restart`, `errored`, `stop`, `log`, `log_fault`,
    /// `log_recovered` or `lagged`.
    pub event: String,
    /// The app's name (absent for `lagged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The instance's id (absent for `lagged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// RFC 3339 time of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `exit`: the exit code, `null` when a signal ended the process (the key is there
    /// for every `exit` event, absent on other events).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub code: Option<Option<i32>>,
    /// `exit`: the signal's name, `null` when the process exited with a code.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub signal: Option<Option<String>>,
    /// `restart`, `errored`: why; `log_fault`: the file and the error;
    /// `log_recovered`: the file and how many lines could not be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `log`: `out` or `err`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// `log`: the line, without its newline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `lagged`: how many events were dropped; `log_recovered`: how many lines could not
    /// be written while the file was faulty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

/// A key that is present deserializes as `Some`, even when its value is `null`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_events_carry_code_and_signal_even_when_null() {
        let e = Event {
            event: "exit".into(),
            code: Some(Some(1)),
            signal: Some(None),
            ..Event::default()
        };
        let text = serde_json::to_string(&e).expect("serializes");
        assert_eq!(text, r#"{"event":"exit","code":1,"signal":null}"#);
        let back: Event = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, e);
        let online: Event = serde_json::from_str(r#"{"event":"online"}"#).expect("parses");
        assert_eq!(online.code, None);
    }

    fn err_code(line: &str) -> (Option<u64>, ErrorCode) {
        let reply = parse_request(line.as_bytes()).expect_err("should fail");
        (reply.id, reply.error.expect("an error").code)
    }

    #[test]
    fn parses_verbs_with_ids() {
        let env = parse_request(br#"{"id":7,"type":"stop","target":"api"}"#).expect("parses");
        assert_eq!(env.id, 7);
        assert_eq!(
            env.request,
            Request::Stop {
                target: "api".into()
            }
        );
        let env = parse_request(format!(r#"{{"id":{},"type":"ping"}}"#, u64::MAX).as_bytes())
            .expect("max u64 id");
        assert_eq!(env.id, u64::MAX);
    }

    #[test]
    fn error_replies_keep_the_id_when_there_is_one() {
        assert_eq!(err_code("nope"), (None, ErrorCode::Malformed));
        assert_eq!(err_code("[1,2]"), (None, ErrorCode::Malformed));
        assert_eq!(
            err_code(r#"{"type":"ping"}"#),
            (None, ErrorCode::BadRequest)
        );
        assert_eq!(
            err_code(r#"{"id":-1,"type":"ping"}"#),
            (None, ErrorCode::BadRequest)
        );
        assert_eq!(
            err_code(r#"{"id":"3","type":"ping"}"#),
            (None, ErrorCode::BadRequest)
        );
        assert_eq!(
            err_code(r#"{"id":3}"#),
            (Some(3), ErrorCode::UnknownRequest)
        );
        assert_eq!(
            err_code(r#"{"id":4,"type":"dance"}"#),
            (Some(4), ErrorCode::UnknownRequest)
        );
        assert_eq!(
            err_code(r#"{"id":5,"type":"stop"}"#),
            (Some(5), ErrorCode::BadRequest)
        );
        assert_eq!(
            err_code(r#"{"id":6,"type":"stop","target":1}"#),
            (Some(6), ErrorCode::BadRequest)
        );
        assert_eq!(
            err_code(r#"{"id":6,"type":"ping","extra":1}"#),
            (Some(6), ErrorCode::BadRequest)
        );
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        assert_eq!(
            parse_request(b"{\"id\":1,\"type\":\"\xff\"}")
                .expect_err("fails")
                .error
                .map(|e| e.code),
            Some(ErrorCode::Malformed)
        );
    }

    #[test]
    fn status_words_are_pm2s() {
        assert_eq!(
            serde_json::to_string(&Status::WaitingRestart)
                .ok()
                .as_deref(),
            Some("\"waiting restart\"")
        );
    }
}
