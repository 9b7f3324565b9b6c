//! The boot every pmx runtime shares: `pmx daemon` and the foreground runtime (`pmx
//! run` for containers, PID 1; `pmx dev`, `crate::foreground`). Process-wide settings first ([`Boot::begin`]: the
//! signal mask, the child subreaper, the open-file limit, the panic hook), then, inside the
//! actix system, the actor tree ([`Boot::start`]):
//!
//! ```text
//! Lifecycle (the one owner of shutdown: signals, kill, every app gone)
//! Root ─┬─ App supervisor ─┬─ Process (per instance)
//!       │                  └─ LogFile (per file, on the log arbiter)
//!       ├─ Metrics (cpu and memory of every tree; on the log arbiter)
//!       ├─ Reaper (SIGCHLD)
//!       └─ Event bus
//! ```
//!
//! What only the daemon does (its home, lock, socket, pid file, `pmx.log`, the Admin
//! server) is in `daemon.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use actix::prelude::*;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{SigSet, Signal};
use tokio::signal::unix::{signal, SignalKind};

use crate::events::EventBus;
use crate::home::Home;
use crate::lifecycle::{Lifecycle, Reason, Shutdown};
use crate::readiness::Readiness;
use crate::reaper::{PidTable, Reaper};
use crate::root::{Api, Root, RootParts};

/// The process-wide part of the boot, done; [`Boot::start`] starts the tree.
pub struct Boot {
    /// The signals the supervision thread handles, blocked until the tree starts.
    handled: SigSet,
    /// The open-file limit (soft, hard) the process was started with, restored in apps.
    nofile: Option<(u64, u64)>,
    /// What went wrong without stopping the boot, for the log once there is one.
    warnings: Vec<String>,
}

impl Boot {
    /// The process-wide settings, before any thread is started (the caller's logger
    /// included): the handled signals (SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2)
    /// blocked, so every thread started from now on inherits a mask that leaves them to
    /// the supervision thread (no second thread woken on every exit); the process made a
    /// child subreaper (orphans of the apps' trees come back to it); the open-file soft
    /// limit raised to the hard one; panics logged (SPEC §3: an actor panic never ends the
    /// runtime).
    ///
    /// Never fails: what cannot be done is in [`Boot::take_warnings`].
    pub fn begin() -> Boot {
        let handled = handled_signals();
        let _ = handled.thread_block();
        let mut warnings = Vec::new();
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            warnings.push(format!("cannot become a child subreaper: {e}"));
        }
        let nofile = getrlimit(Resource::RLIMIT_NOFILE).ok();
        if let Some((soft, hard)) = nofile {
            if soft < hard {
                if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                    warnings.push(format!("cannot raise the open-file limit to {hard}: {e}"));
                }
            }
        }
        std::panic::set_hook(Box::new(|info| {
            tracing::error!("panic: {info}");
        }));
        Boot {
            handled,
            nofile,
            warnings,
        }
    }

    /// What [`Boot::begin`] could not do, for the caller to log.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The actor tree, in a running actix system (inside `System::block_on`): the log
    /// arbiter, the Reaper, the Event bus, the Root (apps under `home`) and the Lifecycle;
    /// then the signals: SIGTERM/SIGINT ask the Lifecycle to stop, SIGUSR2 reopens every
    /// log file, SIGHUP is ignored (no terminal). The handled signals are unblocked on
    /// this thread once the log arbiter's thread exists. `attach`: what a foreground
    /// runtime (`pmx run`, `pmx dev`) hangs on the tree; the daemon gives none.
    pub fn start(self, home: &Home, attach: Attach) -> Tree {
        let log_arbiter = Arbiter::new();
        // The other threads exist: the supervision thread takes the signals again.
        let _ = self.handled.thread_unblock();
        let uid = nix::unistd::geteuid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| uid.to_string());
        let pids = Rc::new(RefCell::new(PidTable::default()));
        Reaper::new(pids.clone()).start();
        // Its /proc reads run on the log arbiter, off the supervision thread.
        let latest = crate::metrics::Latest::default();
        let shared_latest = latest.clone();
        let metrics = crate::metrics::Metrics::start_in_arbiter(&log_arbiter.handle(), |_| {
            crate::metrics::Metrics::new(shared_latest)
        });
        // The one file watcher of the daemon, off the supervision thread too; its inotify
        // thread is made at the first app that watches.
        let watch_home = home.dir.clone();
        let watch = crate::watch::Watch::start_in_arbiter(&log_arbiter.handle(), move |_| {
            crate::watch::Watch::new(watch_home)
        });
        let mut bus = EventBus::new();
        bus.metrics = Some(metrics.clone().recipient());
        let bus_flags = bus.flags.clone();
        let bus = bus.start();
        let root = Root::new(RootParts {
            home: home.clone(),
            bus: bus.clone(),
            bus_flags,
            pids: pids.clone(),
            log_arbiter: log_arbiter.handle(),
            nofile: self.nofile,
            user,
            metrics,
            latest,
            census: attach.census,
            console: attach.console,
            watch,
        })
        .start();
        // READY=1 of apps with wait_ready; without it they come online by their
        // listen_timeout (and a Node app by its IPC channel).
        match Readiness::bind(home, pids, root.clone().recipient()) {
            Ok(r) => {
                r.start();
            }
            Err(e) => tracing::error!(
                "cannot bind the notify socket @{}: {e}; wait_ready apps come online by \
                 their listen_timeout",
                crate::readiness::socket_name(home)
            ),
        }
        let lifecycle = Lifecycle::new(root.clone().recipient()).start();
        listen_for_signals(root.clone(), lifecycle.clone());
        Tree {
            root,
            bus,
            lifecycle,
        }
    }
}

/// What a foreground runtime (`pmx run`, `pmx dev`; `crate::foreground`) hangs on the
/// tree; the daemon's is empty (`Default`), and then nothing is computed for it.
#[derive(Default)]
pub struct Attach {
    /// The Root keeps it current after every change: every instance's outcome.
    pub census: Option<tokio::sync::watch::Sender<crate::foreground::Census>>,
    /// Where every app's lines also go.
    pub console: Option<std::sync::Arc<dyn crate::foreground::Console>>,
}

/// The long-lived actors a runtime's entry point connects to.
pub struct Tree {
    /// The Root: every request of a client.
    pub root: Addr<Root>,
    /// The Event bus: subscriptions.
    pub bus: Addr<EventBus>,
    /// The Lifecycle: the only way to stop the runtime.
    pub lifecycle: Addr<Lifecycle>,
}

/// The signals the runtime handles on its supervision thread.
fn handled_signals() -> SigSet {
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

/// SIGTERM/SIGINT to the Lifecycle (every time: a second one joins the stop under way),
/// SIGUSR2 to the Root as `reloadLogs` (for an external logrotate), SIGHUP ignored;
/// none of them ends the runtime by itself.
fn listen_for_signals(root: Addr<Root>, lifecycle: Addr<Lifecycle>) {
    actix_rt::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut usr2), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined2()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot listen for signals");
            return;
        };
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = usr2.recv() => {
                    tracing::info!("SIGUSR2: reopening every log file");
                    let _ = root.send(Api(crate::protocol::Request::ReloadLogs)).await;
                    continue;
                }
                _ = hup.recv() => continue,
            };
            lifecycle.do_send(Shutdown {
                reason: Reason::Signal(name),
                until: None,
            });
        }
    });
}
