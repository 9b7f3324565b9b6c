//! The few questions the CLI asks the OS itself, kept here rather than borrowed from the
//! daemon crate (the CLI links pmx-protocol only; tests/arch.rs).

use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Whether process `pid` exists (zombies included): signal 0 fails with ESRCH only when
/// no such process exists (EPERM means one exists under another uid).
pub fn pid_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

/// Whether `path` names a regular file with an execute bit set.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(pid_alive(std::process::id() as i32));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawns true");
        let pid = child.id() as i32;
        child.wait().expect("reaps it");
        // Reaped: the pid is free (reuse within this test is vanishingly unlikely).
        assert!(!pid_alive(pid));
    }

    #[test]
    fn only_files_with_an_execute_bit_are_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").expect("writes");
        assert!(!is_executable(&script));
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(is_executable(&script));
        assert!(!is_executable(dir.path()), "a directory is not");
        assert!(!is_executable(&dir.path().join("missing")));
    }
}
