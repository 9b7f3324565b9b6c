//! The daemon's side of the fd holder (SPEC §5, the daemon's death): every descriptor an
//! app depends on — each process's stdout/stderr pipe read ends, a Node app's IPC channel,
//! the `listen` sockets and those bound for Node workers — is stored, with a label, in a
//! separate tiny process (`holder.rs`, `pmx __fdholder`), as s6-fdholder and systemd's
//! fd store keep them. With the daemon SIGKILLed an app's pipe still has a reader (no
//! SIGPIPE; it blocks once the pipe is full and loses nothing), its channel and sockets
//! stay open, and the next daemon takes them back (`crate::adopt`). Beside them, the
//! registry's state (`state`, a memfd of JSON: [`SavedState`]).
//!
//! One connection per daemon, behind a mutex (the pumps on the log thread forget their
//! labels at EOF). The daemon keeps a duplicate of what it stored (`mirror`): when the
//! holder dies while the daemon lives, a new one is started and everything is stored
//! again. Without a holder (unit tests, `pmx run`) every call is a no-op.
//!
//! Labels: `state`; `p:<id>:<generation>:<pid>:<start ticks>:<restarts>:out|err|chan`
//! (one process's pipes and channel; its pid and start time let the next daemon tell it
//! from a reused pid, and the instance's restart count rides along: the respawn path
//! writes no state); `l:<app name>` (its `listen` sockets, in order, in one message);
//! `n:<json: app, key, shown address, server data>` (a socket bound for Node workers);
//! `w:<json: the web setting>` (`pmx web`'s listening socket, `web::held_label`).

pub mod holder;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::home::Home;
use crate::protocol::{AppSpec, Group};

/// The format of [`SavedState`] this pmx writes and reads (`update` refuses a binary
/// that reads another).
pub const STATE_VERSION: u32 = 1;

/// The label of the registry's state.
pub const STATE: &str = "state";

/// The registry as the next daemon needs it: every app's spec (every env layer) and ids,
/// the next id, the groups.
#[derive(Serialize, Deserialize)]
pub struct SavedState {
    /// The format (1).
    pub version: u32,
    /// The id the next new instance gets.
    pub next_id: u64,
    /// Every app, in registry order.
    pub apps: Vec<SavedApp>,
    /// Every group, as declared, with the file it came from.
    pub groups: Vec<(Group, Option<PathBuf>)>,
    /// The inherited environments (the callers' of `start`/`up`), each once: the wire
    /// form of a spec leaves them out, and apps started by one command share one.
    pub inherited: Vec<BTreeMap<String, String>>,
}

/// One app of [`SavedState`].
#[derive(Serialize, Deserialize)]
pub struct SavedApp {
    /// Its spec as it runs (its inherited environment apart, see `inherited`).
    pub spec: AppSpec,
    /// Its ids, one per instance number.
    pub ids: Vec<u64>,
    /// Its inherited environment: an index into [`SavedState::inherited`].
    pub inherited: usize,
}

/// [`SavedState`] as written: borrowed, so a save copies no spec.
#[derive(Serialize)]
struct SavedStateRef<'a> {
    version: u32,
    next_id: u64,
    apps: Vec<SavedAppRef<'a>>,
    groups: Vec<(&'a Group, &'a Option<PathBuf>)>,
    inherited: Vec<&'a BTreeMap<String, String>>,
}

/// [`SavedApp`] as written.
#[derive(Serialize)]
struct SavedAppRef<'a> {
    spec: &'a AppSpec,
    ids: &'a [u64],
    inherited: usize,
}

impl SavedState {
    /// The JSON of the state of `apps` (spec, ids), `next_id` and `groups` (declaration,
    /// source), each inherited environment written once; nothing is copied.
    ///
    /// Errors: serde_json's (none for these types).
    pub fn json_of<'a>(
        apps: impl Iterator<Item = (&'a std::sync::Arc<AppSpec>, &'a [u64])>,
        next_id: u64,
        groups: impl Iterator<Item = (&'a Group, &'a Option<PathBuf>)>,
    ) -> serde_json::Result<Vec<u8>> {
        let mut seen: Vec<&std::sync::Arc<BTreeMap<String, String>>> = Vec::new();
        let mut saved = Vec::new();
        for (spec, ids) in apps {
            let env = &spec.env.inherited;
            let k = match seen
                .iter()
                .position(|e| std::sync::Arc::ptr_eq(e, env) || **e == *env)
            {
                Some(k) => k,
                None => {
                    seen.push(env);
                    seen.len() - 1
                }
            };
            saved.push(SavedAppRef {
                spec,
                ids,
                inherited: k,
            });
        }
        serde_json::to_vec(&SavedStateRef {
            version: STATE_VERSION,
            next_id,
            apps: saved,
            groups: groups.collect(),
            inherited: seen.into_iter().map(|e| &**e).collect(),
        })
    }

    /// The apps with their inherited environments back in their specs (shared).
    pub fn into_apps(self) -> Vec<(AppSpec, Vec<u64>)> {
        let envs: Vec<std::sync::Arc<BTreeMap<String, String>>> = self
            .inherited
            .into_iter()
            .map(std::sync::Arc::new)
            .collect();
        self.apps
            .into_iter()
            .map(|mut a| {
                if let Some(e) = envs.get(a.inherited) {
                    a.spec.env.inherited = e.clone();
                }
                (a.spec, a.ids)
            })
            .collect()
    }
}

/// The daemon's connection to its holder.
struct Store {
    sock: OwnedFd,
    /// A duplicate of everything stored, by label, to store again in a new holder.
    mirror: BTreeMap<String, Vec<OwnedFd>>,
    home: Home,
    /// The holder's pid.
    pid: i32,
    /// `quit` was called: a holder's death is expected.
    quitting: bool,
}

static STORE: Mutex<Option<Store>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Store) -> R) -> Option<R> {
    let mut g = STORE.lock().unwrap_or_else(|e| e.into_inner());
    g.as_mut().map(f)
}

/// `$PMX_HOME/fdholder.sock`.
pub fn socket_path(home: &Home) -> PathBuf {
    home.dir.join("fdholder.sock")
}

/// `$PMX_HOME/fdholder.pid`.
pub fn pid_path(home: &Home) -> PathBuf {
    home.dir.join("fdholder.pid")
}

fn connect(home: &Home) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let s = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(&socket_path(home))?;
    nix::sys::socket::connect(s.as_raw_fd(), &addr)?;
    Ok(s)
}

/// Bind a new holder's socket (0600) and start `pmx __fdholder` on it: its own session,
/// cwd `/`, stdio on /dev/null, the socket as fd 3. Answers the connection and its pid.
fn start_holder(home: &Home) -> std::io::Result<(OwnedFd, i32)> {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
    use std::os::unix::process::CommandExt;
    let path = socket_path(home);
    let _ = std::fs::remove_file(&path);
    let l = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = nix::sys::socket::UnixAddr::new(&path)?;
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = bind(l.as_raw_fd(), &addr);
    nix::sys::stat::umask(umask);
    bound?;
    listen(&l, Backlog::new(64).unwrap_or(Backlog::MAXCONN))?;
    let exe = std::env::current_exe()?;
    let raw = l.as_raw_fd();
    let mut cmd = std::process::Command::new(exe);
    // No environment: it needs none, and a process carrying the home's variables would
    // look like one of its apps.
    cmd.arg("__fdholder")
        .env_clear()
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::setsid();
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    // Reaped by the Reaper (the daemon's one waitid), never by std.
    std::mem::forget(child);
    let _ = crate::os::safe_path::write_new(
        &pid_path(home),
        format!("{pid}\n").as_bytes(),
        crate::os::safe_path::PRIVATE_FILE,
    );
    let s = connect(home)?;
    Ok((s, pid))
}

/// Ask the holder behind `sock` for everything it holds.
fn list(sock: &OwnedFd) -> std::io::Result<Vec<(String, Vec<OwnedFd>)>> {
    holder::send(sock.as_raw_fd(), b"L", &[])?;
    let mut out = Vec::new();
    loop {
        match holder::recv(sock.as_raw_fd())? {
            Some((m, fds)) if m.first() == Some(&b'E') => {
                out.push((String::from_utf8_lossy(&m[1..]).into_owned(), fds));
            }
            Some((m, _)) if m == b"." => return Ok(out),
            Some(_) => {}
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the fd holder hung up",
                ))
            }
        }
    }
}

/// Connect to the holder of `home` (under the daemon's lock), or start one. Answers what
/// an existing holder held (a daemon before this one died, or exec'd this one): the
/// caller adopts it. The holder keeps holding it until the caller forgets a label.
///
/// Errors: no holder could be reached or started (the daemon runs on without one, and
/// its apps then do not outlive it).
pub fn open(home: &Home) -> Result<Vec<(String, Vec<OwnedFd>)>, String> {
    let found = match connect(home) {
        Ok(s) => {
            let entries = list(&s).map_err(|e| format!("fd holder: {e}"))?;
            let pid = std::fs::read_to_string(pid_path(home))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            Some((s, pid, entries))
        }
        Err(_) => None,
    };
    let (sock, pid, entries) = match found {
        Some(f) => f,
        None => {
            let (s, pid) =
                start_holder(home).map_err(|e| format!("cannot start the fd holder: {e}"))?;
            (s, pid, Vec::new())
        }
    };
    let mut mirror = BTreeMap::new();
    for (label, fds) in &entries {
        let dups: Vec<OwnedFd> = fds.iter().filter_map(|f| f.try_clone().ok()).collect();
        mirror.insert(label.clone(), dups);
    }
    let mut g = STORE.lock().unwrap_or_else(|e| e.into_inner());
    *g = Some(Store {
        sock,
        mirror,
        home: home.clone(),
        pid,
        quitting: false,
    });
    Ok(entries)
}

/// The holder's pid (0: unknown), None without a holder.
pub fn holder_pid() -> Option<i32> {
    with(|s| s.pid)
}

impl Store {
    fn send(&mut self, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
        if holder::send(self.sock.as_raw_fd(), bytes, fds).is_ok() {
            return;
        }
        self.restart();
    }

    /// The holder is gone: start a new one and store everything again.
    fn restart(&mut self) {
        if self.quitting {
            return;
        }
        match start_holder(&self.home) {
            Ok((s, pid)) => {
                self.sock = s;
                self.pid = pid;
                let mut failed = 0;
                for (label, fds) in &self.mirror {
                    let mut m = vec![b'S'];
                    m.extend_from_slice(label.as_bytes());
                    let b: Vec<BorrowedFd> = fds.iter().map(|f| f.as_fd()).collect();
                    if holder::send(self.sock.as_raw_fd(), &m, &b).is_err() {
                        failed += 1;
                    }
                }
                tracing::warn!(
                    "the fd holder was gone: started another (pid {pid}), {} entries stored \
                     again{}",
                    self.mirror.len(),
                    if failed > 0 { ", some failed" } else { "" }
                );
            }
            Err(e) => tracing::error!("the fd holder is gone and cannot be started again: {e}"),
        }
    }
}

/// Store duplicates of `fds` under `label` (replacing what was stored under it).
pub fn store(label: &str, fds: &[BorrowedFd<'_>]) {
    with(|s| {
        let dups: Vec<OwnedFd> = fds
            .iter()
            .filter_map(|f| f.try_clone_to_owned().ok())
            .collect();
        let mut m = vec![b'S'];
        m.extend_from_slice(label.as_bytes());
        s.send(&m, fds);
        s.mirror.insert(label.to_string(), dups);
    });
}

/// Close what is stored under `label` (nothing when it holds nothing).
pub fn forget(label: &str) {
    with(|s| {
        if s.mirror.remove(label).is_some() {
            let mut m = vec![b'D'];
            m.extend_from_slice(label.as_bytes());
            s.send(&m, &[]);
        }
    });
}

/// Hold what is stored under `from` under `to` instead (nothing when `from` holds
/// nothing): a label that carries a setting (`web::held_label`) follows its change.
pub fn relabel(from: &str, to: &str) {
    if from == to {
        return;
    }
    with(|s| {
        let Some(fds) = s.mirror.remove(from) else {
            return;
        };
        let mut m = vec![b'S'];
        m.extend_from_slice(to.as_bytes());
        let b: Vec<BorrowedFd> = fds.iter().map(|f| f.as_fd()).collect();
        s.send(&m, &b);
        let mut d = vec![b'D'];
        d.extend_from_slice(from.as_bytes());
        s.send(&d, &[]);
        s.mirror.insert(to.to_string(), fds);
    });
}

/// Whether the holder holds anything of an app (more than the state).
pub fn holds_apps() -> bool {
    with(|s| s.mirror.keys().any(|k| k != STATE)).unwrap_or(false)
}

/// Whether a holder is in use.
pub fn active() -> bool {
    with(|_| ()).is_some()
}

/// Store the registry's state (a new memfd of its JSON, [`SavedState::json_of`],
/// replacing the last).
pub fn save_state(json: &[u8]) {
    if !active() {
        return;
    }
    let Some(fd) = memfd(json) else {
        tracing::error!("cannot write the daemon's state for the fd holder");
        return;
    };
    store(STATE, &[fd.as_fd()]);
}

/// A memfd holding `bytes`.
fn memfd(bytes: &[u8]) -> Option<OwnedFd> {
    // SAFETY: a NUL-terminated name and valid flags.
    let fd = unsafe { libc::memfd_create(c"pmx-state".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: memfd_create just returned it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(fd);
    f.write_all(bytes).ok()?;
    Some(f.into())
}

/// Read a state memfd stored by an earlier daemon.
pub fn read_state(fd: &OwnedFd) -> Result<SavedState, String> {
    use std::io::Read;
    let mut f = std::fs::File::from(fd.try_clone().map_err(|e| e.to_string())?);
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(|e| e.to_string())?;
    serde_json::from_slice(&text).map_err(|e| format!("the saved state: {e}"))
}

/// Tell the holder to exit and remove its socket and pid file (a clean end of the
/// daemon: every app stopped). Nothing without a holder.
pub fn quit() {
    let mut g = STORE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mut s) = g.take() {
        s.quitting = true;
        let _ = holder::send(s.sock.as_raw_fd(), b"Q", &[]);
        let _ = std::fs::remove_file(socket_path(&s.home));
        let _ = std::fs::remove_file(pid_path(&s.home));
    }
}

/// Watch the holder's pid (a pidfd, no polling): when it dies while the daemon lives, a
/// new one is started and everything stored again. Runs on the supervision arbiter.
pub fn watch() {
    actix_rt::spawn(async {
        loop {
            let Some(pid) = holder_pid().filter(|p| *p > 0) else {
                return;
            };
            let Some(exited) = crate::os::exit_of(pid) else {
                return;
            };
            exited.await;
            let again = with(|s| {
                if s.quitting || s.pid != pid {
                    return s.pid != pid && !s.quitting;
                }
                s.restart();
                true
            });
            if again != Some(true) {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::SavedState;
    use crate::protocol::AppSpec;

    fn spec(name: &str, inherited: &Arc<BTreeMap<String, String>>) -> Arc<AppSpec> {
        let mut s: AppSpec = crate::root::test_spec(name, 1);
        s.env.inherited = inherited.clone();
        s.env.env.insert("OWN".into(), name.into());
        Arc::new(s)
    }

    #[test]
    fn the_state_keeps_every_env_layer_and_each_inherited_environment_once() {
        let a = Arc::new(BTreeMap::from([("PATH".into(), "/a".into())]));
        let b = Arc::new(BTreeMap::from([("PATH".into(), "/b".into())]));
        let specs = [spec("x", &a), spec("y", &a), spec("z", &b)];
        let ids = [vec![0u64, 1], vec![2], vec![5]];
        let json = SavedState::json_of(
            specs.iter().zip(&ids).map(|(s, i)| (s, i.as_slice())),
            6,
            std::iter::empty(),
        )
        .expect("json");
        let back: SavedState = serde_json::from_slice(&json).expect("parse");
        assert_eq!(back.inherited.len(), 2, "one copy per distinct environment");
        assert_eq!(back.next_id, 6);
        let apps = back.into_apps();
        for ((got, got_ids), (want, want_ids)) in apps.iter().zip(specs.iter().zip(&ids)) {
            assert_eq!(got, &**want);
            assert_eq!(got_ids, want_ids);
        }
        assert!(Arc::ptr_eq(
            &apps[0].0.env.inherited,
            &apps[1].0.env.inherited
        ));
    }
}
