//! `pmx ping`: is the daemon alive? (starts it when none answers)

use pmx::Home;
use pmx_protocol::{PingReply, Request};

use crate::cli::{connect, out, Failure};

/// `pmx ping`.
pub fn run(home: &Home) -> Result<(), Failure> {
    let r: PingReply = connect(home)?.call_as(Request::Ping)?;
    out(&format!("pong (daemon pid {}, pmx {})\n", r.pid, r.version));
    Ok(())
}
