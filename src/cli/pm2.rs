//! Coming from PM2: PM2 ecosystem files read by `pmx import` (verbs/import.rs), `start`
//! and `up`.
//!
//! A PM2 file is read as PM2 reads it (`Common.parseConfig`): `.js`/`.cjs` are
//! `require`d and `.mjs` imported by the machine's node, `.json` is JSON (evaluated by
//! node as a JavaScript expression when it is not strict JSON: PM2 allows comments
//! there), `.yaml`/`.yml` is YAML 1.2; `pmx start -` reads such JSON from standard input
//! ([`load_stdin`]). The value (`{apps}`, a list of apps or one app, every form PM2's
//! `_startJson` takes) is then converted by [`pm2_convert`]. What cannot be read is an
//! error at its line and column (a syntax error of a `.js` file: node's report of it).

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
// `-`: the text on stdin (`pmx start -`), evaluated as a .json file is.
const fromStdin = process.argv[1] === '-';
const file = fromStdin ? '<standard input>' : path.resolve(process.argv[1]);
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
// A failure is `{"error": <the error's first line>, "line", "column"}` on stdout, exit 3:
// a syntax error's position comes from node's own report (`file:LINE`, the source line,
// a caret under the column); `.json` is evaluated as `(text)`, so line 1 is one column off.
function fail(e) {
  const syntax = e instanceof SyntaxError;
  const out = { error: String(e).split('\n')[0] };
  if (syntax && typeof e.stack === 'string') {
    const l = e.stack.split('\n');
    const m = /:(\d+)$/.exec(l[0] || '');
    if (m && l[0].startsWith(file) && /^\s*\^+\s*$/.test(l[2] || '')) {
      out.line = Number(m[1]);
      out.column = Math.max(1, l[2].indexOf('^') + 1 - (wrapped && out.line === 1 ? 1 : 0));
      // At the closing `)` added below: the text ended before its value did.
      const lines = wrapped ? source.trimEnd().split('\n') : null;
      if (lines && out.line > lines.length) {
        out.error = 'SyntaxError: Unexpected end of input';
        out.line = lines.length;
        out.column = lines[lines.length - 1].length + 1;
      }
    }
  }
  result(JSON.stringify(out), () => process.exit(3));
}
const wrapped = fromStdin || file.endsWith('.json');
let source = '';
try {
  if (file.endsWith('.mjs')) import(url.pathToFileURL(file).href).then(done, fail);
  else if (wrapped) {
    source = fs.readFileSync(fromStdin ? 0 : file, 'utf8');
    // On a line of its own, so a `// comment` ending the text cannot swallow it.
    done(vm.runInThisContext('(' + source + '\n)', { filename: file }));
  }
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

/// Whether `path` names a PM2 ecosystem file (SPEC §3), by its name as PM2 decides
/// (`Common.isConfigFile`): `*.config.js|cjs|mjs`, or a `.json`/`.yaml`/`.yml` file.
/// Such a file is never run as a script: what it holds (an object with `apps`, a list of
/// apps, one app) is read by [`read`], and a file that holds none of them, or is not
/// valid JSON or YAML, is an error saying so. PM2 looks for the extension anywhere in
/// the name (`x.json.sh`); pmx only at its end, so such a script stays a script.
pub fn is_pm2_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [
        ".config.js",
        ".config.cjs",
        ".config.mjs",
        ".json",
        ".yaml",
        ".yml",
    ]
    .iter()
    .any(|s| name.ends_with(s) && name.len() > s.len())
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
            let text = text()?;
            if text.trim().is_empty() {
                return Err(empty(shown));
            }
            let config: Value = serde_yaml_ng::from_str(&text)
                .map_err(|e| Failure::usage(yaml_error(shown, &e)))?;
            Ok(Pm2File {
                config,
                dropped: Vec::new(),
            })
        }
        "json" => json_or_node(&text()?, shown, || node_load(path, shown)),
        _ => node_load(path, shown).map_err(|f| match f.code {
            127 => Failure::request(format!(
                "reading {shown} needs node (a PM2 file in JavaScript is run to get its apps), and there is no `node` on PATH"
            )),
            _ => f,
        }),
    }
}

/// A PM2 file (or standard input) with nothing but blanks in it (exit 2).
fn empty(shown: &str) -> Failure {
    Failure::usage(format!(
        "{shown} is empty: expected a PM2 app description (an object with \"apps\", a list of apps or one app)"
    ))
}

/// A YAML error as `{shown}:LINE:COL: what`, the position taken out of the words
/// (`did not find expected ',' or ']', while parsing a flow sequence at line 2 column 9`).
fn yaml_error(shown: &str, e: &serde_yaml_ng::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(at) => {
            let (l, c) = (at.line(), at.column());
            let words = text.replacen(&format!(" at line {l} column {c}"), "", 1);
            format!("{shown}:{l}:{c}: {words}")
        }
        None => format!("{shown}: {text}"),
    }
}

/// How long node may take to load a PM2 file (30 s): a file that loops or waits
/// forever is an error, not a hung command.
const NODE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Run [`NODE_LOADER`] on `path`. A missing node is `code` 127.
fn node_load(path: &Path, shown: &str) -> Result<Pm2File, Failure> {
    node_run(path.as_os_str(), None, shown)
}

/// Run [`NODE_LOADER`] on `arg` (a path, or `-` with `input` on its stdin).
fn node_run(arg: &std::ffi::OsStr, input: Option<&str>, shown: &str) -> Result<Pm2File, Failure> {
    use std::process::Stdio;
    let mut child = std::process::Command::new("node")
        .arg("-e")
        .arg(NODE_LOADER)
        .arg(arg)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
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
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), input) {
        // Written beside the waiter, so a node that does not read cannot block this.
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
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
        return Err(Failure::usage(node_failure(&output, shown)));
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

/// What the loader reported when node could not load a file: `{shown}:LINE:COL: <node's
/// first line>` for a syntax error, else `{shown}: node cannot load it: <first line>`.
/// What the file printed before failing goes to stderr first, as PM2 shows it.
fn node_failure(output: &std::process::Output, shown: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Failed {
        error: String,
        line: Option<u64>,
        column: Option<u64>,
    }
    match serde_json::from_slice::<Failed>(&output.stdout) {
        Ok(f) => {
            let _ = std::io::stderr().write_all(&output.stderr);
            match (f.line, f.column) {
                (Some(l), Some(c)) => format!("{shown}:{l}:{c}: {}", f.error),
                _ => format!("{shown}: node cannot load it: {}", f.error),
            }
        }
        // Killed, or node itself refused to run: its own words.
        Err(_) => format!(
            "{shown}: node cannot load it: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

/// Read and convert the PM2 file at `abs` (canonical; `shown` as typed) to ecosystem.ron
/// text whose paths are relative to `out_dir`; warnings are printed on stderr.
pub(super) fn convert_file(abs: &Path, shown: &str, out_dir: &Path) -> Result<Converted, Failure> {
    let file = read(abs, shown)?;
    convert_read(&file, abs.parent(), shown, out_dir, false)
}

/// Convert what [`read`] gave; `file_dir`: the PM2 file's directory (None: standard
/// input, whose paths PM2 resolves against the caller's directory alone).
fn convert_read(
    file: &Pm2File,
    file_dir: Option<&Path>,
    shown: &str,
    out_dir: &Path,
    scripts_optional: bool,
) -> Result<Converted, Failure> {
    let caller_cwd = super::caller_cwd()?;
    let ctx = Context {
        file_dir: file_dir
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
        scripts_optional,
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

/// A PM2 file read for `pmx deploy`: as [`load`], but an app whose script is not on this
/// machine is no error (deploy reads the `deploy` section only; the scripts are on the
/// hosts, and `pm2 deploy` needs none of them here).
pub fn load_for_deploy(path: &Path, shown: &str) -> Result<pmx_config::Ecosystem, Failure> {
    let abs = std::fs::canonicalize(path)
        .map_err(|e| Failure::request(format!("cannot read {shown}: {e}")))?;
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let file = read(&abs, shown)?;
    let converted = convert_read(&file, abs.parent(), shown, &dir, true)?;
    parse_converted(&converted.ron, &abs, shown)
}

/// How `pmx start -` names standard input in messages.
pub const STDIN_SHOWN: &str = "standard input";

/// A PM2 JSON app description on standard input (`pmx start -`, PM2's `start -`): an
/// object with `apps`, a list of apps or one app, read as a `.json` file is (strict JSON,
/// else evaluated by node as PM2 does), relative paths against the caller's directory.
/// The ecosystem's `file` is `<cwd>/<standard input>`, a name no app keeps as its source.
///
/// Errors (exit 2): stdin is a terminal or empty, not UTF-8, larger than
/// pmx_config::MAX_FILE_BYTES, or not JSON (with its line and column), or not an app
/// description.
pub fn load_stdin() -> Result<pmx_config::Ecosystem, Failure> {
    use std::io::{IsTerminal, Read};
    let shown = STDIN_SHOWN;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::usage(
            "pmx start - reads a PM2 JSON app description from standard input, which is a terminal: pipe one in (cat apps.json | pmx start -)",
        ));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(pmx_config::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::request(format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > pmx_config::MAX_FILE_BYTES {
        return Err(Failure::usage(format!(
            "{shown}: more than {} MiB; a PM2 app description is smaller",
            pmx_config::MAX_FILE_BYTES >> 20
        )));
    }
    let text = pmx_config::utf8_text(&bytes, shown).map_err(|e| Failure::usage(e.to_string()))?;
    let file = json_or_node(text, shown, || {
        node_run(std::ffi::OsStr::new("-"), Some(text), shown)
    })?;
    let cwd = super::caller_cwd()?;
    let converted = convert_read(&file, None, shown, &cwd, false)?;
    parse_converted(&converted.ron, &cwd.join(format!("<{shown}>")), shown)
}

/// `text` as strict JSON, else through `node` (PM2 evaluates JSON as JavaScript, so
/// comments and trailing commas pass): a missing node leaves serde's error, with its
/// position; nesting past serde_json's 128 levels is refused at its position.
fn json_or_node(
    text: &str,
    shown: &str,
    node: impl FnOnce() -> Result<Pm2File, Failure>,
) -> Result<Pm2File, Failure> {
    if text.trim().is_empty() {
        return Err(empty(shown));
    }
    match serde_json::from_str::<Value>(text) {
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
        Err(e) => node().map_err(|f| match f.code {
            127 => Failure::usage(format!(
                "{shown}:{}:{}: {e} (and no node to read it as PM2 does, as JavaScript)",
                e.line(),
                e.column()
            )),
            _ => Failure { code: 2, ..f },
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pm2_files_are_known_by_their_name_as_pm2_knows_them() {
        let cases = [
            ("ecosystem.config.js", true),
            ("a.config.cjs", true),
            ("a.config.mjs", true),
            ("all.json", true),
            ("one.yaml", true),
            ("one.yml", true),
            ("app.js", false),
            ("ecosystem.ron", false),
            // PM2 looks for `.json` anywhere in the name; pmx at its end only.
            ("x.json.sh", false),
            ("run", false),
            (".json", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_pm2_file(Path::new(name)), want, "{name}");
        }
    }

    #[test]
    fn a_yaml_error_is_given_at_its_line_and_column() {
        let cases = [
            (
                "name: a\nscript: [x\n  foo: : bar\n",
                "f.yml:3:6: did not find expected ',' or ']', while parsing a flow sequence at line 2 column 9",
            ),
            (
                "a: 1\n b: 2\n",
                "f.yml:2:3: mapping values are not allowed in this context",
            ),
        ];
        for (text, want) in cases {
            let e = serde_yaml_ng::from_str::<Value>(text).expect_err(text);
            assert_eq!(yaml_error("f.yml", &e), want, "{text:?}");
        }
    }
}
