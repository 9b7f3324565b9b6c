//! The validating walk: from the spanned tree of [`crate::reader`] to the typed model,
//! collecting every error with the position of the field or value it is about.

use crate::error::ConfigError;
use crate::groups::{check_groups, At};
use crate::model::*;
use crate::reader::{Body, Field, Node, Pos, Value};
use crate::values::{self, suggest};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

mod health;
mod parts;
mod scalars;

const ECOSYSTEM_FIELDS: &[&str] = &["apps", "groups", "deploy"];
const APP_FIELDS: &[&str] = &[
    "name",
    "script",
    "args",
    "cwd",
    "interpreter",
    "interpreter_args",
    "instances",
    "instance_var",
    "exec_mode",
    "increment_var",
    "listen",
    "env",
    "envs",
    "env_file",
    "autostart",
    "namespace",
    "uid",
    "gid",
    "restart",
    "strategy",
    "intensity",
    "stop_exit_codes",
    "kill_signal",
    "kill_timeout",
    "shutdown_with_message",
    "wait_ready",
    "listen_timeout",
    "max_memory_restart",
    "cron_restart",
    "cron_timezone",
    "health",
    "watch",
    "ignore_watch",
    "watch_delay",
    "logs",
];
/// PM2's field names (ecosystem.config.js) and where pmx puts them.
const PM2_APP_FIELDS: &[(&str, &str)] = &[
    ("autorestart", "restart: (policy: …)"),
    ("restart_delay", "restart: (delay: …)"),
    ("exp_backoff_restart_delay", "restart: (backoff: Exp(…))"),
    ("max_restarts", "restart: (max_restarts: …)"),
    ("min_uptime", "restart: (min_uptime: …)"),
    ("merge_logs", "logs: (merge: …)"),
    ("log_date_format", "logs: (date_format: …)"),
    ("time", "logs: (time: …)"),
    ("out_file", "logs: (out_file: …)"),
    ("output", "logs: (out_file: …)"),
    ("error_file", "logs: (error_file: …)"),
    ("error", "logs: (error_file: …)"),
    ("log_file", "logs: (log_file: …)"),
    ("log", "logs: (log_file: …)"),
    ("log_type", "logs: (format: …)"),
    ("node_args", "interpreter_args"),
    ("exec_interpreter", "interpreter"),
    ("user", "uid"),
];
const RESTART_FIELDS: &[&str] = &["policy", "delay", "backoff", "min_uptime", "max_restarts"];
const LOGS_FIELDS: &[&str] = &[
    "time",
    "date_format",
    "merge",
    "out_file",
    "error_file",
    "log_file",
    "rotate",
    "format",
];
const ROTATE_FIELDS: &[&str] = &["max_size", "interval", "keep", "compress"];
const INTENSITY_FIELDS: &[&str] = &["max", "within"];
const GROUP_FIELDS: &[&str] = &["name", "strategy", "intensity", "apps"];
const DEPLOY_FIELDS: &[&str] = &[
    "user",
    "host",
    "ref",
    "repo",
    "path",
    "key",
    "port",
    "ssh_options",
    "pre_setup",
    "post_setup",
    "pre_deploy",
    "pre_deploy_local",
    "post_deploy",
    "keep_releases",
];

/// Walks one document; `errors` holds everything found.
pub(crate) struct Walk<'s> {
    path: String,
    lines: Vec<&'s str>,
    dir: PathBuf,
    pub errors: Vec<ConfigError>,
}

/// A name and where it was written, for the checks across apps and groups.
struct Named {
    name: String,
    pos: Pos,
}

impl<'s> Walk<'s> {
    pub fn new(src: &'s str, path: String, dir: PathBuf) -> Self {
        Walk {
            path,
            lines: src.lines().collect(),
            dir,
            errors: Vec::new(),
        }
    }

    pub fn err(&mut self, pos: Pos, message: impl Into<String>) {
        let source_line = self
            .lines
            .get(pos.line.wrapping_sub(1))
            .map(|l| l.trim_end_matches('\r').to_string());
        self.errors.push(ConfigError {
            path: self.path.clone(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
            source_line,
        });
    }

    fn resolve(&self, p: &str) -> PathBuf {
        resolve(&self.dir, p)
    }

    // ---- the document -------------------------------------------------------------

    /// The whole file: `Ecosystem(apps: […], groups: […], deploy: {…})`.
    pub fn ecosystem(&mut self, node: &Node, file: PathBuf) -> Ecosystem {
        let mut eco = Ecosystem {
            file,
            dir: self.dir.clone(),
            apps: Vec::new(),
            groups: Vec::new(),
            deploy: BTreeMap::new(),
        };
        let Some(fields) = self.record(node, "Ecosystem", "Ecosystem(apps: […])") else {
            return eco;
        };
        let mut app_names = Vec::new();
        let mut groups = Vec::new();
        let mut saw_apps = false;
        for f in fields {
            match f.name.as_str() {
                "apps" => {
                    saw_apps = true;
                    if let Some(items) = self.list(&f.value, "apps") {
                        for item in items {
                            let (app, named) = self.app(item);
                            eco.apps.extend(app);
                            app_names.extend(named);
                        }
                    }
                }
                "groups" => {
                    if let Some(items) = self.list(&f.value, "groups") {
                        for item in items {
                            let (group, named) = self.group(item);
                            eco.groups.extend(group);
                            groups.extend(named);
                        }
                    }
                }
                "deploy" => eco.deploy = self.deploys(&f.value),
                _ => self.unknown(f, ECOSYSTEM_FIELDS, &[("app", "apps"), ("group", "groups")]),
            }
        }
        if !saw_apps {
            self.missing(node, "apps");
        }
        self.cross_checks(&app_names, &groups);
        eco
    }

    /// Checks across apps and groups ([`crate::check_groups`], shared with the daemon),
    /// each error at the name it is about; a repeated name also says where it was first
    /// used.
    fn cross_checks(&mut self, apps: &[Named], groups: &[(Named, Vec<Named>)]) {
        let app_names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        let members: Vec<Vec<String>> = groups
            .iter()
            .map(|(_, m)| m.iter().map(|n| n.name.clone()).collect())
            .collect();
        let group_list: Vec<(&str, &[String])> = groups
            .iter()
            .zip(&members)
            .map(|((g, _), m)| (g.name.as_str(), m.as_slice()))
            .collect();
        let pos = |at: At| match at {
            At::App(i) => apps[i].pos,
            At::Group(g) => groups[g].0.pos,
            At::Member(g, m) => groups[g].1[m].pos,
        };
        for e in check_groups(&app_names, &group_list) {
            let message = match e.first {
                Some(first) => format!("{} (first used on line {})", e.message, pos(first).line),
                None => e.message,
            };
            self.err(pos(e.at), message);
        }
    }

    // ---- App ----------------------------------------------------------------------

    /// An app, when it has no error, and its name with its position, when the name is
    /// valid (the checks across apps use it even when another field is wrong).
    fn app(&mut self, node: &Node) -> (Option<App>, Option<Named>) {
        let Some(fields) = self.record(node, "App", "App(name: …, script: …)") else {
            return (None, None);
        };
        let before = self.errors.len();
        let mut app = App::new(String::new(), String::new(), self.dir.clone());
        app.line = node.pos.line;
        let mut named = None;
        let mut script = false;
        let mut listen_at = None;
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "name" => {
                    if let Some(n) = self.name(v, "name") {
                        named = Some(Named {
                            name: n.clone(),
                            pos: v.pos,
                        });
                        app.name = n;
                    }
                }
                "script" => {
                    script = true;
                    if let Some(s) = self.string(v, "script") {
                        if s.trim().is_empty() {
                            self.err(v.pos, "script must not be empty");
                        }
                        app.script = s;
                    }
                }
                "args" => app.args = self.strings(v, "args").unwrap_or_default(),
                "cwd" => {
                    app.cwd = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "cwd")))
                }
                "interpreter" => {
                    app.interpreter = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.nonempty(v, "interpreter")))
                }
                "interpreter_args" => {
                    app.interpreter_args = self.strings(v, "interpreter_args").unwrap_or_default()
                }
                "instances" => {
                    if let Some(i) = self.instances(v) {
                        app.instances = i;
                    }
                }
                "instance_var" => {
                    if let Some(s) = self.variable(v, "instance_var") {
                        app.instance_var = s;
                    }
                }
                "exec_mode" => {
                    app.exec_mode = self.opt(v).and_then(|v| v.and_then(|v| self.exec_mode(v)))
                }
                "increment_var" => {
                    app.increment_var = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.variable(v, "increment_var")))
                }
                "listen" => {
                    listen_at = Some(f.pos);
                    let mut out = Vec::new();
                    for (item, s) in self.string_nodes(v, "listen").unwrap_or_default() {
                        if let Err(e) = values::validate_listen(&s) {
                            self.err(item.pos, e);
                        } else if out.contains(&s) {
                            self.err(item.pos, format!("\"{s}\" is listed twice in listen"));
                        }
                        out.push(s);
                    }
                    app.listen = out;
                }
                "env" => app.env = self.env(v, "env").unwrap_or_default(),
                "envs" => app.envs = self.envs(v).unwrap_or_default(),
                "env_file" => {
                    app.env_file = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "env_file")))
                }
                "autostart" => app.autostart = self.boolean(v, "autostart").unwrap_or(true),
                "namespace" => {
                    if let Some(n) = self.name(v, "namespace") {
                        app.namespace = n;
                    }
                }
                "uid" => {
                    app.uid = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.user(v, "uid")))
                }
                "gid" => {
                    app.gid = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.user(v, "gid")))
                }
                "restart" => {
                    if let Some(r) = self.restart(v) {
                        app.restart = r;
                    }
                }
                "strategy" => {
                    if let Some(s) = self.strategy(v) {
                        app.strategy = s;
                    }
                }
                "intensity" => {
                    app.intensity = self.opt(v).and_then(|v| v.and_then(|v| self.intensity(v)))
                }
                "stop_exit_codes" => app.stop_exit_codes = self.exit_codes(v).unwrap_or_default(),
                "kill_signal" => {
                    if let Some(s) = self.string(v, "kill_signal") {
                        match values::parse_signal(&s) {
                            Ok(sig) => app.kill_signal = sig,
                            Err(e) => self.err(v.pos, e),
                        }
                    }
                }
                "kill_timeout" => {
                    app.kill_timeout_ms = self
                        .duration(v, "kill_timeout")
                        .unwrap_or(DEFAULT_KILL_TIMEOUT_MS)
                }
                "shutdown_with_message" => {
                    app.shutdown_with_message =
                        self.boolean(v, "shutdown_with_message").unwrap_or(false)
                }
                "wait_ready" => app.wait_ready = self.boolean(v, "wait_ready").unwrap_or(false),
                "listen_timeout" => {
                    app.listen_timeout_ms = self
                        .duration(v, "listen_timeout")
                        .unwrap_or(DEFAULT_LISTEN_TIMEOUT_MS)
                }
                "max_memory_restart" => {
                    app.max_memory_restart = self.opt(v).and_then(|v| {
                        let v = v?;
                        let bytes = self.size(v, "max_memory_restart")?;
                        match values::check_memory_limit(bytes) {
                            Ok(b) => Some(b),
                            Err(e) => {
                                self.err(v.pos, e);
                                None
                            }
                        }
                    })
                }
                "cron_restart" => {
                    app.cron_restart = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.string(v, "cron_restart")));
                    if let Some(p) = &app.cron_restart {
                        if let Err(e) = values::validate_cron(p) {
                            let pos = inner(v).pos;
                            self.err(pos, e);
                        }
                    }
                }
                "cron_timezone" => {
                    app.cron_timezone = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.string(v, "cron_timezone")));
                    if let Some(z) = &app.cron_timezone {
                        if let Err(e) = values::validate_timezone(z) {
                            let pos = inner(v).pos;
                            self.err(pos, e);
                        }
                    }
                }
                "health" => app.health = self.opt(v).and_then(|v| v.and_then(|v| self.health(v))),
                "watch" => {
                    if let Some(w) = self.watch(v) {
                        app.watch = w;
                    }
                }
                "ignore_watch" => {
                    let globs = self.string_nodes(v, "ignore_watch").unwrap_or_default();
                    for (n, g) in &globs {
                        if let Err(e) = crate::validate_ignore_glob(g) {
                            self.err(n.pos, e);
                        }
                    }
                    app.ignore_watch = globs.into_iter().map(|(_, s)| s).collect();
                }
                "watch_delay" => {
                    app.watch_delay_ms = self
                        .duration(v, "watch_delay")
                        .unwrap_or(DEFAULT_WATCH_DELAY_MS)
                }
                "logs" => {
                    if let Some(l) = self.logs(v) {
                        app.logs = l;
                    }
                }
                n if n.starts_with("env_") && n.len() > 4 => {
                    let env = &n[4..];
                    self.err(
                        f.pos,
                        format!(
                            "unknown field \"{n}\", did you mean \"envs: {{\\\"{env}\\\": …}}\"?"
                        )
                        .replace("\\\"", "\""),
                    )
                }
                _ => self.unknown(f, APP_FIELDS, PM2_APP_FIELDS),
            }
        }
        if let Some(pos) =
            listen_at.filter(|_| app.exec_mode == Some(ExecMode::Fork) && !app.listen.is_empty())
        {
            self.err(
                pos,
                "listen shares sockets between instances, which exec_mode Fork does not do: remove listen or use exec_mode: Cluster",
            );
        }
        if !fields.iter().any(|f| f.name == "name") {
            self.missing(node, "name");
        }
        if !script {
            self.missing(node, "script");
        }
        let ok = self.errors.len() == before && named.is_some();
        (ok.then_some(app), named)
    }
}

/// The value inside `Some(…)`, or the node itself.
fn inner(v: &Node) -> &Node {
    match &v.value {
        Value::Call {
            name: Some((n, _)),
            body: Body::Items(items),
        } if n == "Some" && items.len() == 1 => &items[0],
        _ => v,
    }
}

/// What a value is, for "expected X, found Y".
fn describe(v: &Value) -> String {
    match v {
        Value::Str(_) => "a string".into(),
        Value::Char(_) => "a char".into(),
        Value::Int(_) => "an integer".into(),
        Value::Float(..) => "a number".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Ident(i) => format!("\"{i}\""),
        Value::Call {
            name: Some((n, _)), ..
        } => format!("\"{n}(…)\""),
        Value::Call {
            name: None,
            body: Body::Fields(_),
        } => "a struct (…)".into(),
        Value::Call {
            name: None,
            body: Body::Items(_),
        } => "a tuple (…)".into(),
        Value::List(_) => "a list […]".into(),
        Value::Map(_) => "a map {…}".into(),
    }
}

/// `p` made absolute against `dir`, with `.` components dropped (`..` is kept: it may
/// cross a symlink).
pub(crate) fn resolve(dir: &Path, p: &str) -> PathBuf {
    let joined = dir.join(p);
    joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}
