//! The `pmx` command: parse, talk to the daemon, print. Exit codes (SPEC §3): 0 success,
//! 1 the request failed, 2 bad usage or an invalid ecosystem file; errors are one line,
//! `pmx: what and why`.

mod args;
mod logs;
mod pm2;
mod pm2_convert;
pub mod render;
mod stamp;
pub mod start;
mod usage;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use argh::FromArgs;
pub use args::*;
use pmx::{Client, ClientError, Home};
use pmx_actors::protocol::{
    Description, EnvReply, ErrorCode, PingReply, ProcessInfo, Request, RestartRequest,
    StartRequest, UpReply, UpRequest,
};

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
    let (mut words, app_args) = match argv.iter().position(|a| a == "--") {
        Some(i) => (argv[..i].to_vec(), argv[i + 1..].to_vec()),
        None => (argv, Vec::new()),
    };
    rewrite_aliases(&mut words);
    if words.is_empty() {
        return Err(Failure::usage("no command given; `pmx --help` lists them"));
    }
    usage::check(&words)?;
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
        out(&format!("{}\n", pmx_actors::protocol::VERSION));
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
    let home = Home::from_env().map_err(Failure::request)?;
    match cmd {
        Cmd::Ecosystem(a) => pm2::write_sample(&caller_cwd()?, a.force),
        Cmd::Import(a) => pm2::import(&a.file, a.output.as_deref(), a.force),
        Cmd::Daemon(_) => daemon(home),
        Cmd::Start(a) => start_cmd(&home, a, app_args),
        Cmd::Up(a) => up_cmd(
            &home,
            a.file.as_deref().unwrap_or_else(|| default_ecosystem()),
            a.env.as_deref(),
            a.only.as_deref(),
            a.prune,
            a.dry_run,
            false,
            a.silent,
        ),
        Cmd::StartOrReload(a) => up_cmd(
            &home,
            &a.file,
            a.env.as_deref(),
            a.only.as_deref(),
            false,
            false,
            false,
            a.silent,
        ),
        Cmd::StartOrRestart(a) => up_cmd(
            &home,
            &a.file,
            a.env.as_deref(),
            a.only.as_deref(),
            false,
            false,
            true,
            a.silent,
        ),
        Cmd::Stop(a) => rows_cmd(&home, Request::Stop { target: a.target }, a.silent),
        Cmd::Delete(a) => rows_cmd(&home, Request::Delete { target: a.target }, a.silent),
        Cmd::Reset(a) => rows_cmd(&home, Request::Reset { target: a.target }, a.silent),
        Cmd::Signal(a) => rows_cmd(
            &home,
            Request::Signal {
                signal: a.signal,
                target: a.target,
            },
            a.silent,
        ),
        Cmd::Restart(a) => rows_cmd(
            &home,
            Request::Restart(restart_req(a.target, a.update_env)),
            a.silent,
        ),
        Cmd::Reload(a) => rows_cmd(
            &home,
            Request::Reload(restart_req(a.target, a.update_env)),
            a.silent,
        ),
        Cmd::List(a) => {
            let raw = connect(&home)?.call_raw(Request::List)?;
            if a.json {
                // The daemon's JSON as it is: the same objects as the socket's `list`.
                out(&format!("{raw}\n"));
            } else {
                let rows: Vec<ProcessInfo> = serde_json::from_str(&raw)
                    .map_err(|e| Failure::request(format!("bad reply: {e}")))?;
                out(&render::table(&rows));
            }
            Ok(())
        }
        Cmd::Describe(a) => {
            let v = connect(&home)?.call(Request::Describe { target: a.target })?;
            if a.json {
                out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                ));
            } else {
                let ds: Vec<Description> = serde_json::from_value(v)
                    .map_err(|e| Failure::request(format!("bad reply: {e}")))?;
                for d in &ds {
                    out(&render::describe(d));
                }
            }
            Ok(())
        }
        Cmd::Env(a) => {
            let r: EnvReply = connect(&home)?.call_as(Request::Env { target: a.target })?;
            let mut text = String::new();
            for (k, v) in &r.env {
                text.push_str(&format!("{k}={v}\n"));
            }
            out(&text);
            Ok(())
        }
        Cmd::Ping(_) => {
            let r: PingReply = connect(&home)?.call_as(Request::Ping)?;
            out(&format!("pong (daemon pid {}, pmx {})\n", r.pid, r.version));
            Ok(())
        }
        Cmd::Kill(_) => kill(&home),
        Cmd::Logs(a) => logs::run(&home, a, connect(&home)?),
        Cmd::Flush(a) => rows_cmd(&home, Request::Flush { target: a.target }, a.silent),
        Cmd::ReloadLogs(_) => {
            connect(&home)?.call(Request::ReloadLogs)?;
            out("every log file reopened\n");
            Ok(())
        }
    }
}

fn restart_req(target: String, update_env: bool) -> RestartRequest {
    RestartRequest {
        target,
        update_env,
        env: update_env.then(start::caller_env),
    }
}

/// Connect, starting the daemon when none answers.
fn connect(home: &Home) -> Result<Client, Failure> {
    if let Ok(c) = Client::connect(home) {
        return Ok(c);
    }
    for w in pmx_actors::daemon::prepare_home(home).map_err(Failure::request)? {
        eprintln!("pmx: warning: {w}");
    }
    let exe = std::env::current_exe()
        .map_err(|e| Failure::request(format!("cannot find the pmx binary: {e}")))?;
    Ok(Client::connect_or_start(home, &exe, DAEMON_START_TIMEOUT)?)
}

fn daemon(home: Home) -> Result<(), Failure> {
    match pmx_actors::daemon::run(home) {
        Ok(()) | Err(pmx_actors::daemon::StartError::AlreadyRunning) => Ok(()),
        Err(pmx_actors::daemon::StartError::Failed(e)) => Err(Failure::request(e)),
    }
}

fn rows_cmd(home: &Home, req: Request, silent: bool) -> Result<(), Failure> {
    let rows: Vec<ProcessInfo> = connect(home)?.call_as(req)?;
    if !silent {
        out(&render::table(&rows));
    }
    Ok(())
}

fn caller_cwd() -> Result<PathBuf, Failure> {
    std::env::current_dir()
        .map_err(|e| Failure::request(format!("cannot read the current directory: {e}")))
}

/// Load an ecosystem file, printing every error (exit 2).
/// `pmx up`'s file when none is given: `./ecosystem.ron`, else PM2's default
/// `./ecosystem.config.js` when only that exists.
fn default_ecosystem() -> &'static str {
    if !Path::new("ecosystem.ron").exists() && Path::new("ecosystem.config.js").exists() {
        "ecosystem.config.js"
    } else {
        "ecosystem.ron"
    }
}

/// An ecosystem file: ecosystem.ron, or a PM2 file converted on the fly.
fn load(path: &Path) -> Result<pmx_config::Ecosystem, Failure> {
    if path.extension().is_none_or(|e| e != "ron") && pm2::is_pm2_file(path) {
        return pm2::load(path, &path.display().to_string());
    }
    pmx_config::load(path).map_err(|errs| {
        Failure::usage(
            errs.0
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\npmx: "),
        )
    })
}

/// The file's apps as specs, after `--env` and `--only` checks.
fn specs_of(
    eco: &pmx_config::Ecosystem,
    env: Option<&str>,
    only: Option<&str>,
) -> Result<Vec<pmx_actors::protocol::AppSpec>, Failure> {
    if let Some(name) = env {
        let names = eco.env_names();
        if !names.contains(name) {
            let have: Vec<_> = names.into_iter().collect();
            return Err(Failure::usage(format!(
                "--env {name}: {} defines no such environment{}",
                eco.file.display(),
                if have.is_empty() {
                    String::new()
                } else {
                    format!(" (it has: {})", have.join(", "))
                }
            )));
        }
    }
    let only: Option<Vec<&str>> = only.map(|o| o.split(',').map(str::trim).collect());
    if let Some(list) = &only {
        for n in list {
            if eco.app(n).is_none() {
                return Err(Failure::usage(format!(
                    "--only {n}: {} has no app named \"{n}\"",
                    eco.file.display()
                )));
            }
        }
    }
    let cwd = caller_cwd()?;
    let inherited = start::caller_env();
    let mut specs = Vec::new();
    for app in &eco.apps {
        if only
            .as_ref()
            .is_some_and(|l| !l.contains(&app.name.as_str()))
        {
            continue;
        }
        warn_unbuilt(app);
        specs.push(start::resolve(
            app.clone(),
            &cwd,
            env,
            Some(&eco.file),
            &inherited,
        )?);
    }
    Ok(specs)
}

/// The file's groups whose members are all among `apps` (`--only` may leave some out).
fn groups_of(
    eco: &pmx_config::Ecosystem,
    apps: &[pmx_actors::protocol::AppSpec],
) -> Vec<pmx_config::Group> {
    let names: std::collections::BTreeSet<&str> =
        apps.iter().map(|a| a.app.name.as_str()).collect();
    eco.groups
        .iter()
        .filter(|g| g.apps.iter().all(|m| names.contains(m.as_str())))
        .cloned()
        .collect()
}

/// Say which declared behaviours this build does not act on yet, rather than pretend.
fn warn_unbuilt(app: &pmx_config::App) {
    let mut unbuilt = Vec::new();
    if app.is_cluster() {
        unbuilt.push(
            "instances/listen (cluster mode: each instance runs in fork mode, no shared socket)",
        );
    }
    if !matches!(app.watch, pmx_config::Watch::Off) {
        unbuilt.push("watch");
    }
    if app.cron_restart.is_some() {
        unbuilt.push("cron_restart");
    }
    if app.max_memory_restart.is_some() {
        unbuilt.push("max_memory_restart");
    }
    if app.wait_ready {
        unbuilt.push("wait_ready");
    }
    if !unbuilt.is_empty() {
        eprintln!(
            "pmx: warning: app \"{}\": this pmx does not act on {} yet",
            app.name,
            unbuilt.join(", ")
        );
    }
}

fn start_cmd(home: &Home, a: StartArgs, app_args: Vec<String>) -> Result<(), Failure> {
    let Some(raw) = a.target.clone() else {
        return Err(Failure::usage(
            "pmx start needs a target: a script, \"a command line\" or an ecosystem file",
        ));
    };
    let cwd = caller_cwd()?;
    let inherited = start::caller_env();
    let target = match start::classify(&raw, &cwd, inherited.get("PATH").map(String::as_str)) {
        Ok(t) => t,
        Err(e) => {
            // PM2: `pm2 start <name|id>` starts an app the daemon knows.
            if let Ok(mut c) = Client::connect(home) {
                if let Ok(v) = c.call(Request::Restart(RestartRequest {
                    target: raw.clone(),
                    update_env: false,
                    env: None,
                })) {
                    let rows: Vec<ProcessInfo> = serde_json::from_value(v).unwrap_or_default();
                    if !a.silent {
                        out(&render::table(&rows));
                    }
                    return Ok(());
                }
            }
            return Err(e);
        }
    };
    let request = match &target {
        start::Target::Ecosystem(_) => {
            if !app_args.is_empty() {
                return Err(Failure::usage(
                    "arguments after `--` are not for an ecosystem file",
                ));
            }
            let per_app = StartArgs {
                target: a.target.clone(),
                env: a.env.clone(),
                only: a.only.clone(),
                force: a.force,
                silent: a.silent,
                ..StartArgs::default()
            };
            if format!("{per_app:?}") != format!("{a:?}") {
                return Err(Failure::usage(
                    "options for one app (--name, --cwd, --kill-timeout, …) are not for an ecosystem file: set them in the file",
                ));
            }
            // Loaded as typed, so errors name the file the way the user wrote it.
            let eco = load(Path::new(&raw))?;
            let apps = specs_of(&eco, a.env.as_deref(), a.only.as_deref())?;
            StartRequest {
                groups: groups_of(&eco, &apps),
                apps,
                force: a.force,
                restart_existing: true,
            }
        }
        _ => {
            if a.env.is_some() {
                return Err(Failure::usage(
                    "--env NAME chooses an environment of an ecosystem file; give the file",
                ));
            }
            if a.only.is_some() {
                return Err(Failure::usage("--only is for an ecosystem file"));
            }
            let app = start::app_from_flags(&a, &target, &raw, &cwd, app_args)?;
            warn_unbuilt(&app);
            StartRequest {
                apps: vec![start::resolve(app, &cwd, None, None, &inherited)?],
                force: a.force,
                restart_existing: false,
                groups: Vec::new(),
            }
        }
    };
    rows_cmd(home, Request::Start(request), a.silent)
}

#[allow(clippy::too_many_arguments)]
fn up_cmd(
    home: &Home,
    file: &str,
    env: Option<&str>,
    only: Option<&str>,
    prune: bool,
    dry_run: bool,
    restart: bool,
    silent: bool,
) -> Result<(), Failure> {
    let path = caller_cwd()?.join(file);
    if path.is_dir() {
        return Err(Failure::request(format!(
            "{file} is a directory, not an ecosystem file"
        )));
    }
    if !path.is_file() {
        return Err(Failure::request(format!("ecosystem file {file} not found")));
    }
    let eco = load(Path::new(file))?;
    let apps = specs_of(&eco, env, only)?;
    let reply: UpReply = connect(home)?.call_as(Request::Up(UpRequest {
        file: eco.file.clone(),
        groups: groups_of(&eco, &apps),
        apps,
        prune,
        dry_run,
        restart,
    }))?;
    if !silent {
        out(&render::plan(&reply.plan));
        if !dry_run {
            out(&render::table(&reply.processes));
        }
    }
    Ok(())
}

/// `pmx kill`: stop every app and the daemon; returns once the daemon is gone.
fn kill(home: &Home) -> Result<(), Failure> {
    let mut client = match Client::connect(home) {
        Ok(c) => c,
        Err(ClientError::Io(_)) => {
            out("no daemon running\n");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let ping: PingReply = client.call_as(Request::Ping)?;
    match client.call(Request::Kill) {
        Ok(_) | Err(ClientError::Io(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while pmx_actors::os::pid_alive(ping.pid as i32) && is_pmx_daemon(ping.pid) {
        if Instant::now() > deadline {
            return Err(Failure::request(format!(
                "the daemon (pid {}) did not exit within 30 s",
                ping.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    out("daemon stopped\n");
    Ok(())
}

/// Whether `pid` still is a running (not zombie) process.
fn is_pmx_daemon(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
