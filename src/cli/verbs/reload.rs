//! `pmx reload <target>... [--update-env]`: reload apps (in fork mode, a restart).
//! Targets in every form PM2 accepts, several in order (an app file: `startOrReload` of
//! it): see `cli::targets`.

use pmx::Home;

use crate::cli::targets::{self, Action, Options};
use crate::cli::{Failure, ReloadArgs};

/// `pmx reload`.
pub fn run(home: &Home, a: ReloadArgs) -> Result<(), Failure> {
    let mut all = vec![a.target];
    all.extend(a.more);
    let opts = Options {
        env: a.env,
        only: a.only,
        silent: a.silent,
    };
    targets::run(home, Action::Reload(a.update_env), &all, &opts)
}
