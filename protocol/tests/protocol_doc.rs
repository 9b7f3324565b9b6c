//! Every example in `docs/protocol.md` round-trips through the protocol types, so the
//! document cannot drift from `pmx_protocol`.
//!
//! The fenced blocks are told apart by their info string:
//! - `json request`: an [`Envelope`]; must pass [`parse_request`], and every field it
//!   writes must come back unchanged when the parsed request is serialized again.
//! - `json reply`: a [`Reply`]; must deserialize, re-serialize and equal the original
//!   (as `serde_json::Value`). A success reply's `result` is also checked against the
//!   type its request answers (the closest preceding `json request` with the same id).
//! - `json event`: an [`Event`], round-tripped the same way.
//! - `json result:TYPE`: the `result` payload alone, round-tripped as TYPE (one of
//!   ProcessInfo-list, Description-list, EnvReply, PingReply, HelloReply, UpReply).
//! - `text malformed`: a line the daemon refuses; `parse_request` must fail with exactly
//!   the reply given by the `json reply` block that follows it.
//!
//! Other info strings (`sh`, `python`, …) are prose and ignored; an unknown `json …`
//! info string is an error, so a typo cannot hide an example from the checks.

use std::collections::BTreeSet;

use pmx_protocol::{
    parse_request, Description, EnvReply, ErrorCode, Event, HelloReply, HostReply, PingReply,
    ProcessInfo, Reply, ResurrectReply, SaveReply, SavedReply, Status, UpReply, UpdateReply,
    WebReply, MAX_LINE, VERBS,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// One fenced block of the document.
struct Block {
    /// The info string after the opening fence, trimmed.
    info: String,
    /// The text between the fences.
    body: String,
    /// 1-based line of the opening fence.
    line: usize,
}

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Every fenced block (fences at the start of a line), in document order.
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
            (Some(_), Some(rest)) if rest.trim().is_empty() => {
                out.extend(open.take());
            }
            (Some(block), _) => {
                block.body.push_str(text);
                block.body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "docs/protocol.md: an unclosed ``` block");
    out
}

fn value(block: &Block) -> Result<Value, String> {
    serde_json::from_str(&block.body).map_err(|e| format!("not JSON: {e}"))
}

/// `v` deserialized as `T` and serialized again must be `v`, exactly.
fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<T, String> {
    // From text, as a client reads it (a reply's result is raw JSON text).
    let typed: T = serde_json::from_str(&v.to_string()).map_err(|e| {
        format!(
            "does not deserialize as {}: {e}",
            std::any::type_name::<T>()
        )
    })?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("does not serialize: {e}"))?;
    if &back != v {
        return Err(format!(
            "changes in a round trip through {}:\n  doc:  {v}\n  code: {back}",
            std::any::type_name::<T>()
        ));
    }
    Ok(typed)
}

/// Every value `doc` writes is in `code` unchanged (objects may gain defaulted keys).
fn written_fields_survive(path: &str, doc: &Value, code: &Value) -> Result<(), String> {
    match (doc, code) {
        (Value::Object(d), Value::Object(c)) => {
            for (k, dv) in d {
                let p = format!("{path}.{k}");
                match c.get(k) {
                    Some(cv) => written_fields_survive(&p, dv, cv)?,
                    None => return Err(format!("{p} is ignored by the types")),
                }
            }
            Ok(())
        }
        (Value::Array(d), Value::Array(c)) if d.len() == c.len() => {
            for (i, (dv, cv)) in d.iter().zip(c).enumerate() {
                written_fields_survive(&format!("{path}[{i}]"), dv, cv)?;
            }
            Ok(())
        }
        _ if doc == code => Ok(()),
        _ => Err(format!(
            "{path}: the doc says {doc}, the types make it {code}"
        )),
    }
}

/// Check a `result` payload against the type named `ty` (a `result:TYPE` name, or the
/// fixed object of `subscribe` / `kill`).
fn check_result(ty: &str, v: &Value) -> Result<(), String> {
    match ty {
        "ProcessInfo-list" => round_trip::<Vec<ProcessInfo>>(v).map(drop),
        "Description-list" => round_trip::<Vec<Description>>(v).map(drop),
        "EnvReply" => round_trip::<EnvReply>(v).map(drop),
        "PingReply" => round_trip::<PingReply>(v).map(drop),
        "HelloReply" => round_trip::<HelloReply>(v).map(drop),
        "UpReply" => round_trip::<UpReply>(v).map(drop),
        "HostReply" => round_trip::<HostReply>(v).map(drop),
        "SaveReply" => round_trip::<SaveReply>(v).map(drop),
        "ResurrectReply" => round_trip::<ResurrectReply>(v).map(drop),
        "SavedReply" => round_trip::<SavedReply>(v).map(drop),
        "WebReply" => round_trip::<WebReply>(v).map(drop),
        "UpdateReply" => round_trip::<UpdateReply>(v).map(drop),
        "subscribed" if v == &json!({"subscribed": true}) => Ok(()),
        "killed" if v == &json!({"killed": true}) => Ok(()),
        "subscribed" | "killed" => Err(format!("must be {{\"{ty}\":true}}, is {v}")),
        other => Err(format!("unknown result type {other:?}")),
    }
}

/// What the `result` of a successful reply to `verb` is.
fn result_type(verb: &str) -> &'static str {
    match verb {
        "hello" => "HelloReply",
        "ping" => "PingReply",
        "describe" => "Description-list",
        "env" => "EnvReply",
        "up" => "UpReply",
        "host" => "HostReply",
        "save" => "SaveReply",
        "resurrect" => "ResurrectReply",
        "saved" => "SavedReply",
        "web" => "WebReply",
        "subscribe" => "subscribed",
        "kill" => "killed",
        "update" => "UpdateReply",
        // list, start, stop, restart, reload, delete, reset, signal.
        _ => "ProcessInfo-list",
    }
}

/// Every error code; the match makes a new variant a compile error here.
fn all_codes() -> Vec<ErrorCode> {
    let codes = vec![
        ErrorCode::HelloRequired,
        ErrorCode::VersionMismatch,
        ErrorCode::Malformed,
        ErrorCode::TooLarge,
        ErrorCode::BadRequest,
        ErrorCode::UnknownRequest,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::InvalidConfig,
        ErrorCode::Internal,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
    ];
    for c in &codes {
        match c {
            ErrorCode::HelloRequired
            | ErrorCode::VersionMismatch
            | ErrorCode::Malformed
            | ErrorCode::TooLarge
            | ErrorCode::BadRequest
            | ErrorCode::UnknownRequest
            | ErrorCode::NotFound
            | ErrorCode::Conflict
            | ErrorCode::InvalidConfig
            | ErrorCode::Internal
            | ErrorCode::Unauthorized
            | ErrorCode::Forbidden => {}
        }
    }
    codes
}

/// Every status word (`Status::ALL`); the match makes a new variant a compile error
/// here, a reminder to add it to `ALL` too.
fn all_statuses() -> Vec<Status> {
    let all = Status::ALL.to_vec();
    for s in &all {
        match s {
            Status::Launching
            | Status::Online
            | Status::Stopping
            | Status::Stopped
            | Status::WaitingRestart
            | Status::Errored => {}
        }
    }
    all
}

/// Every event kind a subscriber can see (SPEC §8).
const EVENT_KINDS: &[&str] = &[
    "online",
    "exit",
    "restart",
    "errored",
    "stop",
    "health",
    "log",
    "log_fault",
    "log_recovered",
    "metrics",
    "lagged",
];

/// What the examples covered.
#[derive(Default)]
struct Seen {
    verbs: BTreeSet<String>,
    codes: BTreeSet<String>,
    events: BTreeSet<String>,
    /// Keys of every process/description object shown.
    row_keys: BTreeSet<String>,
}

/// Check one block; `requests` holds (id, verb) of the request blocks seen so far.
fn check_block(
    blocks: &[Block],
    i: usize,
    requests: &mut Vec<(u64, String)>,
    seen: &mut Seen,
) -> Result<(), String> {
    let block = &blocks[i];
    let info = block.info.as_str();
    match info {
        "json request" => {
            let v = value(block)?;
            let line = serde_json::to_string(&v).map_err(|e| e.to_string())?;
            if line.len() > MAX_LINE {
                return Err(format!("over {MAX_LINE} bytes on one line"));
            }
            let env = parse_request(line.as_bytes())
                .map_err(|r| format!("parse_request refuses it: {}", json!(r)))?;
            let back = serde_json::to_value(&env).map_err(|e| e.to_string())?;
            written_fields_survive("request", &v, &back)?;
            let again = parse_request(back.to_string().as_bytes())
                .map_err(|r| format!("the serialized request does not parse: {}", json!(r)))?;
            if again != env {
                return Err(format!("serializing and parsing again changes it: {back}"));
            }
            let verb = env.request.verb().to_string();
            requests.push((env.id, verb.clone()));
            seen.verbs.insert(verb);
            Ok(())
        }
        "json reply" => {
            let v = value(block)?;
            let reply: Reply = round_trip(&v)?;
            match (&reply.result, &reply.error) {
                (Some(result), None) => {
                    let result: Value = serde_json::from_str(result.get())
                        .map_err(|e| format!("a result that is not JSON: {e}"))?;
                    let result = &result;
                    let id = reply.id.ok_or("a success reply with \"id\":null")?;
                    let verb = requests
                        .iter()
                        .rev()
                        .find(|(rid, _)| *rid == id)
                        .map(|(_, verb)| verb.clone())
                        .ok_or_else(|| {
                            format!("a success reply with id {id} follows no request with that id")
                        })?;
                    let ty = result_type(&verb);
                    check_result(ty, result).map_err(|e| format!("result of {verb}: {e}"))?;
                    collect_row_keys(ty, result, seen);
                }
                (None, Some(error)) => {
                    let code = json!(error.code);
                    seen.codes
                        .insert(code.as_str().unwrap_or_default().to_string());
                }
                _ => return Err("a reply needs exactly one of result and error".into()),
            }
            Ok(())
        }
        "json event" => {
            let v = value(block)?;
            let event: Event = round_trip(&v)?;
            if !EVENT_KINDS.contains(&event.event.as_str()) {
                return Err(format!("unknown event kind {:?}", event.event));
            }
            let lagged = event.event == "lagged";
            if lagged != event.app.is_none() || lagged != event.id.is_none() {
                return Err("only `lagged` lacks app and id".into());
            }
            if event.event == "exit" && (event.code.is_none() || event.signal.is_none()) {
                return Err("an exit event carries both code and signal".into());
            }
            seen.events.insert(event.event);
            Ok(())
        }
        "text malformed" => {
            let line = block.body.trim_end_matches('\n');
            if line.contains('\n') {
                return Err("a malformed example is one line".into());
            }
            let next = blocks
                .get(i + 1)
                .filter(|b| b.info == "json reply")
                .ok_or("a `text malformed` block must be followed by its `json reply`")?;
            let expected = value(next)?;
            let reply = match parse_request(line.as_bytes()) {
                Ok(env) => return Err(format!("parse_request accepts it: {}", json!(env))),
                Err(reply) => reply,
            };
            let got = serde_json::to_value(&reply).map_err(|e| e.to_string())?;
            if got != expected {
                return Err(format!(
                    "parse_request answers otherwise:\n  doc:  {expected}\n  code: {got}"
                ));
            }
            Ok(())
        }
        _ => match info.strip_prefix("json result:") {
            Some(ty) if ty != "subscribed" && ty != "killed" => {
                let v = value(block)?;
                check_result(ty, &v)?;
                collect_row_keys(ty, &v, seen);
                Ok(())
            }
            _ if info.starts_with("json") || info.starts_with("text ") => {
                Err(format!("unknown info string {info:?}"))
            }
            _ => Ok(()),
        },
    }
}

fn collect_row_keys(ty: &str, v: &Value, seen: &mut Seen) {
    if ty == "ProcessInfo-list" || ty == "Description-list" {
        for row in v.as_array().into_iter().flatten() {
            seen.row_keys.extend(
                row.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone()),
            );
        }
    }
}

#[test]
fn every_example_round_trips_through_the_protocol_types() {
    let doc = doc();
    let blocks = blocks(&doc);
    let mut requests = Vec::new();
    let mut seen = Seen::default();
    let mut failures = Vec::new();
    let mut checked = 0;
    for i in 0..blocks.len() {
        let b = &blocks[i];
        if let Err(e) = check_block(&blocks, i, &mut requests, &mut seen) {
            failures.push(format!("docs/protocol.md:{} ```{}: {e}", b.line, b.info));
        }
        if b.info.starts_with("json") || b.info == "text malformed" {
            checked += 1;
        }
    }
    assert!(
        checked > 40,
        "only {checked} examples found in docs/protocol.md"
    );

    for verb in VERBS {
        if !seen.verbs.contains(*verb) {
            failures.push(format!("no `json request` example of \"{verb}\""));
        }
    }
    for code in all_codes() {
        let code = json!(code);
        let code = code.as_str().unwrap_or_default();
        if !seen.codes.contains(code) {
            failures.push(format!(
                "no `json reply` example with error code \"{code}\""
            ));
        }
        if !doc.contains(&format!("| `{code}` |")) {
            failures.push(format!("error code \"{code}\" is not in the error table"));
        }
    }
    for kind in EVENT_KINDS {
        if !seen.events.contains(*kind) {
            failures.push(format!("no `json event` example of \"{kind}\""));
        }
    }
    for status in all_statuses() {
        if !doc.contains(&format!("| `{}` |", status.as_str())) {
            failures.push(format!(
                "status word \"{}\" is not in the status table",
                status.as_str()
            ));
        }
    }
    if seen.row_keys.is_empty() {
        failures.push("no process or description example".into());
    }
    for key in &seen.row_keys {
        if !doc.contains(&format!("| `{key}` |")) {
            failures.push(format!(
                "field `{key}` of the process/description objects is not in a field table"
            ));
        }
    }
    if !doc.contains("## Differences from SPEC §8") {
        failures.push("the \"Differences from SPEC §8\" section is missing".into());
    }
    assert!(
        failures.is_empty(),
        "docs/protocol.md drifted from pmx_protocol:\n{}",
        failures.join("\n")
    );
}

/// The checker itself: a drifted example must fail it.
#[test]
fn the_checks_catch_drift() {
    let doc = "```json reply\n{\"id\":1,\"result\":{\"pong\":true,\"pid\":1}}\n```\n\
               ```json request\n{\"id\":2,\"type\":\"ping\",\"verbose\":true}\n```\n\
               ```json event\n{\"event\":\"exit\",\"app\":\"a\",\"id\":0,\"code\":1}\n```\n\
               ```json result:PingReply\n{\"pong\":true,\"pid\":1}\n```\n\
               ```text malformed\n{\"id\":3}\n```\n\
               ```json reply\n{\"id\":3,\"error\":{\"code\":\"bad_request\",\"message\":\"x\"}}\n```\n\
               ```json replies\n{}\n```\n";
    let blocks = blocks(doc);
    assert_eq!(blocks.len(), 7);
    let mut requests = Vec::new();
    let mut seen = Seen::default();
    for i in 0..blocks.len() {
        // Block 5 (the reply after the malformed line) is a valid reply on its own.
        let result = check_block(&blocks, i, &mut requests, &mut seen);
        assert_eq!(result.is_err(), i != 5, "block {i}: {result:?}");
    }
}
