//! `pmx export`: the fixture ecosystem (fixtures/export: several apps, a group, a cluster
//! app with `listen`, health checks, memory limits, env layers) to each target, checked
//! by that engine's own tool where it installs here (`systemd-analyze verify`,
//! kubernetes-validate with the Kubernetes OpenAPI schema, `docker-compose config`), by
//! a structural check of Nomad's API shape (`export_nomad.rs`: Nomad does not install
//! here), and against golden files in fixtures/export/golden/<target> (PMX_BLESS=1
//! rewrites them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::harness::{fixtures, python_with, tool_available, TestHome};

/// The fixture ecosystem.
pub(crate) fn ecosystem() -> PathBuf {
    fixtures().join("export").join("ecosystem.ron")
}

/// The first `name` on PATH (what pmx resolves an interpreter to).
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether `program` runs (`args` answered with exit 0).
pub(crate) fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `text` with this checkout's fixture directory as `@DIR@` and bash's path as
/// `@BASH@`: the golden files hold no machine's paths.
pub(crate) fn normalize(text: &str) -> String {
    let dir = fixtures().join("export").display().to_string();
    let mut t = text.replace(&dir, "@DIR@");
    if let Some(bash) = on_path("bash") {
        t = t.replace(&bash.display().to_string(), "@BASH@");
    }
    t
}

/// Run `pmx export args… -o <dir>`; the files written (name → text) and stderr.
pub(crate) fn export_to_dir(
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
pub(crate) fn golden(target: &str, files: &BTreeMap<String, String>, stderr: &str) {
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
pub(crate) fn warnings_are_in_the_output(
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

    let Some(python) = python_with("kubernetes_validate") else {
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
        .args(["--profile", "manual", "-f", "compose.yaml", "config"])
        .current_dir(&dir)
        .output()
        .expect("docker-compose");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "docker-compose config: {err}");
    // Compose read `$$HOME` as the literal `$HOME` (no variable interpolated: 1.x
    // prints it escaped again, 2.x as read), and kept every service (`report`, of
    // `autostart: false`, under its profile).
    let normal: Value = serde_yaml_ng::from_slice(&out.stdout).expect("config's YAML");
    let greeting = &normal["services"]["api"]["environment"]["GREETING"];
    assert!(
        greeting == "hello \"world\" 100% $$HOME" || greeting == "hello \"world\" 100% $HOME",
        "{greeting}"
    );
    assert_eq!(
        normal["services"].as_object().map(|s| s.len()),
        Some(4),
        "{normal}"
    );
    assert_eq!(
        normal["services"]["db-proxy"]["environment"]["NODE_APP_INSTANCE"],
        "0"
    );
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
