//! A snapshot of the Root's registry as a [`Dump`] (what `pmx save` writes; reusable by
//! anything that must carry the declared set across a daemon: every app's full spec
//! with each environment layer, its ids and its instances' statuses, the groups), and
//! the running set's [`Digest`], which `pmx list` compares with the saved one.
//!
//! Pure over the registry (generic over its handles): tested with `()` handles.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::app::instance_count;
use crate::dump::{Digest, Dump, SavedApp, SavedGroup, SavedStatus, DUMP_VERSION};
use crate::protocol::{AppSpec, VERSION};
use crate::root::registry::Registry;

/// Each instance's saved status, by instance number 0..N-1 (N the app's ids). An
/// instance with no row yet (its supervisor has not reported) counts as running when the
/// app is declared `autostart`, else stopped: what its start is making it.
pub fn statuses<A: Clone, G>(reg: &Registry<A, G>, name: &str) -> Vec<SavedStatus> {
    let Some(app) = reg.app(name) else {
        return Vec::new();
    };
    let rows = reg.rows_of(name);
    let fallback = if app.spec.app.autostart {
        SavedStatus::Running
    } else {
        SavedStatus::Stopped
    };
    (0..app.ids.len() as u32)
        .map(|n| {
            rows.iter()
                .find(|r| r.info.instance == n)
                .map_or(fallback, |r| SavedStatus::of(r.info.status))
        })
        .collect()
}

/// The registry as a dump: every app in order with its spec, inherited layer (each
/// shared map written once), ids and statuses; every group with its origin.
pub fn snapshot<A: Clone, G>(reg: &Registry<A, G>) -> Dump {
    let mut environments: Vec<Arc<BTreeMap<String, String>>> = Vec::new();
    let mut apps = Vec::with_capacity(reg.apps().len());
    for a in reg.apps() {
        let inherited = &a.spec.env.inherited;
        let k = match environments
            .iter()
            .position(|e| Arc::ptr_eq(e, inherited) || e == inherited)
        {
            Some(k) => k,
            None => {
                environments.push(inherited.clone());
                environments.len() - 1
            }
        };
        apps.push(SavedApp {
            spec: (*a.spec).clone(),
            inherited: k,
            ids: a.ids.clone(),
            status: statuses(reg, &a.name),
        });
    }
    let groups = reg
        .groups()
        .iter()
        .map(|g| SavedGroup {
            group: g.spec.clone(),
            source: g.source.clone(),
        })
        .collect();
    Dump {
        version: DUMP_VERSION,
        pmx: VERSION.to_string(),
        environments: environments.iter().map(|e| (**e).clone()).collect(),
        apps,
        groups,
        web: None,
    }
}

/// The running set's digest, equal to [`Dump::digest`] of [`snapshot`] without building
/// it (nothing cloned).
pub fn digest<A: Clone, G>(reg: &Registry<A, G>) -> u64 {
    digest_with(reg, &mut SpecHashes::default())
}

/// Each app's [`Digest::spec_hash`], kept while its spec (an `Arc` the registry swaps on
/// every change) is the same one: `pmx list` asks for the digest each time, and the
/// specs' JSON is the costly part of it.
#[derive(Default)]
pub struct SpecHashes(std::collections::HashMap<String, (Arc<AppSpec>, u64)>);

/// [`digest`], with the spec hashes kept in `cache` (entries of apps gone dropped).
pub fn digest_with<A: Clone, G>(reg: &Registry<A, G>, cache: &mut SpecHashes) -> u64 {
    let mut d = Digest::default();
    let mut next = std::collections::HashMap::with_capacity(reg.apps().len());
    for a in reg.apps() {
        let hash = match cache.0.remove(&a.name) {
            Some((spec, h)) if Arc::ptr_eq(&spec, &a.spec) => h,
            _ => Digest::spec_hash(&a.spec, Some(&a.spec.env.inherited)),
        };
        d.app_hashed(&a.name, hash, statuses(reg, &a.name).into_iter());
        next.insert(a.name.clone(), (a.spec.clone(), hash));
    }
    cache.0 = next;
    for g in reg.groups() {
        d.group(&g.spec, g.source.as_deref());
    }
    d.finish()
}

/// How many instances a dump's apps have on this machine (`Max` resolved here).
pub fn instances(dump: &Dump) -> usize {
    dump.apps
        .iter()
        .map(|a| instance_count(&a.spec.app.instances) as usize)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Row;
    use crate::protocol::{ProcessInfo, Status};
    use crate::root::fixtures::{group, spec};
    use crate::root::registry::GroupEntry;

    fn row(name: &str, instance: u32, status: Status) -> Row {
        Row {
            info: ProcessInfo {
                id: u64::from(instance),
                name: name.into(),
                instance,
                pid: None,
                status,
                restarts: 0,
                mode: "fork".into(),
                cpu: None,
                memory: None,
                uptime: None,
                user: String::new(),
                watching: false,
                namespace: "default".into(),
                group: None,
            },
            started: None,
            outcome: crate::foreground::Outcome::Alive,
            generation: 0,
        }
    }

    #[test]
    fn a_snapshot_holds_each_instance_status_each_environment_once_and_the_groups() {
        let mut reg: Registry<(), ()> = Registry::new();
        let env = Arc::new(BTreeMap::from([("PATH".to_string(), "/bin".to_string())]));
        for (name, n) in [("a", 2), ("b", 1)] {
            let mut s = spec(name, n);
            s.env.inherited = env.clone();
            reg.insert_app(s, |_, _| ());
        }
        let mut c = spec("c", 1);
        c.app.autostart = false;
        reg.insert_app(c, |_, _| ());
        reg.set_rows(
            "a".into(),
            vec![
                row("a", 0, Status::WaitingRestart),
                row("a", 1, Status::Stopping),
            ],
        );
        reg.set_rows("b".into(), vec![row("b", 0, Status::Errored)]);
        reg.insert_group(GroupEntry {
            name: "g".into(),
            handle: (),
            members: vec!["b".into(), "a".into()],
            spec: group("g", &["b", "a"]),
            source: Some("/srv/e.ron".into()),
        });
        let d = snapshot(&reg);
        assert_eq!(
            d.environments.len(),
            2,
            "a and b share theirs; c has the empty one"
        );
        let got: Vec<(&str, usize, Vec<u64>, Vec<SavedStatus>)> = d
            .apps
            .iter()
            .map(|a| {
                (
                    a.spec.app.name.as_str(),
                    a.inherited,
                    a.ids.clone(),
                    a.status.clone(),
                )
            })
            .collect();
        use SavedStatus::*;
        assert_eq!(
            got,
            vec![
                ("a", 0, vec![0, 1], vec![Running, Stopped]),
                ("b", 0, vec![2], vec![Errored]),
                ("c", 1, vec![3], vec![Stopped]),
            ]
        );
        assert_eq!(d.groups[0].group.apps, vec!["b", "a"]);
        assert_eq!(digest(&reg), d.digest());
        // A status change is a change of the saved set.
        reg.set_rows("b".into(), vec![row("b", 0, Status::Online)]);
        assert_ne!(digest(&reg), d.digest());
    }
}
