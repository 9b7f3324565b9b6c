//! The ecosystem fields an export speaks about: every field of `App` and `Group` by the
//! name a user writes (SPEC §4), which of them an app sets away from its default, and
//! each target's table of what it maps them to.

use pmx_config::Policy;
use pmx_protocol::{App, AppSpec, Group};

use super::Note;

/// How a target carries one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Mapped: to what (the engine's own setting).
    To(&'static str),
    /// Not expressed: why (an app that sets the field gets a note).
    Not(&'static str),
}

/// A target's table: every field of [`FIELDS`], in that order, with its mapping.
pub type Table = &'static [(&'static str, Mapping)];

/// Every ecosystem field, as a user writes it, in SPEC §4's order. `groups` stands for
/// a group's members and their order; `group.strategy`/`group.intensity` for the rest.
/// The tests check every target's table against it.
#[cfg(test)]
pub const FIELDS: [&str; 49] = [
    "name",
    "script",
    "args",
    "cwd",
    "interpreter",
    "interpreter_args",
    "instances",
    "instance_var",
    "exec_mode",
    "increment_var",
    "listen",
    "env",
    "envs",
    "env_file",
    "autostart",
    "namespace",
    "uid",
    "gid",
    "restart.policy",
    "restart.delay",
    "restart.backoff",
    "restart.min_uptime",
    "restart.max_restarts",
    "strategy",
    "intensity",
    "stop_exit_codes",
    "kill_signal",
    "kill_timeout",
    "shutdown_with_message",
    "wait_ready",
    "listen_timeout",
    "max_memory_restart",
    "cron_restart",
    "cron_timezone",
    "health",
    "watch",
    "ignore_watch",
    "watch_delay",
    "logs.time",
    "logs.date_format",
    "logs.merge",
    "logs.out_file",
    "logs.error_file",
    "logs.log_file",
    "logs.rotate",
    "logs.format",
    "groups",
    "group.strategy",
    "group.intensity",
];

/// The app fields `spec` sets away from their SPEC default (what an unmapped field is
/// noted for: a default is the behaviour every engine's own default stands in for).
/// `kill_signal` counts always: pmx's default (SIGINT) is not the engines' (SIGTERM).
pub fn set_fields(spec: &AppSpec) -> Vec<&'static str> {
    let a: &App = &spec.app;
    let d = App::new(a.name.clone(), a.script.clone(), a.dir.clone());
    let mut set = Vec::new();
    let mut check = |field: &'static str, differs: bool| {
        if differs {
            set.push(field);
        }
    };
    check("args", !a.args.is_empty());
    check("cwd", a.cwd.as_ref().is_some_and(|c| *c != a.dir));
    check("interpreter_args", !a.interpreter_args.is_empty());
    check("instances", a.instances != d.instances);
    check("instance_var", a.instance_var != d.instance_var);
    check("exec_mode", a.exec_mode.is_some());
    check("increment_var", a.increment_var.is_some());
    check("listen", !a.listen.is_empty());
    check("env", !a.env.is_empty());
    check("envs", spec.env_name.is_some());
    check("env_file", a.env_file.is_some());
    check("autostart", !a.autostart);
    check("namespace", a.namespace != d.namespace);
    check("uid", a.uid.is_some());
    check("gid", a.gid.is_some());
    check("restart.policy", a.restart.policy != Policy::Always);
    check("restart.delay", a.restart.delay_ms != d.restart.delay_ms);
    check("restart.backoff", a.restart.backoff_ms.is_some());
    check(
        "restart.min_uptime",
        a.restart.min_uptime_ms != d.restart.min_uptime_ms,
    );
    check(
        "restart.max_restarts",
        a.restart.max_restarts != d.restart.max_restarts,
    );
    check("strategy", a.strategy != d.strategy);
    check("intensity", a.intensity.is_some());
    check("stop_exit_codes", !a.stop_exit_codes.is_empty());
    check("kill_signal", true);
    check("kill_timeout", a.kill_timeout_ms != d.kill_timeout_ms);
    check("shutdown_with_message", a.shutdown_with_message);
    check("wait_ready", a.wait_ready);
    check(
        "listen_timeout",
        a.wait_ready && a.listen_timeout_ms != d.listen_timeout_ms,
    );
    check("max_memory_restart", a.max_memory_restart.is_some());
    check("cron_restart", a.cron_restart.is_some());
    check("cron_timezone", a.cron_timezone.is_some());
    check("health", a.health.is_some());
    check("watch", a.watch != d.watch);
    check(
        "ignore_watch",
        a.watch != d.watch && !a.ignore_watch.is_empty(),
    );
    check(
        "watch_delay",
        a.watch != d.watch && a.watch_delay_ms != d.watch_delay_ms,
    );
    check("logs.time", a.logs.time);
    check(
        "logs.date_format",
        a.logs.time && a.logs.date_format != d.logs.date_format,
    );
    check("logs.merge", a.logs.merge);
    check("logs.out_file", a.logs.out_file.is_some());
    check("logs.error_file", a.logs.error_file.is_some());
    check("logs.log_file", a.logs.log_file.is_some());
    check("logs.rotate", a.logs.rotate.is_some());
    check("logs.format", a.logs.format != d.logs.format);
    set
}

/// The notes for the fields `spec` sets that `table` does not map.
pub fn unmapped(spec: &AppSpec, table: Table) -> Vec<Note> {
    set_fields(spec)
        .into_iter()
        .filter_map(|f| match lookup(table, f) {
            Some(Mapping::Not(why)) => Some(Note::app(&spec.app.name, f, why)),
            _ => None,
        })
        .collect()
}

/// The notes for `group`'s settings that `table` does not map (`groups` itself is noted
/// by the target that cannot order members; a strategy or intensity at its default is
/// still OTP's behaviour, so each is noted whenever the table has no mapping).
pub fn group_unmapped(group: &Group, table: Table) -> Vec<Note> {
    let mut notes = Vec::new();
    for f in ["groups", "group.strategy", "group.intensity"] {
        if let Some(Mapping::Not(why)) = lookup(table, f) {
            notes.push(Note::group(&group.name, f, why));
        }
    }
    notes
}

/// The mapping of `field` in `table`.
pub fn lookup(table: Table, field: &str) -> Option<Mapping> {
    table.iter().find(|(f, _)| *f == field).map(|(_, m)| *m)
}

/// `table` as a Markdown table (docs/export.md holds one per target; a test keeps them
/// equal).
#[cfg(test)]
pub fn markdown(table: Table) -> String {
    let mut out =
        String::from("| field | mapped to | not expressed because |\n| --- | --- | --- |\n");
    for (field, m) in table {
        let (to, not) = match m {
            Mapping::To(to) => (*to, ""),
            Mapping::Not(why) => ("—", *why),
        };
        out.push_str(&format!("| `{field}` | {to} | {not} |\n"));
    }
    out
}
