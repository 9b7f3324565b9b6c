//! `up` (and `startOrReload`, `startOrRestart`): compute the plan (`plan.rs`, pure), then
//! carry its actions out in order and answer once every app it touched has done its part.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::prelude::*;

use std::future::Future;
use std::pin::Pin;

use crate::app::{AppSup, Command, Deleted, LeaveGroup, Op, Reload, ReloadError, SpawnErrors};
use crate::protocol::{ApiError, ErrorCode};
use crate::protocol::{UpReply, UpRequest};
use crate::root::plan::{plan, Action};
use crate::root::{
    answered, commanded, fail, shutting_down, to_json, validate_specs, Answer, Root,
};

impl Root {
    /// Make the running set match `req`'s file; answers the plan and the rows of the
    /// planned apps still present (only the plan with `dry_run`).
    ///
    /// Errors: `invalid_config` (see `validate_specs`): nothing changes then; `conflict`
    /// "the daemon is shutting down" when a shutdown began before or while it ran.
    pub(in crate::root) fn up(&mut self, req: UpRequest, ctx: &mut Context<Self>) -> Answer {
        if self.stopping {
            return fail(shutting_down());
        }
        if let Err(e) = validate_specs(&req.apps, &req.groups) {
            return fail(e);
        }
        let plan = plan(&self.reg, &req);
        if req.dry_run {
            return Box::pin(fut::ready(to_json(&UpReply {
                plan: plan.lines,
                processes: vec![],
            })));
        }
        // Each app's part: None, or why its rolling reload stopped.
        let mut app_requests: Vec<Pin<Box<dyn Future<Output = Option<String>>>>> = Vec::new();
        // A command, then why the app's instances could not be spawned, if they could not
        // (a `listen` address in use, a missing interpreter): `up` fails naming it, as
        // `start` does, rather than exit 0 over errored apps (the deploy hook's `up` then
        // said "ok" with every server down). The app stays registered, errored, and listed.
        let command =
            |addr: &Addr<AppSup>, name: &str, c: Command| -> Pin<Box<dyn Future<Output = _>>> {
                let r = addr.send(c);
                let addr = addr.clone();
                let name = name.to_string();
                Box::pin(async move {
                    let _ = commanded(r.await);
                    let errors = addr.send(SpawnErrors).await.unwrap_or_default();
                    let first = errors.into_iter().next()?;
                    Some(format!("app \"{name}\": {first}"))
                })
            };
        // `up`'s and startOrReload's reload of a cluster-mode app is rolling (SPEC §6);
        // startOrRestart restarts.
        let rolling = !req.restart;
        let reload = |addr: &Addr<AppSup>, replace, ids| -> Pin<Box<dyn Future<Output = _>>> {
            let r = addr.send(Reload {
                instances: None,
                replace,
                ids,
            });
            Box::pin(async move {
                match r.await {
                    Ok(Err(ReloadError::Failed(why))) => Some(why),
                    _ => None,
                }
            })
        };
        let mut group_requests = Vec::new();
        let mut deletes = Vec::new();
        for action in plan.actions {
            match action {
                Action::DropGroup(name) => {
                    let Some(old) = self.reg.remove_group(&name) else {
                        continue;
                    };
                    for m in &old.members {
                        if let Some(app) = self.reg.app(m) {
                            app.handle.do_send(LeaveGroup);
                        }
                    }
                }
                Action::Replace { spec, restart } => {
                    let name = spec.app.name.clone();
                    let spec = Arc::new(spec);
                    let ids = self.reg.replace_spec(&name, spec.clone());
                    if let Some(app) = self.reg.app(&name) {
                        let count = ids.as_ref().map_or(app.ids.len(), Vec::len);
                        if restart && rolling && AppSup::reloads_rolling(&spec, count) {
                            app_requests.push(reload(&app.handle, Some(spec), ids));
                        } else {
                            // A member of a rebuilt group takes its new spec now and
                            // restarts with the group.
                            app_requests.push(command(
                                &app.handle,
                                &name,
                                Command {
                                    op: if restart { Op::Restart } else { Op::Reset },
                                    instances: None,
                                    replace: Some(spec),
                                    ids,
                                },
                            ));
                        }
                    }
                }
                Action::Scale(spec) => {
                    let name = spec.app.name.clone();
                    let spec = Arc::new(spec);
                    let ids = self.reg.replace_spec(&name, spec.clone());
                    if let Some(app) = self.reg.app(&name) {
                        // Start only what is down: the new instance numbers (a shrink has
                        // already stopped the highest); the running ones are not touched.
                        app_requests.push(command(
                            &app.handle,
                            &name,
                            Command {
                                op: Op::Start,
                                instances: None,
                                replace: Some(spec),
                                ids,
                            },
                        ));
                    }
                }
                Action::Restart(name) => {
                    if let Some(app) = self.reg.app(&name) {
                        if rolling && AppSup::reloads_rolling(&app.spec, app.ids.len()) {
                            app_requests.push(reload(&app.handle, None, None));
                        } else {
                            app_requests.push(command(
                                &app.handle,
                                &name,
                                Command::all(Op::Restart),
                            ));
                        }
                    }
                }
                Action::Delete(name) => {
                    if let Some(app) = self.reg.app(&name) {
                        deletes.push((name, app.handle.send(Command::all(Op::Delete))));
                    }
                }
                Action::Create { spec, by_group } => {
                    let autostart = spec.app.autostart;
                    let name = spec.app.name.clone();
                    let addr = self.create(spec, ctx);
                    if !by_group {
                        let op = if autostart { Op::Start } else { Op::Reset };
                        app_requests.push(command(&addr, &name, Command::all(op)));
                    }
                }
                Action::BuildGroup { group, rebuilt } => {
                    let first = if rebuilt { Op::Restart } else { Op::Start };
                    group_requests.extend(self.attach_group(
                        &group,
                        Some(req.file.as_path()),
                        first,
                        ctx,
                    ));
                }
            }
        }
        let lines = plan.lines;
        let work = self.unless_shutdown(async move {
            // An app deleted by another request meanwhile is simply gone: what the plan
            // did to the others is the answer (a mailbox error never reaches a user).
            let mut failed = None;
            for r in app_requests {
                if let Some(why) = r.await {
                    failed.get_or_insert(why);
                }
            }
            for r in group_requests {
                let _ = answered(r.await);
            }
            let mut deleted = BTreeSet::new();
            for (name, r) in deletes {
                // Not while a racing delete still stops it: that one forgets it.
                if !matches!(r.await, Ok(Err(Deleted))) {
                    deleted.insert(name);
                }
            }
            (deleted, failed)
        });
        Box::pin(work.into_actor(self).map(move |res, act, _| {
            // As for `start`: a shutdown overtook it (None: at once).
            let Some((deleted, failed)) = res else {
                return Err(shutting_down());
            };
            act.reg.remove_apps(&deleted);
            if let Some(why) = failed {
                return Err(ApiError::new(ErrorCode::Conflict, why));
            }
            // As for `start`: a shutdown overtook what the plan started.
            if act.stopping {
                return Err(shutting_down());
            }
            let names: BTreeSet<&str> = lines.iter().map(|p| p.name.as_str()).collect();
            let processes = act
                .reg
                .list()
                .into_iter()
                .filter(|p| names.contains(p.name.as_str()))
                .collect();
            to_json(&UpReply {
                plan: lines,
                processes,
            })
        }))
    }
}
