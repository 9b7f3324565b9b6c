//! The HTTP routes of `pmx web`: each one a socket request sent to the Root as [`Api`],
//! answered with the socket's own JSON (the same serde types, no second shape), its
//! errors as `{"error":{"code","message"}}` with an HTTP status per code.
//!
//! - `GET /api/processes`: `list`.
//! - `GET /api/processes/<target>`: `describe`.
//! - `POST /api/processes/<target>/{restart,reload,stop,start}`: that verb's rows
//!   (`start` of a registered app is `restart`, as `pmx start <name>` and PM2's are).
//! - `GET /api/logs/<target>?lines=N`: the last N lines (default 15) of each log file of
//!   the target, as `pmx logs --nostream` reads them: [`LogTail`]s.
//! - `GET /api/events?apps=…&events=…`: the bus as Server-Sent Events (`sse.rs`).
//! - `GET /metrics`: the Prometheus text (`prometheus.rs`).
//!
//! - `GET /`, `GET /assets/<file>`: the dashboard (`dashboard.rs`).
//!
//! Every route (an unknown one too) first passes `guard.rs`: 403 `forbidden` for a
//! foreign `Host` or a cross-site POST, then, with a token in force, 401 `unauthorized`
//! without `Authorization: Bearer <token>` or the dashboard's cookie.

use std::rc::Rc;

use actix_http::{HttpService, Protocol};
use actix_service::{fn_service, map_config, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse};
use serde_json::value::RawValue;

use super::guard::{self, Listen};
use super::{dashboard, limits, prometheus, sse, WebState};
use crate::events::CountSubscribers;
use crate::protocol::{ApiError, Description, ErrorCode, LogTail, Request, RestartRequest};
use crate::root::Api;

/// How many lines `GET /api/logs` answers per file without `lines` (`pmx logs`'s 15).
const DEFAULT_LINES: usize = 15;

/// The most lines `GET /api/logs` answers per file.
const MAX_LINES: usize = 10_000;

/// How long a connection may stay idle between requests.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The routes' shared state, as actix-web's app data.
pub(super) struct Shared(pub(super) Rc<WebState>);

/// The HTTP/1.1 service of one accepted TCP connection, serving every route.
pub(super) fn service(
    state: Rc<WebState>,
    listen: std::net::SocketAddr,
) -> impl ServiceFactory<
    tokio::net::TcpStream,
    Config = (),
    Response = (),
    Error = actix_http::error::DispatchError,
    InitError = (),
> {
    let app = App::new()
        .app_data(web::Data::new(Shared(state)))
        .app_data(web::Data::new(Listen(listen)))
        .route("/", web::get().to(dashboard::index))
        .route("/assets/{file}", web::get().to(dashboard::asset))
        .route("/api/processes", web::get().to(list))
        .route("/api/processes/{target}", web::get().to(describe))
        .route("/api/processes/{target}/{verb}", web::post().to(act))
        .route("/api/logs/{target}", web::get().to(logs))
        .route("/api/events", web::get().to(events))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(unknown));
    // A client that closes its end is gone: with half-closed connections allowed (the
    // default), an event stream would only notice at its next write. 5 s to send the
    // first request head (`limits::Guarded` times every head), 5 s idle between requests,
    // 1 s to take the last bytes once the server closes; none applies while a response
    // streams (`/api/events`).
    let http = HttpService::build()
        .h1_allow_half_closed(false)
        .client_request_timeout(limits::HEAD_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .finish(map_config(app, |_| AppConfig::default()));
    fn_service(|io: tokio::net::TcpStream| async move {
        let peer = io.peer_addr().ok();
        let _ = io.set_nodelay(true);
        Ok((limits::Guarded::new(io), Protocol::Http1, peer))
    })
    .and_then(http)
}

/// `GET /api/processes`: `list`'s rows.
async fn list(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    answer(ask(&s.0, Request::List).await)
}

/// `GET /api/processes/<target>`: `describe`'s descriptions.
async fn describe(
    s: web::Data<Shared>,
    req: HttpRequest,
    target: web::Path<String>,
) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    let target = target.into_inner();
    answer(ask(&s.0, Request::Describe { target, env: false }).await)
}

/// `POST /api/processes/<target>/<verb>`: the verb's rows.
async fn act(
    s: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    let (target, verb) = path.into_inner();
    match verb_request(&verb, target) {
        Some(request) => answer(ask(&s.0, request).await),
        None => error(ApiError::new(
            ErrorCode::NotFound,
            format!("no action {verb:?}: POST restart, reload, stop or start"),
        )),
    }
}

/// The socket request a `POST …/<verb>` is; None for a verb the API does not have.
fn verb_request(verb: &str, target: String) -> Option<Request> {
    let again = |target| RestartRequest {
        target,
        update_env: false,
        env: None,
        update: None,
    };
    Some(match verb {
        "restart" | "start" => Request::Restart(again(target)),
        "reload" => Request::Reload(again(target)),
        "stop" => Request::Stop {
            target,
            unwatch: false,
        },
        _ => return None,
    })
}

/// `GET /api/logs/<target>?lines=N`: the last lines of each of the target's log files.
async fn logs(s: web::Data<Shared>, req: HttpRequest, target: web::Path<String>) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    let lines = match lines_of(req.query_string()) {
        Ok(n) => n,
        Err(e) => return error(e),
    };
    let target = target.into_inner();
    let described = match ask(&s.0, Request::Describe { target, env: false }).await {
        Ok(raw) => match serde_json::from_str::<Vec<Description>>(raw.get()) {
            Ok(d) => d,
            Err(e) => return error(ApiError::new(ErrorCode::Internal, e.to_string())),
        },
        Err(e) => return error(e),
    };
    let mut files: Vec<LogTail> = Vec::new();
    for d in &described {
        for (stream, path) in [("out", &d.out_log), ("err", &d.error_log)] {
            if !files.iter().any(|f| &f.path == path) {
                files.push(LogTail {
                    app: d.info.name.clone(),
                    id: d.info.id,
                    stream: stream.into(),
                    path: path.clone(),
                    lines: Vec::new(),
                });
            }
        }
    }
    // The files are read on the log arbiter, as `save` writes there: a slow disk never
    // delays a restart decision, and no thread is added.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let queued = s.0.log_arbiter.spawn(async move {
        for f in &mut files {
            f.lines = crate::protocol::tail(&f.path, lines);
        }
        let _ = tx.send(files);
    });
    match rx.await {
        Ok(files) if queued => json(StatusCode::OK, &files),
        _ => error(ApiError::new(ErrorCode::Internal, "the log thread is gone")),
    }
}

/// The `lines` of a query string (`lines=N`; absent: [`DEFAULT_LINES`]).
/// Errors: `bad_request` for a count that is not a number or is over [`MAX_LINES`].
fn lines_of(query: &str) -> Result<usize, ApiError> {
    let Some(value) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("lines="))
    else {
        return Ok(DEFAULT_LINES);
    };
    match value.parse::<usize>() {
        Ok(n) if n <= MAX_LINES => Ok(n),
        _ => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("lines={value}: expected a number of lines from 0 to {MAX_LINES}"),
        )),
    }
}

/// `GET /api/events`: the bus's events as Server-Sent Events (`sse.rs`), narrowed by the
/// query's `apps` and `events` as the socket's `subscribe` is.
async fn events(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    let (apps, events) = match sse::narrowing(req.query_string()) {
        Ok(n) => n,
        Err(e) => return error(e),
    };
    let bus = s.0.bus.clone();
    match bus.send(crate::events::Subscribe { apps, events }).await {
        Ok(sub) => HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .streaming(sse::stream(sub, bus)),
        Err(e) => error(ApiError::new(ErrorCode::Internal, e.to_string())),
    }
}

/// `GET /metrics`: every instance's figures and the daemon's, as Prometheus text.
async fn metrics(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    let target = "all".to_string();
    let described = match ask(&s.0, Request::Describe { target, env: false }).await {
        Ok(raw) => match serde_json::from_str::<Vec<Description>>(raw.get()) {
            Ok(d) => d,
            Err(e) => return error(ApiError::new(ErrorCode::Internal, e.to_string())),
        },
        // No app at all: only the daemon's own figures.
        Err(e) if e.code == ErrorCode::NotFound => Vec::new(),
        Err(e) => return error(e),
    };
    let mut daemon = prometheus::daemon();
    daemon.subscribers = s.0.bus.send(CountSubscribers).await.ok().map(|n| n as u64);
    HttpResponse::Ok()
        .content_type(prometheus::CONTENT_TYPE)
        .body(prometheus::render(&described, daemon))
}

/// Any other path or method: 404 `not_found` (401 first when a token is in force).
async fn unknown(s: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    error(ApiError::new(
        ErrorCode::NotFound,
        format!("no route {} {}", req.method(), req.path()),
    ))
}

/// Ask the Root, as an admin session does.
async fn ask(s: &WebState, request: Request) -> Result<Box<RawValue>, ApiError> {
    match s.root.send(Api(request)).await {
        Ok(answer) => answer,
        Err(e) => Err(ApiError::new(ErrorCode::Internal, e.to_string())),
    }
}

/// A Root answer as a response: its result as it is, or its error.
fn answer(result: Result<Box<RawValue>, ApiError>) -> HttpResponse {
    match result {
        Ok(raw) => HttpResponse::Ok()
            .content_type("application/json")
            .body(String::from(Box::<str>::from(raw))),
        Err(e) => error(e),
    }
}

/// `v` as a JSON response with `status`.
fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> HttpResponse {
    match serde_json::to_string(v) {
        Ok(text) => HttpResponse::build(status)
            .content_type("application/json")
            .body(text),
        Err(e) => error(ApiError::new(ErrorCode::Internal, e.to_string())),
    }
}

/// The HTTP status of an error code.
pub(super) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::BadRequest
        | ErrorCode::InvalidConfig
        | ErrorCode::Malformed
        | ErrorCode::UnknownRequest
        | ErrorCode::HelloRequired
        | ErrorCode::VersionMismatch => StatusCode::BAD_REQUEST,
    }
}

/// `{"error":{"code","message"}}` with the code's status.
pub(super) fn error(e: ApiError) -> HttpResponse {
    let status = status_of(e.code);
    let body = serde_json::json!({ "error": e });
    let mut response = HttpResponse::build(status);
    if e.code == ErrorCode::Unauthorized {
        response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    response
        .content_type("application/json")
        .body(body.to_string())
}

/// The 403 or 401 for a request the guard refuses (a foreign `Host` or `Origin`, no
/// token: `guard.rs`); None when it may go on.
pub(super) fn refused(s: &WebState, req: &HttpRequest) -> Option<HttpResponse> {
    // Fails closed: without the listen address nothing is served.
    let Some(listen) = req.app_data::<web::Data<Listen>>().map(|l| l.0) else {
        return Some(error(ApiError::new(
            ErrorCode::Internal,
            "no listen address",
        )));
    };
    let token = s.token.borrow();
    guard::check(req, listen, token.as_deref()).err().map(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_default_to_15_and_refuse_non_numbers() {
        let cases = [
            ("", Ok(15)),
            ("lines=3", Ok(3)),
            ("x=1&lines=0", Ok(0)),
            ("lines=10000", Ok(10_000)),
            ("lines=10001", Err(())),
            ("lines=-1", Err(())),
            ("lines=ten", Err(())),
        ];
        for (query, want) in cases {
            assert_eq!(lines_of(query).map_err(drop), want, "{query:?}");
        }
    }

    #[test]
    fn each_error_code_has_its_http_status() {
        let cases = [
            (ErrorCode::NotFound, 404),
            (ErrorCode::BadRequest, 400),
            (ErrorCode::Conflict, 409),
            (ErrorCode::Internal, 500),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::InvalidConfig, 400),
        ];
        for (code, status) in cases {
            assert_eq!(status_of(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn the_api_has_four_verbs() {
        for (verb, known) in [
            ("restart", true),
            ("reload", true),
            ("stop", true),
            ("start", true),
            ("delete", false),
            ("", false),
        ] {
            assert_eq!(verb_request(verb, "a".into()).is_some(), known, "{verb}");
        }
    }
}
