//! `pmx web [--listen ADDR] [--token] | --stop`: the daemon's HTTP service (issue 25;
//! PM2's `pm2 web` port): the JSON API and `/metrics`.

use pmx::Home;
use pmx_protocol::{Request, WebReply, WebRequest};

use crate::cli::args::WebArgs;
use crate::cli::{connect, out, Failure};

/// `pmx web`: prints where it serves, and a new token once, with its file. Exit 1 when
/// the address cannot be served (taken, not this host's); 2 when `--stop` is given
/// with `--listen` or `--token`.
pub fn run(home: &Home, a: WebArgs) -> Result<(), Failure> {
    if a.stop && (a.listen.is_some() || a.token) {
        return Err(Failure::usage("--stop takes no --listen or --token"));
    }
    let r: WebReply = connect(home)?.call_as(Request::Web(WebRequest {
        listen: a.listen,
        token: a.token,
        stop: a.stop,
    }))?;
    let Some(listening) = r.listening else {
        match r.stopped {
            Some(was) => out(&format!("web service stopped (it served http://{was}/)\n")),
            None => out("web service was not running\n"),
        }
        return Ok(());
    };
    let mut text =
        format!("serving http://{listening}/ (the API under /api, Prometheus at /metrics)\n");
    match (&r.token, &r.token_file) {
        (Some(token), Some(file)) => text.push_str(&format!(
            "token (send it as `Authorization: Bearer <token>`; kept in {}):\n{token}\n",
            file.display()
        )),
        (None, Some(file)) => text.push_str(&format!(
            "a bearer token is required: the one in {}\n",
            file.display()
        )),
        _ => {}
    }
    out(&text);
    Ok(())
}
