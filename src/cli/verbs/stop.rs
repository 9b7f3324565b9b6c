//! `pmx stop <target>...`: stop apps; prints the rows.
//! Targets in every form PM2 accepts, several in order: see `cli::targets`.

use pmx::Home;

use crate::cli::targets::{self, Action, Options};
use crate::cli::{Failure, StopArgs};

/// `pmx stop`.
pub fn run(home: &Home, a: StopArgs) -> Result<(), Failure> {
    let mut all = vec![a.target];
    all.extend(a.more);
    let opts = Options {
        env: a.env,
        only: a.only,
        silent: a.silent,
    };
    targets::run(home, Action::Stop(a.watch), &all, &opts)
}
