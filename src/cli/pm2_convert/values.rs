//! Values as PM2 reads them (its argument splitting, JavaScript's number forms, script
//! lookup, paths) and as RON writes them; the `deploy` block.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::*;

/// The `deploy: {…}` block: PM2's hyphenated keys with underscores.
pub(super) fn deploy_text(deploy: &Value, warnings: &mut Vec<String>) -> Result<String, String> {
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
                // PM2's deploy script passes it as `ssh -p`; a number or a numeric string.
                "port" => {
                    let port = match v {
                        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                        Value::String(s) => s.trim().parse::<u16>().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| format!("{name}.{k}: expected a port number, found {v}"))?;
                    let _ = writeln!(t, "            port: {port},");
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
pub(super) fn render_name(script: &str) -> String {
    let base = script.rsplit('/').next().unwrap_or(script);
    match base.rfind('.') {
        Some(i) if i > 0 => base[..i].to_string(),
        _ => base.to_string(),
    }
}

/// A name as PM2 puts it in a file name: anything but letters, digits, `.` and `-`
/// becomes `-`.
pub(super) fn file_name(name: &str) -> String {
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
pub(super) fn find_script(
    script: &str,
    pm_cwd: &Path,
    base: &Path,
    path_var: Option<&str>,
) -> Option<Script> {
    let candidate = normalize(&pm_cwd.join(script));
    if candidate.exists() {
        return Some(Script::File(candidate));
    }
    let found = crate::cli::start::find_program(script, base, path_var)?;
    Some(match script.contains('/') {
        true => Script::File(normalize(&found)),
        false => Script::Command(script.to_string()),
    })
}

/// Whether the file looks like text (no NUL in its first 512 bytes), as PM2's `isBinary`.
pub(super) fn is_text(p: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 512];
    std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut buf))
        .is_ok_and(|n| !buf[..n].contains(&0))
}

/// `.` and `..` removed without touching the file system (Node's `path.resolve`).
pub(super) fn normalize(p: &Path) -> PathBuf {
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
pub(super) fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Number(n) => js_number(n),
        other => other.to_string(),
    }
}

/// A number as JavaScript's `String(n)` prints it, as the app gets it from PM2: `1.0`
/// (which a JSON or YAML file may hold) is `1`, `1e21` is `1e+21`, `1e-7` is `1e-7`.
pub(super) fn js_number(n: &serde_json::Number) -> String {
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
pub(super) fn js_f64(f: f64) -> String {
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

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What `config` is when it is none of the forms PM2 takes (`{apps}` or `{pm2}`, a list of
/// objects, one app object: one with a `script` or one of its aliases, or a `name`, whose
/// missing script is then the error), for the message; None when it is one of them.
pub(super) fn not_apps(config: &Value) -> Option<String> {
    match config {
        Value::Object(top) => {
            let app_keys = ["apps", "pm2", "script", "exec", "cmd", "command", "name"];
            if app_keys.iter().any(|k| top.contains_key(*k)) {
                return None;
            }
            if top.contains_key("static") {
                return Some(
                    "only \"static\" (the file servers of `pm2 serve`, which pmx does not have)"
                        .to_string(),
                );
            }
            let keys: Vec<&str> = top.keys().map(String::as_str).take(5).collect();
            Some(match keys.len() {
                0 => "an empty object".to_string(),
                _ if top.len() > keys.len() => {
                    format!("an object with keys {}, …", keys.join(", "))
                }
                _ => format!("an object with keys {}", keys.join(", ")),
            })
        }
        Value::Array(list) => list
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_object())
            .map(|(i, v)| format!("a list holding {} at [{i}]", kind(v))),
        other => Some(kind(other).to_string()),
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

pub(super) fn ron_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| ron_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(super) fn ron_map(m: &BTreeMap<String, String>) -> String {
    format!(
        "{{{}}}",
        m.iter()
            .map(|(k, v)| format!("{}: {}", ron_str(k), ron_str(v)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
