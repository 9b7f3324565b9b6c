//! `pmx::Client`: the programmatic client of the admin socket (SPEC §8). The CLI uses
//! nothing else. Blocking std I/O on purpose: a CLI call is one connect, one hello and
//! one request, and a runtime would cost more than the work.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use pmx_protocol::home::Home;
use pmx_protocol::{ApiError, Envelope, ErrorCode, Event, Request, PROTOCOL_VERSION, VERSION};
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
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Api(e) => write!(f, "{}", e.message),
            ClientError::Protocol(e) => write!(f, "{e}"),
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
    /// Connect to the daemon of `home` and say hello.
    ///
    /// Errors: `Io` when nothing listens; `Api` with `version_mismatch` when the daemon
    /// speaks another protocol.
    pub fn connect(home: &Home) -> Result<Client, ClientError> {
        Self::connect_path(&home.socket())
    }

    /// Connect to the socket at `path` and say hello.
    ///
    /// Errors: as [`Client::connect`].
    pub fn connect_path(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path)?;
        let writer = stream.try_clone()?;
        let mut client = Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 0,
            hello_pending: None,
            daemon_version: String::new(),
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
            Err(ClientError::Io(_)) => {}
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
        self.writer.write_all(&line)?;
        Ok(id)
    }

    /// Read replies until the one for `id`; answers its result as raw JSON text. The
    /// pending hello's reply is checked on the way.
    fn receive(&mut self, id: u64) -> Result<String, ClientError> {
        loop {
            let mut text = String::new();
            if self.reader.read_line(&mut text)? == 0 {
                return Err(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the daemon closed the connection",
                )));
            }
            let reply: RawReply = serde_json::from_str(&text)
                .map_err(|e| ClientError::Protocol(format!("bad reply from the daemon: {e}")))?;
            if reply.id.is_some() && reply.id == self.hello_pending {
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

    /// Send one request and wait for its reply; answers the reply's `result` as the JSON
    /// text the daemon sent (`pmx list --json` prints it as it is).
    ///
    /// Errors: `Api` for an error reply, `Io` for a broken connection.
    pub fn call_raw(&mut self, request: Request) -> Result<String, ClientError> {
        let id = self.send(request)?;
        self.receive(id)
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
