//! End-to-end tests: the real `pmx` binary, a private `PMX_HOME` per test, real processes
//! from `fixtures/`. One test binary (STYLE.md); one file per area.

mod cli;
mod cluster;
mod config;
mod config_limits;
mod daemon;
mod deadlines;
mod delete_instances;
mod env;
mod generations;
mod groups;
mod harness;
mod lifecycle;
mod logs;
mod logs_capture;
mod logs_cli;
mod logs_json;
mod pm2_files;
mod pm2_import;
mod pm2_surface;
mod pm2_targets;
mod pm2_update;
mod protocol;
mod protocol_limits;
mod races;
mod refusals;
mod restart;
mod run_as;
mod security;
mod signal;
mod spawn_failures;
mod up;
mod up_changes;
mod up_stopped;
