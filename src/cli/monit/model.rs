//! The state of `pmx monit`, apart from drawing: the rows of the last `list`, the
//! selection (kept on an instance's id across refreshes), each instance's last minute of
//! cpu and memory, the selected instance's log lines, the host's vitals. Pure: fed rows,
//! keys and lines, it answers what to draw and what to ask the daemon; table-tested.

use std::collections::{BTreeMap, VecDeque};

use pmx_protocol::ProcessInfo;

/// How many samples of each instance's history are kept (one a second: the last minute).
pub const HISTORY: usize = 60;

/// How many log lines of the selected instance are kept.
pub const LOG_LINES: usize = 500;

/// A bounded ring of samples: pushing past `cap` drops the oldest.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring<T> {
    cap: usize,
    items: VecDeque<T>,
}

impl<T: Clone> Ring<T> {
    /// An empty ring holding at most `cap` items.
    pub fn new(cap: usize) -> Ring<T> {
        Ring {
            cap,
            items: VecDeque::with_capacity(cap.min(1024)),
        }
    }

    /// Add `item` as the newest, dropping the oldest past the capacity.
    pub fn push(&mut self, item: T) {
        if self.cap == 0 {
            return;
        }
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// The items, oldest first.
    pub fn items(&self) -> Vec<T> {
        self.items.iter().cloned().collect()
    }
}

/// One instance's history: cpu in tenths of a percent of one core, memory in bytes; a
/// sample without a figure (null before the metrics' first sample) is not recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Cpu, ‰ of one core (`12.5 %` is 125), oldest first.
    pub cpu: Ring<u64>,
    /// Resident bytes of the tree, oldest first.
    pub memory: Ring<u64>,
}

impl Default for History {
    fn default() -> Self {
        History {
            cpu: Ring::new(HISTORY),
            memory: Ring::new(HISTORY),
        }
    }
}

/// The host's vitals, from `/proc` (PM2's monit shows them in its header).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Host {
    /// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
    pub load: Option<[f64; 3]>,
    /// Used bytes (`MemTotal - MemAvailable` of `/proc/meminfo`).
    pub mem_used: Option<u64>,
    /// `MemTotal`, bytes.
    pub mem_total: Option<u64>,
    /// CPUs this process may run on.
    pub cpus: usize,
}

/// `/proc/loadavg`'s first three numbers.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// `(used, total)` bytes from `/proc/meminfo`: `MemTotal - MemAvailable` (or, on kernels
/// without `MemAvailable`, minus `MemFree + Buffers + Cached`).
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let mut kb = BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        if let Some(v) = rest
            .split_whitespace()
            .next()
            .and_then(|w| w.parse::<u64>().ok())
        {
            kb.insert(key.trim().to_string(), v);
        }
    }
    let total = *kb.get("MemTotal")?;
    let available = match kb.get("MemAvailable") {
        Some(a) => *a,
        None => ["MemFree", "Buffers", "Cached"]
            .iter()
            .map(|k| kb.get(*k).copied().unwrap_or(0))
            .sum(),
    };
    Some((
        total.saturating_sub(available).saturating_mul(1024),
        total.saturating_mul(1024),
    ))
}

/// Read the host's vitals now (a missing `/proc` file leaves its field empty).
pub fn read_host() -> Host {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| parse_loadavg(&t));
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t));
    Host {
        load,
        mem_used: mem.map(|m| m.0),
        mem_total: mem.map(|m| m.1),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// A cpu figure as PM2 shows it: `0%`, `12%`, `100%`; `-` before the first sample.
pub fn fmt_cpu(cpu: Option<f64>) -> String {
    match cpu {
        Some(c) if c.is_finite() => format!("{:.0}%", c.max(0.0)),
        _ => "-".into(),
    }
}

/// A memory figure as `pmx list` shows it (`45.0mb`, binary units); `-` before the
/// first sample.
pub fn fmt_memory(memory: Option<u64>) -> String {
    memory.map_or_else(|| "-".into(), crate::cli::render::human_bytes)
}

/// An uptime as `pmx list` shows it (`45s`, `12m`, `3h`, `2D`); `0` when down.
pub fn fmt_uptime(uptime: Option<u64>) -> String {
    uptime.map_or_else(|| "0".into(), crate::cli::render::human_ms)
}

/// What a key asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `r`: restart the instance.
    Restart,
    /// `R`: reload it (a restart in fork mode, rolling in cluster mode).
    Reload,
    /// `s`: stop it.
    Stop,
}

impl Verb {
    /// The word shown while it runs (`restarting`).
    pub fn doing(self) -> &'static str {
        match self {
            Verb::Restart => "restarting",
            Verb::Reload => "reloading",
            Verb::Stop => "stopping",
        }
    }
}

/// A key, as far as monit cares (the terminal's key events map to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Up arrow, `k`.
    Up,
    /// Down arrow, `j`.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home, `g`.
    First,
    /// End, `G`.
    Last,
    /// `r`, `R`, `s`.
    Act(Verb),
    /// `?`.
    Help,
    /// Esc: closes the help, else quits.
    Escape,
    /// `q`, Ctrl-C.
    Quit,
}

/// The keys in `bytes`, as one read from a terminal in raw mode gives them: letters,
/// Ctrl-C, a lone Esc, and the escape sequences of the arrows, Page Up/Down, Home and
/// End (both the `ESC [` and the application-mode `ESC O` forms). Other bytes and other
/// sequences are skipped. (monit reads the terminal itself rather than through
/// crossterm's event reader, which spins on a terminal that hung up.)
pub fn parse_keys(bytes: &[u8]) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        let key = match b {
            b'k' => Key::Up,
            b'j' => Key::Down,
            b'g' => Key::First,
            b'G' => Key::Last,
            b'r' => Key::Act(Verb::Restart),
            b'R' => Key::Act(Verb::Reload),
            b's' => Key::Act(Verb::Stop),
            b'?' => Key::Help,
            b'q' | 0x03 => Key::Quit,
            0x1b => {
                let intro = bytes.get(i).copied();
                if !matches!(intro, Some(b'[') | Some(b'O')) {
                    keys.push(Key::Escape);
                    continue;
                }
                i += 1;
                // Parameters, then the final byte (0x40..=0x7e).
                let start = i;
                while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                    i += 1;
                }
                let Some(fin) = bytes.get(i).copied() else {
                    break;
                };
                i += 1;
                match (&bytes[start..i - 1], fin) {
                    (_, b'A') => Key::Up,
                    (_, b'B') => Key::Down,
                    (_, b'H') | (b"1" | b"7", b'~') => Key::First,
                    (_, b'F') | (b"4" | b"8", b'~') => Key::Last,
                    (b"5", b'~') => Key::PageUp,
                    (b"6", b'~') => Key::PageDown,
                    _ => continue,
                }
            }
            _ => continue,
        };
        keys.push(key);
    }
    keys
}

/// What the loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond drawing again.
    None,
    /// Send `verb` for the instance `id` (its status line says so).
    Act(Verb, u64),
    /// Leave monit.
    Quit,
}

/// The dashboard's state.
#[derive(Debug, Default)]
pub struct Model {
    /// The rows of the last `list`, in its order.
    pub rows: Vec<ProcessInfo>,
    /// The selected instance's id (kept when rows move; None without rows).
    pub selected: Option<u64>,
    /// Every listed instance's history, by id.
    pub history: BTreeMap<u64, History>,
    /// The selected instance's log lines: (`err` stream?, text), oldest first.
    pub logs: VecDeque<(bool, String)>,
    /// The host's vitals at the last refresh.
    pub host: Host,
    /// Whether the help overlay is shown.
    pub help: bool,
    /// The last action's outcome (`restarting api…`, `restarted api`, an error).
    pub status: String,
    /// How many rows a page holds (set by the drawing from the table's height).
    pub page: usize,
    /// The first row shown (the drawing builds only the rows on screen).
    pub offset: usize,
}

/// The first row to show so that row `selected` is on a page of `page` rows, moving the
/// previous `offset` as little as possible (as a list scrolls).
pub fn scroll(offset: usize, selected: usize, page: usize) -> usize {
    let page = page.max(1);
    if selected < offset {
        selected
    } else if selected >= offset.saturating_add(page) {
        selected + 1 - page
    } else {
        offset
    }
}

impl Model {
    /// Take a new `list`: keep the selection on its id (or the same position when it is
    /// gone), record one sample per instance, forget the history of vanished ones.
    pub fn set_rows(&mut self, rows: Vec<ProcessInfo>) {
        let old_index = self.index();
        for r in &rows {
            let h = self.history.entry(r.id).or_default();
            if let Some(c) = r.cpu.filter(|c| c.is_finite()) {
                h.cpu.push((c.max(0.0) * 10.0).round() as u64);
            }
            if let Some(m) = r.memory {
                h.memory.push(m);
            }
        }
        self.history
            .retain(|id, _| rows.iter().any(|r| r.id == *id));
        let keep = self.selected.filter(|id| rows.iter().any(|r| r.id == *id));
        self.rows = rows;
        let before = self.selected;
        self.selected = keep.or_else(|| {
            let i = old_index
                .unwrap_or(0)
                .min(self.rows.len().saturating_sub(1));
            self.rows.get(i).map(|r| r.id)
        });
        if self.selected != before {
            self.logs.clear();
        }
    }

    /// The selected row's position in `rows`.
    pub fn index(&self) -> Option<usize> {
        let id = self.selected?;
        self.rows.iter().position(|r| r.id == id)
    }

    /// The selected row.
    pub fn current(&self) -> Option<&ProcessInfo> {
        self.index().and_then(|i| self.rows.get(i))
    }

    fn select_index(&mut self, i: usize) {
        let i = i.min(self.rows.len().saturating_sub(1));
        let new = self.rows.get(i).map(|r| r.id);
        if new != self.selected {
            self.logs.clear();
        }
        self.selected = new;
    }

    /// Apply a key; answers what the loop must do.
    pub fn key(&mut self, key: Key) -> Effect {
        if self.help {
            // Any key closes the help; q still quits.
            self.help = false;
            return if key == Key::Quit {
                Effect::Quit
            } else {
                Effect::None
            };
        }
        let i = self.index().unwrap_or(0);
        let page = self.page.max(1);
        match key {
            Key::Up => self.select_index(i.saturating_sub(1)),
            Key::Down => self.select_index(i.saturating_add(1)),
            Key::PageUp => self.select_index(i.saturating_sub(page)),
            Key::PageDown => self.select_index(i.saturating_add(page)),
            Key::First => self.select_index(0),
            Key::Last => self.select_index(usize::MAX),
            Key::Help => self.help = true,
            Key::Escape | Key::Quit => return Effect::Quit,
            Key::Act(verb) => {
                if let Some(r) = self.current() {
                    let (id, name) = (r.id, r.name.clone());
                    self.status = format!("{} {name} ({id})…", verb.doing());
                    return Effect::Act(verb, id);
                }
            }
        }
        Effect::None
    }

    /// A log line of instance `id`: kept when it is the selected one (the last
    /// [`LOG_LINES`]); answers whether it was.
    pub fn log(&mut self, id: u64, err: bool, line: &str) -> bool {
        if self.selected != Some(id) {
            return false;
        }
        if self.logs.len() == LOG_LINES {
            self.logs.pop_front();
        }
        self.logs.push_back((err, line.to_string()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmx_protocol::Status;

    fn row(id: u64, name: &str, cpu: Option<f64>, memory: Option<u64>) -> ProcessInfo {
        ProcessInfo {
            id,
            name: name.into(),
            instance: 0,
            pid: Some(100 + id as u32),
            status: Status::Online,
            restarts: 0,
            mode: "fork".into(),
            cpu,
            memory,
            uptime: Some(1000),
            user: "root".into(),
            watching: false,
            namespace: "default".into(),
            group: None,
        }
    }

    #[test]
    fn ring_keeps_the_newest_up_to_its_capacity() {
        let cases: &[(usize, &[u64], &[u64])] = &[
            (3, &[], &[]),
            (3, &[1, 2], &[1, 2]),
            (3, &[1, 2, 3], &[1, 2, 3]),
            (3, &[1, 2, 3, 4, 5], &[3, 4, 5]),
            (1, &[1, 2], &[2]),
            (0, &[1, 2], &[]),
        ];
        for (cap, pushed, kept) in cases {
            let mut r = Ring::new(*cap);
            for p in *pushed {
                r.push(*p);
            }
            assert_eq!(r.items(), kept.to_vec(), "cap {cap}, pushed {pushed:?}");
        }
    }

    #[test]
    fn the_table_scrolls_as_little_as_it_must_to_show_the_selection() {
        // (offset, selected, page, new offset)
        let cases = [
            (0, 0, 10, 0),
            (0, 9, 10, 0),
            (0, 10, 10, 1),
            (5, 3, 10, 3),
            (5, 14, 10, 5),
            (5, 15, 10, 6),
            (0, 199, 10, 190),
            (190, 0, 10, 0),
            (0, 3, 0, 3),
        ];
        for (offset, selected, page, want) in cases {
            assert_eq!(
                scroll(offset, selected, page),
                want,
                "{offset} {selected} {page}"
            );
        }
    }

    #[test]
    fn history_records_figures_and_skips_nulls() {
        let mut m = Model::default();
        let samples = [
            (None, None),
            (Some(12.34), Some(1000)),
            (Some(-1.0), Some(2000)),
            (Some(f64::NAN), None),
            (Some(150.0), Some(3000)),
        ];
        for (cpu, mem) in samples {
            m.set_rows(vec![row(0, "a", cpu, mem)]);
        }
        let h = &m.history[&0];
        assert_eq!(h.cpu.items(), vec![123, 0, 1500]);
        assert_eq!(h.memory.items(), vec![1000, 2000, 3000]);
        for _ in 0..HISTORY + 10 {
            m.set_rows(vec![row(0, "a", Some(1.0), Some(1))]);
        }
        assert_eq!(m.history[&0].cpu.items().len(), HISTORY);
        // A vanished instance's history goes with it.
        m.set_rows(vec![row(1, "b", None, None)]);
        assert!(!m.history.contains_key(&0));
    }

    #[test]
    fn selection_moves_with_keys_and_stays_in_bounds() {
        let rows: Vec<_> = (0..5).map(|i| row(i, "a", None, None)).collect();
        // (keys, selected id after them), from a fresh model; a page is 2 rows.
        let cases: &[(&[Key], Option<u64>)] = &[
            (&[], Some(0)),
            (&[Key::Down], Some(1)),
            (&[Key::Up], Some(0)),
            (&[Key::Down, Key::Down, Key::Up], Some(1)),
            (&[Key::Last], Some(4)),
            (&[Key::Last, Key::Down], Some(4)),
            (&[Key::Last, Key::First], Some(0)),
            (&[Key::PageDown], Some(2)),
            (&[Key::PageDown, Key::PageDown, Key::PageDown], Some(4)),
            (&[Key::Last, Key::PageUp], Some(2)),
        ];
        for (keys, want) in cases {
            let mut m = Model {
                page: 2,
                ..Model::default()
            };
            m.set_rows(rows.clone());
            for k in *keys {
                assert_eq!(m.key(*k), Effect::None);
            }
            assert_eq!(m.selected, *want, "keys {keys:?}");
        }
        let mut empty = Model::default();
        empty.set_rows(Vec::new());
        assert_eq!(empty.key(Key::Down), Effect::None);
        assert_eq!(empty.selected, None);
        assert_eq!(empty.key(Key::Act(Verb::Restart)), Effect::None);
    }

    #[test]
    fn selection_follows_its_id_across_refreshes() {
        let mut m = Model::default();
        m.set_rows((0..4).map(|i| row(i, "a", None, None)).collect());
        m.key(Key::Down);
        m.key(Key::Down);
        assert_eq!(m.selected, Some(2));
        // Rows reordered: still id 2.
        m.set_rows([3, 2, 1, 0].map(|i| row(i, "a", None, None)).to_vec());
        assert_eq!((m.selected, m.index()), (Some(2), Some(1)));
        // Id 2 deleted: the row now at its place.
        m.set_rows([3, 1, 0].map(|i| row(i, "a", None, None)).to_vec());
        assert_eq!(m.selected, Some(1));
        // Fewer rows than the old position: the last one.
        m.key(Key::Last);
        m.set_rows(vec![row(7, "b", None, None)]);
        assert_eq!(m.selected, Some(7));
    }

    #[test]
    fn terminal_bytes_parse_into_keys() {
        let cases: &[(&[u8], &[Key])] = &[
            (b"", &[]),
            (b"jjk", &[Key::Down, Key::Down, Key::Up]),
            (b"q", &[Key::Quit]),
            (b"\x03", &[Key::Quit]),
            (b"\x1b", &[Key::Escape]),
            (b"\x1bq", &[Key::Escape, Key::Quit]),
            (b"\x1b[A\x1b[B", &[Key::Up, Key::Down]),
            (b"\x1bOA\x1bOB", &[Key::Up, Key::Down]),
            (b"\x1b[5~\x1b[6~", &[Key::PageUp, Key::PageDown]),
            (
                b"\x1b[H\x1b[F\x1b[1~\x1b[4~",
                &[Key::First, Key::Last, Key::First, Key::Last],
            ),
            (
                b"rRs?",
                &[
                    Key::Act(Verb::Restart),
                    Key::Act(Verb::Reload),
                    Key::Act(Verb::Stop),
                    Key::Help,
                ],
            ),
            // Unknown sequences and bytes are skipped whole.
            (b"\x1b[1;5Cx\x1b[200~j", &[Key::Down]),
            (b"\x1b[<0;3;4M", &[]),
            // A sequence cut by the read's end.
            (b"j\x1b[1", &[Key::Down]),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_keys(bytes), want.to_vec(), "{bytes:?}");
        }
    }

    #[test]
    fn keys_act_on_the_selected_instance_and_quit() {
        let mut m = Model::default();
        m.set_rows(vec![row(3, "api", None, None), row(4, "web", None, None)]);
        m.key(Key::Down);
        let cases = [
            (Key::Act(Verb::Restart), Effect::Act(Verb::Restart, 4)),
            (Key::Act(Verb::Reload), Effect::Act(Verb::Reload, 4)),
            (Key::Act(Verb::Stop), Effect::Act(Verb::Stop, 4)),
            (Key::Quit, Effect::Quit),
            (Key::Escape, Effect::Quit),
        ];
        for (k, want) in cases {
            assert_eq!(m.key(k), want, "{k:?}");
        }
        assert_eq!(m.status, "stopping web (4)…");
        // The help takes the next key; q still quits from it.
        m.key(Key::Help);
        assert!(m.help);
        assert_eq!(m.key(Key::Escape), Effect::None);
        assert!(!m.help);
        m.key(Key::Help);
        assert_eq!(m.key(Key::Quit), Effect::Quit);
    }

    #[test]
    fn log_lines_are_kept_for_the_selected_instance_only_and_bounded() {
        let mut m = Model::default();
        m.set_rows(vec![row(0, "a", None, None), row(1, "b", None, None)]);
        assert!(m.log(0, false, "one"));
        assert!(!m.log(1, false, "other"));
        assert_eq!(m.logs, VecDeque::from(vec![(false, "one".to_string())]));
        for i in 0..LOG_LINES + 5 {
            m.log(0, true, &i.to_string());
        }
        assert_eq!(m.logs.len(), LOG_LINES);
        assert_eq!(m.logs.back(), Some(&(true, (LOG_LINES + 4).to_string())));
        // Another selection starts with an empty buffer.
        m.key(Key::Down);
        assert!(m.logs.is_empty());
    }

    #[test]
    fn figures_format_as_pm2_shows_them() {
        let cpu = [
            (None, "-"),
            (Some(0.0), "0%"),
            (Some(12.4), "12%"),
            (Some(99.6), "100%"),
            (Some(250.0), "250%"),
            (Some(f64::NAN), "-"),
        ];
        for (c, want) in cpu {
            assert_eq!(fmt_cpu(c), want, "{c:?}");
        }
        let mem = [
            (None, "-"),
            (Some(0), "0b"),
            (Some(1023), "1023b"),
            (Some(1536), "1.5kb"),
            (Some(45 * 1024 * 1024), "45.0mb"),
            (Some(3 * 1024 * 1024 * 1024 / 2), "1.5gb"),
        ];
        for (b, want) in mem {
            assert_eq!(fmt_memory(b), want, "{b:?}");
        }
        let up = [
            (None, "0"),
            (Some(999), "0s"),
            (Some(61_000), "1m"),
            (Some(7_200_000), "2h"),
        ];
        for (u, want) in up {
            assert_eq!(fmt_uptime(u), want, "{u:?}");
        }
    }

    #[test]
    fn host_vitals_parse_from_proc() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 2/1234 5678\n"),
            Some([0.52, 0.58, 0.59])
        );
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("x y z"), None);
        let meminfo = "MemTotal:       16000 kB\nMemFree:  1000 kB\nMemAvailable:   6000 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some((10000 * 1024, 16000 * 1024)));
        let old = "MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n";
        assert_eq!(parse_meminfo(old), Some((65 * 1024, 100 * 1024)));
        assert_eq!(parse_meminfo("garbage"), None);
    }
}
