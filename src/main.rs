//! The `pmx` binary: see `cli` for the verbs, `pmx daemon` for the daemon.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => argv.push(s),
            Err(a) => {
                eprintln!("pmx: argument {:?} is not UTF-8", a.to_string_lossy());
                return ExitCode::from(2);
            }
        }
    }
    match cli::run(argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("pmx: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
