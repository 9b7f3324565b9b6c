//! Metrics actor: owns the figures of every running process tree — cpu (% of one core)
//! and resident memory (bytes) of the main process and its descendants — their last
//! minute's history, and each tree's `max_memory_restart` limit. It runs on the log
//! arbiter (the daemon's one thread for file work), so its `/proc` reads never delay a
//! restart decision on the supervision arbiter; it adds no thread.
//!
//! Who tells it which trees exist: each App supervisor, at a spawn ([`Track`]: the main
//! pid, the instance's id, key and generation, its limit, where to send
//! [`MemoryExceeded`]) and at the tree's exit ([`Untrack`]). A Root deriving them from
//! rows would see a reload's replacement only once it is promoted and would need the
//! keys and generations the rows do not carry.
//!
//! Cadence (SPEC §7, §9): a sample every second while someone watches — a `list` or
//! `describe` in the last [`WATCH_FOR`] ([`Snapshot`]), a subscriber of `metrics` events
//! ([`Subscribers`]) — or while a tree has a memory limit (then only the limited trees
//! are read when nobody watches). Otherwise no timer at all: an idle daemon with no
//! limit does no periodic work. A [`Snapshot`] with no sample in the last second
//! samples at once, so `pmx list` right after a start shows memory (cpu needs two
//! samples: null until the second).
//!
//! It never restarts anything: over a limit it sends [`MemoryExceeded`] to the App
//! supervisor, which decides (SPEC §5: leaf actors never restart).

pub mod procfs;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;

use crate::protocol::{HostReply, MetricPoint};
use procfs::Reader;

/// The sampling period while someone watches or a limit is set.
pub const PERIOD: Duration = Duration::from_secs(1);

/// How long a `list` (or `describe`) keeps the sampling on: a client that lists every
/// second (`pmx monit`) keeps it on, one `pmx list` costs at most five samples.
pub const WATCH_FOR: Duration = Duration::from_secs(5);

/// The history kept per tree: the last minute at one sample a second.
pub const HISTORY: usize = 60;

/// A cpu figure needs readings at least this far apart: at 100 ticks a second a shorter
/// interval rounds too coarsely (a `list` just after a timer's sample keeps the last
/// figure instead).
const MIN_CPU_INTERVAL: Duration = Duration::from_millis(500);

/// An instance's tree uses more resident memory than its `max_memory_restart`: sent to
/// its App supervisor at each sample while it is over (the supervisor ignores it while
/// the restart it asked is under way, or for another generation).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct MemoryExceeded {
    /// The instance's key within its app (see `messages::ChildExited::instance`).
    pub instance: u32,
    /// The generation of the process whose tree is over.
    pub generation: u64,
    /// The tree's resident bytes.
    pub rss: u64,
    /// The limit, bytes.
    pub limit: u64,
}

/// Ms since the epoch (the `time` of a history point).
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether a tree's resident memory is over its limit (strictly: at the limit it is not).
pub fn over_limit(rss: u64, limit: Option<u64>) -> bool {
    limit.is_some_and(|l| rss > l)
}

/// A process tree to measure from now on: sent by its App supervisor at each spawn.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Track {
    /// The main process's pid.
    pub pid: u32,
    /// The app's name (in `metrics` events).
    pub app: String,
    /// The instance's id (as listed).
    pub id: u64,
    /// The instance's key within its app.
    pub instance: u32,
    /// The spawn's generation.
    pub generation: u64,
    /// `max_memory_restart`, bytes (None: no limit).
    pub limit: Option<u64>,
    /// Where [`MemoryExceeded`] goes.
    pub to: Recipient<MemoryExceeded>,
}

/// The tree of this spawn is gone: forget it (sent by its App supervisor at its exit).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Untrack {
    /// The instance's id.
    pub id: u64,
    /// The spawn's generation.
    pub generation: u64,
}

/// Someone looks (`list`, `describe`, `monit`): answer the figures of every tree, by main
/// pid, sampling first when the last sample is more than a second old, and keep sampling
/// for [`WATCH_FOR`].
#[derive(Message)]
#[rtype(result = "Snapshot")]
pub struct Look {
    /// Also each tree's history (`describe`).
    pub history: bool,
}

/// The host's cpu and memory (`host`, the line under `pmx list`'s table); the cpu is
/// measured since the previous reading, taken at each full sample too.
#[derive(Message)]
#[rtype(result = "HostReply")]
pub struct Host;

/// Someone looks, and the figures were taken from [`Latest`]: keep sampling for
/// [`WATCH_FOR`] (no answer awaited).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch;

/// How old the last full sample may be for a `list` to be answered from [`Latest`]
/// without asking this actor (one period and some jitter).
pub const FRESH: Duration = Duration::from_millis(1500);

/// The last full sample's figures (every tree's cpu and memory, by main pid, and the
/// host's), shared with the Root: while someone watches, a `list` is answered from it
/// with no round trip to the log arbiter (the lock is held only to copy or fill). The
/// Metrics actor writes it after each full sample.
#[derive(Clone, Default)]
pub struct Latest(Arc<Mutex<LatestInner>>);

#[derive(Default)]
struct LatestInner {
    at: Option<Instant>,
    trees: HashMap<u32, (Option<f64>, Option<u64>)>,
    host: Option<HostReply>,
}

impl Latest {
    /// Fill the figures of `rows` from the last full sample if it is at most [`FRESH`]
    /// old and has every running row's tree; false (rows untouched) otherwise.
    pub fn fill(&self, rows: &mut [crate::protocol::ProcessInfo], now: Instant) -> bool {
        let Ok(l) = self.0.lock() else {
            return false;
        };
        if l.at.is_none_or(|t| now.duration_since(t) > FRESH)
            || rows
                .iter()
                .any(|r| r.pid.is_some_and(|p| !l.trees.contains_key(&p)))
        {
            return false;
        }
        for r in rows {
            if let Some((cpu, memory)) = r.pid.and_then(|p| l.trees.get(&p)) {
                r.cpu = cpu.map(|c| (c * 10.0).round() / 10.0);
                r.memory = *memory;
            }
        }
        true
    }

    /// The host's figures of the last full sample, if it is at most [`FRESH`] old.
    pub fn host(&self, now: Instant) -> Option<HostReply> {
        let l = self.0.lock().ok()?;
        l.at.filter(|t| now.duration_since(*t) <= FRESH)?;
        l.host.clone()
    }
}

/// The figures of the running trees, by main pid.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Main pid → figures.
    pub trees: HashMap<u32, Figures>,
}

/// One tree's figures.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Percent of one core over the last period; None before the second sample.
    pub cpu: Option<f64>,
    /// Resident bytes of the tree.
    pub memory: Option<u64>,
    /// The last minute, oldest first (only when asked).
    pub history: Vec<MetricPoint>,
}

/// The number of subscribers of `metrics` events changed between none and some (from the
/// Event bus): with some, samples go on and each is published.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribers {
    /// Someone subscribes to `metrics` events.
    pub any: bool,
    /// Where each sample's events go.
    pub to: Recipient<crate::events::Publish>,
}

/// One tracked tree.
struct Tree {
    pid: u32,
    app: String,
    instance: u32,
    limit: Option<u64>,
    to: Recipient<MemoryExceeded>,
    /// The last reading: when, and the tree's ticks.
    prev: Option<(Instant, u64)>,
    cpu: Option<f64>,
    memory: Option<u64>,
    /// When its memory was last read.
    read_at: Option<Instant>,
    /// While nobody watches, its limit is checked again only then.
    due: Option<Instant>,
    history: VecDeque<MetricPoint>,
}

/// The longest wait between two checks of a tree's memory limit while nobody watches.
pub const LIMIT_CHECK_MAX_MS: u64 = 5_000;

/// When to check a tree's limit again while nobody watches, in ms: every second while it
/// grows fast enough to reach its limit within a few seconds, else as its headroom at its
/// last growth rate allows (half of the time it would take to reach the limit), up to
/// [`LIMIT_CHECK_MAX_MS`] for a tree that does not grow. `prev` is the last reading's
/// rss and how many ms ago it was taken (None: the first reading: a second).
pub fn limit_check_in_ms(rss: u64, prev: Option<(u64, u64)>, limit: u64) -> u64 {
    const MIN: u64 = PERIOD.as_millis() as u64;
    let Some((before, ago_ms)) = prev else {
        return MIN;
    };
    if rss >= limit {
        return MIN;
    }
    let grown = rss.saturating_sub(before);
    if grown == 0 || ago_ms == 0 {
        return LIMIT_CHECK_MAX_MS;
    }
    // ms to the limit at this rate, halved.
    let to_limit = ((limit - rss) as u128 * ago_ms as u128 / grown as u128 / 2) as u64;
    to_limit.clamp(MIN, LIMIT_CHECK_MAX_MS)
}

/// The Metrics actor.
pub struct Metrics {
    /// (id, generation) → tree.
    trees: HashMap<(u64, u64), Tree>,
    reader: Reader,
    /// Sampling stays on until then (the last `Look` + [`WATCH_FOR`]).
    watched_until: Option<Instant>,
    /// Where `metrics` events go while someone subscribes.
    subscribers: Option<Recipient<crate::events::Publish>>,
    /// The pending tick, if the sampling is on.
    timer: Option<SpawnHandle>,
    /// When every tree was last sampled.
    last_full: Option<Instant>,
    /// The host's last cpu reading: when, busy and total jiffies.
    host_prev: Option<(Instant, u64, u64)>,
    /// The host's cpu figure, percent of all cpus.
    host_cpu: Option<f64>,
    /// The last full sample, shared with the Root.
    latest: Latest,
}

impl Metrics {
    /// A Metrics actor with nothing to measure, writing its full samples into `latest`.
    pub fn new(latest: Latest) -> Metrics {
        Metrics {
            trees: HashMap::new(),
            reader: Reader::new(),
            watched_until: None,
            subscribers: None,
            timer: None,
            last_full: None,
            host_prev: None,
            host_cpu: None,
            latest,
        }
    }
}

impl Actor for Metrics {
    type Context = Context<Self>;
}

impl Handler<Track> for Metrics {
    type Result = ();
    fn handle(&mut self, m: Track, ctx: &mut Context<Self>) {
        self.trees.insert(
            (m.id, m.generation),
            Tree {
                pid: m.pid,
                app: m.app,
                instance: m.instance,
                limit: m.limit,
                to: m.to,
                prev: None,
                cpu: None,
                memory: None,
                read_at: None,
                due: None,
                history: VecDeque::new(),
            },
        );
        self.schedule(ctx);
    }
}

impl Handler<Untrack> for Metrics {
    type Result = ();
    fn handle(&mut self, m: Untrack, _: &mut Context<Self>) {
        self.trees.remove(&(m.id, m.generation));
        if self.trees.is_empty() {
            // Give the map's room back: an app that restarts in a loop once had many.
            self.trees.shrink_to_fit();
        }
    }
}

impl Handler<Look> for Metrics {
    type Result = MessageResult<Look>;
    fn handle(&mut self, m: Look, ctx: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        self.watched_until = Some(now + WATCH_FOR);
        let stale = self
            .last_full
            .is_none_or(|t| now.duration_since(t) >= PERIOD)
            || self.trees.values().any(|t| t.memory.is_none());
        if stale {
            self.sample(true, now);
        }
        self.schedule(ctx);
        let wall = wall_ms();
        let trees = self
            .trees
            .values()
            .map(|t| {
                (
                    t.pid,
                    Figures {
                        cpu: t.cpu,
                        memory: t.memory,
                        // Only the last minute: points left from an earlier look are
                        // older when nobody watched since.
                        history: if m.history {
                            t.history
                                .iter()
                                .filter(|p| p.time + 60_000 >= wall)
                                .cloned()
                                .collect()
                        } else {
                            Vec::new()
                        },
                    },
                )
            })
            .collect();
        MessageResult(Snapshot { trees })
    }
}

impl Handler<Host> for Metrics {
    type Result = MessageResult<Host>;
    fn handle(&mut self, _: Host, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.host_now(Instant::now()))
    }
}

impl Handler<Watch> for Metrics {
    type Result = ();
    fn handle(&mut self, _: Watch, ctx: &mut Context<Self>) {
        self.watched_until = Some(Instant::now() + WATCH_FOR);
        self.schedule(ctx);
    }
}

impl Handler<Subscribers> for Metrics {
    type Result = ();
    fn handle(&mut self, m: Subscribers, ctx: &mut Context<Self>) {
        self.subscribers = m.any.then_some(m.to);
        self.schedule(ctx);
    }
}

impl Metrics {
    /// Someone watches (a recent `Look`, or subscribers).
    fn watched(&self, now: Instant) -> bool {
        self.subscribers.is_some() || self.watched_until.is_some_and(|t| now < t)
    }

    /// Arm the next tick if sampling should go on and none is armed.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.timer.is_some() {
            return;
        }
        let now = Instant::now();
        let limited = self.trees.values().any(|t| t.limit.is_some());
        if !(limited || (self.watched(now) && !self.trees.is_empty())) {
            return;
        }
        self.timer = Some(ctx.run_later(PERIOD, |act, ctx| {
            act.timer = None;
            let now = Instant::now();
            let all = act.watched(now);
            act.sample(all, now);
            if all {
                act.publish();
            }
            act.schedule(ctx);
        }));
    }

    /// Read the trees (every one with `all`, else only those with a limit), update their
    /// figures and history, and tell the App supervisors of those over their limit.
    fn sample(&mut self, all: bool, now: Instant) {
        let wall = wall_ms();
        let tck = self.reader.tck;
        for (&(_, generation), t) in self.trees.iter_mut() {
            if !all && (t.limit.is_none() || t.due.is_some_and(|d| now < d)) {
                continue;
            }
            let Some(u) = self.reader.tree(t.pid as i32) else {
                // Gone: its App supervisor's Untrack is on its way.
                t.cpu = None;
                continue;
            };
            if u.rss == 0 {
                // Caught between fork and exec (or exiting): a running process always has
                // resident pages, so this is no reading, not "0 b" in `list` and /metrics.
                continue;
            }
            match t.prev {
                Some((then, ticks)) => {
                    let dt = now.duration_since(then);
                    if dt >= MIN_CPU_INTERVAL {
                        t.cpu = procfs::cpu_percent(ticks, u.ticks, dt.as_millis() as u64, tck);
                        t.prev = Some((now, u.ticks));
                    }
                }
                None => t.prev = Some((now, u.ticks)),
            }
            if let Some(limit) = t.limit {
                let prev = t
                    .memory
                    .zip(t.read_at)
                    .map(|(m, at)| (m, now.duration_since(at).as_millis() as u64));
                let wait = limit_check_in_ms(u.rss, prev, limit);
                // A little early, so a tick a hair before the due time does not skip it.
                t.due = Some(now + Duration::from_millis(wait.saturating_sub(100)));
            }
            t.memory = Some(u.rss);
            t.read_at = Some(now);
            if t.history.len() == HISTORY {
                t.history.pop_front();
            }
            t.history.push_back(MetricPoint {
                time: wall,
                cpu: t.cpu,
                memory: u.rss,
            });
            if over_limit(u.rss, t.limit) {
                t.to.do_send(MemoryExceeded {
                    instance: t.instance,
                    generation,
                    rss: u.rss,
                    limit: t.limit.unwrap_or(0),
                });
            }
        }
        if all {
            self.last_full = Some(now);
            let host = self.host_now(now);
            if let Ok(mut l) = self.latest.0.lock() {
                l.at = Some(now);
                l.trees.clear();
                l.trees
                    .extend(self.trees.values().map(|t| (t.pid, (t.cpu, t.memory))));
                l.host = Some(host);
            }
        }
    }

    /// The host's figures now (its cpu since the previous reading).
    fn host_now(&mut self, now: Instant) -> HostReply {
        self.read_host_cpu(now);
        let (total, available) = self.reader.host_memory().unwrap_or((0, 0));
        // SAFETY: sysconf only reads a constant of the system.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u32;
        HostReply {
            cpu: self.host_cpu.map(|c| (c * 10.0).round() / 10.0),
            cpus,
            memory_used: total.saturating_sub(available),
            memory_total: total,
        }
    }

    /// Read the host's cpu counters; the figure moves when the previous reading is at
    /// least [`MIN_CPU_INTERVAL`] old (a shorter interval keeps the last figure).
    fn read_host_cpu(&mut self, now: Instant) {
        if self
            .host_prev
            .is_some_and(|(then, _, _)| now.duration_since(then) < MIN_CPU_INTERVAL)
        {
            return;
        }
        let Some((busy, total)) = self.reader.host_cpu() else {
            return;
        };
        match self.host_prev {
            Some((_, b0, t0)) => {
                if total > t0 {
                    self.host_cpu =
                        Some(busy.saturating_sub(b0) as f64 * 100.0 / (total - t0) as f64);
                }
                self.host_prev = Some((now, busy, total));
            }
            None => self.host_prev = Some((now, busy, total)),
        }
    }

    /// One `metrics` event per sampled tree, for the subscribers.
    fn publish(&self) {
        let Some(to) = &self.subscribers else {
            return;
        };
        let time = chrono::Local::now().to_rfc3339();
        for (&(id, _), t) in &self.trees {
            if t.memory.is_none() {
                continue;
            }
            to.do_send(crate::events::Publish(crate::protocol::Event {
                event: "metrics".into(),
                app: Some(t.app.clone()),
                id: Some(id),
                time: Some(time.clone()),
                pid: Some(t.pid),
                cpu: t.cpu,
                memory: t.memory,
                ..Default::default()
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{limit_check_in_ms, over_limit};

    #[test]
    fn a_limit_is_checked_sooner_the_faster_the_tree_grows_toward_it() {
        let m = 1u64 << 20;
        // (rss, prev (rss, ms ago), limit) -> ms
        let cases = [
            (10 * m, None, 100 * m, 1_000),
            (40 * m, Some((40 * m, 1_000)), 200 * m, 5_000),
            (40 * m, Some((41 * m, 1_000)), 200 * m, 5_000),
            (30 * m, Some((10 * m, 1_000)), 100 * m, 1_750),
            (50 * m, Some((10 * m, 1_000)), 100 * m, 1_000),
            (10 * m, Some((9 * m, 1_000)), 100 * m, 5_000),
            (20 * m, Some((10 * m, 5_000)), 100 * m, 5_000),
            (150 * m, Some((10 * m, 1_000)), 100 * m, 1_000),
            (10 * m, Some((9 * m, 0)), 100 * m, 5_000),
        ];
        for (rss, prev, limit, want) in cases {
            assert_eq!(
                limit_check_in_ms(rss, prev, limit),
                want,
                "{rss} {prev:?} {limit}"
            );
        }
    }

    #[test]
    fn only_a_tree_over_its_limit_is_over() {
        let m = 1 << 20;
        let cases = [
            (0, None, false),
            (u64::MAX, None, false),
            (100 * m, Some(100 * m), false),
            (100 * m + 1, Some(100 * m), true),
            (40 * m, Some(200 * m), false),
            (300 * m, Some(100 * m), true),
        ];
        for (rss, limit, want) in cases {
            assert_eq!(over_limit(rss, limit), want, "{rss} {limit:?}");
        }
    }
}
