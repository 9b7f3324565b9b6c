//! `pmx flush [target]`: empty apps' log files; prints the rows.

use pmx::Home;
use pmx_protocol::Request;

use crate::cli::{rows_cmd, Failure, FlushArgs};

/// `pmx flush`.
pub fn run(home: &Home, a: FlushArgs) -> Result<(), Failure> {
    rows_cmd(home, Request::Flush { target: a.target }, a.silent)
}
