//! The conversion of one app's fields, one group at a time: instances, environment,
//! plain fields, restart rules, watch, and what pmx does not support; the log fields
//! are in `logs.rs`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::values::*;
use super::*;

impl AppConv<'_> {
    pub(super) fn instances(
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
        let several = text.is_some();
        if let Some(t) = text {
            self.line(format!("instances: {t}"), None);
        }
        // pmx's default follows the count (Cluster for several, Fork for one): only a
        // mode that differs from it is written.
        match mode {
            Some("fork") if several => self.line("exec_mode: Fork".to_string(), None),
            Some("cluster") if !several => self.line("exec_mode: Cluster".to_string(), None),
            _ => {}
        }
        match a.get("increment_var") {
            None | Some(Value::Null) => {}
            Some(Value::String(v)) if v.is_empty() => {}
            Some(Value::String(v)) if v.contains('=') || v.contains('\0') => {
                self.err("increment_var", format!("{v:?} is not a variable name"))
            }
            Some(Value::String(v)) => self.line(format!("increment_var: {}", ron_str(v)), None),
            Some(v) => self.err(
                "increment_var",
                format!("expected a variable name, found {}", kind(v)),
            ),
        }
        let node = match (interpreter, script) {
            (Some(i), _) => i == "node" || i.ends_with("/node") || i.ends_with("node"),
            (None, Some(Script::File(p))) => crate::cli::start::interpreter_for(p) == Some("node"),
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

    pub(super) fn env(
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
    pub(super) fn simple(&mut self, a: &Map<String, Value>) {
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
        if let Some(v) = a.get("shutdown_with_message") {
            match v.as_bool() {
                Some(true) => self.line("shutdown_with_message: true".into(), None),
                Some(false) => {}
                None => self.err(
                    "shutdown_with_message",
                    format!("expected true or false, found {}", kind(v)),
                ),
            }
        }
        if let Some(ms) = self.ms(a, "listen_timeout") {
            self.line(format!("listen_timeout: \"{ms}ms\""), None);
        }
        match a.get("max_memory_restart") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n.as_u64().map(pmx_config::check_memory_limit) {
                Some(Ok(b)) => self.line(format!("max_memory_restart: {b}"), Some("bytes")),
                Some(Err(e)) => self.err("max_memory_restart", e),
                None => self.err("max_memory_restart", "expected a whole number of bytes"),
            },
            Some(Value::String(s)) => {
                match pmx_config::parse_size(s).and_then(pmx_config::check_memory_limit) {
                    Ok(_) => self.line(format!("max_memory_restart: {}", ron_str(s.trim())), None),
                    Err(e) => self.err("max_memory_restart", e),
                }
            }
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
    pub(super) fn ms(&mut self, a: &Map<String, Value>, field: &str) -> Option<u64> {
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

    pub(super) fn restart(&mut self, a: &Map<String, Value>) {
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

    pub(super) fn watch(&mut self, a: &Map<String, Value>) {
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

    /// Fields with an effect pmx cannot reproduce: an error when set to do something.
    pub(super) fn unsupported(&mut self, a: &Map<String, Value>) {
        let truthy = |v: &Value| match v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(x) => !x.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        let cases: [(&str, &str); 2] = [
            ("append_env_to_name", "pmx names do not change with --env"),
            ("filter_env", "pmx passes the caller's environment as it is"),
        ];
        for (field, why) in cases {
            if let Some(v) = a.get(field).filter(|v| truthy(v)) {
                if field == "filter_env" && *v == Value::Bool(true) {
                    // PM2 7 ignores `filter_env: true` (its length is undefined).
                    self.warn("filter_env: true has no effect in PM2; left out");
                    continue;
                }
                self.err(field, why);
            }
        }
    }
}
