//! The foreground runtime: `pmx run` (pm2-runtime: containers, PID 1) and `pmx dev`
//! (pm2-dev, nodemon). The daemon's own actor tree ([`Boot`]: the same supervision,
//! readiness, groups, cluster, log files) in this process, with the daemon's home steps
//! (the lock, the admin socket, so `pmx list` and `pmx logs` work beside it, `pmx.log`),
//! plus what only a foreground runtime has: every app's lines on this terminal
//! ([`Console`], fed by the log pumps), and the [`Census`] the Root keeps current, from
//! which this module decides when the runtime ends and with which exit code:
//!
//! ```text
//! run ── hold the home (lock), pmx.log ── Boot::begin
//!   └─ (actix system) bind, Boot::start(census, console), Admin server
//!        watch_apps: Start(request) to the Root ── a failure: its exit code, Shutdown
//!          then every census change: `pmx run` ends when every app is gone
//!          (Shutdown{AppsGone}); `pmx dev` says which app waits for a change
//!   … the Lifecycle stops the system (every app gone, SIGTERM/SIGINT, `pmx kill`) …
//!   release the home; the exit code from the last census (`verdict`)
//! ```
//!
//! Who owns the exit code: a start that failed decides it (2 for a bad spec, 1 else, as
//! `pmx start`); otherwise `pmx run`'s is [`verdict`] of the final census as judged
//! ([`settle`]: an instance that ended badly stays so through the shutdown's stop), 0
//! when every instance ended cleanly, 1 otherwise, whatever ended the runtime; `pmx
//! dev`'s is 0.

mod census;
mod console;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

pub use self::census::{newly_ended, settle, verdict, Census, Counted, Outcome};
pub use self::console::{lines_of, Console, Style, Terminal};

use crate::daemon::{self, StartError};
use crate::home::Home;
use crate::lifecycle::{Lifecycle, Reason, Shutdown};
use crate::protocol::{ErrorCode, Request, StartRequest};
use crate::root::{Api, Root};
use crate::runtime::{Attach, Boot};

/// Which foreground runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `pmx run`: ends when every app is gone, exit code by [`verdict`].
    Run,
    /// `pmx dev`: ends only when told (Ctrl-C, SIGTERM, `pmx kill`), exit code 0; an app
    /// that ends is said to wait for a change (its `policy: Never` keeps it down).
    Dev,
}

/// How a foreground runtime ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The process's exit code.
    pub code: u8,
    /// What went wrong, for one `pmx: ` line (None for a clean end).
    pub error: Option<String>,
}

/// Run `request`'s apps in the foreground under `home` until the runtime ends (see the
/// module's doc), then release the home.
///
/// Errors: another process (a daemon, another `pmx run`) holds the home, or the home
/// cannot be prepared or served (the socket, the pid file): nothing was started.
pub fn run(
    home: Home,
    request: StartRequest,
    mode: Mode,
    console: Arc<dyn Console>,
) -> Result<Ended, String> {
    let (lock, warnings) = match daemon::hold(&home) {
        Ok(held) => held,
        Err(StartError::AlreadyRunning) => {
            return Err(format!(
                "a pmx daemon already runs on {} (PMX_HOME): stop it with `pmx kill`, or give this runtime a PMX_HOME of its own",
                home.dir.display()
            ))
        }
        Err(StartError::Failed(e)) => return Err(e),
    };
    let log = match daemon::open_log(&home) {
        Ok(l) => l,
        Err(StartError::Failed(e)) => return Err(e),
        Err(StartError::AlreadyRunning) => return Err("pmx.log".into()),
    };
    // Before any thread: the signal mask, the subreaper (PID 1's orphans are ours anyway).
    let mut boot = Boot::begin();
    let _guard = daemon::start_log(log);
    for w in warnings {
        eprintln!("pmx: warning: {w}");
        tracing::warn!("{w}");
    }
    for w in boot.take_warnings() {
        tracing::warn!("{w}");
    }
    let (census, census_rx) = watch::channel(Census::default());
    let record: Rc<RefCell<Record>> = Rc::default();
    let system = System::new();
    let started: Result<(), String> = system.block_on(async {
        let listener = daemon::bind(&home)?;
        let tree = boot.start(
            &home,
            Attach {
                census: Some(census),
                console: Some(console.clone()),
            },
        );
        daemon::serve(listener, &tree);
        tracing::info!(
            "pmx {} ({mode:?}) started in the foreground, pid {}, home {}",
            crate::protocol::VERSION,
            std::process::id(),
            home.dir.display()
        );
        actix_rt::spawn(watch_apps(
            tree.root,
            tree.lifecycle,
            request,
            mode,
            console,
            census_rx.clone(),
            record.clone(),
        ));
        Ok(())
    });
    if let Err(e) = started {
        tracing::error!("{e}");
        daemon::release(&home, lock);
        return Err(e);
    }
    let _ = system.run();
    tracing::info!("foreground runtime stopped");
    daemon::release(&home, lock);
    let Record { failure, judged } = record.take();
    if let Some(ended) = failure {
        return Ok(ended);
    }
    let last = settle(&judged, &census_rx.borrow());
    Ok(match mode {
        Mode::Dev => Ended {
            code: 0,
            error: None,
        },
        Mode::Run => match verdict(&last) {
            Some(0) => Ended {
                code: 0,
                error: None,
            },
            _ => Ended {
                code: 1,
                error: Some(failures(&last)),
            },
        },
    })
}

/// What the runtime's watcher leaves for the exit code.
#[derive(Default)]
struct Record {
    /// A start that failed: its exit code and line.
    failure: Option<Ended>,
    /// The last census as judged ([`settle`]).
    judged: Census,
}

/// Start `request`'s apps, then follow the census: in `Run` mode ask the Lifecycle to end
/// once every app is gone; in both modes say on the console which instance ended by
/// itself (in `Dev` mode: that it waits for a change), keeping the judged census in
/// `record`. A start that fails records its exit code there and ends the runtime.
async fn watch_apps(
    root: Addr<Root>,
    lifecycle: Addr<Lifecycle>,
    request: StartRequest,
    mode: Mode,
    console: Arc<dyn Console>,
    mut census: watch::Receiver<Census>,
    record: Rc<RefCell<Record>>,
) {
    let end = |reason| {
        lifecycle.do_send(Shutdown {
            reason,
            until: None,
        })
    };
    match root.send(Api(Request::Start(request))).await {
        Ok(Ok(_)) => {}
        // A SIGTERM during the start: the stop under way decides.
        Ok(Err(e)) if e.code == ErrorCode::Conflict && e.message.contains("shutting down") => {
            return
        }
        Ok(Err(e)) => {
            let code = match e.code {
                ErrorCode::InvalidConfig | ErrorCode::BadRequest => 2,
                _ => 1,
            };
            record.borrow_mut().failure = Some(Ended {
                code,
                error: Some(e.message),
            });
            end(Reason::StartFailed);
            return;
        }
        Err(e) => {
            record.borrow_mut().failure = Some(Ended {
                code: 1,
                error: Some(format!("the runtime's Root is gone: {e}")),
            });
            end(Reason::StartFailed);
            return;
        }
    }
    // Every change reaches us: a `watch` keeps the latest census, and the Root updates it
    // before the start is answered, so the first look already sees the start's effect.
    let mut seen = Census::default();
    loop {
        let now = census.borrow_and_update().clone();
        for (id, c) in newly_ended(&seen, &now) {
            console.notice(&c.app, id, &ending(c.outcome, mode));
        }
        let now = settle(&record.borrow().judged, &now);
        record.borrow_mut().judged = now.clone();
        seen = now;
        if mode == Mode::Run && verdict(&seen).is_some() {
            end(Reason::AppsGone);
            return;
        }
        if census.changed().await.is_err() {
            return;
        }
    }
}

/// What the console says of an instance that ended by itself.
fn ending(outcome: Outcome, mode: Mode) -> String {
    let how = match outcome {
        Outcome::Ended {
            code: Some(code), ..
        } => format!("exited with code {code}"),
        Outcome::Ended {
            signal: Some(sig), ..
        } => format!("ended by signal {}", signal_name(sig)),
        Outcome::Errored => "errored".to_string(),
        _ => "ended".to_string(),
    };
    match mode {
        Mode::Run => how,
        Mode::Dev => format!("{how}; waiting for file changes before restart"),
    }
}

/// `SIGTERM` for 15; the number when it has no name.
fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| sig.to_string())
}

/// The one line `pmx run` exits 1 with: the instances that did not end cleanly.
fn failures(census: &Census) -> String {
    let bad: Vec<String> = census
        .instances
        .iter()
        .filter(|(_, c)| !c.outcome.clean())
        .map(|(id, c)| {
            format!(
                "\"{}\" (id {id}) {}",
                c.app,
                match c.outcome {
                    Outcome::Alive => "still running".to_string(),
                    o => ending(o, Mode::Run),
                }
            )
        })
        .collect();
    format!("not every app ended cleanly: {}", bad.join(", "))
}
