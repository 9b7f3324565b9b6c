//! `pmx reset <target>...`: zero apps' restart counters; prints the rows.
//! Targets in every form PM2 accepts, several in order: see `cli::targets`.

use pmx::Home;

use crate::cli::targets::{self, Action, Options};
use crate::cli::{Failure, ResetArgs};

/// `pmx reset`.
pub fn run(home: &Home, a: ResetArgs) -> Result<(), Failure> {
    let mut all = vec![a.target];
    all.extend(a.more);
    let opts = Options {
        env: a.env,
        only: a.only,
        silent: a.silent,
    };
    targets::run(home, Action::Reset, &all, &opts)
}
