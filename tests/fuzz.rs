//! The fuzz targets (`rotgen::fuzz`, driven with coverage by `fuzz/` and
//! `scripts/fuzz.sh`) on the stable toolchain, in every test run: each target's corpus
//! (the fixtures and examples, and `fuzz/seeds/`) and deterministic mutations of it. A
//! panic here is a bug in a parser of untrusted input; a hang shows as a test that does
//! not finish.

mod common;

use common::root;
use std::fs;
use std::path::Path;

/// Mutations per seed: enough to walk each reader's error paths, few enough for a debug
/// build to replay in seconds.
const MUTATIONS: usize = 200;

/// A fixed-seed xorshift: the same mutations in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `seed`: what a fuzzer tries first (flipped bits, bytes dropped,
/// repeated or set to edge values, a cut, a splice from another seed).
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len());
        match rng.below(7) {
            0 if !b.is_empty() => b[at] ^= 1 << rng.below(8),
            1 if !b.is_empty() => {
                b.remove(at);
            }
            2 if !b.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                let chunk = b[at..end].to_vec();
                for _ in 0..1 + rng.below(8) {
                    b.splice(at..at, chunk.iter().copied());
                }
            }
            3 if !b.is_empty() => {
                b[at] = [0x00, 0x7f, 0x80, 0xff, b'[', b'{', b'"', b'\n'][rng.below(8)]
            }
            4 => b.truncate(at),
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(64)).min(other.len());
                b.splice(at..at, other[from..end].iter().copied());
            }
            _ => b.insert(at.min(b.len()), rng.next() as u8),
        }
    }
    b
}

fn files(dir: &Path, ext: &[&str], out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files(&p, ext, out);
        } else if ext.is_empty()
            || p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e))
        {
            out.push(fs::read(&p).unwrap());
        }
    }
}

/// Every seed of `corpus` through `target`, then `MUTATIONS` mutations of each.
fn replay(name: &str, corpus: &[Vec<u8>], target: fn(&[u8])) {
    assert!(!corpus.is_empty(), "{name}: no seeds");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for (i, seed) in corpus.iter().enumerate() {
        target(seed);
        let other = &corpus[(i + 1) % corpus.len()];
        for _ in 0..MUTATIONS {
            target(&mutate(seed, other, &mut rng));
        }
    }
}

#[test]
fn ldap_answers() {
    let mut corpus = Vec::new();
    files(&root().join("fuzz/seeds/ldap_answer"), &[], &mut corpus);
    replay("ldap_answer", &corpus, rotgen::fuzz::ldap_answer);
}

#[test]
fn yaml_templates() {
    let mut corpus = Vec::new();
    files(&root().join("tests/fixtures/macro"), &["yaml"], &mut corpus);
    files(
        &root().join("tests/fixtures/macro-invalid"),
        &["yaml"],
        &mut corpus,
    );
    replay("yaml", &corpus, rotgen::fuzz::yaml);
}

#[test]
fn specs() {
    let mut corpus = Vec::new();
    files(&root().join("examples"), &["toml"], &mut corpus);
    files(
        &root().join("tests/fixtures/invalid"),
        &["toml"],
        &mut corpus,
    );
    replay("spec", &corpus, rotgen::fuzz::spec);
}

#[test]
fn macro_requests() {
    let mut corpus = Vec::new();
    files(
        &root().join("tests/fixtures/macro-events"),
        &["json"],
        &mut corpus,
    );
    replay("macro_request", &corpus, rotgen::fuzz::macro_request);
}

#[test]
fn token_answers() {
    let mut corpus = Vec::new();
    files(&root().join("fuzz/seeds/token_answer"), &[], &mut corpus);
    replay("token_answer", &corpus, rotgen::fuzz::token_answer);
}
