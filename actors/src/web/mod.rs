//! Web actor (`pmx web`, issue 25): owns the HTTP service's listening socket and the
//! connections it serves, on the supervision arbiter — no thread, no timer of its own:
//! one task waits in `accept`, one per connection waits on its socket. Each route asks
//! the Root through the admin sessions' [`Api`] message, so an HTTP request behaves as
//! the same socket request does (`routes.rs`; the Prometheus text in `prometheus.rs`).
//! The Root starts one on `web` (or a `resurrect` whose dump has it) and stops it on
//! `web --stop`: while the service is off there is no Web actor at all.
//!
//! Who may ask is `guard.rs`'s (Host, Origin, token); the dashboard at `/` is static
//! files embedded in the binary (`dashboard.rs`, `assets/`).
//!
//! HTTP is actix-web's (HTTP/1.1 only: no TLS, compression, cookies or macros), served
//! through actix-http's `HttpService` on connections this actor accepts, not by
//! actix-server (which would add an accept thread and a worker thread per core).

mod dashboard;
mod guard;
mod limits;
mod prometheus;
mod routes;
mod sse;

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::rc::Rc;

use actix::prelude::*;
use actix_service::{Service, ServiceFactory};
use serde::{Deserialize, Serialize};

use crate::home::Home;
use crate::protocol::{ApiError, ErrorCode};
use crate::root::Root;

/// The service's setting as `pmx save` stores it in `dump.ron` (absent there: off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSetting {
    /// `ip:port` served.
    pub listen: String,
    /// Whether every request needs the bearer token of `$PMX_HOME/web.token`.
    pub token: bool,
}

/// What the routes share: where requests go, the token in force (None: none asked; the
/// Root changes it in place when `web` is asked again on the same address), `$PMX_HOME`.
pub struct WebState {
    /// The Root, asked through [`crate::root::Api`].
    pub root: Addr<Root>,
    /// The bearer token every request must carry; None: no token.
    pub token: Rc<RefCell<Option<String>>>,
    /// `$PMX_HOME`.
    pub home: Home,
    /// Where log files are read (`GET /api/logs`), off the supervision arbiter.
    pub log_arbiter: ArbiterHandle,
    /// The event bus (`GET /api/events` subscribes to it).
    pub bus: Addr<crate::events::EventBus>,
}

/// The Web actor: see the module doc.
pub struct Web {
    /// The bound socket, until `started` takes it.
    listener: Option<std::net::TcpListener>,
    state: Rc<WebState>,
}

impl Web {
    /// A Web actor for `listener` (bound, non-blocking) serving `state`.
    pub fn new(listener: std::net::TcpListener, state: WebState) -> Web {
        Web {
            listener: Some(listener),
            state: Rc::new(state),
        }
    }
}

impl Actor for Web {
    type Context = Context<Self>;

    /// Serve the socket: accept connections until the actor stops, which drops the
    /// listener (the port closes) and every connection still open.
    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(std_listener) = self.listener.take() else {
            ctx.stop();
            return;
        };
        let local = match std_listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("web: cannot read the socket's address: {e}");
                ctx.stop();
                return;
            }
        };
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("web: cannot serve the socket: {e}");
                ctx.stop();
                return;
            }
        };
        let state = self.state.clone();
        ctx.spawn(serve(listener, move || routes::service(state.clone(), local)).into_actor(self));
    }
}

/// Accept connections on `listener` and serve each with a service of a factory `make`
/// makes, until dropped (the actor's stop); the connections are tasks of a set dropped
/// with it, at most [`limits::MAX_CONNECTIONS`] at once.
///
/// The service exists only while a connection is open: actix-http's configuration keeps
/// a task that refreshes its cached `Date` every 500 ms for as long as it lives, which
/// would wake the idle daemon twice a second while nobody is connected (measured:
/// `idle_cpu_50_web` 0.021 % of a core with one service for the actor's life, 0 now).
async fn serve<M, F>(listener: tokio::net::TcpListener, make: M)
where
    M: Fn() -> F,
    F: ServiceFactory<tokio::net::TcpStream, Config = (), Response = (), InitError = ()>,
    F::Service: 'static,
    F::Error: std::fmt::Debug,
{
    let mut connections = tokio::task::JoinSet::new();
    let mut admission = limits::Admission::default();
    let mut live: Option<Rc<F::Service>> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                // Past the cap: closed at once (dropped), so a flood takes no descriptor.
                // Connections ended but not yet collected do not count.
                Ok(_) if !admission.admit({
                    while connections.try_join_next().is_some() {}
                    connections.len()
                }) => {}
                Ok((stream, _)) => {
                    let service = match &live {
                        Some(s) => s.clone(),
                        None => match make().new_service(()).await {
                            Ok(s) => live.insert(Rc::new(s)).clone(),
                            Err(()) => {
                                tracing::error!("web: cannot build the HTTP service");
                                continue;
                            }
                        },
                    };
                    connections.spawn_local(async move {
                        let _ = service.call(stream).await;
                    });
                }
                // Out of descriptors (or the like): logged, then a pause before the next
                // accept rather than a busy loop on the same error.
                Err(e) => {
                    tracing::warn!("web: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {
                if connections.is_empty() {
                    live = None;
                }
            }
        }
    }
}

/// Stop serving: the port closes and every open connection is dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopWeb;

impl Handler<StopWeb> for Web {
    type Result = ();
    fn handle(&mut self, _: StopWeb, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The fd holder's label of the service's listening socket: `w:` and the setting's JSON
/// (what a next daemon serves it as).
pub fn held_label(setting: &WebSetting) -> String {
    format!("w:{}", serde_json::to_string(setting).unwrap_or_default())
}

/// The setting of a [`held_label`]; None for another label.
pub fn parse_held(label: &str) -> Option<WebSetting> {
    serde_json::from_str(label.strip_prefix("w:")?).ok()
}

/// `listen` as a socket address, or `bad_request` saying what is expected.
pub fn parse_listen(listen: &str) -> Result<SocketAddr, ApiError> {
    listen.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("--listen {listen:?}: expected an address and a port, such as 127.0.0.1:9615"),
        )
    })
}

/// Bind `addr` for the service (non-blocking, address reuse as any server sets it).
/// Errors: `conflict` when the port is taken, `bad_request` for another refusal (an
/// address this host does not have, a privileged port).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ApiError> {
    let refuse = |e: std::io::Error| {
        let code = if e.kind() == std::io::ErrorKind::AddrInUse {
            ErrorCode::Conflict
        } else {
            ErrorCode::BadRequest
        };
        ApiError::new(code, format!("cannot listen on {addr}: {e}"))
    };
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(refuse)?;
    socket.set_reuseaddr(true).map_err(refuse)?;
    socket.bind(addr).map_err(refuse)?;
    let listener = socket.listen(64).map_err(refuse)?;
    listener
        .into_std()
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(refuse)
}

/// A new token: 32 random bytes from the kernel, in hex.
pub fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: writes at most the rest of `bytes` into it.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!("cannot make a web token: {e}"),
            ));
        }
        filled += n as usize;
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write `token` to `$PMX_HOME/web.token`, mode 0600 (a file left there before is
/// replaced, whatever its mode). Errors: `internal` naming the file and why.
pub fn write_token(home: &Home, token: &str) -> Result<(), ApiError> {
    let path = home.web_token();
    let fail = |e: std::io::Error| {
        ApiError::new(
            ErrorCode::Internal,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(fail)?;
    f.write_all(format!("{token}\n").as_bytes()).map_err(fail)
}

/// The token `$PMX_HOME/web.token` holds, if it holds one (64 hex digits).
pub fn read_token(home: &Home) -> Option<String> {
    let text = std::fs::read_to_string(home.web_token()).ok()?;
    let token = text.trim();
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())).then(|| token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listen_address_needs_an_ip_and_a_port() {
        let cases = [
            ("127.0.0.1:9615", true),
            ("0.0.0.0:80", true),
            ("[::1]:9615", true),
            ("127.0.0.1", false),
            ("localhost:9615", false),
            (":9615", false),
            ("", false),
        ];
        for (listen, ok) in cases {
            assert_eq!(parse_listen(listen).is_ok(), ok, "{listen:?}");
        }
    }

    #[test]
    fn the_held_label_carries_the_setting() {
        let setting = WebSetting {
            listen: "127.0.0.1:9615".into(),
            token: true,
        };
        let label = held_label(&setting);
        assert_eq!(label, r#"w:{"listen":"127.0.0.1:9615","token":true}"#);
        assert_eq!(parse_held(&label), Some(setting));
        assert_eq!(parse_held("w:nope"), None);
        assert_eq!(parse_held("l:web"), None);
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (new_token().expect("token"), new_token().expect("token"));
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
