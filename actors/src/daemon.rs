//! The daemon's own steps (SPEC §3 "The daemon"): one per `$PMX_HOME` (`flock` on
//! `pmx.lock` for its whole life), the home made 0700, the socket bound 0600, the pid file,
//! `pmx.log` through a non-blocking tracing writer, the Admin server on the socket. The
//! boot it shares with `pmx run` (signal mask, subreaper, open-file limit, the actor tree)
//! is [`runtime`](crate::runtime); its end is the [`Lifecycle`](crate::lifecycle)'s:
//!
//! ```text
//! daemon::run ── prepare_home, lock, pmx.log
//!   └─ runtime::Boot::begin ── (actix system) bind, pid file, Boot::start ── Admin server
//!        … Lifecycle stops the system …  remove socket and pid file, unlock
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use actix::prelude::*;
use nix::fcntl::{Flock, FlockArg};

use crate::admin::AdminServer;
use crate::home::Home;
use crate::runtime::Boot;

/// How a daemon start ended before serving.
#[derive(Debug)]
pub enum StartError {
    /// Another daemon holds `pmx.lock`: not an error for a racing CLI.
    AlreadyRunning,
    /// Anything else, with what and why.
    Failed(String),
}

/// Create `$PMX_HOME` (0700) or tighten its mode; refuse a home another user owns.
///
/// Errors: it cannot be created, or another user owns it.
pub fn prepare_home(home: &Home) -> Result<Vec<String>, String> {
    use std::os::unix::fs::MetadataExt;
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
            if meta.mode() & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                warnings.push(format!(
                    "{} had mode {:o}; tightened to 700",
                    dir.display(),
                    meta.mode() & 0o777
                ));
            }
        }
        Err(_) => {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    for sub in [home.logs(), home.pids()] {
        fs::create_dir_all(&sub).map_err(|e| format!("cannot create {}: {e}", sub.display()))?;
    }
    Ok(warnings)
}

/// Run the daemon in the foreground of this process until the Lifecycle ends it
/// (`kill`, SIGTERM/SIGINT), then remove its socket and pid file.
///
/// Errors: [`StartError::AlreadyRunning`] when another daemon holds the lock; otherwise
/// a start-up failure (permissions, bind).
pub fn run(home: Home) -> Result<(), StartError> {
    let warnings = prepare_home(&home).map_err(StartError::Failed)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(home.lock())
        .map_err(|e| StartError::Failed(format!("{}: {e}", home.lock().display())))?;
    let lock = match Flock::lock(lock, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err(_) => return Err(StartError::AlreadyRunning),
    };
    // Under the lock: whatever socket is there is stale.
    let sock = home.socket();
    let _ = fs::remove_file(&sock);

    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.log_file())
        .map_err(|e| StartError::Failed(format!("{}: {e}", home.log_file().display())))?;
    // Before the pmx.log writer's thread: it inherits the signal mask.
    let mut boot = Boot::begin();
    // A bounded queue of 4096 lines (the default, 128 000, preallocates 4 MiB); lossy, so a
    // write to pmx.log never blocks an actor.
    let (writer, _guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(4096)
        .lossy(true)
        .finish(log);
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    for w in warnings.into_iter().chain(boot.take_warnings()) {
        tracing::warn!("{w}");
    }
    let owner_uid = nix::unistd::geteuid().as_raw();

    let system = System::new();
    let started: Result<(), String> = system.block_on(async {
        let listener = tokio::net::UnixListener::bind(&sock)
            .map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", sock.display()))?;
        write_pid(&home).map_err(|e| format!("{}: {e}", home.pid_file().display()))?;
        let tree = boot.start(&home);
        AdminServer::new(
            listener,
            tree.root,
            tree.bus,
            tree.lifecycle.recipient(),
            owner_uid,
        )
        .start();
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
        return Err(StartError::Failed(e));
    }
    let _ = system.run();
    tracing::info!("daemon stopped");
    let _ = fs::remove_file(&sock);
    let _ = fs::remove_file(home.pid_file());
    drop(lock);
    Ok(())
}

fn write_pid(home: &Home) -> std::io::Result<()> {
    let mut f = File::create(home.pid_file())?;
    writeln!(f, "{}", std::process::id())
}
