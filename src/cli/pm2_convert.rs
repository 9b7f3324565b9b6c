//! A PM2 ecosystem (its exported value as JSON) to ecosystem.ron text, keeping PM2's
//! meaning: PM2 7's field names and aliases (`lib/API/schema.json`), its path rule
//! (`cwd` and `script` resolved against the directory `pm2` runs from,
//! `Common.prepareAppConf`), its argument splitting (`tools/Config.js`), its `env` /
//! `env_<name>` / `deploy.<name>.env` layering (`Common.mergeEnvironmentVariables`) and
//! its instance counts (`God.prepare`). What pmx spells differently is rewritten, with a
//! comment; what pmx has no use for is listed in one warning; what pmx cannot express
//! is an error naming the app, the field and why.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

/// Where the conversion happens.
pub struct Context {
    /// The directory PM2 would run from (the caller's): PM2 resolves `cwd`, `script` and
    /// log paths against it.
    pub caller_cwd: PathBuf,
    /// The PM2 file's directory: tried when a script is not found from `caller_cwd`
    /// (PM2 would fail there; the file's directory is what its author meant).
    pub file_dir: PathBuf,
    /// The directory of the ecosystem.ron being written: paths below it become relative.
    pub out_dir: PathBuf,
    /// The PM2 file as the user named it (header comment, messages).
    pub source_name: String,
    /// `$PATH`, to find a `script` that is a command (PM2's `which`).
    pub path_var: Option<String>,
    /// `$HOME`, for `~` in log paths (PM2's `resolveHome`).
    pub home_dir: Option<PathBuf>,
    /// `$PMX_HOME/logs`: where `log_file: true` puts `<name>.log`.
    pub logs_dir: PathBuf,
}

/// The ecosystem.ron text and the warnings met on the way (one line each).
#[derive(Debug)]
pub struct Converted {
    /// The whole file, comments included.
    pub ron: String,
    /// Things the user should know: fields dropped, PM2 quirks not carried over.
    pub warnings: Vec<String>,
}

/// PM2's aliases (schema.json's `alias` lists, camelCase forms, `cmd`/`command`): the
/// canonical key first, then the others in PM2's order of preference.
const ALIASES: &[(&str, &[&str])] = &[
    ("script", &["exec", "cmd", "command"]),
    ("exec_interpreter", &["interpreter", "execInterpreter"]),
    (
        "node_args",
        &["interpreter_args", "interpreterArgs", "nodeArgs"],
    ),
    ("out_file", &["out_log", "output", "out", "outFile"]),
    (
        "error_file",
        &["err_log", "err_file", "err", "error", "errorFile"],
    ),
    ("log_file", &["log", "logFile"]),
    ("log_date_format", &["logDateFormat"]),
    ("max_memory_restart", &["maxMemoryRestart"]),
    ("pid_file", &["pid", "pidFile"]),
    ("restart_delay", &["restartDelay"]),
    ("exp_backoff_restart_delay", &["expBackoffRestartDelay"]),
    ("wait_ready", &["waitReady"]),
    ("kill_timeout", &["killTimeout"]),
    ("listen_timeout", &["listenTimeout"]),
    ("cron_restart", &["cron", "cronRestart"]),
    ("merge_logs", &["combine_logs", "mergeLogs"]),
    ("stop_exit_codes", &["stopExitCodes"]),
    ("watch_delay", &["watchDelay"]),
    ("ignore_watch", &["ignoreWatch"]),
    ("min_uptime", &["minUptime"]),
    ("max_restarts", &["maxRestarts"]),
    ("exec_mode", &["execMode"]),
    ("instance_var", &["instanceVar"]),
    ("uid", &["user"]),
    ("disable_logs", &["disableLogs"]),
    ("log_type", &["logType"]),
    ("filter_env", &["filterEnv"]),
    ("append_env_to_name", &["appendEnvToName"]),
    ("increment_var", &["incrementVar"]),
    ("shutdown_with_message", &["shutdownWithMessage"]),
    ("source_map_support", &["sourceMapSupport"]),
    ("disable_source_map_support", &["disableSourceMapSupport"]),
    ("kill_retry_time", &["killRetryTime"]),
    ("watch_options", &["watchOptions"]),
    ("name_prefix", &["namePrefix"]),
    ("install_url", &["installUrl"]),
    ("post_update", &["postUpdate"]),
    ("disable_trace", &["disableTrace"]),
    ("event_loop_inspector", &["eventLoopInspector"]),
    ("deep_monitoring", &["deepMonitoring"]),
    ("execute_command", &["executeCommand"]),
];

/// PM2 fields pmx has no use for: monitoring, PM2.io, source maps, Windows, PM2's own
/// kill loop. Listed in one warning.
const NO_USE: &[&str] = &[
    "vizion",
    "pmx",
    "automation",
    "source_map_support",
    "disable_source_map_support",
    "treekill",
    "windowsHide",
    "kill_retry_time",
    "trace",
    "disable_trace",
    "v8",
    "event_loop_inspector",
    "deep_monitoring",
    "post_update",
    "install_url",
    "username",
    "force",
    "write",
    "io",
    "name_prefix",
    "watch_options",
    "pid_file",
    "execute_command",
];

/// Convert a PM2 ecosystem: `config` is what the file exports (`{apps, deploy}`, a bare
/// array of apps or one app, as PM2 accepts), `dropped` the non-data values the loader
/// left out (`apps[0].env.f (a function)`). Errors: one line per problem, every app's.
pub fn convert(
    config: &Value,
    dropped: &[String],
    ctx: &Context,
) -> Result<Converted, Vec<String>> {
    let mut warnings: Vec<String> = dropped
        .iter()
        .map(|d| format!("{}: {d} is not data; left out", ctx.source_name))
        .collect();
    let mut errors = Vec::new();
    // API._startJson: `apps`, else `pm2`, else the value itself; one app becomes a list.
    let (apps_value, deploy) = match config {
        Value::Object(top) => {
            let apps = top.get("apps").or_else(|| top.get("pm2")).unwrap_or(config);
            (apps, top.get("deploy"))
        }
        Value::Array(_) => (config, None),
        _ => {
            return Err(vec![format!(
                "{}: expected an object with \"apps\" (or a list of apps), found {}",
                ctx.source_name,
                kind(config)
            )])
        }
    };
    let apps: Vec<&Value> = match apps_value {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if apps.is_empty() {
        errors.push(format!("{}: \"apps\" is empty", ctx.source_name));
    }
    let deploy_envs = deploy_envs(deploy);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Converted by `pmx import` from {}.\n\
         // Paths are relative to this file; PM2 resolved them against the directory it ran from.",
        ctx.source_name
    );
    out.push_str("Ecosystem(\n    apps: [\n");
    let mut unused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut names = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let Value::Object(obj) = app else {
            errors.push(format!(
                "{}: apps[{i}]: expected an object, found {}",
                ctx.source_name,
                kind(app)
            ));
            continue;
        };
        let mut conv = AppConv {
            ctx,
            errors: Vec::new(),
            warnings: Vec::new(),
            label: String::new(),
            lines: Vec::new(),
        };
        if let Some(text) = conv.app(obj, i, &deploy_envs, &mut unused) {
            names.push(conv.label.clone());
            out.push_str(&text);
        }
        errors.append(&mut conv.errors);
        warnings.append(&mut conv.warnings);
    }
    out.push_str("    ],\n");
    if let Some(d) = deploy {
        match deploy_text(d, &mut warnings) {
            Ok(t) => out.push_str(&t),
            Err(e) => errors.push(format!("{}: deploy: {e}", ctx.source_name)),
        }
    }
    out.push_str(")\n");
    if !unused.is_empty() {
        let list: Vec<String> = unused
            .iter()
            .map(|(k, apps)| format!("{k} ({})", apps.join(", ")))
            .collect();
        warnings.push(format!(
            "{}: fields pmx has no use for, left out: {}",
            ctx.source_name,
            list.join("; ")
        ));
    }
    if errors.is_empty() {
        Ok(Converted { ron: out, warnings })
    } else {
        Err(errors)
    }
}

/// One app's conversion: its lines of RON and what went wrong.
struct AppConv<'c> {
    ctx: &'c Context,
    errors: Vec<String>,
    warnings: Vec<String>,
    /// `app "name"` (or `apps[i]` before the name is known), for messages.
    label: String,
    /// `(field text, comment)`, one per line inside `App(…)`.
    lines: Vec<(String, Option<String>)>,
}

/// A script as PM2 resolved it.
enum Script {
    /// A file (absolute).
    File(PathBuf),
    /// A command found on PATH, kept by name.
    Command(String),
}

impl AppConv<'_> {
    fn err(&mut self, field: &str, why: impl std::fmt::Display) {
        self.errors.push(format!(
            "{}: {}: {field}: {why}",
            self.ctx.source_name, self.label
        ));
    }

    fn warn(&mut self, why: impl std::fmt::Display) {
        self.warnings
            .push(format!("{}: {}: {why}", self.ctx.source_name, self.label));
    }

    fn line(&mut self, text: String, comment: Option<&str>) {
        self.lines.push((text, comment.map(str::to_string)));
    }

    fn app(
        &mut self,
        obj: &Map<String, Value>,
        index: usize,
        deploy_envs: &BTreeMap<String, Map<String, Value>>,
        unused: &mut BTreeMap<String, Vec<String>>,
    ) -> Option<String> {
        self.label = format!("apps[{index}]");
        let a = canonical(obj);
        // Name the app in messages about its script too, when it has a name.
        if let Some(Value::String(n)) = a.get("name") {
            if !n.is_empty() {
                self.label = format!("app \"{n}\"");
            }
        }
        // The script: PM2's `bash -c` for a script with a space (Common.verifyConfs).
        let Some(script_raw) = a.get("script") else {
            self.err("script", "missing (PM2: \"No script path\")");
            return None;
        };
        let Some(script_raw) = script_raw.as_str().map(str::to_string) else {
            self.err(
                "script",
                format!("expected a string, found {}", kind(script_raw)),
            );
            return None;
        };
        let name = match a.get("name") {
            Some(Value::String(n)) if !n.is_empty() => n.clone(),
            Some(v @ Value::Number(_)) => v.to_string(),
            None | Some(Value::Null) | Some(Value::String(_)) => render_name(&script_raw),
            Some(v) => {
                self.err("name", format!("expected a string, found {}", kind(v)));
                return None;
            }
        };
        self.label = format!("app \"{name}\"");
        if let Err(e) = pmx_config::validate_name(&name) {
            self.err("name", e);
        }
        for key in a.keys() {
            if NO_USE.contains(&key.as_str()) {
                unused.entry(key.clone()).or_default().push(name.clone());
            } else if !KNOWN.contains(&key.as_str()) && !key.starts_with("env_") {
                unused
                    .entry(format!("{key} (unknown to PM2 too)"))
                    .or_default()
                    .push(name.clone());
            }
        }
        self.line(format!("name: {}", ron_str(&name)), None);
        let command_line = script_raw.contains(' ');
        let cwd_raw = match a.get("cwd") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) if c.is_empty() => None,
            Some(Value::String(c)) => Some(c.clone()),
            Some(v) => {
                self.err("cwd", format!("expected a string, found {}", kind(v)));
                None
            }
        };
        // PM2 resolves against the directory it runs from; when the script is not there
        // but is beside the file, the file's directory is what the author meant.
        let ctx = self.ctx;
        let resolve = |base: &Path| -> (PathBuf, Option<Script>) {
            let pm_cwd = match &cwd_raw {
                Some(c) => normalize(&base.join(c)),
                None => base.to_path_buf(),
            };
            if command_line {
                return (pm_cwd, Some(Script::Command("bash".into())));
            }
            let script = find_script(&script_raw, &pm_cwd, base, ctx.path_var.as_deref());
            (pm_cwd, script)
        };
        let (mut pm_cwd, mut script) = resolve(&self.ctx.caller_cwd);
        if script.is_none() && self.ctx.file_dir != self.ctx.caller_cwd {
            let (c, s) = resolve(&self.ctx.file_dir);
            if s.is_some() {
                self.warn(format!(
                    "script {script_raw:?} is not found from {} (where PM2 would look, as it resolves paths against the directory it runs from); using the file's directory",
                    self.ctx.caller_cwd.display()
                ));
                (pm_cwd, script) = (c, s);
            }
        }
        match &script {
            None => {
                self.err(
                    "script",
                    format!(
                        "{script_raw:?} not found (PM2 looks for {})",
                        normalize(&pm_cwd.join(&script_raw)).display()
                    ),
                );
            }
            Some(Script::Command(c)) => self.line(format!("script: {}", ron_str(c)), None),
            Some(Script::File(p)) => {
                let shown = self.rel(p);
                self.line(format!("script: {}", ron_str(&shown)), None)
            }
        }
        // args
        let mut args = self.list("args", a.get("args"));
        if command_line {
            if args.as_ref().is_some_and(|a| !a.is_empty()) {
                self.warn("args left out: PM2 runs a script with a space as `bash -c \"<script>\"` and drops its args");
            }
            if pm_cwd.join(&script_raw).is_file() {
                self.warn(format!(
                    "{script_raw:?} is a file, but PM2 runs a script with a space as a command line (`bash -c`), which splits it at the space; so does this conversion"
                ));
            }
            args = Some(vec!["-c".into(), script_raw.clone()]);
            self.line(
                format!("args: {}", ron_list(args.as_deref().unwrap_or_default())),
                Some("PM2 runs a script with a space through bash -c"),
            );
        } else if let Some(args) = args.as_ref().filter(|a| !a.is_empty()) {
            self.line(format!("args: {}", ron_list(args)), None);
        }
        if pm_cwd != self.ctx.out_dir {
            let shown = self.rel(&pm_cwd);
            self.line(format!("cwd: {}", ron_str(&shown)), None);
        }
        // interpreter and its arguments
        let interpreter = match a.get("exec_interpreter") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                self.err(
                    "interpreter",
                    format!("expected a string, found {}", kind(v)),
                );
                None
            }
        };
        if command_line {
            self.line("interpreter: \"none\"".into(), None);
        } else if let Some(i) = &interpreter {
            self.line(format!("interpreter: {}", ron_str(i)), None);
        } else if let Some(Script::File(p)) = &script {
            if super::start::interpreter_for(p).is_none() && is_text(p) {
                self.warn(format!(
                    "PM2 runs {} with node (it has no known extension, and PM2 ignores its shebang); pmx execs it, so its shebang chooses; set `interpreter: \"node\"` for PM2's behaviour",
                    p.display()
                ));
            }
        }
        if let Some(node_args) = self.list("node_args", a.get("node_args")) {
            if interpreter.as_deref() == Some("none") || command_line {
                if !node_args.is_empty() {
                    self.warn("node_args/interpreter_args left out: PM2 drops them with interpreter \"none\"");
                }
            } else if !node_args.is_empty() {
                self.line(
                    format!("interpreter_args: {}", ron_list(&node_args)),
                    Some("PM2's node_args"),
                );
            }
        }
        self.instances(&a, interpreter.as_deref(), &script);
        self.env(&a, &name, deploy_envs);
        self.simple(&a);
        self.restart(&a);
        self.watch(&a);
        self.logs(&a, &name, &pm_cwd);
        self.unsupported(&a);
        Some(self.text())
    }

    /// `path` relative to the new file's directory when below it, else absolute.
    fn rel(&self, path: &Path) -> String {
        match path.strip_prefix(&self.ctx.out_dir) {
            Ok(r) if r.as_os_str().is_empty() => ".".into(),
            Ok(r) => r.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// A list of strings as PM2 takes it: an array (elements stringified) or a string
    /// split by PM2's rule ([`split_args`]).
    fn list(&mut self, field: &str, v: Option<&Value>) -> Option<Vec<String>> {
        match v? {
            Value::Null => None,
            Value::String(s) => Some(split_args(s)),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        Value::Number(n) => out.push(js_number(n)),
                        Value::Bool(b) => out.push(b.to_string()),
                        Value::Null => out.push("null".into()),
                        other => {
                            self.err(field, format!("expected strings, found {}", kind(other)));
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.err(
                    field,
                    format!("expected a list or a string, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn instances(
        &mut self,
        a: &Map<String, Value>,
        interpreter: Option<&str>,
        script: &Option<Script>,
    ) {
        let mode = match a.get("exec_mode") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => match m.as_str() {
                "fork" | "fork_mode" => Some("fork"),
                "cluster" | "cluster_mode" => Some("cluster"),
                _ => {
                    self.err("exec_mode", format!("{m:?}: expected fork or cluster"));
                    None
                }
            },
            Some(v) => {
                self.err("exec_mode", format!("expected a string, found {}", kind(v)));
                None
            }
        };
        let n = match a.get("instances") {
            None | Some(Value::Null) => None,
            // Common.verifyConfs: "max" and any non-numeric string mean every CPU.
            Some(Value::String(s)) => Some(s.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0)),
            Some(Value::Number(n)) => n.as_f64().map(|f| f as i64),
            Some(v) => {
                self.err(
                    "instances",
                    format!("expected a number or \"max\", found {}", kind(v)),
                );
                None
            }
        };
        // God.prepare: 0 is every CPU, -k every CPU but k (at least one).
        let text = match n {
            None => None,
            Some(0) => Some("Max".to_string()),
            Some(k) if k < 0 => Some(format!("MaxMinus({})", -k)),
            Some(1) => None,
            Some(k) => Some(k.to_string()),
        };
        if let Some(t) = text {
            self.line(format!("instances: {t}"), None);
        }
        let node = match (interpreter, script) {
            (Some(i), _) => i == "node" || i.ends_with("/node") || i.ends_with("node"),
            (None, Some(Script::File(p))) => super::start::interpreter_for(p) == Some("node"),
            _ => false,
        };
        if mode == Some("cluster") && !node {
            self.warn("exec_mode \"cluster\" with a script that is not node: PM2 cannot run it (it require()s the file); pmx runs its instances as processes");
        }
        if let Some(v) = a.get("instance_var").and_then(Value::as_str) {
            if v != pmx_config::DEFAULT_INSTANCE_VAR {
                self.line(format!("instance_var: {}", ron_str(v)), None);
            }
        }
    }

    fn env(
        &mut self,
        a: &Map<String, Value>,
        name: &str,
        deploy_envs: &BTreeMap<String, Map<String, Value>>,
    ) {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        match a.get("env") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    env.insert(k.clone(), env_value(v));
                }
            }
            Some(v) => self.err("env", format!("expected an object, found {}", kind(v))),
        }
        // Common.prepareAppConf: `port` sets PORT.
        match a.get("port") {
            None | Some(Value::Null) => {}
            Some(p @ (Value::Number(_) | Value::String(_))) => {
                env.insert("PORT".into(), env_value(p));
            }
            Some(v) => self.err("port", format!("expected a number, found {}", kind(v))),
        }
        if !env.is_empty() {
            self.line(format!("env: {}", ron_map(&env)), None);
        }
        // env_<name>, over deploy.<name>.env, over env (mergeEnvironmentVariables).
        let mut envs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (env_name, m) in deploy_envs {
            let layer = envs.entry(env_name.clone()).or_default();
            for (k, v) in m {
                layer.insert(k.clone(), env_value(v));
            }
        }
        for (k, v) in a {
            let Some(env_name) = k.strip_prefix("env_") else {
                continue;
            };
            match v {
                Value::Object(m) => {
                    let layer = envs.entry(env_name.to_string()).or_default();
                    for (key, value) in m {
                        if value.is_object() || value.is_array() {
                            // PM2 passes them on unconverted, so they never reach the app.
                            self.warn(format!("{k}.{key} left out: PM2 never passes an object in env_{env_name} to the app"));
                            continue;
                        }
                        layer.insert(key.clone(), env_value(value));
                    }
                }
                Value::Null => {}
                other => self.err(k, format!("expected an object, found {}", kind(other))),
            }
        }
        envs.retain(|_, m| !m.is_empty());
        if !envs.is_empty() {
            let mut t = String::from("{\n");
            for (env_name, m) in &envs {
                let _ = writeln!(t, "                {}: {},", ron_str(env_name), ron_map(m));
            }
            t.push_str("            }");
            let from_deploy = envs.keys().any(|n| deploy_envs.contains_key(n));
            self.line(
                format!("envs: {t}"),
                Some(if from_deploy {
                    "PM2's env_<name>, over deploy.<name>.env (`--env <name>`)"
                } else {
                    "PM2's env_<name> (`--env <name>`)"
                }),
            );
        }
        let _ = name;
    }

    /// Fields that carry over as they are.
    fn simple(&mut self, a: &Map<String, Value>) {
        if let Some(v) = a.get("autostart") {
            match v.as_bool() {
                Some(false) => self.line("autostart: false".into(), None),
                Some(true) => {}
                None => self.err(
                    "autostart",
                    format!("expected true or false, found {}", kind(v)),
                ),
            }
        }
        if let Some(v) = a.get("namespace") {
            match v.as_str() {
                Some(ns) if ns != pmx_config::DEFAULT_NAMESPACE && !ns.is_empty() => {
                    self.line(format!("namespace: {}", ron_str(ns)), None)
                }
                Some(_) => {}
                None => self.err("namespace", format!("expected a string, found {}", kind(v))),
            }
        }
        for field in ["uid", "gid"] {
            match a.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => self.line(format!("{field}: {}", ron_str(s)), None),
                Some(n @ Value::Number(_)) => {
                    self.line(format!("{field}: {}", ron_str(&n.to_string())), None)
                }
                Some(v) => self.err(
                    field,
                    format!("expected a name or a number, found {}", kind(v)),
                ),
            }
        }
        match a.get("stop_exit_codes") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n.as_i64() {
                Some(c) => self.line(format!("stop_exit_codes: [{c}]"), None),
                None => self.err("stop_exit_codes", "expected whole numbers"),
            },
            Some(Value::Array(items)) => {
                let codes: Option<Vec<i64>> = items
                    .iter()
                    .map(|i| match i {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                    .collect();
                match codes {
                    Some(c) => self.line(
                        format!(
                            "stop_exit_codes: [{}]",
                            c.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                        ),
                        None,
                    ),
                    None => self.err("stop_exit_codes", "expected a list of whole numbers"),
                }
            }
            Some(Value::String(s)) => match s.trim().parse::<i64>() {
                Ok(c) => self.line(format!("stop_exit_codes: [{c}]"), None),
                Err(_) => self.err("stop_exit_codes", format!("{s:?} is not a number")),
            },
            Some(v) => self.err(
                "stop_exit_codes",
                format!("expected a number or a list, found {}", kind(v)),
            ),
        }
        if let Some(v) = a.get("kill_signal") {
            match v.as_str().map(pmx_config::parse_signal) {
                Some(Ok(sig)) => {
                    self.warn("kill_signal is not a PM2 app option (PM2 ignores it and sends SIGINT); pmx honours it");
                    self.line(format!("kill_signal: {}", ron_str(&sig)), None);
                }
                Some(Err(e)) => self.err("kill_signal", e),
                None => self.err(
                    "kill_signal",
                    format!("expected a signal name, found {}", kind(v)),
                ),
            }
        }
        if let Some(ms) = self.ms(a, "kill_timeout") {
            self.line(format!("kill_timeout: \"{ms}ms\""), None);
        }
        if let Some(v) = a.get("wait_ready") {
            match v.as_bool() {
                Some(true) => self.line("wait_ready: true".into(), None),
                Some(false) => {}
                None => self.err(
                    "wait_ready",
                    format!("expected true or false, found {}", kind(v)),
                ),
            }
        }
        if let Some(ms) = self.ms(a, "listen_timeout") {
            self.line(format!("listen_timeout: \"{ms}ms\""), None);
        }
        match a.get("max_memory_restart") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n.as_u64() {
                Some(b) => self.line(format!("max_memory_restart: {b}"), Some("bytes")),
                None => self.err("max_memory_restart", "expected a whole number of bytes"),
            },
            Some(Value::String(s)) => match pmx_config::parse_size(s) {
                Ok(_) => self.line(format!("max_memory_restart: {}", ron_str(s.trim())), None),
                Err(e) => self.err("max_memory_restart", e),
            },
            Some(v) => self.err(
                "max_memory_restart",
                format!("expected a size like \"300M\", found {}", kind(v)),
            ),
        }
        match a.get("cron_restart") {
            None | Some(Value::Null) => {}
            // Common.js: 0 / "0" disables it.
            Some(Value::Number(n)) if n.as_i64() == Some(0) => {}
            Some(Value::String(s)) if s.trim() == "0" || s.is_empty() => {}
            Some(Value::String(s)) => match pmx_config::validate_cron(s) {
                Ok(()) => self.line(format!("cron_restart: {}", ron_str(s)), None),
                Err(e) => self.err("cron_restart", e),
            },
            Some(v) => self.err(
                "cron_restart",
                format!("expected a cron pattern, found {}", kind(v)),
            ),
        }
    }

    /// A duration in ms as PM2 takes it for `field`: a number or a numeric string (ms).
    fn ms(&mut self, a: &Map<String, Value>, field: &str) -> Option<u64> {
        match a.get(field)? {
            Value::Null => None,
            Value::Number(n) => match n.as_f64() {
                Some(f) if f >= 0.0 => Some(f as u64),
                _ => {
                    self.err(field, format!("{n} is not a duration in ms"));
                    None
                }
            },
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f >= 0.0 => Some(f as u64),
                _ => {
                    self.err(field, format!("{s:?}: PM2 takes a number of ms here"));
                    None
                }
            },
            v => {
                self.err(field, format!("expected a number of ms, found {}", kind(v)));
                None
            }
        }
    }

    fn restart(&mut self, a: &Map<String, Value>) {
        let mut parts: Vec<String> = Vec::new();
        let mut notes: Vec<&str> = Vec::new();
        match a.get("autorestart") {
            Some(Value::Bool(false)) => {
                parts.push("policy: Never".into());
                notes.push("autorestart: false");
            }
            None | Some(Value::Null) | Some(Value::Bool(true)) => {}
            Some(v) => self.err(
                "autorestart",
                format!("expected true or false, found {}", kind(v)),
            ),
        }
        if let Some(ms) = self.ms(a, "restart_delay") {
            if ms > 0 {
                parts.push(format!("delay: \"{ms}ms\""));
            }
        }
        if let Some(ms) = self.ms(a, "exp_backoff_restart_delay") {
            if ms > 0 {
                parts.push(format!("backoff: Exp(\"{ms}ms\")"));
                notes.push("exp_backoff_restart_delay");
            }
        }
        // min_uptime: ms, or "^\d+(h|m|s)?$" (schema.json's stime).
        match a.get("min_uptime") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f >= 0.0 => parts.push(format!("min_uptime: \"{}ms\"", f as u64)),
                _ => self.err("min_uptime", format!("{n} is not a duration")),
            },
            Some(Value::String(s)) => {
                let t = s.trim();
                let ms = match t.char_indices().last() {
                    Some((i, u @ ('h' | 'm' | 's'))) => t[..i].parse::<u64>().ok().map(|n| {
                        n * match u {
                            'h' => 3_600_000,
                            'm' => 60_000,
                            _ => 1000,
                        }
                    }),
                    _ => t.parse::<u64>().ok(),
                };
                match ms {
                    Some(ms) => parts.push(format!("min_uptime: \"{ms}ms\"")),
                    None => self.err(
                        "min_uptime",
                        format!("{s:?}: expected ms, or a whole number with h, m or s"),
                    ),
                }
            }
            Some(v) => self.err(
                "min_uptime",
                format!("expected a duration, found {}", kind(v)),
            ),
        }
        match a.get("max_restarts") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n.as_u64() {
                Some(k) => {
                    if k == 0 {
                        self.warn("max_restarts: 0 is ignored by PM2 (it takes 16); pmx honours 0");
                    }
                    parts.push(format!("max_restarts: {k}"));
                }
                None => self.err("max_restarts", format!("{n} is not a count")),
            },
            Some(Value::String(s)) => match s.trim().parse::<u64>() {
                Ok(k) => parts.push(format!("max_restarts: {k}")),
                Err(_) => self.err("max_restarts", format!("{s:?} is not a count")),
            },
            Some(v) => self.err(
                "max_restarts",
                format!("expected a number, found {}", kind(v)),
            ),
        }
        if !parts.is_empty() {
            let comment = (!notes.is_empty()).then(|| format!("PM2's {}", notes.join(", ")));
            self.line(
                format!("restart: ({})", parts.join(", ")),
                comment.as_deref(),
            );
        }
    }

    fn watch(&mut self, a: &Map<String, Value>) {
        match a.get("watch") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => self.line("watch: true".into(), None),
            Some(Value::String(s)) => self.line(format!("watch: Paths([{}])", ron_str(s)), None),
            Some(Value::Array(items)) if items.is_empty() => self.line("watch: true".into(), None),
            Some(Value::Array(items)) => {
                let paths: Option<Vec<String>> = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect();
                match paths {
                    Some(p) => self.line(
                        format!(
                            "watch: Paths([{}])",
                            p.iter().map(|s| ron_str(s)).collect::<Vec<_>>().join(", ")
                        ),
                        None,
                    ),
                    None => self.err("watch", "expected a list of paths"),
                }
            }
            Some(v) => self.err(
                "watch",
                format!("expected true, a path or a list, found {}", kind(v)),
            ),
        }
        if let Some(list) = self.list("ignore_watch", a.get("ignore_watch")) {
            if !list.is_empty() {
                self.line(format!("ignore_watch: {}", ron_list(&list)), None);
            }
        }
        if let Some(ms) = self.ms(a, "watch_delay") {
            self.line(format!("watch_delay: \"{ms}ms\""), None);
        }
    }

    fn logs(&mut self, a: &Map<String, Value>, name: &str, pm_cwd: &Path) {
        let mut parts: Vec<String> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let time = match a.get("time") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                self.err("time", format!("expected true or false, found {}", kind(v)));
                false
            }
        };
        let format = match a.get("log_date_format") {
            None | Some(Value::Null) => None,
            Some(Value::String(f)) if f.is_empty() => None,
            Some(Value::String(f)) => Some(f.clone()),
            Some(v) => {
                self.err(
                    "log_date_format",
                    format!("expected a string, found {}", kind(v)),
                );
                None
            }
        };
        if time {
            parts.push("time: true".into());
            if format.is_some() {
                // Common.verifyConfs: `time: true` replaces log_date_format.
                self.warn("log_date_format left out: with time: true PM2 uses YYYY-MM-DDTHH:mm:ss");
            }
        } else if let Some(f) = format {
            parts.push("time: true".into());
            let strftime = match pmx_config::moment_to_strftime(&f) {
                Some(s) => {
                    notes.push(format!("log_date_format {f:?} (moment.js)"));
                    Some(s)
                }
                None => match pmx_config::validate_date_format(&f) {
                    Ok(()) => Some(f.clone()),
                    Err(e) => {
                        self.err("log_date_format", format!("{f:?}: {e}"));
                        None
                    }
                },
            };
            if let Some(s) = strftime {
                parts.push(format!("date_format: {}", ron_str(&s)));
            }
        }
        if let Some(v) = a.get("merge_logs") {
            match v.as_bool() {
                Some(true) => parts.push("merge: true".into()),
                Some(false) => {}
                None => self.err(
                    "merge_logs",
                    format!("expected true or false, found {}", kind(v)),
                ),
            }
        }
        let disabled = a.get("disable_logs").and_then(Value::as_bool) == Some(true);
        for (pm2, pmx) in [("out_file", "out_file"), ("error_file", "error_file")] {
            if disabled {
                parts.push(format!("{pmx}: \"/dev/null\""));
                continue;
            }
            match a.get(pm2) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(Value::String(s)) => {
                    let p = self.log_path(s, pm_cwd);
                    parts.push(format!("{pmx}: {}", ron_str(&p)));
                }
                Some(Value::Bool(false)) => {}
                Some(v) => self.err(pm2, format!("expected a path, found {}", kind(v))),
            }
        }
        if disabled {
            notes.push("disable_logs".into());
        }
        match a.get("log_file") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                let p = self.ctx.logs_dir.join(format!("{}.log", file_name(name)));
                parts.push(format!("log_file: {}", ron_str(&p.display().to_string())));
                notes.push("log_file: true".into());
            }
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => {
                let p = self.log_path(s, pm_cwd);
                parts.push(format!("log_file: {}", ron_str(&p)));
            }
            Some(v) => self.err(
                "log_file",
                format!("expected a path or true, found {}", kind(v)),
            ),
        }
        if !parts.is_empty() {
            let comment = (!notes.is_empty()).then(|| format!("PM2's {}", notes.join(", ")));
            self.line(format!("logs: ({})", parts.join(", ")), comment.as_deref());
        }
    }

    /// A log path as PM2 resolves it: `NULL` is /dev/null, `~` is $HOME, a relative path
    /// is relative to the app's cwd.
    fn log_path(&self, s: &str, pm_cwd: &Path) -> String {
        if s == "NULL" || s == "/dev/null" {
            return "/dev/null".into();
        }
        let p = match (s.strip_prefix("~/"), &self.ctx.home_dir) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(s),
        };
        self.rel(&normalize(&pm_cwd.join(p)))
    }

    /// Fields with an effect pmx cannot reproduce: an error when set to do something.
    fn unsupported(&mut self, a: &Map<String, Value>) {
        let truthy = |v: &Value| match v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(x) => !x.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        let cases: [(&str, &str); 5] = [
            ("increment_var", "pmx does not add 1 to a variable per instance; use the instance variable (NODE_APP_INSTANCE) in the app"),
            ("append_env_to_name", "pmx names do not change with --env"),
            ("shutdown_with_message", "pmx stops apps with a signal (set kill_signal)"),
            ("log_type", "pmx writes log lines as the app wrote them (pmx logs --json gives JSON)"),
            ("filter_env", "pmx passes the caller's environment as it is"),
        ];
        for (field, why) in cases {
            if let Some(v) = a.get(field).filter(|v| truthy(v)) {
                if field == "filter_env" && *v == Value::Bool(true) {
                    // PM2 7 ignores `filter_env: true` (its length is undefined).
                    self.warn("filter_env: true has no effect in PM2; left out");
                    continue;
                }
                if field == "log_type" && v.as_str() == Some("raw") {
                    continue;
                }
                self.err(field, why);
            }
        }
    }

    /// The app's `App(…)` block.
    fn text(&self) -> String {
        let mut t = String::from("        App(\n");
        for (line, comment) in &self.lines {
            match comment {
                Some(c) => {
                    let _ = writeln!(t, "            {line},  // {c}");
                }
                None => {
                    let _ = writeln!(t, "            {line},");
                }
            }
        }
        t.push_str("        ),\n");
        t
    }
}

/// Every PM2 field the conversion reads (canonical names).
const KNOWN: &[&str] = &[
    "name",
    "script",
    "cwd",
    "args",
    "exec_interpreter",
    "node_args",
    "env",
    "port",
    "instances",
    "exec_mode",
    "instance_var",
    "autorestart",
    "restart_delay",
    "exp_backoff_restart_delay",
    "min_uptime",
    "max_restarts",
    "stop_exit_codes",
    "kill_timeout",
    "kill_signal",
    "listen_timeout",
    "wait_ready",
    "max_memory_restart",
    "cron_restart",
    "watch",
    "ignore_watch",
    "watch_delay",
    "merge_logs",
    "out_file",
    "error_file",
    "log_file",
    "time",
    "log_date_format",
    "namespace",
    "autostart",
    "uid",
    "gid",
    "disable_logs",
    "log_type",
    "filter_env",
    "append_env_to_name",
    "increment_var",
    "shutdown_with_message",
];

/// The app object with PM2's aliases folded into their canonical keys (the canonical
/// key wins, then the aliases in PM2's order).
fn canonical(obj: &Map<String, Value>) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    let alias_of = |k: &str| -> Option<&'static str> {
        ALIASES
            .iter()
            .find(|(_, aliases)| aliases.contains(&k))
            .map(|(canon, _)| *canon)
    };
    for (k, v) in obj {
        if alias_of(k).is_none() {
            out.insert(k.clone(), v.clone());
        }
    }
    for (canon, aliases) in ALIASES {
        if out.contains_key(*canon) {
            continue;
        }
        if let Some(v) = aliases.iter().find_map(|a| obj.get(*a)) {
            out.insert((*canon).to_string(), v.clone());
        }
    }
    out
}

/// `deploy.<name>.env` of each deploy target that has one (PM2 lays it over the app's
/// `env` with `--env <name>`).
fn deploy_envs(deploy: Option<&Value>) -> BTreeMap<String, Map<String, Value>> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(targets)) = deploy {
        for (name, t) in targets {
            if let Some(Value::Object(env)) = t.get("env") {
                out.insert(name.clone(), env.clone());
            }
        }
    }
    out
}

/// The `deploy: {…}` block: PM2's hyphenated keys with underscores.
fn deploy_text(deploy: &Value, warnings: &mut Vec<String>) -> Result<String, String> {
    let Value::Object(targets) = deploy else {
        return Err(format!(
            "expected an object of targets, found {}",
            kind(deploy)
        ));
    };
    let mut t = String::from("    deploy: {\n");
    for (name, target) in targets {
        let Value::Object(fields) = target else {
            return Err(format!(
                "{name}: expected an object, found {}",
                kind(target)
            ));
        };
        let _ = writeln!(t, "        {}: Deploy(", ron_str(name));
        for (k, v) in fields {
            let key = k.replace('-', "_");
            match key.as_str() {
                "host" | "ssh_options" => {
                    let list: Vec<String> = match v {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(items) => items
                            .iter()
                            .map(|i| {
                                i.as_str()
                                    .map(str::to_string)
                                    .ok_or_else(|| format!("{name}.{k}: expected strings"))
                            })
                            .collect::<Result<_, _>>()?,
                        other => {
                            return Err(format!(
                                "{name}.{k}: expected a string or a list, found {}",
                                kind(other)
                            ))
                        }
                    };
                    let _ = writeln!(t, "            {key}: {},", ron_list(&list));
                }
                "user" | "ref" | "repo" | "path" | "key" | "pre_setup" | "post_setup"
                | "pre_deploy" | "pre_deploy_local" | "post_deploy" => {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(_) | Value::Bool(_) => v.to_string(),
                        other => {
                            return Err(format!(
                                "{name}.{k}: expected a string, found {}",
                                kind(other)
                            ))
                        }
                    };
                    let _ = writeln!(t, "            {key}: {},", ron_str(&s));
                }
                // Laid over the apps' env by `--env <name>`: carried into their `envs`.
                "env" => {}
                _ => warnings.push(format!(
                    "deploy.{name}.{k}: pmx's deploy has no such field; left out"
                )),
            }
        }
        t.push_str("        ),\n");
    }
    t.push_str("    },\n");
    Ok(t)
}

/// PM2's default name: the script's base name without its last extension
/// (`Common.renderApplicationName`).
fn render_name(script: &str) -> String {
    let base = script.rsplit('/').next().unwrap_or(script);
    match base.rfind('.') {
        Some(i) if i > 0 => base[..i].to_string(),
        _ => base.to_string(),
    }
}

/// A name as PM2 puts it in a file name: anything but letters, digits, `.` and `-`
/// becomes `-`.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// PM2's `script` lookup (Common.prepareAppConf): the file below the app's cwd, else
/// `which`: a bare name on PATH (kept by name), a path with `/` relative to `base` if
/// executable — pmx's own lookup of a command, so pmx finds at start what this found.
fn find_script(script: &str, pm_cwd: &Path, base: &Path, path_var: Option<&str>) -> Option<Script> {
    let candidate = normalize(&pm_cwd.join(script));
    if candidate.exists() {
        return Some(Script::File(candidate));
    }
    let found = super::start::find_program(script, base, path_var)?;
    Some(match script.contains('/') {
        true => Script::File(normalize(&found)),
        false => Script::Command(script.to_string()),
    })
}

/// Whether the file looks like text (no NUL in its first 512 bytes), as PM2's `isBinary`.
fn is_text(p: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 512];
    std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut buf))
        .is_ok_and(|n| !buf[..n].contains(&0))
}

/// `.` and `..` removed without touching the file system (Node's `path.resolve`).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// PM2's splitting of a string `args` / `node_args` / `ignore_watch` (tools/Config.js
/// `_valid`): tokens are `key="v w"` or `key='v w'` (quotes kept), `"a b"` or `'a b'`
/// (quotes removed), or runs of non-space; no escapes; empty tokens dropped.
pub fn split_args(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let n = chars.len();
    while i < n {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        // [^\s"'=]+="[^"]*"  |  [^\s"'=]+='[^']*'
        let mut j = i;
        while j < n && !chars[j].is_whitespace() && !matches!(chars[j], '"' | '\'' | '=') {
            j += 1;
        }
        if j > i && j + 1 < n && chars[j] == '=' && matches!(chars[j + 1], '"' | '\'') {
            let q = chars[j + 1];
            if let Some(end) = (j + 2..n).find(|&k| chars[k] == q) {
                out.push(chars[i..=end].iter().collect());
                i = end + 1;
                continue;
            }
        }
        // "([^"]*)"  |  '([^']*)'
        if matches!(chars[i], '"' | '\'') {
            let q = chars[i];
            if let Some(end) = (i + 1..n).find(|&k| chars[k] == q) {
                let inner: String = chars[i + 1..end].iter().collect();
                if !inner.trim().is_empty() {
                    out.push(inner);
                }
                i = end + 1;
                continue;
            }
        }
        // \S+
        let mut j = i;
        while j < n && !chars[j].is_whitespace() {
            j += 1;
        }
        let token: String = chars[i..j].iter().collect();
        let unquoted = match (token.chars().next(), token.chars().last()) {
            (Some(a), Some(b))
                if token.chars().count() >= 2 && a == b && (a == '"' || a == '\'') =>
            {
                token[1..token.len() - 1].to_string()
            }
            _ => token,
        };
        if !unquoted.trim().is_empty() {
            out.push(unquoted);
        }
        i = j;
    }
    out
}

/// An `env` value as the app gets it: strings as they are, numbers and booleans as JS
/// prints them, objects and arrays as JSON (`Common.mergeEnvironmentVariables`).
fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Number(n) => js_number(n),
        other => other.to_string(),
    }
}

/// A number as JavaScript's `String(n)` prints it, as the app gets it from PM2: `1.0`
/// (which a JSON or YAML file may hold) is `1`, `1e21` is `1e+21`, `1e-7` is `1e-7`.
fn js_number(n: &serde_json::Number) -> String {
    const EXACT: u64 = 1 << 53;
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= EXACT) {
        return i.to_string();
    }
    if let Some(u) = n.as_u64().filter(|u| *u <= EXACT) {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) => js_f64(f),
        None => n.to_string(),
    }
}

/// ECMAScript's Number::toString: the shortest digits that read back as `f`, in fixed
/// notation for 1e-6 <= |f| < 1e21, else as `<digits>e<sign><exponent>`.
fn js_f64(f: f64) -> String {
    if f == 0.0 {
        // -0 too.
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        // Rust's Display is the shortest round-trip form, without an exponent.
        return format!("{f}");
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A RON string literal.
pub fn ron_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn ron_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| ron_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn ron_map(m: &BTreeMap<String, String>) -> String {
    format!(
        "{{{}}}",
        m.iter()
            .map(|(k, v)| format!("{}: {}", ron_str(k), ron_str(v)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_split_as_pm2_splits_them() {
        // The table of PM2 7's Config._valid, observed with PM2 itself.
        let cases: [(&str, &[&str]); 8] = [
            (
                "--a 'b c' d \"e f\" --g=\"h i\" j'k l'",
                &["--a", "b c", "d", "e f", "--g=\"h i\"", "j'k", "l'"],
            ),
            (
                "--port=3000 --name \"my app\"",
                &["--port=3000", "--name", "my app"],
            ),
            ("--msg='x y'", &["--msg='x y'"]),
            ("a\\ b", &["a\\", "b"]),
            ("\"\" x", &["x"]),
            ("it's ok", &["it's", "ok"]),
            ("a \"b c\"d e", &["a", "b c", "d", "e"]),
            ("\"unterminated x", &["\"unterminated", "x"]),
        ];
        for (input, want) in cases {
            assert_eq!(split_args(input), want, "{input:?}");
        }
    }

    #[test]
    fn names_and_strings() {
        assert_eq!(render_name("app/server.js"), "server");
        assert_eq!(render_name("python3 app/p.py --x"), "p");
        assert_eq!(
            render_name("sleep 1000 && echo hi"),
            "sleep 1000 && echo hi"
        );
        assert_eq!(render_name(".hidden"), ".hidden");
        assert_eq!(ron_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u{1}\"");
        assert_eq!(file_name("l4 weird/name!"), "l4-weird-name-");
    }

    fn ctx(dir: &Path) -> Context {
        Context {
            caller_cwd: dir.to_path_buf(),
            file_dir: dir.to_path_buf(),
            out_dir: dir.to_path_buf(),
            source_name: "ecosystem.config.js".into(),
            path_var: std::env::var("PATH").ok(),
            home_dir: Some("/home/u".into()),
            logs_dir: "/h/logs".into(),
        }
    }

    #[test]
    fn a_pm2_app_becomes_a_valid_ron_app() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("app")).expect("mkdir");
        std::fs::write(dir.path().join("app/server.js"), "x").expect("write");
        let config = serde_json::json!({
            "apps": [{
                "name": "api", "script": "server.js", "cwd": "app",
                "args": "--port 3000", "env": {"N": 1, "B": true, "S": "s"},
                "env_production": {"NODE_ENV": "production"},
                "autorestart": false, "min_uptime": "2s", "max_restarts": 3,
                "instances": "max", "exec_mode": "cluster",
                "log_date_format": "YYYY-MM-DD HH:mm", "merge_logs": true,
                "out_file": "~/out.log", "error": "NULL",
                "vizion": false, "kill_timeout": 3000, "cron": "0 3 * * *",
                "watch": ["src"], "ignore_watch": "node_modules logs",
            }],
            "deploy": {"production": {"user": "app", "host": ["a", "b"], "ref": "origin/main",
                "repo": "git@x:y.git", "path": "/srv", "post-deploy": "pmx up", "env": {"D": "1"}}},
        });
        let c = convert(&config, &[], &ctx(dir.path())).expect("converts");
        let eco = pmx_config::parse(&c.ron, &dir.path().join("ecosystem.ron"))
            .unwrap_or_else(|e| panic!("{e}\n{}", c.ron));
        let app = &eco.apps[0];
        assert_eq!(app.name, "api");
        assert_eq!(app.script, "app/server.js");
        assert_eq!(app.cwd.as_deref(), Some(dir.path().join("app").as_path()));
        assert_eq!(app.args, ["--port", "3000"]);
        assert_eq!(app.env["N"], "1");
        assert_eq!(app.env["B"], "true");
        assert_eq!(app.envs["production"]["NODE_ENV"], "production");
        assert_eq!(
            app.envs["production"]["D"], "1",
            "deploy env under env_production"
        );
        assert_eq!(app.restart.policy, pmx_config::Policy::Never);
        assert_eq!(app.restart.min_uptime_ms, 2000);
        assert_eq!(app.restart.max_restarts, 3);
        assert_eq!(app.instances, pmx_config::Instances::Max);
        assert!(app.logs.time);
        assert_eq!(app.logs.date_format, "%Y-%m-%d %H:%M");
        assert!(app.logs.merge);
        assert_eq!(
            app.logs.out_file.as_deref(),
            Some(Path::new("/home/u/out.log"))
        );
        assert_eq!(app.logs.error_file.as_deref(), Some(Path::new("/dev/null")));
        assert_eq!(app.kill_timeout_ms, 3000);
        assert_eq!(app.cron_restart.as_deref(), Some("0 3 * * *"));
        assert_eq!(app.ignore_watch, ["node_modules", "logs"]);
        assert_eq!(
            eco.deploy["production"].post_deploy.as_deref(),
            Some("pmx up")
        );
        assert_eq!(eco.deploy["production"].host, ["a", "b"]);
        assert!(
            c.warnings.iter().any(|w| w.contains("vizion")),
            "{:?}",
            c.warnings
        );
        // The same input gives the same file.
        let again = convert(&config, &[], &ctx(dir.path())).expect("converts");
        assert_eq!(again.ron, c.ron);
    }

    #[test]
    fn what_pmx_cannot_express_is_an_error_naming_app_and_field() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = serde_json::json!([
            {"name": "a", "script": "missing.js"},
            {"name": "b", "script": "bash", "args": 5, "increment_var": "PORT"},
        ]);
        let errors = convert(&config, &[], &ctx(dir.path())).expect_err("fails");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("app \"a\": script") && e.contains("not found")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("app \"b\": args")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("app \"b\": increment_var")),
            "{errors:?}"
        );
    }

    #[test]
    fn numbers_reach_the_app_as_javascript_prints_them() {
        // Found by the differential test against PM2 (fixtures/pm2/json): `1.0` in a
        // .json or .yaml file is the number 1 to PM2, so the app gets "1", not "1.0".
        let cases: [(Value, &str); 10] = [
            (serde_json::json!(1.0), "1"),
            (serde_json::json!(0.25), "0.25"),
            (serde_json::json!(-3), "-3"),
            (serde_json::json!(3000), "3000"),
            (serde_json::json!(-0.0), "0"),
            (serde_json::json!(1e21), "1e+21"),
            (serde_json::json!(1.5e-7), "1.5e-7"),
            (serde_json::json!(0.000001), "0.000001"),
            (serde_json::json!(0.1 + 0.2), "0.30000000000000004"),
            (
                serde_json::json!(12345678901234567890u64),
                "12345678901234567000",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(env_value(&v), want, "{v}");
        }
        let dir = tempfile::tempdir().expect("tmp");
        let config = serde_json::json!({"apps": [{"name": "n", "script": "bash",
            "args": ["-c", 2.0, true], "env": {"RATE": 1.0, "ON": false}}]});
        let c = convert(&config, &[], &ctx(dir.path())).expect("converts");
        let eco =
            pmx_config::parse(&c.ron, &dir.path().join("e.ron")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eco.apps[0].args, ["-c", "2", "true"]);
        assert_eq!(eco.apps[0].env["RATE"], "1");
        assert_eq!(eco.apps[0].env["ON"], "false");
    }

    #[test]
    fn a_missing_script_names_the_app_by_its_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = serde_json::json!([{"name": "no-script", "args": ["x"]}, {"args": "y"}]);
        let errors = convert(&config, &[], &ctx(dir.path())).expect_err("fails");
        assert_eq!(
            errors,
            [
                "ecosystem.config.js: app \"no-script\": script: missing (PM2: \"No script path\")",
                "ecosystem.config.js: apps[1]: script: missing (PM2: \"No script path\")",
            ]
        );
    }

    #[test]
    fn a_script_with_a_space_runs_through_bash_c() {
        let dir = tempfile::tempdir().expect("tmp");
        let config =
            serde_json::json!({"apps": [{"script": "sleep 100 && echo hi", "args": ["x"]}]});
        let c = convert(&config, &[], &ctx(dir.path())).expect("converts");
        let eco =
            pmx_config::parse(&c.ron, &dir.path().join("e.ron")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eco.apps[0].name, "sleep 100 && echo hi");
        assert_eq!(eco.apps[0].script, "bash");
        assert_eq!(eco.apps[0].args, ["-c", "sleep 100 && echo hi"]);
        assert!(c.warnings.iter().any(|w| w.contains("drops its args")));
    }
}
