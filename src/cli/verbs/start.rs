//! `pmx start <script|"command line"|ecosystem file> [options] [-- args]`: start an app
//! from flags, or an ecosystem file's apps; `pmx start <name|id>` of a known app restarts
//! it (PM2).

use std::path::Path;

use pmx::ClientError;
use pmx::{Client, Home};
use pmx_protocol::{
    AppUpdate, Description, ErrorCode, ProcessInfo, Request, RestartRequest, StartRequest, Status,
};

use crate::cli::specs::{groups_of, load, specs_of, warn_unbuilt};
use crate::cli::verbs::restart::{app_update, WatchFlags};
use crate::cli::{
    caller_cwd, connect, missing_watch_paths, pm2, rows_cmd, start, started,
    warn_missing_watch_paths, Failure, StartArgs,
};

/// `pmx start`: `a` the options, `app_args` what followed `--`.
pub fn run(home: &Home, a: StartArgs, app_args: Vec<String>) -> Result<(), Failure> {
    let Some(raw) = a.target.first().cloned() else {
        return Err(Failure::usage(
            "missing <target> for pmx start: a script, \"a command line\" or an ecosystem file; see `pmx start --help`",
        ));
    };
    let inherited = start::caller_env();
    if a.target.len() > 1 {
        return start_several(home, &a, app_args, inherited);
    }
    if raw == "-" {
        // PM2's `start -`: a JSON app description on standard input.
        check_file_options(&a, &app_args)?;
        let eco = pm2::load_stdin()?;
        let mut apps = specs_of(&eco, a.env.as_deref(), a.only.as_deref(), &inherited)?;
        with_instances(&mut apps, &a);
        // No file to name as their source (`up` of a real file leaves them alone).
        for app in &mut apps {
            app.source = None;
        }
        let request = StartRequest {
            inherited,
            groups: groups_of(&eco, &apps),
            apps,
            force: a.force,
            restart_existing: true,
        };
        return rows_cmd(home, Request::Start(request), a.silent);
    }
    let cwd = caller_cwd()?;
    let target = match start::classify(&raw, &cwd, inherited.get("PATH").map(String::as_str)) {
        Ok(t) => t,
        Err(e) => {
            // PM2: `pmx start <name|id>` starts an app the daemon knows (with `--name`
            // or `--node-args`, updated first, as `restart` does).
            let update = match updating(&a) {
                Some(u) => u?,
                None => None,
            };
            return match restart_known(home, &raw, a.silent, false, update) {
                Some(done) => done,
                None => Err(e),
            };
        }
    };
    // A bare word found on PATH that is also an app's name: the app wins (PM2 7 restarts
    // `ex` when an app is named `ex` and `ex` is a command), unless the line says more
    // than the name (options for a new app, `-f`, arguments): then it is a new start. A
    // path to an existing file is still a script (SPEC §3: classify took it as one).
    if matches!(target, start::Target::Command(_, ref words) if words.is_empty())
        && !raw.contains('/')
        && app_args.is_empty()
    {
        if let Some(update) = updating(&a) {
            if let Some(done) = restart_known(home, &raw, a.silent, true, update?) {
                return done;
            }
        }
    }
    let request = match &target {
        start::Target::Ecosystem(_) => {
            check_file_options(&a, &app_args)?;
            // Loaded as typed, so errors name the file the way the user wrote it.
            let eco = load(Path::new(&raw))?;
            let mut apps = specs_of(&eco, a.env.as_deref(), a.only.as_deref(), &inherited)?;
            with_instances(&mut apps, &a);
            StartRequest {
                inherited,
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
            let plain = app_args.is_empty();
            let app = start::app_from_flags(&a, &target, &raw, &cwd, app_args)?;
            warn_unbuilt(&app);
            let (name, script) = (app.name.clone(), app.script.clone());
            let request = StartRequest {
                apps: vec![start::resolve(app, &cwd, None, None, &inherited)?],
                inherited,
                force: a.force,
                restart_existing: false,
                groups: Vec::new(),
            };
            let missing = missing_watch_paths(&request.apps);
            return match connect(home)?.call_as::<Vec<ProcessInfo>>(Request::Start(request)) {
                Ok(rows) => {
                    warn_missing_watch_paths(&missing);
                    started(&rows, a.silent)
                }
                // Only with options a restart can carry (`--node-args`): others would be
                // dropped without a word, so the app's name stays the answer.
                Err(ClientError::Api(e)) if e.code == ErrorCode::Conflict && !a.force && plain => {
                    let update = match updating(&a) {
                        Some(Ok(u)) => u,
                        _ => return Err(ClientError::Api(e).into()),
                    };
                    match restart_stopped(home, &name, &script, a.silent, update) {
                        Some(done) => done,
                        None => Err(ClientError::Api(e).into()),
                    }
                }
                Err(e) => Err(e.into()),
            };
        }
    };
    rows_cmd(home, Request::Start(request), a.silent)
}

/// PM2's `pm2 start app.js` when an app of that name runs that very script and is down
/// (every instance stopped, stopping or errored): a restart of it, taking `update` (PM2's
/// `restartExistingProcessPathOrStartNew`); an online one stays an error ("already
/// exists", PM2's "Script already launched"). None when it is not that case.
fn restart_stopped(
    home: &Home,
    name: &str,
    script: &str,
    silent: bool,
    update: Option<AppUpdate>,
) -> Option<Result<(), Failure>> {
    let mut c = Client::connect(home).ok()?;
    let found: Vec<Description> = c
        .call_as(Request::Describe {
            target: name.to_string(),
            env: false,
        })
        .ok()?;
    let down = |d: &Description| {
        matches!(
            d.info.status,
            Status::Stopped | Status::Stopping | Status::Errored
        )
    };
    let same = !found.is_empty()
        && found
            .iter()
            .all(|d| d.info.name == name && d.script == script && down(d));
    if !same {
        return None;
    }
    let rows = c.call_as::<Vec<ProcessInfo>>(Request::Restart(RestartRequest {
        target: name.to_string(),
        update_env: false,
        env: None,
        update,
    }));
    Some(
        rows.map_err(Failure::from)
            .and_then(|rows| started(&rows, silent)),
    )
}

/// PM2's `pmx start a.js b.js …`: each script or command line started as its own app
/// (named after it), with the same options, in one request (all checked before any
/// starts).
///
/// Errors (exit 2): `--name` (the apps would share it), `-` or an ecosystem file among
/// the targets (give one file at a time); otherwise as a start of each.
fn start_several(
    home: &Home,
    a: &StartArgs,
    app_args: Vec<String>,
    inherited: std::sync::Arc<std::collections::BTreeMap<String, String>>,
) -> Result<(), Failure> {
    if a.name.is_some() {
        return Err(Failure::usage(
            "--name names one app: with several scripts each is named after its own",
        ));
    }
    let cwd = caller_cwd()?;
    let path_var = inherited.get("PATH").cloned();
    let mut apps = Vec::new();
    for raw in &a.target {
        let raw = raw.as_str();
        let target = start::classify(raw, &cwd, path_var.as_deref())?;
        if raw == "-" || matches!(target, start::Target::Ecosystem(_)) {
            return Err(Failure::usage(format!(
                "{raw}: several targets are scripts or command lines; start an ecosystem file on its own"
            )));
        }
        // As PM2: the options and the arguments after `--` go to every one of them.
        let app = start::app_from_flags(a, &target, raw, &cwd, app_args.clone())?;
        warn_unbuilt(&app);
        apps.push(start::resolve(app, &cwd, None, None, &inherited)?);
    }
    let request = StartRequest {
        apps,
        inherited,
        force: a.force,
        restart_existing: false,
        groups: Vec::new(),
    };
    rows_cmd(home, Request::Start(request), a.silent)
}

/// PM2's `pm2 start file -i N`: the count given replaces every started app's own (PM2's
/// `_startJson` takes `--instances` over the file's).
fn with_instances(apps: &mut [pmx_protocol::AppSpec], a: &StartArgs) {
    if let Some(i) = a.instances {
        for app in apps {
            app.app.instances = i;
        }
    }
}

/// An ecosystem file (or `-`) takes `--env`, `--only`, `-f`, `-s` and `-i` (for each of
/// its apps, as PM2), and no arguments.
///
/// Errors (exit 2): options for one app, or arguments after `--`.
fn check_file_options(a: &StartArgs, app_args: &[String]) -> Result<(), Failure> {
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
        instances: a.instances,
        ..no_ops(a)
    };
    if format!("{per_app:?}") != format!("{a:?}") {
        return Err(Failure::usage(
            "options for one app (--name, --cwd, --kill-timeout, …) are not for an ecosystem file: set them in the file",
        ));
    }
    Ok(())
}

/// Only `a`'s PM2 switches that do nothing in pmx (`--no-automation`, `--no-vizion`,
/// `--no-pmx`), every other field at its default: they go with any target.
fn no_ops(a: &StartArgs) -> StartArgs {
    StartArgs {
        no_automation: a.no_automation,
        no_vizion: a.no_vizion,
        no_pmx: a.no_pmx,
        ..StartArgs::default()
    }
}

/// What `pmx start <name>` of a known app updates in it (PM2 merges the options into the
/// app and restarts it): None when `a` carries more than the target, `-s`, `--name`,
/// `--interpreter-args` (`--node-args`) and the watch options: then it describes a new app.
///
/// Errors (inside): as [`app_update`].
fn updating(a: &StartArgs) -> Option<Result<Option<AppUpdate>, Failure>> {
    let bare = StartArgs {
        target: a.target.clone(),
        silent: a.silent,
        name: a.name.clone(),
        interpreter_args: a.interpreter_args.clone(),
        watch: a.watch,
        watch_path: a.watch_path.clone(),
        ignore_watch: a.ignore_watch.clone(),
        ..no_ops(a)
    };
    (format!("{a:?}") == format!("{bare:?}")).then(|| {
        app_update(
            a.name.clone(),
            a.interpreter_args.as_deref(),
            &WatchFlags {
                on: a.watch,
                paths: &a.watch_path,
                ignore: &a.ignore_watch,
            },
        )
    })
}

/// PM2's `pmx start <name|id>` of an app the daemon knows: a restart, which starts it when
/// it is stopped or errored, taking `update` first. `exact_name`: only when an app is
/// named `target` exactly (not an id, a namespace or a group), and then a failed restart
/// is the answer. None when no daemon answers (nothing is started for this), no app
/// matches, or (not `exact_name`) nothing is named `target`: the caller's own reading of
/// the target then applies.
fn restart_known(
    home: &Home,
    target: &str,
    silent: bool,
    exact_name: bool,
    update: Option<AppUpdate>,
) -> Option<Result<(), Failure>> {
    let mut c = Client::connect(home).ok()?;
    if exact_name {
        let rows: Vec<ProcessInfo> = c.call_as(Request::List).ok()?;
        if !rows.iter().any(|r| r.name == target) {
            return None;
        }
    }
    let v = match c.call(Request::Restart(RestartRequest {
        target: target.to_string(),
        update_env: false,
        env: None,
        update,
    })) {
        Ok(v) => v,
        // The app exists: its restart's failure is the answer.
        Err(e) if exact_name => return Some(Err(e.into())),
        Err(ClientError::Api(e)) if e.code != ErrorCode::NotFound => {
            return Some(Err(ClientError::Api(e).into()))
        }
        Err(_) => return None,
    };
    let rows: Vec<ProcessInfo> = serde_json::from_value(v).unwrap_or_default();
    Some(started(&rows, silent))
}

/// The start request `pmx start` would send for `a` and `app_args`, without a daemon:
/// what the foreground runtime (`pmx run`, `pmx dev`) starts. Targets as `pmx start`
/// takes them (an ecosystem or PM2 file, `-`, one or several scripts or command lines),
/// but never the name or id of a running app: there is none.
///
/// Errors: as `pmx start`'s (exit 2 for bad usage or a bad file, 1 for a missing
/// script or interpreter).
pub fn request_of(
    a: &StartArgs,
    app_args: Vec<String>,
    verb: &str,
) -> Result<StartRequest, Failure> {
    let Some(raw) = a.target.first().cloned() else {
        return Err(Failure::usage(format!(
            "missing <target> for pmx {verb}: a script, \"a command line\" or an ecosystem file; see `pmx {verb} --help`"
        )));
    };
    let inherited = start::caller_env();
    let cwd = caller_cwd()?;
    let path_var = inherited.get("PATH").cloned();
    let file = |eco: pmx_config::Ecosystem| -> Result<StartRequest, Failure> {
        check_file_options(a, &app_args)?;
        let mut apps = specs_of(&eco, a.env.as_deref(), a.only.as_deref(), &inherited)?;
        with_instances(&mut apps, a);
        Ok(StartRequest {
            inherited: inherited.clone(),
            groups: groups_of(&eco, &apps),
            apps,
            force: a.force,
            restart_existing: false,
        })
    };
    if a.target.len() == 1 && raw == "-" {
        return file(pm2::load_stdin()?);
    }
    let mut apps = Vec::new();
    for raw in &a.target {
        let target = start::classify(raw, &cwd, path_var.as_deref())?;
        if let start::Target::Ecosystem(_) = target {
            if a.target.len() > 1 {
                return Err(Failure::usage(format!(
                    "{raw}: several targets are scripts or command lines; give an ecosystem file on its own"
                )));
            }
            return file(load(Path::new(raw))?);
        }
        if a.env.is_some() {
            return Err(Failure::usage(
                "--env NAME chooses an environment of an ecosystem file; give the file",
            ));
        }
        if a.only.is_some() {
            return Err(Failure::usage("--only is for an ecosystem file"));
        }
        if a.target.len() > 1 && a.name.is_some() {
            return Err(Failure::usage(
                "--name names one app: with several scripts each is named after its own",
            ));
        }
        let app = start::app_from_flags(a, &target, raw, &cwd, app_args.clone())?;
        warn_unbuilt(&app);
        apps.push(start::resolve(app, &cwd, None, None, &inherited)?);
    }
    Ok(StartRequest {
        apps,
        inherited,
        force: a.force,
        restart_existing: false,
        groups: Vec::new(),
    })
}
