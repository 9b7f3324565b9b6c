//! The App supervisor's rows as the Root receives them: each change reported once, a
//! shrink's smaller count, and an instance deleted by id with its siblings renumbered and
//! their reports still routed to them.

use super::*;

/// The reports so far, merged as the Root merges them: (instance, id, status), by number.
fn merged(reports: &[Report]) -> Vec<(u32, u64, Status)> {
    let mut rows: Vec<(u32, u64, Status)> = Vec::new();
    for r in reports {
        for row in &r.rows {
            let i = &row.info;
            rows.retain(|(n, _, _)| *n != i.instance);
            rows.push((i.instance, i.id, i.status));
        }
        rows.retain(|(n, _, _)| (*n as usize) < r.count);
    }
    rows.sort_by_key(|(n, _, _)| *n);
    rows
}

#[actix::test]
async fn starting_n_instances_reports_each_row_change_once() {
    // Before, every change sent all N rows: N instances coming online cost N × N rows
    // (40 000 here), queued in the Root's mailbox faster than it handled them.
    const N: u32 = 200;
    let f = fixture("many", N, |_| {});
    f.start(N).await;
    let rows = f.app.send(Command::all(Op::Stop));
    settle(1).await;
    for i in 0..N {
        f.app.do_send(ChildExited {
            instance: i,
            generation: 1,
            exit: Some(Exit::signal(2)),
            uptime_ms: 5,
            requested: true,
        });
    }
    rows.await.expect("stop").expect("not deleted");
    settle(1).await;
    let reports = f.reports.lock().expect("lock");
    let sent: usize = reports.iter().map(|r| r.rows.len()).sum();
    // Each instance: stopped (first report), launching, online, stopping, stopped.
    assert!(
        sent <= 5 * N as usize,
        "{sent} rows sent in {} reports for {N} instances",
        reports.len()
    );
    // The merged rows are exactly the app's rows: `list` stays exact.
    let want: Vec<(u32, u64, Status)> =
        (0..N).map(|i| (i, u64::from(i), Status::Stopped)).collect();
    assert_eq!(merged(&reports), want);
}

#[actix::test]
async fn a_shrink_reports_the_smaller_count() {
    let f = fixture("shrink-report", 3, |_| {});
    f.start(3).await;
    let spec = {
        let d = f.describe().await;
        assert_eq!(d.len(), 3);
        let mut app =
            crate::protocol::App::new("shrink-report".into(), "/bin/true".into(), d[0].cwd.clone());
        app.instances = pmx_config::Instances::Count(1);
        Arc::new(AppSpec {
            app,
            program: "/bin/true".into(),
            args: vec![],
            cwd: d[0].cwd.clone(),
            env: EnvLayers::default(),
            source: None,
            env_name: None,
        })
    };
    let reply = f.app.send(Command {
        op: Op::Start,
        instances: None,
        replace: Some(spec),
        ids: Some(vec![0]),
    });
    settle(1).await;
    for i in 1..3 {
        f.app.do_send(ChildExited {
            instance: i,
            generation: 1,
            exit: Some(Exit::signal(2)),
            uptime_ms: 5,
            requested: true,
        });
    }
    reply.await.expect("shrink").expect("not deleted");
    settle(1).await;
    let reports = f.reports.lock().expect("lock");
    assert_eq!(merged(&reports), vec![(0, 0, Status::Online)]);
}

#[actix::test]
async fn deleting_one_instance_keeps_the_others_renumbered_and_their_reports_routed() {
    let f = fixture("two", 3, |_| {});
    f.start(3).await;
    let one = {
        let d = f.describe().await;
        let mut app = crate::protocol::App::new("two".into(), "/bin/true".into(), d[0].cwd.clone());
        app.instances = pmx_config::Instances::Count(2);
        AppSpec {
            app,
            program: "/bin/true".into(),
            args: vec![],
            cwd: d[0].cwd.clone(),
            env: EnvLayers::default(),
            source: None,
            env_name: None,
        }
    };
    // Delete instance 0 (id 0): ids 1 and 2 become instances 0 and 1.
    let reply = f.app.send(Command {
        op: Op::Delete,
        instances: Some(vec![0]),
        replace: Some(Arc::new(one.clone())),
        ids: Some(vec![1, 2]),
    });
    settle(1).await;
    assert!(f.calls().contains(&Call::Terminate(0, 1)));
    assert!(!f.calls().contains(&Call::Terminate(1, 1)));
    f.app.do_send(ChildExited {
        instance: 0,
        generation: 1,
        exit: Some(Exit::signal(2)),
        uptime_ms: 5,
        requested: true,
    });
    let rows = reply.await.expect("delete").expect("not deleted");
    let got: Vec<_> = rows.iter().map(|r| (r.id, r.status)).collect();
    assert_eq!(
        got,
        vec![(0, Status::Stopped)],
        "the deleted instance's row"
    );
    settle(1).await;
    let rows: Vec<_> = f
        .describe()
        .await
        .iter()
        .map(|d| (d.info.instance, d.info.id, d.info.status))
        .collect();
    assert_eq!(rows, vec![(0, 1, Status::Online), (1, 2, Status::Online)]);
    {
        let reports = f.reports.lock().expect("lock");
        assert_eq!(
            merged(&reports),
            vec![(0, 1, Status::Online), (1, 2, Status::Online)]
        );
    }
    // A crash of id 2's process (key 2, now instance 1) lands on it, not on another slot.
    f.crash(2, 1);
    settle(1).await;
    assert!(f.calls().contains(&Call::Spawn(2, 2)), "{:?}", f.calls());
    // The app's delete, then a command racing it: answered `Deleted`, nothing done.
    let delete = f.app.send(Command::all(Op::Delete));
    settle(1).await;
    let late = f.app.send(Command::all(Op::Restart));
    assert!(matches!(late.await, Ok(Err(Deleted))));
    // A stop (`kill`) racing the delete is carried out: it answers once the trees are gone.
    let stop = f.app.send(Command::all(Op::Stop));
    settle(1).await;
    for (key, generation) in [(1, 1), (2, 2)] {
        f.app.do_send(ChildExited {
            instance: key,
            generation,
            exit: Some(Exit::signal(2)),
            uptime_ms: 5,
            requested: true,
        });
    }
    assert!(delete.await.expect("delete").is_ok());
    // Answered with the rows or, once the delete stopped the actor, a closed mailbox (the
    // Root leaves the app out then): never refused while the trees still ran.
    match stop.await {
        Ok(Ok(rows)) => assert!(rows.iter().all(|r| r.status == Status::Stopped)),
        Ok(Err(Deleted)) => panic!("a stop racing a delete was refused"),
        Err(_) => {}
    }
}
