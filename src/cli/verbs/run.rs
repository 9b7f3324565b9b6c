//! `pmx run <file|script> [start options] [--json|--raw] [-- args]` (pm2-runtime) and
//! `pmx dev <script> [start options] [-- args]` (pm2-dev): the start request built as
//! `pmx start` builds it, then the daemon's actor tree run in this process
//! (`daemon::foreground`). `pmx dev` runs under a private temporary `PMX_HOME`, removed
//! on exit, with watch on and `restart.policy: Never` for every app, so an app that ends
//! waits for the next change instead of restarting in a loop.

use std::path::PathBuf;

use pmx::Home;
use pmx_protocol::StartRequest;

use crate::cli::{daemon, usage, verbs, Cmd, Failure, Pmx};

/// `pmx run` or `pmx dev` (`verb`), `words` the command line from the verb on (after
/// alias rewriting), `app_args` what followed `--`.
pub fn run(verb: &str, words: Vec<String>, app_args: Vec<String>) -> Result<(), Failure> {
    let (json, raw, words) = own_switches(words);
    if json && raw {
        return Err(Failure::usage(format!(
            "--json and --raw of pmx {verb} exclude each other"
        )));
    }
    let a = as_start(verb, words)?;
    let mut request = verbs::start::request_of(&a, app_args, verb)?;
    if verb == "dev" {
        for_dev(&mut request);
        let home = private_home()?;
        let ended = daemon::foreground(home.clone(), request, true, json, raw);
        let _ = std::fs::remove_dir_all(&home.dir);
        return ended;
    }
    daemon::foreground(daemon::home()?, request, false, json, raw)
}

/// `--json` and `--raw` taken out of `words` (they are not `pmx start`'s).
fn own_switches(words: Vec<String>) -> (bool, bool, Vec<String>) {
    let (mut json, mut raw) = (false, false);
    let rest = words
        .into_iter()
        .filter(|w| match w.as_str() {
            "--json" => {
                json = true;
                false
            }
            "--raw" => {
                raw = true;
                false
            }
            _ => true,
        })
        .collect();
    (json, raw, rest)
}

/// `words` (`run …` or `dev …`) read as `pmx start …`, with `pmx start`'s checks; a
/// message naming `pmx start` names this verb instead.
fn as_start(verb: &str, mut words: Vec<String>) -> Result<crate::cli::StartArgs, Failure> {
    words[0] = "start".into();
    let rename = |mut f: Failure| {
        f.message = f.message.replace("pmx start", &format!("pmx {verb}"));
        f
    };
    let words = usage::check(&words).map_err(rename)?;
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    match argh::FromArgs::from_args(&["pmx"], &refs) {
        Ok(Pmx {
            cmd: Some(Cmd::Start(a)),
            ..
        }) => Ok(a),
        Ok(_) => Err(Failure::usage(format!("pmx {verb} needs a target"))),
        Err(early) => Err(rename(Failure::usage(usage::reword(&early.output)))),
    }
}

/// `pmx dev`'s settings over every app: watch on (its directory, unless the app names
/// paths), and `policy: Never`, so an app that ends stays down until a change starts it.
fn for_dev(request: &mut StartRequest) {
    for spec in &mut request.apps {
        if matches!(spec.app.watch, pmx_config::Watch::Off) {
            spec.app.watch = pmx_config::Watch::On;
        }
        spec.app.restart.policy = pmx_config::Policy::Never;
    }
}

/// A new private `PMX_HOME` for `pmx dev` under the temporary directory
/// (`pmx-dev-<pid>[-N]`, 0700), so a developer's daemon is never touched.
///
/// Errors: no such directory can be created.
fn private_home() -> Result<Home, Failure> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let pid = std::process::id();
    for n in 0..100 {
        let name = match n {
            0 => format!("pmx-dev-{pid}"),
            n => format!("pmx-dev-{pid}-{n}"),
        };
        let dir: PathBuf = base.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(Home { dir }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Failure::request(format!(
                    "cannot create a private PMX_HOME in {}: {e}",
                    base.display()
                )))
            }
        }
    }
    Err(Failure::request(format!(
        "cannot create a private PMX_HOME in {}: every name is taken",
        base.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_raw_are_taken_out_wherever_they_are() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (json, raw, rest) = own_switches(words(&["run", "--json", "a.js", "-i", "2"]));
        assert!(json && !raw);
        assert_eq!(rest, words(&["run", "a.js", "-i", "2"]));
        let (json, raw, rest) = own_switches(words(&["run", "a.js", "--raw"]));
        assert!(!json && raw);
        assert_eq!(rest, words(&["run", "a.js"]));
    }
}
