//! The environment entries of prepared spawns, each held once for the whole daemon:
//! `KEY=value` C strings shared by every [`SpawnSpec`](super::spawn::SpawnSpec) that holds
//! the same entry, and the inherited layer of one shell shared as one list by every spec
//! made from its map. About 45 variables per instance come from the shell that started the
//! apps: held per instance they were kilobytes of the daemon's memory per app.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{CStr, CString};
use std::io;
use std::sync::{Arc, Mutex};

/// The environment entries some `SpawnSpec` holds, each once. About 45 variables per
/// instance come from the shell that started the apps: held per instance they were
/// ~2 KiB of the daemon's memory per app (the strings and their allocator headers).
/// The second field: at this many entries, the next insertion first drops those no spec
/// holds any more.
static ENTRIES: Mutex<Option<(HashSet<Arc<CStr>>, usize)>> = Mutex::new(None);

/// The prepared inherited layers some `SpawnSpec` holds, by the map they came from:
/// apps started by one command share one map (the request carries it once), so they
/// share one list. Entries whose map or list is gone are dropped at the next insertion.
#[allow(clippy::type_complexity)]
static BASES: Mutex<
    Vec<(
        std::sync::Weak<BTreeMap<String, String>>,
        std::sync::Weak<[Arc<CStr>]>,
    )>,
> = Mutex::new(Vec::new());

/// `inherited` as `KEY=value` entries, shared with every spec made from the same map.
///
/// Errors: a NUL byte in a variable.
pub(super) fn shared_base(
    inherited: &Arc<BTreeMap<String, String>>,
) -> io::Result<Arc<[Arc<CStr>]>> {
    // Poisoning cannot leave the list inconsistent (one push or retain at a time).
    let mut bases = BASES.lock().unwrap_or_else(|e| e.into_inner());
    let found = bases.iter().find_map(|(map, list)| {
        let same = map.upgrade().is_some_and(|m| Arc::ptr_eq(&m, inherited));
        same.then(|| list.upgrade()).flatten()
    });
    if let Some(list) = found {
        return Ok(list);
    }
    let mut list = Vec::with_capacity(inherited.len());
    for (k, v) in inherited.iter() {
        list.push(shared_entry(format!("{k}={v}"))?);
    }
    let list: Arc<[Arc<CStr>]> = list.into();
    bases.retain(|(map, list)| map.strong_count() > 0 && list.strong_count() > 0);
    bases.push((Arc::downgrade(inherited), Arc::downgrade(&list)));
    Ok(list)
}

/// The least size at which [`ENTRIES`] is pruned.
pub(super) const ENTRIES_PRUNE_AT: usize = 256;

/// `entry` as a C string shared with every other spec holding the same entry.
///
/// Errors: a NUL byte in it.
pub(super) fn shared_entry(entry: String) -> io::Result<Arc<CStr>> {
    let entry = cstr(entry.as_bytes())?;
    // Poisoning cannot leave the set inconsistent (one insert or retain at a time).
    let mut guard = ENTRIES.lock().unwrap_or_else(|e| e.into_inner());
    let (set, prune_at) = guard.get_or_insert_with(|| (HashSet::new(), ENTRIES_PRUNE_AT));
    if let Some(shared) = set.get(entry.as_c_str()) {
        return Ok(shared.clone());
    }
    if set.len() >= *prune_at {
        // Entries only the set holds belong to specs dropped since (a changed spec, a
        // deleted app): pruned in bulk, the next time at twice what is left, so an
        // insertion costs O(1) amortized.
        set.retain(|e| Arc::strong_count(e) > 1);
        *prune_at = (set.len() * 2).max(ENTRIES_PRUNE_AT);
    }
    let shared: Arc<CStr> = Arc::from(entry);
    set.insert(shared.clone());
    Ok(shared)
}

/// A C string of `s`, or the error of a NUL byte in it.
pub(super) fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a NUL byte in the program, an argument, the cwd or the environment",
        )
    })
}

/// `KEY=value` as an entry for `SpawnExtras::env`.
///
/// Errors: an empty KEY, a `=` in it, or a NUL byte in either.
pub fn env_entry(key: &str, value: &str) -> io::Result<CString> {
    if key.is_empty() || key.contains('=') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad variable name {key:?}"),
        ));
    }
    cstr(format!("{key}={value}").as_bytes())
}

/// The KEY of a `KEY=value` entry, or None when it has no `=` or an empty KEY.
pub(super) fn entry_key(entry: &[u8]) -> Option<&[u8]> {
    let key = &entry[..entry.iter().position(|b| *b == b'=')?];
    (!key.is_empty()).then_some(key)
}
