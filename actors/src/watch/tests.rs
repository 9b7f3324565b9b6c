//! Table tests of the Watch actor's pure parts.

use super::*;

#[test]
fn inotify_limits_name_their_sysctl() {
    let cases = [
        (
            notify::Error::new(notify::ErrorKind::MaxFilesWatch),
            Some("fs.inotify.max_user_watches"),
        ),
        (
            notify::Error::io(std::io::Error::from_raw_os_error(libc::ENOSPC)),
            Some("fs.inotify.max_user_watches"),
        ),
        (
            notify::Error::io(std::io::Error::from_raw_os_error(libc::EMFILE)),
            Some("fs.inotify.max_user_instances"),
        ),
        (
            notify::Error::io(std::io::Error::from_raw_os_error(libc::EACCES)),
            None,
        ),
        (notify::Error::new(notify::ErrorKind::PathNotFound), None),
    ];
    for (e, want) in cases {
        let got = limit_message(&e);
        match want {
            Some(sysctl) => {
                let got = got.unwrap_or_default();
                assert!(got.contains(sysctl), "{e:?}: {got}");
            }
            None => assert_eq!(got, None, "{e:?}"),
        }
    }
}

#[test]
fn log_files_and_their_rotated_siblings_are_pmx_s_own() {
    let mut w = Watch::new("/h".into());
    w.logs.insert(
        1,
        vec!["/srv/app/out.log".into(), "/srv/app/logs/err".into()],
    );
    let cases = [
        ("/srv/app/out.log", true),
        ("/srv/app/out.log.1", true),
        ("/srv/app/out.log.3.gz", true),
        ("/srv/app/logs/err", true),
        ("/srv/app/logs/err.2", true),
        ("/srv/app/out.logger", false),
        ("/srv/app/sub/out.log", false),
        ("/srv/app/server.js", false),
        ("/srv/app/logs/error", false),
    ];
    for (p, want) in cases {
        assert_eq!(w.is_log(Path::new(p)), want, "{p}");
    }
}

#[test]
fn only_changes_count() {
    use notify::event::{DataChange, MetadataKind, RemoveKind};
    let cases = [
        (EventKind::Create(CreateKind::File), true),
        (EventKind::Remove(RemoveKind::File), true),
        (EventKind::Modify(ModifyKind::Data(DataChange::Any)), true),
        (
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            true,
        ),
        (
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            true,
        ),
        (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
        (
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            false,
        ),
        (EventKind::Other, false),
    ];
    for (k, want) in cases {
        assert_eq!(counts(&k), want, "{k:?}");
    }
}
