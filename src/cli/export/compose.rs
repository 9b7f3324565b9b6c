//! `pmx export compose`: one Compose file (`compose.yaml`), a service per app. With
//! `--image` the services run that image; without, a stock image of the app's
//! interpreter (`node:lts-slim`, `python:3-slim`, …) with the ecosystem's directory
//! bind-mounted at `/app`: no build step. Every `$` is written `$$` (Compose
//! interpolates `$VAR`).

use serde_json::{json, Map, Value};

use pmx_config::{Policy, Probe};
use pmx_protocol::AppSpec;

use super::fields::{group_unmapped, unmapped, Mapping, Table};
use super::{
    comments, environment, go_duration, header, probe_parts, tcp_ports, Input, Note, OutFile,
    Output, Target,
};

/// Where the project directory is mounted in a stock image.
pub const MOUNT: &str = "/app";

/// Every field, mapped or not (docs/export.md holds this table).
pub const TABLE: Table = &[
    ("name", Mapping::To("the service's name")),
    ("script", Mapping::To("`entrypoint`, relative to the ecosystem's directory (the image's WORKDIR, or `/app`)")),
    ("args", Mapping::To("`command`")),
    ("cwd", Mapping::Not("the container runs in the image's WORKDIR (taken as the ecosystem file's directory)")),
    ("interpreter", Mapping::To("`entrypoint[0]` by name; without `--image`, the stock image run")),
    ("interpreter_args", Mapping::To("`entrypoint`, before the script")),
    ("instances", Mapping::To("`deploy.replicas`")),
    ("instance_var", Mapping::Not("Compose's replicas have no index in their environment; `0` with one replica")),
    ("exec_mode", Mapping::To("every replica has its own network: fork and cluster alike")),
    ("increment_var", Mapping::Not("every replica has its own network, so every replica keeps the base value")),
    ("listen", Mapping::To("`ports` (TCP); with several replicas, an ephemeral host port each")),
    ("env", Mapping::To("`environment`")),
    ("envs", Mapping::To("`environment` (the layer `--env` chose)")),
    ("env_file", Mapping::To("`environment` (its contents as read at export)")),
    ("autostart", Mapping::To("`profiles: [manual]`: started only by `--profile manual` or by name")),
    ("namespace", Mapping::Not("a Compose project has no namespaces (the project name plays that part)")),
    ("uid", Mapping::To("`user`")),
    ("gid", Mapping::To("`user` (`uid:gid`)")),
    ("restart.policy", Mapping::To("`restart: always | on-failure | \"no\"`")),
    ("restart.delay", Mapping::Not("the Docker engine sets the delay (100 ms doubling)")),
    ("restart.backoff", Mapping::Not("the Docker engine sets the delay (100 ms doubling)")),
    ("restart.min_uptime", Mapping::Not("the Docker engine resets its delay after 10 s up")),
    ("restart.max_restarts", Mapping::Not("`on-failure:N` counts every restart, not short runs in a row")),
    ("strategy", Mapping::Not("each container restarts alone")),
    ("intensity", Mapping::Not("the Docker engine never gives up restarting")),
    ("stop_exit_codes", Mapping::Not("the Docker engine restarts by exit status only as `on-failure`")),
    ("kill_signal", Mapping::To("`stop_signal`")),
    ("kill_timeout", Mapping::To("`stop_grace_period`")),
    ("shutdown_with_message", Mapping::Not("a container has no Node IPC channel; `stop_signal` stops it")),
    ("wait_ready", Mapping::Not("no READY=1 channel in a container; a `health` check gates `depends_on`")),
    ("listen_timeout", Mapping::Not("no READY=1 channel")),
    ("max_memory_restart", Mapping::To("`mem_limit` (the kernel kills the container at the limit, `restart` restarts it)")),
    ("cron_restart", Mapping::Not("Compose has no timers (a host cron running `docker compose restart` would)")),
    ("cron_timezone", Mapping::Not("no cron restart")),
    ("health", Mapping::To("`healthcheck` (curl or wget for http, bash's /dev/tcp for tcp, the command for exec)")),
    ("watch", Mapping::Not("`develop.watch` needs Compose 2.22 and rebuilds; not generated")),
    ("ignore_watch", Mapping::Not("no watching")),
    ("watch_delay", Mapping::Not("no watching")),
    ("logs.time", Mapping::Not("`docker compose logs -t` stamps the lines")),
    ("logs.date_format", Mapping::Not("`docker compose logs -t` stamps the lines")),
    ("logs.merge", Mapping::Not("`docker compose logs SERVICE` reads every replica")),
    ("logs.out_file", Mapping::Not("a container's output goes to its logging driver")),
    ("logs.error_file", Mapping::Not("a container's output goes to its logging driver")),
    ("logs.log_file", Mapping::Not("a container's output goes to its logging driver")),
    ("logs.rotate", Mapping::Not("the logging driver rotates (`logging.options.max-size`)")),
    ("logs.format", Mapping::Not("the logging driver's format")),
    ("groups", Mapping::To("`depends_on` the member before (`condition: service_healthy` when it has a health check, else `service_started`)")),
    ("group.strategy", Mapping::Not("each container restarts alone")),
    ("group.intensity", Mapping::Not("the Docker engine never gives up restarting")),
];

/// The stock image for an interpreter (by its file name), used without `--image`.
pub fn stock_image(interpreter: &str) -> Option<&'static str> {
    let name = std::path::Path::new(interpreter)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(interpreter);
    Some(match name {
        "node" | "nodejs" => "node:lts-slim",
        "python" | "python3" => "python:3-slim",
        "bash" | "sh" => "debian:stable-slim",
        "ruby" => "ruby:slim",
        "perl" => "perl:slim",
        "php" => "php:cli",
        "bun" => "oven/bun:slim",
        "deno" => "denoland/deno",
        _ => return None,
    })
}

/// One file, `compose.yaml`.
///
/// Errors: an app without `--image` whose interpreter has no stock image.
pub fn render(input: &Input<'_>) -> Result<Output, String> {
    let mut out = Output::default();
    let dirs = super::path_dirs(
        input
            .apps
            .first()
            .and_then(|s| s.env.inherited.get("PATH"))
            .map(String::as_str),
    );
    let mut services = Map::new();
    for g in input.groups {
        out.notes.extend(group_unmapped(g, TABLE));
    }
    for spec in input.apps {
        let (service, notes) = service(input, spec, &dirs)?;
        out.notes.extend(notes);
        services.insert(spec.app.name.clone(), service);
    }
    let doc = json!({ "services": services });
    let yaml = super::to_yaml(&doc)?;
    let mut text = comments("# ", &header(Target::Compose, input.file), &out.notes);
    text.push_str(&yaml);
    out.files.push(OutFile {
        name: "compose.yaml".to_string(),
        text,
    });
    Ok(out)
}

/// One app's service and the notes about it.
fn service(
    input: &Input<'_>,
    spec: &AppSpec,
    dirs: &[std::path::PathBuf],
) -> Result<(Value, Vec<Note>), String> {
    let app = &spec.app;
    let (count, count_note) = input.count(spec);
    let mut notes = unmapped(spec, TABLE);
    notes.extend(count_note);
    let argv = super::container_argv(spec, dirs);
    notes.extend(super::container_notes(spec, &argv, true));
    let mut s = Map::new();
    match input.images.of(&app.name) {
        Some(image) => {
            s.insert("image".into(), json!(dollars(image)));
        }
        None => {
            let image = stock_image(&argv[0]).ok_or_else(|| {
                format!(
                    "export compose: app \"{}\" runs {}, which no stock image is chosen for: give --image IMAGE (every app) or --image {}=IMAGE",
                    app.name, argv[0], app.name
                )
            })?;
            s.insert("image".into(), json!(image));
            s.insert(
                "volumes".into(),
                json!([format!(
                    "{}:{MOUNT}",
                    dollars(&app.dir.display().to_string())
                )]),
            );
            s.insert("working_dir".into(), json!(MOUNT));
        }
    }
    let split = argv.len().saturating_sub(app.args.len()).max(1);
    s.insert(
        "entrypoint".into(),
        json!(argv[..split].iter().map(|w| dollars(w)).collect::<Vec<_>>()),
    );
    if argv.len() > split {
        s.insert(
            "command".into(),
            json!(argv[split..].iter().map(|w| dollars(w)).collect::<Vec<_>>()),
        );
    }
    let mut env = environment(spec);
    if count == 1 {
        env.insert("PMX_INSTANCE".to_string(), "0".to_string());
        env.insert(app.instance_var.clone(), "0".to_string());
    } else {
        notes.push(Note::app(
            &app.name,
            "instance_var",
            format!("{} has no per-replica value in Compose", app.instance_var),
        ));
    }
    s.insert(
        "environment".into(),
        Value::Object(
            env.iter()
                .map(|(k, v)| (k.clone(), json!(dollars(v))))
                .collect(),
        ),
    );
    s.insert(
        "restart".into(),
        json!(match app.restart.policy {
            Policy::Always => "always",
            Policy::OnFailure => "on-failure",
            Policy::Never => "no",
        }),
    );
    let (ports, unix) = tcp_ports(spec, "Compose publishes TCP ports only");
    notes.extend(unix);
    if !ports.is_empty() {
        if count > 1 {
            notes.push(Note::app(
                &app.name,
                "listen",
                format!("{count} replicas cannot share one host port: each publishes on an ephemeral host port (put a proxy in front)"),
            ));
        }
        // A loopback `listen` stays on the host's loopback: `127.0.0.1:P:P`, never every
        // interface (Compose's `P:P` publishes on 0.0.0.0).
        let published: Vec<String> = app
            .listen
            .iter()
            .filter_map(|l| match super::Listen::parse(l) {
                Some(super::Listen::Tcp { host, port }) => {
                    let ip = match host.as_str() {
                        "localhost" => Some("127.0.0.1".to_string()),
                        "[::1]" => Some("[::1]".to_string()),
                        h if h.starts_with("127.") => Some(h.to_string()),
                        _ => None,
                    };
                    Some(match (ip, count > 1) {
                        (Some(ip), true) => format!("{ip}::{port}"),
                        (Some(ip), false) => format!("{ip}:{port}:{port}"),
                        (None, true) => format!("{port}"),
                        (None, false) => format!("{port}:{port}"),
                    })
                }
                _ => None,
            })
            .collect();
        s.insert("ports".into(), json!(published));
    }
    if let Some(h) = &app.health {
        let test = match &h.probe {
            Probe::Http(url) => {
                let url = super::substitute(url, &env);
                let q = shell_quote(&url);
                json!([
                    "CMD-SHELL",
                    dollars(&format!(
                        "curl -fsS -o /dev/null {q} || wget -q -O /dev/null {q}"
                    ))
                ])
            }
            Probe::Tcp(addr) => match probe_parts(addr, &env) {
                Some((host, port, _)) => {
                    let host = if host.is_empty() || host == "0.0.0.0" {
                        "127.0.0.1".to_string()
                    } else {
                        host
                    };
                    json!([
                        "CMD",
                        "bash",
                        "-c",
                        dollars(&format!("exec 3<>/dev/tcp/{host}/{port}"))
                    ])
                }
                None => {
                    notes.push(Note::app(&app.name, "health", "its address has no port"));
                    Value::Null
                }
            },
            Probe::Exec(argv) => {
                let mut t = vec!["CMD".to_string()];
                t.extend(argv.iter().map(|w| dollars(w)));
                json!(t)
            }
        };
        if !test.is_null() {
            s.insert(
                "healthcheck".into(),
                json!({
                    "test": test,
                    "interval": go_duration(h.interval_ms.max(1)),
                    "timeout": go_duration(h.timeout_ms.max(1)),
                    "retries": h.failures.max(1),
                    "start_period": go_duration(h.start_period_ms),
                }),
            );
        }
    }
    if let Some((_, Some(prev))) = input.group_of(&app.name) {
        let healthy = input.app(prev).is_some_and(|p| p.app.health.is_some());
        s.insert(
            "depends_on".into(),
            json!({ prev: { "condition": if healthy { "service_healthy" } else { "service_started" } } }),
        );
    }
    if count != 1 {
        s.insert("deploy".into(), json!({ "replicas": count }));
    }
    if !app.autostart {
        s.insert("profiles".into(), json!(["manual"]));
    }
    if let Some(bytes) = app.max_memory_restart {
        s.insert("mem_limit".into(), json!(mem_limit(bytes)));
    }
    s.insert("stop_signal".into(), json!(app.kill_signal));
    s.insert(
        "stop_grace_period".into(),
        json!(go_duration(app.kill_timeout_ms)),
    );
    match (&app.uid, &app.gid) {
        (Some(u), Some(g)) => {
            s.insert("user".into(), json!(dollars(&format!("{u}:{g}"))));
        }
        (Some(u), None) => {
            s.insert("user".into(), json!(dollars(u)));
        }
        (None, Some(g)) => notes.push(Note::app(
            &app.name,
            "gid",
            format!("Compose's `user` needs a user before the group \"{g}\""),
        )),
        (None, None) => {}
    }
    Ok((Value::Object(s), notes))
}

/// A memory size as Compose writes one: `300m`, `1g`, else bytes.
fn mem_limit(bytes: u64) -> String {
    const MI: u64 = 1 << 20;
    const GI: u64 = 1 << 30;
    if bytes.is_multiple_of(GI) {
        format!("{}g", bytes / GI)
    } else if bytes.is_multiple_of(MI) {
        format!("{}m", bytes / MI)
    } else {
        format!("{bytes}b")
    }
}

/// `$` doubled: a literal in a Compose file (which interpolates `$VAR` and `${VAR}`).
pub fn dollars(s: &str) -> String {
    s.replace('$', "$$")
}

/// `s` in single quotes for `sh` (`'` written `'\''`).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
