//! `pmx startup`'s boot units, pure: which init system ([`Platform`], detected from the
//! machine or named), the unit's text for a user ([`Platform::render`], from the
//! templates in `templates/`, each value escaped for its format), where it goes and how
//! it is enabled and disabled. The verb (`verbs/startup.rs`) resolves the user and runs
//! what this decides.
//!
//! Borrowed from PM2's `lib/API/Startup.js` and `lib/templates/init-scripts/`, with two
//! of its bugs left out: the unit names pmx's own absolute path and a minimal PATH (the
//! directory of pmx, then the system's), never the caller's whole PATH (PM2 #5911: an
//! nvm PATH pinned into the unit); a user's home comes from the passwd database, not the
//! caller's `$HOME` (PM2 #2672).

use std::path::{Path, PathBuf};

/// The system directories after pmx's own in the unit's PATH.
pub const SYSTEM_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// An init system pmx writes a boot unit for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// systemd: `/etc/systemd/system/pmx-<user>.service`, `Type=oneshot` +
    /// `RemainAfterExit` running `pmx resurrect`, `ExecStop=pmx kill`.
    Systemd,
    /// OpenRC: `/etc/init.d/pmx-<user>`.
    Openrc,
    /// launchd (macOS): `/Library/LaunchDaemons/io.pmx.<user>.plist`.
    Launchd,
    /// FreeBSD's rc.d: `/usr/local/etc/rc.d/pmx_<user>`.
    Rcd,
    /// A System V init script: `/etc/init.d/pmx-<user>`.
    Systemv,
    /// Upstart: `/etc/init/pmx-<user>.conf`.
    Upstart,
}

/// Every platform, by the name `pmx startup` takes.
pub const PLATFORMS: &[(&str, Platform)] = &[
    ("systemd", Platform::Systemd),
    ("openrc", Platform::Openrc),
    ("launchd", Platform::Launchd),
    ("rcd", Platform::Rcd),
    ("systemv", Platform::Systemv),
    ("upstart", Platform::Upstart),
];

/// What a unit is written for.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The user the daemon runs as (checked by [`check_user`]).
    pub user: String,
    /// pmx's absolute path.
    pub pmx: PathBuf,
    /// The daemon's `PMX_HOME`.
    pub pmx_home: PathBuf,
    /// The unit's PATH ([`minimal_path`]).
    pub path: String,
}

impl Platform {
    /// The platform named `name` (PM2's names; `centos`, `redhat`, `ubuntu` and the like
    /// are systemd, `darwin`/`macos` launchd, `freebsd` rcd, as PM2 maps them).
    ///
    /// Errors: the names it takes.
    pub fn parse(name: &str) -> Result<Platform, String> {
        let alias = match name {
            "ubuntu" | "centos" | "redhat" | "amazon" | "debian" | "systemd-online" => "systemd",
            "gentoo" | "alpine" => "openrc",
            "darwin" | "macos" => "launchd",
            "freebsd" | "rc.d" => "rcd",
            "ubuntu14" | "ubuntu12" | "centos6" | "amazon1" => "upstart",
            "sysv" | "initd" => "systemv",
            other => other,
        };
        PLATFORMS
            .iter()
            .find(|(n, _)| *n == alias)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                let names: Vec<&str> = PLATFORMS.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown init system \"{name}\"; pmx startup takes {}",
                    names.join(", ")
                )
            })
    }

    /// The name `pmx startup` takes for it.
    pub fn name(self) -> &'static str {
        PLATFORMS
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("systemd", |(n, _)| n)
    }

    /// The init system this machine runs, read as PM2 reads it: macOS → launchd,
    /// FreeBSD → rc.d, `/run/systemd/system` → systemd, `/run/openrc` or
    /// `/sbin/openrc-run` → OpenRC, `/sbin/initctl` with `/etc/init` → Upstart,
    /// `/etc/init.d` → System V. None when nothing matches.
    pub fn detect() -> Option<Platform> {
        Platform::detect_in(Path::new("/"))
    }

    /// [`Platform::detect`] on a tree rooted at `root` (tests).
    pub fn detect_in(root: &Path) -> Option<Platform> {
        if cfg!(target_os = "macos") {
            return Some(Platform::Launchd);
        }
        if cfg!(target_os = "freebsd") {
            return Some(Platform::Rcd);
        }
        let has = |p: &str| root.join(p).exists();
        if has("run/systemd/system") {
            Some(Platform::Systemd)
        } else if has("run/openrc") || has("sbin/openrc-run") {
            Some(Platform::Openrc)
        } else if has("sbin/initctl") && has("etc/init") {
            Some(Platform::Upstart)
        } else if has("etc/init.d") {
            Some(Platform::Systemv)
        } else {
            None
        }
    }

    /// Whether this init system is the one running here (so its enable commands can
    /// run now).
    pub fn runs_here(self) -> bool {
        Platform::detect() == Some(self)
    }

    /// The unit's name for `user`: `pmx-<user>` (`pmx_<user>` for rc.d, whose names are
    /// shell variables; `io.pmx.<user>` for launchd, whose labels are reverse-DNS).
    pub fn service(self, user: &str) -> String {
        match self {
            Platform::Rcd => format!("pmx_{}", user.replace(['.', '-'], "_")),
            Platform::Launchd => format!("io.pmx.{user}"),
            _ => format!("pmx-{user}"),
        }
    }

    /// Where the unit is installed for `user`.
    pub fn install_path(self, user: &str) -> PathBuf {
        let s = self.service(user);
        PathBuf::from(match self {
            Platform::Systemd => format!("/etc/systemd/system/{s}.service"),
            Platform::Openrc | Platform::Systemv => format!("/etc/init.d/{s}"),
            Platform::Launchd => format!("/Library/LaunchDaemons/{s}.plist"),
            Platform::Rcd => format!("/usr/local/etc/rc.d/{s}"),
            Platform::Upstart => format!("/etc/init/{s}.conf"),
        })
    }

    /// The installed file's mode: scripts are executable.
    pub fn mode(self) -> u32 {
        match self {
            Platform::Openrc | Platform::Systemv | Platform::Rcd => 0o755,
            _ => 0o644,
        }
    }

    /// The commands that enable the unit once written, in order.
    pub fn enable(self, user: &str) -> Vec<Vec<String>> {
        let s = self.service(user);
        let p = self.install_path(user).to_string_lossy().into_owned();
        let cmd = |w: &[&str]| w.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        match self {
            Platform::Systemd => vec![
                cmd(&["systemctl", "daemon-reload"]),
                cmd(&["systemctl", "enable", &s]),
            ],
            Platform::Openrc => vec![cmd(&["rc-update", "add", &s, "default"])],
            Platform::Launchd => vec![cmd(&["launchctl", "load", "-w", &p])],
            Platform::Rcd => vec![cmd(&["sysrc", &format!("{s}_enable=YES")])],
            Platform::Systemv => vec![cmd(&["update-rc.d", &s, "defaults"])],
            Platform::Upstart => vec![cmd(&["initctl", "reload-configuration"])],
        }
    }

    /// The commands that disable the unit before it is removed, in order.
    pub fn disable(self, user: &str) -> Vec<Vec<String>> {
        let s = self.service(user);
        let p = self.install_path(user).to_string_lossy().into_owned();
        let cmd = |w: &[&str]| w.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        match self {
            Platform::Systemd => vec![cmd(&["systemctl", "disable", &s])],
            Platform::Openrc => vec![cmd(&["rc-update", "delete", &s, "default"])],
            Platform::Launchd => vec![cmd(&["launchctl", "unload", "-w", &p])],
            Platform::Rcd => vec![cmd(&["sysrc", "-x", &format!("{s}_enable")])],
            Platform::Systemv => vec![cmd(&["update-rc.d", "-f", &s, "remove"])],
            Platform::Upstart => vec![],
        }
    }

    /// The unit's text for `u`, every value escaped for the format.
    pub fn render(self, u: &Unit) -> String {
        let pmx = u.pmx.to_string_lossy();
        let home = u.pmx_home.to_string_lossy();
        let service = self.service(&u.user);
        let (template, values): (&str, [String; 4]) = match self {
            Platform::Systemd => (
                include_str!("templates/systemd.service"),
                [
                    systemd_word(&pmx),
                    systemd_quoted(&home),
                    systemd_quoted(&u.path),
                    u.user.clone(),
                ],
            ),
            Platform::Launchd => (
                include_str!("templates/launchd.plist"),
                [xml(&pmx), xml(&home), xml(&u.path), xml(&u.user)],
            ),
            Platform::Upstart => (
                include_str!("templates/upstart.conf"),
                [
                    sh(&pmx),
                    double_quoted(&home),
                    double_quoted(&u.path),
                    u.user.clone(),
                ],
            ),
            Platform::Openrc | Platform::Rcd | Platform::Systemv => (
                match self {
                    Platform::Openrc => include_str!("templates/openrc"),
                    Platform::Rcd => include_str!("templates/rcd"),
                    _ => include_str!("templates/systemv"),
                },
                [sh(&pmx), sh(&home), sh(&u.path), u.user.clone()],
            ),
        };
        let [pmx, home, path, user] = values;
        fill(
            template,
            &[
                ("%PMX_HOME%", &home),
                ("%PMX%", &pmx),
                ("%PATH%", &path),
                ("%LABEL%", &service),
                ("%SERVICE%", &service),
                ("%USER%", &user),
            ],
        )
    }
}

/// `template` with each `%KEY%` replaced by its value in one pass (a value holding a
/// placeholder's text is not replaced again).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match values.iter().find(|(k, _)| rest.starts_with(k)) {
            Some((k, v)) => {
                out.push_str(v);
                rest = &rest[k.len()..];
            }
            None => {
                out.push('%');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A user name a unit can carry unescaped everywhere (a file name, a shell word, an
/// XML text, a systemd value): letters, digits, `.`, `_`, `-`, not starting with `-`.
///
/// Errors: one line naming the user and what is refused.
pub fn check_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "user \"{user}\": a boot unit takes a user name of letters, digits, '.', '_' and '-' only"
        ))
    }
}

/// The unit's PATH: pmx's own directory, then [`SYSTEM_PATH`] (each once). The apps
/// keep the environment they were saved with (its PATH included), so the daemon needs
/// nothing more; the caller's PATH is never copied.
pub fn minimal_path(pmx: &Path) -> String {
    let mut dirs: Vec<String> = Vec::new();
    if let Some(d) = pmx.parent() {
        dirs.push(d.to_string_lossy().into_owned());
    }
    for d in SYSTEM_PATH {
        if !dirs.iter().any(|x| x == d) {
            dirs.push((*d).to_string());
        }
    }
    dirs.join(":")
}

/// A value inside a systemd `"…"`: `\`, `"` escaped, `%` doubled (specifiers).
fn systemd_quoted(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
}

/// A word of a systemd `Exec` line: as it is when plain, else quoted.
fn systemd_word(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        v.to_string()
    } else {
        format!("\"{}\"", systemd_quoted(v))
    }
}

/// A POSIX shell word: single-quoted, `'` written as `'\''`.
fn sh(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// A double-quoted value (upstart's `env`): `\`, `"`, `$` and `` ` `` escaped.
fn double_quoted(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// XML text: `&`, `<`, `>`, `"`, `'` as entities.
fn xml(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests;
