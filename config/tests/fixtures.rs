//! Every `fixtures/ecosystems/bad-*.ron` fails with exactly the text of the `.stderr`
//! beside it (what the CLI prints: `pmx: {error}` per error), and every `ok-*.ron` loads.
//! `PMX_BLESS=1 cargo test -p pmx-config --test fixtures` rewrites the `.stderr` files.

use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ecosystems")
}

fn files(prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(fixtures())
        .expect("fixtures/ecosystems exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".ron")
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no {prefix}*.ron fixtures");
    out
}

fn name(p: &Path) -> &str {
    p.file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 file name")
}

/// What `pmx` prints for a bad file.
fn cli_output(errors: &pmx_config::ConfigErrors) -> String {
    errors.iter().map(|e| format!("pmx: {e}\n")).collect()
}

#[test]
fn bad_fixtures_print_their_stderr() {
    let bless = std::env::var_os("PMX_BLESS").is_some();
    let mut failures = Vec::new();
    for path in files("bad-") {
        let src = fs::read_to_string(&path).expect("read fixture");
        let got = match pmx_config::parse(&src, Path::new(name(&path))) {
            Ok(_) => format!("<{} parsed without error>\n", name(&path)),
            Err(errors) => cli_output(&errors),
        };
        let expected_path = path.with_extension("stderr");
        if bless {
            fs::write(&expected_path, &got).expect("write .stderr");
            continue;
        }
        let want = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| format!("<missing {}>", expected_path.display()));
        if got != want {
            failures.push(format!(
                "--- {}\n=== expected:\n{want}=== got:\n{got}",
                name(&path)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_bad_fixture_has_a_stderr_file() {
    for path in files("bad-") {
        assert!(
            path.with_extension("stderr").exists(),
            "{} has no .stderr",
            name(&path)
        );
    }
}

#[test]
fn ok_fixtures_load() {
    for path in files("ok-") {
        if let Err(e) = pmx_config::load(&path) {
            panic!("{}:\n{e}", name(&path));
        }
    }
}

/// Our reader must accept only RON that `ron` itself accepts: every ok file is valid RON
/// (with `implicit_some`) for `ron` too, and the syntax-error fixtures are rejected by both.
#[test]
fn ron_agrees_on_syntax() {
    let opts =
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    for path in files("ok-") {
        let src = fs::read_to_string(&path).expect("read fixture");
        if let Err(e) = opts.from_str::<ron::Value>(&src) {
            panic!("ron rejects {}: {e}", name(&path));
        }
    }
    for bad in ["bad-syntax.ron", "bad-unclosed.ron"] {
        let src = fs::read_to_string(fixtures().join(bad)).expect("read fixture");
        assert!(
            opts.from_str::<ron::Value>(&src).is_err(),
            "ron accepts {bad}"
        );
    }
}
