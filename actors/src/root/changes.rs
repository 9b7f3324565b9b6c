//! What differs between a running app's spec and its declaration, named as a user
//! writes the field in `ecosystem.ron` (SPEC §4): `instances`, `restart.delay`,
//! `kill_timeout`, `logs.out_file`, `env.PORT`, `env_file.KEY`, `envs.production.KEY`. `up`'s plan
//! shows these names, so the comparison is written field by field rather than read off
//! the wire type's serde shape (which says `instances.Count` and `restart.delay_ms`).

use std::collections::{BTreeMap, BTreeSet};

use crate::protocol::AppSpec;

/// Collects the names of the fields that differ, in the order compared.
#[derive(Default)]
struct Diff(Vec<String>);

impl Diff {
    /// `name` differs when `a != b`.
    fn field<T: PartialEq + ?Sized>(&mut self, name: &str, a: &T, b: &T) {
        if a != b {
            self.0.push(name.to_string());
        }
    }

    /// One `prefix.KEY` per key whose value differs (added, removed or changed).
    fn map(&mut self, prefix: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            if a.get(k) != b.get(k) {
                self.0.push(format!("{prefix}.{k}"));
            }
        }
    }
}

/// What differs between the running spec and the declared one, as `up`'s plan names it
/// (`env.PORT`, `args`, `restart.delay`). Only what the file declares is compared: the
/// app's fields, the contents of `env_file` (`env_file.KEY`) and the environment chosen
/// with `--env NAME` (`envs.NAME.KEY`, as the file spells it), not the inherited environment, not the environments the
/// file names but nobody chose (SPEC §4: "the chosen envs"), and not the interpreter's
/// path as found on the caller's PATH, so running `pmx up` from another shell changes
/// nothing. Empty when nothing differs.
pub fn declared_changes(old: &AppSpec, new: &AppSpec) -> Vec<String> {
    let (a, b) = (&old.app, &new.app);
    let mut d = Diff::default();
    d.field("name", &a.name, &b.name);
    d.field("script", &a.script, &b.script);
    // The file's directory: where `script`, `cwd` and the other relative paths resolve.
    d.field("dir", &a.dir, &b.dir);
    d.field("args", &a.args, &b.args);
    d.field("cwd", &a.cwd, &b.cwd);
    d.field("interpreter", &a.interpreter, &b.interpreter);
    d.field("interpreter_args", &a.interpreter_args, &b.interpreter_args);
    d.field("instances", &a.instances, &b.instances);
    d.field("instance_var", &a.instance_var, &b.instance_var);
    // As declared: an app that declares none keeps following its count, so a count
    // change alone stays a scale.
    d.field("exec_mode", &a.exec_mode, &b.exec_mode);
    d.field("increment_var", &a.increment_var, &b.increment_var);
    d.field("listen", &a.listen, &b.listen);
    d.map("env", &a.env, &b.env);
    d.field("env_file", &a.env_file, &b.env_file);
    d.map("env_file", &old.env.env_file, &new.env.env_file);
    // Named as the user wrote it: `envs.production.PORT` under `--env production`.
    let envs = match new.env_name.as_deref().or(old.env_name.as_deref()) {
        Some(chosen) => format!("envs.{chosen}"),
        None => "envs".to_string(),
    };
    d.map(&envs, &old.env.envs, &new.env.envs);
    d.field("autostart", &a.autostart, &b.autostart);
    d.field("namespace", &a.namespace, &b.namespace);
    d.field("uid", &a.uid, &b.uid);
    d.field("gid", &a.gid, &b.gid);
    let (ra, rb) = (&a.restart, &b.restart);
    d.field("restart.policy", &ra.policy, &rb.policy);
    d.field("restart.delay", &ra.delay_ms, &rb.delay_ms);
    d.field("restart.backoff", &ra.backoff_ms, &rb.backoff_ms);
    d.field("restart.min_uptime", &ra.min_uptime_ms, &rb.min_uptime_ms);
    d.field("restart.max_restarts", &ra.max_restarts, &rb.max_restarts);
    d.field("strategy", &a.strategy, &b.strategy);
    match (&a.intensity, &b.intensity) {
        (Some(ia), Some(ib)) => {
            d.field("intensity.max", &ia.max, &ib.max);
            d.field("intensity.within", &ia.within_ms, &ib.within_ms);
        }
        (ia, ib) => d.field("intensity", ia, ib),
    }
    d.field("stop_exit_codes", &a.stop_exit_codes, &b.stop_exit_codes);
    d.field("kill_signal", &a.kill_signal, &b.kill_signal);
    d.field("kill_timeout", &a.kill_timeout_ms, &b.kill_timeout_ms);
    d.field(
        "shutdown_with_message",
        &a.shutdown_with_message,
        &b.shutdown_with_message,
    );
    d.field("wait_ready", &a.wait_ready, &b.wait_ready);
    d.field("listen_timeout", &a.listen_timeout_ms, &b.listen_timeout_ms);
    d.field(
        "max_memory_restart",
        &a.max_memory_restart,
        &b.max_memory_restart,
    );
    d.field("cron_restart", &a.cron_restart, &b.cron_restart);
    d.field("cron_timezone", &a.cron_timezone, &b.cron_timezone);
    d.field("health", &a.health, &b.health);
    d.field("watch", &a.watch, &b.watch);
    d.field("ignore_watch", &a.ignore_watch, &b.ignore_watch);
    d.field("watch_delay", &a.watch_delay_ms, &b.watch_delay_ms);
    let (la, lb) = (&a.logs, &b.logs);
    d.field("logs.time", &la.time, &lb.time);
    d.field("logs.date_format", &la.date_format, &lb.date_format);
    d.field("logs.merge", &la.merge, &lb.merge);
    d.field("logs.out_file", &la.out_file, &lb.out_file);
    d.field("logs.error_file", &la.error_file, &lb.error_file);
    d.field("logs.log_file", &la.log_file, &lb.log_file);
    d.field("logs.format", &la.format, &lb.format);
    match (&la.rotate, &lb.rotate) {
        (Some(xa), Some(xb)) => {
            d.field("logs.rotate.max_size", &xa.max_size, &xb.max_size);
            d.field("logs.rotate.interval", &xa.interval_ms, &xb.interval_ms);
            d.field("logs.rotate.keep", &xa.keep, &xb.keep);
            d.field("logs.rotate.compress", &xa.compress, &xb.compress);
        }
        (xa, xb) => d.field("logs.rotate", xa, xb),
    }
    d.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::fixtures::spec;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// The top-level fields of an app that [`declared_changes`] compares: all of the wire
    /// app's (a test checks it, so a field added there without a comparison here fails).
    const COMPARED: &[&str] = &[
        "name",
        "script",
        "dir",
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
        "restart",
        "strategy",
        "intensity",
        "stop_exit_codes",
        "kill_signal",
        "kill_timeout_ms",
        "shutdown_with_message",
        "wait_ready",
        "listen_timeout_ms",
        "max_memory_restart",
        "cron_restart",
        "cron_timezone",
        "health",
        "watch",
        "ignore_watch",
        "watch_delay_ms",
        "logs",
    ];

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Each edit of a declared field, and the name the plan gives it.
    #[test]
    fn each_field_is_named_as_written_in_the_file() {
        type Edit = fn(&mut AppSpec);
        let cases: Vec<(Edit, Vec<&str>)> = vec![
            (|s| s.app.script = "other.sh".into(), vec!["script"]),
            (|s| s.app.dir = PathBuf::from("/elsewhere"), vec!["dir"]),
            (
                |s| s.app.args = vec!["--port".into(), "2".into()],
                vec!["args"],
            ),
            (|s| s.app.cwd = Some(PathBuf::from("/tmp")), vec!["cwd"]),
            (
                |s| s.app.interpreter = Some("bash".into()),
                vec!["interpreter"],
            ),
            (
                |s| s.app.interpreter_args = vec!["-x".into()],
                vec!["interpreter_args"],
            ),
            (
                |s| s.app.instances = pmx_config::Instances::Count(3),
                vec!["instances"],
            ),
            (
                |s| s.app.instances = pmx_config::Instances::Max,
                vec!["instances"],
            ),
            (|s| s.app.instance_var = "INST".into(), vec!["instance_var"]),
            (
                |s| s.app.exec_mode = Some(pmx_config::ExecMode::Fork),
                vec!["exec_mode"],
            ),
            (
                |s| s.app.increment_var = Some("PORT".into()),
                vec!["increment_var"],
            ),
            (|s| s.app.listen = vec!["tcp://0:1".into()], vec!["listen"]),
            (
                |s| s.app.env = map(&[("PORT", "2"), ("A", "1")]),
                vec!["env.A", "env.PORT"],
            ),
            (
                |s| s.app.env_file = Some(PathBuf::from("/srv/.env")),
                vec!["env_file"],
            ),
            (
                |s| s.env.env_file = map(&[("KEY", "v")]),
                vec!["env_file.KEY"],
            ),
            (|s| s.env.envs = map(&[("KEY", "prod")]), vec!["envs.KEY"]),
            (
                |s| {
                    s.env_name = Some("production".into());
                    s.env.envs = map(&[("PORT", "80")]);
                },
                vec!["envs.production.PORT"],
            ),
            (|s| s.app.autostart = false, vec!["autostart"]),
            (|s| s.app.namespace = "ns".into(), vec!["namespace"]),
            (|s| s.app.uid = Some("www".into()), vec!["uid"]),
            (|s| s.app.gid = Some("www".into()), vec!["gid"]),
            (
                |s| s.app.restart.policy = pmx_config::Policy::Never,
                vec!["restart.policy"],
            ),
            (|s| s.app.restart.delay_ms = 250, vec!["restart.delay"]),
            (
                |s| s.app.restart.backoff_ms = Some(100),
                vec!["restart.backoff"],
            ),
            (
                |s| s.app.restart.min_uptime_ms = 1,
                vec!["restart.min_uptime"],
            ),
            (
                |s| s.app.restart.max_restarts = 1,
                vec!["restart.max_restarts"],
            ),
            (
                |s| s.app.strategy = pmx_config::Strategy::OneForAll,
                vec!["strategy"],
            ),
            (
                |s| s.app.intensity = Some(Default::default()),
                vec!["intensity"],
            ),
            (|s| s.app.stop_exit_codes = vec![3], vec!["stop_exit_codes"]),
            (
                |s| s.app.kill_signal = "SIGTERM".into(),
                vec!["kill_signal"],
            ),
            (|s| s.app.kill_timeout_ms = 5, vec!["kill_timeout"]),
            (|s| s.app.wait_ready = true, vec!["wait_ready"]),
            (
                |s| s.app.shutdown_with_message = true,
                vec!["shutdown_with_message"],
            ),
            (|s| s.app.listen_timeout_ms = 5, vec!["listen_timeout"]),
            (
                |s| s.app.max_memory_restart = Some(1 << 20),
                vec!["max_memory_restart"],
            ),
            (
                |s| s.app.cron_restart = Some("* * * * *".into()),
                vec!["cron_restart"],
            ),
            (
                |s| s.app.cron_timezone = Some("Asia/Tokyo".into()),
                vec!["cron_timezone"],
            ),
            (|s| s.app.watch = pmx_config::Watch::On, vec!["watch"]),
            (
                |s| s.app.ignore_watch = vec!["*.log".into()],
                vec!["ignore_watch"],
            ),
            (|s| s.app.watch_delay_ms = 5, vec!["watch_delay"]),
            (|s| s.app.logs.time = true, vec!["logs.time"]),
            (
                |s| s.app.logs.date_format = "%H".into(),
                vec!["logs.date_format"],
            ),
            (|s| s.app.logs.merge = true, vec!["logs.merge"]),
            (
                |s| s.app.logs.out_file = Some(PathBuf::from("/tmp/o.log")),
                vec!["logs.out_file"],
            ),
            (
                |s| s.app.logs.error_file = Some(PathBuf::from("/tmp/e.log")),
                vec!["logs.error_file"],
            ),
            (
                |s| s.app.logs.log_file = Some(PathBuf::from("/tmp/l.log")),
                vec!["logs.log_file"],
            ),
            (
                |s| s.app.logs.rotate = Some(Default::default()),
                vec!["logs.rotate"],
            ),
            (
                |s| s.app.logs.format = pmx_config::LogFormat::Json,
                vec!["logs.format"],
            ),
            // Several at once, in the file's order.
            (
                |s| {
                    s.app.logs.time = true;
                    s.app.instances = pmx_config::Instances::Count(2);
                    s.app.args = vec!["x".into()];
                },
                vec!["args", "instances", "logs.time"],
            ),
            // The env_file's path and a key of it: `env_file` once, then the key.
            (
                |s| {
                    s.app.env_file = Some(PathBuf::from("/srv/.env"));
                    s.env.env_file = map(&[("KEY", "v")]);
                },
                vec!["env_file", "env_file.KEY"],
            ),
        ];
        for (edit, want) in cases {
            let old = spec("web", 1);
            let mut new = old.clone();
            edit(&mut new);
            assert_eq!(declared_changes(&old, &new), want);
            // The comparison is symmetric in what it names.
            assert_eq!(declared_changes(&new, &old), want);
        }
    }

    #[test]
    fn nested_optional_sections_name_the_field_inside_when_both_are_set() {
        type Edit = fn(&mut AppSpec);
        let cases: Vec<(Edit, Vec<&str>)> = vec![
            (
                |s| {
                    if let Some(i) = s.app.intensity.as_mut() {
                        i.max = 7;
                    }
                },
                vec!["intensity.max"],
            ),
            (
                |s| {
                    if let Some(i) = s.app.intensity.as_mut() {
                        i.within_ms = 7;
                    }
                },
                vec!["intensity.within"],
            ),
            (
                |s| {
                    if let Some(r) = s.app.logs.rotate.as_mut() {
                        r.max_size = Some(7);
                        r.interval_ms = Some(7);
                    }
                },
                vec!["logs.rotate.max_size", "logs.rotate.interval"],
            ),
            (
                |s| {
                    if let Some(r) = s.app.logs.rotate.as_mut() {
                        r.keep = 9;
                        r.compress = true;
                    }
                },
                vec!["logs.rotate.keep", "logs.rotate.compress"],
            ),
        ];
        for (edit, want) in cases {
            let mut old = spec("web", 1);
            old.app.intensity = Some(Default::default());
            old.app.logs.rotate = Some(Default::default());
            let mut new = old.clone();
            edit(&mut new);
            assert_eq!(declared_changes(&old, &new), want);
        }
    }

    #[test]
    fn what_the_file_does_not_declare_is_not_a_change() {
        let old = spec("web", 1);
        let mut new = old.clone();
        // Another shell: another inherited environment, another interpreter path.
        new.env.inherited = Arc::new(map(&[("PATH", "/opt/bin")]));
        new.program = PathBuf::from("/opt/bin/bash");
        new.args = vec!["/srv/run.sh".into(), "x".into()];
        new.env_name = Some("production".into());
        // An environment the file names but nobody chose.
        new.app.envs = [("staging".to_string(), map(&[("PORT", "9")]))].into();
        assert_eq!(declared_changes(&old, &new), Vec::<String>::new());
    }

    /// Every field of the wire app is compared, so a field added to the wire type without
    /// a comparison here fails this test.
    #[test]
    fn every_field_of_the_app_is_compared() {
        let mut s = spec("web", 1);
        s.app.intensity = Some(Default::default());
        s.app.logs.rotate = Some(Default::default());
        let wire = serde_json::to_value(&s.app).expect("an app serializes");
        let keys = |v: &serde_json::Value| -> BTreeSet<String> {
            v.as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let top = keys(&wire);
        let compared: BTreeSet<String> = COMPARED.iter().map(|s| s.to_string()).collect();
        assert_eq!(top, compared);
        // The nested sections, field by field, as compared above.
        let nested: [(&str, &[&str]); 4] = [
            (
                "restart",
                &[
                    "policy",
                    "delay_ms",
                    "backoff_ms",
                    "min_uptime_ms",
                    "max_restarts",
                ],
            ),
            ("intensity", &["max", "within_ms"]),
            (
                "logs",
                &[
                    "time",
                    "date_format",
                    "merge",
                    "out_file",
                    "error_file",
                    "log_file",
                    "rotate",
                    "format",
                ],
            ),
            ("rotate", &["max_size", "interval_ms", "keep", "compress"]),
        ];
        for (section, fields) in nested {
            let v = if section == "rotate" {
                &wire["logs"]["rotate"]
            } else {
                &wire[section]
            };
            let want: BTreeSet<String> = fields.iter().map(|s| s.to_string()).collect();
            assert_eq!(keys(v), want, "{section}");
        }
    }
}
