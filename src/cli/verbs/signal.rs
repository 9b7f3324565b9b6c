//! `pmx signal <signal> <target>...`: send a signal to apps' main processes. Targets in
//! any form PM2 accepts (a `/regex/`, a script path, an app file), several in order: see
//! `cli::targets`.
//!
//! A process only just started may not have installed its handler yet: node, say, takes
//! some 50 ms to reach the app's `process.on('SIGUSR2', …)`, and a SIGUSR2 before that
//! kills it (the default action) instead of reaching the handler. So a signal whose
//! default action ends a process waits, for each targeted process younger than
//! [`BOOT_GRACE`], until the kernel says the process catches or ignores it
//! (`/proc/<pid>/status`: `SigCgt`, `SigIgn`) or the process is [`BOOT_GRACE`] old,
//! whichever comes first; an older process, or one that already handles it, gets it at
//! once. (PM2 has no such wait: its own CLI is slow enough that the app is ready.)

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use pmx::{Client, Home};
use pmx_protocol::{ProcessInfo, Request, Status};

use crate::cli::targets::{self, Action, Options};
use crate::cli::{Failure, SignalArgs};

/// How long after its start a process is taken to be still installing its handlers.
pub const BOOT_GRACE: Duration = Duration::from_secs(1);

/// How often a young process's handlers are looked at again while a signal waits.
const RECHECK: Duration = Duration::from_millis(10);

/// `pmx signal`.
pub fn run(home: &Home, a: SignalArgs) -> Result<(), Failure> {
    let opts = Options {
        silent: a.silent,
        ..Options::default()
    };
    // A target given twice is signalled once: PM2 scripts pass the ids a `grep pm_id:`
    // of `prettylist` finds, each process's id twice (pm2_env's and its own).
    let mut all = vec![a.target];
    for t in a.more {
        if !all.contains(&t) {
            all.push(t);
        }
    }
    if let Some(sig) = signal_of(&a.signal).filter(|s| ends_by_default(*s)) {
        for t in &all {
            wait_for_handlers(home, t, sig);
        }
    }
    targets::run(home, Action::Signal(a.signal), &all, &opts)
}

/// `USR2`, `SIGUSR2`, `sigusr2` as a signal; None for anything else (the daemon then
/// says what is wrong).
fn signal_of(given: &str) -> Option<Signal> {
    let upper = given.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().ok()
}

/// Whether `sig`'s default action ends the process (terminate or dump core): not for
/// those ignored or stopping by default, nor SIGKILL (no handler can catch it).
pub fn ends_by_default(sig: Signal) -> bool {
    !matches!(
        sig,
        Signal::SIGKILL
            | Signal::SIGCHLD
            | Signal::SIGCONT
            | Signal::SIGURG
            | Signal::SIGWINCH
            | Signal::SIGSTOP
            | Signal::SIGTSTP
            | Signal::SIGTTIN
            | Signal::SIGTTOU
    )
}

/// Wait (see the module's doc) for the online processes `target` names (by name or id;
/// every process for another form) that are younger than [`BOOT_GRACE`]. Any failure to
/// learn about them (no daemon, a process gone) ends the wait: the signal is sent as is.
fn wait_for_handlers(home: &Home, target: &str, sig: Signal) {
    let Ok(mut c) = Client::connect(home) else {
        return;
    };
    let Ok(rows) = c.call_as::<Vec<ProcessInfo>>(Request::List) else {
        return;
    };
    let now = Instant::now();
    let named = rows
        .iter()
        .any(|r| r.name == target || r.id.to_string() == target);
    let young: Vec<(u32, Instant)> = rows
        .iter()
        .filter(|r| !named || r.name == target || r.id.to_string() == target)
        .filter(|r| r.status == Status::Online)
        .filter_map(|r| {
            let age = Duration::from_millis(r.uptime?);
            Some((r.pid?, now + BOOT_GRACE.checked_sub(age)?))
        })
        .collect();
    for (pid, until) in young {
        while Instant::now() < until && handles(pid, sig) == Some(false) {
            std::thread::sleep(RECHECK);
        }
    }
}

/// Whether process `pid` catches or ignores `sig` now (`SigCgt`/`SigIgn` of
/// `/proc/<pid>/status`); None when that cannot be read (the process is gone).
pub fn handles(pid: u32, sig: Signal) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(handled_in(&status, sig))
}

/// Whether `status` (the text of `/proc/<pid>/status`) says `sig` is caught or ignored.
fn handled_in(status: &str, sig: Signal) -> bool {
    let bit = 1u64 << (sig as i32 - 1);
    status.lines().any(|l| {
        ["SigCgt:", "SigIgn:"].iter().any(|k| {
            l.strip_prefix(k)
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .is_some_and(|mask| mask & bit != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_handled_when_its_bit_is_caught_or_ignored() {
        // SIGUSR2 is 12: bit 11 (0x800); SIGTERM is 15: bit 14 (0x4000).
        let cases = [
            (
                "SigIgn:\t0000000000000000\nSigCgt:\t0000000000000800\n",
                Signal::SIGUSR2,
                true,
            ),
            (
                "SigIgn:\t0000000000000800\nSigCgt:\t0000000000000000\n",
                Signal::SIGUSR2,
                true,
            ),
            (
                "SigIgn:\t0000000000000000\nSigCgt:\t0000000000004000\n",
                Signal::SIGUSR2,
                false,
            ),
            (
                "SigIgn:\t0000000000000000\nSigCgt:\t0000000000004000\n",
                Signal::SIGTERM,
                true,
            ),
            ("SigCgt:\tnot hex\n", Signal::SIGTERM, false),
            ("", Signal::SIGHUP, false),
        ];
        for (status, sig, want) in cases {
            assert_eq!(handled_in(status, sig), want, "{sig} in {status:?}");
        }
    }

    #[test]
    fn names_read_as_signals_and_only_ending_ones_wait() {
        let cases = [
            ("SIGUSR2", Some(Signal::SIGUSR2)),
            ("usr2", Some(Signal::SIGUSR2)),
            ("SigTerm", Some(Signal::SIGTERM)),
            ("NOPE", None),
            ("12", None),
        ];
        for (given, want) in cases {
            assert_eq!(signal_of(given), want, "{given}");
        }
        assert!(ends_by_default(Signal::SIGUSR2));
        assert!(ends_by_default(Signal::SIGHUP));
        assert!(!ends_by_default(Signal::SIGKILL));
        assert!(!ends_by_default(Signal::SIGWINCH));
    }
}
