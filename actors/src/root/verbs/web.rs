//! `web`: start, move or stop the daemon's HTTP service (`pmx web`, issue 25), and its
//! part in `save`/`resurrect` (the setting is daemon state, like the apps). While it is
//! on, the fd holder holds its listening socket under a label that carries the setting
//! (`web::held_label`): a daemon after `pmx update`'s exec, or after a SIGKILL, serves
//! again on the very socket (`Root::readopt_web`), so no connection is refused meanwhile
//! (they wait in its backlog).

use std::cell::RefCell;
use std::rc::Rc;

use actix::prelude::*;
use serde_json::value::RawValue;

use crate::protocol::{ApiError, ErrorCode, WebReply, WebRequest, DEFAULT_LISTEN};
use crate::root::{to_json, Root};
use crate::web::{self, StopWeb, Web, WebSetting, WebState};

/// The service while it is on: its setting, its actor, the token it checks.
pub struct WebRunning {
    /// What `save` stores.
    pub setting: WebSetting,
    addr: Addr<Web>,
    token: Rc<RefCell<Option<String>>>,
}

/// Where a required token comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(in crate::root) enum TokenSource {
    /// A new one (`pmx web --token`, or a new non-loopback address).
    New,
    /// The one `web.token` holds (`resurrect`), a new one when it holds none.
    Kept,
}

impl Root {
    /// `web`: stop the service, or serve `listen` (the default address when absent),
    /// with a token when asked or when the address is not loopback. Asked again on the
    /// address served, only the token setting changes; on another, the new socket is
    /// bound before the old one closes. Errors: `bad_request` for an address that does
    /// not parse or cannot be bound, `conflict` for a port in use, `internal` when the
    /// token file cannot be written.
    pub(in crate::root) fn web(
        &mut self,
        req: WebRequest,
        ctx: &mut Context<Self>,
    ) -> Result<Box<RawValue>, ApiError> {
        if req.stop {
            let stopped = self.web.take().map(|running| {
                running.addr.do_send(StopWeb);
                crate::fdstore::forget(&web::held_label(&running.setting));
                tracing::info!("web: stopped serving {}", running.setting.listen);
                running.setting.listen
            });
            return to_json(&WebReply {
                listening: None,
                token_required: false,
                token_file: None,
                token: None,
                stopped,
            });
        }
        let listen = req.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let addr = web::parse_listen(listen)?;
        let setting = WebSetting {
            listen: addr.to_string(),
            token: req.token || !addr.ip().is_loopback(),
        };
        let reply = self.serve_web(setting, TokenSource::New, None, ctx)?;
        to_json(&reply)
    }

    /// Serve again on `listener`, the socket the fd holder held for the daemon before this
    /// one (after `pmx update` or a SIGKILL), as `setting` says, with the token
    /// `web.token` holds (a new one when it holds none). A failure is logged: the
    /// service is then off, and the socket closed.
    pub(in crate::root) fn readopt_web(
        &mut self,
        setting: WebSetting,
        listener: std::net::TcpListener,
        ctx: &mut Context<Self>,
    ) {
        let listen = setting.listen.clone();
        let label = web::held_label(&setting);
        match self.serve_web(setting, TokenSource::Kept, Some(listener), ctx) {
            Ok(reply) if reply.token.is_some() => tracing::warn!(
                "web: serving {listen} again with a new token ({} held none)",
                self.parts.home.web_token().display()
            ),
            Ok(_) => tracing::info!("web: serving {listen} again, on the socket kept"),
            Err(e) => {
                crate::fdstore::forget(&label);
                tracing::error!("web: cannot serve {listen} again: {e}");
            }
        }
    }

    /// Serve `setting` (see [`Root::web`]) on `held` when given (a socket kept across a
    /// daemon's end), else on a socket bound now; the answer carries a token only when it
    /// is new. The socket in use is stored in the fd holder under the setting's label.
    /// A bind refused because the service itself holds that port on another address
    /// (`127.0.0.1:9615` → `0.0.0.0:9615`): the new socket is bound before the old one
    /// closes, so the move needs a stop first. Said so, rather than "address in use" by
    /// what is pmx's own service; any other error as it is.
    fn own_port(&self, addr: std::net::SocketAddr, e: ApiError) -> ApiError {
        let serving = self.web.as_ref().map(|r| r.setting.listen.clone());
        match serving {
            Some(on)
                if e.code == ErrorCode::Conflict
                    && web::parse_listen(&on).is_ok_and(|a| a.port() == addr.port()) =>
            {
                ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "pmx web already serves {on}, on the port of {addr}: run `pmx web \
                         --stop` first, then `pmx web --listen {addr}`"
                    ),
                )
            }
            _ => e,
        }
    }

    pub(in crate::root) fn serve_web(
        &mut self,
        setting: WebSetting,
        source: TokenSource,
        held: Option<std::net::TcpListener>,
        ctx: &mut Context<Self>,
    ) -> Result<WebReply, ApiError> {
        let addr = web::parse_listen(&setting.listen)?;
        let home = self.parts.home.clone();
        let kept = match source {
            TokenSource::Kept if setting.token => web::read_token(&home),
            _ => None,
        };
        let token = match (&kept, setting.token) {
            (_, false) => None,
            (Some(k), true) => Some(k.clone()),
            (None, true) => Some(web::new_token()?),
        };
        // Written and answered only when made now.
        let fresh = token.clone().filter(|_| kept.is_none());
        // The listener first: a refusal changes nothing, the token file included.
        let same_address = self
            .web
            .as_ref()
            .is_some_and(|r| r.setting.listen == setting.listen);
        let listener = match held {
            _ if same_address => None,
            Some(l) => Some(l),
            None => Some(web::bind(addr).map_err(|e| self.own_port(addr, e))?),
        };
        if let Some(t) = &fresh {
            web::write_token(&home, t)?;
        }
        let reply = WebReply {
            listening: Some(setting.listen.clone()),
            token_required: setting.token,
            token_file: setting.token.then(|| home.web_token()),
            token: fresh,
            stopped: None,
        };
        match (listener, self.web.as_mut()) {
            (None, Some(running)) => {
                *running.token.borrow_mut() = token;
                crate::fdstore::relabel(
                    &web::held_label(&running.setting),
                    &web::held_label(&setting),
                );
                running.setting = setting;
            }
            // Not on the address served: a socket was bound above.
            (None, None) => {}
            (Some(listener), _) => {
                {
                    use std::os::fd::AsFd;
                    crate::fdstore::store(&web::held_label(&setting), &[listener.as_fd()]);
                }
                let cell = Rc::new(RefCell::new(token));
                let state = WebState {
                    root: ctx.address(),
                    token: cell.clone(),
                    home,
                    log_arbiter: self.parts.log_arbiter.clone(),
                    bus: self.parts.bus.clone(),
                };
                let actor = Web::new(listener, state).start();
                if let Some(old) = self.web.take() {
                    old.addr.do_send(StopWeb);
                    crate::fdstore::forget(&web::held_label(&old.setting));
                }
                tracing::info!(
                    "web: serving http://{}{}",
                    setting.listen,
                    if setting.token {
                        " (bearer token required)"
                    } else {
                        ""
                    }
                );
                self.web = Some(WebRunning {
                    setting,
                    addr: actor,
                    token: cell,
                });
            }
        }
        Ok(reply)
    }

    /// The setting `save` stores (None: the service is off).
    pub(in crate::root) fn web_setting(&self) -> Option<WebSetting> {
        self.web.as_ref().map(|r| r.setting.clone())
    }
}
