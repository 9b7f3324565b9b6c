//! Every example of `docs/web.md` is sent to a running daemon and its answer checked
//! against the documented one, as `protocol/tests/protocol_doc.rs` checks
//! docs/protocol.md: the document cannot drift from what `pmx web` answers.
//!
//! The fenced blocks are told apart by their info string:
//! - `http request`: a request line (`METHOD PATH`), then at most an
//!   `Authorization: Bearer <token>` header; without one the service's token is sent.
//! - `json response STATUS`: the answer's status and its JSON's shape: every key (the same
//!   set, in every object), and the type of every value that is not null on either side;
//!   an array's elements each against the documented element at that place (the last
//!   one for those beyond).
//! - `prometheus response STATUS`: the status and the families (`# TYPE` lines).
//! - `sse response STATUS`: the stream's head, then for each documented `data:` event in
//!   order, the first event of its kind that follows, of its shape (an `exit` is made by
//!   killing the app's process).
//!
//! Each `http request` is followed by exactly one response block; another `… response`
//! info string, or a block of neither kind named `http …`, is an error.

use serde_json::Value;

use crate::harness::*;
use crate::web::{http, serve};
use crate::web_events::Sse;

/// One fenced block: its info string, its text, its line.
struct Block {
    info: String,
    body: String,
    line: usize,
}

fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (n, text) in doc.lines().enumerate() {
        match (&mut open, text.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    body: String::new(),
                    line: n + 1,
                })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => out.extend(open.take()),
            (Some(b), _) => {
                b.body.push_str(text);
                b.body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "docs/web.md: an unclosed ``` block");
    out
}

/// Whether `real` has the shape of `doc` (see the module doc); the first difference.
fn same_shape(path: &str, doc: &Value, real: &Value) -> Result<(), String> {
    match (doc, real) {
        (Value::Null, _) | (_, Value::Null) => Ok(()),
        (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_)) => Ok(()),
        (Value::Array(d), Value::Array(r)) => {
            for (i, rv) in r.iter().enumerate() {
                if let Some(dv) = d.get(i).or(d.last()) {
                    same_shape(&format!("{path}[{i}]"), dv, rv)?;
                }
            }
            Ok(())
        }
        (Value::Object(d), Value::Object(r)) => {
            for k in d.keys() {
                if !r.contains_key(k) {
                    return Err(format!("{path}.{k}: documented, not answered"));
                }
            }
            for (k, rv) in r {
                match d.get(k) {
                    Some(dv) => same_shape(&format!("{path}.{k}"), dv, rv)?,
                    None => return Err(format!("{path}.{k}: answered, not documented")),
                }
            }
            Ok(())
        }
        _ => Err(format!("{path}: the doc shows {doc}, the answer is {real}")),
    }
}

/// The families of a Prometheus text: its `# TYPE` lines.
fn families(text: &str) -> Vec<&str> {
    let mut f: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    f.sort_unstable();
    f
}

#[test]
fn every_example_of_docs_web_md_is_answered_as_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/web.md"))
        .expect("docs/web.md");
    let t = TestHome::new();
    t.ok(&["start", &app("ticker.sh"), "--name", "api"]);
    t.wait_status("api", "online");
    let (port, _) = serve(&t, &["--token"]);
    let token = std::fs::read_to_string(t.home.join("web.token")).expect("web.token");
    let token = token.trim().to_string();

    let blocks = blocks(&doc);
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut i = 0;
    while i < blocks.len() {
        let b = &blocks[i];
        i += 1;
        if b.info != "http request" {
            assert!(
                !b.info.contains("response") && !b.info.starts_with("http"),
                "docs/web.md:{}: a ```{} block without its request",
                b.line,
                b.info
            );
            continue;
        }
        let mut lines = b.body.lines();
        let first = lines.next().unwrap_or_default();
        let (method, path) = first
            .split_once(' ')
            .unwrap_or_else(|| panic!("docs/web.md:{}: {first:?}: METHOD PATH", b.line));
        let mut sent = token.clone();
        for h in lines.filter(|l| !l.trim().is_empty()) {
            sent = h
                .strip_prefix("Authorization: Bearer ")
                .unwrap_or_else(|| panic!("docs/web.md:{}: header {h:?} not supported", b.line))
                .to_string();
        }
        let answer = blocks
            .get(i)
            .unwrap_or_else(|| panic!("docs/web.md:{}: a request without its answer", b.line));
        i += 1;
        let mut words = answer.info.split_whitespace();
        let (kind, word, status) = (words.next(), words.next(), words.next());
        assert_eq!(
            word,
            Some("response"),
            "docs/web.md:{}: {}",
            answer.line,
            answer.info
        );
        let want: u16 = status
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("docs/web.md:{}: a status", answer.line));
        let at = format!("docs/web.md:{} {method} {path}", b.line);
        checked += 1;
        if kind == Some("sse") {
            let mut sse = Sse::open(port, path, Some(&sent));
            if !sse.head[0].contains(&format!(" {want} ")) {
                failures.push(format!("{at}: {:?}", sse.head));
                continue;
            }
            for msg in answer.body.split("\n\n").filter(|m| !m.trim().is_empty()) {
                let documented: Value = msg
                    .trim()
                    .strip_prefix("data: ")
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or_else(|| panic!("{at}: not a data message: {msg:?}"));
                let kind = documented["event"].clone();
                if kind == "exit" {
                    let pid = t.row("api")["pid"].as_i64().expect("api's pid");
                    kill9(pid as i32);
                }
                let real = sse.until(&format!("a {kind} event"), |e| e["event"] == kind);
                if let Err(e) = same_shape("", &documented, &real) {
                    failures.push(format!("{at}: {kind}: {e}"));
                }
            }
            t.wait_status("api", "online");
            continue;
        }
        let (status, body) = http(port, method, path, Some(&sent)).expect("served");
        if status != want {
            failures.push(format!("{at}: status {status}, documented {want}: {body}"));
            continue;
        }
        match kind {
            Some("json") => {
                let documented: Value = serde_json::from_str(&answer.body)
                    .unwrap_or_else(|e| panic!("docs/web.md:{}: {e}", answer.line));
                let real: Value = serde_json::from_str(&body).expect("a JSON answer");
                if let Err(e) = same_shape("", &documented, &real) {
                    failures.push(format!("{at}: {e}"));
                }
            }
            Some("prometheus") => {
                if families(&answer.body) != families(&body) {
                    failures.push(format!(
                        "{at}: families\n  doc:  {:?}\n  real: {:?}",
                        families(&answer.body),
                        families(&body)
                    ));
                }
            }
            other => panic!("docs/web.md:{}: unknown answer kind {other:?}", answer.line),
        }
    }
    assert!(
        checked >= 10,
        "only {checked} examples found in docs/web.md"
    );
    assert!(
        failures.is_empty(),
        "docs/web.md drifted from pmx web:\n{}",
        failures.join("\n")
    );
}

#[test]
fn shapes_compare_keys_and_types_not_values() {
    let cases = [
        (r#"{"a":1,"b":"x"}"#, r#"{"a":2,"b":"y"}"#, true),
        (r#"{"a":1}"#, r#"{"a":1,"b":2}"#, false),
        (r#"{"a":1,"b":2}"#, r#"{"a":1}"#, false),
        (r#"{"a":1}"#, r#"{"a":"1"}"#, false),
        (r#"{"a":null}"#, r#"{"a":"x"}"#, true),
        (r#"{"a":0.5}"#, r#"{"a":null}"#, true),
        (r#"[{"a":1}]"#, r#"[{"a":1},{"a":2}]"#, true),
        (r#"[{"a":1}]"#, r#"[{"a":1},{"b":2}]"#, false),
        (r#"[]"#, r#"[1]"#, true),
    ];
    for (doc, real, same) in cases {
        let (d, r): (Value, Value) = (
            serde_json::from_str(doc).expect("json"),
            serde_json::from_str(real).expect("json"),
        );
        assert_eq!(same_shape("", &d, &r).is_ok(), same, "{doc} vs {real}");
    }
}
