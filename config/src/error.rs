//! Errors with a position: `ConfigError` (one mistake) and `ConfigErrors` (all of a reading).

use std::fmt;

/// One mistake in an ecosystem file, with where it is.
///
/// `line` and `col` are 1-based (`col` counts characters, not bytes); `0:0` means the
/// error has no position in the file (it could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the caller named it (not made absolute), e.g. `ecosystem.ron`.
    pub path: String,
    /// 1-based line of the mistake; 0 when it has no position.
    pub line: usize,
    /// 1-based column (in characters) of the mistake; 0 when it has no position.
    pub col: usize,
    /// What is wrong: lower-case, no trailing period (`unknown field "instanses", did you mean "instances"?`).
    pub message: String,
    /// The text of line `line`, shown under the message with a caret at `col`.
    pub source_line: Option<String>,
}

impl ConfigError {
    /// An error with no position in the file (for example the file could not be read).
    pub fn without_position(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line: 0,
            col: 0,
            message: message.into(),
            source_line: None,
        }
    }
}

impl fmt::Display for ConfigError {
    /// `{path}:{line}:{col}: {message}`, then, when the line is known:
    ///
    /// ```text
    ///    12 |         instanses: 4,
    ///       |         ^
    /// ```
    ///
    /// An error at `0:0` (no position) prints `{path}: {message}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path, self.line, self.col, self.message
            )?;
        }
        if let (Some(src), true) = (&self.source_line, self.line > 0) {
            let (src, col) = window(src, self.col);
            // Tabs are kept under tabs so the caret lines up whatever the tab width.
            let pad: String = src
                .chars()
                .take(col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{:>5} | {}\n{:>5} | {}^", self.line, src, "", pad)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The longest source line shown whole, in characters.
const SHOWN_WHOLE: usize = 200;
/// How many characters of a longer line are shown before the caret, and after it.
const SHOWN_BEFORE: usize = 80;
const SHOWN_AFTER: usize = 60;

/// The part of `line` shown under a message, and the caret's column in it: the whole
/// line up to [`SHOWN_WHOLE`] characters, else [`SHOWN_BEFORE`] characters before `col` and
/// [`SHOWN_AFTER`] after it, each cut side marked `…` (a minified or machine-written
/// line can be megabytes long).
fn window(line: &str, col: usize) -> (String, usize) {
    let len = line.chars().count();
    if len <= SHOWN_WHOLE {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(1).saturating_sub(SHOWN_BEFORE);
    let end = (col + SHOWN_AFTER).min(len).max(start);
    let mut shown: String = line.chars().skip(start).take(end - start).collect();
    let mut col = col - start;
    if start > 0 {
        shown.insert(0, '…');
        col += 1;
    }
    if end < len {
        shown.push('…');
    }
    (shown, col)
}

/// Every error found in one reading of a file, in file order (never empty when returned
/// by [`crate::load`] or [`crate::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no error (never the case for an `Err` from this crate).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    /// Each error's `Display`, joined by `"\n"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_line_and_caret() {
        let e = ConfigError {
            path: "ecosystem.ron".into(),
            line: 12,
            col: 9,
            message: "unknown field \"instanses\", did you mean \"instances\"?".into(),
            source_line: Some("        instanses: 4,".into()),
        };
        assert_eq!(
            e.to_string(),
            "ecosystem.ron:12:9: unknown field \"instanses\", did you mean \"instances\"?\n   12 |         instanses: 4,\n      |         ^"
        );
    }

    #[test]
    fn display_keeps_tabs_under_the_caret() {
        let e = ConfigError {
            path: "e.ron".into(),
            line: 1,
            col: 3,
            message: "m".into(),
            source_line: Some("\tx: 1".into()),
        };
        assert_eq!(e.to_string(), "e.ron:1:3: m\n    1 | \tx: 1\n      | \t ^");
    }

    #[test]
    fn display_cuts_a_long_line_around_the_caret() {
        let e = ConfigError {
            path: "e.ron".into(),
            line: 1,
            col: 129,
            message: "m".into(),
            source_line: Some("[".repeat(20_000)),
        };
        let shown = format!("…{}…", "[".repeat(SHOWN_BEFORE + 1 + SHOWN_AFTER));
        let caret = format!("{}^", " ".repeat(SHOWN_BEFORE + 1));
        assert_eq!(
            e.to_string(),
            format!("e.ron:1:129: m\n    1 | {shown}\n      | {caret}")
        );
        let near_start = ConfigError { col: 3, ..e };
        let shown = format!("{}…", "[".repeat(3 + SHOWN_AFTER));
        assert_eq!(
            near_start.to_string(),
            format!("e.ron:1:3: m\n    1 | {shown}\n      |   ^")
        );
    }

    #[test]
    fn display_without_position() {
        let e = ConfigError::without_position("x.ron", "cannot read x.ron: gone");
        assert_eq!(e.to_string(), "x.ron: cannot read x.ron: gone");
        let all = ConfigErrors(vec![e.clone(), e]);
        assert_eq!(
            all.to_string(),
            "x.ron: cannot read x.ron: gone\nx.ron: cannot read x.ron: gone"
        );
    }
}
