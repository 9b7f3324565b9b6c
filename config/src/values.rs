//! Pure parsers and checks for single values: durations, sizes, signals, dotenv files,
//! names, date formats, cron patterns, listen addresses, and "did you mean" suggestions.
//! Errors are messages without a position; the walk over the file adds it.

/// Parses a duration to milliseconds: `"250ms"`, `"2s"`, `"1m"`, `"1h"`, `"1d"`, or plain
/// digits (milliseconds). A decimal number is allowed before a unit (`"1.5s"` = 1500 ms);
/// the unit is case-insensitive and may follow a space.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid duration \"{s}\": expected a number of ms or a number with a unit ms, s, m, h or d (\"250ms\", \"2s\")")
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim_start().to_ascii_lowercase();
    let mult: u64 = match unit.as_str() {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    scale(num, mult).ok_or_else(bad)
}

/// The longest an app's timer may be set to, in ms: one day. `kill_timeout`,
/// `listen_timeout`, `watch_delay`, `restart.delay`, `restart.backoff`,
/// `restart.min_uptime` and `intensity.within` each arm a timer or bound a wait of the
/// daemon; past a day a wait is indistinguishable from a hang (`pmx stop` on an app that
/// ignores its signal would block for as long), and near `u64::MAX` ms `now + delay`
/// overflows an `Instant`. Log rotation's `interval` is not such a wait and is not bound.
pub const MAX_DURATION_MS: u64 = 86_400_000;

/// `ms` if it is at most [`MAX_DURATION_MS`]; otherwise an error naming `field`
/// (`kill_timeout: 18446744073709551615ms is more than the maximum of 1 day (86400000ms)`).
pub fn check_duration(field: &str, ms: u64) -> Result<u64, String> {
    if ms > MAX_DURATION_MS {
        return Err(format!(
            "{field}: {ms}ms is more than the maximum of 1 day ({MAX_DURATION_MS}ms)"
        ));
    }
    Ok(ms)
}

/// Parses a size to bytes: `"300M"`, `"1G"`, `"512K"`, `"1.5G"`, `"10MB"`, `"2KiB"` —
/// binary units (K = 1024), `B` optional, any case — or plain digits (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid size \"{s}\": expected bytes or a number with a unit K, M, G or T (\"300M\", \"1.5G\")")
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad()),
    };
    scale(num, mult).ok_or_else(bad)
}

/// `num` (digits, optionally with one `.`) times `mult`, rounded down; `None` when not a
/// number or when it overflows.
fn scale(num: &str, mult: u64) -> Option<u64> {
    if num.is_empty() || num == "." {
        return None;
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.contains('.') {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut total = int.checked_mul(mult)?;
    // The fraction in integer arithmetic, so "1.5G" is exact.
    let mut unit = mult;
    for d in frac.chars() {
        let d = u64::from(d.to_digit(10)?);
        total = total.checked_add(d.checked_mul(unit)? / 10)?;
        unit /= 10;
        if unit == 0 {
            break;
        }
    }
    Some(total)
}

/// Linux signal names pmx knows, canonical spelling without the `SIG` prefix.
pub const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// An instance count as PM2's `-i` spells it: `N` (> 0), `max` or `0` (every CPU), `-k`
/// (every CPU but k). Errors say what was expected.
pub fn parse_instances(s: &str) -> Result<crate::Instances, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("max") {
        return Ok(crate::Instances::Max);
    }
    match s.parse::<i64>() {
        Ok(0) => Ok(crate::Instances::Max),
        Ok(n) if n > 0 => u32::try_from(n)
            .map(crate::Instances::Count)
            .map_err(|_| format!("{s} instances is too many")),
        Ok(n) => u32::try_from(-n)
            .map(crate::Instances::MaxMinus)
            .map_err(|_| format!("{s} is out of range")),
        Err(_) => Err(format!(
            "expected a number, \"max\" or -k (every CPU but k), found {s:?}"
        )),
    }
}

/// Parses a signal name to its canonical form (`"SIGINT"`): accepts `"INT"`, `"SIGINT"`,
/// `"sigint"`; aliases map to their Linux name (`IOT` → `SIGABRT`, `POLL` → `SIGIO`,
/// `CLD` → `SIGCHLD`). Only Linux signal names (no numbers, no real-time signals).
pub fn parse_signal(s: &str) -> Result<String, String> {
    let up = s.trim().to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    let bare = match bare {
        "IOT" => "ABRT",
        "POLL" => "IO",
        "CLD" => "CHLD",
        b => b,
    };
    if SIGNALS.contains(&bare) {
        return Ok(format!("SIG{bare}"));
    }
    let names: Vec<String> = SIGNALS.iter().map(|n| format!("SIG{n}")).collect();
    let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
    let guess = format!("SIG{bare}");
    Err(match suggest(&guess, &candidates) {
        Some(m) => format!("unknown signal \"{s}\", did you mean \"{m}\"?"),
        None => format!("unknown signal \"{s}\": expected a name such as \"SIGINT\" or \"TERM\""),
    })
}

/// Parses a dotenv file: `KEY=value` lines, blank lines and `#` comments skipped, an
/// optional `export ` prefix, whitespace around key and value trimmed, one pair of
/// surrounding quotes (`"…"` or `'…'`) removed; in an unquoted value ` #` starts a comment.
/// The error names the 1-based line number (`line 3: expected KEY=value`).
pub fn parse_dotenv(src: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {n}: expected KEY=value, found \"{line}\""));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(format!("line {n}: invalid variable name \"{key}\""));
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => match value[1..].rfind(q) {
                Some(end) => &value[1..1 + end],
                None => {
                    return Err(format!(
                        "line {n}: unterminated quote in the value of {key}"
                    ))
                }
            },
            _ => value.split_once(" #").map_or(value, |(v, _)| v.trim_end()),
        };
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Checks an app (or group, or namespace) name against SPEC §3 "Names": not empty, no
/// `/`, no control characters (newline included), at most 128 bytes, not all digits (that
/// reads as an id), not `all`. Spaces and any Unicode letter are fine.
pub fn validate_name(name: &str) -> Result<(), String> {
    let shown = name.escape_debug();
    if name.is_empty() {
        Err("invalid name \"\": a name must not be empty".into())
    } else if name.contains('/') {
        Err(format!(
            "invalid name \"{shown}\": a name must not contain \"/\""
        ))
    } else if name.chars().any(char::is_control) {
        Err(format!(
            "invalid name \"{shown}\": a name must not contain control characters"
        ))
    } else if name.len() > 128 {
        Err(format!(
            "invalid name \"{shown}\": a name is at most 128 bytes, this one is {}",
            name.len()
        ))
    } else if name.chars().all(|c| c.is_ascii_digit()) {
        Err(format!(
            "invalid name \"{shown}\": a name must not be all digits (that reads as an id)"
        ))
    } else if name == "all" {
        Err("invalid name \"all\": \"all\" means every app".into())
    } else if name.starts_with('-') {
        // A target starting with `-` reads as an option on the command line.
        Err(format!(
            "invalid name \"{shown}\": a name must not start with \"-\" (it would read as an option)"
        ))
    } else {
        Ok(())
    }
}

/// moment.js tokens and their strftime (chrono) equivalents, longest first.
const MOMENT_TOKENS: &[(&str, &str)] = &[
    ("YYYY", "%Y"),
    ("MMMM", "%B"),
    ("dddd", "%A"),
    ("SSS", "%3f"),
    ("MMM", "%b"),
    ("ddd", "%a"),
    ("DDDD", "%j"),
    ("YY", "%y"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("Do", "%-d"),
    ("HH", "%H"),
    ("hh", "%I"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("ZZ", "%z"),
    ("M", "%-m"),
    ("D", "%-d"),
    ("H", "%-H"),
    ("h", "%-I"),
    ("m", "%-M"),
    ("s", "%-S"),
    ("A", "%p"),
    ("a", "%P"),
    ("Z", "%:z"),
    ("X", "%s"),
];

/// When `fmt` looks like a moment.js format (as PM2's `log_date_format` takes it: no `%`
/// and at least one of `YYYY YY MM DD HH hh mm ss`), returns its strftime equivalent
/// (`"YYYY-MM-DD HH:mm"` → `"%Y-%m-%d %H:%M"`); text in `[brackets]` is kept literally.
pub fn moment_to_strftime(fmt: &str) -> Option<String> {
    if fmt.contains('%')
        || !["YYYY", "YY", "MM", "DD", "HH", "hh", "mm", "ss"]
            .iter()
            .any(|t| fmt.contains(t))
    {
        return None;
    }
    let mut out = String::new();
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            if let Some(end) = rest.find(']') {
                out.push_str(&rest[1..end]);
                rest = &rest[end + 1..];
                continue;
            }
        }
        if let Some((tok, rep)) = MOMENT_TOKENS.iter().find(|(t, _)| rest.starts_with(t)) {
            out.push_str(rep);
            rest = &rest[tok.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Some(out)
}

/// Checks a strftime format (`logs.date_format`, chrono's dialect). A moment.js format is an
/// error that shows the strftime equivalent.
pub fn validate_date_format(fmt: &str) -> Result<(), String> {
    if fmt.is_empty() {
        return Err("date_format must not be empty".into());
    }
    if let Some(equiv) = moment_to_strftime(fmt) {
        return Err(format!(
            "date_format \"{fmt}\" is a moment.js format; pmx uses strftime: \"{equiv}\""
        ));
    }
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "invalid strftime format \"{fmt}\" (for example \"%Y-%m-%d %H:%M:%S\")"
        ));
    }
    Ok(())
}

/// Checks a cron pattern: 5 fields (`min hour dom month dow`), or 6 with seconds first;
/// names (`MON`, `JAN`) and `@daily`-style nicknames allowed. Parsed by the `croner` crate,
/// the one the cron actor schedules with.
pub fn validate_cron(pattern: &str) -> Result<(), String> {
    let n = pattern.split_whitespace().count();
    if !(pattern.trim_start().starts_with('@') || n == 5 || n == 6) {
        return Err(format!(
            "invalid cron pattern \"{pattern}\": expected 5 fields (minute hour day month weekday), or 6 with seconds first; found {n}"
        ));
    }
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build();
    parser.parse(pattern).map(|_| ()).map_err(|e| {
        let why = e.to_string();
        let why = why.trim_end_matches('.');
        let why = why
            .strip_prefix("Component error: ")
            .or_else(|| why.strip_prefix("Invalid pattern: "))
            .unwrap_or(why);
        let mut c = why.chars();
        let why = match c.next() {
            Some(f) => f.to_lowercase().chain(c).collect(),
            None => String::new(),
        };
        format!("invalid cron pattern \"{pattern}\": {why}")
    })
}

/// Checks `cron_timezone`: an IANA zone name (`Europe/Paris`, `Asia/Tokyo`, `UTC`), as
/// the `chrono-tz` crate knows them (the tz database compiled in: no file read at run
/// time, the same answer on every host).
pub fn validate_timezone(zone: &str) -> Result<(), String> {
    parse_timezone(zone).map(|_| ())
}

/// `zone` as a `chrono_tz::Tz`, for the cron timer.
///
/// Errors: not an IANA zone name (with a "did you mean" when one is close).
pub fn parse_timezone(zone: &str) -> Result<chrono_tz::Tz, String> {
    zone.parse::<chrono_tz::Tz>().map_err(|_| {
        format!("unknown time zone \"{zone}\": expected an IANA zone name (Europe/Paris, Asia/Tokyo, UTC)")
    })
}

/// `max_memory_restart` in bytes: more than 0. A limit of 0 would restart the app at every
/// check, for ever (PM2 takes it so: `0 < memory` holds for any running process).
///
/// Errors: one line saying what to give instead.
pub fn check_memory_limit(bytes: u64) -> Result<u64, String> {
    if bytes == 0 {
        return Err("a memory limit of 0 would restart the app at every check: give a size over 0 (\"300M\"), or leave max_memory_restart out for no limit".into());
    }
    Ok(bytes)
}

/// Checks a `listen` address: `tcp://host:port` (host a name, an IPv4 address or a
/// bracketed IPv6 address; port 1–65535) or `unix:/absolute/path`.
///
/// Errors: one line naming the part that is wrong (the port before the host).
pub fn validate_listen(addr: &str) -> Result<(), String> {
    let bad = |why: &str| format!("invalid listen address \"{addr}\": {why}");
    if let Some(path) = addr.strip_prefix("unix:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        return if path.starts_with('/') {
            Ok(())
        } else {
            Err(bad("expected unix:/absolute/path"))
        };
    }
    let Some(rest) = addr.strip_prefix("tcp://") else {
        return Err(bad("expected tcp://host:port or unix:/path"));
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(bad("expected tcp://host:port"));
    };
    // The port first: in `tcp://:80x` the port is what is wrong, whatever the host.
    if !port.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err(bad("the port must be a number from 1 to 65535"));
    }
    if host.is_empty() {
        return Err(bad(
            "a host is needed: 0.0.0.0 for every IPv4 address, [::] for every address, 127.0.0.1 for this machine only",
        ));
    }
    let host_ok = if let Some(h) = host.strip_prefix('[') {
        h.strip_suffix(']')
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    if !host_ok {
        return Err(bad("invalid host"));
    }
    Ok(())
}

/// The candidate nearest to `word` when it is near enough to be a typo of it (an edit
/// distance of at most a third of its length, at least 1), or one that starts the same way.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let best = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .min_by_key(|(d, _)| *d)?;
    // One edit in a name of one or two letters makes any other short name "near".
    let len = best.1.chars().count();
    let limit = if len < 3 { 0 } else { (len / 3).max(1) };
    if best.0 <= limit {
        return Some(best.1);
    }
    let lower = word.to_lowercase();
    candidates
        .iter()
        .find(|c| lower.len() >= 4 && (c.starts_with(&lower) || lower.starts_with(**c)))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("250ms", 250),
            ("2s", 2_000),
            ("1m", 60_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("1500", 1_500),
            ("0", 0),
            ("0ms", 0),
            ("1.5s", 1_500),
            ("2 S", 2_000),
            ("30MS", 30),
        ];
        for (s, want) in ok {
            assert_eq!(parse_duration(s), Ok(want), "{s}");
        }
        for s in [
            "",
            "s",
            "2x",
            "-1s",
            "1.2.3s",
            "2 seconds",
            "99999999999999999999",
            "1e3",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        assert_eq!(
            parse_duration("2x"),
            Err("invalid duration \"2x\": expected a number of ms or a number with a unit ms, s, m, h or d (\"250ms\", \"2s\")".into())
        );
    }

    #[test]
    fn sizes() {
        let ok = [
            ("300M", 300 << 20),
            ("1G", 1 << 30),
            ("512K", 512 << 10),
            ("1.5G", 3 << 29),
            ("300mb", 300 << 20),
            ("2KiB", 2048),
            ("1t", 1 << 40),
            ("1024", 1024),
            ("10B", 10),
            ("10 MB", 10 << 20),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for s in ["", "M", "3X", "-1M", "1.5.5G", "99999999999T"] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }

    #[test]
    fn signals() {
        for (s, want) in [
            ("INT", "SIGINT"),
            ("SIGTERM", "SIGTERM"),
            ("sigusr2", "SIGUSR2"),
            ("hup", "SIGHUP"),
            ("IOT", "SIGABRT"),
        ] {
            assert_eq!(parse_signal(s).as_deref(), Ok(want), "{s}");
        }
        assert_eq!(
            parse_signal("SIGTREM"),
            Err("unknown signal \"SIGTREM\", did you mean \"SIGTERM\"?".into())
        );
        assert_eq!(
            parse_signal("9"),
            Err("unknown signal \"9\": expected a name such as \"SIGINT\" or \"TERM\"".into())
        );
        assert!(parse_signal("SIGRTMIN").is_err());
    }

    #[test]
    fn dotenv() {
        let src = "# comment\n\nA=1\nexport B = two words \nC=\"quoted # not a comment\"\nD='single'\nE=x # comment\nF=\nG=a=b\n";
        let got = parse_dotenv(src).unwrap();
        let want: Vec<(String, String)> = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "quoted # not a comment"),
            ("D", "single"),
            ("E", "x"),
            ("F", ""),
            ("G", "a=b"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(
            parse_dotenv("A=1\nnot a pair\n"),
            Err("line 2: expected KEY=value, found \"not a pair\"".into())
        );
        assert_eq!(
            parse_dotenv("=1"),
            Err("line 1: invalid variable name \"\"".into())
        );
        assert_eq!(
            parse_dotenv("A=\"open"),
            Err("line 1: unterminated quote in the value of A".into())
        );
    }

    #[test]
    fn names() {
        for ok in [
            "api",
            "my app",
            "café",
            "服务",
            "a-1",
            "12a",
            "All",
            &"x".repeat(128),
        ] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "a\nb",
            "tab\there",
            "123",
            "all",
            &"é".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            validate_name("a\nb"),
            Err("invalid name \"a\\nb\": a name must not contain control characters".into())
        );
    }

    #[test]
    fn moment_formats() {
        let cases = [
            ("YYYY-MM-DD HH:mm", Some("%Y-%m-%d %H:%M")),
            (
                "YYYY-MM-DD HH:mm:ss.SSS Z",
                Some("%Y-%m-%d %H:%M:%S.%3f %:z"),
            ),
            ("DD/MM/YY hh:mm A", Some("%d/%m/%y %I:%M %p")),
            ("YYYY-MM-DD[T]HH:mm", Some("%Y-%m-%dT%H:%M")),
            ("%Y-%m-%d", None),
            ("plain", None),
        ];
        for (m, want) in cases {
            assert_eq!(moment_to_strftime(m).as_deref(), want, "{m}");
        }
    }

    #[test]
    fn date_formats() {
        assert_eq!(validate_date_format("%Y-%m-%dT%H:%M:%S"), Ok(()));
        assert_eq!(validate_date_format("%d/%m %H:%M:%S%.3f"), Ok(()));
        assert_eq!(
            validate_date_format("YYYY-MM-DD HH:mm"),
            Err("date_format \"YYYY-MM-DD HH:mm\" is a moment.js format; pmx uses strftime: \"%Y-%m-%d %H:%M\"".into())
        );
        assert!(validate_date_format("%Q").is_err());
        assert!(validate_date_format("").is_err());
    }

    #[test]
    fn time_zones() {
        for ok in [
            "UTC",
            "Asia/Tokyo",
            "Europe/Paris",
            "America/New_York",
            "Etc/GMT+3",
        ] {
            assert_eq!(validate_timezone(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Mars/Olympus", "asia/tokyo ", "+09:00", "Local"] {
            assert!(validate_timezone(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_timezone("Mars/Olympus"),
            Err("unknown time zone \"Mars/Olympus\": expected an IANA zone name (Europe/Paris, Asia/Tokyo, UTC)".into())
        );
    }

    #[test]
    fn cron_patterns() {
        for ok in [
            "0 3 * * *",
            "*/5 * * * *",
            "30 0 3 * * *",
            "0 0 * * MON-FRI",
            "0 0 1 JAN *",
            "@daily",
        ] {
            assert_eq!(validate_cron(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "* * * *",
            "0 0 0 0 0 0 0",
            "61 * * * *",
            "x * * * *",
            "0 25 * * *",
        ] {
            assert!(validate_cron(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_cron("* * * *"),
            Err("invalid cron pattern \"* * * *\": expected 5 fields (minute hour day month weekday), or 6 with seconds first; found 4".into())
        );
    }

    #[test]
    fn listen_addresses() {
        for ok in [
            "tcp://0.0.0.0:3000",
            "tcp://localhost:80",
            "tcp://[::1]:8080",
            "unix:/run/app.sock",
            "unix:///run/a.sock",
        ] {
            assert_eq!(validate_listen(ok), Ok(()), "{ok}");
        }
        for bad in [
            "0.0.0.0:3000",
            "tcp://:3000",
            "tcp://host",
            "tcp://host:0",
            "tcp://host:70000",
            "unix:rel.sock",
            "tcp://[zz]:1",
        ] {
            assert!(validate_listen(bad).is_err(), "{bad}");
        }
        // The message names what is wrong: the port before the host.
        for (bad, says) in [
            ("tcp://:80x", "the port must be"),
            ("tcp://:3000", "a host is needed"),
            ("tcp://h st:1", "invalid host"),
        ] {
            let e = validate_listen(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn suggestions() {
        let fields = [
            "name",
            "script",
            "instances",
            "instance_var",
            "interpreter",
            "kill_timeout",
        ];
        assert_eq!(suggest("instanses", &fields), Some("instances"));
        assert_eq!(suggest("scirpt", &fields), Some("script"));
        assert_eq!(suggest("kill_timout", &fields), Some("kill_timeout"));
        assert_eq!(suggest("zzz", &fields), None);
    }
}
