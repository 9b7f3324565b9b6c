//! Instances of any language behind one port: a Perl HTTP/1.1 server and real framework
//! servers (gunicorn, uvicorn) on the socket pmx lends them; what `describe` shows of the
//! sockets, and which cluster apps get the "each instance binds its own port" warning.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::http::{answerers_200, free_port, start_web};
use crate::scale::{online, perl, vars};

#[test]
fn four_perl_instances_have_four_pids_numbers_0_to_3_and_answer_on_one_port() {
    if !perl("four_perl_instances") {
        return;
    }
    let t = TestHome::new();
    let (port, _) = start_web(&t, "fd_http.pl", &["-i", "4"]);
    let rows = online(&t, "web", 4);
    let pids: BTreeSet<i64> = rows.iter().map(|r| r.2).collect();
    assert_eq!(pids.len(), 4, "four distinct pids: {rows:?}");
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(vars(&rows, "PMX_INSTANCE"), ["0", "1", "2", "3"]);
    assert_eq!(vars(&rows, "NODE_APP_INSTANCE"), ["0", "1", "2", "3"]);
    let seen = answerers_200(port, 4);
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3]);
    for (n, _, pid) in &rows {
        assert_eq!(seen[n], (*pid, "web".to_string()), "instance {n} answers");
    }
    assert!(t.list().iter().all(|r| r["mode"] == "cluster"));
}

#[test]
fn a_stopped_perl_server_finishes_the_request_in_hand() {
    if !perl("a_stopped_perl_server_finishes") {
        return;
    }
    let t = TestHome::new();
    let (port, _) = start_web(&t, "fd_http.pl", &[]);
    online(&t, "web", 1);
    assert!(answerers_200(port, 1).contains_key(&0), "it serves");
    // Half a request: the server has accepted it and waits for the rest.
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let stop = t
        .cmd(&["stop", "web"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pmx stop");
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b"\r\n").expect("the rest of the request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n"),
        "the request in hand is answered: {text:?}"
    );
    let out = stop.wait_with_output().expect("pmx stop ends");
    assert!(out.status.success());
    let row = t.wait_status("web", "stopped");
    assert!(row["pid"].is_null());
    let out = t.ok(&["logs", "web", "--nostream", "--lines", "5", "--raw"]);
    assert!(out.contains("stopping"), "it exited on its own: {out}");
}

/// The python that has gunicorn and uvicorn: `PMX_TEST_PYTHON` (`.ci/run` sets it to a
/// venv's), else python3.
fn test_python() -> (String, bool) {
    match std::env::var("PMX_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => (p, true),
        _ => ("python3".into(), false),
    }
}

fn imports(python: &str, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn gunicorn_and_uvicorn_serve_on_the_socket_pmx_lends_them() {
    let (python, required) = test_python();
    let mut ran = 0;
    // gunicorn takes the socket from LISTEN_FDS/LISTEN_PID itself (its systemd support);
    // `--bind fd://3` beside them would hand it fd 3 twice, and it fails (EBADF).
    let servers: [(&str, Vec<&str>); 2] = [
        (
            "gunicorn",
            vec!["-m", "gunicorn", "--workers", "1", "wsgi_app:app"],
        ),
        (
            "uvicorn",
            vec!["-m", "uvicorn", "--fd", "3", "wsgi_app:asgi"],
        ),
    ];
    for (module, args) in servers {
        if !imports(&python, module) {
            assert!(
                !required,
                "PMX_TEST_PYTHON={python} cannot import {module} (`.ci/run` installs it)"
            );
            eprintln!(
                "gunicorn_and_uvicorn: {module} SKIPPED, {python} cannot import it \
                 (`.ci/run` installs gunicorn and uvicorn in a venv)"
            );
            continue;
        }
        let t = TestHome::new();
        let port = free_port();
        let listen = format!("tcp://127.0.0.1:{port}");
        let fixtures = fixtures().join("apps");
        let mut c = t.cmd(&[
            "start",
            &python,
            "--name",
            module,
            "-i",
            "2",
            "--listen",
            &listen,
            "--cwd",
            &fixtures.to_string_lossy(),
            "--",
        ]);
        c.args(&args);
        // gunicorn 23+ writes a control socket under $HOME.
        c.env("HOME", &t.work);
        expect_ok(
            &run_with_timeout(c, Duration::from_secs(60)),
            &format!("start {module}"),
        );
        let rows = online(&t, module, 2);
        let seen = answerers_200(port, 2);
        assert_eq!(
            seen.keys().copied().collect::<Vec<_>>(),
            [0, 1],
            "{module}: both instances answer on the one port: {seen:?}"
        );
        assert!(seen.values().all(|(_, what)| what == module), "{seen:?}");
        if module == "uvicorn" {
            // uvicorn serves in its own process: the listed pid answers.
            for (n, _, pid) in &rows {
                assert_eq!(seen[n].0, *pid);
            }
        }
        ran += 1;
    }
    if ran == 0 {
        eprintln!("gunicorn_and_uvicorn_serve_on_the_socket_pmx_lends_them: nothing ran");
    }
}

#[test]
fn describe_shows_the_exec_mode_the_sockets_and_whether_they_are_bound() {
    let t = TestHome::new();
    let (_, listen) = start_web(&t, "fd_http.py", &["-i", "2"]);
    online(&t, "web", 2);
    let text = t.ok(&["describe", "web"]);
    for want in [
        "exec mode".to_string(),
        format!("{listen} (bound)"),
        "NODE_APP_INSTANCE=1".to_string(),
    ] {
        assert!(text.contains(&want), "{want}: {text}");
    }
    let described: Value =
        serde_json::from_str(&t.ok(&["describe", "web", "--json"])).expect("describe");
    let d = &described[1];
    assert_eq!(d["exec_mode"], "cluster");
    assert_eq!(
        d["listen"],
        serde_json::json!([{"address": listen, "bound": true}])
    );
    assert_eq!(d["instance_var"], "NODE_APP_INSTANCE");
    assert_eq!(d["status"], "online");
}

#[test]
fn only_a_non_node_cluster_without_listen_is_warned_about() {
    let t = TestHome::new();
    let warned = |args: &[&str]| {
        let out = t.run(args);
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stderr).contains("each instance binds its own port")
    };
    assert!(warned(&[
        "start",
        &app("sleeper.sh"),
        "-i",
        "2",
        "--name",
        "a"
    ]));
    assert!(!warned(&[
        "start",
        &app("sleeper.sh"),
        "-i",
        "2",
        "-x",
        "--name",
        "b"
    ]));
    let js = t.path("server.js");
    std::fs::write(&js, "setInterval(() => {}, 1000);\n").expect("write");
    // Only the warning is looked at: node may be missing, the start may then fail.
    let out = t.run(&["start", &js.to_string_lossy(), "-i", "2", "--name", "c"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("each instance binds its own port"),
        "node apps share their ports through pmx"
    );
}
