//! `pmx import <pm2 file> [-o PATH|-] [-f]`: a PM2 ecosystem file converted to
//! ecosystem.ron, never written over a file this import may not replace ([`stamp`]).

use std::path::{Path, PathBuf};

use crate::cli::pm2::{convert_file, parse_converted};
use crate::cli::{out, stamp, Failure};

/// `pmx import <file> [-o PATH|-] [-f]`: write the conversion beside the PM2 file (as
/// `ecosystem.ron`), to PATH, or to stdout (`-`; paths then relative to the PM2 file's
/// directory). The written text carries a [`stamp`] record (the PM2 file, a hash); an
/// existing file is overwritten only when its record is intact and names the same PM2
/// file, or with `force` (errors, exit 1: a file written by hand or edited since, or
/// converted from another PM2 file).
pub fn run(file: &str, output: Option<&str>, force: bool) -> Result<(), Failure> {
    let path = Path::new(file);
    let real = std::fs::canonicalize(path)
        .map_err(|e| Failure::request(format!("cannot read {file}: {e}")))?;
    // Beside the file as the user named it (a symlink's own directory, not its target's).
    let named = std::path::absolute(path).unwrap_or_else(|_| real.clone());
    let file_dir = named.parent().map(Path::to_path_buf).unwrap_or_default();
    let target: Option<PathBuf> = match output {
        Some("-") => None,
        Some(o) => {
            let t = std::path::absolute(o).map_err(|e| Failure::request(format!("{o}: {e}")))?;
            // A directory gets its ecosystem.ron.
            Some(through_link(if t.is_dir() {
                t.join("ecosystem.ron")
            } else {
                t
            })?)
        }
        None => Some(through_link(file_dir.join("ecosystem.ron"))?),
    };
    if let Some(t) = &target {
        if std::fs::canonicalize(t).is_ok_and(|t| t == real) {
            return Err(Failure::request(format!(
                "{} is the PM2 file being imported; -o names where ecosystem.ron goes",
                t.display()
            )));
        }
    }
    let out_dir = target
        .as_ref()
        .and_then(|t| t.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| file_dir.clone());
    let converted = convert_file(&real, file, &out_dir)?;
    let check_path = target
        .clone()
        .unwrap_or_else(|| file_dir.join("ecosystem.ron"));
    let eco = parse_converted(&converted.ron, &check_path, file)?;
    // The PM2 file as seen from the output's directory, both with their directories'
    // symlinks resolved, so that the next import's check (which resolves them) agrees.
    let physical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let source = stamp::relative(
        &named
            .file_name()
            .map(|n| physical(&file_dir).join(n))
            .unwrap_or_else(|| real.clone()),
        &physical(&out_dir),
    );
    let text = stamp::stamp(&converted.ron, &source.to_string_lossy());
    let Some(target) = target else {
        out(&text);
        return Ok(());
    };
    if !force {
        may_overwrite(&target, &real)?;
    }
    write_keeping_mode(&target, &text)
        .map_err(|e| Failure::request(format!("cannot write {}: {e}", target.display())))?;
    out(&format!(
        "wrote {} ({} app{}{}); `pmx up {}` starts it\n",
        target.display(),
        eco.apps.len(),
        if eco.apps.len() == 1 { "" } else { "s" },
        match eco.deploy.len() {
            0 => String::new(),
            n => format!(", {n} deploy target{}", if n == 1 { "" } else { "s" }),
        },
        target.display()
    ));
    Ok(())
}

/// The file to write for the output path `path`: `path` itself, or, when it is a symlink,
/// the file it leads to (as editors write through a link: the link stays, its target gets
/// the new text, and the stamp's relative paths are from the target's directory, where
/// pmx-config resolves them since it canonicalizes the file it loads).
///
/// Errors (exit 1): a dangling link (its target missing, or a loop). Refused rather than
/// created: the link may be a leftover pointing into a directory that is gone or was never
/// meant for this file (a release that was deleted), and a file created there silently
/// would not be the one the user reads; `rm` of the link, or -o elsewhere, is one step.
fn through_link(path: PathBuf) -> Result<PathBuf, Failure> {
    let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(path);
    }
    std::fs::canonicalize(&path).map_err(|e| {
        let to = std::fs::read_link(&path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        Failure::request(format!(
            "{} is a symlink to {to}, which cannot be reached ({e}); pmx import writes through a link only to an existing file: remove the link or use -o",
            path.display()
        ))
    })
}

/// Write `text` to `target` through a temporary file beside it renamed over it, so that a
/// reader never sees half a file. The new file keeps an existing file's permission bits
/// (`chmod 600` to guard `env` secrets survives a re-import); a new one is created 0644
/// less the umask, never more open. The owner is the caller's (a re-import by another
/// user, root included, makes the file theirs, as any rename-over does).
///
/// Errors: the directory is not writable, or the rename fails (the temporary file is
/// removed).
fn write_keeping_mode(target: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let kept = std::fs::metadata(target)
        .ok()
        .map(|m| m.permissions().mode() & 0o777);
    let written = (|| {
        // A leftover of an interrupted import (create_new refuses to reuse a file whose
        // mode may be wider).
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            // A new file: 0644 less the umask (open applies it). Replacing one: owner-only
            // until its mode is copied below, so the text is never readable by more.
            .mode(if kept.is_some() { 0o600 } else { 0o644 })
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        if let Some(mode) = kept {
            // Exactly the old bits: a chmod, unlike open, does not apply the umask.
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Whether `pmx import` of the PM2 file `real` (canonical) may replace `target` without
/// `-f`: when there is none, or its [`stamp`] record is intact and names `real`.
///
/// Errors (exit 1, naming the file and `-f`): the file cannot be read, has no record
/// (written by hand), was edited since it was written, or was converted from another
/// PM2 file.
fn may_overwrite(target: &Path, real: &Path) -> Result<(), Failure> {
    let shown = target.display();
    let refuse = |why: String| {
        Failure::request(format!(
            "{shown} {why}; -f overwrites it, -o writes elsewhere"
        ))
    };
    let existing = match std::fs::read(target) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refuse(format!("exists and cannot be read ({e})"))),
    };
    match stamp::read(&existing) {
        stamp::Record::None => Err(refuse("exists and was not written by pmx import".into())),
        stamp::Record::Edited => Err(refuse(
            "was edited since pmx import wrote it (its recorded hash no longer matches)".into(),
        )),
        stamp::Record::Intact { source } => {
            let dir = target.parent().unwrap_or(Path::new("/"));
            let recorded = dir.join(&source);
            if std::fs::canonicalize(&recorded).is_ok_and(|r| r == real) {
                Ok(())
            } else {
                Err(refuse(format!(
                    "was converted from another PM2 file ({source})"
                )))
            }
        }
    }
}
