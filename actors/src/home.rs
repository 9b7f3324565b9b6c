//! `$PMX_HOME` and the files in it (SPEC §2).

use std::path::{Path, PathBuf};

/// The longest unix socket path, in bytes (`sun_path` is 108 bytes with its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// `$PMX_HOME` (default `~/.pmx`) and the paths of the files the daemon keeps there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// The directory itself, absolute.
    pub dir: PathBuf,
}

impl Home {
    /// `$PMX_HOME`, else `$HOME/.pmx`, made absolute against the current directory.
    ///
    /// Errors: neither variable is set, or the socket path would exceed 107 bytes.
    pub fn from_env() -> Result<Home, String> {
        let dir = match std::env::var_os("PMX_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(h) => Path::new(&h).join(".pmx"),
                None => return Err("neither PMX_HOME nor HOME is set".into()),
            },
        };
        let dir = std::path::absolute(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let home = Home { dir };
        let sock = home.socket();
        if sock.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "PMX_HOME {} is too long: the socket path {} is {} bytes, over the {} a unix socket allows",
                home.dir.display(),
                sock.display(),
                sock.as_os_str().len(),
                MAX_SOCKET_PATH
            ));
        }
        Ok(home)
    }

    /// `pmx.sock`, the admin socket (mode 0600).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("pmx.sock")
    }
    /// `pmx.lock`, held with `flock` for the live daemon's life.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("pmx.lock")
    }
    /// `pmx.pid`, the daemon's pid.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("pmx.pid")
    }
    /// `pmx.log`, the daemon's own log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("pmx.log")
    }
    /// `logs/`, the apps' log files.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    /// `pids/`, one `<name>-<id>.pid` per running instance.
    pub fn pids(&self) -> PathBuf {
        self.dir.join("pids")
    }
    /// A short stable tag of this home, used in process-tree markers so two daemons of
    /// one user never mistake each other's processes: 16 hex digits of the 64-bit FNV-1a
    /// hash of the directory's bytes.
    ///
    /// The value must never change (a test pins it): a new binary (`pmx update`, a daemon
    /// restarted after a crash) finds the orphans of the old one by this tag. FNV-1a has a
    /// fixed published definition (`http://www.isthe.com/chongo/tech/comp/fnv/`), unlike
    /// std's `DefaultHasher`, whose algorithm may change with any Rust release.
    pub fn tag(&self) -> String {
        use std::os::unix::ffi::OsStrExt;
        const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let hash = self
            .dir
            .as_os_str()
            .as_bytes()
            .iter()
            .fold(OFFSET_BASIS, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME));
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_tag_is_fnv1a_64_of_the_home_and_never_changes() {
        // The first three are FNV-1a 64's published test vectors; the others are homes as
        // they look, computed once with an independent implementation. A change of any
        // of them breaks the recognition of the orphans of an older daemon.
        let cases = [
            ("", "cbf29ce484222325"),
            ("a", "af63dc4c8601ec8c"),
            ("foobar", "85944171f73967e8"),
            ("/root/.pmx", "afff69fab1f3a25c"),
            ("/home/alice/.pmx", "1c938bcd80830f6c"),
        ];
        for (dir, tag) in cases {
            let home = Home {
                dir: std::path::PathBuf::from(dir),
            };
            assert_eq!(home.tag(), tag, "tag of {dir:?}");
        }
    }
}
