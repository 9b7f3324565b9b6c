//! Who may use `pmx web` from a browser: the checks every route makes before it answers.
//!
//! 1. `Host` (DNS rebinding): on a loopback listener, the name a request was addressed
//!    to must be this service's own — `localhost`, `127.0.0.1`, `[::1]` or the listen IP.
//!    A page of `attacker.example` whose name the attacker re-points at 127.0.0.1 still
//!    sends `Host: attacker.example`, so it gets 403 `forbidden`. The port is not
//!    compared: an `ssh -L 8080:127.0.0.1:9615` tunnel arrives as `localhost:8080`, and a
//!    rebinding page cannot change the name. A listener off loopback always has a token,
//!    which a rebinding page cannot send (it has no Bearer, and the cookie belongs to the
//!    real name), so there any well-formed name passes: a Prometheus server or a browser
//!    reaching the host by its DNS name.
//! 2. `Origin` (CSRF): a request that is not `GET`/`HEAD` and carries an `Origin` must
//!    come from this service's own origin, `http://<its Host>`; any other page's form or
//!    `fetch` gets 403 `forbidden` before the verb runs. Without `Origin` (curl, scripts)
//!    it goes on: browsers send it on every cross-origin POST.
//! 3. The token (when one is in force): `Authorization: Bearer <token>`, or the cookie
//!    that visiting `/?token=<token>` sets (`EventSource` cannot send a header), compared
//!    in constant time; 401 `unauthorized` without either.
//!
//! Django's `ALLOWED_HOSTS` and its `Origin` check for unsafe methods are the model; the
//! cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's request
//! carries it).

use std::net::{IpAddr, SocketAddr};

use actix_web::http::{header, Method};
use actix_web::HttpRequest;

use crate::protocol::{ApiError, ErrorCode};

/// The address the service listens on, as actix-web app data (the `Host` check's own
/// name, the cookie's name).
#[derive(Debug, Clone, Copy)]
pub(super) struct Listen(pub SocketAddr);

/// The cookie carrying the token for the service on `port`: `pmx_token_<port>` (cookies
/// are not kept apart by port, so two services on one host keep two cookies).
pub(super) fn cookie_name(port: u16) -> String {
    format!("pmx_token_{port}")
}

/// The `Set-Cookie` value that carries `token` for the service on `port`: HttpOnly,
/// SameSite=Strict, the whole site, for the browser session.
pub(super) fn set_cookie(port: u16, token: &str) -> String {
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(port)
    )
}

/// Whether `host` (a `Host` header: `name`, `name:port`, `[v6]`, `[v6]:port`) names the
/// service listening on `listen` (see the module doc); false when absent or unreadable.
pub(super) fn host_allowed(host: Option<&str>, listen: SocketAddr) -> bool {
    let Some(name) = host.and_then(host_name) else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    if matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]") || !listen.ip().is_loopback() {
        return true;
    }
    let ip = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => name.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
    };
    ip == Some(listen.ip())
}

/// The name part of a `Host` value (the port removed); None for an empty or malformed one.
fn host_name(host: &str) -> Option<&str> {
    let host = host.trim();
    let name = if host.starts_with('[') {
        let end = host.find(']')?;
        let rest = &host[end + 1..];
        if !(rest.is_empty() || port_ok(rest.strip_prefix(':')?)) {
            return None;
        }
        &host[..=end]
    } else {
        match host.split_once(':') {
            Some((name, port)) if port_ok(port) => name,
            Some(_) => return None,
            None => host,
        }
    };
    (!name.is_empty()).then_some(name)
}

/// Whether `s` is a port number.
fn port_ok(s: &str) -> bool {
    s.parse::<u16>().is_ok()
}

/// Whether a request of `method` from `origin` (its `Origin` header) to `host` (its
/// `Host`) may go on: always for `GET`/`HEAD` and without `Origin`; else only from
/// `http://<host>` (compared without case).
pub(super) fn origin_allowed(method: &Method, origin: Option<&str>, host: &str) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    match origin {
        None => true,
        Some(origin) => origin
            .trim()
            .eq_ignore_ascii_case(&format!("http://{}", host.trim())),
    }
}

/// The value of the cookie `name` in a `Cookie` header (`a=1; b=2`).
pub(super) fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then(|| v.trim_matches('"')))
}

/// The `token` of a query string (`token=<t>`), if it has one.
pub(super) fn token_of_query(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

/// `a == b` in a time that depends only on their lengths (a token is not guessed a byte
/// at a time from response times).
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `given` is the token in force (`want`), in constant time.
pub(super) fn token_matches(given: &str, want: &str) -> bool {
    same(given.as_bytes(), want.as_bytes())
}

/// The checks of the module doc, in order, for `req` to a service on `listen` with the
/// token `token` in force (None: none). Errors: 403 `forbidden` for a foreign `Host` or
/// `Origin`, 401 `unauthorized` without the token.
pub(super) fn check(
    req: &HttpRequest,
    listen: SocketAddr,
    token: Option<&str>,
) -> Result<(), ApiError> {
    let text = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST);
    if !host_allowed(host, listen) {
        let mut names = "localhost, 127.0.0.1, [::1]".to_string();
        match listen.ip() {
            IpAddr::V4(ip) if ip != std::net::Ipv4Addr::LOCALHOST => names += &format!(", {ip}"),
            IpAddr::V6(ip) if ip != std::net::Ipv6Addr::LOCALHOST => names += &format!(", [{ip}]"),
            _ => {}
        }
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "Host {:?} is not a name of this service ({names}): refused against DNS rebinding",
                host.unwrap_or("")
            ),
        ));
    }
    let host = host.unwrap_or("");
    let origin = text(header::ORIGIN);
    if !origin_allowed(req.method(), origin, host) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "Origin {:?} is not this service's own (http://{host}): a {} from another site is refused",
                origin.unwrap_or(""),
                req.method()
            ),
        ));
    }
    let Some(want) = token else {
        return Ok(());
    };
    let bearer = text(header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = text(header::COOKIE).and_then(|c| cookie_value(c, &cookie_name(listen.port())));
    if bearer
        .into_iter()
        .chain(cookie)
        .any(|g| token_matches(g, want))
    {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Unauthorized,
        "this pmx web requires `Authorization: Bearer <token>` (the token is in $PMX_HOME/web.token; a browser opens /?token=<token> once)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn only_the_services_own_names_pass_the_host_check() {
        let cases = [
            // (listen, Host, allowed)
            ("127.0.0.1:9615", Some("127.0.0.1:9615"), true),
            ("127.0.0.1:9615", Some("localhost:9615"), true),
            ("127.0.0.1:9615", Some("LOCALHOST:9615"), true),
            ("127.0.0.1:9615", Some("localhost"), true),
            ("127.0.0.1:9615", Some("[::1]:9615"), true),
            ("127.0.0.1:9615", Some("localhost:8080"), true),
            ("127.0.0.1:9615", Some("attacker.example:9615"), false),
            ("127.0.0.1:9615", Some("localhost.attacker.example"), false),
            ("127.0.0.1:9615", Some("127.0.0.2:9615"), false),
            ("127.0.0.1:9615", Some("192.168.1.5:9615"), false),
            ("127.0.0.1:9615", Some("localhost:notaport"), false),
            ("127.0.0.1:9615", Some("[::1"), false),
            ("127.0.0.1:9615", Some(""), false),
            ("127.0.0.1:9615", None, false),
            ("127.0.0.2:9615", Some("127.0.0.2:9615"), true),
            ("127.0.0.2:9615", Some("127.0.0.3:9615"), false),
            ("[::1]:9615", Some("[::1]:9615"), true),
            ("[::1]:9615", Some("[::2]:9615"), false),
            ("[::1]:9615", Some("attacker.example"), false),
            // Off loopback the token protects: any well-formed name.
            ("192.168.1.5:9615", Some("192.168.1.5:9615"), true),
            ("0.0.0.0:9615", Some("192.168.1.6:9615"), true),
            ("0.0.0.0:9615", Some("myhost.lan:9615"), true),
            ("[::]:9615", Some("[fe80::1]:9615"), true),
            ("0.0.0.0:9615", Some("myhost.lan:x"), false),
            ("0.0.0.0:9615", None, false),
        ];
        for (listen, host, want) in cases {
            assert_eq!(
                host_allowed(host, addr(listen)),
                want,
                "listen {listen}, Host {host:?}"
            );
        }
    }

    #[test]
    fn only_same_origin_posts_pass_the_origin_check() {
        let cases = [
            // (method, Origin, Host, allowed)
            (Method::POST, None, "127.0.0.1:9615", true),
            (
                Method::POST,
                Some("http://127.0.0.1:9615"),
                "127.0.0.1:9615",
                true,
            ),
            (
                Method::POST,
                Some("http://LOCALHOST:9615"),
                "localhost:9615",
                true,
            ),
            (
                Method::POST,
                Some("http://evil.example"),
                "127.0.0.1:9615",
                false,
            ),
            (Method::POST, Some("null"), "127.0.0.1:9615", false),
            (
                Method::POST,
                Some("http://127.0.0.1:9616"),
                "127.0.0.1:9615",
                false,
            ),
            (
                Method::POST,
                Some("https://127.0.0.1:9615"),
                "127.0.0.1:9615",
                false,
            ),
            (
                Method::DELETE,
                Some("http://evil.example"),
                "127.0.0.1:9615",
                false,
            ),
            (
                Method::GET,
                Some("http://evil.example"),
                "127.0.0.1:9615",
                true,
            ),
            (
                Method::HEAD,
                Some("http://evil.example"),
                "127.0.0.1:9615",
                true,
            ),
        ];
        for (method, origin, host, want) in cases {
            assert_eq!(
                origin_allowed(&method, origin, host),
                want,
                "{method} Origin {origin:?} Host {host}"
            );
        }
    }

    #[test]
    fn the_token_cookie_is_found_among_others() {
        let cases = [
            ("pmx_token_9615=abc", Some("abc")),
            ("a=1; pmx_token_9615=abc; b=2", Some("abc")),
            ("pmx_token_9615=\"abc\"", Some("abc")),
            ("pmx_token_9616=abc", None),
            ("xpmx_token_9615=abc", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(cookie_value(header, "pmx_token_9615"), want, "{header:?}");
        }
        assert_eq!(
            set_cookie(9615, "abc"),
            "pmx_token_9615=abc; Path=/; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn the_token_of_a_query_string() {
        let cases = [
            ("token=abc", Some("abc")),
            ("x=1&token=abc", Some("abc")),
            ("tokens=abc", None),
            ("", None),
        ];
        for (query, want) in cases {
            assert_eq!(token_of_query(query), want, "{query:?}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}
