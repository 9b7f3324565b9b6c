//! What the Metrics actor reads of `/proc`: one instance's tree (its main process and every
//! descendant, found through `/proc/<pid>/task/*/children`, never a scan of the whole
//! process table), its cpu ticks and resident memory; the host's cpu and memory. The
//! parsers are pure and table-tested; the readers are a few small reads per process.
//!
//! Why not sysinfo: it refreshes given pids (`ProcessesToUpdate::Some`), but it cannot
//! find a process's descendants without refreshing every process of the machine (it
//! reads no `children` file), and the tree is what pmx must measure (a launcher's worker,
//! SPEC §3). Two reads per single-threaded process (`stat`, its `children`) give all we need.

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

/// What one `/proc/<pid>/stat` line says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `utime + stime + cutime + cstime`, clock ticks.
    pub ticks: u64,
    /// `num_threads`.
    pub threads: u64,
    /// `rss`, resident pages.
    pub rss_pages: u64,
}

/// One `/proc/<pid>/stat` line; None when it does not parse. The command name (field 2)
/// may hold spaces and parentheses: the fields are read after its last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    // After the name, index 0 is field 3 (state): utime (14) is index 11, num_threads
    // (20) index 17, rss (24) index 21.
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    let num = |i: usize| -> Option<i64> { f.get(i)?.parse().ok() };
    let mut ticks = 0u64;
    for i in 11..15 {
        // cutime and cstime are signed in the kernel's format; a negative one counts 0.
        ticks = ticks.saturating_add(num(i)?.max(0) as u64);
    }
    Some(Stat {
        ticks,
        threads: num(17)?.max(1) as u64,
        rss_pages: num(21)?.max(0) as u64,
    })
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

/// Reads `/proc` with one reused buffer: three system calls a file (open, read, close;
/// `read_to_string` would add a `statx` for its size hint).
pub struct Reader {
    buf: Vec<u8>,
    path: String,
    /// Bytes per page.
    pub page: u64,
    /// Clock ticks per second.
    pub tck: u64,
    stack: Vec<i32>,
    seen: Vec<i32>,
    kids: Vec<i32>,
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
            buf: Vec::with_capacity(1024),
            path: String::with_capacity(64),
            page: if page > 0 { page as u64 } else { 4096 },
            tck: if tck > 0 { tck as u64 } else { 100 },
            stack: Vec::new(),
            seen: Vec::new(),
            kids: Vec::new(),
        }
    }

    /// The text of the small `/proc` file at `self.path` into the buffer; None when it
    /// cannot be read (the process is gone).
    fn read_path(&mut self) -> Option<&str> {
        let mut f = std::fs::File::open(&self.path).ok()?;
        self.buf.clear();
        let mut chunk = [0u8; 1024];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
            // A stat line fits in one read; a long children list goes on.
            if self.buf.len() > 1 << 20 {
                break;
            }
        }
        std::str::from_utf8(&self.buf).ok()
    }

    /// The text of `path`.
    fn read(&mut self, path: std::fmt::Arguments<'_>) -> Option<&str> {
        use std::fmt::Write;
        self.path.clear();
        let _ = self.path.write_fmt(path);
        self.read_path()
    }

    /// The usage of the tree rooted at `pid`: it and its descendants, found through each
    /// thread's `children` file (at most [`MAX_TREE`] processes); None when `pid` itself
    /// is gone. A single-threaded process costs two reads (`stat`, its `children`).
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
            let Some(st) = self
                .read(format_args!("/proc/{p}/stat"))
                .and_then(parse_stat)
            else {
                if p == pid {
                    return None;
                }
                continue;
            };
            u.ticks = u.ticks.saturating_add(st.ticks);
            u.rss = u.rss.saturating_add(st.rss_pages * self.page);
            u.processes += 1;
            // Children of every thread: a child forked by a worker thread is listed under
            // that thread only.
            if st.threads <= 1 {
                self.children_of(p, p);
            } else if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
                let tids: Vec<i32> = tasks
                    .flatten()
                    .filter_map(|t| t.file_name().to_str()?.parse().ok())
                    .collect();
                for tid in tids {
                    self.children_of(p, tid);
                }
            }
        }
        Some(u)
    }

    /// Push the children of thread `tid` of process `p` onto the walk.
    fn children_of(&mut self, p: i32, tid: i32) {
        self.kids.clear();
        if let Some(text) = self.read(format_args!("/proc/{p}/task/{tid}/children")) {
            let kids: Vec<i32> = parse_children(text).collect();
            self.kids = kids;
        }
        self.stack.append(&mut self.kids);
    }

    /// `(busy, total)` jiffies of the host's cpus.
    pub fn host_cpu(&mut self) -> Option<(u64, u64)> {
        parse_host_cpu(self.read(format_args!("/proc/stat"))?)
    }

    /// `(total, available)` bytes of the host's memory.
    pub fn host_memory(&mut self) -> Option<(u64, u64)> {
        parse_meminfo(self.read(format_args!("/proc/meminfo"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_last_parenthesis() {
        let st = |ticks, threads, rss_pages| {
            Some(Stat {
                ticks,
                threads,
                rss_pages,
            })
        };
        let cases: &[(&str, Option<Stat>)] = &[
            (
                "42 (python3) S 1 42 42 0 -1 4194560 1 0 0 0 7 3 5 1 20 0 1 0 100 1 250 0",
                st(16, 1, 250),
            ),
            (
                "7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 100 50 0 0 20 0 11 0 5 1 9 0",
                st(150, 11, 9),
            ),
            (
                "9 (x y) S 1 9 9 0 -1 0 0 0 0 0 1 2 -1 0 20 0 1 0 5 1 3",
                st(3, 1, 3),
            ),
            ("9 (x) S 1 9 9 0 -1 0 0 0 0 0 1 2 0 0 20 0 1", None),
            ("9 (x) S 1 9", None),
            ("garbage", None),
            ("", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_stat(line), *want, "{line}");
        }
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
