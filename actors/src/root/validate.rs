//! What a client's specs and groups must satisfy before the Root acts on them: what
//! pmx-config checks in a file, plus one name per app (a raw socket client may send
//! anything).

use std::collections::BTreeSet;

use crate::os;
use crate::protocol::{ApiError, AppSpec, ErrorCode, Group};

/// Check what a client sent as specs and groups (`start`, `up`): what pmx-config checks
/// in a file (names, signals, cron patterns, date formats, listen URLs, instance counts,
/// durations of at most [`pmx_config::MAX_DURATION_MS`], a day), plus one name per app,
/// and that its `uid`/`gid` exist on this machine (an unknown one would otherwise leave
/// the app running as the daemon's user, root); then the groups as a file's are checked
/// (see [`validate_groups`]). The CLI's requests always pass; a raw socket client's may
/// not.
///
/// Errors: `invalid_config` naming the app (or group) and the field.
pub fn validate_specs(specs: &[AppSpec], groups: &[Group]) -> Result<(), ApiError> {
    validate_apps(specs)?;
    validate_groups(specs, groups)
}

/// The groups sent with `specs`, checked as pmx-config checks a file's: each name valid
/// (not `all`, not an app's), no two groups of one name, at least one member, every
/// member one of `specs`' apps, listed once, in at most one group
/// ([`pmx_config::check_groups`], the very function the file's walk calls); an
/// intensity window of more than 0 ms and at most a day.
///
/// Errors: `invalid_config`, the first broken rule (`group "g" names unknown app "x"`).
pub fn validate_groups(specs: &[AppSpec], groups: &[Group]) -> Result<(), ApiError> {
    let bad = |e: String| ApiError::new(ErrorCode::InvalidConfig, e);
    for g in groups {
        pmx_config::validate_name(&g.name)
            .map_err(|e| bad(format!("group \"{}\": {e}", g.name)))?;
        if g.apps.is_empty() {
            return Err(bad(format!(
                "group \"{}\": a group needs at least one app",
                g.name
            )));
        }
        check_intensity(&g.intensity).map_err(|e| bad(format!("group \"{}\": {e}", g.name)))?;
    }
    let apps: Vec<&str> = specs.iter().map(|s| s.app.name.as_str()).collect();
    let list: Vec<(&str, &[String])> = groups
        .iter()
        .map(|g| (g.name.as_str(), g.apps.as_slice()))
        .collect();
    match pmx_config::check_groups(&apps, &list).into_iter().next() {
        Some(e) => Err(bad(e.message)),
        None => Ok(()),
    }
}

/// An intensity's window: more than 0 ms (a restart could never be counted) and at most
/// a day, as in a file.
fn check_intensity(i: &pmx_config::Intensity) -> Result<(), String> {
    if i.within_ms == 0 {
        return Err("intensity.within must be more than 0".into());
    }
    pmx_config::check_duration("intensity.within", i.within_ms).map(|_| ())
}

/// Each app of `specs` on its own, and one name per app.
fn validate_apps(specs: &[AppSpec]) -> Result<(), ApiError> {
    let bad = |name: &str, e: String| {
        ApiError::new(ErrorCode::InvalidConfig, format!("app \"{name}\": {e}"))
    };
    let mut seen = BTreeSet::new();
    for spec in specs {
        let app = &spec.app;
        pmx_config::validate_name(&app.name).map_err(|e| bad(&app.name, e))?;
        if !seen.insert(app.name.as_str()) {
            return Err(ApiError::new(
                ErrorCode::InvalidConfig,
                format!("two apps are named \"{}\"", app.name),
            ));
        }
        let r = &app.restart;
        let durations = [
            ("kill_timeout", Some(app.kill_timeout_ms)),
            ("listen_timeout", Some(app.listen_timeout_ms)),
            ("watch_delay", Some(app.watch_delay_ms)),
            ("restart.delay", Some(r.delay_ms)),
            ("restart.backoff", r.backoff_ms),
            ("restart.min_uptime", Some(r.min_uptime_ms)),
        ];
        for (field, ms) in durations {
            if let Some(ms) = ms {
                pmx_config::check_duration(field, ms).map_err(|e| bad(&app.name, e))?;
            }
        }
        if let Some(i) = &app.intensity {
            check_intensity(i).map_err(|e| bad(&app.name, e))?;
        }
        if app.uid.is_some() || app.gid.is_some() {
            crate::app::resolve_user(app.uid.as_deref(), app.gid.as_deref())
                .map_err(|e| bad(&app.name, e))?;
        }
        os::signal_from_name(&app.kill_signal)
            .map_err(|e| bad(&app.name, format!("kill_signal: {e}")))?;
        if let Some(c) = &app.cron_restart {
            pmx_config::validate_cron(c)
                .map_err(|e| bad(&app.name, format!("cron_restart: {e}")))?;
        }
        // Each glob as the watcher compiles it (see `watch/ignore.rs`): `ignore_watch
        // "src/[a": …`.
        crate::watch::Ignore::new(&app.ignore_watch).map_err(|e| bad(&app.name, e))?;
        if let Some(z) = &app.cron_timezone {
            pmx_config::validate_timezone(z)
                .map_err(|e| bad(&app.name, format!("cron_timezone: {e}")))?;
        }
        if let Some(h) = &app.health {
            pmx_config::probe::check_health(h)
                .map_err(|e| bad(&app.name, format!("health: {e}")))?;
        }
        if let Some(bytes) = app.max_memory_restart {
            pmx_config::check_memory_limit(bytes)
                .map_err(|e| bad(&app.name, format!("max_memory_restart: {e}")))?;
        }
        pmx_config::validate_date_format(&app.logs.date_format)
            .map_err(|e| bad(&app.name, format!("logs.date_format: {e}")))?;
        for (i, l) in app.listen.iter().enumerate() {
            pmx_config::validate_listen(l).map_err(|e| bad(&app.name, format!("listen: {e}")))?;
            if app.listen[..i].contains(l) {
                return Err(bad(&app.name, format!("listen: \"{l}\" is listed twice")));
            }
        }
        if app.exec_mode == Some(pmx_config::ExecMode::Fork) && !app.listen.is_empty() {
            return Err(bad(
                &app.name,
                "listen shares sockets between instances, which exec_mode Fork does not do".into(),
            ));
        }
        let vars = [
            ("instance_var", Some(&app.instance_var)),
            ("increment_var", app.increment_var.as_ref()),
        ];
        for (field, var) in vars {
            if let Some(v) = var.filter(|v| v.is_empty() || v.contains('=') || v.contains('\0')) {
                return Err(bad(
                    &app.name,
                    format!("{field}: variable name {v:?} is empty or holds \"=\" or NUL"),
                ));
            }
        }
        if app.instances == pmx_config::Instances::Count(0) {
            return Err(bad(&app.name, "instances: Count(0) runs nothing".into()));
        }
        let layers = [
            &*spec.env.inherited,
            &spec.env.env_file,
            &spec.env.env,
            &spec.env.envs,
        ];
        if let Some(k) = layers
            .iter()
            .flat_map(|m| m.keys())
            .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
        {
            return Err(bad(
                &app.name,
                format!("environment variable name {k:?} is empty or holds \"=\" or NUL"),
            ));
        }
        if !spec.cwd.is_absolute() || !spec.program.is_absolute() {
            return Err(bad(
                &app.name,
                "program and cwd must be absolute paths".into(),
            ));
        }
        if app.shutdown_with_message
            && !crate::node::is_node(app.interpreter.as_deref(), &spec.program)
        {
            return Err(bad(&app.name, no_channel(&spec.program)));
        }
    }
    Ok(())
}

/// Why `shutdown_with_message` is refused for an app that does not run under Node: the
/// message travels over Node's IPC channel, which only a Node app has. PM2 sends it into
/// a pipe nobody reads, so the app gets no stop request at all and is SIGKILLed after
/// `kill_timeout`; pmx refuses instead.
fn no_channel(program: &std::path::Path) -> String {
    format!(
        "shutdown_with_message needs a Node app (the message goes over Node's IPC \
         channel), and it runs {}, not node: remove it to stop the app with kill_signal",
        program.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::fixtures::{group, spec};

    fn code_and_message(r: Result<(), ApiError>) -> Option<(ErrorCode, String)> {
        r.err().map(|e| (e.code, e.message))
    }

    #[test]
    fn groups_a_file_refuses_are_refused_on_the_socket() {
        let apps = [spec("a", 1), spec("b", 1)];
        let bad = |m: &str| Some((ErrorCode::InvalidConfig, m.to_string()));
        let cases = [
            (vec![group("g", &["a", "b"])], None),
            (vec![group("g", &["a"]), group("h", &["b"])], None),
            (
                vec![group("g", &["a", "x"])],
                bad("group \"g\" names unknown app \"x\""),
            ),
            (
                vec![group("g", &["a"]), group("h", &["a"])],
                bad("app \"a\" is already in group \"g\" (an app is in at most one group)"),
            ),
            (
                vec![group("all", &["a"])],
                bad("group \"all\": invalid name \"all\": \"all\" means every app"),
            ),
            (
                vec![group("a", &["b"])],
                bad("group \"a\" has the same name as an app"),
            ),
            (
                vec![group("g", &["a"]), group("g", &["b"])],
                bad("duplicate group name \"g\""),
            ),
            (
                vec![group("g", &[])],
                bad("group \"g\": a group needs at least one app"),
            ),
            (
                vec![group("g", &["a", "a"])],
                bad("app \"a\" is listed twice in group \"g\""),
            ),
        ];
        for (groups, want) in cases {
            assert_eq!(
                code_and_message(validate_specs(&apps, &groups)),
                want,
                "{groups:?}"
            );
        }
    }

    #[test]
    fn fork_with_listen_and_bad_variable_names_are_refused() {
        let with = |f: &dyn Fn(&mut AppSpec)| {
            let mut s = spec("a", 2);
            f(&mut s);
            code_and_message(validate_specs(&[s], &[])).map(|(_, m)| m)
        };
        assert_eq!(
            with(&|s| s.app.exec_mode = Some(pmx_config::ExecMode::Fork)),
            None
        );
        assert_eq!(
            with(&|s| {
                s.app.exec_mode = Some(pmx_config::ExecMode::Fork);
                s.app.listen = vec!["tcp://127.0.0.1:1".into()];
            }),
            Some("app \"a\": listen shares sockets between instances, which exec_mode Fork does not do".into())
        );
        assert_eq!(
            with(&|s| s.app.increment_var = Some("A=B".into())),
            Some(
                "app \"a\": increment_var: variable name \"A=B\" is empty or holds \"=\" or NUL"
                    .into()
            )
        );
        assert_eq!(
            with(&|s| s.app.instance_var = String::new()),
            Some(
                "app \"a\": instance_var: variable name \"\" is empty or holds \"=\" or NUL".into()
            )
        );
    }

    #[test]
    fn durations_past_a_day_are_refused_naming_the_field() {
        let day = pmx_config::MAX_DURATION_MS;
        let with = |f: &dyn Fn(&mut AppSpec)| {
            let mut s = spec("a", 1);
            f(&mut s);
            code_and_message(validate_specs(&[s], &[]))
        };
        let over = |field: &str, ms: u64| {
            Some((
                ErrorCode::InvalidConfig,
                format!("app \"a\": {field}: {ms}ms is more than the maximum of 1 day ({day}ms)"),
            ))
        };
        assert_eq!(with(&|s| s.app.kill_timeout_ms = day), None);
        assert_eq!(
            with(&|s| s.app.kill_timeout_ms = u64::MAX),
            over("kill_timeout", u64::MAX)
        );
        assert_eq!(
            with(&|s| s.app.listen_timeout_ms = day + 1),
            over("listen_timeout", day + 1)
        );
        assert_eq!(
            with(&|s| s.app.restart.backoff_ms = Some(day + 1)),
            over("restart.backoff", day + 1)
        );
        assert_eq!(
            with(&|s| {
                s.app.intensity = Some(pmx_config::Intensity {
                    max: 1,
                    within_ms: day + 1,
                })
            }),
            over("intensity.within", day + 1)
        );
        let mut g = group("g", &["a"]);
        g.intensity.within_ms = u64::MAX;
        assert_eq!(
            code_and_message(validate_specs(&[spec("a", 1)], &[g])),
            Some((
                ErrorCode::InvalidConfig,
                format!("group \"g\": intensity.within: {}ms is more than the maximum of 1 day ({day}ms)", u64::MAX)
            ))
        );
    }

    #[test]
    fn shutdown_with_message_is_refused_for_an_app_without_node() {
        let cases: [(Option<&str>, &str, bool); 4] = [
            (None, "/usr/bin/node", true),
            (Some("node"), "/usr/bin/node", true),
            (None, "/srv/run.sh", false),
            (Some("python3"), "/usr/bin/python3", false),
        ];
        for (interpreter, program, ok) in cases {
            let mut s = spec("a", 1);
            s.app.shutdown_with_message = true;
            s.app.interpreter = interpreter.map(str::to_string);
            s.program = program.into();
            let got = code_and_message(validate_specs(&[s], &[]));
            let want = (!ok).then(|| {
                (
                    ErrorCode::InvalidConfig,
                    format!("app \"a\": {}", no_channel(std::path::Path::new(program))),
                )
            });
            assert_eq!(got, want, "{interpreter:?} {program}");
        }
        // Without the option any program passes.
        assert_eq!(code_and_message(validate_specs(&[spec("a", 1)], &[])), None);
    }
}
