//! `GET /metrics`: the Prometheus text exposition format 0.0.4 of every instance's
//! figures (`describe`'s, so the same numbers `pmx list` shows) and the daemon's own.
//! A pure function of its inputs; `daemon()` reads `/proc/self`.

use std::fmt::Write;

use crate::protocol::{Description, Status};

/// The response's content type (the format's version 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The daemon's own figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Daemon {
    /// Resident bytes; None when `/proc/self/statm` cannot be read.
    pub memory: Option<u64>,
    /// User plus system cpu time, seconds; None when `/proc/self/stat` cannot be read.
    pub cpu_seconds: Option<f64>,
    /// Event subscribers (socket `subscribe` connections, `/api/events` streams); None
    /// when the bus did not answer.
    pub subscribers: Option<u64>,
}

/// The daemon's figures now, from `/proc/self` (its own threads, not its children).
pub fn daemon() -> Daemon {
    // SAFETY: sysconf has no preconditions.
    let (page, hz) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE).max(1) as u64,
            libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64,
        )
    };
    let memory = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page);
    let cpu_seconds = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| cpu_ticks(&t))
        .map(|ticks| ticks as f64 / hz);
    Daemon {
        memory,
        cpu_seconds,
        subscribers: None,
    }
}

/// `utime + stime` of a `/proc/<pid>/stat` line (fields 14 and 15, read after the
/// command name's last `)`).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().take(13).collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A label value escaped as the format asks (`\`, `"` and line breaks).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One family: its `# HELP` and `# TYPE` lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head<'o>(out: &'o mut String, name: &str, kind: &str, help: &str) -> Family<'o> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &str, value: f64) {
        let _ = if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
            writeln!(self.out, "{name}{labels} {}", value as i64)
        } else {
            writeln!(self.out, "{name}{labels} {value}")
        };
    }
}

/// The labels of one instance: `{name="…",id="…",instance="…",namespace="…"}`.
fn labels(d: &Description) -> String {
    format!(
        "{{name=\"{}\",id=\"{}\",instance=\"{}\",namespace=\"{}\"",
        escape(&d.info.name),
        d.info.id,
        d.info.instance,
        escape(&d.info.namespace)
    )
}

/// The whole exposition: per instance of `described` (cpu and memory only once
/// sampled, health only for apps with a health check that has probed), then `daemon`.
pub fn render(described: &[Description], daemon: Daemon) -> String {
    let mut out = String::new();
    let per = |out: &mut String,
               name: &str,
               kind: &str,
               help: &str,
               value: &dyn Fn(&Description) -> Option<f64>| {
        let mut fam = Family::head(out, name, kind, help);
        for d in described {
            if let Some(v) = value(d) {
                fam.sample(name, &format!("{}}}", labels(d)), v);
            }
        }
    };
    per(
        &mut out,
        "pmx_process_cpu_percent",
        "gauge",
        "CPU of the instance's process tree, percent of one core (100 = one core busy).",
        &|d| d.info.cpu,
    );
    per(
        &mut out,
        "pmx_process_memory_bytes",
        "gauge",
        "Resident memory of the instance's process tree, bytes.",
        &|d| d.info.memory.map(|m| m as f64),
    );
    per(
        &mut out,
        "pmx_process_restarts_total",
        "counter",
        "Restarts of the instance (crash, watch, cron, memory limit, restart, reload).",
        &|d| Some(d.info.restarts as f64),
    );
    per(
        &mut out,
        "pmx_process_uptime_seconds",
        "gauge",
        "Seconds since the instance's current process started (absent while it is down).",
        &|d| d.info.uptime.map(|ms| ms as f64 / 1000.0),
    );
    {
        let name = "pmx_process_status";
        let mut fam = Family::head(
            &mut out,
            name,
            "gauge",
            "The instance's status: 1 for the current status word, 0 for the others.",
        );
        for d in described {
            let base = labels(d);
            for s in Status::ALL {
                let labels = format!("{base},status=\"{}\"}}", s.as_str());
                fam.sample(name, &labels, if s == d.info.status { 1.0 } else { 0.0 });
            }
        }
    }
    per(
        &mut out,
        "pmx_process_log_lines_written_total",
        "counter",
        "Lines written to the instance's log files since the daemon opened them.",
        &|d| Some(d.log_written_lines as f64),
    );
    per(
        &mut out,
        "pmx_process_log_lines_lost_total",
        "counter",
        "Lines of the instance's log files that could not be written since the daemon opened them.",
        &|d| Some(d.log_lost_lines as f64),
    );
    per(
        &mut out,
        "pmx_process_health_up",
        "gauge",
        "1 when the instance's last health probe passed, 0 when it failed (apps with a health check).",
        &|d| {
            let h = d.health.as_ref()?;
            Some(if h.last_result.as_deref()? == "pass" { 1.0 } else { 0.0 })
        },
    );
    let mut fam = Family::head(
        &mut out,
        "pmx_daemon_memory_bytes",
        "gauge",
        "Resident memory of the pmx daemon, bytes.",
    );
    if let Some(m) = daemon.memory {
        fam.sample("pmx_daemon_memory_bytes", "", m as f64);
    }
    let mut fam = Family::head(
        &mut out,
        "pmx_daemon_cpu_seconds_total",
        "counter",
        "CPU time the pmx daemon used (user and system), seconds.",
    );
    if let Some(s) = daemon.cpu_seconds {
        fam.sample("pmx_daemon_cpu_seconds_total", "", s);
    }
    let mut fam = Family::head(
        &mut out,
        "pmx_daemon_event_subscribers",
        "gauge",
        "Event subscribers: socket subscribe connections and /api/events streams.",
    );
    if let Some(n) = daemon.subscribers {
        fam.sample("pmx_daemon_event_subscribers", "", n as f64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslashes_quotes_and_newlines() {
        let cases = [
            ("api", "api"),
            ("a\"b", "a\\\"b"),
            ("a\\b", "a\\\\b"),
            ("a\nb", "a\\nb"),
        ];
        for (raw, want) in cases {
            assert_eq!(escape(raw), want);
        }
    }

    #[test]
    fn cpu_ticks_are_utime_plus_stime() {
        let line = "77 (a (b) c) R 42 77 77 0 -1 0 0 0 0 0 12 30 5 6 20 0 1 0 5 0 0";
        assert_eq!(cpu_ticks(line), Some(42));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn the_daemon_alone_has_its_two_families() {
        let text = render(
            &[],
            Daemon {
                memory: Some(4096),
                cpu_seconds: Some(0.25),
                subscribers: Some(2),
            },
        );
        assert!(
            text.contains("# TYPE pmx_daemon_memory_bytes gauge\npmx_daemon_memory_bytes 4096\n")
        );
        assert!(text.contains(
            "# TYPE pmx_daemon_cpu_seconds_total counter\npmx_daemon_cpu_seconds_total 0.25\n"
        ));
        assert!(text.contains("# HELP pmx_process_status "));
        assert!(text.contains("\npmx_daemon_event_subscribers 2\n"));
    }
}
