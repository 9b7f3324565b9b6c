//! A small spanned RON reader: the subset of RON an ecosystem file uses, with the line and
//! column of every value and field name, so that later checks can point at their own line.
//!
//! Grammar: `Name(field: value, …)`, `( … )`, `Name(v, …)` (tuple / enum variant),
//! `[ … ]`, `{ k: v, … }`, strings with escapes and raw strings (`r#"…"#`), chars,
//! integers (decimal, `0x`, `0o`, `0b`, `_` separators), floats, `true`/`false`, bare
//! identifiers (`Max`, `None`, `r#ident`), `//` and nested `/* */` comments, trailing
//! commas, and leading `#![enable(…)]` attributes (skipped: `implicit_some` is always on).
//! A syntax error ends the reading: the first one is returned.
//!
//! Nesting is bounded by [`MAX_DEPTH`] (the `ron` crate's own default recursion limit):
//! the reader and the walk after it recurse once per level, so a file of 20,000 `[`
//! would otherwise overflow the stack and abort the program.

/// How many lists, maps, structs and tuples may stand inside one another: 128, as the
/// `ron` crate's `Options::recursion_limit` default. A deeper value is a syntax error at
/// the opener that goes past it. An ecosystem file needs 5 levels.
pub const MAX_DEPTH: usize = 128;

/// A position in the source: 1-based line and 1-based column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A RON value, with positions kept on every child.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Char(char),
    Int(i128),
    /// A float and its text as written.
    Float(f64, String),
    Bool(bool),
    /// A bare identifier: `Max`, `None`, `OneForOne`.
    Ident(String),
    /// `Name( … )` or `( … )`: a struct, a tuple, or an enum variant with data.
    Call {
        name: Option<(String, Pos)>,
        body: Body,
    },
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// The inside of `( … )`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// `field: value, …`
    Fields(Vec<Field>),
    /// `value, …` (also `()`, which reads as an empty tuple)
    Items(Vec<Node>),
}

/// A struct field: its name, where the name starts, and its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub name: String,
    pub pos: Pos,
    pub value: Node,
}

/// A syntax error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Reads a whole document: one value, surrounded by whitespace and comments.
pub(crate) fn read(src: &str) -> Result<Node, SyntaxError> {
    let mut r = Reader {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        depth: 0,
    };
    r.skip_ws()?;
    r.skip_attributes()?;
    let node = r.value()?;
    r.skip_ws()?;
    if r.i < r.chars.len() {
        return Err(r.err_here(format!(
            "unexpected {} after the end of the document",
            r.found()
        )));
    }
    Ok(node)
}

struct Reader {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    /// How many lists, maps and `( … )` enclose the cursor.
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Reader {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err_at(&self, pos: Pos, message: String) -> SyntaxError {
        SyntaxError { pos, message }
    }

    fn err_here(&self, message: String) -> SyntaxError {
        self.err_at(self.pos(), message)
    }

    /// What stands at the cursor, for "expected X, found Y".
    fn found(&self) -> String {
        match self.peek() {
            None => "end of file".to_string(),
            Some(c) if is_ident_start(c) => {
                let word: String = self.chars[self.i..]
                    .iter()
                    .take_while(|c| is_ident_char(**c))
                    .collect();
                format!("\"{word}\"")
            }
            Some('\n') => "end of line".to_string(),
            Some(c) => format!("{:?}", c.to_string()),
        }
    }

    fn expected(&self, what: &str) -> SyntaxError {
        self.err_here(format!("expected {what}, found {}", self.found()))
    }

    fn skip_ws(&mut self) -> Result<(), SyntaxError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    let mut depth = 1;
                    while depth > 0 {
                        match (self.peek(), self.peek_at(1)) {
                            (None, _) => {
                                return Err(self.err_at(start, "unterminated block comment".into()))
                            }
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                depth -= 1;
                            }
                            (Some('/'), Some('*')) => {
                                self.bump();
                                self.bump();
                                depth += 1;
                            }
                            _ => {
                                self.bump();
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Skips `#![enable(implicit_some)]`-style attributes at the top of the file.
    fn skip_attributes(&mut self) -> Result<(), SyntaxError> {
        while self.peek() == Some('#') {
            let start = self.pos();
            self.bump();
            if self.peek() != Some('!') {
                return Err(self.expected("\"!\" (an attribute is written #![enable(…)])"));
            }
            self.bump();
            if self.peek() != Some('[') {
                return Err(self.expected("\"[\""));
            }
            let mut depth = 0usize;
            loop {
                match self.bump() {
                    None => return Err(self.err_at(start, "unterminated attribute".into())),
                    Some('[') => depth += 1,
                    Some(']') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Some(_) => {}
                }
            }
            self.skip_ws()?;
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        let pos = self.pos();
        let value = match self.peek() {
            None => return Err(self.expected("a value")),
            Some('"') => Value::Str(self.string()?),
            Some('r') if self.is_raw_string() => Value::Str(self.raw_string()?),
            Some('\'') => Value::Char(self.char_lit()?),
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                self.seq(']', pos, |r| {
                    items.push(r.value()?);
                    Ok(())
                })?;
                Value::List(items)
            }
            Some('{') => {
                self.bump();
                let mut entries = Vec::new();
                self.seq('}', pos, |r| {
                    let k = r.value()?;
                    r.skip_ws()?;
                    if r.peek() != Some(':') {
                        return Err(r.expected("\":\" after a map key"));
                    }
                    r.bump();
                    r.skip_ws()?;
                    let v = r.value()?;
                    entries.push((k, v));
                    Ok(())
                })?;
                Value::Map(entries)
            }
            Some('(') => Value::Call {
                name: None,
                body: self.body()?,
            },
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number()?,
            Some(c) if is_ident_start(c) => {
                let name = self.ident()?;
                // A name followed by `(` is a struct or variant with data; whitespace
                // between them is allowed by RON.
                let save = (self.i, self.line, self.col);
                self.skip_ws()?;
                if self.peek() == Some('(') {
                    Value::Call {
                        name: Some((name, pos)),
                        body: self.body()?,
                    }
                } else {
                    (self.i, self.line, self.col) = save;
                    match name.as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        "inf" => Value::Float(f64::INFINITY, name),
                        "NaN" => Value::Float(f64::NAN, name),
                        _ => Value::Ident(name),
                    }
                }
            }
            Some(_) => return Err(self.expected("a value")),
        };
        Ok(Node { pos, value })
    }

    fn is_raw_string(&self) -> bool {
        if self.peek() != Some('r') {
            return false;
        }
        let mut n = 1;
        while self.peek_at(n) == Some('#') {
            n += 1;
        }
        self.peek_at(n) == Some('"') && (n > 1 || self.peek_at(1) == Some('"'))
    }

    /// Reads `item, item, …` up to `close` (the opener is already consumed).
    fn seq(
        &mut self,
        close: char,
        open_pos: Pos,
        mut item: impl FnMut(&mut Self) -> Result<(), SyntaxError>,
    ) -> Result<(), SyntaxError> {
        let open = match close {
            ']' => '[',
            '}' => '{',
            _ => '(',
        };
        if self.depth >= MAX_DEPTH {
            return Err(self.err_at(
                open_pos,
                format!("nested too deeply: more than {MAX_DEPTH} lists, maps or structs inside one another"),
            ));
        }
        self.depth += 1;
        let read = self.seq_items(close, open, open_pos, &mut item);
        self.depth -= 1;
        read
    }

    /// [`Self::seq`]'s loop, one level deeper.
    fn seq_items(
        &mut self,
        close: char,
        open: char,
        open_pos: Pos,
        item: &mut impl FnMut(&mut Self) -> Result<(), SyntaxError>,
    ) -> Result<(), SyntaxError> {
        loop {
            self.skip_ws()?;
            if self.peek() == Some(close) {
                self.bump();
                return Ok(());
            }
            if self.peek().is_none() {
                return Err(self.unclosed(open, open_pos));
            }
            item(self)?;
            self.skip_ws()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(c) if c == close => {}
                None => return Err(self.unclosed(open, open_pos)),
                _ => return Err(self.expected(&format!("\",\" or \"{close}\""))),
            }
        }
    }

    fn unclosed(&self, open: char, at: Pos) -> SyntaxError {
        self.err_here(format!(
            "unexpected end of file: \"{open}\" opened at {}:{} is not closed",
            at.line, at.col
        ))
    }

    /// Reads `( … )`: fields when it starts with `ident:`, else items.
    fn body(&mut self) -> Result<Body, SyntaxError> {
        let open_pos = self.pos();
        self.bump();
        self.skip_ws()?;
        if self.starts_field() {
            let mut fields = Vec::new();
            self.seq(')', open_pos, |r| {
                let pos = r.pos();
                if !r.peek().is_some_and(is_ident_start) {
                    return Err(r.expected("a field name"));
                }
                let name = r.ident()?;
                r.skip_ws()?;
                if r.peek() != Some(':') {
                    return Err(r.expected(&format!("\":\" after field name \"{name}\"")));
                }
                r.bump();
                r.skip_ws()?;
                let value = r.value()?;
                fields.push(Field { name, pos, value });
                Ok(())
            })?;
            Ok(Body::Fields(fields))
        } else {
            let mut items = Vec::new();
            self.seq(')', open_pos, |r| {
                items.push(r.value()?);
                Ok(())
            })?;
            Ok(Body::Items(items))
        }
    }

    /// True when the cursor is at `ident :` (a struct field), looking ahead without moving.
    fn starts_field(&self) -> bool {
        let mut n = 0;
        if self.peek() == Some('r') && self.peek_at(1) == Some('#') {
            n = 2;
        }
        if !self.peek_at(n).is_some_and(is_ident_start) {
            return false;
        }
        while self.peek_at(n).is_some_and(is_ident_char) {
            n += 1;
        }
        // Whitespace (not comments, which RON's own lookahead does not cross either)
        // may stand before the colon.
        while self.peek_at(n).is_some_and(char::is_whitespace) {
            n += 1;
        }
        self.peek_at(n) == Some(':')
    }

    fn ident(&mut self) -> Result<String, SyntaxError> {
        if self.peek() == Some('r') && self.peek_at(1) == Some('#') {
            self.bump();
            self.bump();
        }
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !is_ident_char(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        if s.is_empty() {
            return Err(self.expected("an identifier"));
        }
        Ok(s)
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            let exp_sign = matches!(c, '-' | '+')
                && (text.is_empty() || text.ends_with(['e', 'E']) && !text.starts_with("0x"));
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exp_sign {
                text.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let bad = || SyntaxError {
            pos: start,
            message: format!("invalid number \"{text}\""),
        };
        let (neg, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(&text)),
        };
        let clean: String = body.chars().filter(|c| *c != '_').collect();
        let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
            .iter()
            .find(|(p, _)| clean.starts_with(p));
        if let Some((p, radix)) = radix {
            let v = i128::from_str_radix(&clean[p.len()..], *radix).map_err(|_| bad())?;
            return Ok(Value::Int(if neg { -v } else { v }));
        }
        if clean.is_empty() || !clean.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return Err(bad());
        }
        if clean.chars().all(|c| c.is_ascii_digit()) {
            let v: i128 = clean.parse().map_err(|_| SyntaxError {
                pos: start,
                message: format!("number \"{text}\" is too large"),
            })?;
            return Ok(Value::Int(if neg { -v } else { v }));
        }
        let v: f64 = clean.parse().map_err(|_| bad())?;
        Ok(Value::Float(if neg { -v } else { v }, text.clone()))
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos();
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err_at(start, "unterminated string".into())),
                Some('"') => return Ok(s),
                Some('\\') => s.push(self.escape()?),
                Some(c) => s.push(c),
            }
        }
    }

    fn char_lit(&mut self) -> Result<char, SyntaxError> {
        let start = self.pos();
        self.bump();
        let c = match self.bump() {
            None => return Err(self.err_at(start, "unterminated char".into())),
            Some('\\') => self.escape()?,
            Some(c) => c,
        };
        if self.bump() != Some('\'') {
            return Err(self.err_at(
                start,
                "unterminated char (a string is written in double quotes)".into(),
            ));
        }
        Ok(c)
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let pos = Pos {
            line: self.line,
            col: self.col.saturating_sub(1),
        };
        let c = match self.bump() {
            Some('"') => '"',
            Some('\'') => '\'',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('0') => '\0',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('x') => {
                let hex: String = [self.bump(), self.bump()].iter().flatten().collect();
                let v = u8::from_str_radix(&hex, 16).ok().filter(|v| *v < 0x80);
                return v
                    .map(char::from)
                    .ok_or_else(|| self.err_at(pos, format!("invalid escape \"\\x{hex}\"")));
            }
            Some('u') => {
                let mut hex = String::new();
                if self.peek() == Some('{') {
                    self.bump();
                    while let Some(c) = self.bump() {
                        if c == '}' {
                            break;
                        }
                        hex.push(c);
                    }
                } else {
                    for _ in 0..4 {
                        if let Some(c) = self.bump() {
                            hex.push(c);
                        }
                    }
                }
                let v = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                return v.ok_or_else(|| {
                    self.err_at(pos, format!("invalid unicode escape \"\\u{hex}\""))
                });
            }
            Some(c) => return Err(self.err_at(pos, format!("invalid escape \"\\{c}\""))),
            None => return Err(self.err_at(pos, "unterminated string".into())),
        };
        Ok(c)
    }

    fn raw_string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos();
        self.bump(); // r
        let mut hashes = 0;
        while self.peek() == Some('#') {
            self.bump();
            hashes += 1;
        }
        self.bump(); // "
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err_at(start, "unterminated raw string".into())),
                Some('"') if (0..hashes).all(|k| self.peek_at(k) == Some('#')) => {
                    for _ in 0..hashes {
                        self.bump();
                    }
                    return Ok(s);
                }
                Some(c) => s.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(src: &str) -> Value {
        match read(src) {
            Ok(n) => n.value,
            Err(e) => panic!("{src}: {e:?}"),
        }
    }

    fn err(src: &str) -> (usize, usize, String) {
        match read(src) {
            Ok(n) => panic!("{src} read as {n:?}"),
            Err(e) => (e.pos.line, e.pos.col, e.message),
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(
            v("\"a\\n\\\"b\\u{e9}\\u00e9\""),
            Value::Str("a\n\"béé".into())
        );
        assert_eq!(v("r\"a\\b\""), Value::Str("a\\b".into()));
        assert_eq!(v("r#\"say \"hi\"\"#"), Value::Str("say \"hi\"".into()));
        assert_eq!(v("'x'"), Value::Char('x'));
        assert_eq!(v("42"), Value::Int(42));
        assert_eq!(v("-1_000"), Value::Int(-1000));
        assert_eq!(v("0x1F"), Value::Int(31));
        assert_eq!(v("0b101"), Value::Int(5));
        assert_eq!(v("1.5"), Value::Float(1.5, "1.5".into()));
        assert_eq!(v("1e3"), Value::Float(1000.0, "1e3".into()));
        assert_eq!(v("true"), Value::Bool(true));
        assert_eq!(v("Max"), Value::Ident("Max".into()));
        assert_eq!(v("r#ref"), Value::Ident("ref".into()));
    }

    #[test]
    fn structs_tuples_lists_maps_with_positions() {
        let n = read("#![enable(implicit_some)]\n// c\nApp(\n  name: \"x\", /* c */ n: Count(4),\n  l: [1, 2,],\n  m: {\"k\": (1, 2)},\n)").unwrap();
        assert_eq!(n.pos, Pos { line: 3, col: 1 });
        let Value::Call {
            name: Some((name, _)),
            body: Body::Fields(fields),
        } = n.value
        else {
            panic!()
        };
        assert_eq!(name, "App");
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0].pos, Pos { line: 4, col: 3 });
        assert_eq!(fields[0].value.pos, Pos { line: 4, col: 9 });
        assert_eq!(fields[1].name, "n");
        assert!(
            matches!(&fields[1].value.value, Value::Call { name: Some((n, _)), body: Body::Items(i) } if n == "Count" && i.len() == 1)
        );
        assert!(matches!(&fields[2].value.value, Value::List(l) if l.len() == 2));
        assert!(matches!(&fields[3].value.value, Value::Map(m) if m.len() == 1));
        assert_eq!(
            v("()"),
            Value::Call {
                name: None,
                body: Body::Items(vec![])
            }
        );
    }

    #[test]
    fn columns_count_characters() {
        let n = read("(é: \"ü\", b: 1)");
        // `é` is not an identifier character in RON: a syntax error at column 2.
        assert!(n.is_err());
        let n = read("(a: \"ü\", b: 1)").unwrap();
        let Value::Call {
            body: Body::Fields(f),
            ..
        } = n.value
        else {
            panic!()
        };
        assert_eq!(f[1].pos, Pos { line: 1, col: 10 });
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            err("(a = 1)"),
            (1, 4, "expected \",\" or \")\", found \"=\"".into())
        );
        assert_eq!(
            err("(a: 1 b: 2)"),
            (1, 7, "expected \",\" or \")\", found \"b\"".into())
        );
        assert_eq!(err("(a: \"x)"), (1, 5, "unterminated string".into()));
        assert_eq!(
            err("(a: 1,\n"),
            (
                2,
                1,
                "unexpected end of file: \"(\" opened at 1:1 is not closed".into()
            )
        );
        assert_eq!(
            err("(a: 1) x"),
            (
                1,
                8,
                "unexpected \"x\" after the end of the document".into()
            )
        );
        assert_eq!(err("/* x"), (1, 1, "unterminated block comment".into()));
        assert_eq!(err("(a: \"\\q\")"), (1, 6, "invalid escape \"\\q\"".into()));
        assert_eq!(err("(a: 1.2.3)"), (1, 5, "invalid number \"1.2.3\"".into()));
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_at_the_opener_that_goes_past_it() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read(&deep).is_ok(), "{MAX_DEPTH} levels read");
        let msg = format!(
            "nested too deeply: more than {MAX_DEPTH} lists, maps or structs inside one another"
        );
        let cases = [
            ("[".repeat(20_000), 1, MAX_DEPTH + 1),
            (format!("\n  {}", "(a: ".repeat(200)), 2, 3 + 4 * MAX_DEPTH),
            ("{1: ".repeat(200), 1, 4 * MAX_DEPTH + 1),
            ("A(".repeat(200), 1, 2 * MAX_DEPTH + 2),
        ];
        for (src, line, col) in cases {
            assert_eq!(err(&src), (line, col, msg.clone()), "{}", &src[..20]);
        }
    }
}
