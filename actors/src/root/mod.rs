//! Root supervisor actor: owns the registry of apps and groups (their supervisors, ids,
//! specs and the `list` rows their App supervisors [`Report`]) and answers every admin
//! request that touches apps, each verb in a file of its own under `verbs/` (pueue's
//! handlers). It never takes the daemon down: only `kill` (or SIGTERM/SIGINT to the
//! daemon) ends it, after every app has stopped.
//!
//! - `registry.rs`: the apps, groups and rows; id allocation; target resolution; the one
//!   mutation API and its change hook.
//! - `plan.rs`: `up`'s plan, a pure function of (registry, request); `changes.rs`: what
//!   differs between a running app and its declaration, in the file's words.
//! - `validate.rs`: what a client's specs must satisfy.
//! - `verbs/`: start, up (carrying out the plan), lifecycle (stop, restart, reload,
//!   delete, reset), signal, describe, env, logs (flush, reloadLogs).

use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use serde_json::value::RawValue;

use crate::app::{AppParts, AppSup, Command, JoinGroup, Op, Report, Shared};
use crate::events::{BusFlags, EventBus};
use crate::group::{Escalate, GroupCommand, GroupSup};
use crate::home::Home;
use crate::protocol::{ApiError, AppSpec, ErrorCode, PingReply, Request, VERSION};
use crate::readiness::Notified;
use crate::reaper::SharedPids;

mod adopt;
mod changes;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
pub(crate) use fixtures::spec as test_spec;
pub mod plan;
pub mod registry;
pub mod snapshot;
pub mod targets;
mod validate;
mod verbs;

pub use adopt::Readopt;
pub use changes::declared_changes;
pub use validate::validate_specs;

use registry::{Change, GroupDecl, GroupEntry, Registry};

/// What the Root is built from.
pub struct RootParts {
    /// `$PMX_HOME`.
    pub home: Home,
    /// The event bus.
    pub bus: Addr<EventBus>,
    /// The bus's "someone wants log lines" flag.
    pub bus_flags: BusFlags,
    /// The Reaper's table.
    pub pids: SharedPids,
    /// Where log actors run.
    pub log_arbiter: ArbiterHandle,
    /// The daemon's original open-file limit (soft, hard).
    pub nofile: Option<(u64, u64)>,
    /// The user name shown in `list`.
    pub user: String,
    /// The Metrics actor (on the log arbiter): the figures `list` and `describe` show.
    pub metrics: Addr<crate::metrics::Metrics>,
    /// Its last full sample, read by `list` and `host` while it is fresh.
    pub latest: crate::metrics::Latest,
    /// A foreground runtime's (`pmx run`, `pmx dev`) view of its apps: the Root keeps it
    /// current after every change (None in the daemon: nothing computed).
    pub census: Option<tokio::sync::watch::Sender<crate::foreground::Census>>,
    /// A foreground runtime's terminal: every app's lines also go there (None in the
    /// daemon).
    pub console: Option<Arc<dyn crate::foreground::Console>>,
    /// The daemon's one file watcher (on the log arbiter), shared by the apps that watch.
    pub watch: Addr<crate::watch::Watch>,
}

/// The Root supervisor actor.
pub struct Root {
    parts: RootParts,
    reg: Registry<Addr<AppSup>, Addr<GroupSup>>,
    /// `StopAll` came (the daemon is shutting down): a start or `up` under way or new
    /// fails rather than answer rows its apps never reached (see [`shutting_down`]).
    stopping: bool,
    /// Turns true with `stopping`: a start, `up` or `resurrect` under way answers
    /// [`shutting_down`] at once ([`Root::unless_shutdown`]) rather than once the
    /// shutdown has stopped its apps one by one (600 instances on a loaded machine took
    /// past the CLI's 10 s of patience).
    shutdown: tokio::sync::watch::Sender<bool>,
    /// What every App supervisor shares (made at the first app: it holds this actor's
    /// address).
    shared: Option<Rc<Shared>>,
    /// The dump files as last seen by `saved` and the saved set's digest (None: no
    /// readable dump): read again only when the files change.
    dump_seen: Option<(crate::dump::FileKey, Option<u64>)>,
    /// The running apps' spec hashes, kept while their specs are unchanged.
    spec_hashes: snapshot::SpecHashes,
    /// The registry changed since its state was last stored in the fd holder (set by the
    /// change hook; see [`Root::persist`]).
    dirty: Rc<std::cell::Cell<bool>>,
    /// `pmx web`'s service while it is on (None: off, no Web actor).
    web: Option<verbs::WebRunning>,
}

/// The error of a start or `up` that a shutdown overtook: its apps were stopped (or will
/// be) before they came online, so the request did not do what it asked.
fn shutting_down() -> ApiError {
    ApiError::new(ErrorCode::Conflict, "the daemon is shutting down")
}

impl Root {
    /// `work`, unless a shutdown begins first: then None at once (`work` is dropped: the
    /// App supervisors still carry out what they were sent, nobody waits for it).
    fn unless_shutdown<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> impl std::future::Future<Output = Option<T>> {
        let mut begun = self.shutdown.subscribe();
        async move {
            tokio::select! {
                biased;
                t = work => Some(t),
                _ = begun.wait_for(|s| *s) => None,
            }
        }
    }
}

/// A request from an admin session; answered with the reply's `result` or error.
#[derive(Message)]
#[rtype(result = "Result<Box<RawValue>, ApiError>")]
pub struct Api(pub Request);

/// Stop every app (concurrently) and answer once all have stopped: `kill`, SIGTERM.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

/// What a verb answers: the reply's `result` as JSON text, once its effect is visible.
type Answer = ResponseActFuture<Root, Result<Box<RawValue>, ApiError>>;

/// `v` as the JSON text of a reply's `result`, written straight from the typed value: a
/// `serde_json::Value` in between cost a `list` of 50 apps ~120 KiB of short-lived maps,
/// each time.
fn to_json<T: serde::Serialize>(v: &T) -> Result<Box<RawValue>, ApiError> {
    serde_json::value::to_raw_value(v)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}

/// A request that failed before anything was done.
fn fail(e: ApiError) -> Answer {
    Box::pin(fut::ready(Err(e)))
}

/// An App or Group supervisor's answer, or None when it is gone: its actor stopped
/// (deleted meanwhile: the message was never handled, or dropped with its mailbox). A
/// mailbox error never reaches a user: a request whose apps were all deleted under it
/// answers [`gone`]; one that reached others answers what they did.
fn answered<T>(reply: Result<T, MailboxError>) -> Option<T> {
    reply.ok()
}

/// An App supervisor's answer to a [`Command`], or None when the app is gone or being
/// deleted (see [`answered`], [`crate::app::Deleted`]).
fn commanded(
    reply: Result<Result<Vec<crate::protocol::ProcessInfo>, crate::app::Deleted>, MailboxError>,
) -> Option<Vec<crate::protocol::ProcessInfo>> {
    answered(reply).and_then(Result::ok)
}

/// The error of a request every app of whose target was deleted while it was under way:
/// `not_found`, as the same request sent a moment later gets.
fn gone(target: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no process named \"{target}\": deleted while the request was under way"),
    )
}

/// The change hook of the daemon's registry: every change reaches `pmx.log` (`pmx logs`
/// with no target shows `app <name> added`).
fn log_change(change: &Change) {
    match change {
        Change::AppAdded { name, ids } => tracing::info!("app {name} added with ids {ids:?}"),
        Change::SpecReplaced {
            name,
            ids: Some(ids),
        } => {
            tracing::info!("app {name} runs a new spec; its ids are now {ids:?}")
        }
        Change::SpecReplaced { name, ids: None } => tracing::info!("app {name} runs a new spec"),
        Change::AppRenamed { from, to } => tracing::info!("app {from} renamed {to}"),
        Change::AppRemoved { name } => tracing::info!("app {name} deleted"),
        Change::GroupAdded { name } => tracing::info!("group {name} built"),
        Change::GroupRemoved { name } => tracing::info!("group {name} taken apart"),
    }
}

impl Root {
    /// A Root with no apps.
    pub fn new(parts: RootParts) -> Root {
        let mut reg = Registry::new();
        let dirty = Rc::new(std::cell::Cell::new(false));
        let flag = dirty.clone();
        reg.set_hook(Box::new(move |change| {
            flag.set(true);
            log_change(change);
        }));
        Root {
            parts,
            reg,
            stopping: false,
            shutdown: tokio::sync::watch::Sender::new(false),
            shared: None,
            dump_seen: None,
            spec_hashes: Default::default(),
            dirty,
            web: None,
        }
    }

    /// Store the registry's state in the fd holder when it changed (SPEC §5: the next
    /// daemon re-adopts from it). Called at the end of each request's handler (before a
    /// new app's supervisor handles its first Start, so before its first spawn stores its
    /// pipes), when its answer is ready, and at each rows report: only a change of the
    /// declared state writes, never a respawn.
    fn persist(&mut self) {
        if !self.dirty.replace(false) {
            return;
        }
        let groups = self.reg.groups().iter().map(|g| (&g.spec, &g.source));
        match crate::fdstore::SavedState::json_of(
            self.reg.apps().iter().map(|a| (&a.spec, a.ids.as_slice())),
            self.reg.next_id(),
            groups,
        ) {
            Ok(json) => crate::fdstore::save_state(&json),
            Err(e) => tracing::error!("cannot write the daemon's state: {e}"),
        }
    }

    /// Register and start the supervisor of a new app; its instances are not started.
    fn create(&mut self, spec: AppSpec, ctx: &mut Context<Self>) -> Addr<AppSup> {
        self.create_keeping(spec, &[], ctx)
    }

    /// [`Root::create`], keeping the ids `wanted` when they are free (a resurrected app;
    /// see `Registry::insert_app_keeping`); empty: the next ids.
    fn create_keeping(
        &mut self,
        spec: AppSpec,
        wanted: &[u64],
        ctx: &mut Context<Self>,
    ) -> Addr<AppSup> {
        let shared = self.shared(ctx);
        // Stored by the request's end (`Handler<Api>`), before the app's supervisor
        // handles its first Start (same thread): once per request, not per app.
        let start = |spec: Arc<AppSpec>, ids| AppSup::new(AppParts { spec, ids, shared }).start();
        if wanted.is_empty() {
            self.reg.insert_app(spec, start)
        } else {
            self.reg.insert_app_keeping(spec, wanted, start)
        }
    }

    /// What every App supervisor shares, made at the first app.
    fn shared(&mut self, ctx: &mut Context<Self>) -> Rc<Shared> {
        let parts = &self.parts;
        self.shared
            .get_or_insert_with(|| {
                Rc::new(Shared {
                    home: parts.home.clone(),
                    root: ctx.address().recipient(),
                    bus: parts.bus.clone(),
                    pids: parts.pids.clone(),
                    log_arbiter: parts.log_arbiter.clone(),
                    nofile: parts.nofile,
                    user: parts.user.clone(),
                    bus_flags: parts.bus_flags.clone(),
                    metrics: Some(parts.metrics.clone()),
                    console: parts.console.clone(),
                    watch: Some(parts.watch.clone()),
                })
            })
            .clone()
    }

    /// Build the Group supervisor of `g` (declared in `source`) if every member exists,
    /// register it, and send it `first` (start or restart its members in declared order,
    /// each spawned before the next); answers that request. None when a member is missing
    /// (the group is not built; a warning says so).
    fn attach_group(
        &mut self,
        g: &GroupDecl,
        source: Option<&std::path::Path>,
        first: Op,
        ctx: &mut Context<Self>,
    ) -> Option<actix::dev::Request<GroupSup, GroupCommand>> {
        let members: Option<Vec<(String, Addr<AppSup>)>> = g
            .apps
            .iter()
            .map(|m| self.reg.app(m).map(|a| (m.clone(), a.handle.clone())))
            .collect();
        let Some(members) = members else {
            tracing::warn!("group {}: a member app is missing; group not built", g.name);
            return None;
        };
        let addr = GroupSup::new(g, members.clone(), ctx.address().recipient()).start();
        for (_, app) in &members {
            app.do_send(JoinGroup {
                name: g.name.clone(),
                parent: addr.clone().recipient(),
            });
        }
        self.reg.insert_group(GroupEntry {
            name: g.name.clone(),
            handle: addr.clone(),
            members: g.apps.clone(),
            spec: g.clone(),
            source: source.map(std::path::Path::to_path_buf),
        });
        Some(addr.send(GroupCommand(first)))
    }
}

impl Root {
    /// `list`: the rows, with the Metrics actor's figures (it samples first when its last
    /// sample is more than a second old, and keeps sampling while clients look). Without
    /// an answer (its thread gone), the rows go without figures.
    fn list(&mut self) -> Answer {
        let mut rows = self.reg.list();
        if self.parts.latest.fill(&mut rows, std::time::Instant::now()) {
            // Someone watches and the last sample is fresh: no round trip.
            self.parts.metrics.do_send(crate::metrics::Watch);
            return Box::pin(fut::ready(to_json(&rows)));
        }
        let look = self
            .parts
            .metrics
            .send(crate::metrics::Look { history: false });
        Box::pin(
            async move {
                if let Ok(snap) = look.await {
                    fill_figures(&mut rows, &snap);
                }
                to_json(&rows)
            }
            .into_actor(self),
        )
    }
}

/// The figures of each running row (by its pid) from a Metrics snapshot.
pub(crate) fn fill_figures(
    rows: &mut [crate::protocol::ProcessInfo],
    snap: &crate::metrics::Snapshot,
) {
    for r in rows {
        if let Some(f) = r.pid.and_then(|p| snap.trees.get(&p)) {
            r.cpu = f.cpu.map(|c| (c * 10.0).round() / 10.0);
            r.memory = f.memory;
        }
    }
}

impl Actor for Root {
    type Context = Context<Self>;
}

/// Store the registry's state in the fd holder now (before `update` execs).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SaveState;

impl Handler<SaveState> for Root {
    type Result = ();
    fn handle(&mut self, _: SaveState, _: &mut Context<Self>) {
        self.dirty.set(true);
        self.persist();
    }
}

impl Handler<Report> for Root {
    type Result = ();
    fn handle(&mut self, msg: Report, _: &mut Context<Self>) {
        self.reg.merge_rows(msg.app, msg.count, msg.rows);
        self.count();
        self.persist();
    }
}

impl Root {
    /// A foreground runtime's census brought up to date (nothing in the daemon): after
    /// every report and every request (a delete forgets apps without a report).
    fn count(&self) {
        if let Some(census) = &self.parts.census {
            let now = self.reg.census();
            census.send_if_modified(|c| {
                let changed = *c != now;
                *c = now;
                changed
            });
        }
    }
}

impl Handler<Notified> for Root {
    type Result = ();
    fn handle(&mut self, msg: Notified, _: &mut Context<Self>) {
        // The App supervisor owning the id checks the generation (a READY of a replaced
        // process changes nothing).
        if let Some(app) = self.reg.apps().iter().find(|a| a.ids.contains(&msg.id)) {
            app.handle.do_send(msg);
        }
    }
}

impl Handler<Escalate> for Root {
    type Result = ();
    fn handle(&mut self, msg: Escalate, _: &mut Context<Self>) {
        // The root never takes the daemon down: the group's members (already stopped by
        // their group) are marked errored with the reason; apps outside it are untouched.
        tracing::error!("escalation reached the root: {}", msg.reason);
        let Some(g) = self.reg.group(&msg.group) else {
            return;
        };
        for m in &g.members {
            if let Some(app) = self.reg.app(m) {
                app.handle
                    .do_send(Command::all(Op::MarkErrored(msg.reason.clone())));
            }
        }
    }
}

impl Handler<StopAll> for Root {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: StopAll, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        self.shutdown.send_replace(true);
        let sel = (0..self.reg.apps().len()).map(|i| (i, None)).collect();
        Box::pin(
            self.command("all", sel, Op::Stop, &Default::default())
                .map(|_, _, _| ()),
        )
    }
}

impl Handler<Api> for Root {
    type Result = Answer;
    fn handle(&mut self, Api(req): Api, ctx: &mut Context<Self>) -> Self::Result {
        let answer = self.answer(req, ctx);
        self.persist();
        Box::pin(answer.map(|res, act, _| {
            act.persist();
            act.count();
            res
        }))
    }
}

impl Root {
    /// Carry out `req` (see [`Api`]).
    fn answer(&mut self, req: Request, ctx: &mut Context<Self>) -> Answer {
        match req {
            Request::Ping => Box::pin(fut::ready(to_json(&PingReply {
                pong: true,
                pid: std::process::id(),
                version: VERSION.into(),
            }))),
            Request::List => self.list(),
            Request::Start(req) => self.start(req, ctx),
            Request::Up(req) => self.up(req, ctx),
            Request::Stop { target, unwatch } if unwatch => self.stop_unwatch(&target),
            Request::Stop { target, .. } => self.lifecycle(&target, Op::Stop),
            Request::Delete { target } => self.delete(&target),
            Request::Scale(req) => self.scale(req),
            Request::Reset { target } => self.lifecycle(&target, Op::Reset),
            Request::Restart(r) => self.restart(r, false),
            Request::Reload(r) => self.restart(r, true),
            Request::Signal { signal, target } => self.signal(&signal, &target),
            Request::Describe { target, env } => self.describe(&target, env),
            Request::Env { target } => self.env(&target),
            Request::Flush { target } => self.flush(target.as_deref()),
            Request::ReloadLogs => self.reload_logs(),
            Request::Save { force } => self.save(force),
            Request::Resurrect { update_env, env } => self.resurrect(update_env, env, ctx),
            Request::Saved => self.saved(),
            Request::Web(req) => Box::pin(fut::ready(self.web(req, ctx))),
            Request::Host => {
                if let Some(h) = self.parts.latest.host(std::time::Instant::now()) {
                    return Box::pin(fut::ready(to_json(&h)));
                }
                let host = self.parts.metrics.send(crate::metrics::Host);
                Box::pin(
                    async move {
                        match host.await {
                            Ok(h) => to_json(&h),
                            Err(e) => Err(ApiError::new(ErrorCode::Internal, e.to_string())),
                        }
                    }
                    .into_actor(self),
                )
            }
            Request::Hello { .. }
            | Request::Kill
            | Request::Update { .. }
            | Request::Subscribe { .. } => fail(ApiError::new(
                ErrorCode::Internal,
                "handled by the admin session",
            )),
        }
    }
}
