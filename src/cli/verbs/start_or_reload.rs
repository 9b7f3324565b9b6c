//! `pmx startOrReload <file>`: PM2's deploy verb, `up` without `--prune`.

use pmx::Home;

use crate::cli::{Failure, StartOrReloadArgs};

/// `pmx startOrReload`.
pub fn run(home: &Home, a: StartOrReloadArgs) -> Result<(), Failure> {
    super::up::apply(
        home,
        &a.file,
        a.env.as_deref(),
        a.only.as_deref(),
        false,
        false,
        false,
        a.silent,
    )
}
