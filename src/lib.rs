//! pmx: the `pmx` command and [`Client`], the programmatic client of the daemon's admin
//! socket. The daemon itself is `pmx-actors`; the ecosystem schema is `pmx-config`; what
//! the two sides exchange is `pmx-protocol`, the only pmx crate this library speaks
//! through (tests/arch.rs: only `src/cli/daemon.rs` may reach the daemon crate).
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod client;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

pub use client::{Client, ClientError};
pub use pmx_protocol as protocol;
pub use pmx_protocol::home::Home;

/// Start `<exe> daemon` detached (SPEC §3): its own session, cwd `/`, stdio on
/// `/dev/null`, no inherited descriptor above 2, the caller's environment and
/// `PMX_HOME`. Several racing starts leave exactly one daemon (the others lose the lock
/// and exit).
///
/// Errors: the fork/exec failed.
pub fn spawn_daemon(home: &Home, exe: &Path) -> std::io::Result<()> {
    let mut cmd = Command::new(exe);
    cmd.arg("daemon")
        .env("PMX_HOME", &home.dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            // Close every inherited descriptor above 2 (a pipe from `pmx ping | cat`'s
            // shell, say), so no caller ever waits for the daemon.
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // Not waited: the daemon outlives this command; init (or a subreaper) reaps it.
    drop(child);
    Ok(())
}
