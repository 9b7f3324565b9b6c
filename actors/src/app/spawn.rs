//! How an App supervisor gets processes: the spawner seam (what it asks of a Process
//! actor, so tests can record it instead of spawning), the environment an instance gets,
//! and the prepared `SpawnSpec` cache that keeps the respawn path free of rebuilding it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use nix::sys::signal::Signal;

use super::AppSup;
use crate::home::HomeTag;
use crate::os::{SpawnSpec, MARKER_VAR};
use crate::process::{Process, ProcessParts, Promote, SendSignal, Spawn, Terminate};

/// What the App supervisor asks of one instance's process. The Process actor
/// (`Addr<Process>`) is the real one; a test records the calls and answers with
/// `Spawned`/`ChildExited` messages of its own.
pub trait ProcessPort {
    /// Spawn a main process (answered by `Spawned` to the supervisor).
    fn spawn(&self, msg: Spawn);
    /// Stop a tree (answered by `ChildExited` once it is gone).
    fn terminate(&self, msg: Terminate);
    /// The process takes its instance over (a reload's replacement): its pid file.
    fn promote(&self);
    /// Take over a process an earlier daemon spawned (answered by `Spawned`).
    fn adopt(&self, msg: crate::process::Adopt);
    /// Send a signal to the main process; errors say why it could not be sent.
    fn signal(&self, sig: Signal) -> Pin<Box<dyn Future<Output = Result<(), String>>>>;
}

/// Where an App supervisor's processes come from.
pub trait Spawner {
    /// A process side for one instance, reporting to the parents named in `parts`.
    fn process(&self, parts: ProcessParts) -> Box<dyn ProcessPort>;
}

/// The real spawner: a Process actor per spawn (per generation of an instance).
pub struct Actors;

impl Spawner for Actors {
    fn process(&self, parts: ProcessParts) -> Box<dyn ProcessPort> {
        Box::new(Process::new(parts).start())
    }
}

impl ProcessPort for Addr<Process> {
    fn spawn(&self, msg: Spawn) {
        self.do_send(msg);
    }
    fn terminate(&self, msg: Terminate) {
        self.do_send(msg);
    }
    fn promote(&self) {
        self.do_send(Promote);
    }
    fn adopt(&self, msg: crate::process::Adopt) {
        self.do_send(msg);
    }
    fn signal(&self, sig: Signal) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
        let reply = self.send(SendSignal(sig));
        // A Process actor stops once its tree is gone: its closed mailbox means the
        // process exited before the signal reached it, never an error to show as such.
        Box::pin(async move {
            reply
                .await
                .map_err(|_| "its process exited before the signal was sent".to_string())?
        })
    }
}

/// Whether a spawn that failed with `errno` failed for want of resources that may come
/// back: descriptors (EMFILE, ENFILE) or processes and memory for a clone (EAGAIN). Such
/// a spawn is tried again with a backoff (`supervision::instance::SPAWN_RETRY_INITIAL_MS`)
/// instead of leaving the instance `errored` for good.
pub fn short_of_resources(errno: Option<i32>) -> bool {
    use nix::errno::Errno;
    matches!(
        errno.map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE | Errno::EAGAIN)
    )
}

/// The value of `key` in an app's environment layers, the highest that sets it (`envs`,
/// `env`, `env_file`, then the inherited environment), without merging them.
fn layered<'a>(env: &'a crate::protocol::EnvLayers, key: &str) -> Option<&'a str> {
    [&env.envs, &env.env, &env.env_file, &*env.inherited]
        .into_iter()
        .find_map(|layer| layer.get(key))
        .map(String::as_str)
}

/// What instance `k` gets in its `increment_var` when the app's value is `base` (PM2 7's
/// `injectVariables`: `Number(base) || 0`, then + k per instance): an integer base
/// (surrounding blanks allowed) + k; no value, or one that is not an integer (`"abc"`,
/// `"3000.5"`), counts as 0, so instance k gets k.
pub fn increment_value(base: Option<&str>, k: u32) -> String {
    let base = base
        .and_then(|b| b.trim().parse::<i128>().ok())
        .unwrap_or(0);
    (base + i128::from(k)).to_string()
}

/// Whom an app runs as: what [`resolve_user`] makes of its `uid`/`gid`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunAs {
    /// setuid to this (None: the daemon's own).
    pub uid: Option<u32>,
    /// setgid to this (None: the daemon's own).
    pub gid: Option<u32>,
    /// The supplementary groups (setgroups): the user's own (initgroups, as `su` and
    /// `runuser` give them) when a user with a passwd entry is named, else none at all
    /// (the daemon's, root's, are never kept). None when neither field is set.
    pub groups: Option<Vec<u32>>,
}

/// Whom the app with `uid`/`gid` (names or numbers, as written) runs as. A named user
/// brings its primary group (unless `gid` names another) and its supplementary groups,
/// as `su`/`runuser` do: `uid: "nobody"` runs with gid 65534, not the daemon's gid 0.
/// A number with no passwd entry is taken as is, but then needs `gid` (there is no
/// primary group to take, and the daemon's is root's).
///
/// Errors (PM2 refuses too, "User nosuchuser cannot be found"): a user or group that does
/// not exist; a numeric uid with no passwd entry and no `gid`; the group list unreadable.
/// Each message names the field.
pub fn resolve_user(uid: Option<&str>, gid: Option<&str>) -> Result<RunAs, String> {
    let group = match gid {
        None => None,
        Some(g) => Some(match nix::unistd::Group::from_name(g) {
            Ok(Some(e)) => e.gid.as_raw(),
            Ok(None) => g
                .parse::<u32>()
                .map_err(|_| format!("gid: group {g:?} cannot be found"))?,
            Err(e) => return Err(format!("gid: cannot look group {g:?} up: {e}")),
        }),
    };
    let Some(u) = uid else {
        return Ok(RunAs {
            uid: None,
            gid: group,
            groups: group.map(|_| Vec::new()),
        });
    };
    let entry = match nix::unistd::User::from_name(u) {
        Ok(Some(e)) => Some(e),
        Ok(None) => match u.parse::<u32>() {
            Ok(n) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(n))
                .map_err(|e| format!("uid: cannot look uid {n} up: {e}"))?,
            Err(_) => return Err(format!("uid: user {u:?} cannot be found")),
        },
        Err(e) => return Err(format!("uid: cannot look user {u:?} up: {e}")),
    };
    match entry {
        Some(e) => {
            let primary = group.unwrap_or(e.gid.as_raw());
            let name = std::ffi::CString::new(e.name.as_bytes())
                .map_err(|_| format!("uid: user {u:?} has a NUL in its name"))?;
            let groups = nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(primary))
                .map_err(|err| format!("uid: cannot read the groups of {u:?}: {err}"))?;
            Ok(RunAs {
                uid: Some(e.uid.as_raw()),
                gid: Some(primary),
                groups: Some(groups.into_iter().map(|g| g.as_raw()).collect()),
            })
        }
        None => {
            let n = u.parse::<u32>().unwrap_or_default();
            let Some(g) = group else {
                return Err(format!(
                    "uid: uid {n} has no passwd entry, so no group to run with: set gid too"
                ));
            };
            Ok(RunAs {
                uid: Some(n),
                gid: Some(g),
                groups: Some(Vec::new()),
            })
        }
    }
}

/// The user an app with `uid` (as written) runs as, for `list`: the passwd name of a
/// number when it has one, the name as written otherwise.
pub(super) fn shown_user(uid: &str) -> String {
    match uid.parse::<u32>() {
        Ok(n) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(n))
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |e| e.name),
        Err(_) => uid.to_string(),
    }
}

impl AppSup {
    /// The tree marker of the process `generation` of instance id `id`
    /// (`<home tag>:<id>:<generation>`), in its environment.
    pub(super) fn marker(&self, id: u64, generation: u64) -> String {
        format!("{}:{id}:{generation}", self.parts.shared.home.tag())
    }

    /// The environment the instance at slot `i` gets: the layers merged, then what pmx
    /// injects (`PMX_ID` and PM2's `pm_id`, the name, the instance number, the marker of
    /// its current generation; the prepared spawn's marker is swapped per process).
    pub(super) fn env_for(&self, i: usize) -> BTreeMap<String, String> {
        let mut env = self.parts.spec.env.merged();
        env.extend(self.own_env(i));
        env
    }

    /// Slot `i`'s `increment_var` and its value (the app's base value + the instance
    /// number, [`increment_value`]); None when the app has no `increment_var`.
    pub(super) fn incremented(&self, i: usize) -> Option<(String, String)> {
        let spec = &self.parts.spec;
        let var = spec.app.increment_var.as_ref()?;
        let base = layered(&spec.env, var);
        Some((var.clone(), increment_value(base, self.slots[i].idx)))
    }

    /// What slot `i`'s environment has over the inherited layer: the app's own layers
    /// (`env_file`, `env`, `envs`) and what pmx injects. The spawn lays it over the
    /// inherited layer, prepared once for every app of the same shell.
    fn own_env(&self, i: usize) -> BTreeMap<String, String> {
        let mut env = self.parts.spec.env.overlay();
        env.extend(self.incremented(i));
        env.extend(self.injected_env(i));
        if self.parts.spec.app.wait_ready {
            // sd_notify's socket (SPEC §5): prepared with the spawn, nothing per process.
            env.insert(
                crate::readiness::NOTIFY_VAR.into(),
                crate::readiness::socket_env(&self.parts.shared.home),
            );
        }
        env
    }

    /// The variables pmx sets in slot `i`'s processes (SPEC §4).
    fn injected_env(&self, i: usize) -> [(String, String); 6] {
        let s = &self.slots[i];
        let app = &self.parts.spec.app;
        [
            ("PMX_ID".into(), s.id.to_string()),
            // Apps written for PM2 read their id from `pm_id`.
            ("pm_id".into(), s.id.to_string()),
            ("PMX_APP_NAME".into(), app.name.clone()),
            ("PMX_INSTANCE".into(), s.idx.to_string()),
            (app.instance_var.clone(), s.idx.to_string()),
            (MARKER_VAR.into(), self.marker(s.id, s.fsm.generation)),
        ]
    }

    /// Slot `i`'s prepared spawn: built on its first start and after a spec change,
    /// reused by every restart in between (no environment rebuilt on the respawn path).
    /// The app's listening sockets, bound once (at the first spawn that needs them) and
    /// shared by every instance; None when its `listen` is empty.
    ///
    /// Errors: an address that cannot be bound (the spawn fails with it).
    pub(super) fn listen_sockets(
        &mut self,
    ) -> std::io::Result<Option<Arc<crate::os::listen::ListenSockets>>> {
        let app = &self.parts.spec.app;
        if app.listen.is_empty() {
            return Ok(None);
        }
        if self.listen.is_none() {
            let bound = crate::os::listen::ListenSockets::bind(&app.listen, &app.name)?;
            tracing::info!("app {}: listening on {}", app.name, app.listen.join(", "));
            crate::fdstore::store(&format!("l:{}", app.name), &bound.fds());
            self.listen = Some(Arc::new(bound));
        }
        Ok(self.listen.clone())
    }

    pub(super) fn spawn_spec(&mut self, i: usize) -> std::io::Result<Arc<SpawnSpec>> {
        if let Some(s) = &self.slots[i].spawn {
            return Ok(s.clone());
        }
        let env = self.own_env(i);
        let spec = &self.parts.spec;
        // Checked by the Root's validation; a user deleted since fails the spawn here
        // rather than running the app as root.
        let who = resolve_user(spec.app.uid.as_deref(), spec.app.gid.as_deref())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e))?;
        let s = Arc::new(
            SpawnSpec::new(
                &spec.program,
                &spec.args,
                &spec.cwd,
                &env,
                self.parts.shared.nofile,
                who.uid,
                who.gid,
            )?
            .with_inherited(&spec.env.inherited)?
            .with_groups(who.groups),
        );
        self.slots[i].spawn = Some(s.clone());
        Ok(s)
    }

    /// A process side for the process `generation` of the slot keyed `key` (instance id
    /// `id`), reporting to this actor under that key: one per spawn.
    pub(super) fn new_process(
        &self,
        key: u32,
        id: u64,
        generation: u64,
        ctx: &mut Context<Self>,
    ) -> Box<dyn ProcessPort> {
        self.spawner.process(ProcessParts {
            id,
            instance: key,
            generation,
            marker: self.marker(id, generation),
            pid_file: self
                .parts
                .shared
                .home
                .pids()
                .join(format!("{}-{id}.pid", self.parts.spec.app.name)),
            parent_exit: ctx.address().recipient(),
            parent_spawned: ctx.address().recipient(),
            parent_main_exited: ctx.address().recipient(),
            pids: self.parts.shared.pids.clone(),
            log_arbiter: self.parts.shared.log_arbiter.clone(),
            node: self.node_link(ctx),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nobody` (uid 65534) exists on every Linux; its groups as the system lists them.
    fn nobody() -> (u32, Vec<u32>) {
        let e = nix::unistd::User::from_name("nobody")
            .ok()
            .flatten()
            .expect("a nobody user");
        let name = std::ffi::CString::new(e.name).expect("a name");
        let groups = nix::unistd::getgrouplist(&name, e.gid).expect("its groups");
        (
            e.gid.as_raw(),
            groups.into_iter().map(|g| g.as_raw()).collect(),
        )
    }

    #[test]
    fn increment_var_is_the_base_plus_the_instance_number_as_in_pm2() {
        let cases = [
            (Some("3000"), 0, "3000"),
            (Some("3000"), 3, "3003"),
            (Some(" 8080 "), 1, "8081"),
            (Some("-5"), 2, "-3"),
            (None, 0, "0"),
            (None, 2, "2"),
            (Some("abc"), 1, "1"),
            (Some(""), 1, "1"),
            (Some("3000.5"), 1, "1"),
            (Some("9223372036854775807"), 1, "9223372036854775808"),
        ];
        for (base, k, want) in cases {
            assert_eq!(increment_value(base, k), want, "{base:?} + {k}");
        }
    }

    #[test]
    fn the_base_comes_from_the_highest_layer_that_sets_it() {
        let mut env = crate::protocol::EnvLayers {
            inherited: Arc::new(BTreeMap::from([("PORT".into(), "1000".into())])),
            ..Default::default()
        };
        assert_eq!(layered(&env, "PORT"), Some("1000"));
        env.env_file.insert("PORT".into(), "2000".into());
        assert_eq!(layered(&env, "PORT"), Some("2000"));
        env.env.insert("PORT".into(), "3000".into());
        assert_eq!(layered(&env, "PORT"), Some("3000"));
        env.envs.insert("PORT".into(), "4000".into());
        assert_eq!(layered(&env, "PORT"), Some("4000"));
        assert_eq!(layered(&env, "NOPE"), None);
    }

    #[test]
    fn users_and_groups_resolve_as_su_does_or_are_refused() {
        let (primary, groups) = nobody();
        let run_as = |uid, gid, groups| RunAs { uid, gid, groups };
        /// (uid, gid, what they resolve to or the start of the refusal).
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<RunAs, &'a str>);
        let cases: Vec<Case> = vec![
            (None, None, Ok(RunAs::default())),
            (
                Some("nobody"),
                None,
                Ok(run_as(Some(65534), Some(primary), Some(groups.clone()))),
            ),
            (
                Some("65534"),
                None,
                Ok(run_as(Some(65534), Some(primary), Some(groups.clone()))),
            ),
            (Some("nosuchuser"), None, Err("uid: user \"nosuchuser\"")),
            (None, Some("nosuchgroup"), Err("gid: group \"nosuchgroup\"")),
            (
                Some("nobody"),
                Some("nosuchgroup"),
                Err("gid: group \"nosuchgroup\""),
            ),
            // A gid alone: root's supplementary groups are dropped all the same.
            (None, Some("0"), Ok(run_as(None, Some(0), Some(vec![])))),
            // A uid with no passwd entry has no primary group: the daemon's is root's.
            (
                Some("3999999"),
                None,
                Err("uid: uid 3999999 has no passwd entry"),
            ),
            (
                Some("3999999"),
                Some("65534"),
                Ok(run_as(Some(3999999), Some(65534), Some(vec![]))),
            ),
        ];
        for (uid, gid, want) in cases {
            let got = resolve_user(uid, gid);
            match want {
                Ok(w) => assert_eq!(got, Ok(w), "{uid:?} {gid:?}"),
                Err(prefix) => {
                    let e = got.expect_err("refused");
                    assert!(e.starts_with(prefix), "{uid:?} {gid:?}: {e}");
                }
            }
        }
        // An explicit gid wins over the user's primary group and joins the
        // supplementary list, as initgroups(user, gid) does.
        let r = resolve_user(Some("nobody"), Some("0")).expect("nobody:root");
        assert_eq!((r.uid, r.gid), (Some(65534), Some(0)));
        assert!(r.groups.is_some_and(|g| g.contains(&0)));
    }
}
