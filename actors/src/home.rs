//! `$PMX_HOME` and the files in it (SPEC §2): [`Home`] lives in pmx-protocol (a client
//! needs its paths too); what only the daemon does with it, the tree marker's tag, is here.

pub use pmx_protocol::home::{Home, MAX_SOCKET_PATH};

/// The daemon-only part of [`Home`]: the tag of its process-tree markers.
pub trait HomeTag {
    /// A short stable tag of this home, used in process-tree markers so two daemons of
    /// one user never mistake each other's processes: 16 hex digits of the 64-bit FNV-1a
    /// hash of the directory's bytes.
    ///
    /// The value must never change (a test pins it): a new binary (`pmx update`, a daemon
    /// restarted after a crash) finds the orphans of the old one by this tag. FNV-1a has a
    /// fixed published definition (`http://www.isthe.com/chongo/tech/comp/fnv/`), unlike
    /// std's `DefaultHasher`, whose algorithm may change with any Rust release.
    fn tag(&self) -> String;
}

impl HomeTag for Home {
    fn tag(&self) -> String {
        use std::os::unix::ffi::OsStrExt;
        let hash = pmx_protocol::home::fnv1a64(self.dir.as_os_str().as_bytes());
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
