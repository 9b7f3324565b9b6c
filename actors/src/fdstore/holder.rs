//! The fd holder itself (`pmx __fdholder`): a tiny blocking process that keeps
//! descriptors alive across a death or an update of the daemon that stored them, as s6's
//! `s6-fdholder` and systemd's fd store (`FDSTORE=1`) do. No actix, no tokio, no thread:
//! one `poll(2)` loop over its listening socket (fd 3, bound by the daemon, 0600) and its
//! clients. A client is accepted only when its peer credentials (`SO_PEERCRED`) name the
//! holder's own uid.
//!
//! The protocol, one `SOCK_SEQPACKET` datagram per message (first byte: the operation):
//! - `S<label>` with descriptors (`SCM_RIGHTS`): hold them under `label` (replacing what
//!   it held under that label);
//! - `D<label>`: close what it holds under `label`;
//! - `L`: list: one datagram `E<label>` with its descriptors per entry, then `.`;
//! - `Q`: exit (the daemon's clean end: `pmx kill`).
//!
//! It exits on `Q` only: its listening socket stays, so the next daemon finds it.

use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    accept, getsockopt, recvmsg, sendmsg, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
};

/// The most descriptors one message carries (an app's `listen` list is stored as one).
pub const MAX_FDS: usize = 64;
/// The longest message (an operation byte and a label).
pub const MAX_MSG: usize = 4096;

/// Receive one message on `fd`: its bytes and the descriptors it carried. Ok(None) at the
/// peer's end.
///
/// Errors: the socket's.
pub fn recv(fd: RawFd) -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_MSG];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (n, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(list) = c {
                // SAFETY: the kernel just gave these descriptors to this process.
                fds.extend(list.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }));
            }
        }
        (msg.bytes, fds)
    };
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    buf.truncate(n);
    Ok(Some((buf, fds)))
}

/// Send one message with `fds` on `fd`.
///
/// Errors: the socket's (EPIPE once the peer is gone).
pub fn send(fd: RawFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let iov = [IoSlice::new(bytes)];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(fd, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => return Ok(()),
        }
    }
}

/// Serve on `listener` (a listening `SOCK_SEQPACKET` unix socket) until told to quit.
/// Answers the process's exit code.
pub fn serve(listener: OwnedFd) -> i32 {
    // Descriptors are what it holds: take as many as the hard limit allows.
    if let Ok((soft, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        if soft < hard {
            let _ = nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_NOFILE,
                hard,
                hard,
            );
        }
    }
    let me = nix::unistd::getuid().as_raw();
    let mut held: BTreeMap<Vec<u8>, Vec<OwnedFd>> = BTreeMap::new();
    let mut clients: Vec<OwnedFd> = Vec::new();
    loop {
        let mut polls: Vec<libc::pollfd> = std::iter::once(&listener)
            .chain(clients.iter())
            .map(|f| libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `polls` is a valid array of pollfd of that length.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue; // EINTR
        }
        if polls[0].revents & libc::POLLIN != 0 {
            if let Ok(c) = accept(listener.as_raw_fd()) {
                // SAFETY: accept just returned this descriptor.
                let c = unsafe { OwnedFd::from_raw_fd(c) };
                let ours = getsockopt(&c, sockopt::PeerCredentials).is_ok_and(|p| p.uid() == me);
                if ours {
                    clients.push(c);
                }
            }
        }
        let mut gone = Vec::new();
        for (k, p) in polls.iter().enumerate().skip(1) {
            if p.revents == 0 {
                continue;
            }
            let fd = clients[k - 1].as_raw_fd();
            match recv(fd) {
                Ok(Some((msg, fds))) => match msg.first() {
                    Some(b'S') => {
                        held.insert(msg[1..].to_vec(), fds);
                    }
                    Some(b'D') => {
                        held.remove(&msg[1..]);
                    }
                    Some(b'L') => {
                        for (label, fds) in &held {
                            let mut m = Vec::with_capacity(label.len() + 1);
                            m.push(b'E');
                            m.extend_from_slice(label);
                            let b: Vec<BorrowedFd> = fds.iter().map(|f| f.as_fd_ref()).collect();
                            let _ = send(fd, &m, &b);
                        }
                        let _ = send(fd, b".", &[]);
                    }
                    Some(b'Q') => return 0,
                    _ => {}
                },
                Ok(None) | Err(_) => gone.push(k - 1),
            }
        }
        for k in gone.into_iter().rev() {
            clients.remove(k);
        }
    }
}

/// `as_fd` under a name that does not clash with the trait in scope.
trait AsFdRef {
    fn as_fd_ref(&self) -> BorrowedFd<'_>;
}

impl AsFdRef for OwnedFd {
    fn as_fd_ref(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.as_fd()
    }
}
