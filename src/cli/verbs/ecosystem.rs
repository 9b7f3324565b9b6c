//! `pmx ecosystem [-f]`: write a commented sample ./ecosystem.ron.

use std::io::Write;
use std::path::Path;

use crate::cli::{out, Failure};

/// The sample `pmx ecosystem` writes: one app that runs anywhere (bash), the common
/// fields with their defaults in comments. A unit test reads it through pmx-config.
pub const SAMPLE: &str = include_str!("sample.ron");

/// `pmx ecosystem [-f]`: write [`SAMPLE`] to `<dir>/ecosystem.ron`; an existing file is
/// kept (exit 1) unless `force`.
pub fn run(dir: &Path, force: bool) -> Result<(), Failure> {
    let path = dir.join("ecosystem.ron");
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = open.open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::request(format!(
                "{} exists; `pmx ecosystem -f` overwrites it",
                path.display()
            ))
        } else {
            Failure::request(format!("cannot write {}: {e}", path.display()))
        }
    })?;
    file.write_all(SAMPLE.as_bytes())
        .map_err(|e| Failure::request(format!("cannot write {}: {e}", path.display())))?;
    out(&format!(
        "wrote {}; `pmx up` starts it, `pmx up --dry-run` shows what it would do\n",
        path.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SAMPLE;

    #[test]
    fn the_sample_is_a_valid_ecosystem() {
        let eco = pmx_config::parse(SAMPLE, std::path::Path::new("/tmp/x/ecosystem.ron"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eco.apps.len(), 1);
        assert_eq!(eco.apps[0].name, "hello");
        assert_eq!(eco.apps[0].envs["production"]["GREETING"], "good day");
    }
}
