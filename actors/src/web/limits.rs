//! What one client may hold of the daemon through `pmx web`, so a flood of connections
//! or a slowloris (requests sent a byte at a time) cannot take its descriptors or its
//! memory:
//!
//! - at most [`MAX_CONNECTIONS`] connections at once; beyond, a new one is closed as soon
//!   as it is accepted ([`Admission`], logged once per episode);
//! - a request head must be whole within [`HEAD_TIMEOUT`] of its first byte, on every
//!   request of a connection ([`Guarded`]; actix-http times only the first, and a body,
//!   which no route reads, gets the same bound);
//! - actix-http's own bounds: a head of at most 128 KiB and 96 headers, 5 s idle between
//!   requests (`routes::service`).
//!
//! An event stream (`/api/events`) is a response, not a request: none of the timeouts
//! applies while it streams; it counts as one connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most connections served at once (event streams included).
pub const MAX_CONNECTIONS: usize = 64;

/// How long a request head may take from its first byte to its blank line.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection cap's bookkeeping: whether new connections are being closed now (so
/// the episode is logged once, not per connection), and how many were.
#[derive(Default)]
pub struct Admission {
    closing: bool,
    closed: u64,
}

impl Admission {
    /// Whether a new connection may be served while `open` are. A refusal is logged at
    /// the first of an episode; its end (a connection admitted again) says how many were
    /// closed.
    pub fn admit(&mut self, open: usize) -> bool {
        if open < MAX_CONNECTIONS {
            if self.closing {
                tracing::warn!(
                    "web: serving new connections again ({} closed at the limit of {MAX_CONNECTIONS})",
                    self.closed
                );
                *self = Admission::default();
            }
            return true;
        }
        if !self.closing {
            tracing::warn!(
                "web: {MAX_CONNECTIONS} connections open, the limit: closing new ones until some end"
            );
            self.closing = true;
        }
        self.closed += 1;
        false
    }
}

/// A connection whose request heads must each be whole within [`HEAD_TIMEOUT`] of their
/// first byte: from the first byte read after a head's blank line (`\r\n\r\n`) a timer
/// runs until the next blank line; when it fires the next read fails (`TimedOut`) and
/// actix-http drops the connection. While nothing arrives (idle, or a response being
/// computed or streamed) no timer runs.
pub struct Guarded {
    io: TcpStream,
    /// The last four bytes read, to find `\r\n\r\n` across reads.
    last: u32,
    /// Running from a head's first byte until its end.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Guarded {
    /// `io` guarded.
    pub fn new(io: TcpStream) -> Guarded {
        Guarded {
            io,
            last: 0,
            timer: None,
        }
    }

    /// Follow `bytes`, just read: start the timer at a head's first byte, stop it at its
    /// end.
    fn saw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.timer.is_none() {
                self.timer = Some(Box::pin(tokio::time::sleep(HEAD_TIMEOUT)));
            }
            self.last = (self.last << 8) | u32::from(b);
            if self.last == u32::from_be_bytes(*b"\r\n\r\n") {
                self.timer = None;
                self.last = 0;
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(timer) = self.timer.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not whole in time",
                )));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.saw(&buf.filled()[before..]);
            // A timer started now must be polled once to wake this task when it fires.
            if let Some(timer) = self.timer.as_mut() {
                let _ = timer.as_mut().poll(cx);
            }
        }
        polled
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_closes_new_connections_once_reached_and_admits_again_below_it() {
        let mut a = Admission::default();
        assert!(a.admit(0));
        assert!(a.admit(MAX_CONNECTIONS - 1));
        assert!(!a.admit(MAX_CONNECTIONS));
        assert!(!a.admit(MAX_CONNECTIONS + 3));
        assert_eq!((a.closing, a.closed), (true, 2));
        assert!(a.admit(MAX_CONNECTIONS - 1));
        assert_eq!((a.closing, a.closed), (false, 0));
    }

    #[actix::test]
    async fn a_head_s_timer_runs_from_its_first_byte_to_its_blank_line() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        c.set_nonblocking(true).expect("nonblocking");
        let mut g = Guarded::new(TcpStream::from_std(c).expect("tokio"));
        let cases: [(&[u8], bool); 6] = [
            (b"GET / HTTP/1.1\r\n", true),
            (b"Host: x\r\n", true),
            (b"\r\n", false),
            (b"", false),
            (b"GET /a HTTP/1.1\r\n\r\nGET /b", true),
            (b" HTTP/1.1\r\n\r", true),
        ];
        for (bytes, running) in cases {
            g.saw(bytes);
            assert_eq!(
                g.timer.is_some(),
                running,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        g.saw(b"\n");
        assert!(g.timer.is_none(), "a blank line split across reads ends it");
    }
}
