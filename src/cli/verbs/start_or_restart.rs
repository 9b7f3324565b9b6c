//! `pmx startOrRestart <file>`: PM2's deploy verb: start the file's missing apps and
//! restart every other one, changed or not (after `git pull` the code changed, the file
//! did not); never prunes.

use pmx::Home;

use crate::cli::{Failure, StartOrRestartArgs};

/// `pmx startOrRestart`.
pub fn run(home: &Home, a: StartOrRestartArgs) -> Result<(), Failure> {
    super::up::apply(
        home,
        &a.file,
        a.env.as_deref(),
        a.only.as_deref(),
        false,
        false,
        super::up::Mode::RestartAll,
        a.silent,
    )
}
