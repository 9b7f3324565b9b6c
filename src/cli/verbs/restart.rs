//! `pmx restart <target> [--update-env]`: restart apps; a stopped or errored app starts.

use pmx::Home;
use pmx_protocol::{Request, RestartRequest};

use crate::cli::{rows_cmd, start, Failure, RestartArgs};

/// `pmx restart`.
pub fn run(home: &Home, a: RestartArgs) -> Result<(), Failure> {
    rows_cmd(
        home,
        Request::Restart(restart_req(a.target, a.update_env)),
        a.silent,
    )
}

/// The request of `restart` and `reload`: with `update_env`, this shell's environment.
pub fn restart_req(target: String, update_env: bool) -> RestartRequest {
    RestartRequest {
        target,
        update_env,
        env: update_env.then(|| std::sync::Arc::unwrap_or_clone(start::caller_env())),
    }
}
