//! Bounded random-mutation fuzzing of the two parsers that read files from
//! anywhere: scenario TOML (and its planning) and results JSON. Each input
//! is a bundled file or fixture mutated by a seeded generator (byte flips,
//! insertions of syntax characters, deletions, duplicated and truncated
//! spans); every one must come back as `Ok` or a readable `Err`, never a
//! panic. Seeded, so a failure replays; bounded, so CI time stays fixed.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use quizrace::plan::ScenarioPlan;
use quizrace::result::ResultsFile;
use quizrace::scenario::ScenarioFile;
use quizrace::strategy::Env;

/// xorshift64*: tiny, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SYNTAX: &[&[u8]] = &[
    b"\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b"=",
    b",",
    b"\n",
    b"#",
    b"'''",
    b"\"\"\"",
    b"-1",
    b"99999999999999999999",
    b"1e309",
    b"NaN",
    b"\\u0000",
    b"\x1b[2K",
    b"\xff",
    b"0",
    b"null",
    b"true",
    b"\"runs\": [",
    b"[expect]",
    b"[faults]",
    b"sleep:",
    b"spin:",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let s = SYNTAX[rng.below(SYNTAX.len())];
                v.splice(at..at, s.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(64)).min(v.len());
                let span: Vec<u8> = v[at..end].to_vec();
                v.splice(at..at, span);
            }
            4 => v.truncate(at),
            _ => {
                // Replace a number with an extreme one.
                if let Some(p) = v.iter().skip(at).position(|b| b.is_ascii_digit()) {
                    let i = at + p;
                    let big: &[u8] =
                        [b"0".as_slice(), b"4294967296", b"18446744073709551616"][rng.below(3)];
                    v.splice(i..i + 1, big.iter().copied());
                }
            }
        }
    }
    v
}

fn corpus(ext: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    out
}

fn fuzz(name: &str, seeds: Vec<Vec<u8>>, budget: Duration, check: impl Fn(&str)) {
    assert!(!seeds.is_empty(), "{name}: no seed inputs");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut tried = 0u64;
    while started.elapsed() < budget {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        let text = String::from_utf8_lossy(&input).into_owned();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&text)));
        assert!(
            outcome.is_ok(),
            "{name}: panicked on input #{tried}:\n{text}"
        );
        tried += 1;
    }
    assert!(tried >= 200, "{name}: only {tried} inputs in {budget:?}");
    eprintln!("fuzz {name}: {tried} mutated inputs, no panic");
}

#[test]
fn scenario_parser_and_planner_never_panic() {
    let env = Env::default();
    fuzz("scenario", corpus("toml"), Duration::from_secs(3), |text| {
        if let Ok(file) = ScenarioFile::parse(text) {
            // Planning validates every field; it must refuse, not panic.
            let _ = ScenarioPlan::new(
                file,
                &ScenarioFile::default(),
                &BTreeMap::new(),
                &env,
                false,
            );
        }
    });
}

#[test]
fn results_reader_never_panics() {
    let sample = serde_json::json!({
        "schema": "quizrace.result.v2",
        "scenario": {"name": "x", "seed": 1, "rooms": 2, "players": 8, "rounds": 1,
            "runtime": "threads", "workers": 2, "processes": 1},
        "environment": {"quizrace": "0", "rustc": "r", "os": "o", "cpus": 2, "git": "g"},
        "results": [{"strategy": "atomic", "kind": "correct", "answers": 16, "recorded": 16,
            "room_rounds": 2, "anomalies": {"lost_updates": 0, "over_counts": 0,
            "missed_end": 0, "duplicate_end": 0, "early_end": 0}, "verdict": "exact",
            "elapsed_s": 0.1, "answers_per_s": 160.0,
            "latency_ns": {"p50": 1, "p90": 1, "p99": 1, "p999": 1, "max": 1},
            "end_latency_ns": {"p50": 1, "p90": 1, "p99": 1, "p999": 1, "max": 1},
            "trials": 3, "answers_per_s_spread": {"min": 1.0, "max": 2.0, "cv": 0.1}}]
    });
    let one = serde_json::to_vec_pretty(&sample).unwrap();
    let bundle = serde_json::to_vec_pretty(&serde_json::json!({
        "schema": "quizrace.result.v2", "runs": [sample.clone(), sample]
    }))
    .unwrap();
    fuzz(
        "results",
        vec![one, bundle],
        Duration::from_secs(2),
        |text| {
            let _ = ResultsFile::all_from_json(text);
        },
    );
}
