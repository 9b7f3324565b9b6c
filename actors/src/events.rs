//! Event bus actor: owns the list of subscribers (socket sessions that sent `subscribe`)
//! and fans events out to them (SPEC §7, §8). Each subscriber has a bounded queue; a
//! subscriber that reads too slowly loses events instead of slowing the daemon, and gets
//! `{"event":"lagged","dropped":N}` once it catches up.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;

use crate::protocol::Event;

/// Events queued per subscriber before it starts losing them.
pub const SUBSCRIBER_QUEUE: usize = 4096;

/// Bytes queued per subscriber before it starts losing events (8 MiB): with lines of up
/// to 1 MiB, [`SUBSCRIBER_QUEUE`] alone would let one stalled client pin gigabytes.
pub const SUBSCRIBER_BYTES: usize = 8 << 20;

/// A subscriber's end: its events as JSON lines, oldest first.
pub struct Subscription {
    rx: flume::Receiver<String>,
    queued: Arc<AtomicUsize>,
    lagging: Arc<AtomicBool>,
}

impl Subscription {
    /// When its queue is empty and events were dropped for it: the message that makes the
    /// bus send the `lagged` notice now, rather than with the next event (which may never
    /// come: the app went quiet, or the missed event was its `exit`).
    pub fn caught_up(&self) -> Option<CaughtUp> {
        (self.rx.is_empty() && self.lagging.load(Ordering::Relaxed))
            .then(|| CaughtUp(self.queued.clone()))
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Result<String, flume::TryRecvError> {
        let text = self.rx.try_recv()?;
        self.queued.fetch_sub(text.len(), Ordering::Relaxed);
        Ok(text)
    }

    /// The next event; an error once the bus has forgotten this subscriber.
    pub async fn recv_async(&self) -> Result<String, flume::RecvError> {
        let text = self.rx.recv_async().await?;
        self.queued.fetch_sub(text.len(), Ordering::Relaxed);
        Ok(text)
    }
}

/// Queue `text` for `sub` if its queue has room in events and bytes.
fn offer(sub: &Subscriber, text: String) -> Result<(), flume::TrySendError<String>> {
    let len = text.len();
    if sub.queued.load(Ordering::Relaxed) + len > SUBSCRIBER_BYTES {
        return Err(flume::TrySendError::Full(text));
    }
    sub.tx.try_send(text)?;
    sub.queued.fetch_add(len, Ordering::Relaxed);
    Ok(())
}

struct Subscriber {
    tx: flume::Sender<String>,
    apps: Option<Vec<String>>,
    events: Option<Vec<String>>,
    dropped: u64,
    /// Bytes in its queue (see [`SUBSCRIBER_BYTES`]), lowered as its writer takes them.
    queued: Arc<AtomicUsize>,
    /// Whether `dropped` is owed: its writer asks for the notice once it has caught up.
    lagging: Arc<AtomicBool>,
}

impl Subscriber {
    /// Count `n` events lost for this subscriber; its writer will ask for the notice.
    fn lose(&mut self, n: u64) {
        self.dropped += n;
        self.lagging.store(true, Ordering::Relaxed);
    }

    /// Queue the `lagged` notice of what was lost; once queued, nothing is owed.
    fn notify_lagged(&mut self) -> Result<(), flume::TrySendError<String>> {
        let lagged = Event {
            event: "lagged".into(),
            dropped: Some(self.dropped),
            ..Event::default()
        };
        offer(self, serde_json::to_string(&lagged).unwrap_or_default())?;
        self.dropped = 0;
        self.lagging.store(false, Ordering::Relaxed);
        Ok(())
    }
}

/// What publishers check before they build an event: nothing is built while nobody
/// listens (the hot paths, respawn and log lines, stay free of it).
#[derive(Clone, Default)]
pub struct BusFlags {
    /// Someone subscribes (to anything).
    pub any: Arc<AtomicBool>,
    /// Someone wants log lines.
    pub logs: Arc<AtomicBool>,
    /// Log lines the pumps could not hand to the bus (its mailbox was full, or a write
    /// held more than [`LOG_BATCH`] lines): added to every log subscriber's `lagged`
    /// count by the next [`LogsLost`] or [`PublishLogs`], so the bus never queues lines
    /// without limit. Pumps add to it through [`BusFlags::lost_logs`] only.
    log_overflow: Arc<AtomicU64>,
    /// Whether a [`LogsLost`] is on its way to the bus: at most one is, so the notices
    /// stay bounded however many batches are lost.
    overflow_notice: Arc<AtomicBool>,
}

impl BusFlags {
    /// Count `n` log lines a pump could not hand to `bus`, and make sure the bus hears of
    /// them even if no batch ever follows (the app went quiet): a [`LogsLost`] is sent
    /// unless one is already on its way. `do_send` ignores the mailbox's bound, which is
    /// safe here because at most one such notice is ever queued.
    ///
    /// Before, the count only rode on the next batch, and was added after that batch was
    /// sent: when the bus took the last batch of a burst before the pump added the lines
    /// beyond it, those lines were never reported (the e2e test
    /// `a_slow_subscriber_hears_lagged_once_caught_up_even_if_nothing_follows` under load).
    pub fn lost_logs(&self, n: u64, bus: &Addr<EventBus>) {
        if n == 0 {
            return;
        }
        self.log_overflow.fetch_add(n, Ordering::SeqCst);
        // The bus clears the flag before it takes the count: a count added after it took
        // it finds the flag clear and sends a new notice.
        if !self.overflow_notice.swap(true, Ordering::SeqCst) {
            bus.do_send(LogsLost);
        }
    }

    /// Whether anyone subscribes.
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }
    /// Whether anyone wants log lines.
    pub fn logs(&self) -> bool {
        self.logs.load(Ordering::Relaxed)
    }
}

/// The Event bus actor.
pub struct EventBus {
    subscribers: Vec<Subscriber>,
    /// Shared with the publishers.
    pub flags: BusFlags,
    /// The Metrics actor, told when `metrics` subscribers come and go (it samples every
    /// second only while there are some); None in tests.
    pub metrics: Option<Recipient<crate::metrics::Subscribers>>,
    /// Whether the Metrics actor was last told there are `metrics` subscribers.
    metrics_on: bool,
    /// This actor's own address (given to the Metrics actor as where samples go).
    me: Option<Recipient<Publish>>,
}

/// Whether a subscriber asked for `metrics` events: only by naming them in `events` (a
/// subscriber of every event, `pmx logs`, does not get them, and does not keep the
/// sampling on).
fn wants_metrics(events: &Option<Vec<String>>) -> bool {
    events
        .as_ref()
        .is_some_and(|e| e.iter().any(|k| k == "metrics"))
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> EventBus {
        EventBus {
            subscribers: Vec::new(),
            flags: BusFlags::default(),
            metrics: None,
            metrics_on: false,
            me: None,
        }
    }

    fn refresh_flag(&mut self) {
        let wants = self.subscribers.iter().any(|s| {
            s.events
                .as_ref()
                .is_none_or(|e| e.iter().any(|k| k == "log"))
        });
        self.flags.logs.store(wants, Ordering::Relaxed);
        self.flags
            .any
            .store(!self.subscribers.is_empty(), Ordering::Relaxed);
        let metrics = self.subscribers.iter().any(|s| wants_metrics(&s.events));
        if metrics != self.metrics_on {
            if let (Some(m), Some(me)) = (&self.metrics, &self.me) {
                m.do_send(crate::metrics::Subscribers {
                    any: metrics,
                    to: me.clone(),
                });
            }
            self.metrics_on = metrics;
        }
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Actor for EventBus {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(ctx.address().recipient());
    }
}

/// Publish one event to every subscriber whose filters match.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Event);

impl Handler<Publish> for EventBus {
    type Result = ();
    fn handle(&mut self, Publish(event): Publish, _: &mut Context<Self>) {
        self.publish(&event);
    }
}

/// A batch of log lines of one pump (at most [`LOG_BATCH`]), sent with `try_send`: a full
/// mailbox makes the pump count them in [`BusFlags::log_overflow`] instead of queueing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishLogs(pub Vec<Event>);

/// The most log events one [`PublishLogs`] carries; a pump counts the lines beyond as
/// dropped (a subscriber's queue holds [`SUBSCRIBER_QUEUE`] anyway).
pub const LOG_BATCH: usize = 1024;

impl Handler<PublishLogs> for EventBus {
    type Result = ();
    fn handle(&mut self, PublishLogs(events): PublishLogs, _: &mut Context<Self>) {
        self.take_log_overflow();
        for event in &events {
            self.publish(event);
        }
    }
}

/// Log lines were lost on the way to the bus (see [`BusFlags::lost_logs`]): count them
/// for every log subscriber now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LogsLost;

impl Handler<LogsLost> for EventBus {
    type Result = ();
    fn handle(&mut self, _: LogsLost, _: &mut Context<Self>) {
        self.take_log_overflow();
    }
}

impl EventBus {
    /// Count the log lines the pumps lost for every subscriber of log lines, and queue
    /// their `lagged` notice now where it fits: the lines were lost on the way to the
    /// bus, not for want of room in the queue, so no event of the queue may be needed to
    /// carry it (a full queue gets it from [`CaughtUp`] once read).
    fn take_log_overflow(&mut self) {
        // Cleared before the count is taken (see `BusFlags::lost_logs`).
        self.flags.overflow_notice.store(false, Ordering::SeqCst);
        let overflow = self.flags.log_overflow.swap(0, Ordering::SeqCst);
        if overflow == 0 {
            return;
        }
        let mut gone = false;
        for sub in &mut self.subscribers {
            if sub
                .events
                .as_ref()
                .is_none_or(|e| e.iter().any(|k| k == "log"))
            {
                sub.lose(overflow);
                if let Err(flume::TrySendError::Disconnected(_)) = sub.notify_lagged() {
                    gone = true;
                }
            }
        }
        if gone {
            self.subscribers.retain(|s| !s.tx.is_disconnected());
            self.refresh_flag();
        }
    }

    /// Hand `event` to every subscriber it matches: a full queue counts it as dropped,
    /// and the subscriber hears `lagged` before its next event.
    fn publish(&mut self, event: &Event) {
        if self.subscribers.is_empty() {
            return;
        }
        let mut line: Option<String> = None;
        let mut gone = false;
        for sub in &mut self.subscribers {
            if let (Some(apps), Some(app)) = (&sub.apps, &event.app) {
                if !apps.contains(app) {
                    continue;
                }
            }
            if let Some(kinds) = &sub.events {
                if !kinds.contains(&event.event) {
                    continue;
                }
            } else if event.event == "metrics" {
                continue;
            }
            let text = line
                .get_or_insert_with(|| serde_json::to_string(event).unwrap_or_default())
                .clone();
            // `lagged` goes out only with the event after it: a queue with room for the
            // small notice but not the event would get a notice per event.
            let room = |need: usize, bytes: usize| {
                sub.tx.len() + need <= SUBSCRIBER_QUEUE
                    && sub.queued.load(Ordering::Relaxed) + bytes <= SUBSCRIBER_BYTES
            };
            if sub.dropped > 0 && !room(2, text.len() + 64) {
                sub.lose(1);
                continue;
            }
            if sub.dropped > 0 {
                match sub.notify_lagged() {
                    Ok(()) => {}
                    Err(flume::TrySendError::Full(_)) => {
                        sub.lose(1);
                        continue;
                    }
                    Err(flume::TrySendError::Disconnected(_)) => {
                        gone = true;
                        continue;
                    }
                }
            }
            match offer(sub, text) {
                Ok(()) => {}
                Err(flume::TrySendError::Full(_)) => sub.lose(1),
                Err(flume::TrySendError::Disconnected(_)) => gone = true,
            }
        }
        if gone {
            self.subscribers.retain(|s| !s.tx.is_disconnected());
            self.refresh_flag();
        }
    }
}

/// A subscriber's writer has emptied its queue while events were dropped for it (see
/// [`Subscription::caught_up`]); it names the subscriber by its byte counter.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CaughtUp(Arc<AtomicUsize>);

impl Handler<CaughtUp> for EventBus {
    type Result = ();
    fn handle(&mut self, CaughtUp(queued): CaughtUp, _: &mut Context<Self>) {
        let Some(sub) = self
            .subscribers
            .iter_mut()
            .find(|s| Arc::ptr_eq(&s.queued, &queued))
        else {
            return;
        };
        if sub.dropped > 0 {
            // Full again already: the notice goes with the next event instead.
            let _ = sub.notify_lagged();
        }
    }
}

/// Forget subscribers whose session has gone (their queue is disconnected).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Prune;

impl Handler<Prune> for EventBus {
    type Result = ();
    fn handle(&mut self, _: Prune, _: &mut Context<Self>) {
        self.subscribers.retain(|s| !s.tx.is_disconnected());
        self.refresh_flag();
    }
}

/// How many subscribers the bus has (socket `subscribe` connections and `/api/events`
/// streams), those whose reader has gone forgotten first: `/metrics`'
/// `pmx_daemon_event_subscribers`.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSubscribers;

impl Handler<CountSubscribers> for EventBus {
    type Result = usize;
    fn handle(&mut self, _: CountSubscribers, _: &mut Context<Self>) -> usize {
        let before = self.subscribers.len();
        self.subscribers.retain(|s| !s.tx.is_disconnected());
        if self.subscribers.len() != before {
            self.refresh_flag();
        }
        self.subscribers.len()
    }
}

/// Add a subscriber; answers the queue its session reads JSON lines from.
#[derive(Message)]
#[rtype(result = "Subscription")]
pub struct Subscribe {
    /// Only these apps (all when None).
    pub apps: Option<Vec<String>>,
    /// Only these event kinds (all when None).
    pub events: Option<Vec<String>>,
}

impl Handler<Subscribe> for EventBus {
    type Result = MessageResult<Subscribe>;
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = flume::bounded(SUBSCRIBER_QUEUE);
        self.subscribers.retain(|s| !s.tx.is_disconnected());
        let queued = Arc::new(AtomicUsize::new(0));
        let lagging = Arc::new(AtomicBool::new(false));
        self.subscribers.push(Subscriber {
            tx,
            apps: msg.apps,
            events: msg.events,
            dropped: 0,
            queued: queued.clone(),
            lagging: lagging.clone(),
        });
        self.refresh_flag();
        MessageResult(Subscription {
            rx,
            queued,
            lagging,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> Event {
        Event {
            event: "online".into(),
            app: Some("a".into()),
            id: Some(n),
            ..Event::default()
        }
    }

    #[actix::test]
    async fn log_lines_the_bus_could_not_take_count_as_lagged_for_log_subscribers() {
        let bus = EventBus::new();
        let flags = bus.flags.clone();
        let overflow = bus.flags.log_overflow.clone();
        let bus = bus.start();
        let logs = bus
            .send(Subscribe {
                apps: None,
                events: Some(vec!["log".into()]),
            })
            .await
            .expect("subscribed");
        let others = bus
            .send(Subscribe {
                apps: None,
                events: Some(vec!["online".into()]),
            })
            .await
            .expect("subscribed");
        flags.lost_logs(7, &bus);
        let line = Event {
            event: "log".into(),
            app: Some("a".into()),
            id: Some(0),
            message: Some("hello".into()),
            ..Event::default()
        };
        bus.send(PublishLogs(vec![line])).await.expect("published");
        let lagged: Event = serde_json::from_str(&logs.try_recv().expect("lagged")).expect("json");
        assert_eq!((lagged.event.as_str(), lagged.dropped), ("lagged", Some(7)));
        let next: Event = serde_json::from_str(&logs.try_recv().expect("line")).expect("json");
        assert_eq!(next.message.as_deref(), Some("hello"));
        assert!(
            others.try_recv().is_err(),
            "no lagged for a subscriber without logs"
        );
        assert_eq!(overflow.load(Ordering::Relaxed), 0);
    }

    /// Regression: lines a pump lost after the last batch of a burst rode on a next batch
    /// that never came, so a subscriber never heard of them (seen as a 30 s hang of
    /// `a_slow_subscriber_hears_lagged_once_caught_up_even_if_nothing_follows` under load,
    /// about 30 000 lines short: the lines beyond the batch of the last read).
    #[actix::test]
    async fn log_lines_lost_after_the_last_batch_are_reported_without_a_next_batch() {
        let bus = EventBus::new();
        let flags = bus.flags.clone();
        let bus = bus.start();
        let logs = bus
            .send(Subscribe {
                apps: None,
                events: Some(vec!["log".into()]),
            })
            .await
            .expect("subscribed");
        let line = |n: u64| Event {
            event: "log".into(),
            app: Some("a".into()),
            id: Some(0),
            message: Some(format!("line {n}")),
            ..Event::default()
        };
        // The last batch of a burst, then the lines beyond it counted as lost: the bus may
        // take the batch before or after they are counted; both orders end reported.
        bus.send(PublishLogs(vec![line(1)]))
            .await
            .expect("published");
        flags.lost_logs(30_000, &bus);
        flags.lost_logs(2, &bus);
        // Any later message is handled after the notice (one mailbox, in order).
        bus.send(Prune).await.expect("round trip");
        let got: Vec<Event> = std::iter::from_fn(|| logs.try_recv().ok())
            .map(|t| serde_json::from_str(&t).expect("json"))
            .collect();
        let kinds: Vec<(&str, Option<u64>)> =
            got.iter().map(|e| (e.event.as_str(), e.dropped)).collect();
        assert_eq!(kinds, [("log", None), ("lagged", Some(30_002))]);
        assert!(logs.caught_up().is_none(), "nothing owed any more");
        // The notice went out: the next loss sends a new one.
        flags.lost_logs(5, &bus);
        bus.send(Prune).await.expect("round trip");
        let lagged: Event = serde_json::from_str(&logs.try_recv().expect("lagged")).expect("json");
        assert_eq!(lagged.dropped, Some(5));
    }

    #[actix::test]
    async fn a_subscriber_s_queue_is_bounded_in_bytes_too() {
        let bus = EventBus::new().start();
        let rx = bus
            .send(Subscribe {
                apps: None,
                events: None,
            })
            .await
            .expect("subscribed");
        let big = Event {
            event: "log".into(),
            app: Some("a".into()),
            id: Some(0),
            message: Some("x".repeat(1 << 20)),
            ..Event::default()
        };
        for _ in 0..20 {
            bus.send(Publish(big.clone())).await.expect("published");
        }
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 7, "8 MiB hold seven events of a little over 1 MiB");
        bus.send(Publish(event(1))).await.expect("published");
        let lagged: Event = serde_json::from_str(&rx.try_recv().expect("lagged")).expect("json");
        assert_eq!(lagged.dropped, Some(13));
    }

    #[actix::test]
    async fn a_subscriber_that_caught_up_hears_of_its_losses_without_a_next_event() {
        let bus = EventBus::new().start();
        let rx = bus
            .send(Subscribe {
                apps: None,
                events: None,
            })
            .await
            .expect("subscribed");
        for n in 0..(SUBSCRIBER_QUEUE as u64 + 3) {
            bus.send(Publish(event(n))).await.expect("published");
        }
        assert!(rx.caught_up().is_none(), "not caught up while events wait");
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, SUBSCRIBER_QUEUE);
        // The app went quiet: no next event will carry the notice.
        let m = rx.caught_up().expect("caught up, with losses");
        bus.send(m).await.expect("sent");
        let lagged: Event = serde_json::from_str(&rx.try_recv().expect("lagged")).expect("json");
        assert_eq!(lagged.dropped, Some(3));
        assert!(rx.caught_up().is_none(), "nothing owed any more");
    }

    #[actix::test]
    async fn a_slow_subscriber_loses_events_then_hears_how_many() {
        let bus = EventBus::new().start();
        let rx = bus
            .send(Subscribe {
                apps: None,
                events: None,
            })
            .await
            .expect("subscribed");
        let extra = 10;
        for n in 0..(SUBSCRIBER_QUEUE as u64 + extra) {
            bus.send(Publish(event(n))).await.expect("published");
        }
        // The queue held what it could; the daemon never waited for the reader.
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, SUBSCRIBER_QUEUE);
        // Caught up: the next event comes after a `lagged` that counts the loss.
        bus.send(Publish(event(99_999))).await.expect("published");
        let lagged: Event = serde_json::from_str(&rx.try_recv().expect("lagged")).expect("json");
        assert_eq!(lagged.event, "lagged");
        assert_eq!(lagged.dropped, Some(extra));
        let next: Event = serde_json::from_str(&rx.try_recv().expect("event")).expect("json");
        assert_eq!(next.id, Some(99_999));
    }

    #[actix::test]
    async fn filters_narrow_the_stream_and_flags_follow_subscribers() {
        let bus = EventBus::new();
        let flags = bus.flags.clone();
        let bus = bus.start();
        assert!(!flags.any() && !flags.logs());
        let rx = bus
            .send(Subscribe {
                apps: Some(vec!["b".into()]),
                events: Some(vec!["online".into()]),
            })
            .await
            .expect("subscribed");
        assert!(flags.any() && !flags.logs(), "no one wants log lines");
        bus.send(Publish(event(1))).await.expect("published"); // app a: filtered out
        let mut b = event(2);
        b.app = Some("b".into());
        bus.send(Publish(b)).await.expect("published");
        let got: Event = serde_json::from_str(&rx.try_recv().expect("one")).expect("json");
        assert_eq!(got.id, Some(2));
        assert!(rx.try_recv().is_err());
        drop(rx);
        bus.send(Prune).await.expect("pruned");
        assert!(!flags.any(), "a gone subscriber clears the flag");
    }
}
