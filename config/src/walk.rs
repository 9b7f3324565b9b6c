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
    "ssh_options",
    "pre_setup",
    "post_setup",
    "pre_deploy",
    "pre_deploy_local",
    "post_deploy",
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

    fn instances(&mut self, v: &Node) -> Option<Instances> {
        let what = "expected Count(n), a bare n, Max or MaxMinus(k) for \"instances\"";
        match &v.value {
            Value::Int(n) if *n > 0 => self.int_in::<u32>(v, *n, "instances").map(Instances::Count),
            // PM2's spellings: 0 is "max", -k is "max minus k".
            Value::Int(0) => Some(Instances::Max),
            Value::Int(n) => self
                .int_in::<u32>(v, -*n, "instances")
                .map(Instances::MaxMinus),
            Value::Ident(i) if i == "Max" => Some(Instances::Max),
            Value::Str(s) if s.eq_ignore_ascii_case("max") => Some(Instances::Max),
            Value::Call {
                name: Some((n, _)),
                body: Body::Items(items),
            } if (n == "Count" || n == "MaxMinus") && items.len() == 1 => {
                let item = &items[0];
                let Value::Int(k) = item.value else {
                    self.err(
                        item.pos,
                        format!(
                            "expected an integer in {n}(…), found {}",
                            describe(&item.value)
                        ),
                    );
                    return None;
                };
                if n == "Count" {
                    if k < 1 {
                        self.err(
                            item.pos,
                            "instances must be at least 1 (Max for one per CPU)",
                        );
                        return None;
                    }
                    self.int_in::<u32>(item, k, "instances")
                        .map(Instances::Count)
                } else {
                    self.int_in::<u32>(item, k, "instances")
                        .map(Instances::MaxMinus)
                }
            }
            Value::Ident(i) => {
                let msg = match suggest(i, &["Max", "Count", "MaxMinus"]) {
                    Some(s) => format!("unknown instances \"{i}\", did you mean \"{s}\"?"),
                    None => format!("{what}, found \"{i}\""),
                };
                self.err(v.pos, msg);
                None
            }
            other => {
                self.err(v.pos, format!("{what}, found {}", describe(other)));
                None
            }
        }
    }

    fn restart(&mut self, v: &Node) -> Option<Restart> {
        let fields = self.record(v, "Restart", "(policy: …, delay: …)")?;
        let mut r = Restart::default();
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "policy" => {
                    if let Some(p) = self.variant(v, "policy", &["Always", "OnFailure", "Never"]) {
                        r.policy = match p {
                            "OnFailure" => Policy::OnFailure,
                            "Never" => Policy::Never,
                            _ => Policy::Always,
                        };
                    }
                }
                "delay" => r.delay_ms = self.duration(v, "delay").unwrap_or(0),
                "backoff" => {
                    r.backoff_ms = match self.opt(v) {
                        Some(Some(b)) => {
                            match &b.value {
                                Value::Call {
                                    name: Some((n, _)),
                                    body: Body::Items(items),
                                } if n == "Exp" && items.len() == 1 => {
                                    self.duration(&items[0], "backoff")
                                }
                                other => {
                                    self.err(b.pos, format!("expected Exp(\"100ms\") or None for \"backoff\", found {}", describe(other)));
                                    None
                                }
                            }
                        }
                        _ => None,
                    }
                }
                "min_uptime" => {
                    r.min_uptime_ms = self
                        .duration(v, "min_uptime")
                        .unwrap_or(DEFAULT_MIN_UPTIME_MS)
                }
                "max_restarts" => {
                    r.max_restarts = self.uint(v, "max_restarts").unwrap_or(DEFAULT_MAX_RESTARTS)
                }
                _ => self.unknown(
                    f,
                    RESTART_FIELDS,
                    &[
                        ("restart_delay", "delay"),
                        ("exp_backoff_restart_delay", "backoff"),
                    ],
                ),
            }
        }
        Some(r)
    }

    fn intensity(&mut self, v: &Node) -> Option<Intensity> {
        let fields = self.record(v, "Intensity", "(max: …, within: …)")?;
        let mut i = Intensity::default();
        for f in fields {
            match f.name.as_str() {
                "max" => i.max = self.uint(&f.value, "max").unwrap_or(i.max),
                "within" => {
                    i.within_ms = self.duration(&f.value, "within").unwrap_or(i.within_ms);
                    if i.within_ms == 0 {
                        self.err(f.value.pos, "intensity \"within\" must be more than 0");
                    }
                }
                _ => self.unknown(
                    f,
                    INTENSITY_FIELDS,
                    &[("intensity", "max"), ("period", "within")],
                ),
            }
        }
        Some(i)
    }

    fn watch(&mut self, v: &Node) -> Option<Watch> {
        let paths = |w: &mut Self, list: &Node| -> Option<Watch> {
            let items = w.string_nodes(list, "watch")?;
            if items.is_empty() {
                w.err(
                    list.pos,
                    "watch: Paths([]) watches nothing; write false to turn watching off",
                );
                return None;
            }
            let mut out = Vec::new();
            for (n, s) in items {
                if s.is_empty() {
                    w.err(n.pos, "a watch path must not be empty");
                }
                out.push(w.resolve(&s));
            }
            Some(Watch::Paths(out))
        };
        match &v.value {
            Value::Bool(false) => Some(Watch::Off),
            Value::Bool(true) => Some(Watch::On),
            Value::Call {
                name: Some((n, _)),
                body: Body::Items(items),
            } if n == "Paths" && items.len() == 1 => paths(self, &items[0]),
            Value::List(_) => paths(self, v),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected false, true or Paths([…]) for \"watch\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn logs(&mut self, v: &Node) -> Option<Logs> {
        let fields = self.record(v, "Logs", "(time: …, date_format: …)")?;
        let mut l = Logs::default();
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "time" => l.time = self.boolean(v, "time").unwrap_or(false),
                "date_format" => {
                    if let Some(s) = self.string(v, "date_format") {
                        if let Err(e) = values::validate_date_format(&s) {
                            self.err(v.pos, e);
                        }
                        l.date_format = s;
                    }
                }
                "merge" => l.merge = self.boolean(v, "merge").unwrap_or(false),
                "out_file" => {
                    l.out_file = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "out_file")))
                }
                "error_file" => {
                    l.error_file = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "error_file")))
                }
                "log_file" => {
                    l.log_file = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "log_file")))
                }
                "rotate" => l.rotate = self.opt(v).and_then(|v| v.and_then(|v| self.rotate(v))),
                "format" => {
                    if let Some(f) = self.variant(v, "format", &["Text", "Json"]) {
                        l.format = match f {
                            "Json" => LogFormat::Json,
                            _ => LogFormat::Text,
                        };
                    }
                }
                _ => self.unknown(
                    f,
                    LOGS_FIELDS,
                    &[
                        ("merge_logs", "merge"),
                        ("log_date_format", "date_format"),
                        ("output", "out_file"),
                        ("error", "error_file"),
                        ("log", "log_file"),
                        ("log_type", "format"),
                    ],
                ),
            }
        }
        Some(l)
    }

    fn rotate(&mut self, v: &Node) -> Option<Rotate> {
        let fields = self.record(
            v,
            "Rotate",
            "(max_size: …, interval: …, keep: …, compress: …)",
        )?;
        let mut r = Rotate::default();
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "max_size" => {
                    r.max_size = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.size(v, "max_size")))
                }
                "interval" => {
                    r.interval_ms = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.duration(v, "interval")))
                }
                "keep" => r.keep = self.uint(v, "keep").unwrap_or(DEFAULT_ROTATE_KEEP),
                "compress" => r.compress = self.boolean(v, "compress").unwrap_or(false),
                _ => self.unknown(
                    f,
                    ROTATE_FIELDS,
                    &[("retain", "keep"), ("rotateInterval", "interval")],
                ),
            }
        }
        if r.max_size == Some(0) || r.interval_ms == Some(0) {
            self.err(v.pos, "rotate: max_size and interval must be more than 0");
        }
        Some(r)
    }

    // ---- Group and Deploy ---------------------------------------------------------

    /// A group, when it has no error, and its name and members with their positions, when
    /// its name is valid.
    fn group(&mut self, node: &Node) -> (Option<Group>, Option<(Named, Vec<Named>)>) {
        let Some(fields) = self.record(node, "Group", "Group(name: …, apps: […])") else {
            return (None, None);
        };
        let before = self.errors.len();
        let mut g = Group {
            name: String::new(),
            strategy: Strategy::default(),
            intensity: Intensity::default(),
            apps: Vec::new(),
            line: node.pos.line,
        };
        let mut named = None;
        let mut members = Vec::new();
        let mut saw_apps = false;
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "name" => {
                    if let Some(n) = self.name(v, "name") {
                        named = Some(Named {
                            name: n.clone(),
                            pos: v.pos,
                        });
                        g.name = n;
                    }
                }
                "strategy" => g.strategy = self.strategy(v).unwrap_or_default(),
                "intensity" => g.intensity = self.intensity(v).unwrap_or_default(),
                "apps" => {
                    saw_apps = true;
                    if let Some(items) = self.string_nodes(v, "apps") {
                        if items.is_empty() {
                            self.err(v.pos, "a group needs at least one app");
                        }
                        for (n, s) in items {
                            members.push(Named {
                                name: s.clone(),
                                pos: n.pos,
                            });
                            g.apps.push(s);
                        }
                    }
                }
                _ => self.unknown(
                    f,
                    GROUP_FIELDS,
                    &[("members", "apps"), ("children", "apps")],
                ),
            }
        }
        if !fields.iter().any(|f| f.name == "name") {
            self.missing(node, "name");
        }
        if !saw_apps {
            self.missing(node, "apps");
        }
        let ok = self.errors.len() == before && named.is_some();
        (ok.then_some(g), named.map(|n| (n, members)))
    }

    fn deploys(&mut self, v: &Node) -> BTreeMap<String, Deploy> {
        let mut out = BTreeMap::new();
        let Value::Map(entries) = &v.value else {
            self.err(
                v.pos,
                format!(
                    "expected a map {{\"name\": Deploy(…)}} for \"deploy\", found {}",
                    describe(&v.value)
                ),
            );
            return out;
        };
        for (k, d) in entries {
            let Some(name) = self.string(k, "a deploy name") else {
                continue;
            };
            if name.is_empty() {
                self.err(k.pos, "a deploy name must not be empty");
            }
            if out.contains_key(&name) {
                self.err(k.pos, format!("duplicate deploy name \"{name}\""));
            }
            if let Some(d) = self.deploy(d) {
                out.insert(name, d);
            }
        }
        out
    }

    fn deploy(&mut self, node: &Node) -> Option<Deploy> {
        let fields = self.record(node, "Deploy", "Deploy(host: …, repo: …)")?;
        let mut d = Deploy::default();
        for f in fields {
            let v = &f.value;
            let text = |w: &mut Self| w.opt(v).and_then(|v| v.and_then(|v| w.string(v, &f.name)));
            match f.name.as_str() {
                "user" => d.user = text(self),
                "host" => d.host = self.one_or_many(v, "host").unwrap_or_default(),
                "ref" => d.r#ref = text(self),
                "repo" => d.repo = text(self),
                "path" => d.path = text(self),
                "key" => d.key = text(self),
                "ssh_options" => {
                    d.ssh_options = self.one_or_many(v, "ssh_options").unwrap_or_default()
                }
                "pre_setup" => d.pre_setup = text(self),
                "post_setup" => d.post_setup = text(self),
                "pre_deploy" => d.pre_deploy = text(self),
                "pre_deploy_local" => d.pre_deploy_local = text(self),
                "post_deploy" => d.post_deploy = text(self),
                _ => self.unknown(f, DEPLOY_FIELDS, &[]),
            }
        }
        Some(d)
    }

    // ---- shapes -------------------------------------------------------------------

    /// The fields of a struct `Name(…)` or `(…)`; a wrong name is reported and the fields
    /// are still checked. A field given twice is reported (the last one counts).
    fn record<'n>(&mut self, node: &'n Node, name: &str, shape: &str) -> Option<&'n [Field]> {
        let Value::Call { name: given, body } = &node.value else {
            self.err(
                node.pos,
                format!("expected {shape}, found {}", describe(&node.value)),
            );
            return None;
        };
        if let Some((g, pos)) = given {
            if g != name {
                self.err(*pos, format!("expected {shape}, found \"{g}(…)\""));
            }
        }
        let fields: &[Field] = match body {
            Body::Fields(f) => f,
            Body::Items(items) if items.is_empty() => &[],
            Body::Items(_) => {
                self.err(node.pos, format!("expected {shape}, found a tuple"));
                return None;
            }
        };
        for (i, f) in fields.iter().enumerate() {
            if fields[..i].iter().any(|g| g.name == f.name) {
                self.err(f.pos, format!("field \"{}\" is given twice", f.name));
            }
        }
        Some(fields)
    }

    fn unknown(&mut self, f: &Field, known: &[&str], moved: &[(&str, &str)]) {
        let msg = if let Some((_, to)) = moved.iter().find(|(from, _)| *from == f.name) {
            format!("unknown field \"{}\", did you mean \"{to}\"?", f.name)
        } else if let Some(s) = suggest(&f.name, known) {
            format!("unknown field \"{}\", did you mean \"{s}\"?", f.name)
        } else {
            format!(
                "unknown field \"{}\"; expected one of: {}",
                f.name,
                known.join(", ")
            )
        };
        self.err(f.pos, msg);
    }

    fn missing(&mut self, node: &Node, field: &str) {
        self.err(node.pos, format!("missing field \"{field}\""));
    }

    /// `None` → `Some(None)`; `Some(x)` or a bare `x` → `Some(Some(x))` (`implicit_some`);
    /// a malformed `Some(…)` → reported, `None`.
    fn opt<'n>(&mut self, v: &'n Node) -> Option<Option<&'n Node>> {
        match &v.value {
            Value::Ident(i) if i == "None" => Some(None),
            Value::Call {
                name: Some((n, _)),
                body,
            } if n == "Some" => match body {
                Body::Items(items) if items.len() == 1 => Some(Some(&items[0])),
                _ => {
                    self.err(v.pos, "Some(…) takes exactly one value");
                    None
                }
            },
            _ => Some(Some(v)),
        }
    }

    fn list<'n>(&mut self, v: &'n Node, field: &str) -> Option<&'n [Node]> {
        match &v.value {
            Value::List(items) => Some(items),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a list […] for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Node, field: &str) -> Option<String> {
        match &v.value {
            Value::Str(s) => Some(s.clone()),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a string for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn nonempty(&mut self, v: &Node, field: &str) -> Option<String> {
        let s = self.string(v, field)?;
        if s.is_empty() {
            self.err(v.pos, format!("{field} must not be empty"));
            return None;
        }
        Some(s)
    }

    fn name(&mut self, v: &Node, field: &str) -> Option<String> {
        let s = self.string(v, field)?;
        if let Err(e) = values::validate_name(&s) {
            self.err(v.pos, e);
            return None;
        }
        Some(s)
    }

    /// A user or group: a name or a numeric id.
    fn user(&mut self, v: &Node, field: &str) -> Option<String> {
        match &v.value {
            Value::Int(n) if *n >= 0 => Some(n.to_string()),
            _ => self.nonempty(v, field),
        }
    }

    fn path(&mut self, v: &Node, field: &str) -> Option<PathBuf> {
        let s = self.nonempty(v, field)?;
        Some(self.resolve(&s))
    }

    fn boolean(&mut self, v: &Node, field: &str) -> Option<bool> {
        match &v.value {
            Value::Bool(b) => Some(*b),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected true or false for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn int_in<T: TryFrom<i128>>(&mut self, v: &Node, n: i128, field: &str) -> Option<T> {
        match T::try_from(n) {
            Ok(t) => Some(t),
            Err(_) => {
                self.err(v.pos, format!("{n} is out of range for \"{field}\""));
                None
            }
        }
    }

    fn uint(&mut self, v: &Node, field: &str) -> Option<u32> {
        match &v.value {
            Value::Int(n) => self.int_in(v, *n, field),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a whole number for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A duration in ms, bounded by [`values::MAX_DURATION_MS`] but for log rotation's
    /// `interval` (a weekly rotation is fine; it is not a wait of the daemon).
    fn duration(&mut self, v: &Node, field: &str) -> Option<u64> {
        let ms = self.any_duration(v, field)?;
        if field == "interval" {
            return Some(ms);
        }
        match values::check_duration(field, ms) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.err(v.pos, e);
                None
            }
        }
    }

    fn any_duration(&mut self, v: &Node, field: &str) -> Option<u64> {
        match &v.value {
            Value::Int(n) if *n >= 0 => self.int_in(v, *n, field),
            Value::Str(s) => match values::parse_duration(s) {
                Ok(ms) => Some(ms),
                Err(e) => {
                    self.err(v.pos, e);
                    None
                }
            },
            other => {
                let found = if let Value::Int(n) = other {
                    format!("{n}")
                } else {
                    describe(other)
                };
                self.err(v.pos, format!("expected a duration for \"{field}\" (\"250ms\", \"2s\" or integer ms), found {found}"));
                None
            }
        }
    }

    fn size(&mut self, v: &Node, field: &str) -> Option<u64> {
        match &v.value {
            Value::Int(n) if *n >= 0 => self.int_in(v, *n, field),
            Value::Str(s) => match values::parse_size(s) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.err(v.pos, e);
                    None
                }
            },
            other => {
                let found = if let Value::Int(n) = other {
                    format!("{n}")
                } else {
                    describe(other)
                };
                self.err(v.pos, format!("expected a size for \"{field}\" (\"300M\", \"1G\" or integer bytes), found {found}"));
                None
            }
        }
    }

    fn variant<'a>(&mut self, v: &Node, field: &str, variants: &[&'a str]) -> Option<&'a str> {
        match &v.value {
            Value::Ident(i) => {
                if let Some(found) = variants.iter().find(|x| **x == i) {
                    return Some(found);
                }
                let msg = match suggest(i, variants) {
                    Some(s) => format!("unknown {field} \"{i}\", did you mean \"{s}\"?"),
                    None => format!(
                        "unknown {field} \"{i}\"; expected one of: {}",
                        variants.join(", ")
                    ),
                };
                self.err(v.pos, msg);
                None
            }
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected one of {} for \"{field}\", found {}",
                        variants.join(", "),
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// An environment variable's name: not empty, no `=` nor NUL (it could not be set).
    fn variable(&mut self, v: &Node, field: &str) -> Option<String> {
        let s = self.nonempty(v, field)?;
        if s.contains('=') || s.contains('\0') {
            self.err(v.pos, format!("invalid variable name \"{s}\""));
        }
        Some(s)
    }

    /// `Cluster` or `Fork`; PM2's strings (`"fork"`, `"cluster_mode"`) are refused with
    /// the variant to write instead.
    fn exec_mode(&mut self, v: &Node) -> Option<ExecMode> {
        if let Value::Str(s) = &v.value {
            let want = match s.trim_end_matches("_mode").to_ascii_lowercase().as_str() {
                "fork" => Some("Fork"),
                "cluster" => Some("Cluster"),
                _ => None,
            };
            if let Some(w) = want {
                self.err(
                    v.pos,
                    format!("exec_mode \"{s}\" is PM2's spelling, write {w} (no quotes)"),
                );
                return None;
            }
        }
        Some(match self.variant(v, "exec_mode", &["Cluster", "Fork"])? {
            "Fork" => ExecMode::Fork,
            _ => ExecMode::Cluster,
        })
    }

    fn strategy(&mut self, v: &Node) -> Option<Strategy> {
        Some(
            match self.variant(v, "strategy", &["OneForOne", "OneForAll", "RestForOne"])? {
                "OneForAll" => Strategy::OneForAll,
                "RestForOne" => Strategy::RestForOne,
                _ => Strategy::OneForOne,
            },
        )
    }

    /// A list of strings, each with its node (for positions).
    fn string_nodes<'n>(&mut self, v: &'n Node, field: &str) -> Option<Vec<(&'n Node, String)>> {
        let items = self.list(v, field)?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match &item.value {
                Value::Str(s) => out.push((item, s.clone())),
                other => {
                    ok = false;
                    self.err(
                        item.pos,
                        format!(
                            "expected a string in \"{field}\", found {}",
                            describe(other)
                        ),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn strings(&mut self, v: &Node, field: &str) -> Option<Vec<String>> {
        Some(
            self.string_nodes(v, field)?
                .into_iter()
                .map(|(_, s)| s)
                .collect(),
        )
    }

    /// A string or a list of strings (PM2's `host` and `ssh_options`).
    fn one_or_many(&mut self, v: &Node, field: &str) -> Option<Vec<String>> {
        match &v.value {
            Value::Str(s) => Some(vec![s.clone()]),
            Value::List(_) => self.strings(v, field),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a string or a list of strings for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn exit_codes(&mut self, v: &Node) -> Option<Vec<i32>> {
        let items = self.list(v, "stop_exit_codes")?;
        let mut out = Vec::new();
        for item in items {
            match &item.value {
                Value::Int(n) => out.extend(self.int_in::<i32>(item, *n, "stop_exit_codes")),
                other => self.err(
                    item.pos,
                    format!(
                        "expected an integer in \"stop_exit_codes\", found {}",
                        describe(other)
                    ),
                ),
            }
        }
        Some(out)
    }

    /// `{"KEY": value}`; values are strings, numbers or booleans, all kept as strings.
    fn env(&mut self, v: &Node, field: &str) -> Option<BTreeMap<String, String>> {
        let Value::Map(entries) = &v.value else {
            self.err(
                v.pos,
                format!(
                    "expected a map {{\"KEY\": \"value\"}} for \"{field}\", found {}",
                    describe(&v.value)
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, val) in entries {
            let Some(key) = self.string(k, &format!("a key of {field}")) else {
                continue;
            };
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                self.err(
                    k.pos,
                    format!("invalid variable name \"{}\"", key.escape_debug()),
                );
                continue;
            }
            if out.contains_key(&key) {
                self.err(k.pos, format!("variable \"{key}\" is given twice"));
            }
            let text = match &val.value {
                Value::Str(s) => s.clone(),
                Value::Int(n) => n.to_string(),
                Value::Float(_, text) => text.clone(),
                Value::Bool(b) => b.to_string(),
                other => {
                    self.err(
                        val.pos,
                        format!(
                            "expected a string, number or boolean for {field} \"{key}\", found {}",
                            describe(other)
                        ),
                    );
                    continue;
                }
            };
            out.insert(key, text);
        }
        Some(out)
    }

    fn envs(&mut self, v: &Node) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
        let Value::Map(entries) = &v.value else {
            self.err(
                v.pos,
                format!(
                    "expected a map {{\"production\": {{…}}}} for \"envs\", found {}",
                    describe(&v.value)
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, val) in entries {
            let Some(name) = self.string(k, "an envs name") else {
                continue;
            };
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.err(
                    k.pos,
                    format!("invalid env name \"{}\"", name.escape_debug()),
                );
                continue;
            }
            if out.contains_key(&name) {
                self.err(k.pos, format!("env \"{name}\" is given twice"));
            }
            if let Some(map) = self.env(val, &format!("envs.{name}")) {
                out.insert(name, map);
            }
        }
        Some(out)
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
