//! `health: (http: … | tcp: … | exec: […], interval, timeout, failures, start_period,
//! ready)` (SPEC §4): one probe, its timings, each error at its own position.

use super::{describe, Walk};
use crate::model::{Health, Probe};
use crate::probe;
use crate::reader::{Node, Value};

const HEALTH_FIELDS: &[&str] = &[
    "http",
    "tcp",
    "exec",
    "interval",
    "timeout",
    "failures",
    "start_period",
    "ready",
];

impl Walk<'_> {
    /// A `health: (…)` record; None (reported) when it has an error.
    pub(super) fn health(&mut self, v: &Node) -> Option<Health> {
        let before = self.errors.len();
        let fields = self.record(v, "Health", "(http: \"http://…\", interval: …)")?;
        let mut probe: Option<Probe> = None;
        let mut h = Health::new(Probe::Exec(Vec::new()));
        let mut probes = 0;
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "http" | "tcp" | "exec" => {
                    probes += 1;
                    if probes > 1 {
                        self.err(
                            f.pos,
                            "a health check has one probe: give only one of http, tcp or exec",
                        );
                        continue;
                    }
                    probe = self.probe(&f.name, v);
                }
                "interval" => {
                    h.interval_ms = self.duration(v, "interval").unwrap_or(h.interval_ms);
                    if h.interval_ms == 0 {
                        self.err(v.pos, "health interval must be more than 0");
                    }
                }
                "timeout" => {
                    h.timeout_ms = self.duration(v, "timeout").unwrap_or(h.timeout_ms);
                    if h.timeout_ms == 0 {
                        self.err(v.pos, "health timeout must be more than 0");
                    }
                }
                "failures" => {
                    h.failures = self.uint(v, "failures").unwrap_or(h.failures);
                    if h.failures == 0 {
                        self.err(
                            v.pos,
                            "health failures must be at least 1 (failures in a row that make an instance a failure)",
                        );
                    }
                }
                "start_period" => h.start_period_ms = self.duration(v, "start_period").unwrap_or(0),
                "ready" => h.ready = self.boolean(v, "ready").unwrap_or(false),
                _ => self.unknown(
                    f,
                    HEALTH_FIELDS,
                    &[
                        ("url", "http"),
                        ("command", "exec"),
                        ("cmd", "exec"),
                        ("period", "interval"),
                        ("failure_threshold", "failures"),
                        ("retries", "failures"),
                        ("initial_delay", "start_period"),
                    ],
                ),
            }
        }
        if probes == 0 {
            self.err(
                v.pos,
                "a health check needs a probe: http: \"http://…\", tcp: \"host:port\" or exec: [\"cmd\", …]",
            );
        }
        h.probe = probe?;
        (self.errors.len() == before).then_some(h)
    }

    fn probe(&mut self, kind: &str, v: &Node) -> Option<Probe> {
        if kind == "exec" {
            let items = self.string_nodes(v, "exec")?;
            match items.first() {
                None => {
                    self.err(v.pos, "health exec needs a command: [\"cmd\", \"arg\", …]");
                    return None;
                }
                Some((n, s)) if s.is_empty() => {
                    self.err(n.pos, "health exec: the command must not be empty");
                    return None;
                }
                _ => {}
            }
            return Some(Probe::Exec(items.into_iter().map(|(_, s)| s).collect()));
        }
        let Value::Str(s) = &v.value else {
            let shape = if kind == "http" {
                "a URL \"http://…\""
            } else {
                "\"host:port\""
            };
            self.err(
                v.pos,
                format!(
                    "expected {shape} for health \"{kind}\", found {}",
                    describe(&v.value)
                ),
            );
            return None;
        };
        // A target holding `${NAME}` is checked per instance, once expanded; here only its
        // shape with a stand-in value.
        let shape = probe::expand(s, |_| Some("1".into()));
        let checked = shape.and_then(|t| {
            if kind == "http" {
                probe::split_http(&t).map(|_| ())
            } else {
                probe::split_tcp(&t).map(|_| ())
            }
        });
        if let Err(e) = checked {
            self.err(v.pos, e);
            return None;
        }
        Some(if kind == "http" {
            Probe::Http(s.clone())
        } else {
            Probe::Tcp(s.clone())
        })
    }
}
