//! The dashboard at `/` (issue 25): three static files in `assets/` — `index.html`,
//! `app.css`, `app.js` (no framework, no build step) — embedded in the binary and served
//! as they are. The page is a client of the JSON API like any other: it polls
//! `GET /api/processes`, reads `/api/processes/<id>` (its `history` seeds the chart) and
//! `/api/logs/<id>`, follows `GET /api/events` when the service has it, and POSTs the
//! verbs. Nothing here runs unless a browser asks.
//!
//! Caching: each file has an ETag (a hash of its bytes, fixed at compile time) and
//! `Cache-Control: no-cache`, so a browser revalidates (a 304 of no body) and a new
//! binary's files are never stale. Every answer forbids framing (the buttons cannot be
//! clickjacked) and sniffing, and the CSP allows only the page's own files.
//!
//! With a token in force, `/?token=<token>` sets the cookie `guard.rs` accepts and
//! redirects to `/`, so the token leaves the address bar and `EventSource` (which sends no
//! header) is let in; `/` without it answers a 401 page saying how to get in.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::guard::{self, Listen};
use super::routes::{error, refused};
use super::WebState;
use crate::protocol::{ApiError, ErrorCode};

/// One embedded file: its bytes, content type and ETag.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: u64,
}

impl Asset {
    const fn new(body: &'static [u8], content_type: &'static str) -> Asset {
        Asset {
            body,
            content_type,
            etag: fnv1a(body),
        }
    }
}

const INDEX: Asset = Asset::new(
    include_bytes!("assets/index.html"),
    "text/html; charset=utf-8",
);
const CSS: Asset = Asset::new(include_bytes!("assets/app.css"), "text/css; charset=utf-8");
const JS: Asset = Asset::new(
    include_bytes!("assets/app.js"),
    "text/javascript; charset=utf-8",
);
const ICON: Asset = Asset::new(include_bytes!("assets/icon.svg"), "image/svg+xml");

/// The page's Content-Security-Policy: its own files and API only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// 64-bit FNV-1a of `bytes` (a compile-time ETag; not for security).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The shared state as the routes hold it.
type Shared = web::Data<super::routes::Shared>;

/// `GET /`: the page; `/?token=<t>` first trades the token for the cookie (303 to `/`).
pub(super) async fn index(s: Shared, req: HttpRequest) -> HttpResponse {
    if let Some(given) = guard::token_of_query(req.query_string()) {
        return trade_token(&s.0, &req, given);
    }
    if let Some(no) = refused(&s.0, &req) {
        if no.status() == StatusCode::UNAUTHORIZED {
            return login_page();
        }
        return no;
    }
    serve(&INDEX, &req)
}

/// `/?token=<given>`: with the right token (or none in force) a 303 to `/` setting the
/// cookie; else the 401 page. The Host and Origin checks come first, as everywhere.
fn trade_token(s: &WebState, req: &HttpRequest, given: &str) -> HttpResponse {
    let Some(listen) = req.app_data::<web::Data<Listen>>().map(|l| l.0) else {
        return error(ApiError::new(ErrorCode::Internal, "no listen address"));
    };
    if let Err(e) = guard::check(req, listen, None) {
        return error(e);
    }
    let token = s.token.borrow();
    let mut found = HttpResponse::SeeOther();
    found.insert_header((header::LOCATION, "/"));
    found.insert_header((header::CACHE_CONTROL, "no-store"));
    found.insert_header((header::REFERRER_POLICY, "no-referrer"));
    match token.as_deref() {
        None => found.finish(),
        Some(want) if guard::token_matches(given, want) => found
            .insert_header((header::SET_COOKIE, guard::set_cookie(listen.port(), want)))
            .finish(),
        Some(_) => login_page(),
    }
}

/// The 401 page for a browser without the token.
fn login_page() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
             <title>pmx: token required</title>\
             <h1>pmx web needs its token</h1>\
             <p>Open <code>/?token=&lt;token&gt;</code> once, with the token from \
             <code>$PMX_HOME/web.token</code> (<code>pmx web</code> printed it): \
             this browser then keeps it in a cookie for the session.</p>",
        )
}

/// `GET /assets/<file>`: `app.css`, `app.js` or `icon.svg`; 404 `not_found` else.
pub(super) async fn asset(s: Shared, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    if let Some(no) = refused(&s.0, &req) {
        return no;
    }
    let asset = match file.as_str() {
        "app.css" => &CSS,
        "app.js" => &JS,
        "icon.svg" => &ICON,
        other => {
            return error(ApiError::new(
                ErrorCode::NotFound,
                format!("no asset {other:?}"),
            ))
        }
    };
    serve(asset, &req)
}

/// `asset` with its ETag: a 304 when the request already holds that version.
fn serve(asset: &Asset, req: &HttpRequest) -> HttpResponse {
    let etag = format!("\"{:016x}\"", asset.etag);
    let held = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if held {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if held {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_follow_the_bytes() {
        // FNV-1a's published test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let tags = [INDEX.etag, CSS.etag, JS.etag, ICON.etag];
        for (i, a) in tags.iter().enumerate() {
            assert!(
                tags[i + 1..].iter().all(|b| a != b),
                "two files share an ETag"
            );
        }
    }

    #[test]
    fn the_page_loads_only_embedded_files() {
        let html = std::str::from_utf8(INDEX.body).expect("UTF-8");
        for file in ["/assets/app.css", "/assets/app.js", "/assets/icon.svg"] {
            assert!(html.contains(file), "index.html does not load {file}");
        }
        for page in [INDEX.body, CSS.body, JS.body, ICON.body] {
            let text = std::str::from_utf8(page).expect("UTF-8");
            // The one absolute URL allowed is SVG's namespace name, which is never fetched.
            let foreign = text.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !foreign.contains("://"),
                "a file of another origin (a CDN) is named"
            );
        }
    }
}
