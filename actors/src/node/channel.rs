//! One Node app process's IPC channel: a socketpair per spawn, the child's end at a fixed
//! descriptor after the listen sockets (`NODE_CHANNEL_FD`, JSON serialization), the
//! daemon's end served by [`Channel::serve`], an async task in the Process actor's context
//! on the supervision arbiter (no thread, no polling: it wakes when the socket is
//! readable), which ends with the actor (the tree gone) or at the app's end of the channel.
//!
//! Why no preload: in cluster mode the app is a Node cluster worker (`NODE_UNIQUE_ID`),
//! so Node itself sends every `listen()` (`net.js` `listenInCluster`: a port, a host, a
//! unix path, `{fd}`) to its primary and listens on the handle the answer carries; pmx
//! answers as Node's primary does with `SCHED_NONE` (`shared_handle.js`). Nothing is left
//! that only code inside the app could do. What a worker does that a preload could change
//! is kept as PM2's: a worker exits when its channel closes (the daemon gone), as PM2's
//! workers do when its God daemon dies.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr,
};
use serde_json::{json, Value};
use tokio::io::Interest;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use super::wire::{self, Incoming, Lines};
use super::{Link, QueryServer};
use crate::messages::Ready;

/// How many answers may wait for the app's acknowledgement of a handle before more are
/// dropped (a worker that asks and never reads).
const MAX_QUEUED: usize = 64;

/// How many times a handle the app could not receive (`NODE_HANDLE_NACK`) is sent again,
/// Node's `MAX_HANDLE_RETRANSMISSIONS`.
const MAX_RETRANSMISSIONS: u8 = 3;

/// The daemon's end of a channel, with what it reports to.
pub struct Channel {
    fd: OwnedFd,
    link: Link,
    /// The app's id, for the log.
    id: u64,
    /// Where the Process actor's messages to the app come from ([`Outbox`]).
    inbox: oneshot::Receiver<Value>,
}

/// The Process actor's way to send the app one message (PM2's `'shutdown'`) through the
/// channel's task, so it is written between whole lines, never inside one the task is
/// writing.
pub struct Outbox(oneshot::Sender<Value>);

impl Outbox {
    /// Send `message` to the app. Errors (the message back): the channel is gone (the
    /// app closed its end, or its task ended), so nothing can reach the app this way.
    pub fn send(self, message: Value) -> Result<(), Value> {
        self.0.send(message)
    }
}

/// A channel made for a spawn: the child's end (passed as its fd `NODE_CHANNEL_FD`, then
/// closed here) and the entries of the child's environment.
pub struct Opened {
    /// The child's end.
    pub child: OwnedFd,
    /// `NODE_CHANNEL_FD=<n>`, `NODE_CHANNEL_SERIALIZATION_MODE=json` and, in cluster
    /// mode, `NODE_UNIQUE_ID=<id + 1>`.
    pub env: Vec<CString>,
    /// The daemon's end.
    pub channel: Channel,
    /// Where the Process actor sends the app a message.
    pub outbox: Outbox,
}

/// Make the channel of a spawn whose channel descriptor will be `fd_number` (3 + the
/// number of listen sockets) for the app instance `id`.
///
/// Errors: the socketpair cannot be made (out of descriptors).
pub fn open(link: &Link, id: u64, fd_number: usize) -> io::Result<Opened> {
    let (mine, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let flags = nix::fcntl::fcntl(mine.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(mine.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
    let entry = |s: String| CString::new(s).map_err(|_| io::Error::other("a NUL in a variable"));
    let mut env = vec![
        entry(format!("NODE_CHANNEL_FD={fd_number}"))?,
        entry("NODE_CHANNEL_SERIALIZATION_MODE=json".into())?,
    ];
    if link.cluster {
        // Node's worker ids start at 1 (`cluster.worker.id`, as PM2's workers get).
        env.push(entry(format!("NODE_UNIQUE_ID={}", id + 1))?);
    }
    let (tx, inbox) = oneshot::channel();
    Ok(Opened {
        child: theirs,
        env,
        channel: Channel {
            fd: mine,
            link: link.clone(),
            id,
            inbox,
        },
        outbox: Outbox(tx),
    })
}

/// The daemon's end of a channel an earlier daemon made (`fd`, taken back from the fd
/// holder), for the app instance `id`: served as [`open`]'s is.
pub fn adopt(link: &Link, id: u64, fd: OwnedFd) -> (Channel, Outbox) {
    let (tx, inbox) = oneshot::channel();
    (
        Channel {
            fd,
            link: link.clone(),
            id,
            inbox,
        },
        Outbox(tx),
    )
}

/// What waits to be written: an answer carrying a handle stays until the app
/// acknowledges it (Node's sender queues behind an unacknowledged handle too).
#[derive(Default)]
struct Out {
    /// The line and socket sent, not yet acknowledged, and how often sent again.
    awaiting: Option<(Vec<u8>, OwnedFd, u8)>,
    queue: VecDeque<(Vec<u8>, Option<OwnedFd>)>,
    /// The primary's own `seq`, added to every cluster message it sends.
    seq: u64,
}

impl Channel {
    /// The daemon's end, to store a duplicate in the fd holder.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Serve the channel of the process `generation` of the instance keyed `instance`
    /// until the app closes its end (its process, and any child that inherited it, gone)
    /// or a read fails; dropped with its Process actor.
    pub async fn serve(self, instance: u32, generation: u64) {
        let Channel {
            fd,
            link,
            id,
            inbox,
        } = self;
        let mut inbox = Some(inbox);
        let fd = match UnixStream::from_std(std::os::unix::net::UnixStream::from(fd)) {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!(
                    "app {} id {id}: cannot watch its IPC channel: {e}",
                    link.app
                );
                return;
            }
        };
        let mut lines = Lines::default();
        let mut out = Out::default();
        let mut said_ready = false;
        let mut warned_long = false;
        loop {
            let mut got = Vec::new();
            // A message from the Process actor, or what the app wrote (both cancel-safe:
            // read_some keeps no state across its await).
            let read = match inbox.as_mut() {
                Some(rx) => tokio::select! {
                    r = read_some(&fd, &mut lines, &mut got) => Read::App(r),
                    m = rx => Read::Outbox(m.ok()),
                },
                None => Read::App(read_some(&fd, &mut lines, &mut got).await),
            };
            let read = match read {
                Read::App(r) => r,
                Read::Outbox(m) => {
                    inbox = None;
                    if let Some(m) = m {
                        // Between whole lines: the task writes one line at a time.
                        if let Err(e) = write_all(&fd, &wire::line(&m), None).await {
                            tracing::debug!("app {} id {id}: IPC channel write: {e}", link.app);
                            return;
                        }
                        tracing::info!("app {} id {id}: sent {m} (IPC)", link.app);
                    }
                    continue;
                }
            };
            let (n, dropped) = match read {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("app {} id {id}: IPC channel read: {e}", link.app);
                    return;
                }
            };
            if dropped > 0 && !warned_long {
                warned_long = true;
                tracing::warn!(
                    "app {} id {id}: a message on its IPC channel over {} bytes was dropped \
                     (pmx reads only 'ready' and cluster messages)",
                    link.app,
                    wire::MAX_LINE
                );
            }
            for m in got {
                let r = handle(
                    &fd,
                    &link,
                    id,
                    &mut out,
                    m,
                    &mut said_ready,
                    instance,
                    generation,
                )
                .await;
                if let Err(e) = r {
                    tracing::debug!("app {} id {id}: IPC channel write: {e}", link.app);
                    return;
                }
            }
            if n == 0 {
                return;
            }
        }
    }
}

/// What woke the channel's task.
enum Read {
    /// The app wrote (or closed its end): bytes read and lines dropped.
    App(io::Result<(usize, usize)>),
    /// The Process actor's message (None: its outbox dropped unused).
    Outbox(Option<Value>),
}

/// One message from the app, answered where Node waits for an answer.
#[allow(clippy::too_many_arguments)]
async fn handle(
    fd: &UnixStream,
    link: &Link,
    id: u64,
    out: &mut Out,
    m: Incoming,
    said_ready: &mut bool,
    instance: u32,
    generation: u64,
) -> io::Result<()> {
    match m {
        Incoming::Ready if !*said_ready => {
            *said_ready = true;
            tracing::info!("app {} id {id}: ready (process.send)", link.app);
            link.ready.do_send(Ready {
                instance,
                generation,
            });
        }
        Incoming::Ready => tracing::debug!("app {} id {id}: ready again", link.app),
        Incoming::HandleAck => {
            out.awaiting = None;
            drain(fd, out).await?;
        }
        Incoming::HandleNack => match out.awaiting.take() {
            Some((bytes, sock, n)) if n < MAX_RETRANSMISSIONS => {
                write_all(fd, &bytes, Some(sock.as_raw_fd())).await?;
                out.awaiting = Some((bytes, sock, n + 1));
            }
            Some(_) => {
                tracing::warn!(
                    "app {} id {id}: a listening socket did not reach the process",
                    link.app
                );
                drain(fd, out).await?;
            }
            None => {}
        },
        Incoming::Handle(inner) => {
            // The descriptor that came with it is already closed: pmx keeps no handle
            // from an app. Acknowledged at once (an ACK never waits in the queue), so the
            // app's sends go on.
            write_all(fd, &wire::line(&wire::handle_ack()), None).await?;
            if *inner == Incoming::Ready {
                Box::pin(handle(
                    fd, link, id, out, *inner, said_ready, instance, generation,
                ))
                .await?;
            }
        }
        Incoming::QueryServer(q) => {
            let (seq, key) = (q.seq, q.key());
            let answer = if link.cluster {
                link.query
                    .send(QueryServer(q))
                    .await
                    .unwrap_or(Err(-libc::EIO))
            } else {
                Err(-libc::ENOTSUP)
            };
            out.seq += 1;
            match answer {
                Ok(lent) => {
                    let msg = wire::cluster_reply(
                        seq,
                        out.seq,
                        json!({"errno": 0, "key": key, "data": lent.data}),
                    );
                    send(fd, out, wire::line(&wire::with_handle(msg)), Some(lent.fd)).await?;
                }
                Err(errno) => {
                    let msg = wire::cluster_reply(
                        seq,
                        out.seq,
                        json!({"errno": errno, "key": key, "data": Value::Null}),
                    );
                    send(fd, out, wire::line(&msg), None).await?;
                }
            }
        }
        Incoming::NeedsAck { act, seq } => {
            tracing::debug!("app {} id {id}: cluster {act}", link.app);
            out.seq += 1;
            let msg = wire::cluster_reply(seq, out.seq, json!({}));
            send(fd, out, wire::line(&msg), None).await?;
        }
        // A worker's `listening` (each server it starts says one; a Ready after the first
        // changes nothing). `said_ready` stays for `process.send('ready')`'s own log line.
        Incoming::Notice(act) if act == "listening" && link.listening_is_ready => {
            tracing::debug!("app {} id {id}: ready (listening)", link.app);
            link.ready.do_send(Ready {
                instance,
                generation,
            });
        }
        Incoming::Notice(act) => tracing::debug!("app {} id {id}: cluster {act}", link.app),
        Incoming::Other => tracing::debug!("app {} id {id}: a message pmx ignores", link.app),
    }
    Ok(())
}

/// Send `bytes` (with `sock`) now, or queue them behind a handle not yet acknowledged.
async fn send(
    fd: &UnixStream,
    out: &mut Out,
    bytes: Vec<u8>,
    sock: Option<OwnedFd>,
) -> io::Result<()> {
    if out.awaiting.is_some() {
        if out.queue.len() >= MAX_QUEUED {
            tracing::warn!("an IPC answer dropped: the app acknowledges no handle");
            return Ok(());
        }
        out.queue.push_back((bytes, sock));
        return Ok(());
    }
    write_all(fd, &bytes, sock.as_ref().map(AsRawFd::as_raw_fd)).await?;
    if let Some(sock) = sock {
        out.awaiting = Some((bytes, sock, 0));
    }
    Ok(())
}

/// Send what was queued, up to the next handle.
async fn drain(fd: &UnixStream, out: &mut Out) -> io::Result<()> {
    while out.awaiting.is_none() {
        let Some((bytes, sock)) = out.queue.pop_front() else {
            break;
        };
        write_all(fd, &bytes, sock.as_ref().map(AsRawFd::as_raw_fd)).await?;
        if let Some(sock) = sock {
            out.awaiting = Some((bytes, sock, 0));
        }
    }
    if out.queue.is_empty() {
        out.queue = VecDeque::new();
    }
    Ok(())
}

/// Write `bytes` whole, `sock` with the first part (SCM_RIGHTS).
async fn write_all(fd: &UnixStream, mut bytes: &[u8], sock: Option<RawFd>) -> io::Result<()> {
    let mut sock = sock;
    while !bytes.is_empty() {
        fd.writable().await?;
        let r = fd.try_io(Interest::WRITABLE, || {
            let iov = [IoSlice::new(bytes)];
            let fds: Vec<RawFd> = sock.into_iter().collect();
            let cmsg = [ControlMessage::ScmRights(&fds)];
            let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
            sendmsg::<UnixAddr>(
                fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
                None,
            )
            .map_err(io::Error::from)
        });
        match r {
            Ok(n) => {
                bytes = &bytes[n..];
                sock = None;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read what is there (at most 4 KiB), its lines classified into `got`; answers the
/// bytes read (0: the app closed its end) and the lines dropped as too long. A descriptor
/// the app sent is closed here.
async fn read_some(
    fd: &UnixStream,
    lines: &mut Lines,
    got: &mut Vec<Incoming>,
) -> io::Result<(usize, usize)> {
    loop {
        fd.readable().await?;
        let r = fd.try_io(Interest::READABLE, || {
            let mut buf = [0u8; 4096];
            let n = {
                let mut cmsg = nix::cmsg_space!([RawFd; 4]);
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg = recvmsg::<UnixAddr>(
                    fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
                )
                .map_err(io::Error::from)?;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for f in fds {
                                // SAFETY: a descriptor the kernel just gave this process,
                                // owned by nothing else: closed at once.
                                drop(unsafe { OwnedFd::from_raw_fd(f) });
                            }
                        }
                    }
                }
                msg.bytes
            };
            let dropped = lines.feed(&buf[..n], |l| got.push(wire::classify(l)));
            Ok((n, dropped))
        });
        match r {
            Ok(result) => return Ok(result),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::prelude::*;
    use std::sync::{Arc, Mutex};

    /// The App supervisor's side: records `Ready`, answers a query for port 1 with an error
    /// and any other with a copy of its listening socket.
    struct Primary {
        readies: Arc<Mutex<Vec<(u32, u64)>>>,
        sock: std::net::TcpListener,
    }
    impl Actor for Primary {
        type Context = Context<Self>;
    }
    impl Handler<Ready> for Primary {
        type Result = ();
        fn handle(&mut self, m: Ready, _: &mut Context<Self>) {
            self.readies
                .lock()
                .expect("lock")
                .push((m.instance, m.generation));
        }
    }
    impl Handler<QueryServer> for Primary {
        type Result = Result<super::super::Lent, i32>;
        fn handle(&mut self, QueryServer(q): QueryServer, _: &mut Context<Self>) -> Self::Result {
            if q.port == 1 {
                return Err(-libc::EACCES);
            }
            let fd = self.sock.try_clone().map_err(|_| -libc::EMFILE)?;
            Ok(super::super::Lent {
                fd: fd.into(),
                data: json!("tickets"),
            })
        }
    }

    /// One line from the app's end, and the descriptors that came with it.
    async fn recv(child: &UnixStream, buf: &mut Vec<u8>) -> (Value, Vec<OwnedFd>) {
        let mut fds = Vec::new();
        loop {
            if let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let v = serde_json::from_slice(&line[..nl]).expect("a JSON line");
                return (v, fds);
            }
            let read = tokio::time::timeout(Duration::from_secs(5), child.readable()).await;
            read.expect("an answer in time").expect("readable");
            let r = child.try_io(Interest::READABLE, || {
                let mut b = [0u8; 4096];
                let mut cmsg = nix::cmsg_space!([RawFd; 4]);
                let mut iov = [IoSliceMut::new(&mut b)];
                let msg = recvmsg::<UnixAddr>(
                    child.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
                )
                .map_err(std::io::Error::from)?;
                let mut got = Vec::new();
                for c in msg.cmsgs().expect("cmsgs") {
                    if let ControlMessageOwned::ScmRights(f) = c {
                        got.extend(f);
                    }
                }
                let n = msg.bytes;
                Ok((b[..n].to_vec(), got))
            });
            if let Ok((bytes, got)) = r {
                assert!(!bytes.is_empty(), "the channel closed");
                buf.extend(bytes);
                // SAFETY: descriptors the kernel just gave this test.
                fds.extend(got.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }));
            }
        }
    }

    async fn say(child: &UnixStream, line: &str) {
        write_all(child, format!("{line}\n").as_bytes(), None)
            .await
            .expect("write");
    }

    /// Whether `buf` and the socket hold nothing more after a short while.
    async fn quiet(child: &UnixStream, buf: &[u8]) -> bool {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut b = [0u8; 1];
        let peek = nix::sys::socket::recv(
            child.as_raw_fd(),
            &mut b,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        );
        buf.is_empty() && peek == Err(nix::errno::Errno::EAGAIN)
    }

    use std::time::Duration;

    fn query(seq: u64, port: i64) -> String {
        format!(
            "{{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,\
             \"address\":null,\"port\":{port},\"addressType\":4,\"seq\":{seq}}}"
        )
    }

    #[actix::test]
    async fn a_worker_gets_its_socket_acked_in_order_and_ready_is_reported_once() {
        let readies = Arc::new(Mutex::new(Vec::new()));
        let sock = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = sock.local_addr().expect("addr").port();
        let primary = Primary {
            readies: readies.clone(),
            sock,
        }
        .start();
        let link = Link {
            cluster: true,
            listening_is_ready: false,
            app: "t".into(),
            ready: primary.clone().recipient(),
            query: primary.recipient(),
        };
        let opened = open(&link, 6, 4).expect("open");
        let env: Vec<String> = opened
            .env
            .iter()
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            env,
            [
                "NODE_CHANNEL_FD=4",
                "NODE_CHANNEL_SERIALIZATION_MODE=json",
                "NODE_UNIQUE_ID=7"
            ]
        );
        let child = std::os::unix::net::UnixStream::from(opened.child);
        child.set_nonblocking(true).expect("nonblocking");
        let child = UnixStream::from_std(child).expect("tokio");
        actix::spawn(opened.channel.serve(3, 9));
        let mut buf = Vec::new();

        say(&child, "\"ready\"\n\"ready\"").await;
        say(&child, &format!("{}\n{}", query(5, 3000), query(6, 3001))).await;
        let (first, fds) = recv(&child, &mut buf).await;
        assert_eq!(first["cmd"], "NODE_HANDLE");
        assert_eq!(first["type"], "net.Native");
        assert_eq!(first["msg"]["cmd"], "NODE_CLUSTER");
        assert_eq!(first["msg"]["ack"], 5);
        assert_eq!(first["msg"]["errno"], 0);
        assert_eq!(first["msg"]["key"], "null:3000:4:undefined:0");
        assert_eq!(first["msg"]["data"], "tickets");
        assert_eq!(fds.len(), 1, "the socket came with it");
        let got = std::net::TcpListener::from(fds.into_iter().next().expect("fd"));
        assert_eq!(got.local_addr().expect("addr").port(), port, "pmx's socket");
        // The second answer waits for the app's acknowledgement, as Node's sender does.
        assert!(quiet(&child, &buf).await, "nothing before the ACK");
        // A NACK: the same answer again, with the socket.
        say(&child, "{\"cmd\":\"NODE_HANDLE_NACK\"}").await;
        let (again, fds) = recv(&child, &mut buf).await;
        assert_eq!(again, first);
        assert_eq!(fds.len(), 1);
        say(&child, "{\"cmd\":\"NODE_HANDLE_ACK\"}").await;
        let (second, fds) = recv(&child, &mut buf).await;
        assert_eq!(second["msg"]["ack"], 6);
        assert_eq!(fds.len(), 1);
        say(&child, "{\"cmd\":\"NODE_HANDLE_ACK\"}").await;

        // A refused query: the errno, no handle.
        say(&child, &query(7, 1)).await;
        let (refused, fds) = recv(&child, &mut buf).await;
        assert_eq!(refused["cmd"], "NODE_CLUSTER");
        assert_eq!(refused["ack"], 7);
        assert_eq!(refused["errno"], -libc::EACCES);
        assert!(fds.is_empty());

        // `worker.disconnect()` waits for the answer to exitedAfterDisconnect.
        say(
            &child,
            "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"exitedAfterDisconnect\",\"seq\":8}",
        )
        .await;
        let (ack, _) = recv(&child, &mut buf).await;
        assert_eq!(ack["ack"], 8);

        // A handle the app sends is acknowledged (and closed).
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        let line = b"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":\"x\"}\n";
        write_all(&child, line, Some(a.as_raw_fd()))
            .await
            .expect("write");
        let (hack, _) = recv(&child, &mut buf).await;
        assert_eq!(hack, json!({"cmd": "NODE_HANDLE_ACK"}));

        assert_eq!(*readies.lock().expect("lock"), [(3, 9)], "one Ready");
    }

    #[actix::test]
    async fn a_too_long_line_is_dropped_and_the_channel_serves_on() {
        let readies = Arc::new(Mutex::new(Vec::new()));
        let primary = Primary {
            readies: readies.clone(),
            sock: std::net::TcpListener::bind("127.0.0.1:0").expect("bind"),
        }
        .start();
        let link = Link {
            cluster: false,
            listening_is_ready: false,
            app: "t".into(),
            ready: primary.clone().recipient(),
            query: primary.recipient(),
        };
        let opened = open(&link, 0, 3).expect("open");
        assert_eq!(opened.env.len(), 2, "no NODE_UNIQUE_ID in fork mode");
        let child = std::os::unix::net::UnixStream::from(opened.child);
        child.set_nonblocking(true).expect("nonblocking");
        let child = UnixStream::from_std(child).expect("tokio");
        actix::spawn(opened.channel.serve(0, 1));
        let long = format!("\"{}\"", "x".repeat(wire::MAX_LINE * 3));
        say(&child, &long).await;
        say(&child, "\"ready\"").await;
        for _ in 0..100 {
            if !readies.lock().expect("lock").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*readies.lock().expect("lock"), [(0, 1)]);
        // Not a cluster worker: a query is refused, not answered with a socket.
        let mut buf = Vec::new();
        say(&child, &query(1, 3000)).await;
        let (refused, fds) = recv(&child, &mut buf).await;
        assert_eq!(refused["errno"], -libc::ENOTSUP);
        assert!(fds.is_empty());
        // The Process actor's 'shutdown' arrives as Node frames it, and the channel serves
        // on after it.
        opened
            .outbox
            .send(wire::shutdown())
            .expect("the channel runs");
        let (m, fds) = recv(&child, &mut buf).await;
        assert_eq!(m, json!("shutdown"));
        assert!(fds.is_empty());
        say(&child, &query(2, 3000)).await;
        let (refused, _) = recv(&child, &mut buf).await;
        assert_eq!(refused["ack"], 2);
    }
}
