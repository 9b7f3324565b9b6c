//! The Watch actor's bookkeeping of watches: the holds on each directory's inotify watch
//! (a root's tree, an anchor waited on), and how a root is brought in line with the disk
//! (watched when it exists; its nearest existing ancestor watched while it does not).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use actix::prelude::*;
use notify::{RecursiveMode, Watcher};

use super::{limit_message, Ignore, Status, Watch};

/// One watched path of a registration.
pub(super) struct Root {
    /// Absolute, as registered (a file or a directory, existing or not).
    pub(super) path: PathBuf,
    /// The directories watched for it: its tree (a file: its directory).
    pub(super) dirs: HashSet<PathBuf>,
    /// While it does not exist: its nearest existing ancestor, watched (non-recursively)
    /// for it to appear.
    pub(super) anchor: Option<PathBuf>,
}

/// Every directory below `root` to watch (`root` first), skipping what `ignore` ignores,
/// `home` and symbolic links (not followed: a link out of the tree would watch elsewhere).
pub(super) fn walk(root: &Path, under: &Path, ignore: &Ignore, home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![under.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        out.push(d);
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if p.starts_with(home) {
                continue;
            }
            if p.strip_prefix(root).is_ok_and(|rel| ignore.ignored(rel)) {
                continue;
            }
            stack.push(p);
        }
    }
    out
}

impl Watch {
    /// Take a hold on the watch of `d`. The inotify watch is asked for at every hold, not
    /// only the first (notify makes it again when the directory at `d` is a new one: a
    /// directory removed and re-created gets its watch back). Answers whether `d` is
    /// watched (false: gone meanwhile, unreadable). Errors: a limit.
    pub(super) fn hold(&mut self, d: &Path, ctx: &mut Context<Self>) -> Result<bool, String> {
        let w = self.watcher(ctx)?;
        if let Err(e) = w.watch(d, RecursiveMode::NonRecursive) {
            if let Some(why) = limit_message(&e) {
                self.say_limit(&why);
                return Err(why);
            }
            tracing::debug!("watch {}: {e}", d.display());
            return Ok(false);
        }
        *self.dirs.entry(d.to_path_buf()).or_insert(0) += 1;
        Ok(true)
    }

    /// Give back a hold on `d` (the inotify watch goes with the last one).
    pub(super) fn release(&mut self, d: &Path) {
        let Some(n) = self.dirs.get_mut(d) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.dirs.remove(d);
            if let Some(w) = self.watcher.as_mut() {
                let _ = w.unwatch(d);
            }
        }
    }

    /// The root `idx` of `key`'s registration.
    pub(super) fn root(&mut self, key: u64, idx: usize) -> Option<&mut Root> {
        self.regs.get_mut(&key).and_then(|r| r.roots.get_mut(idx))
    }

    /// Add `dirs` to the tree of root `idx` of `key`. Errors: a limit (the ones added are
    /// kept: the caller gives them back).
    pub(super) fn add_dirs(
        &mut self,
        key: u64,
        idx: usize,
        dirs: Vec<PathBuf>,
        ctx: &mut Context<Self>,
    ) -> Result<(), String> {
        for d in dirs {
            if self.root(key, idx).is_none_or(|r| r.dirs.contains(&d)) {
                continue;
            }
            if self.hold(&d, ctx)? {
                if let Some(r) = self.root(key, idx) {
                    r.dirs.insert(d);
                }
            }
        }
        Ok(())
    }

    /// Everything at or below `path` went away (removed, or moved out): its watches are
    /// gone (the kernel ends a watch with its directory, and notify forgets every watch
    /// below a directory it saw go), so every hold on them is forgotten, for every
    /// registration, an anchor too (its root is settled again by the caller).
    pub(super) fn forget_under(&mut self, path: &Path) {
        // Only a watched directory takes watches with it (notify forgets those below a
        // path it watched): a file removed costs no walk over the watches.
        if !self.dirs.contains_key(path) {
            return;
        }
        let gone: Vec<PathBuf> = self
            .dirs
            .keys()
            .filter(|d| d.starts_with(path))
            .cloned()
            .collect();
        if gone.is_empty() {
            return;
        }
        for d in &gone {
            self.dirs.remove(d);
            if let Some(w) = self.watcher.as_mut() {
                // A directory moved away keeps its inotify watch (under its old path).
                let _ = w.unwatch(d);
            }
        }
        for reg in self.regs.values_mut() {
            for r in &mut reg.roots {
                r.dirs.retain(|d| !d.starts_with(path));
                if r.anchor.as_ref().is_some_and(|a| a.starts_with(path)) {
                    r.anchor = None;
                }
            }
        }
    }

    /// Bring root `idx` of `key` in line with the disk: an existing root without its
    /// watches (new, come back, re-created) gets its tree watched and its anchor given
    /// back; a missing one gives back its tree and gets its nearest existing ancestor
    /// watched, non-recursively (how watchexec and notify users wait for a path to
    /// appear). Answers whether the root came back (it was waited for and is watched now:
    /// a change). Errors: a limit.
    pub(super) fn settle(
        &mut self,
        key: u64,
        idx: usize,
        ctx: &mut Context<Self>,
    ) -> Result<bool, String> {
        // Each turn moves the anchor nearer to the root, or ends: the path's depth bounds
        // it (checked again after each move: the path may appear meanwhile).
        for _ in 0..=64 {
            let Some(reg) = self.regs.get(&key) else {
                return Ok(false);
            };
            let Some(root) = reg.roots.get(idx) else {
                return Ok(false);
            };
            let path = root.path.clone();
            let waited = root.anchor.clone();
            if let Ok(m) = std::fs::metadata(&path) {
                if waited.is_none() && !root.dirs.is_empty() {
                    return Ok(false);
                }
                let dirs = if m.is_dir() {
                    walk(&path, &path, &reg.ignore, &self.home)
                } else {
                    // A file: its directory is watched (an editor that saves by renaming
                    // a new file over it would leave a watch of the file itself behind).
                    path.parent()
                        .map(|p| vec![p.to_path_buf()])
                        .unwrap_or_default()
                };
                self.add_dirs(key, idx, dirs, ctx)?;
                if let Some(a) = self.root(key, idx).and_then(|r| r.anchor.take()) {
                    self.release(&a);
                }
                return Ok(waited.is_some());
            }
            let tree: Vec<PathBuf> = self
                .root(key, idx)
                .map(|r| r.dirs.drain().collect())
                .unwrap_or_default();
            let mut anchor = None;
            for a in path.ancestors().skip(1) {
                if !a.is_dir() {
                    continue;
                }
                if waited.as_deref() == Some(a) || self.hold(a, ctx)? {
                    anchor = Some(a.to_path_buf());
                    break;
                }
            }
            for d in &tree {
                self.release(d);
            }
            if anchor == waited && tree.is_empty() {
                return Ok(false);
            }
            if let Some(old) = waited.filter(|w| Some(w) != anchor.as_ref()) {
                self.release(&old);
            }
            let Some(r) = self.root(key, idx) else {
                return Ok(false);
            };
            r.anchor = anchor;
            if r.anchor.is_none() {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Tell `key`'s app what it watches, when that changed.
    pub(super) fn tell(&mut self, key: u64) {
        let Some(reg) = self.regs.get_mut(&key) else {
            return;
        };
        let now = reg.now();
        if now != reg.said {
            reg.said = now.clone();
            reg.status.do_send(Status { key, now });
        }
    }

    /// Forget `key`'s registration: its watches and its timer.
    pub(super) fn drop_reg(&mut self, key: u64, ctx: &mut Context<Self>) {
        let Some(reg) = self.regs.remove(&key) else {
            return;
        };
        if let Some(h) = reg.timer {
            ctx.cancel_future(h);
        }
        for r in &reg.roots {
            for d in r.dirs.iter().chain(&r.anchor) {
                self.release(d);
            }
        }
    }

    /// Settle the roots at or below `path` (see [`Watch::settle`]): all of them when it
    /// `left`, else those waited for. One that came back counts as a change.
    pub(super) fn settle_under(&mut self, path: &Path, left: bool, ctx: &mut Context<Self>) {
        let roots: Vec<(u64, usize)> = self
            .regs
            .iter()
            .flat_map(|(k, r)| {
                r.roots
                    .iter()
                    .enumerate()
                    .filter(|(_, root)| {
                        root.path.starts_with(path) && (left || root.anchor.is_some())
                    })
                    .map(move |(i, _)| (*k, i))
            })
            .collect();
        for (key, idx) in roots {
            // A limit is said once; the root stays as it was.
            if let Ok(true) = self.settle(key, idx, ctx) {
                if let Some(p) = self.root(key, idx).map(|r| r.path.clone()) {
                    self.bump(key, &p, ctx);
                }
            }
            self.tell(key);
        }
    }
}
