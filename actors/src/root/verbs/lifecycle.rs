//! `stop`, `restart`, `reload`, `delete`, `reset` (and `StopAll`): a command sent to every
//! selected app at once, or to a whole group through its Group supervisor, answered with
//! every row touched once each app has carried it out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix::prelude::*;

use crate::app::{Command, Op};
use crate::group::GroupCommand;
use crate::protocol::{AppSpec, RestartRequest};
use crate::root::registry::Selection;
use crate::root::{fail, internal, to_json, Answer, Root};

/// A new spec for an app (`--update-env`, `up`), and its ids when the spec changed its
/// instance count (see `Registry::replace_spec`).
pub(in crate::root) struct Replacement {
    pub spec: Arc<AppSpec>,
    pub ids: Option<Vec<u64>>,
}

impl Root {
    /// `stop`, `delete`, `reset` of a target.
    pub(in crate::root) fn lifecycle(&mut self, target: &str, op: Op) -> Answer {
        match self.reg.resolve(target) {
            Ok(sel) => self.command(sel, op, &BTreeMap::new()),
            Err(e) => fail(e),
        }
    }

    /// `restart` / `reload` (a restart in fork mode); with `--update-env` each app first
    /// takes the asking command's environment and re-reads its `env_file`.
    pub(in crate::root) fn restart(&mut self, req: RestartRequest) -> Answer {
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
        self.command(sel, Op::Restart, &replacements)
    }

    /// Send `op` to every selected app at once (app `i` first taking `replace[i]`, if
    /// any); the future answers every row touched, by id. A deleted app leaves the
    /// registry once it has stopped.
    pub(in crate::root) fn command(
        &mut self,
        sel: Selection,
        op: Op,
        replace: &BTreeMap<usize, Replacement>,
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
        let requests: Vec<_> = sel
            .into_iter()
            .filter(|(i, _)| !covered.contains(i))
            .map(|(i, instances)| {
                let r = replace.get(&i);
                self.reg.apps()[i].handle.send(Command {
                    op: op.clone(),
                    instances,
                    replace: r.map(|r| r.spec.clone()),
                    ids: r.and_then(|r| r.ids.clone()),
                })
            })
            .collect();
        let delete = matches!(op, Op::Delete);
        Box::pin(
            async move {
                let mut rows = Vec::new();
                for r in requests {
                    rows.append(&mut r.await.map_err(internal)?);
                }
                for r in via_group {
                    rows.append(&mut r.await.map_err(internal)?);
                }
                rows.sort_by_key(|r| r.id);
                Ok(rows)
            }
            .into_actor(self)
            .map(move |rows, act, _| {
                let rows = rows?;
                if delete {
                    let gone: BTreeSet<String> = rows.iter().map(|r| r.name.clone()).collect();
                    act.reg.remove_apps(&gone);
                }
                to_json(&rows)
            }),
        )
    }
}
