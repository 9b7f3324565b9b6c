//! `pmx save [--force]`: the daemon writes every app and group to `$PMX_HOME/dump.ron`
//! (atomically, the previous one kept as `dump.ron.bak`; SPEC §2, §7).

use pmx::Home;
use pmx_protocol::{Request, SaveReply};

use crate::cli::{connect, out, Failure};

/// `pmx save`: prints `saved N apps to <file>`. Exit 1 when the file cannot be written
/// (both files left as they were) or when an empty list would replace a dump that holds
/// apps without `--force`.
pub fn run(home: &Home, force: bool) -> Result<(), Failure> {
    let r: SaveReply = connect(home)?.call_as(Request::Save { force })?;
    out(&format!(
        "saved {} app{} ({} instance{}) to {}\n",
        r.apps,
        if r.apps == 1 { "" } else { "s" },
        r.instances,
        if r.instances == 1 { "" } else { "s" },
        r.file.display()
    ));
    Ok(())
}
