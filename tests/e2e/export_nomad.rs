//! `pmx export nomad`: the fixture's job checked against Nomad's own rules for a job's
//! shape (Nomad does not install here: its licence is not open source since 1.7) and
//! its golden file; with `--image`, docker tasks.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::export::{ecosystem, export_to_dir, golden, warnings_are_in_the_output};
use crate::harness::TestHome;

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
