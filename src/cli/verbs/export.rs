//! `pmx export <target> [file] [--env NAME] [-o DIR] [--image IMAGE]`: the ecosystem's
//! apps, resolved as `pmx up` resolves them, as systemd units, Kubernetes manifests, a
//! Nomad job or a Compose file (`cli/export/`). No daemon: the CLI reads the file and
//! writes text. What a target cannot express is a warning here and a comment there.

use crate::cli::export::{self, Images, Input, Target};
use crate::cli::specs::{groups_of, resolve_all};
use crate::cli::verbs::up::default_ecosystem;
use crate::cli::{caller_cwd, out, ExportArgs, Failure};

/// `pmx export`.
///
/// Errors: an unknown target or a bad `--image` (usage, exit 2), a missing file (exit
/// 1), an invalid file (its errors with line:col, exit 2), what a target needs and an
/// app lacks (exit 2), a directory or file that cannot be written (exit 1).
pub fn run(a: ExportArgs) -> Result<(), Failure> {
    let target = Target::parse(&a.target).map_err(Failure::usage)?;
    let images = Images::parse(&a.image).map_err(Failure::usage)?;
    let file = a.file.as_deref().unwrap_or_else(|| default_ecosystem());
    let eco = super::up::load_checked(file)?;
    for name in images.by_app.keys() {
        if eco.app(name).is_none() {
            return Err(Failure::usage(format!(
                "--image {name}=…: {} has no app named \"{name}\"",
                eco.file.display()
            )));
        }
    }
    let inherited = crate::cli::start::caller_env();
    let apps = resolve_all(&eco, a.env.as_deref(), a.only.as_deref(), &inherited, false)?;
    let groups = groups_of(&eco, &apps);
    let cpus = std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1);
    let input = Input {
        apps: &apps,
        groups: &groups,
        images: &images,
        file: &eco.file,
        cpus,
    };
    let output = export::render(target, &input).map_err(Failure::usage)?;
    for n in &output.notes {
        eprintln!(
            "pmx: warning: export {}: {}: {} not expressed: {}",
            target.name(),
            n.subject,
            n.field,
            n.why
        );
    }
    match a.output {
        Some(dir) => {
            let dir = caller_cwd()?.join(dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure::request(format!("cannot make {}: {e}", dir.display())))?;
            let mut written = String::new();
            for f in &output.files {
                let p = dir.join(&f.name);
                std::fs::write(&p, &f.text)
                    .map_err(|e| Failure::request(format!("cannot write {}: {e}", p.display())))?;
                written.push_str(&format!("wrote {}\n", p.display()));
            }
            out(&written);
        }
        None => {
            // One file prints as it is (`pmx export compose > compose.yaml`); several
            // get a separator line before each, as `head` does.
            let several = output.files.len() > 1;
            let mut text = String::new();
            for (k, f) in output.files.iter().enumerate() {
                if several {
                    if k > 0 {
                        text.push('\n');
                    }
                    text.push_str(&format!("# ==> {} <==\n", f.name));
                }
                text.push_str(&f.text);
            }
            out(&text);
        }
    }
    Ok(())
}
