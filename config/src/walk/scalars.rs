//! The shapes and scalar values every field is read through (records, lists, strings,
//! names, paths, booleans, integers, durations, sizes, variants, env maps), each reporting
//! its error at the value's position. Moved out of walk.rs, which was past ~600 lines of
//! code.

use super::*;

impl Walk<'_> {
    // ---- shapes -------------------------------------------------------------------

    /// The fields of a struct `Name(…)` or `(…)`; a wrong name is reported and the fields
    /// are still checked. A field given twice is reported (the last one counts).
    pub(super) fn record<'n>(
        &mut self,
        node: &'n Node,
        name: &str,
        shape: &str,
    ) -> Option<&'n [Field]> {
        let Value::Call { name: given, body } = &node.value else {
            self.err(
                node.pos,
                format!("expected {shape}, found {}", describe(&node.value)),
            );
            return None;
        };
        if let Some((g, pos)) = given {
            if g != name {
                self.err(*pos, format!("expected {shape}, found \"{g}(…)\""));
            }
        }
        let fields: &[Field] = match body {
            Body::Fields(f) => f,
            Body::Items(items) if items.is_empty() => &[],
            Body::Items(_) => {
                self.err(node.pos, format!("expected {shape}, found a tuple"));
                return None;
            }
        };
        for (i, f) in fields.iter().enumerate() {
            if fields[..i].iter().any(|g| g.name == f.name) {
                self.err(f.pos, format!("field \"{}\" is given twice", f.name));
            }
        }
        Some(fields)
    }

    pub(super) fn unknown(&mut self, f: &Field, known: &[&str], moved: &[(&str, &str)]) {
        let msg = if let Some((_, to)) = moved.iter().find(|(from, _)| *from == f.name) {
            format!("unknown field \"{}\", did you mean \"{to}\"?", f.name)
        } else if let Some(s) = suggest(&f.name, known) {
            format!("unknown field \"{}\", did you mean \"{s}\"?", f.name)
        } else {
            format!(
                "unknown field \"{}\"; expected one of: {}",
                f.name,
                known.join(", ")
            )
        };
        self.err(f.pos, msg);
    }

    pub(super) fn missing(&mut self, node: &Node, field: &str) {
        self.err(node.pos, format!("missing field \"{field}\""));
    }

    /// `None` → `Some(None)`; `Some(x)` or a bare `x` → `Some(Some(x))` (`implicit_some`);
    /// a malformed `Some(…)` → reported, `None`.
    pub(super) fn opt<'n>(&mut self, v: &'n Node) -> Option<Option<&'n Node>> {
        match &v.value {
            Value::Ident(i) if i == "None" => Some(None),
            Value::Call {
                name: Some((n, _)),
                body,
            } if n == "Some" => match body {
                Body::Items(items) if items.len() == 1 => Some(Some(&items[0])),
                _ => {
                    self.err(v.pos, "Some(…) takes exactly one value");
                    None
                }
            },
            _ => Some(Some(v)),
        }
    }

    pub(super) fn list<'n>(&mut self, v: &'n Node, field: &str) -> Option<&'n [Node]> {
        match &v.value {
            Value::List(items) => Some(items),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a list […] for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn string(&mut self, v: &Node, field: &str) -> Option<String> {
        match &v.value {
            Value::Str(s) => Some(s.clone()),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a string for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn nonempty(&mut self, v: &Node, field: &str) -> Option<String> {
        let s = self.string(v, field)?;
        if s.is_empty() {
            self.err(v.pos, format!("{field} must not be empty"));
            return None;
        }
        Some(s)
    }

    pub(super) fn name(&mut self, v: &Node, field: &str) -> Option<String> {
        let s = self.string(v, field)?;
        if let Err(e) = values::validate_name(&s) {
            self.err(v.pos, e);
            return None;
        }
        Some(s)
    }

    /// A user or group: a name or a numeric id.
    pub(super) fn user(&mut self, v: &Node, field: &str) -> Option<String> {
        match &v.value {
            Value::Int(n) if *n >= 0 => Some(n.to_string()),
            _ => self.nonempty(v, field),
        }
    }

    pub(super) fn path(&mut self, v: &Node, field: &str) -> Option<PathBuf> {
        let s = self.nonempty(v, field)?;
        Some(self.resolve(&s))
    }

    pub(super) fn boolean(&mut self, v: &Node, field: &str) -> Option<bool> {
        match &v.value {
            Value::Bool(b) => Some(*b),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected true or false for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn int_in<T: TryFrom<i128>>(&mut self, v: &Node, n: i128, field: &str) -> Option<T> {
        match T::try_from(n) {
            Ok(t) => Some(t),
            Err(_) => {
                self.err(v.pos, format!("{n} is out of range for \"{field}\""));
                None
            }
        }
    }

    pub(super) fn uint(&mut self, v: &Node, field: &str) -> Option<u32> {
        match &v.value {
            Value::Int(n) => self.int_in(v, *n, field),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a whole number for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A duration in ms, bounded by [`values::MAX_DURATION_MS`] but for log rotation's
    /// `interval` (a weekly rotation is fine; it is not a wait of the daemon).
    pub(super) fn duration(&mut self, v: &Node, field: &str) -> Option<u64> {
        let ms = self.any_duration(v, field)?;
        if field == "interval" {
            return Some(ms);
        }
        match values::check_duration(field, ms) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.err(v.pos, e);
                None
            }
        }
    }

    pub(super) fn any_duration(&mut self, v: &Node, field: &str) -> Option<u64> {
        match &v.value {
            Value::Int(n) if *n >= 0 => self.int_in(v, *n, field),
            Value::Str(s) => match values::parse_duration(s) {
                Ok(ms) => Some(ms),
                Err(e) => {
                    self.err(v.pos, e);
                    None
                }
            },
            other => {
                let found = if let Value::Int(n) = other {
                    format!("{n}")
                } else {
                    describe(other)
                };
                self.err(v.pos, format!("expected a duration for \"{field}\" (\"250ms\", \"2s\" or integer ms), found {found}"));
                None
            }
        }
    }

    pub(super) fn size(&mut self, v: &Node, field: &str) -> Option<u64> {
        match &v.value {
            Value::Int(n) if *n >= 0 => self.int_in(v, *n, field),
            Value::Str(s) => match values::parse_size(s) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.err(v.pos, e);
                    None
                }
            },
            other => {
                let found = if let Value::Int(n) = other {
                    format!("{n}")
                } else {
                    describe(other)
                };
                self.err(v.pos, format!("expected a size for \"{field}\" (\"300M\", \"1G\" or integer bytes), found {found}"));
                None
            }
        }
    }

    pub(super) fn variant<'a>(
        &mut self,
        v: &Node,
        field: &str,
        variants: &[&'a str],
    ) -> Option<&'a str> {
        match &v.value {
            Value::Ident(i) => {
                if let Some(found) = variants.iter().find(|x| **x == i) {
                    return Some(found);
                }
                let msg = match suggest(i, variants) {
                    Some(s) => format!("unknown {field} \"{i}\", did you mean \"{s}\"?"),
                    None => format!(
                        "unknown {field} \"{i}\"; expected one of: {}",
                        variants.join(", ")
                    ),
                };
                self.err(v.pos, msg);
                None
            }
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected one of {} for \"{field}\", found {}",
                        variants.join(", "),
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// An environment variable's name: not empty, no `=` nor NUL (it could not be set).
    pub(super) fn variable(&mut self, v: &Node, field: &str) -> Option<String> {
        let s = self.nonempty(v, field)?;
        if s.contains('=') || s.contains('\0') {
            self.err(v.pos, format!("invalid variable name \"{s}\""));
        }
        Some(s)
    }

    /// `Cluster` or `Fork`; PM2's strings (`"fork"`, `"cluster_mode"`) are refused with
    /// the variant to write instead.
    pub(super) fn exec_mode(&mut self, v: &Node) -> Option<ExecMode> {
        if let Value::Str(s) = &v.value {
            let want = match s.trim_end_matches("_mode").to_ascii_lowercase().as_str() {
                "fork" => Some("Fork"),
                "cluster" => Some("Cluster"),
                _ => None,
            };
            if let Some(w) = want {
                self.err(
                    v.pos,
                    format!("exec_mode \"{s}\" is PM2's spelling, write {w} (no quotes)"),
                );
                return None;
            }
        }
        Some(match self.variant(v, "exec_mode", &["Cluster", "Fork"])? {
            "Fork" => ExecMode::Fork,
            _ => ExecMode::Cluster,
        })
    }

    pub(super) fn strategy(&mut self, v: &Node) -> Option<Strategy> {
        Some(
            match self.variant(v, "strategy", &["OneForOne", "OneForAll", "RestForOne"])? {
                "OneForAll" => Strategy::OneForAll,
                "RestForOne" => Strategy::RestForOne,
                _ => Strategy::OneForOne,
            },
        )
    }

    /// A list of strings, each with its node (for positions).
    pub(super) fn string_nodes<'n>(
        &mut self,
        v: &'n Node,
        field: &str,
    ) -> Option<Vec<(&'n Node, String)>> {
        let items = self.list(v, field)?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match &item.value {
                Value::Str(s) => out.push((item, s.clone())),
                other => {
                    ok = false;
                    self.err(
                        item.pos,
                        format!(
                            "expected a string in \"{field}\", found {}",
                            describe(other)
                        ),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    pub(super) fn strings(&mut self, v: &Node, field: &str) -> Option<Vec<String>> {
        Some(
            self.string_nodes(v, field)?
                .into_iter()
                .map(|(_, s)| s)
                .collect(),
        )
    }

    /// A string or a list of strings (PM2's `host` and `ssh_options`).
    pub(super) fn one_or_many(&mut self, v: &Node, field: &str) -> Option<Vec<String>> {
        match &v.value {
            Value::Str(s) => Some(vec![s.clone()]),
            Value::List(_) => self.strings(v, field),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected a string or a list of strings for \"{field}\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn exit_codes(&mut self, v: &Node) -> Option<Vec<i32>> {
        let items = self.list(v, "stop_exit_codes")?;
        let mut out = Vec::new();
        for item in items {
            match &item.value {
                Value::Int(n) => out.extend(self.int_in::<i32>(item, *n, "stop_exit_codes")),
                other => self.err(
                    item.pos,
                    format!(
                        "expected an integer in \"stop_exit_codes\", found {}",
                        describe(other)
                    ),
                ),
            }
        }
        Some(out)
    }

    /// `{"KEY": value}`; values are strings, numbers or booleans, all kept as strings.
    pub(super) fn env(&mut self, v: &Node, field: &str) -> Option<BTreeMap<String, String>> {
        let Value::Map(entries) = &v.value else {
            self.err(
                v.pos,
                format!(
                    "expected a map {{\"KEY\": \"value\"}} for \"{field}\", found {}",
                    describe(&v.value)
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, val) in entries {
            let Some(key) = self.string(k, &format!("a key of {field}")) else {
                continue;
            };
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                self.err(
                    k.pos,
                    format!("invalid variable name \"{}\"", key.escape_debug()),
                );
                continue;
            }
            if out.contains_key(&key) {
                self.err(k.pos, format!("variable \"{key}\" is given twice"));
            }
            let text = match &val.value {
                Value::Str(s) => s.clone(),
                Value::Int(n) => n.to_string(),
                Value::Float(_, text) => text.clone(),
                Value::Bool(b) => b.to_string(),
                other => {
                    self.err(
                        val.pos,
                        format!(
                            "expected a string, number or boolean for {field} \"{key}\", found {}",
                            describe(other)
                        ),
                    );
                    continue;
                }
            };
            out.insert(key, text);
        }
        Some(out)
    }

    pub(super) fn envs(&mut self, v: &Node) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
        let Value::Map(entries) = &v.value else {
            self.err(
                v.pos,
                format!(
                    "expected a map {{\"production\": {{…}}}} for \"envs\", found {}",
                    describe(&v.value)
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, val) in entries {
            let Some(name) = self.string(k, "an envs name") else {
                continue;
            };
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.err(
                    k.pos,
                    format!("invalid env name \"{}\"", name.escape_debug()),
                );
                continue;
            }
            if out.contains_key(&name) {
                self.err(k.pos, format!("env \"{name}\" is given twice"));
            }
            if let Some(map) = self.env(val, &format!("envs.{name}")) {
                out.insert(name, map);
            }
        }
        Some(out)
    }
}
