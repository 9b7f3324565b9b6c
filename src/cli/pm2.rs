//! Coming from PM2: `pmx ecosystem` (a commented sample ecosystem.ron), `pmx import`
//! (a PM2 ecosystem file to ecosystem.ron), and PM2 files read by `start` and `up`.
//!
//! A PM2 file is read as PM2 reads it (`Common.parseConfig`): `.js`/`.cjs` are
//! `require`d and `.mjs` imported by the machine's node, `.json` is JSON (evaluated by
//! node as a JavaScript expression when it is not strict JSON: PM2 allows comments
//! there), `.yaml`/`.yml` is YAML 1.2. The value is then converted by [`pm2_convert`].

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::pm2_convert::{self, Context, Converted};
use super::stamp;
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
/// `.json`/`.yaml`/`.yml` file with an `apps` key.
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
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let value: Option<Value> = if ext == "json" {
        serde_json::from_str(&text).ok()
    } else {
        serde_yaml_ng::from_str(&text).ok()
    };
    match value {
        Some(v) => v.get("apps").is_some() || v.get("pm2").is_some(),
        // Not strict JSON (PM2 allows comments): look for the key.
        None => text.contains("apps"),
    }
}

/// Read a PM2 file (`shown`: its name as the user typed it, for messages).
pub fn read(path: &Path, shown: &str) -> Result<Pm2File, Failure> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let text = || {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::request(format!("cannot read {shown}: {e}")))
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
    let loaded: Loaded = serde_json::from_slice(&output.stdout)
        .map_err(|e| Failure::request(format!("{shown}: unexpected output from node: {e}")))?;
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
fn convert_file(abs: &Path, shown: &str, out_dir: &Path) -> Result<Converted, Failure> {
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
fn parse_converted(ron: &str, path: &Path, shown: &str) -> Result<pmx_config::Ecosystem, Failure> {
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

/// `pmx import <file> [-o PATH|-] [-f]`: write the conversion beside the PM2 file (as
/// `ecosystem.ron`), to PATH, or to stdout (`-`; paths then relative to the PM2 file's
/// directory). The written text carries a [`stamp`] record (the PM2 file, a hash); an
/// existing file is overwritten only when its record is intact and names the same PM2
/// file, or with `force` (errors, exit 1: a file written by hand or edited since, or
/// converted from another PM2 file).
pub fn import(file: &str, output: Option<&str>, force: bool) -> Result<(), Failure> {
    let path = Path::new(file);
    let real = std::fs::canonicalize(path)
        .map_err(|e| Failure::request(format!("cannot read {file}: {e}")))?;
    // Beside the file as the user named it (a symlink's own directory, not its target's).
    let named = std::path::absolute(path).unwrap_or_else(|_| real.clone());
    let file_dir = named.parent().map(Path::to_path_buf).unwrap_or_default();
    let target: Option<PathBuf> = match output {
        Some("-") => None,
        Some(o) => {
            let t = std::path::absolute(o).map_err(|e| Failure::request(format!("{o}: {e}")))?;
            // A directory gets its ecosystem.ron.
            Some(if t.is_dir() {
                t.join("ecosystem.ron")
            } else {
                t
            })
        }
        None => Some(file_dir.join("ecosystem.ron")),
    };
    if let Some(t) = &target {
        if std::fs::canonicalize(t).is_ok_and(|t| t == real) {
            return Err(Failure::request(format!(
                "{} is the PM2 file being imported; -o names where ecosystem.ron goes",
                t.display()
            )));
        }
    }
    let out_dir = target
        .as_ref()
        .and_then(|t| t.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| file_dir.clone());
    let converted = convert_file(&real, file, &out_dir)?;
    let check_path = target
        .clone()
        .unwrap_or_else(|| file_dir.join("ecosystem.ron"));
    let eco = parse_converted(&converted.ron, &check_path, file)?;
    // The PM2 file as seen from the output's directory, both with their directories'
    // symlinks resolved, so that the next import's check (which resolves them) agrees.
    let physical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let source = stamp::relative(
        &named
            .file_name()
            .map(|n| physical(&file_dir).join(n))
            .unwrap_or_else(|| real.clone()),
        &physical(&out_dir),
    );
    let text = stamp::stamp(&converted.ron, &source.to_string_lossy());
    let Some(target) = target else {
        super::out(&text);
        return Ok(());
    };
    if !force {
        may_overwrite(&target, &real)?;
    }
    let mut tmp = target.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, &text)
        .and_then(|()| std::fs::rename(&tmp, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Failure::request(format!("cannot write {}: {e}", target.display()))
        })?;
    super::out(&format!(
        "wrote {} ({} app{}{}); `pmx up {}` starts it\n",
        target.display(),
        eco.apps.len(),
        if eco.apps.len() == 1 { "" } else { "s" },
        match eco.deploy.len() {
            0 => String::new(),
            n => format!(", {n} deploy target{}", if n == 1 { "" } else { "s" }),
        },
        target.display()
    ));
    Ok(())
}

/// Whether `pmx import` of the PM2 file `real` (canonical) may replace `target` without
/// `-f`: when there is none, or its [`stamp`] record is intact and names `real`.
///
/// Errors (exit 1, naming the file and `-f`): the file cannot be read, has no record
/// (written by hand), was edited since it was written, or was converted from another
/// PM2 file.
fn may_overwrite(target: &Path, real: &Path) -> Result<(), Failure> {
    let shown = target.display();
    let refuse = |why: String| {
        Failure::request(format!(
            "{shown} {why}; -f overwrites it, -o writes elsewhere"
        ))
    };
    let existing = match std::fs::read(target) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refuse(format!("exists and cannot be read ({e})"))),
    };
    match stamp::read(&existing) {
        stamp::Record::None => Err(refuse("exists and was not written by pmx import".into())),
        stamp::Record::Edited => Err(refuse(
            "was edited since pmx import wrote it (its recorded hash no longer matches)".into(),
        )),
        stamp::Record::Intact { source } => {
            let dir = target.parent().unwrap_or(Path::new("/"));
            let recorded = dir.join(&source);
            if std::fs::canonicalize(&recorded).is_ok_and(|r| r == real) {
                Ok(())
            } else {
                Err(refuse(format!(
                    "was converted from another PM2 file ({source})"
                )))
            }
        }
    }
}

/// The sample `pmx ecosystem` writes: one app that runs anywhere (bash), the common
/// fields with their defaults in comments. A unit test reads it through pmx-config.
pub const SAMPLE: &str = include_str!("sample.ron");

/// `pmx ecosystem [-f]`: write [`SAMPLE`] to `<dir>/ecosystem.ron`; an existing file is
/// kept (exit 1) unless `force`.
pub fn write_sample(dir: &Path, force: bool) -> Result<(), Failure> {
    let path = dir.join("ecosystem.ron");
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = open.open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::request(format!(
                "{} exists; `pmx ecosystem -f` overwrites it",
                path.display()
            ))
        } else {
            Failure::request(format!("cannot write {}: {e}", path.display()))
        }
    })?;
    file.write_all(SAMPLE.as_bytes())
        .map_err(|e| Failure::request(format!("cannot write {}: {e}", path.display())))?;
    super::out(&format!(
        "wrote {}; `pmx up` starts it, `pmx up --dry-run` shows what it would do\n",
        path.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SAMPLE;

    #[test]
    fn the_sample_is_a_valid_ecosystem() {
        let eco = pmx_config::parse(SAMPLE, std::path::Path::new("/tmp/x/ecosystem.ron"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eco.apps.len(), 1);
        assert_eq!(eco.apps[0].name, "hello");
        assert_eq!(eco.apps[0].envs["production"]["GREETING"], "good day");
    }
}
