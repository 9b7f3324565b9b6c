//! Reading one request line: [`parse_request`] and the replies it answers with.
//!
//! A line is parsed once, strictly: serde_json's own parser (so its 128-level nesting
//! limit and its refusal of lone surrogate escapes hold), into a `serde_json::Value` built
//! by [`Strict`], which refuses a key that appears twice in one object at any level (serde
//! would silently keep the last one, so `{"type":"ping","type":"kill"}` would kill). When
//! the strict parse fails, a lenient scan ([`scan_id`]) still looks for the top-level
//! `"id"`, so the error reply names the request whenever its id can be read.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;
use serde_json::{Map, Number, Value};

use crate::{ApiError, Envelope, ErrorCode, Reply, Request, MAX_LINE, MAX_PENDING, VERBS};

/// Parse one request line. `Err` carries the reply to send: it has the request's `id`
/// whenever the line is a JSON object with a u64 `id` (SPEC §8: such an object always
/// gets a reply with that id), and also when the line is not valid (not UTF-8, not JSON,
/// nested too deep) but its top-level `"id"` can still be read.
///
/// A key given twice in one object, at any level, is `bad_request`.
pub fn parse_request(line: &[u8]) -> Result<Envelope, Reply> {
    let text = std::str::from_utf8(line).map_err(|e| {
        Reply::err(
            scan_id(line),
            ApiError::new(ErrorCode::Malformed, format!("request is not UTF-8: {e}")),
        )
    })?;
    let value = match serde_json::from_str::<Strict>(text) {
        Ok(Strict(v)) => v,
        // The only data error `Strict` raises is a duplicate key; the text is JSON.
        Err(e) if e.classify() == Category::Data => {
            return Err(Reply::err(
                scan_id(line),
                ApiError::new(ErrorCode::BadRequest, format!("request has a {e}")),
            ))
        }
        Err(e) => {
            return Err(Reply::err(
                scan_id(line),
                ApiError::new(ErrorCode::Malformed, format!("request is not JSON: {e}")),
            ))
        }
    };
    let Value::Object(mut map) = value else {
        return Err(Reply::err(
            None,
            ApiError::new(ErrorCode::Malformed, "request is not a JSON object"),
        ));
    };
    let Some(id) = map.get("id").and_then(Value::as_u64) else {
        return Err(Reply::err(
            None,
            ApiError::new(
                ErrorCode::BadRequest,
                "request has no \"id\" that is an unsigned 64-bit integer",
            ),
        ));
    };
    let verb = match map.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(Reply::err(
                Some(id),
                ApiError::new(ErrorCode::UnknownRequest, "\"type\" is not a string"),
            ))
        }
        None => {
            return Err(Reply::err(
                Some(id),
                ApiError::new(ErrorCode::UnknownRequest, "request has no \"type\""),
            ))
        }
    };
    if !VERBS.contains(&verb.as_str()) {
        return Err(Reply::err(
            Some(id),
            ApiError::new(
                ErrorCode::UnknownRequest,
                format!("unknown request type \"{verb}\""),
            ),
        ));
    }
    map.remove("id");
    let given: Vec<String> = map.keys().cloned().collect();
    match serde_json::from_value::<Request>(Value::Object(map)) {
        Ok(request) => {
            // serde ignores extra fields of the unit verbs (`ping`, `list`, `kill`); every
            // field a request may carry appears when it is serialized back. `start` and
            // `up` refuse unknown fields themselves (`deny_unknown_fields`), and are the
            // big ones: not serialized again.
            let checked = matches!(request, Request::Start(_) | Request::Up(_));
            let known = match checked {
                true => Value::Null,
                false => serde_json::to_value(&request).unwrap_or(Value::Null),
            };
            let unknown = |k: &&String| !checked && known.get(k.as_str()).is_none();
            if let Some(extra) = given.iter().find(unknown) {
                return Err(Reply::err(
                    Some(id),
                    ApiError::new(
                        ErrorCode::BadRequest,
                        format!("bad \"{verb}\" request: unknown field `{extra}`"),
                    ),
                ));
            }
            Ok(Envelope {
                id,
                request: request.with_inherited_shared(),
            })
        }
        Err(e) => Err(Reply::err(
            Some(id),
            ApiError::new(
                ErrorCode::BadRequest,
                format!("bad \"{verb}\" request: {e}"),
            ),
        )),
    }
}

/// The `too_large` reply for a line the daemon did not read whole. `size`: the line's
/// length in bytes (the newline not counted) as far as the daemon saw it; `head`: its
/// first bytes, kept so the reply can carry the request's `id` when they show it.
/// `over_budget`: the line was dropped because the daemon already held [`MAX_PENDING`]
/// bytes of unfinished lines across its connections, not because it is over [`MAX_LINE`].
pub fn too_large(size: usize, head: &[u8], over_budget: bool) -> Reply {
    let message = if over_budget {
        format!(
            "request line dropped after {size} bytes: the daemon already holds \
             {} MiB of unfinished request lines from its connections; send it again",
            MAX_PENDING >> 20
        )
    } else {
        format!(
            "request line of {size} bytes is over the limit of {MAX_LINE} bytes (1 MiB); \
             send fewer apps per request or shorten the longest arguments and environment values"
        )
    };
    Reply::err(scan_id(head), ApiError::new(ErrorCode::TooLarge, message))
}

/// A JSON value as serde_json's `Value` builds it, except that an object holding the same
/// key twice is an error (a data error: `duplicate key `k``), at every level.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

/// Builds the [`Value`] of [`Strict`].
struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The top-level `"id"` of a line that may not be valid JSON (nested deeper than serde's
/// limit, a lone surrogate, bytes that are not UTF-8, cut short): the line must open an
/// object, the keys before `"id"` and their values must be well bracketed, and the id must
/// be a plain unsigned integer literal that fits a u64, followed by `,`, `}` or
/// whitespace. None when it cannot be read, or when two `"id"` keys disagree. Iterative,
/// so no nesting depth can exhaust the stack.
pub(crate) fn scan_id(b: &[u8]) -> Option<u64> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut found: Option<u64> = None;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return found;
        }
        let end = skip_string(b, i)?;
        let is_id = &b[i..end] == b"\"id\"";
        i = skip_ws(b, end);
        if b.get(i) != Some(&b':') {
            return found;
        }
        i = skip_ws(b, i + 1);
        if is_id {
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let after = b.get(i + digits)?;
            if digits == 0 || !matches!(after, b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                return None;
            }
            if digits > 1 && b[i] == b'0' {
                return None;
            }
            let id: u64 = std::str::from_utf8(&b[i..i + digits]).ok()?.parse().ok()?;
            if found.is_some_and(|f| f != id) {
                return None;
            }
            found = Some(id);
            i += digits;
        } else {
            match skip_value(b, i) {
                Some(next) => i = next,
                None => return found,
            }
        }
        i = skip_ws(b, i);
        if b.get(i) != Some(&b',') {
            return found;
        }
        i += 1;
    }
}

/// The index after JSON whitespace from `i`.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// `b[i]` opens a string: the index after its closing quote (escapes skipped unread).
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The index of the `,` or `}` that ends the member value starting at `i`, counting
/// brackets instead of recursing.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match b.get(i)? {
            b'"' => i = skip_string(b, i)?,
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' if depth == 0 => return Some(i),
            b'}' | b']' => {
                depth -= 1;
                i += 1;
            }
            b',' if depth == 0 => return Some(i),
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, expected id, expected code) for lines that fail.
    fn check(cases: &[(&[u8], Option<u64>, ErrorCode)]) {
        for (line, id, code) in cases {
            let reply = parse_request(line).expect_err(&String::from_utf8_lossy(line));
            let text = String::from_utf8_lossy(line);
            assert_eq!(reply.id, *id, "id for {text}");
            assert_eq!(reply.error.map(|e| e.code), Some(*code), "code for {text}");
        }
    }

    #[test]
    fn an_invalid_line_is_answered_with_its_id_when_it_can_be_read() {
        let deep = format!(
            r#"{{"id":41,"type":"ping","x":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let deep_before = format!(r#"{{"x":{}1{},"id":42}}"#, "[".repeat(200), "]".repeat(200));
        let deep_open = format!(r#"{{"id":43,"type":"ping","x":{}"#, "{\"a\":".repeat(5000));
        let cases: &[(&[u8], Option<u64>, ErrorCode)] = &[
            (deep.as_bytes(), Some(41), ErrorCode::Malformed),
            (deep_before.as_bytes(), Some(42), ErrorCode::Malformed),
            (deep_open.as_bytes(), Some(43), ErrorCode::Malformed),
            (
                br#"{"id":44,"type":"describe","target":"\ud800"}"#,
                Some(44),
                ErrorCode::Malformed,
            ),
            (
                br#"{"type":"describe","target":"\udc00x","id":45}"#,
                Some(45),
                ErrorCode::Malformed,
            ),
            (
                b"{\"id\":46,\"type\":\"\xff\"}",
                Some(46),
                ErrorCode::Malformed,
            ),
            (br#"{"id":47,"type":"ping""#, Some(47), ErrorCode::Malformed),
            (
                br#" { "id" : 48 , "type":"ping",}"#,
                Some(48),
                ErrorCode::Malformed,
            ),
            // Not readable: the id is not a plain u64 literal, or not at the top level,
            // or cut, or two ids disagree.
            (br#"{"id":4.5,"type":"ping""#, None, ErrorCode::Malformed),
            (br#"{"id":-1,"type":"ping""#, None, ErrorCode::Malformed),
            (br#"{"id":012,"type":"ping""#, None, ErrorCode::Malformed),
            (br#"{"id":"7","type":"ping""#, None, ErrorCode::Malformed),
            (
                br#"{"id":18446744073709551616,"type":"ping""#,
                None,
                ErrorCode::Malformed,
            ),
            (
                br#"{"x":{"id":5},"type":"ping""#,
                None,
                ErrorCode::Malformed,
            ),
            (br#"{"id":12"#, None, ErrorCode::Malformed),
            (
                br#"{"id":1,"id":2,"type":"ping""#,
                None,
                ErrorCode::BadRequest,
            ),
            (b"[{\"id\":1}", None, ErrorCode::Malformed),
            (b"not json", None, ErrorCode::Malformed),
            (b"", None, ErrorCode::Malformed),
        ];
        check(cases);
    }

    #[test]
    fn a_key_given_twice_at_any_level_is_a_bad_request() {
        let cases: &[(&[u8], Option<u64>, ErrorCode)] = &[
            (
                br#"{"id":1,"type":"ping","type":"kill"}"#,
                Some(1),
                ErrorCode::BadRequest,
            ),
            (
                br#"{"id":2,"type":"stop","target":"a","target":"b"}"#,
                Some(2),
                ErrorCode::BadRequest,
            ),
            (
                br#"{"id":3,"id":3,"type":"ping"}"#,
                Some(3),
                ErrorCode::BadRequest,
            ),
            (
                br#"{"id":3,"id":4,"type":"ping"}"#,
                None,
                ErrorCode::BadRequest,
            ),
            (
                br#"{"id":5,"type":"subscribe","apps":["a"],"x":[{"k":1,"k":2}]}"#,
                Some(5),
                ErrorCode::BadRequest,
            ),
            (
                br#"{"id":6,"type":"restart","target":"a","env":{"A":"1","A":"2"}}"#,
                Some(6),
                ErrorCode::BadRequest,
            ),
        ];
        check(cases);
        let reply = parse_request(br#"{"id":1,"type":"ping","type":"kill"}"#).expect_err("dup");
        assert_eq!(
            reply.error.map(|e| e.message).as_deref(),
            Some("request has a duplicate key `type` at line 1 column 28")
        );
        // The same keys in different objects are no duplicates.
        let ok = parse_request(
            br#"{"id":7,"type":"restart","target":"a","update_env":true,"env":{"target":"x","id":"y"}}"#,
        )
        .expect("parses");
        assert_eq!(ok.id, 7);
    }

    #[test]
    fn too_large_says_the_size_and_the_limit_and_keeps_a_readable_id() {
        let r = too_large(
            1_258_291,
            br#"{"id":1,"type":"start","apps":[{"name":"#,
            false,
        );
        assert_eq!(r.id, Some(1));
        let e = r.error.expect("an error");
        assert_eq!(e.code, ErrorCode::TooLarge);
        assert!(e.message.contains("1258291 bytes"), "{}", e.message);
        assert!(e.message.contains("1048576"), "{}", e.message);
        let r = too_large(5000, b"xxxx", true);
        assert_eq!(r.id, None);
        assert!(r.error.expect("an error").message.contains("32 MiB"));
    }
}
