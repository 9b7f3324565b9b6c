//! Session actor: owns one admin connection's protocol state — whether the client said
//! hello, whether it subscribed — and answers each request line in order with its id
//! (SPEC §8). A reader task feeds it [`Incoming`] lines (at most 1 MiB each: a longer
//! line gets `too_large` and the rest of it is discarded) and waits for each to be
//! answered; a writer task writes what it sends in order, then events once the connection
//! subscribed. A half-sent line only ever waits in its own reader, and what all readers
//! hold of unfinished lines is charged to one [`LineBudget`] of at most
//! [`MAX_PENDING`] bytes: a line that would take it past gets `too_large` and is dropped
//! as it comes (the connection is served on). A buffer that held a long line is given
//! back, and the heap trimmed, once the line is done or the connection closes.

use actix::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::events::{EventBus, Subscribe};
use crate::lifecycle::{Reason, Shutdown};
use crate::protocol::{
    parse_request, too_large, ApiError, ErrorCode, HelloReply, Reply, Request, MAX_LINE,
    MAX_PENDING, PROTOCOL_VERSION, VERSION,
};
use crate::root::{Api, Root};

/// The bytes of unfinished request lines held by every session of one daemon, against
/// [`MAX_PENDING`], and how many connections are open. Shared by the Admin server's
/// sessions (one thread: `Cell`s).
#[derive(Clone, Default)]
pub struct LineBudget(std::rc::Rc<BudgetCells>);

/// The counters of a [`LineBudget`].
#[derive(Default)]
struct BudgetCells {
    /// Bytes held now, over all readers.
    held: std::cell::Cell<usize>,
    /// Connections open now.
    live: std::cell::Cell<usize>,
    /// The most connections open at once since the heap was last trimmed for them.
    wave: std::cell::Cell<usize>,
}

/// A wave of at least this many connections gives its memory back as it leaves.
const WAVE: usize = 64;

impl LineBudget {
    /// Bytes held now, over all sessions.
    pub fn held(&self) -> usize {
        self.0.held.get()
    }

    /// A connection starts.
    fn open(&self) {
        let live = self.0.live.get() + 1;
        self.0.live.set(live);
        self.0.wave.set(self.0.wave.get().max(live));
    }

    /// A connection ends. When a wave of connections has mostly left (half of its peak
    /// gone), the heap is trimmed: each connection's actor, tasks and buffers are small
    /// allocations glibc keeps resident in its arena until `malloc_trim`.
    fn close(&self) {
        let live = self.0.live.get().saturating_sub(1);
        self.0.live.set(live);
        let wave = self.0.wave.get();
        if wave >= WAVE && live <= wave / 2 {
            self.0.wave.set(live);
            crate::os::trim_heap();
        }
    }
}

/// What the reader makes of the bytes of one connection.
enum Frame {
    /// A whole line, without its newline.
    Line(Vec<u8>),
    /// A line that was not read whole: its size as seen, its first bytes (for its id),
    /// and whether the shared budget (not [`MAX_LINE`]) cut it.
    TooLong {
        size: usize,
        head: Vec<u8>,
        over_budget: bool,
    },
}

/// A buffer bigger than this is given back once its line is done.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Bytes read per `read` call at least.
const READ_CHUNK: usize = 8 * 1024;

/// How much of an overlong line is kept to find its id.
const HEAD: usize = 4 * 1024;

/// One connection's line reader: the bytes read but not yet handed on (`buf`), charged to
/// the shared [`LineBudget`] as long as they are held.
struct LineReader {
    buf: Vec<u8>,
    /// `buf[..scanned]` holds no newline.
    scanned: usize,
    /// What this reader has charged to the budget.
    charged: usize,
    budget: LineBudget,
    /// Dropping the rest of an overlong line: its size so far, its head, why.
    dropping: Option<(usize, Vec<u8>, bool)>,
    /// The largest amount this reader held since the heap was last trimmed.
    peak: usize,
}

impl LineReader {
    fn new(budget: LineBudget) -> LineReader {
        LineReader {
            buf: Vec::new(),
            scanned: 0,
            charged: 0,
            budget,
            dropping: None,
            peak: 0,
        }
    }

    /// Charge the budget for what `buf` holds now. False when that takes the total past
    /// [`MAX_PENDING`] (nothing is charged then).
    fn charge(&mut self) -> bool {
        let others = self.budget.held() - self.charged;
        let want = self.buf.len();
        if want > self.charged && others + want > MAX_PENDING {
            return false;
        }
        self.budget.0.held.set(others + want);
        self.charged = want;
        self.peak = self.peak.max(want);
        true
    }

    /// Give back a large buffer once its line is done, and with `trim` the heap behind a
    /// large line this reader dropped (glibc keeps freed memory of the main arena resident
    /// until trimmed, see `os::trim_heap`). A line handed on is trimmed after by the
    /// Session, once it is answered.
    fn shrink(&mut self, trim: bool) {
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf.shrink_to(self.buf.len().max(READ_CHUNK));
        }
        if self.peak > KEEP_CAPACITY {
            self.peak = 0;
            if trim {
                crate::os::trim_heap();
            }
        }
    }

    /// Start dropping the line held in `buf` (`size` bytes so far).
    fn drop_line(&mut self, over_budget: bool) {
        let head = self.buf[..self.buf.len().min(HEAD)].to_vec();
        self.dropping = Some((self.buf.len(), head, over_budget));
        self.buf = Vec::new();
        self.scanned = 0;
        self.charge();
        self.shrink(true);
    }

    /// The next frame, or None at EOF with nothing pending. A last line without newline
    /// counts (an overlong one gets its `too_large`).
    async fn next(
        &mut self,
        stream: &mut tokio::net::unix::OwnedReadHalf,
    ) -> std::io::Result<Option<Frame>> {
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + pos;
                if end > MAX_LINE && self.dropping.is_none() {
                    // The newline came in the read that took the line past the limit.
                    self.dropping = Some((0, self.buf[..HEAD].to_vec(), false));
                }
                let rest = self.buf.split_off(end + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                line.truncate(end);
                self.scanned = 0;
                self.charge();
                let frame = match self.dropping.take() {
                    Some((size, head, over_budget)) => Frame::TooLong {
                        size: size + line.len(),
                        head,
                        over_budget,
                    },
                    None => Frame::Line(line),
                };
                self.shrink(false);
                return Ok(Some(frame));
            }
            self.scanned = self.buf.len();
            if let Some((size, _, _)) = &mut self.dropping {
                *size += self.buf.len();
                self.buf.clear();
                self.scanned = 0;
                self.charge();
            } else if self.buf.len() > MAX_LINE {
                self.drop_line(false);
            } else if !self.charge() {
                self.drop_line(true);
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK {
                self.buf.reserve(READ_CHUNK);
            }
            let n = stream.read_buf(&mut self.buf).await?;
            if n == 0 {
                let frame = match self.dropping.take() {
                    Some((size, head, over_budget)) => Some(Frame::TooLong {
                        size,
                        head,
                        over_budget,
                    }),
                    None if !self.buf.is_empty() => {
                        Some(Frame::Line(std::mem::take(&mut self.buf)))
                    }
                    None => None,
                };
                self.buf = Vec::new();
                self.scanned = 0;
                self.charge();
                self.shrink(true);
                return Ok(frame);
            }
        }
    }
}

impl Drop for LineReader {
    fn drop(&mut self) {
        self.buf = Vec::new();
        self.charge();
        self.shrink(true);
    }
}

/// One open connection, counted in its [`LineBudget`] from its start until its writer
/// task, the last of its parts to end, drops it.
struct Live(LineBudget);

impl Live {
    fn new(budget: LineBudget) -> Live {
        budget.open();
        Live(budget)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.close();
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
    /// A line not read whole (over [`MAX_LINE`] bytes, or past the shared budget of
    /// unfinished lines): its size as seen, its first bytes, whether the budget cut it.
    TooLong {
        /// Bytes of the line, as far as they were counted.
        size: usize,
        /// Its first bytes (to find its id).
        head: Vec<u8>,
        /// Cut by [`MAX_PENDING`], not [`MAX_LINE`].
        over_budget: bool,
    },
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
            Incoming::TooLong {
                size,
                head,
                over_budget,
            } => {
                self.reply(&too_large(size, &head, over_budget));
                return Box::pin(fut::ready(()));
            }
            Incoming::Line(line) => line,
        };
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Box::pin(fut::ready(()));
        }
        let long = line.len() > 64 * 1024;
        let env = match parse_request(&line) {
            Ok(env) => env,
            Err(reply) => {
                self.reply(&reply);
                drop(line);
                if long {
                    crate::os::trim_heap();
                }
                return Box::pin(fut::ready(()));
            }
        };
        // A large request, or one that builds or drops apps (their actors, log files and
        // spawns allocate and free in turn), leaves freed heap behind: trimmed after it,
        // so the daemon's resident memory returns to what the apps themselves hold.
        let large = long
            || matches!(
                env.request,
                Request::Start(_)
                    | Request::Up(_)
                    | Request::Delete { .. }
                    | Request::Resurrect { .. }
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
            // `update` needs no hello: a CLI of another protocol version (answered
            // `version_mismatch`) can still replace the daemon; its form never changes.
            _ if !self.hello && !matches!(env.request, Request::Update { .. }) => {
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
            // Checked off this thread; then the state stored, the answer written, and
            // the daemon exec'd in place (`crate::update`). A refusal changes nothing.
            Request::Update { binary } => {
                let path = std::path::PathBuf::from(&binary);
                let check = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || crate::update::check(&path)
                });
                let root = self.root.clone();
                Box::pin(
                    async move {
                        let checked = match check.await {
                            Ok(r) => r,
                            Err(e) => Err(format!("cannot update: {e}")),
                        };
                        if checked.is_ok() {
                            let _ = root.send(crate::root::SaveState).await;
                        }
                        checked
                    }
                    .into_actor(self)
                    .map(move |checked, act, _| match checked {
                        Err(why) => {
                            tracing::warn!("{why}");
                            act.reply(&Reply::err(
                                Some(id),
                                ApiError::new(ErrorCode::BadRequest, why),
                            ));
                        }
                        Ok(to) => {
                            let answer = crate::protocol::UpdateReply {
                                pid: std::process::id(),
                                from: crate::protocol::VERSION.to_string(),
                                to,
                            };
                            act.reply(&Reply::ok_of(id, &answer));
                            let (answered, written) = tokio::sync::oneshot::channel();
                            let _ = act.out.send(Out::Shutdown(answered));
                            actix::spawn(async move {
                                let _ = written.await;
                                let e = crate::update::exec(&path);
                                tracing::error!("update: cannot exec {}: {e}", path.display());
                            });
                        }
                    }),
                )
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
/// go to `root`, a subscription to `bus`, `kill` to `lifecycle`; its unfinished lines are
/// charged to `budget`, shared by every session of the daemon.
pub fn start_session(
    stream: UnixStream,
    root: Addr<Root>,
    bus: Addr<EventBus>,
    lifecycle: Recipient<Shutdown>,
    budget: LineBudget,
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
    let live = Live::new(budget.clone());
    actix_rt::spawn(read_requests(rd, session, budget));
    actix_rt::spawn(write_replies(wr, rx, bus, live));
}

/// The reader task: lines to the Session, one at a time (each answered before the next
/// is read, so replies keep the order of the requests).
async fn read_requests(
    mut rd: tokio::net::unix::OwnedReadHalf,
    session: Addr<Session>,
    budget: LineBudget,
) {
    let mut reader = LineReader::new(budget);
    loop {
        let msg = match reader.next(&mut rd).await {
            Ok(Some(Frame::Line(line))) => Incoming::Line(line),
            Ok(Some(Frame::TooLong {
                size,
                head,
                over_budget,
            })) => Incoming::TooLong {
                size,
                head,
                over_budget,
            },
            Ok(None) | Err(_) => {
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
    live: Live,
) {
    // Counted until this task ends, after the reader and the Session.
    let _live = live;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader over one end of a socket pair; the other end to write to.
    fn pair(budget: &LineBudget) -> (LineReader, tokio::net::unix::OwnedReadHalf, UnixStream) {
        let (a, b) = UnixStream::pair().expect("socket pair");
        let (rd, _wr) = a.into_split();
        (LineReader::new(budget.clone()), rd, b)
    }

    fn line(f: Option<Frame>) -> Vec<u8> {
        match f {
            Some(Frame::Line(l)) => l,
            Some(Frame::TooLong { size, .. }) => panic!("too long ({size} bytes)"),
            None => panic!("EOF"),
        }
    }

    #[actix::test]
    async fn lines_come_one_at_a_time_and_a_last_one_needs_no_newline() {
        let budget = LineBudget::default();
        let (mut r, mut rd, mut w) = pair(&budget);
        w.write_all(b"one\ntwo\n\nthree").await.expect("write");
        w.shutdown().await.expect("shutdown");
        drop(w);
        for want in [&b"one"[..], b"two", b"", b"three"] {
            assert_eq!(line(r.next(&mut rd).await.expect("read")), want);
        }
        assert!(r.next(&mut rd).await.expect("read").is_none());
        assert_eq!(budget.held(), 0, "nothing held once the lines are out");
    }

    #[actix::test]
    async fn a_line_over_the_limit_is_dropped_with_its_size_and_id_and_the_next_is_read() {
        let budget = LineBudget::default();
        let (mut r, mut rd, w) = pair(&budget);
        let writer = tokio::spawn(async move {
            let mut w = w;
            let mut big = br#"{"id":7,"type":"ping","x":""#.to_vec();
            big.resize(MAX_LINE + 100, b'x');
            w.write_all(&big).await.expect("write");
            w.write_all(b"\nnext\n").await.expect("write");
            w
        });
        match r.next(&mut rd).await.expect("read") {
            Some(Frame::TooLong {
                size,
                head,
                over_budget,
            }) => {
                assert_eq!(size, MAX_LINE + 100);
                assert!(!over_budget);
                assert_eq!(too_large(size, &head, over_budget).id, Some(7));
            }
            _ => panic!("expected too long"),
        }
        assert_eq!(line(r.next(&mut rd).await.expect("read")), b"next");
        assert!(
            r.buf.capacity() <= KEEP_CAPACITY,
            "the big buffer was given back"
        );
        drop(writer.await);
        assert_eq!(budget.held(), 0);
    }

    #[actix::test]
    async fn a_line_past_the_shared_budget_is_dropped_and_charges_nothing() {
        let budget = LineBudget::default();
        // Other connections hold all but 10 bytes.
        budget.0.held.set(MAX_PENDING - 10);
        let (mut r, mut rd, mut w) = pair(&budget);
        w.write_all(b"{\"id\":3,\"type\":\"ping\"")
            .await
            .expect("write");
        w.flush().await.expect("flush");
        // Let the reader see the partial line, then end it.
        let (frame, ()) = tokio::join!(r.next(&mut rd), async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert_eq!(
                budget.held(),
                MAX_PENDING - 10,
                "the dropped bytes are not held"
            );
            w.write_all(b"}\nafter\n").await.expect("write");
        });
        match frame.expect("read") {
            Some(Frame::TooLong {
                head, over_budget, ..
            }) => {
                assert!(over_budget);
                assert_eq!(too_large(0, &head, true).id, Some(3));
            }
            _ => panic!("expected too long"),
        }
        // A line that arrives whole needs no budget.
        assert_eq!(line(r.next(&mut rd).await.expect("read")), b"after");
        assert_eq!(budget.held(), MAX_PENDING - 10);
    }
}
