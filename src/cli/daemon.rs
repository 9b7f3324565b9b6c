//! The entry points that start the runtime: `pmx daemon` runs the daemon in this process,
//! and a CLI that finds none prepares `$PMX_HOME` before spawning one. The only file of
//! the CLI that links the daemon crate (tests/arch.rs holds every other one to
//! pmx-protocol).

use std::io::IsTerminal;
use std::sync::Arc;

use pmx::Home;
use pmx_actors::daemon::{self, StartError};
use pmx_actors::foreground::{self, Ended, Mode, Style, Terminal};
use pmx_protocol::StartRequest;

use super::Failure;

/// `$PMX_HOME` (or `~/.pmx`) as every verb uses it, refused when it is reached through a
/// link another user planted (`pmx_actors::home::check_home`): before any connection, so
/// pmx never talks to a socket, nor creates or chmods anything, in a directory another
/// user pointed it to.
///
/// Errors: no home can be named, or a link in its path is refused, as a request failure.
pub fn home() -> Result<Home, Failure> {
    let home = Home::from_env().map_err(Failure::request)?;
    pmx_actors::home::check_home(&home).map_err(Failure::request)?;
    Ok(home)
}

/// `pmx daemon`: run the daemon until it is killed. A daemon already running is not an
/// error (several CLIs may race to start one; the losers exit quietly).
///
/// Errors: a start-up failure (PMX_HOME permissions, the socket) as a request failure.
pub fn run(home: Home) -> Result<(), Failure> {
    match daemon::run(home) {
        Ok(()) | Err(StartError::AlreadyRunning) => Ok(()),
        Err(StartError::Failed(e)) => Err(Failure::request(e)),
    }
}

/// Create `$PMX_HOME` and its directories with the daemon's permissions, before a daemon
/// is spawned, so the caller sees the warnings (a group- or world-writable home).
///
/// Errors: the directories cannot be created, as a request failure.
pub fn prepare_home(home: &Home) -> Result<Vec<String>, Failure> {
    daemon::prepare_home(home).map_err(Failure::request)
}

/// `pmx run` (`dev` false) or `pmx dev`: `request`'s apps run in the foreground under
/// `home` (the daemon's actor tree in this process, `pmx_actors::foreground`), their
/// lines on this terminal: prefixed (coloured on a terminal), `raw`, or `json`.
///
/// Errors: the runtime's exit code and line (1 when an app did not end cleanly, a start
/// failure's 2 or 1); a daemon already on `home` or a home that cannot be served, 1.
pub fn foreground(
    home: Home,
    request: StartRequest,
    dev: bool,
    json: bool,
    raw: bool,
) -> Result<(), Failure> {
    let style = match (json, raw) {
        (true, _) => Style::Json,
        (_, true) => Style::Raw,
        _ => Style::Prefixed {
            colour: std::io::stdout().is_terminal(),
        },
    };
    let console = Arc::new(Terminal::new(
        style,
        request.apps.iter().map(|a| a.app.name.as_str()),
    ));
    let mode = if dev { Mode::Dev } else { Mode::Run };
    match foreground::run(home, request, mode, console) {
        Ok(Ended { code: 0, .. }) => Ok(()),
        Ok(Ended { code, error }) => Err(Failure {
            code,
            message: error.unwrap_or_else(|| "the runtime failed".into()),
        }),
        Err(e) => Err(Failure::request(e)),
    }
}

/// `pmx __fdholder`: the fd holder the daemon starts (`pmx_actors::fdstore`), serving on
/// the socket it was given as fd 3, until the daemon tells it to quit. Never returns.
pub fn fdholder() -> ! {
    use std::os::fd::FromRawFd;
    // SAFETY: the daemon starts the holder with its listening socket as fd 3, and nothing
    // else in this process owns fd 3.
    let listener = unsafe { std::os::fd::OwnedFd::from_raw_fd(3) };
    std::process::exit(pmx_actors::fdstore::holder::serve(listener))
}

/// `pmx __handover`'s line: `pmx <version> protocol <n> state <m>`, what a running daemon
/// checks before `update` execs this binary (`pmx_actors::update::check`).
pub fn handover_line() -> String {
    format!(
        "pmx {} protocol {} state {}\n",
        pmx_protocol::VERSION,
        pmx_protocol::PROTOCOL_VERSION,
        pmx_actors::fdstore::STATE_VERSION
    )
}
