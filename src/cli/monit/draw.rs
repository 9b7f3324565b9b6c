//! How `pmx monit` looks: host vitals on top, the process table on the left, the selected
//! instance's cpu and memory sparklines on the right, its log lines below, the keys at
//! the bottom, and the help over everything on `?` (PM2's `pm2 monit` panes, in ratatui).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use pmx_protocol::Status;

use super::model::{fmt_cpu, fmt_memory, fmt_uptime, scroll, Model};
use crate::cli::render::human_bytes;

/// The keys, as the help overlay lists them.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "select an instance"),
    ("PgUp PgDn", "a page up / down"),
    ("Home End  g G", "the first / last instance"),
    ("r", "restart the selected instance"),
    (
        "R",
        "reload the selected instance (rolling in cluster mode)",
    ),
    ("s", "stop the selected instance"),
    ("?", "this help (any key closes it)"),
    ("q  Esc  Ctrl-C", "quit"),
];

/// The colour of a status word, as `pm2 list` colours it.
fn status_colour(s: Status) -> Color {
    match s {
        Status::Online => Color::Green,
        Status::Launching | Status::WaitingRestart | Status::Stopping => Color::Yellow,
        Status::Stopped => Color::Gray,
        Status::Errored => Color::Red,
    }
}

/// Draw the whole screen from `m`; records the table's page height in `m.page`.
pub fn draw(f: &mut Frame, m: &mut Model) {
    let screen = f.area();
    // A small terminal keeps the process list first: the log box goes below
    // `SMALL_HEIGHT` rows and the charts below `SMALL_WIDTH` columns.
    let logs_height = if screen.height < SMALL_HEIGHT { 0 } else { 5 };
    let [top, middle, logs, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(if logs_height == 0 { 100 } else { 55 }),
        Constraint::Min(logs_height),
        Constraint::Length(1),
    ])
    .areas(screen);
    f.render_widget(Paragraph::new(host_line(m)), top);

    if screen.width < SMALL_WIDTH {
        draw_table(f, m, middle);
    } else {
        let [table_area, side] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(middle);
        draw_table(f, m, table_area);
        draw_side(f, m, side);
    }
    if logs_height > 0 {
        draw_logs(f, m, logs);
    }

    let keys = "r restart  R reload  s stop  ? help  q quit";
    let line = if m.status.is_empty() {
        Line::from(keys)
    } else {
        Line::from(vec![
            Span::styled(m.status.clone(), Style::new().fg(Color::Yellow)),
            Span::raw("   "),
            Span::raw(keys),
        ])
    };
    f.render_widget(Paragraph::new(line), bottom);
    if m.help {
        draw_help(f);
    }
}

fn host_line(m: &Model) -> Line<'static> {
    let h = &m.host;
    let load = h.load.map_or_else(
        || "-".to_string(),
        |l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]),
    );
    let mem = match (h.mem_used, h.mem_total) {
        (Some(u), Some(t)) => format!("{} / {}", human_bytes(u), human_bytes(t)),
        _ => "-".into(),
    };
    Line::from(vec![
        Span::styled(" pmx monit ", Style::new().add_modifier(Modifier::REVERSED)),
        Span::raw(format!(
            "  {} processes   load {load}   mem {mem}   {} cpus",
            m.rows.len(),
            h.cpus
        )),
    ])
}

/// Below this many rows the log box is left out; below this many columns, the charts.
const SMALL_HEIGHT: u16 = 16;
const SMALL_WIDTH: u16 = 80;

/// The table's columns: (header, width; 0 for the name, which takes what is left), in
/// the order they are given up when the table is narrow — from the last — so that id,
/// name and status stay longest.
const COLUMNS: [(&str, u16); 7] = [
    ("id", 4),
    ("name", 0),
    ("status", 15),
    ("cpu", 5),
    ("mem", 8),
    ("↺", 4),
    ("uptime", 6),
];

/// How many of [`COLUMNS`] fit in `inner` columns with a name at least 8 wide (id and
/// name always).
fn columns_that_fit(inner: u16) -> usize {
    let mut n = COLUMNS.len();
    while n > 2 {
        let fixed: u16 = COLUMNS[..n].iter().map(|(_, w)| w + 1).sum();
        if fixed + 8 <= inner {
            break;
        }
        n -= 1;
    }
    n
}

fn draw_table(f: &mut Frame, m: &mut Model, area: Rect) {
    // Borders and the header row.
    m.page = usize::from(area.height.saturating_sub(3)).max(1);
    let n = columns_that_fit(area.width.saturating_sub(2));
    let header = Row::new(COLUMNS[..n].iter().map(|(h, _)| *h))
        .style(Style::new().add_modifier(Modifier::BOLD));
    // Only the rows on screen are built (200 apps cost 200 rows a frame otherwise).
    let selected = m.index();
    m.offset = scroll(m.offset, selected.unwrap_or(0), m.page).min(m.rows.len());
    let rows = m.rows.iter().skip(m.offset).take(m.page).map(|r| {
        let mut cells = vec![
            Cell::from(r.id.to_string()),
            Cell::from(r.name.clone()),
            Cell::from(r.status.as_str()).style(Style::new().fg(status_colour(r.status))),
            Cell::from(fmt_cpu(r.cpu)),
            Cell::from(fmt_memory(r.memory)),
            Cell::from(r.restarts.to_string()),
            Cell::from(fmt_uptime(r.uptime)),
        ];
        cells.truncate(n);
        Row::new(cells)
    });
    let widths = COLUMNS[..n].iter().map(|(_, w)| match w {
        0 => Constraint::Fill(1),
        w => Constraint::Length(*w),
    });
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(" processes "))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state =
        TableState::default().with_selected(selected.map(|i| i.saturating_sub(m.offset)));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_side(f: &mut Frame, m: &Model, area: Rect) {
    let [cpu_area, mem_area] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let current = m.current();
    let name = current.map_or_else(String::new, |r| format!("{} ({})", r.name, r.id));
    let hist = current.and_then(|r| m.history.get(&r.id));
    // As many of the newest samples as the pane is wide.
    let width = usize::from(area.width.saturating_sub(2));
    let newest = |v: Vec<u64>| -> Vec<u64> {
        let skip = v.len().saturating_sub(width);
        v[skip..].to_vec()
    };
    let cpu = hist.map_or_else(Vec::new, |h| newest(h.cpu.items()));
    let mem = hist.map_or_else(Vec::new, |h| newest(h.memory.items()));
    let cpu_title = format!(" cpu {name}  {} ", fmt_cpu(current.and_then(|r| r.cpu)));
    let mem_title = format!(
        " mem {name}  {} ",
        fmt_memory(current.and_then(|r| r.memory))
    );
    // Cpu on a scale of at least one core (1000 ‰), memory of its own peak.
    let cpu_max = cpu.iter().copied().max().unwrap_or(0).max(1000);
    f.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(cpu_title))
            .style(Style::new().fg(Color::Cyan))
            .max(cpu_max)
            .data(cpu),
        cpu_area,
    );
    f.render_widget(
        Sparkline::default()
            .block(Block::bordered().title(mem_title))
            .style(Style::new().fg(Color::Magenta))
            .data(mem),
        mem_area,
    );
}

fn draw_logs(f: &mut Frame, m: &Model, area: Rect) {
    let title = m.current().map_or_else(
        || " logs ".to_string(),
        |r| format!(" logs {} ({}) ", r.name, r.id),
    );
    let height = usize::from(area.height.saturating_sub(2));
    let skip = m.logs.len().saturating_sub(height);
    let lines: Vec<Line> = m
        .logs
        .iter()
        .skip(skip)
        .map(|(err, text)| {
            if *err {
                Line::styled(text.clone(), Style::new().fg(Color::Red))
            } else {
                Line::raw(text.clone())
            }
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn draw_help(f: &mut Frame) {
    let area = f.area();
    let w = area.width.min(76);
    let h = area.height.min(HELP.len() as u16 + 2);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>16}  "), Style::new().fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys ")),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_narrow_table_gives_up_columns_from_the_last_and_keeps_id_and_name() {
        // (inner width, columns kept)
        let cases = [
            (200, 7),
            (60, 7), // 49 fixed (each width + a space), + 8 of name
            (55, 6), // uptime goes first
            (40, 4), // then ↺ and mem
            (30, 3), // id, name, status
            (14, 2),
            (0, 2),
        ];
        for (inner, want) in cases {
            assert_eq!(columns_that_fit(inner), want, "{inner} columns");
        }
    }
}
