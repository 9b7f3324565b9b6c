//! `GET /api/events`: the event bus as Server-Sent Events, exactly the socket's
//! `subscribe` (SPEC §8) over HTTP. `?apps=a,b&events=exit,log` narrow it as the socket's
//! `apps` and `events` do. Each bus event is one SSE message, `data: <the socket's event
//! JSON, one line>` and a blank line, with no `event:` field: `EventSource.onmessage` and
//! curl see every kind alike (the kind is the JSON's `"event"`).
//!
//! The stream reads the same bounded [`Subscription`] a socket subscriber reads (no
//! second mechanism): actix-http polls the body only while the socket takes what it
//! writes, so a reader that stops reading fills its queue, the bus drops for it, and once
//! it has caught up it gets `{"event":"lagged","dropped":N}` ([`Subscription::caught_up`]).
//! A stream that has sent nothing for [`KEEP_ALIVE`] sends an SSE comment (`: keep-alive`)
//! so proxies and browsers keep it; the timer is the stream's own, so there is none while
//! no stream is open. When the client goes, actix-http drops the body: the subscription
//! is dropped and the bus told to forget it ([`Prune`]).

use std::time::Duration;

use actix::Addr;
use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;

use crate::events::{EventBus, Prune, Subscription};
use crate::protocol::{ApiError, ErrorCode};

/// How long a quiet stream waits before it sends `: keep-alive`.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The comment a quiet stream sends.
const COMMENT: &[u8] = b": keep-alive\n\n";

/// At most this many bytes of queued events go out as one chunk.
const CHUNK: usize = 64 * 1024;

/// The query of `GET /api/events`, as the socket's `subscribe` fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Query {
    apps: Option<String>,
    events: Option<String>,
}

/// What a query narrows a stream to: (apps, event kinds), None for all.
pub(super) type Narrowing = (Option<Vec<String>>, Option<Vec<String>>);

/// `apps` and `events` of a query string, each a comma-separated list (absent or empty:
/// not narrowed). Errors: `bad_request` naming what is wrong (another parameter, bad
/// percent-encoding).
pub(super) fn narrowing(query: &str) -> Result<Narrowing, ApiError> {
    let q: Query = serde_urlencoded::from_str(query).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("GET /api/events?{query}: {e} (expected apps=a,b and events=exit,log)"),
        )
    })?;
    let list = |v: Option<String>| {
        let items: Vec<String> = v?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (!items.is_empty()).then_some(items)
    };
    Ok((list(q.apps), list(q.events)))
}

/// What the stream holds: the subscription (dropped, then the bus told, when the client
/// goes), the bus, the keep-alive timer.
struct Feed {
    sub: Option<Subscription>,
    bus: Addr<EventBus>,
    quiet: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        // The queue first, so the bus finds it disconnected when it prunes.
        drop(self.sub.take());
        self.bus.do_send(Prune);
    }
}

/// The SSE body of `sub`: its events as `data:` messages (as many as are queued, up to
/// [`CHUNK`] bytes, per chunk), `: keep-alive` after [`KEEP_ALIVE`] without one. Ends when
/// the bus forgets the subscriber (the daemon stops).
pub(super) fn stream(
    sub: Subscription,
    bus: Addr<EventBus>,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let feed = Feed {
        sub: Some(sub),
        bus,
        quiet: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
    };
    futures_util::stream::unfold(feed, |mut feed| async move {
        let sub = feed.sub.as_ref()?;
        let chunk = tokio::select! {
            first = sub.recv_async() => {
                let first = first.ok()?;
                let mut out = Vec::with_capacity(first.len() + 8);
                message(&mut out, &first);
                while out.len() < CHUNK {
                    match sub.try_recv() {
                        Ok(text) => message(&mut out, &text),
                        Err(_) => break,
                    }
                }
                // Caught up after losing events: hear how many now, not with the next
                // event (which may never come).
                if let Some(m) = sub.caught_up() {
                    feed.bus.do_send(m);
                }
                out
            }
            () = feed.quiet.as_mut() => COMMENT.to_vec(),
        };
        feed.quiet
            .as_mut()
            .reset(tokio::time::Instant::now() + KEEP_ALIVE);
        Some((Ok(Bytes::from(chunk)), feed))
    })
}

/// Append `json` (one line) as an SSE message.
fn message(out: &mut Vec<u8>, json: &str) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_narrows_as_subscribe_does() {
        let s = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let cases = [
            ("", Ok((None, None))),
            ("apps=a,b", Ok((s(&["a", "b"]), None))),
            (
                "events=exit,log&apps=a",
                Ok((s(&["a"]), s(&["exit", "log"]))),
            ),
            ("apps=&events=", Ok((None, None))),
            ("apps=my%20app", Ok((s(&["my app"]), None))),
            ("app=a", Err(())),
            ("lines=3", Err(())),
        ];
        for (query, want) in cases {
            assert_eq!(narrowing(query).map_err(drop), want, "{query:?}");
        }
    }

    #[test]
    fn each_event_is_one_data_message() {
        let mut out = Vec::new();
        message(&mut out, r#"{"event":"exit"}"#);
        message(&mut out, r#"{"event":"log"}"#);
        assert_eq!(
            out,
            b"data: {\"event\":\"exit\"}\n\ndata: {\"event\":\"log\"}\n\n"
        );
    }
}
