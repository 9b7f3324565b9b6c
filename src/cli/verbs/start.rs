//! `pmx start <script|"command line"|ecosystem file> [options] [-- args]`: start an app
//! from flags, or an ecosystem file's apps; `pmx start <name|id>` of a known app restarts
//! it (PM2).

use std::path::Path;

use pmx::{Client, Home};
use pmx_protocol::{ProcessInfo, Request, RestartRequest, StartRequest};

use crate::cli::specs::{groups_of, load, specs_of, warn_unbuilt};
use crate::cli::{caller_cwd, out, render, rows_cmd, start, Failure, StartArgs};

/// `pmx start`: `a` the options, `app_args` what followed `--`.
pub fn run(home: &Home, a: StartArgs, app_args: Vec<String>) -> Result<(), Failure> {
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
