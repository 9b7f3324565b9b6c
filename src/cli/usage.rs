//! Usage errors in pmx's words rather than argh's: a mistyped verb or option gets "did you
//! mean" (with the distance the ecosystem file's errors use, `pmx_config::suggest`), and a
//! bad number names its option and what it expected. The verbs and their options are read
//! from the argh types themselves (`ArgsInfo`), so this never drifts from what parses.

use argh::{ArgsInfo, CommandInfoWithArgs, FlagInfoKind};

use super::args::{Pmx, VERB_ALIASES};
use super::Failure;

/// argh's help triggers, on the top level and on every verb.
const HELP: &[&str] = &["-h", "--help"];

/// Check `words` (after alias rewriting, without the app's arguments after `--`) against
/// the verbs and each verb's options, before argh parses them.
///
/// Errors (exit 2, one line): an unknown verb (`unknown command "strat", did you mean
/// "start"?`), an unknown option (`unknown option "--nmae" for pmx start, did you mean
/// "--name"?`), an option given without its value. Anything else (help, missing
/// positionals, bad values) is left to argh and [`reword`].
pub fn check(words: &[String]) -> Result<(), Failure> {
    let top = Pmx::get_args_info();
    let mut rest = words.iter();
    let verb = loop {
        let Some(w) = rest.next() else {
            return Ok(());
        };
        if HELP.contains(&w.as_str()) {
            return Ok(());
        }
        if w.starts_with('-') {
            // The top level has switches only (`-v`).
            if find_flag(&top, w).is_none() {
                return Err(unknown_option(&top, w, "pmx"));
            }
            continue;
        }
        break w;
    };
    let Some(sub) = top.commands.iter().find(|c| c.name == verb) else {
        let mut names: Vec<&str> = top.commands.iter().map(|c| c.name).collect();
        names.extend(VERB_ALIASES.iter().map(|(alias, _)| *alias));
        return Err(Failure::usage(match pmx_config::suggest(verb, &names) {
            Some(s) => format!("unknown command \"{verb}\", did you mean \"{s}\"?"),
            None => format!("unknown command \"{verb}\"; `pmx --help` lists the commands"),
        }));
    };
    let cmd = &sub.command;
    let shown = format!("pmx {}", sub.name);
    while let Some(w) = rest.next() {
        if HELP.contains(&w.as_str()) {
            // argh prints the verb's help (or says what may not follow it).
            return Ok(());
        }
        if !w.starts_with('-') {
            continue;
        }
        match find_flag(cmd, w) {
            None => return Err(unknown_option(cmd, w, &shown)),
            Some(FlagInfoKind::Option { .. }) => {
                // The next word is the value, whatever it looks like (`--name -x` is a
                // name, refused as a name; `-i -1` is an instance count).
                if rest.next().is_none() {
                    return Err(Failure::usage(format!("{w} of {shown} needs a value")));
                }
            }
            Some(FlagInfoKind::Switch) => {}
        }
    }
    Ok(())
}

/// The kind of `cmd`'s option spelled `word` (`--name` or `-n`), if it has one.
fn find_flag<'a>(cmd: &'a CommandInfoWithArgs, word: &str) -> Option<&'a FlagInfoKind<'static>> {
    let short = word
        .strip_prefix('-')
        .filter(|s| !s.starts_with('-'))
        .and_then(|s| {
            let mut chars = s.chars();
            chars.next().filter(|_| chars.next().is_none())
        });
    cmd.flags
        .iter()
        .find(|f| f.long == word || (short.is_some() && f.short == short))
        .map(|f| &f.kind)
}

/// `unknown option "--nmae" for pmx start, did you mean "--name"?`
fn unknown_option(cmd: &CommandInfoWithArgs, word: &str, shown: &str) -> Failure {
    let longs: Vec<&str> = cmd
        .flags
        .iter()
        .map(|f| f.long)
        .filter(|l| !HELP.contains(l))
        .collect();
    Failure::usage(match pmx_config::suggest(word, &longs) {
        Some(s) => format!("unknown option \"{word}\" for {shown}, did you mean \"{s}\"?"),
        None => format!("unknown option \"{word}\" for {shown}; `{shown} --help` lists them"),
    })
}

/// argh's own error text (`output` of its `EarlyExit`) as one line in pmx's words: a bad
/// value (`Error parsing option '--kill-timeout' with value '5s': expected …`) becomes
/// `--kill-timeout: expected …, got "5s"`; anything else is joined onto one line with a
/// pointer to `--help`.
pub fn reword(output: &str) -> String {
    for (prefix, is_option) in [
        ("Error parsing option '", true),
        ("Error parsing positional argument '", false),
    ] {
        let Some(rest) = output.strip_prefix(prefix) else {
            continue;
        };
        // The parse functions of args.rs all answer "expected …"; the value sits between.
        let Some((name, rest)) = rest.split_once("' with value '") else {
            continue;
        };
        let Some(at) = rest.rfind("': expected") else {
            continue;
        };
        let value = &rest[..at];
        let why = rest[at + 3..].trim_end();
        return if is_option {
            format!("{name}: {why}, got {value:?}")
        } else {
            format!("<{name}>: {why}, got {value:?}")
        };
    }
    // argh's message may span lines (the missing arguments below it).
    output.split_whitespace().collect::<Vec<_>>().join(" ") + "; `pmx --help` lists the commands"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn known_verbs_and_options_pass() {
        let ok: &[&[&str]] = &[
            &[],
            &["-v"],
            &["--help"],
            &["start", "a.js", "--name", "x", "-i", "-1", "--time", "-s"],
            &["start", "a.js", "--name", "-x"],
            &["start", "a.js", "-x", "--interpreter-args", "--harmony"],
            &["start", "--help", "--bogus"],
            &["logs", "--lines", "5", "--nostream"],
            &["list", "--json"],
            &["describe", "a", "-h"],
            &["import", "a.config.js", "-o", "-", "-f"],
        ];
        for w in ok {
            check(&words(w)).unwrap_or_else(|f| panic!("{w:?}: {}", f.message));
        }
    }

    #[test]
    fn mistakes_are_named_with_a_suggestion_when_one_is_near() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["strat", "app.js"],
                "unknown command \"strat\", did you mean \"start\"?",
            ),
            (
                &["lsit"],
                "unknown command \"lsit\", did you mean \"list\"?",
            ),
            (
                &["jlsit"],
                "unknown command \"jlsit\", did you mean \"jlist\"?",
            ),
            (
                &["startOrReloda", "e.ron"],
                "unknown command \"startOrReloda\", did you mean \"startOrReload\"?",
            ),
            (
                &["frobnicate"],
                "unknown command \"frobnicate\"; `pmx --help` lists the commands",
            ),
            (
                &["start", "app.js", "--nmae", "x"],
                "unknown option \"--nmae\" for pmx start, did you mean \"--name\"?",
            ),
            (
                &["start", "app.js", "--kill-timeuot", "5"],
                "unknown option \"--kill-timeuot\" for pmx start, did you mean \"--kill-timeout\"?",
            ),
            (
                &["logs", "--line", "5"],
                "unknown option \"--line\" for pmx logs, did you mean \"--lines\"?",
            ),
            (
                &["stop", "a", "--zzz"],
                "unknown option \"--zzz\" for pmx stop; `pmx stop --help` lists them",
            ),
            (
                &["--verison"],
                "unknown option \"--verison\" for pmx, did you mean \"--version\"?",
            ),
            (
                &["start", "a.js", "--kill-timeout"],
                "--kill-timeout of pmx start needs a value",
            ),
        ];
        for (w, want) in cases {
            let f = check(&words(w)).expect_err("a usage error");
            assert_eq!((f.code, f.message.as_str()), (2, *want), "{w:?}");
        }
    }

    #[test]
    fn argh_messages_are_reworded_on_one_line() {
        let cases = [
            (
                "Error parsing option '--kill-timeout' with value '5s': expected a whole number of milliseconds\n",
                "--kill-timeout: expected a whole number of milliseconds, got \"5s\"",
            ),
            (
                "Error parsing option '--lines' with value 'a': expected b': expected a whole number of lines\n",
                "--lines: expected a whole number of lines, got \"a': expected b\"",
            ),
            (
                "Required positional arguments not provided:\n    target\n",
                "Required positional arguments not provided: target; `pmx --help` lists the commands",
            ),
        ];
        for (argh, want) in cases {
            assert_eq!(reword(argh), want, "{argh:?}");
        }
    }
}
