//! `ignore_watch` as SPEC §4 defines it, with globset: a glob without `/` matches a file
//! or directory name anywhere below a watched path (`node_modules`, `*.log`), and
//! everything under a matched directory is ignored; a glob with `/` matches the path
//! relative to the watched path (`src/*.tmp`, `dist/**`; a leading `./` or `/` and a
//! trailing `/` are dropped), and everything under a directory it matches; `dist/**`
//! also matches `dist` itself, so making or removing the directory is no change. `*` never
//! crosses a `/` (`**` does). PM2's default ignores, `node_modules` and `.git`, are
//! always there (PM2's `ignore_watch` default is `[/node_modules/, /\.git/]`).
//!
//! Here, beside the schema, so that a file's bad glob is refused at its line:column
//! ([`validate_ignore_glob`]) by the very compiler the daemon's watcher matches with.

use std::path::{Component, Path};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// The names every watcher ignores, whatever `ignore_watch` says (PM2's defaults).
pub const DEFAULT_IGNORES: &[&str] = &["node_modules", ".git"];

/// An app's compiled `ignore_watch`, defaults included.
#[derive(Debug, Clone)]
pub struct WatchIgnore {
    /// Globs without `/`: matched against each name of a relative path.
    names: GlobSet,
    /// Globs with `/`: matched against the relative path and each of its ancestors.
    paths: GlobSet,
}

fn glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("ignore_watch {pattern:?}: {e}"))
}

/// One `ignore_watch` glob as [`WatchIgnore`] compiles it.
///
/// Errors: globset's reason, naming the glob (`ignore_watch "[a": …`).
pub fn validate_ignore_glob(pattern: &str) -> Result<(), String> {
    let t = pattern.trim();
    let t = if t.contains('/') {
        t.strip_prefix("./")
            .unwrap_or(t)
            .trim_start_matches('/')
            .trim_end_matches('/')
    } else {
        t
    };
    if t.is_empty() {
        return Ok(());
    }
    glob(t).map(|_| ())
}

impl WatchIgnore {
    /// Compile `globs` (each as SPEC §4 reads it) with the defaults.
    ///
    /// Errors: the first glob globset refuses, named (`ignore_watch "[a": …`).
    pub fn new(globs: &[String]) -> Result<WatchIgnore, String> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for d in DEFAULT_IGNORES {
            names.add(glob(d)?);
        }
        for g in globs {
            let t = g.trim();
            if t.is_empty() {
                continue;
            }
            if t.contains('/') {
                let t = t.strip_prefix("./").unwrap_or(t);
                let t = t.trim_start_matches('/').trim_end_matches('/');
                if t.is_empty() {
                    continue;
                }
                paths.add(glob(t)?);
                // `cache/**` is everything in cache: its making (or removal) too, which a
                // watcher sees as a change of `cache` itself.
                if let Some(dir) = t.strip_suffix("/**").filter(|d| !d.is_empty()) {
                    paths.add(glob(dir)?);
                }
            } else {
                names.add(glob(t)?);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| format!("ignore_watch: {e}"));
        Ok(WatchIgnore {
            names: build(names)?,
            paths: build(paths)?,
        })
    }

    /// Whether `rel` (a path relative to the watched path; empty: the watched path
    /// itself) is ignored: one of its names matches a glob without `/`, or it or one of
    /// its ancestors matches a glob with `/`.
    pub fn ignored(&self, rel: &Path) -> bool {
        let mut prefix = std::path::PathBuf::new();
        for c in rel.components() {
            let Component::Normal(name) = c else {
                continue;
            };
            if self.names.is_match(Path::new(name)) {
                return true;
            }
            prefix.push(name);
            if !self.paths.is_empty() && self.paths.is_match(&prefix) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_matcher_table() {
        // (ignore_watch, relative path, ignored)
        let cases: &[(&[&str], &str, bool)] = &[
            // The defaults, at any depth, and everything under them.
            (&[], "node_modules", true),
            (&[], "node_modules/x/index.js", true),
            (&[], "a/b/node_modules/c.js", true),
            (&[], ".git/HEAD", true),
            (&[], "src/.git/objects/ab", true),
            (&[], "src/app.js", false),
            (&[], "", false),
            (&[], ".gitignore", false),
            // No `/`: a name anywhere below.
            (&["*.log"], "app.log", true),
            (&["*.log"], "logs/deep/app.log", true),
            (&["*.log"], "app.log.1", false),
            (&["*.log"], "src/app.js", false),
            (&["logs"], "logs", true),
            (&["logs"], "logs/a.txt", true),
            (&["logs"], "src/logs/a.txt", true),
            (&["logs"], "mylogs/a.txt", false),
            (&["tmp*"], "src/tmp1/a.js", true),
            (&["*.tmp", "cache"], "cache/x", true),
            (&["*.tmp", "cache"], "x.tmp", true),
            (&["*.tmp", "cache"], "x.tmpl", false),
            // With `/`: relative to the watched path, and everything under a match.
            (&["src/*.tmp"], "src/a.tmp", true),
            (&["src/*.tmp"], "src/x/a.tmp", false),
            (&["src/*.tmp"], "other/src/a.tmp", false),
            (&["src/**/*.tmp"], "src/x/y/a.tmp", true),
            (&["dist/"], "dist/bundle.js", true),
            (&["./dist"], "dist/a/b.js", true),
            (&["/dist"], "dist", true),
            (&["dist/**"], "dist/a/b.js", true),
            (&["dist/**"], "dist", true),
            (&["src/dist/**"], "src/dist", true),
            (&["src/dist/**"], "src", false),
            (&["dist/**"], "distant", false),
            (&["build/out"], "build/out/x.o", true),
            (&["build/out"], "build/other.o", false),
            (&["build/out"], "x/build/out/y", false),
            (&["a/b"], "a", false),
        ];
        for (globs, rel, want) in cases {
            let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
            let ig = WatchIgnore::new(&globs).expect("valid globs");
            assert_eq!(ig.ignored(Path::new(rel)), *want, "{globs:?} on {rel:?}");
        }
    }

    #[test]
    fn a_bad_glob_is_named() {
        let err = WatchIgnore::new(&["src/[a".to_string()]).expect_err("unclosed class");
        assert!(err.starts_with("ignore_watch \"src/[a\""), "{err}");
    }
}
