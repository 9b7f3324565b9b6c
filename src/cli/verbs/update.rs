//! `pmx update`: the running daemon execs this pmx binary in place, keeping every app
//! (the same pids, sockets never closed; SPEC §3). The daemon checks the binary first and
//! refuses with the reason, running on; once it answers, this waits until the same socket
//! answers again with the new version. A new daemon that died during the handover is
//! replaced by the next command's, which re-adopts every app from the fd holder.

use std::time::{Duration, Instant};

use pmx::{Client, ClientError, Home};
use pmx_protocol::{PingReply, Request, UpdateReply};

use crate::cli::{out, Failure};

/// How long the new daemon has to answer after the exec.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The inode and modification time (s, ns) of `pmx.pid`, None without one.
fn pid_file_inode(home: &Home) -> Option<(u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(home.pid_file())
        .ok()
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
}

/// Send `update` on a connection of its own, without the hello: the one request a
/// daemon of another protocol version still takes (`version_mismatch` says to run
/// `pmx update`). None when no daemon answers on the socket.
fn send_update(home: &Home, binary: &str) -> Result<Option<UpdateReply>, Failure> {
    use std::io::{BufRead, BufReader, Write};
    let Ok(s) = std::os::unix::net::UnixStream::connect(home.socket()) else {
        return Ok(None);
    };
    let io = |e: std::io::Error| Failure::request(format!("update: {e}"));
    // The daemon runs the new binary's check (5 s at most) before it answers.
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    let request = serde_json::json!({"id": 1, "type": "update", "binary": binary});
    (&s).write_all(format!("{request}\n").as_bytes())
        .map_err(io)?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).map_err(io)?;
    let reply: serde_json::Value = serde_json::from_str(&line)
        .map_err(|e| Failure::request(format!("update: the daemon answered {line:?}: {e}")))?;
    if let Some(e) = reply.get("error") {
        let message = e["message"].as_str().unwrap_or("refused").to_string();
        return Err(match e["code"].as_str() {
            Some("bad_request") => Failure::usage(message),
            _ => Failure::request(message),
        });
    }
    serde_json::from_value(reply["result"].clone())
        .map(Some)
        .map_err(|e| Failure::request(format!("update: the daemon answered {line:?}: {e}")))
}

/// `pmx update`.
pub fn run(home: &Home) -> Result<(), Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::request(format!("cannot find the pmx binary: {e}")))?;
    let binary = exe.to_string_lossy().into_owned();
    // The new daemon writes its pid file anew (a new file, a later time): how the exec
    // is told from the old daemon still answering.
    let before = pid_file_inode(home);
    let answer = match send_update(home, &binary)? {
        Some(a) => a,
        None => {
            out("no daemon running: nothing to update (the next command starts this pmx)\n");
            return Ok(());
        }
    };
    let started = Instant::now();
    let deadline = started + HANDOVER_TIMEOUT;
    let ping = loop {
        if Instant::now() > deadline {
            return Err(Failure::request(format!(
                "no daemon answered within {} s of the update; see {}",
                HANDOVER_TIMEOUT.as_secs(),
                home.log_file().display()
            )));
        }
        if pid_file_inode(home).is_some_and(|i| Some(i) != before) {
            // The socket is kept across the exec: a connect waits in its backlog until
            // the new daemon serves it.
            if let Ok(p) =
                Client::connect(home).and_then(|mut c| c.call_as::<PingReply>(Request::Ping))
            {
                break p;
            }
        } else if let Err(ClientError::Io(_)) = Client::connect(home) {
            // Refused: the new daemon died during the handover. This command's daemon
            // adopts every app from the fd holder.
            let _ = crate::cli::connect(home);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let kept = if ping.pid == answer.pid {
        format!("pid {} kept", ping.pid)
    } else {
        format!(
            "the new daemon (pid {}) died during the handover; pid {} adopted every app",
            answer.pid, ping.pid
        )
    };
    out(&format!(
        "daemon updated in place: pmx {} -> {} ({kept}, {} ms)\n",
        answer.from,
        answer.to,
        started.elapsed().as_millis()
    ));
    Ok(())
}
