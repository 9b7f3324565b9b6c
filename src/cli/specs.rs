//! An ecosystem file's apps as the specs `start` and `up` send: loading the file (or a
//! PM2 file converted on the fly), `--env` and `--only`, the groups that remain.

use std::path::Path;

use crate::cli::{caller_cwd, pm2, start, Failure};

/// An ecosystem file: ecosystem.ron, or a PM2 file converted on the fly.
pub fn load(path: &Path) -> Result<pmx_config::Ecosystem, Failure> {
    if path.extension().is_none_or(|e| e != "ron") && pm2::is_pm2_file(path) {
        return pm2::load(path, &path.display().to_string());
    }
    pmx_config::load(path).map_err(|errs| {
        Failure::usage(
            errs.0
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\npmx: "),
        )
    })
}

/// The ecosystem's file for messages: its path, or `standard input` (`pmx start -`).
fn shown(eco: &pmx_config::Ecosystem) -> String {
    if eco.file.file_name().and_then(|n| n.to_str()) == Some(&format!("<{}>", pm2::STDIN_SHOWN)) {
        pm2::STDIN_SHOWN.to_string()
    } else {
        eco.file.display().to_string()
    }
}

/// The file's apps as specs, after `--env` and `--only` checks.
pub fn specs_of(
    eco: &pmx_config::Ecosystem,
    env: Option<&str>,
    only: Option<&str>,
    inherited: &std::sync::Arc<std::collections::BTreeMap<String, String>>,
) -> Result<Vec<pmx_protocol::AppSpec>, Failure> {
    resolve_all(eco, env, only, inherited, true)
}

/// As [`specs_of`]; `notes`: say which declared behaviours pmx's runtime does not act
/// on ([`warn_unbuilt`]), which `pmx export` leaves to the target's own notes.
pub fn resolve_all(
    eco: &pmx_config::Ecosystem,
    env: Option<&str>,
    only: Option<&str>,
    inherited: &std::sync::Arc<std::collections::BTreeMap<String, String>>,
    notes: bool,
) -> Result<Vec<pmx_protocol::AppSpec>, Failure> {
    if let Some(name) = env {
        let names = eco.env_names();
        if !names.contains(name) {
            let have: Vec<_> = names.into_iter().collect();
            return Err(Failure::usage(format!(
                "--env {name}: {} defines no such environment{}",
                shown(eco),
                if have.is_empty() {
                    String::new()
                } else {
                    format!(" (it has: {})", have.join(", "))
                }
            )));
        }
    }
    let only: Option<Vec<&str>> = only.map(|o| o.split(',').map(str::trim).collect());
    if let Some(list) = &only {
        for n in list {
            if eco.app(n).is_none() {
                return Err(Failure::usage(format!(
                    "--only {n}: {} has no app named \"{n}\"",
                    shown(eco)
                )));
            }
        }
    }
    let cwd = caller_cwd()?;
    let mut specs = Vec::new();
    for app in &eco.apps {
        if only
            .as_ref()
            .is_some_and(|l| !l.contains(&app.name.as_str()))
        {
            continue;
        }
        if notes {
            warn_unbuilt(app);
        }
        specs.push(start::resolve(
            app.clone(),
            &cwd,
            env,
            Some(&eco.file),
            inherited,
        )?);
    }
    Ok(specs)
}

/// The file's groups whose members are all among `apps` (`--only` may leave some out).
pub fn groups_of(
    eco: &pmx_config::Ecosystem,
    apps: &[pmx_protocol::AppSpec],
) -> Vec<pmx_protocol::Group> {
    let names: std::collections::BTreeSet<&str> =
        apps.iter().map(|a| a.app.name.as_str()).collect();
    eco.groups
        .iter()
        .filter(|g| g.apps.iter().all(|m| names.contains(m.as_str())))
        .map(pmx_protocol::Group::from)
        .collect()
}

/// Whether `app` runs under node: its interpreter (a path or a name ending in `node`),
/// or, with none given, its script's extension (`.js`, `.mjs`, `.cjs`) or its program
/// being `node` itself (`pmx start "node server.js"`).
fn runs_node(app: &pmx_config::App) -> bool {
    let interpreter = app
        .interpreter
        .as_deref()
        .or_else(|| start::interpreter_for(Path::new(&app.script)));
    pmx_protocol::is_node(interpreter, Path::new(&app.script))
}

/// Say which declared behaviours this build does not act on as one might expect, rather
/// than pretend (today: a cluster of a program other than node shares no socket).
pub fn warn_unbuilt(app: &pmx_config::App) {
    // Node apps in cluster mode share the ports they listen on through Node's cluster
    // protocol, pmx acting as the primary (as under PM2); any other program shares only
    // the sockets `listen` names. Fork mode shares nothing, by choice. Not a missing
    // feature: a note, so that nobody expects a shared port that is not there.
    if app.is_cluster() && app.listen.is_empty() && !runs_node(app) {
        eprintln!(
            "pmx: note: app \"{}\": its instances share no socket: each instance binds its own port, as a program other than node does (give `listen` for pmx to bind a port once and lend it to every instance)",
            app.name
        );
    }
}
