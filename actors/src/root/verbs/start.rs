//! `start`: register and start new apps (a script, a command, or every app of a file with
//! its groups); `pmx start file.ron` restarts the file's apps that already exist (PM2),
//! and `-f` starts a copy under the first free `name-N`.

use std::collections::BTreeSet;

use actix::prelude::*;

use crate::app::{Command, Op, SpawnErrors};
use crate::protocol::{ApiError, ErrorCode, StartRequest};
use crate::root::{
    answered, commanded, fail, gone, shutting_down, to_json, validate_specs, Answer, Root,
};

impl Root {
    /// Start `req`'s apps; answers their rows once each is spawned. A new app that could
    /// not even be spawned is not added (SPEC §3: a start that fails starts nothing).
    ///
    /// Errors: `invalid_config` (see `validate_specs`); `conflict` when an app of that
    /// name exists (without `force` or `restart_existing`); `not_found` naming each new
    /// app that could not be spawned and why; `conflict` "the daemon is shutting down"
    /// when a shutdown began before or while it started them.
    pub(in crate::root) fn start(&mut self, req: StartRequest, ctx: &mut Context<Self>) -> Answer {
        if self.stopping {
            return fail(shutting_down());
        }
        // Validate every app first: one bad app starts nothing.
        if let Err(e) = validate_specs(&req.apps, &req.groups) {
            return fail(e);
        }
        for spec in &req.apps {
            if self.reg.app(&spec.app.name).is_some() && !req.force && !req.restart_existing {
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
            if let Some(app) = self.reg.app(&spec.app.name) {
                if req.restart_existing && !req.force {
                    requests.push(app.handle.send(Command::all(Op::Restart)));
                    continue;
                }
                spec.app.name = self.reg.unique_name(&spec.app.name);
            }
            let autostart = spec.app.autostart;
            let name = spec.app.name.clone();
            let addr = self.create(spec, ctx);
            if !grouped.contains(&name) {
                requests.push(addr.send(Command::all(if autostart {
                    Op::Start
                } else {
                    Op::Reset
                })));
            }
            created.push((name, addr));
        }
        let mut group_starts = Vec::new();
        for g in &req.groups {
            if self.reg.group(&g.name).is_none() {
                group_starts.extend(self.attach_group(g, source.as_deref(), Op::Start, ctx));
            }
        }
        let asked = requests.len() + group_starts.len();
        let first = created
            .first()
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        let work = async move {
            // An app deleted by another request while it started is left out; when
            // every one was, the start answers `not_found` (as `delete` first would).
            let mut rows = Vec::new();
            let mut reached = 0;
            for r in requests {
                if let Some(mut v) = commanded(r.await) {
                    reached += 1;
                    rows.append(&mut v);
                }
            }
            for r in group_starts {
                if let Some(mut v) = answered(r.await) {
                    reached += 1;
                    rows.append(&mut v);
                }
            }
            if reached == 0 && asked > 0 {
                return Err(gone(&first));
            }
            rows.sort_by_key(|r| r.id);
            let mut failed = Vec::new();
            for (name, addr) in created {
                let errors = addr.send(SpawnErrors).await.unwrap_or_default();
                if let Some(first) = errors.into_iter().next() {
                    let _ = addr.send(Command::all(Op::Delete)).await;
                    failed.push((name, first));
                }
            }
            Ok((rows, failed))
        };
        Box::pin(
            self.unless_shutdown(work)
                .into_actor(self)
                .map(|res, act, _| {
                    // A shutdown overtook the start (None: at once): its apps were stopped
                    // before (or while) they came online, and rows saying `stopped` would
                    // read as a success.
                    let (rows, failed) = res.ok_or_else(shutting_down)??;
                    if act.stopping {
                        return Err(shutting_down());
                    }
                    if failed.is_empty() {
                        return to_json(&rows);
                    }
                    act.reg
                        .remove_apps(&failed.iter().map(|(name, _)| name.clone()).collect());
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
}
