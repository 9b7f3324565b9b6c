//! A bounded run of the config fuzzer on stable, in the test suite: the seed corpus
//! (`fuzz/seeds/config/`, the ecosystem fixtures and the example files) and a fixed
//! number of deterministic mutations of it go through `pmx_config::fuzz_entry`, the
//! same entry the cargo-fuzz target `fuzz/fuzz_targets/config.rs` calls (no panic, every
//! error at a line and column). A failing input is written to the target directory and
//! named in the failure, to be added to `fuzz/seeds/config/` once fixed.
//!
//! `PMX_FUZZ_CASES=N` runs N mutations instead of [`CASES`].

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Mutations per run: a few seconds in a debug build.
const CASES: usize = 20_000;

/// The fixed seed of the mutator: one run is the same as the next.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Tokens of the ecosystem grammar the mutator inserts, beside random bytes.
const TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b",",
    b"\"",
    b"'",
    b"r#\"",
    b"\"#",
    b"//",
    b"/*",
    b"*/",
    b"\\u{",
    b"\\x",
    b"\n",
    b"0x",
    b"-",
    b".",
    b"e",
    b"1d",
    b"99999999999999999999999",
    b"18446744073709551615",
    b"App(",
    b"Group(",
    b"Ecosystem(",
    b"name: ",
    b"apps: ",
    b"groups: ",
    b"Some(",
    b"None",
    b"Count(",
    b"Max",
    b"#![enable(implicit_some)]",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98\x80",
    b"\t",
    b"\r\n",
];

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file of the seed corpus, in a fixed order.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [
        "fuzz/seeds/config",
        "fixtures/ecosystems",
        "fixtures/example",
    ] {
        let mut paths: Vec<PathBuf> = fs::read_dir(root().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "ron"))
            .collect();
        paths.sort();
        for p in paths {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((
                format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                bytes,
            ));
        }
    }
    assert!(out.len() > 20, "the seed corpus is there");
    out
}

/// One to four mutations of `input` (libFuzzer's kinds: byte changes, inserted tokens,
/// erased and repeated ranges, a splice from another file, deep nesting).
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            2 | 3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            4 if !v.is_empty() => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                v.drain(at.min(end)..end);
            }
            5 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(64)).min(v.len());
                let piece = v[start..end].to_vec();
                v.splice(at..at, piece);
            }
            6 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(256)).min(other.len());
                v.splice(at..at, other[start..end].iter().copied());
            }
            _ => {
                let open = [b"[".as_slice(), b"(", b"{1: ", b"A(", b"(a: "][rng.below(5)];
                let n = 100 + rng.below(200);
                v.splice(at..at, open.repeat(n));
            }
        }
    }
    v
}

/// Runs `fuzz_entry` on `data`; on a panic, keeps the input and fails naming it.
fn check(data: &[u8], what: &str) {
    if catch_unwind(AssertUnwindSafe(|| pmx_config::fuzz_entry(data))).is_err() {
        let dir = root().join("target/fuzz-failures");
        let _ = fs::create_dir_all(&dir);
        let file = dir.join(format!("config-{:016x}", fnv1a(data)));
        let _ = fs::write(&file, data);
        panic!(
            "fuzz_entry failed on {what}; the input is {}",
            file.display()
        );
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn the_config_reader_survives_the_seed_corpus_and_its_mutations() {
    let corpus = corpus();
    for (name, bytes) in &corpus {
        check(bytes, name);
    }
    let cases = std::env::var("PMX_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    let mut rng = Rng(SEED);
    for case in 0..cases {
        let (name, input) = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())].1;
        let data = mutate(&mut rng, input, other);
        check(&data, &format!("mutation {case} of {name}"));
    }
}
