//! What a client's specs must satisfy before the Root acts on them: what pmx-config
//! checks in a file, plus one name per app (a raw socket client may send anything).

use std::collections::BTreeSet;

use crate::os;
use crate::protocol::{ApiError, AppSpec, ErrorCode};

/// Check what a client sent as specs: what pmx-config checks in a file (names, signals,
/// cron patterns, date formats, listen URLs, instance counts, durations of at most a
/// day), plus one name per app, and that its `uid`/`gid` exist on this machine (an
/// unknown one would otherwise leave the app running as the daemon's user, root).
/// The CLI's specs always pass; a raw socket client's may not.
///
/// Errors: `invalid_config` naming the app and the field.
pub fn validate_specs(specs: &[AppSpec]) -> Result<(), ApiError> {
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
            (
                "intensity.within",
                app.intensity.as_ref().map(|i| i.within_ms),
            ),
        ];
        for (field, ms) in durations {
            if let Some(ms) = ms {
                pmx_config::check_duration(field, ms).map_err(|e| bad(&app.name, e))?;
            }
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
        pmx_config::validate_date_format(&app.logs.date_format)
            .map_err(|e| bad(&app.name, format!("logs.date_format: {e}")))?;
        for l in &app.listen {
            pmx_config::validate_listen(l).map_err(|e| bad(&app.name, format!("listen: {e}")))?;
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
    }
    Ok(())
}
