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
use crate::session::start_session;

/// The Admin server actor.
pub struct AdminServer {
    listener: Option<UnixListener>,
    root: Addr<Root>,
    bus: Addr<EventBus>,
    lifecycle: Recipient<Shutdown>,
    owner_uid: u32,
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
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => me.do_send(Accepted(stream)),
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        // EMFILE and the like: give the machine a moment.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
}

impl Handler<Accepted> for AdminServer {
    type Result = ();
    fn handle(&mut self, Accepted(stream): Accepted, _: &mut Context<Self>) {
        match getsockopt(&stream, PeerCredentials) {
            Ok(cred) if cred.uid() == self.owner_uid || cred.uid() == 0 => {
                let (root, bus) = (self.root.clone(), self.bus.clone());
                start_session(stream, root, bus, self.lifecycle.clone());
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
