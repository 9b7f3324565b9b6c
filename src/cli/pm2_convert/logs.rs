//! The conversion of one app's log fields (`out_file`, `error_file`, `log_file`,
//! `merge_logs`, `time`, `log_date_format`, `log_type`, `disable_logs`) to pmx's
//! `logs: (...)`, with PM2's log path rule; the other field groups are in `fields.rs`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::values::*;
use super::*;

impl AppConv<'_> {
    pub(super) fn logs(&mut self, a: &Map<String, Value>, name: &str, pm_cwd: &Path) {
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
            // PM2 7 formats with dayjs: read as `--log-date-format` reads it, so a file and
            // the flag give one prefix.
            let strftime = if f.contains('%') {
                match pmx_config::validate_date_format(&f) {
                    Ok(()) => Some(f.clone()),
                    Err(e) => {
                        self.err("log_date_format", format!("{f:?}: {e}"));
                        None
                    }
                }
            } else {
                match crate::cli::moment::to_strftime(&f) {
                    Ok(s) => {
                        if s != f {
                            notes.push(format!("log_date_format {f:?} (dayjs, as PM2 7)"));
                        }
                        Some(s)
                    }
                    Err(e) => {
                        self.err("log_date_format", format!("{f:?}: {e}"));
                        None
                    }
                }
            };
            if let Some(s) = strftime {
                parts.push(format!("date_format: {}", ron_str(&s)));
            }
        }
        // PM2's `log_type`: "json" writes each line as a JSON object; "raw" (or nothing)
        // writes it as it came.
        match a.get("log_type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t == "json" => parts.push("format: Json".into()),
            Some(Value::String(t)) if t == "raw" || t.is_empty() => {}
            Some(v) => self.err(
                "log_type",
                format!("expected \"json\" or \"raw\", found {v}"),
            ),
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
    pub(super) fn log_path(&self, s: &str, pm_cwd: &Path) -> String {
        if s == "NULL" || s == "/dev/null" {
            return "/dev/null".into();
        }
        let p = match (s.strip_prefix("~/"), &self.ctx.home_dir) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(s),
        };
        self.rel(&normalize(&pm_cwd.join(p)))
    }
}
