//! The Root's registry: the apps (name, ids, spec, supervisor), the groups (name,
//! members, declaration, origin, supervisor) and the `list` rows the App supervisors
//! report. It allocates ids (integers from 0, never reused while the daemon lives) and
//! resolves targets. Every change of the declared state goes through one mutation API
//! ([`Registry::insert_app`], [`Registry::replace_spec`], [`Registry::remove_apps`],
//! [`Registry::insert_group`], [`Registry::remove_group`]), which calls the change hook
//! after each mutation, so what must follow every change (`pmx.log` today, an auto-save of
//! the process list later) hangs on one place.
//!
//! It holds no actix: the supervisors are opaque handles (`A` for an app, `G` for a group;
//! `Addr`s in the daemon, `()` in tests), so it is tested as plain data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::targets;
use crate::app::{instance_count, with_uptime, Row};
use crate::protocol::{ApiError, AppSpec, ErrorCode, ProcessInfo, Status};

/// One app as the Root knows it.
#[derive(Debug)]
pub struct AppEntry<A> {
    /// Its name (unique).
    pub name: String,
    /// Its instances' ids, one per instance number 0..N-1.
    pub ids: Vec<u64>,
    /// Its App supervisor.
    pub handle: A,
    /// The spec it runs.
    pub spec: Arc<AppSpec>,
}

/// A supervision group as declared and sent (`UpRequest::groups`, `StartRequest::groups`):
/// the one name for its type in the Root, so a change of the wire type is one line.
pub type GroupDecl = crate::protocol::Group;

/// One supervision group as the Root knows it.
#[derive(Debug)]
pub struct GroupEntry<G> {
    /// Its name (unique among groups).
    pub name: String,
    /// Its Group supervisor.
    pub handle: G,
    /// Member app names, declared order.
    pub members: Vec<String>,
    /// As declared, for `up`'s comparison.
    pub spec: GroupDecl,
    /// The ecosystem file it came from (the scope of `up`'s dissolving).
    pub source: Option<PathBuf>,
}

/// What a mutation changed: handed to the change hook after the change is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new app, with the ids granted to its instances.
    AppAdded {
        /// The app.
        name: String,
        /// Its ids, one per instance number.
        ids: Vec<u64>,
    },
    /// An app now runs another spec; `ids` is `Some` (its whole id list after the change)
    /// when the instance count changed and ids were granted or dropped.
    SpecReplaced {
        /// The app.
        name: String,
        /// Its ids after the change, when they changed.
        ids: Option<Vec<u64>>,
    },
    /// An app took another name (`pmx restart app --name new`); its ids and spec's other
    /// fields are unchanged by this step.
    AppRenamed {
        /// The name it had.
        from: String,
        /// The name it has.
        to: String,
    },
    /// An app was forgotten (deleted).
    AppRemoved {
        /// The app.
        name: String,
    },
    /// A group was registered (built).
    GroupAdded {
        /// The group.
        name: String,
    },
    /// A group was forgotten (rebuilt, dissolved, or none of its members is left).
    GroupRemoved {
        /// The group.
        name: String,
    },
}

/// Called after every mutation of the declared state, with what changed.
pub type Hook = Box<dyn FnMut(&Change)>;

/// The apps a target selects, each with the instance numbers selected (None: all), as
/// indexes into [`Registry::apps`]; valid until the next mutation.
pub type Selection = Vec<(usize, Option<Vec<u32>>)>;

/// The apps, the groups, their rows, the next id.
pub struct Registry<A, G> {
    apps: Vec<AppEntry<A>>,
    groups: Vec<GroupEntry<G>>,
    /// The rows each App supervisor last reported, by app name.
    rows: BTreeMap<String, Vec<Row>>,
    next_id: u64,
    /// Ids below `next_id` never granted: skipped over when a resurrected app kept its
    /// saved ids ([`Registry::insert_app_keeping`]), so still free for a later one.
    spare: BTreeSet<u64>,
    hook: Option<Hook>,
}

impl<A, G> Default for Registry<A, G> {
    fn default() -> Self {
        Registry {
            apps: Vec::new(),
            groups: Vec::new(),
            rows: BTreeMap::new(),
            next_id: 0,
            spare: BTreeSet::new(),
            hook: None,
        }
    }
}

/// The error of a target that selects nothing.
pub fn not_found(target: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no process or namespace named \"{target}\""),
    )
}

impl<A: Clone, G> Registry<A, G> {
    /// An empty registry; ids start at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Call `hook` after every mutation from now on (replacing the previous one).
    pub fn set_hook(&mut self, hook: Hook) {
        self.hook = Some(hook);
    }

    fn changed(&mut self, change: Change) {
        if let Some(hook) = self.hook.as_mut() {
            hook(&change);
        }
    }

    // ---- queries -------------------------------------------------------------------

    /// Every app, in the order they were added.
    pub fn apps(&self) -> &[AppEntry<A>] {
        &self.apps
    }

    /// Every group, in the order they were built.
    pub fn groups(&self) -> &[GroupEntry<G>] {
        &self.groups
    }

    /// The index of the app named `name` in [`Registry::apps`].
    pub fn position(&self, name: &str) -> Option<usize> {
        self.apps.iter().position(|a| a.name == name)
    }

    /// The app named `name`.
    pub fn app(&self, name: &str) -> Option<&AppEntry<A>> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&GroupEntry<G>> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Whether some instance of the app named `name` is `stopped` or `errored`, as its
    /// supervisor last reported.
    pub fn is_down(&self, name: &str) -> bool {
        self.rows.get(name).is_some_and(|rows| {
            rows.iter()
                .any(|r| matches!(r.info.status, Status::Stopped | Status::Errored))
        })
    }

    /// The rows the App supervisor of `name` last reported, in no particular order
    /// (empty before its first report).
    pub fn rows_of(&self, name: &str) -> &[Row] {
        self.rows.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// `base` if no app has that name, else the first free `base-1`, `base-2`, … (the
    /// name of a copy started with `-f`).
    pub fn unique_name(&self, base: &str) -> String {
        if self.position(base).is_none() {
            return base.to_string();
        }
        let mut k = 1;
        while self.position(&format!("{base}-{k}")).is_some() {
            k += 1;
        }
        format!("{base}-{k}")
    }

    /// Every instance's outcome, by id (what a foreground runtime judges its end by).
    pub fn census(&self) -> crate::foreground::Census {
        crate::foreground::Census {
            instances: self
                .rows
                .values()
                .flatten()
                .map(|r| {
                    (
                        r.info.id,
                        crate::foreground::Counted {
                            app: r.info.name.clone(),
                            outcome: r.outcome,
                            generation: r.generation,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Every row, by id, with uptimes computed now.
    pub fn list(&self) -> Vec<ProcessInfo> {
        let mut out: Vec<ProcessInfo> = self
            .rows
            .values()
            .flatten()
            .map(|r| with_uptime(r.info.clone(), r.started))
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    /// The apps (and instances) a target selects: `all` (every app, possibly none), an
    /// id (that instance), a `/regex/` (the apps whose name it matches, PM2's form), a
    /// name, a group (its members), a namespace, or an absolute script path (the apps
    /// started from that script, PM2's `pm_exec_path` match; see [`super::targets`]).
    ///
    /// Errors: `not_found` when it selects nothing (but `all`); `bad_request` for a
    /// `/regex/` that does not compile.
    pub fn resolve(&self, target: &str) -> Result<Selection, ApiError> {
        if target == "all" {
            return Ok((0..self.apps.len()).map(|i| (i, None)).collect());
        }
        if let Some(pattern) = targets::regex_of(target) {
            let re = targets::name_matcher(target, pattern)?;
            let sel = self.select(|a| re.is_match(&a.name));
            if sel.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("no process found: no name matches {target}"),
                ));
            }
            return Ok(sel);
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
        if let Some(i) = self.position(target) {
            return Ok(vec![(i, None)]);
        }
        if let Some(g) = self.group(target) {
            return Ok(g
                .members
                .iter()
                .filter_map(|m| self.position(m))
                .map(|i| (i, None))
                .collect());
        }
        let in_ns = self.select(|a| a.spec.app.namespace == target);
        if !in_ns.is_empty() {
            return Ok(in_ns);
        }
        if targets::is_script_path(target) {
            let running = self.select(|a| targets::runs_script(&a.spec, target));
            if !running.is_empty() {
                return Ok(running);
            }
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no process runs the script {target}"),
            ));
        }
        Err(not_found(target))
    }

    /// Every app (whole) for which `pick` holds, in the order they were added.
    fn select(&self, pick: impl Fn(&AppEntry<A>) -> bool) -> Selection {
        self.apps
            .iter()
            .enumerate()
            .filter(|(_, a)| pick(a))
            .map(|(i, _)| (i, None))
            .collect()
    }

    // ---- mutations (each calls the hook) ---------------------------------------------

    /// Grant the next `count` ids.
    fn grant(&mut self, count: usize) -> Vec<u64> {
        let ids = (self.next_id..self.next_id + count as u64).collect();
        self.next_id += count as u64;
        ids
    }

    /// Register a new app (its name must be free: see [`Registry::unique_name`]): grant
    /// its instances the next ids, then `start` its supervisor from the spec and the ids.
    /// Answers the supervisor.
    pub fn insert_app(
        &mut self,
        spec: AppSpec,
        start: impl FnOnce(Arc<AppSpec>, Vec<u64>) -> A,
    ) -> A {
        let ids = self.grant(instance_count(&spec.app.instances) as usize);
        self.insert_app_with(spec, ids, start)
    }

    /// Register a new app whose instances have `ids`.
    fn insert_app_with(
        &mut self,
        mut spec: AppSpec,
        ids: Vec<u64>,
        start: impl FnOnce(Arc<AppSpec>, Vec<u64>) -> A,
    ) -> A {
        // Apps started by one command share its environment: keep that map once.
        if let Some(last) = self.apps.last() {
            if last.spec.env.inherited == spec.env.inherited {
                spec.env.inherited = last.spec.env.inherited.clone();
            }
        }
        let spec = Arc::new(spec);
        let handle = start(spec.clone(), ids.clone());
        let name = spec.app.name.clone();
        self.apps.push(AppEntry {
            name: name.clone(),
            ids: ids.clone(),
            handle: handle.clone(),
            spec,
        });
        self.changed(Change::AppAdded { name, ids });
        handle
    }

    /// [`Registry::insert_app`], keeping the ids `wanted` (one per instance number, as
    /// saved in `dump.ron`) when every one is free: never granted while this daemon lives
    /// (ids are never reused). Otherwise, or when their number is not the spec's count
    /// (`Max` on a machine with other cpus), the next ids are granted as usual.
    pub fn insert_app_keeping(
        &mut self,
        spec: AppSpec,
        wanted: &[u64],
        start: impl FnOnce(Arc<AppSpec>, Vec<u64>) -> A,
    ) -> A {
        let count = instance_count(&spec.app.instances) as usize;
        let unique = wanted.iter().collect::<BTreeSet<_>>().len() == wanted.len();
        let free = |id: &u64| *id >= self.next_id || self.spare.contains(id);
        if wanted.len() != count || !unique || !wanted.iter().all(free) {
            return self.insert_app(spec, start);
        }
        for id in wanted {
            if *id >= self.next_id {
                self.spare.extend(self.next_id..*id);
                self.next_id = id + 1;
            }
            self.spare.remove(id);
        }
        self.insert_app_with(spec, wanted.to_vec(), start)
    }

    /// Register an app an earlier daemon of this home ran (re-adoption), with the ids it
    /// had; ids from then on are granted after `next_id` and after these. The change hook
    /// hears it as an added app.
    pub fn restore_app(
        &mut self,
        spec: AppSpec,
        ids: Vec<u64>,
        next_id: u64,
        start: impl FnOnce(Arc<AppSpec>, Vec<u64>) -> A,
    ) -> A {
        let spec = Arc::new(spec);
        let handle = start(spec.clone(), ids.clone());
        let name = spec.app.name.clone();
        let top = ids.iter().max().map_or(0, |m| m + 1);
        self.next_id = self.next_id.max(next_id).max(top);
        self.apps.push(AppEntry {
            name: name.clone(),
            ids: ids.clone(),
            handle: handle.clone(),
            spec,
        });
        self.changed(Change::AppAdded { name, ids });
        handle
    }

    /// The id the next new instance gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The app named `name` runs `spec` from now on. When the spec's instance count
    /// differs from the app's ids, ids are granted (growth: the next ids, for the next
    /// instance numbers) or dropped (shrink: the highest instance numbers' ids); answers
    /// the app's whole id list then, one per instance number 0..N-1 (what
    /// `app::Command::ids` carries), and None when the count is unchanged or no app has
    /// that name (nothing changes then).
    pub fn replace_spec(&mut self, name: &str, spec: Arc<AppSpec>) -> Option<Vec<u64>> {
        let i = self.position(name)?;
        let want = instance_count(&spec.app.instances) as usize;
        let have = self.apps[i].ids.len();
        let ids = if want > have {
            let more = self.grant(want - have);
            self.apps[i].ids.extend(more);
            Some(self.apps[i].ids.clone())
        } else if want < have {
            self.apps[i].ids.truncate(want);
            Some(self.apps[i].ids.clone())
        } else {
            None
        };
        self.apps[i].spec = spec;
        self.changed(Change::SpecReplaced {
            name: name.to_string(),
            ids: ids.clone(),
        });
        ids
    }

    /// The app named `from` is named `to` from now on (its rows too, until its supervisor
    /// reports them under the new name). The caller checks that `to` is free and valid
    /// and that the app is in no group; answers false (nothing changes) when no app is
    /// named `from` or `to` is taken.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        let Some(i) = self.position(from) else {
            return false;
        };
        if self.position(to).is_some() {
            return false;
        }
        self.apps[i].name = to.to_string();
        if let Some(mut rows) = self.rows.remove(from) {
            for r in &mut rows {
                r.info.name = to.to_string();
            }
            self.rows.insert(to.to_string(), rows);
        }
        self.changed(Change::AppRenamed {
            from: from.to_string(),
            to: to.to_string(),
        });
        true
    }

    /// The app named `name` loses its instances numbered in `numbers` (`pmx delete <id>`
    /// of some of its instances, as PM2 7 deletes one process of an app): their ids are
    /// dropped for good, the others keep theirs, renumbered 0..M-1 in their order, and
    /// its spec's count becomes M. Answers (the new spec, the ids by new number), what
    /// `app::Command` carries for the App supervisor to renumber its table the same way;
    /// None (nothing changes) when no app has that name, or when `numbers` selects none
    /// of its instances or every one of them (that is the app's own delete).
    pub fn remove_instances(
        &mut self,
        name: &str,
        numbers: &[u32],
    ) -> Option<(Arc<AppSpec>, Vec<u64>)> {
        let i = self.position(name)?;
        let app = &self.apps[i];
        let ids: Vec<u64> = app
            .ids
            .iter()
            .enumerate()
            .filter(|(n, _)| !numbers.contains(&(*n as u32)))
            .map(|(_, id)| *id)
            .collect();
        if ids.is_empty() || ids.len() == app.ids.len() {
            return None;
        }
        let mut spec = (*app.spec).clone();
        spec.app.instances = pmx_config::Instances::Count(ids.len() as u32);
        let spec = Arc::new(spec);
        self.apps[i].ids = ids.clone();
        self.apps[i].spec = spec.clone();
        self.changed(Change::SpecReplaced {
            name: name.to_string(),
            ids: Some(ids.clone()),
        });
        Some((spec, ids))
    }

    /// Forget the apps named in `names` (deleted) and their rows, then every group none
    /// of whose members is left.
    pub fn remove_apps(&mut self, names: &BTreeSet<String>) {
        let mut gone = Vec::new();
        self.apps.retain(|a| {
            let keep = !names.contains(&a.name);
            if !keep {
                gone.push(a.name.clone());
            }
            keep
        });
        for name in gone {
            self.rows.remove(&name);
            self.changed(Change::AppRemoved { name });
        }
        let left: BTreeSet<&str> = self.apps.iter().map(|a| a.name.as_str()).collect();
        let (keep, empty): (Vec<_>, Vec<_>) = std::mem::take(&mut self.groups)
            .into_iter()
            .partition(|g| g.members.iter().any(|m| left.contains(m.as_str())));
        self.groups = keep;
        for g in empty {
            self.changed(Change::GroupRemoved { name: g.name });
        }
    }

    /// Register a built group (its name must be free).
    pub fn insert_group(&mut self, entry: GroupEntry<G>) {
        let name = entry.name.clone();
        self.groups.push(entry);
        self.changed(Change::GroupAdded { name });
    }

    /// Forget the group named `name` (rebuilt or dissolved); answers it.
    pub fn remove_group(&mut self, name: &str) -> Option<GroupEntry<G>> {
        let k = self.groups.iter().position(|g| g.name == name)?;
        let entry = self.groups.remove(k);
        self.changed(Change::GroupRemoved {
            name: name.to_string(),
        });
        Some(entry)
    }

    /// Keep the rows the App supervisor of `app` reported (all its rows: an instance
    /// left out is gone from `list`); ignored for an app no longer registered (a late
    /// report of a deleted app). Rows are what the apps observe, not declared state:
    /// the hook is not called. The daemon merges reports instead ([`Registry::merge_rows`]);
    /// tests set whole tables.
    #[cfg(test)]
    pub fn set_rows(&mut self, app: String, rows: Vec<Row>) {
        if self.position(&app).is_some() {
            self.rows.insert(app, rows);
        }
    }

    /// Merge the rows the App supervisor of `app` reported as changed: each replaces the
    /// row of its instance number (or joins), and the rows numbered `count` or more
    /// (instances a shrink dropped) leave `list`. Ignored for an app no longer
    /// registered. Costs the reported rows plus the app's rows, whatever changed.
    pub fn merge_rows(&mut self, app: String, count: usize, rows: Vec<Row>) {
        if self.position(&app).is_none() {
            return;
        }
        let kept = self.rows.entry(app).or_default();
        for row in rows {
            let n = row.info.instance;
            match kept.iter_mut().find(|r| r.info.instance == n) {
                Some(r) => *r = row,
                None => {
                    // Exactly one row per instance: a Vec grown by pushes keeps room
                    // for four rows (~0.7 KiB) per single-instance app.
                    kept.reserve_exact(count.saturating_sub(kept.len()).max(1));
                    kept.push(row);
                }
            }
        }
        kept.retain(|r| (r.info.instance as usize) < count);
        if kept.capacity() > kept.len() * 2 {
            kept.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::fixtures::{self, spec};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn group(name: &str, members: &[&str]) -> GroupEntry<()> {
        GroupEntry {
            name: name.to_string(),
            handle: (),
            members: members.iter().map(|m| m.to_string()).collect(),
            spec: fixtures::group(name, members),
            source: None,
        }
    }

    /// A registry recording every change its hook hears.
    fn recorded() -> (Registry<(), ()>, Rc<RefCell<Vec<Change>>>) {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut reg = Registry::new();
        let log = seen.clone();
        reg.set_hook(Box::new(move |c| log.borrow_mut().push(c.clone())));
        (reg, seen)
    }

    fn names(set: &[&str]) -> BTreeSet<String> {
        set.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ids_count_up_from_zero_and_are_never_reused() {
        let (mut reg, _) = recorded();
        let mut granted = Vec::new();
        reg.insert_app(spec("a", 2), |_, ids| granted.push(ids));
        reg.insert_app(spec("b", 1), |_, ids| granted.push(ids));
        reg.remove_apps(&names(&["b"]));
        reg.insert_app(spec("b", 1), |_, ids| granted.push(ids));
        assert_eq!(granted, [vec![0, 1], vec![2], vec![3]]);
        assert_eq!(reg.app("a").map(|a| a.ids.clone()), Some(vec![0, 1]));
    }

    #[test]
    fn removing_some_instances_keeps_the_others_ids_renumbered() {
        let (mut reg, seen) = recorded();
        reg.insert_app(spec("a", 3), |_, _| ());
        reg.insert_app(spec("b", 1), |_, _| ());
        // (numbers removed, the answer's ids, the ids kept): none, all or a missing app
        // change nothing.
        type Case<'a> = (&'a str, &'a [u32], Option<Vec<u64>>, Vec<u64>);
        let cases: [Case; 5] = [
            ("a", &[], None, vec![0, 1, 2]),
            ("a", &[0, 1, 2], None, vec![0, 1, 2]),
            ("nope", &[0], None, vec![0, 1, 2]),
            ("a", &[1], Some(vec![0, 2]), vec![0, 2]),
            ("a", &[0], Some(vec![2]), vec![2]),
        ];
        for (name, numbers, want, kept) in cases {
            let got = reg.remove_instances(name, numbers);
            assert_eq!(
                got.as_ref().map(|(_, ids)| ids.clone()),
                want,
                "{numbers:?}"
            );
            if let Some((spec, ids)) = got {
                assert_eq!(
                    spec.app.instances,
                    pmx_config::Instances::Count(ids.len() as u32)
                );
            }
            assert_eq!(reg.app("a").map(|a| a.ids.clone()), Some(kept));
        }
        // The numbers now mean the kept instances: id 2 is instance 0; id 0 is gone.
        assert_eq!(reg.resolve("2").ok(), Some(vec![(0, Some(vec![0]))]));
        assert!(reg.resolve("0").is_err());
        assert_eq!(reg.app("b").map(|b| b.ids.clone()), Some(vec![3]));
        let replaced = seen
            .borrow()
            .iter()
            .filter(|c| matches!(c, Change::SpecReplaced { .. }))
            .count();
        assert_eq!(replaced, 2, "one change per removal that removed something");
    }

    #[test]
    fn every_mutation_calls_the_hook_once_after_it() {
        let (mut reg, seen) = recorded();
        reg.insert_app(spec("a", 1), |_, _| ());
        reg.insert_app(spec("b", 1), |_, _| ());
        reg.insert_group(group("g", &["a", "b"]));
        reg.replace_spec("a", Arc::new(spec("a", 1)));
        let old = reg.remove_group("g");
        assert!(old.is_some());
        reg.insert_group(group("g", &["a"]));
        reg.remove_apps(&names(&["a"]));
        let expected = [
            Change::AppAdded {
                name: "a".into(),
                ids: vec![0],
            },
            Change::AppAdded {
                name: "b".into(),
                ids: vec![1],
            },
            Change::GroupAdded { name: "g".into() },
            Change::SpecReplaced {
                name: "a".into(),
                ids: None,
            },
            Change::GroupRemoved { name: "g".into() },
            Change::GroupAdded { name: "g".into() },
            Change::AppRemoved { name: "a".into() },
            // g's only member is gone: the group is forgotten with it.
            Change::GroupRemoved { name: "g".into() },
        ];
        assert_eq!(*seen.borrow(), expected);
        assert!(reg.groups().is_empty());
    }

    #[test]
    fn a_resurrected_app_keeps_its_saved_ids_when_free_and_gets_new_ones_otherwise() {
        let (mut reg, _) = recorded();
        // (spec, wanted ids, ids it gets)
        let cases: [(_, &[u64], &[u64]); 5] = [
            (spec("b", 2), &[5, 9], &[5, 9]),
            (spec("a", 1), &[2], &[2]), // skipped over by b: never granted, free
            (spec("c", 1), &[5], &[10]), // taken by b
            (spec("d", 2), &[11], &[11, 12]), // not one per instance: granted
            (spec("e", 1), &[3], &[3]),
        ];
        for (s, wanted, got) in cases {
            let name = s.app.name.clone();
            reg.insert_app_keeping(s, wanted, |_, _| ());
            assert_eq!(
                reg.app(&name).map(|a| a.ids.clone()),
                Some(got.to_vec()),
                "{name}"
            );
        }
        // A plain start goes on after the highest id, and the spare ones stay spare.
        reg.insert_app(spec("f", 1), |_, _| ());
        assert_eq!(reg.app("f").map(|a| a.ids.clone()), Some(vec![13]));
        reg.insert_app_keeping(spec("g", 1), &[0], |_, _| ());
        assert_eq!(reg.app("g").map(|a| a.ids.clone()), Some(vec![0]));
        // Deleted ids are never handed out again, even when asked for.
        reg.remove_apps(&names(&["g"]));
        reg.insert_app_keeping(spec("h", 1), &[0], |_, _| ());
        assert_eq!(reg.app("h").map(|a| a.ids.clone()), Some(vec![14]));
    }

    #[test]
    fn a_rename_moves_the_app_and_its_rows_and_refuses_a_taken_name() {
        let (mut reg, seen) = recorded();
        reg.insert_app(spec("a", 2), |_, _| ());
        reg.insert_app(spec("b", 1), |_, _| ());
        reg.set_rows("a".into(), vec![]);
        // (from, to, renamed)
        let cases = [("a", "b", false), ("ghost", "c", false), ("a", "c", true)];
        for (from, to, want) in cases {
            assert_eq!(reg.rename(from, to), want, "{from} -> {to}");
        }
        assert!(reg.app("a").is_none());
        assert_eq!(reg.app("c").map(|c| c.ids.clone()), Some(vec![0, 1]));
        assert_eq!(reg.resolve("c").ok(), Some(vec![(0, None)]));
        let renamed: Vec<Change> = seen
            .borrow()
            .iter()
            .filter(|c| matches!(c, Change::AppRenamed { .. }))
            .cloned()
            .collect();
        assert_eq!(
            renamed,
            [Change::AppRenamed {
                from: "a".into(),
                to: "c".into()
            }]
        );
    }

    #[test]
    fn the_hook_sees_the_state_after_the_change() {
        let reg = Rc::new(RefCell::new(Registry::<(), ()>::new()));
        let count = Rc::new(RefCell::new(0));
        let c = count.clone();
        // The hook cannot borrow the registry (it is being mutated); what it hears must
        // therefore say everything: the ids granted come with the change.
        reg.borrow_mut().set_hook(Box::new(move |ch| {
            if let Change::AppAdded { ids, .. } = ch {
                *c.borrow_mut() += ids.len();
            }
        }));
        reg.borrow_mut().insert_app(spec("a", 3), |_, _| ());
        assert_eq!(*count.borrow(), 3);
    }

    #[test]
    fn replace_spec_grants_or_drops_ids_when_the_count_changes() {
        // (instances before, after, ids after or None when unchanged), with one other app
        // added in between so growth takes the next ids, not the app's old neighbours.
        let cases: [(u32, u32, Option<Vec<u64>>); 4] = [
            (1, 1, None),
            (1, 3, Some(vec![0, 4, 5])),
            (3, 1, Some(vec![0])),
            (2, 3, Some(vec![0, 1, 4])),
        ];
        for (before, after, ids) in cases {
            let (mut reg, seen) = recorded();
            reg.insert_app(spec("web", before), |_, _| ());
            reg.insert_app(spec("other", 4 - before), |_, _| ());
            // `other` takes ids up to 3 whatever `before` was.
            assert_eq!(
                reg.app("other").map(|a| *a.ids.last().unwrap_or(&0)),
                Some(3)
            );
            let got = reg.replace_spec("web", Arc::new(spec("web", after)));
            assert_eq!(got, ids, "{before} → {after}");
            let now = reg.app("web").map(|a| a.ids.clone()).unwrap_or_default();
            assert_eq!(now.len(), after as usize, "{before} → {after}");
            assert_eq!(
                reg.app("web")
                    .map(|a| instance_count(&a.spec.app.instances)),
                Some(after)
            );
            assert_eq!(
                seen.borrow().last(),
                Some(&Change::SpecReplaced {
                    name: "web".into(),
                    ids: got.clone()
                })
            );
            // Dropped ids no longer resolve; granted ones do, to their instance number.
            for (n, id) in now.iter().enumerate() {
                assert_eq!(
                    reg.resolve(&id.to_string()).ok(),
                    Some(vec![(0, Some(vec![n as u32]))])
                );
            }
            if before > after {
                assert!(reg.resolve("1").is_err(), "id 1 dropped");
            }
        }
    }

    #[test]
    fn ids_dropped_by_a_shrink_are_not_granted_again() {
        let (mut reg, _) = recorded();
        reg.insert_app(spec("web", 3), |_, _| ());
        reg.replace_spec("web", Arc::new(spec("web", 1)));
        let grown = reg.replace_spec("web", Arc::new(spec("web", 2)));
        assert_eq!(grown, Some(vec![0, 3]));
    }

    #[test]
    fn replacing_the_spec_of_an_unknown_app_changes_nothing() {
        let (mut reg, seen) = recorded();
        assert_eq!(reg.replace_spec("ghost", Arc::new(spec("ghost", 2))), None);
        assert!(seen.borrow().is_empty());
    }

    #[test]
    fn targets_resolve_to_apps_and_instances() {
        let mut reg: Registry<(), ()> = Registry::new();
        let mut web = spec("web", 2);
        web.app.namespace = "front".into();
        reg.insert_app(web, |_, _| ());
        reg.insert_app(spec("job", 1), |_, _| ());
        reg.insert_app(spec("db", 1), |_, _| ());
        reg.insert_group(group("back", &["db", "job"]));
        let cases: [(&str, Option<Selection>); 15] = [
            ("all", Some(vec![(0, None), (1, None), (2, None)])),
            // PM2's `/regex/`: searched anywhere in the name.
            ("/^j|db/", Some(vec![(1, None), (2, None)])),
            ("/o/", Some(vec![(1, None)])),
            ("/^zz/", None),
            // A script's absolute path: every app started from it (all run /srv/run.sh).
            ("/srv/run.sh", Some(vec![(0, None), (1, None), (2, None)])),
            ("/srv/./run.sh", Some(vec![(0, None), (1, None), (2, None)])),
            ("/srv/other.sh", None),
            ("web", Some(vec![(0, None)])),
            ("1", Some(vec![(0, Some(vec![1]))])),
            ("2", Some(vec![(1, Some(vec![0]))])),
            ("front", Some(vec![(0, None)])),
            ("default", Some(vec![(1, None), (2, None)])),
            // A group: its members, declared order.
            ("back", Some(vec![(2, None), (1, None)])),
            ("9", None),
            ("ghost", None),
        ];
        for (target, want) in cases {
            match (reg.resolve(target), want) {
                (Ok(sel), Some(want)) => assert_eq!(sel, want, "{target}"),
                (Err(e), None) => {
                    assert_eq!(e.code, ErrorCode::NotFound, "{target}");
                    assert!(e.message.contains(target), "{}", e.message);
                }
                (got, want) => panic!("{target}: got {got:?}, want {want:?}"),
            }
        }
        let empty: Registry<(), ()> = Registry::new();
        assert_eq!(empty.resolve("all").ok(), Some(vec![]), "all of nothing");
    }

    #[test]
    fn a_copy_takes_the_first_free_suffix() {
        let mut reg: Registry<(), ()> = Registry::new();
        assert_eq!(reg.unique_name("api"), "api");
        reg.insert_app(spec("api", 1), |_, _| ());
        assert_eq!(reg.unique_name("api"), "api-1");
        reg.insert_app(spec("api-1", 1), |_, _| ());
        reg.insert_app(spec("api-3", 1), |_, _| ());
        assert_eq!(reg.unique_name("api"), "api-2");
    }

    #[test]
    fn apps_of_one_command_share_their_inherited_environment() {
        let mut reg: Registry<(), ()> = Registry::new();
        let mut a = spec("a", 1);
        let env: BTreeMap<String, String> = [("PATH".to_string(), "/bin".to_string())].into();
        a.env.inherited = Arc::new(env.clone());
        let mut b = spec("b", 1);
        b.env.inherited = Arc::new(env);
        reg.insert_app(a, |_, _| ());
        reg.insert_app(b, |_, _| ());
        let (a, b) = (&reg.apps()[0].spec, &reg.apps()[1].spec);
        assert!(Arc::ptr_eq(&a.env.inherited, &b.env.inherited));
    }

    fn row(id: u64, name: &str, status: Status) -> Row {
        let info = serde_json::json!({
            "id": id, "name": name, "instance": 0, "pid": null, "status": status,
            "restarts": 0, "mode": "fork", "cpu": null, "memory": null, "uptime": null,
            "user": "u", "watching": false, "namespace": "default", "group": null
        });
        Row {
            info: serde_json::from_value(info).expect("a row"),
            started: None,
            outcome: crate::foreground::Outcome::Alive,
            generation: 0,
        }
    }

    #[test]
    fn rows_are_replaced_whole_and_forgotten_with_their_app() {
        let (mut reg, seen) = recorded();
        reg.insert_app(spec("web", 3), |_, _| ());
        let before = seen.borrow().len();
        reg.set_rows(
            "web".into(),
            vec![
                row(0, "web", Status::Online),
                row(1, "web", Status::Online),
                row(2, "web", Status::Online),
            ],
        );
        assert_eq!(seen.borrow().len(), before, "rows are not declared state");
        // After a shrink the App reports fewer rows: the others leave `list`.
        reg.set_rows("web".into(), vec![row(0, "web", Status::Online)]);
        assert_eq!(reg.list().iter().map(|r| r.id).collect::<Vec<_>>(), [0]);
        assert!(!reg.is_down("web"));
        reg.set_rows("web".into(), vec![row(0, "web", Status::Stopped)]);
        assert!(reg.is_down("web"));
        // A late report of an app that is gone is ignored.
        reg.remove_apps(&names(&["web"]));
        reg.set_rows("web".into(), vec![row(0, "web", Status::Online)]);
        assert!(reg.list().is_empty());
    }

    /// `row` of instance number `instance`.
    fn row_of(id: u64, instance: u32, status: Status) -> Row {
        let mut r = row(id, "web", status);
        r.info.instance = instance;
        r
    }

    fn listed(reg: &Registry<(), ()>) -> Vec<(u64, Status)> {
        reg.list().iter().map(|r| (r.id, r.status)).collect()
    }

    #[test]
    fn reported_rows_are_merged_by_instance_number() {
        let (mut reg, seen) = recorded();
        reg.insert_app(spec("web", 3), |_, _| ());
        let before = seen.borrow().len();
        let all = (0..3).map(|n| row_of(u64::from(n), n, Status::Stopped));
        reg.merge_rows("web".into(), 3, all.collect());
        assert_eq!(seen.borrow().len(), before, "rows are not declared state");
        // One instance changed: only its row travels; the others stay as they were.
        reg.merge_rows("web".into(), 3, vec![row_of(1, 1, Status::Online)]);
        assert_eq!(
            listed(&reg),
            [
                (0, Status::Stopped),
                (1, Status::Online),
                (2, Status::Stopped)
            ]
        );
        // An instance that came back under a new id replaces its number's row.
        reg.merge_rows("web".into(), 3, vec![row_of(7, 2, Status::Online)]);
        assert_eq!(
            listed(&reg),
            [
                (0, Status::Stopped),
                (1, Status::Online),
                (7, Status::Online)
            ]
        );
        // A shrink to one instance: the rows numbered 1 and up leave `list`.
        reg.merge_rows("web".into(), 1, vec![]);
        assert_eq!(listed(&reg), [(0, Status::Stopped)]);
        assert!(reg.is_down("web"));
        // A late report of an app that is gone is ignored.
        reg.remove_apps(&names(&["web"]));
        reg.merge_rows("web".into(), 1, vec![row_of(0, 0, Status::Online)]);
        assert!(reg.list().is_empty());
    }
}
