//! `$PMX_HOME` and the files in it (SPEC §2): [`Home`] lives in pmx-protocol (a client
//! needs its paths too); what only the daemon does with it, the tree marker's tag, is here.

use std::hash::{Hash, Hasher};

pub use pmx_protocol::home::{Home, MAX_SOCKET_PATH};

/// The daemon-only part of [`Home`]: the tag of its process-tree markers.
pub trait HomeTag {
    /// A short stable tag of this home, used in process-tree markers so two daemons of
    /// one user never mistake each other's processes.
    fn tag(&self) -> String;
}

impl HomeTag for Home {
    fn tag(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.dir.hash(&mut h);
        format!("{:08x}", h.finish() as u32)
    }
}
