//! Command lines that need a shell (SPEC §3): `pmx start "node a.js && node b.js"` runs
//! through `bash -c`, as PM2 runs every command line (PM2's `Common.js`: a script with a
//! space becomes `bash -c <script>`, `sh` when there is no bash); a plain command line
//! keeps being split and exec'd directly, so the listed pid is the program's own.

use std::path::{Path, PathBuf};

use super::start::{find_program, Target};
use super::Failure;

/// Whether `line` holds a shell operator outside quotes: `;` `&` (`&&`, a background
/// job) `|` (`||`, a pipe) `>` `<` (redirections) `$` (expansions) `` ` `` (command
/// substitution) or a line break (a second command). Inside single quotes nothing is an
/// operator; inside double quotes only `$` and `` ` `` are (they still expand there); a
/// backslash makes the next character plain.
pub fn needs_shell(line: &str) -> bool {
    let mut single = false;
    let mut double = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => single = !single,
            _ if single => {}
            '\\' => {
                chars.next();
            }
            '"' => double = !double,
            '$' | '`' => return true,
            _ if double => {}
            ';' | '&' | '|' | '>' | '<' | '\n' => return true,
            _ => {}
        }
    }
    false
}

/// The start target of a command line that [`needs_shell`]: `bash -c <line>` (`sh -c`
/// without bash), the shell found on `path_var`.
///
/// Errors (exit 1): neither bash nor sh on PATH.
pub fn shell_target(line: &str, base: &Path, path_var: Option<&str>) -> Result<Target, Failure> {
    let shell: PathBuf = find_program("bash", base, path_var)
        .or_else(|| find_program("sh", base, path_var))
        .ok_or_else(|| {
            Failure::request(format!(
                "the command line {line:?} needs a shell (it holds shell operators) and neither bash nor sh is on PATH"
            ))
        })?;
    Ok(Target::Command(shell, vec!["-c".into(), line.into()]))
}

/// The default name of a command line run through a shell: its first word's file name
/// without extension (`"node a.js && node b.js"` → `node`), as for any command line;
/// None for a target that is not such a line.
pub fn default_name(target: &Target) -> Option<String> {
    let Target::Command(_, words) = target else {
        return None;
    };
    let [flag, line] = words.as_slice() else {
        return None;
    };
    if flag != "-c" || !needs_shell(line) {
        return None;
    }
    let first = shell_words::split(line)
        .ok()
        .and_then(|w| w.into_iter().next())
        .or_else(|| line.split_whitespace().next().map(str::to_string))?;
    Path::new(&first)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && pmx_config::validate_name(s).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_operators_outside_quotes_need_a_shell() {
        let cases = [
            ("node a.js && node b.js", true),
            ("a || b", true),
            ("a ; b", true),
            ("a;b", true),
            ("ls | wc -l", true),
            ("echo hi > out.txt", true),
            ("sort < in.txt", true),
            ("echo $HOME", true),
            ("echo \"$HOME\"", true),
            ("echo `date`", true),
            ("sleep 1 &", true),
            ("a\nb", true),
            ("python3 app.py --port 8080", false),
            ("sleep 100", false),
            ("echo 'a && b'", false),
            ("echo 'cost: $5'", false),
            ("echo \"a; b | c > d\"", false),
            ("echo a\\;b", false),
            ("echo \\$HOME", false),
            ("grep -e 'x|y' file", false),
        ];
        for (line, want) in cases {
            assert_eq!(needs_shell(line), want, "{line:?}");
        }
    }

    #[test]
    fn a_shell_line_is_named_after_its_first_word() {
        let t = |line: &str| Target::Command("/bin/bash".into(), vec!["-c".into(), line.into()]);
        assert_eq!(
            default_name(&t("node a.js && node b.js")).as_deref(),
            Some("node")
        );
        assert_eq!(default_name(&t("./run.sh | tee x")).as_deref(), Some("run"));
        // Not a shell line: the caller's own rule applies.
        assert_eq!(default_name(&t("plain words")), None);
        assert_eq!(
            default_name(&Target::Command("/bin/sleep".into(), vec!["1".into()])),
            None
        );
    }
}
