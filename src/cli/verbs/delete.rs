//! `pmx delete <target>`: stop and forget apps; prints the rows.

use pmx::Home;
use pmx_protocol::Request;

use crate::cli::{rows_cmd, DeleteArgs, Failure};

/// `pmx delete`.
pub fn run(home: &Home, a: DeleteArgs) -> Result<(), Failure> {
    rows_cmd(home, Request::Delete { target: a.target }, a.silent)
}
