//! `pmx export nomad`: one job, a task group per app, in Nomad's JSON job format (the
//! API's `{"Job": …}`, what `nomad job run -json` and `POST /v1/jobs` take; durations in
//! nanoseconds). JSON rather than HCL: serde writes it, so no value needs escaping by
//! hand (HCL's `${`/`%{` templates would); JSON has no comments, so the notes are the
//! groups' `Meta` (shown by `nomad job inspect`), and the job's `Meta` names the file.
//!
//! Without `--image` a task is `raw_exec` of the resolved command line (this machine's
//! paths, as systemd's `ExecStart=`); with one, `docker` with the container command.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use pmx_config::{Policy, Probe};
use pmx_protocol::AppSpec;

use super::fields::{group_unmapped, unmapped, Mapping, Table};
use super::{
    dns_label, environment, header, probe_parts, tcp_ports, Input, Note, OutFile, Output, Target,
};

/// Nanoseconds per millisecond: Nomad's JSON durations are Go's `time.Duration`.
const NS_PER_MS: u64 = 1_000_000;

/// The restart window (`RestartPolicy.Interval`) when the delays fit in it: Nomad's
/// default for service jobs, 30 minutes.
const RESTART_INTERVAL_MS: u64 = 30 * 60 * 1000;

/// Every field, mapped or not (docs/export.md holds this table).
pub const TABLE: Table = &[
    ("name", Mapping::To("the task group's and task's `Name`")),
    ("script", Mapping::To("`raw_exec`'s `command` (absolute); with `--image`, `docker`'s `command`")),
    ("args", Mapping::To("`args`")),
    ("cwd", Mapping::To("`raw_exec`'s `work_dir` (Nomad 1.8); with `--image`, the image's WORKDIR")),
    ("interpreter", Mapping::To("`command`, resolved on PATH at export")),
    ("interpreter_args", Mapping::To("`args`, before the script")),
    ("instances", Mapping::To("the group's `Count`")),
    ("instance_var", Mapping::To("`Env` `${NOMAD_ALLOC_INDEX}`")),
    ("exec_mode", Mapping::To("raw_exec shares the host's network: give cluster apps `listen`")),
    ("increment_var", Mapping::Not("Nomad cannot add the alloc index to a value; use dynamic ports (`NOMAD_PORT_<label>`)")),
    ("listen", Mapping::To("the group's `Networks` reserved ports and a `nomad` service (TCP)")),
    ("env", Mapping::To("the task's `Env`")),
    ("envs", Mapping::To("the task's `Env` (the layer `--env` chose)")),
    ("env_file", Mapping::To("the task's `Env` (its contents as read at export)")),
    ("autostart", Mapping::To("`Count: 0`")),
    ("namespace", Mapping::Not("a job's namespace is chosen when it is run (`nomad job run -namespace`)")),
    ("uid", Mapping::To("the task's `User`")),
    ("gid", Mapping::Not("a task has a user, no group")),
    ("restart.policy", Mapping::To("`RestartPolicy` (`Never`: `Attempts: 0`, `Mode: fail`)")),
    ("restart.delay", Mapping::To("`RestartPolicy.Delay`")),
    ("restart.backoff", Mapping::Not("Nomad waits a fixed `Delay`; the first one is used")),
    ("restart.min_uptime", Mapping::Not("Nomad counts restarts in a window (`Interval`), not short runs in a row")),
    ("restart.max_restarts", Mapping::To("`RestartPolicy.Attempts` within `Interval` (30 min), then `Mode: fail`")),
    ("strategy", Mapping::Not("each allocation restarts alone")),
    ("intensity", Mapping::Not("Nomad's window is `RestartPolicy.Interval`, set from max_restarts")),
    ("stop_exit_codes", Mapping::Not("a service job restarts every exit")),
    ("kill_signal", Mapping::To("`KillSignal`")),
    ("kill_timeout", Mapping::To("`KillTimeout` (the client's `max_kill_timeout` caps it)")),
    ("shutdown_with_message", Mapping::Not("a task has no Node IPC channel; `KillSignal` stops it")),
    ("wait_ready", Mapping::Not("Nomad has no READY=1 channel; a health check gates the service")),
    ("listen_timeout", Mapping::Not("no READY=1 channel")),
    ("max_memory_restart", Mapping::To("`Resources.MemoryMB` (rounded up; the task is killed at the limit and restarted)")),
    ("cron_restart", Mapping::Not("a periodic job running `nomad alloc restart` needs an ACL token: not generated")),
    ("cron_timezone", Mapping::Not("no cron restart")),
    ("health", Mapping::To("the service's `Checks` (http, tcp; an exec check needs Consul's `script` check)")),
    ("watch", Mapping::Not("Nomad does not restart on file changes")),
    ("ignore_watch", Mapping::Not("no watching")),
    ("watch_delay", Mapping::Not("no watching")),
    ("logs.time", Mapping::Not("Nomad keeps the task's output as written")),
    ("logs.date_format", Mapping::Not("Nomad keeps the task's output as written")),
    ("logs.merge", Mapping::Not("each allocation has its own logs (`nomad alloc logs`)")),
    ("logs.out_file", Mapping::Not("Nomad writes the task's stdout in the allocation's `alloc/logs`")),
    ("logs.error_file", Mapping::Not("Nomad writes the task's stderr in the allocation's `alloc/logs`")),
    ("logs.log_file", Mapping::Not("Nomad keeps stdout and stderr apart")),
    ("logs.rotate", Mapping::To("`LogConfig` (`MaxFiles` from keep, `MaxFileSizeMB` from max_size)")),
    ("logs.format", Mapping::Not("Nomad keeps the task's output as written")),
    ("groups", Mapping::Not("a job's task groups start together; a task's `Lifecycle` orders tasks of one group only")),
    ("group.strategy", Mapping::Not("each allocation restarts alone")),
    ("group.intensity", Mapping::Not("Nomad's window is per task group")),
];

/// One job file, `<job>.nomad.json`, the job named after the ecosystem's directory.
///
/// Errors: none today; `Result` for the targets' one signature.
pub fn render(input: &Input<'_>) -> Result<Output, String> {
    let mut out = Output::default();
    let job_id = dns_label(
        &input
            .file
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pmx".to_string()),
    );
    let dirs = super::path_dirs(
        input
            .apps
            .first()
            .and_then(|s| s.env.inherited.get("PATH"))
            .map(String::as_str),
    );
    let mut job_meta = Map::new();
    job_meta.insert(
        "pmx_generated".to_string(),
        json!(header(Target::Nomad, input.file).join(" ")),
    );
    for g in input.groups {
        for n in group_unmapped(g, TABLE) {
            job_meta.insert(
                meta_key(&format!("group_{}_{}", g.name, n.field)),
                json!(n.why),
            );
            out.notes.push(n);
        }
    }
    let mut groups = Vec::new();
    for spec in input.apps {
        let (group, notes) = task_group(input, spec, &dirs);
        out.notes.extend(notes);
        groups.push(group);
    }
    let job = json!({
        "Job": {
            "ID": job_id,
            "Name": job_id,
            "Type": "service",
            "Datacenters": ["dc1"],
            "Meta": job_meta,
            "TaskGroups": groups,
        }
    });
    let text = serde_json::to_string_pretty(&job)
        .map_err(|e| format!("export: cannot write JSON: {e}"))?;
    out.files.push(OutFile {
        name: format!("{job_id}.nomad.json"),
        text: text + "\n",
    });
    Ok(out)
}

/// One app's task group and the notes about it.
fn task_group(
    input: &Input<'_>,
    spec: &AppSpec,
    dirs: &[std::path::PathBuf],
) -> (Value, Vec<Note>) {
    let app = &spec.app;
    let (count, count_note) = input.count(spec);
    let mut notes = unmapped(spec, TABLE);
    notes.extend(count_note);
    let image = input.images.of(&app.name);
    let mut env = environment(spec);
    env.insert(
        "PMX_INSTANCE".to_string(),
        "${NOMAD_ALLOC_INDEX}".to_string(),
    );
    env.insert(app.instance_var.clone(), "${NOMAD_ALLOC_INDEX}".to_string());

    let (listen_ports, unix) = tcp_ports(spec, "a Nomad network publishes TCP ports only");
    notes.extend(unix);
    if count > 1 && !listen_ports.is_empty() {
        notes.push(Note::app(
            &app.name,
            "listen",
            format!("a static port is one allocation per node: the {count} allocations need {count} nodes (or dynamic ports and a load balancer)"),
        ));
    }
    let mut ports: BTreeMap<u16, ()> = listen_ports.iter().map(|p| (*p, ())).collect();

    let mut checks = Vec::new();
    if let Some(h) = &app.health {
        let timing = |mut c: Value| {
            c["Interval"] = json!(h.interval_ms.max(1000) * NS_PER_MS);
            c["Timeout"] = json!(h.timeout_ms.max(1) * NS_PER_MS);
            c
        };
        match &h.probe {
            Probe::Http(url) => match probe_parts(url, &env) {
                Some((_, port, path)) => {
                    ports.insert(port, ());
                    checks.push(timing(json!({
                        "Name": format!("{}-health", dns_label(&app.name)),
                        "Type": "http",
                        "Protocol": if url.starts_with("https://") { "https" } else { "http" },
                        "Path": path,
                        "PortLabel": port_label(port),
                    })));
                }
                None => notes.push(Note::app(&app.name, "health", "its URL has no port")),
            },
            Probe::Tcp(addr) => match probe_parts(addr, &env) {
                Some((_, port, _)) => {
                    ports.insert(port, ());
                    checks.push(timing(json!({
                        "Name": format!("{}-health", dns_label(&app.name)),
                        "Type": "tcp",
                        "PortLabel": port_label(port),
                    })));
                }
                None => notes.push(Note::app(&app.name, "health", "its address has no port")),
            },
            Probe::Exec(_) => notes.push(Note::app(
                &app.name,
                "health",
                "Nomad's own services check http and tcp only (an exec check is Consul's `script` check)",
            )),
        }
        if h.failures > 1 && !checks.is_empty() {
            notes.push(Note::app(
                &app.name,
                "health.failures",
                "a Nomad check marks the service unhealthy at the first failure (`CheckRestart` restarts only with Consul)",
            ));
        }
    }

    let mut config = Map::new();
    let driver = match image {
        Some(image) => {
            let argv = super::container_argv(spec, dirs);
            notes.extend(super::container_notes(spec, &argv, true));
            config.insert("image".into(), json!(image));
            config.insert("command".into(), json!(argv[0]));
            config.insert("args".into(), json!(argv[1..]));
            if !ports.is_empty() {
                config.insert(
                    "ports".into(),
                    json!(ports.keys().map(|p| port_label(*p)).collect::<Vec<_>>()),
                );
            }
            "docker"
        }
        None => {
            notes.extend(super::container_notes(spec, &[], false));
            config.insert("command".into(), json!(spec.program.display().to_string()));
            config.insert("args".into(), json!(spec.args));
            config.insert("work_dir".into(), json!(spec.cwd.display().to_string()));
            "raw_exec"
        }
    };

    let mut task = json!({
        "Name": dns_label(&app.name),
        "Driver": driver,
        "Config": config,
        "Env": env,
        "KillSignal": app.kill_signal,
        "KillTimeout": app.kill_timeout_ms * NS_PER_MS,
    });
    if let Some(u) = &app.uid {
        task["User"] = json!(u);
    }
    if let Some(bytes) = app.max_memory_restart {
        task["Resources"] = json!({ "MemoryMB": bytes.div_ceil(1 << 20) });
    }
    if let Some(r) = &app.logs.rotate {
        let mut log = json!({ "MaxFiles": r.keep.max(1) });
        if let Some(size) = r.max_size {
            log["MaxFileSizeMB"] = json!(size.div_ceil(1 << 20));
        }
        task["LogConfig"] = log;
        if r.interval_ms.is_some() || r.compress {
            notes.push(Note::app(
                &app.name,
                "logs.rotate",
                "Nomad rotates by size only, uncompressed",
            ));
        }
    }

    let restart = match app.restart.policy {
        Policy::Never => json!({
            "Attempts": 0, "Delay": 0, "Interval": RESTART_INTERVAL_MS * NS_PER_MS, "Mode": "fail",
        }),
        Policy::Always | Policy::OnFailure => {
            if app.restart.policy == Policy::OnFailure {
                notes.push(Note::app(
                    &app.name,
                    "restart.policy",
                    "a service job restarts every exit, a clean one too",
                ));
            }
            let delay = app.restart.backoff_ms.unwrap_or(app.restart.delay_ms);
            let attempts = u64::from(app.restart.max_restarts);
            let interval = RESTART_INTERVAL_MS.max(delay.saturating_mul(attempts) + 1000);
            json!({
                "Attempts": attempts,
                "Delay": delay * NS_PER_MS,
                "Interval": interval * NS_PER_MS,
                "Mode": "fail",
            })
        }
    };

    let mut group = json!({
        "Name": dns_label(&app.name),
        "Count": if app.autostart { count } else { 0 },
        "RestartPolicy": restart,
        "Tasks": [task],
    });
    if !ports.is_empty() {
        group["Networks"] = json!([{
            "ReservedPorts": ports.keys().map(|p| {
                let mut port = json!({"Label": port_label(*p), "Value": p});
                if image.is_some() {
                    port["To"] = json!(p);
                }
                port
            }).collect::<Vec<_>>(),
        }]);
        let mut service = json!({
            "Name": dns_label(&app.name),
            "Provider": "nomad",
            "PortLabel": port_label(listen_ports.first().copied().unwrap_or_else(|| ports.keys().next().copied().unwrap_or(0))),
        });
        if !checks.is_empty() {
            service["Checks"] = json!(checks);
        }
        group["Services"] = json!([service]);
    }
    if !notes.is_empty() {
        // Two notes on one field (`listen`) get `…_2`, `…_3`: a key once, no note lost.
        let mut meta = Map::new();
        for n in &notes {
            let base = meta_key(&format!("unmapped_{}", n.field));
            let key = (1..)
                .map(|k| {
                    if k == 1 {
                        base.clone()
                    } else {
                        format!("{base}_{k}")
                    }
                })
                .find(|k| !meta.contains_key(k))
                .unwrap_or(base);
            meta.insert(key, json!(n.why));
        }
        group["Meta"] = Value::Object(meta);
    }
    (group, notes)
}

/// The label of a port: `tcp_<port>` (Nomad labels take letters, digits, `-`, `_`).
fn port_label(port: u16) -> String {
    format!("tcp_{port}")
}

/// A `Meta` key: `pmx_` then the words with every character outside `[A-Za-z0-9_]` as `_`
/// (a meta key is also `NOMAD_META_<key>` in the task's environment).
fn meta_key(words: &str) -> String {
    let mapped: String = words
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("pmx_{mapped}")
}
