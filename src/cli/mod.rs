//! The `pmx` command: parse, talk to the daemon, print. Exit codes (SPEC §3): 0 success,
//! 1 the request failed, 2 bad usage or an invalid ecosystem file; errors are one line,
//! `pmx: what and why`.

//!
//! Each verb's handler is a file of `verbs/` (pueue's layout); this module parses and
//! dispatches, and holds what several verbs share: [`Failure`], `out`, `connect`.

mod args;
mod daemon;
mod deploy;
mod export;
mod moment;
mod monit;
mod os;
mod pm2;
mod pm2_convert;
pub mod render;
mod render_js;
mod shell;
mod specs;
mod stamp;
pub mod start;
mod startup;
mod targets;
mod usage;
mod verbs;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
pub use args::*;
use pmx::{Client, ClientError, Home};
use pmx_protocol::{ErrorCode, ProcessInfo, Request};

/// How long a CLI waits for a daemon it started to answer.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A failed command: its exit code and its one-line message.
#[derive(Debug)]
pub struct Failure {
    /// 1 (the request failed) or 2 (usage, invalid config).
    pub code: u8,
    /// Printed after `pmx: ` (may hold several lines for config errors, each prefixed).
    pub message: String,
}

impl Failure {
    /// Exit 1: the request failed.
    pub fn request(m: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: m.into(),
        }
    }
    /// Exit 2: bad usage.
    pub fn usage(m: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: m.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        match &e {
            ClientError::Api(a) if a.code == ErrorCode::VersionMismatch => Failure::request(
                format!("{}; run `pmx update` to replace the daemon", a.message),
            ),
            ClientError::Api(a)
                if matches!(a.code, ErrorCode::InvalidConfig | ErrorCode::BadRequest) =>
            {
                Failure::usage(a.message.clone())
            }
            _ => Failure::request(e.to_string()),
        }
    }
}

/// Write to stdout; a closed pipe (`pmx list | head`) ends the command quietly.
fn out(text: &str) {
    let mut so = std::io::stdout().lock();
    if so
        .write_all(text.as_bytes())
        .and_then(|()| so.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Run the command line `argv` (without the program name).
pub fn run(argv: Vec<String>) -> Result<(), Failure> {
    // `pmx daemon` as the CLI spawns it goes straight to the daemon: the usage check and
    // argh's tables of every verb would page in code and text the daemon never needs again
    // (about 0.5 MiB of its resident memory, for its whole life).
    if argv.len() == 1 && argv[0] == "daemon" {
        return daemon::run(daemon::home()?);
    }
    // The fd holder the daemon starts (hidden: no user types it).
    if argv.len() == 1 && argv[0] == "__fdholder" {
        daemon::fdholder();
    }
    // What a daemon asks before `update` execs this binary (see `verbs/update.rs`).
    if argv.len() == 1 && argv[0] == "__handover" {
        out(&daemon::handover_line());
        return Ok(());
    }
    let (mut words, app_args) = match argv.iter().position(|a| a == "--") {
        Some(i) => (argv[..i].to_vec(), argv[i + 1..].to_vec()),
        None => (argv, Vec::new()),
    };
    // `pmx help [verb]` is `pmx [verb] --help` (PM2 users type it; argh has no help verb).
    if words.first().is_some_and(|w| w == "help") {
        words.remove(0);
        words.push("--help".into());
    }
    rewrite_aliases(&mut words);
    // `pmx run` and `pmx dev` take every option of `pmx start`: read as a start (their
    // own `--help` aside, which argh prints from `RunArgs`/`DevArgs`).
    if let Some(verb @ ("run" | "dev")) = words.first().map(String::as_str) {
        if !words.iter().any(|w| w == "-h" || w == "--help") {
            let verb = verb.to_string();
            return verbs::run::run(&verb, words, app_args);
        }
    }
    if words.is_empty() {
        return Err(Failure::usage("no command given; `pmx --help` lists them"));
    }
    let words = usage::check(&words)?;
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let parsed = match Pmx::from_args(&["pmx"], &refs) {
        Ok(p) => p,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    out(&early.output);
                    Ok(())
                }
                Err(()) => Err(Failure::usage(usage::reword(&early.output))),
            };
        }
    };
    if parsed.version {
        out(&format!("{}\n", pmx_protocol::VERSION));
        return Ok(());
    }
    let Some(cmd) = parsed.cmd else {
        return Err(Failure::usage("no command given; `pmx --help` lists them"));
    };
    if !app_args.is_empty() && !matches!(cmd, Cmd::Start(_)) {
        return Err(Failure::usage(
            "arguments after `--` are only for `pmx start`",
        ));
    }
    let home = daemon::home()?;
    match cmd {
        Cmd::Ecosystem(a) => verbs::ecosystem::run(&caller_cwd()?, a.force),
        Cmd::Import(a) => verbs::import::run(&a.file, a.output.as_deref(), a.force),
        Cmd::Daemon(_) => daemon::run(home),
        Cmd::Start(a) => verbs::start::run(&home, a, app_args),
        Cmd::Up(a) => verbs::up::run(&home, a),
        Cmd::StartOrReload(a) => verbs::start_or_reload::run(&home, a),
        Cmd::StartOrRestart(a) => verbs::start_or_restart::run(&home, a),
        Cmd::Stop(a) => verbs::stop::run(&home, a),
        Cmd::Delete(a) => verbs::delete::run(&home, a),
        Cmd::Scale(a) => verbs::scale::run(&home, a),
        Cmd::Reset(a) => verbs::reset::run(&home, a),
        Cmd::Signal(a) => verbs::signal::run(&home, a),
        Cmd::Restart(a) => verbs::restart::run(&home, a),
        Cmd::Reload(a) => verbs::reload::run(&home, a),
        Cmd::List(a) => verbs::list::run(&home, a),
        Cmd::Jlist(_) => verbs::jlist::run(&home, false),
        Cmd::Prettylist(_) => verbs::jlist::run(&home, true),
        Cmd::Pid(a) => verbs::pid::run(&home, a),
        Cmd::Describe(a) => verbs::describe::run(&home, a),
        Cmd::Env(a) => verbs::env::run(&home, a),
        Cmd::Ping(_) => verbs::ping::run(&home),
        Cmd::Kill(_) => verbs::kill::run(&home),
        Cmd::Update(_) => verbs::update::run(&home),
        Cmd::Logs(a) => verbs::logs::run(&home, a, connect(&home)?),
        Cmd::Flush(a) => verbs::flush::run(&home, a),
        Cmd::ReloadLogs(_) => verbs::reload_logs::run(&home),
        Cmd::Monit(_) => verbs::monit::run(&home),
        Cmd::Save(a) => verbs::save::run(&home, a.force),
        Cmd::Resurrect(a) => verbs::resurrect::run(&home, a.update_env),
        Cmd::Startup(a) => verbs::startup::run(&home, a),
        Cmd::Unstartup(a) => verbs::startup::remove(a),
        Cmd::Web(a) => verbs::web::run(&home, a),
        Cmd::Deploy(a) => deploy::run(a),
        Cmd::Export(a) => verbs::export::run(a),
        // Read as a start before argh (above): only their `--help` gets here.
        Cmd::Run(_) | Cmd::Dev(_) => Ok(()),
    }
}

/// Connect, starting the daemon when none answers.
pub(crate) fn connect(home: &Home) -> Result<Client, Failure> {
    match Client::connect(home) {
        Ok(c) => return Ok(c),
        // A daemon that does not accept in time, or a bad PMX_TIMEOUT: starting another
        // would not help.
        Err(e @ (ClientError::Timeout(_) | ClientError::Protocol(_))) => return Err(e.into()),
        Err(_) => {}
    }
    for w in daemon::prepare_home(home)? {
        eprintln!("pmx: warning: {w}");
    }
    let exe = std::env::current_exe()
        .map_err(|e| Failure::request(format!("cannot find the pmx binary: {e}")))?;
    Ok(Client::connect_or_start(home, &exe, DAEMON_START_TIMEOUT)?)
}

/// Send `req` and print the rows it answers (unless `silent`); a `start`'s rows as
/// [`started`] says.
fn rows_cmd(home: &Home, req: Request, silent: bool) -> Result<(), Failure> {
    let starting = matches!(req, Request::Start(_));
    let missing = match &req {
        Request::Start(r) => missing_watch_paths(&r.apps),
        _ => Vec::new(),
    };
    let rows: Vec<ProcessInfo> = connect(home)?.call_as(req)?;
    if starting {
        warn_missing_watch_paths(&missing);
        return started(&rows, silent);
    }
    if !silent {
        out(&render::table(&rows));
    }
    Ok(())
}

/// The watched paths of `apps` that do not exist, with their app's name: the daemon
/// watches their nearest existing ancestor and each one once it appears (the paths as the
/// daemon takes them: relative ones against the app's cwd).
pub(crate) fn missing_watch_paths(apps: &[pmx_protocol::AppSpec]) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for spec in apps {
        let roots = match &spec.app.watch {
            pmx_config::Watch::Off => continue,
            pmx_config::Watch::On => vec![spec.cwd.clone()],
            pmx_config::Watch::Paths(p) => p.iter().map(|p| spec.cwd.join(p)).collect(),
        };
        for r in roots {
            if std::fs::symlink_metadata(&r).is_err() {
                out.push((spec.app.name.clone(), r));
            }
        }
    }
    out
}

/// Say, on stderr, which watched paths do not exist yet (the app runs: a warning, not
/// an error).
pub(crate) fn warn_missing_watch_paths(missing: &[(String, PathBuf)]) {
    for (name, path) in missing {
        eprintln!(
            "pmx: warning: app \"{name}\": watch path {} does not exist; it is watched once it appears",
            path.display()
        );
    }
}

/// Print the rows a start answered (unless `silent`). A start whose instances ended
/// `errored` before it answered (a spawn that failed, or with `wait_ready` an app that
/// kept dying before it was ready) fails, exit 1, naming them: `pmx start … &&
/// next-step` must not carry on.
fn started(rows: &[ProcessInfo], silent: bool) -> Result<(), Failure> {
    if !silent {
        out(&render::table(rows));
    }
    if let Some(why) = group_start_stopped(rows) {
        return Err(Failure::request(why));
    }
    let errored: Vec<String> = rows
        .iter()
        .filter(|r| r.status == pmx_protocol::Status::Errored)
        .map(|r| format!("\"{}\" (id {})", r.name, r.id))
        .collect();
    if errored.is_empty() {
        return Ok(());
    }
    Err(Failure::request(format!(
        "{} errored before it was online; `pmx logs` and `pmx describe` say why",
        errored.join(", ")
    )))
}

/// A group's start that stopped at a member not online (SPEC §5: each member online
/// before the next starts): the daemon answers the group's rows in declared order, the
/// members after that one still `stopped`. Says which member and which were not started.
pub(crate) fn group_start_stopped(rows: &[ProcessInfo]) -> Option<String> {
    use pmx_protocol::Status;
    for (k, r) in rows.iter().enumerate() {
        let Some(g) = &r.group else { continue };
        if matches!(r.status, Status::Online | Status::Stopped) {
            continue;
        }
        let mut later: Vec<&str> = rows[k + 1..]
            .iter()
            .filter(|x| {
                x.group.as_ref() == Some(g) && x.name != r.name && x.status == Status::Stopped
            })
            .map(|x| x.name.as_str())
            .collect();
        later.dedup();
        if later.is_empty() {
            continue;
        }
        return Some(format!(
            "group {g}: \"{}\" (id {}) is {} before it was online, so the group's start stopped there; not started: {}",
            r.name,
            r.id,
            r.status.as_str(),
            later.join(", ")
        ));
    }
    None
}

/// The directory pmx was run from.
fn caller_cwd() -> Result<PathBuf, Failure> {
    std::env::current_dir()
        .map_err(|e| Failure::request(format!("cannot read the current directory: {e}")))
}
