//! `up`'s plan (and `startOrReload`'s, `startOrRestart`'s) as a pure function of the
//! registry and the request: the lines the user reads, and the actions that make the
//! running set match the file. Computing it changes nothing (`--dry-run` is the lines
//! alone); `verbs/up.rs` carries the actions out, in their order.

use std::collections::BTreeSet;

use crate::app::instance_count;
use crate::protocol::{AppSpec, PlanAction, PlanLine, UpRequest};
use crate::root::changes::declared_changes;
use crate::root::registry::{GroupDecl, GroupEntry, Registry};

/// What `up` does, in the order it must be done.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Take the running group of this name apart (rebuilt, or no longer declared): its
    /// members leave it and are their own again.
    DropGroup(String),
    /// Give the running app (the spec's name) its declared spec, then restart it; a
    /// member of a rebuilt group only takes the spec (its counters zeroed): the group
    /// restarts it; a down `autostart: false` app only takes the spec and stays down.
    Replace {
        /// The declared spec.
        spec: AppSpec,
        /// Restart it now (false: its rebuilt group does).
        restart: bool,
    },
    /// Give the running app (the spec's name) its declared spec whose only change is the
    /// instance count: the new instance numbers start, the highest stop, the others run on.
    Scale(AppSpec),
    /// Restart the running app of this name as it is (`reload_all`: unchanged, but the
    /// code may have changed).
    Restart(String),
    /// Delete the running app of this name (`prune`).
    Delete(String),
    /// Register a new app; start it (or, `autostart: false`, register it stopped) unless
    /// its declared group starts it.
    Create {
        /// The declared spec.
        spec: AppSpec,
        /// A member of a group the file declares: the group starts it, in order.
        by_group: bool,
    },
    /// Build the declared group (new, or rebuilt after its [`Action::DropGroup`]) and
    /// start its members in order (restart them when `rebuilt`).
    BuildGroup {
        /// The declaration.
        group: GroupDecl,
        /// It ran before under another declaration.
        rebuilt: bool,
    },
}

/// `up`'s plan: one line per declared app (file order), then the pruned apps, then the
/// groups' lines; and the actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What the user reads.
    pub lines: Vec<PlanLine>,
    /// What carries it out, in order: groups taken apart, running apps changed or
    /// restarted, pruned apps deleted, new apps created, groups built.
    pub actions: Vec<Action>,
}

/// What differs between a running group and its declaration, in the file's words.
fn group_changes(old: &GroupDecl, new: &GroupDecl) -> Vec<String> {
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

/// What `up` must rebuild a running group for: its declaration changed, or a member app
/// is gone (deleted by hand) and comes back from the file.
fn group_diff<A: Clone, G>(
    reg: &Registry<A, G>,
    running: &GroupEntry<G>,
    declared: &GroupDecl,
) -> Vec<String> {
    let mut changes = group_changes(&running.spec, declared);
    if changes.is_empty() && running.members.iter().any(|m| reg.position(m).is_none()) {
        changes.push("apps".into());
    }
    changes
}

fn line(name: &str, action: PlanAction, changes: Vec<String>, group: bool) -> PlanLine {
    PlanLine {
        name: name.to_string(),
        action,
        changes,
        group,
    }
}

/// The plan that makes the running set `reg` match the file of `req` (whose specs are
/// valid: see `validate_specs`).
///
/// Apps: a new one is started; a running one whose declaration differs
/// ([`declared_changes`]), or that is down while declared to start, is reloaded (or
/// restarted, `req.restart`) under its new spec, but one declared `autostart: false`
/// that is down only takes its new spec and stays down (`update`); with `req.reload_all` every other
/// running app of the file is reloaded too, but one declared `autostart: false` that is
/// down; the rest are unchanged. With `req.prune`, running apps that came from the same
/// file and are no longer declared are deleted. Groups: a new one is built; one whose
/// `apps`, `strategy` or `intensity` changed (or that lost a member) is rebuilt (its
/// members stopped in reverse order, started in declared order under the new group); one
/// this file no longer declares, all of whose members it still sends, is dissolved (its
/// apps stay). Members of unchanged groups are handled as apps of their own.
pub fn plan<A: Clone, G>(reg: &Registry<A, G>, req: &UpRequest) -> Plan {
    let rebuilt: BTreeSet<&str> = req
        .groups
        .iter()
        .filter(|g| {
            reg.group(&g.name)
                .is_some_and(|e| !group_diff(reg, e, g).is_empty())
        })
        .map(|g| g.name.as_str())
        .collect();
    let in_group = |only_rebuilt: bool| -> BTreeSet<&str> {
        req.groups
            .iter()
            .filter(|g| !only_rebuilt || rebuilt.contains(g.name.as_str()))
            .flat_map(|g| g.apps.iter().map(String::as_str))
            .collect()
    };
    let (grouped, in_rebuilt) = (in_group(false), in_group(true));

    let mut lines = Vec::new();
    let mut drops = Vec::new();
    let mut changes_acts = Vec::new();
    let mut deletes = Vec::new();
    let mut creates = Vec::new();
    let mut builds = Vec::new();

    for spec in &req.apps {
        let name = spec.app.name.as_str();
        let Some(running) = reg.app(name) else {
            lines.push(line(name, PlanAction::Start, vec![], false));
            creates.push(Action::Create {
                spec: spec.clone(),
                by_group: grouped.contains(name),
            });
            continue;
        };
        let mut changes = declared_changes(&running.spec, spec);
        // `up` makes the running set match the file: a declared app that is down
        // (stopped or errored) is started again, as PM2's startOrReload does.
        let down = reg.is_down(name);
        if changes.is_empty() && down && spec.app.autostart {
            changes.push("was down".into());
        }
        // startOrReload / startOrRestart reload every running app of the file, changed or
        // not: after `git pull` the code changed while the file did not. One declared
        // `autostart: false` that is down stays down (a reload would start it).
        // A down app the file declares `autostart: false` (never started, or stopped)
        // takes a changed spec and stays down: reloading it would start it. A down app
        // declared to start is started (above), as `pmx start file.ron` does in PM2.
        let stays_down = down && !spec.app.autostart;
        let reload = (!changes.is_empty() && !stays_down)
            || (req.reload_all && (spec.app.autostart || !down));
        // Only the count changed, on a running app outside a rebuilt group, and no reload
        // of everything asked: scale it, leaving its running instances alone.
        // Unless the instances' log files are renamed by it: from one instance to several
        // (or back) without `merge`, instance 0's files gain (or lose) their `-0`, and only
        // a reload puts its process on the files `describe` shows.
        let (was, will) = (
            instance_count(&running.spec.app.instances),
            instance_count(&spec.app.instances),
        );
        let files_kept = spec.app.logs.merge || (was > 1 && will > 1) || was == will;
        let scale = reload
            && !down
            && !req.reload_all
            && !in_rebuilt.contains(name)
            && files_kept
            && changes.iter().all(|c| c == "instances");
        let action = match (reload, req.restart) {
            _ if scale => PlanAction::Scale,
            (false, _) if !changes.is_empty() => PlanAction::Update,
            (false, _) => PlanAction::Unchanged,
            (true, false) => PlanAction::Reload,
            (true, true) => PlanAction::Restart,
        };
        let by_group = in_rebuilt.contains(name);
        if scale {
            changes_acts.push(Action::Scale(spec.clone()));
        } else if !changes.is_empty() {
            changes_acts.push(Action::Replace {
                spec: spec.clone(),
                restart: !by_group && !stays_down,
            });
        } else if reload && !by_group {
            changes_acts.push(Action::Restart(name.to_string()));
        }
        lines.push(line(name, action, changes, false));
    }

    if req.prune {
        let declared: BTreeSet<&str> = req.apps.iter().map(|a| a.app.name.as_str()).collect();
        for app in reg.apps() {
            if app.spec.source.as_deref() == Some(req.file.as_path())
                && !declared.contains(app.name.as_str())
            {
                lines.push(line(&app.name, PlanAction::Delete, vec![], false));
                deletes.push(Action::Delete(app.name.clone()));
            }
        }
    }

    for g in &req.groups {
        match reg.group(&g.name) {
            Some(running) => {
                let changes = group_diff(reg, running, g);
                if !changes.is_empty() {
                    lines.push(line(&g.name, PlanAction::Rebuild, changes, true));
                    drops.push(Action::DropGroup(g.name.clone()));
                    builds.push(Action::BuildGroup {
                        group: g.clone(),
                        rebuilt: true,
                    });
                }
            }
            None => {
                lines.push(line(&g.name, PlanAction::Start, vec![], true));
                builds.push(Action::BuildGroup {
                    group: g.clone(),
                    rebuilt: false,
                });
            }
        }
    }
    // A group of this file that it no longer declares is dissolved, unless the request
    // leaves some of its members out (`--only`): then it is not this run's business.
    let sent: BTreeSet<&str> = req.apps.iter().map(|a| a.app.name.as_str()).collect();
    for e in reg.groups() {
        if e.source.as_deref() == Some(req.file.as_path())
            && e.members.iter().all(|m| sent.contains(m.as_str()))
            && !req.groups.iter().any(|g| g.name == e.name)
        {
            lines.push(line(
                &e.name,
                PlanAction::Delete,
                vec!["its apps stay".into()],
                true,
            ));
            drops.push(Action::DropGroup(e.name.clone()));
        }
    }

    let mut actions = drops;
    actions.extend(changes_acts);
    actions.extend(deletes);
    actions.extend(creates);
    actions.extend(builds);
    Plan { lines, actions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Row;
    use crate::protocol::Status;
    use crate::root::fixtures::{group, spec};
    use std::path::PathBuf;

    const FILE: &str = "/srv/eco.ron";

    /// A spec declared by FILE.
    fn declared(name: &str) -> AppSpec {
        let mut s = spec(name, 1);
        s.source = Some(PathBuf::from(FILE));
        s
    }

    fn request(apps: Vec<AppSpec>) -> UpRequest {
        UpRequest {
            inherited: Default::default(),
            file: PathBuf::from(FILE),
            apps,
            prune: false,
            dry_run: false,
            restart: false,
            reload_all: false,
            groups: vec![],
        }
    }

    /// A registry running `apps` (from FILE), each reported with `status`.
    fn running(apps: &[(&str, Status)]) -> Registry<(), ()> {
        let mut reg = Registry::new();
        for (name, status) in apps {
            reg.insert_app(declared(name), |_, _| ());
            let info = serde_json::json!({
                "id": 0, "name": name, "instance": 0, "pid": null, "status": status,
                "restarts": 0, "mode": "fork", "cpu": null, "memory": null, "uptime": null,
                "user": "u", "watching": false, "namespace": "default", "group": null
            });
            let row = Row {
                info: serde_json::from_value(info).expect("a row"),
                started: None,
                outcome: crate::foreground::Outcome::Alive,
                generation: 0,
            };
            reg.set_rows(name.to_string(), vec![row]);
        }
        reg
    }

    fn with_group(mut reg: Registry<(), ()>, g: GroupDecl) -> Registry<(), ()> {
        reg.insert_group(GroupEntry {
            name: g.name.clone(),
            handle: (),
            members: g.apps.clone(),
            spec: g,
            source: Some(PathBuf::from(FILE)),
        });
        reg
    }

    /// The plan's lines as `up` prints them (`~ web reload (env.PORT)`), groups marked.
    fn shown(plan: &Plan) -> Vec<String> {
        plan.lines
            .iter()
            .map(|l| {
                let word = match l.action {
                    PlanAction::Start => "+ start",
                    PlanAction::Reload => "~ reload",
                    PlanAction::Restart => "~ restart",
                    PlanAction::Rebuild => "~ rebuild",
                    PlanAction::Update => "~ update",
                    PlanAction::Scale => "~ scale",
                    PlanAction::Unchanged => "= unchanged",
                    PlanAction::Delete => "- delete",
                };
                let (sign, word) = word.split_at(1);
                let who = if l.group {
                    format!("group {}", l.name)
                } else {
                    l.name.clone()
                };
                let mut s = format!("{sign} {who}{word}");
                if !l.changes.is_empty() {
                    s.push_str(&format!(" ({})", l.changes.join(", ")));
                }
                s
            })
            .collect()
    }

    /// The actions, one word each (`replace web`, `restart job`, `create new`, …).
    fn acts(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|a| match a {
                Action::DropGroup(g) => format!("drop {g}"),
                Action::Replace { spec, restart } => format!(
                    "{} {}",
                    if *restart {
                        "replace+restart"
                    } else {
                        "replace"
                    },
                    spec.app.name
                ),
                Action::Scale(spec) => format!("scale {}", spec.app.name),
                Action::Restart(n) => format!("restart {n}"),
                Action::Delete(n) => format!("delete {n}"),
                Action::Create { spec, by_group } => format!(
                    "create {}{}",
                    spec.app.name,
                    if *by_group { " (by group)" } else { "" }
                ),
                Action::BuildGroup { group, rebuilt } => format!(
                    "{} {}",
                    if *rebuilt { "rebuild" } else { "build" },
                    group.name
                ),
            })
            .collect()
    }

    /// A declared app with `autostart: false`.
    fn manual() -> AppSpec {
        let mut s = declared("manual");
        s.app.autostart = false;
        s
    }

    fn port(mut s: AppSpec, p: &str) -> AppSpec {
        s.app.env.insert("PORT".into(), p.into());
        s
    }

    struct Case {
        what: &'static str,
        reg: Registry<(), ()>,
        req: UpRequest,
        lines: &'static [&'static str],
        acts: &'static [&'static str],
    }

    /// Only the count changed and no instance's log files are renamed by it (several
    /// instances before and after, or `merge`): a scale, which leaves the running
    /// instances alone; from one instance to several without `merge` it is a reload.
    #[test]
    fn a_count_change_that_keeps_every_file_is_a_scale() {
        let with = |n: u32, merge: bool| {
            let mut s = declared("web");
            s.app.instances = pmx_config::Instances::Count(n);
            s.app.logs.merge = merge;
            s
        };
        let cases = [
            (2, 3, false, "~ web scale (instances)", "scale web"),
            (3, 2, false, "~ web scale (instances)", "scale web"),
            (1, 3, true, "~ web scale (instances)", "scale web"),
            (
                1,
                3,
                false,
                "~ web reload (instances)",
                "replace+restart web",
            ),
            (
                3,
                1,
                false,
                "~ web reload (instances)",
                "replace+restart web",
            ),
        ];
        for (was, will, merge, want_line, want_act) in cases {
            let mut reg: Registry<(), ()> = Registry::new();
            reg.insert_app(with(was, merge), |_, _| ());
            let p = plan(&reg, &request(vec![with(will, merge)]));
            assert_eq!(shown(&p), [want_line], "{was} -> {will}, merge {merge}");
            assert_eq!(acts(&p), [want_act], "{was} -> {will}, merge {merge}");
        }
    }

    #[test]
    fn up_plans_as_a_table() {
        use Status::{Errored, Online, Stopped};
        let cases = vec![
            Case {
                what: "a new app is started",
                reg: running(&[]),
                req: request(vec![declared("web")]),
                lines: &["+ web start"],
                acts: &["create web"],
            },
            Case {
                what: "an unchanged app is left alone",
                reg: running(&[("web", Online)]),
                req: request(vec![declared("web")]),
                lines: &["= web unchanged"],
                acts: &[],
            },
            Case {
                what: "a changed app is reloaded under its new spec",
                reg: running(&[("web", Online), ("job", Online)]),
                req: request(vec![port(declared("web"), "2"), declared("job")]),
                lines: &["~ web reload (env.PORT)", "= job unchanged"],
                acts: &["replace+restart web"],
            },
            Case {
                what: "several fields, named as written",
                reg: running(&[("web", Online)]),
                req: request(vec![{
                    let mut s = declared("web");
                    s.app.instances = pmx_config::Instances::Count(3);
                    s.app.restart.delay_ms = 100;
                    s.app.kill_timeout_ms = 5000;
                    s.app.logs.out_file = Some(PathBuf::from("/tmp/web.log"));
                    s
                }]),
                lines: &["~ web reload (instances, restart.delay, kill_timeout, logs.out_file)"],
                acts: &["replace+restart web"],
            },
            Case {
                what: "one instance to several without merge renames instance 0's files: reload",
                reg: running(&[("web", Online)]),
                req: request(vec![{
                    let mut s = declared("web");
                    s.app.instances = pmx_config::Instances::Count(3);
                    s
                }]),
                lines: &["~ web reload (instances)"],
                acts: &["replace+restart web"],
            },
            Case {
                what: "startOrReload reloads an app whose count changed, as every other",
                reg: running(&[("web", Online)]),
                req: UpRequest {
                    reload_all: true,
                    ..request(vec![{
                        let mut s = declared("web");
                        s.app.instances = pmx_config::Instances::Count(3);
                        s
                    }])
                },
                lines: &["~ web reload (instances)"],
                acts: &["replace+restart web"],
            },
            Case {
                what: "a down app whose count changed is started under its new spec",
                reg: running(&[("web", Stopped)]),
                req: request(vec![{
                    let mut s = declared("web");
                    s.app.instances = pmx_config::Instances::Count(3);
                    s
                }]),
                lines: &["~ web reload (instances)"],
                acts: &["replace+restart web"],
            },
            Case {
                what: "startOrRestart says restart",
                reg: running(&[("web", Online)]),
                req: UpRequest {
                    restart: true,
                    ..request(vec![port(declared("web"), "2")])
                },
                lines: &["~ web restart (env.PORT)"],
                acts: &["replace+restart web"],
            },
            Case {
                what: "a declared app that is down is started again",
                reg: running(&[("web", Stopped), ("job", Errored)]),
                req: request(vec![declared("web"), declared("job")]),
                lines: &["~ web reload (was down)", "~ job reload (was down)"],
                acts: &["replace+restart web", "replace+restart job"],
            },
            Case {
                what: "an autostart: false app that is down stays down",
                reg: running(&[("web", Stopped)]),
                req: request(vec![{
                    let mut s = declared("web");
                    s.app.autostart = false;
                    s
                }]),
                // autostart itself changed (declared() has it true): that is a change,
                // taken while the app stays down.
                lines: &["~ web update (autostart)"],
                acts: &["replace web"],
            },
            Case {
                what: "a never-started autostart: false app takes a changed field, stays down",
                reg: {
                    let mut reg = running(&[("manual", Stopped)]);
                    reg.replace_spec("manual", std::sync::Arc::new(manual()));
                    reg
                },
                req: request(vec![{
                    let mut s = manual();
                    s.app.kill_timeout_ms = 5000;
                    s
                }]),
                lines: &["~ manual update (kill_timeout)"],
                acts: &["replace manual"],
            },
            Case {
                what: "startOrReload gives a down autostart: false app its spec, no start",
                reg: {
                    let mut reg = running(&[("manual", Errored)]);
                    reg.replace_spec("manual", std::sync::Arc::new(manual()));
                    reg
                },
                req: UpRequest {
                    reload_all: true,
                    ..request(vec![port(manual(), "2")])
                },
                lines: &["~ manual update (env.PORT)"],
                acts: &["replace manual"],
            },
            Case {
                what: "a running autostart: false app that changed is reloaded",
                reg: {
                    let mut reg = running(&[("manual", Online)]);
                    reg.replace_spec("manual", std::sync::Arc::new(manual()));
                    reg
                },
                req: request(vec![port(manual(), "2")]),
                lines: &["~ manual reload (env.PORT)"],
                acts: &["replace+restart manual"],
            },
            Case {
                what: "a hand-stopped app declared to start that changed is started again",
                reg: running(&[("web", Stopped)]),
                req: request(vec![port(declared("web"), "2")]),
                lines: &["~ web reload (env.PORT)"],
                acts: &["replace+restart web"],
            },
            Case {
                what: "prune deletes the file's apps it no longer declares, only them",
                reg: {
                    let mut reg = running(&[("web", Online), ("old", Online)]);
                    let mut other = spec("elsewhere", 1);
                    other.source = Some(PathBuf::from("/srv/other.ron"));
                    reg.insert_app(other, |_, _| ());
                    reg.insert_app(spec("by-hand", 1), |_, _| ());
                    reg
                },
                req: UpRequest {
                    prune: true,
                    ..request(vec![declared("web"), declared("new")])
                },
                lines: &["= web unchanged", "+ new start", "- old delete"],
                acts: &["delete old", "create new"],
            },
            Case {
                what: "without prune a removed app is left alone",
                reg: running(&[("web", Online), ("old", Online)]),
                req: request(vec![declared("web")]),
                lines: &["= web unchanged"],
                acts: &[],
            },
            Case {
                what: "startOrReload reloads every running app of the file, changed or not",
                reg: running(&[("web", Online), ("job", Online), ("old", Online)]),
                req: UpRequest {
                    reload_all: true,
                    ..request(vec![
                        port(declared("web"), "2"),
                        declared("job"),
                        declared("new"),
                    ])
                },
                lines: &["~ web reload (env.PORT)", "~ job reload", "+ new start"],
                acts: &["replace+restart web", "restart job", "create new"],
            },
            Case {
                what: "startOrRestart restarts every running app of the file",
                reg: running(&[("job", Online), ("down", Stopped)]),
                req: UpRequest {
                    reload_all: true,
                    restart: true,
                    ..request(vec![declared("job"), declared("down")])
                },
                lines: &["~ job restart", "~ down restart (was down)"],
                acts: &["restart job", "replace+restart down"],
            },
            Case {
                what: "startOrReload reloads a running autostart: false app",
                reg: {
                    let mut reg = running(&[("manual", Online)]);
                    reg.replace_spec("manual", std::sync::Arc::new(manual()));
                    reg
                },
                req: UpRequest {
                    reload_all: true,
                    ..request(vec![manual()])
                },
                lines: &["~ manual reload"],
                acts: &["restart manual"],
            },
            Case {
                what: "a new group is built and starts its members",
                reg: running(&[]),
                req: UpRequest {
                    groups: vec![group("g", &["a", "b"])],
                    ..request(vec![declared("a"), declared("b"), declared("c")])
                },
                lines: &["+ a start", "+ b start", "+ c start", "+ group g start"],
                acts: &[
                    "create a (by group)",
                    "create b (by group)",
                    "create c",
                    "build g",
                ],
            },
            Case {
                what: "an unchanged group is left alone",
                reg: with_group(
                    running(&[("a", Online), ("b", Online)]),
                    group("g", &["a", "b"]),
                ),
                req: UpRequest {
                    groups: vec![group("g", &["a", "b"])],
                    ..request(vec![declared("a"), declared("b")])
                },
                lines: &["= a unchanged", "= b unchanged"],
                acts: &[],
            },
            Case {
                what: "a group whose order changed is rebuilt; its changed member waits for it",
                reg: with_group(
                    running(&[("a", Online), ("b", Online)]),
                    group("g", &["a", "b"]),
                ),
                req: UpRequest {
                    groups: vec![group("g", &["b", "a"])],
                    ..request(vec![port(declared("a"), "2"), declared("b")])
                },
                lines: &[
                    "~ a reload (env.PORT)",
                    "= b unchanged",
                    "~ group g rebuild (apps)",
                ],
                acts: &["drop g", "replace a", "rebuild g"],
            },
            Case {
                what: "a group's strategy and intensity changed",
                reg: with_group(running(&[("a", Online)]), group("g", &["a"])),
                req: UpRequest {
                    groups: vec![{
                        let mut g = group("g", &["a"]);
                        g.strategy = pmx_config::Strategy::OneForAll;
                        g.intensity.max = 5;
                        g
                    }],
                    ..request(vec![declared("a")])
                },
                lines: &["= a unchanged", "~ group g rebuild (strategy, intensity)"],
                acts: &["drop g", "rebuild g"],
            },
            Case {
                what: "a group that lost a member by hand is rebuilt with it",
                reg: {
                    let mut reg = with_group(
                        running(&[("a", Online), ("b", Online)]),
                        group("g", &["a", "b"]),
                    );
                    reg.remove_apps(&["b".to_string()].into());
                    reg
                },
                req: UpRequest {
                    groups: vec![group("g", &["a", "b"])],
                    ..request(vec![declared("a"), declared("b")])
                },
                lines: &["= a unchanged", "+ b start", "~ group g rebuild (apps)"],
                acts: &["drop g", "create b (by group)", "rebuild g"],
            },
            Case {
                what: "a group the file no longer declares is dissolved, its apps stay",
                reg: with_group(
                    running(&[("a", Online), ("b", Online)]),
                    group("g", &["a", "b"]),
                ),
                req: request(vec![declared("a"), declared("b")]),
                lines: &[
                    "= a unchanged",
                    "= b unchanged",
                    "- group g delete (its apps stay)",
                ],
                acts: &["drop g"],
            },
            Case {
                what: "with --only leaving a member out, the group is not dissolved",
                reg: with_group(
                    running(&[("a", Online), ("b", Online)]),
                    group("g", &["a", "b"]),
                ),
                req: request(vec![declared("a")]),
                lines: &["= a unchanged"],
                acts: &[],
            },
            Case {
                what: "startOrReload: a rebuilt group restarts its unchanged members itself",
                reg: with_group(
                    running(&[("a", Online), ("b", Online)]),
                    group("g", &["a", "b"]),
                ),
                req: UpRequest {
                    reload_all: true,
                    groups: vec![group("g", &["b", "a"])],
                    ..request(vec![declared("a"), declared("b")])
                },
                lines: &["~ a reload", "~ b reload", "~ group g rebuild (apps)"],
                acts: &["drop g", "rebuild g"],
            },
            Case {
                what: "startOrReload: members of an unchanged group are reloaded one by one",
                reg: with_group(running(&[("a", Online)]), group("g", &["a"])),
                req: UpRequest {
                    reload_all: true,
                    groups: vec![group("g", &["a"])],
                    ..request(vec![declared("a")])
                },
                lines: &["~ a reload"],
                acts: &["restart a"],
            },
        ];
        for c in cases {
            let p = plan(&c.reg, &c.req);
            assert_eq!(shown(&p), c.lines, "{}: lines", c.what);
            assert_eq!(acts(&p), c.acts, "{}: actions", c.what);
        }
    }

    #[test]
    fn a_replace_carries_the_declared_spec() {
        let reg = running(&[("web", Status::Online)]);
        let new = port(declared("web"), "2");
        let p = plan(&reg, &request(vec![new.clone()]));
        assert_eq!(
            p.actions,
            [Action::Replace {
                spec: new,
                restart: true
            }]
        );
    }

    #[test]
    fn startor_reload_keeps_an_autostart_false_app_that_is_down_down() {
        let mut reg = running(&[("manual", Status::Stopped)]);
        // The running spec says autostart: false too: nothing declared changed.
        reg.replace_spec("manual", std::sync::Arc::new(manual()));
        let req = UpRequest {
            reload_all: true,
            ..request(vec![manual()])
        };
        let p = plan(&reg, &req);
        assert_eq!(shown(&p), ["= manual unchanged"]);
        assert!(p.actions.is_empty());
    }
}
