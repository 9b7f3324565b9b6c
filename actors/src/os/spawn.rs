//! Spawning an instance's main process: a [`SpawnSpec`] prepared once per instance and
//! spec (the C strings of its program, arguments, environment and cwd), and per spawn the
//! few things that change from one spawn to the next ([`SpawnExtras`]: descriptors passed
//! as fds 3.., variables such as the per-generation tree marker, systemd's `LISTEN_PID`).
//!
//! The child is made with `clone(CLONE_VM | CLONE_VFORK)` and runs [`child_main`] until it
//! execs: it shares the daemon's memory, so it may not allocate, lock or panic. Everything
//! it needs is prepared here, in the parent, before the clone; the one value only the child
//! knows, its own pid, is written into a slot the parent reserved in the environment.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use nix::fcntl::OFlag;

pub use super::env_entries::env_entry;
#[cfg(test)]
use super::env_entries::ENTRIES_PRUNE_AT;
use super::env_entries::{cstr, entry_key, shared_base, shared_entry};

/// What [`spawn`] needs to start one instance's main process, prepared once per instance
/// (the C strings of its program, arguments, environment and cwd) and reused by every
/// respawn.
pub struct SpawnSpec {
    /// The file exec'd (an absolute path).
    program: CString,
    /// argv: the program, then its arguments.
    argv: Vec<CString>,
    /// `KEY=value` for the inherited layer: the environment of the shell that started
    /// the app, the same list for every instance of every app started from that shell
    /// ([`shared_base`]); an entry whose KEY `env` or the spawn's extras set is left out.
    base: Arc<[Arc<CStr>]>,
    /// `KEY=value` over `base`: the app's own layers and the injected variables (those of
    /// one spawn only, like a per-generation marker, come with [`SpawnExtras::env`]).
    /// Each distinct entry is held once for the whole daemon ([`shared_entry`]).
    env: Vec<Arc<CStr>>,
    /// The working directory.
    cwd: CString,
    /// The open-file limit the daemon was started with, restored in the child.
    nofile: Option<libc::rlimit>,
    /// Run as this uid (the daemon must be root).
    uid: Option<u32>,
    /// Run as this gid.
    gid: Option<u32>,
    /// The supplementary groups to set (setgroups) before `gid`, prepared here since the
    /// child may not allocate (initgroups would); None: `setgroups(0)` when `gid` is set.
    groups: Option<Box<[libc::gid_t]>>,
}

impl SpawnSpec {
    /// The same spec with `groups` as the supplementary groups set in the child before
    /// its gid and uid (what `initgroups` would set, read in the parent with
    /// `getgrouplist`); None keeps `setgroups(0)`.
    pub fn with_groups(mut self, groups: Option<Vec<u32>>) -> SpawnSpec {
        self.groups = groups.map(Vec::into_boxed_slice);
        self
    }

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
        let program = cstr(program.as_os_str().as_bytes())?;
        let mut argv = vec![program.clone()];
        for a in args {
            argv.push(cstr(a.as_bytes())?);
        }
        // Sized once: collecting through a Result grows by doubling and kept up to twice
        // the room, per instance, for as long as the instance is registered.
        let mut prepared = Vec::with_capacity(env.len());
        for (k, v) in env {
            prepared.push(shared_entry(format!("{k}={v}"))?);
        }
        let env = prepared;
        Ok(SpawnSpec {
            program,
            argv,
            base: Arc::new([]),
            env,
            cwd: cstr(cwd.as_os_str().as_bytes())?,
            nofile: nofile.map(|(soft, hard)| libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            }),
            uid,
            gid,
            groups: None,
        })
    }

    /// The same spec with `inherited` under its environment: the variables `env` (given
    /// to [`SpawnSpec::new`]) does not set come from it. The prepared list is shared with
    /// every spec of the same map (one per shell that started apps, not one per instance:
    /// 43 entries were ~700 bytes per instance, and merging the map per instance churned
    /// the allocator at every start).
    ///
    /// Errors: a NUL byte in a variable.
    pub fn with_inherited(
        mut self,
        inherited: &Arc<BTreeMap<String, String>>,
    ) -> io::Result<SpawnSpec> {
        self.base = shared_base(inherited)?;
        Ok(self)
    }

    /// The program, for messages.
    pub fn program(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }
}

/// What one spawn adds to its prepared [`SpawnSpec`], borrowed for the call: nothing by
/// default ([`SpawnExtras::NONE`]). Cheap to build per spawn, so a respawn never rebuilds
/// the whole environment to change one variable.
#[derive(Clone, Copy, Default)]
pub struct SpawnExtras<'a> {
    /// Descriptors the child gets as fds 3, 4, … in this order, without `FD_CLOEXEC`
    /// (cluster listen sockets, a notify descriptor). The parent's own stay open and
    /// unchanged; any order and any numbers work (they may overlap 3..).
    pub fds: &'a [RawFd],
    /// Whole `KEY=value` entries (made with [`env_entry`], typically once per Process
    /// actor, so a respawn allocates nothing for them) set for this spawn only, over the
    /// prepared environment (an entry of the spec with the same KEY is left out): the
    /// per-generation tree marker, `LISTEN_FDNAMES`.
    pub env: &'a [&'a CStr],
    /// Set systemd's socket-activation variables (`sd_listen_fds(3)`): `LISTEN_FDS` =
    /// `fds.len()` and `LISTEN_PID` = the child's own pid, written by the child itself
    /// (the one value not known before the clone). Stale `LISTEN_PID`, `LISTEN_FDS` and
    /// `LISTEN_FDNAMES` of the spec's environment are left out.
    pub listen_fds: bool,
    /// How many of the last `fds` are not sockets to activate (Node's IPC channel, after
    /// the listen sockets): `LISTEN_FDS` counts the others.
    pub uncounted: usize,
}

impl SpawnExtras<'_> {
    /// Nothing added: the spec as prepared.
    pub const NONE: SpawnExtras<'static> = SpawnExtras {
        fds: &[],
        env: &[],
        listen_fds: false,
        uncounted: 0,
    };
}

impl fmt::Debug for SpawnExtras<'_> {
    // The names of the variables only: a value may be a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnExtras")
            .field("fds", &self.fds)
            .field(
                "env",
                &self
                    .env
                    .iter()
                    .map(|e| String::from_utf8_lossy(entry_key(e.to_bytes()).unwrap_or_default()))
                    .collect::<Vec<_>>(),
            )
            .field("listen_fds", &self.listen_fds)
            .field("uncounted", &self.uncounted)
            .finish()
    }
}

/// The variables [`SpawnExtras::listen_fds`] owns.
const LISTEN_VARS: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// `LISTEN_PID=`, the prefix of the slot the child writes its pid into.
const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";

/// `LISTEN_FDS=`, the prefix of the slot the parent writes the count into.
const LISTEN_FDS_PREFIX: &[u8] = b"LISTEN_FDS=";

/// A slot: the longer prefix, up to 10 digits (a `u32`) and the NUL.
const LISTEN_SLOT: usize = LISTEN_PID_PREFIX.len() + 10 + 1;

/// A spawned main process and the read ends of its output pipes.
pub struct Spawned {
    /// The main process's pid (also its process group and session id).
    pub pid: i32,
    /// The read end of its stdout pipe.
    pub stdout: OwnedFd,
    /// The read end of its stderr pipe.
    pub stderr: OwnedFd,
}

/// [`spawn_with`] and nothing added ([`SpawnExtras::NONE`]).
///
/// Errors: as [`spawn_with`].
pub fn spawn(spec: &SpawnSpec) -> io::Result<Spawned> {
    spawn_with(spec, &SpawnExtras::NONE)
}

/// [`spawn_with`] with one entry (`PMX_TREE=<marker>`, made once per Process actor with
/// [`env_entry`]) in place of the spec's tree marker, or nothing added: the per-generation
/// marker of a process while the rest of the environment is prepared once per instance.
///
/// Errors: as [`spawn_with`].
pub fn spawn_marked(spec: &SpawnSpec, marker: Option<&CStr>) -> io::Result<Spawned> {
    match marker {
        Some(m) => spawn_with(
            spec,
            &SpawnExtras {
                env: &[m],
                ..SpawnExtras::NONE
            },
        ),
        None => spawn(spec),
    }
}

/// Start the main process of an instance: its own session and process group, stdin on
/// `/dev/null`, stdout and stderr on fresh pipes, `extras.fds` as fds 3.., no other
/// descriptor of the daemon (every other one is closed at exec, even one opened without
/// `O_CLOEXEC`), default signal dispositions and an empty signal mask (SPEC §5), the
/// daemon's original open-file limit, uid/gid if set, and the spec's environment with
/// `extras.env` (and `LISTEN_FDS`/`LISTEN_PID`) over it.
///
/// The child is made with `clone(CLONE_VM | CLONE_VFORK)`, as glibc's `posix_spawn` does:
/// no copy of the daemon's page tables, which a `fork` pays on every respawn (the costliest
/// step of a restart on a virtual machine). `posix_spawn` itself cannot restore
/// `RLIMIT_NOFILE` nor write `LISTEN_PID`, so its few steps are written out here in
/// [`child_main`]. Descriptors are passed as systemd does (`src/core/execute.c`): first
/// moved above the target range, then `dup2`'d down, which clears `FD_CLOEXEC`.
///
/// Errors: an entry of `extras.env` that is not `KEY=value` (`InvalidInput`); otherwise the
/// `io::Error` of a failed step or of `execve` (a missing program is `NotFound`, a closed
/// descriptor in `extras.fds` is `EBADF` "cannot pass descriptor").
pub fn spawn_with(spec: &SpawnSpec, extras: &SpawnExtras<'_>) -> io::Result<Spawned> {
    let mut keys: Vec<&[u8]> = Vec::with_capacity(extras.env.len());
    for e in extras.env {
        keys.push(entry_key(e.to_bytes()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a KEY=value entry: {:?}", e.to_string_lossy()),
            )
        })?);
    }
    if extras.listen_fds {
        keys.extend(LISTEN_VARS.iter().map(|k| k.as_bytes()));
    }
    // The socket-activation slots, on this stack: `LISTEN_FDS` filled here, `LISTEN_PID`
    // by the child (the one value not known before the clone).
    let mut listen_fds = [0u8; LISTEN_SLOT];
    listen_fds[..LISTEN_FDS_PREFIX.len()].copy_from_slice(LISTEN_FDS_PREFIX);
    // SAFETY: the slot has room for the prefix, 10 digits and the NUL.
    unsafe {
        write_decimal(
            listen_fds.as_mut_ptr().add(LISTEN_FDS_PREFIX.len()),
            extras.fds.len().saturating_sub(extras.uncounted) as u32,
        );
    }
    let mut listen_pid = [0u8; LISTEN_SLOT];
    listen_pid[..LISTEN_PID_PREFIX.len()].copy_from_slice(LISTEN_PID_PREFIX);
    let listen_pid_ptr = listen_pid.as_mut_ptr();

    let mut argv: Vec<*const libc::c_char> = spec.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> =
        Vec::with_capacity(spec.base.len() + spec.env.len() + extras.env.len() + 3);
    let unset = |keys: &[&[u8]], e: &&Arc<CStr>| {
        keys.is_empty() || entry_key(e.to_bytes()).is_none_or(|k| !keys.contains(&k))
    };
    let extras_keys = keys.len();
    if !spec.base.is_empty() {
        keys.extend(spec.env.iter().filter_map(|e| entry_key(e.to_bytes())));
    }
    envp.extend(
        spec.base
            .iter()
            .filter(|e| unset(&keys, e))
            .map(|e| e.as_ptr()),
    );
    envp.extend(
        spec.env
            .iter()
            .filter(|e| unset(&keys[..extras_keys], e))
            .map(|e| e.as_ptr()),
    );
    envp.extend(extras.env.iter().map(|e| e.as_ptr()));
    if extras.listen_fds {
        envp.push(listen_fds.as_ptr() as *const libc::c_char);
        envp.push(listen_pid_ptr as *const libc::c_char);
    }
    envp.push(std::ptr::null());
    // Where the child keeps the extras once moved above fds 3..3+n.
    let mut moved: Vec<RawFd> = vec![-1; extras.fds.len()];

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
        extra: extras.fds.as_ptr(),
        extra_len: extras.fds.len(),
        moved: moved.as_mut_ptr(),
        listen_pid: if extras.listen_fds {
            listen_pid_ptr
        } else {
            std::ptr::null_mut()
        },
        fail: fail_w.as_raw_fd(),
        nofile: spec.nofile,
        uid: spec.uid,
        gid: spec.gid,
        groups: spec.groups.as_deref().map(|g| (g.as_ptr(), g.len())),
    };
    let mut stack = vec![0u8; CHILD_STACK];
    // SAFETY: the child runs `child_main` on `stack` while this thread is suspended
    // (CLONE_VFORK) until it execs or exits, so everything `args` points to outlives it
    // (`listen_pid` and `moved` are written by the child, read by no one here).
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
                STEP_EXTRA_FDS => "cannot pass descriptor".to_string(),
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
            Err(io::Error::new(
                e.kind(),
                StepError {
                    message: format!("{what}: {e}{hint}"),
                    errno: e,
                },
            ))
        }
        Err(_) => Ok(Spawned {
            pid,
            stdout: out_r,
            stderr: err_r,
        }),
    }
}

/// A step of the spawned child failed: what it was doing, with the step's errno as the
/// error's `source()` (so a caller can tell EMFILE, ENFILE or EAGAIN, a lack of
/// resources, from a fault of the app; the message alone is what users see).
#[derive(Debug)]
struct StepError {
    /// `cannot exec /x: No such file or directory (os error 2)`, and a hint.
    message: String,
    /// The errno, as an `io::Error` from it.
    errno: io::Error,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.errno)
    }
}

/// The steps of [`child_main`] that can fail, as reported to the parent.
const STEP_SETSID: i32 = 1;
const STEP_FDS: i32 = 2;
const STEP_CHDIR: i32 = 3;
const STEP_GID: i32 = 4;
const STEP_UID: i32 = 5;
const STEP_EXEC: i32 = 6;
const STEP_EXTRA_FDS: i32 = 7;

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
    /// `extra_len` descriptors to become fds 3, 4, ….
    extra: *const RawFd,
    extra_len: usize,
    /// `extra_len` slots where the child keeps its copies of `extra` above the range.
    moved: *mut RawFd,
    /// `LISTEN_PID=` and room for the pid's digits and a NUL, or null.
    listen_pid: *mut u8,
    /// Where the child writes its errno if a step fails.
    fail: RawFd,
    nofile: Option<libc::rlimit>,
    uid: Option<u32>,
    gid: Option<u32>,
    /// The supplementary groups (pointer, length) to set, or None for none.
    groups: Option<(*const libc::gid_t, usize)>,
}

/// Report `step` and errno on `fail`, then exit 127: a failed step of [`child_main`].
///
/// # Safety
/// Only in the cloned child (it `_exit`s).
unsafe fn die(fail: RawFd, step: i32) -> ! {
    let e = *libc::__errno_location();
    let mut report = [0u8; 8];
    report[..4].copy_from_slice(&step.to_ne_bytes());
    report[4..].copy_from_slice(&e.to_ne_bytes());
    libc::write(fail, report.as_ptr() as *const libc::c_void, 8);
    libc::_exit(127)
}

/// Write `n` in decimal and a NUL at `slot` (room for 10 digits and the NUL): no
/// allocation, no formatting machinery, so the cloned child may call it.
///
/// # Safety
/// `slot` must be valid for 11 bytes of writes.
unsafe fn write_decimal(slot: *mut u8, n: u32) {
    let mut digits = [0u8; 10];
    let mut n = n;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        *slot.add(i) = digits[len - 1 - i];
    }
    *slot.add(len) = 0;
}

/// The cloned child, between clone and exec: only async-signal-safe calls, no allocation,
/// no panic. On failure it writes the errno to `fail` and exits 127.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive while the parent is suspended; its
    // pointers are valid for the lengths given with them.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        let mut fail = a.fail;
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
            die(fail, STEP_SETSID);
        }
        // fds 3..above are the extras' places. First the failure pipe and every extra move
        // above that range (close-on-exec copies), so no dup2 below lands on a descriptor
        // still needed, whatever numbers the extras had.
        let above = 3 + a.extra_len as libc::c_int;
        if a.extra_len > 0 {
            let f = libc::fcntl(fail, libc::F_DUPFD_CLOEXEC, above);
            if f < 0 {
                die(fail, STEP_EXTRA_FDS);
            }
            fail = f;
            for i in 0..a.extra_len {
                let m = libc::fcntl(*a.extra.add(i), libc::F_DUPFD_CLOEXEC, above);
                if m < 0 {
                    die(fail, STEP_EXTRA_FDS);
                }
                *a.moved.add(i) = m;
            }
        }
        for (target, fd) in a.fds.iter().enumerate() {
            if libc::dup2(*fd, target as libc::c_int) < 0 {
                die(fail, STEP_FDS);
            }
        }
        // dup2 leaves the new descriptor without FD_CLOEXEC: these stay open in the program.
        for i in 0..a.extra_len {
            if libc::dup2(*a.moved.add(i), 3 + i as libc::c_int) < 0 {
                die(fail, STEP_EXTRA_FDS);
            }
        }
        // Everything else closes at exec, even a descriptor some library opened without
        // O_CLOEXEC (Linux 5.11+; an older kernel says ENOSYS/EINVAL and the daemon's own
        // O_CLOEXEC has to do).
        libc::syscall(
            libc::SYS_close_range,
            above as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        if libc::chdir(a.cwd) < 0 {
            die(fail, STEP_CHDIR);
        }
        if let Some(lim) = &a.nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, lim);
        }
        if let Some((ptr, len)) = a.groups {
            if libc::setgroups(len, ptr) < 0 {
                die(fail, STEP_GID);
            }
        }
        if let Some(gid) = a.gid {
            if (a.groups.is_none() && libc::setgroups(0, std::ptr::null()) < 0)
                || libc::setgid(gid) < 0
            {
                die(fail, STEP_GID);
            }
        }
        if let Some(uid) = a.uid {
            if libc::setuid(uid) < 0 {
                die(fail, STEP_UID);
            }
        }
        if !a.listen_pid.is_null() {
            // The raw syscall: this child shares glibc's memory with the parent.
            let pid = libc::syscall(libc::SYS_getpid) as u32;
            write_decimal(a.listen_pid.add(LISTEN_PID_PREFIX.len()), pid);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(a.program, a.argv, a.envp);
        die(fail, STEP_EXEC)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    fn spec(program: &str, args: &[&str], env: &[(&str, &str)]) -> SpawnSpec {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        SpawnSpec::new(
            Path::new(program),
            &args,
            Path::new("/"),
            &env,
            None,
            None,
            None,
        )
        .expect("spec")
    }

    #[test]
    fn specs_share_their_equal_environment_entries() {
        let a = spec(
            "/bin/true",
            &[],
            &[("PMX_SHARED_T", "1"), ("ONLY_A_T", "a")],
        );
        let b = spec(
            "/bin/true",
            &[],
            &[("PMX_SHARED_T", "1"), ("ONLY_B_T", "b")],
        );
        let entry = |s: &SpawnSpec, key: &str| {
            s.env
                .iter()
                .find(|e| entry_key(e.to_bytes()) == Some(key.as_bytes()))
                .cloned()
                .expect("the entry")
        };
        let (sa, sb) = (entry(&a, "PMX_SHARED_T"), entry(&b, "PMX_SHARED_T"));
        assert!(Arc::ptr_eq(&sa, &sb), "one entry for both specs");
        assert_eq!(sa.to_bytes(), b"PMX_SHARED_T=1");
        assert_eq!(entry(&a, "ONLY_A_T").to_bytes(), b"ONLY_A_T=a");
        assert_eq!(entry(&b, "ONLY_B_T").to_bytes(), b"ONLY_B_T=b");
        // A NUL byte is still refused.
        assert!(shared_entry("K=a\0b".into()).is_err());
    }

    #[test]
    fn entries_no_spec_holds_are_pruned() {
        let gone = {
            let s = spec("/bin/true", &[], &[("PMX_PRUNED_T", "x")]);
            Arc::downgrade(&s.env[0])
        };
        assert!(gone.upgrade().is_some(), "the set still holds it");
        // Enough new entries to pass any pruning threshold: the dropped one goes.
        let keep: Vec<_> = (0..4 * ENTRIES_PRUNE_AT)
            .map(|i| shared_entry(format!("PMX_FILL_T{i}=1")).expect("entry"))
            .collect();
        assert!(gone.upgrade().is_none(), "pruned once no spec holds it");
        assert_eq!(keep[0].to_bytes(), b"PMX_FILL_T0=1", "held entries stay");
    }

    #[test]
    fn a_failed_step_of_the_child_says_what_and_keeps_its_errno_beneath() {
        let missing = spec("/nonexistent/pmx-test-program", &[], &[]);
        let Err(e) = spawn(&missing) else {
            panic!("a missing program was spawned");
        };
        assert!(e.to_string().starts_with("cannot exec "), "{e}");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let errno = e
            .get_ref()
            .and_then(|inner| inner.source())
            .and_then(|s| s.downcast_ref::<io::Error>())
            .and_then(io::Error::raw_os_error);
        assert_eq!(errno, Some(libc::ENOENT));
    }

    /// Everything the child wrote to stdout, once it exits (the pipe closes).
    fn stdout_of(sp: Spawned) -> String {
        let mut out = String::new();
        std::fs::File::from(sp.stdout)
            .read_to_string(&mut out)
            .expect("read stdout");
        // Another test's Reaper (waitid(P_ALL)) may collect it first: not an error here.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(sp.pid), None);
        out
    }

    /// The descriptors `pid` has open, and where each points.
    fn fds_of(pid: i32) -> BTreeMap<i32, String> {
        // Close-on-exec descriptors are closed after the vfork parent resumes, and
        // before the environment is published: once that reads, the table is final.
        environ_of(pid);
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fd dir")
            .flatten()
            .filter_map(|e| {
                let fd = e.file_name().to_str()?.parse().ok()?;
                let target = std::fs::read_link(e.path()).ok()?;
                Some((fd, target.to_string_lossy().into_owned()))
            })
            .collect()
    }

    fn link_of(fd: RawFd) -> String {
        std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .expect("own fd")
            .to_string_lossy()
            .into_owned()
    }

    fn environ_of(pid: i32) -> Vec<String> {
        // A vfork parent resumes when the child's exec switches its memory, before the
        // kernel has set the new image's environment bounds: until then the file reads
        // empty. Every child here has an environment, so wait (bounded) for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut bytes = Vec::new();
        while std::time::Instant::now() < deadline {
            bytes = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
            if !bytes.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        bytes
            .split(|b| *b == 0)
            .filter(|kv| !kv.is_empty())
            .map(|kv| String::from_utf8_lossy(kv).into_owned())
            .collect()
    }

    fn kill_and_reap(pid: i32) {
        // SAFETY: kill(2) on the child this test spawned.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    }

    /// A descriptor of the test process opened without O_CLOEXEC: what a careless library
    /// would leave behind for every child.
    fn inheritable_fd() -> OwnedFd {
        let f = std::fs::File::open("/dev/zero").expect("open");
        // SAFETY: dup(2) of an open descriptor; the copy has no FD_CLOEXEC.
        let fd = unsafe { libc::dup(f.as_raw_fd()) };
        assert!(fd >= 0);
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    #[test]
    fn extras_become_fds_3_on_in_the_order_given_with_listen_pid_and_listen_fds() {
        // Seven pipes, each holding its own line, passed in the reverse order of their
        // numbers: some of them likely sit in 3..10 already, where others must go.
        let mut readers = Vec::new();
        for k in 0..7 {
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
            std::fs::File::from(w)
                .write_all(format!("pipe-{k}\n").as_bytes())
                .expect("write");
            readers.push((k, r));
        }
        readers.sort_by_key(|(_, r)| std::cmp::Reverse(r.as_raw_fd()));
        let fds: Vec<RawFd> = readers.iter().map(|(_, r)| r.as_raw_fd()).collect();
        let script = r#"for i in 3 4 5 6 7 8 9; do read l <&$i || exit 1; printf "%s " "$l"; done
echo; echo "$$ $LISTEN_PID $LISTEN_FDS""#;
        let sp = spawn_with(
            &spec("/bin/sh", &["-c", script], &[("PATH", "/usr/bin:/bin")]),
            &SpawnExtras {
                fds: &fds,
                env: &[],
                listen_fds: true,
                uncounted: 0,
            },
        )
        .expect("spawned");
        let pid = sp.pid;
        let out = stdout_of(sp);
        let mut lines = out.lines();
        let want: Vec<String> = readers.iter().map(|(k, _)| format!("pipe-{k}")).collect();
        assert_eq!(lines.next().map(str::trim), Some(want.join(" ").as_str()));
        assert_eq!(lines.next(), Some(format!("{pid} {pid} 7").as_str()));
    }

    #[test]
    fn listen_fds_counts_the_listen_sockets_not_a_channel_after_them() {
        let (_a, listen) = UnixStream::pair().expect("socketpair");
        let (_b, channel) = UnixStream::pair().expect("socketpair");
        let sp = spawn_with(
            &spec("/bin/sh", &["-c", "echo \"$LISTEN_FDS\""], &[]),
            &SpawnExtras {
                fds: &[listen.as_raw_fd(), channel.as_raw_fd()],
                listen_fds: true,
                uncounted: 1,
                ..SpawnExtras::NONE
            },
        )
        .expect("spawned");
        assert_eq!(stdout_of(sp), "1\n");
    }

    #[test]
    fn a_socket_passed_as_fd_3_is_read_by_the_child() {
        let (mine, theirs) = UnixStream::pair().expect("socketpair");
        (&mine).write_all(b"hello over fd 3\n").expect("write");
        let sp = spawn_with(
            &spec("/bin/sh", &["-c", "read l <&3; echo \"$l\""], &[]),
            &SpawnExtras {
                fds: &[theirs.as_raw_fd()],
                ..SpawnExtras::NONE
            },
        )
        .expect("spawned");
        assert_eq!(stdout_of(sp), "hello over fd 3\n");
    }

    #[test]
    fn a_child_has_exactly_its_descriptors_and_the_variables_of_its_spawn() {
        let leak = inheritable_fd();
        let (pipe_r, _pipe_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let (sock, _peer) = UnixStream::pair().expect("socketpair");
        let marker = env_entry(crate::os::MARKER_VAR, "tag:1:2").expect("entry");
        let sp = spawn_with(
            &spec(
                "/bin/sleep",
                &["1000"],
                &[
                    ("FOO", "bar"),
                    (crate::os::MARKER_VAR, "tag:1:old"),
                    ("LISTEN_PID", "999"),
                    ("LISTEN_FDNAMES", "stale"),
                ],
            ),
            &SpawnExtras {
                fds: &[pipe_r.as_raw_fd(), sock.as_raw_fd()],
                env: &[&marker],
                listen_fds: true,
                uncounted: 0,
            },
        )
        .expect("spawned");
        let pid = sp.pid;
        let fds = fds_of(pid);
        let env: BTreeSet<String> = environ_of(pid).into_iter().collect();
        kill_and_reap(pid);
        assert_eq!(
            fds.keys().copied().collect::<Vec<_>>(),
            [0, 1, 2, 3, 4],
            "no other descriptor (not even {}): {fds:?}",
            leak.as_raw_fd()
        );
        assert_eq!(fds[&0], "/dev/null");
        assert_eq!(fds[&3], link_of(pipe_r.as_raw_fd()));
        assert_eq!(fds[&4], link_of(sock.as_raw_fd()));
        let want: BTreeSet<String> = [
            "FOO=bar".to_string(),
            format!("{}=tag:1:2", crate::os::MARKER_VAR),
            format!("LISTEN_PID={pid}"),
            "LISTEN_FDS=2".to_string(),
        ]
        .into_iter()
        .collect();
        assert_eq!(env, want);
    }

    #[test]
    fn spawn_marked_replaces_the_spec_s_marker_with_the_process_s() {
        let s = spec(
            "/bin/sleep",
            &["1000"],
            &[(crate::os::MARKER_VAR, "tag:7"), ("A", "1")],
        );
        let marker = env_entry(crate::os::MARKER_VAR, "tag:7:3").expect("entry");
        let sp = spawn_marked(&s, Some(&marker)).expect("spawned");
        let pid = sp.pid;
        let env = environ_of(pid);
        kill_and_reap(pid);
        assert_eq!(env, ["A=1", &format!("{}=tag:7:3", crate::os::MARKER_VAR)]);
    }

    #[test]
    fn the_inherited_layer_is_shared_and_the_app_s_own_variables_and_extras_override_it() {
        let inherited: Arc<BTreeMap<String, String>> = Arc::new(
            [("A", "inherited"), ("B", "inherited"), ("C", "inherited")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let with = |own: &[(&str, &str)]| {
            spec("/bin/sleep", &["1000"], own)
                .with_inherited(&inherited)
                .expect("prepared")
        };
        let (one, two) = (with(&[("B", "own")]), with(&[("D", "own")]));
        assert!(
            Arc::ptr_eq(&one.base, &two.base),
            "one list per inherited map"
        );
        let marker = env_entry("C", "extra").expect("entry");
        let sp = spawn_marked(&one, Some(&marker)).expect("spawned");
        let pid = sp.pid;
        let env = environ_of(pid);
        kill_and_reap(pid);
        assert_eq!(env, ["A=inherited", "B=own", "C=extra"]);
    }

    #[test]
    fn without_extras_a_child_gets_stdin_stdout_stderr_only_and_the_spec_s_environment() {
        let leak = inheritable_fd();
        let sp = spawn(&spec("/bin/sleep", &["1000"], &[("LISTEN_PID", "1")])).expect("spawned");
        let pid = sp.pid;
        let fds = fds_of(pid);
        let env = environ_of(pid);
        kill_and_reap(pid);
        assert_eq!(
            fds.keys().copied().collect::<Vec<_>>(),
            [0, 1, 2],
            "{} is not inherited: {fds:?}",
            leak.as_raw_fd()
        );
        assert_eq!(env, ["LISTEN_PID=1"], "nothing added or taken");
        // The child's close-on-exec marks were its own table's (no CLONE_FILES).
        // SAFETY: fcntl(F_GETFD) on a descriptor this test owns.
        let flags = unsafe { libc::fcntl(leak.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(
            flags & libc::FD_CLOEXEC,
            0,
            "the daemon's own descriptors unchanged"
        );
    }

    #[test]
    fn a_closed_extra_descriptor_or_a_bad_variable_name_is_an_error() {
        let s = spec("/bin/true", &[], &[]);
        let err = spawn_with(
            &s,
            &SpawnExtras {
                fds: &[1 << 20],
                ..SpawnExtras::NONE
            },
        )
        .err()
        .expect("a closed descriptor fails");
        assert!(
            err.to_string().starts_with("cannot pass descriptor"),
            "{err}"
        );
        for bad in ["", "A=B"] {
            let err = env_entry(bad, "x").expect_err("a bad name fails");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
        }
        for bad in [c"NOEQUALS", c"=value"] {
            let err = spawn_with(
                &s,
                &SpawnExtras {
                    env: &[bad],
                    ..SpawnExtras::NONE
                },
            )
            .err()
            .expect("not an entry");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_pid_is_written_in_decimal_in_place() {
        for (pid, text) in [
            (0, "0"),
            (7, "7"),
            (4_194_304, "4194304"),
            (u32::MAX, "4294967295"),
        ] {
            let mut slot = [b'x'; 11];
            // SAFETY: 11 bytes, as write_pid needs.
            unsafe { write_decimal(slot.as_mut_ptr(), pid) };
            let end = slot.iter().position(|b| *b == 0).expect("NUL");
            assert_eq!(&slot[..end], text.as_bytes());
        }
    }
}
