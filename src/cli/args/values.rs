//! What the command line's words mean before and inside argh: PM2's alias verbs and
//! spellings (rewritten before parsing) and the option values (whole numbers, exit codes,
//! instance counts, sort keys), each refused with what it expected.

use super::{SortField, SortKey};

/// PM2's alias verbs and the verb each stands for.
pub const VERB_ALIASES: &[(&str, &str)] = &[
    ("ls", "list"),
    ("status", "list"),
    ("l", "list"),
    ("ps", "list"),
    ("show", "describe"),
    ("info", "describe"),
    ("del", "delete"),
    ("sendSignal", "signal"),
    ("dump", "save"),
];

/// PM2's spellings of `pmx start`'s options: `(PM2's, pmx's)`.
const START_FLAG_ALIASES: &[(&str, &str)] = &[
    ("--node-args", "--interpreter-args"),
    ("--cron", "--cron-restart"),
];

/// Rewrite PM2's alias verbs (and `start`'s alias options) to the ones argh knows, before
/// parsing.
pub fn rewrite_aliases(args: &mut [String]) {
    let Some(verb) = args.first().cloned() else {
        return;
    };
    if let Some((_, to)) = VERB_ALIASES.iter().find(|(from, _)| *from == verb) {
        args[0] = (*to).into();
    }
    // `restart`/`reload` take them too: they update a running app (PM2).
    if matches!(args[0].as_str(), "start" | "restart" | "reload") {
        for a in args.iter_mut().skip(1) {
            for (from, to) in START_FLAG_ALIASES {
                if a == from {
                    *a = (*to).into();
                } else if let Some(value) = a.strip_prefix(from).and_then(|r| r.strip_prefix('=')) {
                    // `--node-args="--harmony"` as a shell hands it over.
                    *a = format!("{to}={value}");
                }
            }
        }
    }
}

/// `list --sort`: `field[:asc|:desc]`, the field case-insensitive as in PM2.
pub(super) fn sort_key(s: &str) -> Result<SortKey, String> {
    let what = "expected name, id, pid, cpu, memory, uptime, restarts, status or namespace, with :asc or :desc after it if you like (memory:desc)";
    let (field, order) = s.split_once(':').unwrap_or((s, "asc"));
    let field = match field.to_ascii_lowercase().as_str() {
        "name" => SortField::Name,
        "id" => SortField::Id,
        "pid" => SortField::Pid,
        "cpu" => SortField::Cpu,
        "memory" | "mem" => SortField::Memory,
        "uptime" => SortField::Uptime,
        "restarts" | "restart" => SortField::Restarts,
        "status" => SortField::Status,
        "namespace" => SortField::Namespace,
        _ => return Err(what.into()),
    };
    let desc = match order.to_ascii_lowercase().as_str() {
        "asc" => false,
        "desc" => true,
        _ => return Err(what.into()),
    };
    Ok(SortKey { field, desc })
}

/// `--kill-timeout` and the other millisecond options: a whole number of ms. The message
/// is completed with the option and the value by [`crate::cli::usage::reword`].
pub(super) fn millis(s: &str) -> Result<u64, String> {
    whole(s, "a whole number of milliseconds", u64::MAX)
}

/// `--max-memory-restart`: a size as ecosystem.ron writes it (`300M`, `1G`, `512K`,
/// `1.5G`: binary units, `B` optional, any case) or bytes (SPEC §4), as PM2's flag takes.
/// 0 is refused (see `pmx_config::check_memory_limit`).
pub(super) fn size(s: &str) -> Result<u64, String> {
    pmx_config::parse_size(s).and_then(pmx_config::check_memory_limit)
}

/// `--cron-restart`: a cron pattern as `cron_restart` takes it (see
/// `pmx_config::validate_cron`), kept as given.
pub(super) fn cron(s: &str) -> Result<String, String> {
    pmx_config::validate_cron(s).map(|()| s.to_string())
}

/// `--max-restarts`: a whole number.
pub(super) fn whole_u32(s: &str) -> Result<u32, String> {
    let what = "a whole number";
    let n = whole(s, what, u32::MAX.into())?;
    u32::try_from(n).map_err(|_| format!("expected {what}"))
}

/// `pmx logs --lines`: a whole number of lines.
pub(super) fn line_count(s: &str) -> Result<usize, String> {
    let what = "a whole number of lines";
    let n = whole(s, what, u64::MAX)?;
    usize::try_from(n).map_err(|_| format!("expected {what}"))
}

/// `--stop-exit-codes`: exit codes 0 to 255 (what a process can exit with), comma-separated.
pub(super) fn exit_codes(s: &str) -> Result<Vec<i32>, String> {
    let what = "exit codes from 0 to 255, comma-separated (0,3)";
    s.split(',')
        .map(|c| {
            let n = whole(c.trim(), what, 255).map_err(|_| format!("expected {what}"))?;
            i32::try_from(n).map_err(|_| format!("expected {what}"))
        })
        .collect()
}

/// `-i`/`--instances`: as the ecosystem file's `instances` (`0` and `max`: one per CPU).
pub(super) fn instances(s: &str) -> Result<pmx_config::Instances, String> {
    pmx_config::parse_instances(s).map_err(|_| {
        format!(
            "expected a number up to {}, \"max\" or -k (every CPU but k)",
            u32::MAX
        )
    })
}

/// `s` as a whole number up to `max`, or `expected <what>` (with the largest value when
/// `s` is a number beyond it). Digits only: no sign, no spaces, no unit (`5s`).
pub(super) fn whole(s: &str, what: &str, max: u64) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected {what}"));
    }
    s.parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("expected {what} up to {max}"))
}
