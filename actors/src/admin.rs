//! Admin server actor: owns the listening socket `$PMX_HOME/pmx.sock`; for each client
//! that passes the peer-credential check (the socket's owner or root) it starts a
//! [`Session`] actor. Anyone else is closed without a reply, and the attempt is logged.
//!
//! A Session owns one connection: it reads request lines (at most 1 MiB each; a longer
//! line gets `too_large` and the rest of it is discarded), requires the hello first,
//! answers every request in order with its id, and after `subscribe` streams events.
//! A half-sent line only ever waits in its own session.

use std::time::Duration;

use actix::prelude::*;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::events::{EventBus, Subscribe};
use crate::protocol::{
    parse_request, ApiError, ErrorCode, HelloReply, Reply, Request, MAX_LINE, PROTOCOL_VERSION,
    VERSION,
};
use crate::root::{Api, Root, StopAll};

/// The Admin server actor.
pub struct AdminServer {
    listener: Option<UnixListener>,
    root: Addr<Root>,
    bus: Addr<EventBus>,
    owner_uid: u32,
}

impl AdminServer {
    /// A server accepting on `listener` for the user `owner_uid` (and root).
    pub fn new(
        listener: UnixListener,
        root: Addr<Root>,
        bus: Addr<EventBus>,
        owner_uid: u32,
    ) -> Self {
        AdminServer {
            listener: Some(listener),
            root,
            bus,
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
                actix_rt::spawn(session(stream, root, bus));
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

/// Read the next line into `line`, at most [`MAX_LINE`] bytes kept. Returns Ok(false) at
/// EOF with nothing read, Ok(true) for a line; `too_long` tells whether it was cut.
async fn read_line(
    stream: &mut tokio::net::unix::OwnedReadHalf,
    buf: &mut Vec<u8>,
    line: &mut Vec<u8>,
    too_long: &mut bool,
) -> std::io::Result<bool> {
    line.clear();
    *too_long = false;
    loop {
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let rest = buf.split_off(pos + 1);
            let mut head = std::mem::replace(buf, rest);
            head.pop();
            if line.len() + head.len() > MAX_LINE {
                *too_long = true;
            } else {
                line.extend_from_slice(&head);
            }
            return Ok(true);
        }
        // No newline yet: keep what fits, discard the rest of an overlong line.
        if line.len() + buf.len() > MAX_LINE {
            *too_long = true;
            line.clear();
            buf.clear();
        } else if !*too_long {
            line.append(buf);
        } else {
            buf.clear();
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            // EOF: a last line without newline still counts (an overlong one gets its
            // `too_large`).
            if *too_long || !line.is_empty() {
                return Ok(true);
            }
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One client connection: the Session (a task on the supervision arbiter; it only awaits
/// the Root's answers and its socket).
async fn session(stream: UnixStream, root: Addr<Root>, bus: Addr<EventBus>) {
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = Vec::new();
    let mut line = Vec::new();
    let mut too_long = false;
    let mut hello = false;
    loop {
        match read_line(&mut rd, &mut buf, &mut line, &mut too_long).await {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
        let reply = if too_long {
            Reply::err(
                None,
                ApiError::new(
                    ErrorCode::TooLarge,
                    format!("request line is over {MAX_LINE} bytes"),
                ),
            )
        } else if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        } else {
            // A large request (many app specs) leaves freed heap behind: trimmed after it.
            let large = line.len() > 64 * 1024;
            match parse_request(&line) {
                Err(reply) => reply,
                Ok(env) => match env.request {
                    Request::Hello {
                        protocol_version, ..
                    } => {
                        if protocol_version == PROTOCOL_VERSION {
                            hello = true;
                            Reply::ok(
                                env.id,
                                serde_json::to_value(HelloReply {
                                    protocol_version: PROTOCOL_VERSION,
                                    version: VERSION.into(),
                                })
                                .unwrap_or(Value::Null),
                            )
                        } else {
                            hello = false;
                            Reply::err(
                                Some(env.id),
                                ApiError::new(
                                    ErrorCode::VersionMismatch,
                                    format!(
                                        "protocol version {protocol_version} is not the daemon's {PROTOCOL_VERSION} (daemon pmx {VERSION})"
                                    ),
                                ),
                            )
                        }
                    }
                    _ if !hello => Reply::err(
                        Some(env.id),
                        ApiError::new(
                            ErrorCode::HelloRequired,
                            "send {\"type\":\"hello\",…} first",
                        ),
                    ),
                    Request::Subscribe { apps, events } => {
                        let rx = match bus.send(Subscribe { apps, events }).await {
                            Ok(rx) => rx,
                            Err(_) => return,
                        };
                        let ack = Reply::ok(env.id, serde_json::json!({"subscribed": true}));
                        if write_reply(&mut wr, &ack).await.is_err() {
                            return;
                        }
                        // Stream until the bus closes or the client goes away (its EOF, so a
                        // gone subscriber is dropped at once, not at its next event).
                        let mut scratch = [0u8; 512];
                        loop {
                            tokio::select! {
                                ev = rx.recv_async() => {
                                    let Ok(mut text) = ev else { return };
                                    text.push('\n');
                                    if wr.write_all(text.as_bytes()).await.is_err() {
                                        return;
                                    }
                                }
                                r = rd.read(&mut scratch) => {
                                    if matches!(r, Ok(0) | Err(_)) {
                                        drop(rx);
                                        bus.do_send(crate::events::Prune);
                                        return;
                                    }
                                }
                            }
                        }
                    }
                    Request::Kill => {
                        let _ = root.send(StopAll).await;
                        let _ = write_reply(
                            &mut wr,
                            &Reply::ok(env.id, serde_json::json!({"killed": true})),
                        )
                        .await;
                        let _ = wr.shutdown().await;
                        crate::daemon::shutdown();
                        return;
                    }
                    request => match root.send(Api(request)).await {
                        Ok(Ok(v)) => {
                            if large {
                                crate::os::trim_heap();
                            }
                            Reply::ok(env.id, v)
                        }
                        Ok(Err(e)) => Reply::err(Some(env.id), e),
                        Err(e) => Reply::err(
                            Some(env.id),
                            ApiError::new(ErrorCode::Internal, e.to_string()),
                        ),
                    },
                },
            }
        };
        if write_reply(&mut wr, &reply).await.is_err() {
            return;
        }
    }
}

async fn write_reply(
    wr: &mut tokio::net::unix::OwnedWriteHalf,
    reply: &Reply,
) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    text.push(b'\n');
    wr.write_all(&text).await
}
