//! `pmx restart <target>... [--update-env] [--name NEW] [--node-args ARGS]`: restart apps;
//! a stopped or errored app starts. Targets in every form PM2 accepts, several in order
//! (an app file: `startOrRestart` of it): see `cli::targets`. Start options given with it
//! update the app's spec first, and it keeps them (PM2 merges a restart's options into
//! the app).

use pmx::Home;
use pmx_protocol::{AppUpdate, RestartRequest};

use crate::cli::targets::{self, Action, Options};
use crate::cli::{start, Failure, RestartArgs};

/// What a `restart`/`reload` changes in each app before it restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refresh {
    /// `--update-env`: this shell's environment and the `env_file` read again.
    pub update_env: bool,
    /// Start options given with it (`--name`, `--node-args`).
    pub update: Option<AppUpdate>,
}

/// `pmx restart`.
pub fn run(home: &Home, a: RestartArgs) -> Result<(), Failure> {
    let mut all = vec![a.target];
    all.extend(a.more);
    let opts = Options {
        env: a.env,
        only: a.only,
        silent: a.silent,
    };
    let refresh = Refresh {
        update_env: a.update_env,
        update: app_update(
            a.name,
            a.interpreter_args.as_deref(),
            &WatchFlags {
                on: a.watch,
                paths: &a.watch_path,
                ignore: &a.ignore_watch,
            },
        )?,
    };
    targets::run(home, Action::Restart(refresh), &all, &opts)
}

/// The watch options of `restart`, `reload` and `start <known app>`.
#[derive(Debug, Default)]
pub struct WatchFlags<'a> {
    /// `--watch`: turn watching on.
    pub on: bool,
    /// `--watch-path P` (repeatable, relative to this directory): watch these.
    pub paths: &'a [String],
    /// `--ignore-watch GLOB` (repeatable): the new `ignore_watch`.
    pub ignore: &'a [String],
}

/// The update `--name`, `--interpreter-args` (`--node-args`) and the watch options ask
/// for; None when none is given. `null` (PM2's way to drop `node_args`) and `""` are no
/// arguments. `--watch` turns watching on (the app's directory, or the paths it watches
/// already), `--watch-path` watches those paths; it stays on however often it is given
/// (PM2 7 toggles it off at the second `restart --watch`).
///
/// Errors (exit 2): interpreter arguments a shell could not split, a name pmx refuses.
pub fn app_update(
    name: Option<String>,
    interpreter_args: Option<&str>,
    watch: &WatchFlags<'_>,
) -> Result<Option<AppUpdate>, Failure> {
    if let Some(n) = &name {
        pmx_config::validate_name(n).map_err(|e| Failure::usage(format!("--name {n:?}: {e}")))?;
    }
    let interpreter_args = match interpreter_args {
        None => None,
        Some("null") => Some(Vec::new()),
        Some(ia) => Some(
            shell_words::split(ia)
                .map_err(|e| Failure::usage(format!("--interpreter-args: {e}")))?,
        ),
    };
    let cwd = crate::cli::caller_cwd()?;
    let ignore_watch = (!watch.ignore.is_empty()).then(|| watch.ignore.to_vec());
    let watch = (watch.on || !watch.paths.is_empty())
        .then(|| start::watch_of(false, watch.paths, &cwd, &cwd))
        .map(|w| match w {
            pmx_config::Watch::Off => pmx_config::Watch::On,
            w => w,
        });
    if name.is_none() && interpreter_args.is_none() && watch.is_none() && ignore_watch.is_none() {
        return Ok(None);
    }
    Ok(Some(AppUpdate {
        name,
        interpreter_args,
        watch,
        ignore_watch,
    }))
}

/// The request of `restart` and `reload`: with `update_env`, this shell's environment.
pub fn restart_req(target: String, refresh: &Refresh) -> RestartRequest {
    RestartRequest {
        target,
        update_env: refresh.update_env,
        env: refresh
            .update_env
            .then(|| std::sync::Arc::unwrap_or_clone(start::caller_env())),
        update: refresh.update.clone(),
    }
}
