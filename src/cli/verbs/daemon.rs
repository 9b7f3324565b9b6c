//! `pmx daemon`: run the daemon in the foreground (the CLI starts it when needed).

use pmx::Home;

use crate::cli::Failure;

/// `pmx daemon`: returns when the daemon ends, or at once when one already runs.
pub fn run(home: Home) -> Result<(), Failure> {
    match pmx_actors::daemon::run(home) {
        Ok(()) | Err(pmx_actors::daemon::StartError::AlreadyRunning) => Ok(()),
        Err(pmx_actors::daemon::StartError::Failed(e)) => Err(Failure::request(e)),
    }
}
