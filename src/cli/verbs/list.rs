//! `pmx list [--json] [--sort field[:asc|:desc]]` (PM2's `ls`, `status`…): every process,
//! as a table or as the daemon's JSON (`pmx jlist` is PM2's shape: `verbs/jlist.rs`).

use std::cmp::Ordering;

use pmx::Home;
use pmx_protocol::{ProcessInfo, Request};

use crate::cli::{connect, out, render, Failure, ListArgs, SortField, SortKey};

/// `pmx list`.
pub fn run(home: &Home, a: ListArgs) -> Result<(), Failure> {
    let mut client = connect(home)?;
    let raw = client.call_raw(Request::List)?;
    if a.json && a.sort.is_none() {
        // The daemon's JSON as it is: the same objects as the socket's `list`.
        out(&format!("{raw}\n"));
        return Ok(());
    }
    let mut rows: Vec<ProcessInfo> =
        serde_json::from_str(&raw).map_err(|e| Failure::request(format!("bad reply: {e}")))?;
    if let Some(key) = a.sort {
        sort(&mut rows, key);
    }
    if a.json {
        let text = serde_json::to_string(&rows)
            .map_err(|e| Failure::request(format!("cannot write the list: {e}")))?;
        out(&format!("{text}\n"));
    } else {
        // The host line under the table (PM2's): a daemon older than `host` answers an
        // error, and the table goes without it.
        let host = client
            .call_as::<pmx_protocol::HostReply>(Request::Host)
            .ok();
        let mut text = render::table(&rows);
        if let Some(h) = host {
            text.push_str(&render::host_line(&h));
        }
        // The last line (PM2's words) when the running set is not the saved one; a
        // daemon older than `saved` answers an error, and nothing is said.
        if let Ok(s) = client.call_as::<pmx_protocol::SavedReply>(Request::Saved) {
            text.push_str(unsaved_line(s));
        }
        out(&text);
    }
    Ok(())
}

/// The line `pmx list` ends with when the running set differs from `dump.ron` (the words
/// of PM2's `checkIfProcessAreDumped`, which compared names only and which PM2 7 no
/// longer calls: `pm2-ls.js` has it commented out); nothing when it does not, and nothing
/// without a dump (PM2's check said nothing then either: a user who never saved is not
/// told so at every `list`).
pub fn unsaved_line(s: pmx_protocol::SavedReply) -> &'static str {
    if s.dump && !s.synchronized {
        "Current process list is not synchronized with saved list. Type 'pmx save' to synchronize.\n"
    } else {
        ""
    }
}

/// Order `rows` by `key` (PM2's `--sort`); ties keep id order. A value not known yet
/// (cpu or memory before the first sample, the pid or uptime of a process that is down)
/// sorts as the lowest.
pub fn sort(rows: &mut [ProcessInfo], key: SortKey) {
    rows.sort_by(|a, b| {
        let o = match key.field {
            SortField::Name => a.name.cmp(&b.name),
            SortField::Id => a.id.cmp(&b.id),
            SortField::Pid => a.pid.cmp(&b.pid),
            SortField::Cpu => a.cpu.partial_cmp(&b.cpu).unwrap_or(Ordering::Equal),
            SortField::Memory => a.memory.cmp(&b.memory),
            SortField::Uptime => a.uptime.cmp(&b.uptime),
            SortField::Restarts => a.restarts.cmp(&b.restarts),
            SortField::Status => a.status.as_str().cmp(b.status.as_str()),
            SortField::Namespace => a.namespace.cmp(&b.namespace),
        };
        let o = if key.desc { o.reverse() } else { o };
        o.then(a.id.cmp(&b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmx_protocol::Status;

    fn row(id: u64, name: &str, pid: Option<u32>, memory: Option<u64>) -> ProcessInfo {
        ProcessInfo {
            id,
            name: name.into(),
            instance: 0,
            pid,
            status: if pid.is_some() {
                Status::Online
            } else {
                Status::Stopped
            },
            restarts: id,
            mode: "fork".into(),
            cpu: None,
            memory,
            uptime: pid.map(|_| 1000 * id),
            user: "u".into(),
            watching: false,
            namespace: "default".into(),
            group: None,
        }
    }

    #[test]
    fn sorting_by_each_field_and_order() {
        let rows = vec![
            row(0, "b", Some(30), Some(5)),
            row(1, "a", None, None),
            row(2, "c", Some(10), Some(9)),
            row(3, "a", Some(20), Some(1)),
        ];
        let cases = [
            ("name", vec![1, 3, 0, 2]),
            ("name:desc", vec![2, 0, 1, 3]),
            ("pid", vec![1, 2, 3, 0]),
            ("memory:desc", vec![2, 0, 3, 1]),
            ("uptime", vec![1, 0, 2, 3]),
            ("id:desc", vec![3, 2, 1, 0]),
            ("status", vec![0, 2, 3, 1]),
        ];
        for (spec, want) in cases {
            let (field, desc) = spec.split_once(':').unwrap_or((spec, "asc"));
            let field = match field {
                "name" => SortField::Name,
                "pid" => SortField::Pid,
                "memory" => SortField::Memory,
                "uptime" => SortField::Uptime,
                "id" => SortField::Id,
                _ => SortField::Status,
            };
            let mut r = rows.clone();
            sort(
                &mut r,
                SortKey {
                    field,
                    desc: desc == "desc",
                },
            );
            let ids: Vec<u64> = r.iter().map(|r| r.id).collect();
            assert_eq!(ids, want, "{spec}");
        }
    }
}
