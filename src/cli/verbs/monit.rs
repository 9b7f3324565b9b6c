//! `pmx monit`: a terminal dashboard (PM2's `pm2 monit`) of every instance: the process
//! list with cpu and memory, the selected instance's last minute of both as sparklines,
//! its live log lines, the host's vitals, and keys to restart, reload and stop it.
//!
//! One loop owns the terminal and the [`Model`]; everything else comes to it as messages
//! on one channel, from threads that each block on one thing (no polling):
//! - the terminal reader: raw bytes read from the terminal, parsed into keys; EOF or an
//!   error (EIO: the terminal hung up) ends monit;
//! - the signal waiter: SIGHUP, SIGTERM, SIGINT (end monit, terminal restored), SIGWINCH
//!   (draw again at the new size), taken with `sigwait` as they are blocked everywhere;
//! - the lister: `list` once a second (and at once after an action) on its own
//!   connection, with the host's vitals from `/proc`;
//! - the follower: `subscribe` to `log` events on a second connection, as `pmx logs`
//!   follows; the model keeps the selected instance's lines;
//! - one short thread per action (`r`, `R`, `s`) on a connection of its own, so a restart
//!   that waits for a kill_timeout does not freeze the screen.
//!
//! The screen is drawn when something changed, at most every 100 ms. The terminal is
//! restored on every way out: quit, Ctrl-C, a signal, an error, a panic (a hook leaves
//! the alternate screen and raw mode before the panic is printed). The daemon going away
//! ends monit with exit 1 and a line saying so.

use std::io::{IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::prelude::CrosstermBackend;
use ratatui::Terminal;

use pmx::{Client, Home};
use pmx_protocol::{Event, ProcessInfo, Request, RestartRequest};

use crate::cli::monit::draw::draw;
use crate::cli::monit::model::{self, parse_keys, Effect, Host, Model, Verb};
use crate::cli::Failure;

/// How often the list is asked for.
const REFRESH: Duration = Duration::from_secs(1);

/// The shortest time between two draws: a chatty app's lines are drawn in batches, at
/// most ten frames a second (a 20-lines-a-second app cost 2.5 % of a core at 50 ms).
const MIN_FRAME: Duration = Duration::from_millis(100);

/// What the loop hears from its threads.
enum Msg {
    /// Bytes typed, as keys.
    Keys(Vec<model::Key>),
    /// The terminal is gone (EOF, EIO) or unreadable: why.
    InputGone(String),
    /// SIGHUP, SIGTERM or SIGINT.
    Ended(Signal),
    /// SIGWINCH.
    Resized,
    /// A fresh `list` and the host's vitals.
    Rows(Vec<ProcessInfo>, Host),
    /// The daemon stopped answering: why.
    DaemonGone(String),
    /// A log line: instance id, whether on stderr, the line.
    Log(u64, bool, String),
    /// An action finished: what the status line says.
    Done(String),
}

/// `pmx monit`.
///
/// Errors: exit 2 when stdout is not a terminal; exit 1 when the daemon cannot be
/// reached or goes away while monit runs, or the terminal cannot be set up.
pub fn run(home: &Home) -> Result<(), Failure> {
    if !std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "monit needs a terminal: stdout is not a tty (use `pmx list --json` in scripts)",
        ));
    }
    // Before the signals are blocked: a daemon this starts must not inherit the mask.
    let list_client = crate::cli::connect(home)?;
    let log_client = Client::connect(home)?;
    let input = open_input()?;

    let signals = watched_signals();
    signals
        .thread_set_mask()
        .map_err(|e| Failure::request(format!("cannot block signals: {e}")))?;
    let (tx, rx) = mpsc::channel();
    let (refresh_tx, refresh_rx) = mpsc::channel::<()>();
    spawn_signal_waiter(signals, tx.clone());
    spawn_lister(list_client, refresh_rx, tx.clone());
    spawn_follower(log_client, tx.clone());

    install_panic_hook();
    let guard = Screen::enter()?;
    spawn_reader(input, tx.clone());
    let outcome = event_loop(home, &rx, &tx, &refresh_tx);
    drop(guard);
    outcome
}

/// The terminal monit reads keys from: stdin when it is one, else `/dev/tty` (as
/// crossterm's raw mode picks it).
fn open_input() -> Result<std::fs::File, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let fd = stdin
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Failure::request(format!("cannot read the terminal: {e}")))?;
        return Ok(std::fs::File::from(fd));
    }
    std::fs::File::open("/dev/tty")
        .map_err(|e| Failure::request(format!("cannot open the terminal /dev/tty: {e}")))
}

/// The signals the waiter takes: SIGHUP, SIGTERM, SIGINT, SIGWINCH.
fn watched_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGWINCH,
    ] {
        s.add(sig);
    }
    s
}

/// The alternate screen in raw mode, left when dropped.
struct Screen;

impl Screen {
    fn enter() -> Result<Screen, Failure> {
        terminal::enable_raw_mode()
            .map_err(|e| Failure::request(format!("cannot put the terminal in raw mode: {e}")))?;
        let guard = Screen;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .map_err(|e| Failure::request(format!("cannot set up the terminal: {e}")))?;
        Ok(guard)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Leave the alternate screen and raw mode, show the cursor; errors (a terminal that is
/// gone) are ignored.
fn restore_terminal() {
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    let _ = std::io::stdout().flush();
}

/// A panic anywhere restores the terminal, then prints as usual and exits 101 (a
/// panicking helper thread would otherwise leave a frozen screen).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
        std::process::exit(101);
    }));
}

fn spawn_reader(input: std::fs::File, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        loop {
            let fd: BorrowedFd = input.as_fd();
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    let _ = tx.send(Msg::InputGone("the terminal closed".into()));
                    return;
                }
                Ok(n) => {
                    if tx.send(Msg::Keys(parse_keys(&buf[..n]))).is_err() {
                        return;
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => {
                    let _ = tx.send(Msg::InputGone(format!("cannot read the terminal: {e}")));
                    return;
                }
            }
        }
    });
}

fn spawn_signal_waiter(signals: SigSet, tx: Sender<Msg>) {
    std::thread::spawn(move || loop {
        let Ok(sig) = signals.wait() else { return };
        let msg = if sig == Signal::SIGWINCH {
            Msg::Resized
        } else {
            Msg::Ended(sig)
        };
        if tx.send(msg).is_err() {
            return;
        }
    });
}

fn spawn_lister(mut client: Client, refresh: Receiver<()>, tx: Sender<Msg>) {
    std::thread::spawn(move || loop {
        let msg = match client.call_as::<Vec<ProcessInfo>>(Request::List) {
            Ok(rows) => Msg::Rows(rows, model::read_host()),
            Err(e) => {
                let _ = tx.send(Msg::DaemonGone(e.to_string()));
                return;
            }
        };
        if tx.send(msg).is_err() {
            return;
        }
        match refresh.recv_timeout(REFRESH) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    });
}

fn spawn_follower(client: Client, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let sent = tx.clone();
        let end = client.subscribe(None, Some(vec!["log".into()]), move |e: Event| {
            let (Some(id), Some(line)) = (e.id, e.message) else {
                // `lagged`: lines dropped for this follower; nothing to show per instance.
                return true;
            };
            let err = e.stream.as_deref() == Some("err");
            sent.send(Msg::Log(id, err, line)).is_ok()
        });
        let why = match end {
            Ok(()) => "it closed the connection".to_string(),
            Err(e) => e.to_string(),
        };
        let _ = tx.send(Msg::DaemonGone(why));
    });
}

/// Send `verb` for instance `id` on a connection of its own; its outcome comes back as
/// `Done`, and the list is asked for again.
fn spawn_action(
    home: &Home,
    verb: Verb,
    id: u64,
    m: &Model,
    tx: &Sender<Msg>,
    refresh: &Sender<()>,
) {
    let (home, tx, refresh) = (home.clone(), tx.clone(), refresh.clone());
    let name = m
        .rows
        .iter()
        .find(|r| r.id == id)
        .map_or_else(String::new, |r| r.name.clone());
    std::thread::spawn(move || {
        let target = id.to_string();
        let restart = || RestartRequest {
            target: target.clone(),
            update_env: false,
            env: None,
            update: None,
        };
        let request = match verb {
            Verb::Restart => Request::Restart(restart()),
            Verb::Reload => Request::Reload(restart()),
            Verb::Stop => Request::Stop {
                unwatch: false,
                target: target.clone(),
            },
        };
        let done = match verb {
            Verb::Restart => "restarted",
            Verb::Reload => "reloaded",
            Verb::Stop => "stopped",
        };
        let outcome = Client::connect(&home).and_then(|mut c| c.call(request));
        let text = match outcome {
            Ok(_) => format!("{done} {name} ({id})"),
            Err(e) => format!("{} {name} ({id}) failed: {e}", verb.doing()),
        };
        let _ = tx.send(Msg::Done(text));
        let _ = refresh.send(());
    });
}

fn event_loop(
    home: &Home,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    refresh: &Sender<()>,
) -> Result<(), Failure> {
    let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .map_err(|e| Failure::request(format!("cannot set up the terminal: {e}")))?;
    let mut m = Model {
        host: model::read_host(),
        status: "connecting…".into(),
        ..Model::default()
    };
    let mut dirty = true;
    let mut last_draw = Instant::now() - MIN_FRAME;
    loop {
        if dirty {
            let wait = MIN_FRAME.saturating_sub(last_draw.elapsed());
            if wait.is_zero() {
                term.draw(|f| draw(f, &mut m))
                    .map_err(|e| Failure::request(format!("cannot draw on the terminal: {e}")))?;
                last_draw = Instant::now();
                dirty = false;
            }
        }
        // Without a pending draw, sleep until a message comes (the lister sends one a
        // second); with one, only until it is due.
        let msg = if dirty {
            match rx.recv_timeout(MIN_FRAME.saturating_sub(last_draw.elapsed())) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        } else {
            match rx.recv() {
                Ok(msg) => msg,
                Err(_) => return Ok(()),
            }
        };
        match msg {
            Msg::Keys(keys) => {
                for k in keys {
                    match m.key(k) {
                        Effect::None => {}
                        Effect::Quit => return Ok(()),
                        Effect::Act(verb, id) => spawn_action(home, verb, id, &m, tx, refresh),
                    }
                }
                dirty = true;
            }
            Msg::InputGone(why) => return Err(Failure::request(format!("{why}; monit stops"))),
            Msg::Ended(sig) => return Err(Failure::request(format!("monit ended by {sig}"))),
            Msg::Resized => {
                let _ = term.autoresize();
                dirty = true;
            }
            Msg::Rows(rows, host) => {
                if m.status == "connecting…" {
                    m.status.clear();
                }
                m.set_rows(rows);
                m.host = host;
                dirty = true;
            }
            Msg::DaemonGone(why) => {
                return Err(Failure::request(format!(
                    "the daemon went away ({why}); monit stops"
                )))
            }
            Msg::Log(id, err, line) => dirty |= m.log(id, err, &line),
            Msg::Done(text) => {
                m.status = text;
                dirty = true;
            }
        }
    }
}
