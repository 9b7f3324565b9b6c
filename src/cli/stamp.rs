//! The record `pmx import` leaves in the file it writes, so that the next import knows
//! whether it may overwrite it: which PM2 file it was converted from, and a hash of what
//! was written. The next import overwrites only a file whose record names the same PM2
//! file and whose bytes still hash to the recorded value (an edit needs `-f`).
//!
//! The record is one comment line among the header's:
//!
//! ```text
//! // pmx import: from "ecosystem.config.js", fnv1a64 9c1f2e0d4b5a6978
//! ```
//!
//! The path is a JSON string, relative to the written file's directory (so a project
//! moved as a whole keeps its record). The hash is FNV-1a 64 (offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`, over bytes) of the whole file with the 16
//! hex digits of the hash left out: a fixed definition, so any build of pmx reads the
//! record of any other (unlike `std`'s `DefaultHasher`, which may change between Rust
//! releases).

/// The line above the record, for a reader of the file.
const EXPLAINED: &str =
    "// `pmx import` overwrites this file only while it is as written below; edited, it needs -f.";

/// What starts the record line, up to the JSON string of the source path.
const PREFIX: &str = "// pmx import: from ";

/// What sits between the source path and the hash.
const HASH_LABEL: &str = ", fnv1a64 ";

use pmx_protocol::home::fnv1a64;

/// `text` (an ecosystem file whose header is its leading `//` lines) with the record
/// lines added at the end of that header, naming `source` (the PM2 file's path relative
/// to the written file's directory).
pub fn stamp(text: &str, source: &str) -> String {
    let header_end = text
        .split_inclusive('\n')
        .take_while(|l| l.starts_with("//"))
        .map(str::len)
        .sum::<usize>();
    let quoted = serde_json::Value::String(source.to_string()).to_string();
    let before = format!(
        "{}{EXPLAINED}\n{PREFIX}{quoted}{HASH_LABEL}",
        &text[..header_end]
    );
    let after = format!("\n{}", &text[header_end..]);
    let hash = fnv1a64(format!("{before}{after}").as_bytes());
    format!("{before}{hash:016x}{after}")
}

/// What the record of `text` says, if it has one.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// No record line (a file written by hand, or by a pmx before records).
    None,
    /// A record whose hash no longer matches the file: edited since it was written.
    Edited,
    /// An intact record: the file is as the import that names this source wrote it.
    Intact {
        /// The PM2 file's path, relative to the file's directory, as recorded.
        source: String,
    },
}

/// Read the record of `text` (an existing file's bytes) and check its hash.
pub fn read(text: &[u8]) -> Record {
    let Ok(text) = std::str::from_utf8(text) else {
        return Record::None;
    };
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if !line.starts_with("//") {
            break;
        }
        if let Some(rest) = line.strip_prefix(PREFIX) {
            let at = offset + PREFIX.len();
            return match parse_record(rest) {
                Some((source, hex_at, hash)) => {
                    let hex_at = at + hex_at;
                    let mut unhashed = text.as_bytes()[..hex_at].to_vec();
                    unhashed.extend_from_slice(&text.as_bytes()[hex_at + 16..]);
                    if fnv1a64(&unhashed) == hash {
                        Record::Intact { source }
                    } else {
                        Record::Edited
                    }
                }
                // A mangled record line is an edit too.
                None => Record::Edited,
            };
        }
        offset += line.len();
    }
    Record::None
}

/// From the rest of a record line (after [`PREFIX`]): the source, where the 16 hex
/// digits start (in `rest`), and the hash they spell.
fn parse_record(rest: &str) -> Option<(String, usize, u64)> {
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    let source = stream.next()?.ok()?;
    let after_source = stream.byte_offset();
    rest[after_source..].strip_prefix(HASH_LABEL)?;
    let hex_at = after_source + HASH_LABEL.len();
    let hex = rest.get(hex_at..hex_at + 16)?;
    if !hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    if rest[hex_at + 16..].trim_end() != "" {
        return None;
    }
    Some((source, hex_at, u64::from_str_radix(hex, 16).ok()?))
}

/// `path` relative to the directory `from` (both absolute, neither with `..`): the
/// `..`s out of `from` to their common part, then the rest of `path`.
pub fn relative(path: &std::path::Path, from: &std::path::Path) -> std::path::PathBuf {
    let p: Vec<_> = path.components().collect();
    let f: Vec<_> = from.components().collect();
    let common = p.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = std::path::PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BODY: &str = "// Converted by `pmx import` from a.config.js.\n// Paths are relative.\nEcosystem(\n    apps: [],\n)\n";

    #[test]
    fn the_record_ends_the_header_and_reads_back_intact() {
        let text = stamp(BODY, "a.config.js");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "// Converted by `pmx import` from a.config.js.");
        assert_eq!(lines[2], EXPLAINED);
        assert!(
            lines[3].starts_with("// pmx import: from \"a.config.js\", fnv1a64 "),
            "{text}"
        );
        assert_eq!(lines[4], "Ecosystem(");
        assert_eq!(
            read(text.as_bytes()),
            Record::Intact {
                source: "a.config.js".into()
            }
        );
        // The same input gives the same bytes.
        assert_eq!(stamp(BODY, "a.config.js"), text);
    }

    #[test]
    fn any_edit_breaks_the_record_and_no_record_is_none() {
        let text = stamp(BODY, "../pm2/a \"b\".config.js");
        assert_eq!(
            read(text.as_bytes()),
            Record::Intact {
                source: "../pm2/a \"b\".config.js".into()
            }
        );
        let edits = [
            text.replace("apps: []", "apps: [ ]"),
            text.replace("Paths", "paths"),
            format!("{text}\n"),
            text.replace("a \\\"b\\\"", "c"),
            text.replace("fnv1a64 ", "fnv1a64  "),
        ];
        for e in &edits {
            assert_eq!(read(e.as_bytes()), Record::Edited, "{e}");
        }
        assert_eq!(read(BODY.as_bytes()), Record::None);
        assert_eq!(read(b"Ecosystem(apps: [])\n"), Record::None);
        assert_eq!(read(b"\xff\xfe"), Record::None);
        // A record line below the header (in the body) is not a record.
        let late = format!("Ecosystem()\n{}", stamp("", "x"));
        assert_eq!(read(late.as_bytes()), Record::None);
    }

    #[test]
    fn relative_paths_climb_to_the_common_part() {
        let cases = [
            ("/p/a.config.js", "/p", "a.config.js"),
            ("/p/pm2/a.config.js", "/p", "pm2/a.config.js"),
            ("/p/a.config.js", "/p/out", "../a.config.js"),
            ("/x/a.config.js", "/p/q", "../../x/a.config.js"),
        ];
        for (path, from, want) in cases {
            assert_eq!(
                relative(Path::new(path), Path::new(from)),
                Path::new(want),
                "{path} from {from}"
            );
        }
    }
}
