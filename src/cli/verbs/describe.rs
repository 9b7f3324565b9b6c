//! `pmx describe <target> [--json]` (PM2's `show`, `info`): everything about each
//! instance.

use pmx::Home;
use pmx_protocol::{Description, Request};

use crate::cli::{connect, out, render, DescribeArgs, Failure};

/// `pmx describe`.
pub fn run(home: &Home, a: DescribeArgs) -> Result<(), Failure> {
    let v = connect(home)?.call(Request::Describe {
        target: a.target,
        env: false,
    })?;
    if a.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    } else {
        let ds: Vec<Description> =
            serde_json::from_value(v).map_err(|e| Failure::request(format!("bad reply: {e}")))?;
        for d in &ds {
            out(&render::describe(d));
        }
    }
    Ok(())
}
