//! The supervision vocabulary shared by several actors. A child holds its parent as a
//! `Recipient` of the one message it sends, never as the parent's concrete `Addr`.

use actix::prelude::*;

use crate::supervision::policy::Exit;

/// A Process actor's instance tree has exited (the main process and everything it
/// started): sent to the App supervisor, which applies the restart policy.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ChildExited {
    /// The instance's key within the app (its number when its slot was made; unchanged
    /// when a lower instance's delete renumbers the others).
    pub instance: u32,
    /// The generation of the spawn that exited; a stale one is ignored.
    pub generation: u64,
    /// How the main process ended (None when it could not be spawned at all).
    pub exit: Option<Exit>,
    /// How long the main process ran, in ms.
    pub uptime_ms: u64,
    /// True when pmx asked for the stop (so no policy applies).
    pub requested: bool,
}

/// The Process actor spawned (or failed to spawn) its main process.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Spawned {
    /// The instance's key within the app (see [`ChildExited::instance`]).
    pub instance: u32,
    /// The generation of this spawn.
    pub generation: u64,
    /// The main process's pid, or why it could not start.
    pub result: Result<u32, SpawnFailure>,
}

/// Why a spawn failed: the message shown, and the system call's errno when one failed,
/// from which the App supervisor tells a lack of resources (retried) from a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnFailure {
    /// What failed and why, one line (`cannot exec /x: No such file or directory`).
    pub reason: String,
    /// The errno of the failed step (None when no system call failed).
    pub errno: Option<i32>,
}

/// The main process of a tree being stopped has exited, the rest of the tree not yet:
/// the instance stays `stopping` and its listed pid becomes null (SPEC §3).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct MainExited {
    /// The instance's key within the app (see [`ChildExited::instance`]).
    pub instance: u32,
    /// The generation of the run.
    pub generation: u64,
    /// How the main process ended.
    pub exit: Exit,
}

/// Timer message an App supervisor sends itself: start instance `instance` now, unless
/// `generation` is stale (a manual command came in between).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StartChild {
    /// The instance's key within the app (see [`ChildExited::instance`]).
    pub instance: u32,
    /// The generation the timer was set for.
    pub generation: u64,
}

/// An instance's process said it is ready (READY=1 on $NOTIFY_SOCKET, or a Node app's
/// `process.send('ready')`): sent to its App supervisor.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Ready {
    /// The instance's key within the app (see [`ChildExited::instance`]).
    pub instance: u32,
    /// The generation of the process that said it.
    pub generation: u64,
}

/// Timer message an App supervisor sends itself `listen_timeout` after a spawn of an app
/// that waits for readiness: `online` without a READY (PM2's rule), unless `generation`
/// is stale or it is ready already.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ReadyTimeout {
    /// The instance's key within the app (see [`ChildExited::instance`]).
    pub instance: u32,
    /// The generation the timer was set for.
    pub generation: u64,
}

/// The Reaper collected the exit of a registered pid.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Reaped {
    /// The pid that exited.
    pub pid: i32,
    /// How it exited.
    pub exit: Exit,
}

/// The Reaper collected the exit of a pid nobody registered: an adopted orphan. Sent to
/// every Process actor that is waiting for its tree to empty.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct OrphanReaped {
    /// The pid that exited.
    pub pid: i32,
}
