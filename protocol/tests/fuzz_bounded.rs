//! A bounded, deterministic fuzz run of the request parser in the test suite: the seed
//! corpus (`tests/fuzz_seeds/`, also the `cargo fuzz` target's seeds) and thousands of
//! mutations of it from a fixed seed, each fed to [`pmx_protocol::fuzz::exercise`], the
//! same entry the `protocol` fuzz target calls. No panic is allowed: every line gets a
//! parsed request that round-trips, or a typed error reply that keeps a readable id.

use std::path::Path;

use pmx_protocol::fuzz::exercise;

/// Mutations per run: a few seconds in a debug build.
const MUTATIONS: usize = 20_000;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Pieces of JSON (and of almost-JSON) a mutation inserts.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\udc00",
    b"\\u0000",
    b"null",
    b"true",
    b"false",
    b"0",
    b"-1",
    b"1.5e308",
    b"18446744073709551615",
    b"18446744073709551616",
    b"\"id\":",
    b"\"id\":3,",
    b"\"type\":",
    b"\"type\":\"kill\",",
    b"\"target\":\"all\",",
    b"\"ping\"",
    b"\"start\"",
    b"\"apps\":[],",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\n",
    b" ",
    b"\t",
];

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_seeds");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, tok.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                input.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let piece = input[a..b].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(256)).min(other.len());
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[a..b].iter().copied());
                }
            }
            6 => {
                // Deep nesting, past serde_json's 128 levels now and then.
                let depth = 1 + rng.below(200);
                let at = rng.below(len + 1);
                let open = if rng.below(2) == 0 { b'[' } else { b'{' };
                let mut deep = vec![open; depth];
                if open == b'{' {
                    deep = b"{\"k\":".repeat(depth);
                }
                input.splice(at..at, deep);
            }
            _ if len > 0 => {
                // A digit run replaced: ids, numbers and counts at their edges.
                let i = rng.below(len);
                let n = [0u64, 1, u64::MAX, u32::MAX as u64 + 1, rng.next()][rng.below(5)];
                input.splice(i..i, n.to_string().into_bytes());
            }
            _ => input.push(b'}'),
        }
    }
}

#[test]
fn the_parser_survives_the_seed_corpus_and_its_mutations() {
    let seeds = seeds();
    assert!(seeds.len() >= 20, "the seed corpus is there");
    for s in &seeds {
        exercise(s);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..MUTATIONS {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut input);
        exercise(&input);
    }
}
