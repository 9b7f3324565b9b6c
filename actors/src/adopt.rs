//! Re-adoption (SPEC §5, the daemon's death; `pmx update`): what a new daemon finds in the
//! fd holder (`crate::fdstore`) sorted by instance, for the Root to rebuild its registry
//! and each App supervisor to take its processes back with the same ids and pids.
//!
//! Each stored process (`p:<id>:<generation>:<pid>:<ticks>:<restarts>:out|err|chan`) of
//! an instance:
//! the highest generation is the instance's process (adopted: `process::Adopt`); older
//! ones (a process whose pipes were not yet drained when the daemon died) are only
//! drained into the log files. An instance with nothing stored was down.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use crate::fdstore::{self, SavedState};

/// One stored process of an instance.
#[derive(Debug, Default)]
pub struct Stored {
    /// Its generation (its marker's).
    pub generation: u64,
    /// Its pid when it was spawned.
    pub pid: i32,
    /// Its start time then (clock ticks after boot).
    pub ticks: u64,
    /// The instance's restart count then.
    pub restarts: u64,
    /// Its stdout pipe's read end.
    pub out: Option<OwnedFd>,
    /// Its stderr pipe's read end.
    pub err: Option<OwnedFd>,
    /// The daemon's end of its Node channel.
    pub chan: Option<OwnedFd>,
}

/// What the holder held, sorted.
#[derive(Default)]
pub struct Found {
    /// The registry of the daemon before (None: nothing to adopt).
    pub state: Option<SavedState>,
    /// Stored processes by instance id, by generation.
    pub procs: BTreeMap<u64, BTreeMap<u64, Stored>>,
    /// `listen` sockets by app name.
    pub listen: BTreeMap<String, Vec<OwnedFd>>,
    /// Sockets bound for Node workers, by app name, with their labels.
    pub node: BTreeMap<String, Vec<(String, OwnedFd)>>,
    /// `pmx web`'s listening socket and its setting (`w:` label), when it was on.
    pub web: Option<(crate::web::WebSetting, OwnedFd)>,
    /// Labels not understood (forgotten).
    pub unknown: Vec<String>,
}

/// The common part of a process's labels in the fd holder (a stream's label adds
/// `:out`, `:err` or `:chan`): what a next daemon needs of it beside its descriptors.
pub fn label(id: u64, generation: u64, pid: i32, ticks: u64, restarts: u64) -> String {
    format!("p:{id}:{generation}:{pid}:{ticks}:{restarts}")
}

/// A process label's parts: (id, generation, pid, ticks, restarts, stream).
pub fn parse_label(label: &str) -> Option<(u64, u64, i32, u64, u64, &str)> {
    let mut it = label.strip_prefix("p:")?.split(':');
    let id = it.next()?.parse().ok()?;
    let generation = it.next()?.parse().ok()?;
    let pid = it.next()?.parse().ok()?;
    let ticks = it.next()?.parse().ok()?;
    let restarts = it.next()?.parse().ok()?;
    let stream = it.next()?;
    if it.next().is_some() || !matches!(stream, "out" | "err" | "chan") {
        return None;
    }
    Some((id, generation, pid, ticks, restarts, stream))
}

impl Found {
    /// Sort the holder's entries.
    pub fn sort(entries: Vec<(String, Vec<OwnedFd>)>) -> Found {
        let mut found = Found::default();
        for (label, mut fds) in entries {
            if label == fdstore::STATE {
                match fds.first().map(fdstore::read_state) {
                    Some(Ok(s)) => found.state = Some(s),
                    Some(Err(e)) => tracing::error!("cannot adopt: {e}"),
                    None => {}
                }
                continue;
            }
            if let Some(name) = label.strip_prefix("l:") {
                found.listen.insert(name.to_string(), fds);
                continue;
            }
            if let Some(setting) = crate::web::parse_held(&label) {
                match fds.pop() {
                    Some(fd) if found.web.is_none() => found.web = Some((setting, fd)),
                    _ => found.unknown.push(label),
                }
                continue;
            }
            if label.starts_with("n:") {
                match (crate::app::held_app(&label), fds.pop()) {
                    (Some(app), Some(fd)) => found.node.entry(app).or_default().push((label, fd)),
                    _ => found.unknown.push(label),
                }
                continue;
            }
            let Some((id, generation, pid, ticks, restarts, stream)) = parse_label(&label) else {
                found.unknown.push(label);
                continue;
            };
            let s = found
                .procs
                .entry(id)
                .or_default()
                .entry(generation)
                .or_insert_with(|| Stored {
                    generation,
                    pid,
                    ticks,
                    restarts,
                    ..Stored::default()
                });
            let fd = fds.pop();
            match stream {
                "out" => s.out = fd,
                "err" => s.err = fd,
                _ => s.chan = fd,
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::parse_label;

    #[test]
    fn process_labels_parse_or_are_refused() {
        let cases = [
            (
                "p:3:7:1234:98765:2:out",
                Some((3, 7, 1234, 98765, 2, "out")),
            ),
            ("p:0:1:2:3:0:chan", Some((0, 1, 2, 3, 0, "chan"))),
            ("p:0:1:2:3:0:other", None),
            ("p:0:1:2:3:0:out:extra", None),
            ("p:x:1:2:3:0:out", None),
            ("p:0:1:2:3:out", None),
            ("state", None),
            ("l:web", None),
        ];
        for (label, want) in cases {
            assert_eq!(parse_label(label), want, "{label}");
        }
        let made = format!("{}:err", super::label(4, 9, 77, 123, 5));
        assert_eq!(parse_label(&made), Some((4, 9, 77, 123, 5, "err")));
    }
}
