//! The pure half of `pmx deploy`: the command the user typed ([`Action`]), the deploy
//! environment checked into a [`Target`], the `ssh` command line for one host
//! ([`ssh_args`]) and the POSIX `sh` script sent to it on standard input ([`script`]).
//! Nothing here runs a process or reads a file, so all of it is table-tested.

use std::path::{Path, PathBuf};

/// The remote half: functions and the layout of `path` (see the file's header).
const REMOTE: &str = include_str!("remote.sh");

/// What `pmx deploy <file> <env> …` asks for, in PM2's words (`pm2-deploy`'s `deploy`
/// script: `setup`, `update`, `revert [n]`, `curr[ent]`, `prev[ious]`, `list`,
/// `exec|run <cmd>`, `ref <ref>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Clone `repo` into `path/source` (with `pre_setup`/`post_setup`).
    Setup,
    /// Check out `ref` (or the one given with `ref <ref>`) into a new release and point
    /// `path/current` at it; nothing after the env, `update`, and `ref <ref>` are this.
    Update {
        /// The ref typed after `ref`, over the file's `ref`.
        r#ref: Option<String>,
    },
    /// Point `current` back this many releases (at least 1; PM2's default 1).
    Revert(u32),
    /// Print the current release's commit and name.
    Current,
    /// Print the release before the current one.
    Previous,
    /// List the releases, newest first.
    List,
    /// Run a command (PM2: the words after `exec`, joined by spaces) in `current`.
    Exec(String),
}

impl Action {
    /// The word the remote script's `ACTION` is set to.
    fn remote(&self) -> &'static str {
        match self {
            Action::Setup => "setup",
            Action::Update { .. } => "update",
            Action::Revert(_) => "revert",
            Action::Current => "curr",
            Action::Previous => "prev",
            Action::List => "list",
            Action::Exec(_) => "exec",
        }
    }

    /// How the action is named in messages (`update`, `revert 2`, `exec`).
    pub fn shown(&self) -> String {
        match self {
            Action::Revert(n) => format!("revert {n}"),
            other => other.remote().to_string(),
        }
    }

    /// Whether it ships new code, so that local changes are checked first and
    /// `pre_deploy_local` runs (PM2 checks for `update`/`ref` only; it runs
    /// `pre-deploy-local` for a revert too, which is a deploy of an older commit).
    pub fn checks_local_tree(&self) -> bool {
        matches!(self, Action::Update { .. })
    }

    /// Whether `pre_deploy_local` runs before the hosts.
    pub fn runs_local_hook(&self) -> bool {
        matches!(self, Action::Update { .. } | Action::Revert(_))
    }
}

/// The commands, for the error on an unknown one.
const COMMANDS: &[&str] = &[
    "setup", "update", "revert", "curr", "current", "prev", "previous", "list", "exec", "run",
    "ref",
];

/// Read the words after `<file> <env>` as an [`Action`]. Errors (a usage error, one
/// line): an unknown command (with the nearest one), `revert` with something other
/// than a whole number ≥ 1, `exec` or `ref` without their argument, extra words.
pub fn parse_action(words: &[String]) -> Result<Action, String> {
    let Some((first, rest)) = words.split_first() else {
        return Ok(Action::Update { r#ref: None });
    };
    let extra = |n: usize| -> Result<(), String> {
        match rest.get(n) {
            Some(w) => Err(format!("unexpected \"{w}\" after `{first}`")),
            None => Ok(()),
        }
    };
    let action = match first.as_str() {
        "setup" => Action::Setup,
        "update" => Action::Update { r#ref: None },
        "curr" | "current" => Action::Current,
        "prev" | "previous" => Action::Previous,
        "list" => Action::List,
        "revert" => {
            let n = match rest.first() {
                None => 1,
                Some(w) => match w.parse::<u32>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(format!(
                            "revert takes a number of releases (1 or more), found \"{w}\""
                        ))
                    }
                },
            };
            extra(1)?;
            return Ok(Action::Revert(n));
        }
        "exec" | "run" => {
            if rest.is_empty() || rest.iter().all(|w| w.trim().is_empty()) {
                return Err(format!("{first} needs a command: exec \"<cmd>\""));
            }
            return Ok(Action::Exec(rest.join(" ")));
        }
        "ref" => {
            let Some(r) = rest.first().filter(|r| !r.is_empty()) else {
                return Err("ref needs a git ref: ref <ref>".into());
            };
            extra(1)?;
            return Ok(Action::Update {
                r#ref: Some(r.clone()),
            });
        }
        other => {
            return Err(match pmx_config::suggest(other, COMMANDS) {
                Some(s) => format!("unknown deploy command \"{other}\", did you mean \"{s}\"?"),
                None => format!(
                    "unknown deploy command \"{other}\"; expected setup, update, revert [N], \
                     curr, prev, list, exec \"<cmd>\" or ref <ref>"
                ),
            })
        }
    };
    extra(0)?;
    Ok(action)
}

/// PM2's hooks and pmx's, as the file gives them (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Run on each host before setup, in the login directory.
    pub pre_setup: String,
    /// Run on each host after the clone, in `path/source`.
    pub post_setup: String,
    /// Run on each host before an update or revert, in `path/current` (`path/source`
    /// before the first release).
    pub pre_deploy: String,
    /// Run here, once, before any host (in the ecosystem file's directory).
    pub pre_deploy_local: String,
    /// Run on each host in the new `current` release.
    pub post_deploy: String,
}

/// A deploy environment checked: everything a host run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The environment's name (`production`).
    pub env: String,
    /// The hosts, in order (at least one).
    pub hosts: Vec<String>,
    /// The ssh user (`user@host`), if any.
    pub user: Option<String>,
    /// `ssh -p`.
    pub port: Option<u16>,
    /// `ssh -i`, made absolute (`~/` the caller's home, relative against the file's
    /// directory).
    pub key: Option<PathBuf>,
    /// The ssh words the options become, in order (each PM2 option `-o <option>`).
    pub ssh_words: Vec<String>,
    /// The git repository the hosts clone (any URL their git takes).
    pub repo: String,
    /// The directory on the hosts (`~/` their home; relative: against the login directory).
    pub path: String,
    /// The ref deployed: the file's, else `HEAD` (the repository's default branch).
    pub r#ref: String,
    /// The hooks.
    pub hooks: Hooks,
    /// How many releases an update keeps.
    pub keep: u32,
}

/// `keep_releases` when the file gives none (Capistrano's default; PM2 keeps none).
pub const DEFAULT_KEEP_RELEASES: u32 = 5;

/// Check the environment `env` of a file (`shown`: the file as typed, `dir` its
/// directory, `home` the caller's home for a `~/` key) into a [`Target`]. Errors, one
/// line each, naming the file, the line of `Deploy(` and the field: `repo`, `path` or
/// `host` missing or empty, an ssh option that does not split as shell words, a value
/// holding a NUL byte (no shell can carry one).
pub fn target(
    env: &str,
    d: &pmx_config::Deploy,
    shown: &str,
    dir: &Path,
    home: Option<&Path>,
) -> Result<Target, Vec<String>> {
    let at = if d.line > 0 {
        format!("{shown}:{}", d.line)
    } else {
        shown.to_string()
    };
    let mut errors = Vec::new();
    let mut need = |field: &str, v: &Option<String>, what: &str| -> String {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => v.clone().unwrap_or_default(),
            _ => {
                errors.push(format!(
                    "{at}: deploy \"{env}\" has no \"{field}\" ({what})"
                ));
                String::new()
            }
        }
    };
    let repo = need("repo", &d.repo, "the git repository the hosts clone");
    let path = need("path", &d.path, "the directory on the hosts");
    let hosts: Vec<String> = d
        .host
        .iter()
        .filter(|h| !h.trim().is_empty())
        .cloned()
        .collect();
    if hosts.is_empty() {
        errors.push(format!(
            "{at}: deploy \"{env}\" has no \"host\" (a host name or a list of them)"
        ));
    }
    let mut ssh_words = Vec::new();
    for o in &d.ssh_options {
        if o.trim_start().starts_with('-') {
            match shell_words::split(o) {
                Ok(w) => ssh_words.extend(w),
                Err(e) => errors.push(format!(
                    "{at}: deploy \"{env}\": ssh_options entry {o:?} does not split into words: {e}"
                )),
            }
        } else if !o.trim().is_empty() {
            ssh_words.push("-o".into());
            ssh_words.push(o.trim().to_string());
        }
    }
    let key =
        d.key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| match (k.strip_prefix("~/"), home) {
                (Some(rest), Some(h)) => h.join(rest),
                _ => dir.join(k),
            });
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let t = Target {
        env: env.to_string(),
        hosts,
        user: d.user.clone().filter(|u| !u.is_empty()),
        port: d.port,
        key,
        ssh_words,
        repo,
        path,
        r#ref: d
            .r#ref
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "HEAD".into()),
        hooks: Hooks {
            pre_setup: text(&d.pre_setup),
            post_setup: text(&d.post_setup),
            pre_deploy: text(&d.pre_deploy),
            pre_deploy_local: text(&d.pre_deploy_local),
            post_deploy: text(&d.post_deploy),
        },
        keep: d.keep_releases.unwrap_or(DEFAULT_KEEP_RELEASES).max(1),
    };
    let fields = [
        ("repo", &t.repo),
        ("path", &t.path),
        ("ref", &t.r#ref),
        ("pre_setup", &t.hooks.pre_setup),
        ("post_setup", &t.hooks.post_setup),
        ("pre_deploy", &t.hooks.pre_deploy),
        ("pre_deploy_local", &t.hooks.pre_deploy_local),
        ("post_deploy", &t.hooks.post_deploy),
    ];
    for (field, v) in fields {
        if v.contains('\0') {
            errors.push(format!(
                "{at}: deploy \"{env}\": \"{field}\" holds a NUL byte, which no shell can carry"
            ));
        }
    }
    if errors.is_empty() {
        Ok(t)
    } else {
        Err(errors)
    }
}

/// What `ssh` is called with for `host` (without the program name): the options, `-p`,
/// `-i`, `--`, the destination, then `sh -s` (the script comes on standard input, so
/// the login shell only ever parses those two words).
pub fn ssh_args(t: &Target, host: &str) -> Vec<String> {
    let mut a = t.ssh_words.clone();
    if let Some(p) = t.port {
        a.push("-p".into());
        a.push(p.to_string());
    }
    if let Some(k) = &t.key {
        a.push("-i".into());
        a.push(k.to_string_lossy().into_owned());
    }
    a.push("--".into());
    a.push(destination(t, host));
    a.push("sh".into());
    a.push("-s".into());
    a
}

/// `user@host`, or the host as written when it has no user or already names one.
pub fn destination(t: &Target, host: &str) -> String {
    match &t.user {
        Some(u) if !host.contains('@') => format!("{u}@{host}"),
        _ => host.to_string(),
    }
}

/// `s` as one POSIX shell word: in single quotes, each `'` written `'\''`. Every byte
/// but NUL survives (newlines included).
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    q
}

/// The script for one host: the values as quoted assignments, then the remote functions,
/// then `main` with standard input from /dev/null (so that a hook reading its input
/// cannot eat the rest of the script). `release` names a new release (update only).
pub fn script(t: &Target, action: &Action, release: &str) -> String {
    let r#ref = match action {
        Action::Update { r#ref: Some(r) } => r.as_str(),
        _ => t.r#ref.as_str(),
    };
    let n = match action {
        Action::Revert(n) => *n,
        _ => 1,
    };
    let cmd = match action {
        Action::Exec(c) => c.as_str(),
        _ => "",
    };
    let vars: [(&str, String); 12] = [
        ("P", t.path.clone()),
        ("REPO", t.repo.clone()),
        ("REF", r#ref.to_string()),
        ("REL", release.to_string()),
        ("KEEP", t.keep.to_string()),
        ("N", n.to_string()),
        ("ACTION", action.remote().to_string()),
        ("CMD", cmd.to_string()),
        ("PRE_SETUP", t.hooks.pre_setup.clone()),
        ("POST_SETUP", t.hooks.post_setup.clone()),
        ("PRE_DEPLOY", t.hooks.pre_deploy.clone()),
        ("POST_DEPLOY", t.hooks.post_deploy.clone()),
    ];
    let mut s = String::from("set -u\n");
    for (k, v) in vars {
        s.push_str(k);
        s.push('=');
        s.push_str(&quote(&v));
        s.push('\n');
    }
    s.push_str(REMOTE);
    s.push_str("main </dev/null\n");
    s
}

/// A new release's name: the UTC time to the millisecond (`20261206T194405123Z`), so
/// names sort by age and every host of one run gets the same one.
pub fn release_name(now: chrono::DateTime<chrono::Utc>) -> String {
    now.format("%Y%m%dT%H%M%S%3fZ").to_string()
}

/// PM2's `post-deploy` when the file gives none (`pm2 startOrRestart <file> --env
/// <env>`), in pmx's words: `file` is the ecosystem file's path inside the repository
/// (the release is a checkout of it); `--env` only when some app of the file defines
/// that environment (pmx refuses an `--env` no app defines, PM2 ignores it).
pub fn default_post_deploy(file: &str, env: &str, env_defined: bool) -> String {
    if env_defined {
        format!("pmx startOrRestart {} --env {}", quote(file), quote(env))
    } else {
        format!("pmx startOrRestart {}", quote(file))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
