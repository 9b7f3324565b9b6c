//! Usage errors in pmx's words rather than argh's: a mistyped verb or option gets "did you
//! mean" (with the distance the ecosystem file's errors use, `pmx_config::suggest`), and a
//! bad number names its option and what it expected. The verbs and their options are read
//! from the argh types themselves (`ArgsInfo`), so this never drifts from what parses.

use argh::{ArgsInfo, CommandInfoWithArgs, FlagInfo, FlagInfoKind, Optionality};

use super::args::{Pmx, VERB_ALIASES};
use super::Failure;

/// argh's help triggers, on the top level and on every verb.
const HELP: &[&str] = &["-h", "--help"];

/// Check `words` (after alias rewriting, without the app's arguments after `--`) against
/// the verbs and each verb's options and positionals, before argh parses them, and answer
/// them in the form argh parses: `--opt=value` split into two words (commander's form,
/// which PM2 accepts for every option taking a value), and an option or switch given
/// twice kept once, with its last value (as PM2 does; argh would refuse it).
///
/// Errors (exit 2, one line): an unknown verb (`unknown command "strat", did you mean
/// "start"?`), an unknown option (`unknown option "--nmae" for pmx start, did you mean
/// "--name"?`), an option given without its value, a value given to a switch
/// (`--silent=1`), a missing positional (``missing <target> for pmx restart: …; see `pmx
/// restart --help` ``) or an extra one. Anything else (help, bad values) is left to argh and
/// [`reword`].
pub fn check(words: &[String]) -> Result<Vec<String>, Failure> {
    let top = Pmx::get_args_info();
    let mut rest = words.iter();
    let mut head: Vec<String> = Vec::new();
    let verb = loop {
        let Some(w) = rest.next() else {
            return Ok(head);
        };
        head.push(w.clone());
        if HELP.contains(&w.as_str()) {
            return Ok(words.to_vec());
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
        names.push("help");
        return Err(Failure::usage(match pmx_config::suggest(verb, &names) {
            Some(s) => format!("unknown command \"{verb}\", did you mean \"{s}\"?"),
            None => format!("unknown command \"{verb}\"; `pmx --help` lists the commands"),
        }));
    };
    let cmd = &sub.command;
    let shown = format!("pmx {}", sub.name);
    // The verb's words in order; a flag is keyed by its long name so that a repeated one
    // can be dropped (PM2, through commander, keeps the last value).
    let mut items: Vec<(Option<&str>, Vec<String>)> = Vec::new();
    let mut positionals: Vec<&String> = Vec::new();
    while let Some(w) = rest.next() {
        if HELP.contains(&w.as_str()) {
            // argh prints the verb's help (or says what may not follow it).
            return Ok(words.to_vec());
        }
        // `-` alone is a positional (`pmx start -`: standard input), as in PM2, and so is a
        // negative number no option is spelled as (`pmx scale web -1`).
        if !w.starts_with('-') || w == "-" || is_negative_number(cmd, w) {
            positionals.push(w);
            items.push((None, vec![w.clone()]));
            continue;
        }
        // `--name=eq`: split at the first `=` when what precedes it is a long option.
        let (spelled, inline) = match w.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") && find_flag(cmd, flag).is_some() => {
                (flag, Some(value))
            }
            _ => (w.as_str(), None),
        };
        let Some(flag) = find(cmd, spelled) else {
            // `--nmae=x` is the option `--nmae` mistyped.
            let named = w.split_once('=').map_or(w.as_str(), |(f, _)| f);
            let named = if named.starts_with("--") { named } else { w };
            return Err(unknown_option(cmd, named, &shown));
        };
        let item = match (&flag.kind, inline) {
            (FlagInfoKind::Option { .. }, Some(value)) => vec![spelled.into(), value.into()],
            (FlagInfoKind::Option { .. }, None) => {
                // The next word is the value, whatever it looks like (`--name -x` is a
                // name, refused as a name; `-i -1` is an instance count).
                let Some(value) = rest.next() else {
                    return Err(Failure::usage(format!("{w} of {shown} needs a value")));
                };
                vec![spelled.into(), value.clone()]
            }
            (FlagInfoKind::Switch, Some(_)) => {
                return Err(Failure::usage(format!(
                    "{spelled} of {shown} is a switch and takes no value (got {w:?})"
                )));
            }
            (FlagInfoKind::Switch, None) => vec![spelled.into()],
        };
        let once = matches!(
            flag.optionality,
            Optionality::Optional | Optionality::Required
        );
        items.push((once.then_some(flag.long), item));
    }
    check_positionals(cmd, &shown, &positionals)?;
    // argh takes `-` for an option unless options have ended: when it is the last
    // positional, it goes last, after `--`.
    let last_positional = items.iter().rposition(|(key, item)| {
        key.is_none() && item.len() == 1 && (item[0] == "-" || !item[0].starts_with('-'))
    });
    let dash = last_positional.filter(|&i| items[i].1 == ["-"]);
    // A negative number is a positional only after `--` for argh: the options first,
    // then `--` and every positional in order.
    if dash.is_none() && positionals.iter().any(|p| is_negative_number(cmd, p)) {
        let (flags, plain): (Vec<_>, Vec<_>) =
            items.iter().enumerate().partition(|(_, (k, item))| {
                k.is_some() || item.len() != 1 || !positionals.contains(&&item[0])
            });
        for (i, (key, item)) in flags {
            let repeated_later = key.is_some() && items[i + 1..].iter().any(|(k, _)| k == key);
            if !repeated_later {
                head.extend(item.iter().cloned());
            }
        }
        head.push("--".to_string());
        head.extend(
            plain
                .into_iter()
                .flat_map(|(_, (_, item))| item.iter().cloned()),
        );
        return Ok(head);
    }
    for (i, (key, item)) in items.iter().enumerate() {
        let repeated_later = key.is_some() && items[i + 1..].iter().any(|(k, _)| k == key);
        if Some(i) == dash {
        } else if !repeated_later {
            head.extend(item.iter().cloned());
        }
    }
    if dash.is_some() {
        head.extend(["--".to_string(), "-".to_string()]);
    }
    Ok(head)
}

/// Whether `given` fits `cmd`'s positionals: none missing, none extra.
///
/// Errors (exit 2): ``missing <target> for pmx signal: a name, …; see `pmx signal --help` ``,
/// `unexpected argument "extra" for pmx startOrReload (it takes <file>); see …`.
fn check_positionals(
    cmd: &CommandInfoWithArgs,
    shown: &str,
    given: &[&String],
) -> Result<(), Failure> {
    let see = format!("see `{shown} --help`");
    if let Some(missing) = cmd
        .positionals
        .iter()
        .filter(|p| p.optionality == Optionality::Required)
        .nth(given.len())
    {
        return Err(Failure::usage(format!(
            "missing <{}> for {shown}: {}; {see}",
            missing.name, missing.description
        )));
    }
    let unbounded = cmd
        .positionals
        .iter()
        .any(|p| matches!(p.optionality, Optionality::Repeating | Optionality::Greedy));
    if let Some(extra) = given.get(cmd.positionals.len()).filter(|_| !unbounded) {
        let takes = cmd
            .positionals
            .iter()
            .map(|p| match p.optionality {
                Optionality::Required => format!("<{}>", p.name),
                _ => format!("[{}]", p.name),
            })
            .collect::<Vec<_>>();
        let takes = if takes.is_empty() {
            "it takes no arguments".to_string()
        } else {
            format!("it takes {}", takes.join(" "))
        };
        return Err(Failure::usage(format!(
            "unexpected argument {extra:?} for {shown} ({takes}); {see}"
        )));
    }
    Ok(())
}

/// Whether `word` is a negative integer (`-1`) that none of `cmd`'s options is spelled as.
fn is_negative_number(cmd: &CommandInfoWithArgs, word: &str) -> bool {
    word.strip_prefix('-')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        && find(cmd, word).is_none()
}

/// The kind of `cmd`'s option spelled `word` (`--name` or `-n`), if it has one.
fn find_flag<'a>(cmd: &'a CommandInfoWithArgs, word: &str) -> Option<&'a FlagInfoKind<'static>> {
    find(cmd, word).map(|f| &f.kind)
}

/// `cmd`'s option spelled `word` (`--name` or `-n`), if it has one.
fn find<'a>(cmd: &'a CommandInfoWithArgs, word: &str) -> Option<&'a FlagInfo<'static>> {
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
    fn a_negative_count_is_a_positional_after_the_options() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["scale", "web", "-1"], &["scale", "--", "web", "-1"]),
            (
                &["scale", "web", "-2", "-s"],
                &["scale", "-s", "--", "web", "-2"],
            ),
            (&["scale", "web", "+2"], &["scale", "web", "+2"]),
            (
                &["start", "a.js", "-i", "-1"],
                &["start", "a.js", "-i", "-1"],
            ),
        ];
        for (given, want) in cases {
            let got = check(&words(given)).unwrap_or_else(|f| panic!("{given:?}: {}", f.message));
            assert_eq!(got, words(want), "{given:?}");
            let refs: Vec<&str> = got.iter().map(String::as_str).collect();
            assert!(
                <Pmx as argh::FromArgs>::from_args(&["pmx"], &refs).is_ok(),
                "argh parses {got:?}"
            );
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
    fn equals_forms_are_split_and_a_repeated_option_keeps_its_last_value() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["start", "a.js", "--name=eq"],
                &["start", "a.js", "--name", "eq"],
            ),
            // The value may hold `=` and be empty; only the first `=` splits.
            (
                &["start", "a.js", "--interpreter-args=--x=1", "--namespace="],
                &[
                    "start",
                    "a.js",
                    "--interpreter-args",
                    "--x=1",
                    "--namespace",
                    "",
                ],
            ),
            // PM2 keeps the last value, whatever the spelling of each.
            (
                &["start", "a.js", "--name", "a", "-n", "b", "--name=c"],
                &["start", "a.js", "--name", "c"],
            ),
            (&["list", "--json", "--json"], &["list", "--json"]),
            // A value that looks like `--x=y` stays the option's value.
            (
                &["start", "a.js", "--interpreter-args", "--name=x"],
                &["start", "a.js", "--interpreter-args", "--name=x"],
            ),
            // Help is left to argh as given.
            (
                &["start", "--name=x", "--help"],
                &["start", "--name=x", "--help"],
            ),
            // `-` (standard input) is a positional: last, after `--`, so argh takes it so.
            (&["start", "-"], &["start", "--", "-"]),
            (&["start", "-", "-s"], &["start", "-s", "--", "-"]),
            (&["start", "-s", "-"], &["start", "-s", "--", "-"]),
            // The value of an option stays its value.
            (
                &["start", "a.js", "--name", "-"],
                &["start", "a.js", "--name", "-"],
            ),
        ];
        for (given, want) in cases {
            let got = check(&words(given)).unwrap_or_else(|f| panic!("{given:?}: {}", f.message));
            assert_eq!(got, words(want), "{given:?}");
        }
    }

    #[test]
    fn missing_and_extra_positionals_name_the_verb_and_its_help() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["restart"],
                "missing <target> for pmx restart: a name, an id, a group, a namespace or all; see `pmx restart --help`",
            ),
            (
                &["signal", "SIGUSR2"],
                "missing <target> for pmx signal: a name, an id, a group, a namespace or all; see `pmx signal --help`",
            ),
            (
                &["startOrReload", "-s"],
                "missing <file> for pmx startOrReload: the ecosystem file; see `pmx startOrReload --help`",
            ),
            (
                &["startOrReload", "f.ron", "extra"],
                "unexpected argument \"extra\" for pmx startOrReload (it takes <file>); see `pmx startOrReload --help`",
            ),
            (
                &["describe", "a", "b"],
                "unexpected argument \"b\" for pmx describe (it takes <target>); see `pmx describe --help`",
            ),
            (
                &["ping", "x"],
                "unexpected argument \"x\" for pmx ping (it takes no arguments); see `pmx ping --help`",
            ),
            (
                &["stop", "a", "--silent=yes"],
                "--silent of pmx stop is a switch and takes no value (got \"--silent=yes\")",
            ),
            (
                &["start", "a.js", "--nmae=x"],
                "unknown option \"--nmae\" for pmx start, did you mean \"--name\"?",
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
