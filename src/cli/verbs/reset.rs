//! `pmx reset <target>`: zero apps' restart counters; prints the rows.

use pmx::Home;
use pmx_protocol::Request;

use crate::cli::{rows_cmd, Failure, ResetArgs};

/// `pmx reset`.
pub fn run(home: &Home, a: ResetArgs) -> Result<(), Failure> {
    rows_cmd(home, Request::Reset { target: a.target }, a.silent)
}
