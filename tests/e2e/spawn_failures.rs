//! A spawn that fails for want of resources (issue 18, item 7, in part): EMFILE, ENFILE
//! or EAGAIN at spawn is transient. The instance waits in `waiting restart` and the spawn
//! is tried again with PM2's exponential backoff (100 ms, ×1.5, at most 15 s, no limit),
//! so it comes online by itself once the resources are back, never `errored` for good.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// One client connection, opened (and its hello said) while descriptors are plentiful.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Conn {
    fn hello(t: &TestHome) -> Conn {
        let stream = UnixStream::connect(t.home.join("pmx.sock")).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut c = Conn {
            reader: BufReader::new(stream),
            writer,
            next_id: 0,
        };
        let hello = c.call(r#""type":"hello","protocol_version":1,"version":"x""#);
        assert!(hello.get("result").is_some(), "hello: {hello}");
        c
    }

    /// Send a request (its fields after the id) and answer its reply.
    fn call(&mut self, fields: &str) -> Value {
        self.next_id += 1;
        let line = format!("{{\"id\":{},{fields}}}\n", self.next_id);
        self.writer.write_all(line.as_bytes()).expect("write");
        let mut reply = String::new();
        let n = self.reader.read_line(&mut reply).expect("a reply in time");
        assert!(n > 0, "the daemon closed the connection after {line}");
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"))
    }

    /// The row of `name` in `list`.
    fn row(&mut self, name: &str) -> Value {
        let list = self.call(r#""type":"list""#);
        list["result"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no row {name} in {list}"))
    }
}

/// `pid`'s open-file limit: (soft, hard).
fn nofile(pid: i32) -> (u64, u64) {
    let mut old: libc::rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit(2) reading into a local.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0, "prlimit read: {}", std::io::Error::last_os_error());
    (old.rlim_cur, old.rlim_max)
}

/// Set `pid`'s soft open-file limit (the hard one unchanged).
fn set_soft_nofile(pid: i32, soft: u64) {
    let (_, hard) = nofile(pid);
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: prlimit(2) with a local.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit set: {}", std::io::Error::last_os_error());
}

/// Sets the daemon's soft limit back when dropped, even after a failed assert.
struct Restore {
    pid: i32,
    soft: u64,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let (_, hard) = nofile(self.pid);
        let new = libc::rlimit {
            rlim_cur: self.soft,
            rlim_max: hard,
        };
        // SAFETY: prlimit(2) with a local; a daemon already gone is no error here.
        unsafe { libc::prlimit(self.pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    }
}

#[test]
fn a_restart_that_cannot_spawn_for_want_of_descriptors_comes_online_once_they_are_back() {
    let t = TestHome::new();
    t.ok(&["start", &app("sleeper.sh"), "--name", "fd"]);
    let first = int(&t.wait_status("fd", "online"), "pid") as i32;
    let daemon = t.daemon_pid().expect("pid file");
    let mut conn = Conn::hello(&t);
    let (soft, _) = nofile(daemon);
    // No descriptor can be opened: the lowest free one is above 3. The restart's pipes
    // fail with EMFILE.
    let restore = Restore { pid: daemon, soft };
    set_soft_nofile(daemon, 3);
    let reply = conn.call(r#""type":"restart","target":"fd""#);
    assert!(
        reply.get("result").is_some(),
        "the restart is answered: {reply}"
    );
    assert!(!alive(first), "the old process was stopped");
    // Retried, never errored, while descriptors are short (several retries in 1.5 s).
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let row = conn.row("fd");
        assert!(
            row["status"] == "waiting restart" || row["status"] == "launching",
            "waits for descriptors, never errored: {row}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let described = conn.call(r#""type":"describe","target":"fd""#);
    let why = described["result"][0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("Too many open files"),
        "describe says why: {described}"
    );
    // Descriptors back: it comes online without anyone asking.
    drop(restore);
    let row = t.wait_status("fd", "online");
    let now = int(&row, "pid") as i32;
    assert!(alive(now) && now != first, "{row}");
    assert_eq!(row["restarts"], 1, "retries are not restarts: {row}");
    let log = std::fs::read_to_string(t.home.join("pmx.log")).unwrap_or_default();
    assert!(
        log.contains("tried again shortly"),
        "pmx.log says so:\n{log}"
    );
}
