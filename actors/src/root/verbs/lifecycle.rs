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
use crate::protocol::{ApiError, AppSpec, AppUpdate, ErrorCode, ProcessInfo, RestartRequest};
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

    /// `stop --watch` of a target: each selected app takes `watch: false` into its spec
    /// (kept from now on, as PM2 7's `pm2 stop --watch`), then stops.
    ///
    /// Errors: as the target's resolution.
    pub(in crate::root) fn stop_unwatch(&mut self, target: &str) -> Answer {
        let sel = match self.reg.resolve(target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let mut replacements = BTreeMap::new();
        for (i, _) in &sel {
            let app = &self.reg.apps()[*i];
            if matches!(app.spec.app.watch, pmx_config::Watch::Off) {
                continue;
            }
            let mut spec = (*app.spec).clone();
            spec.app.watch = pmx_config::Watch::Off;
            let name = app.name.clone();
            let spec = Arc::new(spec);
            let ids = self.reg.replace_spec(&name, spec.clone());
            replacements.insert(*i, Replacement { spec, ids });
        }
        self.command(target, sel, Op::Stop, &replacements)
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
    /// and re-reads its `env_file`; with `update` each takes the start options given (PM2
    /// merges them into the app), checked for every selected app before any changes.
    ///
    /// Errors: as the target's resolution; `invalid_config` for an update an app cannot
    /// take (see [`updated`]), nothing changed then.
    pub(in crate::root) fn restart(&mut self, req: RestartRequest, rolling: bool) -> Answer {
        let sel = match self.reg.resolve(&req.target) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let mut specs = Vec::new();
        if req.update_env || req.update.is_some() {
            for (i, _) in &sel {
                let app = &self.reg.apps()[*i];
                let mut spec = (*app.spec).clone();
                if req.update_env {
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
                }
                if let Some(update) = &req.update {
                    let grouped = self
                        .reg
                        .groups()
                        .iter()
                        .any(|g| g.members.contains(&app.name));
                    spec = match updated(spec, update, sel.len(), grouped) {
                        Ok(s) => s,
                        Err(e) => return fail(e),
                    };
                    if let Err(e) = crate::root::validate_specs(std::slice::from_ref(&spec), &[]) {
                        return fail(e);
                    }
                    if spec.app.name != app.name && self.reg.position(&spec.app.name).is_some() {
                        return fail(ApiError::new(
                            ErrorCode::Conflict,
                            format!("an app named \"{}\" already exists", spec.app.name),
                        ));
                    }
                }
                specs.push((*i, app.name.clone(), spec));
            }
        }
        let mut replacements = BTreeMap::new();
        for (i, name, spec) in specs {
            let name = if spec.app.name != name && self.reg.rename(&name, &spec.app.name) {
                spec.app.name.clone()
            } else {
                name
            };
            let spec = Arc::new(spec);
            let ids = self.reg.replace_spec(&name, spec.clone());
            replacements.insert(i, Replacement { spec, ids });
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

/// `spec` with `update`'s fields: a new name (only when the target selected one app,
/// `selected`, and it is in no group), new interpreter arguments (in the arguments the
/// program gets too: they come first, before the script).
///
/// Errors: `invalid_config` for a name given to several apps or to a group's member, or
/// interpreter arguments for an app exec'd without an interpreter.
pub(in crate::root) fn updated(
    mut spec: AppSpec,
    update: &AppUpdate,
    selected: usize,
    grouped: bool,
) -> Result<AppSpec, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::InvalidConfig, m);
    let name = spec.app.name.clone();
    if let Some(new) = &update.name {
        if *new != name {
            if selected != 1 {
                return Err(bad(format!(
                    "--name {new:?} names one app: the target selects {selected}"
                )));
            }
            if grouped {
                return Err(bad(format!(
                    "app \"{name}\" is a group's member: rename it in its ecosystem file"
                )));
            }
            spec.app.name = new.clone();
        }
    }
    if let Some(w) = &update.watch {
        // Turning on keeps the paths an app watches already.
        let keep = matches!(w, pmx_config::Watch::On)
            && matches!(spec.app.watch, pmx_config::Watch::Paths(_));
        if !keep {
            spec.app.watch = w.clone();
        }
    }
    if let Some(globs) = &update.ignore_watch {
        spec.app.ignore_watch = globs.clone();
    }
    if let Some(ia) = &update.interpreter_args {
        let old = &spec.app.interpreter_args;
        let by_interpreter = !matches!(spec.app.interpreter.as_deref(), None | Some("none"));
        if !by_interpreter || !spec.args.starts_with(old) {
            return Err(bad(format!(
                "app \"{name}\" runs without an interpreter: interpreter arguments (--node-args) have nothing to go to"
            )));
        }
        let mut args = ia.clone();
        args.extend(spec.args[old.len()..].iter().cloned());
        spec.args = args;
        spec.app.interpreter_args = ia.clone();
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::fixtures::spec;

    #[test]
    fn an_update_puts_interpreter_args_before_the_script_and_names_one_app() {
        let mut by_node = spec("a", 1);
        by_node.app.interpreter = Some("node".into());
        by_node.app.interpreter_args = vec!["--old".into()];
        by_node.args = vec!["--old".into(), "/srv/a.js".into(), "x".into()];
        let ia = |v: &[&str]| AppUpdate {
            name: None,
            interpreter_args: Some(v.iter().map(|s| s.to_string()).collect()),
            ..AppUpdate::default()
        };
        let named = |n: &str| AppUpdate {
            name: Some(n.into()),
            ..AppUpdate::default()
        };
        // (update, selected, grouped, Ok((name, args)) or the error's start)
        type Case<'a> = (
            AppUpdate,
            usize,
            bool,
            Result<(&'a str, Vec<&'a str>), &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                ia(&["-e", "-u"]),
                1,
                false,
                Ok(("a", vec!["-e", "-u", "/srv/a.js", "x"])),
            ),
            (ia(&[]), 3, true, Ok(("a", vec!["/srv/a.js", "x"]))),
            (
                named("b"),
                1,
                false,
                Ok(("b", vec!["--old", "/srv/a.js", "x"])),
            ),
            (
                named("a"),
                2,
                true,
                Ok(("a", vec!["--old", "/srv/a.js", "x"])),
            ),
            (named("b"), 2, false, Err("--name \"b\" names one app")),
            (named("b"), 1, true, Err("app \"a\" is a group's member")),
        ];
        for (update, selected, grouped, want) in cases {
            let got = updated(by_node.clone(), &update, selected, grouped);
            match (got, want) {
                (Ok(s), Ok((name, args))) => {
                    assert_eq!(s.app.name, name, "{update:?}");
                    assert_eq!(s.args, args, "{update:?}");
                }
                (Err(e), Err(start)) => assert!(e.message.starts_with(start), "{e:?}"),
                (got, want) => panic!("{update:?}: {got:?} vs {want:?}"),
            }
        }
        // Exec'd without an interpreter: no place for interpreter arguments.
        let mut plain = spec("p", 1);
        plain.app.interpreter = Some("none".into());
        let e = updated(plain, &ia(&["-e"]), 1, false).expect_err("refused");
        assert!(e.message.contains("without an interpreter"), "{e:?}");
    }

    #[test]
    fn a_watch_update_turns_watching_on_and_keeps_paths() {
        use pmx_config::Watch;
        let paths = Watch::Paths(vec!["/srv/src".into()]);
        let on = |w: Watch| AppUpdate {
            watch: Some(w),
            ..AppUpdate::default()
        };
        // (watch before, update, watch after)
        let cases = [
            (Watch::Off, on(Watch::On), Watch::On),
            (Watch::On, on(Watch::On), Watch::On),
            (paths.clone(), on(Watch::On), paths.clone()),
            (Watch::On, on(paths.clone()), paths.clone()),
            (Watch::On, AppUpdate::default(), Watch::On),
        ];
        for (before, update, after) in cases {
            let mut s = spec("a", 1);
            s.app.watch = before.clone();
            let got = updated(s, &update, 1, false).expect("updated");
            assert_eq!(got.app.watch, after, "{before:?} with {update:?}");
        }
        let globs = AppUpdate {
            ignore_watch: Some(vec!["*.tmp".into()]),
            ..AppUpdate::default()
        };
        let got = updated(spec("a", 1), &globs, 1, false).expect("updated");
        assert_eq!(got.app.ignore_watch, ["*.tmp"]);
    }
}
