//! The architecture test: fails when an arrow that must never exist appears
//! (DESIGN-core.md, "Arrows that must never exist"; ARCHITECTURE.md's invariants).
//!
//! Two kinds of arrow are checked, each reported as `file:line: rule: what`:
//! - between crates, in the `Cargo.toml` dependency tables (parsed, not grepped):
//!   pmx-config depends on no pmx crate, actix or tokio; pmx-protocol is serde only
//!   (serde, serde_json, and pmx-config for the plain values it re-exports on purpose);
//! - between modules, in the source text (comments and literals stripped, `use` groups
//!   expanded): `actors/src/supervision/` names no actix, tokio, clock or OS;
//!   pmx-protocol reaches pmx-config only for the value types it re-exports; the pmx
//!   package (`pmx::Client`, the CLI) names pmx-actors only in the entry point that starts
//!   the runtime ([`DAEMON_ENTRY`]); leaf actors name no supervisor's concrete type (they
//!   hold their parent as a `Recipient`).
//!
//! Dev-dependencies and `tests/` directories are not checked: a test may drive anything.
//! The checker itself is tested on small synthetic inputs that break each rule, so the
//! test can fail; it reads a few hundred KiB of text and takes milliseconds.

use std::fmt;
use std::path::Path;

/// The files of the pmx package that may name pmx-actors: the entry points that start
/// the runtime (`pmx daemon`, and the home prepared before a daemon is spawned; later
/// `pmx run`). Everything else of `src/` speaks to the daemon through pmx-protocol.
const DAEMON_ENTRY: &[&str] = &["src/cli/daemon.rs"];

/// The value types of pmx-config that pmx-protocol reaches: the plain data an app spec is
/// made of (re-exported on purpose) and the two declarations it converts from.
const CONFIG_VALUES: &[&str] = &[
    "ExecMode",
    "Health",
    "Instances",
    "Intensity",
    "Logs",
    "Policy",
    "Probe",
    "Restart",
    "Rotate",
    "Strategy",
    "Watch",
    // The sources of `From<&pmx_config::App>` / `From<&pmx_config::Group>`.
    "App",
    "Group",
];

/// A dependency-table rule: what the crate of `manifest` may not depend on.
struct ManifestRule {
    /// The arrow, as DESIGN-core.md words it.
    name: &'static str,
    /// Workspace-relative path of the manifest.
    manifest: &'static str,
    /// Forbidden package names; `foo*` is `foo` and every `foo-…` / `foo_…`.
    forbidden: &'static [&'static str],
    /// When set, the only packages the crate may depend on.
    only: Option<&'static [&'static str]>,
}

const CONFIG_CRATE: ManifestRule = ManifestRule {
    name: "config → pmx, actix, tokio",
    manifest: "config/Cargo.toml",
    forbidden: &["pmx*", "actix*", "tokio*"],
    only: None,
};

const PROTOCOL_CRATE: ManifestRule = ManifestRule {
    name: "protocol → actors, actix, tokio (serde only, SPEC §1)",
    manifest: "protocol/Cargo.toml",
    forbidden: &["pmx", "pmx-actors", "actix*", "tokio*"],
    only: Some(&["serde", "serde_json", "pmx-config"]),
};

const MANIFEST_RULES: &[&ManifestRule] = &[&CONFIG_CRATE, &PROTOCOL_CRATE];

/// A path that must not appear in a source file.
struct Forbid {
    /// `::`-separated segments: `"tokio"`, `"std::fs"`, `"Instant::now"`.
    path: &'static str,
    /// Only as a path's first segments (a crate, a `std` module), not inside one.
    rooted: bool,
    /// When not empty: allowed when the segment after `path` is one of these; a bare
    /// `path` is allowed too unless it is renamed (`use path as x;` hides what follows).
    unless_next: &'static [&'static str],
}

/// `path` as a path's root (a crate or a module of std).
const fn root(path: &'static str) -> Forbid {
    Forbid {
        path,
        rooted: true,
        unless_next: &[],
    }
}

/// `path` anywhere in a path (a type or a function, however it was imported).
const fn anywhere(path: &'static str) -> Forbid {
    Forbid {
        path,
        rooted: false,
        unless_next: &[],
    }
}

/// A source rule: what the `.rs` files in `scope` may not name.
struct SourceRule {
    /// The arrow, as DESIGN-core.md words it.
    name: &'static str,
    /// Workspace-relative files (`….rs`) or directories (`…/`) the rule covers.
    scope: &'static [&'static str],
    /// Files in scope that are deliberate exceptions.
    except: &'static [&'static str],
    /// What the files may not name.
    forbidden: &'static [Forbid],
}

impl SourceRule {
    fn covers(&self, file: &str) -> bool {
        let in_scope = self.scope.iter().any(|s| {
            if s.ends_with('/') {
                file.starts_with(s)
            } else {
                file == *s
            }
        });
        in_scope && !self.except.contains(&file)
    }
}

const CONFIG_SOURCE: SourceRule = SourceRule {
    name: "config → pmx, actix, tokio",
    scope: &["config/src/"],
    except: &[],
    forbidden: &[
        root("pmx"),
        root("pmx_actors"),
        root("pmx_protocol"),
        root("actix"),
        root("actix_rt"),
        root("tokio"),
    ],
};

const SUPERVISION: SourceRule = SourceRule {
    name: "supervision/ → actix, tokio, the clock, the OS",
    scope: &["actors/src/supervision/"],
    except: &[],
    forbidden: &[
        root("actix"),
        root("actix_rt"),
        root("tokio"),
        root("nix"),
        root("libc"),
        // The daemon's own OS module.
        root("crate::os"),
        root("std::fs"),
        root("std::env"),
        root("std::net"),
        root("std::os"),
        root("std::process"),
        root("std::thread"),
        // The clock: `now` is a parameter (OTP's add_restart(Restarts, Now, Period)).
        anywhere("SystemTime"),
        anywhere("Instant::now"),
        anywhere("Utc::now"),
        anywhere("Local::now"),
    ],
};

const PROTOCOL_SOURCE: SourceRule = SourceRule {
    name: "protocol → actors, actix, tokio; → config beyond its re-exported values",
    scope: &["protocol/src/"],
    except: &[],
    forbidden: &[
        root("pmx"),
        root("pmx_actors"),
        root("actix"),
        root("actix_rt"),
        root("tokio"),
        Forbid {
            path: "pmx_config",
            rooted: true,
            unless_next: CONFIG_VALUES,
        },
    ],
};

const CLIENT_SOURCE: SourceRule = SourceRule {
    name: "src/cli, src/client.rs → pmx-actors (only the daemon's entry starts the runtime)",
    scope: &["src/"],
    except: DAEMON_ENTRY,
    forbidden: &[root("pmx_actors")],
};

const LEAF_ACTORS: SourceRule = SourceRule {
    name: "leaf actor → a supervisor's concrete type (a Recipient would do)",
    // Today's leaves, and where DESIGN-core.md puts the next ones; a path that does not
    // exist yet covers nothing.
    scope: &[
        "actors/src/process.rs",
        "actors/src/process/",
        "actors/src/log/",
        "actors/src/output/",
        "actors/src/watch.rs",
        "actors/src/cron.rs",
        "actors/src/metrics.rs",
        "actors/src/metrics/",
        "actors/src/health.rs",
        "actors/src/readiness.rs",
        "actors/src/listen.rs",
    ],
    except: &[],
    forbidden: &[anywhere("AppSup"), anywhere("GroupSup"), anywhere("Root")],
};

const SOURCE_RULES: &[&SourceRule] = &[
    &CONFIG_SOURCE,
    &SUPERVISION,
    &PROTOCOL_SOURCE,
    &CLIENT_SOURCE,
    &LEAF_ACTORS,
];

/// One arrow that must not exist, where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    /// Workspace-relative path.
    file: String,
    /// 1-based line.
    line: usize,
    /// The rule's name.
    rule: &'static str,
    /// What was found.
    what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.rule, self.what
        )
    }
}

// ---------------------------------------------------------------------------------------
// Manifests

/// Whether package `name` matches `pattern` (`foo*`: `foo`, `foo-…`, `foo_…`).
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(stem) => {
            name == stem
                || name
                    .strip_prefix(stem)
                    .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('_'))
        }
        None => name == pattern,
    }
}

/// The line where dependency `key` is declared: `key = …`, `key.workspace = …` or a
/// `[….dependencies.key]` header; 1 when it cannot be found.
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let after = l
                .strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .map(str::trim_start);
            let header = l.starts_with('[') && l.trim_end().ends_with(&format!(".{key}]"));
            header || after.is_some_and(|a| a.starts_with('=') || a.starts_with('.'))
        })
        .map_or(1, |n| n + 1)
}

/// Every package a manifest depends on (normal and build dependencies, target-specific
/// ones included), with the line of its key. A renamed dependency (`package = …`, here or
/// in the workspace's table) counts under its real package name.
fn manifest_deps(text: &str, workspace: &toml::Table) -> Result<Vec<(String, usize)>, String> {
    let doc: toml::Table = text.parse().map_err(|e| format!("not TOML: {e}"))?;
    let mut tables: Vec<&toml::Table> = Vec::new();
    let kinds = ["dependencies", "build-dependencies", "build_dependencies"];
    for kind in kinds {
        tables.extend(doc.get(kind).and_then(toml::Value::as_table));
    }
    if let Some(targets) = doc.get("target").and_then(toml::Value::as_table) {
        for target in targets.values().filter_map(toml::Value::as_table) {
            for kind in kinds {
                tables.extend(target.get(kind).and_then(toml::Value::as_table));
            }
        }
    }
    let mut out = Vec::new();
    for table in tables {
        for (key, spec) in table {
            let package = |v: &toml::Value| {
                v.get("package")
                    .and_then(toml::Value::as_str)
                    .map(str::to_string)
            };
            let inherited = spec
                .get("workspace")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            let name = package(spec)
                .or_else(|| {
                    inherited
                        .then(|| workspace.get(key).and_then(package))
                        .flatten()
                })
                .unwrap_or_else(|| key.clone());
            out.push((name, key_line(text, key)));
        }
    }
    Ok(out)
}

/// The arrows `rule` forbids that the manifest `text` declares.
fn check_manifest(rule: &ManifestRule, text: &str, workspace: &toml::Table) -> Vec<Violation> {
    let at = |line, what| Violation {
        file: rule.manifest.to_string(),
        line,
        rule: rule.name,
        what,
    };
    let deps = match manifest_deps(text, workspace) {
        Ok(d) => d,
        Err(e) => return vec![at(1, e)],
    };
    let mut out = Vec::new();
    for (name, line) in deps {
        if rule.forbidden.iter().any(|p| name_matches(p, &name)) {
            out.push(at(line, format!("depends on `{name}`")));
        } else if let Some(only) = rule.only.filter(|o| !o.contains(&name.as_str())) {
            out.push(at(
                line,
                format!("depends on `{name}`, not one of {}", only.join(", ")),
            ));
        }
    }
    // The dependency tables come back sorted by name: report in file order.
    out.sort_by_key(|v| v.line);
    out
}

// ---------------------------------------------------------------------------------------
// Sources

/// A token of Rust source that can name something: comments, string and char literals
/// and lifetimes are dropped, so prose never counts as an arrow.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or keyword (a raw identifier without its `r#`).
    Ident(String),
    /// `::`.
    Sep,
    /// Any other punctuation character.
    Punct(char),
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    /// 1-based line.
    line: usize,
}

/// Skip a `"…"` literal whose opening quote is at `i - 1`; answers the index after it.
fn skip_string(c: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => {
                if c.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Skip a raw literal whose `#`s (if any) start at `i`; answers the index after it.
fn skip_raw_string(c: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while c.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < c.len() {
        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        if c[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}

/// Skip a char literal or a lifetime starting at the quote `i`; answers the index after.
fn skip_quote(c: &[char], i: usize) -> usize {
    if c.get(i + 1) == Some(&'\\') {
        // '\n', '\'', '\u{1F600}': the escaped character, then up to the closing quote.
        let mut j = i + 3;
        while j < c.len() && c[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if c.get(i + 2) == Some(&'\'') {
        return i + 3; // 'a'
    }
    // A lifetime or a label: the quote and its name.
    let mut j = i + 1;
    while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
        j += 1;
    }
    j
}

fn is_ident_char(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// The tokens of `src` that can name something, with their lines.
fn tokenize(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1, &mut line);
        } else if ch == '\'' {
            i = skip_quote(&c, i);
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let after = c.get(i).copied();
            let after2 = c.get(i + 1).copied();
            match (word.as_str(), after) {
                ("b" | "c", Some('"')) => i = skip_string(&c, i + 1, &mut line),
                ("b", Some('\'')) => i = skip_quote(&c, i),
                ("r", Some('#')) if after2.is_some_and(|a| a.is_alphabetic() || a == '_') => {
                    // A raw identifier: `r#type`.
                    let start = i + 1;
                    i = start;
                    while i < c.len() && is_ident_char(c[i]) {
                        i += 1;
                    }
                    out.push(Token {
                        tok: Tok::Ident(c[start..i].iter().collect()),
                        line,
                    });
                }
                ("r" | "br" | "cr", Some('"' | '#')) => i = skip_raw_string(&c, i, &mut line),
                _ => out.push(Token {
                    tok: Tok::Ident(word),
                    line,
                }),
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Token {
                tok: Tok::Sep,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    out
}

/// One path the source names (`std::time::Instant::now`, `AppSup`), `use` groups
/// expanded (`use std::{fs, io}` names `std::fs` and `std::io`).
#[derive(Debug, Clone, PartialEq)]
struct PathRef {
    segs: Vec<String>,
    /// The line of its last segment.
    line: usize,
    /// Followed by `as`: renamed, so what the new name reaches is not seen.
    renamed: bool,
}

/// Every path of `tokens`. A name after `.` is a field or a method, not a path.
fn paths(tokens: &[Token]) -> Vec<PathRef> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let after_dot = i > 0 && tokens[i - 1].tok == Tok::Punct('.');
        if matches!(tokens[i].tok, Tok::Ident(_)) && !after_dot {
            i = path_at(tokens, i, &[], &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Read the path whose first segment is the identifier at `i`, under `prefix` (inside a
/// `use` group); push it (or each path of its group); answer the index after it.
fn path_at(t: &[Token], mut i: usize, prefix: &[String], out: &mut Vec<PathRef>) -> usize {
    let mut segs = prefix.to_vec();
    let mut line = t[i].line;
    if let Tok::Ident(s) = &t[i].tok {
        // `use a::{self, b}`: `self` names `a` itself.
        if s != "self" || prefix.is_empty() {
            segs.push(s.clone());
        }
    }
    i += 1;
    while t.get(i).map(|x| &x.tok) == Some(&Tok::Sep) {
        match t.get(i + 1).map(|x| &x.tok) {
            Some(Tok::Ident(s)) => {
                segs.push(s.clone());
                line = t[i + 1].line;
                i += 2;
            }
            Some(Tok::Punct('{')) => return group_at(t, i + 2, &segs, out),
            _ => break, // `::<T>` (turbofish), `::*` (glob): the path so far
        }
    }
    let renamed = matches!(t.get(i).map(|x| &x.tok), Some(Tok::Ident(a)) if a == "as");
    out.push(PathRef {
        segs,
        line,
        renamed,
    });
    i
}

/// Read a `use` group whose first item is at `i`, each item under `prefix`; answer the
/// index after its closing brace.
fn group_at(t: &[Token], mut i: usize, prefix: &[String], out: &mut Vec<PathRef>) -> usize {
    while i < t.len() {
        match &t[i].tok {
            Tok::Ident(s) if s == "as" => i += 2, // `b as c`: skip the new name
            Tok::Ident(_) => i = path_at(t, i, prefix, out),
            Tok::Punct('{') => i = group_at(t, i + 1, prefix, out),
            Tok::Punct('}') => return i + 1,
            _ => i += 1,
        }
    }
    i
}

impl Forbid {
    /// Whether `p` is an arrow this forbids.
    fn matches(&self, p: &PathRef) -> bool {
        let pat: Vec<&str> = self.path.split("::").collect();
        let at = |k: usize| {
            p.segs.len() >= k + pat.len() && pat.iter().zip(&p.segs[k..]).all(|(a, b)| a == b)
        };
        let found = if self.rooted {
            at(0)
        } else {
            (0..p.segs.len()).any(at)
        };
        if !found || self.unless_next.is_empty() {
            return found;
        }
        match p.segs.get(pat.len()) {
            Some(next) => !self.unless_next.contains(&next.as_str()),
            None => p.renamed,
        }
    }
}

/// The arrows `rule` forbids that the source `text` of `file` names.
fn check_source(rule: &SourceRule, file: &str, text: &str) -> Vec<Violation> {
    let mut out: Vec<Violation> = Vec::new();
    for p in paths(&tokenize(text)) {
        if let Some(f) = rule.forbidden.iter().find(|f| f.matches(&p)) {
            let what = if p.renamed {
                format!("renames `{}` (forbidden: `{}`)", p.segs.join("::"), f.path)
            } else {
                format!("names `{}` (forbidden: `{}`)", p.segs.join("::"), f.path)
            };
            let v = Violation {
                file: file.to_string(),
                line: p.line,
                rule: rule.name,
                what,
            };
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The workspace

/// Every `.rs` file under `dir` (workspace-relative, `/`-separated), sorted.
fn rust_files(root: &Path, dir: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let rel = format!("{dir}/{name}");
        if root.join(&rel).is_dir() {
            rust_files(root, &rel, out);
        } else if name.ends_with(".rs") {
            out.push(rel);
        }
    }
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

#[test]
fn no_arrow_that_must_never_exist_appears() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let top: toml::Table = read(root, "Cargo.toml")
        .parse()
        .unwrap_or_else(|e| panic!("Cargo.toml: {e}"));
    let workspace = top
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    let mut found = Vec::new();
    for rule in MANIFEST_RULES {
        found.extend(check_manifest(rule, &read(root, rule.manifest), &workspace));
    }
    let mut files = Vec::new();
    for dir in ["config/src", "protocol/src", "actors/src", "src"] {
        rust_files(root, dir, &mut files);
    }
    for rule in SOURCE_RULES {
        let covered: Vec<&String> = files.iter().filter(|f| rule.covers(f)).collect();
        // A rule over nothing passes vacuously: the code moved and the rule must follow.
        assert!(
            !covered.is_empty(),
            "rule \"{}\" covers no file (scope {:?}): update its scope",
            rule.name,
            rule.scope
        );
        for file in covered {
            found.extend(check_source(rule, file, &read(root, file)));
        }
        for exception in rule.except {
            assert!(
                files.iter().any(|f| f == exception),
                "rule \"{}\" excepts {exception}, which does not exist",
                rule.name
            );
        }
    }
    let report: Vec<String> = found.iter().map(Violation::to_string).collect();
    assert!(
        report.is_empty(),
        "arrows that must never exist (DESIGN-core.md):\n{}",
        report.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The checker, on inputs that break each rule

/// `file:line: what` of every violation of `rule` in `text`.
fn source_hits(rule: &SourceRule, file: &str, text: &str) -> Vec<String> {
    assert!(
        rule.covers(file),
        "{file} is not in the scope of {}",
        rule.name
    );
    check_source(rule, file, text)
        .iter()
        .map(|v| format!("{}:{}: {}", v.file, v.line, v.what))
        .collect()
}

fn manifest_hits(rule: &ManifestRule, text: &str) -> Vec<String> {
    let workspace: toml::Table = r#"
        pmx-actors = { path = "actors" }
        rt = { package = "tokio", version = "1" }
        serde = "1"
    "#
    .parse()
    .expect("workspace table");
    check_manifest(rule, text, &workspace)
        .iter()
        .map(|v| format!("{}:{}: {}", v.file, v.line, v.what))
        .collect()
}

#[test]
fn the_tokenizer_drops_comments_literals_and_lifetimes() {
    let src = r####"// tokio in a comment
/* nested /* tokio */ still a comment
   tokio */
let a = "tokio \" tokio";
let b = r#"tokio "quoted" "#;
let c = br##"tokio"##;
let d = b"tokio";
let e = '"'; let f = '\''; let g = '\u{1F600}'; let h = b'x';
fn i<'tokio>(x: &'tokio str) {}
let r#type = 1;
"####;
    let idents: Vec<(String, usize)> = tokenize(src)
        .into_iter()
        .filter_map(|t| match t.tok {
            Tok::Ident(s) => Some((s, t.line)),
            _ => None,
        })
        .collect();
    assert!(
        !idents.iter().any(|(s, _)| s == "tokio" || s == "quoted"),
        "{idents:?}"
    );
    // Lines survive multi-line comments and literals.
    assert!(idents.contains(&("a".into(), 4)), "{idents:?}");
    assert!(idents.contains(&("h".into(), 8)), "{idents:?}");
    assert!(idents.contains(&("type".into(), 10)), "{idents:?}");
}

#[test]
fn paths_expand_use_groups_and_skip_methods() {
    let src = "use std::{collections::HashMap, fs::{self, File}, io as stdio};\n\
               let t = std::time::Instant::now();\n\
               x.tokio();\n\
               use pmx_config as cfg;\n";
    let got: Vec<(String, usize, bool)> = paths(&tokenize(src))
        .into_iter()
        .map(|p| (p.segs.join("::"), p.line, p.renamed))
        .collect();
    for want in [
        ("std::collections::HashMap", 1, false),
        ("std::fs", 1, false),
        ("std::fs::File", 1, false),
        ("std::io", 1, true),
        ("std::time::Instant::now", 2, false),
        ("pmx_config", 4, true),
    ] {
        let want = (want.0.to_string(), want.1, want.2);
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
    assert!(!got.iter().any(|(p, _, _)| p == "tokio"), "{got:?}");
}

#[test]
fn config_may_not_depend_on_pmx_actix_or_tokio() {
    let manifest = r#"[package]
name = "pmx-config"

[dependencies]
serde.workspace = true
pmx-actors.workspace = true
actix-rt = "2"
rt.workspace = true

[target.'cfg(unix)'.dependencies]
pmx-protocol = { path = "../protocol" }

[dev-dependencies]
tokio = "1"
"#;
    assert_eq!(
        manifest_hits(&CONFIG_CRATE, manifest),
        [
            "config/Cargo.toml:6: depends on `pmx-actors`",
            "config/Cargo.toml:7: depends on `actix-rt`",
            // Renamed in the workspace's table: still tokio.
            "config/Cargo.toml:8: depends on `tokio`",
            "config/Cargo.toml:11: depends on `pmx-protocol`",
        ]
    );
    let ok = "[dependencies]\nserde = \"1\"\nron = \"0.8\"\npmxlike = \"1\"\n";
    assert_eq!(manifest_hits(&CONFIG_CRATE, ok), Vec::<String>::new());
    assert_eq!(
        source_hits(
            &CONFIG_SOURCE,
            "config/src/lib.rs",
            "//! no tokio here\nuse tokio::sync::mpsc;\nfn f() { pmx_actors::run(); }\n"
        ),
        [
            "config/src/lib.rs:2: names `tokio::sync::mpsc` (forbidden: `tokio`)",
            "config/src/lib.rs:3: names `pmx_actors::run` (forbidden: `pmx_actors`)",
        ]
    );
}

#[test]
fn protocol_is_serde_only_and_reaches_config_for_plain_values() {
    let manifest = "[dependencies]\n\
                    pmx-config.workspace = true\n\
                    serde.workspace = true\n\
                    pmx-actors.workspace = true\n\
                    chrono = \"0.4\"\n\
                    [build-dependencies]\n\
                    actix = \"0.13\"\n";
    assert_eq!(
        manifest_hits(&PROTOCOL_CRATE, manifest),
        [
            "protocol/Cargo.toml:4: depends on `pmx-actors`",
            "protocol/Cargo.toml:5: depends on `chrono`, not one of serde, serde_json, pmx-config",
            "protocol/Cargo.toml:7: depends on `actix`",
        ]
    );
    let src = "pub use pmx_config::{Instances, Logs};\n\
               impl From<&pmx_config::App> for App {}\n\
               pub fn load(p: &Path) { pmx_config::load(p) }\n\
               use pmx_config as cfg;\n\
               use pmx_actors::app::AppSup;\n\
               #[actix::main] async fn main() {}\n";
    assert_eq!(
        source_hits(&PROTOCOL_SOURCE, "protocol/src/spec.rs", src),
        [
            "protocol/src/spec.rs:3: names `pmx_config::load` (forbidden: `pmx_config`)",
            "protocol/src/spec.rs:4: renames `pmx_config` (forbidden: `pmx_config`)",
            "protocol/src/spec.rs:5: names `pmx_actors::app::AppSup` (forbidden: `pmx_actors`)",
            "protocol/src/spec.rs:6: names `actix::main` (forbidden: `actix`)",
        ]
    );
}

#[test]
fn supervision_names_no_actix_tokio_clock_or_os() {
    let src = "use std::time::{Duration, Instant};\n\
               use std::{collections::VecDeque, fs};\n\
               fn a(now: Instant) -> Duration { now.elapsed() }\n\
               fn b() -> Instant { Instant::now() }\n\
               fn c() { let _ = std::time::SystemTime::UNIX_EPOCH; }\n\
               fn d() { nix::sys::signal::kill(p, None); libc::getpid(); }\n\
               #[derive(actix::Message)] struct E;\n\
               async fn f() { tokio::time::sleep(d).await; std::thread::sleep(d); }\n\
               fn g() { crate::os::pid_alive(1); }\n\
               // Instant::now() in a comment, and \"tokio\" in a string: fine\n\
               fn h() { let s = \"SystemTime\"; }\n";
    assert_eq!(
        source_hits(&SUPERVISION, "actors/src/supervision/intensity.rs", src),
        [
            "actors/src/supervision/intensity.rs:2: names `std::fs` (forbidden: `std::fs`)",
            "actors/src/supervision/intensity.rs:4: names `Instant::now` (forbidden: `Instant::now`)",
            "actors/src/supervision/intensity.rs:5: names `std::time::SystemTime::UNIX_EPOCH` (forbidden: `SystemTime`)",
            "actors/src/supervision/intensity.rs:6: names `nix::sys::signal::kill` (forbidden: `nix`)",
            "actors/src/supervision/intensity.rs:6: names `libc::getpid` (forbidden: `libc`)",
            "actors/src/supervision/intensity.rs:7: names `actix::Message` (forbidden: `actix`)",
            "actors/src/supervision/intensity.rs:8: names `tokio::time::sleep` (forbidden: `tokio`)",
            "actors/src/supervision/intensity.rs:8: names `std::thread::sleep` (forbidden: `std::thread`)",
            "actors/src/supervision/intensity.rs:9: names `crate::os::pid_alive` (forbidden: `crate::os`)",
        ]
    );
}

#[test]
fn the_cli_and_client_reach_the_daemon_only_from_its_entry() {
    let src = "use pmx_protocol::Request;\n\
               fn alive(pid: i32) -> bool { pmx_actors::os::pid_alive(pid) }\n";
    for file in ["src/client.rs", "src/cli/mod.rs", "src/cli/verbs/kill.rs"] {
        assert_eq!(
            source_hits(&CLIENT_SOURCE, file, src),
            [format!(
                "{file}:2: names `pmx_actors::os::pid_alive` (forbidden: `pmx_actors`)"
            )]
        );
    }
    for entry in DAEMON_ENTRY {
        assert!(!CLIENT_SOURCE.covers(entry), "{entry} is the allowed entry");
    }
}

#[test]
fn leaf_actors_hold_their_parent_as_a_recipient() {
    let src = "use crate::app::AppSup;\n\
               pub struct Process { parent: Addr<AppSup>, group: Option<Addr<GroupSup>> }\n\
               fn up(r: &Addr<crate::root::Root>) {}\n";
    assert_eq!(
        source_hits(&LEAF_ACTORS, "actors/src/process.rs", src),
        [
            "actors/src/process.rs:1: names `crate::app::AppSup` (forbidden: `AppSup`)",
            "actors/src/process.rs:2: names `AppSup` (forbidden: `AppSup`)",
            "actors/src/process.rs:2: names `GroupSup` (forbidden: `GroupSup`)",
            "actors/src/process.rs:3: names `crate::root::Root` (forbidden: `Root`)",
        ]
    );
    let fine = "pub struct Process { parent: Recipient<ChildExited>, root_dir: PathBuf }\n";
    assert_eq!(
        source_hits(&LEAF_ACTORS, "actors/src/output/pump.rs", fine),
        Vec::<String>::new()
    );
    assert!(!LEAF_ACTORS.covers("actors/src/app.rs"));
    assert!(!LEAF_ACTORS.covers("actors/src/processes.rs"));
}
