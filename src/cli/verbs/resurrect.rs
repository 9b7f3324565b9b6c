//! `pmx resurrect [--update-env]`: the daemon brings back the apps saved in `dump.ron`
//! (`dump.ron.bak` when that is missing or damaged, with a warning naming it), each with
//! its saved status; apps already registered are left alone and named.

use pmx::Home;
use pmx_protocol::{Request, ResurrectReply};

use crate::cli::{connect, out, render, start, Failure};

/// `pmx resurrect`: warnings on stderr (`pmx: warning: …`), then the restored apps'
/// table, then the skipped names. Exit 1 when no saved list can be read.
pub fn run(home: &Home, update_env: bool) -> Result<(), Failure> {
    let env = update_env.then(|| std::sync::Arc::unwrap_or_clone(start::caller_env()));
    let r: ResurrectReply = connect(home)?.call_as(Request::Resurrect { update_env, env })?;
    for w in &r.warnings {
        eprintln!("pmx: warning: {w}");
    }
    let mut text = format!("resurrecting from {}\n", r.file.display());
    if !r.processes.is_empty() {
        text.push_str(&render::table(&r.processes));
    }
    if !r.skipped.is_empty() {
        let names: Vec<String> = r.skipped.iter().map(|n| format!("\"{n}\"")).collect();
        text.push_str(&format!(
            "already registered, left as they are: {}\n",
            names.join(", ")
        ));
    }
    if r.processes.is_empty() && r.skipped.is_empty() {
        text.push_str("nothing to restore: the saved list is empty\n");
    }
    out(&text);
    Ok(())
}
