//! The operating-system layer the actors stand on: spawning an instance's main process,
//! knowing its process tree, and signalling it. No actix here; every function is a thin,
//! synchronous wrapper over a few system calls so the actors stay readable.
//!
//! An instance's tree is known three ways (SPEC §5):
//! - its process group: the main process is `setsid`'d, so its pgid is its pid, and a
//!   signal-0 probe of the group says whether anything of it still runs;
//! - a per-instance marker in the environment ([`MARKER_VAR`]) that every descendant
//!   inherits, so orphans reparented to the daemon (a child subreaper) are recognised
//!   even after they left the group or the session;
//! - (later) a cgroup v2 per instance where the daemon may create one.
//!
//! `safe_path.rs` opens and creates the files pmx keeps (logs, pid files) without following
//! a link another user planted, with modes that ignore the umask.
//!
//! What escapes: a descendant that clears its environment *and* leaves the group escapes
//! the first two (only a cgroup would hold it).

use std::fs;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

mod env_entries;
pub mod listen;
pub mod safe_path;
mod spawn;

pub use spawn::{env_entry, spawn, spawn_marked, spawn_with, SpawnExtras, SpawnSpec, Spawned};

/// The environment variable that marks every process of one instance's tree:
/// `<daemon home hash>:<instance id>:<generation>` (one per process of the instance, so an
/// old tree's stop never reaches its replacement's).
pub const MARKER_VAR: &str = "PMX_TREE";

/// Whether any process of group `pgid` still exists (zombies included): a signal-0 probe.
pub fn group_alive(pgid: i32) -> bool {
    match killpg(Pid::from_raw(pgid), None) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        // EPERM: something of it exists under another uid.
        Err(_) => true,
    }
}

/// Whether process `pid` exists (zombies included).
pub fn pid_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

/// Send `sig` to group `pgid`, ignoring a group that is already gone.
pub fn signal_group(pgid: i32, sig: Signal) {
    let _ = killpg(Pid::from_raw(pgid), sig);
}

/// Send `sig` to `pid`, ignoring a process that is already gone.
pub fn signal_pid(pid: i32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid), sig);
}

/// The daemon's own children, as `/proc/self/task/<pid>/children` lists them: the main
/// processes it spawned (always from its main thread) and the orphans it adopted as a
/// child subreaper (the kernel hands those to the thread-group leader while it lives).
/// One small file read: this runs on every exit.
pub fn own_children() -> Vec<i32> {
    let me = std::process::id();
    fs::read_to_string(format!("/proc/self/task/{me}/children"))
        .map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid`'s environment holds `PMX_TREE=<marker>`. False when it cannot be read.
pub fn has_marker(pid: i32, marker: &str) -> bool {
    let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let want = format!("{MARKER_VAR}={marker}");
    environ.split(|b| *b == 0).any(|kv| kv == want.as_bytes())
}

/// Every process on the machine whose environment carries `marker`: a scan of `/proc`,
/// only done when a stop escalates to SIGKILL (setsid'd descendants of a live parent).
pub fn marked_processes(marker: &str) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| *pid != me && has_marker(*pid, marker))
        .collect()
}

/// Give freed heap memory back to the system (glibc's `malloc_trim`): after a large
/// request (a `start` of many apps arrives as one JSON line of several KiB per app), the
/// daemon's resident memory returns to what the apps themselves need.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The signal a name like `"SIGINT"` or `"INT"` names.
///
/// Errors: a name Linux does not know.
pub fn signal_from_name(name: &str) -> Result<Signal, String> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>()
        .map_err(|_| format!("unknown signal \"{name}\""))
}

/// The name of signal number `sig` (`"SIGKILL"`), or its number as text.
pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| sig.to_string())
}

/// Whether `path` names an executable regular file.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A pidfd of `pid` (`pidfd_open`, Linux ≥ 5.3): readable once the process has exited,
/// whoever its parent is. None when it is gone or the kernel lacks it.
pub fn pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: pidfd_open just returned this descriptor (close-on-exec by the kernel).
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// A future that completes once `pid` has exited (its pidfd readable), whoever its parent
/// is; None when it is already gone or the kernel has no pidfd.
pub fn exit_of(pid: i32) -> Option<impl std::future::Future<Output = ()>> {
    let fd = pidfd(pid)?;
    // SAFETY: the AsyncFd owns the pidfd; nothing else closes or replaces it.
    let afd = unsafe { tokio::io::unix::AsyncFd::register(fd) }.ok()?;
    Some(async move {
        let _ = afd.readable().await;
    })
}

/// `pid`'s parent and its start time (clock ticks after boot), from `/proc/<pid>/stat`:
/// with the pid, what tells a process from a later one that reuses its pid. None when it
/// does not exist or has exited (a zombie).
pub fn stat_of(pid: i32) -> Option<(i32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// (ppid, starttime) of a `/proc/<pid>/stat` line: fields 4 and 22, counted after the
/// command's closing parenthesis (a command may hold spaces and parentheses); None for a
/// zombie or a dead process (state `Z` or `X`).
pub fn parse_stat(text: &str) -> Option<(i32, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    // rest[0] is field 3 (state).
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

/// How long ago, in ms, a process that started `ticks` clock ticks after boot started.
pub fn age_ms(ticks: u64) -> Option<u64> {
    let up = fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = up.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let started_ms = ticks * 1000 / hz;
    Some(((secs * 1000.0) as u64).saturating_sub(started_ms))
}

#[cfg(test)]
mod stat_tests {
    use super::parse_stat;

    #[test]
    fn stat_lines_give_the_parent_and_the_start_time() {
        let cases = [
            (
                "1234 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 8192 100",
                Some((1, 98765)),
            ),
            (
                "77 (a (b) c) R 42 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0",
                Some((42, 5)),
            ),
            ("9 (z) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", None),
            ("garbage", None),
            ("1 (x) S", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_stat(text), want, "{text}");
        }
    }
}
