//! Session actor: owns one admin connection's protocol state — whether the client said
//! hello, whether it subscribed — and answers each request line in order with its id
//! (SPEC §8). A reader task feeds it [`Incoming`] lines (at most 1 MiB each: a longer
//! line gets `too_large` and the rest of it is discarded) and waits for each to be
//! answered; a writer task writes what it sends in order, then events once the connection
//! subscribed. A half-sent line only ever waits in its own reader.

use actix::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::events::{EventBus, Subscribe};
use crate::lifecycle::{Reason, Shutdown};
use crate::protocol::{
    parse_request, ApiError, ErrorCode, HelloReply, Reply, Request, MAX_LINE, PROTOCOL_VERSION,
    VERSION,
};
use crate::root::{Api, Root};

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

/// What the Session hands its writer task, in order.
enum Out {
    /// One reply (or an event of a subscription), without its newline.
    Line(Vec<u8>),
    /// From now on, stream these events (the connection subscribed).
    Events(crate::events::Subscription),
    /// Flush, close the socket, then drop the sender: the Lifecycle ends the daemon once
    /// it is dropped (`kill`).
    Shutdown(tokio::sync::oneshot::Sender<()>),
}

/// Session actor: owns one client connection's protocol state — whether it said hello,
/// whether it subscribed — and answers each request line in order. A reader task feeds it
/// [`Incoming`] lines (at most [`MAX_LINE`] bytes each) and waits for each to be answered;
/// a writer task writes what it sends in order, then events once it subscribed. A
/// half-sent line only ever waits in its own reader.
pub struct Session {
    root: Addr<Root>,
    bus: Addr<EventBus>,
    lifecycle: Recipient<Shutdown>,
    out: flume::Sender<Out>,
    hello: bool,
    subscribed: bool,
}

impl Actor for Session {
    type Context = Context<Self>;
}

/// A request line from the client, or the news that one was too long or the client left.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Incoming {
    /// A whole line, without its newline.
    Line(Vec<u8>),
    /// A line over [`MAX_LINE`] bytes (discarded).
    TooLong,
    /// The client closed the connection.
    Closed,
}

impl Handler<Incoming> for Session {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: Incoming, ctx: &mut Context<Self>) -> Self::Result {
        let line = match msg {
            Incoming::Closed => {
                ctx.stop();
                return Box::pin(fut::ready(()));
            }
            // A subscribed connection takes no more requests.
            _ if self.subscribed => return Box::pin(fut::ready(())),
            Incoming::TooLong => {
                self.reply(&Reply::err(
                    None,
                    ApiError::new(
                        ErrorCode::TooLarge,
                        format!("request line is over {MAX_LINE} bytes"),
                    ),
                ));
                return Box::pin(fut::ready(()));
            }
            Incoming::Line(line) => line,
        };
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Box::pin(fut::ready(()));
        }
        let env = match parse_request(&line) {
            Ok(env) => env,
            Err(reply) => {
                self.reply(&reply);
                return Box::pin(fut::ready(()));
            }
        };
        // A large request, or one that builds or drops apps (their actors, log files and
        // spawns allocate and free in turn), leaves freed heap behind: trimmed after it,
        // so the daemon's resident memory returns to what the apps themselves hold.
        let large = line.len() > 64 * 1024
            || matches!(
                env.request,
                Request::Start(_) | Request::Up(_) | Request::Delete { .. }
            );
        let id = env.id;
        match env.request {
            Request::Hello {
                protocol_version, ..
            } => {
                let reply = if protocol_version == PROTOCOL_VERSION {
                    self.hello = true;
                    Reply::ok_of(
                        id,
                        &HelloReply {
                            protocol_version: PROTOCOL_VERSION,
                            version: VERSION.into(),
                        },
                    )
                } else {
                    self.hello = false;
                    Reply::err(
                        Some(id),
                        ApiError::new(
                            ErrorCode::VersionMismatch,
                            format!(
                                "protocol version {protocol_version} is not the daemon's {PROTOCOL_VERSION} (daemon pmx {VERSION})"
                            ),
                        ),
                    )
                };
                self.reply(&reply);
                Box::pin(fut::ready(()))
            }
            _ if !self.hello => {
                self.reply(&Reply::err(
                    Some(id),
                    ApiError::new(
                        ErrorCode::HelloRequired,
                        "send {\"type\":\"hello\",…} first",
                    ),
                ));
                Box::pin(fut::ready(()))
            }
            Request::Subscribe { apps, events } => Box::pin(
                self.bus
                    .send(Subscribe { apps, events })
                    .into_actor(self)
                    .map(move |rx, act, ctx| match rx {
                        Ok(rx) => {
                            act.subscribed = true;
                            act.reply(&Reply::ok_of(id, &serde_json::json!({"subscribed": true})));
                            let _ = act.out.send(Out::Events(rx));
                        }
                        Err(_) => ctx.stop(),
                    }),
            ),
            // Answered once every app has stopped; the daemon ends once the answer is out.
            Request::Kill => {
                let (answered, until) = tokio::sync::oneshot::channel();
                let stop = self.lifecycle.send(Shutdown {
                    reason: Reason::Kill,
                    until: Some(until),
                });
                Box::pin(stop.into_actor(self).map(move |_, act, _| {
                    act.reply(&Reply::ok_of(id, &serde_json::json!({"killed": true})));
                    let _ = act.out.send(Out::Shutdown(answered));
                }))
            }
            request => Box::pin(self.root.send(Api(request)).into_actor(self).map(
                move |answer, act, _| {
                    let reply = match answer {
                        Ok(Ok(v)) => Reply::ok(id, v),
                        Ok(Err(e)) => Reply::err(Some(id), e),
                        Err(e) => {
                            Reply::err(Some(id), ApiError::new(ErrorCode::Internal, e.to_string()))
                        }
                    };
                    act.reply(&reply);
                    if large {
                        crate::os::trim_heap();
                    }
                },
            )),
        }
    }
}

impl Session {
    /// Queue `reply` for the writer.
    fn reply(&self, reply: &Reply) {
        if let Ok(text) = serde_json::to_vec(reply) {
            let _ = self.out.send(Out::Line(text));
        }
    }
}

/// Start a Session for `stream`: the actor, its reader task and its writer task. Requests
/// go to `root`, a subscription to `bus`, `kill` to `lifecycle`.
pub fn start_session(
    stream: UnixStream,
    root: Addr<Root>,
    bus: Addr<EventBus>,
    lifecycle: Recipient<Shutdown>,
) {
    let (rd, wr) = stream.into_split();
    let (tx, rx) = flume::unbounded();
    let session = Session {
        root,
        bus: bus.clone(),
        lifecycle,
        out: tx,
        hello: false,
        subscribed: false,
    }
    .start();
    actix_rt::spawn(read_requests(rd, session));
    actix_rt::spawn(write_replies(wr, rx, bus));
}

/// The reader task: lines to the Session, one at a time (each answered before the next
/// is read, so replies keep the order of the requests).
async fn read_requests(mut rd: tokio::net::unix::OwnedReadHalf, session: Addr<Session>) {
    let mut buf = Vec::new();
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let msg = match read_line(&mut rd, &mut buf, &mut line, &mut too_long).await {
            Ok(true) if too_long => Incoming::TooLong,
            Ok(true) => Incoming::Line(std::mem::take(&mut line)),
            Ok(false) | Err(_) => {
                session.do_send(Incoming::Closed);
                return;
            }
        };
        if session.send(msg).await.is_err() {
            return;
        }
    }
}

/// The writer task: replies in order, then, once subscribed, events until the client or
/// the bus goes away.
async fn write_replies(
    mut wr: tokio::net::unix::OwnedWriteHalf,
    rx: flume::Receiver<Out>,
    bus: Addr<EventBus>,
) {
    while let Ok(out) = rx.recv_async().await {
        match out {
            Out::Line(mut text) => {
                text.push(b'\n');
                if wr.write_all(&text).await.is_err() {
                    return;
                }
            }
            Out::Shutdown(answered) => {
                let _ = wr.shutdown().await;
                drop(answered);
                return;
            }
            Out::Events(events) => {
                loop {
                    tokio::select! {
                        ev = events.recv_async() => {
                            let Ok(mut text) = ev else { return };
                            text.push('\n');
                            if wr.write_all(text.as_bytes()).await.is_err() {
                                break;
                            }
                            // Caught up after losing events: hear how many now.
                            if let Some(m) = events.caught_up() {
                                bus.do_send(m);
                            }
                        }
                        // The Session stopped (the client left): let the bus forget it.
                        more = rx.recv_async() => {
                            if more.is_err() {
                                break;
                            }
                        }
                    }
                }
                drop(events);
                bus.do_send(crate::events::Prune);
                return;
            }
        }
    }
}
