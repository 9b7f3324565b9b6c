//! `pmx stop <target>`: stop apps; prints the rows.

use pmx::Home;
use pmx_protocol::Request;

use crate::cli::{rows_cmd, Failure, StopArgs};

/// `pmx stop`.
pub fn run(home: &Home, a: StopArgs) -> Result<(), Failure> {
    rows_cmd(home, Request::Stop { target: a.target }, a.silent)
}
