//! `pmx reloadLogs`: reopen every log file (after an external logrotate).

use pmx::Home;
use pmx_protocol::Request;

use crate::cli::{connect, out, Failure};

/// `pmx reloadLogs`.
pub fn run(home: &Home) -> Result<(), Failure> {
    connect(home)?.call(Request::ReloadLogs)?;
    out("every log file reopened\n");
    Ok(())
}
