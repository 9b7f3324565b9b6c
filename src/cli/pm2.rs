//! Coming from PM2: PM2 ecosystem files read by `pmx import` (verbs/import.rs), `start`
//! and `up`.
//!
//! A PM2 file is read as PM2 reads it (`Common.parseConfig`): `.js`/`.cjs` are
//! `require`d and `.mjs` imported by the machine's node, `.json` is JSON (evaluated by
//! node as a JavaScript expression when it is not strict JSON: PM2 allows comments
//! there), `.yaml`/`.yml` is YAML 1.2. The value is then converted by [`pm2_convert`].

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::pm2_convert::{self, Context, Converted};
use super::Failure;

/// Loads a PM2 file in node and prints `{"config": <export, data only>, "dropped":
/// [paths]}`: functions, symbols and other non-data are left out and named.
const NODE_LOADER: &str = r#"
const path = require('path'), url = require('url'), fs = require('fs'), vm = require('vm');
// The result goes to stdout alone: what the file itself prints goes to stderr.
const result = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
const file = path.resolve(process.argv[1]);
const dropped = [];
function clean(v, p) {
  if (v === undefined) return undefined;
  if (typeof v === 'function') { dropped.push((p || 'the export') + ' (a function)'); return undefined; }
  if (typeof v === 'symbol' || typeof v === 'bigint') { dropped.push(p + ' (a ' + typeof v + ')'); return undefined; }
  if (v instanceof Date) return v.toJSON();
  if (v instanceof RegExp) { dropped.push(p + ' (a regular expression)'); return undefined; }
  if (v && typeof v.then === 'function') { dropped.push((p || 'the export') + ' (a promise)'); return undefined; }
  if (Array.isArray(v)) return v.map((x, i) => { const c = clean(x, p + '[' + i + ']'); return c === undefined ? null : c; });
  if (v !== null && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) { const c = clean(v[k], p ? p + '.' + k : k); if (c !== undefined) o[k] = c; }
    return o;
  }
  return v;
}
function done(conf) {
  let c = conf;
  if (c && Object.prototype.toString.call(c) === '[object Module]' && c.apps === undefined && c.pm2 === undefined && c.default !== undefined) c = c.default;
  const config = clean(c, '');
  // Exit once written: a file that starts a timer or a client would keep node alive.
  result(JSON.stringify({ config: config === undefined ? null : config, dropped }), () => process.exit(0));
}
function fail(e) { process.stderr.write(String(e && e.message ? e.message : e).split('\n')[0] + '\n'); process.exit(3); }
try {
  if (file.endsWith('.mjs')) import(url.pathToFileURL(file).href).then(done, fail);
  else if (file.endsWith('.json')) done(vm.runInThisContext('(' + fs.readFileSync(file, 'utf8') + ')', { filename: file }));
  else done(require(file));
} catch (e) { fail(e); }
"#;

/// A PM2 file's exported value and what the loader left out.
pub struct Pm2File {
    /// `{apps, deploy}`, a list of apps or one app, as exported.
    pub config: Value,
    /// Non-data values left out (`apps[0].env.f (a function)`).
    pub dropped: Vec<String>,
}

/// Whether `path` names a PM2 ecosystem file (SPEC §3): `*.config.js|cjs|mjs`, or a
/// `.json`/`.yaml`/`.yml` file holding an object with `apps` (or `pm2`), a list of apps, or
/// one app with a `script` (every form PM2 accepts).
pub fn is_pm2_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if [".config.js", ".config.cjs", ".config.mjs"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        return true;
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "json" | "yaml" | "yml") {
        return false;
    }
    // Only a regular file, at most pmx_config::MAX_FILE_BYTES: a FIFO named `x.json`
    // must not block this guess.
    let Some(text) = pmx_config::read_regular(path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let value: Option<Value> = if ext == "json" {
        serde_json::from_str(&text).ok()
    } else {
        serde_yaml_ng::from_str(&text).ok()
    };
    match value {
        // Every form PM2's `_startJson` takes: `{apps}` (or `{pm2}`), a bare list of
        // apps, or one app object with a `script`.
        Some(v) => {
            let is_app = |a: &Value| a.get("script").is_some();
            v.get("apps").is_some()
                || v.get("pm2").is_some()
                || is_app(&v)
                || v.as_array()
                    .is_some_and(|list| !list.is_empty() && list.iter().all(is_app))
        }
        // Not strict JSON (PM2 allows comments): look for a key.
        None => text.contains("apps") || text.contains("script"),
    }
}

/// Read a PM2 file (`shown`: its name as the user typed it, for messages).
pub fn read(path: &Path, shown: &str) -> Result<Pm2File, Failure> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    // A regular file of at most pmx_config::MAX_FILE_BYTES (a FIFO or /dev/zero is
    // refused, saying what it is); text with the position of a byte that is not UTF-8.
    let bytes = pmx_config::read_regular(path)
        .map_err(|why| Failure::request(format!("{shown}: {why}")))?;
    let text = || {
        pmx_config::utf8_text(&bytes, shown)
            .map(str::to_string)
            .map_err(|e| Failure::usage(e.to_string()))
    };
    match ext {
        "yaml" | "yml" => {
            let config: Value = serde_yaml_ng::from_str(&text()?)
                .map_err(|e| Failure::usage(format!("{shown}: {e}")))?;
            Ok(Pm2File {
                config,
                dropped: Vec::new(),
            })
        }
        "json" => match serde_json::from_str::<Value>(&text()?) {
            Ok(config) => Ok(Pm2File {
                config,
                dropped: Vec::new(),
            }),
            // Nesting past serde_json's limit (128) is no matter of JavaScript syntax:
            // node would only overflow its own stack, without a position.
            Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                Err(Failure::usage(format!(
                    "{shown}:{}:{}: nested too deeply: more than 128 arrays or objects inside one another",
                    e.line(),
                    e.column()
                )))
            }
            // PM2 evaluates .json as JavaScript: comments and trailing commas pass.
            Err(e) => node_load(path, shown).map_err(|f| match f.code {
                127 => Failure::usage(format!(
                    "{shown}:{}:{}: {e} (and no node to read it as PM2 does, as JavaScript)",
                    e.line(),
                    e.column()
                )),
                _ => Failure { code: 2, ..f },
            }),
        },
        _ => node_load(path, shown).map_err(|f| match f.code {
            127 => Failure::request(format!(
                "reading {shown} needs node (a PM2 file in JavaScript is run to get its apps), and there is no `node` on PATH"
            )),
            _ => f,
        }),
    }
}

/// How long node may take to load a PM2 file (30 s): a file that loops or waits
/// forever is an error, not a hung command.
const NODE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Run [`NODE_LOADER`] on `path`. A missing node is `code` 127.
fn node_load(path: &Path, shown: &str) -> Result<Pm2File, Failure> {
    use std::process::Stdio;
    let child = std::process::Command::new("node")
        .arg("-e")
        .arg(NODE_LOADER)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Failure {
                code: 127,
                message: String::new(),
            },
            _ => Failure::request(format!("cannot run node to read {shown}: {e}")),
        })?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(NODE_TIMEOUT) {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(Failure::request(format!(
                "cannot run node to read {shown}: {e}"
            )))
        }
        Err(_) => {
            // Not reaped yet (its waiter is still waiting), so the pid is still node's.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            return Err(Failure::request(format!(
                "{shown}: node did not finish loading it within {} s (does it loop, or wait for something?)",
                NODE_TIMEOUT.as_secs()
            )));
        }
    };
    // What the file printed (console.log while loading), as PM2 shows it.
    if output.status.success() && !output.stderr.is_empty() {
        let _ = std::io::stderr().write_all(&output.stderr);
    }
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        return Err(Failure::usage(format!(
            "{shown}: node cannot load it: {}",
            why.trim()
        )));
    }
    #[derive(serde::Deserialize)]
    struct Loaded {
        config: Value,
        dropped: Vec<String>,
    }
    if output.stdout.is_empty() {
        return Err(Failure::usage(format!(
            "{shown}: node ended without giving its apps (does the file call process.exit?)"
        )));
    }
    let loaded: Loaded = serde_json::from_slice(&output.stdout).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            Failure::usage(format!(
                "{shown}: its data is nested too deeply: more than 128 arrays or objects inside one another"
            ))
        } else {
            Failure::request(format!("{shown}: unexpected output from node: {e}"))
        }
    })?;
    if loaded.config.is_null() {
        return Err(Failure::usage(format!(
            "{shown} exports no data (PM2 expects module.exports = {{ apps: [...] }})"
        )));
    }
    Ok(Pm2File {
        config: loaded.config,
        dropped: loaded.dropped,
    })
}

/// Read and convert the PM2 file at `abs` (canonical; `shown` as typed) to ecosystem.ron
/// text whose paths are relative to `out_dir`; warnings are printed on stderr.
pub(super) fn convert_file(abs: &Path, shown: &str, out_dir: &Path) -> Result<Converted, Failure> {
    let file = read(abs, shown)?;
    let caller_cwd = super::caller_cwd()?;
    let ctx = Context {
        file_dir: abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| caller_cwd.clone()),
        caller_cwd,
        out_dir: out_dir.to_path_buf(),
        source_name: shown.to_string(),
        path_var: std::env::var("PATH").ok(),
        home_dir: std::env::var_os("HOME").map(PathBuf::from),
        logs_dir: pmx::Home::from_env()
            .map(|h| h.logs())
            .unwrap_or_else(|_| PathBuf::from("logs")),
    };
    let converted = pm2_convert::convert(&file.config, &file.dropped, &ctx)
        .map_err(|errs| Failure::usage(errs.join("\npmx: ")))?;
    for w in &converted.warnings {
        eprintln!("pmx: warning: {w}");
    }
    Ok(converted)
}

/// A PM2 file read as an ecosystem (`pmx start|up <pm2 file>`): converted in memory, its
/// paths relative to its own directory, the file itself the apps' source.
pub fn load(path: &Path, shown: &str) -> Result<pmx_config::Ecosystem, Failure> {
    let abs = std::fs::canonicalize(path)
        .map_err(|e| Failure::request(format!("cannot read {shown}: {e}")))?;
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let converted = convert_file(&abs, shown, &dir)?;
    parse_converted(&converted.ron, &abs, shown)
}

/// Read the conversion of `shown` back through pmx-config as if it were the file at
/// `path`; an error there is a bug of the conversion, said so.
pub(super) fn parse_converted(
    ron: &str,
    path: &Path,
    shown: &str,
) -> Result<pmx_config::Ecosystem, Failure> {
    pmx_config::parse(ron, path).map_err(|errs| {
        Failure::request(format!(
            "the conversion of {shown} gave an invalid ecosystem (a pmx bug): {}",
            errs.0
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}
