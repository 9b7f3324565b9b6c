//! `pmx startup [platform] [-u USER] [--hp HOME] [--install]` and `pmx unstartup`: a boot
//! unit that starts pmx's daemon for a user and resurrects the saved apps (the units
//! themselves: `cli/startup/`).
//!
//! Without `--install` (or without root) the unit is printed on stdout, and the command
//! that installs it on stderr. As root with `--install` it is written, enabled when that
//! init system runs here (else the commands to run are printed), and recorded in
//! `/etc/pmx/startup-<user>.json`, so `pmx unstartup` removes exactly that file.
//! `PMX_STARTUP_ROOT`, when set, is prefixed to every path written or removed (as a
//! packager's `DESTDIR`), and nothing is enabled then.

use std::path::{Path, PathBuf};

use nix::unistd::{Uid, User};
use pmx::Home;
use serde::{Deserialize, Serialize};

use crate::cli::startup::{check_user, minimal_path, Platform, Unit};
use crate::cli::{out, Failure, StartupArgs, UnstartupArgs};

/// What `--install` wrote, for `unstartup`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// The init system's name (`Platform::name`).
    platform: String,
    /// The user the unit runs pmx as.
    user: String,
    /// The file written (with `PMX_STARTUP_ROOT` prefixed, if it was set).
    file: PathBuf,
    /// Whether enable commands were run (then `unstartup` runs the disable ones).
    enabled: bool,
}

/// `PMX_STARTUP_ROOT`, the prefix of every path written (None: `/`).
fn prefix() -> Option<PathBuf> {
    std::env::var_os("PMX_STARTUP_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `path` under the prefix, if any.
fn under(prefix: Option<&Path>, path: &Path) -> PathBuf {
    match prefix {
        Some(p) => p.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

/// Where the record of `user`'s installed unit is kept.
fn record_path(user: &str) -> PathBuf {
    PathBuf::from(format!("/etc/pmx/startup-{user}.json"))
}

/// The platform asked for, else the one this machine runs.
fn platform(name: Option<&str>) -> Result<Platform, Failure> {
    match name {
        Some(n) => Platform::parse(n).map_err(Failure::usage),
        None => Platform::detect().ok_or_else(|| {
            Failure::request(
                "cannot tell which init system this machine runs; name it: pmx startup systemd|openrc|launchd|rcd|systemv|upstart",
            )
        }),
    }
}

/// The caller's user name.
fn caller() -> Result<String, Failure> {
    let uid = Uid::effective();
    match User::from_uid(uid) {
        Ok(Some(u)) => Ok(u.name),
        Ok(None) => Err(Failure::request(format!(
            "uid {uid} has no entry in the passwd database; name the user with -u"
        ))),
        Err(e) => Err(Failure::request(format!(
            "cannot read the passwd database: {e}"
        ))),
    }
}

/// `pmx startup`.
pub fn run(home: &Home, a: StartupArgs) -> Result<(), Failure> {
    let platform = platform(a.platform.as_deref())?;
    let user = match &a.user {
        Some(u) => u.clone(),
        None => caller()?,
    };
    check_user(&user).map_err(Failure::usage)?;
    // The user's home from the passwd database (PM2 #2672: not the caller's $HOME).
    let passwd_home = || -> Result<PathBuf, Failure> {
        match User::from_name(&user) {
            Ok(Some(u)) => Ok(u.dir),
            Ok(None) => Err(Failure::request(format!(
                "unknown user \"{user}\" (not in the passwd database)"
            ))),
            Err(e) => Err(Failure::request(format!(
                "cannot read the passwd database for \"{user}\": {e}"
            ))),
        }
    };
    let pmx_home = match (&a.user, &a.hp) {
        (_, Some(hp)) => {
            let hp = PathBuf::from(hp);
            if !hp.is_absolute() {
                return Err(Failure::usage(format!(
                    "--hp {}: the home directory must be an absolute path",
                    hp.display()
                )));
            }
            hp.join(".pmx")
        }
        // The caller's own daemon: the PMX_HOME this command uses.
        (None, None) => home.dir.clone(),
        (Some(_), None) => passwd_home()?.join(".pmx"),
    };
    let pmx = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::request(format!("cannot find the pmx binary: {e}")))?;
    let unit = Unit {
        user: user.clone(),
        path: minimal_path(&pmx),
        pmx: pmx.clone(),
        pmx_home: pmx_home.clone(),
    };
    let text = platform.render(&unit);
    let again = format!(
        "sudo {} startup {} -u {user} --hp {} --install",
        pmx.display(),
        platform.name(),
        pmx_home.parent().unwrap_or(&pmx_home).display()
    );
    if !a.install {
        out(&text);
        eprintln!("pmx: to install it (as root): {again}");
        return Ok(());
    }
    if !Uid::effective().is_root() {
        return Err(Failure::request(format!(
            "installing a boot unit needs root; run: {again}"
        )));
    }
    install(platform, &user, &text)
}

/// Write the unit, enable it when its init system runs here, record it.
fn install(platform: Platform, user: &str, text: &str) -> Result<(), Failure> {
    let prefix = prefix();
    let file = under(prefix.as_deref(), &platform.install_path(user));
    let record_file = under(prefix.as_deref(), &record_path(user));
    write_file(&file, text.as_bytes(), platform.mode())?;
    let mut report = format!("wrote {}\n", file.display());
    let enable = platform.enable(user);
    let mut enabled = false;
    if prefix.is_none() && platform.runs_here() {
        match run_all(&enable) {
            Ok(()) => {
                enabled = true;
                report.push_str(&format!(
                    "enabled: {}\n",
                    enable
                        .iter()
                        .map(|c| c.join(" "))
                        .collect::<Vec<_>>()
                        .join(" && ")
                ));
            }
            Err(e) => eprintln!("pmx: warning: {e}; run it yourself"),
        }
    }
    if !enabled {
        report.push_str(&format!(
            "{} does not run here (or PMX_STARTUP_ROOT is set): to enable it, run {}\n",
            platform.name(),
            enable
                .iter()
                .map(|c| c.join(" "))
                .collect::<Vec<_>>()
                .join(" && ")
        ));
    }
    let record = Record {
        platform: platform.name().to_string(),
        user: user.to_string(),
        file: file.clone(),
        enabled,
    };
    let json = serde_json::to_string_pretty(&record)
        .map_err(|e| Failure::request(format!("cannot write the install record: {e}")))?;
    write_file(&record_file, format!("{json}\n").as_bytes(), 0o644)?;
    report.push_str(&format!(
        "recorded in {} (`pmx unstartup` removes it)\n",
        record_file.display()
    ));
    out(&report);
    Ok(())
}

/// `pmx unstartup`: disable and remove exactly what `startup --install` recorded.
pub fn remove(a: UnstartupArgs) -> Result<(), Failure> {
    let user = match &a.user {
        Some(u) => u.clone(),
        None => caller()?,
    };
    check_user(&user).map_err(Failure::usage)?;
    let prefix = prefix();
    let record_file = under(prefix.as_deref(), &record_path(&user));
    let text = match std::fs::read_to_string(&record_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::request(format!(
                "nothing to remove: no boot unit was installed by `pmx startup --install` for user \"{user}\" ({} does not exist)",
                record_file.display()
            )))
        }
        Err(e) => {
            return Err(Failure::request(format!(
                "cannot read {}: {e}",
                record_file.display()
            )))
        }
    };
    let record: Record = serde_json::from_str(&text).map_err(|e| {
        Failure::request(format!(
            "{}: not a pmx install record: {e}",
            record_file.display()
        ))
    })?;
    let platform = Platform::parse(&record.platform).map_err(Failure::request)?;
    if let Some(asked) = &a.platform {
        let asked = Platform::parse(asked).map_err(Failure::usage)?;
        if asked != platform {
            return Err(Failure::request(format!(
                "the unit installed for \"{user}\" is a {} one ({}), not {}",
                platform.name(),
                record.file.display(),
                asked.name()
            )));
        }
    }
    // Only the file `startup` writes for this user and platform is ever removed, whatever
    // the record says.
    let expected = under(prefix.as_deref(), &platform.install_path(&user));
    if record.file != expected || record.user != user {
        return Err(Failure::request(format!(
            "{}: names {} for user \"{}\", not the {} unit of \"{user}\" ({}); nothing removed",
            record_file.display(),
            record.file.display(),
            record.user,
            platform.name(),
            expected.display()
        )));
    }
    if !Uid::effective().is_root() {
        return Err(Failure::request(format!(
            "removing {} needs root; run: sudo pmx unstartup -u {user}",
            record.file.display()
        )));
    }
    if record.enabled {
        if let Err(e) = run_all(&platform.disable(&user)) {
            eprintln!("pmx: warning: {e}");
        }
    }
    match std::fs::remove_file(&record.file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("pmx: warning: {} was already gone", record.file.display())
        }
        Err(e) => {
            return Err(Failure::request(format!(
                "cannot remove {}: {e}",
                record.file.display()
            )))
        }
    }
    if platform == Platform::Systemd && record.enabled {
        let _ = run_all(&[vec!["systemctl".into(), "daemon-reload".into()]]);
    }
    std::fs::remove_file(&record_file)
        .map_err(|e| Failure::request(format!("cannot remove {}: {e}", record_file.display())))?;
    out(&format!("removed {}\n", record.file.display()));
    Ok(())
}

/// Create `path` (and its missing parents) with `bytes` and `mode`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let fail =
        |e: std::io::Error| Failure::request(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, bytes).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(fail)
}

/// Run each command in turn; the first that fails ends it.
fn run_all(cmds: &[Vec<String>]) -> Result<(), String> {
    for c in cmds {
        let Some((prog, args)) = c.split_first() else {
            continue;
        };
        let st = std::process::Command::new(prog)
            .args(args)
            .status()
            .map_err(|e| format!("`{}` could not run: {e}", c.join(" ")))?;
        if !st.success() {
            return Err(format!("`{}` failed ({st})", c.join(" ")));
        }
    }
    Ok(())
}
