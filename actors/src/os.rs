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
//! What escapes: a descendant that clears its environment *and* leaves the group escapes
//! the first two (only a cgroup would hold it).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// The environment variable that marks every process of one instance's tree:
/// `<daemon home hash>:<instance id>`.
pub const MARKER_VAR: &str = "PMX_TREE";

/// What [`spawn`] needs to start one instance's main process.
#[derive(Clone)]
pub struct SpawnSpec {
    /// The file exec'd (absolute, or a bare command looked up on `PATH` by exec).
    pub program: PathBuf,
    /// The arguments after the program.
    pub args: Vec<String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// The whole environment, injected variables and the marker included.
    pub env: BTreeMap<String, String>,
    /// The open-file limit the daemon was started with, restored in the child
    /// (soft, hard), as read by `getrlimit(RLIMIT_NOFILE)`.
    pub nofile: Option<(u64, u64)>,
    /// Run as this uid/gid (the daemon must be root).
    pub uid: Option<u32>,
    /// Run as this gid.
    pub gid: Option<u32>,
}

/// A spawned main process and the read ends of its output pipes.
pub struct Spawned {
    /// The main process's pid (also its process group and session id).
    pub pid: i32,
    /// The read end of its stdout pipe.
    pub stdout: OwnedFd,
    /// The read end of its stderr pipe.
    pub stderr: OwnedFd,
}

/// Start the main process of an instance: its own session and process group, stdin on
/// `/dev/null`, stdout and stderr on fresh pipes, default signal dispositions and an
/// empty signal mask (SPEC §5), the daemon's original open-file limit.
///
/// Errors: the `io::Error` of `fork`/`exec` (a missing program is `NotFound`).
pub fn spawn(spec: &SpawnSpec) -> io::Result<Spawned> {
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w));
    if let Some(gid) = spec.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = spec.uid {
        cmd.uid(uid);
    }
    let nofile = spec.nofile;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (setsid, signal, sigprocmask, setrlimit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            for sig in 1..libc::SIGRTMAX() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if let Some((soft, hard)) = nofile {
                let lim = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    // The Reaper collects every exit with waitid(P_ALL); the Child handle is not waited.
    drop(child);
    Ok(Spawned {
        pid,
        stdout: out_r,
        stderr: err_r,
    })
}

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

/// The daemon's own children (every thread's), as `/proc/self/task/*/children` lists them:
/// main processes it spawned and orphans it adopted as a child subreaper.
pub fn own_children() -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
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
