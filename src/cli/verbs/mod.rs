//! One file per verb (pueue's handlers): each has `run`, taking the verb's arguments
//! (args.rs) and answering the command's [`Failure`](super::Failure), if any.

pub mod delete;
pub mod describe;
pub mod ecosystem;
pub mod env;
pub mod export;
pub mod flush;
pub mod import;
pub mod jlist;
pub mod kill;
pub mod list;
pub mod logs;
pub mod monit;
pub mod pid;
pub mod ping;
pub mod reload;
pub mod reload_logs;
pub mod reset;
pub mod restart;
pub mod resurrect;
pub mod run;
pub mod save;
pub mod scale;
pub mod signal;
pub mod start;
pub mod start_or_reload;
pub mod start_or_restart;
pub mod startup;
pub mod stop;
pub mod up;
pub mod update;
pub mod web;
