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
use std::ffi::CString;
use std::fs;
use std::io;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// The environment variable that marks every process of one instance's tree:
/// `<daemon home hash>:<instance id>:<generation>` (one per process of the instance, so an
/// old tree's stop never reaches its replacement's).
pub const MARKER_VAR: &str = "PMX_TREE";

/// What [`spawn`] needs to start one instance's main process, prepared once per instance
/// (the C strings of its program, arguments, environment and cwd) and reused by every
/// respawn.
pub struct SpawnSpec {
    /// The file exec'd (an absolute path).
    program: CString,
    /// argv: the program, then its arguments.
    argv: Vec<CString>,
    /// `KEY=value` for the whole environment, injected variables and the marker included.
    env: Vec<CString>,
    /// The working directory.
    cwd: CString,
    /// The open-file limit the daemon was started with, restored in the child.
    nofile: Option<libc::rlimit>,
    /// Run as this uid (the daemon must be root).
    uid: Option<u32>,
    /// Run as this gid.
    gid: Option<u32>,
}

impl SpawnSpec {
    /// Prepare a spawn of `program args…` in `cwd` with exactly `env`; `nofile` is the
    /// (soft, hard) open-file limit to restore, `uid`/`gid` whom to run as.
    ///
    /// Errors: a NUL byte in any of them.
    pub fn new(
        program: &Path,
        args: &[String],
        cwd: &Path,
        env: &BTreeMap<String, String>,
        nofile: Option<(u64, u64)>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<SpawnSpec> {
        let cstr = |s: &[u8]| {
            CString::new(s).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a NUL byte in the program, an argument, the cwd or the environment",
                )
            })
        };
        let program = cstr(program.as_os_str().as_bytes())?;
        let mut argv = vec![program.clone()];
        for a in args {
            argv.push(cstr(a.as_bytes())?);
        }
        // Sized once: collecting through a Result grows by doubling and kept up to twice
        // the room, per instance, for as long as the instance is registered.
        let mut prepared = Vec::with_capacity(env.len());
        for (k, v) in env {
            prepared.push(cstr(format!("{k}={v}").as_bytes())?);
        }
        let env = prepared;
        Ok(SpawnSpec {
            program,
            argv,
            env,
            cwd: cstr(cwd.as_os_str().as_bytes())?,
            nofile: nofile.map(|(soft, hard)| libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            }),
            uid,
            gid,
        })
    }

    /// The program, for messages.
    pub fn program(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }
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
/// empty signal mask (SPEC §5), the daemon's original open-file limit, uid/gid if set.
///
/// The child is made with `clone(CLONE_VM | CLONE_VFORK)`, as glibc's `posix_spawn` does:
/// no copy of the daemon's page tables, which a `fork` pays on every respawn (the costliest
/// step of a restart on a virtual machine). `posix_spawn` itself cannot restore
/// `RLIMIT_NOFILE`, so its few steps are written out here in [`child_main`].
///
/// Errors: the `io::Error` of a failed step or of `execve` (a missing program is
/// `NotFound`).
pub fn spawn(spec: &SpawnSpec) -> io::Result<Spawned> {
    spawn_marked(spec, None)
}

/// [`spawn`], with `marker` (a whole `PMX_TREE=<value>` entry) in place of the prepared
/// environment's [`MARKER_VAR`]: the marker is per process (per generation of an
/// instance), while the rest of the environment is prepared once per instance. Only a
/// pointer is swapped; nothing is allocated for it in the child.
pub fn spawn_marked(spec: &SpawnSpec, marker: Option<&std::ffi::CStr>) -> io::Result<Spawned> {
    let mut argv: Vec<*const libc::c_char> = spec.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let is_marker = |e: &CString| {
        let b = e.as_bytes();
        b.len() > MARKER_VAR.len()
            && b.starts_with(MARKER_VAR.as_bytes())
            && b[MARKER_VAR.len()] == b'='
    };
    let mut envp: Vec<*const libc::c_char> = spec
        .env
        .iter()
        .map(|e| match marker {
            Some(m) if is_marker(e) => m.as_ptr(),
            _ => e.as_ptr(),
        })
        .collect();
    envp.push(std::ptr::null());

    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (fail_r, fail_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let null = std::fs::File::open("/dev/null")?;
    let args = ChildArgs {
        program: spec.program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: spec.cwd.as_ptr(),
        fds: [null.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()],
        fail: fail_w.as_raw_fd(),
        nofile: spec.nofile,
        uid: spec.uid,
        gid: spec.gid,
    };
    let mut stack = vec![0u8; CHILD_STACK];
    // SAFETY: the child runs `child_main` on `stack` while this thread is suspended
    // (CLONE_VFORK) until it execs or exits, so everything `args` points to outlives it.
    // Every signal is blocked around the clone so no handler of the daemon runs in the
    // child before `child_main` resets the dispositions (glibc's posix_spawn does the same).
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let top = stack.as_mut_ptr().add(CHILD_STACK) as usize & !15;
        let pid = libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &args as *const ChildArgs as *mut libc::c_void,
        );
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(err);
        }
        pid
    };
    drop(stack);
    drop((out_w, err_w, fail_w));
    // The child has exec'd (the pipe closed, CLOEXEC) or written its failed step and errno
    // and exited; the Reaper collects that exit with the others.
    let mut report = [0u8; 8];
    let mut fail = std::fs::File::from(fail_r);
    match fail.read_exact(&mut report) {
        Ok(()) => {
            let step = i32::from_ne_bytes([report[0], report[1], report[2], report[3]]);
            let errno = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
            let e = io::Error::from_raw_os_error(errno);
            let what = match step {
                STEP_SETSID => "cannot start a session".to_string(),
                STEP_FDS => "cannot set up stdin/stdout/stderr".to_string(),
                STEP_CHDIR => format!(
                    "cannot change to the directory {}",
                    spec.cwd.to_string_lossy()
                ),
                STEP_GID => "cannot switch to the group".to_string(),
                STEP_UID => "cannot switch to the user".to_string(),
                _ => format!("cannot exec {}", spec.program()),
            };
            let hint = if step == STEP_EXEC && (errno == libc::ENOEXEC || errno == libc::EACCES) {
                "; give it an interpreter (--interpreter) or make it executable"
            } else {
                ""
            };
            Err(io::Error::new(e.kind(), format!("{what}: {e}{hint}")))
        }
        Err(_) => Ok(Spawned {
            pid,
            stdout: out_r,
            stderr: err_r,
        }),
    }
}

/// The steps of [`child_main`] that can fail, as reported to the parent.
const STEP_SETSID: i32 = 1;
const STEP_FDS: i32 = 2;
const STEP_CHDIR: i32 = 3;
const STEP_GID: i32 = 4;
const STEP_UID: i32 = 5;
const STEP_EXEC: i32 = 6;

/// Bytes of stack for the cloned child: it only makes a few system calls.
const CHILD_STACK: usize = 64 * 1024;

/// What the cloned child needs, prepared by the parent (the child may not allocate).
struct ChildArgs {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    /// Become fds 0, 1 and 2.
    fds: [RawFd; 3],
    /// Where the child writes its errno if a step fails.
    fail: RawFd,
    nofile: Option<libc::rlimit>,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// The cloned child, between clone and exec: only async-signal-safe calls, no allocation,
/// no panic. On failure it writes the errno to `fail` and exits 127.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive while the parent is suspended.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        let die = |step: i32| -> ! {
            let e = *libc::__errno_location();
            let mut report = [0u8; 8];
            report[..4].copy_from_slice(&step.to_ne_bytes());
            report[4..].copy_from_slice(&e.to_ne_bytes());
            libc::write(a.fail, report.as_ptr() as *const libc::c_void, 8);
            libc::_exit(127)
        };
        // The raw rt_sigaction: glibc's wrapper refuses signals 32 and 33 (its own), which
        // an ancestor may have left ignored. A zeroed kernel sigaction is SIG_DFL.
        let dfl = [0u64; 4];
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    dfl.as_ptr(),
                    std::ptr::null_mut::<libc::c_void>(),
                    8usize,
                );
            }
        }
        if libc::setsid() < 0 {
            die(STEP_SETSID);
        }
        for (target, fd) in a.fds.iter().enumerate() {
            if libc::dup2(*fd, target as libc::c_int) < 0 {
                die(STEP_FDS);
            }
        }
        if libc::chdir(a.cwd) < 0 {
            die(STEP_CHDIR);
        }
        if let Some(lim) = &a.nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, lim);
        }
        if let Some(gid) = a.gid {
            if libc::setgroups(0, std::ptr::null()) < 0 || libc::setgid(gid) < 0 {
                die(STEP_GID);
            }
        }
        if let Some(uid) = a.uid {
            if libc::setuid(uid) < 0 {
                die(STEP_UID);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(a.program, a.argv, a.envp);
        die(STEP_EXEC)
    }
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
