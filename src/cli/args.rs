//! The command line, as argh types: one struct per verb (SPEC §3). `pmx start`'s
//! options, the biggest of them, are in `args/start.rs`; the option values' parsers and
//! PM2's alias spellings in `args/values.rs`.

use argh::{ArgsInfo, FromArgs};

mod start;
mod values;
pub use self::start::StartArgs;
#[cfg(test)] // the tests below check these parsers; `start.rs` is their user
use self::values::{exit_codes, instances, millis, whole_u32};
use self::values::{line_count, sort_key};
pub use self::values::{rewrite_aliases, VERB_ALIASES};

/// pmx: a production process manager (PM2's verbs, OTP supervision).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Environment:
  PMX_HOME     the daemon's directory (default ~/.pmx)
  PMX_TIMEOUT  seconds (default 5) the connect and a quick request (ping, list,
               describe, env, logs) may take; start, up, stop, restart, reload,
               delete, flush and kill wait as long as the daemon answers a ping
               within that time"
)]
pub struct Pmx {
    /// print the version
    #[argh(switch, short = 'v')]
    pub version: bool,
    /// the verb
    #[argh(subcommand)]
    pub cmd: Option<Cmd>,
}

/// Every verb.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum Cmd {
    /// `pmx start`
    Start(StartArgs),
    /// `pmx up`
    Up(UpArgs),
    /// `pmx startOrReload`
    StartOrReload(StartOrReloadArgs),
    /// `pmx startOrRestart`
    StartOrRestart(StartOrRestartArgs),
    /// `pmx stop`
    Stop(StopArgs),
    /// `pmx restart`
    Restart(RestartArgs),
    /// `pmx reload`
    Reload(ReloadArgs),
    /// `pmx delete`
    Delete(DeleteArgs),
    /// `pmx scale`
    Scale(ScaleArgs),
    /// `pmx reset`
    Reset(ResetArgs),
    /// `pmx signal`
    Signal(SignalArgs),
    /// `pmx list`
    List(ListArgs),
    /// `pmx jlist`
    Jlist(JlistArgs),
    /// `pmx prettylist`
    Prettylist(PrettylistArgs),
    /// `pmx pid`
    Pid(PidArgs),
    /// `pmx describe`
    Describe(DescribeArgs),
    /// `pmx env`
    Env(EnvArgs),
    /// `pmx ping`
    Ping(PingArgs),
    /// `pmx flush`
    Flush(FlushArgs),
    /// `pmx logs`
    Logs(LogsArgs),
    /// `pmx reloadLogs`
    ReloadLogs(ReloadLogsArgs),
    /// `pmx monit`
    Monit(MonitArgs),
    /// `pmx run` (parsed here for its `--help` only: `verbs::run` reads it as a start)
    #[allow(dead_code)]
    Run(RunArgs),
    /// `pmx dev` (as `pmx run`)
    #[allow(dead_code)]
    Dev(DevArgs),
    /// `pmx kill`
    Kill(KillArgs),
    /// `pmx update`
    Update(UpdateArgs),
    /// `pmx daemon`
    Daemon(DaemonArgs),
    /// `pmx ecosystem`
    Ecosystem(EcosystemArgs),
    /// `pmx import`
    Import(ImportArgs),
    /// `pmx save`
    Save(SaveArgs),
    /// `pmx resurrect`
    Resurrect(ResurrectArgs),
    /// `pmx startup`
    Startup(StartupArgs),
    /// `pmx unstartup`
    Unstartup(UnstartupArgs),
    /// `pmx web`
    Web(WebArgs),
    /// `pmx deploy`
    Deploy(DeployArgs),
    /// `pmx export`
    Export(ExportArgs),
}

/// Write an ecosystem's apps as another engine's own definitions: systemd units,
/// Kubernetes manifests, a Nomad job or a Compose file.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(
    subcommand,
    name = "export",
    help_triggers("-h", "--help"),
    note = "What a target cannot express is a comment in the output and a warning on stderr.
docs/export.md lists, per target, every field and what it maps to."
)]
pub struct ExportArgs {
    /// systemd, kubernetes, nomad or compose
    #[argh(positional)]
    pub target: String,
    /// the ecosystem file (default ./ecosystem.ron)
    #[argh(positional)]
    pub file: Option<String>,
    /// the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// write the files into this directory (made when missing); default: print them
    #[argh(option, short = 'o')]
    pub output: Option<String>,
    /// the container image: IMAGE for every app, or APP=IMAGE (repeatable); kubernetes
    /// needs one, nomad runs docker with it, compose uses it over a stock image
    #[argh(option)]
    pub image: Vec<String>,
    /// only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
}

/// Make the running set match an ecosystem file.
#[derive(FromArgs, ArgsInfo, Debug, Default)]
#[argh(subcommand, name = "up", help_triggers("-h", "--help"))]
pub struct UpArgs {
    /// the ecosystem file (default ./ecosystem.ron)
    #[argh(positional)]
    pub file: Option<String>,
    /// the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// delete apps that came from this file and are no longer in it
    #[argh(switch)]
    pub prune: bool,
    /// print the plan and change nothing
    #[argh(switch)]
    pub dry_run: bool,
    /// only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Start the file's missing apps and reload every other one, changed or not (PM2's
/// deploy verb: after `git pull` the code changed, the file did not).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "startOrReload", help_triggers("-h", "--help"))]
pub struct StartOrReloadArgs {
    /// the ecosystem file
    #[argh(positional)]
    pub file: String,
    /// the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Start the file's missing apps and restart every other one, changed or not (PM2's
/// deploy verb: after `git pull` the code changed, the file did not).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "startOrRestart", help_triggers("-h", "--help"))]
pub struct StartOrRestartArgs {
    /// the ecosystem file
    #[argh(positional)]
    pub file: String,
    /// the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Stop an app (a name, an id, a namespace or all).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "stop", help_triggers("-h", "--help"))]
pub struct StopArgs {
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: String,
    /// more targets, acted on in order; each may also be a /regex/, a script or an app file
    #[argh(positional, arg_name = "target")]
    pub more: Vec<String>,
    /// for an app file target: the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// for an app file target: only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// also stop watching: turn the app's watch off, kept from now on (PM2's stop
    /// --watch); start --watch or restart --watch turns it on again
    #[argh(switch)]
    pub watch: bool,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Change an app's instance count: N, +N (add) or -N (stop the highest); PM2's `pm2 scale`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "scale", help_triggers("-h", "--help"))]
pub struct ScaleArgs {
    /// the app's name
    #[argh(positional)]
    pub name: String,
    /// the new count (4), instances to add (+2) or to stop, highest numbers first (-1)
    #[argh(positional)]
    pub count: String,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Restart an app; a stopped or errored app starts.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "restart", help_triggers("-h", "--help"))]
pub struct RestartArgs {
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: String,
    /// more targets, acted on in order; each may also be a /regex/, a script or an app file
    #[argh(positional, arg_name = "target")]
    pub more: Vec<String>,
    /// for an app file target: the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// for an app file target: only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// a new name for the app (the target must select one app), kept from now on
    #[argh(option, short = 'n')]
    pub name: Option<String>,
    /// new arguments for the interpreter (PM2's --node-args), split as a shell would,
    /// kept from now on; "null" or "" for none
    #[argh(option)]
    pub interpreter_args: Option<String>,
    /// turn watching on (the app's directory, or the paths it watches), kept from now
    /// on; given again it stays on
    #[argh(switch)]
    pub watch: bool,
    /// watch this path (relative to this directory) from now on; repeatable
    #[argh(option)]
    pub watch_path: Vec<String>,
    /// the globs the watcher ignores from now on; repeatable
    #[argh(option)]
    pub ignore_watch: Vec<String>,
    /// refresh the environment from this shell and the env_file
    #[argh(switch)]
    pub update_env: bool,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Reload an app (in fork mode, a restart).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "reload", help_triggers("-h", "--help"))]
pub struct ReloadArgs {
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: String,
    /// more targets, acted on in order; each may also be a /regex/, a script or an app file
    #[argh(positional, arg_name = "target")]
    pub more: Vec<String>,
    /// for an app file target: the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// for an app file target: only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// a new name for the app (the target must select one app), kept from now on
    #[argh(option, short = 'n')]
    pub name: Option<String>,
    /// new arguments for the interpreter (PM2's --node-args), split as a shell would,
    /// kept from now on; "null" or "" for none
    #[argh(option)]
    pub interpreter_args: Option<String>,
    /// turn watching on (the app's directory, or the paths it watches), kept from now
    /// on; given again it stays on
    #[argh(switch)]
    pub watch: bool,
    /// watch this path (relative to this directory) from now on; repeatable
    #[argh(option)]
    pub watch_path: Vec<String>,
    /// the globs the watcher ignores from now on; repeatable
    #[argh(option)]
    pub ignore_watch: Vec<String>,
    /// refresh the environment from this shell and the env_file
    #[argh(switch)]
    pub update_env: bool,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Stop and forget an app.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "delete", help_triggers("-h", "--help"))]
pub struct DeleteArgs {
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: String,
    /// more targets, acted on in order; each may also be a /regex/, a script or an app file
    #[argh(positional, arg_name = "target")]
    pub more: Vec<String>,
    /// for an app file target: the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// for an app file target: only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Zero an app's restart counters.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "reset", help_triggers("-h", "--help"))]
pub struct ResetArgs {
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: String,
    /// more targets, acted on in order; each may also be a /regex/, a script or an app file
    #[argh(positional, arg_name = "target")]
    pub more: Vec<String>,
    /// for an app file target: the environment to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// for an app file target: only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// Send a signal to an app's main process.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "signal", help_triggers("-h", "--help"))]
pub struct SignalArgs {
    /// the signal (SIGUSR2 or USR2)
    #[argh(positional)]
    pub signal: String,
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: String,
    /// more targets, signalled in order; each may also be a /regex/, a script or an app file
    #[argh(positional, arg_name = "target")]
    pub more: Vec<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// List every process.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "list", help_triggers("-h", "--help"))]
pub struct ListArgs {
    /// print a JSON array, one object per process
    #[argh(switch)]
    pub json: bool,
    /// order by name, id, pid, cpu, memory, uptime, restarts, status or namespace,
    /// optionally :asc (the default) or :desc (PM2's `--sort`; default: by id)
    #[argh(option, from_str_fn(sort_key))]
    pub sort: Option<SortKey>,
}

/// Every process in PM2's own JSON shape (`pm2 jlist`), for tools written against PM2.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "jlist", help_triggers("-h", "--help"))]
pub struct JlistArgs {}

/// Every process in PM2's shape, printed as Node's util.inspect prints it (`pm2 prettylist`).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "prettylist", help_triggers("-h", "--help"))]
pub struct PrettylistArgs {}

/// The pids of an app's processes, one per line (every process without a name; 0 for
/// one not running), as `pm2 pid` prints them.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "pid", help_triggers("-h", "--help"))]
pub struct PidArgs {
    /// the app's name (default: every process)
    #[argh(positional)]
    pub name: Option<String>,
}

/// What `pmx list --sort` orders by (PM2's fields, and `restarts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// The app's name.
    Name,
    /// The process id (pm_id).
    Id,
    /// The main process's pid (0 when down).
    Pid,
    /// CPU percent (none sampled yet: lowest).
    Cpu,
    /// Resident bytes (none sampled yet: lowest).
    Memory,
    /// Time since the current start (0 when down).
    Uptime,
    /// Restarts.
    Restarts,
    /// The status word.
    Status,
    /// The namespace.
    Namespace,
}

/// `--sort field[:asc|:desc]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The field.
    pub field: SortField,
    /// `:desc`.
    pub desc: bool,
}

/// Everything about an app.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "describe", help_triggers("-h", "--help"))]
pub struct DescribeArgs {
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: String,
    /// print JSON
    #[argh(switch)]
    pub json: bool,
}

/// The whole environment of one process, as KEY=value lines.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "env", help_triggers("-h", "--help"))]
pub struct EnvArgs {
    /// an id (or a name)
    #[argh(positional)]
    pub target: String,
}

/// The last lines of each log file of an app (every app and the daemon's own log when no
/// target is given), then new lines as they come.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "logs", help_triggers("-h", "--help"))]
pub struct LogsArgs {
    /// a name, an id, a group, a namespace or all
    #[argh(positional)]
    pub target: Option<String>,
    /// how many lines of each file first (default 15; 0: only new lines)
    #[argh(option, from_str_fn(line_count))]
    pub lines: Option<usize>,
    /// print the last lines and exit
    #[argh(switch)]
    pub nostream: bool,
    /// only the stdout log
    #[argh(switch)]
    pub out: bool,
    /// only the stderr log
    #[argh(switch)]
    pub err: bool,
    /// one JSON object per line: app, id, stream, time, message
    #[argh(switch)]
    pub json: bool,
    /// the lines alone, without prefix or colour
    #[argh(switch)]
    pub raw: bool,
    /// put each line's time before it
    #[argh(switch)]
    pub timestamp: bool,
    /// strftime format of --timestamp (default %Y-%m-%dT%H:%M:%S)
    #[argh(option)]
    pub timestamp_format: Option<String>,
}

/// Empty the log files of an app (every app when no target is given).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "flush", help_triggers("-h", "--help"))]
pub struct FlushArgs {
    /// a name, an id, a group, a namespace or all (default: all)
    #[argh(positional)]
    pub target: Option<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}

/// A terminal dashboard: every process with its cpu and memory, the selected one's
/// history and live log lines, keys to restart (r), reload (R) and stop (s) it; ? for help.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "monit", help_triggers("-h", "--help"))]
pub struct MonitArgs {}

/// Run apps in the foreground, as pm2-runtime does in a container: every app's lines on
/// stdout and stderr, SIGTERM/SIGINT stop every app gracefully; exits when every app is
/// gone: 0 when each ended cleanly, 1 otherwise. Takes every option of `pmx start`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(
    subcommand,
    name = "run",
    help_triggers("-h", "--help"),
    example = "pmx run ecosystem.ron\npmx run app.js -i 2 --json\nCMD [\"pmx\", \"run\", \"ecosystem.ron\"]   (a Dockerfile)",
    note = "Options of `pmx start` (see `pmx start --help`) go after the target; the app's
arguments after `--`. PMX_HOME (default ~/.pmx) is served as a daemon's would be, so
`pmx list` and `pmx logs` work beside it; a daemon already on it is an error."
)]
#[allow(dead_code)] // only its `--help` is used: `verbs::run` reads the words as a start
pub struct RunArgs {
    /// an ecosystem file, a PM2 file, a script or "a command line", and options of pmx start
    #[argh(positional, greedy)]
    pub target: Vec<String>,
    /// one JSON object per line: {"app","id","stream","time","message"}
    #[argh(switch)]
    pub json: bool,
    /// the lines alone, without the `id|name |` prefix
    #[argh(switch)]
    pub raw: bool,
}

/// Develop in the foreground, as pm2-dev or nodemon: watch on, every app's lines on the
/// terminal; an app that ends waits for the next file change, which starts it once.
/// Ctrl-C stops everything. A private, temporary PMX_HOME: your daemon is never touched.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(
    subcommand,
    name = "dev",
    help_triggers("-h", "--help"),
    example = "pmx dev server.js\npmx dev \"python3 app.py\" --watch-path src",
    note = "Options of `pmx start` (see `pmx start --help`) go after the target; the app's
arguments after `--`."
)]
#[allow(dead_code)] // as RunArgs
pub struct DevArgs {
    /// a script, "a command line" or an ecosystem file, and options of pmx start
    #[argh(positional, greedy)]
    pub target: Vec<String>,
    /// one JSON object per line: {"app","id","stream","time","message"}
    #[argh(switch)]
    pub json: bool,
    /// the lines alone, without the `id|name |` prefix
    #[argh(switch)]
    pub raw: bool,
}

/// Reopen every log file (after an external logrotate), as SIGUSR2 to the daemon does.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "reloadLogs", help_triggers("-h", "--help"))]
pub struct ReloadLogsArgs {}

/// Is the daemon alive? (starts it when none answers)
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "ping", help_triggers("-h", "--help"))]
pub struct PingArgs {}

/// Stop every app, then the daemon.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "kill", help_triggers("-h", "--help"))]
pub struct KillArgs {}

/// Save every app (its full spec, every environment layer, instance count, status) and
/// the groups to $PMX_HOME/dump.ron, for `pmx resurrect` and the boot unit.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "save", help_triggers("-h", "--help"))]
pub struct SaveArgs {
    /// replace a dump that holds apps with an empty list
    #[argh(switch, short = 'f')]
    pub force: bool,
}

/// Serve the JSON API and Prometheus metrics over HTTP from the daemon (loopback by
/// default; any other address requires a bearer token), or stop serving.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "web", help_triggers("-h", "--help"))]
pub struct WebArgs {
    /// address and port to listen on (default 127.0.0.1:9615)
    #[argh(option)]
    pub listen: Option<String>,
    /// require `Authorization: Bearer <token>` on loopback too (a new token is written to
    /// $PMX_HOME/web.token and printed once)
    #[argh(switch)]
    pub token: bool,
    /// stop serving
    #[argh(switch)]
    pub stop: bool,
}

/// Bring back the apps saved by `pmx save` (dump.ron, else dump.ron.bak), each with its
/// saved status; apps already running are left alone.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "resurrect", help_triggers("-h", "--help"))]
pub struct ResurrectArgs {
    /// take the inherited environment from this shell and read each env_file again
    #[argh(switch)]
    pub update_env: bool,
}

/// Print (or, as root with --install, install) a boot unit that starts the daemon for a
/// user and resurrects the saved apps.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "startup", help_triggers("-h", "--help"))]
pub struct StartupArgs {
    /// the init system: systemd, openrc, launchd, rcd, systemv or upstart (default:
    /// the one this machine runs)
    #[argh(positional)]
    pub platform: Option<String>,
    /// the user the daemon runs as (default: the caller)
    #[argh(option, short = 'u')]
    pub user: Option<String>,
    /// that user's home directory (default: from the passwd database)
    #[argh(option)]
    pub hp: Option<String>,
    /// write and enable the unit (root only); without it the unit is printed
    #[argh(switch)]
    pub install: bool,
}

/// Remove the boot unit `pmx startup --install` installed.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "unstartup", help_triggers("-h", "--help"))]
pub struct UnstartupArgs {
    /// the init system (default: the one recorded at install)
    #[argh(positional)]
    pub platform: Option<String>,
    /// the user whose unit to remove (default: the one recorded, else the caller)
    #[argh(option, short = 'u')]
    pub user: Option<String>,
}

/// Replace the running daemon by this pmx binary without stopping any app (the same
/// pids, the sockets never closed).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "update", help_triggers("-h", "--help"))]
pub struct UpdateArgs {}

/// Write a commented sample ./ecosystem.ron that starts as is (`pmx up`).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "ecosystem", help_triggers("-h", "--help"))]
pub struct EcosystemArgs {
    /// overwrite an existing ./ecosystem.ron
    #[argh(switch, short = 'f')]
    pub force: bool,
}

/// Convert a PM2 ecosystem file (.config.js/.cjs/.mjs, .json, .yaml) to ecosystem.ron.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "import", help_triggers("-h", "--help"))]
pub struct ImportArgs {
    /// the PM2 file
    #[argh(positional)]
    pub file: String,
    /// where to write (default: ecosystem.ron beside the PM2 file; - for stdout)
    #[argh(option, short = 'o')]
    pub output: Option<String>,
    /// overwrite a file that pmx import did not write
    #[argh(switch, short = 'f')]
    pub force: bool,
}

/// Deploy the file's repository to an environment's hosts over ssh, as `pm2 deploy`
/// does: pmx deploy [file] <env> [command] (docs/deploy.md).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(
    subcommand,
    name = "deploy",
    help_triggers("-h", "--help"),
    note = "Commands (none: update):
  setup         clone repo into path/source on every host
  update        check ref out into a new release, point path/current at it, run
                post_deploy there, keep the last keep_releases (default 5)
  revert [N]    point current back N releases (default 1)
  curr, prev    print the current / previous release's commit
  list          list the releases, newest first
  exec \"<cmd>\"  run a command in current on every host
  ref <ref>     update to that ref
Without --force, update refuses uncommitted or unpushed changes here."
)]
pub struct DeployArgs {
    /// the ecosystem file (default ./ecosystem.ron), the env, then the command
    #[argh(positional)]
    pub words: Vec<String>,
    /// deploy even with uncommitted or unpushed local changes
    #[argh(switch, short = 'f')]
    pub force: bool,
}

/// Run the daemon in the foreground (the CLI starts it when needed).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "daemon", help_triggers("-h", "--help"))]
pub struct DaemonArgs {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_and_say_what_they_expected() {
        assert_eq!(millis("1600"), Ok(1600));
        assert_eq!(millis("0"), Ok(0));
        for bad in ["5s", "", "-1", "+5", " 5", "1.5", "0x10"] {
            assert_eq!(
                millis(bad),
                Err("expected a whole number of milliseconds".into()),
                "{bad:?}"
            );
        }
        assert_eq!(
            millis("18446744073709551616"),
            Err("expected a whole number of milliseconds up to 18446744073709551615".into())
        );
        assert_eq!(whole_u32("16"), Ok(16));
        assert_eq!(
            whole_u32("4294967296"),
            Err("expected a whole number up to 4294967295".into())
        );
        assert_eq!(
            line_count("x"),
            Err("expected a whole number of lines".into())
        );
        assert_eq!(exit_codes("0"), Ok(vec![0]));
        assert_eq!(exit_codes("0, 3,255"), Ok(vec![0, 3, 255]));
        for bad in ["256", "-1", "", "0,", "1,x", "3.0", "99999999999999999999"] {
            assert_eq!(
                exit_codes(bad),
                Err("expected exit codes from 0 to 255, comma-separated (0,3)".into()),
                "{bad:?}"
            );
        }
        assert_eq!(instances("3"), Ok(pmx_config::Instances::Count(3)));
        assert_eq!(instances("max"), Ok(pmx_config::Instances::Max));
        assert_eq!(instances("-1"), Ok(pmx_config::Instances::MaxMinus(1)));
        for bad in ["x", "2.5", "99999999999"] {
            let e = instances(bad).expect_err(bad);
            assert!(e.starts_with("expected a number"), "{bad}: {e}");
        }
    }

    #[test]
    fn sort_keys_are_pm2_fields_with_an_order() {
        let ok = [
            ("name", SortField::Name, false),
            ("id:desc", SortField::Id, true),
            ("PID:asc", SortField::Pid, false),
            ("memory:DESC", SortField::Memory, true),
            ("cpu", SortField::Cpu, false),
            ("uptime:desc", SortField::Uptime, true),
            ("restarts", SortField::Restarts, false),
            ("status", SortField::Status, false),
            ("namespace", SortField::Namespace, false),
        ];
        for (given, field, desc) in ok {
            assert_eq!(sort_key(given), Ok(SortKey { field, desc }), "{given}");
        }
        for bad in ["", "nmae", "name:up", "name:asc:desc", ":desc"] {
            let e = sort_key(bad).expect_err(bad);
            assert!(e.starts_with("expected name, id, pid"), "{bad}: {e}");
        }
    }

    #[test]
    fn aliases_become_the_verbs_and_options_argh_knows() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["ls"], &["list"]),
            (&["status"], &["list"]),
            (&["jlist"], &["jlist"]),
            (&["show", "a"], &["describe", "a"]),
            (&["del", "a"], &["delete", "a"]),
            (&["sendSignal", "USR2", "a"], &["signal", "USR2", "a"]),
            (&["dump", "--force"], &["save", "--force"]),
            (
                &["start", "a.js", "--node-args", "--harmony"],
                &["start", "a.js", "--interpreter-args", "--harmony"],
            ),
            (
                &[
                    "start",
                    "a.js",
                    "--node-args=--harmony --max-old-space-size=64",
                ],
                &[
                    "start",
                    "a.js",
                    "--interpreter-args=--harmony --max-old-space-size=64",
                ],
            ),
            (
                &["restart", "a", "--node-args=--harmony"],
                &["restart", "a", "--interpreter-args=--harmony"],
            ),
            (
                &["reload", "a", "--node-args", "null"],
                &["reload", "a", "--interpreter-args", "null"],
            ),
            // Only start, restart and reload have --node-args; elsewhere it stays an
            // unknown option.
            (&["stop", "--node-args"], &["stop", "--node-args"]),
            (&["list"], &["list"]),
            (
                &["start", "a.js", "--cron", "*/5 * * * *"],
                &["start", "a.js", "--cron-restart", "*/5 * * * *"],
            ),
            (
                &["start", "a.js", "--cron=0 3 * * *"],
                &["start", "a.js", "--cron-restart=0 3 * * *"],
            ),
            (
                &["start", "a.js", "--cron-restart", "0 3 * * *"],
                &["start", "a.js", "--cron-restart", "0 3 * * *"],
            ),
        ];
        for (given, want) in cases {
            let mut args: Vec<String> = given.iter().map(|s| s.to_string()).collect();
            rewrite_aliases(&mut args);
            assert_eq!(args, *want, "{given:?}");
        }
    }
}
