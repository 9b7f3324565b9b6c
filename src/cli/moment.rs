//! PM2's date formats (`--log-date-format`, `log_date_format`: moment.js's tokens) turned
//! into the strftime (chrono) formats pmx writes its `time` prefixes with.
//!
//! PM2 7 formats them with dayjs, whose tokens are moment's common ones: `YYYY YY`,
//! `MMMM MMM MM M`, `DD D`, `dddd ddd d`, `HH H hh h`, `mm m`, `ss s`, `SSS`, `A a`,
//! `ZZ Z`, and `[text]` kept as text. They are read here exactly as dayjs reads them (its
//! token pattern, left to right), so a converted format writes what PM2 wrote; every
//! other character is text, as in PM2 (`Do` is `D` then `o`). A token dayjs reads that
//! strftime cannot write (`dd`, two-letter weekdays; `Y` and `YYY`, which dayjs turns into
//! the UTC offset) is an error naming it, never a silently different prefix.

use super::Failure;

/// dayjs's tokens, in the order its pattern tries them, with their strftime forms
/// (None: none). A run of one letter is matched longest first (`Y{1,4}`, `d{1,4}`, …).
const TOKENS: &[(&str, Option<&str>)] = &[
    ("YYYY", Some("%Y")),
    ("YYY", None),
    ("YY", Some("%y")),
    ("Y", None),
    ("MMMM", Some("%B")),
    ("MMM", Some("%b")),
    ("MM", Some("%m")),
    ("M", Some("%-m")),
    ("DD", Some("%d")),
    ("D", Some("%-d")),
    ("dddd", Some("%A")),
    ("ddd", Some("%a")),
    ("dd", None),
    ("d", Some("%w")),
    ("HH", Some("%H")),
    ("H", Some("%-H")),
    ("hh", Some("%I")),
    ("h", Some("%-I")),
    ("a", Some("%P")),
    ("A", Some("%p")),
    ("mm", Some("%M")),
    ("m", Some("%-M")),
    ("ss", Some("%S")),
    ("s", Some("%-S")),
    ("ZZ", Some("%z")),
    ("Z", Some("%:z")),
    ("SSS", Some("%3f")),
];

/// The strftime form of PM2's date format `fmt` (`"YYYY-MM-DD HH:mm:ss Z"` →
/// `"%Y-%m-%d %H:%M:%S %:z"`).
///
/// Errors: a token with no strftime equivalent, named (`date token "dd" (in "dd HH")
/// has no strftime equivalent; …`).
pub fn to_strftime(fmt: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        // `\[([^\]]+)]`: text in brackets, at least one character.
        if c == '[' {
            if let Some(end) = rest[1..].find(']').filter(|e| *e > 0) {
                push_text(&mut out, &rest[1..1 + end]);
                rest = &rest[end + 2..];
                continue;
            }
        }
        if let Some((tok, form)) = TOKENS.iter().find(|(t, _)| rest.starts_with(t)) {
            let form = form.ok_or_else(|| {
                format!(
                    "date token \"{tok}\" (in \"{fmt}\") has no strftime equivalent; write the format in strftime (%Y-%m-%d %H:%M:%S)"
                )
            })?;
            out.push_str(form);
            rest = &rest[tok.len()..];
            continue;
        }
        push_text(&mut out, &c.to_string());
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// `text` as strftime text: `%` doubled.
fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
    }
}

/// A date format given on the command line (`flag`: `--log-date-format`): a strftime
/// format (it holds `%`) as is; otherwise PM2's (moment.js tokens), converted, with a
/// note on stderr saying what it became (printed once: the flag is read once per command).
///
/// Errors (exit 2): a token strftime cannot write.
pub fn date_format_flag(flag: &str, fmt: &str) -> Result<String, Failure> {
    if fmt.contains('%') {
        return Ok(fmt.to_string());
    }
    let s = to_strftime(fmt).map_err(|e| Failure::usage(format!("{flag}: {e}")))?;
    if s != fmt {
        eprintln!(
            "pmx: note: {flag} {fmt:?} read as PM2's moment.js format; pmx writes it as strftime {s:?}"
        );
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each case was checked against PM2 7's dayjs: its output for 2026-03-05 07:08:09.123
    // is what chrono writes with the strftime form.
    #[test]
    fn pm2_date_tokens_become_strftime() {
        let cases = [
            ("YYYY-MM-DD HH:mm:ss Z", "%Y-%m-%d %H:%M:%S %:z"),
            ("YYYY-MM-DD HH:mm:ss.SSS ZZ", "%Y-%m-%d %H:%M:%S.%3f %z"),
            ("YY M D H h m s", "%y %-m %-d %-H %-I %-M %-S"),
            ("DD/MM/YY hh:mm A", "%d/%m/%y %I:%M %p"),
            ("hh:mm a", "%I:%M %P"),
            ("YYYY-MM-DDTHH:mm:ss", "%Y-%m-%dT%H:%M:%S"),
            ("YYYY-MM-DD[T]HH:mm", "%Y-%m-%dT%H:%M"),
            ("[at] HH:mm [o'clock]", "at %H:%M o'clock"),
            ("[100%] YYYY", "100%% %Y"),
            ("MMMM MMM dddd ddd d", "%B %b %A %a %w"),
            // Not dayjs tokens: text, as PM2 writes them.
            ("Do Q kk X x LT", "%-do Q kk X x LT"),
            ("plain", "pl%Pin"),
            ("DDDD", "%d%d"),
            ("SSSS", "%3fS"),
            ("[]", "[]"),
        ];
        for (m, want) in cases {
            let got = to_strftime(m).unwrap_or_else(|e| panic!("{m}: {e}"));
            assert_eq!(got, want, "{m}");
            use chrono::format::{Item, StrftimeItems};
            assert!(
                !StrftimeItems::new(&got).any(|i| matches!(i, Item::Error)),
                "{m} → {got} is valid strftime"
            );
        }
    }

    #[test]
    fn tokens_without_a_strftime_form_are_named() {
        for (m, tok) in [
            ("dd HH", "dd"),
            ("Y", "Y"),
            ("YYY-MM", "YYY"),
            ("YYYYY", "Y"),
        ] {
            let e = to_strftime(m).expect_err(m);
            assert!(
                e.starts_with(&format!("date token \"{tok}\" (in \"{m}\")")),
                "{m}: {e}"
            );
        }
    }

    #[test]
    fn a_strftime_flag_is_kept_and_a_pm2_one_converted() {
        assert_eq!(
            date_format_flag("--log-date-format", "%H:%M").ok(),
            Some("%H:%M".to_string())
        );
        assert_eq!(
            date_format_flag("--log-date-format", "HH:mm").ok(),
            Some("%H:%M".to_string())
        );
        let e = date_format_flag("--log-date-format", "dd").expect_err("two-letter weekday");
        assert_eq!(e.code, 2);
        assert!(e
            .message
            .starts_with("--log-date-format: date token \"dd\""));
    }
}
