//! `pmx web`'s dashboard (issue 25, step 2): the embedded files with their types and
//! ETags, the browser guard (a foreign `Host` or a cross-site POST gets 403, the token
//! traded for a cookie at `/?token=`), and the page itself in headless Debian Chromium
//! driven by Playwright for Python (`dashboard.py`): both apps listed with a memory
//! figure, a restart clicked and the new pid shown, a screenshot, a phone's width.
//!
//! Playwright rather than selenium: one pip package whose waits are conditions in the
//! page (`wait_for_function`) instead of polling loops written here, and it drives the
//! Debian browser through `executable_path` (it never downloads one: no `playwright
//! install`); selenium would also need chromedriver and its own explicit waits.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::http::free_port;
use crate::web::{raw, two_apps, Answer};

/// A request the port must answer.
fn ask(port: u16, method: &str, path: &str, headers: &[&str]) -> Answer {
    raw(port, method, path, headers).unwrap_or_else(|| panic!("{method} {path}: refused"))
}

/// `pmx web --listen <ip>:<free port> <extra…>`: the port.
fn serve(t: &TestHome, ip: &str, extra: &[&str]) -> u16 {
    let port = free_port();
    let listen = format!("{ip}:{port}");
    let mut args = vec!["web", "--listen", listen.as_str()];
    args.extend_from_slice(extra);
    t.ok(&args);
    port
}

/// The token `pmx web` wrote.
fn token(t: &TestHome) -> String {
    std::fs::read_to_string(t.home.join("web.token"))
        .expect("web.token")
        .trim()
        .to_string()
}

/// The pid `pmx jlist` (PM2's shape) shows for `name`.
fn jlist_pid(t: &TestHome, name: &str) -> i64 {
    let rows: Value = serde_json::from_str(&t.ok(&["jlist"])).expect("jlist is JSON");
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name))
        .and_then(|r| r["pid"].as_i64())
        .unwrap_or_else(|| panic!("no pid for {name} in jlist: {rows}"))
}

#[test]
fn the_dashboard_and_its_files_are_served_with_their_types_and_etags() {
    let t = TestHome::new();
    let port = serve(&t, "127.0.0.1", &[]);
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let a = ask(port, "GET", path, &[]);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(
            a.header("content-type")
                .is_some_and(|c| c.starts_with(kind)),
            "{path}: {}",
            a.head
        );
        assert!(!a.body.is_empty(), "{path} is empty");
        let etag = a.header("etag").expect("an ETag").to_string();
        let again = ask(port, "GET", path, &[&format!("If-None-Match: {etag}")]);
        assert_eq!(again.status, 304, "{path} revalidated: {}", again.head);
        assert!(again.body.is_empty());
    }
    let page = ask(port, "GET", "/", &[]);
    assert!(page.body.contains("/assets/app.js"), "{}", page.body);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|c| c.contains("default-src 'none'")));
    let missing = ask(port, "GET", "/assets/nope.js", &[]);
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(missing.body.contains("\"not_found\""), "{}", missing.body);
}

#[test]
fn a_foreign_host_or_a_cross_site_post_is_refused_with_403_before_anything_runs() {
    let t = TestHome::new();
    two_apps(&t);
    let port = serve(&t, "127.0.0.1", &[]);
    // DNS rebinding: a page of attacker.example re-pointed at 127.0.0.1.
    for path in ["/", "/api/processes", "/metrics", "/assets/app.js"] {
        let a = ask(
            port,
            "GET",
            path,
            &[&format!("Host: attacker.example:{port}")],
        );
        assert_eq!(a.status, 403, "{path}: {}", a.body);
        let v: Value = serde_json::from_str(&a.body).expect("JSON");
        assert_eq!(v["error"]["code"], "forbidden", "{}", a.body);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("attacker.example")),
            "{}",
            a.body
        );
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let a = ask(port, "GET", "/api/processes", &[&format!("Host: {host}")]);
        assert_eq!(a.status, 200, "Host {host}: {}", a.body);
    }

    // CSRF: another site's page POSTs a restart; nothing restarts.
    let pid = t.row("a")["pid"].clone();
    let a = ask(
        port,
        "POST",
        "/api/processes/a/restart",
        &["Origin: http://attacker.example"],
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("\"forbidden\""), "{}", a.body);
    assert_eq!(
        t.row("a")["pid"],
        pid,
        "a cross-site POST restarted the app"
    );
    assert_eq!(t.row("a")["restarts"], 0);

    // The page's own POST, and one without Origin (curl), go on.
    let own = format!("Origin: http://localhost:{port}");
    let a = ask(port, "POST", "/api/processes/a/restart", &[&own]);
    assert_eq!(a.status, 200, "{}", a.body);
    t.wait_row("a", "restarted once", |r| r["restarts"] == 1);
    let a = ask(port, "POST", "/api/processes/b/restart", &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    t.wait_row("b", "restarted once", |r| r["restarts"] == 1);
}

#[test]
fn the_token_in_the_address_is_traded_for_a_cookie_that_opens_every_route() {
    let t = TestHome::new();
    two_apps(&t);
    let port = serve(&t, "0.0.0.0", &[]);
    let token = token(&t);
    let host = format!("Host: 127.0.0.1:{port}");

    let page = ask(port, "GET", "/", &[&host]);
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(
        page.body.contains("/?token="),
        "says how to get in: {}",
        page.body
    );
    let wrong = ask(
        port,
        "GET",
        &format!("/?token={}", "0".repeat(64)),
        &[&host],
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none(), "{}", wrong.head);

    let traded = ask(port, "GET", &format!("/?token={token}"), &[&host]);
    assert_eq!(traded.status, 303, "{}", traded.head);
    assert_eq!(traded.header("location"), Some("/"));
    let cookie = traded.header("set-cookie").expect("a cookie").to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value").to_string();
    assert_eq!(pair, format!("pmx_token_{port}={token}"));

    let with = format!("Cookie: theme=dark; {pair}");
    for path in ["/", "/api/processes", "/metrics", "/assets/app.js"] {
        let a = ask(port, "GET", path, &[&host, &with]);
        assert_eq!(a.status, 200, "{path} with the cookie: {}", a.body);
    }
    let own = format!("Origin: http://127.0.0.1:{port}");
    let a = ask(
        port,
        "POST",
        "/api/processes/a/restart",
        &[&host, &with, &own],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let bad = format!("Cookie: pmx_token_{port}={}", "0".repeat(64));
    let a = ask(port, "GET", "/api/processes", &[&host, &bad]);
    assert_eq!(a.status, 401, "{}", a.body);
    // The Bearer header still works; off loopback a DNS name passes the Host check
    // (a Prometheus server scraping by name) and the token still decides.
    let bearer = format!("Authorization: Bearer {token}");
    assert_eq!(
        ask(port, "GET", "/api/processes", &[&host, &bearer]).status,
        200
    );
    let named = format!("Host: pmx-host.example:{port}");
    assert_eq!(ask(port, "GET", "/metrics", &[&named]).status, 401);
    assert_eq!(ask(port, "GET", "/metrics", &[&named, &bearer]).status, 200);
}

/// The driver script (this directory's `dashboard.py`).
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/dashboard.py");

/// The browser run: the Python driver in a process group of its own, its environment
/// marked with `PMX_TEST_BROWSER=<shots dir>`; dropping it kills, by pid, the driver,
/// Playwright's node process and every Chromium process — its descendants, and those
/// carrying the mark (Chromium's crash handler detaches from the tree) — whether the
/// test passed or not.
struct Browser {
    child: Child,
    mark: String,
}

impl Browser {
    /// `dashboard.py url shots mode app` under `python`.
    fn run(python: &str, url: &str, shots: &std::path::Path, mode: &str, app: &str) -> Browser {
        let mark = shots.display().to_string();
        let child = Command::new(python)
            .env("PMX_TEST_BROWSER", &mark)
            .arg(SCRIPT)
            .args([url, &shots.display().to_string(), mode, app])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start the browser driver");
        Browser {
            child,
            mark: format!("PMX_TEST_BROWSER={mark}"),
        }
    }

    /// Wait (at most `limit`) for the driver to end: its exit status and the JSON steps
    /// it printed, or a panic with its stderr.
    fn steps(&mut self, limit: Duration) -> Vec<Value> {
        let end = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait().expect("wait for the driver") {
                Some(status) => break status,
                None if Instant::now() > end => panic!("the browser driver ran past {limit:?}"),
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "the browser driver failed: {err}\n{out}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Every process descending from `root` (children first found by their parent pid).
fn descendants(root: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    let ppid = stat.rsplit(')').next()?.split_whitespace().nth(1)?;
                    Some((pid, ppid.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

impl Drop for Browser {
    fn drop(&mut self) {
        let root = self.child.id() as i32;
        let mut tree = descendants(root);
        tree.extend(processes_with_env(&self.mark));
        tree.sort_unstable();
        tree.dedup();
        // SAFETY: kill(2) of the group this test created (its leader's pid).
        unsafe {
            libc::kill(-root, libc::SIGKILL);
        }
        for &pid in tree.iter().chain([&root]) {
            if alive(pid) {
                kill9(pid);
            }
        }
        let _ = self.child.wait();
        // SIGKILL lands asynchronously: the test ends once every one of them is gone.
        let gone = || processes_with_env(&self.mark).is_empty() && tree.iter().all(|&p| !alive(p));
        if !wait_for(DEADLINE, gone) {
            eprintln!("browser processes outlived SIGKILL: {tree:?}");
        }
    }
}

/// The step named `name` of a run.
fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
}

/// Both apps named, each with a memory figure such as `1.5 MiB`.
fn assert_listed(steps: &[Value]) {
    let listed = step(steps, "listed");
    for name in ["a", "b"] {
        assert!(
            listed["names"]
                .as_array()
                .is_some_and(|n| n.iter().any(|x| x == name)),
            "{listed}"
        );
        let memory = listed["memory"][name].as_str().unwrap_or_default();
        let (figure, unit) = memory.split_once(' ').unwrap_or_default();
        assert!(
            figure.parse::<f64>().is_ok_and(|m| m > 0.0)
                && ["B", "KiB", "MiB", "GiB"].contains(&unit),
            "{name}'s memory: {memory:?}"
        );
    }
}

/// Whether the driver's tools are here: a python with Playwright and Debian's Chromium.
fn browser_tools() -> Option<String> {
    let python = python_with("playwright.sync_api");
    let found = python.is_some() && std::path::Path::new("/usr/bin/chromium").exists();
    tool_available(
        found,
        "no python imports playwright, or no /usr/bin/chromium (.ci/run installs both)",
    )
    .then(|| python.unwrap_or_default())
}

#[test]
fn the_dashboard_in_chromium_lists_both_apps_restarts_one_and_fits_a_phone() {
    let Some(python) = browser_tools() else {
        return;
    };
    let t = TestHome::new();
    two_apps(&t);
    // A long name and a wide status word must not widen a phone's page either.
    let long = "a-rather-long-application-name-for-a-phone";
    t.ok(&["start", &app("sleeper.sh"), "--name", long]);
    t.wait_status(long, "online");
    t.ok(&["stop", long]);
    let port = serve(&t, "127.0.0.1", &[]);
    let before = jlist_pid(&t, "a");
    let shots = t.path("shots");
    std::fs::create_dir_all(&shots).expect("mkdir shots");

    let url = format!("http://127.0.0.1:{port}/");
    let mut browser = Browser::run(&python, &url, &shots, "full", "a");
    let steps = browser.steps(Duration::from_secs(120));
    drop(browser);

    assert_listed(&steps);
    let selected = step(&steps, "selected");
    assert_eq!(selected["pid"], before.to_string(), "the page's pid of a");
    // The page took the event stream (its header says `live`), not polling.
    step(&steps, "live");
    let restarted = step(&steps, "restarted");
    let after: i64 = restarted["after"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{restarted}"));
    assert_ne!(after, before, "{restarted}");
    assert_eq!(jlist_pid(&t, "a"), after, "jlist agrees with the page");
    assert_eq!(t.row("b")["restarts"], 0, "only a restarted");
    let failed = step(&steps, "failed");
    assert!(
        failed["notice"]
            .as_str()
            .is_some_and(|n| n.starts_with("stop a: ") && n.contains("999999")),
        "the daemon's error is shown: {failed}"
    );
    t.wait_status("a", "online");

    let phone = step(&steps, "phone");
    assert_eq!(phone["view"], 390, "{phone}");
    assert!(
        phone["doc"].as_i64().is_some_and(|w| w <= 390)
            && phone["body"].as_i64().is_some_and(|w| w <= 390),
        "horizontal overflow at 390 px: {phone}"
    );
    let done = step(&steps, "done");
    assert_eq!(
        done["errors"],
        serde_json::json!([]),
        "script errors: {done}"
    );
    for shot in ["dashboard.png", "phone.png"] {
        let png = std::fs::read(shots.join(shot)).expect("the screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot} is not a PNG");
        assert!(png.len() > 10_000, "{shot} is only {} bytes", png.len());
    }
}

#[test]
fn the_dashboard_in_chromium_opens_with_the_token_in_the_address() {
    let Some(python) = browser_tools() else {
        return;
    };
    let t = TestHome::new();
    two_apps(&t);
    let port = serve(&t, "0.0.0.0", &[]);
    let token = token(&t);
    let shots = t.path("shots");
    std::fs::create_dir_all(&shots).expect("mkdir shots");

    let url = format!("http://127.0.0.1:{port}/?token={token}");
    let mut browser = Browser::run(&python, &url, &shots, "look", "a");
    let steps = browser.steps(Duration::from_secs(120));
    drop(browser);

    let loaded = step(&steps, "loaded");
    assert_eq!(
        loaded["url"],
        format!("http://127.0.0.1:{port}/"),
        "the token left the address bar: {loaded}"
    );
    assert_listed(&steps);
    let done = step(&steps, "done");
    assert_eq!(
        done["errors"],
        serde_json::json!([]),
        "script errors: {done}"
    );
}

#[test]
fn the_dashboard_says_the_daemon_is_unreachable_once_it_is_killed() {
    // A killed daemon's port stays held by the fd holder (so a new daemon serves it
    // without refusing anyone): nothing refuses, so the page must time its reads out
    // rather than show stale figures as `live`.
    let Some(python) = browser_tools() else {
        return;
    };
    let t = TestHome::new();
    two_apps(&t);
    let port = serve(&t, "127.0.0.1", &[]);
    let daemon = t.daemon_pid().expect("daemon pid");
    let shots = t.path("shots");
    std::fs::create_dir_all(&shots).expect("mkdir shots");
    let url = format!("http://127.0.0.1:{port}/");
    let mut browser = Browser::run(&python, &url, &shots, "kill", &daemon.to_string());
    let steps = browser.steps(Duration::from_secs(120));
    drop(browser);
    assert_listed(&steps);
    step(&steps, "live");
    step(&steps, "unreachable");
    assert!(!alive(daemon), "the daemon was killed");
}
