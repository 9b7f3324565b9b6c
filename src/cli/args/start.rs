//! `pmx start`'s options (SPEC §3): the one verb with PM2's whole set of app settings
//! as flags, kept apart from the other verbs' structs in `args.rs`.

use argh::{ArgsInfo, FromArgs};

use super::values::{cron, exit_codes, instances, millis, size, whole_u32};

/// Start an app from a script, a command line or an ecosystem file; app arguments follow `--`.
#[derive(FromArgs, ArgsInfo, Debug, Default)]
#[argh(subcommand, name = "start", help_triggers("-h", "--help"))]
pub struct StartArgs {
    /// a script, "a command line", or an ecosystem .ron file; several scripts or command
    /// lines start an app each (PM2's `pm2 start a.js b.js`)
    #[argh(positional, arg_name = "target")]
    pub target: Vec<String>,
    /// the app's name (default: the script's file name without extension)
    #[argh(option, short = 'n')]
    pub name: Option<String>,
    /// the interpreter (default: by extension; "none" execs the script)
    #[argh(option)]
    pub interpreter: Option<String>,
    /// arguments for the interpreter, split as a shell would
    #[argh(option)]
    pub interpreter_args: Option<String>,
    /// the working directory (default: the current one)
    #[argh(option)]
    pub cwd: Option<String>,
    /// fork mode (exec_mode: Fork, PM2's flag): the instances share no socket, each binds
    /// its own port (`--node-args` is also accepted, for --interpreter-args)
    #[argh(switch, short = 'x')]
    pub execute_command: bool,
    /// PM2's switch for its PM2.io automation, accepted so PM2 command lines work: pmx
    /// has no such service, nothing to turn off
    #[argh(switch)]
    pub no_automation: bool,
    /// PM2's switch for its version-control metadata (vizion), accepted so PM2 command
    /// lines work: pmx gathers none
    #[argh(switch)]
    pub no_vizion: bool,
    /// PM2's switch for its @pm2/io probes in node apps, accepted so PM2 command lines
    /// work: pmx injects none
    #[argh(switch)]
    pub no_pmx: bool,
    /// ms to wait before a restart (restart.delay)
    #[argh(option, from_str_fn(millis))]
    pub restart_delay: Option<u64>,
    /// first backoff delay in ms, growing x1.5 per crash up to 15 s (restart.backoff)
    #[argh(option, from_str_fn(millis))]
    pub exp_backoff_restart_delay: Option<u64>,
    /// never restart the app when it exits (restart.policy: Never)
    #[argh(switch)]
    pub no_autorestart: bool,
    /// unstable exits in a row before `errored` (default 16)
    #[argh(option, from_str_fn(whole_u32))]
    pub max_restarts: Option<u32>,
    /// ms an app must run to count as started (default 1000)
    #[argh(option, from_str_fn(millis))]
    pub min_uptime: Option<u64>,
    /// ms between the stop signal and SIGKILL (default 1600)
    #[argh(option, from_str_fn(millis))]
    pub kill_timeout: Option<u64>,
    /// the stop signal (default SIGINT)
    #[argh(option)]
    pub kill_signal: Option<String>,
    /// restart an instance whose tree's resident memory goes over this size (300M, 1G,
    /// 512K or bytes; binary units)
    #[argh(option, from_str_fn(size))]
    pub max_memory_restart: Option<u64>,
    /// restart the app at the times of this cron pattern, in the daemon's zone: 5 fields
    /// (minute hour day month weekday) or 6 with seconds first (PM2's --cron, also
    /// taken); an app that is down, or done with --no-autorestart, is started
    #[argh(option, from_str_fn(cron))]
    pub cron_restart: Option<String>,
    /// restart the app when a file under its directory changes (ignoring node_modules,
    /// .git and pmx's log files), once the tree has been quiet for 500 ms
    #[argh(switch)]
    pub watch: bool,
    /// watch this path (relative to this directory) instead of the app's directory, or
    /// besides it with --watch; repeatable
    #[argh(option)]
    pub watch_path: Vec<String>,
    /// a glob the watcher ignores: without '/' a file or directory name anywhere
    /// (*.log, tmp), with '/' a path relative to the watched one (src/gen/**); repeatable
    #[argh(option)]
    pub ignore_watch: Vec<String>,
    /// stop a Node app by sending it the IPC message 'shutdown' instead of the stop
    /// signal; SIGKILL still follows after --kill-timeout (PM2's shutdown_with_message;
    /// PM2_KILL_USE_MESSAGE=true in the environment sets it for every Node app started)
    #[argh(switch)]
    pub shutdown_with_message: bool,
    /// exit codes never restarted, comma-separated (0,3)
    #[argh(option, from_str_fn(exit_codes))]
    pub stop_exit_codes: Option<Vec<i32>>,
    /// instances to run: N, max (one per CPU) or -k (every CPU but k)
    #[argh(option, short = 'i', from_str_fn(instances))]
    pub instances: Option<pmx_config::Instances>,
    /// a socket pmx binds and shares with every instance as fd 3.. (tcp://host:port or
    /// unix:/path; repeat for several)
    #[argh(option)]
    pub listen: Vec<String>,
    /// online only once the app says it is ready (READY=1 on $NOTIFY_SOCKET, or a Node
    /// app's process.send('ready')) or --listen-timeout passed (wait_ready)
    #[argh(switch)]
    pub wait_ready: bool,
    /// ms a --wait-ready app has to say it is ready before it is online all the same
    /// (listen_timeout, default 3000)
    #[argh(option, from_str_fn(millis))]
    pub listen_timeout: Option<u64>,
    /// one log file for every instance instead of -<instance> files
    #[argh(switch)]
    pub merge_logs: bool,
    /// prefix each log line with the time
    #[argh(switch)]
    pub time: bool,
    /// a combined log file for stdout and stderr
    #[argh(option, short = 'l')]
    pub log: Option<String>,
    /// the stdout log file
    #[argh(option, short = 'o')]
    pub output: Option<String>,
    /// the stderr log file
    #[argh(option, short = 'e')]
    pub error: Option<String>,
    /// strftime format of the time prefix (default %Y-%m-%dT%H:%M:%S), or PM2's
    /// (YYYY-MM-DD HH:mm:ss Z), converted with a note; implies --time, as in PM2
    #[argh(option)]
    pub log_date_format: Option<String>,
    /// the environment of an ecosystem file to lay over env (envs.NAME)
    #[argh(option)]
    pub env: Option<String>,
    /// a dotenv file read into the app's environment
    #[argh(option)]
    pub env_file: Option<String>,
    /// run as this user (root only)
    #[argh(option)]
    pub uid: Option<String>,
    /// run as this group (root only)
    #[argh(option)]
    pub gid: Option<String>,
    /// register the app without starting it
    #[argh(switch)]
    pub no_autostart: bool,
    /// the app's namespace (default "default")
    #[argh(option)]
    pub namespace: Option<String>,
    /// start another copy when the name exists (as name-1)
    #[argh(switch, short = 'f')]
    pub force: bool,
    /// with an ecosystem file: only these apps (comma-separated)
    #[argh(option)]
    pub only: Option<String>,
    /// print nothing
    #[argh(switch, short = 's')]
    pub silent: bool,
}
