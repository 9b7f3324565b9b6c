//! Readiness over systemd's notify protocol (`sd_notify(3)`, SPEC §5): the daemon binds
//! ONE abstract unix datagram socket, `@pmx-<home tag>-notify`, with `SO_PASSCRED`, and
//! every spawn of an app with `wait_ready` gets `NOTIFY_SOCKET=@pmx-<home tag>-notify`
//! (a prepared entry of its `SpawnSpec`: nothing per spawn). Any language can say
//! `READY=1` on it (Python's `socket.sendto`, `sdnotify`, Go's `daemon.SdNotify`,
//! `systemd-notify --ready` from a shell script, in fork or cluster mode).
//!
//! The [`Readiness`] actor reads it as a stream on the supervision arbiter (no thread, no
//! polling). A datagram counts only when it holds a line `READY=1` and comes from a
//! process of an instance's own tree, judged from what the kernel says, never from the
//! payload:
//! 1. the sender's pid comes from the kernel's credentials (`SCM_CREDENTIALS`);
//! 2. its environment (`/proc/<pid>/environ`) carries this daemon's tree marker
//!    `PMX_TREE=<home tag>:<id>:<generation>`: that names the instance and the process;
//! 3. the sender descends (by the `/proc` ppid chain, itself included) from a main
//!    process this daemon spawned (a pid registered in the Reaper's table, a child of the
//!    daemon) that carries the very same marker.
//!
//! Anything else is ignored with a debug line in `pmx.log`: a process outside the tree
//! that copied the marker into its own environment fails 3; a descendant that was
//! orphaned (its chain reaches the daemon through the subreaper, not through the main
//! process) fails 3 too; a sender that exits before its datagram is read (a short-lived
//! `systemd-notify` whose parent does not wait) cannot be checked and is ignored — the
//! `listen_timeout` then makes the instance `online` (systemd has the same race and
//! solves it with cgroups; pmx will when it has one per instance). Other sd_notify lines
//! (`STATUS=`, `MAINPID=`, `WATCHDOG=1`, `STOPPING=1`, `FDSTORE=1`) are ignored for now;
//! descriptors passed with a datagram are closed at once.
//!
//! An accepted READY goes to the Root as [`Notified`], which hands it to the App
//! supervisor owning the id; the App feeds `Event::Ready{generation}` to that instance.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram as StdDatagram};
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};

use actix::prelude::*;
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, UnixCredentials};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

use crate::home::{Home, HomeTag};
use crate::os::MARKER_VAR;
use crate::reaper::SharedPids;

/// The environment variable sd_notify clients read (`sd_notify(3)`).
pub const NOTIFY_VAR: &str = "NOTIFY_SOCKET";

/// The most a ppid chain is walked up, from the sender to the daemon (a deeper tree is
/// not one pmx recognises).
const MAX_DEPTH: usize = 64;

/// The largest datagram read (sd_notify messages are a few short lines); a longer one is
/// cut, its `READY=1` still found when it comes first.
const MAX_DATAGRAM: usize = 4096;

/// The abstract socket's name for `home`, without the leading NUL: `pmx-<tag>-notify`.
pub fn socket_name(home: &Home) -> String {
    format!("pmx-{}-notify", home.tag())
}

/// The `NOTIFY_SOCKET` value for `home`: `@pmx-<tag>-notify` (`@`: the abstract
/// namespace, so no path length limit and nothing on disk).
pub fn socket_env(home: &Home) -> String {
    format!("@{}", socket_name(home))
}

/// An accepted `READY=1` of the process `generation` of the instance with id `id`: sent
/// to the Root, which forwards it to the App supervisor owning the id.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Notified {
    /// The instance's id (as listed).
    pub id: u64,
    /// The generation of the process tree it came from.
    pub generation: u64,
}

/// The readiness listener: the socket's stream, and what it checks senders against.
pub struct Readiness {
    sock: Option<UnixDatagram>,
    tag: String,
    pids: SharedPids,
    daemon: i32,
    to: Recipient<Notified>,
}

impl Readiness {
    /// Bind the notify socket of `home` (`@pmx-<tag>-notify`, `SO_PASSCRED`), whose
    /// accepted READYs go to `to`. Must run inside the actix system (a tokio reactor).
    ///
    /// Errors: the name is taken (another daemon of the same home in another network
    /// namespace, say) or the socket cannot be made.
    pub fn bind(home: &Home, pids: SharedPids, to: Recipient<Notified>) -> io::Result<Readiness> {
        let addr = SocketAddr::from_abstract_name(socket_name(home).as_bytes())?;
        let std = StdDatagram::bind_addr(&addr)?;
        socket::setsockopt(&std, sockopt::PassCred, &true).map_err(io::Error::from)?;
        std.set_nonblocking(true)?;
        Ok(Readiness {
            sock: Some(UnixDatagram::from_std(std)?),
            tag: home.tag(),
            pids,
            daemon: std::process::id() as i32,
            to,
        })
    }

    /// Whether the process `pid`, which claims the tree `marker`, belongs to it: it or an
    /// ancestor below the daemon is a registered main process carrying `marker`.
    fn in_tree(&self, pid: i32, marker: &str) -> bool {
        let pids = self.pids.borrow();
        owner_in_chain(pid, self.daemon, &|p| ppid_of(p), &|p| {
            pids.is_registered(p) && crate::os::has_marker(p, marker)
        })
    }

    fn receive(&self, d: Datagram) {
        let Some(pid) = d.pid.filter(|p| *p > 0) else {
            tracing::debug!("notify socket: a datagram without credentials, ignored");
            return;
        };
        if !says_ready(&d.payload) {
            tracing::debug!("notify socket: pid {pid} sent no READY=1, ignored");
            return;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let Some((id, generation)) = marker_of(&environ, &self.tag) else {
            tracing::debug!("notify socket: READY=1 from pid {pid}, not of an instance: ignored");
            return;
        };
        let marker = format!("{}:{id}:{generation}", self.tag);
        if !self.in_tree(pid, &marker) {
            tracing::debug!(
                "notify socket: READY=1 from pid {pid} claiming id {id} (generation \
                 {generation}), outside that tree: ignored"
            );
            return;
        }
        self.to.do_send(Notified { id, generation });
    }
}

impl Actor for Readiness {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(sock) = self.sock.take() {
            ctx.add_stream(Datagrams { sock });
        }
    }
}

impl StreamHandler<io::Result<Datagram>> for Readiness {
    fn handle(&mut self, d: io::Result<Datagram>, _: &mut Context<Self>) {
        match d {
            Ok(d) => self.receive(d),
            Err(e) => tracing::warn!("notify socket: {e}"),
        }
    }
}

/// One datagram: the sender's pid (the kernel's credentials) and the bytes.
struct Datagram {
    pid: Option<i32>,
    payload: Vec<u8>,
}

/// The socket as a stream of datagrams: woken by the reactor, never polled.
struct Datagrams {
    sock: UnixDatagram,
}

impl Stream for Datagrams {
    type Item = io::Result<Datagram>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let sock = &self.sock;
        loop {
            if let Err(e) = ready!(sock.poll_recv_ready(cx)) {
                return Poll::Ready(Some(Err(e)));
            }
            match sock.try_io(Interest::READABLE, || recv(sock.as_raw_fd())) {
                Ok(d) => return Poll::Ready(Some(Ok(d))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

/// One `recvmsg` with the sender's credentials; descriptors passed along are closed.
fn recv(fd: i32) -> io::Result<Datagram> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut cmsg = nix::cmsg_space!(UnixCredentials, [i32; 8]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = socket::recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let len = msg.bytes;
    let mut pid = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::ScmCredentials(cred) => pid = Some(cred.pid()),
            ControlMessageOwned::ScmRights(fds) => {
                for fd in fds {
                    // SAFETY: received just now, owned by nobody else in the daemon.
                    drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
                }
            }
            _ => {}
        }
    }
    buf.truncate(len);
    Ok(Datagram { pid, payload: buf })
}

/// Whether an sd_notify payload holds the line `READY=1` (newline-separated
/// assignments, `sd_notify(3)`).
pub fn says_ready(payload: &[u8]) -> bool {
    payload.split(|b| *b == b'\n').any(|l| l == b"READY=1")
}

/// The (id, generation) of the marker `PMX_TREE=<tag>:<id>:<generation>` in a
/// NUL-separated environment block, when its tag is `tag`.
pub fn marker_of(environ: &[u8], tag: &str) -> Option<(u64, u64)> {
    let prefix = format!("{MARKER_VAR}={tag}:");
    let kv = environ
        .split(|b| *b == 0)
        .find(|kv| kv.starts_with(prefix.as_bytes()))?;
    let rest = std::str::from_utf8(&kv[prefix.len()..]).ok()?;
    let (id, generation) = rest.split_once(':')?;
    Some((id.parse().ok()?, generation.parse().ok()?))
}

/// Walk up from `pid` (itself included) by `ppid` until the daemon: true when the
/// process just below the daemon passes `is_main` (a registered main process carrying
/// the claimed marker). A chain that ends elsewhere (pid 1, a process gone) or runs
/// deeper than [`MAX_DEPTH`] is false.
pub fn owner_in_chain(
    pid: i32,
    daemon: i32,
    ppid: &dyn Fn(i32) -> Option<i32>,
    is_main: &dyn Fn(i32) -> bool,
) -> bool {
    let mut p = pid;
    for _ in 0..MAX_DEPTH {
        let Some(parent) = ppid(p) else {
            return false;
        };
        if parent == daemon {
            return is_main(p);
        }
        if parent <= 1 {
            return false;
        }
        p = parent;
    }
    false
}

/// The parent of `pid` from `/proc/<pid>/stat` (the field after the parenthesised name,
/// which may itself hold spaces and parentheses).
fn ppid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    fields.next()?; // state
    fields.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn ready_is_one_line_among_others() {
        let cases: [(&[u8], bool); 7] = [
            (b"READY=1", true),
            (b"STATUS=warming up\nREADY=1\n", true),
            (b"READY=1\nSTATUS=ok", true),
            (b"READY=0", false),
            (b"STATUS=READY=1", false),
            (b"READY=10", false),
            (b"", false),
        ];
        for (p, want) in cases {
            assert_eq!(says_ready(p), want, "{:?}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn the_marker_names_id_and_generation_only_under_this_daemons_tag() {
        let env = b"PATH=/bin\0PMX_TREE=abc:7:42\0HOME=/root\0";
        assert_eq!(marker_of(env, "abc"), Some((7, 42)));
        assert_eq!(marker_of(env, "other"), None);
        assert_eq!(marker_of(b"PMX_TREE=abc:x:1\0", "abc"), None);
        assert_eq!(marker_of(b"PMX_TREE=abc:1\0", "abc"), None);
        assert_eq!(marker_of(b"XPMX_TREE=abc:1:2\0", "abc"), None);
        assert_eq!(marker_of(b"", "abc"), None);
    }

    #[test]
    fn only_a_descendant_of_a_main_process_carrying_the_marker_is_in_the_tree() {
        // daemon 10; main process 20 (registered, marked); its child 21 and grandchild 22
        // (setsid'd or not, the chain holds); 30: an orphan adopted by the daemon; 40: a
        // process of another session (the test itself) whose parent is 1; 50 under the
        // unmarked main process 60.
        let parents: HashMap<i32, i32> = [
            (20, 10),
            (21, 20),
            (22, 21),
            (30, 10),
            (40, 1),
            (41, 40),
            (60, 10),
            (50, 60),
        ]
        .into_iter()
        .collect();
        let ppid = |p: i32| parents.get(&p).copied();
        let is_main = |p: i32| p == 20;
        let cases = [
            (20, true),
            (21, true),
            (22, true),
            (30, false),
            (40, false),
            (41, false),
            (50, false),
            (99, false),
        ];
        for (pid, want) in cases {
            assert_eq!(owner_in_chain(pid, 10, &ppid, &is_main), want, "pid {pid}");
        }
        // A loop in a lying table ends at the depth bound.
        let looped = |p: i32| Some(if p == 70 { 71 } else { 70 });
        assert!(!owner_in_chain(70, 10, &looped, &|_| true));
    }
}
