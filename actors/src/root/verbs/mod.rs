//! The Root's verbs, one file each (pueue's handlers): each is an `impl Root` block with
//! the method `Api`'s dispatch calls, answering once the verb's effect is visible.

mod describe;
mod env;
mod lifecycle;
mod logs;
mod persist;
mod scale;
mod signal;
mod start;
mod up;
mod web;

pub(in crate::root) use web::TokenSource;
pub use web::WebRunning;
