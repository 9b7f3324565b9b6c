//! The rolling reload's sequence through the spawner seam: one instance at a time, the
//! old process terminated only once its replacement is online, the next instance's
//! replacement only once the old process is gone; a second reload waits for the first.

use super::*;

/// The test's Process actors: `instance`'s process `generation` spawned with a pid.
fn spawned(f: &Fixture, instance: u32, generation: u64) {
    f.app.do_send(Spawned {
        instance,
        generation,
        result: Ok(2000 + instance * 10 + generation as u32),
    });
}

/// `instance`'s process `generation` is gone after the stop pmx asked for.
fn stopped(f: &Fixture, instance: u32, generation: u64) {
    f.app.do_send(ChildExited {
        instance,
        generation,
        exit: Some(Exit::code(0)),
        uptime_ms: 1_000,
        requested: true,
    });
}

fn reload() -> Reload {
    Reload {
        instances: None,
        replace: None,
        ids: None,
    }
}

#[actix::test]
async fn a_reload_replaces_one_instance_at_a_time_and_a_second_waits_for_it() {
    let f = fixture("rolling", 2, |a| {
        a.listen = vec!["tcp://127.0.0.1:0".into()]
    });
    f.start(2).await;
    let first = f.app.send(reload());
    settle(1).await;
    let second = f.app.send(reload());
    settle(1).await;
    let start = vec![Call::Spawn(0, 1), Call::Spawn(1, 1)];
    let with = |more: &[Call]| [start.clone(), more.to_vec()].concat();
    // Instance 0's replacement only; nothing stopped yet.
    assert_eq!(f.calls(), with(&[Call::Spawn(0, 2)]));
    spawned(&f, 0, 2);
    settle(1).await;
    assert_eq!(
        f.calls(),
        with(&[Call::Spawn(0, 2), Call::Terminate(0, 1)]),
        "the old one is stopped once its replacement is online"
    );
    let d = f.describe().await;
    assert_eq!(
        (d[0].info.pid, d[0].info.status, d[0].info.restarts),
        (Some(2002), Status::Online, 1),
        "listed with the replacement's pid"
    );
    assert_eq!(
        f.calls().len(),
        4,
        "instance 1 waits for the old 0 to be gone"
    );
    stopped(&f, 0, 1);
    settle(1).await;
    assert_eq!(
        f.calls(),
        with(&[Call::Spawn(0, 2), Call::Terminate(0, 1), Call::Spawn(1, 2)])
    );
    spawned(&f, 1, 2);
    settle(1).await;
    stopped(&f, 1, 1);
    let rows = first.await.expect("answered").expect("reloaded");
    assert_eq!(
        rows.iter().map(|r| r.pid).collect::<Vec<_>>(),
        [Some(2002), Some(2012)]
    );
    // The second reload began only now, with instance 0 again.
    settle(1).await;
    assert_eq!(f.calls().last(), Some(&Call::Spawn(0, 3)));
    for i in 0..2 {
        spawned(&f, i, 3);
        settle(1).await;
        stopped(&f, i, 2);
        settle(1).await;
    }
    second.await.expect("answered").expect("reloaded");
    let d = f.describe().await;
    assert_eq!(
        d.iter().map(|d| d.info.restarts).collect::<Vec<_>>(),
        [2, 2]
    );
}

#[actix::test]
async fn a_replacement_dying_before_ready_stops_the_reload_there() {
    let f = fixture("rolling-fail", 2, |a| {
        a.listen = vec!["tcp://127.0.0.1:0".into()];
        a.wait_ready = true;
    });
    let reply = f.app.send(Command::all(Op::Start));
    for i in 0..2 {
        spawned(&f, i, 1);
        f.app.do_send(Ready {
            instance: i,
            generation: 1,
        });
    }
    reply.await.expect("start").expect("not deleted");
    let r = f.app.send(reload());
    settle(1).await;
    spawned(&f, 0, 2);
    settle(1).await;
    f.app.do_send(ChildExited {
        instance: 0,
        generation: 2,
        exit: Some(Exit::code(4)),
        uptime_ms: 100,
        requested: false,
    });
    let err = r.await.expect("answered").expect_err("failed");
    let ReloadError::Failed(why) = err else {
        panic!("{err:?}")
    };
    assert!(
        why.contains("instance 0") && why.contains("exited with code 4 before it was ready"),
        "{why}"
    );
    assert!(
        !f.calls().iter().any(|c| matches!(c, Call::Terminate(..))),
        "nothing stopped: {:?}",
        f.calls()
    );
    assert!(
        !f.calls().contains(&Call::Spawn(1, 2)),
        "instance 1 not touched"
    );
    let d = f.describe().await;
    assert_eq!(
        d.iter()
            .map(|d| (d.info.pid, d.info.restarts))
            .collect::<Vec<_>>(),
        [(Some(2001), 0), (Some(2011), 0)]
    );
}
