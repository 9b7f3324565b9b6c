//! `pmx reload <target>... [--update-env] [--name NEW] [--node-args ARGS]`: reload apps
//! (in fork mode, a restart). Targets in every form PM2 accepts, several in order (an
//! app file: `startOrReload` of it): see `cli::targets`. Start options update the app as
//! `restart`'s do.

use pmx::Home;

use crate::cli::targets::{self, Action, Options};
use crate::cli::verbs::restart::{app_update, Refresh, WatchFlags};
use crate::cli::{Failure, ReloadArgs};

/// `pmx reload`.
pub fn run(home: &Home, a: ReloadArgs) -> Result<(), Failure> {
    let mut all = vec![a.target];
    all.extend(a.more);
    let opts = Options {
        env: a.env,
        only: a.only,
        silent: a.silent,
    };
    let refresh = Refresh {
        update_env: a.update_env,
        update: app_update(
            a.name,
            a.interpreter_args.as_deref(),
            &WatchFlags {
                on: a.watch,
                paths: &a.watch_path,
                ignore: &a.ignore_watch,
            },
        )?,
    };
    targets::run(home, Action::Reload(refresh), &all, &opts)
}
