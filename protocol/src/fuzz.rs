//! The checks a fuzzer runs on one request line, shared by the `cargo fuzz` target
//! `protocol` (`fuzz/fuzz_targets/protocol.rs`) and the bounded run of the test suite
//! (`protocol/tests/fuzz_bounded.rs`), so both hold the parser to the same promises.

use serde_json::Value;

use crate::{parse_request, Reply};

/// Feed `line` to [`parse_request`] and panic when a promise of the protocol breaks:
/// - a request that parses serializes back to a line that parses to the same request;
/// - an error reply has an error and no result, and survives its own JSON round trip
///   (its code is one of the typed codes);
/// - a line that is a JSON object with a u64 `id` (and no key twice) is answered with
///   that id.
///
/// Never panics for any input but a broken promise (no stack overflow on nesting: the
/// parser's depth limit and the iterative id scan).
pub fn exercise(line: &[u8]) {
    match parse_request(line) {
        Ok(env) => {
            let text = match serde_json::to_vec(&env) {
                Ok(t) => t,
                Err(e) => panic!("a parsed request does not serialize: {e}: {env:?}"),
            };
            match parse_request(&text) {
                Ok(back) => assert_eq!(back, env, "round trip of {}", lossy(&text)),
                Err(r) => panic!(
                    "a serialized request fails to parse: {r:?}: {}",
                    lossy(&text)
                ),
            }
        }
        Err(reply) => {
            assert!(reply.result.is_none(), "an error reply with a result");
            assert!(reply.error.is_some(), "an error reply without an error");
            let text = match serde_json::to_string(&reply) {
                Ok(t) => t,
                Err(e) => panic!("an error reply does not serialize: {e}"),
            };
            match serde_json::from_str::<Reply>(&text) {
                Ok(back) => assert_eq!(
                    (back.id, &back.error),
                    (reply.id, &reply.error),
                    "reply round trip"
                ),
                Err(e) => panic!("an error reply is not a typed reply: {e}: {text}"),
            }
            if let Some(id) = readable_id(line) {
                assert_eq!(
                    reply.id,
                    Some(id),
                    "reply without the id of {}",
                    lossy(line)
                );
            }
        }
    }
}

/// The u64 `id` of a line that is one JSON object, as serde_json reads it; None for
/// anything else, and for an object with a key twice (serde_json would keep either).
fn readable_id(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let id = map.get("id")?.as_u64()?;
    // A duplicate key anywhere makes the id ambiguous only if it is `id` itself.
    let ids = text.matches("\"id\"").count();
    (ids == 1).then_some(id)
}

/// `bytes` as text for a message.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(500).collect()
}
