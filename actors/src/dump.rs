//! `dump.ron`, the saved process list (SPEC §2, §7): its format ([`Dump`], RON with a
//! `version`), its atomic write ([`write`]: a temporary file in the same directory,
//! fsync, the previous dump kept as `dump.ron.bak`, rename, fsync of the directory), its
//! reading with the fallback to `dump.ron.bak` ([`load`]), and the digest that tells
//! `pmx list` whether the running set is the saved one ([`Digest`]).
//!
//! No actix: the Root builds a [`Dump`] from its registry (`root/snapshot.rs`) and runs
//! [`write`] off the supervision arbiter; this file is plain data and file I/O, tested
//! as such. PM2 writes `dump.pm2` as JSON with a `.bak` beside it (`lib/API.js`,
//! `dump`); pmx adds the version, the fsyncs and the refusal to shrink a dump to nothing.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::protocol::{AppSpec, Group, Home, Status};

/// The format version this build writes and reads; a dump with a higher one (written by
/// a newer pmx) is refused, naming both, rather than read wrong.
pub const DUMP_VERSION: u32 = 1;

/// The saved process list, as `dump.ron` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dump {
    /// [`DUMP_VERSION`] when written.
    pub version: u32,
    /// The pmx semver that wrote it (informative).
    pub pmx: String,
    /// The inherited environment layers (SPEC §4), each once: apps started by one
    /// command share theirs, and [`SavedApp::inherited`] indexes this list.
    pub environments: Vec<BTreeMap<String, String>>,
    /// Every app, in the registry's order.
    pub apps: Vec<SavedApp>,
    /// Every supervision group, in the registry's order.
    pub groups: Vec<SavedGroup>,
    /// `pmx web`'s setting when it was on (a dump written before `pmx web` existed, or
    /// with the service off, has none: `resurrect` leaves it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<crate::web::WebSetting>,
}

/// One saved app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedApp {
    /// The full resolved spec: every field as declared (`instances` after scaling,
    /// `Max`/`MaxMinus` kept as such), the program, its arguments, the cwd, the
    /// `env_file`, `env` and `envs` layers, the source file and the `--env` chosen. Its
    /// inherited layer is not in it (serde skips it): see [`SavedApp::inherited`].
    pub spec: AppSpec,
    /// The index of its inherited layer in [`Dump::environments`].
    pub inherited: usize,
    /// Its instances' ids when saved, by instance number (kept by `resurrect` when free).
    pub ids: Vec<u64>,
    /// Each instance's status when saved, by instance number.
    pub status: Vec<SavedStatus>,
}

/// What `resurrect` brings an instance back as (a status word reduced to what a boot
/// can reproduce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SavedStatus {
    /// Running (`online`, `launching`, `waiting restart`): started.
    Running,
    /// `stopped` or `stopping`: registered, not started.
    Stopped,
    /// `errored`: registered and marked errored, not started (it had given up; a boot
    /// does not restart a crash loop the user has not looked at).
    Errored,
}

impl SavedStatus {
    /// The saved form of a status word.
    pub fn of(status: Status) -> SavedStatus {
        match status {
            Status::Online | Status::Launching | Status::WaitingRestart => SavedStatus::Running,
            Status::Stopped | Status::Stopping => SavedStatus::Stopped,
            Status::Errored => SavedStatus::Errored,
        }
    }
}

/// One saved supervision group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedGroup {
    /// The group as declared: name, strategy, intensity, members in order.
    pub group: Group,
    /// The ecosystem file it came from (the scope of `up`'s dissolving).
    pub source: Option<PathBuf>,
}

impl Dump {
    /// The dump as RON text.
    ///
    /// Errors: a value RON cannot write (a path that is not UTF-8), as one line.
    pub fn encode(&self) -> Result<String, String> {
        let config = ron::ser::PrettyConfig::new()
            .struct_names(true)
            .indentor("  ".to_string());
        ron::ser::to_string_pretty(self, config)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| format!("cannot write the process list: {e}"))
    }

    /// Read a dump from its RON text: the version first (a newer format is refused,
    /// naming it), then the whole.
    ///
    /// Errors: one line saying what is wrong and where (RON's line:column).
    pub fn decode(text: &str) -> Result<Dump, String> {
        /// Only the version: read before the rest, so a newer format is named as such
        /// rather than reported as a field this build does not know.
        #[derive(Deserialize)]
        #[serde(rename = "Dump")]
        struct Version {
            version: u32,
        }
        let v: Version = ron::from_str(text).map_err(|e| e.to_string())?;
        if v.version > DUMP_VERSION {
            return Err(format!(
                "format version {} is newer than this pmx's ({DUMP_VERSION}); run the pmx that wrote it",
                v.version
            ));
        }
        let dump: Dump = ron::from_str(text).map_err(|e| e.to_string())?;
        for app in &dump.apps {
            if app.inherited >= dump.environments.len() {
                return Err(format!(
                    "app \"{}\": environment {} does not exist",
                    app.spec.app.name, app.inherited
                ));
            }
        }
        Ok(dump)
    }

    /// The inherited layer of `app` (one shared map per saved environment).
    pub fn inherited_of(&self, app: &SavedApp) -> BTreeMap<String, String> {
        self.environments
            .get(app.inherited)
            .cloned()
            .unwrap_or_default()
    }

    /// The environments as shared maps, index for index (one `Arc` per saved layer, so
    /// restored apps share them as the apps they were saved from did).
    pub fn shared_environments(&self) -> Vec<Arc<BTreeMap<String, String>>> {
        self.environments.iter().cloned().map(Arc::new).collect()
    }

    /// This dump's [`Digest`].
    pub fn digest(&self) -> u64 {
        let mut d = Digest::default();
        for app in &self.apps {
            d.app(
                &app.spec,
                self.environments.get(app.inherited),
                app.status.iter().copied(),
            );
        }
        for g in &self.groups {
            d.group(&g.group, g.source.as_deref());
        }
        d.finish()
    }
}

/// A digest of a process set (each app's spec, inherited layer and instances' saved
/// statuses, the groups), independent of the apps' order and of their ids: equal for
/// the running set and the dump it was saved to, or resurrected from. FNV-1a 64 over
/// the JSON of each part (stable across builds).
#[derive(Default)]
pub struct Digest {
    apps: Vec<(String, u64)>,
    groups: Vec<(String, u64)>,
}

/// FNV-1a 64 as a `Hasher` (the parameters of `pmx_protocol::home::fnv1a64`).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl Digest {
    /// The hash of one app's spec and inherited layer (None: empty): what
    /// [`Digest::app_hashed`] takes, so a caller can keep it while the spec is unchanged.
    pub fn spec_hash(spec: &AppSpec, inherited: Option<&BTreeMap<String, String>>) -> u64 {
        let mut h = Fnv::default();
        h.write(serde_json::to_string(spec).unwrap_or_default().as_bytes());
        h.write(&[0]);
        if let Some(env) = inherited {
            h.write(serde_json::to_string(env).unwrap_or_default().as_bytes());
        }
        h.finish()
    }

    /// Add one app: its spec, its inherited layer (None: empty) and its instances'
    /// statuses in instance order.
    pub fn app(
        &mut self,
        spec: &AppSpec,
        inherited: Option<&BTreeMap<String, String>>,
        status: impl Iterator<Item = SavedStatus>,
    ) {
        let hash = Digest::spec_hash(spec, inherited);
        self.app_hashed(&spec.app.name, hash, status);
    }

    /// Add one app by its [`Digest::spec_hash`].
    pub fn app_hashed(
        &mut self,
        name: &str,
        spec_hash: u64,
        status: impl Iterator<Item = SavedStatus>,
    ) {
        let mut h = Fnv::default();
        h.write(&spec_hash.to_le_bytes());
        for s in status {
            h.write(&[s as u8 + 1]);
        }
        self.apps.push((name.to_string(), h.finish()));
    }

    /// Add one group and the file it came from.
    pub fn group(&mut self, group: &Group, source: Option<&Path>) {
        let mut h = Fnv::default();
        h.write(serde_json::to_string(group).unwrap_or_default().as_bytes());
        h.write(&[0]);
        if let Some(p) = source {
            h.write(p.as_os_str().as_encoded_bytes());
        }
        self.groups.push((group.name.clone(), h.finish()));
    }

    /// The digest of everything added, whatever the order.
    pub fn finish(mut self) -> u64 {
        self.apps.sort();
        self.groups.sort();
        let mut h = Fnv::default();
        for (name, v) in &self.apps {
            h.write(name.as_bytes());
            h.write(&v.to_le_bytes());
        }
        h.write(b"\0groups\0");
        for (name, v) in &self.groups {
            h.write(name.as_bytes());
            h.write(&v.to_le_bytes());
        }
        h.finish()
    }
}

/// A dump read from disk, and from which file.
#[derive(Debug)]
pub struct Loaded {
    /// The dump.
    pub dump: Dump,
    /// `dump.ron`, or `dump.ron.bak` when `dump.ron` was missing or damaged.
    pub file: PathBuf,
    /// Why `dump.ron.bak` was read instead (a missing or damaged `dump.ron`), naming
    /// both files: the warning the user sees.
    pub warning: Option<String>,
}

/// Why a saved list could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Neither `dump.ron` nor `dump.ron.bak` exists: nothing was ever saved.
    Missing,
    /// At least one exists and none can be read: one line naming each and why.
    Unreadable(String),
}

/// Read one dump file: None when it does not exist.
fn read_one(path: &Path) -> Option<Result<Dump, String>> {
    match fs::read_to_string(path) {
        Ok(text) => Some(Dump::decode(&text).map_err(|e| format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("{}: {e}", path.display()))),
    }
}

/// Read the saved list: `dump.ron`, else (missing or damaged) `dump.ron.bak` with a
/// warning naming that file and why `dump.ron` was not used (SPEC §7).
///
/// Errors: [`LoadError::Missing`] when neither file exists; [`LoadError::Unreadable`]
/// naming both files and why when neither can be read.
pub fn load(home: &Home) -> Result<Loaded, LoadError> {
    let (main, bak) = (home.dump(), home.dump_bak());
    let first = match read_one(&main) {
        Some(Ok(dump)) => {
            return Ok(Loaded {
                dump,
                file: main,
                warning: None,
            })
        }
        Some(Err(e)) => e,
        None => format!("{} does not exist", main.display()),
    };
    match read_one(&bak) {
        Some(Ok(dump)) => Ok(Loaded {
            dump,
            warning: Some(format!("{first}; using {} instead", bak.display())),
            file: bak,
        }),
        Some(Err(second)) => Err(LoadError::Unreadable(format!("{first}; {second}"))),
        None if main.exists() => Err(LoadError::Unreadable(format!(
            "{first}; {} does not exist",
            bak.display()
        ))),
        None => Err(LoadError::Missing),
    }
}

/// What identifies the dump file's current contents cheaply (device, inode, size,
/// modification time): the Root re-reads the dump for its digest only when it changed.
pub fn file_key(home: &Home) -> FileKey {
    let key = |p: PathBuf| {
        fs::metadata(p)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
    };
    [key(home.dump()), key(home.dump_bak())]
}

/// [`file_key`]'s answer: (device, inode, size, mtime s, mtime ns) of `dump.ron` and of
/// `dump.ron.bak`, None for a missing one.
pub type FileKey = [Option<(u64, u64, u64, i64, i64)>; 2];

/// Write `text` as `dump.ron` atomically: `dump.ron.tmp` in the same directory (0600,
/// not through a link), written and fsynced; the current `dump.ron`, when it reads as a
/// dump, hard-linked as `dump.ron.bak` (through a temporary name and a rename, so an old
/// `.bak` is replaced only by a whole one; a damaged `dump.ron` leaves the `.bak` as it
/// was); the temporary renamed over `dump.ron`; the directory fsynced.
///
/// `allow_empty`: with `text` holding no app, write it even when the current dump holds
/// apps (`pmx save --force`).
///
/// Errors: [`WriteError::Io`], one line naming the file and the reason (a full disk: "No
/// space left on device"), `dump.ron` and `dump.ron.bak` then as they were;
/// [`WriteError::WouldEmpty`], which names `--force`.
pub fn write(home: &Home, dump: &Dump, allow_empty: bool) -> Result<(), WriteError> {
    write_inner(home, dump, allow_empty)
}

/// Why [`write`] wrote nothing (or, for the last step, the directory's fsync, wrote it
/// without knowing it durable).
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// An empty list would replace a dump that holds apps (or one that cannot be read):
    /// refused without `--force`.
    WouldEmpty(String),
    /// The file system failed (full, read-only, …).
    Io(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::WouldEmpty(m) | WriteError::Io(m) => f.write_str(m),
        }
    }
}

fn write_inner(home: &Home, dump: &Dump, allow_empty: bool) -> Result<(), WriteError> {
    use WriteError::{Io, WouldEmpty};
    let main = home.dump();
    let current = read_one(&main);
    if dump.apps.is_empty() && !allow_empty {
        match &current {
            Some(Ok(old)) if !old.apps.is_empty() => {
                return Err(WouldEmpty(format!(
                    "no app is registered and {} holds {} app(s): not replaced by an empty list (`pmx save --force` to do it)",
                    main.display(),
                    old.apps.len()
                )))
            }
            Some(Err(_)) => {
                return Err(WouldEmpty(format!(
                    "no app is registered and {} cannot be read: not replaced by an empty list (`pmx save --force` to do it)",
                    main.display()
                )))
            }
            _ => {}
        }
    }
    let text = dump.encode().map_err(Io)?;
    let tmp = home.dir.join("dump.ron.tmp");
    let written = write_synced(&tmp, text.as_bytes());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Io(format!("cannot write {}: {e}", main.display())));
    }
    if matches!(current, Some(Ok(_))) {
        let bak_tmp = home.dir.join("dump.ron.bak.tmp");
        let _ = fs::remove_file(&bak_tmp);
        let kept =
            fs::hard_link(&main, &bak_tmp).and_then(|()| fs::rename(&bak_tmp, home.dump_bak()));
        if let Err(e) = kept {
            let _ = fs::remove_file(&bak_tmp);
            let _ = fs::remove_file(&tmp);
            return Err(Io(format!(
                "cannot keep {} as {}: {e}",
                main.display(),
                home.dump_bak().display()
            )));
        }
    }
    if let Err(e) = fs::rename(&tmp, &main) {
        let _ = fs::remove_file(&tmp);
        return Err(Io(format!("cannot write {}: {e}", main.display())));
    }
    // The rename is durable once the directory is: a crash after this keeps the new one.
    File::open(&home.dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Io(format!("cannot sync {}: {e}", home.dir.display())))
}

/// Create `path` anew (0600, not following a link), write `bytes`, fsync.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _ = fs::remove_file(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests;
