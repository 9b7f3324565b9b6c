//! `pmx env <id>`: the whole environment of one process, as KEY=value lines.

use pmx::Home;
use pmx_protocol::{EnvReply, Request};

use crate::cli::{connect, out, EnvArgs, Failure};

/// `pmx env`.
pub fn run(home: &Home, a: EnvArgs) -> Result<(), Failure> {
    let r: EnvReply = connect(home)?.call_as(Request::Env { target: a.target })?;
    let mut text = String::new();
    for (k, v) in &r.env {
        text.push_str(&format!("{k}={v}\n"));
    }
    out(&text);
    Ok(())
}
