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
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

mod fields;
mod logs;
mod values;

use values::*;
pub use values::{ron_str, split_args};

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
    /// `pmx deploy` reads the file for its `deploy` section only: an app's script that
    /// is not on this machine (it is on the hosts) is kept as written, not an error, as
    /// `pm2 deploy` needs none of them.
    pub scripts_optional: bool,
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
    if let Some(found) = not_apps(config) {
        return Err(vec![format!(
            "{}: not a PM2 app description: expected an object with \"apps\", a list of apps or one app with a \"script\", found {found}",
            ctx.source_name
        )]);
    }
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
            None if ctx.scripts_optional => {
                self.line(format!("script: {}", ron_str(&script_raw)), None)
            }
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

#[cfg(test)]
mod tests;
