//! `logs: (format: Json)` (PM2's `log_type: "json"`): each line of the app's output is one
//! JSON object in its log files, `{"message","timestamp","type","process_id","app_name"}`,
//! the messages joined giving back what the app wrote. Each test writes its own files.

use serde_json::Value;

use crate::harness::*;

/// The JSON objects of the file at `path`, one per line (each must parse).
fn objects(path: &std::path::Path) -> Vec<Value> {
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// A script writing two lines to stdout (one with quotes, a tab and a backslash) and one
/// to stderr, then staying up.
fn writer(t: &TestHome) {
    std::fs::write(
        t.path("w.sh"),
        "printf 'one \"q\"\\t\\\\ end\\n'\nprintf 'two\\n'\necho oops >&2\nexec sleep 600\n",
    )
    .expect("write script");
}

#[test]
fn a_json_log_holds_one_object_per_line_with_pm2s_fields() {
    let t = TestHome::new();
    writer(&t);
    std::fs::write(
        t.path("ecosystem.ron"),
        r#"(apps: [App(name: "w", script: "w.sh", logs: (format: Json, log_file: "all.log"))])"#,
    )
    .expect("write file");
    t.ok(&["up"]);
    let id = int(&t.wait_status("w", "online"), "id");
    let out = t.home.join("logs/w-out.log");
    let all = t.path("all.log");
    assert!(wait_for(DEADLINE, || lines(&out).len() == 2
        && lines(&all).len() == 3));
    let got = objects(&out);
    let messages: String = got
        .iter()
        .map(|o| o["message"].as_str().expect("message"))
        .collect();
    assert_eq!(messages, "one \"q\"\t\\ end\ntwo\n", "lossless: {got:?}");
    for o in &got {
        assert_eq!(o["type"], "out");
        assert_eq!(o["process_id"], id);
        assert_eq!(o["app_name"], "w");
        // JavaScript's toISOString: UTC, milliseconds, Z.
        let ts = o["timestamp"].as_str().expect("timestamp");
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
    }
    let err = objects(&t.home.join("logs/w-error.log"));
    assert_eq!(err.len(), 1);
    assert_eq!(err[0]["message"], "oops\n");
    assert_eq!(err[0]["type"], "err");
    // The combined file holds both streams' objects.
    let types: Vec<Value> = objects(&all)
        .into_iter()
        .map(|o| o["type"].clone())
        .collect();
    assert!(types.contains(&Value::from("out")) && types.contains(&Value::from("err")));
}

#[test]
fn a_pm2_file_with_log_type_json_and_a_date_format_writes_that_timestamp() {
    let t = TestHome::new();
    writer(&t);
    std::fs::write(
        t.path("apps.json"),
        r#"[{"name":"w","script":"w.sh","log_type":"json","log_date_format":"YYYY","out_file":"out.log","merge_logs":true}]"#,
    )
    .expect("write file");
    // PM2's `-i N` over the file's count.
    t.ok(&["start", "apps.json", "-i", "2"]);
    assert!(wait_for(DEADLINE, || t.list().len() == 2));
    let out = t.path("out.log");
    assert!(wait_for(DEADLINE, || lines(&out).len() >= 2));
    let year = std::process::Command::new("date")
        .arg("+%Y")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .expect("date");
    for o in objects(&out) {
        assert_eq!(o["timestamp"], year.as_str(), "{o}");
        assert_eq!(o["app_name"], "w");
    }

    // Another log_type is refused, naming the field.
    std::fs::write(
        t.path("bad.json"),
        r#"[{"name":"b","script":"w.sh","log_type":"xml"}]"#,
    )
    .expect("write file");
    let err = t.fails(&["start", "bad.json"], 2);
    assert!(err.contains("log_type") && err.contains("xml"), "{err}");
}

#[test]
fn a_log_format_pmx_does_not_know_is_refused_at_its_line() {
    let t = TestHome::new();
    writer(&t);
    std::fs::write(
        t.path("ecosystem.ron"),
        "(apps: [\n  App(name: \"w\", script: \"w.sh\", logs: (format: Xml)),\n])\n",
    )
    .expect("write file");
    let err = t.fails(&["up"], 2);
    assert!(
        err.contains("ecosystem.ron:2:") && err.contains("Json"),
        "{err}"
    );
}
