//! Root supervisor actor: owns the set of apps (one App supervisor each), allocates ids
//! (integers from 0, never reused while the daemon lives), resolves targets (name, id,
//! namespace, `all`), serves `list` from the rows its App supervisors [`Report`], and
//! carries out every admin request that touches apps. It never takes the daemon down:
//! only `kill` (or SIGTERM/SIGINT to the daemon) ends it, after every app has stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix::prelude::*;
use serde_json::Value;

use crate::app::{
    instance_count, with_uptime, AppParts, AppSup, Command, Describe, EnvOf, JoinGroup, LeaveGroup,
    Logs, Op, Report, Row, SignalInstances, SpawnErrors,
};
use crate::events::{BusFlags, EventBus};
use crate::group::{Escalate, GroupCommand, GroupInfo, GroupSup};
use crate::home::Home;
use crate::os;
use crate::protocol::{
    ApiError, AppSpec, EnvReply, ErrorCode, PingReply, PlanAction, PlanLine, ProcessInfo, Request,
    RestartRequest, StartRequest, Status, UpReply, UpRequest, VERSION,
};
use crate::reaper::SharedPids;

struct GroupEntry {
    name: String,
    addr: Addr<GroupSup>,
    /// Member app names, declared order.
    members: Vec<String>,
    /// As declared, for `up`'s comparison.
    spec: crate::protocol::Group,
    /// The ecosystem file it came from.
    source: Option<std::path::PathBuf>,
}

/// What differs between a running group and its declaration (`up`'s plan).
fn group_changes(old: &crate::protocol::Group, new: &crate::protocol::Group) -> Vec<String> {
    let mut out = Vec::new();
    if old.apps != new.apps {
        out.push("apps".to_string());
    }
    if old.strategy != new.strategy {
        out.push("strategy".to_string());
    }
    if old.intensity != new.intensity {
        out.push("intensity".to_string());
    }
    out
}

struct AppEntry {
    name: String,
    ids: Vec<u64>,
    addr: Addr<AppSup>,
    spec: Arc<AppSpec>,
}

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
}

/// The Root supervisor actor.
pub struct Root {
    parts: RootParts,
    apps: Vec<AppEntry>,
    groups: Vec<GroupEntry>,
    rows: BTreeMap<String, Vec<Row>>,
    next_id: u64,
}

/// A request from an admin session; answered with the reply's `result` or error.
#[derive(Message)]
#[rtype(result = "Result<Value, ApiError>")]
pub struct Api(pub Request);

/// Stop every app (concurrently) and answer once all have stopped: `kill`, SIGTERM.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

type Selection = Vec<(usize, Option<Vec<u32>>)>;

fn not_found(target: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no process or namespace named \"{target}\""),
    )
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}

impl Root {
    /// A Root with no apps.
    pub fn new(parts: RootParts) -> Root {
        Root {
            parts,
            apps: Vec::new(),
            groups: Vec::new(),
            rows: BTreeMap::new(),
            next_id: 0,
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.apps.iter().position(|a| a.name == name)
    }

    /// The apps (and instances) a target selects: `all`, an id, a name, a namespace.
    fn resolve(&self, target: &str) -> Result<Selection, ApiError> {
        if target == "all" {
            return Ok((0..self.apps.len()).map(|i| (i, None)).collect());
        }
        if !target.is_empty() && target.bytes().all(|b| b.is_ascii_digit()) {
            let id: u64 = target.parse().map_err(|_| not_found(target))?;
            for (i, app) in self.apps.iter().enumerate() {
                if let Some(n) = app.ids.iter().position(|x| *x == id) {
                    return Ok(vec![(i, Some(vec![n as u32]))]);
                }
            }
            return Err(not_found(target));
        }
        if let Some(i) = self.find(target) {
            return Ok(vec![(i, None)]);
        }
        if let Some(g) = self.groups.iter().find(|g| g.name == target) {
            return Ok(g
                .members
                .iter()
                .filter_map(|m| self.find(m))
                .map(|i| (i, None))
                .collect());
        }
        let in_ns: Selection = self
            .apps
            .iter()
            .enumerate()
            .filter(|(_, a)| a.spec.app.namespace == target)
            .map(|(i, _)| (i, None))
            .collect();
        if in_ns.is_empty() {
            Err(not_found(target))
        } else {
            Ok(in_ns)
        }
    }

    /// Every row, by id, with uptimes computed now.
    fn list(&self) -> Vec<ProcessInfo> {
        let mut out: Vec<ProcessInfo> = self
            .rows
            .values()
            .flatten()
            .map(|r| with_uptime(r.info.clone(), r.started))
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    /// Register and start the actor of a new app; the app's instances are not started.
    fn create(&mut self, mut spec: AppSpec, ctx: &mut Context<Self>) -> Addr<AppSup> {
        // Apps started by one command share its environment: keep that map once.
        if let Some(last) = self.apps.last() {
            if last.spec.env.inherited == spec.env.inherited {
                spec.env.inherited = last.spec.env.inherited.clone();
            }
        }
        let spec = Arc::new(spec);
        let count = instance_count(&spec.app.instances);
        let ids: Vec<u64> = (0..count as u64).map(|k| self.next_id + k).collect();
        self.next_id += count as u64;
        let addr = AppSup::new(AppParts {
            spec: spec.clone(),
            ids: ids.clone(),
            home: self.parts.home.clone(),
            root: ctx.address().recipient(),
            bus: self.parts.bus.clone(),
            pids: self.parts.pids.clone(),
            log_arbiter: self.parts.log_arbiter.clone(),
            nofile: self.parts.nofile,
            user: self.parts.user.clone(),
            bus_flags: self.parts.bus_flags.clone(),
        })
        .start();
        tracing::info!("app {} added with ids {:?}", spec.app.name, ids);
        self.apps.push(AppEntry {
            name: spec.app.name.clone(),
            ids,
            addr: addr.clone(),
            spec,
        });
        addr
    }

    /// Send `op` to every selected app at once; the future answers every row touched.
    fn command(
        &mut self,
        sel: Selection,
        op: Op,
        replace: impl Fn(usize) -> Option<Arc<AppSpec>>,
    ) -> ResponseActFuture<Self, Result<Value, ApiError>> {
        // A whole group in the selection goes through its Group supervisor: members stop
        // in reverse order and start in declared order, each after the previous. Everything
        // else gets the command at once (apps outside groups stop concurrently).
        let whole: BTreeSet<usize> = sel
            .iter()
            .filter(|(_, inst)| inst.is_none())
            .map(|(i, _)| *i)
            .collect();
        let mut covered = BTreeSet::new();
        let mut via_group = Vec::new();
        for g in &self.groups {
            let idxs: Vec<usize> = g.members.iter().filter_map(|m| self.find(m)).collect();
            if !idxs.is_empty()
                && idxs
                    .iter()
                    .all(|i| whole.contains(i) && replace(*i).is_none())
            {
                covered.extend(idxs);
                via_group.push(g.addr.send(GroupCommand(op.clone())));
            }
        }
        let requests: Vec<_> = sel
            .into_iter()
            .filter(|(i, _)| !covered.contains(i))
            .map(|(i, instances)| {
                self.apps[i].addr.send(Command {
                    op: op.clone(),
                    instances,
                    replace: replace(i),
                })
            })
            .collect();
        let delete = matches!(op, Op::Delete);
        Box::pin(
            async move {
                let mut rows = Vec::new();
                for r in requests {
                    match r.await {
                        Ok(mut v) => rows.append(&mut v),
                        Err(e) => return Err(ApiError::new(ErrorCode::Internal, e.to_string())),
                    }
                }
                for r in via_group {
                    match r.await {
                        Ok(mut v) => rows.append(&mut v),
                        Err(e) => return Err(ApiError::new(ErrorCode::Internal, e.to_string())),
                    }
                }
                rows.sort_by_key(|r| r.id);
                Ok(rows)
            }
            .into_actor(self)
            .map(move |rows, act, _| {
                let rows = rows?;
                if delete {
                    let gone: BTreeSet<String> = rows.iter().map(|r| r.name.clone()).collect();
                    act.apps.retain(|a| !gone.contains(&a.name));
                    for name in &gone {
                        act.rows.remove(name);
                    }
                    act.forget_empty_groups();
                }
                to_value(&rows)
            }),
        )
    }

    /// What `up` must rebuild a running group for: its declaration changed, or a member
    /// app is gone (deleted by hand) and comes back from the file.
    fn group_diff(&self, running: &GroupEntry, declared: &crate::protocol::Group) -> Vec<String> {
        let mut changes = group_changes(&running.spec, declared);
        if changes.is_empty() && running.members.iter().any(|m| self.find(m).is_none()) {
            changes.push("apps".into());
        }
        changes
    }

    /// Flush or reopen the log files of apps `idxs`; answers their rows once done.
    fn logs(
        &mut self,
        ops: Vec<(usize, Logs)>,
    ) -> ResponseActFuture<Self, Result<Value, ApiError>> {
        let requests: Vec<_> = ops
            .into_iter()
            .map(|(i, op)| self.apps[i].addr.send(op))
            .collect();
        Box::pin(
            async move {
                let mut rows = Vec::new();
                for r in requests {
                    if let Ok(mut v) = r.await {
                        rows.append(&mut v);
                    }
                }
                to_value(&rows)
            }
            .into_actor(self),
        )
    }

    /// Forget groups none of whose members exist any more.
    fn forget_empty_groups(&mut self) {
        let names: BTreeSet<String> = self.apps.iter().map(|a| a.name.clone()).collect();
        self.groups
            .retain(|g| g.members.iter().any(|m| names.contains(m)));
    }

    /// Build the Group supervisors of `groups` whose members all exist and that do not
    /// exist yet; answers their ordered starts (each member spawned before the next).
    fn attach_groups(
        &mut self,
        groups: &[crate::protocol::Group],
        source: Option<&std::path::Path>,
        first: impl Fn(&str) -> Op,
        ctx: &mut Context<Self>,
    ) -> Vec<actix::dev::Request<GroupSup, GroupCommand>> {
        let mut starts = Vec::new();
        for g in groups {
            if self.groups.iter().any(|e| e.name == g.name) {
                continue;
            }
            let members: Option<Vec<(String, Addr<AppSup>)>> = g
                .apps
                .iter()
                .map(|m| self.find(m).map(|i| (m.clone(), self.apps[i].addr.clone())))
                .collect();
            let Some(members) = members else {
                tracing::warn!("group {}: a member app is missing; group not built", g.name);
                continue;
            };
            let addr = GroupSup::new(g, members.clone(), ctx.address().recipient()).start();
            for (_, app) in &members {
                app.do_send(JoinGroup {
                    name: g.name.clone(),
                    parent: addr.clone().recipient(),
                });
            }
            tracing::info!("group {} built over {:?}", g.name, g.apps);
            starts.push(addr.send(GroupCommand(first(&g.name))));
            self.groups.push(GroupEntry {
                name: g.name.clone(),
                addr,
                members: g.apps.clone(),
                spec: g.clone(),
                source: source.map(std::path::Path::to_path_buf),
            });
        }
        starts
    }

    fn start(
        &mut self,
        req: StartRequest,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<Value, ApiError>> {
        // Validate every app first: one bad app starts nothing.
        if let Err(e) = validate_specs(&req.apps) {
            return fail(e);
        }
        for spec in &req.apps {
            if self.find(&spec.app.name).is_some() && !req.force && !req.restart_existing {
                return fail(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "an app named \"{}\" already exists (pmx start -f starts another copy)",
                        spec.app.name
                    ),
                ));
            }
        }
        let mut requests = Vec::new();
        let mut created = Vec::new();
        // Members of the file's groups are started by their group, in declared order.
        let grouped: BTreeSet<String> = req
            .groups
            .iter()
            .flat_map(|g| g.apps.iter().cloned())
            .collect();
        let source = req.apps.first().and_then(|a| a.source.clone());
        for mut spec in req.apps {
            if let Some(i) = self.find(&spec.app.name) {
                if req.restart_existing && !req.force {
                    requests.push(self.apps[i].addr.send(Command {
                        op: Op::Restart,
                        instances: None,
                        replace: None,
                    }));
                    continue;
                }
                let base = spec.app.name.clone();
                let mut k = 1;
                while self.find(&format!("{base}-{k}")).is_some() {
                    k += 1;
                }
                spec.app.name = format!("{base}-{k}");
            }
            let autostart = spec.app.autostart;
            let name = spec.app.name.clone();
            let addr = self.create(spec, ctx);
            if !grouped.contains(&name) {
                requests.push(addr.send(Command {
                    op: if autostart { Op::Start } else { Op::Reset },
                    instances: None,
                    replace: None,
                }));
            }
            created.push((name, addr));
        }
        let group_starts = self.attach_groups(&req.groups, source.as_deref(), |_| Op::Start, ctx);
        Box::pin(
            async move {
                let mut rows = Vec::new();
                for r in requests {
                    match r.await {
                        Ok(mut v) => rows.append(&mut v),
                        Err(e) => return Err(ApiError::new(ErrorCode::Internal, e.to_string())),
                    }
                }
                for r in group_starts {
                    match r.await {
                        Ok(mut v) => rows.append(&mut v),
                        Err(e) => return Err(ApiError::new(ErrorCode::Internal, e.to_string())),
                    }
                }
                rows.sort_by_key(|r| r.id);
                // A new app that could not even be spawned is not added (SPEC §3: a start
                // that fails starts nothing); the reason is the reply.
                let mut failed = Vec::new();
                for (name, addr) in created {
                    let errors = addr.send(SpawnErrors).await.unwrap_or_default();
                    if let Some(first) = errors.into_iter().next() {
                        let _ = addr
                            .send(Command {
                                op: Op::Delete,
                                instances: None,
                                replace: None,
                            })
                            .await;
                        failed.push((name, first));
                    }
                }
                Ok((rows, failed))
            }
            .into_actor(self)
            .map(|res, act, _| {
                let (rows, failed) = res?;
                if failed.is_empty() {
                    return to_value(&rows);
                }
                for (name, _) in &failed {
                    act.apps.retain(|a| &a.name != name);
                    act.rows.remove(name);
                }
                Err(ApiError::new(
                    ErrorCode::NotFound,
                    failed
                        .iter()
                        .map(|(name, e)| format!("app \"{name}\": {e}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ))
            }),
        )
    }

    fn restart(&mut self, req: RestartRequest) -> ResponseActFuture<Self, Result<Value, ApiError>> {
        let sel = match self.resolve(&req.target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let replacements: BTreeMap<usize, Arc<AppSpec>> = if req.update_env {
            sel.iter()
                .map(|(i, _)| {
                    let mut spec = (*self.apps[*i].spec).clone();
                    if let Some(env) = &req.env {
                        spec.env.inherited = Arc::new(env.clone());
                    }
                    if let Some(path) = &spec.app.env_file {
                        match std::fs::read_to_string(path)
                            .map_err(|e| e.to_string())
                            .and_then(|t| pmx_config::parse_dotenv(&t))
                        {
                            Ok(vars) => spec.env.env_file = vars.into_iter().collect(),
                            Err(e) => tracing::warn!("{}: {e}", path.display()),
                        }
                    }
                    (*i, Arc::new(spec))
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        for (i, spec) in &replacements {
            self.apps[*i].spec = spec.clone();
        }
        self.command(sel, Op::Restart, |i| replacements.get(&i).cloned())
    }

    fn up(
        &mut self,
        req: UpRequest,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<Value, ApiError>> {
        let mut plan = Vec::new();
        let mut to_start = Vec::new();
        let mut to_change: Vec<(usize, AppSpec)> = Vec::new();
        if let Err(e) = validate_specs(&req.apps) {
            return fail(e);
        }
        for spec in &req.apps {
            match self.find(&spec.app.name) {
                None => {
                    plan.push(PlanLine {
                        name: spec.app.name.clone(),
                        action: PlanAction::Start,
                        changes: vec![],
                        group: false,
                    });
                    to_start.push(spec.clone());
                }
                Some(i) => {
                    let mut changes = declared_changes(&self.apps[i].spec, spec);
                    // `up` makes the running set match the file: a declared app that is
                    // down (stopped or errored) is started again, as PM2's startOrReload does.
                    let down = self.rows.get(&spec.app.name).is_some_and(|rows| {
                        rows.iter()
                            .any(|r| matches!(r.info.status, Status::Stopped | Status::Errored))
                    });
                    if changes.is_empty() && down && spec.app.autostart {
                        changes.push("was down".into());
                    }
                    let action = if changes.is_empty() {
                        PlanAction::Unchanged
                    } else if req.restart {
                        PlanAction::Restart
                    } else {
                        PlanAction::Reload
                    };
                    if !changes.is_empty() {
                        to_change.push((i, spec.clone()));
                    }
                    plan.push(PlanLine {
                        name: spec.app.name.clone(),
                        action,
                        changes,
                        group: false,
                    });
                }
            }
        }
        let mut to_delete = Vec::new();
        if req.prune {
            let declared: BTreeSet<&str> = req.apps.iter().map(|a| a.app.name.as_str()).collect();
            for (i, app) in self.apps.iter().enumerate() {
                if app.spec.source.as_deref() == Some(req.file.as_path())
                    && !declared.contains(app.name.as_str())
                {
                    plan.push(PlanLine {
                        name: app.name.clone(),
                        action: PlanAction::Delete,
                        changes: vec![],
                        group: false,
                    });
                    to_delete.push(i);
                }
            }
        }
        // The groups' plan lines: rebuilt, new, dissolved.
        for g in &req.groups {
            match self.groups.iter().find(|e| e.name == g.name) {
                Some(e) => {
                    let changes = self.group_diff(e, g);
                    if !changes.is_empty() {
                        plan.push(PlanLine {
                            name: g.name.clone(),
                            action: PlanAction::Rebuild,
                            changes,
                            group: true,
                        });
                    }
                }
                None => plan.push(PlanLine {
                    name: g.name.clone(),
                    action: PlanAction::Start,
                    changes: vec![],
                    group: true,
                }),
            }
        }
        let sent: BTreeSet<&str> = req.apps.iter().map(|a| a.app.name.as_str()).collect();
        let in_scope = |e: &GroupEntry| e.members.iter().all(|m| sent.contains(m.as_str()));
        for e in &self.groups {
            if e.source.as_deref() == Some(req.file.as_path())
                && in_scope(e)
                && !req.groups.iter().any(|g| g.name == e.name)
            {
                plan.push(PlanLine {
                    name: e.name.clone(),
                    action: PlanAction::Delete,
                    changes: vec!["its apps stay".into()],
                    group: true,
                });
            }
        }
        if req.dry_run {
            return Box::pin(fut::ready(to_value(&UpReply {
                plan,
                processes: vec![],
            })));
        }
        let mut requests = Vec::new();
        // Groups: one whose membership, order, strategy or intensity changed is rebuilt
        // (its members stopped in reverse order, then started in declared order under the
        // new group); one no longer declared by this file is dissolved (its members stay,
        // as apps of their own). Members of unchanged groups keep their pids.
        let mut rebuilt: BTreeSet<String> = BTreeSet::new();
        let mut old_groups = Vec::new();
        for g in &req.groups {
            if let Some(k) = self.groups.iter().position(|e| e.name == g.name) {
                let changes = self.group_diff(&self.groups[k], g);
                if !changes.is_empty() {
                    rebuilt.insert(g.name.clone());
                    old_groups.push(self.groups.remove(k));
                }
            }
        }
        let dissolved: Vec<usize> = (0..self.groups.len())
            .filter(|k| {
                let e = &self.groups[*k];
                e.source.as_deref() == Some(req.file.as_path())
                    && e.members.iter().all(|m| sent.contains(m.as_str()))
                    && !req.groups.iter().any(|g| g.name == e.name)
            })
            .collect();
        for k in dissolved.into_iter().rev() {
            old_groups.push(self.groups.remove(k));
        }
        for old in &old_groups {
            for m in &old.members {
                if let Some(i) = self.find(m) {
                    self.apps[i].addr.do_send(LeaveGroup);
                }
            }
        }
        let in_rebuilt: BTreeSet<String> = req
            .groups
            .iter()
            .filter(|g| rebuilt.contains(&g.name))
            .flat_map(|g| g.apps.iter().cloned())
            .collect();
        for (i, spec) in to_change {
            let spec = Arc::new(spec);
            self.apps[i].spec = spec.clone();
            // A member of a rebuilt group takes its new spec now and restarts with the group.
            let op = if in_rebuilt.contains(&self.apps[i].name) {
                Op::Reset
            } else {
                Op::Restart
            };
            requests.push(self.apps[i].addr.send(Command {
                op,
                instances: None,
                replace: Some(spec),
            }));
        }
        for i in &to_delete {
            requests.push(self.apps[*i].addr.send(Command {
                op: Op::Delete,
                instances: None,
                replace: None,
            }));
        }
        let deleted: Vec<String> = to_delete
            .iter()
            .map(|i| self.apps[*i].name.clone())
            .collect();
        let grouped: BTreeSet<String> = req
            .groups
            .iter()
            .flat_map(|g| g.apps.iter().cloned())
            .collect();
        for spec in to_start {
            let autostart = spec.app.autostart;
            let grouped = grouped.contains(&spec.app.name);
            let addr = self.create(spec, ctx);
            if !grouped {
                requests.push(addr.send(Command {
                    op: if autostart { Op::Start } else { Op::Reset },
                    instances: None,
                    replace: None,
                }));
            }
        }
        let group_starts = self.attach_groups(
            &req.groups,
            Some(req.file.as_path()),
            |name| {
                if rebuilt.contains(name) {
                    Op::Restart
                } else {
                    Op::Start
                }
            },
            ctx,
        );
        Box::pin(
            async move {
                for r in requests {
                    if let Err(e) = r.await {
                        return Err(ApiError::new(ErrorCode::Internal, e.to_string()));
                    }
                }
                for r in group_starts {
                    if let Err(e) = r.await {
                        return Err(ApiError::new(ErrorCode::Internal, e.to_string()));
                    }
                }
                Ok(())
            }
            .into_actor(self)
            .map(move |res, act, _| {
                res?;
                act.apps.retain(|a| !deleted.contains(&a.name));
                for name in &deleted {
                    act.rows.remove(name);
                }
                act.forget_empty_groups();
                let names: BTreeSet<&str> = plan.iter().map(|p| p.name.as_str()).collect();
                let processes = act
                    .list()
                    .into_iter()
                    .filter(|p| names.contains(p.name.as_str()))
                    .collect();
                to_value(&UpReply { plan, processes })
            }),
        )
    }
}

/// Check what a client sent as specs: what pmx-config checks in a file (names, signals,
/// cron patterns, date formats, listen URLs, instance counts), plus one name per app.
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

fn fail(e: ApiError) -> ResponseActFuture<Root, Result<Value, ApiError>> {
    Box::pin(fut::ready(Err(e)))
}

/// What differs between the running spec and the declared one, as `up`'s plan names it
/// (`env.PORT`, `args`, `restart.delay_ms`). Only what the file declares is compared
/// (its fields, `env_file`'s contents, the chosen `envs`): not the inherited environment,
/// and not the interpreter's path as found on the caller's PATH, so running `pmx up` from
/// another shell changes nothing.
pub fn declared_changes(old: &AppSpec, new: &AppSpec) -> Vec<String> {
    let mut out = Vec::new();
    let strip = |s: &AppSpec| {
        let mut app = serde_json::to_value(&s.app).unwrap_or(Value::Null);
        if let Some(m) = app.as_object_mut() {
            m.remove("line");
        }
        app
    };
    diff_values("", &strip(old), &strip(new), &mut out);
    for (label, a, b) in [
        ("env_file", &old.env.env_file, &new.env.env_file),
        ("envs", &old.env.envs, &new.env.envs),
    ] {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            if a.get(k) != b.get(k) {
                out.push(format!("{label}.{k}"));
            }
        }
    }
    out.dedup();
    out
}

fn diff_values(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => diff_values(&p, va, vb, out),
                    _ => out.push(p),
                }
            }
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

impl Actor for Root {
    type Context = Context<Self>;
}

impl Handler<Report> for Root {
    type Result = ();
    fn handle(&mut self, msg: Report, _: &mut Context<Self>) {
        if self.find(&msg.app).is_some() {
            self.rows.insert(msg.app, msg.rows);
        }
    }
}

impl Handler<Escalate> for Root {
    type Result = ();
    fn handle(&mut self, msg: Escalate, _: &mut Context<Self>) {
        // The root never takes the daemon down: the group's members (already stopped by
        // their group) are marked errored with the reason; apps outside it are untouched.
        tracing::error!("escalation reached the root: {}", msg.reason);
        let Some(g) = self.groups.iter().find(|g| g.name == msg.group) else {
            return;
        };
        for m in &g.members {
            if let Some(i) = self.find(m) {
                self.apps[i].addr.do_send(Command {
                    op: Op::MarkErrored(msg.reason.clone()),
                    instances: None,
                    replace: None,
                });
            }
        }
    }
}

impl Handler<StopAll> for Root {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: StopAll, _: &mut Context<Self>) -> Self::Result {
        let sel: Selection = (0..self.apps.len()).map(|i| (i, None)).collect();
        Box::pin(self.command(sel, Op::Stop, |_| None).map(|_, _, _| ()))
    }
}

impl Handler<Api> for Root {
    type Result = ResponseActFuture<Self, Result<Value, ApiError>>;
    fn handle(&mut self, Api(req): Api, ctx: &mut Context<Self>) -> Self::Result {
        match req {
            Request::Ping => Box::pin(fut::ready(to_value(&PingReply {
                pong: true,
                pid: std::process::id(),
                version: VERSION.into(),
            }))),
            Request::List => Box::pin(fut::ready(to_value(&self.list()))),
            Request::Start(req) => self.start(req, ctx),
            Request::Up(req) => self.up(req, ctx),
            Request::Stop { target } => match self.resolve(&target) {
                Ok(sel) => self.command(sel, Op::Stop, |_| None),
                Err(e) => fail(e),
            },
            Request::Delete { target } => match self.resolve(&target) {
                Ok(sel) => self.command(sel, Op::Delete, |_| None),
                Err(e) => fail(e),
            },
            Request::Reset { target } => match self.resolve(&target) {
                Ok(sel) => self.command(sel, Op::Reset, |_| None),
                Err(e) => fail(e),
            },
            Request::Restart(r) | Request::Reload(r) => self.restart(r),
            Request::Signal { signal, target } => {
                let sig = match os::signal_from_name(&signal) {
                    Ok(s) => s,
                    Err(e) => return fail(ApiError::new(ErrorCode::BadRequest, e)),
                };
                let sel = match self.resolve(&target) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                let requests: Vec<_> = sel
                    .into_iter()
                    .map(|(i, instances)| {
                        self.apps[i].addr.send(SignalInstances {
                            signal: sig,
                            instances,
                        })
                    })
                    .collect();
                Box::pin(
                    async move {
                        let mut rows = Vec::new();
                        for r in requests {
                            match r.await {
                                Ok(Ok(mut v)) => rows.append(&mut v),
                                Ok(Err(e)) => return Err(ApiError::new(ErrorCode::Conflict, e)),
                                Err(e) => {
                                    return Err(ApiError::new(ErrorCode::Internal, e.to_string()))
                                }
                            }
                        }
                        to_value(&rows)
                    }
                    .into_actor(self),
                )
            }
            Request::Describe { target } => {
                let sel = match self.resolve(&target) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                let requests: Vec<_> = sel
                    .into_iter()
                    .map(|(i, instances)| self.apps[i].addr.send(Describe { instances }))
                    .collect();
                let groups: Vec<(String, Addr<GroupSup>)> = self
                    .groups
                    .iter()
                    .map(|g| (g.name.clone(), g.addr.clone()))
                    .collect();
                Box::pin(
                    async move {
                        let mut out = Vec::new();
                        for r in requests {
                            match r.await {
                                Ok(mut v) => out.append(&mut v),
                                Err(e) => {
                                    return Err(ApiError::new(ErrorCode::Internal, e.to_string()))
                                }
                            }
                        }
                        // A member's group: its strategy, intensity and recent restarts.
                        for d in &mut out {
                            let Some(name) = d.info.group.clone() else {
                                continue;
                            };
                            let Some((_, addr)) = groups.iter().find(|(g, _)| *g == name) else {
                                continue;
                            };
                            if let Ok(state) = addr.send(GroupInfo).await {
                                d.group_strategy = Some(state.strategy);
                                d.group_intensity = Some(state.intensity);
                                d.group_restarts = Some(state.recent_restarts as u64);
                            }
                        }
                        to_value(&out)
                    }
                    .into_actor(self),
                )
            }
            Request::Env { target } => {
                let sel = match self.resolve(&target) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                if sel.len() != 1 {
                    return fail(ApiError::new(
                        ErrorCode::BadRequest,
                        format!("env shows one process: \"{target}\" selects {} apps; give an id or a name", sel.len()),
                    ));
                }
                let Some((i, instances)) = sel.into_iter().next() else {
                    return fail(not_found(&target));
                };
                let instance = instances.and_then(|v| v.first().copied()).unwrap_or(0);
                let id = self.apps[i]
                    .ids
                    .get(instance as usize)
                    .copied()
                    .unwrap_or(0);
                let req = self.apps[i].addr.send(EnvOf { instance });
                Box::pin(
                    async move {
                        let env = req
                            .await
                            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
                        to_value(&EnvReply { id, env })
                    }
                    .into_actor(self),
                )
            }
            Request::Flush { target } => {
                let sel = match self.resolve(target.as_deref().unwrap_or("all")) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                self.logs(
                    sel.into_iter()
                        .map(|(i, only)| (i, Logs::Flush(only)))
                        .collect(),
                )
            }
            Request::ReloadLogs => {
                self.logs((0..self.apps.len()).map(|i| (i, Logs::Reopen)).collect())
            }
            Request::Hello { .. } | Request::Kill | Request::Subscribe { .. } => fail(
                ApiError::new(ErrorCode::Internal, "handled by the admin session"),
            ),
        }
    }
}
