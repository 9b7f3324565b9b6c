//! The target forms beyond a name, an id, a group and a namespace (SPEC §3, PM2's
//! `_operate`): `/regex/` over app names, and the absolute path of a script (the apps
//! started from it). The CLI sends a relative script path made absolute against its own
//! directory, as PM2 compares `pm_exec_path` with `path.resolve(target)`.

use std::path::{Component, Path, PathBuf};

use crate::protocol::{ApiError, AppSpec, ErrorCode};

/// The most memory one target's compiled regex may take (bytes): a target is a line of
/// the protocol, not a way to make the daemon build a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The pattern of a `/regex/` target: what lies between a leading and a trailing `/`
/// (at least the two slashes). PM2 reads `/^api-/` the same way (it drops every `/`;
/// names hold no `/`, so only the outer two matter).
pub fn regex_of(target: &str) -> Option<&str> {
    target.strip_prefix('/')?.strip_suffix('/')
}

/// A matcher over app names for the `/regex/` target `target` (searched anywhere in the
/// name, as JavaScript's `RegExp.test` does; anchor with `^`/`$`).
///
/// Errors: `bad_request` when the pattern does not compile (or would be too large).
pub fn name_matcher(target: &str, pattern: &str) -> Result<regex::Regex, ApiError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let why = e.to_string();
            // The regex crate's messages span lines (the pattern, a caret, the error).
            let why = why.lines().last().unwrap_or("invalid").trim().to_string();
            ApiError::new(
                ErrorCode::BadRequest,
                format!("target {target}: not a valid regular expression ({why})"),
            )
        })
}

/// Whether `target` reads as the absolute path of a script (and not a `/regex/`).
pub fn is_script_path(target: &str) -> bool {
    target.starts_with('/') && regex_of(target).is_none()
}

/// Whether the app of `spec` was started from the script at the absolute path `path`:
/// its script as written, resolved against the directory it was declared in, names the
/// same file, compared lexically (`.` and `..` folded, as Node's `path.resolve` does).
pub fn runs_script(spec: &AppSpec, path: &str) -> bool {
    let script = Path::new(&spec.app.script);
    // A command line (`"node a.js"`) or a program found on PATH is no script path; its
    // join is compared like any other and simply names no file the user gave.
    lexical(&spec.app.dir.join(script)) == lexical(Path::new(path))
}

/// `p` with `.` components dropped and each `..` taking off the component before it.
pub fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::fixtures::spec;

    #[test]
    fn regex_targets_are_slash_delimited() {
        let cases = [
            ("/^api-/", Some("^api-")),
            ("//", Some("")),
            ("/", None),
            ("api", None),
            ("/srv/run.sh", None),
            ("/a/b/", Some("a/b")),
        ];
        for (target, want) in cases {
            assert_eq!(regex_of(target), want, "{target}");
        }
    }

    #[test]
    fn a_bad_regex_is_a_bad_request_naming_the_target() {
        let e = name_matcher("/(/", "(").expect_err("unclosed group");
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.starts_with("target /(/: "), "{}", e.message);
        assert!(!e.message.contains('\n'), "{}", e.message);
    }

    #[test]
    fn a_script_path_matches_lexically() {
        // The fixture runs run.sh declared in /srv.
        let s = spec("web", 1);
        let cases = [
            ("/srv/run.sh", true),
            ("/srv/./run.sh", true),
            ("/srv/x/../run.sh", true),
            ("/srv/other.sh", false),
            ("/run.sh", false),
        ];
        for (path, want) in cases {
            assert_eq!(runs_script(&s, path), want, "{path}");
        }
    }

    #[test]
    fn paths_and_regexes_are_told_apart() {
        assert!(is_script_path("/srv/run.sh"));
        assert!(!is_script_path("/^a/"));
        assert!(!is_script_path("run.sh"));
    }
}
