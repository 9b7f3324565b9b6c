//! `$PMX_HOME` and the files in it (SPEC §2): [`Home`] lives in pmx-protocol (a client
//! needs its paths too); what only the daemon does with it, the tree marker's tag and the
//! check that the home is not a link another user planted, is here.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub use pmx_protocol::home::{Home, MAX_SOCKET_PATH};

use crate::os::safe_path::{link_refusal, my_uid, refusal_message};

/// Refuse a `$PMX_HOME` reached through a link another user could have planted or can
/// replace: every component of its path that is a link (checked with `lstat`, the link's
/// own owner) must pass the rule log files follow (`os::safe_path::link_refusal`: owned by
/// the caller or root, in a directory only they control). Without it, another user's link
/// `/tmp/ww/home → /root/secret` makes root's pmx chmod that directory 0700 and create its
/// socket and logs there. A missing home passes (it is created later, as a directory);
/// a link owned by the caller keeps working.
///
/// Errors: one line naming the link, its owner and why it is not followed.
pub fn check_home(home: &Home) -> Result<(), String> {
    let me = my_uid();
    let mut at = Path::new("/").to_path_buf();
    for c in home.dir.components().skip(1) {
        let parent = at.clone();
        at.push(c);
        let Ok(l) = std::fs::symlink_metadata(&at) else {
            return Ok(());
        };
        if !l.file_type().is_symlink() {
            continue;
        }
        let d = std::fs::metadata(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        if let Some(r) = link_refusal(l.uid(), d.uid(), d.gid(), d.mode(), me) {
            let why = refusal_message(&at, r, me);
            return Err(if at == home.dir {
                format!("PMX_HOME {why}")
            } else {
                format!("PMX_HOME {}: {why}", home.dir.display())
            });
        }
    }
    Ok(())
}

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
