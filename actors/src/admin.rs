//! Admin server actor: owns the listening socket `$PMX_HOME/pmx.sock`; for each client
//! that passes the peer-credential check (the socket's owner or root) it starts a
//! [`Session`](crate::session::Session) actor. Anyone else is closed without a reply, and the attempt is logged.
//!
//! The Session actors live in `session.rs`.

use std::time::Duration;

use actix::prelude::*;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::net::{UnixListener, UnixStream};

use crate::events::EventBus;
use crate::lifecycle::Shutdown;
use crate::root::Root;
use crate::session::{start_session, LineBudget};

/// The first pause after a failed `accept` (EMFILE, ENFILE, ENOBUFS…); each failure in a
/// row doubles it up to [`ACCEPT_PAUSE_MAX`], and an accepted connection resets it.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(50);

/// The longest pause between two `accept`s that fail in a row.
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// While `accept` keeps failing, at most one `accept failed` line per this interval in
/// `pmx.log`, which counts the failures it did not log.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(60);

/// The Admin server actor.
pub struct AdminServer {
    listener: Option<UnixListener>,
    root: Addr<Root>,
    bus: Addr<EventBus>,
    lifecycle: Recipient<Shutdown>,
    owner_uid: u32,
    /// The unfinished request lines of all sessions (`MAX_PENDING` in all).
    budget: LineBudget,
}

impl AdminServer {
    /// A server accepting on `listener` for the user `owner_uid` (and root); its sessions
    /// send requests to `root`, subscriptions to `bus` and `kill` to `lifecycle`.
    pub fn new(
        listener: UnixListener,
        root: Addr<Root>,
        bus: Addr<EventBus>,
        lifecycle: Recipient<Shutdown>,
        owner_uid: u32,
    ) -> Self {
        AdminServer {
            listener: Some(listener),
            root,
            bus,
            lifecycle,
            owner_uid,
            budget: LineBudget::default(),
        }
    }
}

/// A client connected.
#[derive(Message)]
#[rtype(result = "()")]
struct Accepted(UnixStream);

impl Actor for AdminServer {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let me = ctx.address();
        actix_rt::spawn(async move {
            let mut failures = Failures::default();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        failures.recovered();
                        me.do_send(Accepted(stream));
                    }
                    Err(e) => {
                        // EMFILE and the like: nothing to accept with until an fd is
                        // freed; wait longer each time, log once in a while.
                        let pause = failures.failed(&e, std::time::Instant::now());
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        });
    }
}

/// `accept` failures: the back-off of a run of failures in a row, and the rate limit of
/// their log lines, which outlives a run (under exhaustion an accept now and then succeeds
/// as a client leaves: the runs are short and many).
#[derive(Default)]
struct Failures {
    /// In a row, since the last accepted connection.
    count: u64,
    /// Whether a line of this run was logged (then its end is logged too).
    run_logged: bool,
    /// Not logged since the last line.
    unlogged: u64,
    /// The next pause.
    pause: Option<Duration>,
    /// When the last line was logged.
    logged_at: Option<std::time::Instant>,
}

impl Failures {
    /// One more failure at `now`: logs it (or counts it), answers how long to pause.
    fn failed(&mut self, e: &std::io::Error, now: std::time::Instant) -> Duration {
        self.count += 1;
        let due = self
            .logged_at
            .is_none_or(|t| now.duration_since(t) >= ACCEPT_LOG_EVERY);
        if due {
            if self.unlogged > 0 {
                tracing::warn!(
                    "accept failed: {e} ({} more failures not logged since the last line; \
                     retrying with back-off up to {} s)",
                    self.unlogged,
                    ACCEPT_PAUSE_MAX.as_secs()
                );
            } else {
                tracing::warn!("accept failed: {e}");
            }
            self.logged_at = Some(now);
            self.unlogged = 0;
            self.run_logged = true;
        } else {
            self.unlogged += 1;
        }
        let pause = self.pause.unwrap_or(ACCEPT_PAUSE_MIN);
        self.pause = Some((pause * 2).min(ACCEPT_PAUSE_MAX));
        pause
    }

    /// A connection was accepted: the back-off starts over; the end of a run whose
    /// failure was logged is logged.
    fn recovered(&mut self) {
        if self.count > 0 && self.run_logged {
            tracing::info!(
                "accepting connections again after {} failed accepts",
                self.count
            );
        }
        self.count = 0;
        self.run_logged = false;
        self.pause = None;
    }
}

impl Handler<Accepted> for AdminServer {
    type Result = ();
    fn handle(&mut self, Accepted(stream): Accepted, _: &mut Context<Self>) {
        match getsockopt(&stream, PeerCredentials) {
            Ok(cred) if cred.uid() == self.owner_uid || cred.uid() == 0 => {
                let (root, bus) = (self.root.clone(), self.bus.clone());
                start_session(
                    stream,
                    root,
                    bus,
                    self.lifecycle.clone(),
                    self.budget.clone(),
                );
            }
            Ok(cred) => {
                tracing::warn!(
                    "refused a connection from uid {} pid {}: only uid {} or root may connect",
                    cred.uid(),
                    cred.pid(),
                    self.owner_uid
                );
            }
            Err(e) => tracing::warn!("refused a connection: no peer credentials: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_accepts_back_off_to_a_second_and_log_once_a_minute() {
        let mut f = Failures::default();
        let e = std::io::Error::from_raw_os_error(libc::EMFILE);
        let t0 = std::time::Instant::now();
        let pauses: Vec<u64> = (0..8)
            .map(|_| f.failed(&e, t0).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(f.unlogged, 7, "one line for eight failures within a minute");
        f.failed(&e, t0 + ACCEPT_LOG_EVERY);
        assert_eq!(f.unlogged, 0, "a minute later the next one is logged");
        f.recovered();
        assert_eq!(
            f.failed(&e, t0).as_millis(),
            50,
            "an accept resets the back-off"
        );
        assert_eq!(f.unlogged, 1, "but not the rate limit of the log line");
    }
}
