//! PM2 ecosystem files under pmx (SPEC §3 `import`, `ecosystem`; issue 13): the files of
//! `fixtures/pm2/<case>/`, written as PM2's users write them, started by PM2 itself and by
//! pmx and compared app by app (script, args, cwd, environment, instance count); every
//! fixture converted by `pmx import -o -` into a file `pmx up --dry-run` accepts and
//! started by `pmx start`; the errors and warnings of `pmx import`; `pmx ecosystem`.
//!
//! The differential test needs PM2 (`.ci/run` installs PM2 7). It runs PM2 in a private
//! `PM2_HOME` whose guard runs `pm2 kill` and then kills what is left of that home by pid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// `fixtures/pm2`.
fn pm2_fixtures() -> PathBuf {
    fixtures().join("pm2")
}

/// Every case directory of `fixtures/pm2`, sorted.
fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(pm2_fixtures())
        .expect("fixtures/pm2")
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "fixtures/pm2 has {} cases", names.len());
    names
}

/// A case copied into a scratch directory (PM2 and pmx both write beside the file: log
/// files, `ecosystem.ron`), so the repository stays clean.
struct Case {
    name: String,
    _tmp: tempfile::TempDir,
    /// The copy of the case's directory: both managers run from here.
    dir: PathBuf,
    /// The PM2 file's name in `dir`.
    file: String,
    /// `--env production` when the file has `env_production`.
    env: Option<&'static str>,
}

impl Case {
    fn new(name: &str) -> Case {
        let tmp = tempfile::Builder::new()
            .prefix("pmx-pm2-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let dir = tmp.path().join(name);
        copy_dir(&pm2_fixtures().join(name), &dir);
        let file = std::fs::read_dir(&dir)
            .expect("case dir")
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .find(|f| f.starts_with("ecosystem.") || f.starts_with("process."))
            .unwrap_or_else(|| panic!("fixtures/pm2/{name} has no ecosystem.* or process.* file"));
        let text = std::fs::read_to_string(dir.join(&file)).expect("read the PM2 file");
        let env = text.contains("env_production").then_some("production");
        Case {
            name: name.to_string(),
            _tmp: tmp,
            dir,
            file,
            env,
        }
    }

    /// `pmx args…` in `t`'s home, run from the case's directory with the fixed caller
    /// environment the PM2 side gets too.
    fn pmx(&self, t: &TestHome, args: &[&str]) -> Output {
        let mut c = t.cmd(args);
        c.current_dir(&self.dir).env_clear().envs(caller_env());
        c.env("PMX_HOME", &t.home);
        run_with_timeout(c, Duration::from_secs(120))
    }

    fn pmx_ok(&self, t: &TestHome, args: &[&str]) -> String {
        expect_ok(&self.pmx(t, args), &format!("{}: pmx {args:?}", self.name))
    }

    /// Start the case's file under pmx: `pmx start <file>`, or `pmx up <file> --env
    /// production` when it has `env_production`.
    fn pmx_start(&self, t: &TestHome) {
        match self.env {
            None => self.pmx_ok(t, &["start", &self.file]),
            Some(env) => self.pmx_ok(t, &["up", &self.file, "--env", env]),
        };
    }
}

/// Copy a directory tree (file modes kept: the scripts stay executable).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The caller environment of both managers: small and fixed, so what each passes through
/// is compared too; `PMX_E2E_CALLER` marks it.
fn caller_env() -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        ),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        (
            "PMX_E2E_CALLER".to_string(),
            "from the caller: both pass it on".to_string(),
        ),
    ];
    if let Ok(home) = std::env::var("HOME") {
        env.push(("HOME".to_string(), home));
    }
    env
}

// ---------------------------------------------------------------------------------------
// PM2

/// A private `PM2_HOME`. Its `Drop` runs `pm2 kill`, then kills the daemon by the pid in
/// `pm2.pid` and any process still carrying this `PM2_HOME` in its environment (PM2 puts
/// it in every app's), so a failed assert leaves nothing behind.
pub(crate) struct Pm2 {
    _tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Pm2 {
    /// Whether an executable `pm2` is on PATH. (Looked up, not run: most `pm2` commands,
    /// `--version` included, start a daemon.)
    pub(crate) fn installed() -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|d| {
                std::fs::metadata(d.join("pm2"))
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        })
    }

    pub(crate) fn new() -> Pm2 {
        let tmp = tempfile::Builder::new()
            .prefix("pmx-e2e-pm2-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let home = tmp.path().join("pm2");
        Pm2 { _tmp: tmp, home }
    }

    /// `pm2 args…` in this home, from `dir`, with the fixed caller environment.
    pub(crate) fn run(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = Command::new("pm2");
        c.args(args)
            .current_dir(dir)
            .env_clear()
            .envs(caller_env())
            .env("PM2_HOME", &self.home)
            .stdin(Stdio::null());
        run_with_timeout(c, Duration::from_secs(120))
    }

    pub(crate) fn ok(&self, dir: &Path, args: &[&str]) -> String {
        expect_ok(&self.run(dir, args), &format!("pm2 {args:?}"))
    }

    /// `pm2 jlist`.
    pub(crate) fn jlist(&self, dir: &Path) -> Vec<Value> {
        let text = self.ok(dir, &["jlist"]);
        // Only the JSON array (PM2 may print a notice before it).
        let json = text.find('[').map(|i| &text[i..]).unwrap_or(&text);
        serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("pm2 jlist: {e}: {text}"))
    }

    fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home.join("pm2.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        if !self.home.exists() {
            // PM2 never ran here (`pm2 kill` would start a daemon to stop it).
            return;
        }
        let daemon = self.daemon_pid();
        let _ = self.run(Path::new("/"), &["kill"]);
        if let Some(pid) = daemon {
            if alive(pid) {
                kill9(pid);
            }
        }
        for pid in processes_with_env(&format!("PM2_HOME={}", self.home.display())) {
            kill9(pid);
        }
    }
}

// ---------------------------------------------------------------------------------------
// What each manager resolved

/// One process as its manager resolved it: what the comparison looks at.
#[derive(Debug, Clone, PartialEq)]
struct Resolved {
    /// The script's absolute path (PM2's `pm_exec_path`).
    script: String,
    /// What runs the script before it: PM2's `node_args` (none with interpreter `none`),
    /// pmx's interpreter arguments.
    interpreter_args: Vec<String>,
    /// The app's own arguments, after the script.
    args: Vec<String>,
    cwd: String,
    /// The environment, each manager's own variables left out.
    env: BTreeMap<String, String>,
}

/// A JSON scalar as the app gets it (JavaScript's `String(v)`; jlist's numbers are
/// already printed by JavaScript). Objects and arrays: `None` (PM2 never passes an
/// object from `env_<name>` to the app).
fn js_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(js_string).collect(),
        Value::Null => Vec::new(),
        other => vec![js_string(other).unwrap_or_default()],
    }
}

/// Variables PM2 7 adds to `pm2_env.env` of its own: `PM2_HOME` (API.js `_startJson`),
/// what its CLI sets in its own environment and passes on (`PM2_USAGE`,
/// `PM2_JSON_PROCESSING`, `PM2_INTERACTOR_PROCESSING`, `PM2_DISCRETE_MODE`), `unique_id`
/// (God.js `prepare`). `PWD` is left out on both sides: PM2 overwrites it with the raw
/// `cwd` of the file's last app that had one (Common.js `prepareAppConf`).
const PM2_OWN: &[&str] = &[
    "PM2_HOME",
    "PM2_USAGE",
    "PM2_JSON_PROCESSING",
    "PM2_INTERACTOR_PROCESSING",
    "PM2_DISCRETE_MODE",
    "unique_id",
    "PWD",
];

/// Variables pmx injects (SPEC §4) plus `PMX_HOME` (the caller's, pmx's own) and `PWD`.
/// `pm_id` is PM2's own too, but PM2 passes it from `pm2_env`, not `pm2_env.env`, so
/// jlist's `env` never shows it.
const PMX_OWN: &[&str] = &[
    "PMX_ID",
    "pm_id",
    "PMX_APP_NAME",
    "PMX_INSTANCE",
    "PMX_TREE",
    "PMX_HOME",
    "NODE_APP_INSTANCE",
    "PWD",
];

/// PM2's processes by app name, each app's sorted by instance.
fn pm2_resolved(jlist: &[Value]) -> BTreeMap<String, Vec<Resolved>> {
    let mut by_name: BTreeMap<String, Vec<(i64, Resolved)>> = BTreeMap::new();
    for p in jlist {
        let e = &p["pm2_env"];
        let name = p["name"].as_str().expect("jlist name").to_string();
        let interpreter = e["exec_interpreter"].as_str().unwrap_or("");
        let mut env: BTreeMap<String, String> = e["env"]
            .as_object()
            .expect("pm2_env.env")
            .iter()
            .filter_map(|(k, v)| js_string(v).map(|s| (k.clone(), s)))
            .collect();
        for k in PM2_OWN {
            env.remove(*k);
        }
        // Modularizer.getAdditionalConf: a variable named after the app, "{}".
        env.remove(&name);
        // Common.resolveInterpreter sets it for every python interpreter.
        if interpreter.contains("python") {
            env.remove("PYTHONUNBUFFERED");
        }
        let instance_var = e["instance_var"].as_str().unwrap_or("NODE_APP_INSTANCE");
        let instance = e[instance_var].as_i64().unwrap_or(0);
        let resolved = Resolved {
            script: e["pm_exec_path"].as_str().unwrap_or("").to_string(),
            interpreter_args: if interpreter == "none" {
                Vec::new()
            } else {
                strings(&e["node_args"])
            },
            args: strings(&e["args"]),
            cwd: e["pm_cwd"].as_str().unwrap_or("").to_string(),
            env,
        };
        by_name.entry(name).or_default().push((instance, resolved));
    }
    by_name
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_by_key(|(i, _)| *i);
            (name, v.into_iter().map(|(_, r)| r).collect())
        })
        .collect()
}

/// pmx's processes by app name, each app's sorted by instance. The script is found in
/// what pmx execs (`program`, then `args`) at the path PM2 resolved (`expected`): what
/// comes before it is the interpreter's, what follows the app's.
fn pmx_resolved(
    case: &Case,
    t: &TestHome,
    expected: &BTreeMap<String, Vec<Resolved>>,
) -> BTreeMap<String, Vec<Resolved>> {
    let rows: Vec<Value> =
        serde_json::from_str(&case.pmx_ok(t, &["list", "--json"])).expect("pmx list --json");
    let mut by_name: BTreeMap<String, Vec<(i64, Resolved)>> = BTreeMap::new();
    for row in rows {
        let id = int(&row, "id").to_string();
        let name = row["name"].as_str().expect("name").to_string();
        let described: Value = serde_json::from_str(&case.pmx_ok(t, &["describe", &id, "--json"]))
            .expect("pmx describe --json");
        let d = &described[0];
        let mut argv = vec![d["program"].as_str().expect("program").to_string()];
        argv.extend(strings(&d["args"]));
        let want = expected
            .get(&name)
            .and_then(|v| v.first())
            .map(|r| r.script.clone())
            .unwrap_or_default();
        let (script, interpreter_args, args) = match argv.iter().position(|a| *a == want) {
            Some(k) => (
                argv[k].clone(),
                argv[1.min(k)..k].to_vec(),
                argv[k + 1..].to_vec(),
            ),
            // Not there: show the whole command line in place of the script.
            None => (format!("(not exec'd; pmx runs {argv:?})"), vec![], vec![]),
        };
        let mut env: BTreeMap<String, String> = case
            .pmx_ok(t, &["env", &id])
            .lines()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        for k in PMX_OWN {
            env.remove(*k);
        }
        let resolved = Resolved {
            script,
            interpreter_args,
            args,
            cwd: d["cwd"].as_str().unwrap_or("").to_string(),
            env,
        };
        by_name
            .entry(name)
            .or_default()
            .push((int(&row, "instance"), resolved));
    }
    by_name
        .into_iter()
        .map(|(name, mut v)| {
            v.sort_by_key(|(i, _)| *i);
            (name, v.into_iter().map(|(_, r)| r).collect())
        })
        .collect()
}

/// Every difference between PM2's and pmx's apps, one line each.
fn differences(
    case: &str,
    pm2: &BTreeMap<String, Vec<Resolved>>,
    pmx: &BTreeMap<String, Vec<Resolved>>,
) -> Vec<String> {
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = pm2.keys().chain(pmx.keys()).collect();
    for name in names {
        let (a, b) = match (pm2.get(name), pmx.get(name)) {
            (Some(a), Some(b)) => (a, b),
            (Some(_), None) => {
                out.push(format!("{case}: app {name:?}: only PM2 runs it"));
                continue;
            }
            _ => {
                out.push(format!("{case}: app {name:?}: only pmx runs it"));
                continue;
            }
        };
        if a.len() != b.len() {
            out.push(format!(
                "{case}: app {name:?}: instances: PM2 {}, pmx {}",
                a.len(),
                b.len()
            ));
        }
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let at = format!("{case}: app {name:?} instance {i}");
            if x.script != y.script {
                out.push(format!(
                    "{at}: script: PM2 {:?}, pmx {:?}",
                    x.script, y.script
                ));
            }
            if x.interpreter_args != y.interpreter_args {
                out.push(format!(
                    "{at}: interpreter args: PM2 {:?}, pmx {:?}",
                    x.interpreter_args, y.interpreter_args
                ));
            }
            if x.args != y.args {
                out.push(format!("{at}: args: PM2 {:?}, pmx {:?}", x.args, y.args));
            }
            if x.cwd != y.cwd {
                out.push(format!("{at}: cwd: PM2 {:?}, pmx {:?}", x.cwd, y.cwd));
            }
            let keys: std::collections::BTreeSet<&String> =
                x.env.keys().chain(y.env.keys()).collect();
            for k in keys {
                match (x.env.get(k), y.env.get(k)) {
                    (Some(p), Some(q)) if p != q => {
                        out.push(format!("{at}: env {k}: PM2 {p:?}, pmx {q:?}"))
                    }
                    (Some(p), None) => out.push(format!("{at}: env {k}: PM2 {p:?}, pmx has none")),
                    (None, Some(q)) => out.push(format!("{at}: env {k}: PM2 has none, pmx {q:?}")),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Wait until every process of `list` (rows with `name`, `status`) is online.
fn all_online(
    list: impl Fn() -> Vec<Value>,
    status_of: fn(&Value) -> &Value,
) -> Result<(), String> {
    let mut last = Vec::new();
    if wait_for(DEADLINE, || {
        last = list();
        !last.is_empty() && last.iter().all(|p| status_of(p) == "online")
    }) {
        Ok(())
    } else {
        Err(last
            .iter()
            .map(|p| format!("{} {}", p["name"], status_of(p)))
            .collect::<Vec<_>>()
            .join(", "))
    }
}

/// Every fixture started by PM2 and by pmx, from the fixture's directory, with the same
/// caller environment: per app the script PM2 runs (`pm_exec_path`) is the file pmx
/// execs, the arguments before and after it are PM2's `node_args` and `args`, the cwd is
/// PM2's `pm_cwd`, the environment is PM2's `pm2_env.env` (each manager's own variables
/// left out) and there are as many instances. Any difference fails, naming the field.
#[test]
fn pm2_and_pmx_run_every_fixture_alike() {
    if !Pm2::installed() {
        eprintln!(
            "pm2_and_pmx_run_every_fixture_alike: SKIPPED, `pm2` is not installed \
             (`.ci/run` installs it with `npm install -g pm2@7`); nothing was compared"
        );
        return;
    }
    let pm2 = Pm2::new();
    let t = TestHome::new();
    let mut diffs = Vec::new();
    for name in cases() {
        let case = Case::new(&name);
        let mut args = vec!["start", case.file.as_str()];
        if let Some(env) = case.env {
            args.extend(["--env", env]);
        }
        pm2.ok(&case.dir, &args);
        if let Err(last) = all_online(|| pm2.jlist(&case.dir), |p| &p["pm2_env"]["status"]) {
            diffs.push(format!(
                "{name}: PM2 did not bring every app online: {last}"
            ));
        }
        let pm2_apps = pm2_resolved(&pm2.jlist(&case.dir));
        pm2.ok(&case.dir, &["delete", "all"]);

        case.pmx_start(&t);
        let list = || -> Vec<Value> {
            serde_json::from_str(&case.pmx_ok(&t, &["list", "--json"])).expect("list --json")
        };
        if let Err(last) = all_online(list, |p| &p["status"]) {
            diffs.push(format!(
                "{name}: pmx did not bring every app online: {last}"
            ));
        }
        let pmx_apps = pmx_resolved(&case, &t, &pm2_apps);
        case.pmx_ok(&t, &["delete", "all"]);
        assert!(
            !pm2_apps.is_empty(),
            "{name}: PM2 started nothing from {}",
            case.file
        );
        diffs.extend(differences(&name, &pm2_apps, &pmx_apps));
    }
    assert!(
        diffs.is_empty(),
        "PM2 and pmx differ:\n  {}",
        diffs.join("\n  ")
    );
}

/// Every fixture: `pmx import <file> -o -` prints a file that `pmx up --dry-run` accepts
/// (one `+ name  start` line per app), and `pmx start <file>` (`pmx up <file> --env
/// production` for a file with `env_production`) brings every one of those apps online.
#[test]
fn every_fixture_imports_to_a_file_up_accepts_and_starts_online() {
    let t = TestHome::new();
    for name in cases() {
        let case = Case::new(&name);
        let ron = case.pmx_ok(&t, &["import", &case.file, "-o", "-"]);
        assert!(
            ron.starts_with("// Converted by `pmx import`"),
            "{name}: {ron}"
        );
        std::fs::write(case.dir.join("converted.ron"), &ron).expect("write converted.ron");
        let plan = case.pmx_ok(&t, &["up", "--dry-run", "converted.ron"]);
        let apps: Vec<String> = plan
            .lines()
            .map(|l| {
                let rest = l
                    .strip_prefix("+ ")
                    .unwrap_or_else(|| panic!("{name}: unexpected plan line {l:?}\n{plan}"));
                let app = rest
                    .strip_suffix("start")
                    .unwrap_or_else(|| panic!("{name}: unexpected plan line {l:?}\n{plan}"));
                app.trim().to_string()
            })
            .collect();
        assert!(!apps.is_empty(), "{name}: empty plan");
        assert!(t.list().is_empty(), "{name}: --dry-run started something");
        case.pmx_start(&t);
        for app in &apps {
            let mut last = Vec::new();
            let online = wait_for(DEADLINE, || {
                last = t
                    .list()
                    .into_iter()
                    .filter(|r| r["name"] == app.as_str())
                    .collect();
                !last.is_empty() && last.iter().all(|r| r["status"] == "online")
            });
            assert!(online, "{name}: app {app} is not online: {last:?}");
        }
        let started: std::collections::BTreeSet<String> = t
            .list()
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect();
        assert_eq!(
            started,
            apps.iter().cloned().collect(),
            "{name}: pmx start and the imported file name different apps"
        );
        case.pmx_ok(&t, &["delete", "all"]);
    }
}

/// `fixtures/pm2-bad` copied into a scratch directory (messages name the file as typed,
/// so they are the same wherever it runs).
fn bad_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("pmx-pm2-bad-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let dir = tmp.path().join("bad");
    copy_dir(&fixtures().join("pm2-bad"), &dir);
    (tmp, dir)
}

/// `pmx args…` in `t`'s home, run from `dir`.
fn pmx_in(t: &TestHome, dir: &Path, args: &[&str]) -> Output {
    let mut c = t.cmd(args);
    c.current_dir(dir);
    run_with_timeout(c, Duration::from_secs(120))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn expect_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// The expected stderr of `fixtures/pm2-bad/<name>.config.js`.
fn expected_stderr(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.stderr"))).expect("the .stderr fixture")
}

/// `increment_var`, `args: 5` and a missing script: exit 2 and one `pmx: ` line per
/// problem naming the app and the field, from `import` and from `start`, which starts
/// nothing (PM2 too starts nothing from a file with a bad value).
#[test]
fn values_pmx_cannot_express_are_one_error_each_and_start_nothing() {
    let t = TestHome::new();
    let (_tmp, dir) = bad_dir();
    let want = expected_stderr(&dir, "bad-values");
    assert_eq!(want.lines().count(), 3, "{want}");
    let out = pmx_in(&t, &dir, &["import", "bad-values.config.js", "-o", "-"]);
    expect_code(&out, 2, "import bad-values.config.js");
    assert_eq!(stderr(&out), want);
    assert!(out.stdout.is_empty(), "import printed a file");
    assert!(!dir.join("ecosystem.ron").exists());
    let out = pmx_in(&t, &dir, &["start", "bad-values.config.js"]);
    expect_code(&out, 2, "start bad-values.config.js");
    assert_eq!(stderr(&out), want);
    assert!(t.list().is_empty(), "something started: {:?}", t.list());
}

/// `vizion`, `pmx`, `automation`: one warning listing every field with its apps; the
/// import succeeds.
#[test]
fn fields_pmx_has_no_use_for_are_one_warning() {
    let t = TestHome::new();
    let (_tmp, dir) = bad_dir();
    let out = pmx_in(&t, &dir, &["import", "unused-fields.config.js", "-o", "-"]);
    expect_code(&out, 0, "import unused-fields.config.js");
    let err = stderr(&out);
    assert_eq!(err, expected_stderr(&dir, "unused-fields"));
    assert_eq!(err.lines().count(), 1, "{err}");
    for field in ["vizion", "pmx", "automation"] {
        assert!(err.contains(&format!("{field} (")), "{field}: {err}");
    }
    let ron = String::from_utf8_lossy(&out.stdout);
    assert!(
        !ron.contains("vizion") && !ron.contains("automation"),
        "{ron}"
    );
}

/// A function in a `.js` file is left out with a warning naming its path; the rest of
/// the app is converted.
#[test]
fn a_function_in_the_file_is_left_out_with_a_warning_naming_it() {
    let t = TestHome::new();
    let (_tmp, dir) = bad_dir();
    let out = pmx_in(&t, &dir, &["import", "function.config.js", "-o", "-"]);
    expect_code(&out, 0, "import function.config.js");
    assert_eq!(stderr(&out), expected_stderr(&dir, "function"));
    let ron = String::from_utf8_lossy(&out.stdout);
    assert!(ron.contains(r#"env: {"NODE_ENV": "production"}"#), "{ron}");
}

/// A PM2 file in JavaScript needs node to be read: without node on PATH, `import` says
/// so (exit 1); a `.json` file that is not strict JSON says where it stops parsing and
/// that node would have read it (exit 2). pmx itself needs nothing on PATH.
#[test]
fn a_javascript_file_without_node_on_path_is_a_clear_error() {
    let t = TestHome::new();
    let (_tmp, dir) = bad_dir();
    let empty = t.path("empty-path");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let mut c = t.cmd(&["import", "function.config.js", "-o", "-"]);
    c.current_dir(&dir).env("PATH", &empty);
    let out = run_with_timeout(c, Duration::from_secs(60));
    expect_code(&out, 1, "import without node");
    assert_eq!(
        stderr(&out),
        "pmx: reading function.config.js needs node (a PM2 file in JavaScript is run to get its apps), and there is no `node` on PATH\n"
    );
    let json = Case::new("json-comments");
    let mut c = t.cmd(&["import", &json.file, "-o", "-"]);
    c.current_dir(&json.dir).env("PATH", &empty);
    let out = run_with_timeout(c, Duration::from_secs(60));
    expect_code(&out, 2, "import a commented .json without node");
    let err = stderr(&out);
    assert!(
        err.starts_with("pmx: ecosystem.json:1:1: ") && err.contains("no node to read it"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Every file below `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.insert(p.clone(), std::fs::read(&p).expect("read"));
        }
    }
    out
}

/// `-o -` prints the file on stdout and writes nothing anywhere in the directory.
#[test]
fn import_to_stdout_writes_nothing() {
    let t = TestHome::new();
    let case = Case::new("env-production");
    let before = snapshot(&case.dir);
    let ron = case.pmx_ok(&t, &["import", &case.file, "-o", "-"]);
    assert!(ron.starts_with("// Converted by `pmx import`"), "{ron}");
    assert!(ron.contains("name: \"worker\""), "{ron}");
    assert_eq!(snapshot(&case.dir), before, "import -o - wrote a file");
    assert!(snapshot(&t.work).is_empty(), "import -o - wrote a file");
}

/// `pmx import` writes `ecosystem.ron` beside the PM2 file; a second import gives the
/// same bytes (and the text `-o -` prints). A hand-written `ecosystem.ron` is kept
/// (exit 1, naming `-f`) and `-f` overwrites it.
#[test]
fn importing_twice_gives_the_same_file_and_a_hand_written_one_needs_force() {
    let t = TestHome::new();
    let case = Case::new("deploy");
    let target = case.dir.join("ecosystem.ron");
    let said = case.pmx_ok(&t, &["import", &case.file]);
    assert!(said.contains("ecosystem.ron"), "{said}");
    let first = std::fs::read(&target).expect("ecosystem.ron written");
    case.pmx_ok(&t, &["import", &case.file]);
    let second = std::fs::read(&target).expect("ecosystem.ron");
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
        "a second import changed the file"
    );
    let printed = case.pmx_ok(&t, &["import", &case.file, "-o", "-"]);
    assert_eq!(printed.as_bytes(), first.as_slice());
    // The written file is a valid ecosystem.
    case.pmx_ok(&t, &["up", "--dry-run", "ecosystem.ron"]);

    let hand = "// my own ecosystem\nEcosystem(apps: [App(name: \"mine\", script: \"app.js\")])\n";
    std::fs::write(&target, hand).expect("write");
    let out = case.pmx(&t, &["import", &case.file]);
    expect_code(&out, 1, "import over a hand-written ecosystem.ron");
    let err = stderr(&out);
    assert!(
        err.starts_with("pmx: ") && err.contains("ecosystem.ron") && err.contains("-f"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), hand);
    case.pmx_ok(&t, &["import", &case.file, "-f"]);
    assert_eq!(std::fs::read(&target).expect("read"), first);
}

/// `pmx ecosystem` in an empty directory writes `./ecosystem.ron`; a second run keeps it
/// (exit 1) unless `-f`; `pmx up --dry-run` accepts it and `pmx up` brings its app online.
#[test]
fn pmx_ecosystem_writes_a_sample_that_up_starts() {
    let t = TestHome::new();
    let file = t.path("ecosystem.ron");
    let said = t.ok(&["ecosystem"]);
    assert!(said.contains("ecosystem.ron"), "{said}");
    let sample = std::fs::read_to_string(&file).expect("ecosystem.ron written");
    std::fs::write(&file, "// edited\n").expect("edit");
    let err = t.fails(&["ecosystem"], 1);
    assert!(err.starts_with("pmx: ") && err.contains("-f"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "// edited\n");
    t.ok(&["ecosystem", "-f"]);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), sample);
    let plan = t.ok(&["up", "--dry-run"]);
    assert_eq!(plan.trim(), "+ hello  start");
    assert!(t.list().is_empty(), "--dry-run started something");
    t.ok(&["up"]);
    t.wait_status("hello", "online");
}

/// A PM2 file that prints while it loads and leaves a timer running (a config that
/// opens a client, say) imports at once: its output goes to stderr, not into the result,
/// and node is not waited for once the apps are known.
#[test]
fn a_file_that_prints_and_keeps_node_alive_still_imports() {
    let t = TestHome::new();
    let (_tmp, dir) = bad_dir();
    std::fs::write(
        dir.join("busy.config.js"),
        "console.log('loading config');\nsetInterval(() => {}, 1000);\n\
         module.exports = { apps: [{ name: 'x', script: 'app.js' }] };\n",
    )
    .expect("write");
    let out = pmx_in(&t, &dir, &["import", "busy.config.js", "-o", "-"]);
    expect_code(&out, 0, "import of a file that prints and keeps a timer");
    let ron = String::from_utf8_lossy(&out.stdout);
    assert!(ron.starts_with("// Converted by `pmx import`"), "{ron}");
    assert!(ron.contains("name: \"x\""), "{ron}");
    assert!(stderr(&out).contains("loading config"), "{}", stderr(&out));
}

/// `-o` never overwrites the PM2 file itself (not even with `-f`); `-o DIR` writes
/// `DIR/ecosystem.ron`; a PM2 file reached through a symlink gets its ecosystem.ron in
/// the symlink's directory, where the user named it.
#[test]
fn import_writes_where_the_user_said_and_never_over_its_input() {
    let t = TestHome::new();
    let case = Case::new("single");
    let before = std::fs::read(case.dir.join(&case.file)).expect("read");
    for extra in [&[][..], &["-f"][..]] {
        let mut args = vec!["import", case.file.as_str(), "-o", case.file.as_str()];
        args.extend_from_slice(extra);
        let out = case.pmx(&t, &args);
        expect_code(&out, 1, "import onto its own input");
        assert!(stderr(&out).contains("is the PM2 file being imported"));
        assert_eq!(
            std::fs::read(case.dir.join(&case.file)).expect("read"),
            before
        );
    }
    let out_dir = case.dir.join("converted");
    std::fs::create_dir(&out_dir).expect("mkdir");
    case.pmx_ok(&t, &["import", &case.file, "-o", "converted"]);
    assert!(out_dir.join("ecosystem.ron").is_file());
    assert_eq!(
        std::fs::read_dir(&out_dir).expect("ls").count(),
        1,
        "nothing else, no temp file"
    );
    let link_dir = case.dir.join("linked");
    std::fs::create_dir(&link_dir).expect("mkdir");
    std::os::unix::fs::symlink(case.dir.join(&case.file), link_dir.join(&case.file))
        .expect("symlink");
    case.pmx_ok(&t, &["import", &format!("linked/{}", case.file)]);
    assert!(
        link_dir.join("ecosystem.ron").is_file(),
        "beside the symlink"
    );
}

/// A scratch directory holding `app.js` and the PM2 files `files` (name, JSON text).
fn pm2_json_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("pmx-import-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let dir = tmp.path().join("proj");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("app.js"), "setInterval(() => {}, 1000);\n").expect("write");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write");
    }
    (tmp, dir)
}

/// A one-app PM2 file whose app is `name`.
fn one_app(name: &str) -> String {
    format!("{{\"apps\": [{{\"name\": \"{name}\", \"script\": \"app.js\"}}]}}\n")
}

/// Import `args` from `dir`, expect exit 1 and a one-line refusal naming the output and
/// `-f`; answer the line.
fn import_refused(t: &TestHome, dir: &Path, args: &[&str]) -> String {
    let out = pmx_in(t, dir, args);
    expect_code(&out, 1, &format!("pmx {args:?}"));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("pmx: ") && err.contains("ecosystem.ron") && err.contains("-f"),
        "{err}"
    );
    err
}

/// The file `pmx import` writes records the PM2 file and a hash of itself: after the PM2
/// file changes, a re-import overwrites its own unchanged output with the new conversion.
#[test]
fn reimport_overwrites_its_own_unchanged_output() {
    let t = TestHome::new();
    let (_tmp, dir) = pm2_json_dir(&[("apps.json", &one_app("first"))]);
    let target = dir.join("ecosystem.ron");
    expect_code(&pmx_in(&t, &dir, &["import", "apps.json"]), 0, "import");
    let first = std::fs::read_to_string(&target).expect("written");
    assert!(
        first.contains("// pmx import: from \"apps.json\", fnv1a64 "),
        "records its source: {first}"
    );
    std::fs::write(dir.join("apps.json"), one_app("second")).expect("edit the PM2 file");
    expect_code(&pmx_in(&t, &dir, &["import", "apps.json"]), 0, "re-import");
    let second = std::fs::read_to_string(&target).expect("written");
    assert!(second.contains("name: \"second\""), "{second}");
    assert!(!second.contains("name: \"first\""), "{second}");
}

/// An imported file edited by hand is kept by the next import (exit 1, saying it was
/// edited), and `-f` overwrites it.
#[test]
fn import_refuses_to_overwrite_an_edited_file_without_force() {
    let t = TestHome::new();
    let (_tmp, dir) = pm2_json_dir(&[("apps.json", &one_app("web"))]);
    let target = dir.join("ecosystem.ron");
    expect_code(&pmx_in(&t, &dir, &["import", "apps.json"]), 0, "import");
    let written = std::fs::read_to_string(&target).expect("written");
    // A one-character edit, as a user tuning the file would make.
    let edited = written.replace("name: \"web\"", "name: \"webs\"");
    assert_ne!(edited, written);
    std::fs::write(&target, &edited).expect("edit");
    let err = import_refused(&t, &dir, &["import", "apps.json"]);
    assert!(err.contains("edited"), "says why: {err}");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), edited);
    expect_code(&pmx_in(&t, &dir, &["import", "apps.json", "-f"]), 0, "-f");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), written);
}

/// The output of one PM2 file is not overwritten by the import of another (exit 1, naming
/// the one it came from), unless `-f`; then it belongs to the other.
#[test]
fn import_refuses_the_output_of_another_pm2_file_without_force() {
    let t = TestHome::new();
    let (_tmp, dir) = pm2_json_dir(&[
        ("a.json", &one_app("from-a")),
        ("b.json", &one_app("from-b")),
    ]);
    let target = dir.join("ecosystem.ron");
    expect_code(&pmx_in(&t, &dir, &["import", "a.json"]), 0, "import a");
    let from_a = std::fs::read_to_string(&target).expect("written");
    let err = import_refused(&t, &dir, &["import", "b.json"]);
    assert!(err.contains("another PM2 file (a.json)"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), from_a);
    expect_code(
        &pmx_in(&t, &dir, &["import", "b.json", "-f"]),
        0,
        "import b -f",
    );
    assert!(std::fs::read_to_string(&target)
        .expect("read")
        .contains("name: \"from-b\""));
    let err = import_refused(&t, &dir, &["import", "a.json"]);
    assert!(err.contains("another PM2 file (b.json)"), "{err}");
    // The record is relative to the written file: -o elsewhere names the PM2 file from there.
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    expect_code(
        &pmx_in(&t, &dir, &["import", "a.json", "-o", "out"]),
        0,
        "-o out",
    );
    let text = std::fs::read_to_string(out_dir.join("ecosystem.ron")).expect("written");
    assert!(text.contains("from \"../a.json\""), "{text}");
    expect_code(
        &pmx_in(&t, &dir, &["import", "a.json", "-o", "out"]),
        0,
        "again",
    );
    import_refused(&t, &dir, &["import", "b.json", "-o", "out"]);
}

/// The permission bits of `path` (following links).
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// A re-import keeps the mode of the file it replaces (`chmod 600` guarding `env`
/// secrets survives, with and without `-f`); a new file is 0644 less the umask, never more
/// open.
#[test]
fn reimport_keeps_the_mode_of_the_file_it_replaces() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestHome::new();
    let (_tmp, dir) = pm2_json_dir(&[("apps.json", &one_app("web"))]);
    let target = dir.join("ecosystem.ron");
    // A umask of 027 for the first import: the new file is 0640.
    let mut c = t.cmd(&["import", "apps.json"]);
    c.current_dir(&dir);
    let out = run_with_timeout(
        {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg("umask 027 && exec \"$0\" \"$@\"")
                .arg(c.get_program())
                .args(c.get_args())
                .current_dir(&dir)
                .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
            sh
        },
        Duration::from_secs(120),
    );
    expect_code(&out, 0, "import under umask 027");
    assert_eq!(mode(&target), 0o640, "0644 less the umask");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(dir.join("apps.json"), one_app("web2")).expect("edit the PM2 file");
    expect_code(&pmx_in(&t, &dir, &["import", "apps.json"]), 0, "re-import");
    assert!(std::fs::read_to_string(&target)
        .expect("read")
        .contains("name: \"web2\""));
    assert_eq!(mode(&target), 0o600, "kept by a re-import");
    std::fs::write(&target, "Ecosystem(apps: [])\n").expect("a hand-written file");
    expect_code(&pmx_in(&t, &dir, &["import", "apps.json", "-f"]), 0, "-f");
    assert_eq!(mode(&target), 0o600, "kept by -f");
    assert!(
        !dir.join("ecosystem.ron.tmp").exists(),
        "no temporary file left"
    );
}

/// `-o link.ron` where the link leads to a file import wrote writes through the link, as
/// editors do: the link stays a link and its target gets the new text. A dangling link is
/// refused in one line, and nothing is created at its target.
#[test]
fn import_writes_through_a_symlink_and_refuses_a_dangling_one() {
    let t = TestHome::new();
    let (_tmp, dir) = pm2_json_dir(&[("apps.json", &one_app("web"))]);
    let real_dir = dir.join("conf");
    std::fs::create_dir(&real_dir).expect("mkdir");
    let real = real_dir.join("real.ron");
    let link = dir.join("link.ron");
    std::os::unix::fs::symlink("conf/real.ron", &link).expect("symlink");
    // A link to a file not there yet is dangling: refused.
    let out = pmx_in(&t, &dir, &["import", "apps.json", "-o", "link.ron"]);
    expect_code(&out, 1, "import through a dangling link");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("link.ron is a symlink to conf/real.ron") && err.contains("remove the link"),
        "{err}"
    );
    assert!(!real.exists(), "nothing created at the target");
    assert!(std::fs::symlink_metadata(&link)
        .expect("the link")
        .file_type()
        .is_symlink());
    // Written at the target, then re-imported through the link after the PM2 file changed.
    expect_code(
        &pmx_in(&t, &dir, &["import", "apps.json", "-o", "conf/real.ron"]),
        0,
        "import to the target",
    );
    std::fs::write(dir.join("apps.json"), one_app("web2")).expect("edit the PM2 file");
    expect_code(
        &pmx_in(&t, &dir, &["import", "apps.json", "-o", "link.ron"]),
        0,
        "re-import through the link",
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("the link")
            .file_type()
            .is_symlink(),
        "still a link"
    );
    let text = std::fs::read_to_string(&real).expect("the target");
    assert!(
        text.contains("name: \"web2\""),
        "the target is fresh: {text}"
    );
    // Its record is from the target's directory, where `pmx up link.ron` resolves paths.
    assert!(text.contains("from \"../apps.json\""), "{text}");
    let plan = pmx_in(&t, &dir, &["up", "link.ron", "--dry-run"]);
    expect_code(&plan, 0, "up --dry-run through the link");
}
