//! The listening sockets of a cluster-mode app (SPEC §6): bound once by its App
//! supervisor and lent to every spawn of every instance as fds 3.., with systemd's
//! socket-activation variables (`sd_listen_fds(3)`: `LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`), so any language can serve on them (Go's and Rust's listenfd,
//! Python's `socket.fromfd(3, …)`, gunicorn `--bind fd://3`, uvicorn `--fd 3`). The
//! daemon never accepts on them: it only holds them, so a crashed or restarting instance
//! never leaves the port unbound while the others serve.

use std::ffi::CString;
use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// The backlog of every socket pmx binds: the kernel caps it at `net.core.somaxconn`
/// (4096 on current kernels). std's own 128 drops connections under a burst while every
/// instance is busy; systemd's default for socket units is `SOMAXCONN` too.
const BACKLOG: libc::c_int = libc::SOMAXCONN;

/// An app's bound sockets, in the order of its `listen` list, and the prepared
/// `LISTEN_FDNAMES=` entry naming them. Dropping it closes them.
pub struct ListenSockets {
    fds: Vec<OwnedFd>,
    /// `LISTEN_FDNAMES=<name>:<name>…`: the app's name for each socket (SPEC §6's default).
    names: CString,
}

impl ListenSockets {
    /// Bind every address of `listen` (`tcp://host:port`, `unix:/path`, as validated by
    /// `pmx_config::validate_listen`) for the app `name`.
    ///
    /// Errors: an address that does not resolve or cannot be bound (in use, a privileged
    /// port, a unix path whose directory is missing or that another process serves),
    /// with the address in the message.
    pub fn bind(listen: &[String], name: &str) -> io::Result<ListenSockets> {
        let mut fds = Vec::with_capacity(listen.len());
        for addr in listen {
            let fd = bind_one(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            fds.push(fd);
        }
        // A name may not hold ':' (the separator) nor NUL; app names hold neither.
        let names = vec![name; listen.len()].join(":");
        let names = CString::new(format!("LISTEN_FDNAMES={names}"))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the name"))?;
        Ok(ListenSockets { fds, names })
    }

    /// Sockets bound before (by an earlier daemon, taken back from the fd holder), in
    /// `listen` order, for the app `name`.
    ///
    /// Errors: a NUL in the name.
    pub fn from_fds(fds: Vec<OwnedFd>, name: &str) -> io::Result<ListenSockets> {
        let names = vec![name; fds.len()].join(":");
        let names = CString::new(format!("LISTEN_FDNAMES={names}"))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the name"))?;
        Ok(ListenSockets { fds, names })
    }

    /// The descriptors as borrowed, to store them in the fd holder.
    pub fn fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.fds.iter().map(|f| f.as_fd()).collect()
    }

    /// The descriptors, in `listen` order (a spawn's fds 3..).
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.fds.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// The `LISTEN_FDNAMES=` entry for a spawn's environment.
    pub fn names_entry(&self) -> &std::ffi::CStr {
        &self.names
    }
}

/// One socket (`tcp://host:port` or `unix:/path`), listening, with pmx's backlog.
///
/// Errors: the address does not resolve or cannot be bound.
pub(crate) fn bind_one(addr: &str) -> io::Result<OwnedFd> {
    let fd: OwnedFd = if let Some(path) = addr.strip_prefix("unix:") {
        let path = Path::new(path.strip_prefix("//").unwrap_or(path));
        remove_stale_socket(path)?;
        UnixListener::bind(path)?.into()
    } else {
        let rest = addr.strip_prefix("tcp://").unwrap_or(addr);
        // `[::1]:80` and `host:80` both resolve as written.
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host resolves to nothing");
        let mut bound = None;
        for sa in rest.to_socket_addrs()? {
            match TcpListener::bind(sa) {
                Ok(l) => {
                    bound = Some(l);
                    break;
                }
                Err(e) => last = e,
            }
        }
        bound.ok_or(last)?.into()
    };
    // SAFETY: listen(2) on a socket this function owns; a second listen only raises the
    // backlog.
    if unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A unix socket file left by a process that is gone (nothing accepts on it) is removed
/// before binding, as systemd does for its socket units' `RemoveOnStop`-less leftovers —
/// only one of pmx's own user or root: another user's socket (in `/tmp`, say) is theirs
/// to remove. A path another process serves, or a file that is not a socket, is left
/// alone (the bind then fails with "address in use").
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.file_type().is_socket() || (meta.uid() != me && meta.uid() != 0) {
        return Ok(());
    }
    match UnixStream::connect(path) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_tcp_socket_is_bound_once_and_accepts_through_any_copy() {
        let s = ListenSockets::bind(&["tcp://127.0.0.1:0".to_string()], "web").expect("bind");
        assert_eq!(s.names_entry().to_bytes(), b"LISTEN_FDNAMES=web");
        let fd = s.raw_fds()[0];
        // SAFETY: a duplicate this test owns (as a child's fd 3 would be).
        let dup = unsafe { libc::dup(fd) };
        assert!(dup >= 0);
        // SAFETY: `dup` is a fresh descriptor owned by nobody else.
        let listener = unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(dup) };
        let port = listener.local_addr().expect("addr").port();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.write_all(b"hi").expect("write");
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 2];
        conn.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn a_stale_unix_socket_is_replaced_and_a_served_one_is_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).expect("first"));
        let addr = format!("unix:{}", path.display());
        let two = ListenSockets::bind(&[addr.clone(), addr.clone()], "api");
        // The second address of one list is the first one's path, now served: refused.
        let err = two.err().expect("the second bind of one path fails");
        assert!(err.to_string().contains(&addr), "{err}");
        let one = ListenSockets::bind(std::slice::from_ref(&addr), "api").expect("stale replaced");
        assert_eq!(one.raw_fds().len(), 1);
        UnixStream::connect(&path).expect("served");
    }

    #[test]
    fn a_port_in_use_names_the_address() {
        let held = TcpListener::bind("127.0.0.1:0").expect("hold");
        let addr = format!("tcp://{}", held.local_addr().expect("addr"));
        let err = ListenSockets::bind(std::slice::from_ref(&addr), "x")
            .err()
            .expect("in use");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot listen on {addr}")),
            "{err}"
        );
    }
}
