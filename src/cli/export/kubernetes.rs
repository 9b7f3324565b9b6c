//! `pmx export kubernetes`: per app a Deployment (and a Service for its TCP `listen`
//! ports), one YAML file per app. The image is `--image` (required): a container holds
//! the project, so its command is the app's command line relative to the ecosystem
//! file's directory ([`super::container_argv`]).

use serde_json::{json, Value};

use pmx_config::{Health, Probe};

use super::fields::{group_unmapped, unmapped, Mapping, Table};
use super::{
    ceil_secs, comments, dns_label, environment, header, memory_quantity, probe_parts, tcp_ports,
    Input, Note, OutFile, Output, Target,
};

/// Every field, mapped or not (docs/export.md holds this table).
pub const TABLE: Table = &[
    ("name", Mapping::To("`metadata.name` (a DNS label) and the `app.kubernetes.io/name` label")),
    ("script", Mapping::To("the container's `command`, relative to the ecosystem's directory (the image's WORKDIR)")),
    ("args", Mapping::To("the container's `args`")),
    ("cwd", Mapping::Not("the container runs in the image's WORKDIR (taken as the ecosystem file's directory)")),
    ("interpreter", Mapping::To("`command[0]`, by name (the image's PATH finds it)")),
    ("interpreter_args", Mapping::To("`command`, before the script")),
    ("instances", Mapping::To("`spec.replicas`")),
    ("instance_var", Mapping::Not("a Deployment's pods have no ordinal (a StatefulSet's do); `0` with one replica")),
    ("exec_mode", Mapping::To("every replica has its own network: fork and cluster alike")),
    ("increment_var", Mapping::Not("every pod has its own network, so every replica keeps the base value")),
    ("listen", Mapping::To("`containerPort`s and a Service (TCP); the app binds its port itself")),
    ("env", Mapping::To("the container's `env`")),
    ("envs", Mapping::To("the container's `env` (the layer `--env` chose)")),
    ("env_file", Mapping::To("the container's `env` (its contents as read at export)")),
    ("autostart", Mapping::To("`replicas: 0`")),
    ("namespace", Mapping::To("`metadata.namespace` (left out for `default`: `kubectl apply -n` chooses)")),
    ("uid", Mapping::To("`securityContext.runAsUser` (a number only)")),
    ("gid", Mapping::To("`securityContext.runAsGroup` (a number only)")),
    ("restart.policy", Mapping::Not("a Deployment's pods always restart (`restartPolicy: Always`); a Job runs to completion")),
    ("restart.delay", Mapping::Not("the kubelet's CrashLoopBackOff sets the delay")),
    ("restart.backoff", Mapping::Not("the kubelet's CrashLoopBackOff (10 s doubling to 5 min) sets the delay")),
    ("restart.min_uptime", Mapping::Not("the kubelet resets its back-off after 10 minutes up")),
    ("restart.max_restarts", Mapping::Not("a Deployment never gives up restarting")),
    ("strategy", Mapping::Not("each pod restarts alone")),
    ("intensity", Mapping::Not("a Deployment never gives up restarting")),
    ("stop_exit_codes", Mapping::Not("a Deployment restarts every exit")),
    ("kill_signal", Mapping::Not("the stop signal is the image's STOPSIGNAL (SIGTERM unless the Dockerfile says)")),
    ("kill_timeout", Mapping::To("`terminationGracePeriodSeconds`, rounded up to a second")),
    ("shutdown_with_message", Mapping::Not("a container has no Node IPC channel; the stop signal stops it")),
    ("wait_ready", Mapping::Not("no READY=1 channel in a pod; a `health` with `ready: true` becomes the readinessProbe")),
    ("listen_timeout", Mapping::Not("no READY=1 channel in a pod")),
    ("max_memory_restart", Mapping::To("`resources.limits.memory` (the kernel kills the container at the limit, the kubelet restarts it)")),
    ("cron_restart", Mapping::Not("a CronJob running `kubectl rollout restart` needs a service account and RBAC: not generated")),
    ("cron_timezone", Mapping::Not("no cron restart")),
    ("health", Mapping::To("`livenessProbe` (httpGet, tcpSocket, exec); `readinessProbe` too with `ready: true`")),
    ("watch", Mapping::Not("an image does not change under a pod: build and roll out a new one")),
    ("ignore_watch", Mapping::Not("no watching")),
    ("watch_delay", Mapping::Not("no watching")),
    ("logs.time", Mapping::Not("the container runtime stamps every line (`kubectl logs --timestamps`)")),
    ("logs.date_format", Mapping::Not("the container runtime stamps every line")),
    ("logs.merge", Mapping::Not("`kubectl logs -l app.kubernetes.io/name=NAME` reads every replica")),
    ("logs.out_file", Mapping::Not("a container's output goes to the runtime's log")),
    ("logs.error_file", Mapping::Not("a container's output goes to the runtime's log")),
    ("logs.log_file", Mapping::Not("a container's output goes to the runtime's log")),
    ("logs.rotate", Mapping::Not("the kubelet rotates container logs (`containerLogMaxSize`)")),
    ("logs.format", Mapping::Not("the runtime's log format is the cluster's")),
    ("groups", Mapping::Not("Deployments start together; nothing orders them (an initContainer that waits for a Service could)")),
    ("group.strategy", Mapping::Not("each Deployment restarts alone")),
    ("group.intensity", Mapping::Not("a Deployment never gives up restarting")),
];

/// One YAML file per app: its Deployment, then its Service when it listens on TCP.
///
/// Errors: an app without an image (`--image`).
pub fn render(input: &Input<'_>) -> Result<Output, String> {
    let mut out = Output::default();
    let head = header(Target::Kubernetes, input.file);
    let dirs = super::path_dirs(
        input
            .apps
            .first()
            .and_then(|s| s.env.inherited.get("PATH"))
            .map(String::as_str),
    );
    for spec in input.apps {
        let app = &spec.app;
        let image = input.images.of(&app.name).ok_or_else(|| {
            format!(
                "export kubernetes: app \"{}\" has no image: give --image IMAGE (every app) or --image {}=IMAGE",
                app.name, app.name
            )
        })?;
        let label = dns_label(&app.name);
        let (count, count_note) = input.count(spec);
        let mut notes = unmapped(spec, TABLE);
        notes.extend(count_note);
        if count > 1 {
            notes.push(Note::app(
                &app.name,
                "instance_var",
                format!(
                    "{} has no per-replica value in a Deployment (a StatefulSet's pods have an ordinal)",
                    app.instance_var
                ),
            ));
        }
        let (ports, unix) = tcp_ports(spec, "a Service publishes TCP ports only");
        notes.extend(unix);
        if let Some((g, _)) = input.group_of(&app.name) {
            if g.apps.first() == Some(&app.name) {
                notes.extend(group_unmapped(g, TABLE));
            }
        }
        let mut env = environment(spec);
        if count == 1 {
            env.insert("PMX_INSTANCE".to_string(), "0".to_string());
            env.insert(app.instance_var.clone(), "0".to_string());
        }
        let argv = super::container_argv(spec, &dirs);
        notes.extend(super::container_notes(spec, &argv, true));
        let split = argv.len().saturating_sub(app.args.len()).max(1);
        let mut container = json!({
            "name": label,
            "image": image,
            "command": argv[..split],
            "env": env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        });
        if argv.len() > split {
            container["args"] = json!(argv[split..]);
        }
        if !ports.is_empty() {
            container["ports"] = json!(ports
                .iter()
                .map(|p| json!({"containerPort": p, "protocol": "TCP"}))
                .collect::<Vec<_>>());
        }
        if let Some(bytes) = app.max_memory_restart {
            container["resources"] = json!({"limits": {"memory": memory_quantity(bytes)}});
        }
        if let Some(h) = &app.health {
            match probe(h, &env) {
                Some(p) => {
                    container["livenessProbe"] = p.clone();
                    if h.ready {
                        container["readinessProbe"] = p;
                    }
                }
                None => notes.push(Note::app(
                    &app.name,
                    "health",
                    "its address has no port a probe can name",
                )),
            }
        }
        let mut pod = json!({
            "containers": [container],
            "terminationGracePeriodSeconds": ceil_secs(app.kill_timeout_ms, 0),
        });
        let mut security = serde_json::Map::new();
        for (field, key, value) in [
            ("uid", "runAsUser", &app.uid),
            ("gid", "runAsGroup", &app.gid),
        ] {
            if let Some(v) = value {
                match v.parse::<u64>() {
                    Ok(n) => {
                        security.insert(key.to_string(), json!(n));
                    }
                    Err(_) => notes.push(Note::app(
                        &app.name,
                        field,
                        format!("\"{v}\" is a name; `{key}` takes a number"),
                    )),
                }
            }
        }
        if !security.is_empty() {
            pod["securityContext"] = Value::Object(security);
        }
        let labels =
            json!({"app.kubernetes.io/name": label, "app.kubernetes.io/managed-by": "pmx"});
        // pmx's `default` namespace is no choice: left out, so `kubectl apply -n other`
        // puts it where it is told.
        let mut metadata = json!({"name": label, "labels": labels});
        if app.namespace != "default" {
            metadata["namespace"] = json!(app.namespace);
        }
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": if app.autostart { count } else { 0 },
                "selector": {"matchLabels": {"app.kubernetes.io/name": label}},
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        });
        let mut text = comments("# ", &head, &notes);
        text.push_str(&super::to_yaml(&deployment)?);
        if !ports.is_empty() {
            let service = json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata,
                "spec": {
                    "selector": {"app.kubernetes.io/name": label},
                    "ports": ports.iter().map(|p| json!({
                        "name": format!("tcp-{p}"),
                        "port": p,
                        "targetPort": p,
                        "protocol": "TCP",
                    })).collect::<Vec<_>>(),
                },
            });
            text.push_str("---\n");
            text.push_str(&super::to_yaml(&service)?);
        }
        out.notes.extend(notes);
        out.files.push(OutFile {
            name: format!("{label}.yaml"),
            text,
        });
    }
    Ok(out)
}

/// A probe (httpGet, tcpSocket or exec) with the check's timing, or `None` when its
/// address has no port.
pub fn probe(h: &Health, env: &std::collections::BTreeMap<String, String>) -> Option<Value> {
    let mut p = match &h.probe {
        Probe::Http(url) => {
            let (host, port, path) = probe_parts(url, env)?;
            let scheme = if url.starts_with("https://") {
                "HTTPS"
            } else {
                "HTTP"
            };
            let mut get = json!({"path": path, "port": port, "scheme": scheme});
            if !is_local(&host) {
                get["host"] = json!(host);
            }
            json!({ "httpGet": get })
        }
        Probe::Tcp(addr) => {
            let (host, port, _) = probe_parts(addr, env)?;
            let mut tcp = json!({ "port": port });
            if !is_local(&host) {
                tcp["host"] = json!(host);
            }
            json!({ "tcpSocket": tcp })
        }
        Probe::Exec(argv) => json!({"exec": {"command": argv}}),
    };
    p["periodSeconds"] = json!(ceil_secs(h.interval_ms, 1));
    p["timeoutSeconds"] = json!(ceil_secs(h.timeout_ms, 1));
    p["failureThreshold"] = json!(h.failures.max(1));
    p["initialDelaySeconds"] = json!(ceil_secs(h.start_period_ms, 0));
    Some(p)
}

/// A host the probe should leave out: this machine's names, which in a pod mean the
/// pod itself (the kubelet probes the pod's address).
fn is_local(host: &str) -> bool {
    matches!(
        host,
        "127.0.0.1" | "localhost" | "0.0.0.0" | "[::1]" | "[::]" | "::1" | ""
    )
}
