//! The App supervisor's side of health checks (SPEC §5): one probe chain per spawned
//! process (the current one, and a rolling reload's replacement), each a timer message
//! ([`ProbeDue`]) that starts one probe whose result comes back here; the next is armed
//! only once the result is in, so probes never pile up (one in flight per process).
//! HTTP and TCP probes are futures run on the log arbiter, off the supervision thread
//! (`crate::health`), their results sent back here;
//! an `exec` probe is a child in its own process group, its exit heard through the
//! Reaper ([`Reaped`]), killed with its group at the timeout and after its exit (nothing
//! it started is left behind).
//!
//! A pass of a process waiting for readiness (`ready: true`) is its `Ready`; failures of
//! an `online` instance are counted (`supervision::health::Tally`) and the `failures`-th
//! in a row is `HealthFailed` (in cluster mode: a rolling replacement of that instance,
//! as for a memory limit). A change of state (pass ↔ fail) is a `health` event.
//!
//! An app without `health` has no chain, no timer and no message: nothing here runs.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use nix::sys::signal::Signal;

use super::{wall_ms, AppSup};
use crate::events::Publish;
use crate::messages::Reaped;
use crate::os;
use crate::protocol::{Event as BusEvent, HealthState};
use crate::supervision::health::{ProbeResult, Tally};
use crate::supervision::instance::{Event, Phase, Reason};
use pmx_config::Probe;

/// Time to probe process `generation` of the slot keyed `key` (its `start_period` or its
/// `interval` passed).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ProbeDue {
    /// The slot's key.
    pub key: u32,
    /// The process generation probed.
    pub generation: u64,
}

/// What a probe reaches, resolved for one process (`${NAME}` replaced).
enum Target {
    Http {
        host: String,
        port: u16,
        path: String,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Exec {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
    },
    /// The target could not be resolved for this instance (`${PORT}` unset): every
    /// probe fails with this.
    Bad(String),
}

/// One process's probe chain.
pub(super) struct Probing {
    generation: u64,
    target: Target,
    tally: Tally,
    /// The armed `ProbeDue`, or an exec probe's timeout.
    timer: Option<SpawnHandle>,
    /// An exec probe in flight: its pid (its group), and whether its timeout passed.
    exec: Option<(i32, bool)>,
    /// Its failure was acted on: no more probes for this process.
    done: bool,
}

impl AppSup {
    /// Process `generation` of slot `i` was spawned (pid `pid`): its probe chain starts,
    /// the first probe after `start_period`. Nothing without `health`.
    pub(super) fn start_probing(
        &mut self,
        i: usize,
        generation: u64,
        pid: u32,
        ctx: &mut Context<Self>,
    ) {
        let Some(h) = self.parts.spec.app.health.clone() else {
            return;
        };
        let target = self.target(i, pid, &h.probe);
        let key = self.slots[i].key;
        let timer = ctx.notify_later(
            ProbeDue { key, generation },
            Duration::from_millis(h.start_period_ms),
        );
        let s = &mut self.slots[i];
        s.health.retain(|p| p.generation != generation);
        s.health.push(Probing {
            generation,
            target,
            tally: Tally::default(),
            timer: Some(timer),
            exec: None,
            done: false,
        });
    }

    /// The tree of process `generation` of the slot keyed `key` is gone: its chain ends
    /// (a probe in flight is dropped; an exec probe's group is killed).
    pub(super) fn stop_probing(&mut self, key: u32, generation: u64, ctx: &mut Context<Self>) {
        let Some(i) = self.index_of_key(key) else {
            return;
        };
        let s = &mut self.slots[i];
        let Some(k) = s.health.iter().position(|p| p.generation == generation) else {
            return;
        };
        let p = s.health.remove(k);
        if let Some(t) = p.timer {
            ctx.cancel_future(t);
        }
        if let Some((pid, _)) = p.exec {
            os::signal_group(pid, Signal::SIGKILL);
        }
    }

    /// What the probe of slot `i` reaches for its process `pid`.
    fn target(&self, i: usize, pid: u32, probe: &Probe) -> Target {
        let expand = |s: &str| -> Result<String, String> {
            if !pmx_config::probe::has_variables(s) {
                return Ok(s.to_string());
            }
            let env = self.env_for(i);
            pmx_config::probe::expand(s, |k| env.get(k).cloned())
        };
        match probe {
            Probe::Http(url) => match expand(url).and_then(|u| pmx_config::probe::split_http(&u)) {
                Ok(t) => Target::Http {
                    host: t.host,
                    port: t.port,
                    path: t.path,
                },
                Err(e) => Target::Bad(e),
            },
            Probe::Tcp(a) => match expand(a).and_then(|a| pmx_config::probe::split_tcp(&a)) {
                Ok((host, port)) => Target::Tcp { host, port },
                Err(e) => Target::Bad(e),
            },
            Probe::Exec(argv) => {
                let mut env = self.env_for(i);
                // Not a process of the instance's tree: no tree marker (a stop of the
                // instance never waits for a probe; the probe's own group is killed), no
                // notify socket.
                env.remove(crate::os::MARKER_VAR);
                env.remove(crate::readiness::NOTIFY_VAR);
                env.insert("PMX_PID".into(), pid.to_string());
                Target::Exec {
                    argv: argv.clone(),
                    env,
                }
            }
        }
    }

    /// A probe of process `generation` of the slot keyed `key` ended with `r`.
    fn probe_done(&mut self, key: u32, generation: u64, r: ProbeResult, ctx: &mut Context<Self>) {
        let Some(h) = self.parts.spec.app.health.clone() else {
            return;
        };
        let Some(i) = self.index_of_key(key) else {
            return;
        };
        let (current, phase, id, idx) = {
            let s = &self.slots[i];
            (s.fsm.generation == generation, s.fsm.phase, s.id, s.idx)
        };
        let online = current && phase == Phase::Online;
        let Some(p) = self.slots[i]
            .health
            .iter_mut()
            .find(|p| p.generation == generation && !p.done)
        else {
            return;
        };
        let v = p.tally.record(r.clone(), wall_ms(), online, h.failures);
        let count = p.tally.consecutive_failures;
        if v.failed {
            p.done = true;
        } else {
            p.timer = Some(ctx.notify_later(
                ProbeDue { key, generation },
                Duration::from_millis(h.interval_ms),
            ));
        }
        if v.changed {
            if r.pass {
                tracing::info!(
                    "app {} id {id}: health check passes ({})",
                    self.name(),
                    r.detail
                );
            } else {
                tracing::warn!(
                    "app {} id {id}: health check fails ({})",
                    self.name(),
                    r.detail
                );
            }
            self.publish_health(i, &r, count);
        }
        if r.pass && h.ready && !online {
            // A readiness check's pass is the process's READY (its own or a replacement's);
            // once online, a pass changes nothing.
            self.feed(i, Event::Ready { generation }, ctx);
            self.flush();
        }
        if !v.failed {
            return;
        }
        tracing::warn!(
            "app {} instance {idx} (id {id}): {count} health check failures in a row ({}); \
             stopping it as a failure",
            self.name(),
            r.detail
        );
        if Self::reloads_rolling(&self.parts.spec, self.live()) {
            // Cluster mode: replaced rolling, as for a memory limit.
            if self.memory_reloads.contains(&key) {
                return;
            }
            self.memory_reloads.push(key);
            let done = self.reload_after(Vec::new(), Some(vec![idx]), Reason::Health, ctx);
            ctx.spawn(done.into_actor(self).map(move |_, act, _| {
                act.memory_reloads.retain(|k| *k != key);
                act.flush();
            }));
        } else {
            self.feed(i, Event::HealthFailed { generation }, ctx);
            self.flush();
        }
    }

    /// Announce slot `i`'s probe state change on the bus (only built when someone
    /// listens).
    fn publish_health(&self, i: usize, r: &ProbeResult, failures: u32) {
        if !self.parts.shared.bus_flags.any() {
            return;
        }
        let e = BusEvent {
            event: "health".into(),
            app: Some(self.name().to_string()),
            id: Some(self.slots[i].id),
            time: Some(chrono::Local::now().to_rfc3339()),
            result: Some(if r.pass { "pass" } else { "fail" }.into()),
            failures: Some(failures),
            reason: Some(r.detail.clone()),
            ..BusEvent::default()
        };
        self.parts.shared.bus.do_send(Publish(e));
    }

    /// `describe`'s health of slot `i`: the check and its current process's last probe;
    /// None without `health`.
    pub(super) fn health_state(&self, i: usize) -> Option<HealthState> {
        let h = self.parts.spec.app.health.as_ref()?;
        let s = &self.slots[i];
        let tally = s
            .health
            .iter()
            .find(|p| p.generation == s.fsm.generation)
            .map(|p| &p.tally);
        let last = tally.and_then(|t| t.last.as_ref());
        Some(HealthState {
            probe: match &h.probe {
                Probe::Http(u) => format!("http {u}"),
                Probe::Tcp(a) => format!("tcp {a}"),
                Probe::Exec(argv) => format!("exec {}", argv.join(" ")),
            },
            interval: h.interval_ms,
            timeout: h.timeout_ms,
            failures: h.failures,
            ready: h.ready,
            last_result: last.map(|(r, _)| if r.pass { "pass" } else { "fail" }.to_string()),
            last_detail: last.map(|(r, _)| r.detail.clone()),
            last_at: last.map(|(_, at)| *at),
            consecutive_failures: tally.map_or(0, |t| t.consecutive_failures),
        })
    }
}

impl Handler<ProbeDue> for AppSup {
    type Result = ();
    fn handle(&mut self, m: ProbeDue, ctx: &mut Context<Self>) {
        let Some(timeout_ms) = self.parts.spec.app.health.as_ref().map(|h| h.timeout_ms) else {
            return;
        };
        let Some(i) = self.index_of_key(m.key) else {
            return;
        };
        let cwd = self.parts.spec.cwd.clone();
        let Some(p) = self.slots[i]
            .health
            .iter_mut()
            .find(|p| p.generation == m.generation && !p.done)
        else {
            return;
        };
        p.timer = None;
        if p.exec.is_some() {
            return;
        }
        let (key, generation) = (m.key, m.generation);
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ProbeResult> + Send>> =
            match &p.target {
                Target::Http { host, port, path } => Box::pin(crate::health::http(
                    host.clone(),
                    *port,
                    path.clone(),
                    timeout_ms,
                )),
                Target::Tcp { host, port } => {
                    Box::pin(crate::health::tcp(host.clone(), *port, timeout_ms))
                }
                Target::Bad(e) => Box::pin(std::future::ready(ProbeResult {
                    pass: false,
                    detail: e.clone(),
                })),
                Target::Exec { argv, env } => match crate::health::spawn_exec(argv, &cwd, env) {
                    Ok(pid) => {
                        p.exec = Some((pid, false));
                        self.parts
                            .shared
                            .pids
                            .borrow_mut()
                            .register(pid, ctx.address().recipient());
                        let t = ctx.run_later(Duration::from_millis(timeout_ms), move |act, _| {
                            act.exec_timed_out(key, generation)
                        });
                        if let Some(p) = self.slots[i]
                            .health
                            .iter_mut()
                            .find(|p| p.generation == generation)
                        {
                            p.timer = Some(t);
                        }
                        return;
                    }
                    Err(e) => Box::pin(std::future::ready(ProbeResult {
                        pass: false,
                        detail: format!("cannot run {}: {e}", argv[0]),
                    })),
                },
            };
        // Off the supervision thread: the probe runs on the log arbiter, its result comes
        // back here.
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.parts.shared.log_arbiter.spawn(async move {
            let _ = tx.send(fut.await);
        });
        let result = async move {
            rx.await.unwrap_or_else(|_| ProbeResult {
                pass: false,
                detail: "the probe was dropped (the log thread is gone)".into(),
            })
        };
        ctx.spawn(
            result
                .into_actor(self)
                .map(move |r, act, ctx| act.probe_done(key, generation, r, ctx)),
        );
    }
}

impl AppSup {
    /// An exec probe's timeout passed: its group is killed; its exit reports the failure.
    fn exec_timed_out(&mut self, key: u32, generation: u64) {
        let Some(i) = self.index_of_key(key) else {
            return;
        };
        if let Some(p) = self.slots[i]
            .health
            .iter_mut()
            .find(|p| p.generation == generation)
        {
            p.timer = None;
            if let Some((pid, timed_out)) = p.exec.as_mut() {
                *timed_out = true;
                os::signal_group(*pid, Signal::SIGKILL);
            }
        }
    }
}

impl Handler<Reaped> for AppSup {
    type Result = ();
    /// An exec probe exited (the only pids an App supervisor registers with the Reaper).
    fn handle(&mut self, m: Reaped, ctx: &mut Context<Self>) {
        let timeout_ms = self
            .parts
            .spec
            .app
            .health
            .as_ref()
            .map_or(0, |h| h.timeout_ms);
        let found = self.slots.iter_mut().find_map(|s| {
            let key = s.key;
            s.health
                .iter_mut()
                .find(|p| p.exec.is_some_and(|(pid, _)| pid == m.pid))
                .map(|p| (key, p))
        });
        let Some((key, p)) = found else {
            // A probe of a process that is gone: its group was killed already.
            os::signal_group(m.pid, Signal::SIGKILL);
            return;
        };
        let (pid, timed_out) = p.exec.take().unwrap_or((m.pid, false));
        // Whatever it started and left running goes with it.
        os::signal_group(pid, Signal::SIGKILL);
        if let Some(t) = p.timer.take() {
            ctx.cancel_future(t);
        }
        let generation = p.generation;
        let r = if timed_out {
            ProbeResult {
                pass: false,
                detail: format!("timed out after {timeout_ms} ms"),
            }
        } else {
            match (m.exit.code, m.exit.signal) {
                (Some(0), _) => ProbeResult {
                    pass: true,
                    detail: "exit 0".into(),
                },
                (Some(c), _) => ProbeResult {
                    pass: false,
                    detail: format!("exit {c}"),
                },
                (None, Some(sig)) => ProbeResult {
                    pass: false,
                    detail: format!("killed by {}", os::signal_name(sig)),
                },
                (None, None) => ProbeResult {
                    pass: false,
                    detail: "ended".into(),
                },
            }
        };
        self.probe_done(key, generation, r, ctx);
    }
}
