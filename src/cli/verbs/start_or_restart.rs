//! `pmx startOrRestart <file>`: PM2's deploy verb, `up` without `--prune`, restarting.

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
        true,
        a.silent,
    )
}
