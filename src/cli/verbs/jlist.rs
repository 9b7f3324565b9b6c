//! `pmx jlist` and `pmx prettylist`: every process in PM2's own JSON shape (SPEC §3), for
//! the scripts and tools written against `pm2 jlist` (`pm2_env.restart_time`,
//! `pm2_env.exec_mode`, `pm_out_log_path`, …). `pmx list --json` keeps pmx's own shape.
//!
//! Built from one `describe all` request with the environments. Field names and value
//! forms are PM2 7's (`pid` 0 and `monit` zeros when down, `args` and `exit_code` only when
//! there are some, `pm_log_path` only with a combined log); what pmx does not know is left
//! out rather than made up. `exec_mode` is `"cluster_mode"` for an app whose instances
//! share sockets pmx holds or run as Node cluster workers (what `list` shows as
//! `cluster`), `"fork_mode"` otherwise.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use pmx::{ClientError, Home};
use pmx_protocol::{Description, ErrorCode, Request};

use crate::cli::render_js::Js;
use crate::cli::{connect, out, Failure};

/// `pmx jlist` (`pretty`: `pmx prettylist`).
pub fn run(home: &Home, pretty: bool) -> Result<(), Failure> {
    let described: Vec<Description> = match connect(home)?.call_as(Request::Describe {
        target: "all".into(),
        env: true,
    }) {
        Ok(d) => d,
        Err(ClientError::Api(e)) if e.code == ErrorCode::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let list = pm2_list(described, now_ms(), home);
    // PM2 writes no newline after either; one is kinder to a terminal and changes
    // nothing for a JSON reader or a grep.
    out(&format!(
        "{}\n",
        if pretty { list.inspect() } else { list.json() }
    ));
    Ok(())
}

/// Ms since the Unix epoch now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The processes as PM2's `jlist` array, sorted by id; `now` (ms since the epoch) turns
/// uptimes into PM2's `pm_uptime` (the epoch ms of the current start).
pub fn pm2_list(mut described: Vec<Description>, now: u64, home: &Home) -> Js {
    described.sort_by_key(|d| d.info.id);
    let mut instances: BTreeMap<&str, i64> = BTreeMap::new();
    for d in &described {
        *instances.entry(d.info.name.as_str()).or_default() += 1;
    }
    Js::Arr(
        described
            .iter()
            .map(|d| {
                let count = instances.get(d.info.name.as_str()).copied().unwrap_or(1);
                process(d, count, now, home)
            })
            .collect(),
    )
}

/// One process as PM2 shows it: `pid`, `name`, `pm2_env`, `pm_id`, `monit`.
fn process(d: &Description, instances: i64, now: u64, home: &Home) -> Js {
    let i = &d.info;
    let path = |p: &std::path::Path| Js::s(p.to_string_lossy());
    let strs = |v: &[String]| Js::Arr(v.iter().map(Js::s).collect());
    let interpreter = d.interpreter.clone().unwrap_or_else(|| "none".into());
    // The file PM2 calls the script: what the interpreter runs (after its own
    // arguments), or the program exec'd when there is no interpreter.
    let exec_path = match d.args.get(d.interpreter_args.len()) {
        Some(script) if interpreter != "none" => Js::s(script.clone()),
        _ => path(&d.program),
    };
    let mut env: Vec<(String, Js)> = vec![
        ("name".into(), Js::s(&i.name)),
        ("namespace".into(), Js::s(&i.namespace)),
    ];
    if !d.app_args.is_empty() {
        env.push(("args".into(), strs(&d.app_args)));
    }
    if let Some(f) = &d.log_date_format {
        // pmx keeps the strftime form (a moment.js format given to it was converted).
        env.push(("log_date_format".into(), Js::s(f)));
    }
    let vars = d.env.clone().unwrap_or_default();
    // PM2's `pm2_env.env` is the app's environment: `pm_id` and `NODE_APP_INSTANCE`,
    // which pmx sets per process as PM2 does, are shown as pm2_env's own (numbers), not
    // in it (`grep pm_id:` in a script finds one line per process, as with PM2).
    env.push((
        "env".into(),
        Js::Obj(
            vars.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "pm_id" | "NODE_APP_INSTANCE"))
                .map(|(k, v)| (k.clone(), Js::s(v)))
                .collect(),
        ),
    ));
    env.extend([
        ("autorestart".into(), Js::Bool(d.policy != "Never")),
        ("watch".into(), Js::Bool(i.watching)),
        ("username".into(), Js::s(&i.user)),
        ("kill_timeout".into(), Js::u(d.kill_timeout)),
        ("node_args".into(), strs(&d.interpreter_args)),
        ("pm_exec_path".into(), exec_path),
        ("pm_cwd".into(), path(&d.cwd)),
        ("exec_interpreter".into(), Js::s(interpreter)),
        (
            "exec_mode".into(),
            Js::s(if i.mode == "cluster" {
                "cluster_mode"
            } else {
                "fork_mode"
            }),
        ),
        ("instances".into(), Js::n(instances)),
    ]);
    if let Some(l) = &d.log_file {
        env.push(("pm_log_path".into(), path(l)));
    }
    env.extend([
        ("pm_out_log_path".into(), path(&d.out_log)),
        ("pm_err_log_path".into(), path(&d.error_log)),
        (
            "pm_pid_path".into(),
            path(&home.pids().join(format!("{}-{}.pid", i.name, i.id))),
        ),
        ("NODE_APP_INSTANCE".into(), Js::n(i.instance)),
        ("status".into(), Js::s(i.status.as_str())),
    ]);
    // The daemon's start time; from the uptime for a daemon that does not send it.
    let started = d
        .started_at
        .or_else(|| i.uptime.map(|up| now.saturating_sub(up)));
    if let Some(at) = started {
        env.push(("pm_uptime".into(), Js::u(at)));
    }
    env.extend([
        ("created_at".into(), Js::u(d.created_at)),
        ("pm_id".into(), Js::u(i.id)),
        ("restart_time".into(), Js::u(i.restarts)),
        ("unstable_restarts".into(), Js::n(d.unstable_restarts)),
    ]);
    if let Some(code) = d.last_exit_code {
        env.push(("exit_code".into(), Js::n(code)));
    }
    // PM2 also lays the app's environment over pm2_env itself (`pm2_env.PORT`); its own
    // fields win.
    let own: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    env.extend(
        vars.into_iter()
            .filter(|(k, _)| !own.contains(k))
            .map(|(k, v)| (k, Js::s(v))),
    );
    Js::Obj(vec![
        ("pid".into(), Js::n(i.pid.unwrap_or(0))),
        ("name".into(), Js::s(&i.name)),
        ("pm2_env".into(), Js::Obj(env)),
        ("pm_id".into(), Js::u(i.id)),
        (
            "monit".into(),
            Js::Obj(vec![
                ("memory".into(), Js::u(i.memory.unwrap_or(0))),
                ("cpu".into(), Js::Num(i.cpu.unwrap_or(0.0))),
            ]),
        ),
    ])
}
