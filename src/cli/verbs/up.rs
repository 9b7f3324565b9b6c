//! `pmx up [file]`: make the running set match an ecosystem file, printing the plan
//! (also the body of PM2's `startOrReload` and `startOrRestart`).

use std::path::Path;

use pmx::Home;
use pmx_protocol::{Request, UpReply, UpRequest};

use crate::cli::specs::{groups_of, load, specs_of};
use crate::cli::{caller_cwd, connect, out, render, Failure, UpArgs};

/// `pmx up`.
pub fn run(home: &Home, a: UpArgs) -> Result<(), Failure> {
    apply(
        home,
        a.file.as_deref().unwrap_or_else(|| default_ecosystem()),
        a.env.as_deref(),
        a.only.as_deref(),
        a.prune,
        a.dry_run,
        Mode::Changed,
        a.silent,
    )
}

/// What `apply` does to the file's apps that already run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `up`: reload what changed.
    Changed,
    /// `startOrReload`: reload every one, changed or not (PM2: after `git pull` the code
    /// changed while the file did not).
    ReloadAll,
    /// `startOrRestart`: restart every one, changed or not.
    RestartAll,
}

/// `pmx up`'s file when none is given: `./ecosystem.ron`, else PM2's default
/// `./ecosystem.config.js` when only that exists.
pub(crate) fn default_ecosystem() -> &'static str {
    if !Path::new("ecosystem.ron").exists() && Path::new("ecosystem.config.js").exists() {
        "ecosystem.config.js"
    } else {
        "ecosystem.ron"
    }
}

/// Send `up` for `file` and print its plan (and the processes, unless `dry_run`).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    home: &Home,
    file: &str,
    env: Option<&str>,
    only: Option<&str>,
    prune: bool,
    dry_run: bool,
    mode: Mode,
    silent: bool,
) -> Result<(), Failure> {
    let eco = load_checked(file)?;
    let inherited = crate::cli::start::caller_env();
    let apps = specs_of(&eco, env, only, &inherited)?;
    let missing = crate::cli::missing_watch_paths(&apps);
    let reply: UpReply = connect(home)?.call_as(Request::Up(UpRequest {
        file: eco.file.clone(),
        inherited,
        groups: groups_of(&eco, &apps),
        apps,
        prune,
        dry_run,
        restart: mode == Mode::RestartAll,
        reload_all: mode != Mode::Changed,
    }))?;
    if !silent {
        out(&render::plan(&reply.plan));
        if !dry_run {
            out(&render::table(&reply.processes));
        }
    }
    if !dry_run {
        crate::cli::warn_missing_watch_paths(&missing);
        if let Some(why) = crate::cli::group_start_stopped(&reply.processes) {
            return Err(Failure::request(why));
        }
    }
    Ok(())
}

/// The ecosystem file `file` (relative to the caller's directory) read and resolved, after
/// saying plainly what it is when it is not one: a directory, missing, or a FIFO, device or
/// socket (`pmx_config::read_regular`: never block on it or read it forever).
///
/// Errors: those, as request failures naming `file`; the config reader's file:line:col.
pub(crate) fn load_checked(file: &str) -> Result<pmx_config::Ecosystem, Failure> {
    let path = caller_cwd()?.join(file);
    if path.is_dir() {
        return Err(Failure::request(format!(
            "{file} is a directory, not an ecosystem file"
        )));
    }
    if !path.exists() {
        return Err(Failure::request(format!("ecosystem file {file} not found")));
    }
    if !path.is_file() {
        if let Err(why) = pmx_config::read_regular(&path) {
            return Err(Failure::request(format!("{file}: {why}")));
        }
    }
    load(Path::new(file))
}
