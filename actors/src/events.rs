//! Event bus actor: owns the list of subscribers (socket sessions that sent `subscribe`)
//! and fans events out to them (SPEC §7, §8). Each subscriber has a bounded queue; a
//! subscriber that reads too slowly loses events instead of slowing the daemon, and gets
//! `{"event":"lagged","dropped":N}` once it catches up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::prelude::*;

use crate::protocol::Event;

/// Events queued per subscriber before it starts losing them.
pub const SUBSCRIBER_QUEUE: usize = 4096;

struct Subscriber {
    tx: flume::Sender<String>,
    apps: Option<Vec<String>>,
    events: Option<Vec<String>>,
    dropped: u64,
}

/// What publishers check before they build an event: nothing is built while nobody
/// listens (the hot paths, respawn and log lines, stay free of it).
#[derive(Clone, Default)]
pub struct BusFlags {
    /// Someone subscribes (to anything).
    pub any: Arc<AtomicBool>,
    /// Someone wants log lines.
    pub logs: Arc<AtomicBool>,
}

impl BusFlags {
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
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> EventBus {
        EventBus {
            subscribers: Vec::new(),
            flags: BusFlags::default(),
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
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Actor for EventBus {
    type Context = Context<Self>;
}

/// Publish one event to every subscriber whose filters match.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish(pub Event);

impl Handler<Publish> for EventBus {
    type Result = ();
    fn handle(&mut self, Publish(event): Publish, _: &mut Context<Self>) {
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
            }
            if sub.dropped > 0 {
                let lagged = Event {
                    event: "lagged".into(),
                    dropped: Some(sub.dropped),
                    ..Event::default()
                };
                let text = serde_json::to_string(&lagged).unwrap_or_default();
                match sub.tx.try_send(text) {
                    Ok(()) => sub.dropped = 0,
                    Err(flume::TrySendError::Full(_)) => {
                        sub.dropped += 1;
                        continue;
                    }
                    Err(flume::TrySendError::Disconnected(_)) => {
                        gone = true;
                        continue;
                    }
                }
            }
            let text = line
                .get_or_insert_with(|| serde_json::to_string(&event).unwrap_or_default())
                .clone();
            match sub.tx.try_send(text) {
                Ok(()) => {}
                Err(flume::TrySendError::Full(_)) => sub.dropped += 1,
                Err(flume::TrySendError::Disconnected(_)) => gone = true,
            }
        }
        if gone {
            self.subscribers.retain(|s| !s.tx.is_disconnected());
            self.refresh_flag();
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

/// Add a subscriber; answers the queue its session reads JSON lines from.
#[derive(Message)]
#[rtype(result = "flume::Receiver<String>")]
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
        self.subscribers.push(Subscriber {
            tx,
            apps: msg.apps,
            events: msg.events,
            dropped: 0,
        });
        self.refresh_flag();
        MessageResult(rx)
    }
}
