//! What the Metrics actor reads of `/proc`: one instance's tree (its main process and every
//! descendant, found through `/proc/<pid>/task/*/children`, never a scan of the whole
//! process table), its cpu ticks and resident memory; the host's cpu and memory. The
//! parsers are pure and table-tested; the readers are a few small reads per process.
//!
//! Why not sysinfo: it refreshes given pids (`ProcessesToUpdate::Some`), but it cannot
//! find a process's descendants without refreshing every process of the machine (it
//! reads no `children` file), and the tree is what pmx must measure (a launcher's worker,
//! SPEC §3). Two reads per process (`stat`, `statm`) give all we need.

use std::io::Read;

/// The most processes one tree may count: a fork bomb in an app costs a bounded sample.
pub const MAX_TREE: usize = 4096;

/// What a tree uses at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Clock ticks of cpu (user + system) spent by the tree's processes and by the
    /// children they have reaped (`cutime` + `cstime`), so that a worker that exits and
    /// is waited for does not take its time with it.
    pub ticks: u64,
    /// Resident bytes of every process of the tree (shared pages counted in each, as
    /// `ps` and PM2 count them).
    pub rss: u64,
    /// How many processes were counted.
    pub processes: u32,
}

/// The cpu ticks (`utime + stime + cutime + cstime`) of one `/proc/<pid>/stat` line; None
/// when it does not parse. The command name (field 2) may hold spaces and parentheses:
/// the fields are read after its last `)`.
pub fn parse_stat_ticks(line: &str) -> Option<u64> {
    let rest = &line[line.rfind(')')? + 1..];
    // After the name: state (field 3) is index 0, utime (field 14) index 11.
    let mut f = rest.split_ascii_whitespace().skip(11);
    let mut sum = 0u64;
    for _ in 0..4 {
        // cutime and cstime are signed in the kernel's format; a negative one counts 0.
        let v: i64 = f.next()?.parse().ok()?;
        sum = sum.saturating_add(v.max(0) as u64);
    }
    Some(sum)
}

/// The resident pages (the second field) of one `/proc/<pid>/statm` line.
pub fn parse_statm_resident(line: &str) -> Option<u64> {
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// The pids of a `/proc/<pid>/task/<tid>/children` file (space-separated).
pub fn parse_children(text: &str) -> impl Iterator<Item = i32> + '_ {
    text.split_ascii_whitespace()
        .filter_map(|w| w.parse::<i32>().ok())
        .filter(|p| *p > 0)
}

/// Percent of one core used between two readings `dt_ms` apart: `ticks` at `tck` per
/// second. A tree whose count went down (a descendant adopted and reaped elsewhere took
/// its ticks) shows 0, not a negative figure; None when no time passed.
pub fn cpu_percent(before: u64, after: u64, dt_ms: u64, tck: u64) -> Option<f64> {
    if dt_ms == 0 || tck == 0 {
        return None;
    }
    let ticks = after.saturating_sub(before) as f64;
    Some(ticks / tck as f64 * 100_000.0 / dt_ms as f64)
}

/// `(MemTotal, MemAvailable)` in bytes from `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .split_ascii_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// `(busy, total)` jiffies of the `cpu ` line of `/proc/stat` (busy: everything but idle
/// and iowait).
pub fn parse_host_cpu(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Reads `/proc` with one reused buffer.
pub struct Reader {
    buf: String,
    /// Bytes per page.
    pub page: u64,
    /// Clock ticks per second.
    pub tck: u64,
    stack: Vec<i32>,
    seen: Vec<i32>,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl Reader {
    /// A reader with the system's page size and tick rate.
    pub fn new() -> Reader {
        // SAFETY: sysconf only reads a constant of the system.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        // SAFETY: as above.
        let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Reader {
            buf: String::with_capacity(512),
            page: if page > 0 { page as u64 } else { 4096 },
            tck: if tck > 0 { tck as u64 } else { 100 },
            stack: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// The text of a small `/proc` file into the buffer; false when it cannot be read
    /// (the process is gone).
    fn read(&mut self, path: &str) -> bool {
        self.buf.clear();
        match std::fs::File::open(path) {
            Ok(mut f) => f.read_to_string(&mut self.buf).is_ok(),
            Err(_) => false,
        }
    }

    /// The usage of the tree rooted at `pid`: it and its descendants, found through each
    /// thread's `children` file (at most [`MAX_TREE`] processes); None when `pid` itself
    /// is gone.
    pub fn tree(&mut self, pid: i32) -> Option<Usage> {
        let mut u = Usage::default();
        self.stack.clear();
        self.seen.clear();
        self.stack.push(pid);
        while let Some(p) = self.stack.pop() {
            if self.seen.contains(&p) || self.seen.len() >= MAX_TREE {
                continue;
            }
            self.seen.push(p);
            if !self.read(&format!("/proc/{p}/stat")) {
                if p == pid {
                    return None;
                }
                continue;
            }
            let Some(ticks) = parse_stat_ticks(&self.buf) else {
                continue;
            };
            u.ticks = u.ticks.saturating_add(ticks);
            u.processes += 1;
            if self.read(&format!("/proc/{p}/statm")) {
                if let Some(pages) = parse_statm_resident(&self.buf) {
                    u.rss = u.rss.saturating_add(pages * self.page);
                }
            }
            // Children of every thread: a child forked by a worker thread is listed under
            // that thread only.
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
                continue;
            };
            for t in tasks.flatten() {
                let tid = t.file_name();
                let Some(tid) = tid.to_str() else { continue };
                if self.read(&format!("/proc/{p}/task/{tid}/children")) {
                    let kids: Vec<i32> = parse_children(&self.buf).collect();
                    self.stack.extend(kids);
                }
            }
        }
        Some(u)
    }

    /// `(busy, total)` jiffies of the host's cpus.
    pub fn host_cpu(&mut self) -> Option<(u64, u64)> {
        self.read("/proc/stat").then_some(())?;
        parse_host_cpu(&self.buf)
    }

    /// `(total, available)` bytes of the host's memory.
    pub fn host_memory(&mut self) -> Option<(u64, u64)> {
        self.read("/proc/meminfo").then_some(())?;
        parse_meminfo(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_are_read_after_the_last_parenthesis() {
        let cases: &[(&str, Option<u64>)] = &[
            (
                "42 (python3) S 1 42 42 0 -1 4194560 1 0 0 0 7 3 5 1 20 0 1 0 100 1 1",
                Some(16),
            ),
            (
                "7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 5 1 1",
                Some(150),
            ),
            ("9 (x y) S 1 9 9 0 -1 0 0 0 0 0 1 2 -1 0 20", Some(3)),
            ("9 (x) S 1 9", None),
            ("garbage", None),
            ("", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_stat_ticks(line), *want, "{line}");
        }
    }

    #[test]
    fn statm_resident_is_the_second_field() {
        assert_eq!(parse_statm_resident("1000 250 100 1 0 300 0\n"), Some(250));
        assert_eq!(parse_statm_resident("1000"), None);
        assert_eq!(parse_statm_resident("x y"), None);
    }

    #[test]
    fn children_files_list_pids() {
        let v: Vec<i32> = parse_children("12 13 14 \n").collect();
        assert_eq!(v, vec![12, 13, 14]);
        assert_eq!(parse_children("").count(), 0);
        assert_eq!(parse_children("0 -3 x 5").collect::<Vec<_>>(), vec![5]);
    }

    #[test]
    fn cpu_percent_is_of_one_core() {
        // (before, after, dt ms, tck) -> percent
        let cases: &[(u64, u64, u64, u64, Option<f64>)] = &[
            (0, 100, 1000, 100, Some(100.0)),
            (0, 50, 1000, 100, Some(50.0)),
            (0, 200, 1000, 100, Some(200.0)),
            (10, 10, 1000, 100, Some(0.0)),
            (100, 40, 1000, 100, Some(0.0)),
            (0, 100, 2000, 100, Some(50.0)),
            (0, 100, 0, 100, None),
            (0, 250, 1000, 250, Some(100.0)),
        ];
        for (b, a, dt, tck, want) in cases {
            assert_eq!(cpu_percent(*b, *a, *dt, *tck), *want, "{b} {a} {dt} {tck}");
        }
    }

    #[test]
    fn host_lines_parse() {
        let m = "MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    8000 kB\n";
        assert_eq!(parse_meminfo(m), Some((16000 * 1024, 8000 * 1024)));
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
        let s = "cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 1 1 1\n";
        assert_eq!(parse_host_cpu(s), Some((20, 100)));
        assert_eq!(parse_host_cpu("cpu 1 2\n"), None);
    }

    #[test]
    fn own_tree_is_found_and_measured() {
        let mut r = Reader::new();
        let me = std::process::id() as i32;
        let u = r.tree(me).expect("this process is alive");
        assert!(u.processes >= 1);
        assert!(u.rss > 0);
        assert!(r.tree(i32::MAX).is_none());
    }
}
