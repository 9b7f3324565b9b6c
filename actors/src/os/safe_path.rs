//! Opening and creating files without following a link another user planted, and with
//! modes that do not depend on the caller's umask.
//!
//! The rule for links ([`link_refusal`]) joins three published ones:
//! - the issue's own: a link is followed only when its owner is pmx's user or root (the
//!   kernel's `fs.protected_symlinks` lets a process follow, in a sticky world-writable
//!   directory, only its own links or the directory owner's: Linux's
//!   `Documentation/admin-guide/sysctl/fs.rst`);
//! - systemd's "unsafe path transition" (`src/basic/chase.c`, `unsafe_transition()`, used
//!   with `CHASE_SAFE` by tmpfiles): stepping from a directory owned by a non-root user to
//!   an entry owned by another user is refused, since the directory's owner may swap it;
//! - logrotate's insecure parent directory (`logrotate.c`, "skipping … because parent
//!   directory has insecure permissions (It's world writable or writable by group which
//!   is not "root")"): a directory others can write, without the sticky bit that keeps
//!   them from replacing an entry they do not own, cannot hold a link pmx trusts.
//!
//! [`open_append`] walks a path one component at a time from an `O_PATH` descriptor of
//! the directory already checked (as systemd's `chaseat`), so a link swapped in after a
//! check is never followed: the final component is opened with `O_NOFOLLOW`, and a
//! component found to be a link is followed only under the rule, by reading it through
//! its own descriptor.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{fcntl, openat, readlinkat, FcntlArg, OFlag};
use nix::sys::stat::{fstat, mkdirat, FileStat, Mode, SFlag};

/// The mode a log, pid or state file is created with (0600): readable by pmx's user only,
/// whatever the umask (an existing file keeps its mode).
pub const PRIVATE_FILE: u32 = 0o600;

/// The mode a directory pmx creates for its files is given (0700), whatever the umask.
pub const PRIVATE_DIR: u32 = 0o700;

/// The most links followed in one path (the kernel's own limit, `MAXSYMLINKS`, is 40).
const MAX_FOLLOW: u32 = 40;

/// Why a link may not be followed: the [`link_refusal`] rule's three cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its owner (the uid) is neither pmx's user nor root.
    Owner(u32),
    /// It sits in a directory of another non-root user (the directory's uid), who may
    /// replace it (systemd's unsafe transition).
    DirOwner(u32),
    /// It sits in a directory others can write (the directory's mode) without the sticky
    /// bit (logrotate's insecure parent).
    DirWritable(u32),
}

/// Whether a link owned by `link_uid`, in a directory owned by `dir_uid:dir_gid` with
/// mode `dir_mode`, may be followed by pmx running as `me`: `None` when it may; otherwise
/// the first rule it breaks (see the module's documentation for where each comes from).
pub fn link_refusal(
    link_uid: u32,
    dir_uid: u32,
    dir_gid: u32,
    dir_mode: u32,
    me: u32,
) -> Option<Refusal> {
    if link_uid != me && link_uid != 0 {
        return Some(Refusal::Owner(link_uid));
    }
    if dir_uid != 0 && dir_uid != link_uid {
        return Some(Refusal::DirOwner(dir_uid));
    }
    let others_write = dir_mode & 0o002 != 0 || (dir_mode & 0o020 != 0 && dir_gid != 0);
    if others_write && dir_mode & 0o1000 == 0 {
        return Some(Refusal::DirWritable(dir_mode & 0o7777));
    }
    None
}

/// The one-line reason a link at `link` is not followed, for errors and log faults.
pub fn refusal_message(link: &Path, refusal: Refusal, me: u32) -> String {
    let dir = link.parent().unwrap_or(Path::new("/")).display();
    match refusal {
        Refusal::Owner(uid) => format!(
            "{} is a link owned by uid {uid}, neither pmx's user (uid {me}) nor root: not followed",
            link.display()
        ),
        Refusal::DirOwner(uid) => format!(
            "{} is a link in {dir}, a directory of uid {uid} who may replace it: not followed",
            link.display()
        ),
        Refusal::DirWritable(mode) => format!(
            "{} is a link in {dir}, which others can write (mode {mode:o}, no sticky bit): not followed",
            link.display()
        ),
    }
}

/// A file opened by [`open_append`].
#[derive(Debug)]
pub struct Opened {
    /// The file, in append mode, blocking, close-on-exec.
    pub file: File,
    /// Whether this call created it.
    pub created: bool,
    /// (device, inode) of the link the path's last component was when it was opened
    /// through one (a link the rule allowed), so a later check can tell that the path
    /// still names the same link.
    pub link: Option<(u64, u64)>,
}

/// The effective uid of this process: "pmx's user" in the rule for links.
pub fn my_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn wrap(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn refused(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

fn is_link(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK
}

fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// An `O_PATH` descriptor of the directory `name` in `at` (the current directory when
/// None); a link there is not followed (`ENOTDIR`).
fn open_dir(at: Option<&OwnedFd>, name: &OsStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(at.map(AsRawFd::as_raw_fd), name, flags, Mode::empty()).map(wrap)
}

/// Open `path` for appending, creating it with `mode` (exactly, whatever the umask) and
/// its missing directories with [`PRIVATE_DIR`], without following a link the rule of
/// [`link_refusal`] refuses, anywhere in the path. A FIFO or device is opened without
/// blocking on the open itself.
///
/// Errors: the path cannot be opened or created; a link the rule refuses
/// (`PermissionDenied`, with [`refusal_message`]'s text); more than 40 links.
pub fn open_append(path: &Path, mode: u32) -> io::Result<Opened> {
    let me = my_uid();
    let mut todo: VecDeque<OsString> = VecDeque::new();
    if path.is_absolute() {
        todo.push_back(ROOT.into());
    }
    queue(path, &mut todo);
    let mut dir = open_dir(None, OsStr::new(".")).map_err(io_err)?;
    let mut at = PathBuf::new();
    let mut follows = 0;
    let mut final_link = None;
    while let Some(name) = todo.pop_front() {
        if name == ROOT {
            dir = open_dir(None, OsStr::new("/")).map_err(io_err)?;
            at = PathBuf::from("/");
            continue;
        }
        if name == "." {
            continue;
        }
        let d = Some(dir.as_raw_fd());
        if !todo.is_empty() || name == ".." {
            let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let fd = match openat(d, name.as_os_str(), flags, Mode::empty()) {
                Ok(fd) => wrap(fd),
                Err(Errno::ENOENT) if name != ".." => {
                    match mkdirat(d, name.as_os_str(), mode_of(PRIVATE_DIR)) {
                        // mkdir's mode went through the umask: set it exactly.
                        Ok(()) => {
                            chmod_fd(&open_dir(Some(&dir), &name).map_err(io_err)?, PRIVATE_DIR)?
                        }
                        Err(Errno::EEXIST) => {}
                        Err(e) => return Err(io_err(e)),
                    }
                    todo.push_front(name);
                    continue;
                }
                Err(e) => return Err(io_err(e)),
            };
            let st = fstat(fd.as_raw_fd()).map_err(io_err)?;
            if is_link(&st) {
                follows += 1;
                follow(&dir, &fd, &st, &at.join(&name), me, follows, &mut todo)?;
                continue;
            }
            if !is_dir(&st) {
                return Err(io_err(Errno::ENOTDIR));
            }
            dir = fd;
            if name == ".." {
                at.pop();
            } else {
                at.push(&name);
            }
            continue;
        }
        match open_last(&dir, &name, mode)? {
            Last::File(file, created) => {
                return Ok(Opened {
                    file,
                    created,
                    link: final_link,
                })
            }
            Last::Link(fd, st) => {
                // The first link met as a last component is the path's own last one.
                final_link.get_or_insert((st.st_dev, st.st_ino));
                follows += 1;
                follow(&dir, &fd, &st, &at.join(&name), me, follows, &mut todo)?;
            }
        }
    }
    Err(io_err(Errno::EISDIR))
}

/// The marker queued for "start again at `/`" (an absolute path or link target); a real
/// component never contains a slash.
const ROOT: &str = "/";

/// Queue the components of `path` at the back of `todo`.
fn queue(path: &Path, todo: &mut VecDeque<OsString>) {
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {}
            Component::CurDir => todo.push_back(".".into()),
            Component::ParentDir => todo.push_back("..".into()),
            Component::Normal(n) => todo.push_back(n.to_owned()),
        }
    }
}

/// Check a link met in the walk (the `follows`th) against the rule and queue what it
/// names in front of `todo` (an absolute target behind the [`ROOT`] marker).
fn follow(
    dir: &OwnedFd,
    link: &OwnedFd,
    link_st: &FileStat,
    at: &Path,
    me: u32,
    follows: u32,
    todo: &mut VecDeque<OsString>,
) -> io::Result<()> {
    if follows > MAX_FOLLOW {
        return Err(io_err(Errno::ELOOP));
    }
    let dir_st = fstat(dir.as_raw_fd()).map_err(io_err)?;
    if let Some(r) = link_refusal(
        link_st.st_uid,
        dir_st.st_uid,
        dir_st.st_gid,
        dir_st.st_mode,
        me,
    ) {
        return Err(refused(refusal_message(at, r, me)));
    }
    // An empty path reads the link the O_PATH descriptor holds (readlinkat(2)).
    let target = PathBuf::from(readlinkat(Some(link.as_raw_fd()), OsStr::new("")).map_err(io_err)?);
    let mut parts = VecDeque::new();
    if target.is_absolute() {
        parts.push_back(OsString::from(ROOT));
    }
    queue(&target, &mut parts);
    while let Some(p) = parts.pop_back() {
        todo.push_front(p);
    }
    Ok(())
}

/// What the last component of a path turned out to be.
enum Last {
    /// The file, and whether it was created.
    File(File, bool),
    /// A link (its `O_PATH` descriptor and its own status).
    Link(OwnedFd, FileStat),
}

/// Open the last component: created exclusively first (so a new file gets exactly
/// `mode`), else opened as it is; never through a link.
fn open_last(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<Last> {
    let base = OFlag::O_WRONLY
        | OFlag::O_APPEND
        | OFlag::O_NOFOLLOW
        | OFlag::O_CLOEXEC
        | OFlag::O_NOCTTY
        | OFlag::O_NONBLOCK;
    let d = Some(dir.as_raw_fd());
    for _ in 0..3 {
        match openat(
            d,
            name,
            base | OFlag::O_CREAT | OFlag::O_EXCL,
            mode_of(mode),
        ) {
            Ok(fd) => {
                let file = File::from(wrap(fd));
                blocking(&file)?;
                chmod_fd(&file, mode)?;
                return Ok(Last::File(file, true));
            }
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(io_err(e)),
        }
        match openat(d, name, base, Mode::empty()) {
            Ok(fd) => {
                let file = File::from(wrap(fd));
                let (st, dir_st) = (
                    fstat(file.as_raw_fd()).map_err(io_err)?,
                    fstat(dir.as_raw_fd()).map_err(io_err)?,
                );
                if let Some(why) = planted_file(&st, &dir_st, my_uid()) {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("{}: {why}", name.to_string_lossy()),
                    ));
                }
                blocking(&file)?;
                return Ok(Last::File(file, false));
            }
            // O_NOFOLLOW on a link: ELOOP.
            Err(Errno::ELOOP) => {
                let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let fd = wrap(openat(d, name, flags, Mode::empty()).map_err(io_err)?);
                let st = fstat(fd.as_raw_fd()).map_err(io_err)?;
                if is_link(&st) {
                    return Ok(Last::Link(fd, st));
                }
            }
            // Removed between the two opens: try again.
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    Err(io_err(Errno::EAGAIN))
}

/// Why an existing file `st` in the directory `dir` may not be written as pmx's: a
/// regular file owned by neither pmx's user `me` nor root nor the directory's owner, in a
/// sticky directory others can write (`/tmp`): another user planted it there and could
/// read what pmx appends. The kernel's `fs.protected_regular` (level 2) refuses the same
/// open with `O_CREAT`; it is often off, so pmx applies the rule itself.
fn planted_file(st: &libc::stat, dir: &libc::stat, me: u32) -> Option<String> {
    let owner = st.st_uid;
    let shared_sticky = dir.st_mode & 0o1000 != 0 && dir.st_mode & 0o022 != 0;
    (shared_sticky && owner != me && owner != 0 && owner != dir.st_uid).then(|| {
        format!(
            "a file of uid {owner} in a directory others can write (mode {:o}): not written \
             (another user may have planted it)",
            dir.st_mode & 0o7777
        )
    })
}

/// Clear `O_NONBLOCK` (set only so that opening a FIFO cannot block the log thread).
fn blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io_err)?;
    let flags = OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(io_err)?;
    Ok(())
}

fn mode_of(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode)
}

/// Set the mode of what `fd` names (an `O_PATH` descriptor works: through
/// `/proc/self/fd`, as `fchmod` refuses one).
fn chmod_fd(fd: &impl AsRawFd, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    match nix::sys::stat::fchmod(fd.as_raw_fd(), mode_of(mode)) {
        Ok(()) => Ok(()),
        Err(Errno::EBADF) => std::fs::set_permissions(&proc, std::fs::Permissions::from_mode(mode)),
        Err(e) => Err(io_err(e)),
    }
}

/// Create `path` as a new file with exactly `mode` (whatever the umask), replacing what
/// was there (a link is removed, never followed), and write `bytes` into it. For files
/// only pmx writes: pid files, state files, a rotated file's compressed copy.
///
/// Errors: it cannot be removed, created or written.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut f = create_new(path, mode)?;
    f.write_all(bytes)
}

/// Create `path` as a new empty file with exactly `mode`, removing what was there first
/// (`unlink` never follows a link); opened for writing, with `O_NOFOLLOW` and `O_EXCL`,
/// so a link planted in between makes it fail instead of writing through it.
///
/// Errors: it cannot be removed or created.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    chmod_fd(&f, mode)?;
    Ok(f)
}

/// Open `path` for reading without following a link in its last component.
///
/// Errors: it cannot be opened, or it is a link (`ELOOP`).
pub fn open_read_nofollow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Create the directory `path` with exactly `mode` if it is missing (its parents must
/// exist); an existing one is left as it is. Returns whether it was created.
///
/// Errors: it cannot be created, or its mode set.
pub fn create_dir(path: &Path, mode: u32) -> io::Result<bool> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_link_is_followed_only_when_its_owner_and_directory_are_trusted() {
        const ME: u32 = 1000;
        // (link uid, dir uid, dir gid, dir mode, daemon uid, expected)
        let cases = [
            (ME, ME, ME, 0o755, ME, None), // my link in my dir
            (0, 0, 0, 0o755, ME, None),    // root's link in root's dir
            (ME, 0, 0, 0o1777, ME, None),  // my link in /tmp
            (0, 0, 0, 0o1777, 0, None),    // root's own link in /tmp
            (65534, 0, 0, 0o1777, 0, Some(Refusal::Owner(65534))), // planted in /tmp
            (65534, 65534, 65534, 0o755, 0, Some(Refusal::Owner(65534))), // planted in its dir
            (0, 65534, 65534, 0o755, 0, Some(Refusal::DirOwner(65534))), // root's link, user's dir
            (ME, 2000, 2000, 0o755, ME, Some(Refusal::DirOwner(2000))),
            (ME, 0, 0, 0o777, ME, Some(Refusal::DirWritable(0o777))), // no sticky bit
            (ME, 0, 100, 0o775, ME, Some(Refusal::DirWritable(0o775))), // a group can write
            (ME, 0, 0, 0o775, ME, None),                              // only root's group can write
            (ME, ME, 100, 0o3775, ME, None), // sticky: others cannot replace it
        ];
        for (link, dir, gid, mode, me, want) in cases {
            assert_eq!(
                link_refusal(link, dir, gid, mode, me),
                want,
                "link {link} dir {dir}:{gid} {mode:o} me {me}"
            );
        }
    }

    /// A fresh directory for one test, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("pmx-safe-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).expect("scratch dir");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn a_new_file_and_its_missing_directories_get_exact_private_modes() {
        let d = Scratch::new("modes");
        let path = d.0.join("a/b/out.log");
        let o = open_append(&path, PRIVATE_FILE).expect("opens");
        assert!(o.created && o.link.is_none());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&d.0.join("a")), 0o700);
        assert_eq!(mode(&d.0.join("a/b")), 0o700);
        // A file kept at another mode keeps it; a second open creates nothing.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let o = open_append(&path, PRIVATE_FILE).expect("opens again");
        assert!(!o.created);
        assert_eq!(mode(&path), 0o640);
        // The mode asked for is given exactly (a rotated file's successor).
        let other = d.0.join("a/other.log");
        open_append(&other, 0o640).expect("opens");
        assert_eq!(mode(&other), 0o640);
    }

    #[test]
    fn links_of_pmx_own_user_are_followed_anywhere_in_the_path() {
        use std::io::Write;
        use std::os::unix::fs::{symlink, MetadataExt};
        let d = Scratch::new("follow");
        std::fs::create_dir(d.0.join("real")).expect("dir");
        // A relative link to a directory (through ".."), then an absolute link as the
        // last component.
        std::fs::create_dir(d.0.join("sub")).expect("dir");
        symlink("../real", d.0.join("sub/dirlink")).expect("link");
        symlink(d.0.join("real/target.log"), d.0.join("real/last")).expect("link");
        let o = open_append(&d.0.join("sub/dirlink/last"), PRIVATE_FILE).expect("opens");
        let link = std::fs::symlink_metadata(d.0.join("real/last")).expect("lstat");
        assert_eq!(o.link, Some((link.dev(), link.ino())));
        let mut f = o.file;
        f.write_all(b"line\n").expect("write");
        assert_eq!(
            std::fs::read_to_string(d.0.join("real/target.log")).expect("target"),
            "line\n"
        );
        // A loop ends with ELOOP, not a hang.
        symlink("loop2", d.0.join("loop1")).expect("link");
        symlink("loop1", d.0.join("loop2")).expect("link");
        let e = open_append(&d.0.join("loop1"), PRIVATE_FILE).expect_err("a loop");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }

    #[test]
    fn a_link_of_another_user_is_refused_as_last_or_middle_component() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: links of another user cannot be made");
            return;
        }
        use std::os::unix::fs::symlink;
        let d = Scratch::new("refuse");
        let victim = d.0.join("victim");
        std::fs::write(&victim, "kept\n").expect("victim");
        std::fs::create_dir(d.0.join("real")).expect("dir");
        let last = d.0.join("last");
        symlink(&victim, &last).expect("link");
        std::os::unix::fs::lchown(&last, Some(65534), Some(65534)).expect("lchown");
        let middle = d.0.join("middle");
        symlink(d.0.join("real"), &middle).expect("link");
        std::os::unix::fs::lchown(&middle, Some(65534), Some(65534)).expect("lchown");
        for (path, link) in [(last.clone(), &last), (middle.join("x.log"), &middle)] {
            let e = open_append(&path, PRIVATE_FILE).expect_err("refused");
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
            assert_eq!(
                e.to_string(),
                format!(
                    "{} is a link owned by uid 65534, neither pmx's user (uid 0) nor root: not followed",
                    link.display()
                )
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "kept\n");
        assert!(!d.0.join("real/x.log").exists());
    }
}
