//! `pmx::Client`: the programmatic client of the admin socket (SPEC §8). The CLI uses
//! nothing else. Blocking std I/O on purpose: a CLI call is one connect, one hello and
//! one request, and a runtime would cost more than the work.
//!
//! No call waits for ever. The connect has a deadline ([`Client::timeout`]: 5 s, or
//! `PMX_TIMEOUT` seconds); a request that has no reason to take long (`ping`, `list`,
//! `describe`, `env`, `signal`, `reset`, `reload_logs`, `subscribe`, `hello`) must be
//! answered within it; a lifecycle request (`start`, `up`, `stop`, `restart`, `reload`,
//! `delete`, `flush`, `kill`), which legitimately lasts as long as the apps'
//! `kill_timeout`s, is waited for as long as the daemon answers a `ping` on a second
//! connection once per timeout, up to a cap derived from those `kill_timeout`s (see
//! [`Patience`]). An error reply without an id (`too_large`, `malformed`) ends the waiting
//! request: the daemon could not read which request it answers, and no other reply will
//! come for it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use pmx_protocol::home::Home;
use pmx_protocol::{
    ApiError, Envelope, ErrorCode, Event, PingReply, Request, PROTOCOL_VERSION, VERSION,
};
use serde_json::Value;

/// What can go wrong talking to the daemon.
#[derive(Debug)]
pub enum ClientError {
    /// No daemon answers (and none could be started), or the connection broke.
    Io(std::io::Error),
    /// The daemon answered with an error.
    Api(ApiError),
    /// The daemon's answer could not be understood.
    Protocol(String),
    /// The daemon did not answer in time (the message says what and how long).
    Timeout(String),
}

/// The default of [`Client::timeout`]: how long a quick request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a lifecycle request may take beyond the `kill_timeout`s it may wait for: the
/// spawns, the re-checks after SIGKILL, the replies.
const LIFECYCLE_SLACK: Duration = Duration::from_secs(60);

/// The longest `kill_timeout` an app may have (a day, as config and socket cap it): what
/// a request on a target waits for at most, as the client does not know the target's apps.
const MAX_KILL_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// How long one request may take before the client gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// The whole request, written and answered, within this time.
    Quick(Duration),
    /// As long as the daemon answers a `ping` on a second connection within `check`
    /// (asked every `check` without a reply), up to `cap` in all.
    WhileAlive {
        /// The quick timeout: between two liveness pings, and for each.
        check: Duration,
        /// The most the request may take.
        cap: Duration,
    },
}

impl Patience {
    /// The patience `request` gets, with `quick` as the timeout of quick requests:
    /// `WhileAlive` for the verbs that wait for apps to stop (`start` and `up` restart
    /// existing apps), capped at the sum over the apps it carries (`start`, `up`) of their
    /// `kill_timeout` plus, with `wait_ready`, their `listen_timeout`, per instance when
    /// it has several (a rolling reload replaces them one by one), or at the largest
    /// `kill_timeout` allowed (a day, for a target), plus a minute; `Quick(quick)` for
    /// everything else.
    pub fn for_request(request: &Request, quick: Duration) -> Patience {
        let kill_sum = |apps: &[pmx_protocol::AppSpec]| {
            let ms: u64 = apps
                .iter()
                .map(|a| {
                    let app = &a.app;
                    let ready = if app.wait_ready {
                        app.listen_timeout_ms
                    } else {
                        0
                    };
                    let n = match app.instances {
                        pmx_protocol::spec::Instances::Count(n) => u64::from(n.max(1)),
                        // One per CPU at most.
                        _ => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
                    };
                    app.kill_timeout_ms.saturating_add(ready).saturating_mul(n)
                })
                .fold(0u64, u64::saturating_add);
            Duration::from_millis(ms)
        };
        let waits = match request {
            Request::Start(r) => kill_sum(&r.apps),
            Request::Up(r) => kill_sum(&r.apps),
            Request::Stop { .. }
            | Request::Restart(_)
            | Request::Reload(_)
            | Request::Delete { .. }
            | Request::Scale(_)
            | Request::Flush { .. }
            | Request::Save { .. }
            | Request::Resurrect { .. }
            | Request::Kill => MAX_KILL_TIMEOUT,
            _ => return Patience::Quick(quick),
        };
        Patience::WhileAlive {
            check: quick,
            cap: waits.saturating_add(LIFECYCLE_SLACK),
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Api(e) => write!(f, "{}", e.message),
            ClientError::Protocol(e) => write!(f, "{e}"),
            ClientError::Timeout(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// A connection to the daemon. The hello is sent at connect and its reply read with the
/// first request's (one round trip for a CLI command, not two).
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// The id of the hello whose reply has not been read yet.
    hello_pending: Option<u64>,
    /// The daemon's version, from its hello (empty until the first reply is read).
    pub daemon_version: String,
    /// The socket (for the liveness pings of a long request).
    path: std::path::PathBuf,
    /// The timeout of the connect and of quick requests.
    timeout: Duration,
}

/// A reply whose result is kept as raw JSON text.
#[derive(serde::Deserialize)]
struct RawReply {
    id: Option<u64>,
    #[serde(default)]
    result: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    error: Option<ApiError>,
}

impl Client {
    /// Connect to the daemon of `home` and say hello, with [`Client::timeout`] as the
    /// deadline of the connect and of quick requests.
    ///
    /// Errors: `Io` when nothing listens; `Timeout` when the daemon's backlog stays full
    /// past the timeout; `Api` with `version_mismatch` when the daemon speaks another
    /// protocol; `Protocol` for a `PMX_TIMEOUT` that is not a number of seconds.
    pub fn connect(home: &Home) -> Result<Client, ClientError> {
        Self::connect_path(&home.socket())
    }

    /// Connect to the socket at `path` and say hello.
    ///
    /// Errors: as [`Client::connect`].
    pub fn connect_path(path: &Path) -> Result<Client, ClientError> {
        let timeout = Self::timeout().map_err(ClientError::Protocol)?;
        Self::connect_with(path, timeout)
    }

    /// The timeout of quick requests and of the connect: `PMX_TIMEOUT` (seconds, a
    /// positive number, fractions allowed) or [`DEFAULT_TIMEOUT`] (5 s).
    ///
    /// Errors: `PMX_TIMEOUT` is set but not a positive number of seconds.
    pub fn timeout() -> Result<Duration, String> {
        match std::env::var("PMX_TIMEOUT") {
            Err(_) => Ok(DEFAULT_TIMEOUT),
            Ok(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    format!("PMX_TIMEOUT={v:?} is not a positive number of seconds (e.g. 5 or 0.5)")
                }),
        }
    }

    /// Connect to the socket at `path` within `timeout` and say hello; quick requests then
    /// get `timeout` too.
    ///
    /// Errors: as [`Client::connect`].
    pub fn connect_with(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream = connect_within(path, timeout)?;
        stream.set_write_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        let mut client = Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 0,
            hello_pending: None,
            daemon_version: String::new(),
            path: path.to_path_buf(),
            timeout,
        };
        let id = client.send(Request::Hello {
            protocol_version: PROTOCOL_VERSION,
            version: VERSION.into(),
        })?;
        client.hello_pending = Some(id);
        Ok(client)
    }

    /// Connect to the daemon of `home`, starting one (`<exe> daemon`, detached) when none
    /// answers, and waiting up to `timeout` for it.
    ///
    /// Errors: the daemon could not be started or did not answer in time.
    pub fn connect_or_start(
        home: &Home,
        exe: &Path,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        match Self::connect(home) {
            Ok(c) => return Ok(c),
            Err(ClientError::Io(e)) if e.kind() != std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e),
        }
        crate::spawn_daemon(home, exe)?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match Self::connect(home) {
                Ok(c) => return Ok(c),
                Err(ClientError::Io(e)) if Instant::now() >= deadline => {
                    return Err(ClientError::Io(std::io::Error::new(
                        e.kind(),
                        format!(
                            "the daemon did not answer on {} ({e}); see {}",
                            home.socket().display(),
                            home.log_file().display()
                        ),
                    )))
                }
                Err(ClientError::Io(_)) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Write one request; answers its id.
    fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&Envelope { id, request })
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        match self.writer.write_all(&line) {
            Err(e) if is_timeout(&e) => Err(ClientError::Timeout(format!(
                "the daemon did not read the request within {} (it may be stopped or overloaded; \
                 PMX_TIMEOUT sets the limit in seconds)",
                secs(self.timeout)
            ))),
            r => Ok(r.map(|()| id)?),
        }
    }

    /// Read replies until the one for `id` (a `verb` request), waiting with `patience`;
    /// answers its result as raw JSON text. The pending hello's reply is checked on the
    /// way; an error reply without an id ends the wait with that error.
    fn receive(&mut self, id: u64, verb: &str, patience: Patience) -> Result<String, ClientError> {
        let started = Instant::now();
        loop {
            let text = self.read_reply(verb, patience, started)?;
            let reply: RawReply = serde_json::from_slice(&text)
                .map_err(|e| ClientError::Protocol(format!("bad reply from the daemon: {e}")))?;
            if reply.id.is_none() {
                // The daemon could not tell which request this answers (a line it could
                // not read): the request in flight is the one it refused.
                return Err(ClientError::Api(reply.error.unwrap_or_else(|| {
                    ApiError::new(ErrorCode::Internal, "a reply without an id or an error")
                })));
            }
            if reply.id == self.hello_pending {
                self.hello_pending = None;
                if let Some(e) = reply.error {
                    return Err(ClientError::Api(e));
                }
                if let Some(r) = &reply.result {
                    let hello: Value = serde_json::from_str(r.get()).unwrap_or(Value::Null);
                    self.daemon_version = hello
                        .get("version")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                }
                if reply.id != Some(id) {
                    continue;
                }
            }
            if reply.id != Some(id) {
                continue;
            }
            return match (reply.result, reply.error) {
                (_, Some(e)) => Err(ClientError::Api(e)),
                (Some(v), None) => Ok(v.get().to_string()),
                (None, None) => Ok("null".into()),
            };
        }
    }

    /// One reply line, within `patience` counted from `started`.
    fn read_reply(
        &mut self,
        verb: &str,
        patience: Patience,
        started: Instant,
    ) -> Result<Vec<u8>, ClientError> {
        let mut text = Vec::new();
        loop {
            let wait = match patience {
                Patience::Quick(limit) => limit.saturating_sub(started.elapsed()),
                Patience::WhileAlive { check, cap } => {
                    check.min(cap.saturating_sub(started.elapsed()))
                }
            };
            if wait.is_zero() {
                let limit = match patience {
                    Patience::Quick(l) => l,
                    Patience::WhileAlive { cap, .. } => cap,
                };
                return Err(self.timed_out(verb, limit));
            }
            self.reader.get_ref().set_read_timeout(Some(wait))?;
            // `read_until` keeps what it read before a timeout: the line goes on.
            match self.reader.read_until(b'\n', &mut text) {
                Ok(0) => {
                    return Err(ClientError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the daemon closed the connection",
                    )))
                }
                Ok(_) => return Ok(text),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => match patience {
                    Patience::Quick(limit) => return Err(self.timed_out(verb, limit)),
                    Patience::WhileAlive { check, .. } => {
                        if !self.daemon_answers(check) {
                            return Err(ClientError::Timeout(format!(
                                "the daemon stopped answering while `{verb}` waited \
                                 ({} without a reply, and no answer to a ping within {}); \
                                 it may be stopped or overloaded: see {}. The request was \
                                 sent: the daemon may still carry it out once it runs again \
                                 (check with `pmx list`)",
                                secs(started.elapsed()),
                                secs(check),
                                self.log_hint()
                            )));
                        }
                    }
                },
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether the daemon answers a `ping` on a second connection within `limit`.
    fn daemon_answers(&self, limit: Duration) -> bool {
        Client::connect_with(&self.path, limit)
            .and_then(|mut c| c.call_as::<PingReply>(Request::Ping))
            .is_ok()
    }

    /// The error of a `verb` request not answered within `limit`.
    fn timed_out(&self, verb: &str, limit: Duration) -> ClientError {
        ClientError::Timeout(format!(
            "the daemon did not answer `{verb}` within {} (it may be stopped or overloaded: \
             see {}; PMX_TIMEOUT sets the limit in seconds); the request was sent, so the \
             daemon may still carry it out once it runs again",
            secs(limit),
            self.log_hint()
        ))
    }

    /// Where the daemon's log is (beside its socket).
    fn log_hint(&self) -> String {
        self.path
            .parent()
            .map(|d| d.join("pmx.log").display().to_string())
            .unwrap_or_else(|| "pmx.log".into())
    }

    /// Send one request and wait for its reply; answers the reply's `result` as the JSON
    /// text the daemon sent (`pmx list --json` prints it as it is).
    ///
    /// Errors: `Api` for an error reply, `Io` for a broken connection.
    ///
    /// A read-only request (`list`, `describe`, `env`, `ping`, …) whose connection is cut
    /// before its reply (a daemon being replaced by `pmx update`, or one that died with
    /// the connection in its backlog) is sent once more on a new connection: asking twice
    /// changes nothing.
    pub fn call_raw(&mut self, request: Request) -> Result<String, ClientError> {
        let retry = is_read_only(&request).then(|| request.clone());
        match self.call_once(request) {
            Err(ClientError::Io(e)) if is_cut(&e) => {
                let Some(request) = retry else {
                    return Err(ClientError::Io(e));
                };
                *self = Self::connect_with(&self.path.clone(), self.timeout)?;
                self.call_once(request)
            }
            r => r,
        }
    }

    /// [`Client::call_raw`] without the retry.
    fn call_once(&mut self, request: Request) -> Result<String, ClientError> {
        let patience = Patience::for_request(&request, self.timeout);
        let verb = request.verb();
        let id = self.send(request)?;
        self.receive(id, verb, patience)
    }

    /// Send one request and wait for its reply; answers the reply's `result`.
    ///
    /// Errors: `Api` for an error reply, `Io` for a broken connection.
    pub fn call(&mut self, request: Request) -> Result<Value, ClientError> {
        let raw = self.call_raw(request)?;
        serde_json::from_str(&raw).map_err(|e| ClientError::Protocol(format!("bad reply: {e}")))
    }

    /// Send one request and decode its result as `T`.
    ///
    /// Errors: as [`Client::call`], or `Protocol` when the result has another shape.
    pub fn call_as<T: serde::de::DeserializeOwned>(
        &mut self,
        request: Request,
    ) -> Result<T, ClientError> {
        let raw = self.call_raw(request)?;
        serde_json::from_str(&raw).map_err(|e| ClientError::Protocol(format!("bad reply: {e}")))
    }

    /// Subscribe, then call `each` with every event until it returns false or the
    /// connection ends.
    ///
    /// Errors: as [`Client::call`].
    pub fn subscribe(
        mut self,
        apps: Option<Vec<String>>,
        events: Option<Vec<String>>,
        mut each: impl FnMut(Event) -> bool,
    ) -> Result<(), ClientError> {
        self.call(Request::Subscribe { apps, events })?;
        // Events come when they come.
        self.reader.get_ref().set_read_timeout(None)?;
        loop {
            let mut text = String::new();
            if self.reader.read_line(&mut text)? == 0 {
                return Ok(());
            }
            let event: Event = serde_json::from_str(&text)
                .map_err(|e| ClientError::Protocol(format!("bad event: {e}")))?;
            if !each(event) {
                return Ok(());
            }
        }
    }

    /// Whether `e` is the daemon saying the protocol versions differ.
    pub fn is_version_mismatch(e: &ClientError) -> bool {
        matches!(e, ClientError::Api(a) if a.code == ErrorCode::VersionMismatch)
    }
}

/// Whether `e` is a socket timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO` give `EAGAIN`).
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// `d` for a message: `5 s`, `0.5 s`.
fn secs(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 10.0).round() / 10.0)
}

/// Connect to the unix socket `path`, waiting at most `timeout` while its backlog is full
/// (a daemon that stopped accepting: fd exhaustion, SIGSTOP). A blocking connect would
/// wait for ever then; a non-blocking one answers `EAGAIN` and is retried.
fn connect_within(path: &Path, timeout: Duration) -> Result<UnixStream, ClientError> {
    use nix::errno::Errno;
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(std::io::Error::from)?;
    let addr = UnixAddr::new(path).map_err(std::io::Error::from)?;
    let deadline = Instant::now() + timeout;
    loop {
        match connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr) {
            Ok(()) => break,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(Errno::EAGAIN) => {
                return Err(ClientError::Timeout(format!(
                    "the daemon did not accept a connection on {} within {} (it may be out of \
                     file descriptors, stopped or overloaded; PMX_TIMEOUT sets the limit in seconds)",
                    path.display(),
                    secs(timeout)
                )))
            }
            Err(e) => return Err(ClientError::Io(e.into())),
        }
    }
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Whether `request` only reads the daemon's state, so sending it twice changes nothing.
fn is_read_only(request: &Request) -> bool {
    matches!(
        request,
        Request::List
            | Request::Ping
            | Request::Describe { .. }
            | Request::Env { .. }
            | Request::Saved
            | Request::Host
    )
}

/// Whether `e` is a connection the daemon cut (reset, closed, broken pipe).
fn is_cut(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | UnexpectedEof | BrokenPipe | ConnectionAborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_verbs_get_the_timeout_and_lifecycle_verbs_wait_while_the_daemon_answers() {
        let q = Duration::from_secs(5);
        assert_eq!(Patience::for_request(&Request::List, q), Patience::Quick(q));
        assert_eq!(
            Patience::for_request(
                &Request::Describe {
                    target: "a".into(),
                    env: false,
                },
                q
            ),
            Patience::Quick(q)
        );
        assert_eq!(
            Patience::for_request(
                &Request::Stop {
                    target: "a".into(),
                    unwatch: false,
                },
                q
            ),
            Patience::WhileAlive {
                check: q,
                cap: MAX_KILL_TIMEOUT + LIFECYCLE_SLACK
            }
        );
    }

    /// (instances, wait_ready, the cap of a `start` of that one app beyond the slack, ms):
    /// a start with wait_ready may wait each instance's listen_timeout.
    #[test]
    fn a_start_waits_for_the_kill_timeouts_and_with_wait_ready_the_listen_timeouts() {
        let cases = [(1, false, 1_600), (1, true, 4_600), (3, true, 13_800)];
        for (n, wait_ready, want_ms) in cases {
            let mut app = pmx_protocol::App::new("a".into(), "/x".into(), "/".into());
            app.instances = pmx_protocol::spec::Instances::Count(n);
            app.wait_ready = wait_ready;
            let req = Request::Start(pmx_protocol::StartRequest {
                inherited: Default::default(),
                apps: vec![pmx_protocol::AppSpec {
                    app,
                    program: "/x".into(),
                    args: vec![],
                    cwd: "/".into(),
                    env: Default::default(),
                    source: None,
                    env_name: None,
                }],
                force: false,
                restart_existing: false,
                groups: vec![],
            });
            let q = Duration::from_secs(5);
            assert_eq!(
                Patience::for_request(&req, q),
                Patience::WhileAlive {
                    check: q,
                    cap: Duration::from_millis(want_ms) + LIFECYCLE_SLACK
                },
                "{n} instances, wait_ready {wait_ready}"
            );
        }
    }
}
