//! An App supervisor as the Node cluster primary of its instances (SPEC §6, `crate::node`):
//! the channel link each Node spawn gets, and the answer to a worker's `queryServer` — the
//! socket pmx holds for that address: the inherited `listen` one when it names the port
//! (or the path, or the worker's `{fd}`), otherwise one bound at the first request and
//! kept for the app's life, so every instance and every replacement gets the same socket
//! and the port stays bound while they restart.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use actix::prelude::*;

use super::AppSup;
use crate::node::wire::{AddressType, Query};
use crate::node::{is_node, Lent, Link, QueryServer};
use crate::supervision::instance::Phase;

/// A socket bound at a worker's request, held for the app's life.
pub(super) struct Held {
    key: HeldKey,
    /// As the user would write it in `listen` (a port-0 socket with the port it got):
    /// what `describe` shows.
    pub(super) shown: String,
    fd: OwnedFd,
    /// The first worker's server data (Node's primary shares it with every worker).
    data: serde_json::Value,
}

/// A [`Held`] as stored in the fd holder (its label after `n:`, as JSON), so a next
/// daemon hands the same socket to its workers instead of binding the port twice.
#[derive(serde::Serialize, serde::Deserialize)]
struct HeldLabel {
    app: String,
    key: HeldKey,
    shown: String,
    data: serde_json::Value,
}

impl Held {
    /// Its label in the fd holder.
    fn label(&self, app: &str) -> Option<String> {
        let l = HeldLabel {
            app: app.to_string(),
            key: self.key.clone(),
            shown: self.shown.clone(),
            data: self.data.clone(),
        };
        serde_json::to_string(&l).ok().map(|j| format!("n:{j}"))
    }

    /// A socket stored under `label` by an earlier daemon; None for another form.
    pub(super) fn from_label(label: &str, fd: OwnedFd) -> Option<Held> {
        let l: HeldLabel = serde_json::from_str(label.strip_prefix("n:")?).ok()?;
        Some(Held {
            key: l.key,
            shown: l.shown,
            fd,
            data: l.data,
        })
    }
}

/// The app a Node socket's label (`n:<json>`) belongs to.
pub fn held_app(label: &str) -> Option<String> {
    let l: HeldLabel = serde_json::from_str(label.strip_prefix("n:")?).ok()?;
    Some(l.app)
}

impl AppSup {
    /// Every instance stopped by hand (or errored) and no tree of it left: close the
    /// sockets held for the app (its `listen` ones, its Node workers' ones), here and in
    /// the fd holder, so its port is free and refuses connections, as under PM2, instead
    /// of taking them into a backlog nobody accepts from (clients hung). The next spawn
    /// binds them again. Never during a restart, a reload or a crash-restart: an instance
    /// about to run again is not held, and there the port must stay bound.
    pub(super) fn release_sockets_if_down(&mut self) {
        if self.listen.is_none() && self.node_sockets.is_empty() {
            return;
        }
        let down = !self.slots.is_empty()
            && self.slots.iter().all(|s| {
                !s.fsm.running()
                    && match s.fsm.phase {
                        Phase::Stopped => s.fsm.held,
                        Phase::Errored => true,
                        _ => false,
                    }
            });
        if !down {
            return;
        }
        if self.listen.take().is_some() {
            crate::fdstore::forget(&format!("l:{}", self.name()));
        }
        self.store_node_sockets(true);
        self.node_sockets.clear();
        self.dirty = true;
        tracing::info!(
            "app {}: no instance runs: its listening sockets are closed until it starts again",
            self.name()
        );
    }

    /// Store every socket held for Node workers in the fd holder, or (`forget`) close
    /// what it holds of them.
    pub(super) fn store_node_sockets(&self, forget: bool) {
        for h in &self.node_sockets {
            if let Some(label) = h.label(self.name()) {
                if forget {
                    crate::fdstore::forget(&label);
                } else {
                    crate::fdstore::store(&label, &[h.fd.as_fd()]);
                }
            }
        }
    }
}

/// What a requested socket is found again by.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum HeldKey {
    /// A host (None: any) and port; `index` only for port 0 (each port-0 server of a
    /// worker is its own socket, shared with the same server of the other workers).
    Tcp {
        address: Option<String>,
        port: i64,
        index: Option<u64>,
    },
    /// A unix socket's path.
    Unix(String),
}

impl AppSup {
    /// The channel link of this app's spawns: Some for a Node app; its workers share
    /// their ports through pmx in cluster mode only (`exec_mode: Fork` keeps the channel
    /// for `process.send`, as PM2's fork mode does, and shares nothing).
    pub(super) fn node_link(&self, ctx: &mut Context<Self>) -> Option<Link> {
        let spec = &self.parts.spec;
        if !is_node(spec.app.interpreter.as_deref(), &spec.program) {
            return None;
        }
        Some(Link {
            cluster: self.node_workers(),
            listening_is_ready: self.node_workers() && !spec.app.wait_ready,
            app: spec.app.name.clone(),
            ready: ctx.address().recipient(),
            query: ctx.address().recipient(),
        })
    }

    /// Whether this app's instances run as Node cluster workers with pmx as their primary:
    /// a Node app in cluster mode. Its workers share every port they listen on through
    /// pmx from their first spawn, so `list` says `cluster` for it (PM2's `cluster_mode`).
    pub(super) fn node_workers(&self) -> bool {
        let spec = &self.parts.spec;
        spec.app.exec_mode() == pmx_config::ExecMode::Cluster
            && is_node(spec.app.interpreter.as_deref(), &spec.program)
    }

    /// The inherited `listen` socket `q` names: by its fd (3..), its port or its path.
    fn inherited(&self, q: &Query) -> Option<RawFd> {
        let fds = self.listen.as_ref()?.raw_fds();
        if let Some(n) = q.fd {
            return usize::try_from(n - 3)
                .ok()
                .and_then(|i| fds.get(i).copied());
        }
        fds.into_iter().find(|fd| {
            use std::mem::ManuallyDrop;
            use std::os::fd::FromRawFd;
            match q.address_type {
                AddressType::Tcp if q.port > 0 => {
                    // SAFETY: borrowed for getsockname(2) only, never closed (ManuallyDrop).
                    let l = ManuallyDrop::new(unsafe { std::net::TcpListener::from_raw_fd(*fd) });
                    l.local_addr().is_ok_and(|a| i64::from(a.port()) == q.port)
                }
                AddressType::Unix => {
                    // SAFETY: as above.
                    let l = ManuallyDrop::new(unsafe {
                        std::os::unix::net::UnixListener::from_raw_fd(*fd)
                    });
                    let path = l
                        .local_addr()
                        .ok()
                        .and_then(|a| a.as_pathname().map(PathBuf::from));
                    path.is_some() && path == q.address.as_ref().map(PathBuf::from)
                }
                _ => false,
            }
        })
    }

    /// Whether the app runs as a user or group other than the daemon's (`uid`/`gid`).
    fn runs_as_another_user(&self) -> bool {
        let app = &self.parts.spec.app;
        if app.uid.is_none() && app.gid.is_none() {
            return false;
        }
        match super::resolve_user(app.uid.as_deref(), app.gid.as_deref()) {
            Ok(who) => {
                who.uid
                    .is_some_and(|u| u != nix::unistd::geteuid().as_raw())
                    || who
                        .gid
                        .is_some_and(|g| g != nix::unistd::getegid().as_raw())
            }
            Err(_) => true,
        }
    }

    /// The socket for `q`: inherited, held, or bound now. Errors: a libuv errno.
    fn query_server(&mut self, q: Query) -> Result<Lent, i32> {
        let name = self.parts.spec.app.name.clone();
        let dup = |fd: RawFd| {
            nix::unistd::dup(fd)
                .map(|d| {
                    // SAFETY: a descriptor dup(2) just made, owned by nobody else.
                    unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(d) }
                })
                .map_err(|e| -(e as i32))
        };
        if q.address_type == AddressType::Udp {
            tracing::warn!("app {name}: a cluster worker's UDP socket is not shared by pmx");
            return Err(-libc::ENOTSUP);
        }
        // `{fd}` names the worker's own descriptors: only the listen sockets pmx passed.
        if self.listen.is_none() && !self.parts.spec.app.listen.is_empty() {
            // Bound at the first spawn; a query comes from a spawned process.
            let _ = self.listen_sockets();
        }
        if let Some(fd) = self.inherited(&q) {
            return Ok(Lent {
                fd: dup(fd)?,
                data: q.data,
            });
        }
        if q.fd.is_some() {
            return Err(-libc::EBADF);
        }
        let key = match q.address_type {
            AddressType::Unix => HeldKey::Unix(q.address.clone().unwrap_or_default()),
            _ => HeldKey::Tcp {
                address: q.address.clone(),
                port: q.port,
                index: (q.port == 0).then_some(q.index),
            },
        };
        if let Some(h) = self.node_sockets.iter().find(|h| h.key == key) {
            return Ok(Lent {
                fd: dup(h.fd.as_fd().as_raw_fd())?,
                data: h.data.clone(),
            });
        }
        if self.runs_as_another_user() {
            // pmx binds as the daemon's user: an app that runs as someone else gets only
            // what it could bind itself (a port ≥ 1024); a privileged port or a unix path
            // (created with the daemon's rights) must be declared in `listen`.
            let privileged = match &key {
                HeldKey::Unix(_) => true,
                HeldKey::Tcp { port, .. } => (1..1024).contains(port),
            };
            if privileged {
                tracing::warn!(
                    "app {name}: not binding {} for an app that runs as another user:                      declare it in `listen`",
                    shown(&key)
                );
                return Err(-libc::EACCES);
            }
        }
        let fd = bind(&key).map_err(|e| {
            tracing::warn!("app {name}: {e}");
            -errno_of(&e)
        })?;
        let mut at = shown(&key);
        if matches!(key, HeldKey::Tcp { port: 0, .. }) {
            // SAFETY: borrowed for getsockname(2) only, never closed (ManuallyDrop).
            let l = std::mem::ManuallyDrop::new(unsafe {
                <std::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd.as_raw_fd())
            });
            if let Ok(a) = l.local_addr() {
                at = format!("{at} (port {})", a.port());
            }
        }
        tracing::info!("app {name}: listening on {at} for its instances");
        let lent = Lent {
            fd: dup(fd.as_raw_fd())?,
            data: q.data.clone(),
        };
        let held = Held {
            key,
            shown: at,
            fd,
            data: q.data,
        };
        if let Some(label) = held.label(&name) {
            crate::fdstore::store(&label, &[held.fd.as_fd()]);
        }
        self.node_sockets.push(held);
        // `list` says `cluster` from now on.
        self.dirty = true;
        self.report();
        Ok(lent)
    }
}

/// `key` as the user would write it in `listen`.
fn shown(key: &HeldKey) -> String {
    match key {
        HeldKey::Unix(p) => format!("unix:{p}"),
        HeldKey::Tcp { address, port, .. } => match address.as_deref() {
            None => format!("tcp://*:{port}"),
            Some(a) if a.contains(':') => format!("tcp://[{a}]:{port}"),
            Some(a) => format!("tcp://{a}:{port}"),
        },
    }
}

/// Bind the socket `key` asks for as Node's primary does (`net._createServerHandle`): any
/// address is `::` (dual stack) then `0.0.0.0`.
/// The errno a Node worker gets for a bind that failed with `e` (positive; the reply
/// negates it): the OS's own when `e` carries it, else the one its kind stands for, so
/// the worker says `EADDRINUSE` as plain Node would, not `EINVAL`.
fn errno_of(e: &std::io::Error) -> i32 {
    use std::io::ErrorKind::*;
    e.raw_os_error().unwrap_or(match e.kind() {
        AddrInUse => libc::EADDRINUSE,
        AddrNotAvailable => libc::EADDRNOTAVAIL,
        PermissionDenied => libc::EACCES,
        NotFound => libc::ENOENT,
        _ => libc::EINVAL,
    })
}

fn bind(key: &HeldKey) -> std::io::Result<OwnedFd> {
    let one = |addr: String| {
        crate::os::listen::bind_one(&addr)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
    };
    match key {
        HeldKey::Unix(p) => one(format!("unix:{p}")),
        HeldKey::Tcp {
            address: None,
            port,
            ..
        } => one(format!("tcp://[::]:{port}")).or_else(|_| one(format!("tcp://0.0.0.0:{port}"))),
        HeldKey::Tcp { .. } => one(shown(key)),
    }
}

impl Handler<QueryServer> for AppSup {
    type Result = Result<Lent, i32>;
    fn handle(&mut self, QueryServer(q): QueryServer, _: &mut Context<Self>) -> Self::Result {
        self.query_server(q)
    }
}

#[cfg(test)]
mod tests {
    use super::errno_of;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_failed_bind_reaches_a_node_worker_as_the_errno_node_would_say() {
        let cases = [
            // What bind_one's wrapped error carries (its kind, not the OS code).
            (
                Error::new(ErrorKind::AddrInUse, "cannot listen"),
                libc::EADDRINUSE,
            ),
            (Error::new(ErrorKind::PermissionDenied, "x"), libc::EACCES),
            (
                Error::new(ErrorKind::AddrNotAvailable, "x"),
                libc::EADDRNOTAVAIL,
            ),
            (Error::other("x"), libc::EINVAL),
            // The OS's own code wins when there is one.
            (Error::from_raw_os_error(libc::EADDRINUSE), libc::EADDRINUSE),
            (Error::from_raw_os_error(libc::EMFILE), libc::EMFILE),
        ];
        for (e, want) in cases {
            assert_eq!(errno_of(&e), want, "{e}");
        }
    }
}
