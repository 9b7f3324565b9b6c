//! JavaScript values for PM2's `jlist` and `prettylist`: a small ordered tree ([`Js`]),
//! printed as `JSON.stringify` prints it ([`Js::json`]) and as Node's
//! `util.inspect(value, false, null, false)` prints it ([`Js::inspect`], what `pm2
//! prettylist` writes: no depth limit, no colours, Node's defaults otherwise —
//! `breakLength` 80, `compact` 3, `maxArrayLength` 100, `maxStringLength` 10000).
//!
//! The layout rules are Node's (v20), observed and re-stated here: an object or array goes
//! on one line when it holds no line break, its nesting below it is under 3 levels (counted
//! from the last nested object printed, as Node counts) and the line fits in 80 columns;
//! arrays of more than 6 short entries are set in aligned columns; long strings with line
//! breaks are cut after each `\n` and joined with ` +`. Lengths are UTF-16 code units,
//! as in JavaScript.

/// A JSON-able JavaScript value whose object keys keep their order.
#[derive(Debug, Clone, PartialEq)]
pub enum Js {
    /// `null` (JSON's; PM2's `jlist` has none of its own today).
    #[allow(dead_code)]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (JavaScript has one kind).
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Js>),
    /// An object: keys in insertion order (integer-like keys come first when printed, as
    /// JavaScript orders them).
    Obj(Vec<(String, Js)>),
}

impl Js {
    /// A string value.
    pub fn s(v: impl Into<String>) -> Js {
        Js::Str(v.into())
    }

    /// An integer value (exact up to 2^53, as in JavaScript).
    pub fn n(v: impl Into<i64>) -> Js {
        Js::Num(v.into() as f64)
    }

    /// An unsigned integer value (exact up to 2^53, as in JavaScript).
    pub fn u(v: u64) -> Js {
        Js::Num(v as f64)
    }

    /// The value as `JSON.stringify(value)` prints it (no spaces, no trailing newline).
    pub fn json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Js::Null => out.push_str("null"),
            Js::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Js::Num(n) if n.is_finite() => out.push_str(&number(*n)),
            // JSON.stringify writes NaN and the infinities as null.
            Js::Num(_) => out.push_str("null"),
            Js::Str(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
            Js::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Js::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in js_order(fields).into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as Node's `util.inspect(value, false, null, false)` prints it.
    pub fn inspect(&self) -> String {
        let mut ctx = Ctx {
            indentation: 0,
            current_depth: 0,
        };
        ctx.value(self, 0)
    }
}

/// Node's defaults for `util.inspect`.
const BREAK_LENGTH: usize = 80;
const COMPACT: usize = 3;
const MAX_ARRAY_LENGTH: usize = 100;
const MAX_STRING_LENGTH: usize = 10_000;
const MIN_LINE_LENGTH: usize = 16;

/// JavaScript's `String.prototype.length`: UTF-16 code units.
fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Fields in the order JavaScript enumerates them: integer-like keys (array indices)
/// ascending, then the others in insertion order.
fn js_order(fields: &[(String, Js)]) -> Vec<&(String, Js)> {
    let index = |k: &str| -> Option<u32> {
        let canonical = k == "0" || (!k.starts_with('0') && !k.is_empty());
        if canonical && k.bytes().all(|b| b.is_ascii_digit()) {
            k.parse::<u32>().ok().filter(|n| *n < u32::MAX)
        } else {
            None
        }
    };
    let mut ints: Vec<(u32, &(String, Js))> = fields
        .iter()
        .filter_map(|f| index(&f.0).map(|i| (i, f)))
        .collect();
    ints.sort_by_key(|(i, _)| *i);
    let mut out: Vec<&(String, Js)> = ints.into_iter().map(|(_, f)| f).collect();
    out.extend(fields.iter().filter(|f| index(&f.0).is_none()));
    out
}

/// A number as JavaScript's `String(n)` writes it: integers without a fraction, the
/// shortest digits that read back, exponents below 1e-6 and from 1e21.
fn number(n: f64) -> String {
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let a = n.abs();
    if (1e-6..1e21).contains(&a) {
        // Rust's Display is the shortest round-trip form, without an exponent.
        format!("{n}")
    } else {
        let e = format!("{n:e}");
        match e.split_once('e') {
            Some((m, exp)) if !exp.starts_with('-') => format!("{m}e+{exp}"),
            _ => e,
        }
    }
}

/// A string quoted as Node quotes it: single quotes, else double quotes when it holds a
/// single one, else backticks when it holds both (and no backtick nor `${`); control
/// characters, C1 controls and the backslash escaped (`\n`, `\x0B`, `\\`).
fn quote(s: &str) -> String {
    let q = if !s.contains('\'') {
        '\''
    } else if !s.contains('"') {
        '"'
    } else if !s.contains('`') && !s.contains("${") {
        '`'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\'' if q == '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// A key as Node writes it: bare when it is an identifier, quoted otherwise.
fn key(k: &str) -> String {
    let mut chars = k.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        k.to_string()
    } else {
        quote(k)
    }
}

/// The state Node's formatter carries: the current indentation and the depth of the last
/// object it laid out (which decides whether its ancestors may go on one line).
struct Ctx {
    indentation: usize,
    current_depth: usize,
}

impl Ctx {
    fn value(&mut self, v: &Js, depth: usize) -> String {
        match v {
            Js::Null => "null".into(),
            Js::Bool(b) => b.to_string(),
            Js::Num(n) if n.is_nan() => "NaN".into(),
            Js::Num(n) if n.is_infinite() => if *n > 0.0 { "Infinity" } else { "-Infinity" }.into(),
            Js::Num(n) => number(*n),
            Js::Str(s) => self.string(s),
            Js::Arr(items) if items.is_empty() => "[]".into(),
            Js::Obj(fields) if fields.is_empty() => "{}".into(),
            Js::Arr(items) => {
                let depth = depth + 1;
                self.current_depth = depth;
                let shown = items.len().min(MAX_ARRAY_LENGTH);
                let mut output: Vec<String> = items[..shown]
                    .iter()
                    .map(|item| self.entry(item, depth))
                    .collect();
                let more = items.len() - shown;
                if more > 0 {
                    output.push(format!(
                        "... {more} more item{}",
                        if more > 1 { "s" } else { "" }
                    ));
                }
                let numbers = items.iter().all(|i| matches!(i, Js::Num(_)));
                self.reduce(output, ('[', ']'), depth, Some((numbers, more > 0)))
            }
            Js::Obj(fields) => {
                let depth = depth + 1;
                self.current_depth = depth;
                let output: Vec<String> = js_order(fields)
                    .into_iter()
                    .map(|(k, v)| format!("{}: {}", key(k), self.entry(v, depth)))
                    .collect();
                self.reduce(output, ('{', '}'), depth, None)
            }
        }
    }

    /// An entry of an array or object: its value two columns further in.
    fn entry(&mut self, v: &Js, depth: usize) -> String {
        self.indentation += 2;
        let s = self.value(v, depth);
        self.indentation -= 2;
        s
    }

    /// A string, truncated past 10000 units, and when long, cut after each line break.
    fn string(&self, s: &str) -> String {
        let mut trailer = String::new();
        let mut s = s;
        let len = js_len(s);
        if len > MAX_STRING_LENGTH {
            let mut units = 0;
            let mut end = 0;
            for (i, c) in s.char_indices() {
                if units + c.len_utf16() > MAX_STRING_LENGTH {
                    break;
                }
                units += c.len_utf16();
                end = i + c.len_utf8();
            }
            let remaining = len - units;
            trailer = format!(
                "... {remaining} more character{}",
                if remaining > 1 { "s" } else { "" }
            );
            s = &s[..end];
        }
        let long = len > MIN_LINE_LENGTH
            && (len as isize) > BREAK_LENGTH as isize - self.indentation as isize - 4;
        if long {
            let pieces: Vec<String> = s.split_inclusive('\n').map(quote).collect();
            let joint = format!(" +\n{}", " ".repeat(self.indentation + 2));
            return pieces.join(&joint) + &trailer;
        }
        quote(s) + &trailer
    }

    /// Node's `reduceToSingleString`: one line when it fits, else one entry per line
    /// (arrays of many short entries grouped in columns first).
    fn reduce(
        &self,
        output: Vec<String>,
        braces: (char, char),
        depth: usize,
        array: Option<(bool, bool)>,
    ) -> String {
        let entries = output.len();
        let mut output = output;
        if let Some((numbers, truncated)) = array {
            if entries > 6 {
                output = self.group(output, numbers, truncated);
            }
        }
        if self.current_depth - depth < COMPACT && entries == output.len() {
            let start = output.len() + self.indentation + 1 + 10;
            if self.below_break_length(&output, start) {
                let joined = output.join(", ");
                if !joined.contains('\n') {
                    return format!("{} {joined} {}", braces.0, braces.1);
                }
            }
        }
        let indent = format!("\n{}", " ".repeat(self.indentation));
        format!(
            "{}{indent}  {}{indent}{}",
            braces.0,
            output.join(&format!(",{indent}  ")),
            braces.1
        )
    }

    fn below_break_length(&self, output: &[String], start: usize) -> bool {
        let mut total = output.len() + start;
        if total + output.len() > BREAK_LENGTH {
            return false;
        }
        for o in output {
            total += js_len(o);
            if total > BREAK_LENGTH {
                return false;
            }
        }
        true
    }

    /// Node's `groupArrayElements`: entries set in columns, numbers right-aligned.
    fn group(&self, output: Vec<String>, numbers: bool, truncated: bool) -> Vec<String> {
        let sep = 2;
        let count = if truncated {
            output.len() - 1
        } else {
            output.len()
        };
        let lens: Vec<usize> = output[..count].iter().map(|o| js_len(o)).collect();
        let total: usize = lens.iter().map(|l| l + sep).sum();
        let max = lens.iter().copied().max().unwrap_or(0);
        let actual_max = max + sep;
        if !(actual_max * 3 + self.indentation < BREAK_LENGTH
            && (total as f64 / actual_max as f64 > 5.0 || max <= 6))
        {
            return output;
        }
        let average_bias = (actual_max as f64 - total as f64 / output.len() as f64).sqrt();
        let biased_max = (actual_max as f64 - 3.0 - average_bias).max(1.0);
        let columns = ((2.5 * biased_max * count as f64).sqrt() / biased_max)
            .round()
            .min(((BREAK_LENGTH - self.indentation) / actual_max) as f64)
            .min((COMPACT * 4) as f64)
            .min(15.0) as usize;
        if columns <= 1 {
            return output;
        }
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                lens.iter()
                    .skip(c)
                    .step_by(columns)
                    .copied()
                    .max()
                    .unwrap_or(0)
                    + sep
            })
            .collect();
        let mut grouped = Vec::new();
        let mut i = 0;
        while i < count {
            let end = (i + columns).min(count);
            let mut line = String::new();
            for j in i..end {
                let cell = if j + 1 < end {
                    format!("{}, ", output[j])
                } else {
                    output[j].clone()
                };
                let width = if j + 1 < end {
                    widths[j - i]
                } else if numbers {
                    widths[j - i] - sep
                } else {
                    0
                };
                let pad = " ".repeat(width.saturating_sub(js_len(&cell)));
                if numbers {
                    line.push_str(&pad);
                    line.push_str(&cell);
                } else {
                    line.push_str(&cell);
                    line.push_str(&pad);
                }
            }
            grouped.push(line);
            i = end;
        }
        if truncated {
            if let Some(last) = output.last() {
                grouped.push(last.clone());
            }
        }
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(fields: &[(&str, Js)]) -> Js {
        Js::Obj(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn strs(items: &[&str]) -> Js {
        Js::Arr(items.iter().map(|s| Js::s(*s)).collect())
    }

    // Each expected text is what Node 20's util.inspect(v, false, null, false) printed.
    #[test]
    fn inspect_prints_as_node_does() {
        let nums = |n: i64| Js::Arr((1..=n).map(Js::n).collect());
        let cases: Vec<(Js, &str)> = vec![
            (Js::Arr(vec![]), "[]"),
            (obj(&[]), "{}"),
            (strs(&["a", "b"]), "[ 'a', 'b' ]"),
            (
                obj(&[("a", Js::n(1)), ("b c", Js::s("it's")), ("12", Js::Null)]),
                "{ '12': null, a: 1, 'b c': \"it's\" }",
            ),
            (
                Js::s("a\"b'c\\\n\t\u{1}\u{b}\u{7f}é"),
                "`a\"b'c\\\\\\n\\t\\x01\\x0B\\x7Fé`",
            ),
            (
                nums(27),
                "[\n   1,  2,  3,  4,  5,  6,  7,  8,\n   9, 10, 11, 12, 13, 14, 15, 16,\n  17, 18, 19, 20, 21, 22, 23, 24,\n  25, 26, 27\n]",
            ),
            (
                strs(&["--a", "--bb", "--ccc", "--dddd", "--e", "--f", "--g"]),
                "[\n  '--a',   '--bb',\n  '--ccc', '--dddd',\n  '--e',   '--f',\n  '--g'\n]",
            ),
            (
                obj(&[
                    (
                        "nest",
                        obj(&[("x", obj(&[("y", obj(&[("z", obj(&[("w", Js::n(1))]))]))]))]),
                    ),
                    ("after", Js::n(1)),
                ]),
                "{\n  nest: {\n    x: { y: { z: { w: 1 } } }\n  },\n  after: 1\n}",
            ),
            (
                obj(&[
                    (
                        "a",
                        Js::s(format!("{}\n{}\nc", "a".repeat(30), "b".repeat(60))),
                    ),
                    ("b", Js::n(1)),
                ]),
                "{\n  a: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\n' +\n    'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\\n' +\n    'c',\n  b: 1\n}",
            ),
            (
                Js::Arr(vec![
                    Js::Num(1e21),
                    Js::Num(1e-7),
                    Js::Num(0.1 + 0.2),
                    Js::Num(-5.0),
                    Js::Num(-0.0),
                    Js::Num(0.4),
                    Js::Num(1796559734322.0),
                ]),
                "[ 1e+21, 1e-7, 0.30000000000000004, -5, -0, 0.4, 1796559734322 ]",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(v.inspect(), want, "{v:?}");
        }
    }

    #[test]
    fn long_arrays_and_strings_are_cut_as_node_cuts_them() {
        let v = Js::Arr((0..103).map(Js::n).collect());
        let text = v.inspect();
        assert!(text.starts_with("[\n   0,  1,  2,"), "{text}");
        assert!(
            text.ends_with("  96, 97, 98, 99,\n  ... 3 more items\n]"),
            "{text}"
        );
        let s = Js::s("y".repeat(10_005)).inspect();
        assert!(
            s.ends_with("y'... 5 more characters"),
            "{}",
            &s[s.len() - 40..]
        );
    }

    #[test]
    fn json_keeps_the_order_and_escapes_as_json_stringify() {
        let v = obj(&[
            ("b", Js::s("x\"\n")),
            ("a", Js::Arr(vec![Js::Bool(true), Js::Null, Js::Num(0.5)])),
            ("n", Js::n(3)),
        ]);
        assert_eq!(v.json(), r#"{"b":"x\"\n","a":[true,null,0.5],"n":3}"#);
    }
}
