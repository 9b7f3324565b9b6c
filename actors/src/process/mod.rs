//! Process actor: owns one process of an instance — one generation — and, through it, its
//! whole process tree (SPEC §5: an instance is its tree, as a systemd unit is its cgroup).
//! The App supervisor starts one per spawn, so a replacement can run beside the process it
//! replaces: each tree has its own marker (`<home tag>:<id>:<generation>`) and each
//! actor's scans match exactly its own. It stops itself once its tree is gone and
//! reported. It spawns the main process when its App supervisor asks, pumps its output to
//! the log actors,
//! hears its exit from the Reaper, and stops the tree: `kill_signal` to the group, then
//! SIGKILL after `kill_timeout` to every remaining descendant, setsid'd ones included.
//! With `shutdown_with_message` (PM2's), a Node app is asked by the IPC message
//! `'shutdown'` instead of the signal; what outlives its main process gets the signal, and
//! SIGKILL follows after `kill_timeout` all the same.
//!
//! It reports [`ChildExited`] only once the tree is gone, so a replacement never starts
//! beside a leftover worker that holds the port. It never restarts anything itself: the
//! decision is the App supervisor's.
//!
//! The stopping of the tree ([`Terminate`], the kill timer, the orphan scan and the exit
//! report) lives in `process/stop.rs`.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use nix::sys::signal::Signal;

use crate::log::{pump_then_forget, PumpTarget};
use crate::messages::{ChildExited, MainExited, OrphanReaped, Reaped, SpawnFailure, Spawned};
use crate::os::{self, SpawnSpec};
use crate::reaper::SharedPids;
use crate::supervision::policy::Exit;

mod adopt;
mod stop;

pub use adopt::Adopt;
use stop::Stopping;
pub use stop::Terminate;

/// The Process actor: one instance.
pub struct Process {
    id: u64,
    instance: u32,
    marker: String,
    /// `PMX_TREE=<marker>`, swapped into the prepared environment at the spawn.
    marker_env: Option<CString>,
    pid_file: PathBuf,
    parent_exit: Recipient<ChildExited>,
    parent_spawned: Recipient<Spawned>,
    parent_main_exited: Recipient<MainExited>,
    pids: SharedPids,
    log_arbiter: ArbiterHandle,
    generation: u64,
    /// The main process's pid while it has not been reaped.
    pid: Option<i32>,
    /// The main process's pid (and pgid) of the current run, kept after it exits.
    pgid: Option<i32>,
    started: Option<Instant>,
    main_exit: Option<Exit>,
    uptime_ms: u64,
    stopping: Option<Stopping>,
    kill_signal: Signal,
    kill_timeout: Duration,
    /// Set by `stopped()`: a Drop without it means the actor panicked.
    clean: bool,
    /// A Node app's IPC channel: where it reports (None: not a Node app).
    node: Option<crate::node::Link>,
    /// The running process's channel, to send it `'shutdown'` (taken when sent).
    outbox: Option<crate::node::channel::Outbox>,
    /// Its labels' common part in the fd holder (`crate::adopt::label`).
    label: Option<String>,
    /// The instance's restart count at this spawn (in the label).
    restarts: u64,
    /// Taken over from an earlier daemon and not this one's child: its tree's exits reach
    /// no Reaper here (see `adopt.rs`).
    adopted: bool,
}

/// What a Process actor is built from.
pub struct ProcessParts {
    /// The instance's id (as listed).
    pub id: u64,
    /// What its reports are addressed by within its app (the `instance` of `Spawned`,
    /// `MainExited`, `ChildExited`): the slot's key, which a renumbering of the app's
    /// instances leaves alone.
    pub instance: u32,
    /// The generation this actor runs (one actor per spawn).
    pub generation: u64,
    /// The tree marker (`<home tag>:<id>:<generation>`), set in the spawned environment.
    pub marker: String,
    /// `pids/<name>-<id>.pid` (PM2's name): written at the spawn, removed at the exit only
    /// while it still names this process (a newer one of the instance may own it).
    pub pid_file: PathBuf,
    /// Where to report the tree's exit.
    pub parent_exit: Recipient<ChildExited>,
    /// Where to report a spawn.
    pub parent_spawned: Recipient<Spawned>,
    /// Where to report a main process gone before its tree.
    pub parent_main_exited: Recipient<MainExited>,
    /// The Reaper's table.
    pub pids: SharedPids,
    /// The log arbiter, where the pumps run.
    pub log_arbiter: ArbiterHandle,
    /// A Node app: give it Node's IPC channel, reporting there (`crate::node`).
    pub node: Option<crate::node::Link>,
}

/// Where an instance's output goes: its stdout and stderr log routes. Given with each
/// [`Spawn`], so a changed spec's routes (files, `time`, merge) apply from the next spawn.
#[derive(Clone)]
pub struct Routes {
    /// Where stdout goes (shared by the pumps of every process of the instance).
    pub out: Arc<PumpTarget>,
    /// Where stderr goes.
    pub err: Arc<PumpTarget>,
}

impl Process {
    /// A Process actor for one instance.
    pub fn new(p: ProcessParts) -> Process {
        let marker_env = CString::new(format!("{}={}", os::MARKER_VAR, p.marker)).ok();
        Process {
            id: p.id,
            instance: p.instance,
            marker_env,
            marker: p.marker,
            pid_file: p.pid_file,
            parent_exit: p.parent_exit,
            parent_spawned: p.parent_spawned,
            parent_main_exited: p.parent_main_exited,
            pids: p.pids,
            log_arbiter: p.log_arbiter,
            generation: p.generation,
            pid: None,
            pgid: None,
            started: None,
            main_exit: None,
            uptime_ms: 0,
            stopping: None,
            kill_signal: Signal::SIGINT,
            kill_timeout: Duration::from_millis(1600),
            clean: false,
            node: p.node,
            outbox: None,
            label: None,
            restarts: 0,
            adopted: false,
        }
    }
}

impl Actor for Process {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        // actix stops a context whose future is dropped, also while a handler's panic
        // unwinds through it: that stop is not a clean one.
        self.clean = !std::thread::panicking();
    }
}

impl Drop for Process {
    // An actor panic drops the actor without `stopped()`: kill what it owned and tell the
    // supervisor, which sees it as this child's exit (SPEC §3: a panic never takes the
    // daemon down).
    fn drop(&mut self) {
        if self.clean {
            return;
        }
        tracing::error!(
            "process actor of id {} panicked; its tree is killed",
            self.id
        );
        if let Some(pgid) = self.pgid {
            os::signal_group(pgid, Signal::SIGKILL);
        }
        for pid in os::marked_processes(&self.marker) {
            os::signal_pid(pid, Signal::SIGKILL);
        }
        self.parent_exit.do_send(ChildExited {
            instance: self.instance,
            generation: self.generation,
            exit: None,
            uptime_ms: 0,
            requested: false,
        });
    }
}

/// The errno behind a failed spawn: the error's own, or that of its source (a step of
/// the spawned child that failed is reported with what it was doing, its errno beneath).
fn os_errno(e: &std::io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()?
            .source()?
            .downcast_ref::<std::io::Error>()?
            .raw_os_error()
    })
}

/// Spawn the main process for `generation`; answered by [`Spawned`] to the parent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Spawn {
    /// The App supervisor's generation for this run.
    pub generation: u64,
    /// What to exec (prepared once per instance and spec).
    pub spec: Arc<SpawnSpec>,
    /// `kill_signal`, used when the main process dies and leaves workers behind.
    pub kill_signal: Signal,
    /// `kill_timeout`, likewise.
    pub kill_timeout: Duration,
    /// Where its output goes.
    pub routes: Arc<Routes>,
    /// The app's listening sockets, lent as fds 3.. with `LISTEN_FDS`, `LISTEN_PID` and
    /// `LISTEN_FDNAMES` (cluster mode); None: none.
    pub listen: Option<Arc<os::listen::ListenSockets>>,
    /// Write the pid file at the spawn: false for a rolling reload's replacement, which
    /// writes it when it takes the instance over ([`Promote`]), so the file names the
    /// listed process throughout.
    pub pid_file: bool,
    /// The instance's restart count, carried in the fd holder's label so a next daemon
    /// lists it again (`crate::adopt`).
    pub restarts: u64,
}

impl Handler<Spawn> for Process {
    type Result = ();
    fn handle(&mut self, msg: Spawn, ctx: &mut Context<Self>) {
        self.generation = msg.generation;
        self.restarts = msg.restarts;
        self.kill_signal = msg.kill_signal;
        self.kill_timeout = msg.kill_timeout;
        self.main_exit = None;
        self.stopping = None;
        let mut fds = msg.listen.as_ref().map(|l| l.raw_fds()).unwrap_or_default();
        // A Node app's IPC channel: its end the fd after the listen sockets.
        let channel = self
            .node
            .as_ref()
            .map(|link| crate::node::channel::open(link, self.id, 3 + fds.len()))
            .transpose();
        let (channel, opened, broken) = match channel {
            Ok(Some(o)) => {
                self.outbox = Some(o.outbox);
                (Some(o.channel), Some((o.child, o.env)), None)
            }
            Ok(None) => (None, None, None),
            Err(e) => (
                None,
                None,
                Some(std::io::Error::new(
                    e.kind(),
                    format!("cannot make its IPC channel: {e}"),
                )),
            ),
        };
        fds.extend(opened.as_ref().map(|(child, _)| child.as_raw_fd()));
        let env: Vec<&std::ffi::CStr> = self
            .marker_env
            .as_deref()
            .into_iter()
            .chain(msg.listen.as_ref().map(|l| l.names_entry()))
            .chain(
                opened
                    .iter()
                    .flat_map(|(_, env)| env.iter().map(|e| e.as_c_str())),
            )
            .collect();
        let extras = os::SpawnExtras {
            fds: &fds,
            env: &env,
            listen_fds: msg.listen.is_some(),
            uncounted: usize::from(opened.is_some()),
        };
        let spawned = match broken {
            Some(e) => Err(e),
            None => os::spawn_with(&msg.spec, &extras),
        };
        // The child's end is the child's alone: closed here, so the channel ends with it.
        drop(opened);
        let result = match spawned {
            Ok(sp) => {
                let base = self.store_label(sp.pid);
                if let Some(b) = &base {
                    use std::os::fd::AsFd;
                    crate::fdstore::store(&format!("{b}:out"), &[sp.stdout.as_fd()]);
                    crate::fdstore::store(&format!("{b}:err"), &[sp.stderr.as_fd()]);
                    if let Some(c) = &channel {
                        crate::fdstore::store(&format!("{b}:chan"), &[c.as_fd()]);
                    }
                }
                if let Some(channel) = channel {
                    let (instance, generation) = (self.instance, self.generation);
                    ctx.spawn(channel.serve(instance, generation).into_actor(self));
                }
                self.pids
                    .borrow_mut()
                    .register(sp.pid, ctx.address().recipient());
                self.pid = Some(sp.pid);
                self.pgid = Some(sp.pid);
                self.started = Some(Instant::now());
                let (out, err) = (msg.routes.out.clone(), msg.routes.err.clone());
                let (out_fd, err_fd) = (sp.stdout, sp.stderr);
                // One task per pipe: a wrapper future holding one pump and spawning the
                // other cost a third allocation of a pump's size per process.
                let labels = base
                    .as_ref()
                    .map(|b| (format!("{b}:out"), format!("{b}:err")));
                let (out_label, err_label) = labels.unzip();
                self.log_arbiter
                    .spawn(pump_then_forget(out_fd, out, out_label));
                self.log_arbiter
                    .spawn(pump_then_forget(err_fd, err, err_label));
                self.label = base;
                if msg.pid_file {
                    self.write_pid_file(sp.pid);
                }
                Ok(sp.pid as u32)
            }
            Err(e) => Err(SpawnFailure {
                reason: e.to_string(),
                errno: os_errno(&e),
            }),
        };
        let failed = result.is_err();
        self.parent_spawned.do_send(Spawned {
            instance: self.instance,
            generation: self.generation,
            result,
        });
        if failed {
            // Nothing to watch: this actor served one spawn.
            ctx.stop();
        }
    }
}

/// This process takes its instance over (a rolling reload's replacement, once online):
/// the pid file names it from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Promote;

impl Handler<Promote> for Process {
    type Result = ();
    fn handle(&mut self, _: Promote, _: &mut Context<Self>) {
        if let Some(pid) = self.pid {
            self.write_pid_file(pid);
        }
    }
}

/// Send a signal to the main process (PM2's `sendSignal`).
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct SendSignal(pub Signal);

impl Handler<SendSignal> for Process {
    type Result = Result<(), String>;
    fn handle(&mut self, msg: SendSignal, _: &mut Context<Self>) -> Self::Result {
        match self.pid {
            Some(pid) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), msg.0)
                .map_err(|e| format!("cannot signal pid {pid}: {e}")),
            None => Err("not running".into()),
        }
    }
}

impl Handler<Reaped> for Process {
    type Result = ();
    fn handle(&mut self, msg: Reaped, ctx: &mut Context<Self>) {
        self.main_gone(msg.pid, Some(msg.exit), ctx);
    }
}

impl Process {
    /// The main process `pid` is gone, with `exit` (None: unknown, an adopted process
    /// that is not the daemon's child).
    pub(crate) fn main_gone(&mut self, pid: i32, exit: Option<Exit>, ctx: &mut Context<Self>) {
        if Some(pid) != self.pid {
            return;
        }
        self.pid = None;
        self.main_exit = exit;
        self.uptime_ms = self
            .started
            .map(|s| s.elapsed().as_millis() as u64)
            .unwrap_or(0);
        if self.stopping.is_none() {
            if !self.tree_alive() {
                self.report_exit(false, ctx);
                // After the report: the respawn does not wait for the file system.
                self.remove_pid_file(pid);
                return;
            }
            // The main process died and left workers behind: stop them the same way
            // before anything replaces it.
            self.begin_stop(false, self.kill_signal, self.kill_timeout, false, ctx);
        } else if let Some(stop) = self.stopping.as_mut().filter(|s| s.by_message) {
            // It exited on 'shutdown': what it left behind gets the signal.
            stop.by_message = false;
            if let Some(pgid) = self.pgid {
                os::signal_group(pgid, stop.signal);
            }
        }
        self.remove_pid_file(pid);
        self.finish_if_gone(ctx);
        if let (Some(_), Some(exit)) = (self.pgid, self.main_exit) {
            self.parent_main_exited.do_send(MainExited {
                instance: self.instance,
                generation: self.generation,
                exit,
            });
        }
    }
}

impl Handler<OrphanReaped> for Process {
    type Result = ();
    fn handle(&mut self, _: OrphanReaped, ctx: &mut Context<Self>) {
        self.finish_if_gone(ctx);
    }
}

impl Process {
    /// The common part of this process's labels in the fd holder, None without one.
    fn store_label(&self, pid: i32) -> Option<String> {
        crate::fdstore::active().then(|| {
            let ticks = os::stat_of(pid).map(|(_, t)| t).unwrap_or(0);
            crate::adopt::label(self.id, self.generation, pid, ticks, self.restarts)
        })
    }

    /// Write `pid` into the pid file: created anew 0600, whatever the umask, never
    /// through a link.
    fn write_pid_file(&self, pid: i32) {
        let _ = crate::os::safe_path::write_new(
            &self.pid_file,
            format!("{pid}\n").as_bytes(),
            crate::os::safe_path::PRIVATE_FILE,
        );
    }

    /// Remove the pid file if it still names `pid`: a newer process of the instance may
    /// already own it (a replacement started beside this one).
    fn remove_pid_file(&self, pid: i32) {
        let ours = std::fs::read_to_string(&self.pid_file)
            .is_ok_and(|s| s.trim().parse::<i32>().ok() == Some(pid));
        if ours {
            let _ = std::fs::remove_file(&self.pid_file);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::reaper::{PidTable, Reaper};

    /// Panics in the handler: the stand-in for a bug in the actor.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Panic;

    impl Handler<Panic> for Process {
        type Result = ();
        fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
            panic!("a bug in the process actor");
        }
    }

    /// Records what a Process actor reports to its parent.
    #[derive(Default)]
    struct Recorder {
        exits: Arc<Mutex<Vec<ChildExited>>>,
        spawns: Arc<Mutex<Vec<Spawned>>>,
    }
    impl Actor for Recorder {
        type Context = Context<Self>;
    }
    impl Handler<ChildExited> for Recorder {
        type Result = ();
        fn handle(&mut self, m: ChildExited, _: &mut Context<Self>) {
            self.exits.lock().expect("lock").push(m);
        }
    }
    impl Handler<MainExited> for Recorder {
        type Result = ();
        fn handle(&mut self, _: MainExited, _: &mut Context<Self>) {}
    }
    impl Handler<Spawned> for Recorder {
        type Result = ();
        fn handle(&mut self, m: Spawned, _: &mut Context<Self>) {
            self.spawns.lock().expect("lock").push(m);
        }
    }

    fn target(stream: &'static str) -> PumpTarget {
        PumpTarget {
            files: vec![],
            shared: false,
            time_format: None,
            json: false,
            app: "t".into(),
            id: 0,
            stream,
            events: None,
            console: None,
        }
    }

    async fn until(mut cond: impl FnMut() -> bool) -> bool {
        for _ in 0..1000 {
            if cond() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[actix::test]
    async fn a_panic_kills_the_tree_and_reports_an_exit_to_the_supervisor() {
        let exits = Arc::new(Mutex::new(Vec::new()));
        let spawns = Arc::new(Mutex::new(Vec::new()));
        let parent = Recorder {
            exits: exits.clone(),
            spawns: spawns.clone(),
        }
        .start();
        let pids = Rc::new(RefCell::new(PidTable::default()));
        Reaper::new(pids.clone()).start();
        let log_arbiter = Arbiter::new();
        let marker = format!("unit-{}", std::process::id());
        let process = Process::new(ProcessParts {
            id: 0,
            instance: 0,
            generation: 1,
            marker: marker.clone(),
            pid_file: std::env::temp_dir().join(format!("pmx-unit-{}.pid", std::process::id())),
            parent_exit: parent.clone().recipient(),
            parent_spawned: parent.clone().recipient(),
            parent_main_exited: parent.clone().recipient(),
            pids,
            log_arbiter: log_arbiter.handle(),
            node: None,
        })
        .start();
        let mut env: BTreeMap<String, String> = std::env::vars().collect();
        env.insert(crate::os::MARKER_VAR.into(), marker);
        process.do_send(Spawn {
            generation: 1,
            spec: Arc::new(
                SpawnSpec::new(
                    std::path::Path::new("/bin/sleep"),
                    &["1000".to_string()],
                    std::path::Path::new("/"),
                    &env,
                    None,
                    None,
                    None,
                )
                .expect("spec"),
            ),
            kill_signal: Signal::SIGINT,
            kill_timeout: Duration::from_millis(1600),
            routes: Arc::new(Routes {
                out: Arc::new(target("out")),
                err: Arc::new(target("err")),
            }),
            listen: None,
            pid_file: true,
            restarts: 0,
        });
        assert!(until(|| !spawns.lock().expect("lock").is_empty()).await);
        let pid = spawns.lock().expect("lock")[0]
            .result
            .clone()
            .expect("spawned") as i32;
        process.do_send(Panic);
        assert!(
            until(|| !exits.lock().expect("lock").is_empty()).await,
            "the supervisor hears the panic as the child's exit"
        );
        let exit = exits.lock().expect("lock")[0].clone();
        assert!(exit.exit.is_none() && !exit.requested);
        // The tree was SIGKILLed; the Reaper collects it (its recipient is gone).
        assert!(
            until(|| !crate::os::pid_alive(pid)).await,
            "the tree of a panicked actor is killed"
        );
        assert!(!process.connected());
        log_arbiter.stop();
    }
}
