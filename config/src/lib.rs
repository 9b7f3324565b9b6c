//! pmx-config: the `ecosystem.ron` schema of SPEC §4 — parsing, defaults, and validation
//! with `file:line:column` errors.
//!
//! # How a file is read
//!
//! 1. [`reader`] — a small RON reader of our own turns the text into a tree in which
//!    every value and every field name carries its line and column. RON's grammar as an
//!    ecosystem file uses it is small (structs, tuples, enum variants, lists, maps,
//!    strings with escapes and raw strings, numbers, booleans, identifiers, comments).
//!    A syntax error ends the reading with one error.
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
mod model;
pub(crate) mod reader;
mod values;
pub(crate) mod walk;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use values::{
    check_duration, moment_to_strftime, parse_dotenv, parse_duration, parse_instances,
    parse_signal, parse_size, suggest, validate_cron, validate_date_format, validate_listen,
    validate_name, MAX_DURATION_MS, SIGNALS,
};

use std::path::{Path, PathBuf};

/// Reads and parses the ecosystem file at `path` (see [`parse`]). A read error is one
/// [`ConfigError`] at `0:0` naming the path.
///
/// The file's own path is canonicalized (symlinks and `..` resolved), so one file named
/// two ways (`proj/ecosystem.ron`, `../proj/ecosystem.ron`) gives the same `file`, `dir`
/// and resolved paths; messages still show `path` as given.
pub fn load(path: &Path) -> Result<Ecosystem, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(src) => {
            let file = std::fs::canonicalize(path)
                .or_else(|_| std::path::absolute(path))
                .unwrap_or_else(|_| path.to_path_buf());
            parse_named(&src, &path.display().to_string(), file)
        }
        Err(e) => {
            let shown = path.display().to_string();
            let why = if e.kind() == std::io::ErrorKind::InvalidData {
                "not a text file (an ecosystem file is UTF-8)".to_string()
            } else {
                format!("cannot read it: {e}")
            };
            Err(ConfigErrors(vec![ConfigError::without_position(
                shown, why,
            )]))
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
