//! `pmx delete <target>...`: stop and forget apps; prints the rows.
//! Targets in every form PM2 accepts, several in order: see `cli::targets`.

use pmx::Home;

use crate::cli::targets::{self, Action, Options};
use crate::cli::{DeleteArgs, Failure};

/// `pmx delete`.
pub fn run(home: &Home, a: DeleteArgs) -> Result<(), Failure> {
    let mut all = vec![a.target];
    all.extend(a.more);
    let opts = Options {
        env: a.env,
        only: a.only,
        silent: a.silent,
    };
    targets::run(home, Action::Delete, &all, &opts)
}
