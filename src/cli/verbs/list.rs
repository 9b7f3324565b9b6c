//! `pmx list [--json]` (PM2's `ls`, `status`, `jlist`…): every process, as a table or
//! as the daemon's JSON.

use pmx::Home;
use pmx_protocol::{ProcessInfo, Request};

use crate::cli::{connect, out, render, Failure, ListArgs};

/// `pmx list`.
pub fn run(home: &Home, a: ListArgs) -> Result<(), Failure> {
    let raw = connect(home)?.call_raw(Request::List)?;
    if a.json {
        // The daemon's JSON as it is: the same objects as the socket's `list`.
        out(&format!("{raw}\n"));
    } else {
        let rows: Vec<ProcessInfo> =
            serde_json::from_str(&raw).map_err(|e| Failure::request(format!("bad reply: {e}")))?;
        out(&render::table(&rows));
    }
    Ok(())
}
