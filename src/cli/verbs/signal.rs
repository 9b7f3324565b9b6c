//! `pmx signal <signal> <target>`: send a signal to apps' main processes.

use pmx::Home;
use pmx_protocol::Request;

use crate::cli::{rows_cmd, Failure, SignalArgs};

/// `pmx signal`.
pub fn run(home: &Home, a: SignalArgs) -> Result<(), Failure> {
    rows_cmd(
        home,
        Request::Signal {
            signal: a.signal,
            target: a.target,
        },
        a.silent,
    )
}
