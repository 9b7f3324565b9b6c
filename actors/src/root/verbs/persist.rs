//! `save`, `resurrect` and `saved` (SPEC §3, §7): the registry written to `dump.ron`
//! (`root/snapshot.rs` builds it, `crate::dump` writes it atomically, on the log
//! arbiter: its fsyncs never delay a restart decision), the saved set brought back with
//! its statuses, and whether the running set is the saved one (`pmx list`'s last line).

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::prelude::*;

use crate::app::{AppSup, Command, Op, SpawnErrors};
use crate::dump::{self, LoadError, SavedStatus, WriteError};
use crate::protocol::{ApiError, AppSpec, ErrorCode, ResurrectReply, SaveReply, SavedReply};
use crate::root::snapshot;
use crate::root::verbs::TokenSource;
use crate::root::{fail, shutting_down, to_json, validate_specs, Answer, Root};

/// The reason an instance saved `errored` is marked with when resurrected.
const ERRORED_WHEN_SAVED: &str = "errored when the list was saved";

impl Root {
    /// `save`: write every app (full spec, every environment layer, ids, each instance's
    /// status) and the groups to `dump.ron`; answers what was saved once the file is
    /// durable.
    ///
    /// Errors: `conflict` when the set is empty and the dump holds apps (without
    /// `force`); `internal` naming the file and why when it cannot be written (both
    /// files left as they were).
    pub(in crate::root) fn save(&mut self, force: bool) -> Answer {
        let mut dump = snapshot::snapshot(&self.reg);
        dump.web = self.web_setting();
        let reply = SaveReply {
            file: self.parts.home.dump(),
            apps: dump.apps.len(),
            instances: dump.apps.iter().map(|a| a.ids.len()).sum(),
        };
        let home = self.parts.home.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = self.parts.log_arbiter.spawn(async move {
            let _ = tx.send(dump::write(&home, &dump, force));
        });
        if !queued {
            return fail(ApiError::new(ErrorCode::Internal, "the log thread is gone"));
        }
        Box::pin(
            async move {
                match rx.await {
                    Ok(Ok(())) => {
                        tracing::info!("saved {} app(s) to {}", reply.apps, reply.file.display());
                        to_json(&reply)
                    }
                    Ok(Err(WriteError::WouldEmpty(m))) => {
                        Err(ApiError::new(ErrorCode::Conflict, m))
                    }
                    Ok(Err(WriteError::Io(m))) => {
                        tracing::error!("{m}");
                        Err(ApiError::new(ErrorCode::Internal, m))
                    }
                    Err(_) => Err(ApiError::new(ErrorCode::Internal, "the log thread is gone")),
                }
            }
            .into_actor(self),
        )
    }

    /// `saved`: whether the running set is the one the dump holds. The dump's digest is
    /// read again only when the file changed (one `stat` per ask); the running set's
    /// specs are hashed again only when they changed.
    pub(in crate::root) fn saved(&mut self) -> Answer {
        let key = dump::file_key(&self.parts.home);
        if self.dump_seen.as_ref().map(|(k, _)| k) != Some(&key) {
            let digest = dump::load(&self.parts.home).ok().map(|l| l.dump.digest());
            self.dump_seen = Some((key, digest));
        }
        let saved = self.dump_seen.as_ref().and_then(|(_, d)| *d);
        let synchronized = match saved {
            Some(d) => d == snapshot::digest_with(&self.reg, &mut self.spec_hashes),
            None => self.reg.apps().is_empty(),
        };
        fail_or(to_json(&SavedReply {
            dump: saved.is_some(),
            synchronized,
        }))
    }

    /// `resurrect`: bring the saved set back. An app whose name is registered is skipped
    /// (a second resurrect adds nothing); the others are registered with their saved ids
    /// when free, their instances started (saved running), held stopped, or marked
    /// `errored` (saved errored: not restarted); the groups whose members all came back
    /// are rebuilt (all members running: started by the group in declared order; else
    /// each member's running instances started in that order). With `update_env`, the
    /// inherited layer is `env` and each `env_file` is read again. An app that cannot be
    /// restored (it no longer validates here) is left out with a warning; one whose spawn
    /// fails stays registered, `errored`, with a warning.
    ///
    /// Errors: `not_found` when there is no saved list, or neither `dump.ron` nor
    /// `dump.ron.bak` can be read (naming both); `conflict` during a shutdown.
    pub(in crate::root) fn resurrect(
        &mut self,
        update_env: bool,
        env: Option<std::collections::BTreeMap<String, String>>,
        ctx: &mut Context<Self>,
    ) -> Answer {
        if self.stopping {
            return fail(shutting_down());
        }
        let home = &self.parts.home;
        let loaded = match dump::load(home) {
            Ok(l) => l,
            Err(LoadError::Missing) => {
                return fail(ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "no saved process list: {} does not exist (`pmx save` writes it)",
                        home.dump().display()
                    ),
                ))
            }
            Err(LoadError::Unreadable(e)) => {
                return fail(ApiError::new(
                    ErrorCode::NotFound,
                    format!("cannot read the saved process list: {e}"),
                ))
            }
        };
        let mut warnings: Vec<String> = loaded.warning.iter().cloned().collect();
        if let Some(w) = &loaded.warning {
            tracing::warn!("resurrect: {w}");
        }
        let environments = loaded.dump.shared_environments();
        // `pmx web` comes back as saved, with the token its file still holds (unless
        // this daemon serves already: what runs is kept, as a registered app is).
        if let Some(setting) = loaded.dump.web.clone().filter(|_| self.web.is_none()) {
            let listen = setting.listen.clone();
            if let Err(e) = self.serve_web(setting, TokenSource::Kept, None, ctx) {
                warnings.push(format!(
                    "web service on {listen} not restored: {}",
                    e.message
                ));
            }
        }
        let asked = env.filter(|_| update_env).map(Arc::new);
        let mut skipped = Vec::new();
        let mut created: Vec<(String, Addr<AppSup>, Plan)> = Vec::new();
        for saved in loaded.dump.apps {
            let name = saved.spec.app.name.clone();
            if self.reg.app(&name).is_some() {
                skipped.push(name);
                continue;
            }
            let mut spec = saved.spec;
            spec.env.inherited = match &asked {
                Some(e) => e.clone(),
                None => environments
                    .get(saved.inherited)
                    .cloned()
                    .unwrap_or_default(),
            };
            if update_env {
                reread_env_file(&mut spec, &mut warnings);
            }
            if let Err(e) = validate_specs(std::slice::from_ref(&spec), &[]) {
                warnings.push(format!("app \"{name}\" not restored: {e}"));
                continue;
            }
            let addr = self.create_keeping(spec, &saved.ids, ctx);
            let count = self.reg.app(&name).map_or(0, |a| a.ids.len());
            created.push((name, addr, plan(count, &saved.status)));
        }
        let made: BTreeSet<String> = created.iter().map(|(n, _, _)| n.clone()).collect();
        let mut grouped = BTreeSet::new();
        let mut sequences = Vec::new();
        for g in loaded.dump.groups {
            let decl = g.group;
            if self.reg.group(&decl.name).is_some() {
                // Its members were skipped with it; one restored now stays outside it.
                if decl.apps.iter().any(|m| made.contains(m)) {
                    warnings.push(format!(
                        "group \"{}\" not restored: a group of that name exists",
                        decl.name
                    ));
                }
                continue;
            }
            if let Some(m) = decl.apps.iter().find(|m| !made.contains(*m)) {
                warnings.push(format!(
                    "group \"{}\" not restored: its member \"{m}\" was not restored by this resurrect",
                    decl.name
                ));
                continue;
            }
            let specs: Vec<AppSpec> = decl
                .apps
                .iter()
                .filter_map(|m| self.reg.app(m).map(|a| (*a.spec).clone()))
                .collect();
            if let Err(e) = validate_specs(&specs, std::slice::from_ref(&decl)) {
                warnings.push(format!("group \"{}\" not restored: {e}", decl.name));
                continue;
            }
            let members: Vec<(Addr<AppSup>, Plan)> = decl
                .apps
                .iter()
                .filter_map(|m| created.iter().find(|(n, _, _)| n == m))
                .map(|(_, addr, p)| (addr.clone(), p.clone()))
                .collect();
            let all_running = members
                .iter()
                .all(|(_, p)| p.stopped.is_empty() && p.errored.is_empty());
            let first = if all_running { Op::Start } else { Op::Reset };
            let Some(built) = self.attach_group(&decl, g.source.as_deref(), first, ctx) else {
                warnings.push(format!("group \"{}\" not restored", decl.name));
                continue;
            };
            grouped.extend(decl.apps.iter().cloned());
            sequences.push(Box::pin(async move {
                let _ = built.await;
                if all_running {
                    return;
                }
                // In declared order, each member's running instances spawned before the
                // next member's, as the group itself starts them.
                for (addr, p) in members {
                    p.send(&addr).await;
                }
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
        }
        for (name, addr, p) in &created {
            if grouped.contains(name) {
                continue;
            }
            // Sent now: every app outside a group comes up at once.
            sequences.push(Box::pin(p.clone().send(addr)));
        }
        let probes: Vec<(String, Addr<AppSup>)> = created
            .iter()
            .map(|(n, a, _)| (n.clone(), a.clone()))
            .collect();
        let file = loaded.file;
        let work = self.unless_shutdown(async move {
            // Every first message is queued already (each app's mailbox in order);
            // the awaits only wait for their answers.
            for s in sequences {
                s.await;
            }
            for (name, addr) in probes {
                let errors = addr.send(SpawnErrors).await.unwrap_or_default();
                if let Some(e) = errors.into_iter().next() {
                    warnings.push(format!("app \"{name}\": {e}"));
                }
            }
            (warnings, skipped)
        });
        Box::pin(work.into_actor(self).map(move |res, act, _| {
            // As for `start`: a shutdown overtook it (None: at once).
            let Some((warnings, skipped)) = res else {
                return Err(shutting_down());
            };
            if act.stopping {
                return Err(shutting_down());
            }
            for w in &warnings {
                tracing::warn!("resurrect: {w}");
            }
            let processes = act
                .reg
                .list()
                .into_iter()
                .filter(|r| made.contains(&r.name))
                .collect();
            to_json(&ResurrectReply {
                file,
                warnings,
                skipped,
                processes,
            })
        }))
    }
}

/// A synchronous answer as an [`Answer`].
fn fail_or(r: Result<Box<serde_json::value::RawValue>, ApiError>) -> Answer {
    Box::pin(fut::ready(r))
}

/// `--update-env`: `spec`'s `env_file` read again (as `restart --update-env` does); a
/// file that cannot be read keeps the saved layer, with a warning.
fn reread_env_file(spec: &mut AppSpec, warnings: &mut Vec<String>) {
    let Some(path) = &spec.app.env_file else {
        return;
    };
    match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| pmx_config::parse_dotenv(&t))
    {
        Ok(vars) => spec.env.env_file = vars.into_iter().collect(),
        Err(e) => warnings.push(format!(
            "app \"{}\": {}: {e}; its saved env_file layer is kept",
            spec.app.name,
            path.display()
        )),
    }
}

/// What one restored app's instances are brought back as, by instance number.
#[derive(Clone)]
struct Plan {
    running: Vec<u32>,
    stopped: Vec<u32>,
    errored: Vec<u32>,
}

/// Each of `count` instances' saved status (an instance past the saved ones, `Max` on
/// a machine with more cpus, takes the first instance's).
fn plan(count: usize, saved: &[SavedStatus]) -> Plan {
    let mut p = Plan {
        running: Vec::new(),
        stopped: Vec::new(),
        errored: Vec::new(),
    };
    let default = saved.first().copied().unwrap_or(SavedStatus::Running);
    for n in 0..count {
        let s = saved.get(n).copied().unwrap_or(default);
        match s {
            SavedStatus::Running => p.running.push(n as u32),
            SavedStatus::Stopped => p.stopped.push(n as u32),
            SavedStatus::Errored => p.errored.push(n as u32),
        }
    }
    p
}

impl Plan {
    /// Bring one app's instances back: its running ones started (with none, its rows
    /// registered by a `Reset`), its stopped ones stopped (held down, as a `pmx stop`
    /// leaves them: a group's restart does not start them), its errored ones marked.
    /// Every message is queued at once, in that order.
    fn send(self, addr: &Addr<AppSup>) -> impl std::future::Future<Output = ()> {
        let some = |op: Op, instances: Vec<u32>| Command {
            op,
            instances: Some(instances),
            replace: None,
            ids: None,
        };
        let mut sent = vec![if self.running.is_empty() {
            addr.send(Command::all(Op::Reset))
        } else {
            addr.send(some(Op::Start, self.running))
        }];
        if !self.stopped.is_empty() {
            sent.push(addr.send(some(Op::Stop, self.stopped)));
        }
        if !self.errored.is_empty() {
            sent.push(addr.send(some(
                Op::MarkErrored(ERRORED_WHEN_SAVED.into()),
                self.errored,
            )));
        }
        async move {
            for s in sent {
                let _ = s.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_instance_comes_back_as_saved_and_extra_ones_as_the_first() {
        use SavedStatus::*;
        type Case = (usize, &'static [SavedStatus], [&'static [u32]; 3]);
        let cases: [Case; 4] = [
            (2, &[Running, Stopped], [&[0], &[1], &[]]),
            (3, &[Errored], [&[], &[], &[0, 1, 2]]),
            (1, &[Stopped, Running], [&[], &[0], &[]]),
            (2, &[], [&[0, 1], &[], &[]]),
        ];
        for (count, saved, [running, stopped, errored]) in cases {
            let p = plan(count, saved);
            assert_eq!(
                (
                    p.running.as_slice(),
                    p.stopped.as_slice(),
                    p.errored.as_slice()
                ),
                (running, stopped, errored),
                "{count} {saved:?}"
            );
        }
    }
}
