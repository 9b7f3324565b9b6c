//! Turning what the user typed (a script, a command line, an ecosystem file and flags)
//! into the [`AppSpec`]s the daemon runs: SPEC §3 "The start target", interpreters by
//! extension, default names, and the environment layers of SPEC §4.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pmx_config::App;
use pmx_protocol::{AppSpec, EnvLayers};

use super::os::is_executable;
use super::{Failure, StartArgs};

/// What a start target is.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// An ecosystem.ron file (absolute).
    Ecosystem(PathBuf),
    /// A script file (absolute).
    Script(PathBuf),
    /// A command line: the program (absolute, from PATH or a path) and its arguments.
    Command(PathBuf, Vec<String>),
}

/// Classify `target` as SPEC §3 says, relative to `base` (the caller's cwd, or an
/// ecosystem file's directory) and `path_var` (the caller's PATH).
///
/// Errors: nothing matches (exit 1, naming the path).
pub fn classify(target: &str, base: &Path, path_var: Option<&str>) -> Result<Target, Failure> {
    let as_path = base.join(target);
    if as_path.is_file() {
        let abs = std::path::absolute(&as_path).unwrap_or(as_path);
        if abs.extension().is_some_and(|e| e == "ron") || super::pm2::is_pm2_file(&abs) {
            return Ok(Target::Ecosystem(abs));
        }
        return Ok(Target::Script(abs));
    }
    if target.chars().any(char::is_whitespace) {
        if super::shell::needs_shell(target) {
            return super::shell::shell_target(target, base, path_var);
        }
        let words = shell_words::split(target).map_err(|e| {
            Failure::usage(format!("cannot split the command line {target:?}: {e}"))
        })?;
        let Some((first, rest)) = words.split_first() else {
            return Err(Failure::request(format!("empty command line {target:?}")));
        };
        let program = find_program(first, base, path_var).ok_or_else(|| {
            Failure::request(format!("command \"{first}\" not found (in {target:?})"))
        })?;
        return Ok(Target::Command(program, rest.to_vec()));
    }
    if !target.contains('/') {
        if let Some(program) = find_program(target, base, path_var) {
            return Ok(Target::Command(program, Vec::new()));
        }
    }
    if as_path.is_dir() {
        return Err(Failure::request(format!(
            "{target} is a directory, not a script"
        )));
    }
    if let Some(kind) = pmx_config::special_file_kind(&as_path) {
        return Err(Failure::request(format!(
            "{target} is {kind}, not a script or an ecosystem file"
        )));
    }
    if as_path.extension().is_some_and(|e| e == "ron") || super::pm2::is_pm2_file(&as_path) {
        // PM2: "File x.yaml not found", exit 1; named as an app file, not a command.
        return Err(Failure::request(format!(
            "app file {target} not found (no such file in {})",
            base.display()
        )));
    }
    Err(Failure::request(format!(
        "script or command not found: {target} (no such file in {}, nor a command on PATH)",
        base.display()
    )))
}

/// `name` as a file relative to `base` when it has a `/`, else looked up on `path_var`.
pub(super) fn find_program(name: &str, base: &Path, path_var: Option<&str>) -> Option<PathBuf> {
    if name.contains('/') {
        let p = base.join(name);
        return is_executable(&p).then(|| std::path::absolute(&p).unwrap_or(p));
    }
    which::which_in(name, path_var, base).ok()
}

/// The interpreter a script's extension implies (SPEC §3), or None to exec it.
pub fn interpreter_for(script: &Path) -> Option<&'static str> {
    match script.extension()?.to_str()? {
        "js" | "mjs" | "cjs" => Some("node"),
        "ts" | "tsx" => Some("bun"),
        "py" => Some("python3"),
        "rb" => Some("ruby"),
        "sh" => Some("bash"),
        "pl" => Some("perl"),
        "php" => Some("php"),
        _ => None,
    }
}

/// The interpreter [`exec_line`] runs `target` with when the app names none: the one its
/// extension implies, else `"none"` (the file or the command is exec'd).
pub fn chosen_interpreter(target: &Target) -> &'static str {
    match target {
        Target::Script(script) | Target::Ecosystem(script) => {
            interpreter_for(script).unwrap_or("none")
        }
        Target::Command(..) => "none",
    }
}

/// The default name: the script's file name without extension, or the command's first word.
pub fn default_name(target: &Target) -> String {
    if let Some(name) = super::shell::default_name(target) {
        return name;
    }
    match target {
        Target::Script(p) | Target::Command(p, _) | Target::Ecosystem(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into()),
    }
}

/// The program and arguments for `app` whose script is `target`, resolving the
/// interpreter on `path_var`.
///
/// Errors: a missing interpreter, or a file that cannot be exec'd without one (exit 1).
pub fn exec_line(
    app: &App,
    target: &Target,
    base: &Path,
    path_var: Option<&str>,
) -> Result<(PathBuf, Vec<String>), Failure> {
    match target {
        Target::Command(program, words) => {
            let mut args = words.clone();
            args.extend(app.args.iter().cloned());
            Ok((program.clone(), args))
        }
        Target::Script(script) | Target::Ecosystem(script) => {
            let interp = match app.interpreter.as_deref() {
                Some("none") => None,
                Some(i) => Some(i.to_string()),
                None => interpreter_for(script).map(str::to_string),
            };
            match interp {
                Some(i) => {
                    let program = find_program(&i, base, path_var).ok_or_else(|| {
                        Failure::request(format!(
                            "interpreter \"{i}\" for {} not found on PATH",
                            script.display()
                        ))
                    })?;
                    let mut args = app.interpreter_args.clone();
                    args.push(script.to_string_lossy().into_owned());
                    args.extend(app.args.iter().cloned());
                    Ok((program, args))
                }
                None => {
                    if !is_executable(script) {
                        return Err(Failure::request(not_executable(
                            script,
                            app.interpreter.as_deref() == Some("none"),
                        )));
                    }
                    Ok((script.clone(), app.args.clone()))
                }
            }
        }
    }
}

/// Why `script` cannot be exec'd, and how to fix it: `asked_none` when the app asked for
/// it to be exec'd (`interpreter: "none"`, `--interpreter none`), where its extension's
/// interpreter, if any, is the other way out; else the extension names none.
fn not_executable(script: &Path, asked_none: bool) -> String {
    let shown = script.display();
    let fix = format!("chmod +x {shown} (with a #! line)");
    match (asked_none, interpreter_for(script)) {
        (true, Some(by_ext)) => format!(
            "interpreter \"none\" execs {shown}, which is not executable: {fix}, or run it with an interpreter (--interpreter {by_ext}, or no --interpreter: {by_ext} by its extension)"
        ),
        (true, None) => format!(
            "interpreter \"none\" execs {shown}, which is not executable: {fix}, or name an interpreter (--interpreter)"
        ),
        (false, _) => format!(
            "{shown} is not executable and its extension names no interpreter: {fix}, or name an interpreter (--interpreter)"
        ),
    }
}

/// The calling shell's environment, shared by every app of one request (it travels once,
/// as the request's `inherited`); a variable that is not UTF-8 is skipped with a warning
/// (SPEC §3).
pub fn caller_env() -> std::sync::Arc<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in std::env::vars_os() {
        match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => {
                out.insert(k, v);
            }
            (Ok(k), Err(_)) | (Err(_), Ok(k)) => {
                eprintln!("pmx: warning: environment variable {k} is not UTF-8; skipped")
            }
            (Err(k), Err(_)) => eprintln!(
                "pmx: warning: environment variable {} is not UTF-8; skipped",
                k.to_string_lossy()
            ),
        }
    }
    std::sync::Arc::new(out)
}

/// Read a dotenv file.
///
/// Errors: the file cannot be read or parsed (exit 1, naming it).
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::request(format!("cannot read env_file {}: {e}", path.display())))?;
    let vars = pmx_config::parse_dotenv(&text)
        .map_err(|e| Failure::request(format!("{}: {e}", path.display())))?;
    Ok(vars.into_iter().collect())
}

/// Build the spec of `app` (from a file or flags): resolve its script, interpreter and
/// cwd, and read its environment layers.
///
/// Errors: as [`classify`], [`exec_line`] and [`read_env_file`].
pub fn resolve(
    app: App,
    caller_cwd: &Path,
    env_name: Option<&str>,
    source: Option<&Path>,
    inherited: &std::sync::Arc<BTreeMap<String, String>>,
) -> Result<AppSpec, Failure> {
    let path_var = inherited.get("PATH").map(String::as_str);
    let target = classify(&app.script, &app.dir, path_var)?;
    if let Target::Ecosystem(p) = &target {
        return Err(Failure::request(format!(
            "app \"{}\": script {} is an ecosystem file",
            app.name,
            p.display()
        )));
    }
    let (program, args) = exec_line(&app, &target, &app.dir, path_var)?;
    let mut app = app;
    if app.interpreter.is_none() {
        // The choice made by extension, in the spec: `describe` shows what runs the
        // script, and `up` compares it like any field (the same script gives the same
        // choice, so an unchanged file stays unchanged).
        app.interpreter = Some(chosen_interpreter(&target).to_string());
    }
    let cwd = app.cwd.clone().unwrap_or_else(|| {
        if source.is_some() {
            app.dir.clone()
        } else {
            caller_cwd.to_path_buf()
        }
    });
    let env_file = match &app.env_file {
        Some(p) => read_env_file(p)?,
        None => BTreeMap::new(),
    };
    let envs = env_name
        .and_then(|n| app.envs.get(n).cloned())
        .unwrap_or_default();
    let env = EnvLayers {
        inherited: std::sync::Arc::clone(inherited),
        env_file,
        env: app.env.clone(),
        envs,
    };
    if !app.shutdown_with_message && kill_use_message(inherited) {
        if runs_under_node(app.interpreter.as_deref(), &program) {
            app.shutdown_with_message = true;
        } else {
            eprintln!(
                "pmx: warning: PM2_KILL_USE_MESSAGE: app \"{}\" is not a Node app (no IPC \
                 channel for the message): it is stopped with kill_signal {}",
                app.name, app.kill_signal
            );
        }
    }
    Ok(AppSpec {
        app: app.into(),
        program,
        args,
        cwd,
        env,
        source: source.map(Path::to_path_buf),
        env_name: env_name.map(str::to_string),
    })
}

/// Whether the starting command's environment asks for PM2's `shutdown_with_message` on
/// every app it starts: `PM2_KILL_USE_MESSAGE=true` (or `1`), PM2's switch (PM2 reads it
/// in its daemon's environment, for every app; pmx sets the option on each Node app the
/// command starts, and warns for the others, which have no IPC channel). Any other value,
/// `false` included, leaves it off (PM2 takes any non-empty value as on).
pub fn kill_use_message(env: &BTreeMap<String, String>) -> bool {
    env.get("PM2_KILL_USE_MESSAGE")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether a resolved app runs under Node: the daemon's own rule, `pmx_protocol::is_node`
/// (only such an app gets Node's IPC channel).
fn runs_under_node(interpreter: Option<&str>, program: &Path) -> bool {
    pmx_protocol::is_node(interpreter, program)
}

/// The app `pmx start <script|command> [flags] [-- args]` describes.
///
/// Errors: a bad flag value (exit 2) or a bad name.
/// The `watch` that `--watch` (the app's directory, `base`) and `--watch-path P`
/// (repeatable, relative to `caller_cwd`; implies watching) ask for: off with neither;
/// `true` with `--watch` alone; the paths (and `base` with `--watch`) otherwise.
pub fn watch_of(
    switch: bool,
    paths: &[String],
    base: &Path,
    caller_cwd: &Path,
) -> pmx_config::Watch {
    if paths.is_empty() {
        return if switch {
            pmx_config::Watch::On
        } else {
            pmx_config::Watch::Off
        };
    }
    let abs =
        |p: &str| std::path::absolute(caller_cwd.join(p)).unwrap_or_else(|_| caller_cwd.join(p));
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    if switch {
        out.push(base.to_path_buf());
    }
    for p in paths {
        let p = abs(p);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    pmx_config::Watch::Paths(out)
}

pub fn app_from_flags(
    a: &StartArgs,
    target: &Target,
    raw_target: &str,
    caller_cwd: &Path,
    app_args: Vec<String>,
) -> Result<App, Failure> {
    let name = a.name.clone().unwrap_or_else(|| default_name(target));
    pmx_config::validate_name(&name)
        .map_err(|e| Failure::usage(format!("--name {name:?}: {e}")))?;
    let script = match target {
        Target::Script(p) => p.to_string_lossy().into_owned(),
        _ => raw_target.to_string(),
    };
    let mut app = App::new(name, script, caller_cwd.to_path_buf());
    app.args = app_args;
    let abs =
        |p: &str| std::path::absolute(caller_cwd.join(p)).unwrap_or_else(|_| caller_cwd.join(p));
    if let Some(i) = &a.interpreter {
        app.interpreter = Some(i.clone());
    }
    if let Some(ia) = &a.interpreter_args {
        app.interpreter_args = shell_words::split(ia)
            .map_err(|e| Failure::usage(format!("--interpreter-args: {e}")))?;
    }
    if let Some(c) = &a.cwd {
        app.cwd = Some(abs(c));
    }
    if let Some(d) = a.restart_delay {
        app.restart.delay_ms = d;
    }
    if let Some(b) = a.exp_backoff_restart_delay {
        app.restart.backoff_ms = Some(b);
    }
    if a.no_autorestart {
        app.restart.policy = pmx_config::Policy::Never;
    }
    if let Some(m) = a.max_restarts {
        app.restart.max_restarts = m;
    }
    if let Some(m) = a.min_uptime {
        app.restart.min_uptime_ms = m;
    }
    if let Some(k) = a.kill_timeout {
        app.kill_timeout_ms = k;
    }
    if let Some(m) = a.max_memory_restart {
        app.max_memory_restart = Some(m);
    }
    if let Some(c) = &a.cron_restart {
        app.cron_restart = Some(c.clone());
    }
    let base = app.cwd.clone().unwrap_or_else(|| caller_cwd.to_path_buf());
    app.watch = watch_of(a.watch, &a.watch_path, &base, caller_cwd);
    app.ignore_watch = a.ignore_watch.clone();
    if let Some(s) = &a.kill_signal {
        app.kill_signal = pmx_config::parse_signal(s)
            .map_err(|e| Failure::usage(format!("--kill-signal: {e}")))?;
    }
    if let Some(codes) = &a.stop_exit_codes {
        app.stop_exit_codes = codes.clone();
    }
    if let Some(i) = a.instances {
        app.instances = i;
    }
    for l in &a.listen {
        pmx_config::validate_listen(l).map_err(|e| Failure::usage(format!("--listen: {e}")))?;
        if app.listen.contains(l) {
            return Err(Failure::usage(format!("--listen: \"{l}\" is given twice")));
        }
        app.listen.push(l.clone());
    }
    if a.execute_command {
        if !app.listen.is_empty() {
            return Err(Failure::usage(
                "-x (fork mode) shares no socket between instances: drop -x to use --listen",
            ));
        }
        app.exec_mode = Some(pmx_config::ExecMode::Fork);
    }
    app.wait_ready = a.wait_ready;
    app.shutdown_with_message = a.shutdown_with_message;
    if let Some(ms) = a.listen_timeout {
        app.listen_timeout_ms = ms;
    }
    app.logs.merge = a.merge_logs;
    app.logs.time = a.time;
    if let Some(f) = &a.log_date_format {
        app.logs.date_format = super::moment::date_format_flag("--log-date-format", f)?;
        // PM2: a date format alone turns the prefix on.
        app.logs.time = true;
    }
    if let Some(l) = &a.log {
        app.logs.log_file = Some(abs(l));
    }
    if let Some(o) = &a.output {
        app.logs.out_file = Some(abs(o));
    }
    if let Some(e) = &a.error {
        app.logs.error_file = Some(abs(e));
    }
    if let Some(f) = &a.env_file {
        app.env_file = Some(abs(f));
    }
    app.uid = a.uid.clone();
    app.gid = a.gid.clone();
    if (app.uid.is_some() || app.gid.is_some()) && !nix::unistd::geteuid().is_root() {
        return Err(Failure::usage("--uid and --gid need pmx to run as root"));
    }
    app.autostart = !a.no_autostart;
    if let Some(ns) = &a.namespace {
        app.namespace = ns.clone();
    }
    Ok(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pm2_kill_use_message_and_node_apps_are_told_as_the_daemon_tells_them() {
        let node = [
            (Some("node"), "/usr/bin/node", true),
            (Some("/opt/n/bin/nodejs"), "/opt/n/bin/nodejs", true),
            (None, "/usr/local/bin/node", true),
            (Some("bash"), "/usr/bin/bash", false),
            (Some("none"), "/srv/run.sh", false),
        ];
        for (interp, program, want) in node {
            assert_eq!(
                runs_under_node(interp, Path::new(program)),
                want,
                "{interp:?} {program}"
            );
        }
        let env = |v: &str| BTreeMap::from([("PM2_KILL_USE_MESSAGE".to_string(), v.to_string())]);
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("false", false),
            ("", false),
            ("yes", false),
        ] {
            assert_eq!(kill_use_message(&env(v)), want, "{v:?}");
        }
        assert!(!kill_use_message(&BTreeMap::new()));
    }

    #[test]
    fn interpreters_by_extension() {
        let cases = [
            ("a.js", Some("node")),
            ("a.mjs", Some("node")),
            ("a.cjs", Some("node")),
            ("a.ts", Some("bun")),
            ("a.tsx", Some("bun")),
            ("a.py", Some("python3")),
            ("a.rb", Some("ruby")),
            ("a.sh", Some("bash")),
            ("a.pl", Some("perl")),
            ("a.php", Some("php")),
            ("a.bin", None),
            ("a", None),
        ];
        for (file, want) in cases {
            assert_eq!(interpreter_for(Path::new(file)), want, "{file}");
        }
    }

    #[test]
    fn the_interpreter_chosen_without_one_given() {
        let cases = [
            (Target::Script("/a/app.js".into()), "node"),
            (Target::Script("/a/run.sh".into()), "bash"),
            (Target::Script("/a/tool".into()), "none"),
            (
                Target::Command("/bin/sleep".into(), vec!["1".into()]),
                "none",
            ),
            (
                Target::Command("/usr/bin/python3".into(), vec!["x.py".into()]),
                "none",
            ),
        ];
        for (target, want) in cases {
            assert_eq!(chosen_interpreter(&target), want, "{target:?}");
        }
    }

    #[test]
    fn a_file_that_cannot_be_execd_says_why_for_the_case() {
        let cases = [
            (
                "/a/app.py",
                true,
                "interpreter \"none\" execs /a/app.py, which is not executable: chmod +x /a/app.py (with a #! line), or run it with an interpreter (--interpreter python3, or no --interpreter: python3 by its extension)",
            ),
            (
                "/a/tool",
                true,
                "interpreter \"none\" execs /a/tool, which is not executable: chmod +x /a/tool (with a #! line), or name an interpreter (--interpreter)",
            ),
            (
                "/a/tool",
                false,
                "/a/tool is not executable and its extension names no interpreter: chmod +x /a/tool (with a #! line), or name an interpreter (--interpreter)",
            ),
        ];
        for (script, asked_none, want) in cases {
            assert_eq!(
                not_executable(Path::new(script), asked_none),
                want,
                "{script}"
            );
        }
    }

    #[test]
    fn a_command_line_is_split_like_a_shell_but_not_run_by_one() {
        let t = classify("sleep '100 0'", Path::new("/"), Some("/usr/bin:/bin")).expect("found");
        match t {
            Target::Command(p, args) => {
                assert!(p.ends_with("sleep"));
                assert_eq!(args, vec!["100 0".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_target_fails_naming_it_as_typed_and_where() {
        let e =
            classify("nope-not-here.js", Path::new("/tmp"), Some("/usr/bin")).expect_err("fails");
        assert!(
            e.message.contains("not found: nope-not-here.js"),
            "{}",
            e.message
        );
        assert!(e.message.contains("in /tmp"), "{}", e.message);
        assert_eq!(e.code, 1);
    }
}
