//! pmx-config: the `ecosystem.ron` schema of SPEC §4 — parsing, defaults, and validation
//! with `file:line:column` errors.
//!
//! # How a file is read
//!
//! 0. [`load`] reads a regular file only (a FIFO or a device is named, never opened
//!    blocking or read forever), at most [`MAX_FILE_BYTES`], and [`parse_bytes`] refuses
//!    bytes that are not UTF-8 at the line and column of the first bad one.
//! 1. [`reader`] — a small RON reader of our own turns the text into a tree in which
//!    every value and every field name carries its line and column. RON's grammar as an
//!    ecosystem file uses it is small (structs, tuples, enum variants, lists, maps,
//!    strings with escapes and raw strings, numbers, booleans, identifiers, comments).
//!    A syntax error ends the reading with one error; so does nesting deeper than
//!    [`MAX_DEPTH`] (128, `ron`'s own default recursion limit).
//! 2. [`walk`] — a validating walk over that tree checks every field (unknown names with
//!    a "did you mean" suggestion, types, durations, sizes, signals, cron patterns,
//!    strftime formats, names, listen addresses), then the rules across apps and groups,
//!    **collecting** every error with its own position, and builds the typed model
//!    ([`Ecosystem`], [`App`], [`Group`], [`Deploy`]) with every default filled in.
//!
//! Why not serde + `ron` alone: `ron` 0.8 stops at the first error and gives a position
//! only for it (and `ron::Value` keeps none), so it cannot report every mistake of a file
//! at once, each at its own line. `ron` is still used, in the tests, to confirm that every
//! sample file is RON that `ron` itself accepts (with `implicit_some`), so the dialect
//! here never drifts from real RON.
//!
//! `implicit_some` is always on: an optional field takes `None`, `Some(x)`, or a bare `x`.
//! Cron patterns are checked with the `croner` crate (5 fields, or 6 with seconds first),
//! strftime formats with chrono's `StrftimeItems`.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod error;
mod groups;
mod model;
pub mod probe;
pub(crate) mod reader;
mod values;
pub(crate) mod walk;
mod watch_ignore;

pub use error::{ConfigError, ConfigErrors};
pub use groups::{check_groups, At, GroupError};
pub use model::*;
pub use reader::MAX_DEPTH;
pub use values::{
    check_duration, check_memory_limit, moment_to_strftime, parse_dotenv, parse_duration,
    parse_instances, parse_signal, parse_size, parse_timezone, suggest, validate_cron,
    validate_date_format, validate_listen, validate_name, validate_timezone, MAX_DURATION_MS,
    SIGNALS,
};
pub use watch_ignore::{validate_ignore_glob, WatchIgnore, DEFAULT_IGNORES};

use std::path::{Path, PathBuf};

/// The largest ecosystem file read, in bytes: 16 MiB (a file of 1,000 apps is about
/// 300 KB). A larger file is refused before it is parsed, so `load` never holds more.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Reads and parses the ecosystem file at `path` (see [`parse_bytes`]).
///
/// Only a regular file (or a link to one) is read: a directory, a named pipe (FIFO), a
/// device (`/dev/zero`) or a socket is refused, saying what it is, after a `stat` and
/// before anything is read, and the file is opened non-blocking so a FIFO swapped in
/// meanwhile cannot hang the caller. A file over [`MAX_FILE_BYTES`] is refused. These are
/// one [`ConfigError`] at `0:0` naming the path; a file that is not UTF-8 is an error at
/// the line and column of its first invalid byte.
///
/// The file's own path is canonicalized (symlinks and `..` resolved), so one file named
/// two ways (`proj/ecosystem.ron`, `../proj/ecosystem.ron`) gives the same `file`, `dir`
/// and resolved paths; messages still show `path` as given.
pub fn load(path: &Path) -> Result<Ecosystem, ConfigErrors> {
    let shown = path.display().to_string();
    let bytes = read_regular(path)
        .map_err(|why| ConfigErrors(vec![ConfigError::without_position(&shown, why)]))?;
    let file = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let src = utf8(&bytes, &shown)?;
    parse_named(src, &shown, file)
}

/// The bytes of the regular file at `path`, at most [`MAX_FILE_BYTES`] of them; otherwise
/// why not, lower-case, to follow `"{path}: "` (`"a named pipe (FIFO) is not an
/// ecosystem file"`, `"no such file"`, `"cannot read it: Permission denied (os error 13)"`).
pub fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => format!("cannot read it: {e}"),
    })?;
    not_regular(&meta)?;
    // Non-blocking: opening a FIFO for reading would wait for a writer. fstat again on
    // what was opened, in case the path changed since the stat above.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    not_regular(&meta)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The cap holds even if the file grows while it is read.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_large(len: u64) -> String {
    format!(
        "{len} bytes is more than the {} MiB an ecosystem file may hold",
        MAX_FILE_BYTES >> 20
    )
}

/// What stands at `path` (links followed) when it is neither a regular file nor a
/// directory: `"a named pipe (FIFO)"`, `"a character device"`, `"a block device"`,
/// `"a socket"`; `None` for a file, a directory, or nothing there.
pub fn special_file_kind(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        return None;
    }
    not_regular(&meta).err().map(|_| kind(&meta))
}

/// `Err` saying what `meta` describes when it is not a regular file.
fn not_regular(meta: &std::fs::Metadata) -> Result<(), String> {
    if meta.is_file() {
        return Ok(());
    }
    Err(format!("{} is not an ecosystem file", kind(meta)))
}

/// What `meta` describes, as a noun with its article.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        "a file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// `bytes` as text, or an error at the line and column (in characters) of the first
/// byte that is not UTF-8 (`shown` names the file in it).
pub fn utf8_text<'b>(bytes: &'b [u8], shown: &str) -> Result<&'b str, ConfigError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        // The prefix is valid UTF-8 by definition of `valid_up_to`.
        let good = std::str::from_utf8(good).unwrap_or_default();
        let line_start = good.rfind('\n').map_or(0, |i| i + 1);
        let line = good.matches('\n').count() + 1;
        let col = good[line_start..].chars().count() + 1;
        let bad = bytes[e.valid_up_to()];
        let rest = &bytes[line_start..];
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let source_line = String::from_utf8_lossy(&rest[..end])
            .trim_end_matches('\r')
            .to_string();
        ConfigError {
            path: shown.to_string(),
            line,
            col,
            message: format!("byte 0x{bad:02x} is not UTF-8 (an ecosystem file is UTF-8 text)"),
            source_line: Some(source_line),
        }
    })
}

fn utf8<'b>(bytes: &'b [u8], shown: &str) -> Result<&'b str, ConfigErrors> {
    utf8_text(bytes, shown).map_err(|e| ConfigErrors(vec![e]))
}

/// [`parse`] for raw bytes: a file that is not UTF-8 is one error at its first invalid
/// byte.
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Ecosystem, ConfigErrors> {
    let shown = path.display().to_string();
    let src = utf8(bytes, &shown)?;
    parse(src, path)
}

/// The config reader as the fuzzers see it (`fuzz/fuzz_targets/config.rs` and the bounded
/// run in `config/tests/fuzz.rs`): [`parse_bytes`] on `data`, panicking when the reading
/// breaks its contract: an `Err` that is empty, or an error without a line and column.
/// Not an API: it may change with the fuzzers.
#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    if let Err(errs) = parse_bytes(data, Path::new("fuzz.ron")) {
        assert!(!errs.is_empty(), "an Err with no error");
        for e in errs.iter() {
            assert!(e.line > 0 && e.col > 0, "an error without a position: {e}");
            // Rendering must not panic either (the caret walks the source line).
            let _ = e.to_string();
        }
    }
}

/// Parses an ecosystem file's text. `path` is shown in messages as given; relative paths in
/// the file resolve against `std::path::absolute(path).parent()`. Returns every error found
/// (sorted by position), or the whole model: one bad app fails the whole load.
pub fn parse(src: &str, path: &Path) -> Result<Ecosystem, ConfigErrors> {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    parse_named(src, &path.display().to_string(), file)
}

/// [`parse`] with the name shown in messages and the absolute file apart.
fn parse_named(src: &str, shown: &str, file: PathBuf) -> Result<Ecosystem, ConfigErrors> {
    let shown = shown.to_string();
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut walk = walk::Walk::new(src, shown, dir);
    let tree = match reader::read(src) {
        Ok(t) => t,
        Err(e) => {
            walk.err(e.pos, e.message);
            return Err(ConfigErrors(walk.errors));
        }
    };
    let eco = walk.ecosystem(&tree, file);
    if walk.errors.is_empty() {
        Ok(eco)
    } else {
        let mut errors = walk.errors;
        errors.sort_by_key(|e| (e.line, e.col));
        Err(ConfigErrors(errors))
    }
}
