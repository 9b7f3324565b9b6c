//! Node apps run unmodified (SPEC §6): every Node app gets Node's own child-process IPC
//! channel (`NODE_CHANNEL_FD`, JSON lines, handles with SCM_RIGHTS), so
//! `process.send('ready')` works and reaches its App supervisor as [`Ready`]; in cluster
//! mode (several instances, or `listen`) each instance is also a Node cluster worker
//! (`NODE_UNIQUE_ID`) whose primary is pmx, as PM2's God daemon is: a worker's
//! `server.listen(port)` asks pmx over the channel (`queryServer`), and pmx answers with
//! the listening socket it holds for that port (the inherited `listen` one, or one it
//! binds at the first request and keeps for the app's life), so N instances share the
//! port, never hit EADDRINUSE, and the port stays bound while instances restart.
//!
//! Node's cluster protocol does all of it: no preload is needed (see `channel.rs`).
//!
//! `wire.rs`: the framing and messages (pure); `channel.rs`: one channel, served as an
//! async task in its Process actor's context on the supervision arbiter.

pub mod channel;
pub mod wire;

use std::os::fd::OwnedFd;

use actix::prelude::*;

use crate::messages::Ready;

pub use crate::protocol::is_node;

/// A cluster worker asks for the listening socket of its `server.listen()`: sent by the
/// channel to the App supervisor, which answers a copy of the socket it holds for that
/// address (binding it at the first request) and the server data to share (TLS ticket
/// keys, the first worker's), or a libuv errno (negative, as Node's primary answers).
#[derive(Message, Debug)]
#[rtype(result = "Result<Lent, i32>")]
pub struct QueryServer(pub wire::Query);

/// A listening socket lent to a worker: a descriptor of the app's socket, closed once
/// sent, and the server data every worker of that socket gets.
#[derive(Debug)]
pub struct Lent {
    /// A duplicate of the socket pmx holds.
    pub fd: OwnedFd,
    /// Node's `data` of the handle.
    pub data: serde_json::Value,
}

/// What a Process actor needs for its Node app's channel: where it reports.
#[derive(Clone)]
pub struct Link {
    /// Cluster mode: the app is a cluster worker (`NODE_UNIQUE_ID`) and its `listen()`
    /// calls are answered by pmx.
    pub cluster: bool,
    /// A cluster worker's first `listening` is its `Ready` (the app does not wait for an
    /// explicit `process.send('ready')`, i.e. no `wait_ready`): PM2's cluster reload takes
    /// the new worker's `listening` as the sign it serves.
    pub listening_is_ready: bool,
    /// The app's name, for the log.
    pub app: String,
    /// Where `process.send('ready')` goes (the App supervisor).
    pub ready: Recipient<Ready>,
    /// Where a worker's `queryServer` goes (the App supervisor).
    pub query: Recipient<QueryServer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_apps_are_told_by_their_interpreter_or_program() {
        let cases = [
            (Some("node"), "/usr/bin/node", true),
            (Some("/opt/node/bin/node"), "/opt/node/bin/node", true),
            (None, "/usr/bin/nodejs", true),
            (Some("none"), "/usr/local/bin/node", true),
            (Some("python3"), "/usr/bin/python3", false),
            (None, "/usr/bin/nodemon", false),
            (Some("bash"), "/bin/bash", false),
        ];
        for (interp, program, want) in cases {
            assert_eq!(
                is_node(interp, std::path::Path::new(program)),
                want,
                "{interp:?} {program}"
            );
        }
    }
}
