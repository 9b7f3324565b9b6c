//! `pmx signal <signal> <target>`: send a signal to apps' main processes. The target in
//! any form PM2 accepts (a `/regex/`, a script path, an app file): see `cli::targets`.

use pmx::Home;

use crate::cli::targets::{self, Action, Options};
use crate::cli::{Failure, SignalArgs};

/// `pmx signal`.
pub fn run(home: &Home, a: SignalArgs) -> Result<(), Failure> {
    let opts = Options {
        silent: a.silent,
        ..Options::default()
    };
    targets::run(home, Action::Signal(a.signal), &[a.target], &opts)
}
