//! `pmx scale <name> <N|+N|-N>` (PM2's `pm2 scale`): the app runs N instances, N more or
//! N fewer; instance numbers stay 0..N-1 (growing starts the next numbers under new ids,
//! shrinking stops the highest). Prints the app's rows.

use pmx::Home;
use pmx_protocol::{Request, ScaleRequest};

use crate::cli::{rows_cmd, Failure, ScaleArgs};

/// What a count asks: `(Some(n), None)` (the new count) or `(None, Some(d))` (a delta).
pub type Count = (Option<u32>, Option<i64>);

/// What `count` asks: `(Some(n), None)` for `4`, `(None, Some(d))` for `+2` or `-1`.
///
/// Errors (exit 2): anything but an integer with an optional sign, naming what was given.
pub fn parse_count(count: &str) -> Result<Count, Failure> {
    let bad = || {
        Failure::usage(format!(
            "scale: {count:?} is not a count: expected N (the new count), +N or -N"
        ))
    };
    let digits = count.trim_start_matches(['+', '-']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if count.starts_with(['+', '-']) {
        count
            .parse::<i64>()
            .map(|d| (None, Some(d)))
            .map_err(|_| bad())
    } else {
        count
            .parse::<u32>()
            .map(|n| (Some(n), None))
            .map_err(|_| bad())
    }
}

/// `pmx scale`.
pub fn run(home: &Home, a: ScaleArgs) -> Result<(), Failure> {
    let (instances, delta) = parse_count(&a.count)?;
    let req = ScaleRequest {
        name: a.name,
        instances,
        delta,
    };
    rows_cmd(home, Request::Scale(req), a.silent)
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn a_count_is_absolute_or_signed() {
        let cases: [(&str, Option<super::Count>); 10] = [
            ("4", Some((Some(4), None))),
            ("0", Some((Some(0), None))),
            ("+2", Some((None, Some(2)))),
            ("-1", Some((None, Some(-1)))),
            ("+0", Some((None, Some(0)))),
            ("", None),
            ("x", None),
            ("2.5", None),
            ("+-1", None),
            ("99999999999", None),
        ];
        for (count, want) in cases {
            assert_eq!(parse_count(count).ok(), want, "{count:?}");
        }
    }
}
