//! `pmx pid [name]`: the pids of an app's processes, one per line, as `pm2 pid` prints
//! them: every process without a name, `0` for one that is not running, and (as PM2) an
//! empty line and exit 0 for a name no process has, so `[ -z "$(pmx pid api)" ]` works.

use pmx::Home;
use pmx_protocol::{ProcessInfo, Request};

use crate::cli::{connect, out, Failure, PidArgs};

/// `pmx pid`.
pub fn run(home: &Home, a: PidArgs) -> Result<(), Failure> {
    let rows: Vec<ProcessInfo> = connect(home)?.call_as(Request::List)?;
    let pids: Vec<String> = rows
        .iter()
        .filter(|r| a.name.as_ref().is_none_or(|n| *n == r.name))
        .map(|r| r.pid.unwrap_or(0).to_string())
        .collect();
    out(&format!("{}\n", pids.join("\n")));
    Ok(())
}
