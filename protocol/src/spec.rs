//! The app and the group as they travel on the wire: what a client declares, resolved,
//! and nothing of the file it was read from (no `line`).
//!
//! [`App`] and [`Group`] have the field names of `pmx_config::App` / `pmx_config::Group`
//! (the names a user writes in `ecosystem.ron`), so a client in another language reads
//! them as the SPEC describes them. Their nested values are pmx-config's own plain types,
//! re-exported here on purpose rather than copied: they are data (serde, no behaviour
//! beyond defaults), and one definition keeps the file and the wire from drifting apart.
//! Everything else of pmx-config (its parser, its errors, `line`) stays off the wire.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The plain value types an [`App`] and a [`Group`] are made of, re-exported from
/// pmx-config on purpose (see the module doc).
pub use pmx_config::{
    ExecMode, Health, Instances, Intensity, Logs, Policy, Probe, Restart, Rotate, Strategy, Watch,
};

/// One app as sent (`AppSpec.app`): every field as declared, at its value or default.
///
/// The fields are `pmx_config::App`'s (see there for each one's meaning and default)
/// minus `line`, the position of `App(` in a file, which means nothing to the daemon.
/// Every field is required on the wire: the client sends defaults filled in.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// The app's name (SPEC §3 "Names").
    pub name: String,
    /// The script, command or file as written.
    pub script: String,
    /// Absolute directory that relative paths resolve against.
    pub dir: PathBuf,
    /// Arguments for the app.
    pub args: Vec<String>,
    /// Working directory, absolute when given.
    pub cwd: Option<PathBuf>,
    /// Interpreter; `None` = by extension, `Some("none")` = exec the script.
    pub interpreter: Option<String>,
    /// Arguments for the interpreter.
    pub interpreter_args: Vec<String>,
    /// How many instances.
    pub instances: Instances,
    /// The variable that holds the instance number.
    pub instance_var: String,
    /// How the instances run; null: Cluster with more than one instance or `listen`,
    /// else Fork ([`App::exec_mode`]). Absent on the wire means null (a client older
    /// than the field).
    #[serde(default)]
    pub exec_mode: Option<ExecMode>,
    /// A variable instance k gets as its base value + k (PM2's `increment_var`); null:
    /// none. Absent on the wire means null.
    #[serde(default)]
    pub increment_var: Option<String>,
    /// Sockets shared with every instance: `tcp://host:port` or `unix:/path`.
    pub listen: Vec<String>,
    /// Environment laid over the inherited one and `env_file`. `Debug` shows the keys only.
    pub env: BTreeMap<String, String>,
    /// Named environments laid over `env` by `--env NAME`. `Debug` shows the keys only.
    pub envs: BTreeMap<String, BTreeMap<String, String>>,
    /// A dotenv file read at start (absolute).
    pub env_file: Option<PathBuf>,
    /// Start with the file; `false` registers the app stopped.
    pub autostart: bool,
    /// Namespace, also a target.
    pub namespace: String,
    /// User to run as (root only).
    pub uid: Option<String>,
    /// Group to run as (root only).
    pub gid: Option<String>,
    /// Process-level restart policy (PM2's rules).
    pub restart: Restart,
    /// Supervision strategy over this app's instances.
    pub strategy: Strategy,
    /// Restart intensity of this app's supervisor (none: `max_restarts` governs).
    pub intensity: Option<Intensity>,
    /// Exit codes never restarted, whatever the policy.
    pub stop_exit_codes: Vec<i32>,
    /// Signal that asks the app to stop, canonical (`"SIGINT"`).
    pub kill_signal: String,
    /// ms between `kill_signal` and SIGKILL.
    pub kill_timeout_ms: u64,
    /// Stop a Node app with the IPC message `'shutdown'` instead of `kill_signal`.
    /// Absent on the wire means `false` (a client older than the field).
    #[serde(default)]
    pub shutdown_with_message: bool,
    /// Wait for readiness before `online`.
    pub wait_ready: bool,
    /// ms to wait for readiness before `online` anyway.
    pub listen_timeout_ms: u64,
    /// Restart when the process tree's resident memory passes this many bytes.
    pub max_memory_restart: Option<u64>,
    /// Cron pattern that restarts the app.
    pub cron_restart: Option<String>,
    /// The IANA zone `cron_restart` is read in (None: the daemon's local zone).
    #[serde(default)]
    pub cron_timezone: Option<String>,
    /// The health check run on every instance (SPEC §4, §5); null: none. Absent on the
    /// wire means null (a client older than the field).
    #[serde(default)]
    pub health: Option<Health>,
    /// Restart on file changes.
    pub watch: Watch,
    /// Globs ignored by the watcher.
    pub ignore_watch: Vec<String>,
    /// ms of quiet before a watch restart.
    pub watch_delay_ms: u64,
    /// Log files and their format.
    pub logs: Logs,
}

impl App {
    /// An app with every field but `name`, `script` and `dir` at its SPEC default, as
    /// `pmx_config::App::new` makes it (for `pmx start script` and for tests).
    pub fn new(name: String, script: String, dir: PathBuf) -> App {
        App::from(pmx_config::App::new(name, script, dir))
    }
}

impl App {
    /// The mode in force: the declared `exec_mode`, else Cluster when there is more than
    /// one instance or `listen` is set, else Fork (as `pmx_config::App::exec_mode`).
    pub fn exec_mode(&self) -> ExecMode {
        self.exec_mode
            .unwrap_or_else(|| ExecMode::default_for(&self.instances, &self.listen))
    }
}

impl From<&pmx_config::App> for App {
    /// The app as declared, without its position in the file.
    fn from(app: &pmx_config::App) -> App {
        App::from(app.clone())
    }
}

impl From<pmx_config::App> for App {
    /// The app as declared, without its position in the file.
    fn from(app: pmx_config::App) -> App {
        // Destructured in full, so a field added to pmx_config::App fails to compile
        // here until it is decided whether it travels.
        let pmx_config::App {
            name,
            script,
            dir,
            args,
            cwd,
            interpreter,
            interpreter_args,
            instances,
            instance_var,
            exec_mode,
            increment_var,
            listen,
            env,
            envs,
            env_file,
            autostart,
            namespace,
            uid,
            gid,
            restart,
            strategy,
            intensity,
            stop_exit_codes,
            kill_signal,
            kill_timeout_ms,
            shutdown_with_message,
            wait_ready,
            listen_timeout_ms,
            max_memory_restart,
            cron_restart,
            cron_timezone,
            health,
            watch,
            ignore_watch,
            watch_delay_ms,
            logs,
            line: _,
        } = app;
        App {
            name,
            script,
            dir,
            args,
            cwd,
            interpreter,
            interpreter_args,
            instances,
            instance_var,
            exec_mode,
            increment_var,
            listen,
            env,
            envs,
            env_file,
            autostart,
            namespace,
            uid,
            gid,
            restart,
            strategy,
            intensity,
            stop_exit_codes,
            kill_signal,
            kill_timeout_ms,
            shutdown_with_message,
            wait_ready,
            listen_timeout_ms,
            max_memory_restart,
            cron_restart,
            cron_timezone,
            health,
            watch,
            ignore_watch,
            watch_delay_ms,
            logs,
        }
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
            .finish()
    }
}

/// A supervision group as sent (SPEC §5): `pmx_config::Group` without `line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name (not an app's name).
    pub name: String,
    /// Which members restart when one fails.
    pub strategy: Strategy,
    /// Restart intensity (OTP's default: 1 within 5000 ms).
    pub intensity: Intensity,
    /// Member app names, in start order.
    pub apps: Vec<String>,
}

impl From<&pmx_config::Group> for Group {
    /// The group as declared, without its position in the file.
    fn from(group: &pmx_config::Group) -> Group {
        let pmx_config::Group {
            name,
            strategy,
            intensity,
            apps,
            line: _,
        } = group.clone();
        Group {
            name,
            strategy,
            intensity,
            apps,
        }
    }
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
    /// every app started by one command holds the same map once. Not on the wire: a
    /// request carries it once (`StartRequest::inherited`, `UpRequest::inherited`) and
    /// parsing shares it into every app.
    #[serde(skip)]
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
        out.extend(self.overlay());
        out
    }

    /// The layers over the inherited one (`env_file`, `env`, `envs`) merged, lowest
    /// precedence first: what an app sets itself.
    pub fn overlay(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
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

/// Whether an app runs under Node: its interpreter, or the program it execs, is `node`
/// or `nodejs` (a path to one included), as PM2 decides by its `exec_interpreter`. The
/// one rule for the daemon (only such an app gets Node's IPC channel) and the CLI (which
/// tells Node apps apart before it sends them).
pub fn is_node(interpreter: Option<&str>, program: &std::path::Path) -> bool {
    let named = |p: &std::path::Path| {
        matches!(
            p.file_name().and_then(|n| n.to_str()),
            Some("node" | "nodejs")
        )
    };
    interpreter.is_some_and(|i| named(std::path::Path::new(i))) || named(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> pmx_config::App {
        let mut app = pmx_config::App::new("api".into(), "server.py".into(), "/srv".into());
        app.line = 12;
        app.env.insert("TOKEN".into(), "s3cret".into());
        app.envs.insert(
            "production".into(),
            BTreeMap::from([("DB_PASSWORD".into(), "hunter2".into())]),
        );
        app.instances = Instances::Count(3);
        app
    }

    #[test]
    fn an_app_as_sent_has_the_declared_fields_and_no_line() {
        let app = App::from(&declared());
        let wire = serde_json::to_value(&app).expect("serializes");
        assert!(wire.get("line").is_none(), "line travels: {wire}");
        // Field for field the declaration, `line` aside: the two serialize alike.
        let mut config = serde_json::to_value(declared()).expect("serializes");
        config.as_object_mut().map(|o| o.remove("line"));
        assert_eq!(wire, config);
        let back: App = serde_json::from_value(wire).expect("parses back");
        assert_eq!(back, app);
    }

    #[test]
    fn new_gives_the_config_defaults() {
        let app = App::new("api".into(), "server.py".into(), "/srv".into());
        let declared = pmx_config::App::new("api".into(), "server.py".into(), "/srv".into());
        assert_eq!(app, App::from(&declared));
        assert_eq!(app.kill_timeout_ms, declared.kill_timeout_ms);
    }

    #[test]
    fn a_line_on_the_wire_is_refused() {
        let mut wire = serde_json::to_value(App::from(&declared())).expect("serializes");
        wire.as_object_mut()
            .map(|o| o.insert("line".into(), 3.into()));
        let err = serde_json::from_value::<App>(wire).expect_err("line is not a field");
        assert!(err.to_string().contains("unknown field `line`"), "{err}");
    }

    #[test]
    fn debug_of_an_app_hides_env_values() {
        let text = format!("{:?}", App::from(&declared()));
        assert!(
            text.contains("TOKEN") && text.contains("DB_PASSWORD"),
            "{text}"
        );
        assert!(
            !text.contains("s3cret") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn a_group_as_sent_drops_its_line() {
        let g = pmx_config::Group {
            name: "db".into(),
            strategy: Strategy::RestForOne,
            intensity: Intensity::default(),
            apps: vec!["pg".into(), "api".into()],
            line: 40,
        };
        let sent = Group::from(&g);
        assert_eq!(
            serde_json::to_value(&sent).expect("serializes"),
            serde_json::json!({
                "name": "db",
                "strategy": "RestForOne",
                "intensity": {"max": 1, "within_ms": 5000},
                "apps": ["pg", "api"]
            })
        );
    }
}
