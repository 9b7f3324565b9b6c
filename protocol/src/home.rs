//! `$PMX_HOME` and the files in it (SPEC §2): where a client finds the daemon's socket,
//! pid and logs. Paths only; the daemon creates and locks them (pmx-actors' `daemon`).

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
    /// `dump.ron`, the saved process list (`pmx save`, `pmx resurrect`).
    pub fn dump(&self) -> PathBuf {
        self.dir.join("dump.ron")
    }
    /// `web.token`, the bearer token `pmx web` requires (0600; issue 25).
    pub fn web_token(&self) -> PathBuf {
        self.dir.join("web.token")
    }
    /// `dump.ron.bak`, the saved list before the last `pmx save`.
    pub fn dump_bak(&self) -> PathBuf {
        self.dir.join("dump.ron.bak")
    }
}

/// FNV-1a 64 of `bytes` (the 64-bit parameters of the FNV reference,
/// `http://www.isthe.com/chongo/tech/comp/fnv/`): the hash pmx uses wherever a value
/// must read the same in every build (std's `DefaultHasher` may change with any Rust
/// release): the process-tree marker's tag of a home, and `pmx import`'s record.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a64;

    #[test]
    fn fnv1a64_gives_the_reference_values() {
        // From the FNV reference's test vectors.
        let cases: [(&[u8], u64); 3] = [
            (b"", 0xcbf2_9ce4_8422_2325),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"foobar", 0x8594_4171_f739_67e8),
        ];
        for (bytes, want) in cases {
            assert_eq!(fnv1a64(bytes), want, "{bytes:?}");
        }
    }
}
