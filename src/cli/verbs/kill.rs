//! `pmx kill`: stop every app, then the daemon.

use std::time::{Duration, Instant};

use pmx::{Client, ClientError, Home};
use pmx_protocol::{PingReply, Request};

use crate::cli::{out, Failure};

/// `pmx kill`: stop every app and the daemon; returns once the daemon is gone.
pub fn run(home: &Home) -> Result<(), Failure> {
    let mut client = match Client::connect(home) {
        Ok(c) => c,
        Err(ClientError::Io(_)) => {
            out("no daemon running\n");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let ping: PingReply = client.call_as(Request::Ping)?;
    match client.call(Request::Kill) {
        Ok(_) | Err(ClientError::Io(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while crate::cli::os::pid_alive(ping.pid as i32) && is_pmx_daemon(ping.pid) {
        if Instant::now() > deadline {
            return Err(Failure::request(format!(
                "the daemon (pid {}) did not exit within 30 s",
                ping.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    out("daemon stopped\n");
    Ok(())
}

/// Whether `pid` still is a running (not zombie) process.
fn is_pmx_daemon(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
