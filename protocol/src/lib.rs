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

pub mod console;
mod event;
pub mod fuzz;
pub mod home;
mod parse;
mod reply;
pub mod spec;
mod web;

pub use event::Event;
pub use home::Home;
pub use parse::{parse_request, too_large};
pub use reply::{
    Description, EnvReply, HealthState, HelloReply, HostReply, ListenSocket, MetricPoint,
    PingReply, PlanAction, PlanLine, ProcessInfo, ResurrectReply, SaveReply, SavedReply, Status,
    UpReply, UpdateReply, WATCH_LOOP,
};
pub use spec::{is_node, App, AppSpec, EnvLayers, Group};
pub use web::{tail, LogTail, WebReply, WebRequest, DEFAULT_LISTEN};

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks; a hello with another one gets `version_mismatch`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the daemon reads, in bytes (1 MiB); longer lines get
/// `too_large` and the rest of the line is discarded.
pub const MAX_LINE: usize = 1 << 20;

/// The most the daemon holds, in bytes, of request lines not yet ended by their newline,
/// summed over all its connections (32 MiB). A connection whose unfinished line would take
/// the sum past it gets `too_large` for that line (its bytes are dropped as they come, up
/// to the newline) and is served on; memory for half-sent lines stays bounded however
/// many clients hold one open.
pub const MAX_PENDING: usize = 32 << 20;

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
        /// Also answer each instance's whole environment (`Description::env`), as
        /// `pmx jlist` shows it; absent: false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        env: bool,
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
        /// `pmx stop --watch`: also turn `watch` off in each selected app's spec, kept
        /// from now on (PM2 7's `pm2 stop --watch`); absent: false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unwatch: bool,
    },
    /// Restart the target (a stopped or errored app starts); answers the rows touched.
    Restart(RestartRequest),
    /// Reload the target: in fork mode a restart; answers the rows touched.
    Reload(RestartRequest),
    /// Change an app's instance count (`pmx scale`); answers the app's rows after.
    Scale(ScaleRequest),
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
    /// Replace the daemon by the pmx binary at `binary` without stopping any app (`pmx
    /// update`): checked first (it must run and speak the same state format), then the
    /// daemon stores its state in the fd holder, answers [`UpdateReply`] and execs it in
    /// place (the same pid; the apps stay its children).
    Update {
        /// The new pmx binary, an absolute path.
        binary: String,
    },
    /// Empty the log files of the target (every app when absent); answers once they are
    /// empty (the processes the target selects).
    Flush {
        /// A name, an id, a group, a namespace or `all` (default: all).
        #[serde(default)]
        target: Option<String>,
    },
    /// Reopen every log file (after an external logrotate moved them), as SIGUSR2 does.
    ReloadLogs,
    /// The host's cpu and memory (the line under `pmx list`'s table): [`HostReply`].
    Host,
    /// Write every app's full resolved spec, its instances' status and the groups to
    /// `$PMX_HOME/dump.ron`, atomically (`pmx save`): [`SaveReply`]. An empty set never
    /// replaces a dump that holds apps unless `force`.
    Save {
        /// Replace a non-empty dump with an empty one.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Bring back the set saved in `dump.ron` (`dump.ron.bak` when that is missing or
    /// damaged), each instance with its saved status; an app whose name is already
    /// registered is left as it is (`pmx resurrect`): [`ResurrectReply`].
    Resurrect {
        /// `--update-env`: the inherited layer is `env` (the asking command's
        /// environment) instead of the saved one, and each `env_file` is read again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        update_env: bool,
        /// The asking command's environment (used with `update_env`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<BTreeMap<String, String>>,
    },
    /// Whether the running set is the one `dump.ron` holds (the last line of `pmx
    /// list`): [`SavedReply`].
    Saved,
    /// Start, move or stop the daemon's HTTP service (`pmx web`): [`WebReply`].
    Web(WebRequest),
    /// Turn the connection into an event stream ([`Event`]); it takes no more requests.
    Subscribe {
        /// Only these app names (all when absent).
        #[serde(default)]
        apps: Option<Vec<String>>,
        /// Only these event kinds (`online`, `exit`, `restart`, `errored`, `stop`, `log`,
        /// `metrics`: sent only when named).
        #[serde(default)]
        events: Option<Vec<String>>,
    },
}

impl Request {
    /// This request with its `inherited` environment (sent once, for every app) shared
    /// into each app's [`EnvLayers::inherited`]: one map for the whole request, however
    /// many apps it starts. Other requests are returned as they are.
    pub fn with_inherited_shared(mut self) -> Self {
        let (inherited, apps) = match &mut self {
            Request::Start(r) => (&r.inherited, &mut r.apps),
            Request::Up(r) => (&r.inherited, &mut r.apps),
            _ => return self,
        };
        for app in apps {
            app.env.inherited = Arc::clone(inherited);
        }
        self
    }

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
            Request::Scale(_) => "scale",
            Request::Reset { .. } => "reset",
            Request::Signal { .. } => "signal",
            Request::Kill => "kill",
            Request::Update { .. } => "update",
            Request::Flush { .. } => "flush",
            Request::ReloadLogs => "reload_logs",
            Request::Host => "host",
            Request::Save { .. } => "save",
            Request::Resurrect { .. } => "resurrect",
            Request::Saved => "saved",
            Request::Web(_) => "web",
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
    "scale",
    "reset",
    "signal",
    "kill",
    "update",
    "subscribe",
    "flush",
    "reload_logs",
    "host",
    "save",
    "resurrect",
    "saved",
    "web",
];

/// `start`: apps fully resolved by the client (paths absolute, environment layers read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The environment of the command that sent the request (the inherited layer of every
    /// app in `apps`), sent once: parsing shares it into each app's
    /// [`EnvLayers::inherited`], which is not on the wire.
    #[serde(default)]
    pub inherited: Arc<BTreeMap<String, String>>,
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
    /// The environment of the command that sent the request, once for every app (as
    /// [`StartRequest::inherited`]).
    #[serde(default)]
    pub inherited: Arc<BTreeMap<String, String>>,
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
    /// Start options given with the restart (`pmx restart app --node-args=…`,
    /// `--name …`): each selected app takes them into its spec before it restarts, and
    /// keeps them (PM2 merges the options of `restart`/`reload`/`start <name>` into the
    /// app). Absent: the spec is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<AppUpdate>,
}

/// What `restart`/`reload` change in an app's spec ([`RestartRequest::update`]); a field
/// left out (None) is left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppUpdate {
    /// A new name (`--name`): the target must select one app, outside any group, and
    /// the name must be free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New interpreter arguments (`--interpreter-args`, PM2's `--node-args`; empty:
    /// none), for an app run by an interpreter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter_args: Option<Vec<String>>,
    /// Turn watching on (`--watch`: `true`, an app watching `Paths` keeps them;
    /// `--watch-path`: these paths, absolute), kept from now on. Never off: `restart
    /// --watch` again leaves it on (PM2 7 toggles it off, a trap); `stop --watch` turns
    /// it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::spec::Watch>,
    /// New `ignore_watch` globs (`--ignore-watch`, repeatable), replacing the old ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_watch: Option<Vec<String>>,
}

/// `scale`: an app's new instance count, absolute (`pmx scale web 4`) or relative
/// (`+2`, `-1`), as PM2's `pm2 scale <name> <number>`. Exactly one of `instances` and
/// `delta` is given; the result must be at least 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleRequest {
    /// The app's name (not an id, a namespace or `all`: one app, as in PM2).
    pub name: String,
    /// The new count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// Instances to add (positive) or to stop, highest numbers first (negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<i64>,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// The request's id, or null (`malformed`, `too_large`, an id that is not a u64).
    pub id: Option<u64>,
    /// The answer on success, as JSON text (written once, straight from the typed
    /// answer; read with `serde_json::from_str`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<serde_json::value::RawValue>>,
    /// The error on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

impl Reply {
    /// A success reply of `result` (JSON text).
    pub fn ok(id: u64, result: Box<serde_json::value::RawValue>) -> Reply {
        Reply {
            id: Some(id),
            result: Some(result),
            error: None,
        }
    }

    /// A success reply of `result`, serialized; an `internal` error reply if it cannot
    /// be (a map with non-string keys, say).
    pub fn ok_of<T: Serialize>(id: u64, result: &T) -> Reply {
        match serde_json::value::to_raw_value(result) {
            Ok(raw) => Reply::ok(id, raw),
            Err(e) => Reply::err(Some(id), ApiError::new(ErrorCode::Internal, e.to_string())),
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
    /// The line is over [`MAX_LINE`] bytes, or the daemon already holds [`MAX_PENDING`]
    /// bytes of unfinished lines.
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
    /// An HTTP request to `pmx web` without the bearer token it requires (HTTP 401;
    /// never on the socket).
    Unauthorized,
    /// An HTTP request to `pmx web` addressed to a name that is not the service's own
    /// (`Host`, against DNS rebinding) or a POST from another site's page (`Origin`,
    /// against CSRF): HTTP 403; never on the socket.
    Forbidden,
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
                target: "api".into(),
                unwatch: false,
            }
        );
        let env = parse_request(br#"{"id":8,"type":"stop","target":"api","unwatch":true}"#)
            .expect("parses");
        assert_eq!(
            env.request,
            Request::Stop {
                target: "api".into(),
                unwatch: true,
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

    fn spec(name: &str) -> AppSpec {
        AppSpec {
            app: App::new(name.into(), "/bin/sleep".into(), "/tmp".into()),
            program: "/bin/sleep".into(),
            args: vec!["60".into()],
            cwd: "/tmp".into(),
            env: EnvLayers::default(),
            source: None,
            env_name: None,
        }
    }

    #[test]
    fn the_inherited_environment_travels_once_and_is_shared_by_every_app() {
        let inherited = Arc::new(BTreeMap::from([("PATH".to_string(), "/bin".to_string())]));
        let mut apps = vec![spec("a"), spec("b")];
        for app in &mut apps {
            app.env.inherited = Arc::clone(&inherited);
        }
        let sent = Request::Start(StartRequest {
            inherited: Arc::clone(&inherited),
            apps,
            force: false,
            restart_existing: false,
            groups: Vec::new(),
        });
        let mut line = serde_json::to_value(&sent).unwrap_or_default();
        line["id"] = 7.into();
        let text = line.to_string();
        assert_eq!(
            text.matches("/bin\"").count(),
            1,
            "one copy on the wire: {text}"
        );
        let got = parse_request(text.as_bytes()).map_err(|r| format!("{r:?}"));
        let Ok(Envelope {
            id: 7,
            request: Request::Start(got),
        }) = got
        else {
            panic!("not parsed back: {got:?}");
        };
        assert_eq!(*got.apps[0].env.inherited, *inherited);
        assert!(Arc::ptr_eq(
            &got.apps[0].env.inherited,
            &got.apps[1].env.inherited
        ));
        assert!(Arc::ptr_eq(&got.apps[0].env.inherited, &got.inherited));
    }

    #[test]
    fn an_unknown_field_of_start_or_up_is_refused() {
        let app = serde_json::to_value(spec("a")).unwrap_or_default();
        for line in [
            serde_json::json!({"id": 4, "type": "start", "apps": [app], "colour": 1}),
            serde_json::json!({"id": 4, "type": "up", "file": "/e.ron", "apps": [], "colour": 1}),
        ] {
            assert_eq!(
                err_code(&line.to_string()),
                (Some(4), ErrorCode::BadRequest),
                "{line}"
            );
        }
    }

    #[test]
    fn an_inherited_layer_inside_an_app_is_refused() {
        let mut app = serde_json::to_value(spec("a")).unwrap_or_default();
        app["env"]["inherited"] = serde_json::json!({"PATH": "/bin"});
        let line = serde_json::json!({"id": 3, "type": "start", "apps": [app]}).to_string();
        assert_eq!(err_code(&line), (Some(3), ErrorCode::BadRequest));
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
