//! Node's IPC channel on the wire, pure: the JSON-lines framing with a bound on a line,
//! and what a message from the app is. Borrowed from Node's own sources
//! (`lib/internal/child_process.js` `setupChannel`, `lib/internal/child_process/
//! serialization.js` `json`, `lib/internal/cluster/{child,utils,primary}.js`): each
//! message is `JSON.stringify(message) + '\n'`; a message whose `cmd` starts with `NODE_`
//! is internal; a handle travels with SCM_RIGHTS beside the bytes of
//! `{"cmd":"NODE_HANDLE","type":"net.Native","msg":<message>}`, acknowledged by the
//! receiver with `{"cmd":"NODE_HANDLE_ACK"}` (or `NODE_HANDLE_NACK`: sent again); a
//! cluster message is `{"cmd":"NODE_CLUSTER","act":…,"seq":n,…}` and its answer carries
//! `"ack": n`.

use serde_json::{json, Value};

/// The longest line kept, in bytes (without its newline): a longer one is dropped as it
/// comes, so a chatty or hostile app never grows the daemon. Node's cluster messages are a
/// few hundred bytes; `process.send` of a large object to pmx has no use (pmx reads only
/// `'ready'` and cluster messages).
pub const MAX_LINE: usize = 64 * 1024;

/// Splits the bytes read from a channel into lines, holding at most [`MAX_LINE`] bytes of
/// an unfinished one.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// The line under way is over the limit: its bytes are dropped until its newline.
    skipping: bool,
}

impl Lines {
    /// Feed `bytes`; `line` is called with each complete line (without its newline), and
    /// the answer counts the lines dropped for being too long.
    pub fn feed(&mut self, mut bytes: &[u8], mut line: impl FnMut(&[u8])) -> usize {
        let mut dropped = 0;
        while let Some(nl) = bytes.iter().position(|b| *b == b'\n') {
            let (head, rest) = (&bytes[..nl], &bytes[nl + 1..]);
            if self.skipping || self.buf.len() + head.len() > MAX_LINE {
                dropped += 1;
                self.skipping = false;
                self.buf.clear();
            } else if self.buf.is_empty() {
                line(head);
            } else {
                self.buf.extend_from_slice(head);
                line(&self.buf);
                self.buf.clear();
            }
            bytes = rest;
        }
        if !self.skipping {
            if self.buf.len() + bytes.len() > MAX_LINE {
                self.skipping = true;
                self.buf = Vec::new();
            } else {
                self.buf.extend_from_slice(bytes);
            }
        }
        if self.buf.is_empty() && self.buf.capacity() > 4096 {
            self.buf = Vec::new();
        }
        dropped
    }
}

/// What a line from the app is, as far as pmx cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `process.send('ready')`: the app is ready (SPEC §5).
    Ready,
    /// The app acknowledged the handle pmx sent.
    HandleAck,
    /// The app did not get the handle pmx sent (`MSG_CTRUNC`): send it again.
    HandleNack,
    /// The app sent a handle with `msg` (pmx acknowledges it and closes the descriptor).
    Handle(Box<Incoming>),
    /// A cluster worker asks for a listening socket (`server.listen()` in the worker).
    QueryServer(Query),
    /// A cluster worker waits for an answer to `act` (`exitedAfterDisconnect`: before it
    /// disconnects on `worker.disconnect()`).
    NeedsAck {
        /// The act, for the log.
        act: String,
        /// The worker's `seq`, answered as `ack`.
        seq: u64,
    },
    /// A cluster notice with no answer (`online`, `listening`, `close`).
    Notice(String),
    /// Anything else: not JSON, or a message pmx has no use for.
    Other,
}

/// A worker's `queryServer`: the arguments of its `listen()` (Node's `net.js`
/// `listenInCluster`).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The worker's `seq`, answered as `ack`.
    pub seq: u64,
    /// The host (None: any address, Node binds `::` then `0.0.0.0`) or, for a unix
    /// socket, its absolute path.
    pub address: Option<String>,
    /// The port (0: any; -1: a unix socket or a descriptor).
    pub port: i64,
    /// 4 or 6 (TCP), -1 (a unix socket), or a datagram kind (`udp4`, `udp6`).
    pub address_type: AddressType,
    /// `listen({fd})`: the worker's own descriptor number.
    pub fd: Option<i64>,
    /// The worker's count of servers asked for at this address (only a port-0 server
    /// tells two of them apart).
    pub index: u64,
    /// The server's data (TLS session ticket keys), shared with every worker as Node's
    /// primary does: the first worker's is answered to all.
    pub data: Value,
}

/// Node's `addressType` of a `queryServer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    /// TCP (4 or 6).
    Tcp,
    /// A unix socket path (-1).
    Unix,
    /// A `dgram` socket (`udp4`, `udp6`): not shared by pmx.
    Udp,
}

impl Query {
    /// The key Node's primary gives the handle (`address:port:addressType:fd:index`,
    /// `lib/internal/cluster/primary.js`), unique per server within a worker.
    pub fn key(&self) -> String {
        let kind = match self.address_type {
            AddressType::Tcp => "4",
            AddressType::Unix => "-1",
            AddressType::Udp => "udp",
        };
        format!(
            "{}:{}:{kind}:{}:{}",
            self.address.as_deref().unwrap_or("null"),
            self.port,
            self.fd
                .map_or_else(|| "undefined".into(), |f| f.to_string()),
            self.index
        )
    }
}

/// Read one line from the app.
pub fn classify(line: &[u8]) -> Incoming {
    match serde_json::from_slice::<Value>(line) {
        Ok(v) => classify_value(&v),
        Err(_) => Incoming::Other,
    }
}

fn classify_value(v: &Value) -> Incoming {
    if v.as_str() == Some("ready") {
        return Incoming::Ready;
    }
    let Some(cmd) = v.get("cmd").and_then(Value::as_str) else {
        return Incoming::Other;
    };
    match cmd {
        "NODE_HANDLE_ACK" => Incoming::HandleAck,
        "NODE_HANDLE_NACK" => Incoming::HandleNack,
        "NODE_HANDLE" => Incoming::Handle(Box::new(
            v.get("msg").map_or(Incoming::Other, classify_value),
        )),
        "NODE_CLUSTER" => cluster(v),
        _ => Incoming::Other,
    }
}

fn cluster(v: &Value) -> Incoming {
    let act = v.get("act").and_then(Value::as_str).unwrap_or_default();
    let seq = v.get("seq").and_then(Value::as_u64);
    match (act, seq) {
        ("queryServer", Some(seq)) => {
            let address_type = match v.get("addressType") {
                Some(Value::String(s)) if s.starts_with("udp") => AddressType::Udp,
                Some(t) if t.as_i64() == Some(-1) => AddressType::Unix,
                _ => AddressType::Tcp,
            };
            Incoming::QueryServer(Query {
                seq,
                address: v.get("address").and_then(Value::as_str).map(str::to_string),
                port: v.get("port").and_then(Value::as_i64).unwrap_or(-1),
                address_type,
                fd: v.get("fd").and_then(Value::as_i64),
                index: v.get("index").and_then(Value::as_u64).unwrap_or(0),
                data: v.get("data").cloned().unwrap_or(Value::Null),
            })
        }
        ("exitedAfterDisconnect", Some(seq)) => Incoming::NeedsAck {
            act: act.to_string(),
            seq,
        },
        ("", _) => Incoming::Other,
        (act, _) => Incoming::Notice(act.to_string()),
    }
}

/// pmx's answer to a cluster message `ack` (the primary's `sendHelper` adds its own
/// `seq` to every message), with the fields of `extra`.
pub fn cluster_reply(ack: u64, seq: u64, extra: Value) -> Value {
    let mut m = json!({"cmd": "NODE_CLUSTER", "ack": ack, "seq": seq});
    if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
        m.extend(extra);
    }
    m
}

/// `message` wrapped to travel with a listening socket (`net.Native`: a TCP or pipe
/// handle, which libuv types from the descriptor itself).
pub fn with_handle(message: Value) -> Value {
    json!({"cmd": "NODE_HANDLE", "type": "net.Native", "msg": message})
}

/// The acknowledgement of a handle the app sent.
pub fn handle_ack() -> Value {
    json!({"cmd": "NODE_HANDLE_ACK"})
}

/// PM2's stop message (`shutdown_with_message`): what `proc.send('shutdown')` writes, the
/// string `shutdown`, which the app reads as `process.on('message', m => m === 'shutdown')`.
pub fn shutdown() -> Value {
    Value::from("shutdown")
}

/// `value` as one line of the channel.
pub fn line(value: &Value) -> Vec<u8> {
    let mut s = value.to_string().into_bytes();
    s.push(b'\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(feeds: &[&[u8]]) -> (Vec<String>, usize) {
        let mut l = Lines::default();
        let mut got = Vec::new();
        let mut dropped = 0;
        for f in feeds {
            dropped += l.feed(f, |x| got.push(String::from_utf8_lossy(x).into_owned()));
        }
        (got, dropped)
    }

    #[test]
    fn lines_are_cut_at_newlines_and_a_too_long_one_is_dropped_whole() {
        let long = vec![b'x'; MAX_LINE + 1];
        let at_limit = vec![b'y'; MAX_LINE];
        type Case<'a> = (Vec<&'a [u8]>, Vec<String>, usize);
        let cases: Vec<Case> = vec![
            (vec![b"\"ready\"\n"], vec!["\"ready\"".into()], 0),
            (vec![b"\"rea", b"dy\"\n{}"], vec!["\"ready\"".into()], 0),
            (vec![b"a\nb\n", b"c"], vec!["a".into(), "b".into()], 0),
            (vec![&long, b"\nok\n"], vec!["ok".into()], 1),
            // Over the limit across several reads: dropped, the next line kept.
            (
                vec![
                    &long[..MAX_LINE / 2],
                    &long[..MAX_LINE / 2 + 2],
                    b"tail\nok\n",
                ],
                vec!["ok".into()],
                1,
            ),
            (
                vec![&at_limit, b"\n"],
                vec![String::from_utf8_lossy(&at_limit).into_owned()],
                0,
            ),
        ];
        for (feeds, want, want_dropped) in cases {
            let (got, dropped) = lines_of(&feeds);
            assert_eq!(got, want);
            assert_eq!(dropped, want_dropped);
        }
    }

    #[test]
    fn what_node_sends_is_read_as_node_means_it() {
        let cases: Vec<(&str, Incoming)> = vec![
            ("\"ready\"", Incoming::Ready),
            ("\"other\"", Incoming::Other),
            ("{\"type\":\"process:msg\"}", Incoming::Other),
            ("not json", Incoming::Other),
            ("{\"cmd\":\"NODE_HANDLE_ACK\"}", Incoming::HandleAck),
            ("{\"cmd\":\"NODE_HANDLE_NACK\"}", Incoming::HandleNack),
            (
                "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":\"ready\"}",
                Incoming::Handle(Box::new(Incoming::Ready)),
            ),
            (
                "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":0}",
                Incoming::Notice("online".into()),
            ),
            (
                "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"exitedAfterDisconnect\",\"seq\":4}",
                Incoming::NeedsAck {
                    act: "exitedAfterDisconnect".into(),
                    seq: 4,
                },
            ),
            (
                // Node 20's `server.listen(3000)` in a worker.
                "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"index\":0,\"data\":null,\
                 \"address\":null,\"port\":3000,\"addressType\":4,\"backlog\":511,\"seq\":1}",
                Incoming::QueryServer(Query {
                    seq: 1,
                    address: None,
                    port: 3000,
                    address_type: AddressType::Tcp,
                    fd: None,
                    index: 0,
                    data: Value::Null,
                }),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(classify(line.as_bytes()), want, "{line}");
        }
        let Incoming::QueryServer(q) = classify(
            b"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"address\":\"/tmp/s\",\"port\":-1,\"addressType\":-1,\"seq\":2,\"index\":1}",
        ) else {
            panic!("a query");
        };
        assert_eq!(q.address_type, AddressType::Unix);
        assert_eq!(q.key(), "/tmp/s:-1:-1:undefined:1");
    }

    #[test]
    fn replies_are_the_primarys_shape() {
        let r = cluster_reply(3, 0, json!({"errno": 0, "key": "k", "data": null}));
        assert_eq!(
            r,
            json!({"cmd":"NODE_CLUSTER","ack":3,"seq":0,"errno":0,"key":"k","data":null})
        );
        let w = with_handle(r.clone());
        assert_eq!(w["cmd"], "NODE_HANDLE");
        assert_eq!(w["msg"], r);
        assert!(line(&w).ends_with(b"}\n"));
        assert_eq!(
            line(&shutdown()),
            b"\"shutdown\"\n",
            "Node's framing of a string"
        );
    }
}
