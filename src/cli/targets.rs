//! The targets of `stop`, `restart`, `reload`, `delete`, `reset` and `signal` in every
//! form PM2 accepts (SPEC §3): several per command, each acted on in order, stopping at
//! the first that fails (PM2's `forEachLimit(targets, 1)`: the later ones are left
//! alone, exit 1). Names, ids, groups, namespaces, `all` and `/regex/` travel as they are
//! (the daemon resolves them, `Registry::resolve`); the CLI adds what needs its own
//! directory:
//! - a script path: one with a `/` goes as the absolute path (it cannot be a name); a bare
//!   `echo.js` is first a name and, when no app has it, the file here (PM2 matches
//!   `name == target || pm_exec_path == path.resolve(target)`);
//! - an app file (ecosystem.ron or a PM2 file): `restart`/`reload` of it are
//!   `startOrRestart`/`startOrReload` of it (PM2's `_startJson`: restart the file's
//!   running apps with its settings, start the missing ones), with `--env`/`--only`; the
//!   other verbs act on the file's apps by name, skipping those not running (PM2's
//!   `actionFromJson`).
//!
//! `stop`/`restart`/`reload`/`delete all` with no app fail (exit 1) as PM2's
//! "No process found" does.

use std::path::{Path, PathBuf};

use pmx::{Client, ClientError, Home};
use pmx_protocol::{ErrorCode, ProcessInfo, Request};

use crate::cli::verbs::restart::{restart_req, Refresh};
use crate::cli::verbs::up::{self, Mode};
use crate::cli::{caller_cwd, connect, out, pm2, render, specs, Failure};

/// What to do to each target.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `stop`; `true`: `stop --watch`, watching turned off too.
    Stop(bool),
    /// `restart`, with `--update-env` and start options or not.
    Restart(Refresh),
    /// `reload`, with `--update-env` and start options or not.
    Reload(Refresh),
    /// `delete`.
    Delete,
    /// `reset`.
    Reset,
    /// `signal` with this signal.
    Signal(String),
}

impl Action {
    /// The request doing this to `target`.
    fn request(&self, target: String) -> Request {
        match self {
            Action::Stop(unwatch) => Request::Stop {
                target,
                unwatch: *unwatch,
            },
            Action::Restart(r) => Request::Restart(restart_req(target, r)),
            Action::Reload(r) => Request::Reload(restart_req(target, r)),
            Action::Delete => Request::Delete { target },
            Action::Reset => Request::Reset { target },
            Action::Signal(signal) => Request::Signal {
                signal: signal.clone(),
                target,
            },
        }
    }

    /// Whether `all` selecting nothing is a failure (PM2 7: `stop`, `restart`, `reload`
    /// and `delete all` print "No process found" and exit 1; `reset all` does not).
    fn needs_some(&self) -> bool {
        matches!(
            self,
            Action::Stop(_) | Action::Restart(_) | Action::Reload(_) | Action::Delete
        )
    }
}

/// The options a verb's targets take.
#[derive(Debug, Default)]
pub struct Options {
    /// `--env NAME`: an app file's environment (for `restart`/`reload` of a file).
    pub env: Option<String>,
    /// `--only a,b`: only these apps of an app file.
    pub only: Option<String>,
    /// `-s`: print nothing.
    pub silent: bool,
}

/// Do `action` to each of `targets` in order and print the rows touched (one table; an
/// app file restarted or reloaded prints its own plan and rows).
///
/// Errors: the first target that fails (exit 1, or 2 for a bad `/regex/` or app file);
/// `--env`/`--only` without an app file among the targets (exit 2).
pub fn run(home: &Home, action: Action, targets: &[String], opts: &Options) -> Result<(), Failure> {
    let cwd = caller_cwd()?;
    let files: Vec<Option<PathBuf>> = targets.iter().map(|t| app_file(&cwd, t)).collect();
    if files.iter().all(Option::is_none) && !targets.iter().any(|t| t == "-") {
        for (flag, given) in [("--env", &opts.env), ("--only", &opts.only)] {
            if given.is_some() {
                return Err(Failure::usage(format!(
                    "{flag} chooses among the apps of an app file; give the file as a target"
                )));
            }
        }
    }
    let mut rows = Vec::new();
    let mut table = false;
    let mut client = None;
    let mut done = Ok(());
    for (t, file) in targets.iter().zip(&files) {
        let step = match (file, &action) {
            // PM2's `pm2 delete -` (and stop, restart…): the apps of the JSON on stdin.
            (None, _) if t == "-" => {
                table = true;
                pm2::load_stdin().and_then(|eco| {
                    let names = file_apps(&eco, opts.only.as_deref())?;
                    by_names(home, &mut client, &action, names, &mut rows)
                })
            }
            (Some(_), Action::Restart(r) | Action::Reload(r)) if r.update.is_some() => {
                Err(Failure::usage(format!(
                    "{t}: --name and --node-args update a running app; for an app file's apps, set them in the file"
                )))
            }
            (Some(_), Action::Restart(_) | Action::Reload(_)) => {
                let mode = if matches!(action, Action::Restart(_)) {
                    Mode::RestartAll
                } else {
                    Mode::ReloadAll
                };
                let (env, only) = (opts.env.as_deref(), opts.only.as_deref());
                up::apply(home, t, env, only, false, false, mode, opts.silent)
            }
            (Some(_), _) => {
                table = true;
                by_file(
                    home,
                    &mut client,
                    &action,
                    t,
                    opts.only.as_deref(),
                    &mut rows,
                )
            }
            (None, _) => {
                table = true;
                one(home, &mut client, &action, &cwd, t, &mut rows)
            }
        };
        if let Err(e) = step {
            done = Err(e);
            break;
        }
    }
    if table && !opts.silent && (done.is_ok() || !rows.is_empty()) {
        rows.sort_by_key(|r| r.id);
        rows.dedup_by_key(|r| r.id);
        out(&render::table(&rows));
    }
    done
}

/// The connection, made on first use (starting the daemon when none answers).
fn client<'a>(home: &Home, c: &'a mut Option<Client>) -> Result<&'a mut Client, Failure> {
    if c.is_none() {
        *c = Some(connect(home)?);
    }
    c.as_mut()
        .ok_or_else(|| Failure::request("no connection to the daemon"))
}

/// Do `action` to one target that is not an app file.
fn one(
    home: &Home,
    c: &mut Option<Client>,
    action: &Action,
    cwd: &Path,
    target: &str,
    rows: &mut Vec<ProcessInfo>,
) -> Result<(), Failure> {
    let wire = wire_target(cwd, target);
    let got: Result<Vec<ProcessInfo>, ClientError> =
        client(home, c)?.call_as(action.request(wire.clone()));
    let got = match got {
        Err(ClientError::Api(e)) if e.code == ErrorCode::NotFound && wire == target => {
            // A bare `echo.js` no app is named: the apps started from the file here.
            match script_here(cwd, target) {
                Some(path) => client(home, c)?
                    .call_as::<Vec<ProcessInfo>>(action.request(path.clone()))
                    .map_err(|second| match second {
                        ClientError::Api(s) if s.code == ErrorCode::NotFound => {
                            Failure::request(format!("{}, and {}", e.message, s.message))
                        }
                        other => other.into(),
                    })?,
                // PM2 reads `*.json`, `*.yml`, `*.config.js`… as a file: say it is missing.
                None if looks_like_app_file(target) => {
                    return Err(Failure::request(format!(
                        "{}, and there is no app file {target} here",
                        e.message
                    )))
                }
                None => return Err(ClientError::Api(e).into()),
            }
        }
        other => other?,
    };
    if target == "all" && got.is_empty() && action.needs_some() {
        return Err(Failure::request("no process found (`all` selects no app)"));
    }
    rows.extend(got);
    Ok(())
}

/// Do `action` (not a restart or reload) to the apps of the app file `file`, by name,
/// skipping those the daemon does not know (PM2's `actionFromJson`).
fn by_file(
    home: &Home,
    c: &mut Option<Client>,
    action: &Action,
    file: &str,
    only: Option<&str>,
    rows: &mut Vec<ProcessInfo>,
) -> Result<(), Failure> {
    let eco = specs::load(Path::new(file))?;
    let names = file_apps(&eco, only)?;
    by_names(home, c, action, names, rows)
}

/// Do `action` to the apps named `names`, in order, skipping those the daemon does not
/// know (PM2's `actionFromJson`).
fn by_names(
    home: &Home,
    c: &mut Option<Client>,
    action: &Action,
    names: Vec<String>,
    rows: &mut Vec<ProcessInfo>,
) -> Result<(), Failure> {
    for name in names {
        match client(home, c)?.call_as::<Vec<ProcessInfo>>(action.request(name)) {
            Ok(got) => rows.extend(got),
            Err(ClientError::Api(e)) if e.code == ErrorCode::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The names of `eco`'s apps, in the file's order, kept to `only` (comma-separated).
///
/// Errors (exit 2): a name in `only` the file does not have.
pub fn file_apps(eco: &pmx_config::Ecosystem, only: Option<&str>) -> Result<Vec<String>, Failure> {
    let only: Option<Vec<&str>> = only.map(|o| o.split(',').map(str::trim).collect());
    if let Some(list) = &only {
        if let Some(n) = list.iter().find(|n| eco.app(n).is_none()) {
            return Err(Failure::usage(format!(
                "--only {n}: {} has no app named \"{n}\"",
                eco.file.display()
            )));
        }
    }
    Ok(eco
        .apps
        .iter()
        .filter(|a| only.as_ref().is_none_or(|l| l.contains(&a.name.as_str())))
        .map(|a| a.name.clone())
        .collect())
}

/// The app file `target` names from `cwd`, if it is one: an existing regular file that is
/// an ecosystem.ron or a PM2 app file (as `pmx start` tells them).
fn app_file(cwd: &Path, target: &str) -> Option<PathBuf> {
    if target == "all" || is_regex(target) {
        return None;
    }
    let p = cwd.join(target);
    let ron = p.extension().is_some_and(|e| e == "ron");
    (p.is_file() && (ron || pm2::is_pm2_file(&p))).then_some(p)
}

/// Whether `target`'s name reads as an app file (PM2's `isConfigFile` endings, and
/// `.ron`).
fn looks_like_app_file(target: &str) -> bool {
    [
        ".json",
        ".yml",
        ".yaml",
        ".config.js",
        ".config.cjs",
        ".config.mjs",
        ".ron",
    ]
    .iter()
    .any(|end| target.ends_with(end))
}

/// Whether `target` is PM2's `/regex/` form (resolved by the daemon).
fn is_regex(target: &str) -> bool {
    target.len() >= 2 && target.starts_with('/') && target.ends_with('/')
}

/// The target as sent: one holding a `/` (no name does) but not a `/regex/` is a script
/// path, sent absolute (resolved against `cwd`, `.` and `..` folded); any other as given.
pub fn wire_target(cwd: &Path, target: &str) -> String {
    if target.contains('/') && !is_regex(target) {
        absolute(cwd, target)
    } else {
        target.to_string()
    }
}

/// The absolute path of the regular file `target` in `cwd`, when there is one (and the
/// target is not `all` or an id).
fn script_here(cwd: &Path, target: &str) -> Option<String> {
    let plain = target == "all" || target.bytes().all(|b| b.is_ascii_digit());
    (!plain && cwd.join(target).is_file()).then(|| absolute(cwd, target))
}

/// `target` joined to `cwd`, `.` and `..` folded lexically (Node's `path.resolve`).
fn absolute(cwd: &Path, target: &str) -> String {
    let mut out = PathBuf::new();
    for c in cwd.join(target).components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_with_a_slash_go_as_absolute_script_paths() {
        let cwd = Path::new("/work/app");
        let cases = [
            ("api", "api"),
            ("3", "3"),
            ("all", "all"),
            ("echo.js", "echo.js"),
            ("/^api-/", "/^api-/"),
            ("./echo.js", "/work/app/echo.js"),
            ("lib/../echo.js", "/work/app/echo.js"),
            ("../other/run.sh", "/work/other/run.sh"),
            ("/srv/run.sh", "/srv/run.sh"),
        ];
        for (target, want) in cases {
            assert_eq!(wire_target(cwd, target), want, "{target}");
        }
    }

    #[test]
    fn only_an_existing_non_regex_target_is_an_app_file() {
        let dir = std::env::temp_dir().join(format!("pmx-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("apps.ron"), "Ecosystem(apps: [])").expect("write");
        assert!(app_file(&dir, "apps.ron").is_some());
        assert!(app_file(&dir, "missing.ron").is_none());
        assert!(app_file(&dir, "all").is_none());
        assert!(app_file(&dir, "/x/").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
