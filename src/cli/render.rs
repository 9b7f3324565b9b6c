//! How results look on a terminal: the PM2-like process table, `describe`, `up`'s plan.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use pmx_protocol::{Description, PlanAction, PlanLine, ProcessInfo};

/// A duration in ms, as PM2 shows uptimes: `45s`, `12m`, `3h`, `2D`.
pub fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}D", s / 86_400),
    }
}

/// Bytes, human-sized in binary units: `512b`, `12.3kb`, `45.0mb`, `1.2gb` (PM2's style).
pub fn human_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K {
        format!("{b}b")
    } else if f < K * K {
        format!("{:.1}kb", f / K)
    } else if f < K * K * K {
        format!("{:.1}mb", f / K / K)
    } else {
        format!("{:.1}gb", f / K / K / K)
    }
}

/// `min / avg / max` of the cpu figures of a history (`3% / 12% / 40%`, over N
/// samples); None when it has none.
pub fn cpu_summary(h: &[pmx_protocol::MetricPoint]) -> Option<String> {
    let v: Vec<f64> = h.iter().filter_map(|p| p.cpu).collect();
    let (min, avg, max) = summary(&v)?;
    Some(format!(
        "{min:.0}% / {avg:.0}% / {max:.0}% (min / avg / max of {} samples)",
        v.len()
    ))
}

/// `min / avg / max` of the memory figures of a history; None when it has none.
pub fn memory_summary(h: &[pmx_protocol::MetricPoint]) -> Option<String> {
    let v: Vec<f64> = h.iter().map(|p| p.memory as f64).collect();
    let (min, avg, max) = summary(&v)?;
    Some(format!(
        "{} / {} / {} (min / avg / max of {} samples)",
        human_bytes(min as u64),
        human_bytes(avg as u64),
        human_bytes(max as u64),
        v.len()
    ))
}

fn summary(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((min, v.iter().sum::<f64>() / v.len() as f64, max))
}

/// The host line under the process table: `host: cpu 12% of 2 cpus, memory 3.1gb /
/// 7.8gb` (cpu `-` until the daemon has two readings).
pub fn host_line(h: &pmx_protocol::HostReply) -> String {
    format!(
        "host: cpu {} of {} cpu{}, memory {} / {}\n",
        h.cpu
            .map_or_else(|| "-".to_string(), |c| format!("{c:.0}%")),
        h.cpus,
        if h.cpus == 1 { "" } else { "s" },
        human_bytes(h.memory_used),
        human_bytes(h.memory_total)
    )
}

/// The process table: id, name, mode, pid, uptime, ↺ restarts, status, cpu, mem, user,
/// watching.
pub fn table(rows: &[ProcessInfo]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "id", "name", "mode", "pid", "uptime", "↺", "status", "cpu", "mem", "user", "watching",
        ]);
    for r in rows {
        let dash = || "-".to_string();
        t.add_row(vec![
            r.id.to_string(),
            r.name.clone(),
            r.mode.clone(),
            r.pid.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
            r.uptime.map(human_ms).unwrap_or_else(|| "0".into()),
            r.restarts.to_string(),
            r.status.as_str().to_string(),
            r.cpu.map(|c| format!("{c:.0}%")).unwrap_or_else(dash),
            r.memory.map(human_bytes).unwrap_or_else(dash),
            r.user.clone(),
            if r.watching { "enabled" } else { "disabled" }.to_string(),
        ]);
    }
    format!("{t}\n")
}

/// `describe`: one key/value table per instance.
pub fn describe(d: &Description) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let rows: Vec<(&str, String)> = vec![
        ("status", d.info.status.as_str().into()),
        ("name", d.info.name.clone()),
        ("namespace", d.info.namespace.clone()),
        ("id", d.info.id.to_string()),
        ("instance", d.info.instance.to_string()),
        ("pid", opt(d.info.pid.map(|p| p.to_string()))),
        ("mode", d.info.mode.clone()),
        ("exec mode", d.exec_mode.clone()),
        ("listen", listen_sockets(&d.listen)),
        (
            "instance var",
            format!("{}={}", d.instance_var, d.info.instance),
        ),
        (
            "increment var",
            match (&d.increment_var, &d.increment_value) {
                (Some(var), Some(value)) => format!("{var}={value}"),
                _ => "-".into(),
            },
        ),
        ("restarts", d.info.restarts.to_string()),
        ("unstable restarts", d.unstable_restarts.to_string()),
        ("uptime", opt(d.info.uptime.map(human_ms))),
        ("script", d.script.clone()),
        ("exec", d.program.display().to_string()),
        ("args", shell_words::join(&d.args)),
        ("interpreter", opt(d.interpreter.clone())),
        ("cwd", d.cwd.display().to_string()),
        ("out log", d.out_log.display().to_string()),
        ("error log", d.error_log.display().to_string()),
        (
            "log file",
            opt(d.log_file.as_ref().map(|p| p.display().to_string())),
        ),
        ("log lines lost", d.log_lost_lines.to_string()),
        ("log fault", opt(d.log_fault.clone())),
        ("restart policy", d.policy.clone()),
        ("kill signal", d.kill_signal.clone()),
        ("kill timeout", format!("{} ms", d.kill_timeout)),
        (
            "readiness",
            match (d.wait_ready, d.health.as_ref().is_some_and(|h| h.ready)) {
                (Some(ms), true) => format!("health check's first pass (listen_timeout {ms} ms)"),
                (Some(ms), false) => format!("wait_ready (listen_timeout {ms} ms)"),
                (None, _) => "online once spawned".into(),
            },
        ),
        (
            "last exit code",
            opt(d.last_exit_code.map(|c| c.to_string())),
        ),
        ("last exit signal", opt(d.last_exit_signal.clone())),
        ("cpu", opt(d.info.cpu.map(|c| format!("{c:.1}%")))),
        ("memory", opt(d.info.memory.map(human_bytes))),
        ("cpu, last minute", opt(cpu_summary(&d.history))),
        ("memory, last minute", opt(memory_summary(&d.history))),
        (
            "max memory restart",
            opt(d.max_memory_restart.map(human_bytes)),
        ),
        ("last restart reason", opt(d.last_restart_reason.clone())),
        (
            "health",
            match &d.health {
                None => "none".into(),
                Some(h) => format!(
                    "{} every {} ms, timeout {} ms, {} failures{}",
                    h.probe,
                    h.interval,
                    h.timeout,
                    h.failures,
                    if h.ready { ", readiness" } else { "" }
                ),
            },
        ),
        (
            "last probe",
            match &d.health {
                Some(h) => match (&h.last_result, &h.last_detail) {
                    (Some(r), Some(detail)) => format!(
                        "{r} ({detail}){}, {} failures in a row",
                        h.last_at
                            .map(|t| format!(" at {}", when(t)))
                            .unwrap_or_default(),
                        h.consecutive_failures
                    ),
                    _ => "none yet".into(),
                },
                None => "none".into(),
            },
        ),
        ("waiting", opt(d.waiting_for.clone())),
        ("cron restart", opt(d.cron_restart.clone())),
        ("next cron restart", opt(d.cron_next.clone())),
        ("watching", watching(d)),
        (
            "watch paths",
            opt((!d.watch_paths.is_empty()).then(|| {
                let shown: Vec<String> = d
                    .watch_paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                shown.join(", ")
            })),
        ),
        (
            "ignore watch",
            opt((d.watch_delay.is_some()).then(|| {
                let mut all: Vec<&str> = vec!["node_modules", ".git", "pmx's log files"];
                all.extend(d.ignore_watch.iter().map(String::as_str));
                all.join(", ")
            })),
        ),
        (
            "watch delay",
            opt(d.watch_delay.map(|ms| format!("{ms} ms"))),
        ),
        ("last watch restart", opt(last_watch_restart(d))),
        ("user", d.info.user.clone()),
        (
            "source",
            opt(d.source.as_ref().map(|p| p.display().to_string())),
        ),
        ("last error", opt(d.last_error.clone())),
        ("group", opt(d.info.group.clone())),
        ("group strategy", opt(d.group_strategy.clone())),
        ("group intensity", opt(d.group_intensity.clone())),
        (
            "group restarts in window",
            opt(d.group_restarts.map(|n| n.to_string())),
        ),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    format!("{t}\n")
}

/// `describe`'s `watching`: `enabled`, `disabled`, or why not though `watch` is on (or,
/// while it is on, which paths are not watched yet).
fn watching(d: &Description) -> String {
    match (&d.watch_error, d.info.watching, d.watch_delay.is_some()) {
        (Some(why), true, _) => format!("enabled ({why})"),
        (Some(why), false, _) => format!("disabled: {why}"),
        (None, true, _) => "enabled".into(),
        (None, false, true) => "disabled (stopped: resumes at start or restart)".into(),
        (None, false, false) => "disabled".into(),
    }
}

/// `describe`'s last watch restart: its local time and the file that changed.
fn last_watch_restart(d: &Description) -> Option<String> {
    let ms = d.last_watch_restart?;
    let at = chrono::DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)?
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S");
    Some(match &d.last_watch_path {
        Some(p) if d.last_watch_repeats >= pmx_protocol::WATCH_LOOP => format!(
            "{at} ({} changed; {} restarts in a row by it: if the app writes it, add it \
             to ignore_watch)",
            p.display(),
            d.last_watch_repeats
        ),
        Some(p) => format!("{at} ({} changed)", p.display()),
        None => at.to_string(),
    })
}

/// An app's `listen` sockets for `describe`: `tcp://0.0.0.0:3000 (bound)`, comma-separated;
/// `-` when it has none.
fn listen_sockets(listen: &[pmx_protocol::ListenSocket]) -> String {
    if listen.is_empty() {
        return "-".into();
    }
    listen
        .iter()
        .map(|l| {
            let state = if l.bound { "bound" } else { "not bound yet" };
            format!("{} ({state})", l.address)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `up`'s plan: `+ name  start`, `~ name  reload (env.PORT, args)`, `= name  unchanged`,
/// `- name  delete`, and for groups `+ group name  start`, `~ group name  rebuild
/// (strategy)`, `- group name  dissolve (its apps stay)`; names padded to the widest.
pub fn plan(lines: &[PlanLine]) -> String {
    let shown = |l: &PlanLine| {
        if l.group {
            format!("group {}", l.name)
        } else {
            l.name.clone()
        }
    };
    let width = lines
        .iter()
        .map(|l| shown(l).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        let (sign, word) = match l.action {
            PlanAction::Start => ('+', "start"),
            PlanAction::Reload => ('~', "reload"),
            PlanAction::Restart => ('~', "restart"),
            PlanAction::Rebuild => ('~', "rebuild"),
            PlanAction::Update => ('~', "update"),
            PlanAction::Scale => ('~', "scale"),
            PlanAction::Unchanged => ('=', "unchanged"),
            PlanAction::Delete if l.group => ('-', "dissolve"),
            PlanAction::Delete => ('-', "delete"),
        };
        let name = shown(l);
        let pad = width - name.chars().count();
        out.push_str(&format!("{sign} {name}{}  {word}", " ".repeat(pad)));
        if !l.changes.is_empty() {
            out.push_str(&format!(" ({})", l.changes.join(", ")));
        }
        if l.action == PlanAction::Update {
            out.push_str(", stays stopped");
        }
        out.push('\n');
    }
    out
}

/// `ms` since the Unix epoch as local time (`2026-12-06 17:40:01`).
fn when(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_ms(0), "0s");
        assert_eq!(human_ms(61_000), "1m");
        assert_eq!(human_ms(7_200_000), "2h");
        assert_eq!(human_ms(200_000_000), "2D");
        assert_eq!(human_bytes(512), "512b");
        assert_eq!(human_bytes(1536), "1.5kb");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0mb");
    }

    #[test]
    fn host_lines() {
        let h = |cpu, cpus| pmx_protocol::HostReply {
            cpu,
            cpus,
            memory_used: 3 << 30,
            memory_total: 8 << 30,
        };
        assert_eq!(
            host_line(&h(Some(12.4), 2)),
            "host: cpu 12% of 2 cpus, memory 3.0gb / 8.0gb\n"
        );
        assert_eq!(
            host_line(&h(None, 1)),
            "host: cpu - of 1 cpu, memory 3.0gb / 8.0gb\n"
        );
    }

    #[test]
    fn history_summaries() {
        let p = |cpu, memory| pmx_protocol::MetricPoint {
            time: 0,
            cpu,
            memory,
        };
        assert_eq!(cpu_summary(&[]), None);
        assert_eq!(memory_summary(&[]), None);
        let h = [p(None, 1024), p(Some(10.0), 2048), p(Some(30.0), 3072)];
        assert_eq!(
            cpu_summary(&h).as_deref(),
            Some("10% / 20% / 30% (min / avg / max of 2 samples)")
        );
        assert_eq!(
            memory_summary(&h).as_deref(),
            Some("1.0kb / 2.0kb / 3.0kb (min / avg / max of 3 samples)")
        );
    }

    #[test]
    fn plan_lines_pad_names() {
        let lines = vec![
            PlanLine {
                name: "api".into(),
                action: PlanAction::Start,
                changes: vec![],
                group: false,
            },
            PlanLine {
                name: "worker".into(),
                action: PlanAction::Reload,
                changes: vec!["env.PORT".into(), "args".into()],
                group: false,
            },
        ];
        assert_eq!(
            plan(&lines),
            "+ api     start\n~ worker  reload (env.PORT, args)\n"
        );
        let group = vec![PlanLine {
            name: "trio".into(),
            action: PlanAction::Rebuild,
            changes: vec!["strategy".into()],
            group: true,
        }];
        assert_eq!(plan(&group), "~ group trio  rebuild (strategy)\n");
    }
}
