//! `pmx restart <target>... [--update-env]`: restart apps; a stopped or errored app starts.
//! Targets in every form PM2 accepts, several in order (an app file: `startOrRestart` of
//! it): see `cli::targets`.

use pmx::Home;
use pmx_protocol::RestartRequest;

use crate::cli::targets::{self, Action, Options};
use crate::cli::{start, Failure, RestartArgs};

/// `pmx restart`.
pub fn run(home: &Home, a: RestartArgs) -> Result<(), Failure> {
    let mut all = vec![a.target];
    all.extend(a.more);
    let opts = Options {
        env: a.env,
        only: a.only,
        silent: a.silent,
    };
    targets::run(home, Action::Restart(a.update_env), &all, &opts)
}

/// The request of `restart` and `reload`: with `update_env`, this shell's environment.
pub fn restart_req(target: String, update_env: bool) -> RestartRequest {
    RestartRequest {
        target,
        update_env,
        env: update_env.then(|| std::sync::Arc::unwrap_or_clone(start::caller_env())),
    }
}
