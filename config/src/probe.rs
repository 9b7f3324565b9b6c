//! The targets of a health check (`health: (http: …)` / `(tcp: …)`, SPEC §4): checked
//! when the file is read, and split again by the daemon once `${NAME}` is replaced by the
//! instance's environment. Pure: no I/O.

/// An HTTP probe's target, split: what the daemon connects to and asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// The host as written, without brackets for an IPv6 literal (`127.0.0.1`, `::1`,
    /// `localhost`).
    pub host: String,
    /// The port (80 when the URL gives none).
    pub port: u16,
    /// The path and query sent in the request line (`/` when the URL gives none).
    pub path: String,
}

/// Splits `http://host[:port][/path][?query]`. `https` is refused with what to do
/// instead: pmx carries no TLS client (probe the plain port, or use an `exec` probe).
pub fn split_http(url: &str) -> Result<HttpTarget, String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(format!(
            "health http \"{url}\": https is not supported (pmx has no TLS client); probe a plain http port, or use exec: [\"curl\", \"-fsS\", \"{url}\"]"
        ));
    }
    if !lower.starts_with("http://") {
        return Err(format!(
            "health http \"{url}\": expected a URL starting with http:// (\"http://127.0.0.1:3000/health\")"
        ));
    }
    let rest = &url["http://".len()..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let tail = tail.split('#').next().unwrap_or("");
    let path = match tail {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "health http \"{url}\": the path must not hold spaces or control characters"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "health http \"{url}\": credentials in the URL are not supported"
        ));
    }
    let (host, port) =
        split_host_port(authority, Some(80)).map_err(|e| format!("health http \"{url}\": {e}"))?;
    Ok(HttpTarget { host, port, path })
}

/// Splits a TCP probe's `host:port` (`[::1]:3000` for an IPv6 literal).
pub fn split_tcp(addr: &str) -> Result<(String, u16), String> {
    split_host_port(addr, None).map_err(|e| format!("health tcp \"{addr}\": {e}"))
}

/// `host[:port]`; `default` is the port when none is written (None: one is required).
fn split_host_port(s: &str, default: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let Some((h, after)) = inner.split_once(']') else {
            return Err("an IPv6 address needs its closing \"]\"".into());
        };
        match after {
            "" => (h, None),
            a => match a.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("unexpected \"{a}\" after the address")),
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("write an IPv6 address in brackets: [::1]:3000".into())
            }
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("no host (\"127.0.0.1:3000\")".into());
    }
    let port = match (port, default) {
        (Some(p), _) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("invalid port \"{p}\": expected 1 to 65535")),
        },
        (None, Some(d)) => d,
        (None, None) => return Err("no port: expected host:port (\"127.0.0.1:3000\")".into()),
    };
    Ok((host.to_string(), port))
}

/// `s` with every `${NAME}` replaced by `lookup(NAME)`; a name `lookup` does not know is
/// an error naming it, as is a `${` never closed. A `$` not followed by `{` is kept.
pub fn expand(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(close) = after.find('}') else {
            return Err(format!("\"{s}\": \"${{\" without its closing \"}}\""));
        };
        let name = &after[..close];
        if name.is_empty() {
            return Err(format!("\"{s}\": an empty ${{}}"));
        }
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("\"{s}\": ${{{name}}} is not set for this instance")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks a health check as the daemon receives it (a client may send any values): a
/// probe of the right shape, an interval and a timeout over 0, at least one failure.
pub fn check_health(h: &crate::Health) -> Result<(), String> {
    let stand_in = |_: &str| Some("1".to_string());
    match &h.probe {
        crate::Probe::Http(u) => split_http(&expand(u, stand_in)?).map(|_| ())?,
        crate::Probe::Tcp(a) => split_tcp(&expand(a, stand_in)?).map(|_| ())?,
        crate::Probe::Exec(argv) => {
            if argv.first().is_none_or(|c| c.is_empty()) {
                return Err("exec needs a command".into());
            }
        }
    }
    if h.interval_ms == 0 || h.timeout_ms == 0 {
        return Err("interval and timeout must be more than 0".into());
    }
    if h.failures == 0 {
        return Err("failures must be at least 1".into());
    }
    Ok(())
}

/// Whether `s` holds a `${NAME}` (its final shape is only known per instance).
pub fn has_variables(s: &str) -> bool {
    s.contains("${")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL and what it splits into (host, port, path) or the error's start.
    type Case<'a> = (&'a str, Result<(&'a str, u16, &'a str), &'a str>);

    #[test]
    fn http_targets_split_into_host_port_and_path() {
        let cases: &[Case] = &[
            (
                "http://127.0.0.1:3000/health",
                Ok(("127.0.0.1", 3000, "/health")),
            ),
            ("http://localhost", Ok(("localhost", 80, "/"))),
            ("HTTP://h:8080?x=1", Ok(("h", 8080, "/?x=1"))),
            ("http://[::1]:81/a?b#frag", Ok(("::1", 81, "/a?b"))),
            ("https://h/", Err("https is not supported")),
            ("ftp://h/", Err("starting with http://")),
            ("http://:80/", Err("no host")),
            ("http://h:0/", Err("invalid port \"0\"")),
            ("http://h:99999/", Err("invalid port")),
            ("http://u:p@h/", Err("credentials")),
            ("http://::1:80/", Err("in brackets")),
        ];
        for (url, want) in cases {
            let got = split_http(url);
            match (want, got) {
                (Ok((h, p, path)), Ok(t)) => {
                    assert_eq!(
                        (t.host.as_str(), t.port, t.path.as_str()),
                        (*h, *p, *path),
                        "{url}"
                    )
                }
                (Err(frag), Err(e)) => assert!(e.contains(frag), "{url}: {e}"),
                (w, g) => panic!("{url}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn tcp_targets_need_a_host_and_a_port() {
        assert_eq!(split_tcp("127.0.0.1:22"), Ok(("127.0.0.1".into(), 22)));
        assert_eq!(split_tcp("[::1]:22"), Ok(("::1".into(), 22)));
        assert!(split_tcp("host").unwrap_err().contains("no port"));
        assert!(split_tcp(":22").unwrap_err().contains("no host"));
        assert!(split_tcp("h:x").unwrap_err().contains("invalid port \"x\""));
    }

    #[test]
    fn variables_expand_from_the_instance_environment() {
        let env = |k: &str| (k == "PORT").then(|| "3001".to_string());
        assert_eq!(
            expand("http://h:${PORT}/x", env).as_deref(),
            Ok("http://h:3001/x")
        );
        assert_eq!(expand("a$b", env).as_deref(), Ok("a$b"));
        assert!(expand("${NOPE}", env)
            .unwrap_err()
            .contains("${NOPE} is not set"));
        assert!(expand("${PORT", env).unwrap_err().contains("closing"));
        assert!(has_variables("h:${PORT}") && !has_variables("h:1"));
    }
}
