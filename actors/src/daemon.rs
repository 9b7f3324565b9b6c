//! The daemon's own steps (SPEC §3 "The daemon"): one per `$PMX_HOME` (`flock` on
//! `pmx.lock` for its whole life), the home made 0700 (refused when it is another user's
//! link), the socket bound 0600, the pid file, every file created 0600 whatever the umask,
//! `pmx.log` through a non-blocking tracing writer, the Admin server on the socket. The
//! boot it shares with `pmx run` (signal mask, subreaper, open-file limit, the actor tree)
//! is [`runtime`](crate::runtime); its end is the [`Lifecycle`](crate::lifecycle)'s:
//!
//! ```text
//! daemon::run ── prepare_home, lock, pmx.log
//!   └─ runtime::Boot::begin ── (actix system) bind, pid file, Boot::start ── Admin server
//!        … Lifecycle stops the system …  remove socket and pid file, unlock
//! ```

use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;

use actix::prelude::*;
use nix::fcntl::{Flock, FlockArg};

use crate::admin::AdminServer;
use crate::home::{check_home, Home};
use crate::os::safe_path::{self, PRIVATE_DIR};
use crate::runtime::Boot;

/// How a daemon start ended before serving.
#[derive(Debug)]
pub enum StartError {
    /// Another daemon holds `pmx.lock`: not an error for a racing CLI.
    AlreadyRunning,
    /// Anything else, with what and why.
    Failed(String),
}

/// Create `$PMX_HOME` (0700; missing parents 0755) or tighten its mode, and its `logs/`
/// and `pids/` (0700), whatever the umask; refuse a home another user owns or reached
/// through a link another user planted ([`check_home`]): nothing is created or chmodded
/// then.
///
/// Errors: it cannot be created, another user owns it, or a link in its path is refused.
pub fn prepare_home(home: &Home) -> Result<Vec<String>, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    check_home(home)?;
    let mut warnings = Vec::new();
    let dir = &home.dir;
    match fs::metadata(dir) {
        Ok(meta) => {
            let me = nix::unistd::geteuid().as_raw();
            if meta.uid() != me {
                return Err(format!(
                    "{} is owned by uid {}, not by you (uid {me})",
                    dir.display(),
                    meta.uid()
                ));
            }
            tighten(dir, meta.mode(), &mut warnings)?;
        }
        Err(_) => {
            if let Some(parent) = dir.parent() {
                // Parents as `mkdir -p` makes them, but never group- or world-writable.
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            safe_path::create_dir(dir, PRIVATE_DIR)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    for sub in [home.logs(), home.pids()] {
        let created = safe_path::create_dir(&sub, PRIVATE_DIR)
            .map_err(|e| format!("cannot create {}: {e}", sub.display()))?;
        if !created {
            let meta = fs::symlink_metadata(&sub).map_err(|e| format!("{}: {e}", sub.display()))?;
            if meta.is_dir() {
                tighten(&sub, meta.mode(), &mut warnings)?;
            }
        }
    }
    Ok(warnings)
}

/// Make a directory of pmx's 0700 when its group or others have any right (an older pmx
/// created them with the caller's umask), with a warning saying so.
fn tighten(dir: &std::path::Path, mode: u32, warnings: &mut Vec<String>) -> Result<(), String> {
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        warnings.push(format!(
            "{} had mode {:o}; tightened to 700",
            dir.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// Run the daemon in the foreground of this process until the Lifecycle ends it
/// (`kill`, SIGTERM/SIGINT), then remove its socket and pid file.
///
/// Errors: [`StartError::AlreadyRunning`] when another daemon holds the lock; otherwise
/// a start-up failure (permissions, bind).
pub fn run(home: Home) -> Result<(), StartError> {
    // Exec'd by `update`: the lock and the listener were kept open for this daemon.
    let (lock, kept_socket, warnings) = match handed_over(&home) {
        Some((lock, sock)) => {
            let warnings = prepare_home(&home).map_err(StartError::Failed)?;
            let lock = match Flock::lock(lock, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err(_) => return Err(StartError::AlreadyRunning),
            };
            (lock, Some(sock), warnings)
        }
        None => {
            let (lock, warnings) = hold(&home)?;
            (lock, None, warnings)
        }
    };
    let log = open_log(&home)?;
    // Before the pmx.log writer's thread: it inherits the signal mask.
    let mut boot = Boot::begin();
    // Kept where `update` can flush it before an exec.
    let mut guard = Some(start_log(log));
    for w in warnings.into_iter().chain(boot.take_warnings()) {
        tracing::warn!("{w}");
    }
    // Under the lock: the holder of this home, or a new one; what it held is adopted.
    let found = match crate::fdstore::open(&home) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!("{e}; apps will not outlive this daemon");
            Vec::new()
        }
    };

    let system = System::new();
    let started: Result<(), String> = system.block_on(async {
        let listener = match kept_socket {
            Some(fd) => {
                let l = kept_listener(fd).map_err(|e| format!("the socket kept by update: {e}"))?;
                write_pid(&home).map_err(|e| format!("{}: {e}", home.pid_file().display()))?;
                l
            }
            None => bind(&home)?,
        };
        {
            use std::os::fd::AsRawFd;
            if let Some(guard) = guard.take() {
                crate::update::keep(lock.as_raw_fd(), listener.as_raw_fd(), guard);
            }
        }
        let tree = boot.start(&home, Default::default());
        crate::fdstore::watch();
        if !found.is_empty() {
            // Before the first client: a `list` sees every adopted app, and an `up` of
            // the same file starts nothing twice.
            let _ = tree
                .root
                .send(crate::root::Readopt(crate::adopt::Found::sort(found)))
                .await;
        }
        serve(listener, &tree);
        tracing::info!(
            "daemon {} started, pid {}, home {}",
            crate::protocol::VERSION,
            std::process::id(),
            home.dir.display()
        );
        Ok(())
    });
    if let Err(e) = started {
        tracing::error!("{e}");
        // A holder this start made holds nothing yet; one found holding apps stays.
        if !crate::fdstore::holds_apps() {
            crate::fdstore::quit();
        }
        return Err(StartError::Failed(e));
    }
    let _ = system.run();
    // Every app is stopped: nothing is left for the holder to keep.
    crate::fdstore::quit();
    tracing::info!("daemon stopped");
    crate::update::release_log();
    drop(guard);
    release(&home, lock);
    Ok(())
}

/// The home prepared ([`prepare_home`]) and locked for this process's life (`flock` on
/// `pmx.lock`); a socket left there is stale then, and removed. Answers the lock and the
/// warnings of the preparation.
///
/// Errors: [`StartError::AlreadyRunning`] when another process (a daemon, a `pmx run`)
/// holds the lock; the home cannot be prepared or the lock file opened.
pub(crate) fn hold(home: &Home) -> Result<(Flock<fs::File>, Vec<String>), StartError> {
    let warnings = prepare_home(home).map_err(StartError::Failed)?;
    let lock = private(OpenOptions::new().truncate(false).write(true))
        .open(home.lock())
        .map_err(|e| StartError::Failed(format!("{}: {e}", home.lock().display())))?;
    let lock = match Flock::lock(lock, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err(_) => return Err(StartError::AlreadyRunning),
    };
    // Under the lock: whatever socket is there is stale.
    let _ = fs::remove_file(home.socket());
    Ok((lock, warnings))
}

/// `pmx.log`, opened for appending (created 0600, never through a link).
///
/// Errors: it cannot be opened.
pub(crate) fn open_log(home: &Home) -> Result<fs::File, StartError> {
    private(OpenOptions::new().append(true))
        .open(home.log_file())
        .map_err(|e| StartError::Failed(format!("{}: {e}", home.log_file().display())))
}

/// tracing to `log` through a non-blocking writer (after [`Boot::begin`]: its thread
/// inherits the signal mask); the guard flushes it when dropped.
pub(crate) fn start_log(log: fs::File) -> tracing_appender::non_blocking::WorkerGuard {
    // A bounded queue of 4096 lines (the default, 128 000, preallocates 4 MiB); lossy, so a
    // write to pmx.log never blocks an actor.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(4096)
        .lossy(true)
        .finish(log);
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    guard
}

/// The admin socket bound (0600) and the pid file written, inside the actix system.
///
/// Errors: the bind, the chmod or the pid file failed, with what and why.
pub(crate) fn bind(home: &Home) -> Result<tokio::net::UnixListener, String> {
    let sock = home.socket();
    // bind(2) creates the socket with 0777 less the umask: under a 0177 umask it is
    // never more than 0600, even for the moment before the chmod below. Only the
    // pmx.log writer's thread runs beside this one, and it creates no file.
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = tokio::net::UnixListener::bind(&sock);
    nix::sys::stat::umask(umask);
    let listener = listener.map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
    fs::set_permissions(&sock, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", sock.display()))?;
    write_pid(home).map_err(|e| format!("{}: {e}", home.pid_file().display()))?;
    Ok(listener)
}

/// The Admin server on `listener`, for this process's user, serving `tree`.
pub(crate) fn serve(listener: tokio::net::UnixListener, tree: &crate::runtime::Tree) {
    AdminServer::new(
        listener,
        tree.root.clone(),
        tree.bus.clone(),
        tree.lifecycle.clone().recipient(),
        nix::unistd::geteuid().as_raw(),
    )
    .start();
}

/// After the system has ended: the socket and the pid file removed, the lock released.
pub(crate) fn release(home: &Home, lock: Flock<fs::File>) {
    let _ = fs::remove_file(home.socket());
    let _ = fs::remove_file(home.pid_file());
    drop(lock);
}

/// The lock file and the admin listener the daemon before this one (same pid) kept open
/// for this one across `update`'s exec, when the lock is this home's `pmx.lock`.
fn handed_over(home: &Home) -> Option<(fs::File, std::os::fd::RawFd)> {
    crate::update::handed_over().and_then(|(lock, sock)| {
        // SAFETY: the daemon before this one (same pid) left these open for it; nothing
        // else in this process owns them.
        let lock = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(lock) };
        crate::update::cloexec(std::os::fd::AsRawFd::as_raw_fd(&lock), true);
        same_file(&lock, &home.lock()).then_some((lock, sock))
    })
}

/// Whether the open `file` is the file at `path` (same device and inode).
fn same_file(file: &fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The admin listener the daemon before this one kept open across `update`'s exec.
fn kept_listener(fd: std::os::fd::RawFd) -> std::io::Result<tokio::net::UnixListener> {
    // SAFETY: handed over by the daemon before this one (same pid); owned by nothing else.
    let l =
        unsafe { <std::os::unix::net::UnixListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    crate::update::cloexec(fd, true);
    l.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(l)
}

/// `pmx.pid`, created anew 0600.
fn write_pid(home: &Home) -> std::io::Result<()> {
    let pid = format!("{}\n", std::process::id());
    safe_path::write_new(&home.pid_file(), pid.as_bytes(), safe_path::PRIVATE_FILE)
}

/// `options` creating a file 0600 (whatever the umask: it only removes bits) and never
/// opening one through a link.
fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options
        .create(true)
        .mode(safe_path::PRIVATE_FILE)
        .custom_flags(libc::O_NOFOLLOW)
}
