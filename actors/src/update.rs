//! `pmx update` in the daemon (SPEC §3): replace the daemon by another pmx binary without
//! stopping an app, as systemd's `daemon-reexec` and einhorn's re-exec do. First the
//! check einhorn makes before it execs: the binary must run and say it reads the state
//! this daemon writes ([`check`]: `<binary> __handover`). Then the state goes to the fd
//! holder (it already holds every descriptor), the answer to the client, and [`exec`]:
//! `execve` in place, so the pid stays and the apps stay this process's children (their
//! exit codes keep working). The lock on `pmx.lock` and the admin socket's listener are
//! kept open across the exec (close-on-exec cleared, their numbers in
//! `PMX_HANDOVER=lock=<fd>,sock=<fd>`): no other daemon can take the home meanwhile, and
//! a client connecting meanwhile waits in the backlog. The new daemon adopts through the
//! same path as after a crash (`crate::adopt`); if it dies during the handover, the holder
//! still holds everything and the next command's daemon adopts it.

use std::os::fd::RawFd;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The variable that hands the kept descriptors to the exec'd daemon.
pub const HANDOVER_VAR: &str = "PMX_HANDOVER";

static LOCK_FD: AtomicI32 = AtomicI32::new(-1);
static SOCKET_FD: AtomicI32 = AtomicI32::new(-1);
/// The pmx.log writer's guard: dropped before the exec, so its last lines are written.
static LOG_GUARD: Mutex<Option<tracing_appender::non_blocking::WorkerGuard>> = Mutex::new(None);

/// Remember the lock's and the admin listener's descriptors, and the log writer's guard
/// (the daemon's boot).
pub fn keep(lock: RawFd, socket: RawFd, guard: tracing_appender::non_blocking::WorkerGuard) {
    LOCK_FD.store(lock, Ordering::Relaxed);
    SOCKET_FD.store(socket, Ordering::Relaxed);
    *LOG_GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
}

/// Flush and drop the pmx.log writer's guard (the daemon's clean end).
pub fn release_log() {
    drop(LOG_GUARD.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// The descriptors a daemon exec'd by `update` was handed: (lock, socket).
pub fn handed_over() -> Option<(RawFd, RawFd)> {
    let v = std::env::var(HANDOVER_VAR).ok()?;
    std::env::remove_var(HANDOVER_VAR);
    parse_handover(&v)
}

/// `lock=<fd>,sock=<fd>` → (lock, socket).
pub fn parse_handover(v: &str) -> Option<(RawFd, RawFd)> {
    let (mut lock, mut sock) = (None, None);
    for part in v.split(',') {
        match part.split_once('=') {
            Some(("lock", n)) => lock = n.parse().ok().filter(|n| *n > 2),
            Some(("sock", n)) => sock = n.parse().ok().filter(|n| *n > 2),
            _ => return None,
        }
    }
    Some((lock?, sock?))
}

/// What a new binary's `__handover` line says: (version, protocol, state format).
pub fn parse_answer(line: &str) -> Option<(String, u32, u32)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    match w[..] {
        ["pmx", version, "protocol", p, "state", s] => {
            Some((version.to_string(), p.parse().ok()?, s.parse().ok()?))
        }
        _ => None,
    }
}

/// Whether `binary` can take over: an absolute path to an executable file whose
/// `__handover` answers, within 5 s, a state format this daemon writes. Answers its
/// version. Blocking: run off the supervision thread.
///
/// Errors: why not, as one line naming the binary.
pub fn check(binary: &Path) -> Result<String, String> {
    let refuse = |why: String| format!("cannot update to {}: {why}", binary.display());
    if !binary.is_absolute() {
        return Err(refuse("not an absolute path".into()));
    }
    if !crate::os::is_executable(binary) {
        return Err(refuse("it is not an executable file".into()));
    }
    let mut child = std::process::Command::new(binary)
        .arg("__handover")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| refuse(format!("it does not run: {e}")))?;
    // Its output read to EOF on a thread, waited for with a deadline: the daemon's
    // Reaper collects every child (waitid P_ALL), this one too, so no wait here.
    let Some(mut stdout) = child.stdout.take() else {
        return Err(refuse("no output pipe".into()));
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut text = Vec::new();
        let _ = stdout.by_ref().take(4096).read_to_end(&mut text);
        let _ = tx.send(text);
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(5)) else {
        let _ = child.kill();
        return Err(refuse("`__handover` did not answer within 5 s".into()));
    };
    let text = String::from_utf8_lossy(&out);
    let Some((version, _protocol, state)) = parse_answer(text.trim()) else {
        return Err(refuse(format!(
            "`__handover` answered {:?}, not a pmx that can take a daemon over",
            text.trim()
        )));
    };
    if state != crate::fdstore::STATE_VERSION {
        return Err(refuse(format!(
            "it reads state format {state}, this daemon writes {}",
            crate::fdstore::STATE_VERSION
        )));
    }
    Ok(version)
}

/// Set (`on`) or clear the close-on-exec flag of `fd`; a bad descriptor only fails.
pub(crate) fn cloexec(fd: RawFd, on: bool) {
    // SAFETY: fcntl on a descriptor number; a bad one only fails.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 });
    }
}

/// Exec `binary` as `pmx daemon` in place, keeping the lock and the listener. Answers
/// only when the exec failed (the daemon runs on, its descriptors as they were).
pub fn exec(binary: &Path) -> std::io::Error {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let (lock, sock) = (
        LOCK_FD.load(Ordering::Relaxed),
        SOCKET_FD.load(Ordering::Relaxed),
    );
    if lock < 0 || sock < 0 {
        return std::io::Error::other("the lock or the socket is unknown");
    }
    let Ok(path) = CString::new(binary.as_os_str().as_bytes()) else {
        return std::io::Error::other("a NUL in the path");
    };
    let argv = [c"pmx".to_owned(), c"daemon".to_owned()];
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != HANDOVER_VAR)
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    if let Ok(e) = CString::new(format!("{HANDOVER_VAR}=lock={lock},sock={sock}")) {
        envp.push(e);
    }
    tracing::info!("update: exec {} in place", binary.display());
    // Its last lines written before the image is replaced.
    drop(LOG_GUARD.lock().unwrap_or_else(|e| e.into_inner()).take());
    cloexec(lock, false);
    cloexec(sock, false);
    let err = match nix::unistd::execve(&path, &argv, &envp) {
        Err(e) => std::io::Error::from(e),
        Ok(_) => std::io::Error::other("execve returned"),
    };
    cloexec(lock, true);
    cloexec(sock, true);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handover_values_parse_or_are_refused() {
        let cases = [
            ("lock=5,sock=7", Some((5, 7))),
            ("sock=7,lock=5", Some((5, 7))),
            ("lock=5", None),
            ("lock=1,sock=7", None),
            ("lock=x,sock=7", None),
            ("", None),
            ("lock=5,sock=7,more", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_handover(v), want, "{v}");
        }
    }

    #[test]
    fn handover_answers_parse_or_are_refused() {
        let cases = [
            (
                "pmx 0.2.0 protocol 1 state 1",
                Some(("0.2.0".to_string(), 1, 1)),
            ),
            ("pmx 0.2.0 protocol 1", None),
            ("0.2.0", None),
            ("pmx 0.2.0 protocol x state 1", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_answer(v), want, "{v}");
        }
    }
}
