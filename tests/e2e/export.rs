//! `pmx export`: the fixture ecosystem (fixtures/export: several apps, a group, a cluster
//! app with `listen`, health checks, memory limits, env layers) to each target, checked
//! by that engine's own tool where it installs here (`systemd-analyze verify`,
//! kubernetes-validate with the Kubernetes OpenAPI schema, `docker-compose config`), by
//! a structural check of Nomad's API shape (Nomad does not install here), and against
//! golden files in fixtures/export/golden/<target> (PMX_BLESS=1 rewrites them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{fixtures, tool_available, TestHome};

/// The fixture ecosystem.
fn ecosystem() -> PathBuf {
    fixtures().join("export").join("ecosystem.ron")
}

/// The first `name` on PATH (what pmx resolves an interpreter to).
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether `program` runs (`args` answered with exit 0).
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `text` with this checkout's fixture directory as `@DIR@` and bash's path as
/// `@BASH@`: the golden files hold no machine's paths.
fn normalize(text: &str) -> String {
    let dir = fixtures().join("export").display().to_string();
    let mut t = text.replace(&dir, "@DIR@");
    if let Some(bash) = on_path("bash") {
        t = t.replace(&bash.display().to_string(), "@BASH@");
    }
    t
}

/// Run `pmx export args… -o <dir>`; the files written (name → text) and stderr.
fn export_to_dir(
    t: &TestHome,
    target: &str,
    extra: &[&str],
) -> (PathBuf, BTreeMap<String, String>, String) {
    let dir = t.work.join(target);
    let eco = ecosystem().display().to_string();
    let d = dir.display().to_string();
    let mut args = vec!["export", target, eco.as_str(), "-o", d.as_str()];
    args.extend_from_slice(extra);
    let out = t.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "pmx export {target}: {stderr}");
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(&dir).expect("the output directory") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        files.insert(name, std::fs::read_to_string(&p).expect("a written file"));
    }
    // Every written file is named on stdout.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in files.keys() {
        assert!(
            stdout.contains(&format!("wrote {}", dir.join(name).display())),
            "{stdout}"
        );
    }
    (dir, files, stderr)
}

/// Compare `files` and the warnings with fixtures/export/golden/<target>
/// (PMX_BLESS=1 rewrites the directory).
fn golden(target: &str, files: &BTreeMap<String, String>, stderr: &str) {
    let dir = fixtures().join("export").join("golden").join(target);
    let mut want: BTreeMap<String, String> = files
        .iter()
        .map(|(n, t)| (n.clone(), normalize(t)))
        .collect();
    want.insert("warnings.txt".into(), normalize(stderr));
    if std::env::var_os("PMX_BLESS").is_some_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("golden dir");
        for (n, t) in &want {
            std::fs::write(dir.join(n), t).expect("write golden");
        }
        return;
    }
    let have: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (PMX_BLESS=1 writes it)", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        have,
        want.keys().cloned().collect::<BTreeSet<_>>(),
        "the files of {target} differ from {} (PMX_BLESS=1 rewrites them)",
        dir.display()
    );
    for (n, text) in &want {
        let golden = std::fs::read_to_string(dir.join(n)).expect("golden file");
        assert_eq!(
            *text, golden,
            "{target}/{n} differs from its golden file (PMX_BLESS=1 rewrites it)"
        );
    }
}

/// Each warning on stderr (`pmx: warning: export T: SUBJECT: FIELD not expressed: WHY`)
/// is in the output too: as a `# pmx: SUBJECT: FIELD not expressed: WHY` comment, or
/// (Nomad's JSON) as a `Meta` value WHY. Returns how many warnings there were.
fn warnings_are_in_the_output(
    target: &str,
    files: &BTreeMap<String, String>,
    stderr: &str,
) -> usize {
    let prefix = format!("pmx: warning: export {target}: ");
    let all: String = files.values().cloned().collect();
    let mut n = 0;
    for line in stderr.lines() {
        let rest = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("an unexpected stderr line: {line}"));
        if target == "nomad" {
            let why = rest.split_once(" not expressed: ").expect("a note").1;
            let json = serde_json::to_string(why).expect("json");
            assert!(all.contains(&json), "no Meta says {json}");
        } else {
            assert!(
                all.contains(&format!("# pmx: {rest}\n")),
                "no comment says: {rest}"
            );
        }
        n += 1;
    }
    n
}

#[test]
fn exported_systemd_units_pass_systemd_analyze_verify() {
    let t = TestHome::new();
    let (dir, files, stderr) = export_to_dir(&t, "systemd", &[]);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "api-cron.service",
            "api-cron.timer",
            "api.socket",
            "api.target",
            "api@.service",
            "backend.target",
            "db-proxy.service",
            "report-cron.service",
            "report-cron.timer",
            "report.service",
            "worker.service",
        ]
    );
    // The cluster app: a template, its socket, N instances through its target.
    let api = &files["api@.service"];
    for line in [
        "Type=notify\n",
        "Sockets=api.socket\n",
        "Environment=\"NODE_APP_INSTANCE=%i\"\n",
        "MemoryMax=268435456\n",
        "TimeoutStopSec=5s\n",
        "After=network.target api.socket db-proxy.service\n",
        "Environment=\"GREETING=hello \\\"world\\\" 100%% $HOME\"\n",
    ] {
        assert!(api.contains(line), "api@.service lacks {line:?}:\n{api}");
    }
    assert!(files["api.target"].contains("Wants=api@0.service api@1.service\n"));
    assert!(files["api-cron.timer"].contains("OnCalendar=Mon..Fri *-*-* 3:0:0 Europe/Paris\n"));
    assert!(files["backend.target"].contains("Wants=db-proxy.service api.target worker.service\n"));
    assert!(
        !files["report.service"].contains("[Install]"),
        "autostart: false is not enabled"
    );
    warnings_are_in_the_output("systemd", &files, &stderr);
    golden("systemd", &files, &stderr);

    if !tool_available(
        runs("systemd-analyze", &["--version"]),
        "systemd-analyze is not installed (.ci/run installs systemd)",
    ) {
        return;
    }
    let paths: Vec<PathBuf> = files.keys().map(|n| dir.join(n)).collect();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .current_dir(&dir)
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {err}"
    );
}

#[test]
fn exported_kubernetes_manifests_pass_the_kubernetes_openapi_schema() {
    let t = TestHome::new();
    let (dir, files, stderr) = export_to_dir(
        &t,
        "kubernetes",
        &[
            "--env",
            "production",
            "--image",
            "registry.example/shop:1.4",
        ],
    );
    let api = &files["api.yaml"];
    for line in [
        "  replicas: 2\n",
        "        image: registry.example/shop:1.4\n",
        "            memory: 256Mi\n",
        "      terminationGracePeriodSeconds: 5\n",
        "        readinessProbe:\n",
        "            port: 3000\n",
        // envs.production over env, env_file's values, a YAML 1.1 boolean quoted.
        "          value: bonjour\n",
        "          value: \"on\"\n",
        "kind: Service\n",
    ] {
        assert!(api.contains(line), "api.yaml lacks {line:?}:\n{api}");
    }
    assert!(
        files["report.yaml"].contains("  replicas: 0\n"),
        "autostart: false"
    );
    let n = warnings_are_in_the_output("kubernetes", &files, &stderr);
    assert!(n >= 10, "{stderr}");
    golden("kubernetes", &files, &stderr);

    let Some(python) = validator_python() else {
        tool_available(
            false,
            "no python imports kubernetes_validate (.ci/run installs kubernetes-validate)",
        );
        return;
    };
    let paths: Vec<PathBuf> = files.keys().map(|n| dir.join(n)).collect();
    let out = Command::new(&python)
        .args(["-m", "kubernetes_validate", "--strict"])
        .args(&paths)
        .output()
        .expect("kubernetes-validate");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubernetes-validate: {said}");
    // Four Deployments and the api's Service, each checked.
    assert_eq!(
        said.matches("passed for resource deployment/").count(),
        4,
        "{said}"
    );
    assert_eq!(
        said.matches("passed for resource service/api").count(),
        1,
        "{said}"
    );
}

/// The python with kubernetes_validate: `PMX_TEST_PYTHON` (`.ci/run`'s venv), else the
/// CI venv's, else python3.
fn validator_python() -> Option<String> {
    let venv = std::env::var("HOME")
        .map(|h| format!("{h}/.cache/pmx-ci/venv/bin/python3"))
        .unwrap_or_default();
    [
        std::env::var("PMX_TEST_PYTHON").unwrap_or_default(),
        venv,
        "python3".into(),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .find(|p| runs(p, &["-c", "import kubernetes_validate"]))
}

#[test]
fn exported_compose_file_passes_docker_compose_config() {
    let t = TestHome::new();
    let (dir, files, stderr) = export_to_dir(&t, "compose", &[]);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["compose.yaml"]);
    let doc: Value = serde_yaml_ng::from_str(&files["compose.yaml"]).expect("YAML");
    let s = &doc["services"];
    assert_eq!(s["api"]["deploy"]["replicas"], 2);
    assert_eq!(
        s["api"]["depends_on"]["db-proxy"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        s["worker"]["depends_on"]["api"]["condition"],
        "service_healthy"
    );
    assert_eq!(s["api"]["mem_limit"], "256m");
    assert_eq!(s["db-proxy"]["stop_signal"], "SIGTERM");
    assert_eq!(s["db-proxy"]["stop_grace_period"], "10s");
    assert_eq!(s["db-proxy"]["restart"], "on-failure");
    assert_eq!(s["report"]["restart"], "no");
    assert_eq!(
        s["api"]["environment"]["GREETING"],
        "hello \"world\" 100% $$HOME"
    );
    assert_eq!(
        s["api"]["image"], "debian:stable-slim",
        "bash's stock image"
    );
    warnings_are_in_the_output("compose", &files, &stderr);
    golden("compose", &files, &stderr);

    if !tool_available(
        runs("docker-compose", &["version"]),
        "docker-compose is not installed (.ci/run installs Debian's docker-compose)",
    ) {
        return;
    }
    let out = Command::new("docker-compose")
        .args(["-f", "compose.yaml", "config"])
        .current_dir(&dir)
        .output()
        .expect("docker-compose");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "docker-compose config: {err}");
    // Compose read `$$HOME` as the literal `$HOME`, and kept every service.
    let normal: Value = serde_yaml_ng::from_slice(&out.stdout).expect("config's YAML");
    assert_eq!(
        normal["services"]["api"]["environment"]["GREETING"],
        "hello \"world\" 100% $$HOME"
    );
    assert_eq!(
        normal["services"]["db-proxy"]["environment"]["NODE_APP_INSTANCE"],
        "0"
    );
}

#[test]
fn exported_nomad_job_has_nomads_api_shape() {
    let t = TestHome::new();
    let (_, files, stderr) = export_to_dir(&t, "nomad", &[]);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["export.nomad.json"]);
    let job: Value = serde_json::from_str(&files["export.nomad.json"]).expect("JSON");
    check_nomad_job(&job);
    let groups = job["Job"]["TaskGroups"].as_array().expect("groups");
    let api = groups.iter().find(|g| g["Name"] == "api").expect("api");
    assert_eq!(api["Count"], 2);
    assert_eq!(api["Tasks"][0]["Driver"], "raw_exec");
    assert_eq!(api["Tasks"][0]["Resources"]["MemoryMB"], 256);
    assert_eq!(api["Tasks"][0]["KillTimeout"], 5_000_000_000u64);
    assert_eq!(
        api["Tasks"][0]["Env"]["NODE_APP_INSTANCE"],
        "${NOMAD_ALLOC_INDEX}"
    );
    assert_eq!(api["Services"][0]["Checks"][0]["Path"], "/health");
    let report = groups
        .iter()
        .find(|g| g["Name"] == "report")
        .expect("report");
    assert_eq!(report["Count"], 0, "autostart: false");
    assert_eq!(report["RestartPolicy"]["Attempts"], 0, "policy: Never");
    warnings_are_in_the_output("nomad", &files, &stderr);
    golden("nomad", &files, &stderr);

    // With an image (one for every app, another for the api), a docker task of the
    // container command line.
    let eco = ecosystem().display().to_string();
    let out = t.run(&[
        "export",
        "nomad",
        &eco,
        "--image",
        "registry.example/shop:1.4",
        "--image",
        "api=registry.example/api:2.0",
    ]);
    assert!(out.status.success());
    let job: Value = serde_json::from_slice(&out.stdout).expect("one JSON file on stdout");
    check_nomad_job(&job);
    let task = &job["Job"]["TaskGroups"][1]["Tasks"][0];
    assert_eq!(task["Driver"], "docker");
    assert_eq!(task["Config"]["image"], "registry.example/api:2.0");
    assert_eq!(
        job["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "registry.example/shop:1.4"
    );
    assert_eq!(task["Config"]["command"], "bash");
    assert_eq!(
        task["Config"]["args"],
        serde_json::json!(["-e", "./bin/api.sh"])
    );
}

/// Nomad's own rules for a job (`nomad/structs`' `Job.Validate`, `TaskGroup.Validate`,
/// `RestartPolicy.Validate`, `Service.Validate`), as far as they bear on what pmx writes:
/// only the API's field names, their types, unique names and labels, a service's and a
/// check's port a label of the group's network, `Delay × Attempts ≤ Interval`, a check's
/// interval of 1 s or more, a raw_exec command that exists here. Nomad itself does not
/// install here (its licence is not open source since 1.7).
fn check_nomad_job(v: &Value) {
    fn keys(v: &Value, allowed: &[&str], what: &str) {
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
        for k in obj.keys() {
            assert!(
                allowed.contains(&k.as_str()),
                "{what} has an unknown field {k}"
            );
        }
    }
    fn strings(v: &Value, what: &str) {
        for (k, s) in v.as_object().unwrap_or_else(|| panic!("{what}: {v}")) {
            assert!(s.is_string(), "{what}.{k} is not a string");
        }
    }
    keys(v, &["Job"], "the file");
    let job = &v["Job"];
    keys(
        job,
        &["ID", "Name", "Type", "Datacenters", "Meta", "TaskGroups"],
        "Job",
    );
    let id = job["ID"].as_str().expect("ID");
    assert!(!id.is_empty() && !id.contains(' '), "ID {id}");
    assert!(["service", "batch", "system"].contains(&job["Type"].as_str().expect("Type")));
    assert!(!job["Datacenters"]
        .as_array()
        .expect("Datacenters")
        .is_empty());
    strings(&job["Meta"], "Job.Meta");
    let groups = job["TaskGroups"].as_array().expect("TaskGroups");
    assert!(!groups.is_empty());
    let mut names = BTreeSet::new();
    for g in groups {
        let name = g["Name"].as_str().expect("group Name");
        assert!(names.insert(name), "two groups named {name}");
        keys(
            g,
            &[
                "Name",
                "Count",
                "Meta",
                "RestartPolicy",
                "Networks",
                "Services",
                "Tasks",
            ],
            name,
        );
        assert!(g["Count"].is_u64(), "{name}: Count");
        if !g["Meta"].is_null() {
            strings(&g["Meta"], name);
        }
        let rp = &g["RestartPolicy"];
        keys(
            rp,
            &["Attempts", "Delay", "Interval", "Mode"],
            "RestartPolicy",
        );
        let (a, d, i) = (
            rp["Attempts"].as_u64().expect("Attempts"),
            rp["Delay"].as_u64().expect("Delay"),
            rp["Interval"].as_u64().expect("Interval"),
        );
        assert!(d * a <= i, "{name}: Delay × Attempts > Interval");
        assert!(["fail", "delay"].contains(&rp["Mode"].as_str().expect("Mode")));
        let mut labels = BTreeSet::new();
        for n in g["Networks"].as_array().into_iter().flatten() {
            keys(n, &["ReservedPorts"], "Network");
            for p in n["ReservedPorts"].as_array().expect("ReservedPorts") {
                keys(p, &["Label", "Value", "To"], "Port");
                assert!(labels.insert(p["Label"].as_str().expect("Label").to_string()));
                assert!(p["Value"].as_u64().is_some_and(|v| v > 0 && v < 65536));
            }
        }
        for s in g["Services"].as_array().into_iter().flatten() {
            keys(s, &["Name", "Provider", "PortLabel", "Checks"], "Service");
            assert!(["nomad", "consul"].contains(&s["Provider"].as_str().expect("Provider")));
            assert!(labels.contains(s["PortLabel"].as_str().expect("PortLabel")));
            for c in s["Checks"].as_array().into_iter().flatten() {
                keys(
                    c,
                    &[
                        "Name",
                        "Type",
                        "Protocol",
                        "Path",
                        "PortLabel",
                        "Interval",
                        "Timeout",
                    ],
                    "Check",
                );
                let ty = c["Type"].as_str().expect("Type");
                assert!(
                    ["http", "tcp"].contains(&ty),
                    "a nomad-provider check is http or tcp"
                );
                if ty == "http" {
                    assert!(c["Path"].as_str().expect("Path").starts_with('/'));
                }
                assert!(labels.contains(c["PortLabel"].as_str().expect("PortLabel")));
                assert!(c["Interval"].as_u64().expect("Interval") >= 1_000_000_000);
                assert!(c["Timeout"].as_u64().expect("Timeout") > 0);
            }
        }
        let tasks = g["Tasks"].as_array().expect("Tasks");
        assert!(!tasks.is_empty());
        for task in tasks {
            keys(
                task,
                &[
                    "Name",
                    "Driver",
                    "Config",
                    "Env",
                    "KillSignal",
                    "KillTimeout",
                    "User",
                    "Resources",
                    "LogConfig",
                ],
                "Task",
            );
            let driver = task["Driver"].as_str().expect("Driver");
            let config = &task["Config"];
            let command = config["command"].as_str().expect("command");
            match driver {
                "raw_exec" => {
                    keys(config, &["command", "args", "work_dir"], "raw_exec config");
                    assert!(Path::new(command).is_file(), "{command} does not exist");
                    assert!(Path::new(config["work_dir"].as_str().expect("work_dir")).is_dir());
                }
                "docker" => {
                    keys(
                        config,
                        &["image", "command", "args", "ports"],
                        "docker config",
                    );
                    assert!(config["image"].is_string());
                    for p in config["ports"].as_array().into_iter().flatten() {
                        assert!(labels.contains(p.as_str().expect("port label")));
                    }
                }
                other => panic!("driver {other}"),
            }
            assert!(config["args"]
                .as_array()
                .expect("args")
                .iter()
                .all(Value::is_string));
            strings(&task["Env"], "Env");
            assert!(task["KillTimeout"].is_u64());
            assert!(task["KillSignal"]
                .as_str()
                .expect("KillSignal")
                .starts_with("SIG"));
            if !task["Resources"].is_null() {
                keys(&task["Resources"], &["MemoryMB"], "Resources");
                assert!(task["Resources"]["MemoryMB"].as_u64().expect("MemoryMB") >= 10);
            }
            if !task["LogConfig"].is_null() {
                keys(
                    &task["LogConfig"],
                    &["MaxFiles", "MaxFileSizeMB"],
                    "LogConfig",
                );
                assert!(task["LogConfig"]["MaxFiles"].as_u64().expect("MaxFiles") >= 1);
            }
        }
    }
}

#[test]
fn export_without_o_prints_every_file_after_a_separator_line() {
    let t = TestHome::new();
    let eco = ecosystem().display().to_string();
    let out = t.run(&["export", "systemd", &eco]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("# ==> db-proxy.service <==\n"), "{text}");
    for name in [
        "api@.service",
        "api.socket",
        "backend.target",
        "report-cron.timer",
    ] {
        assert!(text.contains(&format!("\n# ==> {name} <==\n")), "{name}");
    }
    // One file prints as it is, ready for `> compose.yaml`.
    let out = t.run(&["export", "compose", &eco]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("==>"));
    let _: Value = serde_yaml_ng::from_str(&text).expect("one YAML file");
}

#[test]
fn export_defaults_to_the_ecosystem_file_in_the_current_directory() {
    let t = TestHome::new();
    std::fs::write(
        t.work.join("ecosystem.ron"),
        "Ecosystem(apps: [App(name: \"solo\", script: \"solo.sh\", watch: true)])\n",
    )
    .expect("write");
    std::fs::write(t.work.join("solo.sh"), "#!/bin/sh\nexec sleep 60\n").expect("write");
    let out = t.run(&["export", "kubernetes", "--image", "solo:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: solo\n"));
    assert!(
        err.contains("pmx: warning: export kubernetes: app \"solo\": watch not expressed: "),
        "{err}"
    );
}

#[test]
fn export_refuses_bad_input_with_one_line_and_exit_2() {
    let t = TestHome::new();
    let eco = ecosystem().display().to_string();
    let err = t.fails(&["export", "kubernets", &eco], 2);
    assert!(
        err.contains("unknown export target \"kubernets\", did you mean \"kubernetes\"?"),
        "{err}"
    );
    let err = t.fails(&["export", "kubernetes", &eco], 2);
    assert!(
        err.contains("app \"db-proxy\" has no image: give --image IMAGE (every app) or --image db-proxy=IMAGE"),
        "{err}"
    );
    let err = t.fails(&["export", "nomad", &eco, "--env", "staging"], 2);
    assert!(
        err.contains("--env staging:") && err.contains("(it has: production)"),
        "{err}"
    );
    let err = t.fails(&["export", "compose", &eco, "--image", "nope=x:1"], 2);
    assert!(err.contains("has no app named \"nope\""), "{err}");
    // A bad file: its error at its line and column, nothing written.
    let bad = t.work.join("bad.ron");
    std::fs::write(
        &bad,
        "Ecosystem(apps: [\n    App(name: \"a\", script: \"a.sh\", instanses: 2),\n])\n",
    )
    .expect("write");
    let out_dir = t.work.join("out");
    let err = t.fails(
        &[
            "export",
            "systemd",
            &bad.display().to_string(),
            "-o",
            &out_dir.display().to_string(),
        ],
        2,
    );
    assert!(err.contains("bad.ron:2:"), "{err}");
    assert!(
        err.contains("unknown field \"instanses\", did you mean \"instances\"?"),
        "{err}"
    );
    assert!(!out_dir.exists(), "nothing is written for a bad file");
    let err = t.fails(&["export", "systemd", "missing.ron"], 1);
    assert!(
        err.contains("ecosystem file missing.ron not found"),
        "{err}"
    );
}
