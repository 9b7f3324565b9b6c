//! `pmx deploy <file> <env> [setup|update|revert [N]|curr|prev|list|exec "<cmd>"|ref <ref>]
//! [--force]`: PM2's deploy (`pm2 deploy`, the `pm2-deploy` project), run by the CLI
//! itself (no daemon): the system `ssh`, one host after another, each with a header, its
//! own output and a result line, then a summary; exit 1 naming the hosts that failed.
//!
//! The plan (what to run, the ssh words, the remote script, the quoting) is [`plan`],
//! pure; this file reads the file, checks the local tree, runs `pre_deploy_local` and
//! drives `ssh`. The layout on a host (docs/deploy.md): `path/source` (the clone),
//! `path/releases/<UTC time>` (one checkout per update), `path/current` (a symlink to
//! one of them, swapped in one rename), `path/shared`.

pub mod plan;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use self::plan::{Action, Target};
use crate::cli::{caller_cwd, out, specs, DeployArgs, Failure};

/// The file `pmx deploy <env>` reads when no file is given (PM2 looks for
/// `ecosystem.config.js`; pmx's own file is ecosystem.ron).
const DEFAULT_FILE: &str = "ecosystem.ron";

/// Run `pmx deploy`. Errors: a usage error (exit 2) for an unreadable command, an
/// invalid file, an environment the file does not define (listing those it does) or a
/// missing field; exit 1 for local changes without `--force`, a failed
/// `pre_deploy_local`, a missing `ssh`, or any host that failed (named).
pub fn run(a: DeployArgs) -> Result<(), Failure> {
    let cwd = caller_cwd()?;
    let (file, env, words) = split_words(&a.words, &cwd)?;
    let action = plan::parse_action(words).map_err(Failure::usage)?;
    let path = cwd.join(&file);
    if !path.exists() {
        return Err(Failure::request(format!("no ecosystem file {file}")));
    }
    // A PM2 file is read for its deploy section: its apps' scripts need not be here.
    let eco = if path.extension().is_none_or(|e| e != "ron") && crate::cli::pm2::is_pm2_file(&path)
    {
        crate::cli::pm2::load_for_deploy(&path, &file)?
    } else {
        specs::load(&path)?
    };
    let Some(d) = eco.deploy.get(env) else {
        let defined: Vec<&str> = eco.deploy.keys().map(String::as_str).collect();
        return Err(Failure::usage(if defined.is_empty() {
            format!("{file}: no deploy environment \"{env}\": the file has no `deploy` section")
        } else {
            format!(
                "{file}: no deploy environment \"{env}\" (the file defines: {})",
                defined.join(", ")
            )
        }));
    };
    let dir = path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| cwd.clone());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut target = plan::target(env, d, &file, &dir, home.as_deref())
        .map_err(|e| Failure::usage(e.join("\npmx: ")))?;
    if target.hooks.post_deploy.is_empty() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let in_repo =
            git_prefix(&dir).unwrap_or_default() + name.as_deref().unwrap_or(DEFAULT_FILE);
        let defined = eco.apps.iter().any(|app| app.envs.contains_key(env));
        target.hooks.post_deploy = plan::default_post_deploy(&in_repo, env, defined);
    }
    if action.checks_local_tree() && !a.force {
        check_local_tree(&dir)?;
    }
    let ssh = which::which("ssh")
        .map_err(|_| Failure::request("deploy needs the `ssh` command, and none is on PATH"))?;
    out(&format!(
        "--> deploy {env}: {} on {} host{}\n",
        action.shown(),
        target.hosts.len(),
        if target.hosts.len() == 1 { "" } else { "s" }
    ));
    if action.runs_local_hook() && !target.hooks.pre_deploy_local.is_empty() {
        run_local_hook(&target.hooks.pre_deploy_local, &dir)?;
    }
    let release = plan::release_name(chrono::Utc::now());
    let script = plan::script(&target, &action, &release);
    let mut failed = Vec::new();
    let n = target.hosts.len();
    for (i, host) in target.hosts.iter().enumerate() {
        let dest = plan::destination(&target, host);
        out(&format!("--> [{}/{n}] {dest}\n", i + 1));
        match run_host(&ssh, &plan::ssh_args(&target, host), &script) {
            Ok(()) => out(&format!("<-- [{}/{n}] {dest}: ok\n", i + 1)),
            Err(why) => {
                out(&format!("<-- [{}/{n}] {dest}: failed: {why}\n", i + 1));
                failed.push(dest);
            }
        }
    }
    summary(&target, &action, &failed)
}

/// The last line: every host ok, or the failure naming those that failed.
fn summary(t: &Target, action: &Action, failed: &[String]) -> Result<(), Failure> {
    let n = t.hosts.len();
    if failed.is_empty() {
        out(&format!(
            "--> deploy {}: {} ok on {n} host{}\n",
            t.env,
            action.shown(),
            if n == 1 { "" } else { "s" }
        ));
        return Ok(());
    }
    Err(Failure::request(format!(
        "deploy {} {}: {} of {n} host{} failed: {}",
        t.env,
        action.shown(),
        failed.len(),
        if n == 1 { "" } else { "s" },
        failed.join(", ")
    )))
}

/// `[file] <env> [command…]`: PM2's forms. The first word is the file when it ends in
/// `.ron`, is a PM2 file name or names an existing file; otherwise it is the environment
/// and the file is ./ecosystem.ron (`pmx deploy production`, as `pm2 deploy production`).
fn split_words<'w>(
    words: &'w [String],
    cwd: &Path,
) -> Result<(String, &'w str, &'w [String]), Failure> {
    let missing = || {
        Failure::usage(
            "missing <env> for pmx deploy: pmx deploy [ecosystem.ron] <env> [setup|update|revert [N]|curr|prev|list|exec \"<cmd>\"]",
        )
    };
    let Some(first) = words.first() else {
        return Err(missing());
    };
    let p = Path::new(first);
    let is_file =
        first.ends_with(".ron") || crate::cli::pm2::is_pm2_file(p) || cwd.join(p).is_file();
    if is_file {
        let env = words.get(1).ok_or_else(missing)?;
        Ok((first.clone(), env.as_str(), &words[2..]))
    } else {
        Ok((DEFAULT_FILE.to_string(), first.as_str(), &words[1..]))
    }
}

/// The directory's path inside its git work tree (`sub/dir/`, empty at the top), or
/// `None` outside one.
fn git_prefix(dir: &Path) -> Option<String> {
    let o = Command::new("git")
        .args(["rev-parse", "--show-prefix"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Refuse to ship with uncommitted changes to tracked files or commits not pushed to the
/// branch's upstream (PM2's `check_for_local_changes`; `--force` skips it). Untracked
/// files do not count, as in PM2.
fn check_local_tree(dir: &Path) -> Result<(), Failure> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
    };
    let shown = dir.display();
    let status = git(&["status", "--porcelain", "--untracked-files=no"]).map_err(|e| {
        Failure::request(format!(
            "cannot check {shown} for local changes: git: {e} (--force deploys anyway)"
        ))
    })?;
    if !status.status.success() {
        return Err(Failure::request(format!(
            "cannot check {shown} for local changes: not a git work tree (--force deploys anyway)"
        )));
    }
    let changed = String::from_utf8_lossy(&status.stdout);
    if let Some(first) = changed.lines().next() {
        let count = changed.lines().count();
        return Err(Failure::request(format!(
            "local changes not committed in {shown} ({count} file{}, first: {}): commit or stash them, or deploy with --force",
            if count == 1 { "" } else { "s" },
            first.get(3..).unwrap_or(first)
        )));
    }
    // No upstream: nothing to compare with (git fails; PM2's check passes then too).
    if let Ok(ahead) = git(&["rev-list", "-n", "1", "@{upstream}.."]) {
        if ahead.status.success() && !ahead.stdout.trim_ascii().is_empty() {
            return Err(Failure::request(format!(
                "local commits in {shown} are not pushed to the branch's upstream: push them, or deploy with --force"
            )));
        }
    }
    Ok(())
}

/// Run `pre_deploy_local` here, in the file's directory, through `sh -c` (PM2: `bash -c`
/// in the caller's directory); its failure stops the deploy before any host.
fn run_local_hook(cmd: &str, dir: &Path) -> Result<(), Failure> {
    out(&format!("  ○ pre_deploy_local: {cmd}\n"));
    let st = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Failure::request(format!("pre_deploy_local: cannot run sh: {e}")))?;
    if st.success() {
        return Ok(());
    }
    Err(Failure::request(format!(
        "pre_deploy_local {}; nothing deployed",
        describe_status(st)
    )))
}

/// `exited with N` or `killed by signal N`.
fn describe_status(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "failed".into(),
    }
}

/// One host: `ssh args…` with the script on its standard input, its output copied here
/// line by line (ssh's own messages go straight to stderr). The failure says why, from
/// the script's last `✗` line when it printed one.
fn run_host(ssh: &Path, args: &[String], script: &str) -> Result<(), String> {
    let mut child = Command::new(ssh)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", ssh.display()))?;
    // The script fits a pipe's buffer, but a writer thread keeps a long one from
    // deadlocking against output ssh cannot yet deliver. A failed write (ssh gone) shows
    // as ssh's own exit below.
    let writer = child.stdin.take().map(|mut stdin| {
        let s = script.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(s.as_bytes());
        })
    });
    let mut why = None;
    let mut stepped = false;
    if let Some(stdout) = child.stdout.take() {
        let mut r = BufReader::new(stdout);
        let mut line = Vec::new();
        while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&line);
            if let Some(w) = text.trim().strip_prefix("✗ ") {
                why = Some(w.to_string());
            }
            stepped |= text.trim_start().starts_with('○');
            out(&text);
            if !text.ends_with('\n') {
                out("\n");
            }
            line.clear();
        }
    }
    if let Some(w) = writer {
        let _ = w.join();
    }
    let st = child
        .wait()
        .map_err(|e| format!("cannot wait for ssh: {e}"))?;
    if st.success() {
        return Ok(());
    }
    Err(match (why, st.code()) {
        (Some(w), _) => w,
        (None, Some(255)) if !stepped => {
            "ssh exited with 255 (could not connect or log in; its message is above)".into()
        }
        (None, _) => describe_status(st),
    })
}
