//! pmx-actors: the pmx daemon. Every managed process, log file and client is an actix
//! actor under an OTP-style supervision tree (see ARCHITECTURE.md); the admin-socket
//! protocol types live in [`protocol`], the pure restart policies in [`supervision`].
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod admin;
pub mod adopt;
pub mod app;
pub mod daemon;
pub mod dump;
pub mod events;
pub mod fdstore;
pub mod foreground;
pub mod group;
pub mod health;
pub mod home;
pub mod lifecycle;
pub mod log;
pub mod messages;
pub mod metrics;
pub mod node;
pub mod os;
pub mod process;
/// The admin-socket protocol: the pmx-protocol crate, under the path the daemon has always
/// used (`crate::protocol::Request`).
pub use pmx_protocol as protocol;
pub mod readiness;
pub mod reaper;
pub mod root;
pub mod runtime;
pub mod session;
pub mod supervision;
pub mod update;
pub mod watch;
pub mod web;
