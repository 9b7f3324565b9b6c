//! The daemon's start-up and shutdown (SPEC §3 "The daemon"): one per `$PMX_HOME`
//! (`flock` on `pmx.lock` for its whole life), the socket bound 0600, the pid file,
//! a child subreaper, the open-file limit raised, `pmx.log` through a non-blocking
//! tracing writer, then the actor tree on a current-thread actix system:
//!
//! ```text
//! Root ─┬─ App supervisor ─┬─ Process (per instance)
//!       │                  └─ LogFile (per file, on the log arbiter)
//!       ├─ Reaper (SIGCHLD)
//!       ├─ Event bus
//!       └─ Admin server ── Session (per client)
//! ```

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::rc::Rc;

use actix::prelude::*;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use tokio::signal::unix::{signal, SignalKind};

use crate::admin::AdminServer;
use crate::events::EventBus;
use crate::home::Home;
use crate::reaper::{PidTable, Reaper};
use crate::root::{Api, Root, RootParts, StopAll};

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

/// Run the daemon in the foreground of this process until `kill` or SIGTERM/SIGINT.
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
    // Threads started from here on (the pmx.log writer, the log arbiter) inherit a mask
    // that blocks the signals the daemon handles, so the kernel delivers SIGCHLD & co. to
    // the supervision thread itself: no second thread woken on every exit.
    let handled = handled_signals();
    let _ = handled.thread_block();
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
    for w in warnings {
        tracing::warn!("{w}");
    }
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("panic: {info}");
    }));

    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!("cannot become a child subreaper: {e}");
    }
    let nofile = getrlimit(Resource::RLIMIT_NOFILE).ok();
    if let Some((soft, hard)) = nofile {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }

    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::geteuid().to_string());
    let owner_uid = nix::unistd::geteuid().as_raw();

    let system = System::new();
    let started: Result<(), String> = system.block_on(async {
        let listener = tokio::net::UnixListener::bind(&sock)
            .map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", sock.display()))?;
        write_pid(&home).map_err(|e| format!("{}: {e}", home.pid_file().display()))?;

        let log_arbiter = Arbiter::new();
        // The other threads exist: the supervision thread takes the signals again.
        let _ = handled.thread_unblock();
        let pids = Rc::new(RefCell::new(PidTable::default()));
        Reaper::new(pids.clone()).start();
        let bus = EventBus::new();
        let bus_flags = bus.flags.clone();
        let bus = bus.start();
        let root = Root::new(RootParts {
            home: home.clone(),
            bus: bus.clone(),
            bus_flags,
            pids,
            log_arbiter: log_arbiter.handle(),
            nofile,
            user,
        })
        .start();
        AdminServer::new(listener, root.clone(), bus, owner_uid).start();
        // SIGUSR2 reopens every log file (for an external logrotate), SIGHUP is ignored
        // (the daemon has no terminal); neither may end the daemon.
        let root_for_logs = root.clone();
        actix_rt::spawn(async move {
            let (Ok(mut usr2), Ok(mut hup)) = (
                signal(SignalKind::user_defined2()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = usr2.recv() => {
                        tracing::info!("SIGUSR2: reopening every log file");
                        let _ = root_for_logs.send(Api(crate::protocol::Request::ReloadLogs)).await;
                    }
                    _ = hup.recv() => {}
                }
            }
        });
        let root_for_signals = root.clone();
        actix_rt::spawn(async move {
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("signal received: stopping every app");
            let _ = root_for_signals.send(StopAll).await;
            shutdown();
        });
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

/// The signals the daemon handles on its supervision thread.
fn handled_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(s);
    }
    set
}

/// End the actix system (after every app has stopped): the daemon exits.
pub fn shutdown() {
    crate::process::set_shutting_down();
    System::current().stop();
}

fn write_pid(home: &Home) -> std::io::Result<()> {
    let mut f = File::create(home.pid_file())?;
    writeln!(f, "{}", std::process::id())
}
