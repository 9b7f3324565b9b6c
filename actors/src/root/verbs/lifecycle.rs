//! `stop`, `restart`, `reload`, `delete`, `reset` (and `StopAll`): a command sent to every
//! selected app at once, or to a whole group through its Group supervisor, answered with
//! every row touched once each app has carried it out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix::prelude::*;

use std::future::Future;
use std::pin::Pin;

use crate::app::{AppSup, Command, Deleted, Op, Reload, ReloadError};
use crate::group::GroupCommand;
use crate::protocol::{ApiError, ErrorCode, ProcessInfo};
use crate::protocol::{AppSpec, RestartRequest};
use crate::root::registry::Selection;
use crate::root::{answered, fail, gone, to_json, Answer, Root};

/// One App supervisor's answer: its rows, `Err(None)` (being deleted by another
/// request), `Err(Some(why))` (a rolling reload that stopped), None (gone).
type AppReply = Pin<Box<dyn Future<Output = Option<Result<Vec<ProcessInfo>, Option<String>>>>>>;

/// A new spec for an app (`--update-env`, `up`), and its ids when the spec changed its
/// instance count (see `Registry::replace_spec`).
pub(in crate::root) struct Replacement {
    pub spec: Arc<AppSpec>,
    pub ids: Option<Vec<u64>>,
}

impl Root {
    /// `stop`, `reset` of a target.
    pub(in crate::root) fn lifecycle(&mut self, target: &str, op: Op) -> Answer {
        match self.reg.resolve(target) {
            Ok(sel) => self.command(target, sel, op, &BTreeMap::new()),
            Err(e) => fail(e),
        }
    }

    /// `delete` of a target. An id deletes that instance only, as PM2 7's `pm2 delete
    /// <id>` does: the app keeps its other instances, with their ids, renumbered 0..M-1
    /// (`Registry::remove_instances` now, the App supervisor's table when it gets the
    /// command, so the numbers of any later command mean the same instances on both
    /// sides); the id of an app's only instance deletes the app.
    pub(in crate::root) fn delete(&mut self, target: &str) -> Answer {
        let sel = match self.reg.resolve(target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let mut replacements = BTreeMap::new();
        let sel = sel
            .into_iter()
            .map(|(i, instances)| {
                let Some(numbers) = instances else {
                    return (i, None);
                };
                let name = self.reg.apps()[i].name.clone();
                match self.reg.remove_instances(&name, &numbers) {
                    Some((spec, ids)) => {
                        replacements.insert(
                            i,
                            Replacement {
                                spec,
                                ids: Some(ids),
                            },
                        );
                        (i, Some(numbers))
                    }
                    // Every instance (or none left to spare): the app's own delete.
                    None => (i, None),
                }
            })
            .collect();
        self.command(target, sel, Op::Delete, &replacements)
    }

    /// `restart` / `reload` (`rolling`: rolling in cluster mode, a restart in fork mode,
    /// SPEC §6); with `--update-env` each app first takes the asking command's environment
    /// and re-reads its `env_file`.
    pub(in crate::root) fn restart(&mut self, req: RestartRequest, rolling: bool) -> Answer {
        let sel = match self.reg.resolve(&req.target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let mut replacements = BTreeMap::new();
        if req.update_env {
            for (i, _) in &sel {
                let app = &self.reg.apps()[*i];
                let mut spec = (*app.spec).clone();
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
                let name = app.name.clone();
                let spec = Arc::new(spec);
                let ids = self.reg.replace_spec(&name, spec.clone());
                replacements.insert(*i, Replacement { spec, ids });
            }
        }
        self.command_with(&req.target, sel, Op::Restart, &replacements, rolling)
    }

    /// Send `op` to every selected app at once (app `i` first taking `replace[i]`, if
    /// any); the future answers every row touched, by id. A deleted app leaves the
    /// registry once it has stopped (a delete of some of an app's instances leaves the
    /// app). An app deleted while the command was under way is left out; when every
    /// selected app was, the command fails with `not_found` (see [`gone`]).
    pub(in crate::root) fn command(
        &mut self,
        target: &str,
        sel: Selection,
        op: Op,
        replace: &BTreeMap<usize, Replacement>,
    ) -> Answer {
        self.command_with(target, sel, op, replace, false)
    }

    /// [`Root::command`]; with `rolling` (a `reload`), each app in cluster mode outside a
    /// whole-group selection (all its instances, or those selected: `reload <id>`) gets a
    /// rolling [`Reload`] instead of the restart
    /// (its App supervisor sequences it; a failed one fails the request with its reason).
    pub(in crate::root) fn command_with(
        &mut self,
        target: &str,
        sel: Selection,
        op: Op,
        replace: &BTreeMap<usize, Replacement>,
        rolling: bool,
    ) -> Answer {
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
        for g in self.reg.groups() {
            let idxs: Vec<usize> = g
                .members
                .iter()
                .filter_map(|m| self.reg.position(m))
                .collect();
            if !idxs.is_empty()
                && idxs
                    .iter()
                    .all(|i| whole.contains(i) && !replace.contains_key(i))
            {
                covered.extend(idxs);
                via_group.push(g.handle.send(GroupCommand(op.clone())));
            }
        }
        // The apps this command deletes whole (not those that lose some instances).
        let delete = matches!(op, Op::Delete);
        let whole_names: BTreeSet<String> = sel
            .iter()
            .filter(|(i, inst)| delete && inst.is_none() && !replace.contains_key(i))
            .map(|(i, _)| self.reg.apps()[*i].name.clone())
            .collect();
        let requests: Vec<(String, AppReply)> = sel
            .into_iter()
            .filter(|(i, _)| !covered.contains(i))
            .map(|(i, instances)| {
                let r = replace.get(&i);
                let app = &self.reg.apps()[i];
                let spec = r.map_or(&app.spec, |r| &r.spec);
                let count = r
                    .and_then(|r| r.ids.as_ref())
                    .map_or(app.ids.len(), Vec::len);
                let reply: AppReply = if rolling && AppSup::reloads_rolling(spec, count) {
                    let reply = app.handle.send(Reload {
                        instances,
                        replace: r.map(|r| r.spec.clone()),
                        ids: r.and_then(|r| r.ids.clone()),
                    });
                    Box::pin(async move {
                        match reply.await {
                            Ok(Ok(rows)) => Some(Ok(rows)),
                            Ok(Err(ReloadError::Deleted)) => Some(Err(None)),
                            Ok(Err(ReloadError::Failed(why))) => Some(Err(Some(why))),
                            Err(_) => None,
                        }
                    })
                } else {
                    let reply = app.handle.send(Command {
                        op: op.clone(),
                        instances,
                        replace: r.map(|r| r.spec.clone()),
                        ids: r.and_then(|r| r.ids.clone()),
                    });
                    Box::pin(async move {
                        match reply.await {
                            Ok(Ok(rows)) => Some(Ok(rows)),
                            Ok(Err(Deleted)) => Some(Err(None)),
                            Err(_) => None,
                        }
                    })
                };
                (app.name.clone(), reply)
            })
            .collect();
        let asked = requests.len() + via_group.len();
        let target = target.to_string();
        Box::pin(
            async move {
                let mut rows = Vec::new();
                let mut reached = 0;
                let mut deleting_elsewhere = BTreeSet::new();
                let mut failed = None;
                for (name, r) in requests {
                    match r.await {
                        Some(Ok(mut v)) => {
                            reached += 1;
                            rows.append(&mut v);
                        }
                        // A rolling reload stopped: the request fails with why.
                        Some(Err(Some(why))) => {
                            reached += 1;
                            failed.get_or_insert(why);
                        }
                        // Another delete is stopping it: that one forgets it once done.
                        Some(Err(None)) => {
                            deleting_elsewhere.insert(name);
                        }
                        // Gone already (its delete has forgotten it, or will).
                        None => {}
                    }
                }
                for r in via_group {
                    if let Some(mut v) = answered(r.await) {
                        reached += 1;
                        rows.append(&mut v);
                    }
                }
                rows.sort_by_key(|r| r.id);
                (rows, reached, deleting_elsewhere, failed)
            }
            .into_actor(self)
            .map(move |(rows, reached, elsewhere, failed), act, _| {
                if delete {
                    // An app leaves the registry once its supervisor has stopped it all,
                    // never while a racing delete still stops it (it stays listed, and
                    // `kill` still waits for it, until then).
                    let done: BTreeSet<String> =
                        whole_names.difference(&elsewhere).cloned().collect();
                    act.reg.remove_apps(&done);
                }
                if reached == 0 && asked > 0 {
                    return Err(gone(&target));
                }
                if let Some(why) = failed {
                    return Err(ApiError::new(ErrorCode::Conflict, why));
                }
                to_json(&rows)
            }),
        )
    }
}
