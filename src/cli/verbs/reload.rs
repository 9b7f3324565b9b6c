//! `pmx reload <target> [--update-env]`: reload apps (in fork mode, a restart).

use pmx::Home;
use pmx_protocol::Request;

use crate::cli::{rows_cmd, Failure, ReloadArgs};

/// `pmx reload`.
pub fn run(home: &Home, a: ReloadArgs) -> Result<(), Failure> {
    rows_cmd(
        home,
        Request::Reload(super::restart::restart_req(a.target, a.update_env)),
        a.silent,
    )
}
