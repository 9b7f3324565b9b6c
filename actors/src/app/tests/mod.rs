//! The App supervisor driven through the spawner seam: a recording process side stands
//! for the Process actors, and the test answers as they would (`Spawned`, `ChildExited`),
//! so crash, delayed restart, stop during a delay and a group failure run without
//! spawning anything. Time is tokio's paused clock: the restart timers fire when the test
//! sleeps past them.

use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use nix::sys::signal::Signal;

use super::*;
use crate::process::{ProcessParts, Spawn, Terminate};
use crate::protocol::{Description, EnvLayers, Status};
use crate::reaper::PidTable;
use crate::supervision::policy::Exit;

mod reload;
mod rows;

/// What the supervisor asked of a process side: (instance, generation).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Spawn(u32, u64),
    Terminate(u32, u64),
}

type Calls = Rc<RefCell<Vec<Call>>>;

struct Recording(Calls);

struct Port {
    instance: u32,
    calls: Calls,
}

impl ProcessPort for Port {
    fn spawn(&self, msg: Spawn) {
        self.calls
            .borrow_mut()
            .push(Call::Spawn(self.instance, msg.generation));
    }
    fn terminate(&self, msg: Terminate) {
        self.calls
            .borrow_mut()
            .push(Call::Terminate(self.instance, msg.generation));
    }
    fn promote(&self) {}
    fn adopt(&self, _: crate::process::Adopt) {}
    fn signal(&self, _: Signal) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
        Box::pin(async { Ok(()) })
    }
}

impl Spawner for Recording {
    fn process(&self, parts: ProcessParts) -> Box<dyn ProcessPort> {
        Box::new(Port {
            instance: parts.instance,
            calls: self.0.clone(),
        })
    }
}

/// Takes the rows (the Root's part) and the failures (a group's part).
#[derive(Default)]
struct Parent {
    failures: Arc<Mutex<Vec<MemberFailed>>>,
    reports: Arc<Mutex<Vec<Report>>>,
}

impl Actor for Parent {
    type Context = Context<Self>;
}

impl Handler<Report> for Parent {
    type Result = ();
    fn handle(&mut self, r: Report, _: &mut Context<Self>) {
        self.reports.lock().expect("lock").push(r);
    }
}

impl Handler<MemberFailed> for Parent {
    type Result = ();
    fn handle(&mut self, m: MemberFailed, _: &mut Context<Self>) {
        self.failures.lock().expect("lock").push(m);
    }
}

struct Fixture {
    app: Addr<AppSup>,
    calls: Calls,
    failures: Arc<Mutex<Vec<MemberFailed>>>,
    reports: Arc<Mutex<Vec<Report>>>,
    parent: Addr<Parent>,
    _home: TempHome,
}

/// A private `$PMX_HOME` for the log files, removed at the end.
struct TempHome(PathBuf);

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str, instances: u32, set: impl FnOnce(&mut crate::protocol::App)) -> Fixture {
    tokio::time::pause();
    let dir = std::env::temp_dir().join(format!("pmx-app-unit-{}-{name}", std::process::id()));
    let mut app = crate::protocol::App::new(name.into(), "/bin/true".into(), dir.clone());
    app.instances = pmx_config::Instances::Count(instances);
    set(&mut app);
    let spec = Arc::new(AppSpec {
        app,
        program: "/bin/true".into(),
        args: vec![],
        cwd: dir.clone(),
        env: EnvLayers::default(),
        source: None,
        env_name: None,
    });
    let failures = Arc::new(Mutex::new(Vec::new()));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let parent = Parent {
        failures: failures.clone(),
        reports: reports.clone(),
    }
    .start();
    let calls: Calls = Rc::new(RefCell::new(Vec::new()));
    let parts = AppParts {
        spec,
        ids: (0..u64::from(instances)).collect(),
        shared: Rc::new(Shared {
            home: Home { dir: dir.clone() },
            root: parent.clone().recipient(),
            bus: EventBus::new().start(),
            pids: Rc::new(RefCell::new(PidTable::default())),
            log_arbiter: Arbiter::current(),
            nofile: None,
            user: "test".into(),
            bus_flags: BusFlags::default(),
            metrics: None,
            console: None,
            watch: None,
        }),
    };
    let app = AppSup::with_spawner(parts, Rc::new(Recording(calls.clone()))).start();
    Fixture {
        app,
        calls,
        failures,
        reports,
        parent,
        _home: TempHome(dir),
    }
}

impl Fixture {
    fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    async fn describe(&self) -> Vec<Description> {
        self.app
            .send(Describe {
                instances: None,
                env: false,
            })
            .await
            .expect("describe")
    }

    async fn status(&self, instance: usize) -> Status {
        self.describe().await[instance].info.status
    }

    /// Start every instance: each asked to spawn its generation 1, which the test
    /// confirms as the Process actor would.
    async fn start(&self, instances: u32) {
        let reply = self.app.send(Command::all(Op::Start));
        for i in 0..instances {
            self.app.do_send(Spawned {
                instance: i,
                generation: 1,
                result: Ok(1000 + i),
            });
        }
        reply.await.expect("start").expect("not deleted");
    }

    fn crash(&self, instance: u32, generation: u64) {
        self.app.do_send(ChildExited {
            instance,
            generation,
            exit: Some(Exit::code(1)),
            uptime_ms: 60_000,
            requested: false,
        });
    }
}

/// Let the actors run (and, paused, the clock advance) for `ms`.
async fn settle(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[actix::test]
async fn a_crash_is_restarted_at_once_with_a_new_generation() {
    let f = fixture("crash", 1, |_| {});
    f.start(1).await;
    assert_eq!(f.calls(), vec![Call::Spawn(0, 1)]);
    assert_eq!(f.status(0).await, Status::Online);
    f.crash(0, 1);
    settle(1).await;
    assert_eq!(f.calls(), vec![Call::Spawn(0, 1), Call::Spawn(0, 2)]);
    let d = f.describe().await;
    assert_eq!(
        (d[0].info.status, d[0].info.restarts),
        (Status::Launching, 1)
    );
    // A late exit of the replaced process changes nothing.
    f.crash(0, 1);
    settle(1).await;
    assert_eq!(f.calls().len(), 2);
}

#[actix::test]
async fn a_delayed_restart_waits_for_its_timer() {
    let f = fixture("delay", 1, |a| a.restart.delay_ms = 500);
    f.start(1).await;
    f.crash(0, 1);
    settle(100).await;
    assert_eq!(f.status(0).await, Status::WaitingRestart);
    assert_eq!(f.calls(), vec![Call::Spawn(0, 1)], "not before the delay");
    settle(500).await;
    assert_eq!(f.calls(), vec![Call::Spawn(0, 1), Call::Spawn(0, 2)]);
}

#[actix::test]
async fn a_stop_during_the_delay_cancels_the_restart() {
    let f = fixture("stop-delay", 1, |a| a.restart.delay_ms = 500);
    f.start(1).await;
    f.crash(0, 1);
    settle(100).await;
    let rows = f
        .app
        .send(Command::all(Op::Stop))
        .await
        .expect("stop answered at once")
        .expect("not deleted");
    assert_eq!(rows[0].status, Status::Stopped);
    settle(1_000).await;
    assert_eq!(f.calls(), vec![Call::Spawn(0, 1)], "the timer is stale");
    assert_eq!(f.status(0).await, Status::Stopped);
}

#[actix::test]
async fn a_stop_terminates_and_answers_once_the_tree_is_gone() {
    let f = fixture("stop", 1, |_| {});
    f.start(1).await;
    let reply = f.app.send(Command::all(Op::Stop));
    settle(1).await;
    assert_eq!(f.calls(), vec![Call::Spawn(0, 1), Call::Terminate(0, 1)]);
    assert_eq!(f.status(0).await, Status::Stopping);
    f.app.do_send(ChildExited {
        instance: 0,
        generation: 1,
        exit: Some(Exit::signal(2)),
        uptime_ms: 5,
        requested: true,
    });
    let rows = reply.await.expect("stop").expect("not deleted");
    assert_eq!(rows[0].status, Status::Stopped);
    assert_eq!(f.calls().len(), 2, "no restart after a requested stop");
}

#[actix::test]
async fn a_group_member_reports_its_failure_with_its_generation_and_waits() {
    let f = fixture("member", 1, |a| a.restart.delay_ms = 250);
    f.app.do_send(JoinGroup {
        name: "g".into(),
        parent: f.parent.clone().recipient(),
    });
    f.start(1).await;
    f.crash(0, 1);
    settle(1_000).await;
    {
        let failures = f.failures.lock().expect("lock");
        assert_eq!(failures.len(), 1);
        let m = &failures[0];
        assert_eq!(
            (m.member.as_str(), m.instance, m.generation, m.delay_ms),
            ("member", 0, 1, 250)
        );
    }
    assert_eq!(
        f.status(0).await,
        Status::WaitingRestart,
        "the group decides, no timer of its own"
    );
    assert_eq!(f.calls(), vec![Call::Spawn(0, 1)]);
    // The group restarts it at once: answered with the new generation.
    let reply = f.app.send(Supervise(Op::StartAfter(Some(0))));
    settle(1).await;
    f.app.do_send(Spawned {
        instance: 0,
        generation: 2,
        result: Ok(2000),
    });
    let s = reply.await.expect("supervise");
    assert_eq!(s.generations, vec![(0, 2)]);
    assert_eq!(s.rows[0].status, Status::Online);
}

#[actix::test]
async fn an_app_over_its_own_intensity_errors_every_instance() {
    let f = fixture("own", 2, |a| {
        a.intensity = Some(pmx_config::Intensity {
            max: 0,
            within_ms: 5_000,
        })
    });
    f.start(2).await;
    f.crash(0, 1);
    settle(1).await;
    // Instance 1 is stopped by its app (a supervisor's step) before the escalation.
    assert!(
        f.calls().contains(&Call::Terminate(1, 1)),
        "{:?}",
        f.calls()
    );
    f.app.do_send(ChildExited {
        instance: 1,
        generation: 1,
        exit: Some(Exit::signal(2)),
        uptime_ms: 5,
        requested: true,
    });
    settle(10).await;
    let d = f.describe().await;
    assert!(
        d.iter().all(|d| d.info.status == Status::Errored),
        "{:?}",
        d.iter().map(|d| d.info.status).collect::<Vec<_>>()
    );
    assert!(d[0]
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("its intensity")));
}

#[actix::test]
async fn a_new_count_grows_with_the_next_numbers_and_shrinks_from_the_highest() {
    let f = fixture("scale", 1, |_| {});
    f.start(1).await;
    let grown = {
        let mut app = crate::protocol::App::new("scale".into(), "/bin/true".into(), "/".into());
        app.instances = pmx_config::Instances::Count(3);
        Arc::new(AppSpec {
            app,
            program: "/bin/true".into(),
            args: vec![],
            cwd: "/".into(),
            env: EnvLayers::default(),
            source: None,
            env_name: None,
        })
    };
    let reply = f.app.send(Command {
        op: Op::Start,
        instances: None,
        replace: Some(grown.clone()),
        ids: Some(vec![0, 7, 8]),
    });
    settle(1).await;
    for i in 1..3 {
        f.app.do_send(Spawned {
            instance: i,
            generation: 1,
            result: Ok(1000 + i),
        });
    }
    let rows = reply.await.expect("grow").expect("not deleted");
    let got: Vec<_> = rows.iter().map(|r| (r.instance, r.id, r.status)).collect();
    assert_eq!(
        got,
        vec![
            (0, 0, Status::Online),
            (1, 7, Status::Online),
            (2, 8, Status::Online)
        ]
    );
    // Shrink to 2: instance 2 (the highest) stops, then leaves the table.
    let mut two = (*grown).clone();
    two.app.instances = pmx_config::Instances::Count(2);
    let reply = f.app.send(Command {
        op: Op::Reset,
        instances: None,
        replace: Some(Arc::new(two)),
        ids: Some(vec![0, 7]),
    });
    settle(1).await;
    assert!(f.calls().contains(&Call::Terminate(2, 1)));
    f.app.do_send(ChildExited {
        instance: 2,
        generation: 1,
        exit: Some(Exit::signal(2)),
        uptime_ms: 5,
        requested: true,
    });
    let rows = reply.await.expect("shrink").expect("not deleted");
    let got: Vec<_> = rows.iter().map(|r| (r.instance, r.id)).collect();
    assert_eq!(got, vec![(0, 0), (1, 7)]);
}

#[test]
fn only_a_lack_of_descriptors_or_processes_is_retried() {
    let cases = [
        (Some(libc::EMFILE), true),
        (Some(libc::ENFILE), true),
        (Some(libc::EAGAIN), true),
        (Some(libc::ENOENT), false),
        (Some(libc::EACCES), false),
        (Some(libc::ENOEXEC), false),
        (None, false),
    ];
    for (errno, retried) in cases {
        assert_eq!(super::short_of_resources(errno), retried, "{errno:?}");
    }
}
